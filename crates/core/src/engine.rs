//! The store operations of the run executor. Every transition is conditional on the caller
//! still holding the run's lease, so a worker that lost its lease (it stalled, or another
//! instance took the run over) can never overwrite the new owner's work.

use crate::ids::{IdKind, new_id};
use crate::project::Project;
use crate::store::StoreResult;
use assistd_wire::{
    FunctionCall, LastError, Message, MessageId, Run, RunId, RunStatus, RunStep, RunToolCallObject,
    StepId, StepToolCall, TextAnnotation, ThreadId, Usage,
};
use async_trait::async_trait;
use std::time::Duration;

/// A run claimed by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    /// Its project.
    pub project: Project,
    /// The run, as it is after the claim (`in_progress` or `cancelling`).
    pub run: Run,
    /// The lease owner: names this execution of the run, and no other.
    pub worker: String,
    /// Appended to the instructions.
    pub additional_instructions: Option<String>,
    /// How many times the run has been claimed, this claim included.
    pub attempt: i64,
    /// The instance whose client streams the run, if any (see [`crate::NewRun::streamer`]).
    pub streamer: Option<String>,
    /// The sampling parameters someone set (the run shows 1.0 for the others, which the model
    /// request leaves out).
    pub sampling: Sampling,
}

/// A claim made by the transaction that creates a run ([`crate::RunStore::create_run_claimed`]):
/// an instance with a free worker starts the run it was asked for at once, without waiting for
/// a dispatcher's claim (a wake-up and one more write). Under a cap it is made only while the
/// project executes fewer than `max_per_project` runs and has none waiting; concurrent
/// creations, each counting before the others commit, may overshoot the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAtCreation {
    /// The lease owner: names this execution of the run, and no other.
    pub worker: String,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
    /// Runs of one project executing at once, at most (as [`EngineStore::claim_run_within`]).
    pub max_per_project: u32,
}

/// The sampling parameters the run's request or its assistant set; `None`: nobody did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampling {
    /// `temperature`
    pub temperature: Option<f64>,
    /// `top_p`
    pub top_p: Option<f64>,
}

/// The outcome of a lease renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still ours; the run's current status.
    Held(RunStatus),
    /// Taken over or finished elsewhere: stop working on it.
    Lost,
}

/// The text a turn produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnText {
    /// The whole text.
    pub text: String,
    /// Tokens of the turn.
    pub usage: Usage,
    /// Why the message is incomplete (`max_tokens`, ...), if it is.
    pub incomplete: Option<String>,
    /// Its citations of files the run's searches found, and links to files its code wrote.
    pub annotations: Vec<TextAnnotation>,
    /// Images the run's code drew since its last message, shown before the text (file ids).
    pub images: Vec<String>,
}

/// What the executor needs from storage.
#[async_trait]
pub trait EngineStore: Send + Sync {
    /// Claims a runnable run: a `queued` one, or an `in_progress`/`cancelling` one whose lease
    /// has expired (its worker died). A queued run becomes `in_progress`. Claims are fair across
    /// projects: the run is one of the project with the fewest runs executing (under a live
    /// lease, in any process), the oldest of that project; so no project waits behind another's
    /// backlog.
    async fn claim_run(&self, worker: &str, lease: Duration) -> StoreResult<Option<ClaimedRun>> {
        self.claim_run_within(worker, lease, u32::MAX).await
    }

    /// [`EngineStore::claim_run`], passing over the projects that already execute
    /// `max_per_project` runs: what keeps workers free for other projects while one project's
    /// runs stall. Concurrent claims from several processes may overshoot it by a few.
    async fn claim_run_within(
        &self,
        worker: &str,
        lease: Duration,
        max_per_project: u32,
    ) -> StoreResult<Option<ClaimedRun>>;

