//! The connection pools' settings, shared by both backends.
//!
//! sqlx tests every connection it hands out by default (`test_before_acquire`): a ping, one
//! round trip to PostgreSQL (a thread hop on SQLite) before each statement or transaction:
//! one round trip in five of a run's on PostgreSQL, one in three of a poll's. Here a connection
//! is tested only when it sat idle long enough to have been dropped underneath; sqlx also
//! pings a connection as it returns to the pool, so one idle for less than that answered a
//! moment ago. Pools elsewhere do the same: Java's Hikari pool skips its check within 500 ms
//! of a connection's last use, the `pgbouncer` proxy within 30 s (`server_check_delay`).
//!
//! What that gives up: a database that restarts (or fails over, or a proxy in front of it)
//! within [`PING_AFTER_IDLE`] of a connection's last use fails the one operation that next
//! takes that connection, at most one per pooled connection, where the ping would have
//! replaced it unseen; sqlx then logs a warning and opens a new one. A restart that takes
//! longer leaves every idle connection older than that, so they are tested as before.

use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Database};
use std::time::Duration;

/// A connection idle this long is pinged before it is handed out.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pool options that ping a connection only after it was idle [`PING_AFTER_IDLE`].
pub(crate) fn options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn: &mut DB::Connection, meta: PoolConnectionMetadata| {
            Box::pin(async move {
                if stale(&meta) {
                    // An error closes the connection and the pool opens another.
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Whether a connection with `meta` must be tested before use.
fn stale(meta: &PoolConnectionMetadata) -> bool {
    meta.idle_for >= PING_AFTER_IDLE
}
