//! Messages and message files.

use super::files::{check_attachable, check_attachable_one, dedup};
use super::threads::{Guard, active_run, exists as thread_exists, lock as lock_thread};
use super::vector_stores::{insert_file, insert_vector_store};
use super::{
    abort, backend, cursors, d, fetch_json_page, fetch_page, list_scoped, set_metadata, text_enum,
};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::transitions::ACTIVE;
use assistd_core::vector_stores::{NewVectorStore, NewVectorStoreFile, VectorStoreOrigin};
use assistd_core::{ListParams, MessageStore, ObjectKind, Page, Project, StoreError, StoreResult};
use assistd_wire::vector_stores::{
    ChunkingStrategy, VectorStoreExpirationAfter, VectorStoreExpirationAnchor,
};
use assistd_wire::{
    AssistantId, CreateMessageRequest, FileId, Message, MessageContent, MessageFile, MessageId,
    MessageIncompleteDetails, MessageStatus, Metadata, RunId, ThreadId,
};
use assistd_wire::{Attachment, MessageRequestContent, MessageRequestContentPart, VectorStoreId};
use async_trait::async_trait;
use sqlx::Connection;
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};

/// Also `Deserialize`: a statement that returns several kinds of rows sends them as JSON
/// objects of these columns.
#[derive(FromRow, serde::Deserialize)]
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
    attachments: Option<Json<Vec<Attachment>>>,
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
            attachments: self.attachments.map(|a| a.0),
            metadata: self.metadata.map(|m| m.0),
        })
    }
}

/// A message's columns, as [`MessageRow`] reads them: for a `SELECT` and for a `RETURNING`.
macro_rules! columns {
    () => {
        "id, created_at, thread_id, status, incomplete_details, completed_at, incomplete_at, \
         role, content, assistant_id, run_id, metadata, file_ids, attachments"
    };
}

/// [`columns!`], for a write that returns the message it changed.
pub(crate) const COLUMNS: &str = columns!();

/// Reads messages (as `m`); the caller adds the conditions.
pub(crate) const SELECT: &str = concat!("SELECT ", columns!(), " FROM messages m");

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
        content: req.content.to_content(),
        assistant_id: None,
        run_id: None,
        file_ids,
        attachments: req.attachments.clone(),
        metadata: req.metadata.clone(),
    }
}

