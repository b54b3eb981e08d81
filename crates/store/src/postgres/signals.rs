//! Signals between instances over PostgreSQL's LISTEN/NOTIFY: one channel, payload `queued` or
//! `cancel:<run id>`. NOTIFY is delivered to every listening session at commit, in commit
//! order, which is all the engine needs of it: signals are hints (see `assistd_core::signals`).

use super::PostgresStore;
use crate::pool::Drops;
use assistd_core::{Signal, Signals, StoreResult};
use assistd_wire::RunId;
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::PgPool;

/// The channel every instance listens on.
pub const CHANNEL: &str = "assistd_signals";

/// [`Signals`] over a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgSignals {
    pool: PgPool,
    drops: Drops,
}

impl PgSignals {
    /// Signals through `store`'s database; a listener that loses its connection tells the
    /// store's pool, which then tests the connections it hands out that are older.
    pub fn new(store: &PostgresStore) -> Self {
        Self {
            pool: store.pool().clone(),
            drops: store.drops.clone(),
        }
    }
}

fn encode(signal: &Signal) -> String {
    match signal {
        Signal::Queued => "queued".to_owned(),
        Signal::Cancel(run_id) => format!("cancel:{run_id}"),
    }
}

fn decode(payload: &str) -> Option<Signal> {
    match payload {
        "queued" => Some(Signal::Queued),
        p => p
            .strip_prefix("cancel:")
            .filter(|id| !id.is_empty())
            .map(|id| Signal::Cancel(RunId::from(id))),
    }
}

#[async_trait]
impl Signals for PgSignals {
    async fn publish(&self, signal: Signal) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(encode(&signal))
            .execute(&self.pool)
            .await
            .map_err(super::dialect::backend)?;
        Ok(())
    }

    async fn subscribe(&self) -> StoreResult<BoxStream<'static, Signal>> {
        let listener = super::listen(&self.pool, CHANNEL).await?;
        // `try_recv` says when the connection was lost (and makes it again at the next call):
        // the pool learns it, and the signals sent meanwhile are lost, which polling covers. A
        // persistent failure ends the stream and the caller subscribes again.
        let drops = self.drops.clone();
        let stream = futures::stream::unfold((listener, drops), |(mut l, drops)| async move {
            loop {
                match l.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(s) = decode(n.payload()) {
                            return Some((s, (l, drops)));
                        }
                    }
                    Ok(None) => {
                        drops.record();
                        tracing::warn!("lost the signal listener's connection; reconnecting");
                    }
                    Err(e) => {
                        // A reset connection comes here, not as `Ok(None)`.
                        drops.record();
                        tracing::warn!(error = %e, "lost the signal listener");
                        return None;
                    }
                }
            }
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_ignored() {
        for s in [Signal::Queued, Signal::Cancel("run_abc".into())] {
            assert_eq!(decode(&encode(&s)), Some(s));
        }
        assert_eq!(decode("cancel:"), None);
        assert_eq!(decode("something else"), None);
    }
}
