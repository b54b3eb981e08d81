//! The scenarios: each sets up what it needs through the API, drives load, and returns a row.

use crate::Args;
use crate::client::{Conn, LoadResult, drive};
use crate::report::{Row, quantile};
use crate::server::Server;
use hyper::Method;

const MESSAGE_BODY: &str =
    r#"{"role":"user","content":"What is the weather in Paris today? Please answer briefly."}"#;

async fn create_thread(server: &Server) -> anyhow::Result<String> {
    let mut c = Conn::open(&server.addr).await?;
    let (status, body) = c.send(Method::POST, "/v1/threads", Some("{}")).await?;
    anyhow::ensure!(status == 200, "create thread answered {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

fn row(name: &str, mut r: LoadResult, server: &Server, note: String) -> Row {
    r.latencies.sort_unstable();
    let (rss, peak_rss) = server.rss();
    Row {
        name: name.to_owned(),
        requests: r.latencies.len(),
        errors: r.errors,
        throughput: r.latencies.len() as f64 / r.elapsed.as_secs_f64().max(1e-9),
        p50: quantile(&r.latencies, 0.50),
        p95: quantile(&r.latencies, 0.95),
        p99: quantile(&r.latencies, 0.99),
        rss,
        peak_rss,
        note,
    }
}

/// Fills `thread` with `n` messages as fast as the connections allow.
async fn fill(server: &Server, args: &Args, thread: &str, n: usize) -> anyhow::Result<usize> {
    let r = drive(
        &server.addr,
        args.connections,
        n,
        std::time::Duration::from_secs(600),
        Method::POST,
        format!("/v1/threads/{thread}/messages"),
        Some(MESSAGE_BODY),
    )
    .await?;
    Ok(r.errors)
}

/// `POST /threads/{id}/messages` from `connections` keep-alive clients.
pub async fn create_message(server: &Server, args: &Args) -> anyhow::Result<Row> {
    let thread = create_thread(server).await?;
    let r = drive(
        &server.addr,
        args.connections,
        args.requests,
        args.duration(),
        Method::POST,
        format!("/v1/threads/{thread}/messages"),
        Some(MESSAGE_BODY),
    )
    .await?;
    Ok(row(
        "create message",
        r,
        server,
        format!("{} connections", args.connections),
    ))
}

/// `GET /threads/{id}/messages?limit=100` on a thread of `list_thread_size` messages.
pub async fn list_messages(server: &Server, args: &Args) -> anyhow::Result<Row> {
    let thread = create_thread(server).await?;
    let fill_errors = fill(server, args, &thread, args.list_thread_size).await?;
    anyhow::ensure!(
        fill_errors == 0,
        "{fill_errors} messages failed while filling"
    );
    let r = drive(
        &server.addr,
        args.connections,
        args.requests,
        args.duration(),
        Method::GET,
        format!("/v1/threads/{thread}/messages?limit=100"),
        None,
    )
    .await?;
    Ok(row(
        "list messages (limit 100)",
        r,
        server,
        format!(
            "{} connections, thread of {} messages",
            args.connections, args.list_thread_size
        ),
    ))
}

/// Stores messages until the server holds `rss_messages` in total, then reads its RSS; the
/// latency columns are those of the fill.
pub async fn rss_after_messages(server: &Server, args: &Args) -> anyhow::Result<Row> {
    let thread = create_thread(server).await?;
    let r = drive(
        &server.addr,
        args.connections,
        args.rss_messages,
        std::time::Duration::from_secs(900),
        Method::POST,
        format!("/v1/threads/{thread}/messages"),
        Some(MESSAGE_BODY),
    )
    .await?;
    let n = r.latencies.len();
    Ok(row(
        "fill, then RSS",
        r,
        server,
        format!("RSS read after {n} more messages"),
    ))
}
