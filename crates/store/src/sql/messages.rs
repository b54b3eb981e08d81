//! Messages and message files.

use super::files::{check_attachable, dedup};
use super::threads::{Guard, active_run, exists as thread_exists, lock as lock_thread};
use super::{
    backend, cursors, d, fetch_json_page, fetch_page, list_scoped, set_metadata, text_enum,
};
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::transitions::ACTIVE;
use assistd_core::{ListParams, MessageStore, ObjectKind, Page, Project, StoreError, StoreResult};
use assistd_wire::{
    AssistantId, CreateMessageRequest, FileId, Message, MessageContent, MessageFile, MessageId,
    MessageIncompleteDetails, MessageStatus, Metadata, RunId, ThreadId,
};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};

#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: MessageId,
    created_at: i64,
    thread_id: ThreadId,
    status: String,
    incomplete_details: Option<Json<MessageIncompleteDetails>>,
    completed_at: Option<i64>,
    incomplete_at: Option<i64>,
    role: String,
    content: Json<Vec<MessageContent>>,
    assistant_id: Option<AssistantId>,
    run_id: Option<RunId>,
    file_ids: Json<Vec<String>>,
    metadata: Option<Json<Metadata>>,
}

impl MessageRow {
    pub(crate) fn into_wire(self) -> StoreResult<Message> {
        Ok(Message {
            id: self.id,
            object: "thread.message".to_owned(),
            created_at: self.created_at,
            thread_id: self.thread_id,
            status: text_enum(self.status)?,
            incomplete_details: self.incomplete_details.map(|d| d.0),
            completed_at: self.completed_at,
            incomplete_at: self.incomplete_at,
            role: text_enum(self.role)?,
            content: self.content.0,
            assistant_id: self.assistant_id,
            run_id: self.run_id,
            file_ids: self.file_ids.0,
            metadata: self.metadata.map(|m| m.0),
        })
    }
}

pub(crate) const SELECT: &str = "SELECT m.id, m.created_at, m.thread_id, m.status, m.incomplete_details, \
    m.completed_at, m.incomplete_at, m.role, m.content, m.assistant_id, m.run_id, m.metadata, \
    m.file_ids FROM messages m";

