//! Workers, leases, cancellation and expiry.

use crate::events::{EventBus, lock};
use crate::prompt::{self, Offer, SearchMode};
use crate::turn::{Open, TurnCtx, TurnEnd, TurnError, run_turn};
use crate::{code_interpreter, file_search};
use assistd_core::code::CodeRunner;
use assistd_core::model::{ChatRequest, ModelBackend, ModelError};
use assistd_core::search::Searcher;
use assistd_core::{ClaimAtCreation, ClaimedRun, Lease, Signal, Signals, Store};
use assistd_wire::{
    AssistantTool, ErrorType, LastError, LastErrorCode, MessageRole, Run, RunId, RunStatus,
    RunStep, StepId, StreamEvent, Usage,
};
use opentelemetry::trace::TraceContextExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Runs executed at once by this process.
    pub workers: usize,
    /// How long a claim lasts without renewal; a dead worker's runs are taken over after it.
    pub lease: Duration,
    /// How often an idle worker looks for work when nothing wakes it.
    pub poll_interval: Duration,
    /// Model turns allowed per run before it fails.
    pub max_turns: usize,
    /// Retries of a turn that failed mid-stream (the request itself is retried by the backend).
    pub turn_retries: u32,
    /// Estimated tokens of thread history a prompt carries at most (a run's own
    /// `max_prompt_tokens` may ask for less); older messages are left out, and never read.
    pub max_history_tokens: i64,
    /// Runs of one project executing at once (counted across every process sharing the
    /// database); its other runs wait while other projects' runs are claimed.
    pub max_runs_per_project: u32,
    /// How often the text of a message being written is stored at most, so that pollers see
    /// it while it streams (zero: only when the message ends). Each flush is one small UPDATE.
    pub text_flush: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            workers: 32,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            max_turns: 16,
            turn_retries: 2,
            max_history_tokens: 128_000,
            max_runs_per_project: u32::MAX,
            text_flush: Duration::from_millis(200),
        }
    }
}

/// Why a run's token fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancel,
    Expire,
    LeaseLost,
    Shutdown,
}

/// Why a running run was told to stop; the first reason wins.
type StopReason = Arc<Mutex<Option<Stop>>>;

struct Inner {
    store: Arc<dyn Store>,
    models: Arc<dyn ModelBackend>,
    /// Searches for `file_search`; without it, runs with the tool fail at start.
    searcher: Option<Arc<dyn Searcher>>,
    /// Runs `code_interpreter` calls; without it, runs with the tool fail at start.
    code: Option<Arc<dyn CodeRunner>>,
    events: Arc<EventBus>,
    cfg: ExecutorConfig,
    /// A permit per run executing here (`cfg.workers`): taken by the dispatcher's claims, and
    /// by runs claimed as they are created here ([`ExecutorHandle::reserve`]).
    slots: Arc<Semaphore>,
    wake: Notify,
    running: Mutex<HashMap<RunId, (CancellationToken, StopReason)>>,
    shutdown: CancellationToken,
    instance: String,
    /// The trace of the request that queued each run, until a worker here claims it: the run's
    /// execution joins that trace. In memory only, so a run executed by another instance
    /// starts a trace of its own there.
    parents: Mutex<HashMap<RunId, opentelemetry::Context>>,
}

/// Traces remembered for queued runs at most; past it they are forgotten (runs claimed by other
/// instances never collect theirs).
const MAX_PARENTS: usize = 10_000;

/// Runs claimed by one statement, at most.
const CLAIM_BATCH: usize = 64;

/// Talks to a running executor: wake it when runs are queued, cancel runs, shut it down.
#[derive(Clone)]
pub struct ExecutorHandle {
    inner: Arc<Inner>,
    tasks: TaskTracker,
}

/// The run engine.
pub struct Executor;

/// What an executor works with besides storage and models; each is optional.
#[derive(Default, Clone)]
pub struct Services {
    /// Signals from other instances sharing the database: queued runs wake the dispatcher,
    /// cancels stop runs executing here.
    pub signals: Option<Arc<dyn Signals>>,
    /// Searches for runs with `file_search`.
    pub searcher: Option<Arc<dyn Searcher>>,
    /// Runs the code of runs with `code_interpreter`.
    pub code: Option<Arc<dyn CodeRunner>>,
}

impl Executor {
    /// Starts `cfg.workers` workers and the expiry sweeper; run events go to `events`.
    pub fn start(
        store: Arc<dyn Store>,
        models: Arc<dyn ModelBackend>,
        events: Arc<EventBus>,
        cfg: ExecutorConfig,
    ) -> ExecutorHandle {
        Self::start_with(store, models, events, cfg, Services::default())
    }

