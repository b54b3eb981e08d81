//! What one client may take of the server: messages per request, runs queued per project, the
//! request rate, stored bytes, fair claims across projects, and the backoff on failed
//! authentication.

use crate::common::{KEY_B, TestApp, id_of};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn user_messages(n: usize) -> Value {
    json!(vec![json!({"role": "user", "content": "x"}); n])
}

fn run_path(run: &Value) -> String {
    format!(
        "/threads/{}/runs/{}",
        run["thread_id"].as_str().unwrap(),
        id_of(run)
    )
}

#[track_caller]
fn assert_rate_limited(e: &Value) {
    assert_eq!(e["type"], "requests", "{e}");
    assert_eq!(e["code"], "rate_limit_exceeded", "{e}");
    assert_eq!(e["param"], Value::Null, "{e}");
}

fn retry_after(r: &crate::common::Resp) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", r.headers))
}

/// One request carries at most 32 messages, wherever they are: so one request is one short
/// write (a million tiny messages held SQLite's writer for a minute).
#[tokio::test]
async fn messages_per_request_are_capped() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let e = app
        .post("/threads", json!({"messages": user_messages(33)}))
        .await
        .bad("messages");
    assert_eq!(
        e["message"],
        "Invalid 'messages': array too long. Expected an array with maximum length 32, but got an array with length 33 instead."
    );
    let e = app
        .post(
            "/threads/runs",
            json!({"assistant_id": asst, "thread": {"messages": user_messages(1000)}}),
        )
        .await
        .bad("thread.messages");
    assert!(e["message"].as_str().unwrap().contains("maximum length 32"));
    let thread = app.thread().await;
    app.post(
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "additional_messages": user_messages(33)}),
    )
    .await
    .bad("additional_messages");
    // Nothing was written by the refused requests; 32 is accepted.
    assert_eq!(
        app.get(&format!("/threads/{thread}/messages")).await.ok()["data"],
        json!([])
    );
    let t = app
        .post("/threads", json!({"messages": user_messages(32)}))
        .await
        .ok();
    let listed = app
        .get(&format!("/threads/{}/messages?limit=100", id_of(&t)))
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 32);
}

/// A project may have so many runs queued or executing; one more is a 429 with `Retry-After`,
/// other projects are not affected, and a finished run makes room again.
#[tokio::test]
async fn runs_over_the_project_limit_are_refused() {
    let app = TestApp::builder()
        .with(|s| s.limits.project_active_runs = 3)
        .spawn()
        .await;
    let asst = app.assistant().await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let thread = app.thread().await;
        let run = app.run(&thread, &asst).await;
        runs.push((thread, id_of(&run)));
    }
    let thread = app.thread().await;
    let r = app
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_rate_limited(&r.err(429));
    let r = app
        .post("/threads/runs", json!({"assistant_id": asst}))
        .await;
    assert_rate_limited(&r.err(429));
    // Refused before anything was written: the thread has no run.
    assert_eq!(
        app.get(&format!("/threads/{thread}/runs")).await.ok()["data"],
        json!([])
    );

    let b = app.as_key(KEY_B);
    let asst_b = b.assistant().await;
    b.post("/threads/runs", json!({"assistant_id": asst_b}))
        .await
        .ok();

    let (t0, r0) = &runs[0];
    app.cancel(t0, r0).await;
    app.run(&thread, &asst).await;
}

/// Each project's requests are counted against its rate: beyond the burst, 429 with
/// `Retry-After` and OpenAI's `x-ratelimit-*` headers; another project is not slowed.
#[tokio::test]
async fn request_rate_is_limited_per_project() {
    let app = TestApp::builder()
        .with(|s| {
            s.limits.project_requests_per_second = 1;
            s.limits.project_request_burst = 5;
        })
        .spawn()
        .await;
    let mut limited = None;
    for _ in 0..8 {
        let r = app.get("/assistants").await;
        if r.status.as_u16() == 429 {
            limited = Some(r);
            break;
        }
        r.ok();
    }
    let r = limited.expect("a burst beyond 5 requests is limited");
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    assert!(r.header("x-ratelimit-reset-requests").is_some());
    assert!(r.header("retry-after-ms").is_some());
    assert_rate_limited(&r.err(429));
    app.as_key(KEY_B).get("/assistants").await.ok();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.get("/assistants").await.ok();
}

