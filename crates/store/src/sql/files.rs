//! File records, and the checks other resources make when they reference files.

use super::{DELETE_BATCH, DELETE_BATCH_ROWS, backend, cursors, d, fetch_page};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::{
    FileStore, ListParams, NewFile, ObjectKind, Page, Project, StoreError, StoreResult,
};
use assistd_wire::FileId;
use assistd_wire::OpenAIFile;
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{Connection, FromRow, QueryBuilder};

#[derive(FromRow)]
struct FileRow {
    id: FileId,
    created_at: i64,
    bytes: i64,
    filename: String,
    purpose: String,
    status: String,
    status_details: Option<String>,
    expires_at: Option<i64>,
}

impl From<FileRow> for OpenAIFile {
    fn from(r: FileRow) -> Self {
        OpenAIFile {
            id: r.id,
            bytes: r.bytes,
            created_at: r.created_at,
            filename: r.filename,
            object: "file".to_owned(),
            purpose: r.purpose,
            status: r.status,
            status_details: r.status_details,
            expires_at: r.expires_at,
        }
    }
}

const COLUMNS: &str =
    "id, created_at, bytes, filename, purpose, status, status_details, expires_at";

/// Checks that every id names a file of this project with purpose `assistants`; `param` names
/// the referencing field (`file_ids`, `messages[0].file_ids`, ...).
///
/// Each file found stays key-share locked until the transaction ends, so a concurrent
/// `delete_file` waits for the attachment to commit (and then detaches it) instead of the
/// attachment failing on its foreign key; a file deleted first reads as missing here.
pub(crate) async fn check_attachable(
    conn: &mut d::Conn,
    project: &Project,
    ids: &[String],
    param: &str,
) -> StoreResult<()> {
    for (i, id) in ids.iter().enumerate() {
        check_attachable_one(conn, project, id, &format!("{param}[{i}]")).await?;
    }
    Ok(())
}

/// [`check_attachable`] for one id referenced at `param` (the whole path, e.g. `file_id`).
pub(crate) async fn check_attachable_one(
    conn: &mut d::Conn,
    project: &Project,
    id: &str,
    param: &str,
) -> StoreResult<()> {
    let purpose: Option<String> = sqlx::query_scalar(&format!(
        "SELECT purpose FROM files WHERE id = $1 AND project = $2{}",
        d::lock(RowLock::KeyShare)
    ))
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    match purpose {
        None => Err(StoreError::InvalidReference {
            kind: ObjectKind::File,
            id: id.to_owned(),
            param: param.to_owned(),
        }),
        Some(p) if p != "assistants" => Err(StoreError::invalid(
            format!(
                "Invalid '{param}': file '{id}' has purpose '{p}', but only files with purpose 'assistants' can be attached."
            ),
            Some(param),
        )),
        Some(_) => Ok(()),
    }
}

/// Removes duplicates, keeping the first occurrence.
pub(crate) fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

#[async_trait]
impl FileStore for d::Store {
    async fn create_file(&self, project: &Project, file: NewFile) -> StoreResult<OpenAIFile> {
        let created_at = now();
        let expires_at = file
            .expires_after_secs
            .map(|s| created_at.saturating_add(s));
        let project = project.clone();
        let file = self
            .write(move |conn| {
                Box::pin(async move {
                    let project = &project;
                    sqlx::query(
                        "INSERT INTO files (id, project, created_at, bytes, filename, purpose, \
                           status, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'processed', $7)",
                    )
                    .bind(&file.id)
                    .bind(project.as_str())
                    .bind(created_at)
                    .bind(file.bytes)
                    .bind(&file.filename)
                    .bind(&file.purpose)
                    .bind(expires_at)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(file)
                })
            })
            .await?;
        Ok(OpenAIFile {
            id: file.id,
            bytes: file.bytes,
            created_at,
            filename: file.filename,
            object: "file".to_owned(),
            purpose: file.purpose,
            status: "processed".to_owned(),
            status_details: None,
            expires_at,
        })
    }

    async fn get_file(&self, project: &Project, id: &FileId) -> StoreResult<OpenAIFile> {
        sqlx::query_as::<_, FileRow>(&format!(
            "SELECT {COLUMNS} FROM files WHERE id = $1 AND project = $2"
        ))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(backend)?
        .map(Into::into)
        .ok_or_else(|| StoreError::not_found(ObjectKind::File, id))
    }

