//! The accept loop: hyper connections with deadlines, under a cap on how many are open.
//!
//! `axum::serve` keeps a connection for as long as the peer wants: headers sent a byte a
//! minute, an idle keep-alive or a dripped body each hold a socket, and at the descriptor limit
//! the server stops accepting, `/healthz` included. Here every connection has a watchdog:
//!
//! - waiting for a request, it gets `header_timeout` from the accept for the first one; after a
//!   response, `idle_timeout` for the next request to start, then `header_timeout` from its
//!   first byte for its headers to complete;
//! - a request body gets `body_timeout` plus its size at `body_min_rate`, or a 408 and the
//!   connection closes;
//! - a request in flight, response included (an SSE stream), is never timed out while its
//!   response moves; one whose peer has read nothing for `idle_timeout` (the socket refuses our
//!   bytes) is closed, so a client that stops reading cannot hold a slot for ever.
//!
//! Connections speak HTTP/1.1 only: under HTTP/2 a peer can stall a response through flow
//! control without our socket ever filling up.
//!
//! hyper's own `header_read_timeout` is not used: it also times the wait between kept-alive
//! requests, with the same (short) duration, and knows nothing of the cap.
//!
//! At the cap, a new connection evicts the one that has waited for a request the longest;
//! connections with a request in flight are never evicted. A flood of connections that never
//! finish their headers thus only displaces itself, and a client that needs an answer
//! (`/healthz`, an SDK) still gets one. Only when every connection is busy is a new one refused.

use crate::config::Settings;
use crate::error::{ApiError, ErrorKind};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, Version, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Descriptors kept for everything but client connections when the cap is derived: the
/// database, file bytes being read or written, upstream sockets, logs.
const RESERVED_FDS: usize = 256;
/// The derived cap's ceiling: each connection costs buffers, and past this many a flood costs
/// more memory than it is worth serving.
const DERIVED_CAP_MAX: usize = 16_384;
/// The derived cap's floor, for machines with a tiny descriptor limit.
const DERIVED_CAP_MIN: usize = 32;

/// The deadlines and the cap, from the settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`Settings::header_timeout_secs`].
    pub header_timeout: Duration,
    /// See [`Settings::idle_timeout_secs`].
    pub idle_timeout: Duration,
    /// See [`Settings::body_timeout_secs`].
    pub body_timeout: Duration,
    /// See [`Settings::body_min_bytes_per_sec`].
    pub body_min_rate: u64,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Limits {
    /// The limits the settings ask for. Raises the soft descriptor limit to the hard one first
    /// (the default soft limit, often 1,024, is what a few hundred slow clients exhaust), and
    /// derives the cap from it unless the settings name one.
    pub fn from_settings(settings: &Settings) -> Self {
        let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read or raise the file-descriptor limit");
                1024
            }
        };
        let max_connections = if settings.max_connections > 0 {
            settings.max_connections
        } else {
            // Two descriptors per worker (its model connection, and a file or a socket), but
            // never more than half the limit: on a host with a low limit, clients keep the
            // other half, and a run past what is left fails to reach its model (the warning
            // says so at start). `workers` defaults to 4,096 for a limit, raised above, that is
            // usually far higher.
            let for_workers = (2 * settings.workers).min(nofile / 2);
            if for_workers < 2 * settings.workers {
                tracing::warn!(
                    nofile,
                    workers = settings.workers,
                    "the file-descriptor limit is low for this many workers: raise the limit \
                     (LimitNOFILE) or lower `workers`"
                );
            }
            let reserve = RESERVED_FDS
                + for_workers
                + settings.database_max_connections as usize
                + settings.sqlite_read_connections as usize;
            nofile
                .saturating_sub(reserve)
                .clamp(DERIVED_CAP_MIN, DERIVED_CAP_MAX)
        };
        tracing::debug!(nofile, max_connections, "connection limits");
        Self {
            header_timeout: Duration::from_secs_f64(settings.header_timeout_secs),
            idle_timeout: Duration::from_secs_f64(settings.idle_timeout_secs),
            body_timeout: Duration::from_secs_f64(settings.body_timeout_secs),
            body_min_rate: settings.body_min_bytes_per_sec,
            max_connections,
        }
    }
}

/// What a connection is doing, as its watchdog and the eviction need to know.
#[derive(Debug)]
struct Activity {
    /// Requests whose response has not been sent whole.
    in_flight: usize,
    /// Responses sent whole.
    served: u64,
    /// Since when nothing is in flight (the accept, at first).
    idle_since: Instant,
    /// The first byte received since then, if any: the next request has started.
    first_byte: Option<Instant>,
    /// Closed to make room for a newer connection.
    evicted: bool,
    /// Since when the socket has refused our bytes (the peer reads nothing), if it does now.
    write_blocked_since: Option<Instant>,
}

/// One open connection.
struct Conn {
    id: u64,
    accepted: Instant,
    activity: Mutex<Activity>,
    /// The activity changed: the watchdog recomputes its deadline.
    changed: Notify,
}