/// Inserts a user-written message (from the messages endpoint, a new thread, or a run's
/// `additional_messages`); `param` names the request field holding it, for errors.
///
/// v2 `attachments` become the message's `file_ids` (their distinct files) and are kept as
/// written; the files of `file_search` attachments (and every v1 message file, which served
/// both tools) go into the thread's vector store, created for the thread if it has none.
pub(crate) async fn insert_message(
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
    req: CreateMessageRequest,
    param: &str,
) -> StoreResult<Message> {
    let prefix = |field: &str| {
        if param.is_empty() {
            field.to_owned()
        } else {
            format!("{param}.{field}")
        }
    };
    let (file_ids, searched) = if let Some(attachments) = &req.attachments {
        for (i, a) in attachments.iter().enumerate() {
            check_attachable_one(
                conn,
                project,
                &a.file_id,
                &prefix(&format!("attachments[{i}].file_id")),
            )
            .await?;
        }
        let ids: Vec<String> = attachments.iter().map(|a| a.file_id.clone()).collect();
        let searched: Vec<String> = attachments
            .iter()
            .filter(|a| a.for_file_search())
            .map(|a| a.file_id.clone())
            .collect();
        (dedup(&ids), dedup(&searched))
    } else {
        let ids = dedup(req.file_ids.as_deref().unwrap_or_default());
        check_attachable(conn, project, &ids, &prefix("file_ids")).await?;
        (ids.clone(), ids)
    };
    check_image_files(conn, project, &req.content, &prefix("content")).await?;
    let msg = user_message(thread_id, &req, file_ids);
    sqlx::query(
        "INSERT INTO messages (id, project, thread_id, created_at, role, content, status, metadata, \
         file_ids, attachments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(msg.attachments.as_ref().map(Json))
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
    if !searched.is_empty() {
        add_to_thread_store(conn, project, thread_id, &searched).await?;
    }
    Ok(msg)
}

/// The files of `image_file` parts must be files of this project (`assistants` or `vision`).
async fn check_image_files(
    conn: &mut d::Conn,
    project: &Project,
    content: &MessageRequestContent,
    param: &str,
) -> StoreResult<()> {
    let MessageRequestContent::Parts(parts) = content else {
        return Ok(());
    };
    for (i, part) in parts.iter().enumerate() {
        let MessageRequestContentPart::ImageFile { image_file } = part else {
            continue;
        };
        let p = format!("{param}[{i}].image_file.file_id");
        let purpose: Option<String> = sqlx::query_scalar(&format!(
            "SELECT purpose FROM files WHERE id = $1 AND project = $2{}",
            d::lock(RowLock::KeyShare)
        ))
        .bind(&image_file.file_id)
        .bind(project.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        match purpose.as_deref() {
            None => {
                return Err(StoreError::InvalidReference {
                    kind: ObjectKind::File,
                    id: image_file.file_id.clone(),
                    param: p,
                });
            }
            Some("assistants" | "vision") => {}
            Some(other) => {
                return Err(StoreError::invalid(
                    format!(
                        "Invalid '{p}': file '{}' has purpose '{other}', but an image file must have purpose 'vision' or 'assistants'.",
                        image_file.file_id
                    ),
                    Some(&p),
                ));
            }
        }
    }
    Ok(())
}

/// Days of inactivity after which a thread's attachment store expires, as OpenAI set it.
const THREAD_STORE_DAYS: i64 = 7;

/// Adds `files` to the thread's vector store, creating one (and naming it in the thread's
/// `vector_store_ids`) when the thread has none that still exists.
async fn add_to_thread_store(
    conn: &mut d::Conn,
    project: &Project,
    thread_id: &ThreadId,
    files: &[String],
) -> StoreResult<()> {
    let ids: Option<Json<Vec<String>>> = sqlx::query_scalar(&format!(
        "SELECT vector_store_ids FROM threads WHERE id = $1 AND project = $2{}",
        d::lock(RowLock::NoKeyUpdate)
    ))
    .bind(thread_id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some(Json(ids)) = ids else {
        return Err(StoreError::not_found(ObjectKind::Thread, thread_id));
    };
    let mut existing = None;
    if let Some(first) = ids.first() {
        let found: Option<i32> = sqlx::query_scalar(&format!(
            "SELECT 1 FROM vector_stores WHERE id = $1 AND project = $2{}",
            d::lock(RowLock::KeyShare)
        ))
        .bind(first)
        .bind(project.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if found.is_some() {
            existing = Some(VectorStoreId::from(first.clone()));
        }
    }
    let new_files: Vec<NewVectorStoreFile> = files
        .iter()
        .map(|f| NewVectorStoreFile {
            file_id: FileId::from(f.clone()),
            chunking_strategy: ChunkingStrategy::default(),
            attributes: None,
        })
        .collect();
    if let Some(store_id) = existing {
        let at = now();
        for f in &new_files {
            insert_file(conn, project, &store_id, f, at).await?;
        }
    } else {
        let store = NewVectorStore {
            name: None,
            description: None,
            expires_after: Some(VectorStoreExpirationAfter {
                anchor: VectorStoreExpirationAnchor::LastActiveAt,
                days: THREAD_STORE_DAYS,
            }),
            metadata: None,
            files: new_files,
            origin: VectorStoreOrigin::ThreadAttachments,
        };
        let store_id = insert_vector_store(conn, project, &store, "file_ids").await?;
        sqlx::query("UPDATE threads SET vector_store_ids = $1 WHERE id = $2")
            .bind(Json(vec![store_id.into_string()]))
            .bind(thread_id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
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
        let plain = req.file_ids.as_ref().is_none_or(Vec::is_empty)
            && req.attachments.as_ref().is_none_or(Vec::is_empty)
            && !matches!(&req.content, MessageRequestContent::Parts(parts)
                if parts.iter().any(|p| matches!(p, MessageRequestContentPart::ImageFile { .. })));
        let (project, thread_id) = (project.clone(), thread_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id) = (&project, &thread_id);
                if d::SINGLE_WRITER && plain {
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
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if inserted == 1 {
                        return Ok(msg);
                    }
                }
                let mut tx = conn.begin().await.map_err(backend)?;
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
            })
        })
        .await
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
        let (project, thread_id, message_id) =
            (project.clone(), thread_id.clone(), message_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id, message_id) = (&project, &thread_id, &message_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let mut msg = get(&mut tx, project, thread_id, message_id).await?;
                if let Some(m) = metadata {
                    set_metadata(&mut tx, "messages", message_id.as_str(), m.as_ref()).await?;
                    msg.metadata = m;
                }
                tx.commit().await.map_err(backend)?;
                Ok(msg)
            })
        })
        .await
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

    async fn delete_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
    ) -> StoreResult<()> {
        let (project, thread_id, message_id) =
            (project.clone(), thread_id.clone(), message_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, thread_id, message_id) = (&project, &thread_id, &message_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let msg = match get(&mut tx, project, thread_id, message_id).await {
                    Ok(m) => m,
                    Err(e) => return abort(tx, e).await,
                };
                if msg.status == MessageStatus::InProgress {
                    let e = StoreError::invalid(
                        format!("Can't delete message {message_id} while a run is writing it."),
                        None,
                    );
                    return abort(tx, e).await;
                }
                // Its `message_files` rows go by ON DELETE CASCADE; its files stay (and stay in the
                // thread's vector store, as OpenAI leaves them).
                sqlx::query("DELETE FROM messages WHERE id = $1 AND project = $2")
                    .bind(message_id)
                    .bind(project.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            })
        })
        .await
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
