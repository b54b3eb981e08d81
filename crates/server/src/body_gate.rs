//! Bounds the memory that large JSON bodies take together. Parsing a body costs several times
//! its size (a 32 MiB body of tiny messages takes ~150 MB), so without a bound a handful of
//! clients sending large bodies at once could exhaust memory. Bodies over [`LARGE`] share a
//! budget of bytes in flight (`json_bytes_in_flight`): a request takes its declared size from
//! the budget before its body is read and gives it back when its handler is done. When the
//! budget is spent, a request waits a little (`json_body_wait_secs`), then gets a 503 with
//! `Retry-After`. Small bodies, the usual case, never wait.

use crate::config::Settings;
use crate::error::{ApiError, ErrorKind};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Bodies up to this size pass without taking from the budget.
pub const LARGE: usize = 1024 * 1024;
/// The budget counts in KiB, so that any body's share fits a permit count.
const UNIT: usize = 1024;

/// The shared budget of large-body bytes.
#[derive(Clone)]
pub struct BodyGate {
    room: Arc<Semaphore>,
    /// What a body of unknown length (chunked) is counted as: the most it may be.
    max_body: usize,
    wait: Duration,
}

impl BodyGate {
    /// The budget the settings give; never smaller than one body of the largest size allowed,
    /// which could otherwise never pass.
    pub fn new(settings: &Settings) -> Self {
        let budget = settings
            .json_bytes_in_flight
            .max(settings.max_json_body_bytes)
            .div_ceil(UNIT)
            .min(Semaphore::MAX_PERMITS);
        Self {
            room: Arc::new(Semaphore::new(budget)),
            max_body: settings.max_json_body_bytes,
            wait: Duration::from_secs_f64(settings.json_body_wait_secs),
        }
    }

    /// The budget's share a request takes, if its body is large (or of unknown length).
    fn share(&self, req: &Request) -> Option<u32> {
        let headers = req.headers();
        let size = match headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(n) if n <= LARGE as u64 => return None,
            // Beyond the maximum the body limit refuses it after reading at most the maximum.
            Some(n) => usize::try_from(n).map_or(self.max_body, |n| n.min(self.max_body)),
            // No declared length (HTTP/1.1 chunked, or HTTP/2, which has no
            // `Transfer-Encoding`): it may be as large as the maximum, unless it is empty.
            None if !http_body::Body::is_end_stream(req.body()) => self.max_body,
            None => return None,
        };
        Some(u32::try_from(size.div_ceil(UNIT)).unwrap_or(u32::MAX))
    }
}

/// Middleware: runs the request within the budget, or answers 503 when no room frees in time.
pub async fn gate(State(g): State<BodyGate>, req: Request, next: Next) -> Response {
    let Some(share) = g.share(&req) else {
        return next.run(req).await;
    };
    let acquired = tokio::time::timeout(g.wait, g.room.clone().acquire_many_owned(share)).await;
    let Ok(Ok(permit)) = acquired else {
        return (
            [(header::RETRY_AFTER, "1")],
            ApiError::new(
                ErrorKind::Overloaded,
                "The server is busy with other large requests. Please retry shortly.",
            ),
        )
            .into_response();
    };
    let res = next.run(req).await;
    // The handler is done with the parsed body; a streamed response holds no share of it.
    drop(permit);
    res
}
