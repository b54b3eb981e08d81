//! Tool outputs: submitting them for one call and for parallel calls, and every way to get
//! the submission wrong.

use super::{
    WORKER, all_asc, assert_invalid, assert_not_found, assert_recent, call, ids, new_assistant,
    new_run, new_thread, output, project_a, require_tool_outputs, unix_now,
};
use assistd_core::{ObjectKind, Store};
use assistd_wire::{
    RunId, RunStatus, RunStepStatus, RunStepType, StepDetails, StepFunctionCall, StepToolCall,
    ToolOutput, Usage,
};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_tool_outputs {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            tool_outputs_single_call,
            tool_outputs_parallel_calls,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_tool_outputs as cases;

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

    assert!(step.id.as_str().starts_with("step_"), "id {}", step.id);
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
            .submit_tool_outputs(
                &p,
                &thread,
                &RunId::from("run_nope"),
                vec![output(&call_id, "1")],
            )
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
        vec![step.id.to_string()]
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
    let listed = store
        .list_run_steps(&p, &thread, &run.id, &all_asc())
        .await
        .unwrap();
    assert_eq!(
        ids(&listed),
        vec![step.id.to_string(), step2.id.to_string()]
    );
    assert_eq!(
        listed.data[0], done,
        "first step untouched by the second round"
    );
    assert_eq!(listed.data[1].status, RunStepStatus::Completed);
}
