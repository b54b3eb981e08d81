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
    for t in tasks {
        t.await?;
    }
    let mut r = Rc::try_unwrap(result)
        .map_err(|_| anyhow::anyhow!("load tasks still running"))?
        .into_inner();
    r.elapsed = start.elapsed();
    Ok(r)
}
