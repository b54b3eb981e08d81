//! Durability: `kill -9` of the server in the middle of runs, then a restart on the same data
//! directory. Every interrupted run must be resumed and finish, with exactly one assistant
//! message and one message step each, and no user message lost.

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
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
