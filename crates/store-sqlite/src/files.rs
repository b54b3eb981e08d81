//! File records, and the checks other resources make when they reference files.

use crate::json::enc;
use crate::{SqliteStore, backend, now};
use assistd_core::{FileStore, NewFile, ObjectKind, Project, StoreError, StoreResult};
use assistd_wire::OpenAIFile;
use async_trait::async_trait;
use sqlx::{FromRow, SqliteConnection};

#[derive(FromRow)]
struct FileRow {
    id: String,
    created_at: i64,
    bytes: i64,
    filename: String,
    purpose: String,
    status: String,
    status_details: Option<String>,
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
        }
    }
}

const COLUMNS: &str = "id, created_at, bytes, filename, purpose, status, status_details";

/// Checks that every id names a file of this project with purpose `assistants`; `param` names
/// the referencing field (`file_ids`, `messages[0].file_ids`, ...).
pub(crate) async fn check_attachable(
    conn: &mut SqliteConnection,
    project: &Project,
    ids: &[String],
    param: &str,
) -> StoreResult<()> {
    for (i, id) in ids.iter().enumerate() {
        let purpose: Option<String> =
            sqlx::query_scalar("SELECT purpose FROM files WHERE id = ? AND project = ?")
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        match purpose {
            None => {
                return Err(StoreError::InvalidReference {
                    kind: ObjectKind::File,
                    id: id.clone(),
                    param: format!("{param}[{i}]"),
                });
            }
            Some(p) if p != "assistants" => {
                return Err(StoreError::invalid(
                    format!(
                        "Invalid '{param}[{i}]': file '{id}' has purpose '{p}', but only files with purpose 'assistants' can be attached."
                    ),
                    Some(&format!("{param}[{i}]")),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
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
impl FileStore for SqliteStore {
    async fn create_file(&self, project: &Project, file: NewFile) -> StoreResult<OpenAIFile> {
        let created_at = now();
        sqlx::query(
            "INSERT INTO files (id, project, created_at, bytes, filename, purpose, status) \
             VALUES (?, ?, ?, ?, ?, ?, 'processed')",
        )
        .bind(&file.id)
        .bind(project.as_str())
        .bind(created_at)
        .bind(file.bytes)
        .bind(&file.filename)
        .bind(&file.purpose)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(OpenAIFile {
            id: file.id,
            bytes: file.bytes,
            created_at,
            filename: file.filename,
            object: "file".to_owned(),
            purpose: file.purpose,
            status: "processed".to_owned(),
            status_details: None,
        })
    }

    async fn get_file(&self, project: &Project, id: &str) -> StoreResult<OpenAIFile> {
        sqlx::query_as::<_, FileRow>(&format!(
            "SELECT {COLUMNS} FROM files WHERE id = ? AND project = ?"
        ))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .map(Into::into)
        .ok_or_else(|| StoreError::not_found(ObjectKind::File, id))
    }

    async fn list_files(
        &self,
        project: &Project,
        purpose: Option<&str>,
    ) -> StoreResult<Vec<OpenAIFile>> {
        let rows = sqlx::query_as::<_, FileRow>(&format!(
            "SELECT {COLUMNS} FROM files WHERE project = ? AND (? IS NULL OR purpose = ?) \
             ORDER BY seq DESC"
        ))
        .bind(project.as_str())
        .bind(purpose)
        .bind(purpose)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_file(&self, project: &Project, id: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // Messages carry their file ids on the row too; find them before the cascade removes
        // the links.
        let messages: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.id, m.file_ids FROM messages m JOIN message_files mf ON mf.message_id = m.id \
             WHERE mf.file_id = ? AND m.project = ?",
        )
        .bind(id)
        .bind(project.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM files WHERE id = ? AND project = ?")
            .bind(id)
            .bind(project.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(ObjectKind::File, id));
        }
        // Assistant and message attachments go by ON DELETE CASCADE; runs keep a snapshot of
        // their file ids as JSON, so the id is removed from those by hand.
        let runs: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.file_ids FROM runs r WHERE r.project = ? \
             AND EXISTS (SELECT 1 FROM json_each(r.file_ids) WHERE value = ?)",
        )
        .bind(project.as_str())
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for (message_id, file_ids) in messages {
            let mut ids: Vec<String> = crate::json::dec(&file_ids)?;
            ids.retain(|f| f != id);
            sqlx::query("UPDATE messages SET file_ids = ? WHERE id = ?")
                .bind(enc(&ids)?)
                .bind(message_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for (run_id, file_ids) in runs {
            let mut ids: Vec<String> = crate::json::dec(&file_ids)?;
            ids.retain(|f| f != id);
            sqlx::query("UPDATE runs SET file_ids = ? WHERE id = ?")
                .bind(enc(&ids)?)
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}
