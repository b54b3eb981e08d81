//! Messages and message files.

use crate::files::{check_attachable, dedup};
use crate::json::{dec, dec_opt, enc, enc_opt};
use crate::threads::{active_run, exists as thread_exists};
use crate::{SqliteStore, backend, empty, fetch_json_page, fetch_page, now, resolve_cursors};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{ListParams, MessageStore, ObjectKind, Page, Project, StoreError, StoreResult};
use assistd_wire::{
    CreateMessageRequest, Message, MessageContent, MessageFile, MessageStatus, Metadata,
};
use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection};

#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: String,
    created_at: i64,
    thread_id: String,
    status: String,
    incomplete_details: Option<String>,
    completed_at: Option<i64>,
    incomplete_at: Option<i64>,
    role: String,
    content: String,
    assistant_id: Option<String>,
    run_id: Option<String>,
    file_ids: String,
    metadata: Option<String>,
}

impl MessageRow {
    pub(crate) fn into_wire(self) -> StoreResult<Message> {
        Ok(Message {
            id: self.id,
            object: "thread.message".to_owned(),
            created_at: self.created_at,
            thread_id: self.thread_id,
            status: dec(&format!("\"{}\"", self.status))?,
            incomplete_details: dec_opt(self.incomplete_details.as_deref())?,
            completed_at: self.completed_at,
            incomplete_at: self.incomplete_at,
            role: dec(&format!("\"{}\"", self.role))?,
            content: dec(&self.content)?,
            assistant_id: self.assistant_id,
            run_id: self.run_id,
            file_ids: dec(&self.file_ids)?,
            metadata: dec_opt(self.metadata.as_deref())?,
        })
    }
}

pub(crate) const SELECT: &str = "SELECT m.id, m.created_at, m.thread_id, m.status, m.incomplete_details, \
    m.completed_at, m.incomplete_at, m.role, m.content, m.assistant_id, m.run_id, m.metadata, \
    m.file_ids FROM messages m";

/// A page of messages built as JSON by SQLite itself (see `fetch_json_page`); the object has
/// exactly the fields of `MessageObject`.
const JSON_PAGE: &str = "SELECT json_group_array(json(obj)) FROM (SELECT json_object(\
    'id', m.id, 'object', 'thread.message', 'created_at', m.created_at, \
    'thread_id', m.thread_id, 'status', m.status, \
    'incomplete_details', json(m.incomplete_details), 'completed_at', m.completed_at, \
    'incomplete_at', m.incomplete_at, 'role', m.role, 'content', json(m.content), \
    'assistant_id', m.assistant_id, 'run_id', m.run_id, 'file_ids', json(m.file_ids), \
    'metadata', json(m.metadata)) AS obj FROM messages m";

/// The object of a new user-written message.
fn user_message(thread_id: &str, req: &CreateMessageRequest, file_ids: Vec<String>) -> Message {
    Message {
        id: new_id(IdKind::Message),
        object: "thread.message".to_owned(),
        created_at: now(),
        thread_id: thread_id.to_owned(),
        status: MessageStatus::Completed,
        incomplete_details: None,
        completed_at: None,
        incomplete_at: None,
        role: req.role,
        content: vec![MessageContent::text(req.content.clone())],
        assistant_id: None,
        run_id: None,
        file_ids,
        metadata: req.metadata.clone(),
    }
}

