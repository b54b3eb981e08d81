//! Following a subscription between instances (signals, relayed stream events) for as long as
//! the process wants it: subscribe, hand on each item, and subscribe again when the stream
//! ends or the subscription fails, until told to stop.

use assistd_core::StoreResult;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Follows what `subscribe` yields until `stop` fires or `on` breaks. `on` gets each item, and
/// `None` when a stream ended (items sent until the next subscription are lost). A failed
/// subscription is tried again a second later.
pub(crate) async fn follow<T, F>(
    what: &str,
    stop: &CancellationToken,
    mut subscribe: impl FnMut() -> F,
    mut on: impl FnMut(Option<T>) -> ControlFlow<()>,
) where
    F: Future<Output = StoreResult<BoxStream<'static, T>>>,
{
    loop {
        let mut stream = tokio::select! {
            s = subscribe() => match s {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {what}; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            },
            () = stop.cancelled() => return,
        };
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                () = stop.cancelled() => return,
            };
            let ended = next.is_none();
            if on(next).is_break() {
                return;
            }
            if ended {
                break;
            }
        }
    }
}
