//! The scenarios: each sets up what it needs through the API, drives load, and returns a row.

use crate::Args;
use crate::client::{Conn, LoadResult, collect, drive};
use crate::report::{Row, quantile};
use crate::rng::Rng;
use crate::server::Server;
use hyper::Method;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

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
        throughput: throughput(r.latencies.len(), r.elapsed),
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

async fn create_assistant(server: &Server, model: &str) -> anyhow::Result<String> {
    let mut c = Conn::open(&server.addr).await?;
    let body: &'static str = Box::leak(format!("{{\"model\":\"{model}\"}}").into_boxed_str());
    let (status, body) = c.send(Method::POST, "/v1/assistants", Some(body)).await?;
    anyhow::ensure!(status == 200, "create assistant answered {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// The body of `POST /v1/threads/runs` for `assistant` with a one-message thread. Leaked: the
/// load tasks share it for the whole (bounded) run of the bench.
fn thread_and_run_body(assistant: &str, stream: bool) -> &'static str {
    Box::leak(
        format!(
            "{{\"assistant_id\":\"{assistant}\",\"stream\":{stream},\"thread\":{{\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}}}"
        )
        .into_boxed_str(),
    )
}

/// The path of the run a create answered with.
fn run_path(run: &serde_json::Value) -> String {
    format!(
        "/v1/threads/{}/runs/{}",
        run["thread_id"].as_str().unwrap_or_default(),
        run["id"].as_str().unwrap_or_default()
    )
}

/// Runs created and polled until completed, against the zero-latency upstream: the server's
/// own overhead for a whole run (queue, claim, prompt, model stream, message, step, finish).
pub async fn run_round_trip(server: &Server, addrs: &[String], args: &Args) -> anyhow::Result<Row> {
    let asst = create_assistant(server, "fast-bench").await?;
    let body = thread_and_run_body(&asst, false);
    let pause = Duration::from_micros(args.round_trip_poll_us);
    let start = Instant::now();
    let deadline = start + args.duration();
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let issued = Rc::new(RefCell::new(0usize));
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let mut conn = Conn::open(&addrs[i % addrs.len()]).await?;
        let result = result.clone();
        let issued = issued.clone();
        let max = args.requests;
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                {
                    let mut n = issued.borrow_mut();
                    if *n >= max || Instant::now() >= deadline {
                        break;
                    }
                    *n += 1;
                }
                let t = Instant::now();
                let ok = async {
                    let (s, b) = conn
                        .send(Method::POST, "/v1/threads/runs", Some(body))
                        .await?;
                    anyhow::ensure!(s == 200, "create answered {s}");
                    let v: serde_json::Value = serde_json::from_slice(&b)?;
                    let path = run_path(&v);
                    loop {
                        if pause.is_zero() {
                            tokio::task::yield_now().await;
                        } else {
                            tokio::time::sleep(pause).await;
                        }
                        let (s, b) = conn.send(Method::GET, &path, None).await?;
                        anyhow::ensure!(s == 200, "poll answered {s}");
                        let v: serde_json::Value = serde_json::from_slice(&b)?;
                        match v["status"].as_str() {
                            Some("completed") => return Ok(()),
                            Some("queued" | "in_progress") => {}
                            other => anyhow::bail!("run ended {other:?}"),
                        }
                    }
                }
                .await;
                let dt = t.elapsed();
                let mut r = result.borrow_mut();
                match ok {
                    Ok(()) => r.latencies.push(dt),
                    Err(_) => r.errors += 1,
                }
            }
        }));
    }
    let r = collect(start, result, tasks).await?;
    Ok(row(
        "run round trip (create + poll)",
        r,
        server,
        format!(
            "{} clients over {} instance(s), zero-latency upstream, {} tokens, polls {}",
            args.connections,
            addrs.len(),
            args.round_trip_tokens,
            if pause.is_zero() {
                "back to back".to_owned()
            } else {
                format!("{} µs apart", args.round_trip_poll_us)
            }
        ),
    ))
}

/// `streams` concurrent `stream: true` runs; each `thread.message.delta` carries the time its
/// token left the upstream, so the latency through assistd is measured per token.
pub async fn stream_latency(server: &Server, args: &Args, name: &str) -> anyhow::Result<Row> {
    let asst = create_assistant(server, "paced-bench").await?;
    let body = thread_and_run_body(&asst, true);
    let start = Instant::now();
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let mut tasks = Vec::new();
    for _ in 0..args.streams {
        let result = result.clone();
        let addr = server.addr.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let outcome = crate::client::stream_deltas(&addr, "/v1/threads/runs", body).await;
            let mut r = result.borrow_mut();
            match outcome {
                Ok(lat) => r.latencies.extend(lat),
                Err(e) => {
                    eprintln!("stream failed: {e:#}");
                    r.errors += 1;
                }
            }
        }));
    }
    let r = collect(start, result, tasks).await?;
    Ok(row(
        name,
        r,
        server,
        format!(
            "{} concurrent streams x {} tokens at {}/s; req/s = deltas/s",
            args.streams, args.stream_tokens, args.stream_tokens_per_sec
        ),
    ))
}

