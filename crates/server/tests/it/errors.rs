//! Errors outside any handler, all in the envelope: unknown routes, wrong methods, bodies over
//! the limits, authentication, the `OpenAI-Beta` version check; and a database out of reach.

use crate::common::*;
use assistd_server::config::DatabaseUrl;
use assistd_test_support::pg::{Outage, TestDatabase};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn unknown_routes_are_404() {
    let app = TestApp::spawn().await;
    for (method, url) in [
        (Method::GET, app.url("/nope")),
        (Method::POST, app.url("/assistants/asst_x/nope")),
        (Method::GET, app.url("/threads/t/messages/m/files/f/extra")),
        (Method::GET, format!("{}/nope", app.base)),
        (Method::GET, format!("{}/v2/assistants", app.base)),
        (Method::GET, app.url("/models")),
    ] {
        let res = app
            .run_request(app.http.request(method.clone(), &url).bearer_auth(KEY_A))
            .await;
        assert!(res.header("x-request-id").is_some());
        let e = res.err(404);
        assert_eq!(e["type"], "invalid_request_error");
        assert!(
            e["message"].as_str().unwrap().contains(method.as_str()),
            "{url}: {e}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    for (method, path) in [
        (Method::PUT, "/assistants".to_owned()),
        (Method::DELETE, "/assistants".to_owned()),
        (Method::PATCH, format!("/assistants/{asst}")),
        // v1 has no "list threads".
        (Method::GET, "/threads".to_owned()),
        (Method::DELETE, "/threads".to_owned()),
        (
            Method::GET,
            "/threads/thread_x/runs/run_x/cancel".to_owned(),
        ),
        (Method::PUT, "/files".to_owned()),
        (Method::POST, "/files/file-x/content".to_owned()),
    ] {
        let res = app.call(method.clone(), &path, None).await;
        assert!(res.header("x-request-id").is_some());
        let e = res.err(405);
        assert!(
            e["message"].as_str().unwrap().contains(method.as_str()),
            "{method} {path}: {e}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn json_body_over_the_limit_is_413() {
    let app = TestApp::builder()
        .with(|s| s.max_json_body_bytes = 1024)
        .spawn()
        .await;
    let small = app
        .post("/assistants", json!({"model": "gpt-4", "name": chars(200)}))
        .await
        .ok();
    assert_keys(&small, ASSISTANT_KEYS);
    let res = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "instructions": chars(2000)}),
        )
        .await;
    assert!(res.header("x-request-id").is_some());
    let e = res.err(413);
    assert!(e["param"].is_null());
    // Without a Content-Length (chunked), too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(br#"{"model": "gpt-4", "instructions": ""#.to_vec()),
        Ok(vec![b'x'; 4000]),
        Ok(br#""}"#.to_vec()),
    ];
    app.run_request(
        app.request(Method::POST, "/assistants")
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
    )
    .await
    .err(413);
    // Same on other JSON endpoints.
    let tid = app.thread().await;
    app.post(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": chars(5000)}),
    )
    .await
    .err(413);
    // Nothing over the limit was stored.
    let list = app.get("/assistants").await.ok();
    assert_eq!(assert_list(&list), vec![id_of(&small)]);
    // The JSON limit does not apply to uploads.
    app.upload("big.txt", vec![b'a'; 10_000], "assistants")
        .await
        .ok();
    app.stop().await;
}

#[tokio::test]
async fn upload_over_the_limit_is_413_and_leaves_nothing() {
    let app = TestApp::builder()
        .with(|s| s.max_upload_bytes = 1024)
        .spawn()
        .await;
    let ok = app
        .upload("fits.txt", vec![b'a'; 1024], "assistants")
        .await
        .ok();
    assert_eq!(ok["bytes"], 1024);
    let ok_id = id_of(&ok);
    // Just over the limit (within the multipart framing allowance), and far over it.
    for size in [1025usize, 5_000, 100_000] {
        let res = app
            .upload("toobig.bin", vec![b'z'; size], "assistants")
            .await;
        assert!(res.header("x-request-id").is_some());
        let e = res.err(413);
        assert!(e["param"].is_null() || e["param"] == "file", "{e}");
    }
    let list = app.get("/files").await.ok();
    assert_eq!(ids(&list), vec![ok_id.clone()]);
    // Only the accepted file's bytes are on disk.
    let stored = files_under(&app.data_dir.join("files"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].to_string_lossy().ends_with(&ok_id), "{stored:?}");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), vec![b'a'; 1024]);
    // The server still works.
    app.upload("again.txt", b"ok".to_vec(), "assistants")
        .await
        .ok();
    app.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_401() {
    let app = TestApp::spawn().await;
    let url = app.url("/assistants");
    let no_key = app
        .run_request(app.http.get(&url).header("OpenAI-Beta", "assistants=v1"))
        .await;
    assert!(no_key.header("x-request-id").is_some());
    let e = no_key.err(401);
    assert!(e["message"].as_str().unwrap().contains("API key"), "{e}");
    let wrong = app
        .run_request(app.http.get(&url).bearer_auth("sk-wrong-key-123456"))
        .await
        .err(401);
    assert_eq!(wrong["code"], "invalid_api_key");
    assert!(
        !wrong["message"]
            .as_str()
            .unwrap()
            .contains("sk-wrong-key-123456"),
        "the key must not be echoed whole: {wrong}"
    );
    for auth in ["Basic c2stdGVzdA==", "Bearer", "Bearer ", KEY_A] {
        app.run_request(app.http.get(&url).header("authorization", auth))
            .await
            .err(401);
    }
    // Every /v1 endpoint is behind the check, uploads included.
    let form = reqwest::multipart::Form::new()
        .text("purpose", "assistants")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a"),
        );
    app.run_request(app.http.post(app.url("/files")).multipart(form))
        .await
        .err(401);
    app.run_request(app.http.post(app.url("/threads")).json(&json!({})))
        .await
        .err(401);
    app.run_request(app.http.get(app.url("/threads/thread_x/runs/run_x/steps")))
        .await
        .err(401);
    // The right key, case-insensitive scheme.
    app.run_request(
        app.http
            .get(&url)
            .header("authorization", format!("bearer {KEY_A}")),
    )
    .await
    .ok();
    app.stop().await;
}