    /// Claims up to `limit` runs at once, as [`EngineStore::claim_run_within`] would claim
    /// them one after another; a batch takes turns between projects. Each run's lease owner
    /// ([`ClaimedRun::worker`]) is `worker` followed by the run's id, so that every execution
    /// has a name of its own.
    async fn claim_runs(
        &self,
        worker: &str,
        lease: Duration,
        max_per_project: u32,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedRun>>;

    /// Extends the lease and reports the run's status (to notice `cancelling` and expiry).
    async fn renew_lease(
        &self,
        run_id: &RunId,
        worker: &str,
        lease: Duration,
    ) -> StoreResult<Lease>;

    /// Releases the lease without changing the status (the run stays claimable).
    async fn release_run(&self, run_id: &RunId, worker: &str) -> StoreResult<()>;

    /// Removes what an interrupted turn left: `in_progress` steps of the run and the
    /// `in_progress` messages they were writing. Called before a turn starts, so a retried turn
    /// never duplicates a message or a step.
    async fn discard_partial_turn(&self, run_id: &RunId, worker: &str) -> StoreResult<()>;

    /// A page of the thread's history as a run's prompt sees it: up to `limit` messages
    /// older than `before` (the newest when `None`), newest first, leaving out `run_id`'s own
    /// messages and messages still in progress. A prompt reads back only as far as it needs.
    async fn thread_history(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// The messages the run wrote, oldest first.
    async fn run_messages(&self, project: &Project, run_id: &RunId) -> StoreResult<Vec<Message>>;

    /// The run's steps, oldest first.
    async fn run_steps(&self, project: &Project, run_id: &RunId) -> StoreResult<Vec<RunStep>>;

    /// Starts an assistant message and its `message_creation` step, both `in_progress`.
    async fn begin_message(&self, run: &Run, worker: &str) -> StoreResult<(Message, RunStep)>;

    /// Stores the content written so far into an `in_progress` message of the run: its
    /// `images` (file ids), then a `text` part without annotations, the shape the completed
    /// message has. While the turn streams (so pollers see the text grow) and before the run
    /// ends early (so the message keeps what was streamed). Writes nothing unless `worker`
    /// holds the run's lease and the message is still in progress.
    async fn save_text(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        images: &[String],
        text: &str,
    ) -> StoreResult<()>;

    /// Completes the message with its text and the step with its usage; returns both as they
    /// now are.
    async fn complete_message(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        step_id: &StepId,
        text: &TurnText,
    ) -> StoreResult<(Message, RunStep)>;

    /// [`EngineStore::complete_message`], then [`EngineStore::finish_run`] with `status` and no
    /// error, in one transaction: the turn that answers ends its run with one write instead of
    /// two. Fails as `complete_message` does if the lease was lost; returns the message, the
    /// step and the run as they now are.
    #[expect(
        clippy::too_many_arguments,
        reason = "the two calls it joins, with their arguments"
    )]
    async fn complete_message_and_finish(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        step_id: &StepId,
        text: &TurnText,
        status: RunStatus,
        incomplete_reason: Option<&str>,
    ) -> StoreResult<(Message, RunStep, Run)>;

    /// Opens an `in_progress` `tool_calls` step (with no calls yet) for a turn whose function
    /// calls are streaming in. `None` if the lease was lost or the run is no longer running.
    async fn begin_tool_calls(&self, run: &Run, worker: &str) -> StoreResult<Option<RunStep>>;

    /// Fills the `tool_calls` step `step_id` with the turn's calls and usage, and puts the run
    /// in `requires_action`, releasing the lease. `done` are calls of the same turn the server
    /// already executed (file searches), listed before the functions. `None` if the lease was
    /// lost or the run is no longer running.
    async fn require_action_for_step(
        &self,
        run: &Run,
        worker: &str,
        step_id: &StepId,
        done: Vec<StepToolCall>,
        calls: Vec<RunToolCallObject>,
        usage: Usage,
    ) -> StoreResult<Option<(Run, RunStep)>>;

    /// Fills the `tool_calls` step `step_id` with calls the server executed itself and
    /// completes it with `usage`; the run goes on. `None` if the lease was lost or the run is no
    /// longer running.
    async fn complete_tool_calls(
        &self,
        run: &Run,
        worker: &str,
        step_id: &StepId,
        done: Vec<StepToolCall>,
        usage: Usage,
    ) -> StoreResult<Option<RunStep>>;

    /// Records a turn of function calls as a new `tool_calls` step (giving each call a `call_`
    /// id) and puts the run in `requires_action`, releasing the lease.
    async fn require_action(
        &self,
        run: &Run,
        worker: &str,
        calls: Vec<FunctionCall>,
        usage: Usage,
    ) -> StoreResult<Option<Run>> {
        let Some(step) = self.begin_tool_calls(run, worker).await? else {
            return Ok(None);
        };
        let calls = calls
            .into_iter()
            .map(|function| RunToolCallObject {
                id: new_id(IdKind::ToolCall),
                type_: "function".to_owned(),
                function,
            })
            .collect();
        Ok(self
            .require_action_for_step(run, worker, &step.id, Vec::new(), calls, usage)
            .await?
            .map(|(run, _)| run))
    }

    /// Ends the run: `completed`, `incomplete`, `failed`, `cancelled` or `expired`. In-progress steps and
    /// messages end with it (cancelled, failed, expired). The run's usage is the sum of its
    /// steps'. Returns `None` if the lease was lost.
    async fn finish_run(
        &self,
        run: &Run,
        worker: &str,
        status: RunStatus,
        last_error: Option<LastError>,
        incomplete_reason: Option<&str>,
    ) -> StoreResult<Option<Run>>;

    /// Expires every unleased run past its `expires_at` (queued, `requires_action`, or abandoned
    /// mid-run), returning how many.
    async fn expire_due_runs(&self) -> StoreResult<u64>;
}
