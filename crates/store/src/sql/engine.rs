//! The executor's operations: claiming runs under leases, writing turns, and ending runs.
//!
//! Every transition that depends on holding the lease locks the run's row first, so that a
//! claim by another worker cannot slip between the check and the write: with a statement of
//! its own (`holds`, `lease_status`), or, where the first write can carry it, as that write's
//! own condition (opening and completing a message; on PostgreSQL, where a `WITH` may hold
//! writes, ending a turn and its run is one statement whose every write depends on the
//! message's, see `complete_and_finish_at_once`). Leases are in milliseconds on the
//! database's clock (the dialect's `NOW_MS`): workers in several processes, on several hosts,
//! compare them against one clock.

use super::messages::{COLUMNS as MESSAGE_COLUMNS, MessageRow, SELECT as MESSAGE_SELECT};
use super::runs::parse_status;
use super::runs::{RUN_COLUMNS, RunRow, STEP_COLUMNS, StepRow};
use super::{backend, d, ms};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::transitions;
use assistd_core::{
    ClaimedRun, EngineStore, Lease, Project, Sampling, StoreError, StoreResult, TurnText,
};
use assistd_wire::{
    ImageFile, LastError, Message, MessageContent, MessageCreation, MessageId,
    MessageIncompleteDetails, MessageStatus, RequiredAction, Run, RunId, RunIncompleteDetails,
    RunStatus, RunStep, RunStepStatus, RunStepType, RunToolCallObject, StepDetails,
    StepFunctionCall, StepId, StepToolCall, SubmitToolOutputs, TextAnnotation, TextContent,
    ThreadId, Usage,
};
use async_trait::async_trait;
use d::NOW_MS as DB_NOW_MS;
use sqlx::types::Json;
use sqlx::{Connection, FromRow};
use std::sync::LazyLock;
use std::time::Duration;

async fn run_by_id(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    run_id: &RunId,
) -> StoreResult<Run> {
    sqlx::query_as::<_, RunRow>(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
        .bind(run_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("run {run_id} vanished").into()))?
        .into_wire()
}

async fn step_by_id(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    step_id: &StepId,
) -> StoreResult<RunStep> {
    sqlx::query_as::<_, StepRow>(&format!(
        "SELECT {STEP_COLUMNS} FROM run_steps WHERE id = $1"
    ))
    .bind(step_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::Backend(format!("step {step_id} vanished").into()))?
    .into_wire()
}

/// An assistant message's content: the images its run's code drew, then its text.
fn assistant_content(
    images: &[String],
    text: &str,
    annotations: Vec<TextAnnotation>,
) -> Vec<MessageContent> {
    let images = images.iter().map(|file_id| MessageContent::ImageFile {
        image_file: ImageFile {
            file_id: file_id.clone(),
            detail: None,
        },
    });
    let text = MessageContent::Text {
        text: TextContent {
            value: text.to_owned(),
            annotations,
        },
    };
    images.chain([text]).collect()
}

/// A new `in_progress` step of `run` with `details`, as [`insert_step`] writes it.
fn open_step(run: &Run, at: i64, details: StepDetails) -> RunStep {
    let type_ = match details {
        StepDetails::MessageCreation { .. } => RunStepType::MessageCreation,
        StepDetails::ToolCalls { .. } => RunStepType::ToolCalls,
    };
    RunStep {
        id: StepId::fresh(),
        object: "thread.run.step".to_owned(),
        created_at: at,
        assistant_id: run.assistant_id.clone(),
        thread_id: run.thread_id.clone(),
        run_id: run.id.clone(),
        type_,
        status: RunStepStatus::InProgress,
        step_details: details,
        last_error: None,
        expired_at: None,
        cancelled_at: None,
        failed_at: None,
        completed_at: None,
        metadata: None,
        usage: None,
    }
}

/// The columns [`insert_step`] and `begin_message` give a new step.
const STEP_INSERT: &str = "INSERT INTO run_steps (id, project, run_id, thread_id, assistant_id, \
                           created_at, type, status, step_details)";

