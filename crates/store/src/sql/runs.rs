//! Runs and run steps.

use super::engine::end_run;
use super::messages::insert_message;
use super::threads::{Guard, active_run, exists as thread_exists, insert_thread};
use super::{abort, backend, d, list_scoped, ms, set_metadata, text_enum};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::runs::reported_sampling;
use assistd_core::transitions::{self, Cancel};
use assistd_core::{
    ClaimAtCreation, ClaimedRun, ListParams, NewRun, ObjectKind, Page, Project, RunStore, Sampling,
    StoreError, StoreResult,
};
use assistd_wire::{
    AssistantId, AssistantTool, CreateThreadRequest, LastError, Metadata, ReasoningEffort,
    RequiredAction, ResponseFormatOption, Run, RunId, RunIncompleteDetails, RunStatus, RunStep,
    RunStepStatus, RunStepType, StepDetails, StepId, Thread, ThreadId, ToolChoiceOption,
    ToolOutput, TruncationObject, Usage,
};
use async_trait::async_trait;
use d::NOW_MS as DB_NOW_MS;
use sqlx::Connection;
use sqlx::FromRow;
use sqlx::types::Json;

/// Also `Deserialize`: a statement that returns several kinds of rows sends them as JSON
/// objects of these columns.
#[derive(FromRow, serde::Deserialize)]
pub(crate) struct RunRow {
    id: RunId,
    created_at: i64,
    thread_id: ThreadId,
    assistant_id: AssistantId,
    status: String,
    required_action: Option<Json<RequiredAction>>,
    last_error: Option<Json<LastError>>,
    expires_at: Option<i64>,
    started_at: Option<i64>,
    cancelled_at: Option<i64>,
    failed_at: Option<i64>,
    completed_at: Option<i64>,
    incomplete_details: Option<Json<RunIncompleteDetails>>,
    model: String,
    instructions: String,
    tools: Json<Vec<AssistantTool>>,
    file_ids: Json<Vec<String>>,
    metadata: Option<Json<Metadata>>,
    usage: Option<Json<Usage>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_prompt_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    truncation_strategy: Json<TruncationObject>,
    tool_choice: Json<ToolChoiceOption>,
    response_format: Json<ResponseFormatOption>,
    parallel_tool_calls: bool,
    reasoning_effort: Option<String>,
}

impl RunRow {
    pub(crate) fn into_wire(self) -> StoreResult<Run> {
        Ok(Run {
            id: self.id,
            object: "thread.run".to_owned(),
            created_at: self.created_at,
            thread_id: self.thread_id,
            assistant_id: self.assistant_id,
            status: parse_status(&self.status)?,
            required_action: self.required_action.map(|a| a.0),
            last_error: self.last_error.map(|e| e.0),
            expires_at: self.expires_at,
            started_at: self.started_at,
            cancelled_at: self.cancelled_at,
            failed_at: self.failed_at,
            completed_at: self.completed_at,
            incomplete_details: self.incomplete_details.map(|d| d.0),
            model: self.model,
            instructions: self.instructions,
            tools: self.tools.0,
            file_ids: self.file_ids.0,
            metadata: self.metadata.map(|m| m.0),
            usage: self.usage.map(|u| u.0),
            temperature: reported_sampling(self.temperature),
            top_p: reported_sampling(self.top_p),
            max_prompt_tokens: self.max_prompt_tokens,
            max_completion_tokens: self.max_completion_tokens,
            truncation_strategy: self.truncation_strategy.0,
            tool_choice: self.tool_choice.0,
            response_format: self.response_format.0,
            parallel_tool_calls: self.parallel_tool_calls,
            reasoning_effort: self.reasoning_effort.map(text_enum).transpose()?,
        })
    }
}

pub(crate) fn parse_status(s: &str) -> StoreResult<RunStatus> {
    RunStatus::parse(s).ok_or_else(|| {
        StoreError::Backend(format!("unknown run status '{s}' in the database").into())
    })
}