/// The floor of `create message`: the same load against a minimal axum handler doing the same
/// SQLite write.
pub async fn floor_create_message(args: &Args, dir: &std::path::Path) -> anyhow::Result<Row> {
    let addr = crate::floor::start_sqlite_floor(dir.to_path_buf())?;
    let r = drive(
        &addr,
        args.connections,
        args.requests,
        args.duration(),
        Method::POST,
        "/v1/threads/thread_floor/messages".to_owned(),
        Some(MESSAGE_BODY),
    )
    .await?;
    Ok(floor_row(
        "floor: minimal axum + SQLite insert",
        r,
        format!(
            "{} connections, same body, same WAL settings",
            args.connections
        ),
    ))
}

/// The floor of `stream token latency`: the paced upstream streamed directly.
pub async fn floor_upstream_direct(args: &Args, paced_url: &str) -> anyhow::Result<Row> {
    let addr = paced_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let start = Instant::now();
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let mut tasks = Vec::new();
    for _ in 0..args.streams {
        let result = result.clone();
        let addr = addr.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let outcome = crate::client::stream_tokens(
                &addr,
                "/v1/chat/completions",
                r#"{"model":"paced","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
                None,
                "\"content\":\"",
            )
            .await;
            let mut r = result.borrow_mut();
            match outcome {
                Ok(lat) => r.latencies.extend(lat),
                Err(_) => r.errors += 1,
            }
        }));
    }
    let r = collect(start, result, tasks).await?;
    Ok(floor_row(
        "floor: fake upstream streamed directly",
        r,
        format!("{} concurrent streams, no assistd", args.streams),
    ))
}

fn floor_row(name: &str, mut r: LoadResult, note: String) -> Row {
    r.latencies.sort_unstable();
    Row {
        name: name.to_owned(),
        requests: r.latencies.len(),
        errors: r.errors,
        throughput: throughput(r.latencies.len(), r.elapsed),
        p50: quantile(&r.latencies, 0.50),
        p95: quantile(&r.latencies, 0.95),
        p99: quantile(&r.latencies, 0.99),
        rss: 0,
        peak_rss: 0,
        note,
    }
}

/// The runs (path, creation time) a creator made since its poller last looked, and whether it
/// is done.
type Created = (Vec<(String, Instant)>, bool);

/// `concurrent_runs` runs created at once against a 1 s upstream, each polled (every
/// `poll_ms`) from its creation until it completes: latency is creation to observed completion.
///
/// `connections` connections create the runs; as many more poll them, each poller the runs of
/// one creator, starting with the first the moment it exists. The connections are spread over
/// the instances, a creator and its poller on the same one. (Until 2026-12-07 each
/// connection created all its runs before it polled any: a run's latency then included the
/// creation of every later run on its connection, which on PostgreSQL was most of it.)
pub async fn concurrent_runs(
    server: &Server,
    addrs: &[String],
    args: &Args,
) -> anyhow::Result<Row> {
    let asst = create_assistant(server, "slow-bench").await?;
    let body = thread_and_run_body(&asst, false);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120);
    let next = Rc::new(RefCell::new(0usize));
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let total = args.concurrent_runs;
    let poll = Duration::from_millis(args.poll_ms);
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let addr = &addrs[i % addrs.len()];
        let mut creator = Conn::open(addr).await?;
        let mut poller = Conn::open(addr).await?;
        let created: Rc<RefCell<Created>> = Rc::default();
        let (next, failed, mine) = (next.clone(), result.clone(), created.clone());
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                {
                    let mut n = next.borrow_mut();
                    if *n >= total {
                        break;
                    }
                    *n += 1;
                }
                let t = Instant::now();
                match creator
                    .send(Method::POST, "/v1/threads/runs", Some(body))
                    .await
                {
                    Ok((200, b)) => {
                        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                        let path = run_path(&v);
                        mine.borrow_mut().0.push((path, t));
                    }
                    _ => failed.borrow_mut().errors += 1,
                }
            }
            mine.borrow_mut().1 = true;
        }));
        let result = result.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut polling: Vec<(String, Instant)> = Vec::new();
            while Instant::now() < deadline {
                let done_creating = {
                    let mut c = created.borrow_mut();
                    polling.append(&mut c.0);
                    c.1
                };
                if done_creating && polling.is_empty() {
                    return;
                }
                let mut still = Vec::with_capacity(polling.len());
                for (path, t) in polling {
                    match poller.send(Method::GET, &path, None).await {
                        Ok((200, b)) => {
                            let v: serde_json::Value =
                                serde_json::from_slice(&b).unwrap_or_default();
                            match v["status"].as_str() {
                                Some("completed") => {
                                    result.borrow_mut().latencies.push(t.elapsed());
                                }
                                Some("queued" | "in_progress") => still.push((path, t)),
                                _ => result.borrow_mut().errors += 1,
                            }
                        }
                        _ => result.borrow_mut().errors += 1,
                    }
                }
                polling = still;
                tokio::time::sleep(poll).await;
            }
            // Unfinished at the deadline: those polled, and those created since the last look.
            result.borrow_mut().errors += polling.len() + created.borrow().0.len();
        }));
    }
    let r = collect(start, result, tasks).await?;
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds of upstream latency: far below 2^52"
    )]
    let upstream_secs = args.slow_upstream_latency_ms as f64 / 1000.0;
    Ok(row(
        &format!("concurrent runs, {upstream_secs} s upstream"),
        r,
        server,
        format!(
            "{total} runs at once over {} connections to {} instance(s), each polled every {} ms \
             from its creation over {} more; req/s = runs/s",
            args.connections,
            addrs.len(),
            args.poll_ms,
            args.connections
        ),
    ))
}