    /// [`Executor::start`] with the [`Services`] this process has: signals from other
    /// instances, file search, the code interpreter.
    pub fn start_with(
        store: Arc<dyn Store>,
        models: Arc<dyn ModelBackend>,
        events: Arc<EventBus>,
        cfg: ExecutorConfig,
        services: Services,
    ) -> ExecutorHandle {
        let Services {
            signals,
            searcher,
            code,
        } = services;
        let inner = Arc::new(Inner {
            store,
            models,
            searcher,
            code,
            events,
            slots: Arc::new(Semaphore::new(cfg.workers.max(1))),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            instance: format!("w-{}", uuid::Uuid::new_v4().simple()),
            parents: Mutex::new(HashMap::new()),
            cfg,
        });
        let tasks = TaskTracker::new();
        tasks.spawn(dispatch_loop(inner.clone(), tasks.clone()));
        tasks.spawn(sweep_loop(inner.clone()));
        if let Some(signals) = signals {
            tasks.spawn(signal_loop(inner.clone(), signals));
        }
        tasks.close();
        ExecutorHandle { inner, tasks }
    }
}

impl ExecutorHandle {
    /// A run was queued: wake an idle worker.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// `run_id` was queued by the current request: its execution joins the request's trace
    /// (when traces are exported), and an idle worker is woken.
    pub fn queued(&self, run_id: &RunId) {
        remember_parent(&self.inner, run_id);
        self.wake();
    }

    /// A free worker for a run about to be created by the current request, if there is one:
    /// the run can then be claimed by the transaction that creates it, and start here at once
    /// ([`Reserved::start`]). Dropped unused, the worker is free again.
    pub fn reserve(&self) -> Option<Reserved> {
        if self.inner.shutdown.is_cancelled() {
            return None;
        }
        let permit = self.inner.slots.clone().try_acquire_owned().ok()?;
        Some(Reserved {
            handle: self.clone(),
            permit,
            _tracked: self.tasks.token(),
        })
    }

    /// A run was asked to cancel: stop its model request now if this process runs it.
    pub fn cancel(&self, run_id: &RunId) {
        signal(&self.inner, run_id, Stop::Cancel);
    }

    /// Stops claiming, interrupts running turns and releases their runs for whoever starts
    /// next, then waits for the workers.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let running: Vec<RunId> = lock(&self.inner.running).keys().cloned().collect();
        for id in running {
            signal(&self.inner, &id, Stop::Shutdown);
        }
        self.tasks.wait().await;
    }
}

/// A worker held for a run being created ([`ExecutorHandle::reserve`]).
pub struct Reserved {
    handle: ExecutorHandle,
    permit: tokio::sync::OwnedSemaphorePermit,
    /// Shutdown waits for a reserved worker as for a running one: the run it may start is
    /// then tracked before shutdown stops waiting.
    _tracked: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Reserved {
    /// The claim for the store to make when it creates run `run_id`.
    pub fn claim(&self, run_id: &RunId) -> ClaimAtCreation {
        let inner = &self.handle.inner;
        ClaimAtCreation {
            // Never made by the dispatcher (its owners carry a claim number), and a run is
            // created once: this names one execution.
            worker: format!("{}-new-{run_id}", inner.instance),
            lease: inner.cfg.lease,
            max_per_project: inner.cfg.max_runs_per_project,
        }
    }

    /// Executes the run the store claimed as it created it; its execution joins the current
    /// request's trace.
    pub fn start(self, claim: ClaimedRun) {
        let Self { handle, permit, .. } = self;
        remember_parent(&handle.inner, &claim.run.id);
        record_claim(&claim);
        handle
            .tasks
            .spawn(supervise(handle.inner.clone(), claim, permit));
    }
}

/// Remembers the current trace (when traces are exported) as the one `run_id`'s execution here
/// joins; `supervise` takes it back.
fn remember_parent(inner: &Inner, run_id: &RunId) {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        let mut parents = lock(&inner.parents);
        if parents.len() >= MAX_PARENTS {
            parents.clear();
        }
        parents.insert(run_id.clone(), cx);
    }
}

fn signal(inner: &Inner, run_id: &RunId, why: Stop) {
    if let Some((token, reason)) = lock(&inner.running).get(run_id) {
        lock(reason).get_or_insert(why);
        token.cancel();
    }
}