/// Inserts `step` (from [`open_step`]) into `project`.
async fn insert_step(conn: &mut d::Conn, project: &str, step: &RunStep) -> StoreResult<()> {
    sqlx::query(&format!(
        "{STEP_INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&step.id)
    .bind(project)
    .bind(&step.run_id)
    .bind(&step.thread_id)
    .bind(&step.assistant_id)
    .bind(step.created_at)
    .bind(step.type_.as_str())
    .bind(step.status.as_str())
    .bind(Json(&step.step_details))
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Whether `worker` holds the lease on `run_id`; if so, the run's row stays locked until the
/// transaction ends.
async fn holds(conn: &mut d::Conn, run_id: &RunId, worker: &str) -> StoreResult<bool> {
    Ok(lease_status(conn, run_id, worker).await?.is_some())
}

/// The status and project of `run_id` if `worker` holds its lease, locking the run's row until
/// the transaction ends.
async fn lease_status(
    conn: &mut d::Conn,
    run_id: &RunId,
    worker: &str,
) -> StoreResult<Option<(RunStatus, String)>> {
    let row: Option<(String, String)> = sqlx::query_as(&format!(
        "SELECT status, project FROM runs WHERE id = $1 AND lease_owner = $2{}",
        d::lock(RowLock::Update)
    ))
    .bind(run_id)
    .bind(worker)
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    row.map(|(status, project)| Ok((parse_status(&status)?, project)))
        .transpose()
}

/// A run's usage, the sum of its steps' (the run's id bound at `run_param`), computed where the
/// steps are: one statement fewer at each run's end than reading them out to add them up.
/// With `this_step` (the parameters of a step's id and usage), that step counts with the usage
/// bound there: a statement that sets it in a `WITH` does not see its own write.
fn run_usage(run_param: &str, this_step: Option<(&str, &str)>) -> String {
    let steps = match this_step {
        None => format!(
            "SELECT rs.usage FROM run_steps rs WHERE rs.run_id = {run_param} \
             AND rs.usage IS NOT NULL"
        ),
        Some((id, usage)) => format!(
            "SELECT rs.usage FROM run_steps rs WHERE rs.run_id = {run_param} \
             AND rs.id <> {id} AND rs.usage IS NOT NULL UNION ALL SELECT {usage}"
        ),
    };
    format!(
        "(SELECT {}('prompt_tokens', u.p, 'completion_tokens', u.c, 'total_tokens', u.p + u.c) \
         FROM (SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) AS p, \
                      CAST(COALESCE(SUM({}), 0) AS BIGINT) AS c \
               FROM ({steps}) AS s) AS u)",
        d::JSON_OBJECT,
        d::json_int("s.usage", "prompt_tokens"),
        d::json_int("s.usage", "completion_tokens"),
    )
}

/// The column that takes the time a run ended with `status`.
fn end_time_col(status: RunStatus) -> StoreResult<Option<&'static str>> {
    match status {
        // An incomplete run takes `completed_at` too: v1 shows it as `completed`.
        RunStatus::Completed | RunStatus::Incomplete => Ok(Some("completed_at")),
        RunStatus::Failed => Ok(Some("failed_at")),
        RunStatus::Cancelled => Ok(Some("cancelled_at")),
        RunStatus::Expired => Ok(None),
        other => Err(StoreError::Backend(
            format!("a run cannot end {}", other.as_str()).into(),
        )),
    }
}

/// The column that takes the time a step ended with `status`.
fn step_time_col(status: RunStepStatus) -> &'static str {
    match status {
        RunStepStatus::Cancelled => "cancelled_at",
        RunStepStatus::Expired => "expired_at",
        RunStepStatus::Failed => "failed_at",
        RunStepStatus::Completed | RunStepStatus::InProgress => "completed_at",
    }
}

/// Ends a run with a terminal `status`: its open steps and messages end with it (see
/// [`transitions::open_work_end`]), it reports the sum of its steps' usage, gives up any lease
/// and any pending action, takes the time of its end, and no longer expires (`expires_at` is
/// null once a run ended, whichever way, as OpenAI shows it).
pub(crate) async fn end_run(
    conn: &mut d::Conn,
    run_id: &RunId,
    status: RunStatus,
    last_error: Option<&LastError>,
    incomplete_reason: Option<&str>,
) -> StoreResult<Run> {
    let time_col = end_time_col(status)?;
    let at = now();
    close_open_work(conn, run_id, status, at, last_error).await?;
    let set_time = time_col.map(|c| format!(", {c} = $5")).unwrap_or_default();
    let sql = format!(
        "UPDATE runs SET status = $1, last_error = $2, usage = {}, incomplete_details = $3, \
         required_action = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         expires_at = NULL{set_time} \
         WHERE id = $4 RETURNING {RUN_COLUMNS}",
        run_usage("$4", None)
    );
    let mut query = sqlx::query_as::<_, RunRow>(&sql)
        .bind(status.as_str())
        .bind(last_error.map(Json))
        .bind(incomplete_reason.map(|r| {
            Json(RunIncompleteDetails {
                reason: Some(r.to_owned()),
            })
        }))
        .bind(run_id);
    if time_col.is_some() {
        query = query.bind(at);
    }
    query
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("run {run_id} vanished").into()))?
        .into_wire()
}

