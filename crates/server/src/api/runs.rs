//! Runs and run steps. Runs are stored `queued` with every field resolved; the run engine
//! executes them.

use crate::api::messages::adds_files;
use crate::api::stream::run_stream;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OptionalJson, RawQuery};
use crate::version::{Version, Versioned};
use assistd_core::runs::{RunOverrides, resolve};
use assistd_core::{ListParams, NewRun, ObjectKind, Project, StoreError};
use assistd_core::{validate, validate_runs};
use assistd_executor::{Event, Subscription};
use assistd_wire::{
    ApiVersion, Assistant, AssistantId, CreateRunRequest, CreateThreadAndRunRequest, ListResponse,
    ModifyRunRequest, Run, RunId, RunStatus, RunStep, StepDetails, StepId, StepToolCall,
    StreamEvent, SubmitToolOutputsRunRequest, ThreadId, ToolResourcesRequest,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A run response, with the `openai-poll-after-ms` header that the SDKs' polling helpers sleep
/// for between polls.
pub struct RunResponse {
    version: ApiVersion,
    run: Run,
    poll_after_ms: u64,
}

impl RunResponse {
    fn new(s: &AppState, version: ApiVersion, run: Run) -> Self {
        Self {
            version,
            run,
            poll_after_ms: s.settings.poll_after_ms,
        }
    }
}

impl IntoResponse for RunResponse {
    fn into_response(self) -> Response {
        (
            [("openai-poll-after-ms", self.poll_after_ms.to_string())],
            Versioned(self.version, self.run),
        )
            .into_response()
    }
}

/// The run's assistant; a missing one is a 404 naming it, as OpenAI answers.
async fn assistant_for_run(s: &AppState, p: &Project, id: &AssistantId) -> ApiResult<Assistant> {
    s.store.get_assistant(p, id).await.map_err(|e| match e {
        StoreError::NotFound { .. } => {
            ApiError::from(StoreError::not_found(ObjectKind::Assistant, id))
        }
        other => other.into(),
    })
}

/// Whether the request asks, with `include[]` (v2; `include` is accepted too), for the
/// file-search results' content of its steps. v1 has no such parameter and ignores it.
fn include_content(v: ApiVersion, q: &RawQuery) -> ApiResult<bool> {
    if v == ApiVersion::V1 {
        return Ok(false);
    }
    let values =
        q.0.iter()
            .filter(|(k, _)| k == "include[]" || k == "include")
            .map(|(_, v)| v.as_str());
    Ok(validate_runs::include(values)?)
}

/// A step as the request asked to see it.
fn step_view(mut step: RunStep, include_content: bool) -> RunStep {
    if !include_content {
        step.hide_search_content();
    }
    step
}

/// `POST /threads/{thread_id}/runs` (createRun).
pub async fn create_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(thread_id): Path<ThreadId>,
    q: RawQuery,
    ApiJson(req): ApiJson<CreateRunRequest>,
) -> ApiResult<Response> {
    // Steps are not part of createRun's answer, but of its stream.
    let include = include_content(v, &q)?;
    validate::create_run(&req)?;
    validate_runs::response_format("response_format", req.response_format.as_ref())?;
    // The thread is checked first so that a bad thread id is reported before a bad assistant.
    s.store.get_thread(&p, &thread_id).await?;
    let assistant = assistant_for_run(&s, &p, &req.assistant_id).await?;
    s.limits.admit_run(&*s.store, &p).await?;
    let files = req.additional_messages.iter().flatten().any(adds_files);
    let mut new = resolve(
        &assistant,
        RunOverrides {
            model: req.model,
            instructions: req.instructions,
            additional_instructions: req.additional_instructions,
            additional_messages: req.additional_messages,
            tools: req.tools,
            metadata: req.metadata,
            temperature: req.temperature,
            top_p: req.top_p,
            max_prompt_tokens: req.max_prompt_tokens,
            max_completion_tokens: req.max_completion_tokens,
            truncation_strategy: req.truncation_strategy,
            tool_choice: req.tool_choice,
            response_format: req.response_format,
            parallel_tool_calls: req.parallel_tool_calls,
            reasoning_effort: req.reasoning_effort,
            tool_resources: None,
        },
        s.settings.run_expires_after_secs,
    );
    let sub = streamed(&s, req.stream, &mut new);
    let run = s
        .create_run_with(&new.id.clone(), {
            let (p, thread_id) = (p.clone(), thread_id.clone());
            move |store, claim| async move {
                store.create_run_claimed(&p, &thread_id, new, claim).await
            }
        })
        .await?;
    if files {
        s.files_queued();
    }
    Ok(match sub {
        Some(sub) => run_stream(
            s.clone(),
            (v, include),
            p,
            thread_id,
            vec![
                Event::new(StreamEvent::RunCreated, &run),
                Event::new(StreamEvent::RunQueued, &run),
            ],
            sub,
        )
        .into_response(),
        None => RunResponse::new(&s, v, run).into_response(),
    })
}

