//! Threads.

use crate::json::{dec_opt, enc_opt};
use crate::messages::insert_message;
use crate::{SqliteStore, backend, now};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{ObjectKind, Project, StoreError, StoreResult, ThreadStore};
use assistd_wire::{CreateThreadRequest, Metadata, Thread};
use async_trait::async_trait;
use sqlx::{FromRow, SqliteConnection};

#[derive(FromRow)]
struct ThreadRow {
    id: String,
    created_at: i64,
    metadata: Option<String>,
}

impl ThreadRow {
    fn into_wire(self) -> StoreResult<Thread> {
        Ok(Thread {
            id: self.id,
            object: "thread".to_owned(),
            created_at: self.created_at,
            metadata: dec_opt(self.metadata.as_deref())?,
        })
    }
}

/// Reads a thread.
pub(crate) async fn get(
    conn: &mut SqliteConnection,
    project: &Project,
    id: &str,
) -> StoreResult<Thread> {
    sqlx::query_as::<_, ThreadRow>(
        "SELECT id, created_at, metadata FROM threads WHERE id = ? AND project = ?",
    )
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::not_found(ObjectKind::Thread, id))?
    .into_wire()
}

/// Fails with a 404 unless the thread exists in the project.
pub(crate) async fn exists(
    conn: &mut SqliteConnection,
    project: &Project,
    id: &str,
) -> StoreResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM threads WHERE id = ? AND project = ?")
            .bind(id)
            .bind(project.as_str())
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(ObjectKind::Thread, id))
}

/// The id of the thread's active run (queued, in progress, waiting for tool outputs, or
/// cancelling), if it has one.
pub(crate) async fn active_run(
    conn: &mut SqliteConnection,
    thread_id: &str,
) -> StoreResult<Option<String>> {
    sqlx::query_scalar(
        "SELECT id FROM runs WHERE thread_id = ? \
         AND status IN ('queued', 'in_progress', 'requires_action', 'cancelling') LIMIT 1",
    )
    .bind(thread_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)
}

/// Inserts a thread and its initial messages; `param` prefixes the messages' field names.
pub(crate) async fn insert_thread(
    conn: &mut SqliteConnection,
    project: &Project,
    req: CreateThreadRequest,
    param: &str,
) -> StoreResult<Thread> {
    let thread = Thread {
        id: new_id(IdKind::Thread),
        object: "thread".to_owned(),
        created_at: now(),
        metadata: req.metadata,
    };
    sqlx::query("INSERT INTO threads (id, project, created_at, metadata) VALUES (?, ?, ?, ?)")
        .bind(&thread.id)
        .bind(project.as_str())
        .bind(thread.created_at)
        .bind(enc_opt(thread.metadata.as_ref())?)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    for (i, m) in req.messages.unwrap_or_default().into_iter().enumerate() {
        insert_message(conn, project, &thread.id, m, &format!("{param}[{i}]")).await?;
    }
    Ok(thread)
}

#[async_trait]
impl ThreadStore for SqliteStore {
    async fn create_thread(
        &self,
        project: &Project,
        req: CreateThreadRequest,
    ) -> StoreResult<Thread> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let thread = insert_thread(&mut tx, project, req, "messages").await?;
        tx.commit().await.map_err(backend)?;
        Ok(thread)
    }

    async fn get_thread(&self, project: &Project, id: &str) -> StoreResult<Thread> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        get(&mut conn, project, id).await
    }

    async fn modify_thread(
        &self,
        project: &Project,
        id: &str,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Thread> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut thread = get(&mut tx, project, id).await?;
        if let Some(m) = metadata {
            sqlx::query("UPDATE threads SET metadata = ? WHERE id = ?")
                .bind(enc_opt(m.as_ref())?)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            thread.metadata = m;
        }
        tx.commit().await.map_err(backend)?;
        Ok(thread)
    }

    async fn delete_thread(&self, project: &Project, id: &str) -> StoreResult<()> {
        // Messages, their file links, runs and steps go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM threads WHERE id = ? AND project = ?")
            .bind(id)
            .bind(project.as_str())
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(ObjectKind::Thread, id));
        }
        Ok(())
    }
}