/// Ends a run's open steps and messages along with the run.
async fn close_open_work(
    conn: &mut d::Conn,
    run_id: &RunId,
    status: RunStatus,
    at: i64,
    last_error: Option<&LastError>,
) -> StoreResult<()> {
    let end = transitions::open_work_end(status);
    if let Some(reason) = end.message_reason {
        sqlx::query(
            "UPDATE messages SET status = $1, incomplete_at = $2, incomplete_details = $3 \
             WHERE run_id = $4 AND status = $5",
        )
        .bind(MessageStatus::Incomplete.as_str())
        .bind(at)
        .bind(Json(MessageIncompleteDetails {
            reason: reason.to_owned(),
        }))
        .bind(run_id)
        .bind(MessageStatus::InProgress.as_str())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    let step_col = step_time_col(end.step_status);
    sqlx::query(&format!(
        "UPDATE run_steps SET status = $1, {step_col} = $2, \
         last_error = COALESCE($3, last_error) WHERE run_id = $4 AND status = $5"
    ))
    .bind(end.step_status.as_str())
    .bind(at)
    .bind(last_error.map(|e| Json(transitions::step_error(e))))
    .bind(run_id)
    .bind(RunStepStatus::InProgress.as_str())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[derive(FromRow)]
struct Claimed {
    project: String,
    additional_instructions: Option<String>,
    attempts: i64,
    streamer: Option<String>,
    lease_owner: String,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

#[async_trait]
impl EngineStore for d::Store {
    async fn claim_run_within(
        &self,
        worker: &str,
        lease: Duration,
        max_per_project: u32,
    ) -> StoreResult<Option<ClaimedRun>> {
        Ok(claim(self, worker, false, lease, max_per_project, 1)
            .await?
            .pop())
    }

    async fn claim_runs(
        &self,
        worker: &str,
        lease: Duration,
        max_per_project: u32,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedRun>> {
        claim(self, worker, true, lease, max_per_project, limit).await
    }

    async fn renew_lease(
        &self,
        run_id: &RunId,
        worker: &str,
        lease: Duration,
    ) -> StoreResult<Lease> {
        let sql = format!(
            "UPDATE runs SET lease_expires_at = {DB_NOW_MS} + $1 \
             WHERE id = $2 AND lease_owner = $3 RETURNING status"
        );
        let (run_id, worker) = (run_id.clone(), worker.to_owned());
        let status: Option<String> = self
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query_scalar(&sql)
                        .bind(ms(lease))
                        .bind(&run_id)
                        .bind(&worker)
                        .fetch_optional(conn)
                        .await
                        .map_err(backend)
                })
            })
            .await?;
        Ok(match status.as_deref().and_then(RunStatus::parse) {
            Some(s) => Lease::Held(s),
            None => Lease::Lost,
        })
    }

    async fn release_run(&self, run_id: &RunId, worker: &str) -> StoreResult<()> {
        let (run_id, worker) = (run_id.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(&run_id)
                .bind(&worker)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn discard_partial_turn(&self, run_id: &RunId, worker: &str) -> StoreResult<()> {
        let (run_id, worker) = (run_id.clone(), worker.to_owned());
        self.write(move |conn| Box::pin(discard_partial_turn(conn, run_id, worker)))
            .await
    }

    async fn thread_history(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_SELECT} WHERE m.thread_id = $1 AND m.project = $2 \
             AND (m.run_id IS NULL OR m.run_id <> $3) AND m.status <> $4 \
             AND (CAST($5 AS TEXT) IS NULL \
                  OR m.seq < (SELECT b.seq FROM messages b WHERE b.id = $5 AND b.thread_id = $1)) \
             ORDER BY m.seq DESC LIMIT $6"
        ))
        .bind(thread_id)
        .bind(project.as_str())
        .bind(run_id)
        .bind(MessageStatus::InProgress.as_str())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(backend)?;
        rows.into_iter().map(MessageRow::into_wire).collect()
    }

    async fn run_messages(&self, project: &Project, run_id: &RunId) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_SELECT} WHERE m.run_id = $1 AND m.project = $2 ORDER BY m.seq"
        ))
        .bind(run_id)
        .bind(project.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(backend)?;
        rows.into_iter().map(MessageRow::into_wire).collect()
    }

    async fn run_steps(&self, project: &Project, run_id: &RunId) -> StoreResult<Vec<RunStep>> {
        let rows: Vec<StepRow> = sqlx::query_as(&format!(
            "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 AND project = $2 ORDER BY seq"
        ))
        .bind(run_id)
        .bind(project.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(backend)?;
        rows.into_iter().map(StepRow::into_wire).collect()
    }

    async fn begin_message(&self, run: &Run, worker: &str) -> StoreResult<(Message, RunStep)> {
        let (run, worker) = (run.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let (run, worker) = (&run, worker.as_str());
                let at = now();
                let msg = Message {
                    id: MessageId::fresh(),
                    object: "thread.message".to_owned(),
                    created_at: at,
                    thread_id: run.thread_id.clone(),
                    status: MessageStatus::InProgress,
                    incomplete_details: None,
                    completed_at: None,
                    incomplete_at: None,
                    role: assistd_wire::MessageRole::Assistant,
                    content: Vec::new(),
                    assistant_id: Some(run.assistant_id.clone()),
                    run_id: Some(run.id.clone()),
                    file_ids: Vec::new(),
                    attachments: None,
                    metadata: None,
                };
                let step = open_step(
                    run,
                    at,
                    StepDetails::MessageCreation {
                        message_creation: MessageCreation {
                            message_id: msg.id.to_string(),
                        },
                    },
                );
                // Inserted only while this worker holds the lease, whose row then stays locked
                // until the write commits; the run's row gives the project. One statement
                // checks and writes.
                let insert_message = format!(
                    "INSERT INTO messages (id, project, thread_id, created_at, role, content, \
                     status, assistant_id, run_id) SELECT $1, project, $2, $3, $4, $5, $6, $7, id \
                     FROM runs WHERE id = $8 AND lease_owner = $9{} RETURNING project",
                    d::lock(RowLock::Update)
                );
                let open = |sql| {
                    sqlx::query_scalar::<_, String>(sql)
                        .bind(&msg.id)
                        .bind(&msg.thread_id)
                        .bind(at)
                        .bind(msg.role.as_str())
                        .bind(Json(&msg.content))
                        .bind(msg.status.as_str())
                        .bind(&run.assistant_id)
                        .bind(&run.id)
                        .bind(worker)
                };
                if d::WRITES_IN_WITH {
                    // The step in the same statement: one round trip, and atomic without a
                    // transaction. (Its run, thread and assistant are the message's: $8, $2, $7.)
                    let sql = format!(
                        "WITH m AS ({insert_message}) {STEP_INSERT} SELECT $10, project, $8, \
                         $2, $7, $3, $11, $12, $13 FROM m RETURNING project"
                    );
                    let opened = open(&sql)
                        .bind(&step.id)
                        .bind(step.type_.as_str())
                        .bind(step.status.as_str())
                        .bind(Json(&step.step_details))
                        .fetch_optional(conn)
                        .await
                        .map_err(backend)?;
                    if opened.is_none() {
                        return Err(StoreError::invalid("lease lost", None));
                    }
                    return Ok((msg, step));
                }
                let mut tx = conn.begin().await.map_err(backend)?;
                let project = open(&insert_message)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some(project) = project else {
                    return Err(StoreError::invalid("lease lost", None));
                };
                insert_step(&mut tx, &project, &step).await?;
                tx.commit().await.map_err(backend)?;
                Ok((msg, step))
            })
        })
        .await
    }

    async fn complete_message(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        step_id: &StepId,
        out: &TurnText,
    ) -> StoreResult<(Message, RunStep)> {
        let completion = Completion::new(run, worker, message_id, step_id, out);
        self.write(move |conn| {
            Box::pin(async move {
                let at = now();
                let mut tx = conn.begin().await.map_err(backend)?;
                let Some(done) = complete_message(&mut tx, &completion, at).await? else {
                    return Err(StoreError::invalid("lease lost", None));
                };
                tx.commit().await.map_err(backend)?;
                Ok(done)
            })
        })
        .await
    }

    async fn complete_message_and_finish(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        step_id: &StepId,
        out: &TurnText,
        status: RunStatus,
        incomplete_reason: Option<&str>,
    ) -> StoreResult<(Message, RunStep, Run)> {
        let completion = Completion::new(run, worker, message_id, step_id, out);
        let reason = incomplete_reason.map(str::to_owned);
        self.write(move |conn| {
            Box::pin(async move {
                let at = now();
                if d::WRITES_IN_WITH {
                    return complete_and_finish_at_once(
                        conn,
                        &completion,
                        at,
                        status,
                        reason.as_deref(),
                    )
                    .await?
                    .ok_or_else(|| StoreError::invalid("lease lost", None));
                }
                let mut tx = conn.begin().await.map_err(backend)?;
                let Some((message, step)) = complete_message(&mut tx, &completion, at).await?
                else {
                    return Err(StoreError::invalid("lease lost", None));
                };
                let run =
                    end_run(&mut tx, &completion.run_id, status, None, reason.as_deref()).await?;
                tx.commit().await.map_err(backend)?;
                Ok((message, step, run))
            })
        })
        .await
    }

    async fn save_text(
        &self,
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        images: &[String],
        text: &str,
    ) -> StoreResult<()> {
        // One statement, not locked: it runs every flush of a streaming message, and a worker
        // that loses its lease meanwhile writes at most into its own in-progress message, which
        // the new owner discards before its turn.
        let content = Json(assistant_content(images, text, Vec::new()));
        let (message_id, run_id, worker) = (message_id.clone(), run.id.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE messages SET content = $1 WHERE id = $2 AND run_id = $3 \
                     AND status = $5 \
                     AND EXISTS (SELECT 1 FROM runs WHERE id = $3 AND lease_owner = $4)",
                )
                .bind(&content)
                .bind(&message_id)
                .bind(&run_id)
                .bind(&worker)
                .bind(MessageStatus::InProgress.as_str())
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn begin_tool_calls(&self, run: &Run, worker: &str) -> StoreResult<Option<RunStep>> {
        let (run, worker) = (run.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let (run, worker) = (&run, worker.as_str());
                let mut tx = conn.begin().await.map_err(backend)?;
                let Some((status, project)) = lease_status(&mut tx, &run.id, worker).await? else {
                    return Ok(None);
                };
                if status != RunStatus::InProgress {
                    return Ok(None);
                }
                let step = open_step(
                    run,
                    now(),
                    StepDetails::ToolCalls {
                        tool_calls: Vec::new(),
                    },
                );
                insert_step(&mut tx, &project, &step).await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(step))
            })
        })
        .await
    }

    async fn require_action_for_step(
        &self,
        run: &Run,
        worker: &str,
        step_id: &StepId,
        done: Vec<StepToolCall>,
        calls: Vec<RunToolCallObject>,
        usage: Usage,
    ) -> StoreResult<Option<(Run, RunStep)>> {
        let (run, worker, step_id) = (run.clone(), worker.to_owned(), step_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (run, worker, step_id) = (&run, worker.as_str(), &step_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let status = lease_status(&mut tx, &run.id, worker).await?;
                if status.map(|(s, _)| s) != Some(RunStatus::InProgress) {
                    return Ok(None);
                }
                let mut tool_calls = done;
                tool_calls.extend(calls.iter().map(|c| StepToolCall::Function {
                    id: c.id.clone(),
                    function: StepFunctionCall {
                        name: c.function.name.clone(),
                        arguments: c.function.arguments.clone(),
                        output: None,
                    },
                }));
                // The usage is stored now (it counts towards the run) but reads as null until the step
                // ends, as the API says of in-progress steps.
                fill_tool_step(
                    &mut tx,
                    run,
                    step_id,
                    &StepDetails::ToolCalls { tool_calls },
                    &usage,
                    None,
                )
                .await?;
                let action = RequiredAction {
                    type_: "submit_tool_outputs".to_owned(),
                    submit_tool_outputs: SubmitToolOutputs { tool_calls: calls },
                };
                sqlx::query(
                    "UPDATE runs SET status = $1, required_action = $2, \
                     lease_owner = NULL, lease_expires_at = NULL WHERE id = $3",
                )
                .bind(RunStatus::RequiresAction.as_str())
                .bind(Json(&action))
                .bind(&run.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                let run = run_by_id(&mut *tx, &run.id).await?;
                let step = step_by_id(&mut *tx, step_id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some((run, step)))
            })
        })
        .await
    }

    async fn complete_tool_calls(
        &self,
        run: &Run,
        worker: &str,
        step_id: &StepId,
        done: Vec<StepToolCall>,
        usage: Usage,
    ) -> StoreResult<Option<RunStep>> {
        let (run, worker, step_id) = (run.clone(), worker.to_owned(), step_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (run, worker, step_id) = (&run, worker.as_str(), &step_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let status = lease_status(&mut tx, &run.id, worker).await?;
                if status.map(|(s, _)| s) != Some(RunStatus::InProgress) {
                    return Ok(None);
                }
                let details = StepDetails::ToolCalls { tool_calls: done };
                fill_tool_step(&mut tx, run, step_id, &details, &usage, Some(now())).await?;
                let step = step_by_id(&mut *tx, step_id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(step))
            })
        })
        .await
    }

    async fn finish_run(
        &self,
        run: &Run,
        worker: &str,
        status: RunStatus,
        last_error: Option<LastError>,
        incomplete_reason: Option<&str>,
    ) -> StoreResult<Option<Run>> {
        let (run, worker, incomplete_reason) = (
            run.clone(),
            worker.to_owned(),
            incomplete_reason.map(str::to_owned),
        );
        self.write(move |conn| {
            Box::pin(async move {
                let (run, worker, incomplete_reason) =
                    (&run, worker.as_str(), incomplete_reason.as_deref());
                let mut tx = conn.begin().await.map_err(backend)?;
                if !holds(&mut tx, &run.id, worker).await? {
                    return Ok(None);
                }
                let run = end_run(
                    &mut tx,
                    &run.id,
                    status,
                    last_error.as_ref(),
                    incomplete_reason,
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(run))
            })
        })
        .await
    }

    async fn expire_due_runs(&self) -> StoreResult<u64> {
        // In batches, one short transaction each: a backlog of due runs never holds the writer
        // (SQLite's only one) for long.
        let mut expired = 0;
        loop {
            let n = expire_batch(self).await?;
            expired += n;
            if n < EXPIRY_BATCH {
                return Ok(expired);
            }
        }
    }
}