/// Acts on other instances' signals until shutdown. Without a subscription (the database is
/// unreachable) it retries: polling and lease renewal keep the engine correct meanwhile.
async fn signal_loop(inner: Arc<Inner>, signals: Arc<dyn Signals>) {
    crate::follow::follow(
        "signals",
        &inner.shutdown,
        || signals.subscribe(),
        |next| {
            match next {
                Some(Signal::Queued) => inner.wake.notify_one(),
                Some(Signal::Cancel(run_id)) => signal(&inner, &run_id, Stop::Cancel),
                None => {}
            }
            std::ops::ControlFlow::Continue(())
        },
    )
    .await;
}

/// Claims runs while a worker slot is free and executes each in its own task. One loop claims
/// for the whole process, so idle capacity costs one claim query per poll interval, not one per
/// slot.
async fn dispatch_loop(inner: Arc<Inner>, tasks: TaskTracker) {
    let slots = inner.slots.clone();
    let mut claims: u64 = 0;
    loop {
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = inner.shutdown.cancelled() => return,
        };
        // As many runs as there are free slots, up to a batch: a burst of queued runs is
        // claimed by a few statements, not one each.
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH
            && let Ok(p) = slots.clone().try_acquire_owned()
        {
            permits.push(p);
        }
        claims += 1;
        // A lease owner names one execution (this prefix, then the run's id), so a stale
        // owner can never match a new claim.
        let worker = format!("{}-{claims}-", inner.instance);
        let wanted = permits.len();
        let claimed = match inner
            .store
            .claim_runs(
                &worker,
                inner.cfg.lease,
                inner.cfg.max_runs_per_project,
                u32::try_from(wanted).unwrap_or(u32::MAX),
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "claiming runs failed");
                Vec::new()
            }
        };
        let full = claimed.len() >= wanted;
        for claim in claimed {
            let Some(permit) = permits.pop() else {
                // The store returned more than asked: it keeps its lease until it expires and
                // another claim takes it.
                tracing::error!(run_id = %claim.run.id, "claimed more runs than asked for");
                continue;
            };
            record_claim(&claim);
            tasks.spawn(supervise(inner.clone(), claim, permit));
        }
        drop(permits);
        if !full {
            tokio::select! {
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(inner.cfg.poll_interval) => {}
                () = inner.shutdown.cancelled() => return,
            }
        }
    }
}

/// Executes one claimed run; a panic inside fails that run and nothing else.
async fn supervise(inner: Arc<Inner>, claim: ClaimedRun, _slot: tokio::sync::OwnedSemaphorePermit) {
    let run_id = claim.run.id.clone();
    let worker = claim.worker.clone();
    // Its client streams the run from another instance: the events go there too, until the
    // run stops here (this function's end, a panic included).
    let _relayed = inner
        .events
        .relay_run(&run_id, claim.attempt, claim.streamer.as_deref());
    let span = tracing::info_span!("run", run_id = %run_id, attempt = claim.attempt);
    if let Some(cx) = lock(&inner.parents).remove(&run_id) {
        let _ = span.set_parent(cx);
    }
    let started = std::time::Instant::now();
    let task = tokio::spawn(execute(inner.clone(), worker.clone(), claim.clone()).instrument(span));
    if let Err(e) = task.await {
        tracing::error!(run_id = %run_id, error = %e, "run execution panicked");
        publish_internal_error(&inner.events, &run_id);
        let ended = inner
            .store
            .finish_run(
                &claim.run,
                &worker,
                RunStatus::Failed,
                Some(LastError::new(LastErrorCode::ServerError, INTERNAL_ERROR)),
                None,
            )
            .await;
        if let Ok(Some(run)) = ended {
            record_end(&run);
            inner.events.publish_run(&run);
        }
    }
    metrics::histogram!("assistd_run_execution_seconds").record(started.elapsed().as_secs_f64());
    lock(&inner.running).remove(&run_id);
}

/// Metrics of a claim: claims, and how long a new run waited in the queue (a run resumed after
/// tool outputs waited on its client first, which is not queueing).
fn record_claim(claim: &ClaimedRun) {
    metrics::counter!("assistd_runs_claimed_total").increment(1);
    if claim.attempt == 1 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "seconds of queueing: far below 2^52"
        )]
        let waited = (now() - claim.run.created_at).max(0) as f64;
        metrics::histogram!("assistd_run_queue_wait_seconds").record(waited);
    }
}

/// Metrics of a run that ended (or stopped for tool outputs): by status, and its age.
fn record_end(run: &Run) {
    let status = run.status.as_str();
    metrics::counter!("assistd_runs_ended_total", "status" => status).increment(1);
    #[expect(
        clippy::cast_precision_loss,
        reason = "seconds of a run's life: far below 2^52"
    )]
    let age = (now() - run.created_at).max(0) as f64;
    metrics::histogram!("assistd_run_duration_seconds", "status" => status).record(age);
}

