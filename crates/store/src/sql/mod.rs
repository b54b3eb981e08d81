//! The store, written once: every trait of `assistd_core::store` and the engine's, for the
//! backend that mounts this folder over its `dialect` module. Queries use `$N` placeholders
//! (SQLite accepts them too) and `sqlx::types::Json` for JSON columns (JSON text on SQLite,
//! JSONB on PostgreSQL); where the databases truly differ the query asks the dialect.

mod assistants;
mod engine;
mod files;
mod messages;
mod runs;
mod threads;
mod vector_stores;

use super::dialect::{self as d, backend};
use assistd_core::{
    Cursors, ListParams, ObjectKind, Order, Page, Project, ProjectUsage, Store, StoreError,
    StoreResult,
};
use assistd_wire::Metadata;
use assistd_wire::RunStatus;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use std::time::Duration;

/// Rows one transaction of a large delete removes at most: short enough that other writers
/// barely wait (a few milliseconds on SQLite), large enough that a long thread goes quickly.
pub(crate) const DELETE_BATCH: i64 = 1000;
pub(crate) const DELETE_BATCH_ROWS: u64 = DELETE_BATCH.unsigned_abs();

#[async_trait]
impl Store for d::Store {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.reader())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn count_unfinished_runs(&self) -> StoreResult<Vec<(RunStatus, u64)>> {
        // `runs_by_status` answers this without reading finished runs.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM runs WHERE status IN ($1, $2, $3, $4) GROUP BY status",
        )
        .bind(RunStatus::Queued.as_str())
        .bind(RunStatus::InProgress.as_str())
        .bind(RunStatus::RequiresAction.as_str())
        .bind(RunStatus::Cancelling.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(status, n)| Ok((runs::parse_status(&status)?, u64::try_from(n).unwrap_or(0))))
            .collect()
    }

    async fn project_usage(&self, project: &Project) -> StoreResult<ProjectUsage> {
        let mut query = sqlx::query_as::<_, (i64, i64)>(
            "SELECT \
               (SELECT COUNT(*) FROM runs WHERE project = $1 AND status IN ($2, $3, $4)), \
               (SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM files WHERE project = $1)",
        )
        .bind(project.as_str());
        for status in [
            RunStatus::Queued,
            RunStatus::InProgress,
            RunStatus::Cancelling,
        ] {
            query = query.bind(status.as_str());
        }
        let (active_runs, file_bytes) = query.fetch_one(self.reader()).await.map_err(backend)?;
        Ok(ProjectUsage {
            active_runs,
            file_bytes,
        })
    }
}

/// Fails `tx` with `e`, rolling it back before the caller answers: a dropped transaction only
/// queues its rollback for the connection's next use, and until then its row locks stay, so a
/// claim right after a refused cancel or tool-output submission would pass the run over.
async fn abort<T>(tx: sqlx::Transaction<'_, d::Db>, e: StoreError) -> StoreResult<T> {
    if let Err(rollback) = tx.rollback().await {
        tracing::warn!(error = %rollback, "rolling back a refused transaction failed");
    }
    Err(e)
}

/// A lease's length as the database adds it to its clock: milliseconds.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Decodes a text column holding one of a string enum's values (`"in_progress"`, ...).
fn text_enum<T: DeserializeOwned>(s: String) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(s)).map_err(backend)
}

/// Resolves a list's cursors with `lookup`, a query of the sequence number of the object whose
/// id is `$1` within the list scoped by `$2` (`None`: a cursor names no object of the list).
async fn cursors(
    pool: &sqlx::Pool<d::Db>,
    lookup: &str,
    scope: &str,
    params: &ListParams,
) -> StoreResult<Option<Cursors>> {
    params
        .resolve_cursors(|id| async move {
            sqlx::query_scalar(lookup)
                .bind(id)
                .bind(scope)
                .fetch_optional(pool)
                .await
                .map_err(backend)
        })
        .await
}