/// Claims up to `limit` runnable runs for `owner` (followed by each run's id with
/// `per_run_owner`) in one statement, and returns them whole.
///
/// The statement picks runnable runs, skipping rows another transaction has locked (a
/// concurrent claim, a cancel...), so that claimers in any number of processes each take
/// different runs without waiting on each other. The pick re-checks its condition on the rows
/// it locks, so a run claimed and committed since the statement's snapshot is passed over too.
///
/// Fairness: `busy` counts each project's runs executing under a live lease (few rows: at most
/// the workers of every process). A project's k-th oldest runnable run ranks `busy + k`; the
/// pick takes the lowest ranks, oldest first among equals, and none ranked past
/// `max_per_project`. So a batch takes turns between projects, and a project's backlog never
/// stands in front of another project's first run.
async fn claim(
    store: &d::Store,
    owner: &str,
    per_run_owner: bool,
    lease: Duration,
    max_per_project: u32,
    limit: u32,
) -> StoreResult<Vec<ClaimedRun>> {
    let runnable = |r: &str| {
        format!(
            "({r}.status = $4 OR ({r}.status IN ($5, $6) \
              AND ({r}.lease_expires_at IS NULL OR {r}.lease_expires_at < {DB_NOW_MS})))"
        )
    };
    let sql = format!(
        "UPDATE runs SET \
           status = CASE WHEN status = $4 THEN $5 ELSE status END, \
           started_at = COALESCE(started_at, $1), \
           lease_owner = CASE WHEN $9 THEN $2 || id ELSE $2 END, \
           lease_expires_at = {DB_NOW_MS} + $3, attempts = attempts + 1 \
         WHERE id IN (SELECT r.id FROM runs r \
             JOIN (SELECT q.id, q.seq, COALESCE(busy.n, 0) \
                          + ROW_NUMBER() OVER (PARTITION BY q.project ORDER BY q.seq) AS prio \
                   FROM runs q \
                   LEFT JOIN (SELECT project, COUNT(*) AS n FROM runs \
                              WHERE status IN ($5, $6) AND lease_expires_at >= {DB_NOW_MS} \
                              GROUP BY project) busy ON busy.project = q.project \
                   WHERE {}) c ON c.id = r.id \
             WHERE c.prio <= $7 AND {} \
             ORDER BY c.prio, c.seq LIMIT $8{}) \
         RETURNING {RUN_COLUMNS}, project, additional_instructions, attempts, streamer, \
           lease_owner",
        runnable("q"),
        runnable("r"),
        d::lock_of(RowLock::UpdateSkipLocked, "r")
    );
    let owner = owner.to_owned();
    let rows = store
        .write(move |conn| {
            Box::pin(async move {
                sqlx::query(&sql)
                    .bind(now())
                    .bind(&owner)
                    .bind(ms(lease))
                    .bind(RunStatus::Queued.as_str())
                    .bind(RunStatus::InProgress.as_str())
                    .bind(RunStatus::Cancelling.as_str())
                    .bind(i64::from(max_per_project))
                    .bind(i64::from(limit))
                    .bind(per_run_owner)
                    .fetch_all(conn)
                    .await
                    .map_err(backend)
            })
        })
        .await?;
    rows.iter()
        .map(|row| {
            let c = Claimed::from_row(row).map_err(backend)?;
            let run = RunRow::from_row(row).map_err(backend)?.into_wire()?;
            Ok(ClaimedRun {
                project: Project::new(c.project),
                run,
                worker: c.lease_owner,
                additional_instructions: c.additional_instructions,
                attempt: c.attempts,
                streamer: c.streamer,
                sampling: Sampling {
                    temperature: c.temperature,
                    top_p: c.top_p,
                },
            })
        })
        .collect()
}

