//! Vector stores, their files and batches, in SQL written once for both backends; and the
//! ingestion queue over the files' rows.
//!
//! Counts, `usage_bytes` and statuses are computed in the statement that reads an object (one
//! snapshot on either backend), never stored, so they add up at every moment.

use super::files::check_attachable_one;
use super::{abort, backend, cursors, d, fetch_page, list_scoped, ms, set_metadata};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::ingest::{IngestDone, IngestJob, IngestPhase, IngestStore, MAX_ATTEMPTS};
use assistd_core::search::{ChunkMatch, ChunkStore, ChunkVector, IndexState};
use assistd_core::vector_stores::{
    DAY_SECS, NewVectorStore, NewVectorStoreFile, TOUCH_EVERY_SECS, VectorStoreStore,
};
use assistd_core::{ListParams, ObjectKind, Page, Project, StoreError, StoreResult};
use assistd_wire::vector_stores::{
    Attributes, ChunkingStrategy, FileCounts, UpdateVectorStoreRequest, VectorStoreExpirationAfter,
    VectorStoreFileBatchObject, VectorStoreFileError, VectorStoreFileErrorCode,
    VectorStoreFileObject, VectorStoreFileStatus, VectorStoreObject, VectorStoreStatus,
};
use assistd_wire::{FileBatchId, FileId, Metadata, VectorStoreId};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{Connection, FromRow, QueryBuilder};
use std::time::Duration;

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";
const FAILED: &str = "failed";
const CANCELLED: &str = "cancelled";

/// Chunks written by one `INSERT`: at 8 values a row, 8,000 binds stay under SQLite's limit
/// (32,766) and PostgreSQL's (65,535).
const CHUNKS_PER_INSERT: usize = 1000;

/// A store with its counts: `{where}` follows.
fn store_select() -> String {
    let count = |status: &str| {
        format!(
            "(SELECT COUNT(*) FROM vector_store_files f \
              WHERE f.vector_store_id = vs.id AND f.status = '{status}') AS {status}"
        )
    };
    format!(
        "SELECT vs.id, vs.created_at, vs.name, vs.expires_after, vs.expires_at, \
         vs.last_active_at, vs.metadata, {}, {}, {}, {}, \
         (SELECT CAST(COALESCE(SUM(f.usage_bytes), 0) AS BIGINT) FROM vector_store_files f \
          WHERE f.vector_store_id = vs.id AND f.status = '{COMPLETED}') AS usage_bytes \
         FROM vector_stores vs WHERE ",
        count(IN_PROGRESS),
        count(COMPLETED),
        count(FAILED),
        count(CANCELLED),
    )
}

#[derive(FromRow)]
struct StoreRow {
    id: VectorStoreId,
    created_at: i64,
    name: Option<String>,
    expires_after: Option<Json<VectorStoreExpirationAfter>>,
    expires_at: Option<i64>,
    last_active_at: Option<i64>,
    metadata: Option<Json<Metadata>>,
    in_progress: i64,
    completed: i64,
    failed: i64,
    cancelled: i64,
    usage_bytes: i64,
}

impl StoreRow {
    fn into_wire(self, now: i64) -> VectorStoreObject {
        let file_counts = FileCounts::new(
            self.in_progress,
            self.completed,
            self.failed,
            self.cancelled,
        );
        let status = if self.expires_at.is_some_and(|at| at <= now) {
            VectorStoreStatus::Expired
        } else if file_counts.in_progress > 0 {
            VectorStoreStatus::InProgress
        } else {
            VectorStoreStatus::Completed
        };
        VectorStoreObject {
            id: self.id,
            object: "vector_store".to_owned(),
            created_at: self.created_at,
            name: self.name.unwrap_or_default(),
            usage_bytes: self.usage_bytes,
            file_counts,
            status,
            expires_after: self.expires_after.map(|j| j.0),
            expires_at: self.expires_at,
            last_active_at: self.last_active_at,
            metadata: self.metadata.map(|j| j.0),
        }
    }
}

const FILE_COLUMNS: &str = "vsf.file_id, vsf.created_at, vsf.vector_store_id, vsf.status, \
     vsf.last_error, vsf.usage_bytes, vsf.chunking_strategy, vsf.attributes";

#[derive(FromRow)]
struct FileRow {
    file_id: FileId,
    created_at: i64,
    vector_store_id: VectorStoreId,
    status: String,
    last_error: Option<Json<VectorStoreFileError>>,
    usage_bytes: i64,
    chunking_strategy: Json<ChunkingStrategy>,
    attributes: Option<Json<Attributes>>,
}

impl TryFrom<FileRow> for VectorStoreFileObject {
    type Error = StoreError;

    fn try_from(r: FileRow) -> StoreResult<Self> {
        Ok(VectorStoreFileObject {
            id: r.file_id,
            object: "vector_store.file".to_owned(),
            usage_bytes: r.usage_bytes,
            created_at: r.created_at,
            vector_store_id: r.vector_store_id,
            status: parse_status(&r.status)?,
            last_error: r.last_error.map(|j| j.0),
            chunking_strategy: r.chunking_strategy.0,
            attributes: r.attributes.map(|j| j.0),
        })
    }
}

