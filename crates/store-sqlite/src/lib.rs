//! SQLite implementation of the assistd store traits.
//!
//! One database file in WAL mode. Writes go through a single-connection pool, so transactions
//! never race for SQLite's write lock (which would surface as `SQLITE_BUSY` on lock upgrade);
//! reads use a separate pool of read-only connections and run concurrently with the writer.

mod assistants;
mod engine;
mod files;
mod json;
mod messages;
mod runs;
mod threads;

use assistd_core::{ListParams, Order, Page, Store, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{FromRow, QueryBuilder, Sqlite};
use std::str::FromStr;
use std::time::Duration;

/// The migrations, embedded in the binary and applied at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store backed by one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// Read connections (writes always use one).
    pub read_connections: u32,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            read_connections: 8,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite:path`) and
    /// applies pending migrations.
    pub async fn connect(url: &str, settings: &SqliteSettings) -> StoreResult<Self> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(settings.busy_timeout)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-4000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(backend)?;
        MIGRATOR.run(&writer).await.map_err(backend)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_connections.max(1))
            .connect_with(base.read_only(true))
            .await
            .map_err(backend)?;
        Ok(Self { writer, reader })
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Wraps a driver error.
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Adds the cursor bounds, the scan order and the limit (one more row than the page, to learn
/// `has_more`) to a list query; returns whether the rows come against the requested order.
fn push_page_bounds(
    qb: &mut QueryBuilder<'_, Sqlite>,
    seq_col: &str,
    params: &ListParams,
    after: Option<i64>,
    before: Option<i64>,
) -> bool {
    let asc = params.order == Order::Asc;
    if let Some(a) = after {
        qb.push(format!(" AND {seq_col} {} ", if asc { ">" } else { "<" }))
            .push_bind(a);
    }
    if let Some(b) = before {
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

/// Runs a list query: `base` is a `QueryBuilder` holding `SELECT ... WHERE <scope>`; this adds the
/// cursor bounds, order and limit, and builds the page. `seq_col` is the ordering column and the
/// cursors are already resolved to sequence numbers (`None` when absent); an unknown cursor makes
/// the page empty before this is called.
pub(crate) async fn fetch_page<T, R>(
    pool: &SqlitePool,
    mut qb: QueryBuilder<'_, Sqlite>,
    seq_col: &str,
    params: &ListParams,
    after: Option<i64>,
    before: Option<i64>,
    convert: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Page<T>>
where
    R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    let reversed = push_page_bounds(&mut qb, seq_col, params, after, before);
    let rows: Vec<R> = qb.build_query_as().fetch_all(pool).await.map_err(backend)?;
    let rows = rows
        .into_iter()
        .map(convert)
        .collect::<StoreResult<Vec<T>>>()?;
    Ok(Page::from_rows(rows, params.limit, reversed))
}

/// Like [`fetch_page`], for a query whose rows are single JSON objects (`... AS obj`) that
/// deserialize into `T`: SQLite aggregates the page into one JSON array, so the page crosses
/// from the database thread in one value instead of one message per row and column. `qb` must
/// start with `SELECT json_group_array(json(obj)) FROM (SELECT <json_object(...)> AS obj FROM
/// ... WHERE <scope>`; this closes the parenthesis.
pub(crate) async fn fetch_json_page<T: serde::de::DeserializeOwned>(
    pool: &SqlitePool,
    mut qb: QueryBuilder<'_, Sqlite>,
    seq_col: &str,
    params: &ListParams,
    after: Option<i64>,
    before: Option<i64>,
) -> StoreResult<Page<T>> {
    let reversed = push_page_bounds(&mut qb, seq_col, params, after, before);
    qb.push(")");
    let json: String = qb
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    let rows: Vec<T> = serde_json::from_str(&json).map_err(backend)?;
    Ok(Page::from_rows(rows, params.limit, reversed))
}

/// Resolves the `after`/`before` cursors of `params` with `lookup` (a query taking the cursor id
/// and returning its sequence number). `Err(())` means a cursor is unknown: the page is empty.
pub(crate) async fn resolve_cursors<'a, F, Fut>(
    params: &'a ListParams,
    lookup: F,
) -> StoreResult<Result<(Option<i64>, Option<i64>), ()>>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Option<i64>>>,
{
    let mut out = (None, None);
    if let Some(a) = &params.after {
        match lookup(a).await? {
            Some(s) => out.0 = Some(s),
            None => return Ok(Err(())),
        }
    }
    if let Some(b) = &params.before {
        match lookup(b).await? {
            Some(s) => out.1 = Some(s),
            None => return Ok(Err(())),
        }
    }
    Ok(Ok(out))
}

/// An empty page.
pub(crate) fn empty<T>() -> Page<T> {
    Page {
        data: Vec::new(),
        has_more: false,
    }
}

#[cfg(test)]
mod contract {
    use super::*;
    use std::sync::Arc;

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("assistd.db").display());
        let store = SqliteStore::connect(&url, &SqliteSettings::default())
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    assistd_test_support::store_contract_tests!(store);
}
