//! A minimal keep-alive HTTP/1.1 client on bare hyper connections, and a closed-loop load
//! driver that records every request's latency.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = handshake(TokioIo::new(stream)).await?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(Self {
            addr: addr.to_owned(),
            sender,
        })
    }

    /// The connection's sender, for a request the caller builds and reads itself.
    pub fn raw(&mut self) -> &mut SendRequest<Full<Bytes>> {
        &mut self.sender
    }

    /// Sends a request; returns the status and body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&'static str>,
    ) -> anyhow::Result<(u16, Bytes)> {
        if self.sender.ready().await.is_err() {
            *self = Conn::open(&self.addr.clone()).await?;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("authorization", "Bearer sk-bench");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from_static(
            body.unwrap_or_default().as_bytes(),
        )))?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

impl Conn {
    /// Sends a `stream: true` request and reads its events to the end; returns the status, the
    /// body, and how long the first frame starting with `first` took to arrive (from the
    /// request's start), if one did.
    pub async fn send_stream(
        &mut self,
        path: &str,
        body: &'static str,
        first: &str,
    ) -> anyhow::Result<(u16, Bytes, Option<Duration>)> {
        let start = Instant::now();
        if self.sender.ready().await.is_err() {
            *self = Conn::open(&self.addr.clone()).await?;
        }
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", &self.addr)
            .header("authorization", "Bearer sk-bench")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        let mut body = res.into_body();
        let mut all: Vec<u8> = Vec::new();
        let mut seen = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            all.extend_from_slice(&data);
            if seen.is_none() {
                let marker = format!("\n\n{first}");
                if all.starts_with(first.as_bytes())
                    || all.windows(marker.len()).any(|w| w == marker.as_bytes())
                {
                    seen = Some(start.elapsed());
                }
            }
        }
        Ok((status, Bytes::from(all), seen))
    }
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Latency of each successful request.
    pub latencies: Vec<Duration>,
    /// Failed requests (transport error or non-2xx).
    pub errors: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Waits for the load tasks and returns what they recorded, with the run's wall time.
pub async fn collect(
    start: Instant,
    result: Rc<RefCell<LoadResult>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<LoadResult> {
    for t in tasks {
        t.await?;
    }
    let mut r = Rc::try_unwrap(result)
        .map_err(|_| anyhow::anyhow!("load tasks still running"))?
        .into_inner();
    r.elapsed = start.elapsed();
    Ok(r)
}

/// Runs `connections` closed loops (inside a `LocalSet`) until `max_requests` are done or `max_time` passes.
pub async fn drive(
    addr: &str,
    connections: usize,
    max_requests: usize,
    max_time: Duration,
    method: Method,
    path: String,
    body: Option<&'static str>,
) -> anyhow::Result<LoadResult> {
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let issued = Rc::new(RefCell::new(0usize));
    let start = Instant::now();
    let deadline = start + max_time;
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(addr).await?);
    }
    let mut tasks = Vec::with_capacity(connections);
    for mut conn in conns {
        let result = result.clone();
        let issued = issued.clone();
        let path = path.clone();
        let method = method.clone();
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                {
                    let mut n = issued.borrow_mut();
                    if *n >= max_requests || Instant::now() >= deadline {
                        break;
                    }
                    *n += 1;
                }
                let t = Instant::now();
                let outcome = conn.send(method.clone(), &path, body).await;
                let dt = t.elapsed();
                let mut r = result.borrow_mut();
                match outcome {
                    Ok((s, _)) if (200..300).contains(&s) => r.latencies.push(dt),
                    _ => r.errors += 1,
                }
            }
        }));
    }
    collect(start, result, tasks).await
}

/// Opens a `stream: true` request on its own connection and returns, for each
/// `thread.message.delta`, how long its token took from the upstream to here. Fails unless the
/// stream ends with `[DONE]`.
pub async fn stream_deltas(
    addr: &str,
    path: &str,
    body: &'static str,
) -> anyhow::Result<Vec<Duration>> {
    stream_tokens(
        addr,
        path,
        body,
        Some("event: thread.message.delta"),
        "\"value\":\"",
    )
    .await
}

/// Like [`stream_deltas`] for any SSE stream: frames starting with `frame_prefix` (all frames
/// when `None`) carry a token whose text follows `value_key`.
pub async fn stream_tokens(
    addr: &str,
    path: &str,
    body: &'static str,
    frame_prefix: Option<&str>,
    value_key: &str,
) -> anyhow::Result<Vec<Duration>> {
    use http_body_util::BodyExt as _;
    let mut conn = Conn::open(addr).await?;
    conn.sender.ready().await?;
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", addr)
        .header("authorization", "Bearer sk-bench")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))?;
    let res = conn.sender.send_request(req).await?;
    anyhow::ensure!(res.status() == 200, "stream answered {}", res.status());
    let mut body = res.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut done = false;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let arrived = crate::upstream::now_nanos();
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if text.contains("data: [DONE]") {
                done = true;
            }
            if frame_prefix.is_some_and(|p| !text.starts_with(p)) {
                continue;
            }
            // The token's text is the time it left the upstream, in Unix nanoseconds.
            if let Some(sent) = text
                .split(value_key)
                .nth(1)
                .and_then(|v| v.split(' ').next())
                .and_then(|v| v.trim().parse::<u128>().ok())
            {
                let nanos = arrived.saturating_sub(sent);
                out.push(Duration::from_nanos(
                    u64::try_from(nanos).unwrap_or(u64::MAX),
                ));
            }
        }
    }
    anyhow::ensure!(done, "the stream ended without [DONE]");
    Ok(out)
}