async fn sweep_loop(inner: Arc<Inner>) {
    loop {
        match inner.store.expire_due_runs().await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("assistd_runs_ended_total", "status" => RunStatus::Expired.as_str())
                    .increment(n);
                tracing::info!(expired = n, "expired runs");
            }
            Err(e) => tracing::error!(error = %e, "expiring runs failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = inner.shutdown.cancelled() => return,
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Publishes an `error` event: the server itself failed (storage, a panic), as opposed to a
/// run that failed for a reason its `last_error` explains. The official Node SDK throws on
/// any `error` event, so an ordinary failed run only gets `thread.run.failed`.
fn publish_internal_error(events: &EventBus, run_id: &RunId) {
    events.publish(
        run_id,
        StreamEvent::Error,
        &assistd_wire::Error {
            message: INTERNAL_ERROR.to_owned(),
            type_: ErrorType::ServerError.as_str().to_owned(),
            param: None,
            // The code the run itself fails with, so the event and `last_error` agree.
            code: Some(LastErrorCode::ServerError.as_str().to_owned()),
        },
    );
}

/// What a client is told when the server itself failed while executing a run.
const INTERNAL_ERROR: &str = "The server had an internal error while executing the run.";

/// Renews the lease every third of its length; fires `token` when the run is cancelled,
/// expires, or is lost to another worker.
async fn heartbeat(
    inner: Arc<Inner>,
    run_id: RunId,
    expires_at: Option<i64>,
    worker: String,
    token: CancellationToken,
    reason: StopReason,
) {
    // A renewal is a write, one per run in flight: at a third of the lease, thousands of runs
    // waiting on their models cost the database little. Cancels arrive at once as signals (in
    // memory, or LISTEN/NOTIFY between instances); the renewal also notices one whose signal
    // was lost. Expiry needs no database: the run's `expires_at` is known. A renewal that
    // fails is tried again within a second, and a lease not renewed for its whole length is
    // taken as lost (another worker may claim the run by then).
    let every = (inner.cfg.lease / 3).max(Duration::from_millis(100));
    let retry = every.min(Duration::from_secs(1));
    let mut renewed = std::time::Instant::now();
    let mut failing = false;
    loop {
        let until_expiry = expires_at
            .map(|e| Duration::from_secs(u64::try_from(e.saturating_sub(now())).unwrap_or(0)));
        let next = if failing { retry } else { every };
        let nap = until_expiry.map_or(next, |u| u.min(next));
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = token.cancelled() => return,
        }
        if expires_at.is_some_and(|e| now() >= e) {
            lock(&reason).get_or_insert(Stop::Expire);
            token.cancel();
            return;
        }
        let why = match inner
            .store
            .renew_lease(&run_id, &worker, inner.cfg.lease)
            .await
        {
            Ok(Lease::Held(status)) => {
                renewed = std::time::Instant::now();
                failing = false;
                (status == RunStatus::Cancelling).then_some(Stop::Cancel)
            }
            Ok(Lease::Lost) => Some(Stop::LeaseLost),
            Err(e) if renewed.elapsed() >= inner.cfg.lease => {
                tracing::warn!(run_id = %run_id, error = %e, "lease renewal failed for the lease's whole length");
                Some(Stop::LeaseLost)
            }
            Err(e) => {
                tracing::warn!(run_id = %run_id, error = %e, "lease renewal failed");
                failing = true;
                None
            }
        };
        if let Some(why) = why {
            lock(&reason).get_or_insert(why);
            token.cancel();
            return;
        }
    }
}

/// Executes a claimed run until it ends, waits for tool outputs, or is interrupted.
async fn execute(inner: Arc<Inner>, worker: String, claim: ClaimedRun) {
    let run = &claim.run;
    if let Some((status, err)) = ends_before_start(run, &inner) {
        // The claim started the run (it reports `started_at`), so its stream shows it in
        // progress before it ends, as OpenAI's does; one claimed `cancelling` was shown in
        // progress when it first started.
        if run.status == RunStatus::InProgress {
            inner
                .events
                .publish(&run.id, StreamEvent::RunInProgress, run);
        }
        return close(&inner, &claim, &worker, status, err, &Open::default()).await;
    }
    // A first claim has nothing to discard: no turn of the run ever started.
    if claim.attempt > 1
        && let Err(e) = inner.store.discard_partial_turn(&run.id, &worker).await
    {
        tracing::error!(run_id = %run.id, error = %e, "could not discard a partial turn");
        return;
    }
    inner
        .events
        .publish(&run.id, StreamEvent::RunInProgress, run);

    let token = CancellationToken::new();
    let reason: StopReason = Arc::new(Mutex::new(None));
    lock(&inner.running).insert(run.id.clone(), (token.clone(), reason.clone()));
    if inner.shutdown.is_cancelled() {
        lock(&reason).get_or_insert(Stop::Shutdown);
        token.cancel();
    }
    let beat = tokio::spawn(heartbeat(
        inner.clone(),
        run.id.clone(),
        run.expires_at,
        worker.clone(),
        token.clone(),
        reason.clone(),
    ));
    let mut open = Open::default();
    let outcome = drive(&inner, &worker, &claim, &token, &mut open).await;
    token.cancel();
    let _ = beat.await;
    let why = *lock(&reason);
    conclude(&inner, &claim, &worker, outcome, why, &open).await;
}

/// How a claimed run ends without a turn: cancelled or expired while it waited, or asking for a
/// tool this server does not have.
fn ends_before_start(run: &Run, inner: &Inner) -> Option<(RunStatus, Option<LastError>)> {
    if run.status == RunStatus::Cancelling {
        return Some((RunStatus::Cancelled, None));
    }
    if run.expires_at.is_some_and(|e| now() >= e) {
        return Some((RunStatus::Expired, None));
    }
    let tool = run.tools.iter().find_map(|t| match t {
        AssistantTool::CodeInterpreter if inner.code.is_none() => Some("code_interpreter"),
        AssistantTool::FileSearch(_) if inner.searcher.is_none() => Some("file_search (retrieval)"),
        AssistantTool::CodeInterpreter
        | AssistantTool::FileSearch(_)
        | AssistantTool::Function { .. } => None,
    })?;
    let message =
        format!("The {tool} tool is not enabled on this server; remove it from the run's tools.");
    Some((
        RunStatus::Failed,
        Some(LastError::new(LastErrorCode::ServerError, message)),
    ))
}

/// Ends the run as its turns' `outcome` and the reason it was stopped (`why`) say.
async fn conclude(
    inner: &Inner,
    claim: &ClaimedRun,
    worker: &str,
    outcome: Result<(), TurnError>,
    why: Option<Stop>,
    open: &Open,
) {
    let run = &claim.run;
    let store = inner.store.as_ref();
    let (status, err) = match outcome {
        Ok(()) => return,
        Err(TurnError::Interrupted) => match why {
            Some(Stop::Cancel) => (RunStatus::Cancelled, None),
            Some(Stop::Expire) => (RunStatus::Expired, None),
            Some(Stop::Shutdown) => {
                let _ = store.discard_partial_turn(&run.id, worker).await;
                let _ = store.release_run(&run.id, worker).await;
                return;
            }
            Some(Stop::LeaseLost) | None => return,
        },
        Err(TurnError::Model(e) | TurnError::ModelStart(e)) => {
            // The backend logged the upstream's own words (masked); this ties them to the run.
            tracing::warn!(run_id = %run.id, error = %e, "the model failed the run");
            let code = match e {
                ModelError::RateLimited { .. } => LastErrorCode::RateLimitExceeded,
                _ => LastErrorCode::ServerError,
            };
            (RunStatus::Failed, Some(LastError::new(code, e.to_string())))
        }
        Err(TurnError::BadToolCall(m) | TurnError::ToolUnavailable(m)) => (
            RunStatus::Failed,
            Some(LastError::new(LastErrorCode::ServerError, m)),
        ),
        Err(TurnError::Store(e)) => {
            tracing::error!(run_id = %run.id, error = %e, "storage failed while executing a run");
            publish_internal_error(&inner.events, &run.id);
            let message = "The server could not store the run's progress.";
            (
                RunStatus::Failed,
                Some(LastError::new(LastErrorCode::ServerError, message)),
            )
        }
    };
    close(inner, claim, worker, status, err, open).await;
}

/// Ends the run early: keeps the text streamed so far in the open message, ends the run (which
/// ends its open message and steps with it), and publishes those endings, then the run's.
async fn close(
    inner: &Inner,
    claim: &ClaimedRun,
    worker: &str,
    status: RunStatus,
    err: Option<LastError>,
    open: &Open,
) {
    let store = inner.store.as_ref();
    let run = &claim.run;
    let ended = async {
        if let Some((message_id, _)) = &open.message {
            store
                .save_text(run, worker, message_id, &open.images, &open.text)
                .await?;
        }
        store.finish_run(run, worker, status, err, None).await
    }
    .await;
    let ended = match ended {
        Ok(Some(ended)) => ended,
        Ok(None) => return,
        Err(e) => {
            // Nobody else to tell: the lease runs out and another worker takes the run over.
            tracing::error!(run_id = %run.id, error = %e, "could not end the run");
            return;
        }
    };
    record_end(&ended);
    end_session(inner, &run.id).await;
    let (p, t) = (&claim.project, &run.thread_id);
    if let Some((message_id, step_id)) = &open.message {
        if let Ok(m) = store.get_message(p, t, message_id).await {
            let name = StreamEvent::for_message_status(m.status);
            inner.events.publish(&run.id, name, &m);
        }
        publish_step_end(inner, claim, step_id).await;
    }
    if let Some(step_id) = &open.tool_step {
        publish_step_end(inner, claim, step_id).await;
    }
    inner.events.publish_run(&ended);
}

async fn publish_step_end(inner: &Inner, claim: &ClaimedRun, step_id: &StepId) {
    let run = &claim.run;
    if let Ok(step) = inner
        .store
        .get_run_step(&claim.project, &run.thread_id, &run.id, step_id)
        .await
    {
        let name = StreamEvent::for_step_status(step.status);
        inner.events.publish(&run.id, name, &step);
    }
}

/// Ends the run and publishes its terminal event.
async fn end(
    inner: &Inner,
    run: &Run,
    worker: &str,
    status: RunStatus,
    err: Option<LastError>,
    incomplete: Option<&str>,
) -> Result<(), TurnError> {
    if let Some(run) = inner
        .store
        .finish_run(run, worker, status, err, incomplete)
        .await?
    {
        announce_end(inner, &run).await;
    }
    Ok(())
}

/// What follows a run's end here: its metrics, its code interpreter session goes, and its
/// stream hears the end.
async fn announce_end(inner: &Inner, run: &Run) {
    record_end(run);
    end_session(inner, &run.id).await;
    inner.events.publish_run(run);
}

/// The run ended: its code interpreter session, if it had one here, goes.
async fn end_session(inner: &Inner, run_id: &RunId) {
    if let Some(code) = &inner.code {
        code.end(run_id).await;
    }
}

/// What the next turn may use of the run's token budgets (`None`: no cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// Completion tokens.
    completion: Option<i64>,
    /// Prompt tokens.
    prompt: Option<i64>,
}

