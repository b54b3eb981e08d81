//! One model turn: stream the model's answer, write the assistant message as text arrives,
//! collect function calls into a `tool_calls` step, and publish every change as a stream event.
//!
//! The message's text reaches the store while it is written, not only at its end, so that
//! pollers see it grow: at most once per `TurnCtx::text_flush`, and only when it changed (one
//! small UPDATE of that message, guarded by the run's lease). A flush starts when its interval
//! is up, during a pause in the tokens too, and is written beside the stream: no token waits
//! for it.

use crate::events::EventBus;
use crate::{code_interpreter, file_search};
use assistd_core::code::{CodeError, CodeRunner};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::model::{ChatEvent, ChatRequest, ModelBackend, ModelError};
use assistd_core::search::Searcher;
use assistd_core::store::UNAVAILABLE_RETRY_AFTER;
use assistd_core::{ClaimedRun, Store, StoreError, StoreResult, TurnText};
use assistd_wire::{
    FunctionCall, MessageDeltaObject, MessageId, Run, RunStatus, RunStep, RunStepDeltaObject,
    RunToolCallObject, StepId, StepToolCall, StreamEvent, TextAnnotation, Usage,
};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a turn works with.
pub struct TurnCtx<'a> {
    /// Storage.
    pub store: &'a dyn Store,
    /// The model.
    pub models: &'a dyn ModelBackend,
    /// Stream events.
    pub events: &'a EventBus,
    /// The run.
    pub claim: &'a ClaimedRun,
    /// The lease holder.
    pub worker: &'a str,
    /// Searches `file_search` calls, when the model is offered the tool.
    pub searcher: Option<(&'a dyn Searcher, file_search::Options)>,
    /// Runs `code_interpreter` calls, when the model is offered the tool.
    pub code: Option<&'a dyn CodeRunner>,
    /// The run's steps before this turn (the searches its answer may cite).
    pub steps: &'a [RunStep],
    /// How often the text of the message being written is stored at most, so that pollers
    /// see it grow (zero: only when the message ends).
    pub text_flush: Duration,
}

/// What a turn has opened and not yet closed, so that whoever ends the run early can close it
/// in the stream too.
#[derive(Debug, Default)]
pub struct Open {
    /// The message being written and its step.
    pub message: Option<(MessageId, StepId)>,
    /// The message's text so far.
    pub text: String,
    /// The images the message shows before its text (the run's code drew them since its last
    /// message), as streamed when the message opened.
    pub images: Vec<String>,
    /// The `tool_calls` step being filled.
    pub tool_step: Option<StepId>,
    /// Whether any of it went out to a stream client (a turn nobody watched can be redone
    /// invisibly; one a client saw must be ended in the open).
    pub shown: bool,
    /// Bytes of `text` the store holds (the text only grows, so a longer text is a changed one).
    pub stored: usize,
    /// When the message's content was last written (opened or flushed).
    pub stored_at: Option<Instant>,
}

impl Open {
    /// The index of the message's text part: after its images.
    fn text_index(&self) -> u32 {
        u32::try_from(self.images.len()).unwrap_or(u32::MAX)
    }

    /// When the message's text should next be stored: `every` after the last write, if the
    /// text grew since; `None` when there is nothing to store (or flushing is off).
    fn flush_due(&self, every: Duration) -> Option<Instant> {
        if every.is_zero() || self.message.is_none() || self.text.len() == self.stored {
            return None;
        }
        Some(self.stored_at.map_or_else(Instant::now, |at| at + every))
    }
}

/// How a turn ended.
pub enum TurnEnd {
    /// The model answered in text, and the run ended with its message (as it now is).
    Finished(Box<Run>),
    /// The model answered in text (and the message is stored); `truncated` when it hit the
    /// token cap.
    Answered {
        /// Stopped by `max_tokens`.
        truncated: bool,
    },
    /// The model called functions; the run now waits for their outputs.
    Calls(Box<Run>),
    /// The model only searched files or ran code; the results are in and the next turn
    /// answers them.
    ToolsRan,
    /// The lease was lost while recording the calls: another worker owns the run now.
    LeaseLost,
}

