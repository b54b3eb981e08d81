//! The executor's operations: claiming runs under leases, writing turns, and ending runs.

use crate::json::enc;
use crate::messages::{MessageRow, SELECT as MESSAGE_SELECT};
use crate::runs::{RUN_COLUMNS, RunRow, STEP_COLUMNS, StepRow};
use crate::{SqliteStore, backend, now};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{ClaimedRun, EngineStore, Lease, Project, StoreError, StoreResult, TurnText};
use assistd_wire::{
    LastError, Message, MessageContent, MessageCreation, MessageIncompleteDetails, MessageStatus,
    RequiredAction, Run, RunIncompleteDetails, RunStatus, RunStep, RunStepStatus, RunStepType,
    RunToolCallObject, StepDetails, StepFunctionCall, StepToolCall, SubmitToolOutputs, Usage,
};
use async_trait::async_trait;
use sqlx::{FromRow, SqliteConnection};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn run_by_id(conn: &mut SqliteConnection, run_id: &str) -> StoreResult<Run> {
    sqlx::query_as::<_, RunRow>(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"))
        .bind(run_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("run {run_id} vanished").into()))?
        .into_wire()
}

async fn step_by_id(conn: &mut SqliteConnection, step_id: &str) -> StoreResult<RunStep> {
    sqlx::query_as::<_, StepRow>(&format!(
        "SELECT {STEP_COLUMNS} FROM run_steps WHERE id = ?"
    ))
    .bind(step_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::Backend(format!("step {step_id} vanished").into()))?
    .into_wire()
}

async fn message_by_id(conn: &mut SqliteConnection, message_id: &str) -> StoreResult<Message> {
    sqlx::query_as::<_, MessageRow>(&format!("{MESSAGE_SELECT} WHERE m.id = ?"))
        .bind(message_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::Backend(format!("message {message_id} vanished").into()))?
        .into_wire()
}

/// Inserts an `in_progress` step of `run` with `details` and returns it.
async fn insert_open_step(
    conn: &mut SqliteConnection,
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
         status, step_details) VALUES (?, ?, ?, ?, ?, ?, ?, 'in_progress', ?)",
    )
    .bind(&step.id)
    .bind(project)
    .bind(&run.id)
    .bind(&run.thread_id)
    .bind(&run.assistant_id)
    .bind(at)
    .bind(type_.as_str())
    .bind(enc(&step.step_details)?)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(step)
}

/// Whether `worker` holds the lease on `run_id`.
async fn holds(conn: &mut SqliteConnection, run_id: &str, worker: &str) -> StoreResult<bool> {
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT lease_owner FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
    Ok(owner.flatten().as_deref() == Some(worker))
}