fn parse_status(s: &str) -> StoreResult<VectorStoreFileStatus> {
    VectorStoreFileStatus::parse(s).ok_or_else(|| {
        StoreError::Backend(format!("unknown vector store file status '{s}'").into())
    })
}

/// A batch with its counts: `{where}` follows.
fn batch_select() -> String {
    let count = |status: &str| {
        format!(
            "(SELECT COUNT(*) FROM vector_store_file_batch_files bf \
              JOIN vector_store_files f \
                ON f.vector_store_id = bf.vector_store_id AND f.file_id = bf.file_id \
              WHERE bf.batch_id = b.id AND f.status = '{status}') AS {status}"
        )
    };
    format!(
        "SELECT b.id, b.created_at, b.vector_store_id, b.cancelled_at, {}, {}, {}, {} \
         FROM vector_store_file_batches b WHERE ",
        count(IN_PROGRESS),
        count(COMPLETED),
        count(FAILED),
        count(CANCELLED),
    )
}

#[derive(FromRow)]
struct BatchRow {
    id: FileBatchId,
    created_at: i64,
    vector_store_id: VectorStoreId,
    cancelled_at: Option<i64>,
    in_progress: i64,
    completed: i64,
    failed: i64,
    cancelled: i64,
}

impl From<BatchRow> for VectorStoreFileBatchObject {
    fn from(r: BatchRow) -> Self {
        let file_counts = FileCounts::new(r.in_progress, r.completed, r.failed, r.cancelled);
        let status = if file_counts.in_progress > 0 {
            VectorStoreFileStatus::InProgress
        } else if r.cancelled_at.is_some() {
            VectorStoreFileStatus::Cancelled
        } else if file_counts.total > 0 && file_counts.failed == file_counts.total {
            VectorStoreFileStatus::Failed
        } else {
            VectorStoreFileStatus::Completed
        };
        VectorStoreFileBatchObject {
            id: r.id,
            object: "vector_store.files_batch".to_owned(),
            created_at: r.created_at,
            vector_store_id: r.vector_store_id,
            status,
            file_counts,
        }
    }
}

/// The store `id` of `project`, read through `conn` (inside a transaction: what it wrote).
async fn read_store(
    conn: &mut d::Conn,
    project: &Project,
    id: &VectorStoreId,
) -> StoreResult<VectorStoreObject> {
    sqlx::query_as::<_, StoreRow>(&format!("{}vs.id = $1 AND vs.project = $2", store_select()))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|r| r.into_wire(now()))
        .ok_or_else(|| StoreError::not_found(ObjectKind::VectorStore, id))
}

/// Fails with the store's 404 unless `id` is a store of `project`; the row stays key-share
/// locked until the transaction ends (so a concurrent delete waits for what is added to it).
async fn lock_store(conn: &mut d::Conn, project: &Project, id: &VectorStoreId) -> StoreResult<()> {
    let found: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM vector_stores WHERE id = $1 AND project = $2{}",
        d::lock(RowLock::KeyShare)
    ))
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::not_found(ObjectKind::VectorStore, id)),
    }
}

