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
    ListParams, NewFile, NewRun, ObjectKind, Order, Page, Project, Store, StoreError, StoreResult,
};
use assistd_wire::{
    AssistantTool, AssistantsApiResponseFormat, CreateAssistantRequest, CreateMessageRequest,
    CreateThreadRequest, FunctionCall, FunctionObject, HasId, MessageContent, MessageRole,
    MessageStatus, Metadata, ModifyAssistantRequest, NamedFunction, NamedToolChoice, NamedToolType,
    OpenAIFile, ResponseFormatMode, ResponseFormatOption, ResponseFormatType, RunStatus,
    RunStepStatus, RunStepType, StepDetails, StepFunctionCall, StepToolCall, ToolChoiceMode,
    ToolChoiceOption, ToolOutput, TruncationObject, TruncationType,
};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

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
    let other_run = store.create_run(&p, &other, new_run(&asst)).await.unwrap();
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
    let (_, step) = store
        .require_tool_outputs(&p, &thread.id, &run.id, vec![call("f", "{}")])
        .await
        .unwrap();

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

/// The `run_id` filter keeps only messages written by that run. The store traits offer no way
/// to write a run's message, so this checks that user messages (including a run's
/// `additional_messages`) never match a run filter, and that no filter lists them all.
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
        "messages written by the run",
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
        created.push(
            store
                .create_run(&p, &thread, new_run(&asst))
                .await
                .unwrap()
                .id,
        );
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
        let (r, step) = store
            .require_tool_outputs(
                &p,
                &thread,
                &run.id,
                vec![call("f", &format!("{{\"i\":{i}}}"))],
            )
            .await
            .unwrap();
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

    // The defaults of the helper.
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
    let r2 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let r3 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
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
    assert_eq!(c, want, "only status and cancelled_at change");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);
    assert_invalid(store.cancel_run(&p, &thread, &run.id).await);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);
    assert_invalid(
        store
            .submit_tool_outputs(&p, &thread, &run.id, Vec::new())
            .await,
    );

    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let (_, step) = store
        .require_tool_outputs(&p, &thread, &run.id, vec![call("f", "{}")])
        .await
        .unwrap();
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

/// One function call: `require_tool_outputs`, then every way to get `submit_tool_outputs`
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
    let (r, step) = store
        .require_tool_outputs(&p, &thread, &run.id, vec![weather.clone()])
        .await
        .unwrap();
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
    assert_not_found(
        store
            .require_tool_outputs(&p, &thread, "run_nope", vec![call("f", "{}")])
            .await,
        ObjectKind::Run,
        "run_nope",
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
    let (r, step) = store
        .require_tool_outputs(&p, &thread, &run.id, vec![c1.clone(), c2.clone()])
        .await
        .unwrap();
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
    let (r2, step2) = store
        .require_tool_outputs(&p, &thread, &run.id, vec![c1.clone()])
        .await
        .unwrap();
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
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let other_run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    assert_empty(
        store.list_run_steps(&p, &thread, &run.id, &all_asc()).await,
        "steps of a fresh run",
    );
    let (_, step) = store
        .require_tool_outputs(&p, &thread, &run.id, vec![call("f", "{}")])
        .await
        .unwrap();
    let (_, other_step) = store
        .require_tool_outputs(&p, &thread, &other_run.id, vec![call("g", "{}")])
        .await
        .unwrap();
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
    let (run, step) = store
        .require_tool_outputs(&p, &thread.id, &run.id, vec![call("f", "{}")])
        .await
        .unwrap();
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
    let (run, step) = store
        .require_tool_outputs(&a, &thread.id, &run.id, vec![call("f", "{}")])
        .await
        .unwrap();
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
    assert_not_found(
        store
            .require_tool_outputs(&b, t, &run.id, vec![call("f", "{}")])
            .await,
        nf,
        t,
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