/// Why a turn did not end normally.
#[derive(Debug)]
pub enum TurnError {
    /// The model request failed before streaming (the backend already retried it).
    ModelStart(ModelError),
    /// The model's stream failed midway (worth redoing the turn).
    Model(ModelError),
    /// The model produced an unusable function call.
    BadToolCall(String),
    /// A built-in tool cannot work on this server (the reason is the run's `last_error`).
    ToolUnavailable(String),
    /// The token fired (cancel, expiry, lost lease, shutdown).
    Interrupted,
    /// Storage failed.
    Store(StoreError),
}

impl std::fmt::Display for TurnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ModelStart(e) | Self::Model(e) => e.fmt(f),
            Self::BadToolCall(m) | Self::ToolUnavailable(m) => f.write_str(m),
            Self::Interrupted => f.write_str("the run was told to stop"),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl TurnError {
    /// How long to wait before try number `retry` (1 for the first retry) of a turn that failed
    /// with this error, if trying again can help: a model stream that broke or was rate limited
    /// (its hint, else a quarter second more each time), or the database out of reach for a
    /// moment (a failover, a restart, no connection free in time; a second more each time).
    pub fn retry_wait(&self, retry: u32) -> Option<Duration> {
        match self {
            Self::Model(e) if e.is_retryable() => Some(
                e.retry_after()
                    .unwrap_or(Duration::from_millis(250 * u64::from(retry))),
            ),
            Self::Store(StoreError::Unavailable(_)) => Some(UNAVAILABLE_RETRY_AFTER * retry),
            _ => None,
        }
    }
}

struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    /// Characters of a `code_interpreter` call's code streamed so far.
    code_shown: usize,
}

/// What the model's stream delivered besides text.
#[derive(Default)]
struct Answer {
    /// Function calls by index, as they were assembled.
    calls: BTreeMap<u32, PartialCall>,
    usage: Usage,
    /// The finish reason (`stop`, `length`, `tool_calls`, ...).
    finish: String,
}

/// Runs one turn with `req`, stopping at once when `stop` fires.
pub async fn run_turn(
    ctx: &TurnCtx<'_>,
    req: ChatRequest,
    stop: &CancellationToken,
    open: &mut Open,
) -> Result<TurnEnd, TurnError> {
    let offered: Vec<String> = req.tools.iter().map(|f| f.name.clone()).collect();
    let answer = stream_answer(ctx, req, stop, open).await?;
    // Code calls stream their outputs under the index their code streamed under.
    let index_of: BTreeMap<String, u32> = answer
        .calls
        .iter()
        .map(|(i, c)| (c.id.clone(), *i))
        .collect();
    let calls = checked_calls(answer.calls, &offered)?;
    let truncated = answer.finish == "length";
    if open.message.is_none() && calls.is_empty() {
        // An empty answer is still an answer: store an empty message so the run has its step.
        open_message(ctx, open).await?;
    }
    if calls.is_empty() {
        // The answer ends the run: its message, its step and the run end in one write.
        let run = complete_message(ctx, open, answer.usage, truncated, true).await?;
        return Ok(run.map_or(TurnEnd::Answered { truncated }, TurnEnd::Finished));
    }
    // With function calls in the same turn, the tokens are counted on the tool_calls step.
    complete_message(ctx, open, Usage::default(), truncated, false).await?;
    let Some(step_id) = open.tool_step.take() else {
        return Err(TurnError::BadToolCall(
            "the model's function calls arrived without a step".to_owned(),
        ));
    };
    let run = &ctx.claim.run;
    let (searches, rest): (Vec<_>, Vec<_>) = calls
        .into_iter()
        .partition(|c| ctx.searcher.is_some() && c.function.name == file_search::TOOL_NAME);
    let (code, functions): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|c| ctx.code.is_some() && c.function.name == code_interpreter::TOOL_NAME);
    let mut done = run_searches(ctx, &step_id, searches).await?;
    // Code may run for a long time: a cancel stops waiting for it at once (the run's end
    // then ends its sandbox).
    let ran = tokio::select! {
        ran = run_code(ctx, &step_id, code, &index_of) => ran?,
        () = stop.cancelled() => return Err(TurnError::Interrupted),
    };
    done.extend(ran);
    if functions.is_empty() {
        let Some(completed) = ctx
            .store
            .complete_tool_calls(run, ctx.worker, &step_id, done, answer.usage)
            .await?
        else {
            return Ok(TurnEnd::LeaseLost);
        };
        ctx.events
            .publish(&run.id, StreamEvent::StepCompleted, &completed);
        return Ok(TurnEnd::ToolsRan);
    }
    match ctx
        .store
        .require_action_for_step(run, ctx.worker, &step_id, done, functions, answer.usage)
        .await?
    {
        Some((run, _step)) => Ok(TurnEnd::Calls(Box::new(run))),
        None => Ok(TurnEnd::LeaseLost),
    }
}

