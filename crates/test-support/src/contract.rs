//! The store contract suite: what every backend of [`assistd_core::Store`] must do.
//!
//! Each case is a `pub async fn` taking a fresh, empty store; [`store_contract_tests!`] expands to
//! one `#[tokio::test]` per case in the backend's crate:
//!
//! ```ignore
//! async fn store() -> (tempfile::TempDir, Arc<dyn Store>) { ... }
//! assistd_test_support::store_contract_tests!(store);
//! ```
//!
//! Conventions the cases rely on, beyond the trait docs:
//! - A lookup whose path names a missing object fails with `NotFound` for the *first* missing
//!   object along the path (a message of a missing thread is a missing thread), as OpenAI
//!   answers.
//! - Lists order by creation, ties (same second) broken by insertion order; an unknown cursor
//!   yields an empty page; `has_more` says whether objects lie beyond the page in the direction
//!   of travel (towards the start of the list for `before`).
//! - Assistants' `file_ids` are ascending by file creation, as the spec says.
//!
//! [`store_contract_tests!`]: crate::store_contract_tests

use assistd_core::ids::{IdKind, new_id};
use assistd_core::{
    Lease, ListParams, NewFile, NewRun, ObjectKind, Order, Page, Project, Store, StoreError,
    StoreResult, TurnText,
};
use assistd_wire::{
    AssistantTool, AssistantsApiResponseFormat, CreateAssistantRequest, CreateMessageRequest,
    CreateThreadRequest, FunctionCall, FunctionObject, HasId, LastError, MessageContent,
    MessageCreation, MessageIncompleteDetails, MessageRole, MessageStatus, Metadata,
    ModifyAssistantRequest, NamedFunction, NamedToolChoice, NamedToolType, OpenAIFile,
    ResponseFormatMode, ResponseFormatOption, ResponseFormatType, Run, RunIncompleteDetails,
    RunStatus, RunStep, RunStepStatus, RunStepType, StepDetails, StepFunctionCall, StepToolCall,
    ToolChoiceMode, ToolChoiceOption, ToolOutput, TruncationObject, TruncationType, Usage,
};
use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Expands to one `#[tokio::test]` per contract case. `$factory` names an async fn in the
/// caller's scope returning `(Guard, Arc<dyn Store>)`; the guard (a temporary directory, a
/// database handle...) lives until the case ends.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:ident) => {
        $crate::store_contract_tests!(@cases $factory;
            ping,
            assistant_crud,
            assistant_create_checks_files,
            assistant_modify_semantics,
            assistant_files,
            assistant_file_limit,
            thread_create_with_messages,
            thread_create_is_atomic,
            thread_modify_delete,
            thread_delete_cascades,
            message_crud,
            message_run_id_filter,
            message_files,
            pagination_assistants,
            pagination_messages,
            pagination_runs,
            pagination_run_steps,
            pagination_assistant_files,
            pagination_message_files,
            run_create,
            run_create_is_atomic,
            thread_and_run,
            run_modify_list_get,
            run_cancel,
            tool_outputs_single_call,
            tool_outputs_parallel_calls,
            run_steps_get_list,
            files_crud,
            file_delete_detaches,
            assistant_delete_keeps_threads_and_runs,
            tenancy_assistants_and_files,
            tenancy_threads_messages_runs,
            active_run_blocks_thread,
            claim_run_takes_oldest_queued,
            claim_run_is_exclusive,
            claim_run_reclaims_after_lease_expiry,
            renew_and_release_lease,
            begin_and_complete_message,
            discard_partial_turn,
            require_action_and_resume,
            finish_run_completed,
            finish_run_ends_open_work,
            finish_run_without_lease,
            expire_due_runs,
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (guard, store) = $factory().await;
                $crate::contract::$case(::std::sync::Arc::clone(&store)).await;
                ::std::mem::drop(store);
                ::std::mem::drop(guard);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A [`NewRun`] for `assistant_id` with the defaults a server would resolve for a bare request:
/// no tools, no files, automatic truncation/tool choice/response format, expiring after 600 s.
pub fn new_run(assistant_id: &str) -> NewRun {
    NewRun {
        id: new_id(IdKind::Run),
        assistant_id: assistant_id.to_owned(),
        model: "gpt-4-turbo".to_owned(),
        instructions: "You are the contract suite.".to_owned(),
        additional_instructions: None,
        additional_messages: Vec::new(),
        tools: Vec::new(),
        file_ids: Vec::new(),
        metadata: None,
        temperature: None,
        top_p: None,
        max_prompt_tokens: None,
        max_completion_tokens: None,
        truncation_strategy: TruncationObject::default(),
        tool_choice: ToolChoiceOption::default(),
        response_format: ResponseFormatOption::default(),
        expires_after_secs: 600,
    }
}

fn project_a() -> Project {
    Project::new("contract-project-a")
}

fn project_b() -> Project {
    Project::new("contract-project-b")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

#[track_caller]
fn assert_recent(at: i64, t0: i64, what: &str) {
    let t1 = unix_now();
    assert!(
        (t0..=t1).contains(&at),
        "{what}: timestamp {at} not within [{t0}, {t1}]"
    );
}

fn md(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn params(limit: u32, order: Order, after: Option<&str>, before: Option<&str>) -> ListParams {
    ListParams {
        limit,
        order,
        after: after.map(str::to_owned),
        before: before.map(str::to_owned),
    }
}

fn all_asc() -> ListParams {
    params(100, Order::Asc, None, None)
}

fn ids<T: HasId>(page: &Page<T>) -> Vec<String> {
    page.data.iter().map(|o| o.id().to_owned()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn upload(store: &Arc<dyn Store>, project: &Project, purpose: &str) -> OpenAIFile {
    store
        .create_file(
            project,
            NewFile {
                id: new_id(IdKind::File),
                filename: format!("{purpose}.txt"),
                bytes: 42,
                purpose: purpose.to_owned(),
            },
        )
        .await
        .expect("create_file")
}

fn assistant_req(model: &str) -> CreateAssistantRequest {
    CreateAssistantRequest {
        model: model.to_owned(),
        name: None,
        description: None,
        instructions: None,
        tools: None,
        file_ids: None,
        metadata: None,
        temperature: None,
        top_p: None,
        response_format: None,
    }
}

fn user_msg(content: &str) -> CreateMessageRequest {
    CreateMessageRequest {
        role: MessageRole::User,
        content: content.to_owned(),
        file_ids: None,
        metadata: None,
    }
}

fn msg_with_files(content: &str, file_ids: &[&str]) -> CreateMessageRequest {
    CreateMessageRequest {
        file_ids: Some(strings(file_ids)),
        ..user_msg(content)
    }
}

fn function_tool(name: &str) -> AssistantTool {
    AssistantTool::Function {
        function: FunctionObject {
            name: name.to_owned(),
            description: Some(format!("The {name} function.")),
            parameters: Some(serde_json::json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            })),
        },
    }
}

fn call(name: &str, arguments: &str) -> FunctionCall {
    FunctionCall {
        name: name.to_owned(),
        arguments: arguments.to_owned(),
    }
}

fn output(call_id: &str, out: &str) -> ToolOutput {
    ToolOutput {
        tool_call_id: Some(call_id.to_owned()),
        output: Some(out.to_owned()),
    }
}

async fn new_assistant(store: &Arc<dyn Store>, project: &Project) -> String {
    store
        .create_assistant(project, assistant_req("gpt-4-turbo"))
        .await
        .expect("create_assistant")
        .id
}

async fn new_thread(store: &Arc<dyn Store>, project: &Project) -> String {
    store
        .create_thread(project, CreateThreadRequest::default())
        .await
        .expect("create_thread")
        .id
}

/// The worker the cases play the engine as, unless they need several.
const WORKER: &str = "contract-worker";

/// A lease long enough never to expire during a case.
const LEASE: Duration = Duration::from_secs(600);

/// Plays the engine for one turn of function calls: claims the oldest runnable run, which must be
/// `run_id` (the cases arrange for it), and records `calls` with `require_action`. Returns the run
/// in `requires_action` and the `tool_calls` step it got.
async fn require_tool_outputs(
    store: &Arc<dyn Store>,
    project: &Project,
    run_id: &str,
    calls: Vec<FunctionCall>,
) -> (Run, RunStep) {
    let claimed = store
        .claim_run(WORKER, LEASE)
        .await
        .expect("claim_run")
        .expect("a runnable run");
    assert_eq!(claimed.run.id, run_id, "the claimed run");
    let run = store
        .require_action(&claimed.run, WORKER, calls, Usage::default())
        .await
        .expect("require_action")
        .expect("require_action with the lease held");
    let step = store
        .run_steps(project, run_id)
        .await
        .expect("run_steps")
        .pop()
        .expect("the tool_calls step");
    (run, step)
}

/// Claims the oldest runnable run as `worker`, which must be `run_id`.
async fn claim(store: &Arc<dyn Store>, worker: &str, run_id: &str) -> assistd_core::ClaimedRun {
    let claimed = store
        .claim_run(worker, LEASE)
        .await
        .expect("claim_run")
        .unwrap_or_else(|| panic!("{worker}: nothing to claim, expected {run_id}"));
    assert_eq!(claimed.run.id, run_id, "{worker} claimed the wrong run");
    claimed
}

fn usage(prompt: i64, completion: i64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    }
}

fn turn(text: &str, u: Usage) -> TurnText {
    TurnText {
        text: text.to_owned(),
        usage: u,
        incomplete: None,
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(r: StoreResult<T>, kind: ObjectKind, id: &str) {
    match r {
        Err(StoreError::NotFound { kind: k, id: i }) => {
            assert_eq!((k, i.as_str()), (kind, id), "wrong NotFound");
        }
        other => panic!("expected NotFound({kind} '{id}'), got {other:?}"),
    }
}

/// Asserts an `InvalidReference` to `kind` `id`, returning its `param`.
#[track_caller]
fn assert_invalid_reference<T: Debug>(r: StoreResult<T>, kind: ObjectKind, id: &str) -> String {
    match r {
        Err(StoreError::InvalidReference {
            kind: k,
            id: i,
            param,
        }) => {
            assert_eq!((k, i.as_str()), (kind, id), "wrong InvalidReference");
            param
        }
        other => panic!("expected InvalidReference({kind} '{id}'), got {other:?}"),
    }
}

/// Asserts an `Invalid`, returning its `param`.
#[track_caller]
fn assert_invalid<T: Debug>(r: StoreResult<T>) -> Option<String> {
    match r {
        Err(StoreError::Invalid { message, param }) => {
            assert!(!message.is_empty(), "Invalid with an empty message");
            param
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Asserts an `Invalid`, returning its message.
#[track_caller]
fn invalid_message<T: Debug>(r: StoreResult<T>) -> String {
    match r {
        Err(StoreError::Invalid { message, .. }) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[track_caller]
fn assert_empty<T: Debug>(page: StoreResult<Page<T>>, what: &str) {
    let page = page.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    assert!(page.data.is_empty(), "{what}: expected empty, got {page:?}");
    assert!(!page.has_more, "{what}: empty page with has_more");
}

/// Checks every pagination rule on a list whose objects were created in the order `created`
/// (at least 10 of them). `list` runs the list operation with the given params.
async fn check_pagination<T, F, Fut>(what: &str, created: &[String], list: F)
where
    T: HasId + Debug,
    F: Fn(ListParams) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    let n = created.len();
    assert!(n >= 10, "check_pagination needs at least 10 objects");
    let page = |p: ListParams| {
        let fut = list(p.clone());
        async move {
            fut.await
                .unwrap_or_else(|e| panic!("{what}: listing with {p:?} failed: {e:?}"))
        }
    };
    for order in [Order::Desc, Order::Asc] {
        let expected: Vec<String> = match order {
            Order::Asc => created.to_vec(),
            Order::Desc => created.iter().rev().cloned().collect(),
        };
        let ctx = format!("{what} ({order:?})");

        // Walk forward with `after` until an empty page, as the SDKs do.
        let mut seen = Vec::new();
        let mut flags = Vec::new();
        let mut lens = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..=n {
            let p = page(params(10, order, after.as_deref(), None)).await;
            if p.data.is_empty() {
                assert!(!p.has_more, "{ctx}: empty page says has_more");
                break;
            }
            after = p.data.last().map(|o| o.id().to_owned());
            lens.push(p.data.len());
            flags.push(p.has_more);
            seen.extend(ids(&p));
        }
        assert_eq!(seen, expected, "{ctx}: walk with after/limit 10");
        let chunks: Vec<usize> = expected.chunks(10).map(<[String]>::len).collect();
        assert_eq!(lens, chunks, "{ctx}: page sizes");
        let mut want_flags = vec![true; chunks.len()];
        *want_flags.last_mut().unwrap() = false;
        assert_eq!(flags, want_flags, "{ctx}: has_more per page");
        if n == 25 {
            assert_eq!(lens, [10, 10, 5]);
            assert_eq!(flags, [true, true, false]);
        }

        // `after` every object.
        for k in 0..n {
            let p = page(params(10, order, Some(&expected[k]), None)).await;
            let end = n.min(k + 11);
            assert_eq!(ids(&p), expected[k + 1..end], "{ctx}: after #{k}");
            assert_eq!(p.has_more, k + 11 < n, "{ctx}: has_more after #{k}");
        }

        // `before` every object: the objects just preceding it in list order, in list order.
        for k in 0..n {
            let p = page(params(10, order, None, Some(&expected[k]))).await;
            let start = k.saturating_sub(10);
            assert_eq!(ids(&p), expected[start..k], "{ctx}: before #{k}");
            assert_eq!(p.has_more, k > 10, "{ctx}: has_more before #{k}");
        }

        // Both cursors: `before` wins, `after` is the far bound.
        let p = page(params(10, order, Some(&expected[2]), Some(&expected[8]))).await;
        assert_eq!(ids(&p), expected[3..8], "{ctx}: after #2 before #8");
        assert!(!p.has_more, "{ctx}: after #2 before #8 has_more");
        let p = page(params(2, order, Some(&expected[2]), Some(&expected[8]))).await;
        assert_eq!(ids(&p), expected[6..8], "{ctx}: after #2 before #8 limit 2");
        assert!(p.has_more, "{ctx}: after #2 before #8 limit 2 has_more");

        // Unknown cursors.
        for (a, b) in [(Some("nonexistent"), None), (None, Some("nonexistent"))] {
            let p = page(params(10, order, a, b)).await;
            assert!(p.data.is_empty(), "{ctx}: unknown cursor gave {p:?}");
            assert!(!p.has_more, "{ctx}: unknown cursor has_more");
        }

        // Limits at the edges.
        let p = page(params(1, order, None, None)).await;
        assert_eq!(ids(&p), expected[..1], "{ctx}: limit 1");
        assert!(p.has_more, "{ctx}: limit 1 has_more");
        let p = page(params(1, order, Some(&expected[n - 2]), None)).await;
        assert_eq!(ids(&p), expected[n - 1..], "{ctx}: limit 1 at the end");
        assert!(!p.has_more, "{ctx}: limit 1 at the end has_more");
        let p = page(params(100, order, None, None)).await;
        assert_eq!(ids(&p), expected, "{ctx}: limit 100");
        assert!(!p.has_more, "{ctx}: limit 100 has_more");
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// The backend answers.
pub async fn ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

/// Create, get, list and delete an assistant, with every field round-tripped.
pub async fn assistant_crud(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let t0 = unix_now();
    let tools = vec![
        AssistantTool::CodeInterpreter,
        AssistantTool::Retrieval,
        function_tool("get_weather"),
    ];
    let full = store
        .create_assistant(
            &p,
            CreateAssistantRequest {
                model: "gpt-4-turbo".to_owned(),
                name: Some("Math tutor".to_owned()),
                description: Some("Helps with math.".to_owned()),
                instructions: Some("You are a personal math tutor.".to_owned()),
                tools: Some(tools.clone()),
                file_ids: Some(vec![f1.id.clone()]),
                metadata: Some(md(&[("team", "math"), ("tier", "gold")])),
                temperature: Some(0.7),
                top_p: Some(0.9),
                response_format: Some(ResponseFormatOption::Format(AssistantsApiResponseFormat {
                    type_: ResponseFormatType::JsonObject,
                })),
            },
        )
        .await
        .expect("create full assistant");
    assert!(full.id.starts_with("asst_"), "id {}", full.id);
    assert_eq!(full.object, "assistant");
    assert_recent(full.created_at, t0, "assistant.created_at");
    assert_eq!(full.model, "gpt-4-turbo");
    assert_eq!(full.name.as_deref(), Some("Math tutor"));
    assert_eq!(full.description.as_deref(), Some("Helps with math."));
    assert_eq!(
        full.instructions.as_deref(),
        Some("You are a personal math tutor.")
    );
    assert_eq!(full.tools, tools);
    assert_eq!(full.file_ids, vec![f1.id.clone()]);
    assert_eq!(
        full.metadata,
        Some(md(&[("team", "math"), ("tier", "gold")]))
    );
    assert_eq!(full.temperature, Some(0.7));
    assert_eq!(full.top_p, Some(0.9));
    assert_eq!(
        full.response_format,
        Some(ResponseFormatOption::Format(AssistantsApiResponseFormat {
            type_: ResponseFormatType::JsonObject
        }))
    );
    assert_eq!(store.get_assistant(&p, &full.id).await.unwrap(), full);

    let bare = store
        .create_assistant(&p, assistant_req("gpt-3.5-turbo"))
        .await
        .expect("create bare assistant");
    assert_ne!(bare.id, full.id);
    assert_eq!(bare.model, "gpt-3.5-turbo");
    assert_eq!(bare.name, None);
    assert_eq!(bare.description, None);
    assert_eq!(bare.instructions, None);
    assert!(bare.tools.is_empty());
    assert!(bare.file_ids.is_empty());
    assert_eq!(bare.metadata, None);
    assert_eq!(bare.temperature, None);
    assert_eq!(bare.top_p, None);
    assert_eq!(bare.response_format, None);
    assert_eq!(store.get_assistant(&p, &bare.id).await.unwrap(), bare);

    let page = store
        .list_assistants(&p, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        page.data,
        vec![bare.clone(), full.clone()],
        "desc by default"
    );
    assert!(!page.has_more);
    let page = store.list_assistants(&p, &all_asc()).await.unwrap();
    assert_eq!(page.data, vec![full.clone(), bare.clone()]);

    store.delete_assistant(&p, &full.id).await.expect("delete");
    assert_not_found(
        store.get_assistant(&p, &full.id).await,
        ObjectKind::Assistant,
        &full.id,
    );
    assert_not_found(
        store.delete_assistant(&p, &full.id).await,
        ObjectKind::Assistant,
        &full.id,
    );
    assert_not_found(
        store
            .modify_assistant(&p, &full.id, ModifyAssistantRequest::default())
            .await,
        ObjectKind::Assistant,
        &full.id,
    );
    let page = store.list_assistants(&p, &all_asc()).await.unwrap();
    assert_eq!(page.data, vec![bare.clone()]);
    // The file stays; only the attachment went.
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
    assert_not_found(
        store.get_assistant(&p, "asst_doesnotexist").await,
        ObjectKind::Assistant,
        "asst_doesnotexist",
    );
}

/// `create_assistant` checks its `file_ids` and creates nothing when they are bad.
pub async fn assistant_create_checks_files(store: Arc<dyn Store>) {
    let p = project_a();
    let ok = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![ok.id.clone(), "file-missing".to_owned()]);
    let param = assert_invalid_reference(
        store.create_assistant(&p, req).await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("file_ids"), "param {param}");
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![tune.id.clone()]);
    let param = assert_invalid(store.create_assistant(&p, req).await);
    assert!(
        param.as_deref().is_some_and(|p| p.starts_with("file_ids")),
        "param {param:?}"
    );
    assert_empty(
        store.list_assistants(&p, &all_asc()).await,
        "no assistant after failed creates",
    );
}

/// `modify_assistant`: absent fields stay, `Some(None)` clears, `file_ids` replaces the set,
/// and a failed modification changes nothing.
pub async fn assistant_modify_semantics(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let f3 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let orig = store
        .create_assistant(
            &p,
            CreateAssistantRequest {
                model: "gpt-4-turbo".to_owned(),
                name: Some("Name".to_owned()),
                description: Some("Description".to_owned()),
                instructions: Some("Instructions".to_owned()),
                tools: Some(vec![AssistantTool::Retrieval]),
                file_ids: Some(vec![f1.id.clone(), f2.id.clone()]),
                metadata: Some(md(&[("a", "1")])),
                temperature: Some(1.5),
                top_p: Some(0.5),
                response_format: Some(ResponseFormatOption::Mode(ResponseFormatMode::Auto)),
            },
        )
        .await
        .unwrap();
    assert_eq!(orig.file_ids, vec![f1.id.clone(), f2.id.clone()]);
    let f1_link = store
        .get_assistant_file(&p, &orig.id, &f1.id)
        .await
        .unwrap();

    // Nothing given: nothing changes.
    let same = store
        .modify_assistant(&p, &orig.id, ModifyAssistantRequest::default())
        .await
        .unwrap();
    assert_eq!(same, orig);

    // Clear name, set model, leave the rest.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(None),
                model: Some("gpt-4".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut want = orig.clone();
    want.name = None;
    want.model = "gpt-4".to_owned();
    assert_eq!(m, want);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);

    // Replace or clear everything else that is nullable.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                description: Some(None),
                instructions: Some(Some("New instructions".to_owned())),
                tools: Some(vec![function_tool("lookup")]),
                metadata: Some(Some(md(&[("b", "2")]))),
                temperature: Some(None),
                top_p: Some(Some(0.25)),
                response_format: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.description = None;
    want.instructions = Some("New instructions".to_owned());
    want.tools = vec![function_tool("lookup")];
    want.metadata = Some(md(&[("b", "2")]));
    want.temperature = None;
    want.top_p = Some(0.25);
    want.response_format = None;
    assert_eq!(m, want);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);

    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                metadata: Some(None),
                instructions: Some(None),
                tools: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.metadata = None;
    want.instructions = None;
    want.tools = Vec::new();
    assert_eq!(m, want);

    // file_ids replaces the set: f2 is detached, f3 attached, f1 kept as it was.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                file_ids: Some(vec![f3.id.clone(), f1.id.clone()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.file_ids = vec![f1.id.clone(), f3.id.clone()];
    assert_eq!(m, want, "file_ids ascending by file creation");
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);
    assert_not_found(
        store.get_assistant_file(&p, &orig.id, &f2.id).await,
        ObjectKind::AssistantFile,
        &f2.id,
    );
    assert_eq!(
        store
            .get_assistant_file(&p, &orig.id, &f1.id)
            .await
            .unwrap(),
        f1_link
    );
    let links = store
        .list_assistant_files(&p, &orig.id, &all_asc())
        .await
        .unwrap();
    let mut linked = ids(&links);
    linked.sort();
    let mut want_linked = vec![f1.id.clone(), f3.id.clone()];
    want_linked.sort();
    assert_eq!(linked, want_linked);
    // The detached file itself stays.
    assert_eq!(store.get_file(&p, &f2.id).await.unwrap(), f2);

    // A failed modification (bad file) changes nothing, not even the fields that were valid.
    let r = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(Some("Should not stick".to_owned())),
                file_ids: Some(vec![f2.id.clone(), "file-missing".to_owned()]),
                ..Default::default()
            },
        )
        .await;
    let param = assert_invalid_reference(r, ObjectKind::File, "file-missing");
    assert!(param.starts_with("file_ids"), "param {param}");
    let r = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(Some("Should not stick".to_owned())),
                file_ids: Some(vec![tune.id.clone()]),
                ..Default::default()
            },
        )
        .await;
    assert_invalid(r);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);
    assert!(
        store
            .get_assistant_file(&p, &orig.id, &f2.id)
            .await
            .is_err()
    );

    // An empty list detaches everything.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                file_ids: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(m.file_ids.is_empty());
    assert_empty(
        store.list_assistant_files(&p, &orig.id, &all_asc()).await,
        "assistant files after file_ids: []",
    );
}

/// Attach (idempotent), get, list, detach, and the errors around them.
pub async fn assistant_files(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;

    let t0 = unix_now();
    let a1 = store
        .create_assistant_file(&p, &asst, &f1.id)
        .await
        .unwrap();
    assert_eq!(a1.id, f1.id);
    assert_eq!(a1.object, "assistant.file");
    assert_eq!(a1.assistant_id, asst);
    assert_recent(a1.created_at, t0, "assistant_file.created_at");
    let again = store
        .create_assistant_file(&p, &asst, &f1.id)
        .await
        .expect("attaching twice is idempotent");
    assert_eq!(again, a1);
    assert_eq!(
        ids(&store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()),
        vec![f1.id.clone()],
        "idempotent attach does not duplicate"
    );
    assert_eq!(
        store.get_assistant_file(&p, &asst, &f1.id).await.unwrap(),
        a1
    );

    let a2 = store
        .create_assistant_file(&p, &asst, &f2.id)
        .await
        .unwrap();
    let asc = store
        .list_assistant_files(&p, &asst, &all_asc())
        .await
        .unwrap();
    assert_eq!(asc.data, vec![a1.clone(), a2.clone()]);
    assert!(!asc.has_more);
    let desc = store
        .list_assistant_files(&p, &asst, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(desc.data, vec![a2.clone(), a1.clone()]);
    assert_eq!(
        store.get_assistant(&p, &asst).await.unwrap().file_ids,
        vec![f1.id.clone(), f2.id.clone()]
    );

    // Detach.
    store
        .delete_assistant_file(&p, &asst, &f1.id)
        .await
        .unwrap();
    assert_not_found(
        store.get_assistant_file(&p, &asst, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_not_found(
        store.delete_assistant_file(&p, &asst, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_eq!(
        store.get_assistant(&p, &asst).await.unwrap().file_ids,
        vec![f2.id.clone()]
    );
    assert_eq!(
        store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()
            .data,
        vec![a2.clone()]
    );
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1, "file stays");

    // 404s on the path.
    let ghost = "asst_doesnotexist";
    assert_not_found(
        store.create_assistant_file(&p, ghost, &f1.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.get_assistant_file(&p, ghost, &f2.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.list_assistant_files(&p, ghost, &all_asc()).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.delete_assistant_file(&p, ghost, &f2.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store
            .get_assistant_file(&p, &asst, "file-notattached")
            .await,
        ObjectKind::AssistantFile,
        "file-notattached",
    );

    // Bad references.
    let param = assert_invalid_reference(
        store.create_assistant_file(&p, &asst, "file-missing").await,
        ObjectKind::File,
        "file-missing",
    );
    assert_eq!(param, "file_id");
    let param = assert_invalid(store.create_assistant_file(&p, &asst, &tune.id).await);
    assert_eq!(param.as_deref(), Some("file_id"));
    assert_eq!(
        store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()
            .data,
        vec![a2]
    );
}

/// At most 20 files per assistant: the 21st attachment is refused, re-attaching is still fine.
pub async fn assistant_file_limit(store: Arc<dyn Store>) {
    let p = project_a();
    let mut files = Vec::new();
    for _ in 0..21 {
        files.push(upload(&store, &p, "assistants").await.id);
    }
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(files[..20].to_vec());
    let asst = store.create_assistant(&p, req).await.unwrap();
    assert_eq!(asst.file_ids, files[..20]);
    assert_invalid(store.create_assistant_file(&p, &asst.id, &files[20]).await);
    store
        .create_assistant_file(&p, &asst.id, &files[3])
        .await
        .expect("re-attaching at the limit is idempotent");
    assert_eq!(
        store.get_assistant(&p, &asst.id).await.unwrap().file_ids,
        files[..20]
    );
    assert_not_found(
        store.get_assistant_file(&p, &asst.id, &files[20]).await,
        ObjectKind::AssistantFile,
        &files[20],
    );
    // After a detach there is room again.
    store
        .delete_assistant_file(&p, &asst.id, &files[0])
        .await
        .unwrap();
    store
        .create_assistant_file(&p, &asst.id, &files[20])
        .await
        .expect("room after a detach");
    assert_eq!(
        store.get_assistant(&p, &asst.id).await.unwrap().file_ids,
        files[1..]
    );
}

/// A thread created with messages holds them, in order, with their fields.
pub async fn thread_create_with_messages(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let t0 = unix_now();
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![
                    CreateMessageRequest {
                        metadata: Some(md(&[("n", "1")])),
                        ..user_msg("Hello")
                    },
                    CreateMessageRequest {
                        role: MessageRole::Assistant,
                        ..msg_with_files("Here is a file", &[&f1.id])
                    },
                ]),
                metadata: Some(md(&[("topic", "greetings")])),
            },
        )
        .await
        .unwrap();
    assert!(thread.id.starts_with("thread_"), "id {}", thread.id);
    assert_eq!(thread.object, "thread");
    assert_recent(thread.created_at, t0, "thread.created_at");
    assert_eq!(thread.metadata, Some(md(&[("topic", "greetings")])));
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);

    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap();
    assert!(!msgs.has_more);
    assert_eq!(msgs.data.len(), 2);
    let (m0, m1) = (&msgs.data[0], &msgs.data[1]);
    for m in [m0, m1] {
        assert!(m.id.starts_with("msg_"), "id {}", m.id);
        assert_eq!(m.object, "thread.message");
        assert_eq!(m.thread_id, thread.id);
        assert_eq!(m.status, MessageStatus::Completed);
        assert_eq!(m.incomplete_details, None);
        assert_eq!(m.assistant_id, None);
        assert_eq!(m.run_id, None);
        assert_recent(m.created_at, t0, "message.created_at");
    }
    assert_eq!(m0.role, MessageRole::User);
    assert_eq!(m0.content, vec![MessageContent::text("Hello")]);
    assert!(m0.file_ids.is_empty());
    assert_eq!(m0.metadata, Some(md(&[("n", "1")])));
    assert_eq!(m1.role, MessageRole::Assistant);
    assert_eq!(m1.content, vec![MessageContent::text("Here is a file")]);
    assert_eq!(m1.file_ids, vec![f1.id.clone()]);
    assert_eq!(m1.metadata, None);
    assert_eq!(
        store.get_message(&p, &thread.id, &m0.id).await.unwrap(),
        *m0
    );
    assert_eq!(
        store.get_message(&p, &thread.id, &m1.id).await.unwrap(),
        *m1
    );

    let empty = store
        .create_thread(&p, CreateThreadRequest::default())
        .await
        .unwrap();
    assert_ne!(empty.id, thread.id);
    assert_eq!(empty.metadata, None);
    assert_empty(
        store.list_messages(&p, &empty.id, &all_asc(), None).await,
        "messages of an empty thread",
    );
}

/// A thread whose messages reference a missing or unattachable file is not created at all.
///
/// Threads cannot be listed, so the absence of the half-created thread is not observable through
/// the trait; this checks the errors and their `param`, and that the store stays usable.
pub async fn thread_create_is_atomic(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let r = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![
                    msg_with_files("atomic probe 1", &[&f1.id]),
                    msg_with_files("atomic probe 2", &["file-missing"]),
                ]),
                metadata: None,
            },
        )
        .await;
    let param = assert_invalid_reference(r, ObjectKind::File, "file-missing");
    assert!(param.starts_with("messages[1]"), "param {param}");
    let r = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![msg_with_files("atomic probe 3", &[&tune.id])]),
                metadata: None,
            },
        )
        .await;
    let param = assert_invalid(r);
    assert!(
        param
            .as_deref()
            .is_some_and(|p| p.starts_with("messages[0]")),
        "param {param:?}"
    );
    // The store is still consistent: the same good message goes through on its own.
    let t = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![msg_with_files("atomic probe 1", &[&f1.id])]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let msgs = store
        .list_messages(&p, &t.id, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(msgs.data.len(), 1);
    assert_eq!(msgs.data[0].file_ids, vec![f1.id.clone()]);
}