/// Adds `file` to store `id` (nothing if it is there already).
pub(crate) async fn insert_file(
    conn: &mut d::Conn,
    project: &Project,
    id: &VectorStoreId,
    file: &NewVectorStoreFile,
    created_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO vector_store_files \
           (vector_store_id, file_id, project, created_at, status, chunking_strategy, attributes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (vector_store_id, file_id) DO NOTHING",
    )
    .bind(id)
    .bind(&file.file_id)
    .bind(project.as_str())
    .bind(created_at)
    .bind(IN_PROGRESS)
    .bind(Json(file.chunking_strategy))
    .bind(file.attributes.as_ref().map(Json))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn read_file(
    conn: &mut d::Conn,
    project: &Project,
    id: &VectorStoreId,
    file_id: &FileId,
) -> StoreResult<Option<VectorStoreFileObject>> {
    sqlx::query_as::<_, FileRow>(&format!(
        "SELECT {FILE_COLUMNS} FROM vector_store_files vsf \
         WHERE vsf.vector_store_id = $1 AND vsf.file_id = $2 AND vsf.project = $3"
    ))
    .bind(id)
    .bind(file_id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .map(TryInto::try_into)
    .transpose()
}

/// The 404 of a missing store file: the store's when the store is missing too.
async fn missing_file(
    conn: &mut d::Conn,
    project: &Project,
    id: &VectorStoreId,
    file_id: &FileId,
) -> StoreError {
    match lock_store(conn, project, id).await {
        Ok(()) => StoreError::not_found(ObjectKind::VectorStoreFile, file_id),
        Err(e) => e,
    }
}

async fn read_batch(
    conn: &mut d::Conn,
    project: &Project,
    id: &VectorStoreId,
    batch_id: &FileBatchId,
) -> StoreResult<VectorStoreFileBatchObject> {
    let row = sqlx::query_as::<_, BatchRow>(&format!(
        "{}b.id = $1 AND b.vector_store_id = $2 AND b.project = $3",
        batch_select()
    ))
    .bind(batch_id)
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some(r) = row {
        return Ok(r.into());
    }
    lock_store(conn, project, id).await?;
    Err(StoreError::not_found(ObjectKind::FileBatch, batch_id))
}

fn expires_at(last_active_at: i64, after: Option<&VectorStoreExpirationAfter>) -> Option<i64> {
    after.map(|e| last_active_at.saturating_add(e.days.saturating_mul(DAY_SECS)))
}

/// Creates a store with its files inside the caller's transaction (also the thread's store of
/// message attachments).
pub(crate) async fn insert_vector_store(
    conn: &mut d::Conn,
    project: &Project,
    store: &NewVectorStore,
    file_param: &str,
) -> StoreResult<VectorStoreId> {
    let id = VectorStoreId::fresh();
    let created_at = now();
    for (i, f) in store.files.iter().enumerate() {
        check_attachable_one(
            conn,
            project,
            f.file_id.as_str(),
            &format!("{file_param}[{i}]"),
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO vector_stores (id, project, created_at, name, description, expires_after, \
           expires_at, last_active_at, metadata, origin) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $3, $8, $9)",
    )
    .bind(&id)
    .bind(project.as_str())
    .bind(created_at)
    .bind(store.name.as_deref())
    .bind(store.description.as_deref())
    .bind(store.expires_after.map(Json))
    .bind(expires_at(created_at, store.expires_after.as_ref()))
    .bind(store.metadata.as_ref().map(Json))
    .bind(store.origin.as_db())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    for f in &store.files {
        insert_file(conn, project, &id, f, created_at).await?;
    }
    Ok(id)
}

/// A page of a store's or a batch's files: `lookup` finds a cursor file's `seq` in the scope
/// (`$1` the file, `$2` the scope), `select` is the scope's rows up to the bind of `scope`.
async fn files_page(
    pool: &sqlx::Pool<d::Db>,
    lookup: &str,
    select: &str,
    scope: &str,
    filter: Option<VectorStoreFileStatus>,
    params: &ListParams,
) -> StoreResult<Page<VectorStoreFileObject>> {
    let Some(cursors) = cursors(pool, lookup, scope, params).await? else {
        return Ok(Page::empty());
    };
    let mut qb = QueryBuilder::<d::Db>::new(select);
    qb.push_bind(scope);
    if let Some(status) = filter {
        qb.push(" AND vsf.status = ").push_bind(status.as_str());
    }
    fetch_page(pool, qb, "vsf.seq", params, cursors, |r: FileRow| {
        r.try_into()
    })
    .await
}

#[async_trait]
impl VectorStoreStore for d::Store {
    async fn create_vector_store(
        &self,
        project: &Project,
        store: NewVectorStore,
    ) -> StoreResult<VectorStoreObject> {
        let project = project.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let project = &project;
                let mut tx = conn.begin().await.map_err(backend)?;
                let id = match insert_vector_store(&mut tx, project, &store, "file_ids").await {
                    Ok(id) => id,
                    Err(e) => return abort(tx, e).await,
                };
                let out = read_store(&mut tx, project, &id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(out)
            })
        })
        .await
    }

    async fn get_vector_store(
        &self,
        project: &Project,
        id: &VectorStoreId,
    ) -> StoreResult<VectorStoreObject> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        read_store(&mut conn, project, id).await
    }

    async fn modify_vector_store(
        &self,
        project: &Project,
        id: &VectorStoreId,
        patch: UpdateVectorStoreRequest,
    ) -> StoreResult<VectorStoreObject> {
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let last_active: Option<(Option<i64>, i64)> = sqlx::query_as(&format!(
                    "SELECT last_active_at, created_at FROM vector_stores \
                     WHERE id = $1 AND project = $2{}",
                    d::lock(RowLock::NoKeyUpdate)
                ))
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let Some((last_active_at, created_at)) = last_active else {
                    return abort(tx, StoreError::not_found(ObjectKind::VectorStore, id)).await;
                };
                if let Some(name) = &patch.name {
                    sqlx::query("UPDATE vector_stores SET name = $1 WHERE id = $2")
                        .bind(name.as_deref())
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                if let Some(after) = &patch.expires_after {
                    sqlx::query(
                        "UPDATE vector_stores SET expires_after = $1, expires_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(after.map(Json))
                    .bind(expires_at(
                        last_active_at.unwrap_or(created_at),
                        after.as_ref(),
                    ))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                if let Some(m) = &patch.metadata {
                    set_metadata(&mut tx, "vector_stores", id.as_str(), m.as_ref()).await?;
                }
                let out = read_store(&mut tx, project, id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(out)
            })
        })
        .await
    }

    async fn touch_vector_store(&self, project: &Project, id: &VectorStoreId) -> StoreResult<()> {
        let t = now();
        // Most searches find the store touched a moment ago: a read, no write.
        let seen: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT last_active_at, expires_at FROM vector_stores WHERE id = $1 AND project = $2",
        )
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(backend)?;
        let Some((last, at)) = seen else {
            return Err(StoreError::not_found(ObjectKind::VectorStore, id));
        };
        let fresh = last.is_some_and(|l| l > t - TOUCH_EVERY_SECS);
        // An expired store stays expired: use does not bring it back.
        if fresh || at.is_some_and(|at| at <= t) {
            return Ok(());
        }
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let row: Option<(Option<Json<VectorStoreExpirationAfter>>, Option<i64>)> =
                    sqlx::query_as(&format!(
                        "SELECT expires_after, expires_at FROM vector_stores \
                         WHERE id = $1 AND project = $2{}",
                        d::lock(RowLock::NoKeyUpdate)
                    ))
                    .bind(id)
                    .bind(project.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some((after, at)) = row else {
                    return abort(tx, StoreError::not_found(ObjectKind::VectorStore, id)).await;
                };
                if at.is_none_or(|at| at > t) {
                    sqlx::query(
                        "UPDATE vector_stores SET last_active_at = $1, expires_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(t)
                    .bind(expires_at(t, after.as_ref().map(|j| &j.0)))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)
            })
        })
        .await
    }

    async fn list_vector_stores(
        &self,
        project: &Project,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreObject>> {
        let t = now();
        list_scoped(
            self.reader(),
            "SELECT seq FROM vector_stores WHERE id = $1 AND project = $2",
            &format!("{}vs.project = ", store_select()),
            "vs.seq",
            project.as_str(),
            params,
            |r: StoreRow| Ok(r.into_wire(t)),
        )
        .await
    }

    async fn delete_vector_store(&self, project: &Project, id: &VectorStoreId) -> StoreResult<()> {
        // Its files' entries and its batches go by ON DELETE CASCADE; the files stay.
        let (project, id) = (project.clone(), id.clone());
        self.write_alone(move |conn| {
            Box::pin(async move {
                let kind = ObjectKind::VectorStore;
                super::delete_owned(conn, "vector_stores", kind, id.as_str(), &project).await
            })
        })
        .await
    }

    async fn create_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file: NewVectorStoreFile,
    ) -> StoreResult<VectorStoreFileObject> {
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let checked = async {
                    lock_store(&mut tx, project, id).await?;
                    check_attachable_one(&mut tx, project, file.file_id.as_str(), "file_id")
                        .await?;
                    insert_file(&mut tx, project, id, &file, now()).await?;
                    read_file(&mut tx, project, id, &file.file_id).await
                }
                .await;
                match checked {
                    Ok(Some(out)) => {
                        tx.commit().await.map_err(backend)?;
                        Ok(out)
                    }
                    Ok(None) => {
                        abort(
                            tx,
                            StoreError::Backend("a vector store file vanished while added".into()),
                        )
                        .await
                    }
                    Err(e) => abort(tx, e).await,
                }
            })
        })
        .await
    }

    async fn get_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
    ) -> StoreResult<VectorStoreFileObject> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        match read_file(&mut conn, project, id, file_id).await? {
            Some(f) => Ok(f),
            None => Err(missing_file(&mut conn, project, id, file_id).await),
        }
    }

    async fn update_vector_store_file_attributes(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
        attributes: Option<Attributes>,
    ) -> StoreResult<VectorStoreFileObject> {
        let (project, id, file_id) = (project.clone(), id.clone(), file_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id, file_id) = (&project, &id, &file_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let updated = sqlx::query(
                    "UPDATE vector_store_files SET attributes = $1 \
                     WHERE vector_store_id = $2 AND file_id = $3 AND project = $4",
                )
                .bind(attributes.as_ref().map(Json))
                .bind(id)
                .bind(file_id)
                .bind(project.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
                if updated == 0 {
                    let e = missing_file(&mut tx, project, id, file_id).await;
                    return abort(tx, e).await;
                }
                let out = read_file(&mut tx, project, id, file_id).await?;
                tx.commit().await.map_err(backend)?;
                out.ok_or_else(|| StoreError::not_found(ObjectKind::VectorStoreFile, file_id))
            })
        })
        .await
    }

    async fn list_vector_store_files(
        &self,
        project: &Project,
        id: &VectorStoreId,
        filter: Option<VectorStoreFileStatus>,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreFileObject>> {
        {
            let mut conn = self.reader().acquire().await.map_err(backend)?;
            lock_store(&mut conn, project, id).await?;
        }
        files_page(
            self.reader(),
            "SELECT seq FROM vector_store_files WHERE file_id = $1 AND vector_store_id = $2",
            &format!(
                "SELECT {FILE_COLUMNS} FROM vector_store_files vsf WHERE vsf.vector_store_id = "
            ),
            id.as_str(),
            filter,
            params,
        )
        .await
    }

    async fn delete_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
    ) -> StoreResult<()> {
        let (project, id, file_id) = (project.clone(), id.clone(), file_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id, file_id) = (&project, &id, &file_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let deleted = sqlx::query(
                    "DELETE FROM vector_store_files \
                     WHERE vector_store_id = $1 AND file_id = $2 AND project = $3",
                )
                .bind(id)
                .bind(file_id)
                .bind(project.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
                if deleted == 0 {
                    let e = missing_file(&mut tx, project, id, file_id).await;
                    return abort(tx, e).await;
                }
                delete_chunks(&mut tx, id, file_id).await?;
                tx.commit().await.map_err(backend)
            })
        })
        .await
    }

    async fn create_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        files: Vec<(NewVectorStoreFile, String)>,
    ) -> StoreResult<VectorStoreFileBatchObject> {
        let batch_id = FileBatchId::fresh();
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let done = async {
                    lock_store(&mut tx, project, id).await?;
                    let created_at = now();
                    for (f, param) in &files {
                        check_attachable_one(&mut tx, project, f.file_id.as_str(), param).await?;
                    }
                    sqlx::query(
                        "INSERT INTO vector_store_file_batches \
                           (id, project, vector_store_id, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&batch_id)
                    .bind(project.as_str())
                    .bind(id)
                    .bind(created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    for (f, _) in &files {
                        insert_file(&mut tx, project, id, f, created_at).await?;
                        sqlx::query(
                            "INSERT INTO vector_store_file_batch_files \
                               (batch_id, vector_store_id, file_id) \
                             VALUES ($1, $2, $3) ON CONFLICT (batch_id, file_id) DO NOTHING",
                        )
                        .bind(&batch_id)
                        .bind(id)
                        .bind(&f.file_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    read_batch(&mut tx, project, id, &batch_id).await
                }
                .await;
                match done {
                    Ok(out) => {
                        tx.commit().await.map_err(backend)?;
                        Ok(out)
                    }
                    Err(e) => abort(tx, e).await,
                }
            })
        })
        .await
    }

    async fn get_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
    ) -> StoreResult<VectorStoreFileBatchObject> {
        let mut conn = self.reader().acquire().await.map_err(backend)?;
        read_batch(&mut conn, project, id, batch_id).await
    }

    async fn cancel_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
    ) -> StoreResult<VectorStoreFileBatchObject> {
        let (project, id, batch_id) = (project.clone(), id.clone(), batch_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id, batch_id) = (&project, &id, &batch_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                let locked: Option<i32> = sqlx::query_scalar(&format!(
                    "SELECT 1 FROM vector_store_file_batches \
                     WHERE id = $1 AND vector_store_id = $2 AND project = $3{}",
                    d::lock(RowLock::NoKeyUpdate)
                ))
                .bind(batch_id)
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                if locked.is_none() {
                    let e = match lock_store(&mut tx, project, id).await {
                        Ok(()) => StoreError::not_found(ObjectKind::FileBatch, batch_id),
                        Err(e) => e,
                    };
                    return abort(tx, e).await;
                }
                let before = read_batch(&mut tx, project, id, batch_id).await?;
                if before.status != VectorStoreFileStatus::InProgress {
                    let e = StoreError::invalid(
                        format!(
                            "Cannot cancel a vector store file batch with status '{}'.",
                            before.status.as_str()
                        ),
                        None,
                    );
                    return abort(tx, e).await;
                }
                // The batch's files still in progress stop here; a worker that claimed one finds
                // its outcome refused (it completes only `in_progress` files).
                sqlx::query(
                    "UPDATE vector_store_files \
                     SET status = $1, lease_owner = NULL, lease_expires_at = NULL \
                     WHERE vector_store_id = $2 AND status = $3 AND file_id IN \
                       (SELECT file_id FROM vector_store_file_batch_files WHERE batch_id = $4)",
                )
                .bind(CANCELLED)
                .bind(id)
                .bind(IN_PROGRESS)
                .bind(batch_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                sqlx::query("UPDATE vector_store_file_batches SET cancelled_at = $1 WHERE id = $2")
                    .bind(now())
                    .bind(batch_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let out = read_batch(&mut tx, project, id, batch_id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(out)
            })
        })
        .await
    }

    async fn list_vector_store_file_batch_files(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
        filter: Option<VectorStoreFileStatus>,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreFileObject>> {
        {
            let mut conn = self.reader().acquire().await.map_err(backend)?;
            read_batch(&mut conn, project, id, batch_id).await?;
        }
        files_page(
            self.reader(),
            "SELECT f.seq FROM vector_store_files f JOIN vector_store_file_batch_files bf \
               ON bf.vector_store_id = f.vector_store_id AND bf.file_id = f.file_id \
             WHERE f.file_id = $1 AND bf.batch_id = $2",
            &format!(
                "SELECT {FILE_COLUMNS} FROM vector_store_files vsf \
                 JOIN vector_store_file_batch_files bf \
                   ON bf.vector_store_id = vsf.vector_store_id AND bf.file_id = vsf.file_id \
                 WHERE bf.batch_id = "
            ),
            batch_id.as_str(),
            filter,
            params,
        )
        .await
    }
}