/// Runs the turn's `file_search` calls, announcing each in the stream; they are numbered after
/// the run's earlier searches.
async fn run_searches(
    ctx: &TurnCtx<'_>,
    step_id: &StepId,
    calls: Vec<RunToolCallObject>,
) -> Result<Vec<StepToolCall>, TurnError> {
    let Some((searcher, opts)) = ctx.searcher else {
        return Ok(Vec::new());
    };
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let search = file_search::RunSearch {
        store: ctx.store,
        events: ctx.events,
        searcher,
        opts,
        project: &ctx.claim.project,
        run: &ctx.claim.run,
    };
    let calls = calls
        .into_iter()
        .map(|c| {
            let query = query_of(&c.function.arguments);
            (c.id, query)
        })
        .collect();
    Ok(search.calls(step_id.as_str(), calls).await?)
}

/// Runs the turn's `code_interpreter` calls, streaming their outputs.
async fn run_code(
    ctx: &TurnCtx<'_>,
    step_id: &StepId,
    calls: Vec<RunToolCallObject>,
    index_of: &BTreeMap<String, u32>,
) -> Result<Vec<StepToolCall>, TurnError> {
    let Some(runner) = ctx.code else {
        return Ok(Vec::new());
    };
    let code = code_interpreter::RunCode {
        store: ctx.store,
        events: ctx.events,
        runner,
        project: &ctx.claim.project,
        run: &ctx.claim.run,
    };
    let calls = calls
        .into_iter()
        .map(|c| {
            let index = index_of.get(&c.id).copied().unwrap_or(0);
            (
                index,
                c.id,
                code_interpreter::code_of(&c.function.arguments),
            )
        })
        .collect();
    code.calls(step_id.as_str(), calls)
        .await
        .map_err(|e| match e {
            CodeError::Unavailable(why) => TurnError::ToolUnavailable(why),
            CodeError::Store(e) => TurnError::Store(e),
        })
}

/// The `query` of a `file_search` call's arguments (which `checked_calls` found to be JSON).
fn query_of(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(o)) => match o.get("query") {
            Some(serde_json::Value::String(q)) => q.clone(),
            _ => String::new(),
        },
        Ok(serde_json::Value::String(q)) => q,
        _ => String::new(),
    }
}

/// Streams the model's answer for `req`, recording text and call pieces as they arrive, and the
/// call's duration and tokens in the metrics (whichever backend answers).
async fn stream_answer(
    ctx: &TurnCtx<'_>,
    req: ChatRequest,
    stop: &CancellationToken,
    open: &mut Open,
) -> Result<Answer, TurnError> {
    let started = std::time::Instant::now();
    let result = stream_events(ctx, req, stop, open).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(TurnError::Interrupted) => "interrupted",
        Err(_) => "error",
    };
    metrics::histogram!("assistd_model_call_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    if let Ok(a) = &result {
        metrics::counter!("assistd_model_tokens_total", "type" => "prompt")
            .increment(u64::try_from(a.usage.prompt_tokens).unwrap_or(0));
        metrics::counter!("assistd_model_tokens_total", "type" => "completion")
            .increment(u64::try_from(a.usage.completion_tokens).unwrap_or(0));
    }
    result
}