/// Thread metadata: absent leaves it, a map replaces it, `Some(None)` clears it; then delete.
pub async fn thread_modify_delete(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: None,
                metadata: Some(md(&[("a", "1")])),
            },
        )
        .await
        .unwrap();
    let same = store.modify_thread(&p, &thread.id, None).await.unwrap();
    assert_eq!(same, thread);
    let m = store
        .modify_thread(&p, &thread.id, Some(Some(md(&[("b", "2"), ("c", "3")]))))
        .await
        .unwrap();
    assert_eq!(m.metadata, Some(md(&[("b", "2"), ("c", "3")])), "replaced");
    assert_eq!(
        (m.id.as_str(), m.created_at),
        (thread.id.as_str(), thread.created_at)
    );
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), m);
    let m = store
        .modify_thread(&p, &thread.id, Some(None))
        .await
        .unwrap();
    assert_eq!(m.metadata, None);
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), m);

    store.delete_thread(&p, &thread.id).await.unwrap();
    assert_not_found(
        store.get_thread(&p, &thread.id).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store.delete_thread(&p, &thread.id).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store.modify_thread(&p, &thread.id, None).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store.modify_thread(&p, "thread_nope", Some(None)).await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Deleting a thread takes its messages, message files, runs and steps with it, and nothing else.
pub async fn thread_delete_cascades(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let asst = new_assistant(&store, &p).await;
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![msg_with_files("with a file", &[&f1.id])]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let other = new_thread(&store, &p).await;
    let other_msg = store
        .create_message(&p, &other, user_msg("survivor"))
        .await
        .unwrap();
    let msg = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store
        .create_run(&p, &thread.id, new_run(&asst))
        .await
        .unwrap();
    let (_, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    // Created after `run` was claimed, so that the claim took `run`.
    let other_run = store.create_run(&p, &other, new_run(&asst)).await.unwrap();

    store.delete_thread(&p, &thread.id).await.unwrap();
    let t = thread.id.as_str();
    assert_not_found(store.get_thread(&p, t).await, ObjectKind::Thread, t);
    assert_not_found(
        store.get_message(&p, t, &msg.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_messages(&p, t, &all_asc(), None).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_message_files(&p, t, &msg.id, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.get_message_file(&p, t, &msg.id, &f1.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(store.get_run(&p, t, &run.id).await, ObjectKind::Thread, t);
    assert_not_found(
        store.list_runs(&p, t, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_run_steps(&p, t, &run.id, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.get_run_step(&p, t, &run.id, &step.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.create_message(&p, t, user_msg("late")).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.create_run(&p, t, new_run(&asst)).await,
        ObjectKind::Thread,
        t,
    );

    // Everything else stays.
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
    store.get_assistant(&p, &asst).await.unwrap();
    assert_eq!(
        store.get_message(&p, &other, &other_msg.id).await.unwrap(),
        other_msg
    );
    assert_eq!(
        store.get_run(&p, &other, &other_run.id).await.unwrap(),
        other_run
    );
}

/// Messages: create, get, modify metadata, list, and their 404s and reference errors.
pub async fn message_crud(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;

    let t0 = unix_now();
    let m1 = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                role: MessageRole::User,
                content: "What is 2 + 2?".to_owned(),
                file_ids: Some(vec![f1.id.clone(), f2.id.clone()]),
                metadata: Some(md(&[("k", "v")])),
            },
        )
        .await
        .unwrap();
    assert!(m1.id.starts_with("msg_"), "id {}", m1.id);
    assert_eq!(m1.object, "thread.message");
    assert_recent(m1.created_at, t0, "message.created_at");
    assert_eq!(m1.thread_id, thread);
    assert_eq!(m1.status, MessageStatus::Completed);
    assert_eq!(m1.incomplete_details, None);
    assert_eq!(m1.incomplete_at, None);
    assert_eq!(m1.role, MessageRole::User);
    assert_eq!(m1.content, vec![MessageContent::text("What is 2 + 2?")]);
    assert_eq!(m1.assistant_id, None);
    assert_eq!(m1.run_id, None);
    assert_eq!(m1.file_ids, vec![f1.id.clone(), f2.id.clone()]);
    assert_eq!(m1.metadata, Some(md(&[("k", "v")])));
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), m1);

    let m2 = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                role: MessageRole::Assistant,
                ..user_msg("4")
            },
        )
        .await
        .unwrap();
    assert_eq!(m2.role, MessageRole::Assistant);
    assert!(m2.file_ids.is_empty());
    assert_eq!(m2.metadata, None);

    let desc = store
        .list_messages(&p, &thread, &ListParams::default(), None)
        .await
        .unwrap();
    assert_eq!(desc.data, vec![m2.clone(), m1.clone()]);
    assert!(!desc.has_more);
    let asc = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(asc.data, vec![m1.clone(), m2.clone()]);
    assert_empty(
        store.list_messages(&p, &other, &all_asc(), None).await,
        "other thread's messages",
    );

    // Metadata.
    let same = store
        .modify_message(&p, &thread, &m1.id, None)
        .await
        .unwrap();
    assert_eq!(same, m1);
    let changed = store
        .modify_message(&p, &thread, &m1.id, Some(Some(md(&[("x", "y")]))))
        .await
        .unwrap();
    let mut want = m1.clone();
    want.metadata = Some(md(&[("x", "y")]));
    assert_eq!(changed, want);
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), want);
    let cleared = store
        .modify_message(&p, &thread, &m1.id, Some(None))
        .await
        .unwrap();
    want.metadata = None;
    assert_eq!(cleared, want);
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), want);

    // 404s.
    assert_not_found(
        store.get_message(&p, &thread, "msg_nope").await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store.get_message(&p, &other, &m1.id).await,
        ObjectKind::Message,
        &m1.id,
    );
    assert_not_found(
        store.modify_message(&p, &other, &m1.id, Some(None)).await,
        ObjectKind::Message,
        &m1.id,
    );
    assert_not_found(
        store.modify_message(&p, &thread, "msg_nope", None).await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store.get_message(&p, "thread_nope", &m1.id).await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store.create_message(&p, "thread_nope", user_msg("x")).await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store
            .list_messages(&p, "thread_nope", &all_asc(), None)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );

    // Bad file references create nothing.
    let param = assert_invalid_reference(
        store
            .create_message(
                &p,
                &thread,
                msg_with_files("bad", &[&f1.id, "file-missing"]),
            )
            .await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("file_ids"), "param {param}");
    let param = assert_invalid(
        store
            .create_message(&p, &thread, msg_with_files("bad", &[&tune.id]))
            .await,
    );
    assert!(
        param.as_deref().is_some_and(|p| p.starts_with("file_ids")),
        "param {param:?}"
    );
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![m1.id.clone(), m2.id.clone()]
    );
}