impl Conn {
    fn new(id: u64) -> Self {
        let now = Instant::now();
        Self {
            id,
            accepted: now,
            activity: Mutex::new(Activity {
                in_flight: 0,
                served: 0,
                idle_since: now,
                first_byte: None,
                evicted: false,
                write_blocked_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn activity(&self) -> MutexGuard<'_, Activity> {
        // The state is a few counters, consistent after any panic that could poison it.
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the connection is to be closed, if nothing changes; `None` while busy and its
    /// response moving (a busy connection whose peer has read nothing for `idle_timeout` is
    /// gone: it would otherwise hold its slot, and at the cap everyone's, for ever).
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let a = self.activity();
        if a.in_flight > 0 {
            return a
                .write_blocked_since
                .map(|since| since + limits.idle_timeout);
        }
        Some(if a.served == 0 {
            self.accepted + limits.header_timeout
        } else if let Some(first) = a.first_byte {
            first + limits.header_timeout
        } else {
            a.idle_since + limits.idle_timeout
        })
    }

    /// Resolves when the connection should be closed: a deadline passed, or it was evicted.
    async fn expired(&self, limits: &Limits) {
        loop {
            let changed = self.changed.notified();
            if self.activity().evicted {
                return;
            }
            match self.deadline(limits) {
                Some(at) if at <= Instant::now() => return,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Bytes arrived.
    fn received(&self) {
        let mut a = self.activity();
        if a.in_flight == 0 && a.first_byte.is_none() {
            a.first_byte = Some(Instant::now());
            drop(a);
            self.changed.notify_one();
        }
    }

    /// A write returned: `blocked` if the socket took nothing (its buffer is full).
    fn wrote(&self, blocked: bool) {
        let mut a = self.activity();
        let changed = match (blocked, a.write_blocked_since) {
            (true, None) => {
                a.write_blocked_since = Some(Instant::now());
                true
            }
            (false, Some(_)) => {
                a.write_blocked_since = None;
                true
            }
            _ => false,
        };
        drop(a);
        if changed {
            self.changed.notify_one();
        }
    }

    fn evict(&self) {
        self.activity().evicted = true;
        self.changed.notify_one();
    }
}

/// A request in flight on a connection, from its headers to the end of its response.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn begin(conn: Arc<Conn>) -> Self {
        conn.activity().in_flight += 1;
        conn.changed.notify_one();
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut a = self.0.activity();
        a.in_flight = a.in_flight.saturating_sub(1);
        a.served += 1;
        if a.in_flight == 0 {
            a.idle_since = Instant::now();
            a.first_byte = None;
        }
        drop(a);
        self.0.changed.notify_one();
    }
}

/// The open connections.
struct Registry {
    cap: usize,
    state: Mutex<RegistryState>,
}

struct RegistryState {
    conns: HashMap<u64, Arc<Conn>>,
    next_id: u64,
    /// Connections refused since the last warning, and when that was: at the cap every accept
    /// could log, so the log says it once in a while with a count.
    refused: u64,
    warned: Option<Instant>,
}

impl Registry {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            state: Mutex::new(RegistryState {
                conns: HashMap::new(),
                next_id: 0,
                refused: 0,
                warned: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more connection, evicting the longest-waiting idle one at the cap;
    /// `None` when every connection is busy.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut s = self.state();
        if s.conns.len() >= self.cap {
            let victim = s
                .conns
                .values()
                .filter_map(|c| {
                    let a = c.activity();
                    (a.in_flight == 0 && !a.evicted).then_some((a.idle_since, c.id))
                })
                .min();
            let Some((_, id)) = victim else {
                s.refused += 1;
                if s.warned
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                {
                    tracing::warn!(
                        cap = self.cap,
                        refused = s.refused,
                        "connection cap reached with every connection busy: refusing connections"
                    );
                    s.refused = 0;
                    s.warned = Some(Instant::now());
                }
                return None;
            };
            if let Some(c) = s.conns.remove(&id) {
                tracing::debug!(
                    conn = id,
                    "connection cap reached: evicting the longest idle"
                );
                c.evict();
            }
        }
        s.next_id += 1;
        let conn = Arc::new(Conn::new(s.next_id));
        s.conns.insert(conn.id, conn.clone());
        Some(conn)
    }

    fn remove(&self, id: u64) {
        self.state().conns.remove(&id);
    }
}

/// Accepts on `listener` and serves `app` until `shutdown` resolves; then stops accepting,
/// lets the requests in flight finish, and returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let limits = Arc::new(limits);
    let stopping = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A connection reset before it was accepted concerns that connection only;
                    // anything else (out of descriptors) passes with time, so retry shortly.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        let Some(conn) = registry.admit() else {
            continue;
        };
        // Stream events are small and must go out as they come.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        tracker.spawn(serve_connection(
            stream,
            peer,
            conn,
            app.clone(),
            limits.clone(),
            stopping.clone(),
            registry.clone(),
        ));
    }
    drop(listener);
    stopping.cancel();
    tracker.close();
    tracker.wait().await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    app: Router,
    limits: Arc<Limits>,
    stopping: CancellationToken,
    registry: Arc<Registry>,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let service = {
        let conn = conn.clone();
        let limits = limits.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(app.clone(), conn.clone(), limits.clone(), peer, req)
        })
    };
    // HTTP/1.1 only: HTTP/2's flow control lets a peer hold a response still without ever
    // filling our socket buffer, where the watchdog could not see it. HTTP/2 belongs between
    // clients and a TLS-terminating proxy; assistd speaks cleartext HTTP/1.1 behind it.
    let builder = Builder::new(TokioExecutor::new()).http1_only();
    let served = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(served);
    let mut draining = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = stopping.cancelled(), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
            // Dropping the connection closes it; nothing is in flight on it by construction.
            () = conn.expired(&limits) => break,
        }
    }
    registry.remove(conn.id);
}