/// What the next turn may use, or the budget the run has used up (`max_prompt_tokens`,
/// `max_completion_tokens`), which ends it `incomplete`. Both caps cover the whole run, as
/// OpenAI counts them: the sum over the turns so far.
fn budget(run: &Run, steps: &[RunStep]) -> Result<Budget, &'static str> {
    let usages = steps.iter().filter_map(|s| s.usage);
    let completion: i64 = usages.clone().map(|u| u.completion_tokens).sum();
    let prompt: i64 = usages.map(|u| u.prompt_tokens).sum();
    let left = |cap: Option<i64>, used: i64, reason| match cap {
        Some(cap) if used >= cap => Err(reason),
        Some(cap) => Ok(Some(cap - used)),
        None => Ok(None),
    };
    Ok(Budget {
        prompt: left(run.max_prompt_tokens, prompt, "max_prompt_tokens")?,
        completion: left(
            run.max_completion_tokens,
            completion,
            "max_completion_tokens",
        )?,
    })
}

/// How a run ends without another turn: its status, error and `incomplete_details` reason.
type Ending = (RunStatus, Option<LastError>, Option<&'static str>);

/// The next turn's request, or how the run ends instead: failed after too many turns, or
/// `incomplete` when a budget the run has used up, or a prompt that cannot fit what is left of
/// it, leaves no room for the model.
async fn next_request(
    inner: &Inner,
    claim: &ClaimedRun,
    steps: &[RunStep],
    offer: Offer,
) -> Result<Result<ChatRequest, Ending>, TurnError> {
    if steps.len() >= inner.cfg.max_turns {
        let message = format!(
            "The run stopped after {} model turns without a final answer.",
            inner.cfg.max_turns
        );
        let err = LastError::new(LastErrorCode::ServerError, message);
        return Ok(Err((RunStatus::Failed, Some(err), None)));
    }
    let left = match budget(&claim.run, steps) {
        Ok(left) => left,
        Err(reason) => return Ok(Err((RunStatus::Incomplete, None, Some(reason)))),
    };
    let req = prompt::build(
        inner.store.as_ref(),
        claim,
        steps,
        left.completion,
        left.prompt,
        inner.cfg.max_history_tokens,
        offer,
    )
    .await?;
    Ok(req.ok_or((RunStatus::Incomplete, None, Some("max_prompt_tokens"))))
}

/// Turns until the run answers, needs tool outputs, or fails.
async fn drive(
    inner: &Arc<Inner>,
    worker: &str,
    claim: &ClaimedRun,
    token: &CancellationToken,
    open: &mut Open,
) -> Result<(), TurnError> {
    let store = inner.store.as_ref();
    let run = &claim.run;
    let search = search_mode(inner, run);
    let code = inner
        .code
        .as_deref()
        .filter(|_| code_interpreter::wanted(run) && inner.models.calls_tools(&run.model));
    let offer = Offer {
        search: search.0,
        code: code.is_some(),
    };
    let mut retries = 0;
    // A first claim's first turn knows the run has no steps: no turn of it ever started.
    let mut known = (claim.attempt == 1).then(Vec::new);
    loop {
        let steps = match run_steps(inner, worker, claim, search, known.take()).await {
            Ok(Some(steps)) => steps,
            Ok(None) => return Ok(()),
            Err(e) => {
                retry_turn(inner, worker, claim, token, e, &mut retries, open).await?;
                continue;
            }
        };
        let ctx = TurnCtx {
            store,
            models: inner.models.as_ref(),
            events: &inner.events,
            claim,
            worker,
            searcher: match (&inner.searcher, search) {
                (Some(s), (SearchMode::Tool, opts)) => Some((s.as_ref(), opts)),
                _ => None,
            },
            code,
            steps: &steps,
            text_flush: inner.cfg.text_flush,
        };
        let req = match next_request(inner, claim, &steps, offer).await {
            Ok(Ok(req)) => req,
            Ok(Err((status, err, reason))) => {
                return end(inner, run, worker, status, err, reason).await;
            }
            Err(e) => {
                retry_turn(inner, worker, claim, token, e, &mut retries, open).await?;
                continue;
            }
        };
        match run_turn(&ctx, req, token, open).await {
            Ok(TurnEnd::Finished(run)) => {
                announce_end(inner, &run).await;
                return Ok(());
            }
            Ok(TurnEnd::Answered { truncated }) => {
                let (status, incomplete) = crate::turn::answered(run, truncated);
                return end(inner, run, worker, status, None, incomplete).await;
            }
            Ok(TurnEnd::Calls(run)) => {
                record_end(&run);
                inner.events.publish_run(&run);
                return Ok(());
            }
            Ok(TurnEnd::LeaseLost) => return Ok(()),
            Ok(TurnEnd::ToolsRan) => {
                *open = Open::default();
            }
            Err(e) => retry_turn(inner, worker, claim, token, e, &mut retries, open).await?,
        }
    }
}

/// Gets the run ready to try its turn again after `e` (the `retries`-th time so far), or gives
/// `e` back if it must end instead. A turn is tried again, up to `turn_retries` times, when
/// trying can help ([`TurnError::retry_wait`]: a model stream that broke, the database out of
/// reach for a moment), and only if nothing of it was shown: a message a stream client already
/// saw is never silently replaced. What the failed try left is discarded after the wait, not
/// before it: a database that was away a moment ago is likely still away, and a failed discard
/// would end the run.
async fn retry_turn(
    inner: &Inner,
    worker: &str,
    claim: &ClaimedRun,
    token: &CancellationToken,
    e: TurnError,
    retries: &mut u32,
    open: &mut Open,
) -> Result<(), TurnError> {
    let wait = match e.retry_wait(*retries + 1) {
        Some(wait) if *retries < inner.cfg.turn_retries && !open.shown && !token.is_cancelled() => {
            wait
        }
        _ => return Err(e),
    };
    *retries += 1;
    let run_id = &claim.run.id;
    tracing::warn!(%run_id, error = %e, retries = *retries, "retrying the turn");
    let waited = tokio::select! {
        () = tokio::time::sleep(wait) => Ok(()),
        () = token.cancelled() => Err(TurnError::Interrupted),
    };
    inner.store.discard_partial_turn(run_id, worker).await?;
    *open = Open::default();
    waited
}

/// How the run's `file_search` reaches its model, and the tool's options.
fn search_mode(inner: &Inner, run: &Run) -> (SearchMode, file_search::Options) {
    match (file_search::options(run), &inner.searcher) {
        (Some(opts), Some(_)) if inner.models.calls_tools(&run.model) => (SearchMode::Tool, opts),
        (Some(opts), Some(_)) => (SearchMode::UpFront, opts),
        (opts, _) => (SearchMode::Off, opts.unwrap_or_default()),
    }
}

/// The run's steps so far (`known`, else as stored), with the up-front search first when the
/// run needs one and has none yet; `None` if the lease was lost meanwhile.
async fn run_steps(
    inner: &Inner,
    worker: &str,
    claim: &ClaimedRun,
    search: (SearchMode, file_search::Options),
    known: Option<Vec<RunStep>>,
) -> Result<Option<Vec<RunStep>>, TurnError> {
    let mut steps = match known {
        Some(steps) => steps,
        None => inner.store.run_steps(&claim.project, &claim.run.id).await?,
    };
    if search.0 == SearchMode::UpFront && file_search::searches(&steps).next().is_none() {
        match search_up_front(inner, worker, claim, search.1).await? {
            Some(step) => steps.push(step),
            None => return Ok(None),
        }
    }
    Ok(Some(steps))
}

/// For a model that does not call tools: searches the run's stores for the user's last
/// message and records it as the run's first step (a `file_search` call, streamed like one).
/// `None` if the lease was lost meanwhile.
async fn search_up_front(
    inner: &Inner,
    worker: &str,
    claim: &ClaimedRun,
    opts: file_search::Options,
) -> Result<Option<RunStep>, TurnError> {
    let Some(searcher) = inner.searcher.as_deref() else {
        return Ok(None);
    };
    let store = inner.store.as_ref();
    let run = &claim.run;
    let last = store
        .thread_history(&claim.project, &run.thread_id, &run.id, None, 1)
        .await?;
    let query = last
        .first()
        .filter(|m| m.role == MessageRole::User)
        .map(prompt::text_of)
        .unwrap_or_default();
    let Some(step) = store.begin_tool_calls(run, worker).await? else {
        return Ok(None);
    };
    inner
        .events
        .publish(&run.id, StreamEvent::StepCreated, &step);
    inner
        .events
        .publish(&run.id, StreamEvent::StepInProgress, &step);
    let call_id = assistd_core::ids::new_id(assistd_core::ids::IdKind::ToolCall);
    let search = file_search::RunSearch {
        store,
        events: &inner.events,
        searcher,
        opts,
        project: &claim.project,
        run,
    };
    let done = search
        .calls(step.id.as_str(), vec![(call_id, query)])
        .await?;
    let step = store
        .complete_tool_calls(run, worker, &step.id, done, Usage::default())
        .await?;
    if let Some(step) = &step {
        inner
            .events
            .publish(&run.id, StreamEvent::StepCompleted, step);
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_wire::Usage;

    fn run_with(max_prompt: Option<i64>, max_completion: Option<i64>) -> Run {
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "id": "run_1", "object": "thread.run", "created_at": 1, "thread_id": "thread_1",
            "assistant_id": "asst_1", "status": "in_progress", "required_action": null,
            "last_error": null, "expires_at": null, "started_at": 1, "cancelled_at": null,
            "failed_at": null, "completed_at": null, "incomplete_details": null,
            "model": "m", "instructions": "", "tools": [], "file_ids": [], "metadata": null,
            "usage": null, "temperature": null, "top_p": null, "max_prompt_tokens": null,
            "max_completion_tokens": null,
            "truncation_strategy": {"type": "auto", "last_messages": null},
            "tool_choice": "auto", "response_format": "auto"
        }))
        .unwrap();
        run.max_prompt_tokens = max_prompt;
        run.max_completion_tokens = max_completion;
        run
    }

    fn step(prompt: i64, completion: i64) -> RunStep {
        let mut s: RunStep = serde_json::from_value(serde_json::json!({
            "id": "step_1", "object": "thread.run.step", "created_at": 1,
            "assistant_id": "asst_1", "thread_id": "thread_1", "run_id": "run_1",
            "type": "tool_calls", "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": []},
            "last_error": null, "expired_at": null, "cancelled_at": null, "failed_at": null,
            "completed_at": 2, "metadata": null, "usage": null
        }))
        .unwrap();
        s.usage = Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        });
        s
    }

    #[test]
    fn budgets_cover_the_whole_run() {
        let steps = [step(200, 100), step(250, 100)];
        assert_eq!(
            budget(&run_with(None, None), &steps),
            Ok(Budget {
                completion: None,
                prompt: None
            })
        );
        assert_eq!(
            budget(&run_with(Some(1000), Some(300)), &steps),
            Ok(Budget {
                completion: Some(100),
                prompt: Some(550)
            })
        );
        assert_eq!(
            budget(&run_with(Some(450), Some(300)), &steps),
            Err("max_prompt_tokens")
        );
        assert_eq!(
            budget(&run_with(Some(1000), Some(200)), &steps),
            Err("max_completion_tokens")
        );
    }
}
