//! Helpers of the executor's unit tests.

use assistd_wire::{RunStep, RunStepStatus, RunStepType, StepDetails};

/// A completed step of run `run_1` with these details.
pub fn step(details: &StepDetails) -> RunStep {
    serde_json::from_value::<RunStep>(serde_json::json!({
        "id": "step_1", "object": "thread.run.step", "created_at": 1,
        "assistant_id": "asst_1", "thread_id": "thread_1", "run_id": "run_1",
        "type": RunStepType::ToolCalls.as_str(), "status": RunStepStatus::Completed.as_str(),
        "step_details": details, "last_error": null, "expired_at": null,
        "cancelled_at": null, "failed_at": null, "completed_at": 2, "metadata": null,
        "usage": null
    }))
    .expect("a step")
}

/// Checks that characters `start..end` of `text` are exactly `expected`, as an annotation's
/// indices must slice its text.
#[track_caller]
pub fn assert_slices(text: &str, start: u32, end: u32, expected: &str) {
    let sliced: String = text
        .chars()
        .skip(start as usize)
        .take(end.saturating_sub(start) as usize)
        .collect();
    assert_eq!(sliced, expected);
}
