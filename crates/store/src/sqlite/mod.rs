//! SQLite: one database file in WAL mode. Writes go through one connection, the group-commit
//! lane (`lane.rs`), so transactions never race for SQLite's write lock (which would surface as
//! `SQLITE_BUSY` on lock upgrade) and many writes share a commit; reads use a separate pool of
//! read-only connections and run beside the writer.

mod dialect;
#[path = "../sql/mod.rs"]
mod sql;

use crate::lane::Lane;
use assistd_core::StoreResult;
use dialect::backend;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection};
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
            .pragma("cache_size", "-4000");
        // Checkpoints run beside the writer, not in its commits (below).
        let options = base
            .clone()
            .create_if_missing(true)
            .pragma("wal_autocheckpoint", "0");
        let open = move || async move {
            let mut conn = options.connect().await.map_err(backend)?;
            MIGRATOR.run(&mut conn).await.map_err(backend)?;
            Ok(conn)
        };
        let writer = Lane::start("sqlite-writer", open, false).await?;
        let checkpointer = base.clone().connect().await.map_err(backend)?;
        tokio::spawn(checkpoint_loop(checkpointer, writer.alive()));
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

    /// The pool of read-only connections.
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL's committed pages into the database file every [`CHECKPOINT_EVERY`], on a
/// connection of its own, until the writer stops. SQLite would otherwise checkpoint inside a
/// commit once the WAL passes 1,000 pages, with an fsync of the database file, holding up
/// every write queued behind that commit; a passive checkpoint here waits for no one and makes
/// no one wait. The writer starts the WAL over once a checkpoint has caught up with it.
async fn checkpoint_loop(mut conn: SqliteConnection, writer_alive: impl Fn() -> bool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if !writer_alive() {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %e, "checkpointing the WAL failed");
        }
    }
    let _ = conn.close().await;
}

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
