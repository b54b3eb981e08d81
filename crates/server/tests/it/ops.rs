//! Operability and what tenants may see of the operator's side: upstream errors reach a run's
//! owner without the upstream's words, URL or key; Prometheus metrics; OTLP traces linking a
//! request to its run's upstream call; JSON logs.

use crate::common::TestApp;
use crate::engine::{setup, start_run, terminal, wait_for};
use assistd_models::ModelRoute;
use assistd_server::config::Settings;
use assistd_test_support::upstream::{FakeUpstream, PROMPT_TOKENS, Reply};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use prost::Message as _;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const OPERATOR_KEY: &str = "sk-operator-0123456789abcdef";

/// A route to `url` with the operator's key and no retries (each failure is one request).
fn route(url: &str) -> impl FnOnce(&mut Settings) {
    let mut r = ModelRoute::catch_all(url, Some(OPERATOR_KEY.to_owned()));
    r.max_retries = 0;
    move |s: &mut Settings| {
        s.workers = 2;
        s.models = vec![r];
    }
}

fn assert_clean(text: &str, upstream: &str) {
    for leak in [
        OPERATOR_KEY,
        "Bearer",
        "Incorrect API key",
        upstream,
        "127.0.0.1",
        "/chat/completions",
    ] {
        assert!(!text.contains(leak), "{leak:?} reached the tenant: {text}");
    }
}

#[tokio::test]
async fn upstream_error_text_never_reaches_the_tenant() {
    let up = FakeUpstream::start().await;
    up.push(Reply::EchoAuthorization(401));
    up.push(Reply::EchoAuthorization(401));
    let app = TestApp::builder().with(route(&up.url)).spawn().await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;

    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "server_error");
    let message = done["last_error"]["message"].as_str().unwrap();
    assert!(
        message.contains("HTTP 401") && message.contains("invalid_api_key"),
        "{message}"
    );
    assert_clean(&done.to_string(), &up.url);
    let sent = up.request_headers();
    assert_eq!(
        sent[0]["authorization"].to_str().unwrap(),
        format!("Bearer {OPERATOR_KEY}"),
        "the upstream did get the key (and echoed it)"
    );

    // Streamed: no event carries it either.
    let streamed = app
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "stream": true}),
        )
        .await;
    let text = String::from_utf8_lossy(&streamed.bytes).into_owned();
    assert!(text.contains("thread.run.failed"), "{text}");
    assert_clean(&text, &up.url);
    app.stop().await;

    // Nothing listens on port 1: the connection is refused. The URL's password is the
    // operator's too.
    let url = "http://user:url-password@127.0.0.1:1/v1";
    let app = TestApp::builder().with(route(url)).spawn().await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "server_error");
    let message = done["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("could not be reached"), "{message}");
    assert_clean(&done.to_string(), url);
    assert!(!done.to_string().contains("url-password"), "{done}");
}