#[derive(FromRow)]
struct ClaimedRow {
    project: String,
    vector_store_id: VectorStoreId,
    file_id: FileId,
    chunking_strategy: Json<ChunkingStrategy>,
    attempts: i64,
}

#[async_trait]
impl IngestStore for d::Store {
    async fn claim_ingest(
        &self,
        worker: &str,
        lease: Duration,
        phase: IngestPhase,
    ) -> StoreResult<Option<IngestJob>> {
        let at_phase = match phase {
            IngestPhase::Index => "q.indexed_at IS NULL",
            IngestPhase::Embed => "q.indexed_at IS NOT NULL",
        };
        loop {
            // As `claim_run_within`: one statement picks a file no live lease holds, skipping
            // rows another claimer has locked, and claims it.
            let sql = format!(
                "UPDATE vector_store_files SET lease_owner = $1, \
                   lease_expires_at = {now} + $2, attempts = attempts + 1 \
                 WHERE seq = (SELECT q.seq FROM vector_store_files q \
                     WHERE q.status = $3 AND {at_phase} \
                       AND (q.lease_expires_at IS NULL OR q.lease_expires_at < {now}) \
                     ORDER BY q.seq LIMIT 1{lock}) \
                   AND status = $3 \
                 RETURNING project, vector_store_id, file_id, chunking_strategy, attempts",
                now = d::NOW_MS,
                lock = d::lock(RowLock::UpdateSkipLocked)
            );
            // A write a claim: the loop, past files out of attempts, stays out of the lane.
            let owner = worker.to_owned();
            let row = self
                .write(move |conn| {
                    Box::pin(async move {
                        sqlx::query_as::<_, ClaimedRow>(&sql)
                            .bind(&owner)
                            .bind(ms(lease))
                            .bind(IN_PROGRESS)
                            .fetch_optional(conn)
                            .await
                            .map_err(backend)
                    })
                })
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let file: Option<(String, i64)> =
                sqlx::query_as("SELECT filename, bytes FROM files WHERE id = $1")
                    .bind(&row.file_id)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
            let (filename, bytes) = file.unwrap_or_default();
            let job = IngestJob {
                project: Project::new(row.project),
                vector_store_id: row.vector_store_id,
                file_id: row.file_id,
                filename,
                bytes,
                chunking_strategy: row.chunking_strategy.0,
                attempt: row.attempts,
            };
            if job.attempt > MAX_ATTEMPTS {
                // Every earlier claim died with its worker: this file is not tried again.
                self.fail_ingest(
                    &job,
                    worker,
                    VectorStoreFileError {
                        code: VectorStoreFileErrorCode::ServerError,
                        message: "The file could not be processed.".to_owned(),
                    },
                )
                .await?;
                continue;
            }
            return Ok(Some(job));
        }
    }