/// Runs ended by one transaction of the expiry sweep, at most.
const EXPIRY_BATCH: u64 = 64;

/// Expires up to [`EXPIRY_BATCH`] due runs in one transaction.
async fn expire_batch(store: &d::Store) -> StoreResult<u64> {
    store
        .write(move |conn| {
            Box::pin(async move {
                let mut tx = conn.begin().await.map_err(backend)?;
                // Runs locked elsewhere (being claimed, cancelled, finished, or swept by another process)
                // are skipped; the next sweep sees them as they are then.
                let due: Vec<RunId> = sqlx::query_scalar(&format!(
                    "SELECT id FROM runs WHERE expires_at < $1 \
                 AND (status IN ($2, $3) \
                      OR (status IN ($4, $5) \
                          AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW_MS}))) \
                 ORDER BY seq LIMIT {EXPIRY_BATCH}{}",
                    d::lock(RowLock::UpdateSkipLocked)
                ))
                .bind(now())
                .bind(RunStatus::Queued.as_str())
                .bind(RunStatus::RequiresAction.as_str())
                .bind(RunStatus::InProgress.as_str())
                .bind(RunStatus::Cancelling.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                for id in &due {
                    end_run(&mut tx, id, RunStatus::Expired, None, None).await?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(due.len() as u64)
            })
        })
        .await
}

/// Writes the calls and usage of the open `tool_calls` step `step_id`, and completes it at
/// `completed_at` when given.
async fn fill_tool_step(
    conn: &mut d::Conn,
    run: &Run,
    step_id: &StepId,
    details: &StepDetails,
    usage: &Usage,
    completed_at: Option<i64>,
) -> StoreResult<()> {
    let status = if completed_at.is_some() {
        RunStepStatus::Completed
    } else {
        RunStepStatus::InProgress
    };
    let updated = sqlx::query(
        "UPDATE run_steps SET step_details = $1, usage = $2, status = $3, completed_at = $4 \
         WHERE id = $5 AND run_id = $6 AND type = $7 AND status = $8",
    )
    .bind(Json(details))
    .bind(Json(usage))
    .bind(status.as_str())
    .bind(completed_at)
    .bind(step_id)
    .bind(&run.id)
    .bind(RunStepType::ToolCalls.as_str())
    .bind(RunStepStatus::InProgress.as_str())
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::Backend(
            format!("tool_calls step {step_id} of run {} is not open", run.id).into(),
        ));
    }
    Ok(())
}