pub(crate) async fn step_usage_sum(
    conn: &mut SqliteConnection,
    run_id: &str,
) -> StoreResult<Usage> {
    let (prompt, completion): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(json_extract(usage, '$.prompt_tokens')), 0), \
         COALESCE(SUM(json_extract(usage, '$.completion_tokens')), 0) \
         FROM run_steps WHERE run_id = ? AND usage IS NOT NULL",
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
    conn: &mut SqliteConnection,
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
            "UPDATE messages SET status = 'incomplete', incomplete_at = ?, incomplete_details = ? \
             WHERE run_id = ? AND status = 'in_progress'",
        )
        .bind(at)
        .bind(enc(&MessageIncompleteDetails {
            reason: reason.to_owned(),
        })?)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    // A step that fails with its run carries the run's error (a step's error codes are only
    // `server_error` and `rate_limit_exceeded`).
    let step_error = last_error
        .map(|e| {
            enc(&LastError {
                code: if e.code == "rate_limit_exceeded" {
                    e.code.clone()
                } else {
                    "server_error".to_owned()
                },
                message: e.message.clone(),
            })
        })
        .transpose()?;
    sqlx::query(&format!(
        "UPDATE run_steps SET status = ?, {step_col} = ?, last_error = COALESCE(?, last_error) \
         WHERE run_id = ? AND status = 'in_progress'"
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
impl EngineStore for SqliteStore {
    async fn claim_run(&self, worker: &str, lease: Duration) -> StoreResult<Option<ClaimedRun>> {
        let t = now_ms();
        // One statement (so one round trip on the writer): claim the oldest runnable run and
        // return it whole.
        let row = sqlx::query(&format!(
            "UPDATE runs SET \
               status = CASE WHEN status = 'queued' THEN 'in_progress' ELSE status END, \
               started_at = COALESCE(started_at, ?), \
               lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM runs WHERE status = 'queued' \
                 OR (status IN ('in_progress', 'cancelling') \
                     AND (lease_expires_at IS NULL OR lease_expires_at < ?)) \
               ORDER BY seq LIMIT 1) \
             RETURNING {RUN_COLUMNS}, project, additional_instructions, attempts"
        ))
        .bind(t / 1000)
        .bind(worker)
        .bind(t + ms(lease))
        .bind(t)
        .fetch_optional(&self.writer)
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
        let status: Option<String> = sqlx::query_scalar(
            "UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? RETURNING status",
        )
        .bind(now_ms() + ms(lease))
        .bind(run_id)
        .bind(worker)
        .fetch_optional(&self.writer)
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
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(run_id)
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn discard_partial_turn(&self, run_id: &str, worker: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if !holds(&mut tx, run_id, worker).await? {
            return Ok(());
        }
        sqlx::query(
            "DELETE FROM messages WHERE run_id = ? AND status = 'in_progress' AND id IN \
             (SELECT json_extract(step_details, '$.message_creation.message_id') FROM run_steps \
              WHERE run_id = ? AND type = 'message_creation' AND status = 'in_progress')",
        )
        .bind(run_id)
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // The run is claimed (in progress), so an open step of either kind is an interrupted
        // turn's: a tool_calls step awaiting outputs only exists while the run is
        // `requires_action`, and submitting the outputs completes it.
        sqlx::query("DELETE FROM run_steps WHERE run_id = ? AND status = 'in_progress'")
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
            "{MESSAGE_SELECT} WHERE m.thread_id = ? AND m.project = ? ORDER BY m.seq"
        ))
        .bind(thread_id)
        .bind(project.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter().map(MessageRow::into_wire).collect()
    }

    async fn run_steps(&self, project: &Project, run_id: &str) -> StoreResult<Vec<RunStep>> {
        let rows: Vec<StepRow> = sqlx::query_as(&format!(
            "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = ? AND project = ? ORDER BY seq"
        ))
        .bind(run_id)
        .bind(project.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter().map(StepRow::into_wire).collect()
    }

    async fn begin_message(&self, run: &Run, worker: &str) -> StoreResult<(Message, RunStep)> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // The run's project, only if this worker still holds the lease.
        let project: Option<String> =
            sqlx::query_scalar("SELECT project FROM runs WHERE id = ? AND lease_owner = ?")
                .bind(&run.id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some(project) = project else {
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
             assistant_id, run_id) VALUES (?, ?, ?, ?, 'assistant', '[]', 'in_progress', ?, ?)",
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if !holds(&mut tx, &run.id, worker).await? {
            return Err(StoreError::invalid("lease lost", None));
        }
        let at = now();
        let content = enc(&vec![MessageContent::text(out.text.clone())])?;
        match &out.incomplete {
            None => sqlx::query(
                "UPDATE messages SET content = ?, status = 'completed', completed_at = ? WHERE id = ?",
            )
            .bind(content)
            .bind(at)
            .bind(message_id),
            Some(reason) => sqlx::query(
                "UPDATE messages SET content = ?, status = 'incomplete', incomplete_at = ?, \
                 incomplete_details = ? WHERE id = ?",
            )
            .bind(content)
            .bind(at)
            .bind(enc(&MessageIncompleteDetails {
                reason: reason.clone(),
            })?)
            .bind(message_id),
        }
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE run_steps SET status = 'completed', completed_at = ?, usage = ? WHERE id = ?",
        )
        .bind(at)
        .bind(enc(&out.usage)?)
        .bind(step_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let message = message_by_id(&mut tx, message_id).await?;
        let step = step_by_id(&mut tx, step_id).await?;
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
        let content = enc(&vec![MessageContent::text(text.to_owned())])?;
        sqlx::query(
            "UPDATE messages SET content = ? WHERE id = ? AND run_id = ? AND status = 'in_progress' \
             AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND lease_owner = ?)",
        )
        .bind(content)
        .bind(message_id)
        .bind(&run.id)
        .bind(&run.id)
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn begin_tool_calls(&self, run: &Run, worker: &str) -> StoreResult<Option<RunStep>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let found: Option<(String, String)> =
            sqlx::query_as("SELECT status, project FROM runs WHERE id = ? AND lease_owner = ?")
                .bind(&run.id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some((status, project)) = found else {
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM runs WHERE id = ? AND lease_owner = ?")
                .bind(&run.id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if status.as_deref() != Some("in_progress") {
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
            "UPDATE run_steps SET step_details = ?, usage = ? WHERE id = ? AND run_id = ? \
             AND type = 'tool_calls' AND status = 'in_progress'",
        )
        .bind(enc(&details)?)
        .bind(enc(&usage)?)
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
            "UPDATE runs SET status = 'requires_action', required_action = ?, lease_owner = NULL, \
             lease_expires_at = NULL WHERE id = ?",
        )
        .bind(enc(&action)?)
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let run = run_by_id(&mut tx, &run.id).await?;
        let step = step_by_id(&mut tx, step_id).await?;
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
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
        let incomplete = incomplete_reason
            .map(|r| {
                enc(&RunIncompleteDetails {
                    reason: Some(r.to_owned()),
                })
            })
            .transpose()?;
        sqlx::query(&format!(
            "UPDATE runs SET status = ?, last_error = ?, usage = ?, incomplete_details = ?, \
             required_action = NULL, lease_owner = NULL, lease_expires_at = NULL{set_time} \
             WHERE id = ?"
        ))
        .bind(status.as_str())
        .bind(last_error.as_ref().map(enc).transpose()?)
        .bind(enc(&usage)?)
        .bind(incomplete)
        .bind(&run.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let run = run_by_id(&mut tx, &run.id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(run))
    }

    async fn expire_due_runs(&self) -> StoreResult<u64> {
        let t = now_ms();
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE expires_at < ? AND (status IN ('queued', 'requires_action') \
             OR (status IN ('in_progress', 'cancelling') \
                 AND (lease_expires_at IS NULL OR lease_expires_at < ?)))",
        )
        .bind(t / 1000)
        .bind(t)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for id in &due {
            close_open_work(&mut tx, id, RunStatus::Expired, t / 1000, None).await?;
            let usage = step_usage_sum(&mut tx, id).await?;
            sqlx::query(
                "UPDATE runs SET status = 'expired', usage = ?, required_action = NULL, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
            )
            .bind(enc(&usage)?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(due.len() as u64)
    }
}