/// The `run_id` filter keeps only messages written by that run: user messages (including a run's
/// `additional_messages`) never match a run filter, a message the run wrote does, and no filter
/// lists them all.
pub async fn message_run_id_filter(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let m1 = store
        .create_message(&p, &thread, user_msg("before the run"))
        .await
        .unwrap();
    let mut nr = new_run(&asst);
    nr.additional_messages = vec![user_msg("added by the run request")];
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let all = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
    assert_eq!(all.data[0], m1);
    assert_eq!(
        all.data[1].content,
        vec![MessageContent::text("added by the run request")]
    );
    assert_empty(
        store
            .list_messages(&p, &thread, &all_asc(), Some(&run.id))
            .await,
        "messages written by the run before it ran",
    );
    let claimed = claim(&store, WORKER, &run.id).await;
    let (written, step) = store.begin_message(&claimed.run, WORKER).await.unwrap();
    store
        .complete_message(
            &claimed.run,
            WORKER,
            &written.id,
            &step.id,
            &turn("Hi!", usage(3, 1)),
        )
        .await
        .unwrap();
    let written = store.get_message(&p, &thread, &written.id).await.unwrap();
    assert_eq!(
        store
            .list_messages(&p, &thread, &all_asc(), Some(&run.id))
            .await
            .unwrap()
            .data,
        vec![written.clone()],
        "messages written by the run"
    );
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![m1.id.clone(), all.data[1].id.clone(), written.id.clone()]
    );
    assert_empty(
        store
            .list_messages(&p, &thread, &all_asc(), Some("run_unknown"))
            .await,
        "messages of an unknown run",
    );
}