/// Files beyond a project's stored-bytes quota are refused with OpenAI's `insufficient_quota`
/// (and `x-should-retry: false`: waiting frees nothing); deleting makes room.
#[tokio::test]
async fn stored_bytes_are_capped_per_project() {
    let app = TestApp::builder()
        .with(|s| s.limits.project_file_bytes = 10)
        .spawn()
        .await;
    let f = app
        .upload("a.txt", b"12345678".to_vec(), "assistants")
        .await
        .ok();
    let r = app.upload("b.txt", b"12345".to_vec(), "assistants").await;
    assert_eq!(r.header("x-should-retry"), Some("false"));
    let e = r.err(429);
    assert_eq!(e["type"], "insufficient_quota", "{e}");
    assert_eq!(e["code"], "insufficient_quota", "{e}");
    assert_eq!(
        app.get("/files").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused file is not listed"
    );
    app.as_key(KEY_B)
        .upload("b.txt", b"12345".to_vec(), "assistants")
        .await
        .ok();
    app.delete(&format!("/files/{}", id_of(&f))).await.ok();
    app.upload("b.txt", b"12345".to_vec(), "assistants")
        .await
        .ok();
}

/// Project A queues many runs whose model never answers; project B's run, created after, still
/// gets a worker while A's backlog waits (workers are claimed for the project with the fewest
/// runs executing, and one project takes at most three quarters of them).
#[tokio::test]
async fn another_projects_run_starts_behind_a_backlog() {
    const BACKLOG: usize = 12;
    let up = FakeUpstream::start().await;
    for _ in 0..=BACKLOG {
        up.push(Reply::Hang);
    }
    let url = up.url.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.workers = 4;
            s.upstream_url = Some(url);
        })
        .spawn()
        .await;
    let asst = app.assistant().await;
    let mut backlog = Vec::new();
    for _ in 0..BACKLOG {
        let run = app
            .post("/threads/runs", json!({"assistant_id": asst}))
            .await
            .ok();
        backlog.push(run_path(&run));
    }
    let b = app.as_key(KEY_B);
    let asst_b = b.assistant().await;
    let run_b = b
        .post("/threads/runs", json!({"assistant_id": asst_b}))
        .await
        .ok();
    let path_b = run_path(&run_b);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = b.get(&path_b).await.ok();
        if r["status"] != "queued" {
            assert_eq!(r["status"], "in_progress", "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "project B's run stayed queued behind project A's backlog"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A's backlog is still waiting: B was not served because A ran dry.
    let mut queued = 0;
    for path in &backlog {
        if app.get(path).await.ok()["status"] == "queued" {
            queued += 1;
        }
    }
    assert!(queued >= BACKLOG - 4, "A's backlog: {queued} still queued");
    app.stop().await;
}

/// After repeated invalid keys from one address, that address is answered 429 with
/// `Retry-After` without its key being looked at, even a valid one.
#[tokio::test]
async fn repeated_invalid_keys_block_the_address() {
    let app = TestApp::builder()
        .with(|s| s.limits.auth_failures = 5)
        .spawn()
        .await;
    for i in 0..5 {
        let e = app
            .send(
                &format!("sk-guess-{i}"),
                reqwest::Method::GET,
                "/assistants",
                None,
            )
            .await
            .err(401);
        assert_eq!(e["code"], "invalid_api_key");
    }
    let r = app
        .send("sk-guess-5", reqwest::Method::GET, "/assistants", None)
        .await;
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_rate_limited(&r.err(429));
    // The right key, guessed now, would tell nothing either.
    assert_rate_limited(&app.get("/assistants").await.err(429));
}
