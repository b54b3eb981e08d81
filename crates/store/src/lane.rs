//! Group commit: one connection, driven by a thread of its own, runs the store's writes back
//! to back and commits many of them in one transaction.
//!
//! Why: on SQLite every write goes through one connection. When each caller drove its own
//! transaction over that connection, the connection sat idle between a transaction's
//! statements while the caller's task waited its turn on the busy runtime (under load, most of
//! the time: the writer thread was idle 60% of the time with thousands of writes queued), and
//! each small transaction paid its own commit. Here a write is an *op*, a closure over the
//! connection shipped to the lane: the lane's thread polls nothing else, so an op's statements
//! follow each other at once, and every op that arrived meanwhile joins the same transaction.
//!
//! What an op sees is what it saw before: the connection, inside a transaction. An op that
//! needs several statements to stand or fall together opens its own (`conn.begin()`, which the
//! driver turns into a savepoint within the batch). This suits SQLite, where a failed statement
//! undoes only itself; on PostgreSQL it would spoil the whole batch (and a savepoint per op
//! would pass PostgreSQL's 64 cached subtransactions), so PostgreSQL keeps a transaction per
//! write. The caller hears back only after the batch committed, so what it wrote is then visible to every
//! reader. An op that fails with a backend error ends its batch at once (SQLite may have
//! rolled the whole transaction back), and the ops before it hear whether the commit held.

use assistd_core::{StoreError, StoreResult};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{Connection, Database};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Ops waiting for the lane, at most; past that, writers wait to queue (back-pressure, and
/// bounded memory).
const QUEUE: usize = 4096;
/// Ops in one transaction, at most.
const MAX_BATCH: usize = 256;
/// How long a batch takes in more ops before it commits: the first op's caller waits for the
/// batch, so a batch is kept short; a commit costs a fraction of this.
const MAX_BATCH_TIME: Duration = Duration::from_millis(2);

/// What happened to an op, for the batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done.
    Done,
    /// Refused by the store's own checks (not found, invalid...): the batch goes on.
    Refused,
    /// The database failed: the batch ends with this op.
    Broken,
}

/// Upkeep the lane runs between two batches, at most once per interval (SQLite: a checkpoint
/// that lets the next batch start the WAL over, see `sqlite/mod.rs`).
pub(crate) struct Upkeep<C> {
    /// At most once per this.
    pub(crate) every: Duration,
    /// The work; its failure is its own to log.
    pub(crate) run: UpkeepFn<C>,
}

/// The work of an [`Upkeep`].
pub(crate) type UpkeepFn<C> = Box<dyn for<'c> Fn(&'c mut C) -> BoxFuture<'c, ()> + Send>;

/// Hands an op's result to its caller once the batch's commit is known.
type Deliver = Box<dyn FnOnce(Result<(), Arc<str>>) + Send>;
/// An op as the lane runs it.
type Op<C> = Box<dyn for<'c> FnOnce(&'c mut C) -> BoxFuture<'c, (Outcome, Deliver)> + Send>;

enum Job<C> {
    Op(Op<C>),
    /// An op known to take long, run in a batch of its own so that it holds up no fast op's
    /// answer (the batch before it commits first).
    Alone(Op<C>),
    Close(oneshot::Sender<()>),
}

/// The handle writers queue their ops on; cheap to clone.
pub(crate) struct Lane<DB: Database> {
    jobs: mpsc::Sender<Job<DB::Connection>>,
}

impl<DB: Database> Clone for Lane<DB> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Lane<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

/// The lane is gone (closed, or its thread failed), or the op was dropped unrun (its
/// transaction could not start) or panicked midway (what it wrote in its own transaction is
/// undone; a statement it ran outside one may stand).
fn stopped() -> StoreError {
    StoreError::Backend("the write may not have been made: the store's writer failed".into())
}

/// The batch an op was part of failed to commit.
fn commit_failed(message: &str) -> StoreError {
    StoreError::Backend(format!("committing the write failed: {message}").into())
}

impl<DB: Database> Lane<DB> {
    /// Starts the lane's thread, which opens its connection with `open` (and may migrate
    /// through it) before it takes ops; fails if `open` does. `upkeep` runs between batches.
    pub(crate) async fn start<F, Fut>(
        name: &str,
        open: F,
        upkeep: Option<Upkeep<DB::Connection>>,
    ) -> StoreResult<Self>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<DB::Connection>>,
    {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let (ready_tx, ready) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let conn = match open().await {
                        Ok(conn) => {
                            let _ = ready_tx.send(Ok(()));
                            conn
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    serve::<DB>(conn, rx, upkeep).await;
                });
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        ready.await.map_err(|_| stopped())??;
        Ok(Self { jobs })
    }