/// A message's files: list (both orders, paged) and get, with their 404s.
pub async fn message_files(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let thread = new_thread(&store, &p).await;
    let t0 = unix_now();
    let msg = store
        .create_message(&p, &thread, msg_with_files("files", &[&f1.id, &f2.id]))
        .await
        .unwrap();
    let plain = store
        .create_message(&p, &thread, user_msg("no files"))
        .await
        .unwrap();

    let asc = store
        .list_message_files(&p, &thread, &msg.id, &all_asc())
        .await
        .unwrap();
    assert_eq!(ids(&asc), vec![f1.id.clone(), f2.id.clone()]);
    assert!(!asc.has_more);
    for mf in &asc.data {
        assert_eq!(mf.object, "thread.message.file");
        assert_eq!(mf.message_id, msg.id);
        assert_recent(mf.created_at, t0, "message_file.created_at");
    }
    let desc = store
        .list_message_files(&p, &thread, &msg.id, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        desc.data,
        asc.data.iter().rev().cloned().collect::<Vec<_>>()
    );
    let first = store
        .list_message_files(&p, &thread, &msg.id, &params(1, Order::Asc, None, None))
        .await
        .unwrap();
    assert_eq!(ids(&first), vec![f1.id.clone()]);
    assert!(first.has_more);
    let second = store
        .list_message_files(
            &p,
            &thread,
            &msg.id,
            &params(1, Order::Asc, Some(&f1.id), None),
        )
        .await
        .unwrap();
    assert_eq!(ids(&second), vec![f2.id.clone()]);
    assert!(!second.has_more);

    assert_eq!(
        store
            .get_message_file(&p, &thread, &msg.id, &f1.id)
            .await
            .unwrap(),
        asc.data[0]
    );
    assert_eq!(
        store
            .get_message_file(&p, &thread, &msg.id, &f2.id)
            .await
            .unwrap(),
        asc.data[1]
    );
    assert_empty(
        store
            .list_message_files(&p, &thread, &plain.id, &all_asc())
            .await,
        "files of a message without files",
    );
    assert_not_found(
        store.get_message_file(&p, &thread, &plain.id, &f1.id).await,
        ObjectKind::MessageFile,
        &f1.id,
    );
    assert_not_found(
        store
            .get_message_file(&p, &thread, &msg.id, "file-nope")
            .await,
        ObjectKind::MessageFile,
        "file-nope",
    );
    assert_not_found(
        store
            .get_message_file(&p, &thread, "msg_nope", &f1.id)
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store
            .list_message_files(&p, &thread, "msg_nope", &all_asc())
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store
            .list_message_files(&p, "thread_nope", &msg.id, &all_asc())
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Paging through 25 assistants created back to back.
pub async fn pagination_assistants(store: Arc<dyn Store>) {
    let p = project_a();
    let mut created = Vec::new();
    for i in 0..25 {
        let mut req = assistant_req("gpt-4-turbo");
        req.name = Some(format!("assistant {i}"));
        created.push(store.create_assistant(&p, req).await.unwrap().id);
    }
    let s = Arc::clone(&store);
    check_pagination("assistants", &created, |lp| {
        let (s, p) = (Arc::clone(&s), p.clone());
        async move { s.list_assistants(&p, &lp).await }
    })
    .await;
}

/// Paging through 25 messages; a cursor from another thread is unknown here.
pub async fn pagination_messages(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    let foreign = store
        .create_message(&p, &other, user_msg("elsewhere"))
        .await
        .unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let m = store
            .create_message(&p, &thread, user_msg(&format!("message {i}")))
            .await
            .unwrap();
        created.push(m.id);
    }
    let s = Arc::clone(&store);
    let t = thread.clone();
    check_pagination("messages", &created, |lp| {
        let (s, p, t) = (Arc::clone(&s), p.clone(), t.clone());
        async move { s.list_messages(&p, &t, &lp, None).await }
    })
    .await;
    for order in [Order::Asc, Order::Desc] {
        assert_empty(
            store
                .list_messages(
                    &p,
                    &thread,
                    &params(10, order, Some(&foreign.id), None),
                    None,
                )
                .await,
            "messages after another thread's message",
        );
        assert_empty(
            store
                .list_messages(
                    &p,
                    &thread,
                    &params(10, order, None, Some(&foreign.id)),
                    None,
                )
                .await,
            "messages before another thread's message",
        );
    }
}

/// Paging through 25 runs of one thread.
pub async fn pagination_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..25 {
        let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
        // One active run per thread: end it before the next.
        store.cancel_run(&p, &thread, &run.id).await.unwrap();
        created.push(run.id);
    }
    let s = Arc::clone(&store);
    let t = thread.clone();
    check_pagination("runs", &created, |lp| {
        let (s, p, t) = (Arc::clone(&s), p.clone(), t.clone());
        async move { s.list_runs(&p, &t, &lp).await }
    })
    .await;
}

/// Paging through 25 steps of one run (25 rounds of tool calls).
pub async fn pagination_run_steps(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let (r, step) = require_tool_outputs(
            &store,
            &p,
            &run.id,
            vec![call("f", &format!("{{\"i\":{i}}}"))],
        )
        .await;
        let call_id = r.required_action.unwrap().submit_tool_outputs.tool_calls[0]
            .id
            .clone();
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "ok")])
            .await
            .unwrap();
        created.push(step.id);
    }
    let s = Arc::clone(&store);
    let (t, r) = (thread.clone(), run.id.clone());
    check_pagination("run steps", &created, |lp| {
        let (s, p, t, r) = (Arc::clone(&s), p.clone(), t.clone(), r.clone());
        async move { s.list_run_steps(&p, &t, &r, &lp).await }
    })
    .await;
}

/// Paging through an assistant's 20 files (the maximum), attached one by one.
pub async fn pagination_assistant_files(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..20 {
        let f = upload(&store, &p, "assistants").await;
        store.create_assistant_file(&p, &asst, &f.id).await.unwrap();
        created.push(f.id);
    }
    let s = Arc::clone(&store);
    let a = asst.clone();
    check_pagination("assistant files", &created, |lp| {
        let (s, p, a) = (Arc::clone(&s), p.clone(), a.clone());
        async move { s.list_assistant_files(&p, &a, &lp).await }
    })
    .await;
}

/// Paging through a message's 10 files (the maximum).
pub async fn pagination_message_files(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..10 {
        created.push(upload(&store, &p, "assistants").await.id);
    }
    let refs: Vec<&str> = created.iter().map(String::as_str).collect();
    let msg = store
        .create_message(&p, &thread, msg_with_files("ten files", &refs))
        .await
        .unwrap();
    assert_eq!(msg.file_ids, created);
    let s = Arc::clone(&store);
    let (t, m) = (thread.clone(), msg.id.clone());
    check_pagination("message files", &created, |lp| {
        let (s, p, t, m) = (Arc::clone(&s), p.clone(), t.clone(), m.clone());
        async move { s.list_message_files(&p, &t, &m, &lp).await }
    })
    .await;
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
                messages: Some(vec![user_msg("first")]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let tools = vec![AssistantTool::CodeInterpreter, function_tool("get_weather")];
    let nr = NewRun {
        id: new_id(IdKind::Run),
        assistant_id: asst.clone(),
        model: "gpt-4-0125-preview".to_owned(),
        instructions: "Be brief.".to_owned(),
        additional_instructions: Some("Address the user as Jane.".to_owned()),
        additional_messages: vec![
            user_msg("extra one"),
            CreateMessageRequest {
                role: MessageRole::Assistant,
                metadata: Some(md(&[("from", "run")])),
                ..msg_with_files("extra two", &[&f1.id])
            },
        ],
        tools: tools.clone(),
        file_ids: vec![f1.id.clone(), f2.id.clone()],
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
        expires_after_secs: 3600,
    };
    let t0 = unix_now();
    let run = store.create_run(&p, &thread.id, nr).await.unwrap();
    assert!(run.id.starts_with("run_"), "id {}", run.id);
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
    assert_eq!(run.file_ids, vec![f1.id.clone(), f2.id.clone()]);
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
    assert_eq!(msgs[2].file_ids, vec![f1.id.clone()]);
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
    assert_eq!(bare.temperature, None);
    assert_eq!(bare.top_p, None);
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
        store.create_run(&p, "thread_nope", new_run(&asst)).await,
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
        msg_with_files("ok", &[&f1.id]),
        msg_with_files("bad", &["file-missing"]),
    ];
    let param = assert_invalid_reference(
        store.create_run(&p, &thread, nr).await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("additional_messages[1]"), "param {param}");
    let mut nr = new_run(&asst);
    nr.additional_messages = vec![user_msg("ok"), msg_with_files("bad", &[&tune.id])];
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
                messages: Some(vec![msg_with_files("Hi there", &[&f1.id])]),
                metadata: Some(md(&[("t", "1")])),
            },
            nr,
        )
        .await
        .unwrap();
    assert!(thread.id.starts_with("thread_"));
    assert_eq!(thread.object, "thread");
    assert_recent(thread.created_at, t0, "thread.created_at");
    assert_eq!(thread.metadata, Some(md(&[("t", "1")])));
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);
    assert!(run.id.starts_with("run_"));
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
    assert_eq!(msgs[0].file_ids, vec![f1.id.clone()]);

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
        store.get_run(&p, &thread, "run_nope").await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store.modify_run(&p, &thread, "run_nope", None).await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store.get_run(&p, "thread_nope", &r1.id).await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store.list_runs(&p, "thread_nope", &all_asc()).await,
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
    assert_eq!(
        c, want,
        "only status, cancelled_at and (now terminal) usage change"
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
        store.cancel_run(&p, &thread, "run_nope").await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store.cancel_run(&p, "thread_nope", &run.id).await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// One function call: the engine's `require_action`, then every way to get `submit_tool_outputs`
/// wrong, then the right outputs.
pub async fn tool_outputs_single_call(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();

    // Nothing to submit to yet.
    assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output("call_x", "1")])
            .await,
    );

    let weather = call("get_weather", r#"{"city":"Paris"}"#);
    let t0 = unix_now();
    let (r, step) = require_tool_outputs(&store, &p, &run.id, vec![weather.clone()]).await;
    assert_eq!(r.status, RunStatus::RequiresAction);
    let action = r.required_action.clone().expect("required_action");
    assert_eq!(action.type_, "submit_tool_outputs");
    let calls = &action.submit_tool_outputs.tool_calls;
    assert_eq!(calls.len(), 1);
    let call_id = calls[0].id.clone();
    assert!(call_id.starts_with("call_"), "call id {call_id}");
    assert_eq!(calls[0].type_, "function");
    assert_eq!(calls[0].function, weather);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), r);

    assert!(step.id.starts_with("step_"), "id {}", step.id);
    assert_eq!(step.object, "thread.run.step");
    assert_recent(step.created_at, t0, "step.created_at");
    assert_eq!(step.assistant_id, asst);
    assert_eq!(step.thread_id, thread);
    assert_eq!(step.run_id, run.id);
    assert_eq!(step.type_, RunStepType::ToolCalls);
    assert_eq!(step.status, RunStepStatus::InProgress);
    assert_eq!(step.completed_at, None);
    assert_eq!(step.last_error, None);
    assert_eq!(
        step.step_details,
        StepDetails::ToolCalls {
            tool_calls: vec![StepToolCall::Function {
                id: call_id.clone(),
                function: StepFunctionCall {
                    name: "get_weather".to_owned(),
                    arguments: r#"{"city":"Paris"}"#.to_owned(),
                    output: None,
                },
            }],
        }
    );
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );

    // Wrong submissions: each is refused with a param, and changes nothing.
    let missing = assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, Vec::new())
            .await,
    );
    assert!(missing.is_some(), "missing output: no param");
    let unknown = assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output("call_unknown", "x")])
            .await,
    );
    assert!(unknown.is_some(), "unknown call id: no param");
    let extra = assert_invalid(
        store
            .submit_tool_outputs(
                &p,
                &thread,
                &run.id,
                vec![output(&call_id, "22C"), output("call_unknown", "x")],
            )
            .await,
    );
    assert!(extra.is_some(), "extra unknown call id: no param");
    let dup = assert_invalid(
        store
            .submit_tool_outputs(
                &p,
                &thread,
                &run.id,
                vec![output(&call_id, "22C"), output(&call_id, "23C")],
            )
            .await,
    );
    assert!(dup.is_some(), "duplicate call id: no param");
    let no_id = assert_invalid(
        store
            .submit_tool_outputs(
                &p,
                &thread,
                &run.id,
                vec![ToolOutput {
                    tool_call_id: None,
                    output: Some("22C".to_owned()),
                }],
            )
            .await,
    );
    assert!(no_id.is_some(), "output without tool_call_id: no param");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), r);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );

    // The right outputs.
    let t1 = unix_now();
    let queued = store
        .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "22C")])
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.required_action, None);
    assert_eq!(queued.id, run.id);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), queued);
    let done = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_eq!(done.status, RunStepStatus::Completed);
    assert_recent(
        done.completed_at.expect("completed_at"),
        t1,
        "step.completed_at",
    );
    let mut want = step.clone();
    want.status = RunStepStatus::Completed;
    want.completed_at = done.completed_at;
    want.usage = done.usage;
    want.step_details = StepDetails::ToolCalls {
        tool_calls: vec![StepToolCall::Function {
            id: call_id.clone(),
            function: StepFunctionCall {
                name: "get_weather".to_owned(),
                arguments: r#"{"city":"Paris"}"#.to_owned(),
                output: Some("22C".to_owned()),
            },
        }],
    };
    assert_eq!(done, want);

    // Not twice.
    assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "22C")])
            .await,
    );
    assert_not_found(
        store
            .submit_tool_outputs(&p, &thread, "run_nope", vec![output(&call_id, "1")])
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    // The queued run is nobody's yet: a worker cannot record calls on it without claiming it.
    let before = store.get_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(
        store
            .require_action(&before, WORKER, vec![call("f", "{}")], Usage::default())
            .await
            .unwrap(),
        None,
        "require_action without the lease"
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), before);
    assert_eq!(
        ids(&store
            .list_run_steps(&p, &thread, &run.id, &all_asc())
            .await
            .unwrap()),
        vec![step.id.clone()]
    );
}