/// The value of the series whose line starts with `name{` and holds every label of `labels`.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_runs_and_tokens_by_route_template() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("hello from the fake"));
    let off = TestApp::spawn().await;
    let r = off
        .http
        .get(format!("{}/metrics", off.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "off unless enabled");
    off.stop().await;

    let url = up.url.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.workers = 2;
            s.upstream_url = Some(url);
            s.metrics_enabled = true;
        })
        .spawn()
        .await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    app.get("/assistants/asst_doesnotexist").await.err(404);

    // No key needed: scrapers do not hold one.
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(!text.contains(&thread), "raw paths never become labels");
    // Each series that must have counted at least once, with the labels it must carry.
    let at_least_once: [(&str, &[&str]); 8] = [
        (
            "assistd_http_requests_total",
            &[
                r#"method="POST""#,
                r#"route="/v1/threads/{thread_id}/runs""#,
                r#"status="200""#,
            ],
        ),
        (
            "assistd_http_requests_total",
            &[
                r#"route="/v1/assistants/{assistant_id}""#,
                r#"status="404""#,
            ],
        ),
        (
            "assistd_http_request_duration_seconds_bucket",
            &[r#"route="/v1/threads""#, r#"le="+Inf""#],
        ),
        ("assistd_runs_ended_total", &[r#"status="completed""#]),
        (
            "assistd_run_duration_seconds_count",
            &[r#"status="completed""#],
        ),
        ("assistd_run_queue_wait_seconds_count", &[]),
        ("assistd_model_tokens_total", &[r#"type="completion""#]),
        (
            "assistd_upstream_request_duration_seconds_count",
            &[r#"status="200""#],
        ),
    ];
    for (name, labels) in at_least_once {
        assert!(
            series(&text, name, labels) >= Some(1.0),
            "{name} {labels:?}: {text}"
        );
    }
    assert!(
        series(&text, "assistd_model_tokens_total", &[r#"type="prompt""#])
            >= Some(f64::from(u32::try_from(PROMPT_TOKENS).unwrap())),
        "{text}"
    );
    assert!(
        series(&text, "assistd_stream_subscribers", &[]).is_some(),
        "{text}"
    );
    assert!(
        series(&text, "assistd_runs", &[r#"status="queued""#]).is_some(),
        "{text}"
    );
}

/// A collector of OTLP/HTTP protobuf exports.
async fn fake_collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(got): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                    got.lock().unwrap().push(body);
                    ""
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), got)
}

/// (span name, trace id as hex) of every span exported.
fn spans(exports: &[Bytes]) -> Vec<(String, String)> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let mut out = Vec::new();
    for body in exports {
        let req = ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let id = hex::encode(&span.trace_id);
                    out.push((span.name, id));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn traces_link_the_request_to_its_upstream_call_and_logs_are_json() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("traced answer"));
    let (collector, exports) = fake_collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistd"))
        .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("ASSISTD_UPSTREAM_URL", &up.url)
        .env("ASSISTD_OTLP_ENDPOINT", &collector)
        .env("ASSISTD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("ASSISTD_API_KEYS")
        .env_remove("ASSISTD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("assistd starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid = child.id().expect("running").to_string();
    let stderr = tokio::spawn(async move {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut all = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push(l);
        }
        (child, all)
    });
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .expect("assistd starts in time")
            .unwrap()
            .expect("assistd exited early");
        if let Some(addr) = line.split("listening on ").nth(1) {
            break format!("{}/v1", addr.trim());
        }
    };
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("authorization", "Bearer any")
            .header("openai-beta", "assistants=v1")
            .json(&body)
            .send()
    };
    let asst: Value = post("/assistants", json!({"model": "m"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run: Value = post(
        "/threads/runs",
        json!({"assistant_id": asst["id"], "thread": {"messages": [{"role": "user", "content": "hi"}]}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let url = format!(
        "{base}/threads/{}/runs/{}",
        run["thread_id"].as_str().unwrap(),
        run["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: Value = http
            .get(&url)
            .header("authorization", "Bearer any")
            .header("openai-beta", "assistants=v1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "run stuck: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A clean stop flushes the traces still buffered.
    let (mut child, logs) = {
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(30), stderr)
            .await
            .expect("assistd stops")
            .unwrap()
    };
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}: {logs:?}");

    let spans = spans(&exports.lock().unwrap());
    let trace_of = |name: &str| {
        spans.iter().find(|(n, _)| n == name).map_or_else(
            || panic!("no span {name:?} in {spans:?}"),
            |(_, t)| t.clone(),
        )
    };
    let request = trace_of("POST /v1/threads/runs");
    assert_eq!(trace_of("run"), request, "{spans:?}");
    assert_eq!(trace_of("chat.completions"), request, "{spans:?}");
    let traceparent = up.request_headers()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(traceparent.contains(&request), "{traceparent} vs {request}");

    assert!(logs.iter().any(|l| l.contains("ready")), "{logs:?}");
    for line in logs.iter().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
}
