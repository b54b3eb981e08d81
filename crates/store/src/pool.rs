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
//! A database that restarts (or fails over, or a proxy in front of it) within
//! [`PING_AFTER_IDLE`] of a connection's last use would leave connections that look fresh but
//! are dead. The listeners' connections (signals, the stream relay) are blocked reading, so
//! when the server closes or resets them they learn it at once: they record it in [`Drops`],
//! and every connection idle since before then is tested too. What is left fails once (sqlx
//! then logs a warning and opens a new connection): an operation that takes a connection
//! between the loss and its notice (about a millisecond here), one the server cut alone (an
//! administrator's `pg_terminate_backend`), or one whose host vanished without closing
//! anything, which no reader notices until a timeout.

use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Database};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// A connection idle this long is pinged before it is handed out.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The origin of [`Drops`]' clock.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Microseconds since [`ORIGIN`], at least 1 (0 means never).
fn clock_us() -> u64 {
    u64::try_from(ORIGIN.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// When a listener of this store last lost its connection: the database dropped connections
/// it had not been asked to close. Pool connections idle since before then are tested before
/// use, however briefly they were idle. Clones share the record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drops(Arc<AtomicU64>);

impl Drops {
    /// Records a lost connection, now.
    pub(crate) fn record(&self) {
        self.0.fetch_max(clock_us(), Ordering::Relaxed);
    }

    /// The last loss recorded (0: none), on this module's clock.
    #[cfg(test)]
    pub(crate) fn last(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether a connection idle for `idle_for` was last used before the last recorded loss.
    fn predate(&self, idle_for: Duration) -> bool {
        let lost = self.0.load(Ordering::Relaxed);
        let idle_us = u64::try_from(idle_for.as_micros()).unwrap_or(u64::MAX);
        lost != 0 && clock_us().saturating_sub(idle_us) <= lost
    }
}

/// Pool options that ping a connection only after it was idle [`PING_AFTER_IDLE`], or when it
/// predates a loss recorded in `drops`.
pub(crate) fn options<DB: Database>(drops: Drops) -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(
            move |conn: &mut DB::Connection, meta: PoolConnectionMetadata| {
                let stale = stale(&drops, &meta);
                Box::pin(async move {
                    if stale {
                        // An error closes the connection and the pool opens another.
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            },
        )
}

/// Whether a connection with `meta` must be tested before use.
fn stale(drops: &Drops, meta: &PoolConnectionMetadata) -> bool {
    meta.idle_for >= PING_AFTER_IDLE || drops.predate(meta.idle_for)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_idle_since_before_a_loss_predate_it() {
        let drops = Drops::default();
        assert!(
            !drops.predate(Duration::from_secs(3600)),
            "nothing lost yet"
        );
        std::thread::sleep(Duration::from_millis(20));
        drops.record();
        // Bounds that hold however long the thread is held up between the lines.
        assert!(
            drops.predate(Duration::from_secs(3600)),
            "idle since before"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(!drops.predate(Duration::from_millis(5)), "used since");
        assert!(
            drops.clone().predate(Duration::from_secs(3600)),
            "a clone shares it"
        );
    }
}
