//! Signals between assistd instances that share one database: "runs were queued" (wake an idle
//! worker now rather than at its next poll) and "this run is being cancelled" (stop its model
//! request now, wherever it executes). One process needs none of this: its executor handle
//! does both in memory. A backend shared by several processes (PostgreSQL, with LISTEN/NOTIFY)
//! carries them between processes. Signals are hints: a lost one only costs latency, because
//! workers also poll for runs and notice `cancelling` when they renew their lease.

use crate::store::StoreResult;
use assistd_wire::RunId;
use async_trait::async_trait;
use futures::stream::BoxStream;

/// A signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Runs were queued.
    Queued,
    /// The run with this id is being cancelled.
    Cancel(RunId),
}

/// Publishes and receives signals across instances.
#[async_trait]
pub trait Signals: Send + Sync {
    /// Sends `signal` to every instance (this one included).
    async fn publish(&self, signal: Signal) -> StoreResult<()>;

    /// The signals every instance publishes from now on. The stream ends only when the
    /// backend is closed; a broken connection is re-established inside it.
    async fn subscribe(&self) -> StoreResult<BoxStream<'static, Signal>>;
}