/// Deletes the run's open message and steps, an interrupted turn's, if `worker` still holds it.
async fn discard_partial_turn(
    conn: &mut d::Conn,
    run_id: RunId,
    worker: String,
) -> StoreResult<()> {
    let run_id = &run_id;
    let mut tx = conn.begin().await.map_err(backend)?;
    if !holds(&mut tx, run_id, &worker).await? {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM messages WHERE run_id = $1 AND status = $2 AND id IN \
         (SELECT step_details -> 'message_creation' ->> 'message_id' FROM run_steps \
          WHERE run_id = $1 AND type = $3 AND status = $4)",
    )
    .bind(run_id)
    .bind(MessageStatus::InProgress.as_str())
    .bind(RunStepType::MessageCreation.as_str())
    .bind(RunStepStatus::InProgress.as_str())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    // The run is claimed (in progress), so an open step of either kind is an interrupted
    // turn's: a tool_calls step awaiting outputs only exists while the run is
    // `requires_action`, and submitting the outputs completes it.
    sqlx::query("DELETE FROM run_steps WHERE run_id = $1 AND status = $2")
        .bind(run_id)
        .bind(RunStepStatus::InProgress.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

/// Ends a message of the run bound at `$1` (`id = $8`), completed or incomplete, if the worker
/// bound at `$2` holds the run's lease. The lease check is the update's own condition, so one
/// statement checks and writes; it runs first, once, and locks the run's row (until the
/// transaction ends) before the message's, in the order every other transition takes them.
static COMPLETE_MESSAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE messages SET content = $3, status = $4, completed_at = $5, incomplete_at = $6, \
         incomplete_details = $7 WHERE id = $8 AND run_id = $1 \
         AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND lease_owner = $2{}) \
         RETURNING {MESSAGE_COLUMNS}",
        d::lock(RowLock::Update)
    )
});

