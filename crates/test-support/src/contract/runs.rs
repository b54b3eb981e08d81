//! Runs as clients see them: creation (all or nothing, alone or with its thread), metadata,
//! listing, cancelling, steps, and one active run per thread.

use super::{
    WORKER, all_asc, assert_empty, assert_invalid, assert_invalid_reference, assert_not_found,
    assert_recent, call, claim, function_tool, ids, invalid_message, md, msg_with_files,
    new_assistant, new_run, new_thread, output, project_a, require_tool_outputs, unix_now, upload,
    user_msg,
};
use assistd_core::ids::FreshId;
use assistd_core::{ListParams, NewRun, ObjectKind, Project, Store};
use assistd_wire::{
    AssistantId, AssistantTool, AssistantsApiResponseFormat, CreateMessageRequest,
    CreateThreadRequest, LastError, MessageContent, MessageRole, MessageStatus, NamedFunction,
    NamedToolChoice, NamedToolType, ResponseFormatMode, ResponseFormatOption, ResponseFormatType,
    RunId, RunStatus, RunStepStatus, StepId, ThreadId, ToolChoiceMode, ToolChoiceOption,
    TruncationObject, TruncationType, Usage,
};
use assistd_wire::{
    JsonSchemaFormat, JsonSchemaType, ReasoningEffort, ResponseFormatJsonSchema,
    RunIncompleteDetails, ToolResourcesRequest,
};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_runs {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            run_create,
            run_create_is_atomic,
            thread_and_run,
            run_modify_list_get,
            run_cancel,
            run_steps_get_list,
            active_run_blocks_thread,
            run_v2_fields,
            run_ends_incomplete,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_runs as cases;

/// Asserts that `thread` refuses a new run and a new message while `active` is active, naming
/// it, and that neither attempt left anything behind.
async fn assert_thread_busy(
    store: &Arc<dyn Store>,
    p: &Project,
    asst: &AssistantId,
    thread: &ThreadId,
    active: &RunId,
) {
    let runs = store.list_runs(p, thread, &all_asc()).await.unwrap().data;
    let msgs = store
        .list_messages(p, thread, &all_asc(), None)
        .await
        .unwrap()
        .data;
    let mut nr = new_run(asst);
    nr.additional_messages = vec![user_msg("refused with its run")];
    let message = invalid_message(store.create_run(p, thread, nr).await);
    assert!(
        message.contains(thread.as_str()) && message.contains(active.as_str()),
        "create_run refused with {message:?}, naming neither the thread nor run {active}"
    );
    let message = invalid_message(store.create_message(p, thread, user_msg("refused")).await);
    assert!(
        message.contains(thread.as_str()) && message.contains(active.as_str()),
        "create_message refused with {message:?}, naming neither the thread nor run {active}"
    );
    assert_eq!(
        store.list_runs(p, thread, &all_asc()).await.unwrap().data,
        runs,
        "a refused run is not created"
    );
    assert_eq!(
        store
            .list_messages(p, thread, &all_asc(), None)
            .await
            .unwrap()
            .data,
        msgs,
        "a refused message (or run's additional message) is not created"
    );
}

/// `create_run` stores every field of the `NewRun`, queues the run, sets `expires_at`, and
/// adds the additional messages to the thread.
pub async fn run_create(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let asst = new_assistant(&store, &p).await;
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![user_msg("first")]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let tools = vec![AssistantTool::CodeInterpreter, function_tool("get_weather")];
    let nr = NewRun {
        id: RunId::fresh(),
        streamer: None,
        assistant_id: asst.clone(),
        model: "gpt-4-0125-preview".to_owned(),
        instructions: "Be brief.".to_owned(),
        additional_instructions: Some("Address the user as Jane.".to_owned()),
        additional_messages: vec![
            user_msg("extra one"),
            CreateMessageRequest {
                role: MessageRole::Assistant,
                metadata: Some(md(&[("from", "run")])),
                ..msg_with_files("extra two", &[f1.id.as_str()])
            },
        ],
        tools: tools.clone(),
        file_ids: vec![f1.id.to_string(), f2.id.to_string()],
        metadata: Some(md(&[("run", "meta")])),
        temperature: Some(0.2),
        top_p: Some(0.8),
        max_prompt_tokens: Some(2000),
        max_completion_tokens: Some(1000),
        truncation_strategy: TruncationObject {
            type_: TruncationType::LastMessages,
            last_messages: Some(5),
        },
        tool_choice: ToolChoiceOption::Named(NamedToolChoice {
            type_: NamedToolType::Function,
            function: Some(NamedFunction {
                name: "get_weather".to_owned(),
            }),
        }),
        response_format: ResponseFormatOption::Format(AssistantsApiResponseFormat {
            type_: ResponseFormatType::JsonObject,
        }),
        parallel_tool_calls: true,
        reasoning_effort: None,
        tool_resources: None,
        expires_after_secs: 3600,
    };
    let t0 = unix_now();
    let run = store.create_run(&p, &thread.id, nr).await.unwrap();
    assert!(run.id.as_str().starts_with("run_"), "id {}", run.id);
    assert_eq!(run.object, "thread.run");
    assert_recent(run.created_at, t0, "run.created_at");
    assert_eq!(run.thread_id, thread.id);
    assert_eq!(run.assistant_id, asst);
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.required_action, None);
    assert_eq!(run.last_error, None);
    assert_eq!(run.expires_at, Some(run.created_at + 3600));
    assert_eq!(run.started_at, None);
    assert_eq!(run.cancelled_at, None);
    assert_eq!(run.failed_at, None);
    assert_eq!(run.completed_at, None);
    assert_eq!(run.incomplete_details, None);
    assert_eq!(run.model, "gpt-4-0125-preview");
    assert_eq!(run.instructions, "Be brief.");
    assert_eq!(run.tools, tools);
    assert_eq!(run.file_ids, vec![f1.id.to_string(), f2.id.to_string()]);
    assert_eq!(run.metadata, Some(md(&[("run", "meta")])));
    assert_eq!(run.usage, None);
    assert_eq!(run.temperature, Some(0.2));
    assert_eq!(run.top_p, Some(0.8));
    assert_eq!(run.max_prompt_tokens, Some(2000));
    assert_eq!(run.max_completion_tokens, Some(1000));
    assert_eq!(
        run.truncation_strategy,
        TruncationObject {
            type_: TruncationType::LastMessages,
            last_messages: Some(5)
        }
    );
    assert_eq!(
        run.tool_choice,
        ToolChoiceOption::Named(NamedToolChoice {
            type_: NamedToolType::Function,
            function: Some(NamedFunction {
                name: "get_weather".to_owned()
            }),
        })
    );
    assert_eq!(
        run.response_format,
        ResponseFormatOption::Format(AssistantsApiResponseFormat {
            type_: ResponseFormatType::JsonObject
        })
    );
    assert_eq!(store.get_run(&p, &thread.id, &run.id).await.unwrap(), run);

    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data;
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].content, vec![MessageContent::text("first")]);
    assert_eq!(msgs[1].content, vec![MessageContent::text("extra one")]);
    assert_eq!(msgs[1].role, MessageRole::User);
    assert!(msgs[1].file_ids.is_empty());
    assert_eq!(msgs[2].content, vec![MessageContent::text("extra two")]);
    assert_eq!(msgs[2].role, MessageRole::Assistant);
    assert_eq!(msgs[2].file_ids, vec![f1.id.to_string()]);
    assert_eq!(msgs[2].metadata, Some(md(&[("from", "run")])));
    for m in &msgs[1..] {
        assert_eq!(m.thread_id, thread.id);
        assert_eq!(m.status, MessageStatus::Completed);
    }

    // The defaults of the helper, on the same thread once the first run ended.
    store.cancel_run(&p, &thread.id, &run.id).await.unwrap();
    let t0 = unix_now();
    let bare = store
        .create_run(&p, &thread.id, new_run(&asst))
        .await
        .unwrap();
    assert_recent(bare.created_at, t0, "run.created_at");
    assert_eq!(bare.expires_at, Some(bare.created_at + 600));
    assert_eq!(bare.status, RunStatus::Queued);
    assert!(bare.tools.is_empty());
    assert!(bare.file_ids.is_empty());
    assert_eq!(bare.metadata, None);
    // Nobody set them: the run shows OpenAI's 1.0 (and the model request leaves them out).
    assert_eq!(bare.temperature, Some(1.0));
    assert_eq!(bare.top_p, Some(1.0));
    assert_eq!(bare.max_prompt_tokens, None);
    assert_eq!(bare.max_completion_tokens, None);
    assert_eq!(bare.truncation_strategy, TruncationObject::default());
    assert_eq!(
        bare.tool_choice,
        ToolChoiceOption::Mode(ToolChoiceMode::Auto)
    );
    assert_eq!(
        bare.response_format,
        ResponseFormatOption::Mode(ResponseFormatMode::Auto)
    );
    assert_eq!(
        store
            .list_messages(&p, &thread.id, &all_asc(), None)
            .await
            .unwrap()
            .data
            .len(),
        3,
        "no additional messages, none added"
    );
    assert_not_found(
        store
            .create_run(&p, &ThreadId::from("thread_nope"), new_run(&asst))
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// A run whose additional messages reference a bad file is not created, and neither is any of
/// its messages.
pub async fn run_create_is_atomic(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let f1 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let thread = new_thread(&store, &p).await;
    let existing = store
        .create_message(&p, &thread, user_msg("existing"))
        .await
        .unwrap();

    let mut nr = new_run(&asst);
    nr.additional_messages = vec![
        msg_with_files("ok", &[f1.id.as_str()]),
        msg_with_files("bad", &["file-missing"]),
    ];
    let param = assert_invalid_reference(
        store.create_run(&p, &thread, nr).await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("additional_messages[1]"), "param {param}");
    let mut nr = new_run(&asst);
    nr.additional_messages = vec![user_msg("ok"), msg_with_files("bad", &[tune.id.as_str()])];
    let param = assert_invalid(store.create_run(&p, &thread, nr).await);
    assert!(
        param
            .as_deref()
            .is_some_and(|p| p.starts_with("additional_messages[1]")),
        "param {param:?}"
    );
    assert_eq!(
        store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()
            .data,
        vec![existing],
        "no message of a failed run remains"
    );
    assert_empty(
        store.list_runs(&p, &thread, &all_asc()).await,
        "runs after failed creates",
    );
}

/// `create_thread_and_run` creates both, with the thread's messages, atomically.
pub async fn thread_and_run(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let f1 = upload(&store, &p, "assistants").await;
    let t0 = unix_now();
    let mut nr = new_run(&asst);
    nr.metadata = Some(md(&[("r", "1")]));
    nr.expires_after_secs = 120;
    let (thread, run) = store
        .create_thread_and_run(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("Hi there", &[f1.id.as_str()])]),
                metadata: Some(md(&[("t", "1")])),
            },
            nr,
        )
        .await
        .unwrap();
    assert!(thread.id.as_str().starts_with("thread_"));
    assert_eq!(thread.object, "thread");
    assert_recent(thread.created_at, t0, "thread.created_at");
    assert_eq!(thread.metadata, Some(md(&[("t", "1")])));
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);
    assert!(run.id.as_str().starts_with("run_"));
    assert_eq!(run.thread_id, thread.id);
    assert_eq!(run.assistant_id, asst);
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.metadata, Some(md(&[("r", "1")])));
    assert_eq!(run.expires_at, Some(run.created_at + 120));
    assert_eq!(store.get_run(&p, &thread.id, &run.id).await.unwrap(), run);
    assert_eq!(
        store
            .list_runs(&p, &thread.id, &all_asc())
            .await
            .unwrap()
            .data,
        vec![run.clone()]
    );
    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].content, vec![MessageContent::text("Hi there")]);
    assert_eq!(msgs[0].file_ids, vec![f1.id.to_string()]);

    // Without a thread body: an empty thread.
    let (bare_thread, bare_run) = store
        .create_thread_and_run(&p, CreateThreadRequest::default(), new_run(&asst))
        .await
        .unwrap();
    assert_ne!(bare_thread.id, thread.id);
    assert_eq!(bare_run.thread_id, bare_thread.id);
    assert_empty(
        store
            .list_messages(&p, &bare_thread.id, &all_asc(), None)
            .await,
        "messages of a bare thread-and-run",
    );

    // A bad file in the thread fails the whole call.
    let r = store
        .create_thread_and_run(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("bad", &["file-missing"])]),
                metadata: None,
            },
            new_run(&asst),
        )
        .await;
    let param = assert_invalid_reference(r, ObjectKind::File, "file-missing");
    assert!(param.starts_with("thread.messages[0]"), "param {param}");
}

