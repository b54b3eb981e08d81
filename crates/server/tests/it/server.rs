//! Server-wide behaviour: the health check, request ids, open mode, graceful stop.

use crate::common::*;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn healthz_needs_no_key() {
    let app = TestApp::spawn().await;
    let res = app
        .run_request(app.http.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json, json!({"status": "ok"}));
    assert!(res.header("x-request-id").is_some());
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let mut seen = HashSet::new();
    let responses = vec![
        app.get("/assistants").await,
        app.get(&format!("/assistants/{asst}")).await,
        app.get("/assistants/asst_nope").await,
        app.post("/assistants", json!({})).await,
        app.call(Method::PUT, "/assistants", None).await,
        app.get("/nope").await,
        app.upload("a.txt", b"a".to_vec(), "assistants").await,
        app.run_request(app.http.get(app.url("/assistants"))).await,
        app.run_request(app.http.get(format!("{}/healthz", app.base)))
            .await,
    ];
    for res in responses {
        let id = res
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {res:?}"))
            .to_owned();
        assert!(!id.is_empty());
        assert!(seen.insert(id.clone()), "request id {id} reused");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_client_chosen_request_id_is_never_echoed() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(4000);
    for theirs in ["req_from_client", "spaces and <tags>", long.as_str()] {
        for req in [
            app.request(Method::GET, "/assistants"),
            app.request(Method::GET, "/assistants/asst_nope"),
            app.http.get(format!("{}/healthz", app.base)),
        ] {
            let Ok(value) = reqwest::header::HeaderValue::from_str(theirs) else {
                continue;
            };
            let res = app.run_request(req.header("x-request-id", value)).await;
            let ours = res.header("x-request-id").expect("a request id");
            assert_ne!(ours, theirs);
            assert!(ours.starts_with("req_"), "{ours}");
            assert_eq!(ours.len(), "req_".len() + 32, "{ours}");
            assert!(ours[4..].bytes().all(|b| b.is_ascii_hexdigit()), "{ours}");
            assert_eq!(res.headers.get_all("x-request-id").iter().count(), 1);
        }
    }
    app.stop().await;
}

/// A request in open mode with these extra headers (the client talks to 127.0.0.1:PORT).
async fn open_mode_get(app: &TestApp, headers: &[(&str, &str)]) -> Resp {
    let mut req = app.http.get(app.url("/assistants"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.run_request(req).await
}

#[tokio::test]
async fn open_mode_answers_loopback_names_and_pages_only() {
    let app = TestApp::builder()
        .with(|s| s.api_keys.clear())
        .spawn()
        .await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    // SDKs and curl: no Origin, a loopback Host.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_owned(),
        "[::1]:9".to_owned(),
        "127.0.0.2".to_owned(),
    ] {
        open_mode_get(&app, &[("host", &host)]).await.ok();
    }
    // Pages served from loopback (a local playground) are fine too.
    for origin in ["http://localhost:3000", "http://127.0.0.1:5173"] {
        open_mode_get(&app, &[("origin", origin), ("sec-fetch-site", "same-site")])
            .await
            .ok();
    }
    // DNS rebinding: a foreign page whose domain now resolves to 127.0.0.1.
    let forbidden = |e: serde_json::Value| {
        assert_eq!(e["type"], "invalid_request_error", "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("without API keys"),
            "{e}"
        );
    };
    for host in [
        "evil.example:8080",
        "evil.example",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
    ] {
        forbidden(open_mode_get(&app, &[("host", host)]).await.err(403));
    }
    // A foreign page sending to 127.0.0.1 directly.
    for origin in ["https://evil.example", "null", "http://evil.example:8080"] {
        forbidden(open_mode_get(&app, &[("origin", origin)]).await.err(403));
    }
    // A browser request that carries no Origin but says it is cross-site.
    forbidden(
        open_mode_get(&app, &[("sec-fetch-site", "cross-site")])
            .await
            .err(403),
    );
    // Writes too: nothing was created by any of the refused requests.
    let res = app
        .run_request(
            app.http
                .post(app.url("/assistants"))
                .header("origin", "https://evil.example")
                .json(&json!({"model": "gpt-4"})),
        )
        .await;
    forbidden(res.err(403));
    let list = open_mode_get(&app, &[]).await.ok();
    assert!(assert_list(&list).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn with_keys_foreign_hosts_and_origins_are_served() {
    let app = TestApp::spawn().await;
    for headers in [
        vec![("host", "evil.example:8080")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        let mut req = app.request(Method::GET, "/assistants");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        app.run_request(req).await.ok();
    }
    // Still no key, still 401, whatever the Host.
    app.run_request(
        app.http
            .get(app.url("/assistants"))
            .header("host", "api.example.com"),
    )
    .await
    .err(401);
    app.stop().await;
}

#[tokio::test]
async fn open_mode_accepts_any_key_and_none() {
    let app = TestApp::builder()
        .with(|s| s.api_keys.clear())
        .spawn()
        .await;
    let created = app
        .run_request(
            app.http
                .post(app.url("/assistants"))
                .json(&json!({"model": "gpt-4"})),
        )
        .await
        .ok();
    let id = id_of(&created);
    for key in ["anything", KEY_A, KEY_B] {
        let got = app
            .run_request(
                app.http
                    .get(app.url(&format!("/assistants/{id}")))
                    .bearer_auth(key),
            )
            .await
            .ok();
        assert_eq!(got, created, "key {key}");
    }
    let list = app
        .run_request(app.http.get(app.url("/assistants")))
        .await
        .ok();
    assert_eq!(assert_list(&list), vec![id]);
    // The beta check still applies.
    app.run_request(
        app.http
            .get(app.url("/assistants"))
            .header("OpenAI-Beta", "assistants=v3"),
    )
    .await
    .err(400);
    app.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let f = app
        .upload("keep.txt", b"persisted".to_vec(), "assistants")
        .await
        .ok();
    let app = app.restart().await;
    app.get(&format!("/assistants/{asst}")).await.ok();
    let res = app.get(&format!("/files/{}/content", id_of(&f))).await;
    assert_eq!(res.bytes, b"persisted");
    app.stop().await;
}