/// Two parallel function calls: both outputs are needed, in any order, and each lands on its
/// own call. A second round adds a second step.
pub async fn tool_outputs_parallel_calls(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c1 = call("get_weather", r#"{"city":"Paris"}"#);
    let c2 = call("get_time", r#"{"city":"Tokyo"}"#);
    let (r, step) = require_tool_outputs(&store, &p, &run.id, vec![c1.clone(), c2.clone()]).await;
    assert_eq!(r.status, RunStatus::RequiresAction);
    let calls = r
        .required_action
        .clone()
        .unwrap()
        .submit_tool_outputs
        .tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].function, c1);
    assert_eq!(calls[1].function, c2);
    let (id1, id2) = (calls[0].id.clone(), calls[1].id.clone());
    assert!(id1.starts_with("call_") && id2.starts_with("call_"));
    assert_ne!(id1, id2);
    let StepDetails::ToolCalls { tool_calls } = &step.step_details else {
        panic!("not a tool_calls step: {step:?}");
    };
    let step_ids: Vec<&str> = tool_calls
        .iter()
        .map(|c| match c {
            StepToolCall::Function { id, function } => {
                assert_eq!(function.output, None);
                id.as_str()
            }
            other => panic!("not a function call: {other:?}"),
        })
        .collect();
    assert_eq!(step_ids, [id1.as_str(), id2.as_str()]);

    // Only one of the two outputs.
    let param = assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output(&id1, "sunny")])
            .await,
    );
    assert!(param.is_some(), "missing output: no param");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), r);

    // Both, in reverse order.
    let queued = store
        .submit_tool_outputs(
            &p,
            &thread,
            &run.id,
            vec![output(&id2, "09:00"), output(&id1, "sunny")],
        )
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.required_action, None);
    let done = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_eq!(done.status, RunStepStatus::Completed);
    assert!(done.completed_at.is_some());
    assert_eq!(
        done.step_details,
        StepDetails::ToolCalls {
            tool_calls: vec![
                StepToolCall::Function {
                    id: id1.clone(),
                    function: StepFunctionCall {
                        name: "get_weather".to_owned(),
                        arguments: r#"{"city":"Paris"}"#.to_owned(),
                        output: Some("sunny".to_owned()),
                    },
                },
                StepToolCall::Function {
                    id: id2.clone(),
                    function: StepFunctionCall {
                        name: "get_time".to_owned(),
                        arguments: r#"{"city":"Tokyo"}"#.to_owned(),
                        output: Some("09:00".to_owned()),
                    },
                },
            ],
        }
    );

    // A second round: a new step and new call ids; the first step is untouched.
    let (r2, step2) = require_tool_outputs(&store, &p, &run.id, vec![c1.clone()]).await;
    assert_ne!(step2.id, step.id);
    let id3 = r2.required_action.unwrap().submit_tool_outputs.tool_calls[0]
        .id
        .clone();
    assert!(id3 != id1 && id3 != id2, "call ids are fresh");
    // Outputs for the first round's calls do not answer the second round.
    assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output(&id1, "sunny")])
            .await,
    );
    store
        .submit_tool_outputs(&p, &thread, &run.id, vec![output(&id3, "rain")])
        .await
        .unwrap();
    let steps = store
        .list_run_steps(&p, &thread, &run.id, &all_asc())
        .await
        .unwrap();
    assert_eq!(ids(&steps), vec![step.id.clone(), step2.id.clone()]);
    assert_eq!(
        steps.data[0], done,
        "first step untouched by the second round"
    );
    assert_eq!(steps.data[1].status, RunStepStatus::Completed);
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
        store.get_run_step(&p, &thread, &run.id, "step_nope").await,
        ObjectKind::RunStep,
        "step_nope",
    );
    assert_not_found(
        store.get_run_step(&p, &thread, "run_nope", &step.id).await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .list_run_steps(&p, &thread, "run_nope", &all_asc())
            .await,
        ObjectKind::Run,
        "run_nope",
    );
    assert_not_found(
        store
            .list_run_steps(&p, "thread_nope", &run.id, &all_asc())
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// File records: create, get, list (newest first, by purpose), delete.
pub async fn files_crud(store: Arc<dyn Store>) {
    let p = project_a();
    assert!(store.list_files(&p, None).await.unwrap().is_empty());
    let t0 = unix_now();
    let id = new_id(IdKind::File);
    let f1 = store
        .create_file(
            &p,
            NewFile {
                id: id.clone(),
                filename: "notes.md".to_owned(),
                bytes: 1234,
                purpose: "assistants".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(f1.id, id);
    assert_eq!(f1.object, "file");
    assert_eq!(f1.filename, "notes.md");
    assert_eq!(f1.bytes, 1234);
    assert_eq!(f1.purpose, "assistants");
    assert!(
        ["uploaded", "processed"].contains(&f1.status.as_str()),
        "status {}",
        f1.status
    );
    assert_eq!(f1.status_details, None);
    assert_recent(f1.created_at, t0, "file.created_at");
    assert_eq!(store.get_file(&p, &id).await.unwrap(), f1);

    let f2 = upload(&store, &p, "fine-tune").await;
    let f3 = upload(&store, &p, "assistants").await;
    assert_eq!(
        store.list_files(&p, None).await.unwrap(),
        vec![f3.clone(), f2.clone(), f1.clone()],
        "newest first"
    );
    assert_eq!(
        store.list_files(&p, Some("assistants")).await.unwrap(),
        vec![f3.clone(), f1.clone()]
    );
    assert_eq!(
        store.list_files(&p, Some("fine-tune")).await.unwrap(),
        vec![f2.clone()]
    );
    assert!(
        store
            .list_files(&p, Some("assistants_output"))
            .await
            .unwrap()
            .is_empty()
    );

    store.delete_file(&p, &f1.id).await.unwrap();
    assert_not_found(store.get_file(&p, &f1.id).await, ObjectKind::File, &f1.id);
    assert_not_found(
        store.delete_file(&p, &f1.id).await,
        ObjectKind::File,
        &f1.id,
    );
    assert_eq!(
        store.list_files(&p, None).await.unwrap(),
        vec![f3.clone(), f2.clone()]
    );
    assert_not_found(
        store.get_file(&p, "file-nope").await,
        ObjectKind::File,
        "file-nope",
    );
}

/// Deleting a file detaches it from assistants, messages and runs, and leaves them otherwise
/// intact.
pub async fn file_delete_detaches(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![f1.id.clone(), f2.id.clone()]);
    let asst = store.create_assistant(&p, req).await.unwrap();
    let thread = new_thread(&store, &p).await;
    let msg = store
        .create_message(&p, &thread, msg_with_files("two files", &[&f1.id, &f2.id]))
        .await
        .unwrap();
    let mut nr = new_run(&asst.id);
    nr.file_ids = vec![f1.id.clone(), f2.id.clone()];
    let run = store.create_run(&p, &thread, nr).await.unwrap();

    store.delete_file(&p, &f1.id).await.unwrap();

    let mut want = asst.clone();
    want.file_ids = vec![f2.id.clone()];
    assert_eq!(store.get_assistant(&p, &asst.id).await.unwrap(), want);
    assert_not_found(
        store.get_assistant_file(&p, &asst.id, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_eq!(
        ids(&store
            .list_assistant_files(&p, &asst.id, &all_asc())
            .await
            .unwrap()),
        vec![f2.id.clone()]
    );

    let mut want = msg.clone();
    want.file_ids = vec![f2.id.clone()];
    assert_eq!(store.get_message(&p, &thread, &msg.id).await.unwrap(), want);
    assert_not_found(
        store.get_message_file(&p, &thread, &msg.id, &f1.id).await,
        ObjectKind::MessageFile,
        &f1.id,
    );
    assert_eq!(
        ids(&store
            .list_message_files(&p, &thread, &msg.id, &all_asc())
            .await
            .unwrap()),
        vec![f2.id.clone()]
    );

    let mut want = run.clone();
    want.file_ids = vec![f2.id.clone()];
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);

    assert_eq!(store.get_file(&p, &f2.id).await.unwrap(), f2);
}

/// Deleting an assistant leaves the threads, messages, runs and steps that used it.
pub async fn assistant_delete_keeps_threads_and_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![f1.id.clone()]);
    let asst = store.create_assistant(&p, req).await.unwrap();
    let (thread, run) = store
        .create_thread_and_run(
            &p,
            CreateThreadRequest {
                messages: Some(vec![user_msg("hello")]),
                metadata: None,
            },
            new_run(&asst.id),
        )
        .await
        .unwrap();
    let (run, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap();

    store.delete_assistant(&p, &asst.id).await.unwrap();
    assert_not_found(
        store.get_assistant(&p, &asst.id).await,
        ObjectKind::Assistant,
        &asst.id,
    );
    assert_not_found(
        store.list_assistant_files(&p, &asst.id, &all_asc()).await,
        ObjectKind::Assistant,
        &asst.id,
    );
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);
    assert_eq!(
        store.get_run(&p, &thread.id, &run.id).await.unwrap(),
        run,
        "run intact, still naming the assistant"
    );
    assert_eq!(
        store
            .get_run_step(&p, &thread.id, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );
    assert_eq!(
        store
            .list_messages(&p, &thread.id, &all_asc(), None)
            .await
            .unwrap(),
        msgs
    );
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
}

/// Project B sees nothing of project A's assistants and files, and cannot use A's files.
pub async fn tenancy_assistants_and_files(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let fa = upload(&store, &a, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![fa.id.clone()]);
    let asst = store.create_assistant(&a, req).await.unwrap();
    let fb = upload(&store, &b, "assistants").await;
    let asst_b = new_assistant(&store, &b).await;

    let id = asst.id.as_str();
    assert_not_found(store.get_assistant(&b, id).await, ObjectKind::Assistant, id);
    assert_not_found(
        store
            .modify_assistant(
                &b,
                id,
                ModifyAssistantRequest {
                    name: Some(Some("hijacked".to_owned())),
                    ..Default::default()
                },
            )
            .await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.delete_assistant(&b, id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.create_assistant_file(&b, id, &fb.id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.get_assistant_file(&b, id, &fa.id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.list_assistant_files(&b, id, &all_asc()).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.delete_assistant_file(&b, id, &fa.id).await,
        ObjectKind::Assistant,
        id,
    );
    let listed = store.list_assistants(&b, &all_asc()).await.unwrap();
    assert_eq!(ids(&listed), vec![asst_b.clone()]);
    for (after, before) in [(Some(id), None), (None, Some(id))] {
        assert_empty(
            store
                .list_assistants(&b, &params(10, Order::Asc, after, before))
                .await,
            "B listing with A's assistant as cursor",
        );
    }

    // A's file does not exist for B.
    assert_not_found(store.get_file(&b, &fa.id).await, ObjectKind::File, &fa.id);
    assert_not_found(
        store.delete_file(&b, &fa.id).await,
        ObjectKind::File,
        &fa.id,
    );
    assert_eq!(store.list_files(&b, None).await.unwrap(), vec![fb.clone()]);
    assert_eq!(
        store.list_files(&b, Some("assistants")).await.unwrap(),
        vec![fb.clone()]
    );
    assert_eq!(
        assert_invalid_reference(
            store.create_assistant_file(&b, &asst_b, &fa.id).await,
            ObjectKind::File,
            &fa.id,
        ),
        "file_id"
    );
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![fa.id.clone()]);
    assert_invalid_reference(
        store.create_assistant(&b, req).await,
        ObjectKind::File,
        &fa.id,
    );
    assert_invalid_reference(
        store
            .modify_assistant(
                &b,
                &asst_b,
                ModifyAssistantRequest {
                    file_ids: Some(vec![fa.id.clone()]),
                    ..Default::default()
                },
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );
    let thread_b = new_thread(&store, &b).await;
    assert_invalid_reference(
        store
            .create_message(&b, &thread_b, msg_with_files("steal", &[&fa.id]))
            .await,
        ObjectKind::File,
        &fa.id,
    );
    assert_invalid_reference(
        store
            .create_thread(
                &b,
                CreateThreadRequest {
                    messages: Some(vec![msg_with_files("steal", &[&fa.id])]),
                    metadata: None,
                },
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );

    // B deleting its own file does not touch A's attachments, and A is intact.
    store.delete_file(&b, &fb.id).await.unwrap();
    assert_eq!(store.get_assistant(&a, id).await.unwrap(), asst);
    assert_eq!(store.get_file(&a, &fa.id).await.unwrap(), fa);
    assert_eq!(store.list_files(&a, None).await.unwrap(), vec![fa.clone()]);
    assert_eq!(
        ids(&store.list_assistants(&a, &all_asc()).await.unwrap()),
        vec![asst.id.clone()]
    );
}

/// Project B sees nothing of project A's threads, messages, runs and steps.
pub async fn tenancy_threads_messages_runs(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let fa = upload(&store, &a, "assistants").await;
    let asst = new_assistant(&store, &a).await;
    let thread = store
        .create_thread(
            &a,
            CreateThreadRequest {
                messages: Some(vec![msg_with_files("secret", &[&fa.id])]),
                metadata: Some(md(&[("owner", "a")])),
            },
        )
        .await
        .unwrap();
    let msg = store
        .list_messages(&a, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store
        .create_run(&a, &thread.id, new_run(&asst))
        .await
        .unwrap();
    let (run, step) = require_tool_outputs(&store, &a, &run.id, vec![call("f", "{}")]).await;
    let call_id = run
        .required_action
        .clone()
        .unwrap()
        .submit_tool_outputs
        .tool_calls[0]
        .id
        .clone();
    let t = thread.id.as_str();
    let nf = ObjectKind::Thread;

    assert_not_found(store.get_thread(&b, t).await, nf, t);
    assert_not_found(store.modify_thread(&b, t, Some(None)).await, nf, t);
    assert_not_found(store.delete_thread(&b, t).await, nf, t);

    assert_not_found(store.create_message(&b, t, user_msg("x")).await, nf, t);
    assert_not_found(store.get_message(&b, t, &msg.id).await, nf, t);
    assert_not_found(
        store.modify_message(&b, t, &msg.id, Some(None)).await,
        nf,
        t,
    );
    assert_not_found(store.list_messages(&b, t, &all_asc(), None).await, nf, t);
    assert_not_found(
        store.list_message_files(&b, t, &msg.id, &all_asc()).await,
        nf,
        t,
    );
    assert_not_found(store.get_message_file(&b, t, &msg.id, &fa.id).await, nf, t);

    assert_not_found(store.create_run(&b, t, new_run(&asst)).await, nf, t);
    assert_not_found(store.get_run(&b, t, &run.id).await, nf, t);
    assert_not_found(store.modify_run(&b, t, &run.id, Some(None)).await, nf, t);
    assert_not_found(store.list_runs(&b, t, &all_asc()).await, nf, t);
    assert_not_found(store.cancel_run(&b, t, &run.id).await, nf, t);
    assert_not_found(
        store
            .submit_tool_outputs(&b, t, &run.id, vec![output(&call_id, "x")])
            .await,
        nf,
        t,
    );
    // The engine's reads are scoped to the project too.
    assert!(
        store.thread_messages(&b, t).await.unwrap().is_empty(),
        "B reading A's thread through the engine"
    );
    assert!(
        store.run_steps(&b, &run.id).await.unwrap().is_empty(),
        "B reading A's steps through the engine"
    );
    assert_not_found(
        store.list_run_steps(&b, t, &run.id, &all_asc()).await,
        nf,
        t,
    );
    assert_not_found(store.get_run_step(&b, t, &run.id, &step.id).await, nf, t);

    // B's own thread cannot reach A's messages, runs or steps either.
    let tb = new_thread(&store, &b).await;
    assert_not_found(
        store.get_message(&b, &tb, &msg.id).await,
        ObjectKind::Message,
        &msg.id,
    );
    assert_not_found(
        store.get_run(&b, &tb, &run.id).await,
        ObjectKind::Run,
        &run.id,
    );
    assert_not_found(
        store.list_run_steps(&b, &tb, &run.id, &all_asc()).await,
        ObjectKind::Run,
        &run.id,
    );
    assert_empty(
        store
            .list_messages(&b, &tb, &params(10, Order::Asc, Some(&msg.id), None), None)
            .await,
        "B's thread listed after A's message",
    );
    assert_invalid_reference(
        store
            .create_thread_and_run(
                &b,
                CreateThreadRequest {
                    messages: Some(vec![msg_with_files("steal", &[&fa.id])]),
                    metadata: None,
                },
                new_run(&asst),
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );

    // A's objects are untouched by B's attempts.
    assert_eq!(store.get_thread(&a, t).await.unwrap(), thread);
    assert_eq!(store.get_message(&a, t, &msg.id).await.unwrap(), msg);
    assert_eq!(store.get_run(&a, t, &run.id).await.unwrap(), run);
    assert_eq!(
        store.get_run_step(&a, t, &run.id, &step.id).await.unwrap(),
        step
    );
    assert_eq!(
        ids(&store.list_runs(&a, t, &all_asc()).await.unwrap()),
        vec![run.id.clone()]
    );
}

// ---------------------------------------------------------------------------------------------
// One active run per thread
// ---------------------------------------------------------------------------------------------

/// Asserts that `thread` refuses a new run and a new message while `active` is active, naming
/// it, and that neither attempt left anything behind.
async fn assert_thread_busy(
    store: &Arc<dyn Store>,
    p: &Project,
    asst: &str,
    thread: &str,
    active: &str,
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
        message.contains(thread) && message.contains(active),
        "create_run refused with {message:?}, naming neither the thread nor run {active}"
    );
    let message = invalid_message(store.create_message(p, thread, user_msg("refused")).await);
    assert!(
        message.contains(thread) && message.contains(active),
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
        vec![r1.id, r2.id, r3.id, r4.id, r5.id]
    );
}

// ---------------------------------------------------------------------------------------------
// The run engine
// ---------------------------------------------------------------------------------------------

/// `claim_run` takes the oldest queued run of any project, moves it to `in_progress` with
/// `started_at`, and reports its project, additional instructions and attempt; it returns `None`
/// when no run is runnable (ended, waiting for tool outputs, or leased).
pub async fn claim_run_takes_oldest_queued(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    assert!(
        store.claim_run(WORKER, LEASE).await.unwrap().is_none(),
        "claim on an empty store"
    );
    let asst_a = new_assistant(&store, &a).await;
    let asst_b = new_assistant(&store, &b).await;

    // Not runnable: an ended run, and a run waiting for tool outputs.
    let t_cancelled = new_thread(&store, &a).await;
    let cancelled = store
        .create_run(&a, &t_cancelled, new_run(&asst_a))
        .await
        .unwrap();
    let cancelled = store
        .cancel_run(&a, &t_cancelled, &cancelled.id)
        .await
        .unwrap();
    let t_waiting = new_thread(&store, &a).await;
    let waiting = store
        .create_run(&a, &t_waiting, new_run(&asst_a))
        .await
        .unwrap();
    let (waiting, _) = require_tool_outputs(&store, &a, &waiting.id, vec![call("f", "{}")]).await;
    assert!(
        store.claim_run(WORKER, LEASE).await.unwrap().is_none(),
        "claim with no queued run"
    );

    // Runnable: three queued runs, in two projects.
    let t1 = new_thread(&store, &a).await;
    let mut nr = new_run(&asst_a);
    nr.additional_instructions = Some("Address the user as Jane.".to_owned());
    let r1 = store.create_run(&a, &t1, nr).await.unwrap();
    let t2 = new_thread(&store, &b).await;
    let r2 = store.create_run(&b, &t2, new_run(&asst_b)).await.unwrap();
    let t3 = new_thread(&store, &a).await;
    let r3 = store.create_run(&a, &t3, new_run(&asst_a)).await.unwrap();

    let t0 = unix_now();
    let c1 = claim(&store, "worker-1", &r1.id).await;
    assert_eq!(c1.project, a);
    assert_eq!(
        c1.additional_instructions.as_deref(),
        Some("Address the user as Jane.")
    );
    assert_eq!(c1.attempt, 1);
    assert_eq!(c1.run.status, RunStatus::InProgress);
    let started = c1.run.started_at.expect("started_at set by the claim");
    assert_recent(started, t0, "run.started_at");
    let mut want = r1.clone();
    want.status = RunStatus::InProgress;
    want.started_at = Some(started);
    assert_eq!(c1.run, want, "only status and started_at change");
    assert_eq!(store.get_run(&a, &t1, &r1.id).await.unwrap(), want);

    let c2 = claim(&store, "worker-2", &r2.id).await;
    assert_eq!(c2.project, b);
    assert_eq!(c2.additional_instructions, None);
    assert_eq!(c2.attempt, 1);
    assert_eq!(c2.run.status, RunStatus::InProgress);
    assert_eq!(store.get_run(&b, &t2, &r2.id).await.unwrap(), c2.run);

    let c3 = claim(&store, "worker-3", &r3.id).await;
    assert_eq!(c3.project, a);
    assert_eq!(c3.attempt, 1);
    assert!(
        store.claim_run("worker-4", LEASE).await.unwrap().is_none(),
        "every runnable run is leased"
    );

    // The runs that were not runnable are as they were.
    assert_eq!(
        store
            .get_run(&a, &t_cancelled, &cancelled.id)
            .await
            .unwrap(),
        cancelled
    );
    assert_eq!(
        store.get_run(&a, &t_waiting, &waiting.id).await.unwrap(),
        waiting
    );
}

/// Concurrent claims never hand the same run to two workers.
pub async fn claim_run_is_exclusive(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let mut created = HashSet::new();
    for _ in 0..8 {
        let thread = new_thread(&store, &p).await;
        created.insert(
            store
                .create_run(&p, &thread, new_run(&asst))
                .await
                .unwrap()
                .id,
        );
    }
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..16 {
        let s = Arc::clone(&store);
        claims.spawn(async move {
            let worker = format!("worker-{i}");
            let claimed = s.claim_run(&worker, LEASE).await.expect("claim_run");
            (worker, claimed)
        });
    }
    let mut claimed = Vec::new();
    while let Some(joined) = claims.join_next().await {
        let (worker, c) = joined.expect("claiming task");
        if let Some(c) = c {
            assert_eq!(c.attempt, 1, "{worker}: attempt of a fresh run");
            assert_eq!(c.run.status, RunStatus::InProgress);
            claimed.push((worker, c.run.id));
        }
    }
    let claimed_ids: HashSet<String> = claimed.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(claimed.len(), 8, "claims: {claimed:?}");
    assert_eq!(claimed_ids, created, "each run claimed exactly once");
    for (worker, id) in &claimed {
        assert_eq!(
            store.renew_lease(id, worker, LEASE).await.unwrap(),
            Lease::Held(RunStatus::InProgress),
            "{worker} holds {id}"
        );
    }
    assert!(store.claim_run("late", LEASE).await.unwrap().is_none());
}

/// A run whose lease expired (its worker stalled or died) is claimed again, `in_progress` or
/// `cancelling` as it was, with the attempt counted; its former worker has lost it.
pub async fn claim_run_reclaims_after_lease_expiry(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c1 = claim(&store, "worker-1", &run.id).await;
    assert_eq!(c1.attempt, 1);
    assert!(
        store.claim_run("worker-2", LEASE).await.unwrap().is_none(),
        "a leased run is not claimable"
    );

    // Worker 1 stalls: its (shortened) lease runs out.
    assert_eq!(
        store
            .renew_lease(&run.id, "worker-1", Duration::from_millis(50))
            .await
            .unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c2 = store
        .claim_run("worker-2", LEASE)
        .await
        .unwrap()
        .expect("the run whose lease expired");
    assert_eq!(c2.run.id, run.id);
    assert_eq!(c2.attempt, 2);
    assert_eq!(c2.run.status, RunStatus::InProgress);
    assert_eq!(c2.run, c1.run, "a re-claim changes nothing visible");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), c1.run);

    // Worker 1 lost it for good: it can neither renew, release, nor finish the run.
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    store.release_run(&run.id, "worker-1").await.unwrap();
    assert_eq!(
        store
            .finish_run(&c1.run, "worker-1", RunStatus::Completed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "worker 2 still holds the run"
    );
    assert!(store.claim_run("worker-3", LEASE).await.unwrap().is_none());

    // A cancelling run whose worker died is claimed again as cancelling, to end it.
    let cancelling = store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(cancelling.status, RunStatus::Cancelling);
    assert_eq!(
        store
            .renew_lease(&run.id, "worker-2", Duration::from_millis(50))
            .await
            .unwrap(),
        Lease::Held(RunStatus::Cancelling)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c3 = store
        .claim_run("worker-3", LEASE)
        .await
        .unwrap()
        .expect("the cancelling run whose lease expired");
    assert_eq!(c3.run.id, run.id);
    assert_eq!(c3.attempt, 3);
    assert_eq!(c3.run.status, RunStatus::Cancelling);
    assert_eq!(c3.run.started_at, c1.run.started_at);
    assert_eq!(
        store
            .finish_run(&c3.run, "worker-2", RunStatus::Cancelled, None, None)
            .await
            .unwrap(),
        None,
        "the former owner cannot finish it"
    );
    let done = store
        .finish_run(&c3.run, "worker-3", RunStatus::Cancelled, None, None)
        .await
        .unwrap()
        .expect("worker 3 holds the lease");
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(store.claim_run("worker-4", LEASE).await.unwrap().is_none());
}

/// `renew_lease` reports the status to the owner (noticing `cancelling`) and `Lost` to anyone
/// else; `release_run` by the owner leaves the status and makes the run claimable at once.
pub async fn renew_and_release_lease(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost,
        "a queued run has no lease"
    );
    assert_eq!(
        store.renew_lease("run_nope", WORKER, LEASE).await.unwrap(),
        Lease::Lost,
        "an unknown run"
    );

    let c1 = claim(&store, "worker-1", &run.id).await;
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Lost
    );

    // Only the owner releases.
    store.release_run(&run.id, "worker-2").await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert!(store.claim_run("worker-2", LEASE).await.unwrap().is_none());
    store.release_run(&run.id, "worker-1").await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap(),
        c1.run,
        "a release leaves the run as it was"
    );
    let c2 = claim(&store, "worker-2", &run.id).await;
    assert_eq!(c2.attempt, 2);
    assert_eq!(c2.run, c1.run);

    // A cancellation reaches the worker through its renewals.
    store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Held(RunStatus::Cancelling)
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    // The cancellation wins over a turn of function calls.
    assert_eq!(
        store
            .require_action(&c2.run, "worker-2", vec![call("f", "{}")], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action on a cancelling run"
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap().status,
        RunStatus::Cancelling
    );
    assert!(store.run_steps(&p, &run.id).await.unwrap().is_empty());
    store
        .finish_run(&c2.run, "worker-2", RunStatus::Cancelled, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Lost,
        "an ended run has no lease"
    );
}

/// `begin_message` starts an `in_progress` assistant message of the run and its
/// `message_creation` step; `complete_message` fills the text and completes both, storing the
/// usage on the step, or leaves the message `incomplete` with the reason. Neither works without
/// the lease.
pub async fn begin_and_complete_message(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                messages: Some(vec![user_msg("Hi")]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let thread = thread.id;
    let user = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;

    let t0 = unix_now();
    let (msg, step) = store.begin_message(&c.run, WORKER).await.unwrap();
    assert!(msg.id.starts_with("msg_"), "id {}", msg.id);
    assert_eq!(msg.object, "thread.message");
    assert_recent(msg.created_at, t0, "message.created_at");
    assert_eq!(msg.thread_id, thread);
    assert_eq!(msg.status, MessageStatus::InProgress);
    assert_eq!(msg.incomplete_details, None);
    assert_eq!(msg.completed_at, None);
    assert_eq!(msg.incomplete_at, None);
    assert_eq!(msg.role, MessageRole::Assistant);
    assert!(msg.content.is_empty(), "content {:?}", msg.content);
    assert_eq!(msg.assistant_id.as_deref(), Some(asst.as_str()));
    assert_eq!(msg.run_id.as_deref(), Some(run.id.as_str()));
    assert!(msg.file_ids.is_empty());
    assert_eq!(msg.metadata, None);
    assert_eq!(store.get_message(&p, &thread, &msg.id).await.unwrap(), msg);

    assert!(step.id.starts_with("step_"), "id {}", step.id);
    assert_eq!(step.object, "thread.run.step");
    assert_recent(step.created_at, t0, "step.created_at");
    assert_eq!(step.assistant_id, asst);
    assert_eq!(step.thread_id, thread);
    assert_eq!(step.run_id, run.id);
    assert_eq!(step.type_, RunStepType::MessageCreation);
    assert_eq!(step.status, RunStepStatus::InProgress);
    assert_eq!(
        step.step_details,
        StepDetails::MessageCreation {
            message_creation: MessageCreation {
                message_id: msg.id.clone(),
            },
        }
    );
    assert_eq!(step.last_error, None);
    assert_eq!(step.completed_at, None);
    assert_eq!(step.usage, None);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );
    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        vec![user.clone(), msg.clone()]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![step.clone()]
    );

    // Without the lease, nothing is written.
    assert!(
        store.begin_message(&c.run, "worker-2").await.is_err(),
        "begin_message without the lease"
    );
    assert!(
        store
            .complete_message(
                &c.run,
                "worker-2",
                &msg.id,
                &step.id,
                &turn("hijacked", usage(1, 1)),
            )
            .await
            .is_err(),
        "complete_message without the lease"
    );
    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        vec![user.clone(), msg.clone()]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![step.clone()]
    );

    // Completion.
    let t1 = unix_now();
    store
        .complete_message(
            &c.run,
            WORKER,
            &msg.id,
            &step.id,
            &turn("Hello! How can I help?", usage(12, 7)),
        )
        .await
        .unwrap();
    let done = store.get_message(&p, &thread, &msg.id).await.unwrap();
    assert_recent(
        done.completed_at.expect("message.completed_at"),
        t1,
        "message.completed_at",
    );
    let mut want = msg.clone();
    want.status = MessageStatus::Completed;
    want.completed_at = done.completed_at;
    want.content = vec![MessageContent::text("Hello! How can I help?")];
    assert_eq!(done, want);
    let done_step = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_recent(
        done_step.completed_at.expect("step.completed_at"),
        t1,
        "step.completed_at",
    );
    let mut want_step = step.clone();
    want_step.status = RunStepStatus::Completed;
    want_step.completed_at = done_step.completed_at;
    want_step.usage = Some(usage(12, 7));
    assert_eq!(done_step, want_step);
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "the run goes on"
    );

    // A turn cut short: the message is incomplete with the reason, the step completed.
    let (cut, cut_step) = store.begin_message(&c.run, WORKER).await.unwrap();
    assert_ne!(cut.id, msg.id);
    assert_ne!(cut_step.id, step.id);
    store
        .complete_message(
            &c.run,
            WORKER,
            &cut.id,
            &cut_step.id,
            &TurnText {
                text: "Once upon a".to_owned(),
                usage: usage(20, 16),
                incomplete: Some("max_tokens".to_owned()),
            },
        )
        .await
        .unwrap();
    let cut_done = store.get_message(&p, &thread, &cut.id).await.unwrap();
    assert_recent(
        cut_done.incomplete_at.expect("message.incomplete_at"),
        t1,
        "message.incomplete_at",
    );
    let mut want_cut = cut.clone();
    want_cut.status = MessageStatus::Incomplete;
    want_cut.incomplete_at = cut_done.incomplete_at;
    want_cut.incomplete_details = Some(MessageIncompleteDetails {
        reason: "max_tokens".to_owned(),
    });
    want_cut.content = vec![MessageContent::text("Once upon a")];
    assert_eq!(cut_done, want_cut);
    let cut_step_done = store
        .get_run_step(&p, &thread, &run.id, &cut_step.id)
        .await
        .unwrap();
    assert_eq!(cut_step_done.status, RunStepStatus::Completed);
    assert!(cut_step_done.completed_at.is_some());
    assert_eq!(cut_step_done.usage, Some(usage(20, 16)));

    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        vec![user, done, cut_done]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![want_step, cut_step_done]
    );
}

/// `discard_partial_turn` removes the run's `in_progress` message and its step, so that a
/// worker taking a run over retries the turn cleanly; finished turns, other runs' turns, and
/// calls without the lease are left alone.
pub async fn discard_partial_turn(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let other_run = store.create_run(&p, &other, new_run(&asst)).await.unwrap();
    let c = claim(&store, "worker-1", &run.id).await;
    let co = claim(&store, "worker-o", &other_run.id).await;

    // A finished turn, then one cut off by the worker's death.
    let (m1, s1) = store.begin_message(&c.run, "worker-1").await.unwrap();
    store
        .complete_message(
            &c.run,
            "worker-1",
            &m1.id,
            &s1.id,
            &turn("one", usage(5, 1)),
        )
        .await
        .unwrap();
    let m1 = store.get_message(&p, &thread, &m1.id).await.unwrap();
    let s1 = store
        .get_run_step(&p, &thread, &run.id, &s1.id)
        .await
        .unwrap();
    let (m2, s2) = store.begin_message(&c.run, "worker-1").await.unwrap();
    // Another run's turn in progress.
    let (mo, so) = store.begin_message(&co.run, "worker-o").await.unwrap();

    // Without the lease, nothing is discarded.
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_eq!(store.get_message(&p, &thread, &m2.id).await.unwrap(), m2);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &s2.id)
            .await
            .unwrap(),
        s2
    );

    // Worker 1 is gone; worker 2 takes the run over and discards the partial turn.
    store.release_run(&run.id, "worker-1").await.unwrap();
    let c2 = claim(&store, "worker-2", &run.id).await;
    assert_eq!(c2.attempt, 2);
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_not_found(
        store.get_message(&p, &thread, &m2.id).await,
        ObjectKind::Message,
        &m2.id,
    );
    assert_not_found(
        store.get_run_step(&p, &thread, &run.id, &s2.id).await,
        ObjectKind::RunStep,
        &s2.id,
    );
    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        vec![m1.clone()]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![s1.clone()]
    );
    // The other run's turn is untouched.
    assert_eq!(store.get_message(&p, &other, &mo.id).await.unwrap(), mo);
    assert_eq!(
        store.run_steps(&p, &other_run.id).await.unwrap(),
        vec![so.clone()]
    );

    // Nothing left to discard.
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![s1.clone()]
    );
    // The retried turn goes through.
    let (m3, s3) = store.begin_message(&c2.run, "worker-2").await.unwrap();
    store
        .complete_message(
            &c2.run,
            "worker-2",
            &m3.id,
            &s3.id,
            &turn("two", usage(6, 2)),
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![m1.id.clone(), m3.id.clone()]
    );
    assert_eq!(
        ids(&store
            .list_run_steps(&p, &thread, &run.id, &all_asc())
            .await
            .unwrap()),
        vec![s1.id.clone(), s3.id.clone()]
    );
}