    async fn index_chunks(
        &self,
        job: &IngestJob,
        worker: &str,
        done: &IngestDone,
        complete: bool,
    ) -> StoreResult<bool> {
        let (job, worker, done) = (job.clone(), worker.to_owned(), done.clone());
        self.write_alone(move |conn| {
            Box::pin(async move {
                let (job, worker, done) = (&job, worker.as_str(), &done);
                let mut tx = conn.begin().await.map_err(backend)?;
                // Released either way: completed, or left for an embedding claim, whose attempts
                // are its own.
                let held = update_claimed(&mut tx, job, worker, |q| {
                    q.push("usage_bytes = ")
                        .push_bind(done.usage_bytes)
                        .push(", status = ")
                        .push_bind(if complete { COMPLETED } else { IN_PROGRESS })
                        .push(format_args!(
                            ", indexed_at = {}, attempts = 0, lease_owner = NULL, \
                             lease_expires_at = NULL",
                            d::NOW_MS
                        ));
                })
                .await?;
                if !held {
                    return Ok(false);
                }
                // Replaced whole: a file ingested again never leaves chunks of its earlier version.
                delete_chunks(&mut tx, &job.vector_store_id, &job.file_id).await?;
                // Many rows a statement: a file of 12,000 chunks is a dozen round trips, not
                // 12,000.
                for (first, batch) in (0_i64..)
                    .step_by(CHUNKS_PER_INSERT)
                    .zip(done.chunks.chunks(CHUNKS_PER_INSERT))
                {
                    let mut qb = QueryBuilder::<d::Db>::new(
                        "INSERT INTO vector_store_chunks (project, vector_store_id, file_id, \
                           chunk_index, text, start_char, end_char, tokens) ",
                    );
                    qb.push_values((first..).zip(batch), |mut row, (index, c)| {
                        row.push_bind(job.project.as_str())
                            .push_bind(&job.vector_store_id)
                            .push_bind(&job.file_id)
                            .push_bind(index)
                            .push_bind(&c.text)
                            .push_bind(c.start)
                            .push_bind(c.end)
                            .push_bind(c.tokens);
                    });
                    qb.build().execute(&mut *tx).await.map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(true)
            })
        })
        .await
    }

    async fn unembedded_chunks(
        &self,
        job: &IngestJob,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT seq, text FROM vector_store_chunks \
             WHERE vector_store_id = $1 AND file_id = $2 AND embedding IS NULL \
             ORDER BY chunk_index LIMIT $3",
        )
        .bind(&job.vector_store_id)
        .bind(&job.file_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader())
        .await
        .map_err(backend)
    }

