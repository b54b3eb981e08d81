//! The store contract suite: what every backend of [`assistd_core::Store`] must do.
//!
//! Each case is a `pub async fn` taking a fresh, empty store, in the module of the resource it
//! exercises; each module lists its own cases (its `cases!`), so that adding a case touches that
//! module only. [`store_contract_tests!`] expands to one `#[tokio::test]` per case in the
//! backend's crate, in a `mod` named after the case's module (`assistants::assistant_crud`):
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
//! This module holds what the cases of several modules share.
//!
//! [`store_contract_tests!`]: crate::store_contract_tests

#![expect(
    clippy::too_many_lines,
    reason = "each case is one scenario told from start to end; split, it would read worse"
)]

use assistd_core::ids::FreshId;
use assistd_core::{
    ListParams, NewFile, NewRun, ObjectKind, Order, Page, Project, Store, StoreError, StoreResult,
    TurnText,
};
use assistd_wire::{
    AssistantId, AssistantTool, CreateAssistantRequest, CreateMessageRequest, CreateThreadRequest,
    FileId, FunctionCall, FunctionObject, HasId, MessageRole, Metadata, OpenAIFile,
    ResponseFormatOption, Run, RunId, RunStep, ThreadId, ToolChoiceOption, ToolOutput,
    TruncationObject, Usage,
};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

pub mod assistants;
pub mod backend;
pub mod engine;
pub mod files;
pub mod messages;
pub mod pagination;
pub mod runs;
pub mod tenancy;
pub mod threads;
pub mod tool_outputs;
pub mod vector_stores;

/// Expands to one `#[tokio::test]` per contract case, in one `mod` per module of cases.
/// `$factory` names an async fn in the caller's scope returning `(Guard, Arc<dyn Store>)`; the
/// guard (a temporary directory, a database handle...) lives until the case ends.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:ident) => {
        $crate::store_contract_tests!(@modules $factory;
            backend,
            assistants,
            threads,
            messages,
            pagination,
            runs,
            tool_outputs,
            files,
            tenancy,
            engine,
            vector_stores,
        );
    };
    (@modules $factory:ident; $($module:ident),* $(,)?) => {
        $(
            mod $module {
                $crate::contract::$module::cases!($factory, $module);
            }
        )*
    };
    // Each module's `cases!` comes back here with its list, so that the shape of a test is
    // written once.
    (@cases $factory:ident, $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (guard, store) = super::$factory().await;
                $crate::contract::$module::$case(::std::sync::Arc::clone(&store)).await;
                ::std::mem::drop(store);
                ::std::mem::drop(guard);
            }
        )*
    };
}

/// A [`NewRun`] for `assistant_id` with the defaults a server would resolve for a bare request:
/// no tools, no files, automatic truncation/tool choice/response format, expiring after 600 s.
pub fn new_run(assistant_id: &AssistantId) -> NewRun {
    NewRun {
        id: RunId::fresh(),
        streamer: None,
        assistant_id: assistant_id.clone(),
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
        parallel_tool_calls: true,
        reasoning_effort: None,
        tool_resources: None,
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
        .as_secs()
        .try_into()
        .expect("seconds since 1970 fit an i64")
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
                id: FileId::fresh(),
                filename: format!("{purpose}.txt"),
                bytes: 42,
                purpose: purpose.to_owned(),
                expires_after_secs: None,
            },
        )
        .await
        .expect("create_file")
}

fn assistant_req(model: &str) -> CreateAssistantRequest {
    CreateAssistantRequest {
        tool_resources: None,
        reasoning_effort: None,
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
        content: content.into(),
        file_ids: None,
        attachments: None,
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
            strict: None,
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

async fn new_assistant(store: &Arc<dyn Store>, project: &Project) -> AssistantId {
    store
        .create_assistant(project, assistant_req("gpt-4-turbo"))
        .await
        .expect("create_assistant")
        .id
}

async fn new_thread(store: &Arc<dyn Store>, project: &Project) -> ThreadId {
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
    run_id: &RunId,
    calls: Vec<FunctionCall>,
) -> (Run, RunStep) {
    let claimed = store
        .claim_run(WORKER, LEASE)
        .await
        .expect("claim_run")
        .expect("a runnable run");
    assert_eq!(&claimed.run.id, run_id, "the claimed run");
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
async fn claim(store: &Arc<dyn Store>, worker: &str, run_id: &RunId) -> assistd_core::ClaimedRun {
    let claimed = store
        .claim_run(worker, LEASE)
        .await
        .expect("claim_run")
        .unwrap_or_else(|| panic!("{worker}: nothing to claim, expected {run_id}"));
    assert_eq!(&claimed.run.id, run_id, "{worker} claimed the wrong run");
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
        annotations: Vec::new(),
        images: Vec::new(),
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(r: StoreResult<T>, kind: ObjectKind, id: impl AsRef<str>) {
    let id = id.as_ref();
    match r {
        Err(StoreError::NotFound { kind: k, id: i }) => {
            assert_eq!((k, i.as_str()), (kind, id), "wrong NotFound");
        }
        other => panic!("expected NotFound({kind} '{id}'), got {other:?}"),
    }
}

/// Asserts an `InvalidReference` to `kind` `id`, returning its `param`.
#[track_caller]
fn assert_invalid_reference<T: Debug>(
    r: StoreResult<T>,
    kind: ObjectKind,
    id: impl AsRef<str>,
) -> String {
    let id = id.as_ref();
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