/// `require_action` records a turn of function calls as an `in_progress` `tool_calls` step,
/// puts the run in `requires_action` with one `call_` id per call, and releases the lease;
/// `submit_tool_outputs` queues the run again for the next claim. Without the lease it does
/// nothing.
pub async fn require_action_and_resume(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut nr = new_run(&asst);
    nr.tools = vec![function_tool("get_weather"), function_tool("get_time")];
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let c1 = call("get_weather", r#"{"city":"Paris"}"#);
    let c2 = call("get_time", r#"{"city":"Tokyo"}"#);

    // Not claimed, or claimed by someone else: nothing happens.
    assert_eq!(
        store
            .require_action(&run, WORKER, vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action on a queued run"
    );
    let c = claim(&store, WORKER, &run.id).await;
    assert_eq!(
        store
            .require_action(&c.run, "worker-2", vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action without the lease"
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), c.run);
    assert!(store.run_steps(&p, &run.id).await.unwrap().is_empty());

    let t0 = unix_now();
    let ra = store
        .require_action(&c.run, WORKER, vec![c1.clone(), c2.clone()], usage(30, 12))
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(ra.status, RunStatus::RequiresAction);
    let action = ra.required_action.clone().expect("required_action");
    assert_eq!(action.type_, "submit_tool_outputs");
    let calls = &action.submit_tool_outputs.tool_calls;
    assert_eq!(calls.len(), 2);
    for (got, sent) in calls.iter().zip([&c1, &c2]) {
        assert!(got.id.starts_with("call_"), "call id {}", got.id);
        assert_eq!(got.type_, "function");
        assert_eq!(&got.function, sent);
    }
    assert_ne!(calls[0].id, calls[1].id);
    let mut want = c.run.clone();
    want.status = RunStatus::RequiresAction;
    want.required_action = Some(action.clone());
    assert_eq!(ra, want, "only status and required_action change");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), ra);

    let steps = store.run_steps(&p, &run.id).await.unwrap();
    assert_eq!(steps.len(), 1);
    let step = steps[0].clone();
    assert!(step.id.starts_with("step_"), "id {}", step.id);
    assert_recent(step.created_at, t0, "step.created_at");
    assert_eq!(step.assistant_id, asst);
    assert_eq!(step.thread_id, thread);
    assert_eq!(step.run_id, run.id);
    assert_eq!(step.type_, RunStepType::ToolCalls);
    assert_eq!(step.status, RunStepStatus::InProgress);
    assert_eq!(step.completed_at, None);
    assert_eq!(step.usage, None, "no usage while the step is in progress");
    let step_calls = |outputs: [Option<&str>; 2]| StepDetails::ToolCalls {
        tool_calls: calls
            .iter()
            .zip(outputs)
            .map(|(c, out)| StepToolCall::Function {
                id: c.id.clone(),
                function: StepFunctionCall {
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                    output: out.map(str::to_owned),
                },
            })
            .collect(),
    };
    assert_eq!(step.step_details, step_calls([None, None]));
    assert_eq!(
        store
            .list_run_steps(&p, &thread, &run.id, &all_asc())
            .await
            .unwrap()
            .data,
        steps
    );

    // The lease went with the turn: the worker cannot go on, and nobody can claim the run.
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost
    );
    assert!(store.claim_run("worker-2", LEASE).await.unwrap().is_none());
    assert_eq!(
        store
            .require_action(&c.run, WORKER, vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .finish_run(&c.run, WORKER, RunStatus::Completed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), ra);
    assert_eq!(store.run_steps(&p, &run.id).await.unwrap(), steps);

    // The outputs queue the run again; the next claim picks it up where it was.
    let queued = store
        .submit_tool_outputs(
            &p,
            &thread,
            &run.id,
            vec![output(&calls[0].id, "sunny"), output(&calls[1].id, "09:00")],
        )
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.required_action, None);
    let done_step = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_eq!(done_step.status, RunStepStatus::Completed);
    assert_eq!(
        done_step.usage,
        Some(usage(30, 12)),
        "the turn's usage shows once the step ended"
    );
    assert_eq!(
        done_step.step_details,
        step_calls([Some("sunny"), Some("09:00")])
    );
    let again = claim(&store, "worker-2", &run.id).await;
    assert_eq!(again.attempt, 2);
    assert_eq!(again.run.status, RunStatus::InProgress);
    assert_eq!(again.run.started_at, c.run.started_at, "started_at is kept");
    assert_eq!(again.run.required_action, None);

    // The run's usage counts the tool-calls turn.
    let (m, s) = store.begin_message(&again.run, "worker-2").await.unwrap();
    store
        .complete_message(
            &again.run,
            "worker-2",
            &m.id,
            &s.id,
            &turn("Sunny, 09:00.", usage(50, 8)),
        )
        .await
        .unwrap();
    let fin = store
        .finish_run(&again.run, "worker-2", RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin.usage, Some(usage(80, 20)));
}

