//! Threads, and the one-active-run rule that guards adding to them.

use super::assistants::{FileLinks, Resources, replace_files};
use super::files::{check_attachable, dedup};
use super::messages::insert_message;
use super::{DELETE_BATCH, DELETE_BATCH_ROWS, backend, d, set_metadata};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::transitions::ACTIVE;
use assistd_core::{ObjectKind, Project, StoreError, StoreResult, ThreadStore};
use assistd_wire::{
    CreateThreadRequest, Metadata, Thread, ThreadId, ToolResources, ToolResourcesRequest,
};
use async_trait::async_trait;
use sqlx::Connection;
use sqlx::FromRow;
use sqlx::types::Json;
use std::sync::LazyLock;

#[derive(FromRow)]
struct ThreadRow {
    id: ThreadId,
    created_at: i64,
    metadata: Option<Json<Metadata>>,
    vector_store_ids: Json<Vec<String>>,
    file_ids: Json<Vec<String>>,
}

impl From<ThreadRow> for Thread {
    fn from(r: ThreadRow) -> Self {
        Thread {
            id: r.id,
            object: "thread".to_owned(),
            created_at: r.created_at,
            // A thread has no tools of its own: each list shows when it is non-empty.
            tool_resources: Some(ToolResources::shown(
                &[],
                &r.file_ids.0,
                &r.vector_store_ids.0,
            )),
            metadata: r.metadata.map(|m| m.0),
        }
    }
}

/// The thread's `code_interpreter` files, in the order the files were created.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t.id, t.created_at, t.metadata, t.vector_store_ids, \
         (SELECT {} FROM (SELECT tf.file_id, f.seq FROM thread_files tf \
             JOIN files f ON f.id = tf.file_id WHERE tf.thread_id = t.id ORDER BY f.seq) AS tf) \
         AS file_ids FROM threads t WHERE t.id = $1 AND t.project = $2",
        d::json_array_agg("tf.file_id", "tf.seq")
    )
});

/// Sets the thread's tool resources: each list given replaces the current one.
async fn set_resources(
    conn: &mut d::Conn,
    project: &Project,
    id: &ThreadId,
    resources: &ToolResourcesRequest,
) -> StoreResult<()> {
    let resources = Resources::of(None, Some(resources));
    if let Some(files) = &resources.files {
        let files = dedup(files);
        check_attachable(conn, project, &files, resources.files_param).await?;
        replace_files(conn, FileLinks::Thread, id.as_str(), &files).await?;
    }
    if let Some(stores) = resources.stores(conn, project, "").await? {
        sqlx::query("UPDATE threads SET vector_store_ids = $1 WHERE id = $2")
            .bind(Json(&stores))
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Reads a thread.
pub(crate) async fn get(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    project: &Project,
    id: &ThreadId,
) -> StoreResult<Thread> {
    sqlx::query_as::<_, ThreadRow>(&SELECT)
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .map(Into::into)
        .ok_or_else(|| StoreError::not_found(ObjectKind::Thread, id))
}

/// Fails with a 404 unless the thread exists in the project.
pub(crate) async fn exists(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    project: &Project,
    id: &ThreadId,
) -> StoreResult<()> {
    check_found(
        sqlx::query_scalar("SELECT 1 FROM threads WHERE id = $1 AND project = $2")
            .bind(id)
            .bind(project.as_str())
            .fetch_optional(conn)
            .await
            .map_err(backend)?,
        id,
    )
}

/// How a transaction about to add to a thread locks the thread's row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard {
    /// Adding a message: messages may be added side by side, but not while a run is being
    /// created (which holds [`Guard::NewRun`]).
    NewMessage,
    /// Adding a run: excludes every other addition until the transaction ends.
    NewRun,
}

/// Fails with a 404 unless the thread exists in the project, and locks its row until the
/// transaction ends, so that the active-run check that follows (in its own statement, hence its
/// own snapshot) and the insert after it cannot interleave with another transaction's.
pub(crate) async fn lock(
    conn: &mut d::Conn,
    project: &Project,
    id: &ThreadId,
    guard: Guard,
) -> StoreResult<()> {
    let mode = match guard {
        Guard::NewMessage => RowLock::Share,
        // Not `Update`, which would also block the foreign-key checks of rows inserted into the
        // thread meanwhile (a worker's assistant message).
        Guard::NewRun => RowLock::NoKeyUpdate,
    };
    check_found(
        sqlx::query_scalar(&format!(
            "SELECT 1 FROM threads WHERE id = $1 AND project = $2{}",
            d::lock(mode)
        ))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(conn)
        .await
        .map_err(backend)?,
        id,
    )
}

fn check_found(found: Option<i32>, id: &ThreadId) -> StoreResult<()> {
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(ObjectKind::Thread, id))
}

/// The id of the thread's active run (queued, in progress, waiting for tool outputs, or
/// cancelling), if it has one.
pub(crate) async fn active_run(
    conn: &mut d::Conn,
    thread_id: &ThreadId,
) -> StoreResult<Option<String>> {
    let mut query = sqlx::query_scalar(
        "SELECT id FROM runs WHERE thread_id = $1 AND status IN ($2, $3, $4, $5) LIMIT 1",
    )
    .bind(thread_id);
    for status in ACTIVE {
        query = query.bind(status.as_str());
    }
    query.fetch_optional(conn).await.map_err(backend)
}