    /// Runs `op` on the lane's connection, in a transaction shared with other writes, and
    /// returns its result once that transaction committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.queue(op, false).await
    }

    /// [`Lane::write`] for an op known to take long (many rows): it runs in a transaction of its
    /// own, after the ops queued before it committed, so that their callers do not wait for it.
    pub(crate) async fn write_alone<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.queue(op, true).await
    }

    /// Queues `op` (`alone`: in a batch of its own) and waits for its result.
    async fn queue<T, F>(&self, op: F, alone: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let op: Op<DB::Connection> = Box::new(move |conn| {
            Box::pin(async move {
                let result = op(conn).await;
                let outcome = match &result {
                    Ok(_) => Outcome::Done,
                    Err(e) if e.is_failure() => Outcome::Broken,
                    Err(_) => Outcome::Refused,
                };
                let deliver: Deliver = Box::new(move |commit| {
                    let _ = tx.send(match commit {
                        Ok(()) => result,
                        Err(message) => result.and_then(|_| Err(commit_failed(&message))),
                    });
                });
                (outcome, deliver)
            })
        });
        let job = if alone { Job::Alone(op) } else { Job::Op(op) };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Finishes the ops queued so far, then closes the connection.
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The lane's loop: a batch per round, until every handle is dropped or one asks to close.
async fn serve<DB: Database>(
    mut conn: DB::Connection,
    mut rx: mpsc::Receiver<Job<DB::Connection>>,
    upkeep: Option<Upkeep<DB::Connection>>,
) {
    let mut next = None;
    let mut kept = Instant::now();
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let (first, alone) = match job {
            Job::Op(op) => (op, false),
            Job::Alone(op) => (op, true),
            Job::Close(done) => {
                let _ = conn.close().await;
                let _ = done.send(());
                return;
            }
        };
        let mut batch = match conn.begin().await {
            Ok(batch) => batch,
            Err(e) => {
                // Dropping the op tells its caller the write did not happen.
                tracing::error!(error = %e, "starting a write transaction failed");
                drop(first);
                continue;
            }
        };
        let started = Instant::now();
        let mut delivers = Vec::new();
        let mut op = Some(first);
        let mut broken = false;
        while let Some(o) = op.take() {
            let (outcome, deliver) = run_op::<DB>(o, &mut batch).await;
            delivers.push(deliver);
            if outcome == Outcome::Broken {
                broken = true;
                break;
            }
            if alone || delivers.len() >= MAX_BATCH || started.elapsed() >= MAX_BATCH_TIME {
                break;
            }
            match rx.try_recv() {
                Ok(Job::Op(o)) => op = Some(o),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let commit = batch.commit().await.map_err(|e| {
            if !broken {
                tracing::error!(error = %e, "committing a batch of writes failed");
            }
            Arc::<str>::from(e.to_string())
        });
        #[expect(
            clippy::cast_precision_loss,
            reason = "at most MAX_BATCH ops: far below 2^52"
        )]
        metrics::histogram!("assistd_store_write_batch_ops").record(delivers.len() as f64);
        for deliver in delivers {
            deliver(commit.clone());
        }
        if let Some(upkeep) = &upkeep
            && kept.elapsed() >= upkeep.every
        {
            (upkeep.run)(&mut conn).await;
            kept = Instant::now();
        }
    }
    let _ = conn.close().await;
}