/// `finish_run` with `completed`: `completed_at`, the usage summed over the steps, the lease and
/// any pending action gone; an `incomplete_details` reason is kept.
pub async fn finish_run_completed(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();

    // Three turns: a message, function calls, a message.
    let c = claim(&store, WORKER, &run.id).await;
    let (m1, s1) = store.begin_message(&c.run, WORKER).await.unwrap();
    store
        .complete_message(
            &c.run,
            WORKER,
            &m1.id,
            &s1.id,
            &turn("Let me check.", usage(10, 5)),
        )
        .await
        .unwrap();
    let ra = store
        .require_action(&c.run, WORKER, vec![call("f", "{}")], usage(3, 2))
        .await
        .unwrap()
        .expect("lease held");
    let call_id = ra.required_action.unwrap().submit_tool_outputs.tool_calls[0]
        .id
        .clone();
    store
        .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "42")])
        .await
        .unwrap();
    let c = claim(&store, WORKER, &run.id).await;
    let (m2, s2) = store.begin_message(&c.run, WORKER).await.unwrap();
    store
        .complete_message(
            &c.run,
            WORKER,
            &m2.id,
            &s2.id,
            &turn("It is 42.", usage(1, 1)),
        )
        .await
        .unwrap();
    let msgs = store.thread_messages(&p, &thread).await.unwrap();
    let steps = store.run_steps(&p, &run.id).await.unwrap();
    assert_eq!(steps.len(), 3);

    let t0 = unix_now();
    let fin = store
        .finish_run(&c.run, WORKER, RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin.status, RunStatus::Completed);
    assert_recent(
        fin.completed_at.expect("completed_at"),
        t0,
        "run.completed_at",
    );
    let mut want = c.run.clone();
    want.status = RunStatus::Completed;
    want.completed_at = fin.completed_at;
    want.usage = Some(usage(14, 8));
    assert_eq!(fin, want, "status, completed_at and usage change");
    assert_eq!(fin.started_at, c.run.started_at);
    assert_eq!(fin.expires_at, run.expires_at);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);
    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        msgs,
        "finished messages stay"
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        steps,
        "finished steps stay"
    );

    // Ended: no lease, not claimable, not cancellable, not finishable again.
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost
    );
    assert!(store.claim_run(WORKER, LEASE).await.unwrap().is_none());
    assert_invalid(store.cancel_run(&p, &thread, &run.id).await);
    assert_eq!(
        store
            .finish_run(&c.run, WORKER, RunStatus::Failed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);

    // Completed with a reason, and without steps (usage zero).
    let r2 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c2 = claim(&store, WORKER, &r2.id).await;
    let fin2 = store
        .finish_run(
            &c2.run,
            WORKER,
            RunStatus::Completed,
            None,
            Some("max_completion_tokens"),
        )
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin2.status, RunStatus::Completed);
    assert_eq!(
        fin2.incomplete_details,
        Some(RunIncompleteDetails {
            reason: Some("max_completion_tokens".to_owned()),
        })
    );
    assert_eq!(fin2.usage, Some(Usage::default()));
    assert_eq!(store.get_run(&p, &thread, &r2.id).await.unwrap(), fin2);
}