pub(crate) const RUN_COLUMNS: &str = "id, created_at, thread_id, assistant_id, status, required_action, \
    last_error, expires_at, started_at, cancelled_at, failed_at, completed_at, incomplete_details, \
    model, instructions, tools, file_ids, metadata, usage, temperature, top_p, max_prompt_tokens, \
    max_completion_tokens, truncation_strategy, tool_choice, response_format, parallel_tool_calls, \
    reasoning_effort";

/// Also `Deserialize`: a statement that returns several kinds of rows sends them as JSON
/// objects of these columns.
#[derive(FromRow, serde::Deserialize)]
pub(crate) struct StepRow {
    id: StepId,
    created_at: i64,
    assistant_id: AssistantId,
    thread_id: ThreadId,
    run_id: RunId,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    type_: String,
    status: String,
    step_details: Json<StepDetails>,
    last_error: Option<Json<LastError>>,
    expired_at: Option<i64>,
    cancelled_at: Option<i64>,
    failed_at: Option<i64>,
    completed_at: Option<i64>,
    metadata: Option<Json<Metadata>>,
    usage: Option<Json<Usage>>,
}

impl StepRow {
    pub(crate) fn into_wire(self) -> StoreResult<RunStep> {
        // A `tool_calls` step records its turn's usage when it is created (so that the run's
        // total counts it), but the API shows a step's usage only once the step ended.
        let usage = if self.status == RunStepStatus::InProgress.as_str() {
            None
        } else {
            self.usage.map(|u| u.0)
        };
        Ok(RunStep {
            id: self.id,
            object: "thread.run.step".to_owned(),
            created_at: self.created_at,
            assistant_id: self.assistant_id,
            thread_id: self.thread_id,
            run_id: self.run_id,
            type_: text_enum(self.type_)?,
            status: text_enum(self.status)?,
            step_details: self.step_details.0,
            last_error: self.last_error.map(|e| e.0),
            expired_at: self.expired_at,
            cancelled_at: self.cancelled_at,
            failed_at: self.failed_at,
            completed_at: self.completed_at,
            metadata: self.metadata.map(|m| m.0),
            usage,
        })
    }
}

pub(crate) const STEP_COLUMNS: &str = "id, created_at, assistant_id, thread_id, run_id, type, status, \
    step_details, last_error, expired_at, cancelled_at, failed_at, completed_at, metadata, usage";

/// Reads a run; with `lock`, also locks its row until the transaction ends, for a transition
/// that depends on the status it read.
pub(crate) async fn get(
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
    run_id: &RunId,
    lock: bool,
) -> StoreResult<Run> {
    let row = sqlx::query_as::<_, RunRow>(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND thread_id = $2 AND project = $3{}",
        if lock { d::lock(RowLock::Update) } else { "" }
    ))
    .bind(run_id)
    .bind(thread_id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some(row) = row else {
        // Name the first missing object along the path: the thread, else the run.
        thread_exists(conn, project, thread_id).await?;
        return Err(StoreError::not_found(ObjectKind::Run, run_id));
    };
    row.into_wire()
}

/// Whether a new run of `project` may be claimed as it is created under a cap of `cap`: the
/// project executes fewer runs than that under a live lease, and none of its runs waits in
/// the queue (which the dispatcher claims first when a worker frees up).
async fn under_cap(conn: &mut d::Conn, project: &Project, cap: u32) -> StoreResult<bool> {
    let (executing, waiting): (i64, bool) = sqlx::query_as(&format!(
        "SELECT (SELECT COUNT(*) FROM runs WHERE project = $1 AND status IN ($2, $3) \
                 AND lease_expires_at >= {DB_NOW_MS}), \
                EXISTS (SELECT 1 FROM runs WHERE project = $1 AND status = $4)"
    ))
    .bind(project.as_str())
    .bind(RunStatus::InProgress.as_str())
    .bind(RunStatus::Cancelling.as_str())
    .bind(RunStatus::Queued.as_str())
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    Ok(executing < i64::from(cap) && !waiting)
}

/// What of a [`NewRun`] is stored beside its [`Run`] without showing in it.
struct Kept {
    additional_instructions: Option<String>,
    tool_resources: Option<assistd_wire::ToolResourcesRequest>,
    streamer: Option<String>,
    /// Sampling as set (`None`: nobody did); the run shows the default.
    sampling: Sampling,
}