/// Inserts a thread and its initial messages; `param` prefixes the messages' field names.
pub(crate) async fn insert_thread(
    conn: &mut d::Conn,
    project: &Project,
    req: CreateThreadRequest,
    param: &str,
) -> StoreResult<Thread> {
    let id = ThreadId::fresh();
    let created_at = now();
    sqlx::query("INSERT INTO threads (id, project, created_at, metadata) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(project.as_str())
        .bind(created_at)
        .bind(req.metadata.as_ref().map(Json))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if let Some(resources) = &req.tool_resources {
        set_resources(conn, project, &id, resources).await?;
    }
    let mut with_files = false;
    for (i, m) in req.messages.unwrap_or_default().into_iter().enumerate() {
        let m = insert_message(conn, project, &id, m, &format!("{param}[{i}]")).await?;
        with_files |= !m.file_ids.is_empty();
    }
    if req.tool_resources.is_some() || with_files {
        // The lists as stored: deduplicated, the files in the order they were created, and the
        // vector store a message's files may have made for the thread.
        return get(&mut *conn, project, &id).await;
    }
    Ok(Thread::from(ThreadRow {
        id,
        created_at,
        metadata: req.metadata.map(Json),
        vector_store_ids: Json(Vec::new()),
        file_ids: Json(Vec::new()),
    }))
}

#[async_trait]
impl ThreadStore for d::Store {
    async fn create_thread(
        &self,
        project: &Project,
        req: CreateThreadRequest,
    ) -> StoreResult<Thread> {
        let project = project.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let project = &project;
                let mut tx = conn.begin().await.map_err(backend)?;
                let thread = insert_thread(&mut tx, project, req, "messages").await?;
                tx.commit().await.map_err(backend)?;
                Ok(thread)
            })
        })
        .await
    }

    async fn get_thread(&self, project: &Project, id: &ThreadId) -> StoreResult<Thread> {
        get(self.reader(), project, id).await
    }

    async fn modify_thread(
        &self,
        project: &Project,
        id: &ThreadId,
        metadata: Option<Option<Metadata>>,
        tool_resources: Option<&ToolResourcesRequest>,
    ) -> StoreResult<Thread> {
        let (project, id, tool_resources) = (project.clone(), id.clone(), tool_resources.cloned());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id, tool_resources) = (&project, &id, tool_resources.as_ref());
                let mut tx = conn.begin().await.map_err(backend)?;
                exists(&mut *tx, project, id).await?;
                if let Some(m) = metadata {
                    set_metadata(&mut tx, "threads", id.as_str(), m.as_ref()).await?;
                }
                if let Some(resources) = tool_resources {
                    set_resources(&mut tx, project, id, resources).await?;
                }
                let thread = get(&mut *tx, project, id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(thread)
            })
        })
        .await
    }

    async fn delete_thread(&self, project: &Project, id: &ThreadId) -> StoreResult<()> {
        // A thread may hold any number of messages; one cascade over them all would hold the
        // writer (SQLite's only one) for as long as it takes. Its messages go first, a batch per
        // short transaction; the thread, its runs and the last messages a run may have added
        // meanwhile go together below. Interrupted, the thread stays with fewer messages and a
        // retried delete finishes it.
        exists(self.reader(), project, id).await?;
        loop {
            let (project, id) = (project.clone(), id.clone());
            let deleted = self
                .write_alone(move |conn| {
                    Box::pin(async move {
                        sqlx::query(
                            "DELETE FROM messages WHERE seq IN \
                             (SELECT seq FROM messages WHERE thread_id = $1 AND project = $2 \
                              ORDER BY seq LIMIT $3)",
                        )
                        .bind(&id)
                        .bind(project.as_str())
                        .bind(DELETE_BATCH)
                        .execute(conn)
                        .await
                        .map_err(backend)
                    })
                })
                .await?
                .rows_affected();
            if deleted < DELETE_BATCH_ROWS {
                break;
            }
        }
        let (project, id) = (project.clone(), id.clone());
        self.write_alone(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                // The cascade below takes the thread, then its messages, then its runs; a worker writing
                // a run's turn holds the run, then takes messages. Taking the runs first keeps the two
                // from waiting on each other. (A single writer waits on nobody.)
                if !d::SINGLE_WRITER {
                    sqlx::query(&format!(
                        "SELECT 1 FROM runs WHERE thread_id = $1 AND project = $2 ORDER BY seq{}",
                        d::lock(RowLock::Update)
                    ))
                    .bind(id)
                    .bind(project.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                // Messages, their file links, runs and steps go with it (ON DELETE CASCADE).
                let kind = ObjectKind::Thread;
                super::delete_owned(&mut tx, "threads", kind, id.as_str(), project).await?;
                tx.commit().await.map_err(backend)
            })
        })
        .await
    }
}