    async fn list_files(
        &self,
        project: &Project,
        purpose: Option<&str>,
        params: &ListParams,
    ) -> StoreResult<Page<OpenAIFile>> {
        let Some(cursors) = cursors(
            self.reader(),
            "SELECT seq FROM files WHERE id = $1 AND project = $2",
            project.as_str(),
            params,
        )
        .await?
        else {
            return Ok(Page::empty());
        };
        let mut qb =
            QueryBuilder::<d::Db>::new(format!("SELECT {COLUMNS} FROM files WHERE project = "));
        qb.push_bind(project.as_str());
        if let Some(purpose) = purpose {
            qb.push(" AND purpose = ").push_bind(purpose);
        }
        fetch_page(self.reader(), qb, "seq", params, cursors, |r: FileRow| {
            Ok(r.into())
        })
        .await
    }

    async fn delete_file(&self, project: &Project, id: &FileId) -> StoreResult<()> {
        // Any number of messages may name the file: they let go of it a batch per short
        // transaction (their links with them), so that no delete holds the writer long; the
        // file and whatever still names it then go together below.
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM files WHERE id = $1 AND project = $2")
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(self.reader())
                .await
                .map_err(backend)?;
        if found.is_none() {
            return Err(StoreError::not_found(ObjectKind::File, id));
        }
        while detach_from_messages(self, project, id).await? == DELETE_BATCH_ROWS {}
        let (project, id) = (project.clone(), id.clone());
        self.write_alone(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                // Runs and messages keep the file's id on their rows too (runs a snapshot of
                // their files, messages a copy of `message_files`); remove it there, runs first
                // (the lock order), and messages before the cascade removes the links that find
                // them. A missing file touches nothing here and rolls back below.
                let runs: Vec<(String, Json<Vec<String>>)> = sqlx::query_as(&format!(
                    "SELECT id, file_ids FROM runs WHERE project = $1 AND {} ORDER BY seq{}",
                    d::json_array_contains("file_ids", "$2"),
                    d::lock(RowLock::Update)
                ))
                .bind(project.as_str())
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                detach(&mut tx, "runs", runs, id).await?;
                let messages: Vec<(String, Json<Vec<String>>)> = sqlx::query_as(&format!(
                    "SELECT id, file_ids FROM messages WHERE project = $1 \
                     AND id IN (SELECT message_id FROM message_files WHERE file_id = $2) \
                     ORDER BY seq{}",
                    d::lock(RowLock::Update)
                ))
                .bind(project.as_str())
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                detach(&mut tx, "messages", messages, id).await?;
                // Its chunks in vector stores have no foreign key to it (the index is per
                // store); the stores' file rows, assistant and message attachments go by ON
                // DELETE CASCADE.
                super::vector_stores::delete_file_chunks(&mut tx, project, id).await?;
                super::delete_owned(&mut tx, "files", ObjectKind::File, id.as_str(), project)
                    .await?;
                tx.commit().await.map_err(backend)
            })
        })
        .await
    }
}

/// One batch of messages lets go of `file_id` (their `file_ids` and their links) in one
/// transaction; returns how many.
async fn detach_from_messages(
    store: &d::Store,
    project: &Project,
    file_id: &FileId,
) -> StoreResult<u64> {
    let (project, file_id) = (project.clone(), file_id.clone());
    store
        .write_alone(move |conn| {
            Box::pin(async move {
                let (project, file_id) = (&project, &file_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let messages: Vec<(String, Json<Vec<String>>)> = sqlx::query_as(&format!(
                    "SELECT id, file_ids FROM messages WHERE project = $1 \
                     AND id IN (SELECT message_id FROM message_files WHERE file_id = $2) \
                     ORDER BY seq LIMIT $3{}",
                    d::lock(RowLock::Update)
                ))
                .bind(project.as_str())
                .bind(file_id)
                .bind(DELETE_BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                let n = messages.len() as u64;
                let ids: Vec<String> = messages.iter().map(|(m, _)| m.clone()).collect();
                detach(&mut tx, "messages", messages, file_id).await?;
                for message_id in &ids {
                    sqlx::query("DELETE FROM message_files WHERE message_id = $1 AND file_id = $2")
                        .bind(message_id)
                        .bind(file_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(n)
            })
        })
        .await
}

/// Removes `file_id` from the `file_ids` of the `table` rows given with their current ids.
async fn detach(
    conn: &mut d::Conn,
    table: &str,
    rows: Vec<(String, Json<Vec<String>>)>,
    file_id: &FileId,
) -> StoreResult<()> {
    let update = format!("UPDATE {table} SET file_ids = $1 WHERE id = $2");
    for (row_id, Json(mut ids)) in rows {
        ids.retain(|f| f != file_id.as_str());
        sqlx::query(&update)
            .bind(Json(ids))
            .bind(row_id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