/// The run `new` makes, `queued` at `created_at`, and what is kept beside it.
fn queued_run(new: NewRun, thread_id: &ThreadId, created_at: i64) -> (Run, Kept) {
    let run = Run {
        id: new.id,
        object: "thread.run".to_owned(),
        created_at,
        thread_id: thread_id.to_owned(),
        assistant_id: new.assistant_id,
        status: RunStatus::Queued,
        required_action: None,
        last_error: None,
        expires_at: Some(created_at + new.expires_after_secs),
        started_at: None,
        cancelled_at: None,
        failed_at: None,
        completed_at: None,
        incomplete_details: None,
        model: new.model,
        instructions: new.instructions,
        tools: new.tools,
        file_ids: new.file_ids,
        metadata: new.metadata,
        usage: None,
        temperature: reported_sampling(new.temperature),
        top_p: reported_sampling(new.top_p),
        max_prompt_tokens: new.max_prompt_tokens,
        max_completion_tokens: new.max_completion_tokens,
        truncation_strategy: new.truncation_strategy,
        tool_choice: new.tool_choice,
        response_format: new.response_format,
        parallel_tool_calls: new.parallel_tool_calls,
        reasoning_effort: new.reasoning_effort,
    };
    let kept = Kept {
        additional_instructions: new.additional_instructions,
        tool_resources: new.tool_resources,
        streamer: new.streamer,
        sampling: Sampling {
            temperature: new.temperature,
            top_p: new.top_p,
        },
    };
    (run, kept)
}

/// Inserts a run, and with `claim`, inserts it already claimed when its project is under
/// its cap ([`ClaimAtCreation`]). The run comes back as created (`queued`), with the claim
/// if it was made.
///
/// A claimed run is inserted `in_progress`: the claim costs no statement (without a cap) and
/// leaves no `queued` row version behind (on PostgreSQL, each such dead version is visited by
/// every later claim's scan of the queue until a vacuum). Without a cap it does not look for
/// queued runs to let them go first (that probe is what made each creation slower than the
/// one before on PostgreSQL): a worker is reserved only while one is free, and while runs wait
/// for one the dispatcher waits for it too, first in line. Under a cap it does, since a
/// project's runs wait for the cap, not for a worker. Like concurrent claims, concurrent
/// creations may overshoot the cap (each counts before the others commit).
async fn insert_run(
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
    mut new: NewRun,
    claim: Option<&ClaimAtCreation>,
) -> StoreResult<(Run, Option<ClaimedRun>)> {
    for (i, m) in std::mem::take(&mut new.additional_messages)
        .into_iter()
        .enumerate()
    {
        insert_message(
            conn,
            project,
            thread_id,
            m,
            &format!("additional_messages[{i}]"),
        )
        .await?;
    }
    let claim = match claim {
        Some(c) if c.max_per_project == u32::MAX => Some(c),
        Some(c) if under_cap(conn, project, c.max_per_project).await? => Some(c),
        _ => None,
    };
    let created_at = now();
    let (run, kept) = queued_run(new, thread_id, created_at);
    sqlx::query(&format!(
        "INSERT INTO runs (id, project, thread_id, assistant_id, created_at, status, expires_at, \
         model, instructions, additional_instructions, tools, file_ids, metadata, temperature, \
         top_p, max_prompt_tokens, max_completion_tokens, truncation_strategy, tool_choice, \
         response_format, parallel_tool_calls, reasoning_effort, tool_resources, streamer, \
         started_at, lease_owner, lease_expires_at, attempts) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22, $23, $24, $25, $26, {DB_NOW_MS} + $27, $28)",
    ))
    .bind(&run.id)
    .bind(project.as_str())
    .bind(thread_id)
    .bind(&run.assistant_id)
    .bind(created_at)
    .bind(
        if claim.is_some() {
            RunStatus::InProgress
        } else {
            RunStatus::Queued
        }
        .as_str(),
    )
    .bind(run.expires_at)
    .bind(&run.model)
    .bind(&run.instructions)
    .bind(&kept.additional_instructions)
    .bind(Json(&run.tools))
    .bind(Json(&run.file_ids))
    .bind(run.metadata.as_ref().map(Json))
    .bind(kept.sampling.temperature)
    .bind(kept.sampling.top_p)
    .bind(run.max_prompt_tokens)
    .bind(run.max_completion_tokens)
    .bind(Json(&run.truncation_strategy))
    .bind(Json(&run.tool_choice))
    .bind(Json(&run.response_format))
    .bind(run.parallel_tool_calls)
    .bind(run.reasoning_effort.map(ReasoningEffort::as_str))
    .bind(kept.tool_resources.as_ref().map(Json))
    .bind(&kept.streamer)
    .bind(claim.map(|_| created_at))
    .bind(claim.map(|c| &c.worker))
    // NULL without a claim: the sum is NULL too.
    .bind(claim.map(|c| ms(c.lease)))
    .bind(i64::from(claim.is_some()))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    let claimed = claim.map(|c| ClaimedRun {
        project: project.clone(),
        run: Run {
            status: RunStatus::InProgress,
            started_at: Some(created_at),
            ..run.clone()
        },
        worker: c.worker.clone(),
        additional_instructions: kept.additional_instructions,
        attempt: 1,
        streamer: kept.streamer,
        sampling: kept.sampling,
    });
    Ok((run, claimed))
}