/// `finish_run` with `failed`, `cancelled` or `expired`: the matching timestamp (an expired run
/// keeps its `expires_at`) and `last_error`; open steps end with the run's status and open
/// messages become `incomplete` (`run_failed`, `run_cancelled`, `run_expired`); finished work
/// stays; the thread is free again.
pub async fn finish_run_ends_open_work(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    for (status, step_status, reason) in [
        (RunStatus::Failed, RunStepStatus::Failed, "run_failed"),
        (
            RunStatus::Cancelled,
            RunStepStatus::Cancelled,
            "run_cancelled",
        ),
        (RunStatus::Expired, RunStepStatus::Expired, "run_expired"),
    ] {
        let ctx = status.as_str();
        let thread = new_thread(&store, &p).await;
        let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
        let c = claim(&store, WORKER, &run.id).await;
        let (m1, s1) = store.begin_message(&c.run, WORKER).await.unwrap();
        store
            .complete_message(&c.run, WORKER, &m1.id, &s1.id, &turn("Done.", usage(4, 2)))
            .await
            .unwrap();
        let m1 = store.get_message(&p, &thread, &m1.id).await.unwrap();
        let s1 = store
            .get_run_step(&p, &thread, &run.id, &s1.id)
            .await
            .unwrap();
        let (m2, s2) = store.begin_message(&c.run, WORKER).await.unwrap();
        if status == RunStatus::Cancelled {
            store.cancel_run(&p, &thread, &run.id).await.unwrap();
            assert_eq!(
                store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
                Lease::Held(RunStatus::Cancelling)
            );
        }
        let last_error = (status == RunStatus::Failed).then(|| LastError {
            code: "server_error".to_owned(),
            message: "The model failed.".to_owned(),
        });

        let t0 = unix_now();
        let fin = store
            .finish_run(&c.run, WORKER, status, last_error.clone(), None)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{ctx}: lease held"));
        assert_eq!(fin.status, status, "{ctx}");
        assert_eq!(fin.last_error, last_error, "{ctx}: last_error");
        assert_eq!(fin.required_action, None, "{ctx}");
        assert_eq!(fin.usage, Some(usage(4, 2)), "{ctx}: usage");
        assert_eq!(fin.started_at, c.run.started_at, "{ctx}: started_at");
        assert_eq!(fin.completed_at, None, "{ctx}: completed_at");
        assert_eq!(fin.expires_at, run.expires_at, "{ctx}: expires_at");
        match status {
            RunStatus::Failed => {
                assert_recent(fin.failed_at.expect("failed_at"), t0, "run.failed_at");
                assert_eq!(fin.cancelled_at, None, "{ctx}: cancelled_at");
            }
            RunStatus::Cancelled => {
                assert_recent(
                    fin.cancelled_at.expect("cancelled_at"),
                    t0,
                    "run.cancelled_at",
                );
                assert_eq!(fin.failed_at, None, "{ctx}: failed_at");
            }
            _ => {
                assert_eq!(fin.failed_at, None, "{ctx}: failed_at");
                assert_eq!(fin.cancelled_at, None, "{ctx}: cancelled_at");
            }
        }
        assert_eq!(
            store.get_run(&p, &thread, &run.id).await.unwrap(),
            fin,
            "{ctx}"
        );

        // The open step ends with the run.
        let s2_done = store
            .get_run_step(&p, &thread, &run.id, &s2.id)
            .await
            .unwrap();
        let at = match status {
            RunStatus::Failed => s2_done.failed_at,
            RunStatus::Cancelled => s2_done.cancelled_at,
            _ => s2_done.expired_at,
        };
        assert_recent(at.expect("step end timestamp"), t0, "step end timestamp");
        let mut want_step = s2.clone();
        want_step.status = step_status;
        match status {
            RunStatus::Failed => want_step.failed_at = at,
            RunStatus::Cancelled => want_step.cancelled_at = at,
            _ => want_step.expired_at = at,
        }
        want_step.last_error = s2_done.last_error.clone();
        assert_eq!(s2_done, want_step, "{ctx}: open step");
        // The open message is incomplete.
        let m2_done = store.get_message(&p, &thread, &m2.id).await.unwrap();
        assert_recent(
            m2_done.incomplete_at.expect("message.incomplete_at"),
            t0,
            "message.incomplete_at",
        );
        let mut want_msg = m2.clone();
        want_msg.status = MessageStatus::Incomplete;
        want_msg.incomplete_at = m2_done.incomplete_at;
        want_msg.incomplete_details = Some(MessageIncompleteDetails {
            reason: reason.to_owned(),
        });
        assert_eq!(m2_done, want_msg, "{ctx}: open message");
        // Finished work stays.
        assert_eq!(
            store.get_message(&p, &thread, &m1.id).await.unwrap(),
            m1,
            "{ctx}"
        );
        assert_eq!(
            store
                .get_run_step(&p, &thread, &run.id, &s1.id)
                .await
                .unwrap(),
            s1,
            "{ctx}"
        );
        // No lease, and a free thread.
        assert_eq!(
            store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
            Lease::Lost,
            "{ctx}"
        );
        store
            .create_message(&p, &thread, user_msg("next"))
            .await
            .unwrap_or_else(|e| panic!("{ctx}: message after the run ended: {e:?}"));
    }
}

/// `finish_run` by a worker without the lease returns `None` and changes nothing; a
/// non-terminal status is refused and changes nothing either.
pub async fn finish_run_without_lease(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, "worker-1", &run.id).await;
    let (m1, s1) = store.begin_message(&c.run, "worker-1").await.unwrap();
    store
        .complete_message(
            &c.run,
            "worker-1",
            &m1.id,
            &s1.id,
            &turn("one", usage(2, 2)),
        )
        .await
        .unwrap();
    store.begin_message(&c.run, "worker-1").await.unwrap();
    let before_run = store.get_run(&p, &thread, &run.id).await.unwrap();
    let before_msgs = store.thread_messages(&p, &thread).await.unwrap();
    let before_steps = store.run_steps(&p, &run.id).await.unwrap();

    for status in [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Expired,
    ] {
        assert_eq!(
            store
                .finish_run(&c.run, "worker-2", status, None, None)
                .await
                .unwrap(),
            None,
            "finish_run({}) without the lease",
            status.as_str()
        );
    }
    assert!(
        store
            .finish_run(&c.run, "worker-1", RunStatus::Queued, None, None)
            .await
            .is_err(),
        "finish_run with a non-terminal status"
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap(),
        before_run
    );
    assert_eq!(
        store.thread_messages(&p, &thread).await.unwrap(),
        before_msgs
    );
    assert_eq!(store.run_steps(&p, &run.id).await.unwrap(), before_steps);
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "the owner still holds the run"
    );
}

/// `expire_due_runs` expires the runs past `expires_at` that no live worker holds: queued,
/// waiting for tool outputs, or abandoned mid-turn (lease expired), ending their open steps and
/// messages; a leased run, an ended run and a run not yet due are left alone.
pub async fn expire_due_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    assert_eq!(store.expire_due_runs().await.unwrap(), 0, "empty store");
    // `expires_at` one second before creation: due at once.
    let due = || {
        let mut nr = new_run(&asst);
        nr.expires_after_secs = -1;
        nr
    };

    // Leased by a live worker.
    let t_leased = new_thread(&store, &p).await;
    let leased = store.create_run(&p, &t_leased, due()).await.unwrap();
    assert_eq!(leased.expires_at, Some(leased.created_at - 1));
    let c_leased = claim(&store, "worker-1", &leased.id).await;
    // Waiting for tool outputs.
    let t_waiting = new_thread(&store, &p).await;
    let waiting = store.create_run(&p, &t_waiting, due()).await.unwrap();
    let (waiting, waiting_step) =
        require_tool_outputs(&store, &p, &waiting.id, vec![call("f", "{}")]).await;
    let call_id = waiting
        .required_action
        .clone()
        .unwrap()
        .submit_tool_outputs
        .tool_calls[0]
        .id
        .clone();
    // Already completed.
    let t_done = new_thread(&store, &p).await;
    let done = store.create_run(&p, &t_done, due()).await.unwrap();
    let c_done = claim(&store, "worker-3", &done.id).await;
    let done = store
        .finish_run(&c_done.run, "worker-3", RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    // Abandoned mid-turn: its worker's lease ran out.
    let t_abandoned = new_thread(&store, &p).await;
    let abandoned = store.create_run(&p, &t_abandoned, due()).await.unwrap();
    let c_ab = claim(&store, "worker-4", &abandoned.id).await;
    let (m_ab, s_ab) = store.begin_message(&c_ab.run, "worker-4").await.unwrap();
    store
        .renew_lease(&abandoned.id, "worker-4", Duration::from_millis(50))
        .await
        .unwrap();
    // Queued.
    let t_queued = new_thread(&store, &p).await;
    let queued = store.create_run(&p, &t_queued, due()).await.unwrap();
    // Queued, not due.
    let t_future = new_thread(&store, &p).await;
    let future = store
        .create_run(&p, &t_future, new_run(&asst))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    let t0 = unix_now();
    assert_eq!(store.expire_due_runs().await.unwrap(), 3);

    // Queued: expired, its expires_at kept.
    let q = store.get_run(&p, &t_queued, &queued.id).await.unwrap();
    assert_eq!(q.usage.unwrap_or_default(), Usage::default());
    let mut want = queued.clone();
    want.status = RunStatus::Expired;
    want.usage = q.usage;
    assert_eq!(q, want, "a queued run only changes status");

    // Waiting for tool outputs: expired with its pending step; outputs are refused.
    let w = store.get_run(&p, &t_waiting, &waiting.id).await.unwrap();
    assert_eq!(w.status, RunStatus::Expired);
    assert_eq!(w.required_action, None);
    assert_eq!(w.expires_at, waiting.expires_at);
    assert_eq!(w.started_at, waiting.started_at);
    assert_eq!(
        (w.cancelled_at, w.failed_at, w.completed_at),
        (None, None, None)
    );
    let ws = store
        .get_run_step(&p, &t_waiting, &waiting.id, &waiting_step.id)
        .await
        .unwrap();
    assert_eq!(ws.status, RunStepStatus::Expired);
    assert_recent(
        ws.expired_at.expect("step.expired_at"),
        t0,
        "step.expired_at",
    );
    assert_invalid(
        store
            .submit_tool_outputs(&p, &t_waiting, &waiting.id, vec![output(&call_id, "late")])
            .await,
    );

    // Abandoned: expired, its open turn ended; its former worker lost it.
    let ab = store
        .get_run(&p, &t_abandoned, &abandoned.id)
        .await
        .unwrap();
    assert_eq!(ab.status, RunStatus::Expired);
    assert_eq!(ab.expires_at, abandoned.expires_at);
    let m = store.get_message(&p, &t_abandoned, &m_ab.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Incomplete);
    assert_eq!(
        m.incomplete_details,
        Some(MessageIncompleteDetails {
            reason: "run_expired".to_owned(),
        })
    );
    assert!(m.incomplete_at.is_some());
    let s = store
        .get_run_step(&p, &t_abandoned, &abandoned.id, &s_ab.id)
        .await
        .unwrap();
    assert_eq!(s.status, RunStepStatus::Expired);
    assert!(s.expired_at.is_some());
    assert_eq!(
        store
            .renew_lease(&abandoned.id, "worker-4", LEASE)
            .await
            .unwrap(),
        Lease::Lost
    );

    // Left alone: the leased run (its worker expires it itself), the ended run, the run not due.
    assert_eq!(
        store.get_run(&p, &t_leased, &leased.id).await.unwrap(),
        c_leased.run
    );
    assert_eq!(
        store
            .renew_lease(&leased.id, "worker-1", LEASE)
            .await
            .unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert_eq!(store.get_run(&p, &t_done, &done.id).await.unwrap(), done);
    assert_eq!(
        store.get_run(&p, &t_future, &future.id).await.unwrap(),
        future
    );
    // Expired runs are not claimable: the next claim skips the older expired ones.
    claim(&store, "worker-5", &future.id).await;

    // The expired runs' threads are free again.
    for t in [&t_queued, &t_waiting, &t_abandoned] {
        store
            .create_message(&p, t, user_msg("after expiry"))
            .await
            .expect("a message once the run expired");
    }
    assert_eq!(
        store.expire_due_runs().await.unwrap(),
        0,
        "nothing more due"
    );
}
