//! The tool resources a run's built-in tools read: its assistant's and its thread's, as they
//! are when the tool runs.

use assistd_core::{Project, Store, StoreError};
use assistd_wire::{Run, ToolResources};

/// The run's assistant's and thread's tool resources, in that order; an assistant or thread
/// deleted since the run started adds none.
pub async fn of_run(
    store: &dyn Store,
    project: &Project,
    run: &Run,
) -> Result<Vec<ToolResources>, StoreError> {
    let mut out = Vec::with_capacity(2);
    match store.get_assistant(project, &run.assistant_id).await {
        Ok(a) => out.extend(a.tool_resources),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    match store.get_thread(project, &run.thread_id).await {
        Ok(t) => out.extend(t.tool_resources),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}