/// Run metadata, listing, and lookups through the wrong thread.
pub async fn run_modify_list_get(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    let mut nr = new_run(&asst);
    nr.metadata = Some(md(&[("a", "1")]));
    let r1 = store.create_run(&p, &thread, nr).await.unwrap();
    let elsewhere = store.create_run(&p, &other, new_run(&asst)).await.unwrap();

    let same = store.modify_run(&p, &thread, &r1.id, None).await.unwrap();
    assert_eq!(same, r1);
    let m = store
        .modify_run(&p, &thread, &r1.id, Some(Some(md(&[("b", "2")]))))
        .await
        .unwrap();
    let mut want = r1.clone();
    want.metadata = Some(md(&[("b", "2")]));
    assert_eq!(m, want);
    assert_eq!(store.get_run(&p, &thread, &r1.id).await.unwrap(), want);
    let m = store
        .modify_run(&p, &thread, &r1.id, Some(None))
        .await
        .unwrap();
    want.metadata = None;
    assert_eq!(m, want);
    assert_eq!(store.get_run(&p, &thread, &r1.id).await.unwrap(), want);

    // One active run per thread: r1 ends before r2 is created, r2 before r3.
    let c1 = store.cancel_run(&p, &thread, &r1.id).await.unwrap();
    want.status = RunStatus::Cancelled;
    want.cancelled_at = c1.cancelled_at;
    // A terminal run reports its usage: nothing ran, so zeros.
    want.usage = Some(Usage::default());
    // An ended run no longer expires.
    want.expires_at = None;
    assert!(want.cancelled_at.is_some());
    assert_eq!(c1, want, "cancelling keeps the modified metadata");
    let r2 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let r2 = store.cancel_run(&p, &thread, &r2.id).await.unwrap();
    let r3 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    // Metadata of an ended run can still change.
    let m = store
        .modify_run(&p, &thread, &r2.id, Some(Some(md(&[("c", "3")]))))
        .await
        .unwrap();
    let mut r2_want = r2.clone();
    r2_want.metadata = Some(md(&[("c", "3")]));
    assert_eq!(m, r2_want);
    let r2 = r2_want;

    let desc = store
        .list_runs(&p, &thread, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(desc.data, vec![r3.clone(), r2.clone(), want.clone()]);
    assert!(!desc.has_more);
    let asc = store.list_runs(&p, &thread, &all_asc()).await.unwrap();
    assert_eq!(asc.data, vec![want, r2, r3]);
    assert_eq!(
        store.list_runs(&p, &other, &all_asc()).await.unwrap().data,
        vec![elsewhere.clone()]
    );

    assert_not_found(
        store.get_run(&p, &thread, &elsewhere.id).await,
        ObjectKind::Run,
        &elsewhere.id,
    );
    assert_not_found(
        store.get_run(&p, &thread, &RunId::from("run_nope")).await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .modify_run(&p, &thread, &RunId::from("run_nope"), None)
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .get_run(&p, &ThreadId::from("thread_nope"), &r1.id)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store
            .list_runs(&p, &ThreadId::from("thread_nope"), &all_asc())
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Cancelling a queued run ends it at once; cancelling it again is refused; a run waiting for
/// tool outputs is cancelled at once too, with its pending step.
pub async fn run_cancel(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let t0 = unix_now();
    let c = store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(c.status, RunStatus::Cancelled);
    let at = c.cancelled_at.expect("cancelled_at set");
    assert_recent(at, t0, "run.cancelled_at");
    assert_eq!(c.required_action, None);
    let mut want = run.clone();
    want.status = RunStatus::Cancelled;
    want.cancelled_at = Some(at);
    want.usage = Some(Usage::default());
    want.expires_at = None;
    assert_eq!(
        c, want,
        "only status, cancelled_at, expires_at (null once ended) and usage change"
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);
    assert_invalid(store.cancel_run(&p, &thread, &run.id).await);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);
    assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, Vec::new())
            .await,
    );

    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let (_, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    let c = store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(c.status, RunStatus::Cancelled);
    assert!(c.cancelled_at.is_some());
    assert_eq!(c.required_action, None, "no action pending once cancelled");
    let s = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_eq!(s.status, RunStepStatus::Cancelled);
    assert!(s.cancelled_at.is_some());
    assert_invalid(store.cancel_run(&p, &thread, &run.id).await);

    assert_not_found(
        store
            .cancel_run(&p, &thread, &RunId::from("run_nope"))
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .cancel_run(&p, &ThreadId::from("thread_nope"), &run.id)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Run steps: list and get, including lookups through the wrong run or thread.
pub async fn run_steps_get_list(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    // Another run of the same thread, with a step; it ends before `run` starts (one active run
    // per thread).
    let other_run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let (_, other_step) =
        require_tool_outputs(&store, &p, &other_run.id, vec![call("g", "{}")]).await;
    store.cancel_run(&p, &thread, &other_run.id).await.unwrap();
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    assert_empty(
        store.list_run_steps(&p, &thread, &run.id, &all_asc()).await,
        "steps of a fresh run",
    );
    let (_, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    let desc = store
        .list_run_steps(&p, &thread, &run.id, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(desc.data, vec![step.clone()]);
    assert!(!desc.has_more);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );
    assert_not_found(
        store
            .get_run_step(&p, &thread, &run.id, &other_step.id)
            .await,
        ObjectKind::RunStep,
        &other_step.id,
    );
    assert_not_found(
        store
            .get_run_step(&p, &thread, &run.id, &StepId::from("step_nope"))
            .await,
        ObjectKind::RunStep,
        "step_nope",
    );
    assert_not_found(
        store
            .get_run_step(&p, &thread, &RunId::from("run_nope"), &step.id)
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .list_run_steps(&p, &thread, &RunId::from("run_nope"), &all_asc())
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .list_run_steps(&p, &ThreadId::from("thread_nope"), &run.id, &all_asc())
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// A thread takes no new run and no new message while a run of it is queued, in progress,
/// waiting for tool outputs or cancelling; it is free again once the run ended (cancelled,
/// completed, failed). Other threads are never affected.
pub async fn active_run_blocks_thread(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;

    // Queued.
    let r1 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    assert_thread_busy(&store, &p, &asst, &thread, &r1.id).await;
    store
        .create_message(&p, &other, user_msg("another thread is free"))
        .await
        .expect("a message on another thread");
    // Cancelling a queued run ends it: the thread is free.
    store.cancel_run(&p, &thread, &r1.id).await.unwrap();
    store
        .create_message(&p, &thread, user_msg("after the cancel"))
        .await
        .expect("a message once the run was cancelled");

    // In progress.
    let r2 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &r2.id).await;
    assert_thread_busy(&store, &p, &asst, &thread, &r2.id).await;
    // Waiting for tool outputs.
    let ra = store
        .require_action(&c.run, WORKER, vec![call("f", "{}")], Usage::default())
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(ra.status, RunStatus::RequiresAction);
    assert_thread_busy(&store, &p, &asst, &thread, &r2.id).await;
    // Queued again once the outputs are in.
    let call_id = ra.required_action.unwrap().submit_tool_outputs.tool_calls[0]
        .id
        .clone();
    store
        .submit_tool_outputs(&p, &thread, &r2.id, vec![output(&call_id, "ok")])
        .await
        .unwrap();
    assert_thread_busy(&store, &p, &asst, &thread, &r2.id).await;
    // Cancelling.
    let c = claim(&store, WORKER, &r2.id).await;
    let cancelling = store.cancel_run(&p, &thread, &r2.id).await.unwrap();
    assert_eq!(cancelling.status, RunStatus::Cancelling);
    assert_thread_busy(&store, &p, &asst, &thread, &r2.id).await;
    // The engine ends the cancellation: the thread is free.
    store
        .finish_run(&c.run, WORKER, RunStatus::Cancelled, None, None)
        .await
        .unwrap()
        .expect("lease held");
    store
        .create_message(&p, &thread, user_msg("after the cancellation"))
        .await
        .expect("a message once the run was cancelled by the engine");

    // Completed.
    let r3 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &r3.id).await;
    store
        .finish_run(&c.run, WORKER, RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    store
        .create_message(&p, &thread, user_msg("after completion"))
        .await
        .expect("a message once the run completed");

    // Failed.
    let r4 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &r4.id).await;
    let error = LastError {
        code: "server_error".to_owned(),
        message: "The model failed.".to_owned(),
    };
    store
        .finish_run(&c.run, WORKER, RunStatus::Failed, Some(error), None)
        .await
        .unwrap()
        .expect("lease held");
    let mut nr = new_run(&asst);
    nr.additional_messages = vec![user_msg("with the next run")];
    let r5 = store
        .create_run(&p, &thread, nr)
        .await
        .expect("a run once the previous failed");

    // Another thread takes a run while this one has one.
    assert_thread_busy(&store, &p, &asst, &thread, &r5.id).await;
    store
        .create_run(&p, &other, new_run(&asst))
        .await
        .expect("a run on another thread");
    assert_eq!(
        ids(&store.list_runs(&p, &thread, &all_asc()).await.unwrap()),
        vec![
            r1.id.into_string(),
            r2.id.into_string(),
            r3.id.into_string(),
            r4.id.into_string(),
            r5.id.into_string()
        ]
    );
}

/// The fields v2 added to a run (`parallel_tool_calls`, `reasoning_effort`, a `json_schema`
/// response format, `tool_choice: required`, a named `file_search`) survive the store, which
/// also reads them back for the executor's claim; a bare run allows parallel calls.
pub async fn run_v2_fields(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let format = ResponseFormatOption::JsonSchema(ResponseFormatJsonSchema {
        type_: JsonSchemaType::JsonSchema,
        json_schema: JsonSchemaFormat {
            name: "answer".to_owned(),
            description: Some("d".to_owned()),
            schema: Some(
                serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
            ),
            strict: Some(true),
        },
    });
    let mut nr = new_run(&asst);
    nr.parallel_tool_calls = false;
    nr.reasoning_effort = Some(ReasoningEffort::High);
    nr.response_format = format.clone();
    nr.tool_choice = ToolChoiceOption::Mode(ToolChoiceMode::Required);
    nr.tool_resources = Some(ToolResourcesRequest::default());
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    assert!(!run.parallel_tool_calls);
    assert_eq!(run.reasoning_effort, Some(ReasoningEffort::High));
    assert_eq!(run.response_format, format);
    assert_eq!(
        run.tool_choice,
        ToolChoiceOption::Mode(ToolChoiceMode::Required)
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), run);
    let claimed = claim(&store, WORKER, &run.id).await;
    assert!(!claimed.run.parallel_tool_calls);
    assert_eq!(claimed.run.reasoning_effort, Some(ReasoningEffort::High));
    assert_eq!(claimed.run.response_format, format);
    store.cancel_run(&p, &thread, &run.id).await.unwrap();

    let other = new_thread(&store, &p).await;
    let mut named = new_run(&asst);
    named.tool_choice = ToolChoiceOption::Named(NamedToolChoice {
        type_: NamedToolType::FileSearch,
        function: None,
    });
    let bare = store.create_run(&p, &other, named).await.unwrap();
    assert!(bare.parallel_tool_calls);
    assert_eq!(bare.reasoning_effort, None);
    assert_eq!(store.get_run(&p, &other, &bare.id).await.unwrap(), bare);
}

/// A run ended by a token budget is `incomplete`: terminal, with its reason and the time it
/// ended in `completed_at`, and it cannot be cancelled.
pub async fn run_ends_incomplete(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut nr = new_run(&asst);
    nr.max_completion_tokens = Some(256);
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let claimed = claim(&store, WORKER, &run.id).await;
    let t0 = unix_now();
    let ended = store
        .finish_run(
            &claimed.run,
            WORKER,
            RunStatus::Incomplete,
            None,
            Some("max_completion_tokens"),
        )
        .await
        .unwrap()
        .expect("the worker holds the lease");
    assert_eq!(ended.status, RunStatus::Incomplete);
    assert_eq!(
        ended.incomplete_details,
        Some(RunIncompleteDetails {
            reason: Some("max_completion_tokens".to_owned())
        })
    );
    assert_recent(
        ended.completed_at.expect("completed_at"),
        t0,
        "completed_at",
    );
    assert_eq!(ended.failed_at, None);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), ended);
    assert_eq!(
        assert_invalid(store.cancel_run(&p, &thread, &run.id).await),
        None
    );
    // The thread takes a new run: an incomplete one is not active.
    store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
}
