//! One model turn: stream the model's answer, write the assistant message as text arrives,
//! collect function calls into a `tool_calls` step, and publish every change as a stream event.

use crate::events::EventBus;
use assistd_core::ids::{IdKind, new_id};
use assistd_core::model::{ChatEvent, ChatRequest, ModelBackend, ModelError};
use assistd_core::{ClaimedRun, Store, StoreError, TurnText};
use assistd_wire::{
    FunctionCall, MessageDeltaObject, Run, RunStepDeltaObject, RunToolCallObject, StreamEvent,
    Usage,
};
use futures::StreamExt;
use std::collections::BTreeMap;
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
}

/// What a turn has opened and not yet closed, so that whoever ends the run early can close it
/// in the stream too.
#[derive(Debug, Default)]
pub struct Open {
    /// The message being written and its step.
    pub message: Option<(String, String)>,
    /// The message's text so far.
    pub text: String,
    /// The `tool_calls` step being filled.
    pub tool_step: Option<String>,
    /// Whether any of it went out to a stream client (a turn nobody watched can be redone
    /// invisibly; one a client saw must be ended in the open).
    pub shown: bool,
}

/// How a turn ended.
pub enum TurnEnd {
    /// The model answered in text (and the message is stored); `truncated` when it hit the
    /// token cap.
    Answered {
        /// Stopped by `max_tokens`.
        truncated: bool,
    },
    /// The model called functions; the run now waits for their outputs.
    Calls(Box<Run>),
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
    /// The token fired (cancel, expiry, lost lease, shutdown).
    Interrupted,
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Runs one turn with `req`, stopping at once when `stop` fires.
pub async fn run_turn(
    ctx: &TurnCtx<'_>,
    req: ChatRequest,
    stop: &CancellationToken,
    open: &mut Open,
) -> Result<TurnEnd, TurnError> {
    let run = &ctx.claim.run;
    let ev = ctx.events;
    let offered: Vec<String> = req.tools.iter().map(|f| f.name.clone()).collect();
    let mut stream = tokio::select! {
        r = ctx.models.chat(req) => r.map_err(TurnError::ModelStart)?,
        () = stop.cancelled() => return Err(TurnError::Interrupted),
    };
    let mut calls: BTreeMap<u32, PartialCall> = BTreeMap::new();
    let mut usage = Usage::default();
    let mut finish = String::new();
    loop {
        // Dropping the stream on interruption closes the upstream connection: no wasted tokens.
        let event = tokio::select! {
            e = stream.next() => e,
            () = stop.cancelled() => return Err(TurnError::Interrupted),
        };
        match event {
            None => break,
            Some(Err(e)) => return Err(TurnError::Model(e)),
            Some(Ok(ChatEvent::Text(t))) => {
                let message_id = match &open.message {
                    Some((m, _)) => m.clone(),
                    None => {
                        let (m, s) = ctx.store.begin_message(run, ctx.worker).await?;
                        ev.publish(&run.id, StreamEvent::StepCreated, &s);
                        ev.publish(&run.id, StreamEvent::StepInProgress, &s);
                        ev.publish(&run.id, StreamEvent::MessageCreated, &m);
                        ev.publish(&run.id, StreamEvent::MessageInProgress, &m);
                        open.message = Some((m.id.clone(), s.id));
                        m.id
                    }
                };
                open.shown |= ev.is_watched(&run.id);
                ev.publish(
                    &run.id,
                    StreamEvent::MessageDelta,
                    &MessageDeltaObject::text(&message_id, t.clone()),
                );
                open.text.push_str(&t);
            }
            Some(Ok(ChatEvent::ToolCallDelta {
                index,
                id: _,
                name,
                arguments,
            })) => {
                let step_id = match &open.tool_step {
                    Some(s) => s.clone(),
                    None => {
                        let Some(s) = ctx.store.begin_tool_calls(run, ctx.worker).await? else {
                            return Err(TurnError::Interrupted);
                        };
                        ev.publish(&run.id, StreamEvent::StepCreated, &s);
                        ev.publish(&run.id, StreamEvent::StepInProgress, &s);
                        open.tool_step = Some(s.id.clone());
                        s.id
                    }
                };
                open.shown |= ev.is_watched(&run.id);
                // Calls get our own `call_` ids, whatever the upstream named them.
                let first = !calls.contains_key(&index);
                let call = calls.entry(index).or_insert_with(|| PartialCall {
                    id: new_id(IdKind::ToolCall),
                    name: String::new(),
                    arguments: String::new(),
                });
                if let Some(n) = &name {
                    call.name.push_str(n);
                }
                call.arguments.push_str(&arguments);
                let delta = if first {
                    RunStepDeltaObject::function(
                        &step_id,
                        index,
                        Some((&call.id, &call.name)),
                        arguments,
                    )
                } else {
                    RunStepDeltaObject::function(&step_id, index, None, arguments)
                };
                ev.publish(&run.id, StreamEvent::StepDelta, &delta);
            }
            Some(Ok(ChatEvent::Usage {
                prompt_tokens,
                completion_tokens,
            })) => {
                usage = Usage {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens + completion_tokens,
                };
            }
            Some(Ok(ChatEvent::Finish(reason))) => finish = reason,
        }
    }
    let calls: Vec<RunToolCallObject> = calls
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
        .collect::<Result<_, _>>()?;
    let truncated = finish == "length";
    let incomplete = truncated.then(|| "max_tokens".to_owned());
    if open.message.is_none() && calls.is_empty() {
        // An empty answer is still an answer: store an empty message so the run has its step.
        let (m, s) = ctx.store.begin_message(run, ctx.worker).await?;
        ev.publish(&run.id, StreamEvent::StepCreated, &s);
        ev.publish(&run.id, StreamEvent::StepInProgress, &s);
        ev.publish(&run.id, StreamEvent::MessageCreated, &m);
        ev.publish(&run.id, StreamEvent::MessageInProgress, &m);
        open.message = Some((m.id, s.id));
    }
    if let Some((message_id, step_id)) = open.message.take() {
        // With function calls in the same turn, the tokens are counted on the tool_calls step.
        let message_usage = if calls.is_empty() {
            usage
        } else {
            Usage::default()
        };
        let (m, s) = ctx
            .store
            .complete_message(
                run,
                ctx.worker,
                &message_id,
                &step_id,
                &TurnText {
                    text: std::mem::take(&mut open.text),
                    usage: message_usage,
                    incomplete,
                },
            )
            .await?;
        ev.publish(&run.id, StreamEvent::for_message_status(m.status), &m);
        ev.publish(&run.id, StreamEvent::StepCompleted, &s);
    }
    if calls.is_empty() {
        return Ok(TurnEnd::Answered { truncated });
    }
    let Some(step_id) = open.tool_step.take() else {
        return Err(TurnError::BadToolCall(
            "the model's function calls arrived without a step".to_owned(),
        ));
    };
    match ctx
        .store
        .require_action_for_step(run, ctx.worker, &step_id, calls, usage)
        .await?
    {
        Some((run, _step)) => Ok(TurnEnd::Calls(Box::new(run))),
        None => Ok(TurnEnd::LeaseLost),
    }
}