/// One request: tracked as in flight until its response is sent whole, with a deadline on its
/// body.
async fn handle(
    app: Router,
    conn: Arc<Conn>,
    limits: Arc<Limits>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let in_flight = InFlight::begin(conn);
    // The peer's address, as `axum::serve` gives it: the failed-authentication backoff counts
    // by it.
    req.extensions_mut().insert(ConnectInfo(peer));
    let version = req.version();
    let timed_out = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        if http_body::Body::is_end_stream(&body) {
            Body::new(body)
        } else {
            Body::new(BodyDeadline::new(body, &limits, timed_out.clone()))
        }
    });
    let res = app.oneshot(req).await?;
    let res = if timed_out.load(Ordering::Relaxed) {
        too_slow(&res, version)
    } else {
        res
    };
    Ok(res.map(|body| {
        Body::new(Tracked {
            inner: body,
            _in_flight: in_flight,
        })
    }))
}

/// The 408 that replaces whatever the handler answered to a body it could not read in time.
fn too_slow(handled: &Response<Body>, version: Version) -> Response<Body> {
    let mut res = ApiError::new(
        ErrorKind::RequestTimeout,
        "The request body was not received in time. Send it faster, or in smaller requests.",
    )
    .into_response();
    if let Some(id) = handled.headers().get("x-request-id") {
        res.headers_mut().insert("x-request-id", id.clone());
    }
    // The rest of the body is still on its way: the connection cannot carry another request.
    // (HTTP/2 closes the stream instead, and forbids the header.)
    if version <= Version::HTTP_11 {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Why a request body ended early.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
struct BodyTimedOut;

/// A request body that fails once it is late: `body_timeout` plus its size so far at
/// `body_min_rate`.
struct BodyDeadline {
    inner: Incoming,
    started: Instant,
    received: u64,
    timeout: Duration,
    min_rate: u64,
    sleep: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl BodyDeadline {
    fn new(inner: Incoming, limits: &Limits, timed_out: Arc<AtomicBool>) -> Self {
        let started = Instant::now();
        Self {
            inner,
            started,
            received: 0,
            timeout: limits.body_timeout,
            min_rate: limits.body_min_rate,
            sleep: Box::pin(tokio::time::sleep_until(started + limits.body_timeout)),
            timed_out,
        }
    }

    fn deadline(&self) -> Instant {
        // A rate of 0 adds nothing: the whole body within the timeout.
        let allowance_ms = self
            .received
            .saturating_mul(1000)
            .checked_div(self.min_rate)
            .unwrap_or(0);
        self.started + self.timeout + Duration::from_millis(allowance_ms)
    }
}

impl http_body::Body for BodyDeadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    let at = this.deadline();
                    this.sleep.as_mut().reset(at);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                ready!(this.sleep.as_mut().poll(cx));
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimedOut.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request in flight until it is sent whole (or abandoned).
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling its connection when bytes arrive.
struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.conn.received();
        }
        Poll::Ready(Ok(()))
    }
}

impl Watched {
    /// Tells the connection whether the socket took the write.
    fn note<T>(&self, polled: Poll<T>) -> Poll<T> {
        self.conn.wrote(polled.is_pending());
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            body_min_rate: 1000,
            max_connections: 2,
        }
    }

    #[tokio::test]
    async fn deadlines_follow_the_connection_state() {
        let l = limits();
        let conn = Arc::new(Conn::new(1));
        assert_eq!(conn.deadline(&l), Some(conn.accepted + l.header_timeout));
        let req = InFlight::begin(conn.clone());
        assert_eq!(conn.deadline(&l), None, "busy: no deadline");
        drop(req);
        let idle_since = conn.activity().idle_since;
        assert_eq!(conn.deadline(&l), Some(idle_since + l.idle_timeout));
        conn.received();
        let first = conn.activity().first_byte.expect("first byte noted");
        assert_eq!(conn.deadline(&l), Some(first + l.header_timeout));
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_goes_and_busy_ones_stay() {
        let registry = Registry::new(2);
        let a = registry.admit().expect("room");
        let b = registry.admit().expect("room");
        let busy = InFlight::begin(a.clone());
        let c = registry.admit().expect("b is idle: evicted");
        assert!(b.activity().evicted);
        assert!(!a.activity().evicted);
        let _busy_c = InFlight::begin(c);
        assert!(registry.admit().is_none(), "every connection busy: refused");
        drop(busy);
        assert!(registry.admit().is_some());
        assert!(a.activity().evicted);
    }
}
