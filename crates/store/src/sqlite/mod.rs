//! SQLite: one database file in WAL mode. Writes go through one connection, the group-commit
//! lane (`lane.rs`), so transactions never race for SQLite's write lock (which would surface as
//! `SQLITE_BUSY` on lock upgrade) and many writes share a commit; reads use a separate pool of
//! read-only connections and run beside the writer.

mod dialect;
#[path = "../sql/mod.rs"]
mod sql;

use crate::lane::{Lane, Upkeep};
use assistd_core::StoreResult;
use dialect::backend;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection};
use std::str::FromStr;
use std::time::Duration;

/// The migrations, embedded in the binary and applied at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store backed by one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Lane<Sqlite>,
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
            // Deleted rows are overwritten with zeros, so a deleted thread's messages cannot be
            // read back from the file (or a copy of it).
            .pragma("secure_delete", "on")
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-4000")
            // A WAL that grew under load is cut back to this when it starts over.
            .pragma("journal_size_limit", "67108864");
        // The lane checkpoints between two batches, not in a commit (below).
        let options = base
            .clone()
            .create_if_missing(true)
            .pragma("wal_autocheckpoint", "0");
        let open = move || async move {
            let mut conn = options.connect().await.map_err(backend)?;
            MIGRATOR.run(&mut conn).await.map_err(backend)?;
            Ok(conn)
        };
        // SQLite would checkpoint inside the commit that takes the WAL past 1,000 pages, with
        // an fsync of the database file, while every write queued behind that commit waits.
        // The lane does it between two batches instead, at most every `CHECKPOINT_EVERY`: the
        // moment no write runs, so that the next batch starts the WAL over once all of it was
        // copied. (A checkpoint on another connection, beside a busy writer, never lets the WAL
        // start over, and collides with this one: tried, the WAL only grew.)
        let upkeep = Upkeep {
            every: CHECKPOINT_EVERY,
            run: Box::new(|conn: &mut SqliteConnection| {
                Box::pin(async move {
                    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(conn)
                        .await
                    {
                        tracing::warn!(error = %e, "checkpointing the WAL failed");
                    }
                })
            }),
        };
        let writer = Lane::start("sqlite-writer", open, Some(upkeep)).await?;
        let reader = crate::pool::options::<Sqlite>(crate::pool::Drops::default())
            .max_connections(settings.read_connections.max(1))
            .connect_with(base.read_only(true))
            .await
            .map_err(backend)?;
        Ok(Self { writer, reader })
    }

    /// Closes every connection, the writer last, which checkpoints the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Runs `op` on the writer connection, in a transaction it may share with other writes
    /// (see `lane.rs`), and returns its result once that transaction committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.writer.write(op).await
    }

    /// [`SqliteStore::write`] for an op that writes many rows: in a transaction of its own, so
    /// that the writes queued before it are answered without waiting for it.
    pub(crate) async fn write_alone<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.writer.write_alone(op).await
    }

    /// The pool of read-only connections.
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// How often the writer checkpoints the WAL, at most.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

#[cfg(test)]
mod contract {
    use super::*;
    use assistd_core::Store;
    use std::sync::Arc;

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("assistd.db").display());
        let store = SqliteStore::connect(&url, &SqliteSettings::default())
            .await
            .expect("open the database");
        (dir, Arc::new(store))
    }

    assistd_test_support::store_contract_tests!(store);
}

#[cfg(test)]
mod wal {
    use super::*;
    use std::io::Read;

    /// The WAL header's checkpoint sequence number, which SQLite increments each time the WAL
    /// starts over (file format, "WAL File Format": the big-endian word at offset 12).
    fn wal_restarts(wal: &std::path::Path) -> u32 {
        let mut header = [0u8; 16];
        std::fs::File::open(wal)
            .and_then(|mut f| f.read_exact(&mut header))
            .expect("the WAL's header");
        u32::from_be_bytes([header[12], header[13], header[14], header[15]])
    }

    /// Under writes that never pause, the WAL still starts over (the lane checkpoints between
    /// two batches), again and again, instead of growing with all that was written.
    ///
    /// It watches the restarts themselves rather than the WAL's size after a fixed time, so a
    /// busy machine makes it slower, not wrong; the deadline only turns a WAL that never starts
    /// over into a failure instead of a hang.
    #[tokio::test]
    async fn the_wal_starts_over_under_continuous_writes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("assistd.db");
        let wal = dir.path().join("assistd.db-wal");
        let store = SqliteStore::connect(
            &format!("sqlite://{}", path.display()),
            &SqliteSettings::default(),
        )
        .await
        .expect("open the database");
        store
            .write(|conn| {
                Box::pin(async move {
                    sqlx::query("CREATE TABLE scratch (v TEXT NOT NULL)")
                        .execute(conn)
                        .await
                        .map_err(backend)?;
                    Ok(())
                })
            })
            .await
            .expect("a scratch table");
        let first = wal_restarts(&wal);
        let row = "x".repeat(4096);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut writes = 0u32;
        // Three restarts: the first could come from the checkpoint after the table was made.
        while wal_restarts(&wal).wrapping_sub(first) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL started over {} times in {writes} writes that never paused",
                wal_restarts(&wal).wrapping_sub(first)
            );
            let row = row.clone();
            store
                .write(move |conn| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO scratch (v) VALUES ($1)")
                            .bind(row)
                            .execute(conn)
                            .await
                            .map_err(backend)?;
                        Ok(())
                    })
                })
                .await
                .expect("an insert");
            writes += 1;
        }
        store.close().await;
    }
}
