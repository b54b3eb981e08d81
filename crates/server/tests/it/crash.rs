//! Durability: `kill -9` of the server in the middle of runs, then a restart on the same data
//! directory. Every interrupted run must be resumed and finish, with exactly one assistant
//! message and one message step each, and no user message lost. The same for a file whose
//! chunks are being embedded: the restart embeds only what was left, and the file completes
//! with every chunk once.

use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Proc {
    child: Child,
    base: String,
}

async fn spawn(dir: &std::path::Path, upstream: &str) -> Proc {
    spawn_with(dir, upstream, &[]).await
}

async fn spawn_with(dir: &std::path::Path, upstream: &str, env: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
        .envs(env.iter().copied())
        .env("ASSISTD_UPSTREAM_URL", upstream)
        .env("ASSISTD_LEASE_SECS", "1")
        .env("ASSISTD_WORKERS", "8")
        .env("RUST_LOG", "warn")
        .env_remove("ASSISTD_API_KEYS")
        .env_remove("ASSISTD_CONFIG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("assistd starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("assistd exited early");
        if let Some(addr) = line.split("listening on ").nth(1) {
            break format!("{}/v1", addr.trim());
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc { child, base }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth("any")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    let r = http.get(url).bearer_auth("any").send().await.expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

#[tokio::test]
async fn kill_9_mid_run_then_restart_resumes_every_run_without_duplicates() {
    const RUNS: usize = 5;
    let up = FakeUpstream::start().await;
    for _ in 0..RUNS {
        up.push(Reply::Text {
            chunks: (0..20).map(|i| format!("slow{i} ")).collect(),
            delay: Duration::from_millis(200),
            finish: "stop",
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut first = spawn(dir.path(), &up.url).await;
    let asst = post(
        &http,
        format!("{}/assistants", first.base),
        json!({"model": "m"}),
    )
    .await;
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let t = post(
            &http,
            format!("{}/threads", first.base),
            json!({"messages": [{"role": "user", "content": format!("question {i}")}]}),
        )
        .await;
        let thread = t["id"].as_str().expect("id").to_owned();
        let r = post(
            &http,
            format!("{}/threads/{thread}/runs", first.base),
            json!({"assistant_id": asst["id"]}),
        )
        .await;
        runs.push((thread, r["id"].as_str().expect("id").to_owned()));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while up.requests().len() < RUNS {
        assert!(Instant::now() < deadline, "runs did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.child.kill().await.expect("SIGKILL");

    for _ in 0..RUNS {
        up.push(Reply::text("resumed answer"));
    }
    let second = spawn(dir.path(), &up.url).await;
    for (thread, run) in &runs {
        let deadline = Instant::now() + Duration::from_secs(20);
        let done = loop {
            let r = get(
                &http,
                format!("{}/threads/{thread}/runs/{run}", second.base),
            )
            .await;
            if r["status"] == "completed" || r["status"] == "failed" {
                break r;
            }
            assert!(Instant::now() < deadline, "run stuck after restart: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(done["status"], "completed", "{done}");
        let msgs = get(
            &http,
            format!("{}/threads/{thread}/messages?order=asc", second.base),
        )
        .await;
        let msgs = msgs["data"].as_array().expect("data");
        assert_eq!(msgs.len(), 2, "one user + one assistant message: {msgs:?}");
        assert_eq!(msgs[0]["role"], "user");
        assert_eq!(msgs[1]["role"], "assistant");
        assert_eq!(msgs[1]["status"], "completed");
        assert_eq!(msgs[1]["content"][0]["text"]["value"], "resumed answer");
        let steps = get(
            &http,
            format!("{}/threads/{thread}/runs/{run}/steps", second.base),
        )
        .await;
        assert_eq!(steps["data"].as_array().expect("data").len(), 1);
    }
}

#[tokio::test]
async fn kill_9_mid_embedding_then_restart_embeds_only_the_rest() {
    let up = FakeUpstream::start().await;
    // An embedding model at work: a chunk a request, a quarter of a second each.
    up.set_embedding_delay(Duration::from_millis(250));
    let env = [
        ("ASSISTD_EMBEDDINGS_ENABLED", "true"),
        ("ASSISTD_EMBEDDINGS_MODEL", "fake-embed"),
        ("ASSISTD_EMBEDDINGS_BATCH", "1"),
        ("ASSISTD_INGEST_LEASE_SECS", "1"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut first = spawn_with(dir.path(), &up.url, &env).await;
    let text = (0..1_500).fold(String::new(), |mut t, i| {
        t.push('w');
        t.push_str(&(i % 97).to_string());
        t.push(' ');
        t
    });
    let form = reqwest::multipart::Form::new()
        .text("purpose", "assistants")
        .part(
            "file",
            reqwest::multipart::Part::bytes(text.clone().into_bytes()).file_name("words.txt"),
        );
    let file: Value = http
        .post(format!("{}/files", first.base))
        .bearer_auth("any")
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let file_id = file["id"].as_str().expect("file id").to_owned();
    let vs = post(
        &http,
        format!("{}/vector_stores", first.base),
        json!({"file_ids": [file_id], "chunking_strategy": {"type": "static",
               "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 0}}}),
    )
    .await;
    let vs = vs["id"].as_str().expect("store id").to_owned();
    // Killed once a few chunks have been embedded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while up.embedding_requests().len() < 4 {
        assert!(Instant::now() < deadline, "embedding never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().await.expect("SIGKILL");
    let before = up.embedding_requests().len();

    let second = spawn_with(dir.path(), &up.url, &env).await;
    let path = format!("{}/vector_stores/{vs}/files/{file_id}", second.base);
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let f = get(&http, path.clone()).await;
        if f["status"] != "in_progress" {
            break f;
        }
        assert!(Instant::now() < deadline, "ingestion never resumed: {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    // Every chunk once: the content page joins back to the text.
    let page = get(&http, format!("{path}/content")).await;
    let parts = page["data"].as_array().expect("data");
    let chunks = parts.len();
    assert!(chunks >= 8, "a file of several chunks: {chunks}");
    let joined: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    // (Extraction drops the text's trailing space.)
    assert!(
        joined == text.trim_end(),
        "the content page has {} characters, the text {}",
        joined.len(),
        text.len()
    );
    // The restart embedded only what the first process had not written.
    let after = up.embedding_requests().len() - before;
    assert!(
        after < chunks && after + before >= chunks,
        "{before} requests before the kill, {after} after, {chunks} chunks"
    );
    // And every chunk has its vector: a query sharing no word with the file ranks them all.
    let hits = post(
        &http,
        format!("{}/vector_stores/{vs}/search", second.base),
        json!({"query": "zebra", "max_num_results": 50}),
    )
    .await;
    assert_eq!(
        hits["data"].as_array().map(Vec::len),
        Some(chunks),
        "{hits}"
    );
}
