//! Scale-out: three `assistd` processes on one fresh PostgreSQL database, the way users run
//! them: `serve --no-workers` (the API), `serve` (API and workers) and `worker` (workers only).
//! Checked here: the API instance's runs are executed by the others; a cancel received by the
//! API instance stops a model request running in another process within a second (LISTEN/
//! NOTIFY); a worker killed with `kill -9` has its runs taken over by another after its lease,
//! with exactly one assistant message and one message step per run. And a stream served by an
//! instance that executes nothing gets every event of the run, relayed from the one executing
//! it through PostgreSQL.

use crate::streaming::{Ev, Reader, answer_events, delta_text, find, names};
use assistd_test_support::pg::TestDatabase;
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LEASE_SECS: &str = "2";

struct Proc {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`, for the instances that serve HTTP.
    base: Option<String>,
}

/// Starts `assistd <args>` on `db`, routing models to `upstream`.
async fn spawn(args: &[&str], db: &str, upstream: &str, dir: &std::path::Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistd"))
        .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("ASSISTD_DATABASE_URL", db)
        .env("ASSISTD_UPSTREAM_URL", upstream)
        .env("ASSISTD_LEASE_SECS", LEASE_SECS)
        .env("ASSISTD_WORKERS", "8")
        .env("RUST_LOG", "warn")
        .env_remove("ASSISTD_API_KEYS")
        .env_remove("ASSISTD_CONFIG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("assistd starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = if args[0] == "serve" {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("assistd exited early");
            if let Some(addr) = line.split("listening on ").nth(1) {
                break Some(format!("{}/v1", addr.trim()));
            }
        }
    } else {
        None
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc { child, base }
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth("any")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    call(http, reqwest::Method::POST, url, body).await
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    let r = http.get(url).bearer_auth("any").send().await.expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

/// Creates a thread with one message and a run on it; returns (thread, run).
async fn start_run(http: &reqwest::Client, base: &str, asst: &str, text: &str) -> (String, String) {
    let r = post(
        http,
        format!("{base}/threads/runs"),
        json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": text}]}}),
    )
    .await;
    (
        r["thread_id"].as_str().expect("thread").to_owned(),
        r["id"].as_str().expect("run").to_owned(),
    )
}

async fn wait_status(
    http: &reqwest::Client,
    base: &str,
    (thread, run): &(String, String),
    done: impl Fn(&str) -> bool,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = get(http, format!("{base}/threads/{thread}/runs/{run}")).await;
        if done(r["status"].as_str().unwrap_or_default()) {
            return r;
        }
        assert!(Instant::now() < deadline, "run stuck: {r}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One completed assistant message and one step: nothing lost, nothing duplicated.
async fn assert_answered_once(
    http: &reqwest::Client,
    base: &str,
    (thread, run): &(String, String),
) {
    let msgs = get(http, format!("{base}/threads/{thread}/messages?order=asc")).await;
    let msgs = msgs["data"].as_array().expect("data");
    assert_eq!(msgs.len(), 2, "one user + one assistant message: {msgs:?}");
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["status"], "completed");
    let steps = get(http, format!("{base}/threads/{thread}/runs/{run}/steps")).await;
    assert_eq!(steps["data"].as_array().expect("data").len(), 1, "{steps}");
}

#[tokio::test]
async fn three_instances_share_the_queue_cancel_across_processes_and_take_over_a_killed_one() {
    // Runs queued in step 1, and runs held by the killed instance in step 3.
    const MANY: usize = 12;
    const HELD: usize = 4;
    let db = TestDatabase::create().await;
    let url = db.url();
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();

    let api = spawn(
        &["serve", "--listen", "127.0.0.1:0", "--no-workers"],
        &url,
        &up.url,
        dir.path(),
    )
    .await;
    let mut full = spawn(
        &["serve", "--listen", "127.0.0.1:0"],
        &url,
        &up.url,
        dir.path(),
    )
    .await;
    let mut worker = spawn(&["worker"], &url, &up.url, dir.path()).await;
    let base = api.base.clone().expect("api serves HTTP");
    let other = full.base.clone().expect("serves HTTP");
    let asst = post(&http, format!("{base}/assistants"), json!({"model": "m"})).await;
    let asst = asst["id"].as_str().expect("id").to_owned();

    // 1. The API instance executes nothing; the other two take its runs from the shared queue.
    for _ in 0..MANY {
        up.push(Reply::text("shared answer"));
    }
    let mut runs = Vec::new();
    for i in 0..MANY {
        runs.push(start_run(&http, &base, &asst, &format!("question {i}")).await);
    }
    for r in &runs {
        let done = wait_status(
            &http,
            &base,
            r,
            |s| s == "completed" || s == "failed",
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_answered_once(&http, &other, r).await;
    }

    // 2. A cancel sent to the API instance stops the model request in another process.
    up.push(Reply::Hang);
    let hung = start_run(&http, &base, &asst, "hang").await;
    wait_status(
        &http,
        &base,
        &hung,
        |s| s == "in_progress",
        Duration::from_secs(10),
    )
    .await;
    let requests = up.requests().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.requests().len() < requests.max(MANY + 1) {
        assert!(
            Instant::now() < deadline,
            "the hanging request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let abandoned = up.abandoned();
    let sent = Instant::now();
    post(
        &http,
        format!("{base}/threads/{}/runs/{}/cancel", hung.0, hung.1),
        json!({}),
    )
    .await;
    while up.abandoned() == abandoned {
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "the executing instance did not stop the model request within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped_after = sent.elapsed();
    let cancelled = wait_status(
        &http,
        &base,
        &hung,
        |s| s == "cancelled",
        Duration::from_secs(5),
    )
    .await;
    assert!(cancelled["cancelled_at"].as_i64().is_some());
    eprintln!("cross-instance cancel stopped the model request after {stopped_after:?}");

    // 3. kill -9 of the instance holding runs: another takes them over after the lease.
    // The worker stops first (gracefully), so that the `serve` instance holds all of them.
    let _ = nix_term(&mut worker).await;
    for _ in 0..HELD {
        up.push(Reply::Text {
            chunks: (0..40).map(|i| format!("slow{i} ")).collect(),
            delay: Duration::from_millis(200),
            finish: "stop",
        });
    }
    let before = up.requests().len();
    let mut held = Vec::new();
    for i in 0..HELD {
        held.push(start_run(&http, &base, &asst, &format!("held {i}")).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.requests().len() < before + HELD {
        assert!(Instant::now() < deadline, "the held runs did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    full.child.kill().await.expect("SIGKILL");
    let killed_at = Instant::now();
    for _ in 0..HELD {
        up.push(Reply::text("taken over"));
    }
    let _survivor = spawn(&["worker"], &url, &up.url, dir.path()).await;
    for r in &held {
        let done = wait_status(
            &http,
            &base,
            r,
            |s| s == "completed" || s == "failed",
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_answered_once(&http, &base, r).await;
        let msgs = get(
            &http,
            format!("{base}/threads/{}/messages?order=desc&limit=1", r.0),
        )
        .await;
        assert_eq!(msgs["data"][0]["content"][0]["text"]["value"], "taken over");
    }
    eprintln!(
        "runs of the killed instance completed {:?} after the kill",
        killed_at.elapsed()
    );
    drop(api);
    drop(db);
}

/// Opens a `stream: true` request on `url` (in API version `beta`).
async fn stream(http: &reqwest::Client, url: String, beta: &str, body: Value) -> Vec<Ev> {
    let res = http
        .post(url)
        .bearer_auth("any")
        .header("OpenAI-Beta", beta)
        .json(&body)
        .send()
        .await
        .expect("sent");
    Reader::from_response(res).all().await
}

#[tokio::test]
async fn a_stream_from_an_instance_that_executes_nothing_gets_every_event_in_order() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let api = spawn(
        &["serve", "--listen", "127.0.0.1:0", "--no-workers"],
        &url,
        &up.url,
        dir.path(),
    )
    .await;
    let _worker = spawn(&["worker"], &url, &up.url, dir.path()).await;
    let base = api.base.clone().expect("api serves HTTP");
    let asst = post(
        &http,
        format!("{base}/assistants"),
        json!({"model": "m", "tools": [{"type": "function", "function": {"name": "lookup"}}]}),
    )
    .await;
    let asst = asst["id"].as_str().expect("id").to_owned();

    // A text answer, token by token, with one piece past a NOTIFY payload's 8,000 bytes (and
    // so every event that carries the whole text after it).
    let mut chunks: Vec<String> = (0..30).map(|i| format!("t{i} ")).collect();
    chunks.insert(10, "x".repeat(10_000));
    let full: String = chunks.concat();
    up.push(Reply::Text {
        chunks,
        delay: Duration::from_millis(5),
        finish: "stop",
    });
    for beta in ["assistants=v1", "assistants=v2"] {
        if beta.ends_with("v2") {
            up.push(Reply::text("second answer"));
        }
        let evs = stream(
            &http,
            format!("{base}/threads/runs"),
            beta,
            json!({"assistant_id": asst, "stream": true,
                   "thread": {"messages": [{"role": "user", "content": "hi"}]}}),
        )
        .await;
        let n = names(&evs);
        let deltas = n.iter().filter(|e| **e == "thread.message.delta").count();
        let mut expected = vec!["thread.created"];
        expected.extend(answer_events(
            deltas,
            "thread.message.completed",
            "thread.run.completed",
        ));
        assert_eq!(n, expected, "{beta}");
        let text = delta_text(&evs);
        let answer = if beta.ends_with("v1") {
            full.clone()
        } else {
            "second answer".to_owned()
        };
        assert_eq!(text, answer, "{beta}: the deltas add up to the answer");
        // Each object as the REST endpoints show it in the stream's version.
        let run = find(&evs, "thread.run.completed").json();
        let (thread, run_id) = (
            run["thread_id"].as_str().unwrap(),
            run["id"].as_str().unwrap(),
        );
        let rest = |path: String| {
            let http = http.clone();
            async move {
                let r = http
                    .get(path)
                    .bearer_auth("any")
                    .header("OpenAI-Beta", beta)
                    .send()
                    .await
                    .expect("sent");
                r.json::<Value>().await.expect("json")
            }
        };
        assert_eq!(
            run,
            rest(format!("{base}/threads/{thread}/runs/{run_id}")).await
        );
        let message = find(&evs, "thread.message.completed").json();
        assert_eq!(message["content"][0]["text"]["value"], answer.as_str());
        let id = message["id"].as_str().unwrap();
        assert_eq!(
            message,
            rest(format!("{base}/threads/{thread}/messages/{id}")).await
        );
        let step = find(&evs, "thread.run.step.completed").json();
        let id = step["id"].as_str().unwrap();
        assert_eq!(
            step,
            rest(format!("{base}/threads/{thread}/runs/{run_id}/steps/{id}")).await
        );
    }

    // A function call, then tool outputs submitted with a stream of their own.
    up.push(Reply::ToolCalls(vec![(
        "lookup".into(),
        r#"{"q":"x"}"#.into(),
    )]));
    up.push(Reply::text("found it"));
    let evs = stream(
        &http,
        format!("{base}/threads/runs"),
        "assistants=v2",
        json!({"assistant_id": asst, "stream": true,
               "thread": {"messages": [{"role": "user", "content": "look"}]}}),
    )
    .await;
    let n = names(&evs);
    assert!(n.contains(&"thread.run.step.delta"), "{n:?}");
    assert_eq!(&n[n.len() - 2..], ["thread.run.requires_action", "done"]);
    let run = find(&evs, "thread.run.requires_action").json();
    let call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (thread, run_id) = (
        run["thread_id"].as_str().unwrap(),
        run["id"].as_str().unwrap(),
    );
    let evs = stream(
        &http,
        format!("{base}/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
        "assistants=v2",
        json!({"stream": true, "tool_outputs": [{"tool_call_id": call, "output": "42"}]}),
    )
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[..3],
        [
            "thread.run.queued",
            "thread.run.step.completed",
            "thread.run.in_progress"
        ]
    );
    assert_eq!(&n[n.len() - 2..], ["thread.run.completed", "done"]);
    assert_eq!(
        find(&evs, "thread.message.completed").json()["content"][0]["text"]["value"],
        "found it"
    );
    drop(api);
    drop(db);
}

/// SIGTERM, then wait for a graceful exit (runs in flight are released, not failed).
async fn nix_term(p: &mut Proc) -> std::io::Result<()> {
    if let Some(pid) = p.child.id() {
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await?;
    }
    tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["migrate"],
        vec!["serve", "--listen", "127.0.0.1:0"],
        vec!["worker"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_assistd"))
            .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--database-url")
            .arg("postgres://assistd:pw-very-secret@127.0.0.1:1/assistd")
            .env("RUST_LOG", "debug")
            .env("ASSISTD_UPSTREAM_URL", "http://127.0.0.1:1/v1")
            .env_remove("ASSISTD_API_KEYS")
            .env_remove("ASSISTD_CONFIG")
            .output()
            .await
            .expect("assistd runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("Connection refused"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("pw-very-secret") && !stdout.contains("pw-very-secret"),
            "{args:?} leaked the password: {stderr}"
        );
    }
}