    async fn store_embeddings(
        &self,
        job: &IngestJob,
        worker: &str,
        model: &str,
        vectors: &[(i64, Vec<f32>)],
        lease: Duration,
    ) -> StoreResult<bool> {
        // Encoded before the write: only the statements run on the writer.
        let vectors: Vec<(i64, Vec<u8>)> = vectors
            .iter()
            .map(|(seq, v)| (*seq, encode_vector(v)))
            .collect();
        let (job, worker, model) = (job.clone(), worker.to_owned(), model.to_owned());
        self.write_alone(move |conn| {
            Box::pin(async move {
                let (job, worker, model) = (&job, worker.as_str(), model.as_str());
                let mut tx = conn.begin().await.map_err(backend)?;
                let held = update_claimed(&mut tx, job, worker, |q| {
                    q.push(format_args!("lease_expires_at = {} + ", d::NOW_MS))
                        .push_bind(ms(lease));
                })
                .await?;
                if !held {
                    return Ok(false);
                }
                // The store's row is the version counter: taking the next version locks it, so
                // versions commit in the order they were taken and a cache that has read version
                // `v` has every vector up to it.
                let version: Option<i64> = sqlx::query_scalar(
                    "UPDATE vector_stores SET index_version = index_version + 1, \
                       embedding_model = COALESCE(embedding_model, $1) \
                     WHERE id = $2 AND (embedding_model IS NULL OR embedding_model = $1) \
                     RETURNING index_version",
                )
                .bind(model)
                .bind(&job.vector_store_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let Some(version) = version else {
                    // Built by another model: its vectors would not compare with these.
                    tx.commit().await.map_err(backend)?;
                    return Ok(true);
                };
                for (seq, v) in vectors {
                    sqlx::query(
                        "UPDATE vector_store_chunks SET embedding = $1, embedded_version = $2 \
                         WHERE seq = $3 AND vector_store_id = $4 AND file_id = $5",
                    )
                    .bind(v)
                    .bind(version)
                    .bind(seq)
                    .bind(&job.vector_store_id)
                    .bind(&job.file_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(true)
            })
        })
        .await
    }

    async fn complete_ingest(&self, job: &IngestJob, worker: &str) -> StoreResult<bool> {
        let (job, worker) = (job.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let (job, worker) = (&job, worker.as_str());
                update_claimed(conn, job, worker, |q| {
                    q.push("status = ")
                        .push_bind(COMPLETED)
                        .push(", last_error = NULL, lease_owner = NULL, lease_expires_at = NULL");
                })
                .await
            })
        })
        .await
    }

