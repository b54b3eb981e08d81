//! The executor's operations: claiming runs under leases, writing turns, and ending runs.
//!
//! Every transition that depends on holding the lease locks the run's row first (`holds`,
//! `lease_project`), so that a claim by another worker cannot slip between the check and the
//! write. Leases are in milliseconds on the database's clock ([`DB_NOW_MS`]): workers in several
//! processes, on several hosts, compare them against one clock.

use crate::messages::{MessageRow, SELECT as MESSAGE_SELECT};
use crate::runs::{RUN_COLUMNS, RunRow, STEP_COLUMNS, StepRow};
use crate::{PostgresStore, backend, now};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{ClaimedRun, EngineStore, Lease, Project, StoreError, StoreResult, TurnText};
use assistd_wire::{
    LastError, Message, MessageContent, MessageCreation, MessageIncompleteDetails, MessageStatus,
    RequiredAction, Run, RunIncompleteDetails, RunStatus, RunStep, RunStepStatus, RunStepType,
    RunToolCallObject, StepDetails, StepFunctionCall, StepToolCall, SubmitToolOutputs, Usage,
};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor};
use std::time::Duration;

/// The database's clock in Unix milliseconds, for lease arithmetic.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn run_by_id(conn: impl PgExecutor<'_>, run_id: &str) -> StoreResult<Run> {
    sqlx::query_as::<_, RunRow>(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
        .bind(run_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("run {run_id} vanished").into()))?
        .into_wire()
}

async fn step_by_id(conn: impl PgExecutor<'_>, step_id: &str) -> StoreResult<RunStep> {
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

async fn message_by_id(conn: impl PgExecutor<'_>, message_id: &str) -> StoreResult<Message> {
    sqlx::query_as::<_, MessageRow>(&format!("{MESSAGE_SELECT} WHERE m.id = $1"))
        .bind(message_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("message {message_id} vanished").into()))?
        .into_wire()
}

/// Inserts an `in_progress` step of `run` with `details` and returns it.
async fn insert_open_step(
    conn: &mut PgConnection,
    project: &str,
    run: &Run,
    at: i64,
    details: StepDetails,
) -> StoreResult<RunStep> {
    let type_ = match details {
        StepDetails::MessageCreation { .. } => RunStepType::MessageCreation,
        StepDetails::ToolCalls { .. } => RunStepType::ToolCalls,
    };
    let step = RunStep {
        id: new_id(IdKind::Step),
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
    };
    sqlx::query(
        "INSERT INTO run_steps (id, project, run_id, thread_id, assistant_id, created_at, type, \
         status, step_details) VALUES ($1, $2, $3, $4, $5, $6, $7, 'in_progress', $8)",
    )
    .bind(&step.id)
    .bind(project)
    .bind(&run.id)
    .bind(&run.thread_id)
    .bind(&run.assistant_id)
    .bind(at)
    .bind(type_.as_str())
    .bind(Json(&step.step_details))
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(step)
}

/// Whether `worker` holds the lease on `run_id`; if so, the run's row stays locked until the
/// transaction ends.
async fn holds(conn: &mut PgConnection, run_id: &str, worker: &str) -> StoreResult<bool> {
    Ok(lease_status(conn, run_id, worker).await?.is_some())
}

/// The status and project of `run_id` if `worker` holds its lease, locking the run's row until
/// the transaction ends.
async fn lease_status(
    conn: &mut PgConnection,
    run_id: &str,
    worker: &str,
) -> StoreResult<Option<(String, String)>> {
    sqlx::query_as("SELECT status, project FROM runs WHERE id = $1 AND lease_owner = $2 FOR UPDATE")
        .bind(run_id)
        .bind(worker)
        .fetch_optional(conn)
        .await
        .map_err(backend)
}

/// The usage of the run's steps, summed (what a run reports once it ended).
pub(crate) async fn step_usage_sum(conn: &mut PgConnection, run_id: &str) -> StoreResult<Usage> {
    let (prompt, completion): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM((usage ->> 'prompt_tokens')::BIGINT), 0)::BIGINT, \
         COALESCE(SUM((usage ->> 'completion_tokens')::BIGINT), 0)::BIGINT \
         FROM run_steps WHERE run_id = $1 AND usage IS NOT NULL",
    )
    .bind(run_id)
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    Ok(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    })
}