/// Runs one op on `conn`. A panicking op breaks the batch; its caller hears that the write
/// may not have been made (what it wrote in a transaction of its own is undone as the panic
/// drops that transaction).
async fn run_op<DB: Database>(
    op: Op<DB::Connection>,
    conn: &mut DB::Connection,
) -> (Outcome, Deliver) {
    let lost: Deliver = Box::new(|_| {});
    AssertUnwindSafe(op(conn))
        .catch_unwind()
        .await
        .unwrap_or((Outcome::Broken, lost))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Sqlite, SqliteConnection};

    async fn lane(dir: &tempfile::TempDir) -> (Lane<Sqlite>, SqliteConnectOptions) {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("lane.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let open_with = options.clone();
        let lane = Lane::<Sqlite>::start(
            "test-lane",
            move || async move {
                let mut conn = open_with.connect().await.map_err(backend)?;
                sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                    .execute(&mut conn)
                    .await
                    .map_err(backend)?;
                Ok(conn)
            },
            None,
        )
        .await
        .expect("the lane starts");
        (lane, options)
    }

    fn backend(e: sqlx::Error) -> StoreError {
        StoreError::Backend(Box::new(e))
    }

    async fn insert(lane: &Lane<Sqlite>, k: i64) -> StoreResult<u64> {
        lane.write(move |conn: &mut SqliteConnection| {
            Box::pin(async move {
                let done = sqlx::query("INSERT INTO t (k, v) VALUES ($1, 'x')")
                    .bind(k)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    async fn keys(options: &SqliteConnectOptions) -> Vec<i64> {
        let mut reader = options.connect().await.expect("a reader");
        sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(&mut reader)
            .await
            .expect("read the keys")
    }

    /// Many writes queued at once: each caller hears of its own write only once it committed
    /// (a separate connection reads it), and none is lost.
    #[tokio::test]
    async fn concurrent_writes_are_all_committed_and_visible_when_answered() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (lane, options) = lane(&dir).await;
        let mut writes = tokio::task::JoinSet::new();
        for k in 0..500 {
            let lane = lane.clone();
            let options = options.clone();
            writes.spawn(async move {
                assert_eq!(insert(&lane, k).await.expect("the insert"), 1);
                let mut reader = options.connect().await.expect("a reader");
                let seen: Option<i64> = sqlx::query_scalar("SELECT k FROM t WHERE k = $1")
                    .bind(k)
                    .fetch_optional(&mut reader)
                    .await
                    .expect("read back");
                assert_eq!(seen, Some(k), "row {k} visible once its write answered");
            });
        }
        while let Some(done) = writes.join_next().await {
            done.expect("a writer");
        }
        assert_eq!(keys(&options).await, (0..500).collect::<Vec<_>>());
        lane.close().await;
    }

    /// In one batch, a write the store refuses and a write the database fails leave the others
    /// alone: each caller gets its own answer, and what the failed ones wrote is undone.
    #[tokio::test]
    async fn a_failing_write_fails_alone() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (lane, options) = lane(&dir).await;
        insert(&lane, 1).await.expect("the first insert");
        let refused = lane.write(|conn: &mut SqliteConnection| {
            Box::pin(async move {
                let mut tx = conn.begin().await.map_err(backend)?;
                sqlx::query("INSERT INTO t (k, v) VALUES (2, 'x')")
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                Err::<(), _>(StoreError::invalid("refused after writing", None))
            })
        });
        let duplicate = insert(&lane, 1);
        let panicked = lane.write(|_conn: &mut SqliteConnection| {
            Box::pin(async move {
                assert!(!std::hint::black_box(true), "an op that panics");
                Ok(())
            })
        });
        let (refused, duplicate, fine, panicked, after) = tokio::join!(
            refused,
            duplicate,
            insert(&lane, 3),
            panicked,
            insert(&lane, 4)
        );
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
        assert!(
            matches!(duplicate, Err(StoreError::Backend(_))),
            "{duplicate:?}"
        );
        assert!(
            matches!(panicked, Err(StoreError::Backend(_))),
            "{panicked:?}"
        );
        assert_eq!(fine.expect("an insert beside them"), 1);
        assert_eq!(after.expect("an insert after them"), 1);
        assert_eq!(keys(&options).await, vec![1, 3, 4]);
        lane.close().await;
    }

    /// A write queued alone does not join the batch of the writes queued before it: they are
    /// answered while it still runs. (Here it waits until the write before it was answered; in
    /// a shared batch that answer would never come, and the test would time out.)
    #[tokio::test]
    async fn a_write_alone_holds_up_no_earlier_answer() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (lane, options) = lane(&dir).await;
        let (started_tx, started) = oneshot::channel::<()>();
        let (open_gate, gate) = oneshot::channel::<()>();
        let busy = {
            let lane = lane.clone();
            tokio::spawn(async move {
                lane.write(move |_conn: &mut SqliteConnection| {
                    Box::pin(async move {
                        let _ = started_tx.send(());
                        let _ = gate.await;
                        Ok(())
                    })
                })
                .await
            })
        };
        started.await.expect("the lane runs the first write");
        // Queued while the lane is busy, in this order: a small write, then a long one alone.
        let small = {
            let lane = lane.clone();
            tokio::spawn(async move { insert(&lane, 1).await })
        };
        tokio::task::yield_now().await;
        let (let_long_end, long_end) = oneshot::channel::<()>();
        let long = {
            let lane = lane.clone();
            tokio::spawn(async move {
                lane.write_alone(move |conn: &mut SqliteConnection| {
                    Box::pin(async move {
                        let _ = long_end.await;
                        sqlx::query("INSERT INTO t (k, v) VALUES (2, 'long')")
                            .execute(conn)
                            .await
                            .map_err(backend)?;
                        Ok(())
                    })
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        let _ = open_gate.send(());
        let small = tokio::time::timeout(Duration::from_secs(10), small)
            .await
            .expect("the small write is answered while the long one runs")
            .expect("the small write's task");
        assert_eq!(small.expect("the small write"), 1);
        let _ = let_long_end.send(());
        long.await
            .expect("the long write's task")
            .expect("the long write");
        busy.await
            .expect("the first write's task")
            .expect("the first write");
        assert_eq!(keys(&options).await, vec![1, 2]);
        lane.close().await;
    }

    /// Once closed, the lane refuses writes with an error rather than hanging.
    #[tokio::test]
    async fn a_closed_lane_refuses_writes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (lane, _) = lane(&dir).await;
        lane.close().await;
        assert!(matches!(
            insert(&lane, 1).await,
            Err(StoreError::Backend(_))
        ));
    }
}