async fn step_by_id_in_run(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    run_id: &RunId,
    step_id: &StepId,
) -> StoreResult<RunStep> {
    sqlx::query_as::<_, StepRow>(&format!(
        "SELECT {STEP_COLUMNS} FROM run_steps WHERE id = $1 AND run_id = $2"
    ))
    .bind(step_id)
    .bind(run_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::not_found(ObjectKind::RunStep, step_id))?
    .into_wire()
}

#[async_trait]
impl RunStore for d::Store {
    async fn create_run_claimed(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run: NewRun,
        claim: Option<ClaimAtCreation>,
    ) -> StoreResult<(Run, Option<ClaimedRun>)> {
        let (project, thread_id) = (project.clone(), thread_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id) = (&project, &thread_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                super::threads::lock(&mut tx, project, thread_id, Guard::NewRun).await?;
                if let Some(active) = active_run(&mut tx, thread_id).await? {
                    return Err(StoreError::invalid(
                        format!("Thread {thread_id} already has an active run {active}."),
                        None,
                    ));
                }
                let (run, claimed) =
                    insert_run(&mut tx, project, thread_id, run, claim.as_ref()).await?;
                tx.commit().await.map_err(backend)?;
                Ok((run, claimed))
            })
        })
        .await
    }

    async fn create_thread_and_run_claimed(
        &self,
        project: &Project,
        thread: CreateThreadRequest,
        run: NewRun,
        claim: Option<ClaimAtCreation>,
    ) -> StoreResult<(Thread, Run, Option<ClaimedRun>)> {
        let project = project.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let project = &project;
                let mut tx = conn.begin().await.map_err(backend)?;
                let thread = insert_thread(&mut tx, project, thread, "thread.messages").await?;
                let (run, claimed) =
                    insert_run(&mut tx, project, &thread.id, run, claim.as_ref()).await?;
                tx.commit().await.map_err(backend)?;
                Ok((thread, run, claimed))
            })
        })
        .await
    }

    async fn get_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
    ) -> StoreResult<Run> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, run_id, false).await
    }

    async fn modify_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Run> {
        let (project, thread_id, run_id) = (project.clone(), thread_id.clone(), run_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id, run_id) = (&project, &thread_id, &run_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                // Locked, so that the run returned is the run as it is once the metadata is written,
                // not one a concurrent transition has since replaced.
                let mut run = get(&mut tx, project, thread_id, run_id, true).await?;
                if let Some(m) = metadata {
                    set_metadata(&mut tx, "runs", run_id.as_str(), m.as_ref()).await?;
                    run.metadata = m;
                }
                tx.commit().await.map_err(backend)?;
                Ok(run)
            })
        })
        .await
    }

    async fn list_runs(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        params: &ListParams,
    ) -> StoreResult<Page<Run>> {
        thread_exists(self.reader(), project, thread_id).await?;
        list_scoped(
            self.reader(),
            "SELECT seq FROM runs WHERE id = $1 AND thread_id = $2",
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE thread_id = "),
            "seq",
            thread_id.as_str(),
            params,
            RunRow::into_wire,
        )
        .await
    }

    async fn cancel_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
    ) -> StoreResult<Run> {
        let (project, thread_id, run_id) = (project.clone(), thread_id.clone(), run_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id, run_id) = (&project, &thread_id, &run_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                // Locked: a worker claiming the queued run meanwhile would otherwise keep executing a
                // run this cancels.
                let run = get(&mut tx, project, thread_id, run_id, true).await?;
                let cancel = match transitions::cancel(run.status) {
                    Ok(cancel) => cancel,
                    Err(e) => return abort(tx, e).await,
                };
                match cancel {
                    // Nothing is executing: the run ends here, and reports what its steps used.
                    Cancel::Now => {
                        end_run(&mut tx, run_id, RunStatus::Cancelled, None, None).await?;
                    }
                    // The executor owns the run; it sees `cancelling` and finishes the cancellation.
                    Cancel::ByExecutor => {
                        sqlx::query("UPDATE runs SET status = $1 WHERE id = $2")
                            .bind(RunStatus::Cancelling.as_str())
                            .bind(run_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                }
                let run = get(&mut tx, project, thread_id, run_id, false).await?;
                tx.commit().await.map_err(backend)?;
                Ok(run)
            })
        })
        .await
    }

    async fn submit_tool_outputs_streamed(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        outputs: Vec<ToolOutput>,
        streamer: Option<&str>,
    ) -> StoreResult<Run> {
        let (project, thread_id, run_id, streamer) = (
            project.clone(),
            thread_id.clone(),
            run_id.clone(),
            streamer.map(str::to_owned),
        );
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id, run_id, streamer) = (&project, &thread_id, &run_id, streamer.as_deref());
                let mut tx = conn.begin().await.map_err(backend)?;
                // Locked: the run must still be waiting for these outputs when it is queued again (not
                // cancelled or expired meanwhile).
                let run = get(&mut tx, project, thread_id, run_id, true).await?;
                let by_call = match transitions::accept_tool_outputs(&run, &outputs) {
                    Ok(by_call) => by_call,
                    Err(e) => return abort(tx, e).await,
                };
                // Record the outputs in the step that asked for them.
                let steps: Vec<StepRow> = sqlx::query_as(&format!(
                    "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 AND type = $2 AND status = $3"
                ))
                .bind(run_id)
                .bind(RunStepType::ToolCalls.as_str())
                .bind(RunStepStatus::InProgress.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                let at = now();
                for row in steps {
                    let mut step = row.into_wire()?;
                    transitions::fill_tool_outputs(&mut step.step_details, &by_call);
                    sqlx::query(
                        "UPDATE run_steps SET step_details = $1, status = $2, completed_at = $3 \
                         WHERE id = $4",
                    )
                    .bind(Json(&step.step_details))
                    .bind(RunStepStatus::Completed.as_str())
                    .bind(at)
                    .bind(&step.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                sqlx::query(
                    "UPDATE runs SET status = $1, required_action = NULL, streamer = $3 WHERE id = $2",
                )
                .bind(RunStatus::Queued.as_str())
                .bind(run_id)
                .bind(streamer)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                let run = get(&mut tx, project, thread_id, run_id, false).await?;
                tx.commit().await.map_err(backend)?;
                Ok(run)
            })
        })
        .await
    }

    async fn list_run_steps(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        params: &ListParams,
    ) -> StoreResult<Page<RunStep>> {
        {
            let mut conn = self.reader().acquire().await.map_err(backend)?;
            get(&mut conn, project, thread_id, run_id, false).await?;
        }
        list_scoped(
            self.reader(),
            "SELECT seq FROM run_steps WHERE id = $1 AND run_id = $2",
            &format!("SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = "),
            "seq",
            run_id.as_str(),
            params,
            StepRow::into_wire,
        )
        .await
    }

    async fn get_run_step(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        step_id: &StepId,
    ) -> StoreResult<RunStep> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, run_id, false).await?;
        step_by_id_in_run(&mut *conn, run_id, step_id).await
    }
}
