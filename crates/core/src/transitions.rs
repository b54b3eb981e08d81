//! The rules of a run's life that every store applies the same way: who may cancel what,
//! which tool outputs a waiting run accepts, how its open steps and messages end with it, and
//! the errors its steps show. Plain functions over wire objects; the stores only persist what
//! these decide. (A run's usage, the sum of its steps', is added up by the store's SQL as the
//! run ends.)

use crate::store::{StoreError, StoreResult};
use assistd_wire::{
    LastError, Run, RunStatus, RunStepStatus, StepDetails, StepToolCall, ToolOutput,
};
use std::collections::HashMap;

/// The statuses of an active run: one a thread may have at a time, and while it has one, no
/// message is added to it.
pub const ACTIVE: [RunStatus; 4] = [
    RunStatus::Queued,
    RunStatus::InProgress,
    RunStatus::RequiresAction,
    RunStatus::Cancelling,
];

/// What cancelling a run does, by its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Nothing executes the run (`queued`, `requires_action`): it ends `cancelled` at once.
    Now,
    /// An executor owns the run (`in_progress`): it becomes `cancelling`, and the executor
    /// finishes the cancellation.
    ByExecutor,
}

/// How a cancel request on a run with `status` proceeds; any other status is a 400.
pub fn cancel(status: RunStatus) -> StoreResult<Cancel> {
    match status {
        RunStatus::Queued | RunStatus::RequiresAction => Ok(Cancel::Now),
        RunStatus::InProgress => Ok(Cancel::ByExecutor),
        other => Err(StoreError::invalid(
            format!("Cannot cancel run with status '{}'.", other.as_str()),
            None,
        )),
    }
}

/// Checks the outputs submitted to `run` against the calls it waits for: the run must be in
/// `requires_action`, every output must name one pending call, no call twice, and every call
/// must be answered in this one request. Returns the outputs by call id.
pub fn accept_tool_outputs(
    run: &Run,
    outputs: &[ToolOutput],
) -> StoreResult<HashMap<String, String>> {
    let pending = match (&run.status, &run.required_action) {
        (RunStatus::RequiresAction, Some(action)) => &action.submit_tool_outputs.tool_calls,
        (status, _) => {
            return Err(StoreError::invalid(
                format!(
                    "Runs in status \"{}\" do not accept tool outputs.",
                    status.as_str()
                ),
                None,
            ));
        }
    };
    let mut by_call: HashMap<String, String> = HashMap::new();
    for (i, o) in outputs.iter().enumerate() {
        let param = format!("tool_outputs[{i}].tool_call_id");
        let Some(call_id) = o.tool_call_id.as_deref() else {
            return Err(StoreError::invalid(
                format!("Missing required parameter: '{param}'."),
                Some(&param),
            ));
        };
        if !pending.iter().any(|c| c.id == call_id) {
            return Err(StoreError::invalid(
                format!("Invalid '{param}': no pending tool call with id '{call_id}' on this run."),
                Some(&param),
            ));
        }
        if by_call
            .insert(call_id.to_owned(), o.output.clone().unwrap_or_default())
            .is_some()
        {
            return Err(StoreError::invalid(
                format!("Invalid '{param}': duplicate output for tool call '{call_id}'."),
                Some(&param),
            ));
        }
    }
    if pending.iter().any(|c| !by_call.contains_key(&c.id)) {
        let expected: Vec<&str> = pending.iter().map(|c| c.id.as_str()).collect();
        let got: Vec<&str> = outputs
            .iter()
            .filter_map(|o| o.tool_call_id.as_deref())
            .collect();
        return Err(StoreError::invalid(
            format!(
                "Expected tool outputs for call_ids {expected:?}, got {got:?}: all outputs must be submitted in a single request."
            ),
            Some("tool_outputs"),
        ));
    }
    Ok(by_call)
}

/// Writes accepted outputs into the function calls of a `tool_calls` step's details.
pub fn fill_tool_outputs<S: std::hash::BuildHasher>(
    details: &mut StepDetails,
    outputs: &HashMap<String, String, S>,
) {
    if let StepDetails::ToolCalls { tool_calls } = details {
        for call in tool_calls.iter_mut() {
            if let StepToolCall::Function { id, function } = call
                && let Some(out) = outputs.get(id.as_str())
            {
                function.output = Some(out.clone());
            }
        }
    }
}

/// How a run's open (`in_progress`) steps and messages end when the run ends with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenWorkEnd {
    /// The steps' new status.
    pub step_status: RunStepStatus,
    /// The open messages' `incomplete_details.reason`, if they end incomplete (they do unless
    /// the run completed).
    pub message_reason: Option<&'static str>,
}

/// How open steps and messages end along with a run ending `status`.
pub fn open_work_end(status: RunStatus) -> OpenWorkEnd {
    let (step_status, message_reason) = match status {
        RunStatus::Cancelled => (RunStepStatus::Cancelled, Some("run_cancelled")),
        RunStatus::Expired => (RunStepStatus::Expired, Some("run_expired")),
        RunStatus::Failed => (RunStepStatus::Failed, Some("run_failed")),
        // A token budget ended the run: the message being written was cut short.
        RunStatus::Incomplete => (RunStepStatus::Completed, Some("max_tokens")),
        _ => (RunStepStatus::Completed, None),
    };
    OpenWorkEnd {
        step_status,
        message_reason,
    }
}