    async fn fail_ingest(
        &self,
        job: &IngestJob,
        worker: &str,
        error: VectorStoreFileError,
    ) -> StoreResult<bool> {
        let (job, worker) = (job.clone(), worker.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let (job, worker) = (&job, worker.as_str());
                let mut tx = conn.begin().await.map_err(backend)?;
                let held = update_claimed(&mut tx, job, worker, |q| {
                    q.push("status = ")
                        .push_bind(FAILED)
                        .push(", last_error = ")
                        .push_bind(Json(error))
                        .push(", usage_bytes = 0, lease_owner = NULL, lease_expires_at = NULL");
                })
                .await?;
                if held {
                    // A failed file is not searchable: what an earlier step indexed goes.
                    delete_chunks(&mut tx, &job.vector_store_id, &job.file_id).await?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(held)
            })
        })
        .await
    }
}

/// `UPDATE vector_store_files SET <set> WHERE` the file is still `in_progress` under `worker`'s
/// claim: every outcome of an ingestion is recorded only by the claim that holds the file, so
/// a cancelled, deleted or taken-over file ignores a late one. `false` when the claim is lost.
async fn update_claimed<'a>(
    conn: &mut d::Conn,
    job: &'a IngestJob,
    worker: &'a str,
    set: impl FnOnce(&mut QueryBuilder<'a, d::Db>),
) -> StoreResult<bool> {
    let mut q = QueryBuilder::<d::Db>::new("UPDATE vector_store_files SET ");
    set(&mut q);
    q.push(" WHERE vector_store_id = ")
        .push_bind(&job.vector_store_id)
        .push(" AND file_id = ")
        .push_bind(&job.file_id)
        .push(" AND lease_owner = ")
        .push_bind(worker)
        .push(" AND status = ")
        .push_bind(IN_PROGRESS);
    let n = q
        .build()
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
    Ok(n > 0)
}