/// A turn's text, to complete its message and its message's step with: owned, for the write op
/// that completes them, which takes the time as it runs.
struct Completion {
    run_id: RunId,
    worker: String,
    message_id: MessageId,
    step_id: StepId,
    out: TurnText,
}

impl Completion {
    fn new(
        run: &Run,
        worker: &str,
        message_id: &MessageId,
        step_id: &StepId,
        out: &TurnText,
    ) -> Self {
        Self {
            run_id: run.id.clone(),
            worker: worker.to_owned(),
            message_id: message_id.clone(),
            step_id: step_id.clone(),
            out: out.clone(),
        }
    }

    /// Binds `$1` to `$8` of [`COMPLETE_MESSAGE`], the message ending `at`.
    fn bind_message<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, d::Db, O, <d::Db as sqlx::Database>::Arguments<'q>>,
        at: i64,
    ) -> sqlx::query::QueryAs<'q, d::Db, O, <d::Db as sqlx::Database>::Arguments<'q>> {
        let out = &self.out;
        let content = Json(assistant_content(
            &out.images,
            &out.text,
            out.annotations.clone(),
        ));
        let (status, completed_at, incomplete_at) = match out.incomplete {
            None => (MessageStatus::Completed, Some(at), None),
            Some(_) => (MessageStatus::Incomplete, None, Some(at)),
        };
        query
            .bind(&self.run_id)
            .bind(&self.worker)
            .bind(content)
            .bind(status.as_str())
            .bind(completed_at)
            .bind(incomplete_at)
            .bind(out.incomplete.as_ref().map(|reason| {
                Json(MessageIncompleteDetails {
                    reason: reason.clone(),
                })
            }))
            .bind(&self.message_id)
    }

    /// Binds the step's completion, `at`, after the parameters bound so far: its status, the
    /// time, its usage and its id, in that order.
    fn bind_step<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, d::Db, O, <d::Db as sqlx::Database>::Arguments<'q>>,
        at: i64,
    ) -> sqlx::query::QueryAs<'q, d::Db, O, <d::Db as sqlx::Database>::Arguments<'q>> {
        query
            .bind(RunStepStatus::Completed.as_str())
            .bind(at)
            .bind(Json(&self.out.usage))
            .bind(&self.step_id)
    }
}

