//! PostgreSQL: one connection pool serves reads and writes. PostgreSQL runs writers
//! concurrently, so where SQLite relies on its single writer to make a check-then-write atomic,
//! the shared code takes a row lock first (the dialect's `lock`): the thread's row for the
//! one-active-run rule, the run's row for every lease-guarded transition of the engine. Several
//! assistd processes can share one database: runs are claimed with `FOR UPDATE SKIP LOCKED`,
//! and leases are timed by the database's clock.
//!
//! Lock order, to keep concurrent transactions from deadlocking: a run's row before any row of
//! its thread (the thread itself, its messages) and before its steps. Deleting a thread, whose
//! cascade would otherwise take the thread and its messages before its runs, locks the runs
//! first.

mod dialect;
pub mod relay;
pub mod signals;
#[path = "../sql/mod.rs"]
mod sql;

pub use relay::PgRelay;
pub use signals::PgSignals;

use crate::pool::Drops;
use assistd_core::StoreResult;
use dialect::backend;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// The migrations, embedded in the binary and applied by [`PostgresStore::connect`].
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A store backed by a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Lost connections the listeners saw ([`PgSignals`], [`PgRelay`]).
    drops: Drops,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// Connections in the pool, at most.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// How long one statement may run before the server cancels it (zero: no limit).
    pub statement_timeout: Duration,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// applies pending migrations.
    pub async fn connect(url: &str, settings: &PostgresSettings) -> StoreResult<Self> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(backend)?, settings).await
    }

    /// Like [`PostgresStore::connect`], with options built by the caller.
    pub async fn connect_with(
        options: PgConnectOptions,
        settings: &PostgresSettings,
    ) -> StoreResult<Self> {
        let options = options.application_name("assistd").options([(
            "statement_timeout",
            format!("{}ms", settings.statement_timeout.as_millis()),
        )]);
        // One plain connection first: the pool retries failed connections until its acquire
        // timeout and then reports only that it timed out, hiding why (refused, unknown
        // database, authentication).
        PgConnection::connect_with(&options)
            .await
            .map_err(backend)?
            .close()
            .await
            .map_err(backend)?;
        let drops = Drops::default();
        let pool = crate::pool::options::<sqlx::Postgres>(drops.clone())
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(Self { pool, drops })
    }

    /// Applies pending migrations to the database at `url` over one connection, then closes it
    /// (for a deployment step that migrates before any server starts). Concurrent callers are
    /// serialized by the migrator's advisory lock.
    pub async fn migrate(url: &str) -> StoreResult<()> {
        let mut conn = PgConnection::connect(url).await.map_err(backend)?;
        MIGRATOR.run(&mut conn).await.map_err(backend)?;
        conn.close().await.map_err(backend)
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `op` on a connection of the pool (SQLite's `write` has the same shape: the store's
    /// code is written once for both).
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        op(&mut conn).await
    }

    /// The same as [`PostgresStore::write`]: every write has a transaction of its own here
    /// (SQLite's `write_alone` keeps a long write out of a shared commit).
    pub(crate) async fn write_alone<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.write(op).await
    }

    /// The pool reads go through (the one pool).
    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }
}

/// A listener on `channel`, over a connection of `pool` (`PgSignals`, `PgRelay`). After a loss
/// it connects again only at the next `try_recv`, not before reporting it (sqlx's default): its
/// owner records the loss in the pool's `Drops` first, so that the pool tests the connection it
/// then hands out.
async fn listen(pool: &PgPool, channel: &str) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.map_err(backend)?;
    listener.eager_reconnect(false);
    listener.listen(channel).await.map_err(backend)?;
    Ok(listener)
}

#[cfg(test)]
mod contract {
    use super::*;
    use assistd_core::Store;
    use std::sync::Arc;

    pub(super) use assistd_test_support::pg::TestDatabase;

    /// A store on `db`, migrated.
    pub(super) async fn store_on(db: &TestDatabase) -> PostgresStore {
        PostgresStore::connect(&db.url(), &PostgresSettings::default())
            .await
            .expect("connect to the test database")
    }

    async fn store() -> (TestDatabase, Arc<dyn Store>) {
        let db = TestDatabase::create().await;
        let store = store_on(&db).await;
        (db, Arc::new(store))
    }

