//! One model turn: stream the model's answer, write the assistant message as text arrives, and
//! collect function calls.

use assistd_core::model::{ChatEvent, ChatRequest, ModelBackend, ModelError};
use assistd_core::{ClaimedRun, Store, StoreError, TurnText};
use assistd_wire::{FunctionCall, Usage};
use futures::StreamExt;
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// How a turn ended.
pub enum TurnEnd {
    /// The model answered in text (and the message is stored); `truncated` when it hit the
    /// token cap.
    Answered {
        /// Stopped by `max_tokens`.
        truncated: bool,
    },
    /// The model called functions.
    Calls {
        /// The calls, in order.
        calls: Vec<FunctionCall>,
        /// The turn's tokens.
        usage: Usage,
    },
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

#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Runs one turn of `claim` with `req`, stopping at once when `stop` fires.
pub async fn run_turn(
    store: &dyn Store,
    models: &dyn ModelBackend,
    claim: &ClaimedRun,
    worker: &str,
    req: ChatRequest,
    stop: &CancellationToken,
) -> Result<TurnEnd, TurnError> {
    let offered: Vec<String> = req.tools.iter().map(|f| f.name.clone()).collect();
    let mut stream = tokio::select! {
        r = models.chat(req) => r.map_err(TurnError::ModelStart)?,
        () = stop.cancelled() => return Err(TurnError::Interrupted),
    };
    let mut text = String::new();
    let mut message: Option<(String, String)> = None;
    let mut calls: BTreeMap<u32, PartialCall> = BTreeMap::new();
    let mut usage = Usage::default();
    let mut finish = String::new();
    loop {
        // Dropping the stream on interruption closes the upstream connection: no wasted tokens.
        let event = tokio::select! {
            ev = stream.next() => ev,
            () = stop.cancelled() => return Err(TurnError::Interrupted),
        };
        match event {
            None => break,
            Some(Err(e)) => return Err(TurnError::Model(e)),
            Some(Ok(ChatEvent::Text(t))) => {
                if message.is_none() {
                    let (m, s) = store.begin_message(&claim.run, worker).await?;
                    message = Some((m.id, s.id));
                }
                text.push_str(&t);
            }
            Some(Ok(ChatEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            })) => {
                let c = calls.entry(index).or_default();
                if id.is_some() {
                    c.id = id;
                }
                if let Some(n) = name {
                    c.name.push_str(&n);
                }
                c.arguments.push_str(&arguments);
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
    let calls: Vec<FunctionCall> = calls
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
            Ok(FunctionCall {
                name: c.name,
                arguments,
            })
        })
        .collect::<Result<_, _>>()?;
    let truncated = finish == "length";
    if let Some((message_id, step_id)) = message {
        // With function calls in the same turn, the tokens are counted on the tool_calls step.
        let message_usage = if calls.is_empty() {
            usage
        } else {
            Usage::default()
        };
        store
            .complete_message(
                &claim.run,
                worker,
                &message_id,
                &step_id,
                &TurnText {
                    text,
                    usage: message_usage,
                    incomplete: truncated.then(|| "max_tokens".to_owned()),
                },
            )
            .await?;
    } else if calls.is_empty() {
        // An empty answer is still an answer: store an empty message so the run has its step.
        let (m, s) = store.begin_message(&claim.run, worker).await?;
        store
            .complete_message(
                &claim.run,
                worker,
                &m.id,
                &s.id,
                &TurnText {
                    text: String::new(),
                    usage,
                    incomplete: truncated.then(|| "max_tokens".to_owned()),
                },
            )
            .await?;
    }
    if calls.is_empty() {
        Ok(TurnEnd::Answered { truncated })
    } else {
        Ok(TurnEnd::Calls { calls, usage })
    }
}