/// `users` simulated users, each on its own connection, looping for `--duration`: create a
/// thread with a message, stream a run to its end, retrieve the run, list the messages. One
/// latency sample per request (a stream counts until `[DONE]`). With `--think-ms`, each user
/// pauses about that long between rounds (half to one and a half times, at random).
pub async fn mixed(server: &Server, args: &Args) -> anyhow::Result<[Row; 2]> {
    let asst = create_assistant(server, "fast-bench").await?;
    let thread_body: &'static str =
        r#"{"messages":[{"role":"user","content":"What is the weather in Paris?"}]}"#;
    let run_body: &'static str =
        Box::leak(format!("{{\"assistant_id\":\"{asst}\",\"stream\":true}}").into_boxed_str());
    let think = Duration::from_millis(args.think_ms);
    let start = Instant::now();
    let deadline = start + args.duration();
    let result = Rc::new(RefCell::new(LoadResult::default()));
    let first_tokens = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for user in 0..args.users {
        let addr = server.addr.clone();
        let result = result.clone();
        let first_tokens = first_tokens.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(mut conn) = Conn::open(&addr).await else {
                result.borrow_mut().errors += 1;
                return;
            };
            // Users who pause start at a random point of a pause and pause a random time
            // around it (half to one and a half), as people do: in step, they would all
            // arrive at once after each pause.
            let mut draws = Rng(user as u64);
            if !think.is_zero() {
                tokio::time::sleep(think.mul_f64(draws.unit())).await;
            }
            while Instant::now() < deadline {
                let step = async {
                    let t = Instant::now();
                    let (s, b) = conn
                        .send(Method::POST, "/v1/threads", Some(thread_body))
                        .await?;
                    anyhow::ensure!(s == 200, "create thread answered {s}");
                    result.borrow_mut().latencies.push(t.elapsed());
                    let v: serde_json::Value = serde_json::from_slice(&b)?;
                    let thread = v["id"].as_str().unwrap_or_default().to_owned();
                    let t = Instant::now();
                    let runs = format!("/v1/threads/{thread}/runs");
                    let (s, b, first) = conn
                        .send_stream(&runs, run_body, "event: thread.message.delta")
                        .await?;
                    anyhow::ensure!(s == 200, "stream answered {s}");
                    first_tokens.borrow_mut().extend(first);
                    let text = String::from_utf8_lossy(&b);
                    anyhow::ensure!(text.contains("data: [DONE]"), "stream without [DONE]");
                    result.borrow_mut().latencies.push(t.elapsed());
                    let run_id = text
                        .split("\"id\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or_default()
                        .to_owned();
                    let t = Instant::now();
                    let (s, _) = conn
                        .send(Method::GET, &format!("{runs}/{run_id}"), None)
                        .await?;
                    anyhow::ensure!(s == 200, "get run answered {s}");
                    result.borrow_mut().latencies.push(t.elapsed());
                    let t = Instant::now();
                    let (s, _) = conn
                        .send(Method::GET, &format!("/v1/threads/{thread}/messages"), None)
                        .await?;
                    anyhow::ensure!(s == 200, "list answered {s}");
                    result.borrow_mut().latencies.push(t.elapsed());
                    anyhow::Ok(())
                };
                if step.await.is_err() {
                    result.borrow_mut().errors += 1;
                }
                if !think.is_zero() {
                    tokio::time::sleep(think.mul_f64(0.5 + draws.unit())).await;
                }
            }
        }));
    }
    let r = collect(start, result, tasks).await?;
    let first = LoadResult {
        latencies: first_tokens.take(),
        errors: 0,
        elapsed: r.elapsed,
    };
    Ok([
        row(
            "mixed workload",
            r,
            server,
            mixed_setup(args),
        ),
        row(
            "mixed workload: first streamed token",
            first,
            server,
            "the same streams: from the run's request to its first thread.message.delta; req/s = streams/s".to_owned(),
        ),
    ])
}

/// The mixed workload's setup, as its row shows it.
fn mixed_setup(args: &Args) -> String {
    let pauses = if args.think_ms == 0 {
        String::new()
    } else {
        format!(", pauses of {} ms on average", args.think_ms)
    };
    format!(
        "{} users: create thread, stream a run, get run, list messages{pauses}; {} s",
        args.users, args.duration
    )
}

/// Requests per second.
#[expect(
    clippy::cast_precision_loss,
    reason = "a request count is far below 2^52; the rate is shown rounded"
)]
fn throughput(requests: usize, elapsed: Duration) -> f64 {
    requests as f64 / elapsed.as_secs_f64().max(1e-9)
}
