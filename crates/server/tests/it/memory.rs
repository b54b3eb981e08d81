//! What one request may make the server hold: stream channels freed on every error path, the
//! prompt loaded a page at a time, paged and capped file lists and names, bounded multipart
//! fields and error messages, and large JSON bodies in flight bounded together.

use crate::common::{Arg, Db, KEY_A, TestApp, files_under, id_of, ids};
use crate::engine::{terminal, wait_for};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// `stream: true` requests that fail after subscribing (a thread with an active run, a missing
/// file, a missing run) leave no channel behind, through each of the three streaming routes.
#[tokio::test]
async fn failed_streaming_requests_free_their_channels() {
    let app = TestApp::spawn().await;
    let assistant = app.assistant().await;
    let busy = app.thread().await;
    app.run(&busy, &assistant).await;
    for i in 0..40 {
        // The thread has an active run: refused by the store, after the subscription.
        app.post(
            &format!("/threads/{busy}/runs"),
            json!({"assistant_id": assistant, "stream": true}),
        )
        .await
        .err(400);
        // The new thread's message names a file that does not exist.
        app.post(
            "/threads/runs",
            json!({
                "assistant_id": assistant,
                "stream": true,
                "thread": {"messages": [
                    {"role": "user", "content": "hi", "file_ids": [format!("file-missing{i}")]}
                ]},
            }),
        )
        .await
        .err(400);
        // No such run.
        app.post(
            &format!("/threads/{busy}/runs/run_missing{i}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": "call_1", "output": "x"}], "stream": true}),
        )
        .await
        .err(404);
    }
    assert_eq!(
        app.stream_channels(),
        0,
        "every refused stream freed its channel"
    );
}

/// Adds `n` completed user messages (`bulk 1` ... `bulk n`) to `thread` in one statement.
async fn bulk_messages(app: &TestApp, thread: &str, n: i64) {
    let project = TestApp::project(KEY_A);
    let db = app.db().await;
    let sql = match db {
        Db::Sqlite(_) => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
             INSERT INTO messages (id, project, thread_id, created_at, role, content, status) \
             SELECT 'msg_bulk' || i, $1, $2, 0, 'user', \
             '[{\"type\":\"text\",\"text\":{\"value\":\"bulk ' || i || '\",\"annotations\":[]}}]', \
             'completed' FROM n"
        }
        Db::Pg(_) => {
            "INSERT INTO messages (id, project, thread_id, created_at, role, content, status) \
             SELECT 'msg_bulk' || i, $1, $2, 0, 'user', \
             CAST('[{\"type\":\"text\",\"text\":{\"value\":\"bulk ' || i || '\",\"annotations\":[]}}]' AS JSONB), \
             'completed' FROM generate_series(1, $3) AS i"
        }
    };
    let added = db
        .exec(
            sql,
            &[Arg::Text(project.as_str()), Arg::Text(thread), Arg::Int(n)],
        )
        .await;
    assert_eq!(added, u64::try_from(n).unwrap());
    db.close().await;
}

/// A run on a long thread sends (and reads) only the newest messages that fit the history
/// budget, not the whole thread.
#[tokio::test]
async fn a_run_on_a_long_thread_takes_only_the_newest_messages() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("ok"));
    let url = up.url.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.workers = 1;
            s.upstream_url = Some(url);
            s.max_history_tokens = 500;
        })
        .spawn()
        .await;
    let assistant = app.assistant().await;
    let thread = app.thread().await;
    bulk_messages(&app, &thread, 20_000).await;
    let run = app.run(&thread, &assistant).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    let sent = up.requests();
    let prompt = sent[0]["messages"].as_array().expect("messages").clone();
    let texts: Vec<&str> = prompt
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    // "bulk NNNNN" is 3 estimated tokens: about 166 of them fit 500.
    assert!(
        (100..=200).contains(&texts.len()),
        "{} thread messages in the prompt",
        texts.len()
    );
    assert_eq!(texts.last(), Some(&"bulk 20000"), "the newest message last");
    let first: u32 = texts[0]["bulk ".len()..].parse().unwrap();
    assert_eq!(
        first as usize,
        20_001 - texts.len(),
        "a contiguous run of the newest"
    );
}