    assistd_test_support::store_contract_tests!(store);
}

#[cfg(test)]
mod tests {
    use super::contract::TestDatabase;
    use super::*;
    use assistd_core::{EngineStore, Project, RunStore, Signals, ThreadStore};
    use assistd_test_support::contract::new_run;
    use assistd_wire::{AssistantId, CreateAssistantRequest, CreateThreadRequest, ThreadId};
    use futures::StreamExt;
    use std::collections::HashSet;
    use std::time::Instant;

    /// Both stores ship the same migrations under the same names, so that a deployment reads
    /// the same history whichever backend it runs.
    #[test]
    fn migration_names_match_the_sqlite_store() {
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("read {dir}: {e}"))
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        let here = names(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"));
        let sqlite = names(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"));
        assert!(!here.is_empty(), "no migrations");
        assert_eq!(here, sqlite);
    }

    /// Stores with pools of their own stand for separate processes sharing the database.
    async fn processes(db: &TestDatabase, n: usize) -> Vec<PostgresStore> {
        let mut stores = Vec::new();
        for _ in 0..n {
            stores.push(super::contract::store_on(db).await);
        }
        stores
    }

    async fn assistant(store: &PostgresStore, project: &Project) -> AssistantId {
        use assistd_core::AssistantStore;
        store
            .create_assistant(
                project,
                CreateAssistantRequest {
                    tool_resources: None,
                    reasoning_effort: None,
                    model: "gpt-4-turbo".to_owned(),
                    name: None,
                    description: None,
                    instructions: None,
                    tools: None,
                    file_ids: None,
                    metadata: None,
                    temperature: None,
                    top_p: None,
                    response_format: None,
                },
            )
            .await
            .unwrap()
            .id
    }

    /// Workers in several processes racing for the queue each get a different run, and every
    /// run is claimed once.
    #[tokio::test]
    async fn claims_across_processes_are_exclusive() {
        let db = TestDatabase::create().await;
        let stores = processes(&db, 3).await;
        let p = Project::new("claims");
        let asst = assistant(&stores[0], &p).await;
        let mut created = HashSet::new();
        for _ in 0..12 {
            let thread = stores[0]
                .create_thread(&p, CreateThreadRequest::default())
                .await
                .unwrap();
            let run = stores[0]
                .create_run(&p, &thread.id, new_run(&asst))
                .await
                .unwrap();
            created.insert(run.id);
        }
        let mut claims = tokio::task::JoinSet::new();
        for (i, store) in stores.iter().enumerate() {
            for w in 0..6 {
                let store = store.clone();
                claims.spawn(async move {
                    let worker = format!("process-{i}-worker-{w}");
                    let mut got = Vec::new();
                    while let Some(c) = store
                        .claim_run(&worker, Duration::from_secs(600))
                        .await
                        .unwrap()
                    {
                        got.push(c.run.id);
                    }
                    got
                });
            }
        }
        let mut claimed = Vec::new();
        while let Some(got) = claims.join_next().await {
            claimed.extend(got.unwrap());
        }
        assert_eq!(claimed.len(), created.len(), "claimed {claimed:?}");
        assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), created);
    }

    /// Cuts (`pg_terminate_backend`) every connection of `store` to `db` while `idle` of them
    /// sit idle in the pool, and waits until the server closed them.
    async fn cut_while_idle(db: &TestDatabase, store: &PostgresStore, idle: usize) {
        // A connection goes back to the pool after sqlx pinged it: wait for that, so that the
        // cut meets it idle in the pool.
        for _ in 0..100 {
            if store.pool().num_idle() >= idle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            store.pool().num_idle() >= idle,
            "{idle} idle connections in the pool"
        );
        let mut admin = PgConnection::connect(&db.url()).await.unwrap();
        let pids = "SELECT pid FROM pg_stat_activity WHERE application_name = 'assistd' \
                    AND datname = current_database()";
        let cut: Vec<i32> = sqlx::query_scalar(pids)
            .fetch_all(&mut admin)
            .await
            .unwrap();
        assert!(!cut.is_empty(), "the pool holds a connection");
        for pid in &cut {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let mut gone = false;
        for _ in 0..100 {
            let left: Vec<i32> = sqlx::query_scalar(pids)
                .fetch_all(&mut admin)
                .await
                .unwrap();
            gone = !left.iter().any(|pid| cut.contains(pid));
            if gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the server closed the cut connections");
    }

    /// Reads and writes through `store`, which must not fail.
    async fn read_and_write(store: &PostgresStore, p: &Project, thread: &ThreadId) {
        let read = store.get_thread(p, thread).await.unwrap();
        assert_eq!(&read.id, thread);
        let written = store
            .create_thread(p, CreateThreadRequest::default())
            .await
            .unwrap();
        assert_ne!(&written.id, thread);
    }

    /// Connections the server cut while they sat idle in the pool are tested before they are
    /// handed out, and replaced: the caller does not see the cut. (Connections used a moment
    /// ago are handed out untested, see `pool.rs`.)
    #[tokio::test]
    async fn connections_cut_while_idle_are_replaced_unseen() {
        let db = TestDatabase::create().await;
        let store = super::contract::store_on(&db).await;
        let p = Project::new("cut");
        let thread = store
            .create_thread(&p, CreateThreadRequest::default())
            .await
            .unwrap();
        cut_while_idle(&db, &store, 1).await;
        assert!(
            store.pool().num_idle() > 0,
            "the cut connection still waits in the pool"
        );
        tokio::time::sleep(crate::pool::PING_AFTER_IDLE).await;
        read_and_write(&store, &p, &thread.id).await;
    }

    /// When the server drops every connection (a restart, a failover), the signal listener's
    /// goes too, at once: connections used a moment ago are then tested and replaced as well,
    /// and the caller does not see the cut. Three connections wait in the pool, so that some
    /// are left for the caller whichever the listener takes as it connects again. Each attempt
    /// must get its operations in within `PING_AFTER_IDLE` of the cut, or the idle rule alone
    /// would explain the outcome; a slow attempt is tried again.
    #[tokio::test]
    async fn connections_dropped_with_the_listeners_are_replaced_at_once() {
        let db = TestDatabase::create().await;
        let store = super::contract::store_on(&db).await;
        let mut signals = PgSignals::new(&store).subscribe().await.unwrap();
        // The listener notices the loss only while it is polled, as the worker's loop does.
        tokio::spawn(async move { while signals.next().await.is_some() {} });
        let p = Project::new("dropped");
        for attempt in 1..=3 {
            let thread = store
                .create_thread(&p, CreateThreadRequest::default())
                .await
                .unwrap();
            let held = futures::future::try_join_all((0..3).map(|_| store.pool().acquire()))
                .await
                .unwrap();
            drop(held);
            let used = Instant::now();
            let before = store.drops.last();
            cut_while_idle(&db, &store, 3).await;
            for _ in 0..200 {
                if store.drops.last() != before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_ne!(
                store.drops.last(),
                before,
                "the listener saw its connection lost"
            );
            read_and_write(&store, &p, &thread.id).await;
            if used.elapsed() < crate::pool::PING_AFTER_IDLE {
                return;
            }
            eprintln!("attempt {attempt} took {:?}: again", used.elapsed());
        }
        panic!("no attempt got its operations in within the second after the cut");
    }

    /// Processes racing to start a run on one thread: exactly one run is created.
    #[tokio::test]
    async fn one_active_run_across_processes() {
        let db = TestDatabase::create().await;
        let stores = processes(&db, 4).await;
        let p = Project::new("active-run");
        let asst = assistant(&stores[0], &p).await;
        for _ in 0..5 {
            let thread = stores[0]
                .create_thread(&p, CreateThreadRequest::default())
                .await
                .unwrap()
                .id;
            let mut racers = tokio::task::JoinSet::new();
            for store in &stores {
                for _ in 0..2 {
                    let (store, p, thread) = (store.clone(), p.clone(), thread.clone());
                    let run = new_run(&asst);
                    racers.spawn(async move { store.create_run(&p, &thread, run).await.is_ok() });
                }
            }
            let mut won = 0;
            while let Some(ok) = racers.join_next().await {
                won += usize::from(ok.unwrap());
            }
            assert_eq!(won, 1, "runs created on one thread at once");
        }
    }
}