/// Removes the chunks of `file_id` in store `id`, starting a new generation of the store's
/// index when there were any (caches of the old one rebuild).
async fn delete_chunks(
    conn: &mut d::Conn,
    id: &VectorStoreId,
    file_id: &FileId,
) -> StoreResult<()> {
    let n =
        sqlx::query("DELETE FROM vector_store_chunks WHERE vector_store_id = $1 AND file_id = $2")
            .bind(id)
            .bind(file_id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?
            .rows_affected();
    if n > 0 {
        sqlx::query(
            "UPDATE vector_stores SET chunks_generation = chunks_generation + 1 WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Removes the chunks of `file_id` in every store (the file itself is being deleted).
pub(crate) async fn delete_file_chunks(
    conn: &mut d::Conn,
    project: &Project,
    file_id: &FileId,
) -> StoreResult<()> {
    let stores: Vec<VectorStoreId> = sqlx::query_scalar(
        "SELECT DISTINCT vector_store_id FROM vector_store_chunks WHERE file_id = $1 AND project = $2",
    )
    .bind(file_id)
    .bind(project.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    for id in stores {
        delete_chunks(conn, &id, file_id).await?;
    }
    Ok(())
}

/// A vector as stored: little-endian `f32`s.
fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector of [`encode_vector`]; a trailing partial value (never written) is dropped.
fn decode_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[derive(FromRow)]
struct ChunkRow {
    seq: i64,
    file_id: String,
    filename: String,
    attributes: Option<Json<Attributes>>,
    chunk_index: i64,
    text: String,
    raw: f64,
}

impl From<ChunkRow> for ChunkMatch {
    fn from(r: ChunkRow) -> Self {
        let raw = r.raw.max(0.0);
        Self {
            seq: r.seq,
            file_id: FileId::from(r.file_id),
            filename: r.filename,
            attributes: r.attributes.map(|a| a.0),
            chunk_index: r.chunk_index,
            text: r.text,
            score: raw / (raw + d::RANK_HALF),
        }
    }
}

#[async_trait]
impl ChunkStore for d::Store {
    async fn match_chunks(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        terms: &[String],
        limit: usize,
    ) -> StoreResult<Vec<ChunkMatch>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<ChunkRow> = sqlx::query_as(d::CHUNK_MATCH)
            .bind(d::chunk_query(terms))
            .bind(store_id)
            .bind(project.as_str())
            .bind(now())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reader())
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(ChunkMatch::from).collect())
    }

    async fn index_state(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
    ) -> StoreResult<Option<IndexState>> {
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT chunks_generation, index_version, embedding_model FROM vector_stores \
             WHERE id = $1 AND project = $2 AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(store_id)
        .bind(project.as_str())
        .bind(now())
        .fetch_optional(self.reader())
        .await
        .map_err(backend)?;
        Ok(row.map(|(generation, version, model)| IndexState {
            generation,
            version,
            model,
        }))
    }

    async fn chunk_vectors(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        after_version: i64,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<ChunkVector>> {
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, embedded_version, embedding FROM vector_store_chunks \
             WHERE vector_store_id = $1 AND project = $2 AND embedded_version IS NOT NULL \
               AND (embedded_version > $3 OR (embedded_version = $3 AND seq > $4)) \
             ORDER BY embedded_version, seq LIMIT $5",
        )
        .bind(store_id)
        .bind(project.as_str())
        .bind(after_version)
        .bind(after_seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader())
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(seq, version, bytes)| ChunkVector {
                seq,
                version,
                vector: decode_vector(&bytes),
            })
            .collect())
    }

    async fn file_chunks(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        file_id: &FileId,
        after_index: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, i64, String)>> {
        sqlx::query_as(
            "SELECT chunk_index, start_char, text FROM vector_store_chunks \
             WHERE vector_store_id = $1 AND file_id = $2 AND project = $3 AND chunk_index > $4 \
             ORDER BY chunk_index LIMIT $5",
        )
        .bind(store_id)
        .bind(file_id)
        .bind(project.as_str())
        .bind(after_index)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader())
        .await
        .map_err(backend)
    }

    async fn chunks_by_seq(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        seqs: &[i64],
    ) -> StoreResult<Vec<ChunkMatch>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<d::Db>::new(
            "SELECT c.seq, c.file_id, f.filename, vf.attributes, c.chunk_index, c.text, \
               CAST(0 AS DOUBLE PRECISION) AS raw \
             FROM vector_store_chunks c \
             JOIN vector_store_files vf ON vf.vector_store_id = c.vector_store_id AND vf.file_id = c.file_id \
             JOIN files f ON f.id = c.file_id \
             JOIN vector_stores vs ON vs.id = c.vector_store_id \
             WHERE c.vector_store_id = ",
        );
        qb.push_bind(store_id)
            .push(" AND c.project = ")
            .push_bind(project.as_str())
            .push(" AND vs.project = ")
            .push_bind(project.as_str())
            .push(" AND vf.status IN ('in_progress', 'completed') AND (vs.expires_at IS NULL OR vs.expires_at > ")
            .push_bind(now())
            .push(") AND c.seq IN (");
        let mut list = qb.separated(", ");
        for s in seqs {
            list.push_bind(*s);
        }
        list.push_unseparated(")");
        let rows: Vec<ChunkRow> = qb
            .build_query_as()
            .fetch_all(self.reader())
            .await
            .map_err(backend)?;
        // Their `raw` is 0, so their score is 0.
        Ok(rows.into_iter().map(ChunkMatch::from).collect())
    }
}
