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
    // A caller's own request id is kept.
    let res = app
        .run_request(
            app.request(Method::GET, "/assistants")
                .header("x-request-id", "req_from_client"),
        )
        .await;
    assert_eq!(res.header("x-request-id"), Some("req_from_client"));
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
            .header("OpenAI-Beta", "assistants=v2"),
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