/// With `stream: true`: the subscription to the new run's events, taken before the run exists
/// so that no event can be missed (an error below drops it, which frees the channel), and this
/// instance recorded as the run's streamer, so that whichever instance executes the run relays
/// its events here.
fn streamed(s: &AppState, stream: Option<bool>, new: &mut NewRun) -> Option<Subscription> {
    if !stream.unwrap_or(false) {
        return None;
    }
    new.streamer = Some(s.events.instance().to_owned());
    Some(s.events.subscribe(&new.id))
}

/// `POST /threads/runs` (createThreadAndRun).
pub async fn create_thread_and_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    ApiJson(req): ApiJson<CreateThreadAndRunRequest>,
) -> ApiResult<Response> {
    validate::create_thread_and_run(&req)?;
    validate_runs::response_format("response_format", req.response_format.as_ref())?;
    if let Some(r) = &req.tool_resources {
        // The run's own resources: existing stores only, no store made along with it.
        validate::tool_resources("", r, false)?;
    }
    let assistant = assistant_for_run(&s, &p, &req.assistant_id).await?;
    s.limits.admit_run(&*s.store, &p).await?;
    let mut new = resolve(
        &assistant,
        RunOverrides {
            model: req.model,
            instructions: req.instructions,
            tools: req.tools,
            metadata: req.metadata,
            temperature: req.temperature,
            top_p: req.top_p,
            max_prompt_tokens: req.max_prompt_tokens,
            max_completion_tokens: req.max_completion_tokens,
            truncation_strategy: req.truncation_strategy,
            tool_choice: req.tool_choice,
            response_format: req.response_format,
            parallel_tool_calls: req.parallel_tool_calls,
            tool_resources: req.tool_resources,
            ..RunOverrides::default()
        },
        s.settings.run_expires_after_secs,
    );
    let sub = streamed(&s, req.stream, &mut new);
    let thread_req = req.thread.unwrap_or_default();
    let files = thread_req
        .tool_resources
        .as_ref()
        .is_some_and(ToolResourcesRequest::creates_store)
        || thread_req.messages.iter().flatten().any(adds_files);
    let (thread, run) = s
        .create_run_with(&new.id.clone(), {
            let p = p.clone();
            move |store, claim| async move {
                let (thread, run, claimed) = store
                    .create_thread_and_run_claimed(&p, thread_req, new, claim)
                    .await?;
                Ok(((thread, run), claimed))
            }
        })
        .await?;
    if files {
        s.files_queued();
    }
    Ok(match sub {
        Some(sub) => run_stream(
            s.clone(),
            (v, false),
            p,
            thread.id.clone(),
            vec![
                Event::new(StreamEvent::ThreadCreated, &thread),
                Event::new(StreamEvent::RunCreated, &run),
                Event::new(StreamEvent::RunQueued, &run),
            ],
            sub,
        )
        .into_response(),
        None => RunResponse::new(&s, v, run).into_response(),
    })
}

/// `GET /threads/{thread_id}/runs/{run_id}` (getRun).
pub async fn get_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id)): Path<(ThreadId, RunId)>,
) -> ApiResult<RunResponse> {
    let run = s.store.get_run(&p, &thread_id, &run_id).await?;
    Ok(RunResponse::new(&s, v, run))
}

/// `POST /threads/{thread_id}/runs/{run_id}` (modifyRun).
pub async fn modify_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id)): Path<(ThreadId, RunId)>,
    ApiJson(req): ApiJson<ModifyRunRequest>,
) -> ApiResult<RunResponse> {
    if let Some(m) = &req.metadata {
        validate::metadata("metadata", m.as_ref())?;
    }
    let run = s
        .store
        .modify_run(&p, &thread_id, &run_id, req.metadata)
        .await?;
    Ok(RunResponse::new(&s, v, run))
}