/// The object of a new user-written message.
fn user_message(
    thread_id: &ThreadId,
    req: &CreateMessageRequest,
    file_ids: Vec<String>,
) -> Message {
    Message {
        id: MessageId::fresh(),
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
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
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
         file_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&msg.id)
    .bind(project.as_str())
    .bind(thread_id)
    .bind(msg.created_at)
    .bind(msg.role.as_str())
    .bind(Json(&msg.content))
    .bind(MessageStatus::Completed.as_str())
    .bind(msg.metadata.as_ref().map(Json))
    .bind(Json(&msg.file_ids))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    for f in &msg.file_ids {
        sqlx::query(
            "INSERT INTO message_files (message_id, file_id, created_at) VALUES ($1, $2, $3)",
        )
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
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
    message_id: &MessageId,
) -> StoreResult<Message> {
    thread_exists(&mut *conn, project, thread_id).await?;
    sqlx::query_as::<_, MessageRow>(&format!(
        "{SELECT} WHERE m.id = $1 AND m.thread_id = $2 AND m.project = $3"
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

async fn fetch_message_file(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    message_id: &MessageId,
    file_id: &FileId,
) -> StoreResult<MessageFile> {
    sqlx::query_as::<_, MessageFileRow>(
        "SELECT file_id, created_at, message_id FROM message_files \
         WHERE message_id = $1 AND file_id = $2",
    )
    .bind(message_id)
    .bind(file_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .map(Into::into)
    .ok_or_else(|| StoreError::not_found(ObjectKind::MessageFile, file_id))
}

#[async_trait]
impl MessageStore for d::Store {
    async fn create_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        req: CreateMessageRequest,
    ) -> StoreResult<Message> {
        // With one writer at a time, the common case of a message without files takes one
        // statement that inserts only if the thread exists in the project and has no active
        // run. When it inserts nothing, the transaction below finds out why and answers
        // accordingly. (Concurrent writers need the thread's row locked first: no fast path.)
        if d::SINGLE_WRITER && req.file_ids.as_ref().is_none_or(Vec::is_empty) {
            let msg = user_message(thread_id, &req, Vec::new());
            let mut insert = sqlx::query(
                "INSERT INTO messages (id, project, thread_id, created_at, role, content, status, \
                 metadata) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE EXISTS (SELECT 1 FROM threads WHERE id = $3 AND project = $2) \
                 AND NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = $3 \
                     AND status IN ($9, $10, $11, $12))",
            )
            .bind(&msg.id)
            .bind(project.as_str())
            .bind(thread_id)
            .bind(msg.created_at)
            .bind(msg.role.as_str())
            .bind(Json(&msg.content))
            .bind(MessageStatus::Completed.as_str())
            .bind(msg.metadata.as_ref().map(Json));
            for status in ACTIVE {
                insert = insert.bind(status.as_str());
            }
            let inserted = insert
                .execute(self.writer())
                .await
                .map_err(backend)?
                .rows_affected();
            if inserted == 1 {
                return Ok(msg);
            }
        }
        let mut tx = self.writer().begin().await.map_err(backend)?;
        lock_thread(&mut tx, project, thread_id, Guard::NewMessage).await?;
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
        thread_id: &ThreadId,
        message_id: &MessageId,
    ) -> StoreResult<Message> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, message_id).await
    }

    async fn modify_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Message> {
        let mut tx = self.writer().begin().await.map_err(backend)?;
        let mut msg = get(&mut tx, project, thread_id, message_id).await?;
        if let Some(m) = metadata {
            set_metadata(&mut tx, "messages", message_id.as_str(), m.as_ref()).await?;
            msg.metadata = m;
        }
        tx.commit().await.map_err(backend)?;
        Ok(msg)
    }

    async fn list_messages(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        params: &ListParams,
        run_id: Option<&RunId>,
    ) -> StoreResult<Page<Message>> {
        let cursors = cursors(
            self.reader(),
            "SELECT seq FROM messages WHERE id = $1 AND thread_id = $2",
            thread_id.as_str(),
            params,
        )
        .await?;
        let page = match cursors {
            None => Page::empty(),
            Some(cursors) => {
                let mut qb = match d::MESSAGE_JSON_PAGE {
                    Some((object, agg)) => QueryBuilder::<d::Db>::new(format!(
                        "SELECT {agg} FROM (SELECT {object} AS obj FROM messages m"
                    )),
                    None => QueryBuilder::<d::Db>::new(SELECT),
                };
                qb.push(" WHERE m.thread_id = ").push_bind(thread_id);
                qb.push(" AND m.project = ").push_bind(project.as_str());
                if let Some(run_id) = run_id {
                    qb.push(" AND m.run_id = ").push_bind(run_id);
                }
                if d::MESSAGE_JSON_PAGE.is_some() {
                    fetch_json_page(self.reader(), qb, "m.seq", params, cursors).await?
                } else {
                    fetch_page(
                        self.reader(),
                        qb,
                        "m.seq",
                        params,
                        cursors,
                        MessageRow::into_wire,
                    )
                    .await?
                }
            }
        };
        // Rows of this project in this thread prove the thread exists; only an empty page needs
        // the extra lookup (to answer 404 for a missing thread).
        if page.data.is_empty() {
            thread_exists(self.reader(), project, thread_id).await?;
        }
        Ok(page)
    }

    async fn list_message_files(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        params: &ListParams,
    ) -> StoreResult<Page<MessageFile>> {
        {
            let mut conn = self.reader().acquire().await.map_err(backend)?;
            get(&mut conn, project, thread_id, message_id).await?;
        }
        list_scoped(
            self.reader(),
            "SELECT seq FROM message_files WHERE file_id = $1 AND message_id = $2",
            "SELECT file_id, created_at, message_id FROM message_files WHERE message_id = ",
            "seq",
            message_id.as_str(),
            params,
            |r: MessageFileRow| Ok(r.into()),
        )
        .await
    }

    async fn get_message_file(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        file_id: &FileId,
    ) -> StoreResult<MessageFile> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        get(&mut conn, project, thread_id, message_id).await?;
        fetch_message_file(&mut *conn, message_id, file_id).await
    }
}