async fn stream_events(
    ctx: &TurnCtx<'_>,
    req: ChatRequest,
    stop: &CancellationToken,
    open: &mut Open,
) -> Result<Answer, TurnError> {
    let mut stream = tokio::select! {
        r = ctx.models.chat(req) => r.map_err(TurnError::ModelStart)?,
        () = stop.cancelled() => return Err(TurnError::Interrupted),
    };
    let mut answer = Answer::default();
    // At most one flush in flight, written beside the stream: tokens never wait for the
    // database, and flushes land in the order they were made.
    let mut flushing: Option<Flush<'_>> = None;
    loop {
        let flush_at = if flushing.is_some() {
            None
        } else {
            open.flush_due(ctx.text_flush)
        };
        // Dropping the stream on interruption closes the upstream connection: no wasted tokens.
        // A due flush starts during a pause in the tokens too.
        let event = tokio::select! {
            biased;
            () = stop.cancelled() => return Err(TurnError::Interrupted),
            done = async {
                match flushing.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            } => {
                flushing = None;
                flushed(ctx, open, done);
                continue;
            }
            () = sleep_until(flush_at) => {
                flushing = flush_text(ctx, open);
                continue;
            }
            e = stream.next() => e,
        };
        match event {
            None => {
                if let Some(f) = flushing.take() {
                    flushed(ctx, open, f.await);
                }
                return Ok(answer);
            }
            Some(Err(e)) => return Err(TurnError::Model(e)),
            Some(Ok(ChatEvent::Text(t))) => on_text(ctx, open, t).await?,
            Some(Ok(ChatEvent::ToolCallDelta {
                index,
                id: _,
                name,
                arguments,
            })) => on_call_piece(ctx, open, &mut answer.calls, index, name, arguments).await?,
            Some(Ok(ChatEvent::Usage {
                prompt_tokens,
                completion_tokens,
            })) => {
                answer.usage = Usage {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens + completion_tokens,
                };
            }
            Some(Ok(ChatEvent::Finish(reason))) => answer.finish = reason,
        }
    }
}

/// Waits until `at`, or forever when there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A flush in flight: it resolves to the length of the text it wrote, and how that went.
type Flush<'a> = futures::future::BoxFuture<'a, (usize, StoreResult<()>)>;

/// Starts storing the open message's text so far (after its images, as the completed message
/// has them), for pollers. It writes a copy, so the text goes on growing meanwhile; a flush
/// that lands after the message completed writes nothing (the store checks it is still in
/// progress).
fn flush_text<'a>(ctx: &TurnCtx<'a>, open: &mut Open) -> Option<Flush<'a>> {
    let (message_id, _) = open.message.clone()?;
    open.stored_at = Some(Instant::now());
    let (store, run, worker) = (ctx.store, ctx.claim.run.clone(), ctx.worker);
    let (images, text) = (open.images.clone(), open.text.clone());
    Some(Box::pin(async move {
        let written = store
            .save_text(&run, worker, &message_id, &images, &text)
            .await;
        (text.len(), written)
    }))
}

/// Notes a finished flush. A failed one is only logged: the message's end writes the text
/// whole, and the next flush tries again an interval later.
fn flushed(ctx: &TurnCtx<'_>, open: &mut Open, (len, written): (usize, StoreResult<()>)) {
    match written {
        Ok(()) => {
            open.stored = open.stored.max(len);
            metrics::counter!("assistd_message_text_flushes_total").increment(1);
        }
        Err(e) => {
            tracing::warn!(run_id = %ctx.claim.run.id, error = %e, "could not store the text so far");
        }
    }
}

/// A piece of text: opens the message on the first one, then streams it as a delta.
async fn on_text(ctx: &TurnCtx<'_>, open: &mut Open, text: String) -> Result<(), TurnError> {
    let run = &ctx.claim.run;
    let message_id = match &open.message {
        Some((m, _)) => m.clone(),
        None => open_message(ctx, open).await?,
    };
    open.shown |= ctx.events.is_watched(&run.id);
    ctx.events.publish(
        &run.id,
        StreamEvent::MessageDelta,
        &MessageDeltaObject::text(message_id.as_str(), open.text_index(), text.clone()),
    );
    open.text.push_str(&text);
    Ok(())
}