/// Inserts a user-written message (from the messages endpoint, a new thread, or a run's
/// `additional_messages`); `param` names the request field holding it, for errors.
pub(crate) async fn insert_message(
    conn: &mut SqliteConnection,
    project: &Project,
    thread_id: &str,
    req: CreateMessageRequest,
    param: &str,
) -> StoreResult<Message> {
    let file_ids = dedup(req.file_ids.as_deref().unwrap_or_default());
    let files_param = if param.is_empty() {
        "file_ids".to_owned()
    } else {
        format!("{param}.file_ids")
    };
    check_attachable(conn, project, &file_ids, &files_param).await?;
    let msg = user_message(thread_id, &req, file_ids);
    sqlx::query(
        "INSERT INTO messages (id, project, thread_id, created_at, role, content, status, metadata, \
         file_ids) VALUES (?, ?, ?, ?, ?, ?, 'completed', ?, ?)",
    )
    .bind(&msg.id)
    .bind(project.as_str())
    .bind(thread_id)
    .bind(msg.created_at)
    .bind(msg.role.as_str())
    .bind(enc(&msg.content)?)
    .bind(enc_opt(msg.metadata.as_ref())?)
    .bind(enc(&msg.file_ids)?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    for f in &msg.file_ids {
        sqlx::query("INSERT INTO message_files (message_id, file_id, created_at) VALUES (?, ?, ?)")
            .bind(&msg.id)
            .bind(f)
            .bind(msg.created_at)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(msg)
}

async fn get(
    conn: &mut SqliteConnection,
    project: &Project,
    thread_id: &str,
    message_id: &str,
) -> StoreResult<Message> {
    thread_exists(conn, project, thread_id).await?;
    sqlx::query_as::<_, MessageRow>(&format!(
        "{SELECT} WHERE m.id = ? AND m.thread_id = ? AND m.project = ?"
    ))
    .bind(message_id)
    .bind(thread_id)
    .bind(project.as_str())
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::not_found(ObjectKind::Message, message_id))?
    .into_wire()
}

#[derive(FromRow)]
struct MessageFileRow {
    file_id: String,
    created_at: i64,
    message_id: String,
}

impl From<MessageFileRow> for MessageFile {
    fn from(r: MessageFileRow) -> Self {
        MessageFile {
            id: r.file_id,
            object: "thread.message.file".to_owned(),
            created_at: r.created_at,
            message_id: r.message_id,
        }
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn create_message(
        &self,
        project: &Project,
        thread_id: &str,
        req: CreateMessageRequest,
    ) -> StoreResult<Message> {
        // Fast path, the common case of a message without files: one statement that inserts
        // only if the thread exists in the project and has no active run. When it inserts
        // nothing, the transaction below finds out why and answers accordingly.
        if req.file_ids.as_ref().is_none_or(Vec::is_empty) {
            let msg = user_message(thread_id, &req, Vec::new());
            let inserted = sqlx::query(
                "INSERT INTO messages (id, project, thread_id, created_at, role, content, status, \
                 metadata) SELECT ?, ?, ?, ?, ?, ?, 'completed', ? \
                 WHERE EXISTS (SELECT 1 FROM threads WHERE id = ? AND project = ?) \
                 AND NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = ? \
                     AND status IN ('queued', 'in_progress', 'requires_action', 'cancelling'))",
            )
            .bind(&msg.id)
            .bind(project.as_str())
            .bind(thread_id)
            .bind(msg.created_at)
            .bind(msg.role.as_str())
            .bind(enc(&msg.content)?)
            .bind(enc_opt(msg.metadata.as_ref())?)
            .bind(thread_id)
            .bind(project.as_str())
            .bind(thread_id)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
            if inserted == 1 {
                return Ok(msg);
            }
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        thread_exists(&mut tx, project, thread_id).await?;
        if let Some(run_id) = active_run(&mut tx, thread_id).await? {
            return Err(StoreError::invalid(
                format!("Can't add messages to {thread_id} while a run {run_id} is active."),
                None,
            ));
        }
        let msg = insert_message(&mut tx, project, thread_id, req, "").await?;
        tx.commit().await.map_err(backend)?;
        Ok(msg)
    }

    async fn get_message(
        &self,
        project: &Project,
        thread_id: &str,
        message_id: &str,
    ) -> StoreResult<Message> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, message_id).await
    }

    async fn modify_message(
        &self,
        project: &Project,
        thread_id: &str,
        message_id: &str,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Message> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut msg = get(&mut tx, project, thread_id, message_id).await?;
        if let Some(m) = metadata {
            sqlx::query("UPDATE messages SET metadata = ? WHERE id = ?")
                .bind(enc_opt(m.as_ref())?)
                .bind(message_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            msg.metadata = m;
        }
        tx.commit().await.map_err(backend)?;
        Ok(msg)
    }

    async fn list_messages(
        &self,
        project: &Project,
        thread_id: &str,
        params: &ListParams,
        run_id: Option<&str>,
    ) -> StoreResult<Page<Message>> {
        let cursors = resolve_cursors(params, |id| async move {
            sqlx::query_scalar("SELECT seq FROM messages WHERE id = ? AND thread_id = ?")
                .bind(id)
                .bind(thread_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)
        })
        .await?;
        let page = match cursors {
            Err(()) => empty(),
            Ok((after, before)) => {
                let mut qb = QueryBuilder::<Sqlite>::new(JSON_PAGE);
                qb.push(" WHERE m.thread_id = ").push_bind(thread_id);
                qb.push(" AND m.project = ").push_bind(project.as_str());
                if let Some(run_id) = run_id {
                    qb.push(" AND m.run_id = ").push_bind(run_id);
                }
                fetch_json_page(&self.reader, qb, "m.seq", params, after, before).await?
            }
        };
        // Rows of this project in this thread prove the thread exists; only an empty page needs
        // the extra lookup (to answer 404 for a missing thread).
        if page.data.is_empty() {
            let mut conn = self.reader.acquire().await.map_err(backend)?;
            thread_exists(&mut conn, project, thread_id).await?;
        }
        Ok(page)
    }

    async fn list_message_files(
        &self,
        project: &Project,
        thread_id: &str,
        message_id: &str,
        params: &ListParams,
    ) -> StoreResult<Page<MessageFile>> {
        {
            let mut conn = self.reader.acquire().await.map_err(backend)?;
            get(&mut conn, project, thread_id, message_id).await?;
        }
        let cursors = resolve_cursors(params, |id| async move {
            sqlx::query_scalar("SELECT seq FROM message_files WHERE message_id = ? AND file_id = ?")
                .bind(message_id)
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)
        })
        .await?;
        let Ok((after, before)) = cursors else {
            return Ok(empty());
        };
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT file_id, created_at, message_id FROM message_files WHERE message_id = ",
        );
        qb.push_bind(message_id);
        fetch_page(
            &self.reader,
            qb,
            "seq",
            params,
            after,
            before,
            |r: MessageFileRow| Ok(r.into()),
        )
        .await
    }

    async fn get_message_file(
        &self,
        project: &Project,
        thread_id: &str,
        message_id: &str,
        file_id: &str,
    ) -> StoreResult<MessageFile> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, message_id).await?;
        sqlx::query_as::<_, MessageFileRow>(
            "SELECT file_id, created_at, message_id FROM message_files \
             WHERE message_id = ? AND file_id = ?",
        )
        .bind(message_id)
        .bind(file_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(Into::into)
        .ok_or_else(|| StoreError::not_found(ObjectKind::MessageFile, file_id))
    }
}