/// `GET /files` pages as v2 has it (`limit`, `order`, `after`, `has_more`).
#[tokio::test]
async fn file_lists_are_paged() {
    let app = TestApp::spawn().await;
    let mut uploaded = Vec::new();
    for i in 0..3 {
        uploaded.push(id_of(
            &app.upload(&format!("f{i}.txt"), b"x".to_vec(), "assistants")
                .await
                .ok(),
        ));
    }
    let all = app.get("/files").await.ok();
    assert_eq!(
        ids(&all),
        uploaded.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(all["has_more"], false);
    let first = app.get("/files?limit=2").await.ok();
    assert_eq!(ids(&first), vec![uploaded[2].clone(), uploaded[1].clone()]);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["first_id"], json!(uploaded[2]));
    assert_eq!(first["last_id"], json!(uploaded[1]));
    let rest = app
        .get(&format!("/files?limit=2&after={}", uploaded[1]))
        .await
        .ok();
    assert_eq!(ids(&rest), vec![uploaded[0].clone()]);
    assert_eq!(rest["has_more"], false);
    let asc = app.get("/files?order=asc&limit=1").await.ok();
    assert_eq!(ids(&asc), vec![uploaded[0].clone()]);
    app.get("/files?limit=10001").await.bad("limit");
    app.get("/files?limit=10000&purpose=assistants").await.ok();
}

/// Filenames are capped; a refused upload stores nothing.
#[tokio::test]
async fn long_filenames_are_refused() {
    let app = TestApp::spawn().await;
    let e = app
        .upload(&"n".repeat(513), b"x".to_vec(), "assistants")
        .await
        .bad("file");
    assert!(e["message"].as_str().unwrap().contains("512"), "{e}");
    assert!(ids(&app.get("/files").await.ok()).is_empty());
    assert!(files_under(&app.data_dir.join("files")).is_empty());
    app.upload(&"n".repeat(512), b"x".to_vec(), "assistants")
        .await
        .ok();
}

/// A huge `purpose` is refused without being kept or echoed.
#[tokio::test]
async fn a_huge_purpose_is_neither_kept_nor_echoed() {
    let app = TestApp::spawn().await;
    let purpose = "p".repeat(4 * 1024 * 1024);
    let res = app.upload("a.txt", b"x".to_vec(), &purpose).await;
    assert!(res.bytes.len() < 1024, "{} bytes of error", res.bytes.len());
    let e = res.bad("purpose");
    assert!(e["message"].as_str().unwrap().contains("'pppp"), "{e}");
    assert!(ids(&app.get("/files").await.ok()).is_empty());
}

/// Errors quote client input only in part.
#[tokio::test]
async fn errors_never_echo_unbounded_input() {
    let app = TestApp::spawn().await;
    let long = "z".repeat(50_000);
    for res in [
        app.get(&format!("/files?order={long}")).await,
        app.get(&format!("/assistants?limit={long}")).await,
        app.post("/threads", json!({ (long.clone()): 1 })).await,
        app.post("/threads", json!({"metadata": {(long.clone()): "v"}}))
            .await,
        app.post(
            "/assistants",
            json!({"model": "m", "tools": [{"type": long.clone()}]}),
        )
        .await,
    ] {
        assert!(
            res.bytes.len() < 4096,
            "{} bytes of error: {}",
            res.bytes.len(),
            String::from_utf8_lossy(&res.bytes[..200.min(res.bytes.len())])
        );
        res.err(400);
    }
}

/// Large JSON bodies share a budget: while one holds it (its body still arriving), another
/// waits and then gets a 503, small bodies pass, and the budget comes back when it ends.
#[tokio::test]
async fn large_json_bodies_share_a_bounded_budget() {
    let app = TestApp::builder()
        .with(|s| {
            s.max_json_body_bytes = 2 * 1024 * 1024;
            s.json_bytes_in_flight = 2 * 1024 * 1024;
            s.json_body_wait_secs = 0.3;
        })
        .spawn()
        .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut holder = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/threads HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY_A}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{{\"metadata\":"
    );
    holder.write_all(head.as_bytes()).await.expect("send");
    // Give the server a moment to take the holder's share (a wait, not a timing assertion).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let message = json!({"role": "user", "content": "x".repeat(250_000)});
    let large = json!({"messages": [message.clone(), message.clone(), message.clone(), message.clone(), message]});
    let res = app.post("/threads", large.clone()).await;
    let e = res.err(503);
    assert_eq!(e["type"], "server_error");
    app.post("/threads", json!({})).await.ok();
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.post("/threads", large.clone()).await;
        if res.status == 200 {
            break;
        }
        assert_eq!(res.status, 503, "{}", res.json);
        assert!(Instant::now() < deadline, "the budget never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