/// A piece of function call `index`: opens the `tool_calls` step on the first one, assembles
/// the call, and streams the piece as a step delta.
async fn on_call_piece(
    ctx: &TurnCtx<'_>,
    open: &mut Open,
    calls: &mut BTreeMap<u32, PartialCall>,
    index: u32,
    name: Option<String>,
    arguments: String,
) -> Result<(), TurnError> {
    let run = &ctx.claim.run;
    let ev = ctx.events;
    let step_id = if let Some(s) = &open.tool_step {
        s.clone()
    } else {
        let Some(s) = ctx.store.begin_tool_calls(run, ctx.worker).await? else {
            return Err(TurnError::Interrupted);
        };
        ev.publish(&run.id, StreamEvent::StepCreated, &s);
        ev.publish(&run.id, StreamEvent::StepInProgress, &s);
        open.tool_step = Some(s.id.clone());
        s.id
    };
    open.shown |= ev.is_watched(&run.id);
    // Calls get our own `call_` ids, whatever the upstream named them.
    let first = !calls.contains_key(&index);
    let call = calls.entry(index).or_insert_with(|| PartialCall {
        id: new_id(IdKind::ToolCall),
        name: String::new(),
        arguments: String::new(),
        code_shown: 0,
    });
    if let Some(n) = &name {
        call.name.push_str(n);
    }
    call.arguments.push_str(&arguments);
    if ctx.searcher.is_some() && call.name == file_search::TOOL_NAME {
        // A search is announced as a file_search call once it runs, not as a function.
        return Ok(());
    }
    if ctx.code.is_some() && call.name == code_interpreter::TOOL_NAME {
        // Code streams as the code itself, not as the JSON the model wraps it in.
        let code = code_interpreter::code_so_far(&call.arguments).unwrap_or_default();
        let piece: String = code.chars().skip(call.code_shown).collect();
        if !first && piece.is_empty() {
            return Ok(());
        }
        call.code_shown += piece.chars().count();
        let delta = RunStepDeltaObject::code_interpreter(
            step_id.as_str(),
            index,
            first.then_some(call.id.as_str()),
            Some(piece),
            first.then(Vec::new),
        );
        ev.publish(&run.id, StreamEvent::StepDelta, &delta);
        return Ok(());
    }
    let delta = if first {
        RunStepDeltaObject::function(
            step_id.as_str(),
            index,
            Some((&call.id, &call.name)),
            arguments,
        )
    } else {
        RunStepDeltaObject::function(step_id.as_str(), index, None, arguments)
    };
    ev.publish(&run.id, StreamEvent::StepDelta, &delta);
    Ok(())
}

/// Stores a new `in_progress` message with its step, announces both, and returns its id.
async fn open_message(ctx: &TurnCtx<'_>, open: &mut Open) -> Result<MessageId, TurnError> {
    let run = &ctx.claim.run;
    let ev = ctx.events;
    let (m, s) = ctx.store.begin_message(run, ctx.worker).await?;
    ev.publish(&run.id, StreamEvent::StepCreated, &s);
    ev.publish(&run.id, StreamEvent::StepInProgress, &s);
    ev.publish(&run.id, StreamEvent::MessageCreated, &m);
    ev.publish(&run.id, StreamEvent::MessageInProgress, &m);
    // The images the run's code drew lead the message (`complete_message` stores them so).
    open.images = code_interpreter::new_images(ctx.steps);
    if !open.images.is_empty() {
        let delta = MessageDeltaObject::images(m.id.as_str(), &open.images);
        ev.publish(&run.id, StreamEvent::MessageDelta, &delta);
    }
    open.message = Some((m.id.clone(), s.id));
    open.stored = 0;
    open.stored_at = Some(Instant::now());
    Ok(m.id)
}

/// How a run whose turn answered in text ends: `incomplete` when the answer was cut by the
/// run's own budget (v2's status; v1 sees it `completed`, with the same `incomplete_details`,
/// as it always did), else `completed`.
pub fn answered(run: &Run, truncated: bool) -> (RunStatus, Option<&'static str>) {
    let incomplete =
        (truncated && run.max_completion_tokens.is_some()).then_some("max_completion_tokens");
    let status = if incomplete.is_some() {
        RunStatus::Incomplete
    } else {
        RunStatus::Completed
    };
    (status, incomplete)
}