/// Completes the message of `c` with its text and its step with its usage, `at` then, if
/// `c.worker` holds the lease on the run; returns both as they now are. `None` without the
/// lease (or without the message, which only a lost run loses).
async fn complete_message(
    tx: &mut d::Conn,
    c: &Completion,
    at: i64,
) -> StoreResult<Option<(Message, RunStep)>> {
    let message = c
        .bind_message(sqlx::query_as::<_, MessageRow>(&COMPLETE_MESSAGE), at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    let Some(message) = message else {
        return Ok(None);
    };
    let step = c
        .bind_step(
            sqlx::query_as::<_, StepRow>(&format!(
                "UPDATE run_steps SET status = $1, completed_at = $2, usage = $3 WHERE id = $4 \
                 RETURNING {STEP_COLUMNS}"
            )),
            at,
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("step {} vanished", c.step_id).into()))?
        .into_wire()?;
    Ok(Some((message.into_wire()?, step)))
}

/// The message, step and run [`complete_and_finish_at_once`] returns, as JSON objects of their
/// rows (none without the lease).
type AtOnce = (
    Option<Json<MessageRow>>,
    Option<Json<StepRow>>,
    Option<Json<RunRow>>,
);

/// [`complete_message`] and [`end_run`] in one statement, where a `WITH` may hold writes
/// (`d::WRITES_IN_WITH`): one round trip instead of six (seven when the run ends incomplete).
///
/// PostgreSQL leaves the order of a `WITH`'s parts open; here each part depends on the one
/// before it (`EXISTS (SELECT 1 FROM …)`, which it runs once, first, as an InitPlan): the
/// message's update, which takes the lease's lock on the run's row, runs first, then the
/// step's, then the rest. So the run's row is locked before any other, as in every transition,
/// and without the lease or the step nothing is written. Every part sees the rows as they were
/// before the statement, so the other open steps and messages it ends leave out the ones it
/// completes, and the run's usage counts the completed step's new usage. The three objects
/// come back as JSON, one column each. The write is committed when the statement returns: an
/// error after it (decoding the rows) does not undo it.
async fn complete_and_finish_at_once(
    conn: &mut d::Conn,
    c: &Completion,
    at: i64,
    status: RunStatus,
    incomplete_reason: Option<&str>,
) -> StoreResult<Option<(Message, RunStep, Run)>> {
    let time_col = end_time_col(status)?;
    let end = transitions::open_work_end(status);
    let set_time = time_col
        .map(|col| format!(", {col} = $10"))
        .unwrap_or_default();
    let sql = format!(
        "WITH msg AS ({complete}), \
         step AS (UPDATE run_steps SET status = $9, completed_at = $10, usage = $11 \
                  WHERE id = $12 AND EXISTS (SELECT 1 FROM msg) RETURNING {STEP_COLUMNS}), \
         open_msgs AS (UPDATE messages SET status = $13, incomplete_at = $10, \
                         incomplete_details = $14 \
                       WHERE CAST($14 AS JSONB) IS NOT NULL AND run_id = $1 AND status = $15 \
                         AND id <> $8 AND EXISTS (SELECT 1 FROM step)), \
         open_steps AS (UPDATE run_steps SET status = $16, {step_col} = $10 \
                        WHERE run_id = $1 AND status = $17 AND id <> $12 \
                          AND EXISTS (SELECT 1 FROM step)), \
         r AS (UPDATE runs SET status = $18, last_error = NULL, usage = {usage}, \
                 incomplete_details = $19, required_action = NULL, lease_owner = NULL, \
                 lease_expires_at = NULL, expires_at = NULL{set_time} \
               WHERE id = $1 AND EXISTS (SELECT 1 FROM step) RETURNING {RUN_COLUMNS}) \
         SELECT (SELECT to_jsonb(msg) FROM msg), (SELECT to_jsonb(step) FROM step), \
                (SELECT to_jsonb(r) FROM r)",
        complete = &*COMPLETE_MESSAGE,
        step_col = step_time_col(end.step_status),
        usage = run_usage("$1", Some(("$12", "$11"))),
    );
    let (message, step, run): AtOnce = c
        .bind_step(c.bind_message(sqlx::query_as(&sql), at), at)
        .bind(MessageStatus::Incomplete.as_str())
        .bind(end.message_reason.map(|reason| {
            Json(MessageIncompleteDetails {
                reason: reason.to_owned(),
            })
        }))
        .bind(MessageStatus::InProgress.as_str())
        .bind(end.step_status.as_str())
        .bind(RunStepStatus::InProgress.as_str())
        .bind(status.as_str())
        .bind(incomplete_reason.map(|r| {
            Json(RunIncompleteDetails {
                reason: Some(r.to_owned()),
            })
        }))
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let Some(message) = message else {
        return Ok(None);
    };
    let step =
        step.ok_or_else(|| StoreError::Backend(format!("step {} vanished", c.step_id).into()))?;
    let run =
        run.ok_or_else(|| StoreError::Backend(format!("run {} vanished", c.run_id).into()))?;
    Ok(Some((
        message.0.into_wire()?,
        step.0.into_wire()?,
        run.0.into_wire()?,
    )))
}