/// Ends a run's open steps and messages along with the run.
async fn close_open_work(
    conn: &mut PgConnection,
    run_id: &str,
    status: RunStatus,
    at: i64,
    last_error: Option<&LastError>,
) -> StoreResult<()> {
    let (step_status, step_col, reason) = match status {
        RunStatus::Cancelled => ("cancelled", "cancelled_at", "run_cancelled"),
        RunStatus::Expired => ("expired", "expired_at", "run_expired"),
        RunStatus::Failed => ("failed", "failed_at", "run_failed"),
        _ => ("completed", "completed_at", ""),
    };
    if !reason.is_empty() {
        sqlx::query(
            "UPDATE messages SET status = 'incomplete', incomplete_at = $1, \
             incomplete_details = $2 WHERE run_id = $3 AND status = 'in_progress'",
        )
        .bind(at)
        .bind(Json(MessageIncompleteDetails {
            reason: reason.to_owned(),
        }))
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    // A step that fails with its run carries the run's error (a step's error codes are only
    // `server_error` and `rate_limit_exceeded`).
    let step_error = last_error.map(|e| {
        Json(LastError {
            code: if e.code == "rate_limit_exceeded" {
                e.code.clone()
            } else {
                "server_error".to_owned()
            },
            message: e.message.clone(),
        })
    });
    sqlx::query(&format!(
        "UPDATE run_steps SET status = $1, {step_col} = $2, \
         last_error = COALESCE($3, last_error) WHERE run_id = $4 AND status = 'in_progress'"
    ))
    .bind(step_status)
    .bind(at)
    .bind(step_error)
    .bind(run_id)
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
}

#[async_trait]
impl EngineStore for PostgresStore {
    async fn claim_run(&self, worker: &str, lease: Duration) -> StoreResult<Option<ClaimedRun>> {
        // One statement: pick the oldest runnable run, skipping rows another transaction has
        // locked (a concurrent claim, a cancel...), so that claimers in any number of processes
        // each take a different run without waiting on each other; then claim it and return it
        // whole. The pick re-checks its condition on the row it locks, so a run claimed and
        // committed since the statement's snapshot is passed over too.
        let row = sqlx::query(&format!(
            "WITH next AS ( \
                 SELECT id AS next_id FROM runs \
                 WHERE status = 'queued' \
                    OR (status IN ('in_progress', 'cancelling') \
                        AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW_MS})) \
                 ORDER BY seq LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE runs SET \
               status = CASE WHEN status = 'queued' THEN 'in_progress' ELSE status END, \
               started_at = COALESCE(started_at, $1), \
               lease_owner = $2, lease_expires_at = {DB_NOW_MS} + $3, attempts = attempts + 1 \
             FROM next WHERE runs.id = next.next_id \
             RETURNING {RUN_COLUMNS}, project, additional_instructions, attempts"
        ))
        .bind(now())
        .bind(worker)
        .bind(ms(lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let c = Claimed::from_row(&row).map_err(backend)?;
        let run = RunRow::from_row(&row).map_err(backend)?.into_wire()?;
        Ok(Some(ClaimedRun {
            project: Project::new(c.project),
            run,
            additional_instructions: c.additional_instructions,
            attempt: c.attempts,
        }))
    }

    async fn renew_lease(&self, run_id: &str, worker: &str, lease: Duration) -> StoreResult<Lease> {
        let status: Option<String> = sqlx::query_scalar(&format!(
            "UPDATE runs SET lease_expires_at = {DB_NOW_MS} + $1 \
             WHERE id = $2 AND lease_owner = $3 RETURNING status"
        ))
        .bind(ms(lease))
        .bind(run_id)
        .bind(worker)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match status.as_deref().and_then(RunStatus::parse) {
            Some(s) => Lease::Held(s),
            None => Lease::Lost,
        })
    }

    async fn release_run(&self, run_id: &str, worker: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(run_id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn discard_partial_turn(&self, run_id: &str, worker: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !holds(&mut tx, run_id, worker).await? {
            return Ok(());
        }
        sqlx::query(
            "DELETE FROM messages WHERE run_id = $1 AND status = 'in_progress' AND id IN \
             (SELECT step_details -> 'message_creation' ->> 'message_id' FROM run_steps \
              WHERE run_id = $1 AND type = 'message_creation' AND status = 'in_progress')",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // The run is claimed (in progress), so an open step of either kind is an interrupted
        // turn's: a tool_calls step awaiting outputs only exists while the run is
        // `requires_action`, and submitting the outputs completes it.
        sqlx::query("DELETE FROM run_steps WHERE run_id = $1 AND status = 'in_progress'")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn thread_messages(
        &self,
        project: &Project,
        thread_id: &str,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_SELECT} WHERE m.thread_id = $1 AND m.project = $2 ORDER BY m.seq"
        ))
        .bind(thread_id)
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(MessageRow::into_wire).collect()
    }

    async fn run_steps(&self, project: &Project, run_id: &str) -> StoreResult<Vec<RunStep>> {
        let rows: Vec<StepRow> = sqlx::query_as(&format!(
            "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 AND project = $2 ORDER BY seq"
        ))
        .bind(run_id)
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(StepRow::into_wire).collect()
    }

    async fn begin_message(&self, run: &Run, worker: &str) -> StoreResult<(Message, RunStep)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The run's project, only if this worker still holds the lease.
        let Some((_, project)) = lease_status(&mut tx, &run.id, worker).await? else {
            return Err(StoreError::invalid("lease lost", None));
        };
        let at = now();
        let msg = Message {
            id: new_id(IdKind::Message),
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
            metadata: None,
        };
        sqlx::query(
            "INSERT INTO messages (id, project, thread_id, created_at, role, content, status, \
             assistant_id, run_id) VALUES ($1, $2, $3, $4, 'assistant', '[]', 'in_progress', $5, $6)",
        )
        .bind(&msg.id)
        .bind(&project)
        .bind(&msg.thread_id)
        .bind(at)
        .bind(&run.assistant_id)
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let step = insert_open_step(
            &mut tx,
            &project,
            run,
            at,
            StepDetails::MessageCreation {
                message_creation: MessageCreation {
                    message_id: msg.id.clone(),
                },
            },
        )
        .await?;
        tx.commit().await.map_err(backend)?;
        Ok((msg, step))
    }

    async fn complete_message(
        &self,
        run: &Run,
        worker: &str,
        message_id: &str,
        step_id: &str,
        out: &TurnText,
    ) -> StoreResult<(Message, RunStep)> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !holds(&mut tx, &run.id, worker).await? {
            return Err(StoreError::invalid("lease lost", None));
        }
        let at = now();
        let content = Json(vec![MessageContent::text(out.text.clone())]);
        match &out.incomplete {
            None => sqlx::query(
                "UPDATE messages SET content = $1, status = 'completed', completed_at = $2 \
                 WHERE id = $3",
            )
            .bind(content)
            .bind(at)
            .bind(message_id),
            Some(reason) => sqlx::query(
                "UPDATE messages SET content = $1, status = 'incomplete', incomplete_at = $2, \
                 incomplete_details = $3 WHERE id = $4",
            )
            .bind(content)
            .bind(at)
            .bind(Json(MessageIncompleteDetails {
                reason: reason.clone(),
            }))
            .bind(message_id),
        }
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE run_steps SET status = 'completed', completed_at = $1, usage = $2 WHERE id = $3",
        )
        .bind(at)
        .bind(Json(&out.usage))
        .bind(step_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let message = message_by_id(&mut *tx, message_id).await?;
        let step = step_by_id(&mut *tx, step_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok((message, step))
    }

    async fn save_text(
        &self,
        run: &Run,
        worker: &str,
        message_id: &str,
        text: &str,
    ) -> StoreResult<()> {
        // Not locked: a worker that loses its lease meanwhile writes at most into its own
        // in-progress message, which the new owner discards before its turn.
        sqlx::query(
            "UPDATE messages SET content = $1 WHERE id = $2 AND run_id = $3 \
             AND status = 'in_progress' \
             AND EXISTS (SELECT 1 FROM runs WHERE id = $3 AND lease_owner = $4)",
        )
        .bind(Json(vec![MessageContent::text(text.to_owned())]))
        .bind(message_id)
        .bind(&run.id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn begin_tool_calls(&self, run: &Run, worker: &str) -> StoreResult<Option<RunStep>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let Some((status, project)) = lease_status(&mut tx, &run.id, worker).await? else {
            return Ok(None);
        };
        if status != "in_progress" {
            return Ok(None);
        }
        let step = insert_open_step(
            &mut tx,
            &project,
            run,
            now(),
            StepDetails::ToolCalls {
                tool_calls: Vec::new(),
            },
        )
        .await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(step))
    }

    async fn require_action_for_step(
        &self,
        run: &Run,
        worker: &str,
        step_id: &str,
        calls: Vec<RunToolCallObject>,
        usage: Usage,
    ) -> StoreResult<Option<(Run, RunStep)>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let status = lease_status(&mut tx, &run.id, worker).await?;
        if status.as_ref().map(|(s, _)| s.as_str()) != Some("in_progress") {
            return Ok(None);
        }
        let details = StepDetails::ToolCalls {
            tool_calls: calls
                .iter()
                .map(|c| StepToolCall::Function {
                    id: c.id.clone(),
                    function: StepFunctionCall {
                        name: c.function.name.clone(),
                        arguments: c.function.arguments.clone(),
                        output: None,
                    },
                })
                .collect(),
        };
        // The usage is stored now (it counts towards the run) but reads as null until the step
        // ends, as the API says of in-progress steps.
        let updated = sqlx::query(
            "UPDATE run_steps SET step_details = $1, usage = $2 WHERE id = $3 AND run_id = $4 \
             AND type = 'tool_calls' AND status = 'in_progress'",
        )
        .bind(Json(&details))
        .bind(Json(&usage))
        .bind(step_id)
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::Backend(
                format!("tool_calls step {step_id} of run {} is not open", run.id).into(),
            ));
        }
        let action = RequiredAction {
            type_: "submit_tool_outputs".to_owned(),
            submit_tool_outputs: SubmitToolOutputs { tool_calls: calls },
        };
        sqlx::query(
            "UPDATE runs SET status = 'requires_action', required_action = $1, \
             lease_owner = NULL, lease_expires_at = NULL WHERE id = $2",
        )
        .bind(Json(&action))
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let run = run_by_id(&mut *tx, &run.id).await?;
        let step = step_by_id(&mut *tx, step_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some((run, step)))
    }

    async fn finish_run(
        &self,
        run: &Run,
        worker: &str,
        status: RunStatus,
        last_error: Option<LastError>,
        incomplete_reason: Option<&str>,
    ) -> StoreResult<Option<Run>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !holds(&mut tx, &run.id, worker).await? {
            return Ok(None);
        }
        let at = now();
        close_open_work(&mut tx, &run.id, status, at, last_error.as_ref()).await?;
        let usage = step_usage_sum(&mut tx, &run.id).await?;
        let time_col = match status {
            RunStatus::Completed => "completed_at",
            RunStatus::Failed => "failed_at",
            RunStatus::Cancelled => "cancelled_at",
            RunStatus::Expired => "expires_at",
            other => {
                return Err(StoreError::Backend(
                    format!("finish_run with non-terminal status {}", other.as_str()).into(),
                ));
            }
        };
        // An expired run keeps its original `expires_at`: the column is only rewritten for the
        // other statuses.
        let set_time = if status == RunStatus::Expired {
            String::new()
        } else {
            format!(", {time_col} = {at}")
        };
        let incomplete = incomplete_reason.map(|r| {
            Json(RunIncompleteDetails {
                reason: Some(r.to_owned()),
            })
        });
        sqlx::query(&format!(
            "UPDATE runs SET status = $1, last_error = $2, usage = $3, incomplete_details = $4, \
             required_action = NULL, lease_owner = NULL, lease_expires_at = NULL{set_time} \
             WHERE id = $5"
        ))
        .bind(status.as_str())
        .bind(last_error.as_ref().map(Json))
        .bind(Json(&usage))
        .bind(incomplete)
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let run = run_by_id(&mut *tx, &run.id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(run))
    }

    async fn expire_due_runs(&self) -> StoreResult<u64> {
        let at = now();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Runs locked elsewhere (being claimed, cancelled, finished, or swept by another
        // process) are skipped; the next sweep sees them as they are then.
        let due: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM runs WHERE expires_at < $1 \
             AND (status IN ('queued', 'requires_action') \
                  OR (status IN ('in_progress', 'cancelling') \
                      AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW_MS}))) \
             ORDER BY seq FOR UPDATE SKIP LOCKED"
        ))
        .bind(at)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for id in &due {
            close_open_work(&mut tx, id, RunStatus::Expired, at, None).await?;
            let usage = step_usage_sum(&mut tx, id).await?;
            sqlx::query(
                "UPDATE runs SET status = 'expired', usage = $1, required_action = NULL, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = $2",
            )
            .bind(Json(&usage))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(due.len() as u64)
    }
}