/// Completes the open message, if any, with the text streamed into it (`incomplete` when the
/// answer was `truncated`), and its step; with `finish`, ends the run with them (in the same
/// write) and returns it.
async fn complete_message(
    ctx: &TurnCtx<'_>,
    open: &mut Open,
    usage: Usage,
    truncated: bool,
    finish: bool,
) -> Result<Option<Box<Run>>, TurnError> {
    let Some((message_id, step_id)) = open.message.take() else {
        return Ok(None);
    };
    let run = &ctx.claim.run;
    let text = std::mem::take(&mut open.text);
    let mut annotations = file_search::annotate(&text, ctx.steps);
    annotations.extend(code_interpreter::annotate(&text, ctx.steps));
    annotations.sort_by_key(|a| match a {
        TextAnnotation::FileCitation { start_index, .. }
        | TextAnnotation::FilePath { start_index, .. } => *start_index,
    });
    if !annotations.is_empty() {
        let delta = MessageDeltaObject::annotations(
            message_id.as_str(),
            open.text_index(),
            annotations.clone(),
        );
        ctx.events
            .publish(&run.id, StreamEvent::MessageDelta, &delta);
    }
    let text = TurnText {
        annotations,
        images: std::mem::take(&mut open.images),
        text,
        usage,
        incomplete: truncated.then(|| "max_tokens".to_owned()),
    };
    let (m, s, ended) = if finish {
        let (status, reason) = answered(run, truncated);
        let (m, s, run) = ctx
            .store
            .complete_message_and_finish(
                run,
                ctx.worker,
                &message_id,
                &step_id,
                &text,
                status,
                reason,
            )
            .await?;
        (m, s, Some(Box::new(run)))
    } else {
        let (m, s) = ctx
            .store
            .complete_message(run, ctx.worker, &message_id, &step_id, &text)
            .await?;
        (m, s, None)
    };
    ctx.events
        .publish(&run.id, StreamEvent::for_message_status(m.status), &m);
    ctx.events.publish(&run.id, StreamEvent::StepCompleted, &s);
    Ok(ended)
}

/// The assembled calls, refused unless each names a function the run offered and carries JSON
/// arguments (empty arguments are `{}`).
fn checked_calls(
    calls: BTreeMap<u32, PartialCall>,
    offered: &[String],
) -> Result<Vec<RunToolCallObject>, TurnError> {
    calls
        .into_values()
        .map(|c| {
            if !offered.contains(&c.name) {
                return Err(TurnError::BadToolCall(format!(
                    "the model called '{}', which is not a function of this run",
                    c.name
                )));
            }
            let arguments = if c.arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                c.arguments
            };
            if serde_json::from_str::<serde_json::Value>(&arguments).is_err() {
                return Err(TurnError::BadToolCall(format!(
                    "the model produced arguments for '{}' that are not valid JSON",
                    c.name
                )));
            }
            Ok(RunToolCallObject {
                id: c.id,
                type_: "function".to_owned(),
                function: FunctionCall {
                    name: c.name,
                    arguments,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_core::ids::FreshId;

    #[test]
    fn text_is_stored_once_per_interval_and_only_when_it_grew() {
        let every = Duration::from_millis(200);
        let mut open = Open::default();
        open.text.push_str("no message yet");
        assert_eq!(open.flush_due(every), None);

        let opened = Instant::now();
        open.message = Some((MessageId::fresh(), StepId::fresh()));
        open.text.clear();
        open.stored_at = Some(opened);
        assert_eq!(open.flush_due(every), None, "nothing written yet");
        open.text.push_str("Hello");
        assert_eq!(open.flush_due(every), Some(opened + every));
        assert_eq!(open.flush_due(Duration::ZERO), None, "flushing is off");

        open.stored = open.text.len();
        assert_eq!(open.flush_due(every), None, "unchanged since stored");
        open.text.push_str(" world");
        assert_eq!(open.flush_due(every), Some(opened + every));
    }
}