/// The error a step that fails with its run carries: the run's, with the code narrowed to the
/// two a step may have (`rate_limit_exceeded` stays, anything else is `server_error`).
pub fn step_error(run_error: &LastError) -> LastError {
    LastError {
        code: if run_error.code == "rate_limit_exceeded" {
            run_error.code.clone()
        } else {
            "server_error".to_owned()
        },
        message: run_error.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_wire::{FunctionCall, RequiredAction, RunToolCallObject, SubmitToolOutputs};

    fn waiting_run(calls: &[&str]) -> Run {
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "id": "run_1", "object": "thread.run", "created_at": 1, "thread_id": "thread_1",
            "assistant_id": "asst_1", "status": "requires_action", "required_action": null,
            "last_error": null, "expires_at": null, "started_at": null, "cancelled_at": null,
            "failed_at": null, "completed_at": null, "incomplete_details": null,
            "model": "m", "instructions": "", "tools": [], "file_ids": [], "metadata": {},
            "usage": null, "temperature": 1.0, "top_p": 1.0, "max_prompt_tokens": null,
            "max_completion_tokens": null,
            "truncation_strategy": {"type": "auto", "last_messages": null},
            "tool_choice": "auto", "response_format": "auto"
        }))
        .expect("a run");
        run.required_action = Some(RequiredAction {
            type_: "submit_tool_outputs".to_owned(),
            submit_tool_outputs: SubmitToolOutputs {
                tool_calls: calls
                    .iter()
                    .map(|id| RunToolCallObject {
                        id: (*id).to_owned(),
                        type_: "function".to_owned(),
                        function: FunctionCall {
                            name: "f".to_owned(),
                            arguments: "{}".to_owned(),
                        },
                    })
                    .collect(),
            },
        });
        run
    }

    fn output(id: &str, out: &str) -> ToolOutput {
        ToolOutput {
            tool_call_id: Some(id.to_owned()),
            output: Some(out.to_owned()),
        }
    }

    fn param_of(e: StoreError) -> Option<String> {
        match e {
            StoreError::Invalid { param, .. } => param,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn tool_outputs_must_answer_every_pending_call_once() {
        let run = waiting_run(&["call_a", "call_b"]);
        let ok = accept_tool_outputs(&run, &[output("call_b", "2"), output("call_a", "1")])
            .expect("accepted");
        assert_eq!(ok.get("call_a").map(String::as_str), Some("1"));
        assert_eq!(ok.get("call_b").map(String::as_str), Some("2"));

        let missing = accept_tool_outputs(&run, &[output("call_a", "1")]).unwrap_err();
        assert_eq!(param_of(missing).as_deref(), Some("tool_outputs"));
        let unknown = accept_tool_outputs(&run, &[output("call_x", "1")]).unwrap_err();
        assert_eq!(
            param_of(unknown).as_deref(),
            Some("tool_outputs[0].tool_call_id")
        );
        let twice =
            accept_tool_outputs(&run, &[output("call_a", "1"), output("call_a", "2")]).unwrap_err();
        assert_eq!(
            param_of(twice).as_deref(),
            Some("tool_outputs[1].tool_call_id")
        );
        let no_id = ToolOutput {
            tool_call_id: None,
            output: None,
        };
        let anonymous = accept_tool_outputs(&run, &[no_id]).unwrap_err();
        assert_eq!(
            param_of(anonymous).as_deref(),
            Some("tool_outputs[0].tool_call_id")
        );
    }

    #[test]
    fn only_a_waiting_run_takes_outputs() {
        let mut run = waiting_run(&["call_a"]);
        run.status = RunStatus::InProgress;
        let e = accept_tool_outputs(&run, &[output("call_a", "1")]).unwrap_err();
        assert!(e.to_string().contains("\"in_progress\""), "{e}");
    }

    #[test]
    fn cancel_rules() {
        assert_eq!(cancel(RunStatus::Queued).ok(), Some(Cancel::Now));
        assert_eq!(cancel(RunStatus::RequiresAction).ok(), Some(Cancel::Now));
        assert_eq!(cancel(RunStatus::InProgress).ok(), Some(Cancel::ByExecutor));
        for s in [
            RunStatus::Cancelling,
            RunStatus::Cancelled,
            RunStatus::Completed,
            RunStatus::Incomplete,
            RunStatus::Failed,
            RunStatus::Expired,
        ] {
            assert!(cancel(s).is_err(), "{s:?} is cancellable");
        }
    }

    #[test]
    fn open_work_ends_with_the_run() {
        let failed = open_work_end(RunStatus::Failed);
        assert_eq!(failed.step_status, RunStepStatus::Failed);
        assert_eq!(failed.message_reason, Some("run_failed"));
        assert_eq!(
            open_work_end(RunStatus::Completed),
            OpenWorkEnd {
                step_status: RunStepStatus::Completed,
                message_reason: None
            }
        );
        let e = LastError {
            code: "invalid_prompt".to_owned(),
            message: "m".to_owned(),
        };
        assert_eq!(step_error(&e).code, "server_error");
        let limited = LastError {
            code: "rate_limit_exceeded".to_owned(),
            ..e
        };
        assert_eq!(step_error(&limited).code, "rate_limit_exceeded");
    }
}