#[tokio::test]
async fn openai_beta_header_versions() {
    let app = TestApp::spawn().await;
    let url = app.url("/assistants");
    let v3 = app
        .run_request(
            app.http
                .get(&url)
                .bearer_auth(KEY_A)
                .header("OpenAI-Beta", "assistants=v3"),
        )
        .await;
    assert!(v3.header("x-request-id").is_some());
    let e = v3.err(400);
    assert!(e["message"].as_str().unwrap().contains("v3"), "{e}");
    // Also on writes, and when combined with other beta flags.
    app.run_request(
        app.http
            .post(&url)
            .bearer_auth(KEY_A)
            .header("OpenAI-Beta", "other=1, assistants=v3")
            .json(&json!({"model": "gpt-4"})),
    )
    .await
    .err(400);
    assert!(assert_list(&app.get("/assistants").await.ok()).is_empty());
    // Absent: accepted.
    app.run_request(app.http.get(&url).bearer_auth(KEY_A))
        .await
        .ok();
    app.run_request(
        app.http
            .post(&url)
            .bearer_auth(KEY_A)
            .json(&json!({"model": "gpt-4"})),
    )
    .await
    .ok();
    // v1 and unrelated flags: accepted.
    for value in [
        "assistants=v1",
        "other=1",
        "other=1, assistants=v1",
        "assistants=v2",
    ] {
        app.run_request(
            app.http
                .get(&url)
                .bearer_auth(KEY_A)
                .header("OpenAI-Beta", value),
        )
        .await
        .ok();
    }
    app.stop().await;
}

#[tokio::test]
async fn server_errors_never_leak_as_plain_text() {
    // Rejections produced by the framework itself (bad path encodings, bad query strings) are
    // still enveloped.
    let app = TestApp::spawn().await;
    let res = app
        .run_request(app.request(Method::GET, "/assistants?limit=%zz"))
        .await;
    assert!(res.status.is_client_error());
    let status = res.status.as_u16();
    res.err(status);
    let res = app
        .run_request(app.request(Method::GET, "/assistants/%FF%FE"))
        .await;
    assert!(res.status.is_client_error(), "{:?}", res.status);
    let status = res.status.as_u16();
    res.err(status);
    app.stop().await;
}

#[tokio::test]
async fn null_characters_in_bodies_are_refused_on_every_backend() {
    let app = TestApp::spawn().await;
    let e = app
        .post("/assistants", json!({"model": "m", "name": "a\u{0}b"}))
        .await
        .err(400);
    assert!(
        e["message"].as_str().unwrap().contains("null character"),
        "{e}"
    );
    let tid = app.thread().await;
    let e = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x\u{0}"}),
        )
        .await
        .err(400);
    assert_eq!(e["type"], "invalid_request_error");
    // An escaped backslash followed by `u0000` is ordinary text.
    let a = app
        .post("/assistants", json!({"model": "m", "name": "a\\u0000b"}))
        .await
        .ok();
    assert_eq!(a["name"], "a\\u0000b");
}

/// Always PostgreSQL, behind a proxy that is cut and restored: SQLite has no connection to lose.
#[tokio::test]
async fn a_database_out_of_reach_is_a_503_to_retry_and_loses_nothing() {
    let db = TestDatabase::create().await;
    let outage = Outage::start();
    let app = TestApp::builder()
        .with(|s| {
            s.database_url = Some(DatabaseUrl(outage.url_of(&db)));
            // Waiting for a connection that cannot come ends sooner than the default 10 s.
            s.database_acquire_timeout_secs = 1.0;
        })
        .spawn()
        .await;
    let thread = app.thread().await;
    let kept = app.message(&thread, "kept").await;

    outage.cut().await;
    let read = app.get(&format!("/threads/{thread}/messages")).await;
    assert_eq!(read.header("retry-after"), Some("1"));
    let spread = read
        .header("retry-after-ms")
        .and_then(|ms| ms.parse::<u64>().ok());
    assert!(
        spread.is_some_and(|ms| (500..=1500).contains(&ms)),
        "{spread:?}"
    );
    let e = read.err(503);
    assert_eq!(e["type"], "server_error");
    assert!(
        !e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "the cause stays in the logs: {e}"
    );
    app.post(
        &format!("/threads/{thread}/messages"),
        json!({"role": "user", "content": "lost"}),
    )
    .await
    .err(503);
    let health = app
        .run_request(app.http.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(health.header("retry-after"), Some("1"));
    health.err(503);

    outage.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let res = app.get(&format!("/threads/{thread}/messages")).await;
        if res.status == 200 || Instant::now() > deadline {
            break res.ok();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        ids(&listed),
        vec![kept],
        "what was stored before is all there: {listed}"
    );
    app.message(&thread, "after").await;
    app.stop().await;
}