/// `GET /threads/{thread_id}/runs` (listRuns).
pub async fn list_runs(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(thread_id): Path<ThreadId>,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<Run>>> {
    let page = s.store.list_runs(&p, &thread_id, &q.list_params()?).await?;
    Ok(Versioned(v, ListResponse::new(page.data, page.has_more)))
}

/// The cancel endpoint takes no parameters; an empty JSON object is tolerated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRunRequest {}

/// `POST /threads/{thread_id}/runs/{run_id}/cancel` (cancelRun).
pub async fn cancel_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id)): Path<(ThreadId, RunId)>,
    OptionalJson(_): OptionalJson<CancelRunRequest>,
) -> ApiResult<RunResponse> {
    let run = match s.store.cancel_run(&p, &thread_id, &run_id).await {
        Ok(run) => run,
        // v1 knows an incomplete run as `completed`, and is told so.
        Err(StoreError::Invalid { .. })
            if v == ApiVersion::V1 && is_incomplete(&s, &p, &thread_id, &run_id).await =>
        {
            return Err(ApiError::invalid(
                format!(
                    "Cannot cancel run with status '{}'.",
                    RunStatus::Completed.as_str()
                ),
                None,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    s.run_cancel_requested(&run_id);
    s.events.publish_run(&run);
    Ok(RunResponse::new(&s, v, run))
}

async fn is_incomplete(s: &AppState, p: &Project, thread_id: &ThreadId, run_id: &RunId) -> bool {
    s.store
        .get_run(p, thread_id, run_id)
        .await
        .is_ok_and(|run| run.status == RunStatus::Incomplete)
}

/// `POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs` (submitToolOuputsToRun).
pub async fn submit_tool_outputs_to_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id)): Path<(ThreadId, RunId)>,
    ApiJson(req): ApiJson<SubmitToolOutputsRunRequest>,
) -> ApiResult<Response> {
    let sub = req
        .stream
        .unwrap_or(false)
        .then(|| s.events.subscribe(&run_id));
    let first_call = req
        .tool_outputs
        .first()
        .and_then(|o| o.tool_call_id.clone());
    let streamer = sub.as_ref().map(|_| s.events.instance());
    let run = s
        .store
        .submit_tool_outputs_streamed(&p, &thread_id, &run_id, req.tool_outputs, streamer)
        .await?;
    s.run_queued(&run.id);
    Ok(match sub {
        Some(sub) => {
            // The step that asked for the outputs is complete now; stream clients learn it
            // first (the SDKs' `toolCallDone` / `runStepDone`).
            let mut prelude = vec![Event::new(StreamEvent::RunQueued, &run)];
            if let Some(step) = answered_step(&s, &p, &thread_id, &run_id, first_call).await {
                prelude.push(Event::new(StreamEvent::StepCompleted, &step));
            }
            run_stream(s.clone(), (v, false), p, thread_id, prelude, sub).into_response()
        }
        None => RunResponse::new(&s, v, run).into_response(),
    })
}

/// The `tool_calls` step holding `call_id`, among the run's latest steps (the worker may
/// already have started the next one).
async fn answered_step(
    s: &AppState,
    p: &Project,
    thread_id: &ThreadId,
    run_id: &RunId,
    call_id: Option<String>,
) -> Option<RunStep> {
    let call_id = call_id?;
    let latest = ListParams {
        limit: 10,
        ..ListParams::default()
    };
    let page = s
        .store
        .list_run_steps(p, thread_id, run_id, &latest)
        .await
        .ok()?;
    page.data.into_iter().find(|step| match &step.step_details {
        StepDetails::ToolCalls { tool_calls } => tool_calls
            .iter()
            .any(|c| matches!(c, StepToolCall::Function { id, .. } if *id == call_id)),
        StepDetails::MessageCreation { .. } => false,
    })
}

/// `GET /threads/{thread_id}/runs/{run_id}/steps` (listRunSteps).
pub async fn list_run_steps(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id)): Path<(ThreadId, RunId)>,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<RunStep>>> {
    let include = include_content(v, &q)?;
    let page = s
        .store
        .list_run_steps(&p, &thread_id, &run_id, &q.list_params()?)
        .await?;
    let steps = page
        .data
        .into_iter()
        .map(|step| step_view(step, include))
        .collect();
    Ok(Versioned(v, ListResponse::new(steps, page.has_more)))
}

/// `GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}` (getRunStep).
pub async fn get_run_step(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, run_id, step_id)): Path<(ThreadId, RunId, StepId)>,
    q: RawQuery,
) -> ApiResult<Versioned<RunStep>> {
    let include = include_content(v, &q)?;
    let step = s
        .store
        .get_run_step(&p, &thread_id, &run_id, &step_id)
        .await?;
    Ok(Versioned(v, step_view(step, include)))
}