/// One page of a list scoped by one column: `lookup` finds where a cursor stands (`$1` the
/// cursor's id, `$2` the scope, as in [`cursors`]); `select` is `SELECT ... WHERE <scope column> = `,
/// ordered by `seq_col`.
async fn list_scoped<T, R>(
    pool: &sqlx::Pool<d::Db>,
    lookup: &str,
    select: &str,
    seq_col: &str,
    scope: &str,
    params: &ListParams,
    convert: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Page<T>>
where
    R: for<'r> FromRow<'r, <d::Db as sqlx::Database>::Row> + Send + Unpin,
{
    let Some(cursors) = cursors(pool, lookup, scope, params).await? else {
        return Ok(Page::empty());
    };
    let mut qb = QueryBuilder::<d::Db>::new(select);
    qb.push_bind(scope);
    fetch_page(pool, qb, seq_col, params, cursors, convert).await
}

/// Deletes the row `id` of `table` in `project`; not found (as a `kind`) if there was none.
/// What goes with it goes by `ON DELETE CASCADE`.
async fn delete_owned(
    conn: &mut d::Conn,
    table: &str,
    kind: ObjectKind,
    id: &str,
    project: &Project,
) -> StoreResult<()> {
    let deleted = sqlx::query(&format!(
        "DELETE FROM {table} WHERE id = $1 AND project = $2"
    ))
    .bind(id)
    .bind(project.as_str())
    .execute(conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::not_found(kind, id));
    }
    Ok(())
}

/// Replaces (or, with `None`, clears) the metadata of the row `id` of `table`.
async fn set_metadata(
    conn: &mut d::Conn,
    table: &str,
    id: &str,
    metadata: Option<&Metadata>,
) -> StoreResult<()> {
    sqlx::query(&format!("UPDATE {table} SET metadata = $1 WHERE id = $2"))
        .bind(metadata.map(Json))
        .bind(id)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Adds the cursor bounds, the scan order and the limit (one more row than the page, to learn
/// `has_more`) to a list query; returns whether the rows come against the requested order.
fn push_page_bounds(
    qb: &mut QueryBuilder<'_, d::Db>,
    seq_col: &str,
    params: &ListParams,
    cursors: Cursors,
) -> bool {
    let asc = params.order == Order::Asc;
    if let Some(a) = cursors.after {
        qb.push(format!(" AND {seq_col} {} ", if asc { ">" } else { "<" }))
            .push_bind(a);
    }
    if let Some(b) = cursors.before {
        qb.push(format!(" AND {seq_col} {} ", if asc { "<" } else { ">" }))
            .push_bind(b);
    }
    let (scan_asc, reversed) = params.scan();
    qb.push(format!(
        " ORDER BY {seq_col} {} LIMIT ",
        if scan_asc { "ASC" } else { "DESC" }
    ))
    .push_bind(i64::from(params.limit) + 1);
    reversed
}

/// Runs a list query: `qb` holds `SELECT ... WHERE <scope>`; this adds the cursor bounds, order
/// and limit, and builds the page. `seq_col` is the ordering column.
async fn fetch_page<T, R>(
    pool: &sqlx::Pool<d::Db>,
    mut qb: QueryBuilder<'_, d::Db>,
    seq_col: &str,
    params: &ListParams,
    cursors: Cursors,
    convert: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Page<T>>
where
    R: for<'r> FromRow<'r, <d::Db as sqlx::Database>::Row> + Send + Unpin,
{
    let reversed = push_page_bounds(&mut qb, seq_col, params, cursors);
    let rows: Vec<R> = qb.build_query_as().fetch_all(pool).await.map_err(backend)?;
    let rows = rows
        .into_iter()
        .map(convert)
        .collect::<StoreResult<Vec<T>>>()?;
    Ok(Page::from_rows(rows, params.limit, reversed))
}

/// Like [`fetch_page`], for a query whose rows are single JSON objects (`... AS obj`) that the
/// database aggregates into one JSON array with `agg`. `qb` must start with
/// `SELECT <agg> FROM (SELECT <object> AS obj FROM ... WHERE <scope>`; this closes the
/// parenthesis.
async fn fetch_json_page<T: DeserializeOwned>(
    pool: &sqlx::Pool<d::Db>,
    mut qb: QueryBuilder<'_, d::Db>,
    seq_col: &str,
    params: &ListParams,
    cursors: Cursors,
) -> StoreResult<Page<T>> {
    let reversed = push_page_bounds(&mut qb, seq_col, params, cursors);
    qb.push(") AS page");
    let json: String = qb
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    let rows: Vec<T> = serde_json::from_str(&json).map_err(backend)?;
    Ok(Page::from_rows(rows, params.limit, reversed))
}
