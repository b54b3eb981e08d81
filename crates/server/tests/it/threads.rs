//! Threads: create (with and without a body, with initial messages), retrieve, modify, delete
//! (operations 10–13).

use crate::common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_without_a_body() {
    let app = TestApp::spawn().await;
    // No body and no content type at all, as `client.beta.threads.create()` may send.
    let t = app
        .run_request(app.request(Method::POST, "/threads"))
        .await
        .ok();
    assert_keys(&t, THREAD_KEYS);
    assert_id(&t["id"], "thread_");
    assert_eq!(t["object"], "thread");
    assert_ts(&t["created_at"]);
    assert!(t["metadata"].is_null());
    // An empty body declared as JSON.
    let t2 = app
        .run_request(
            app.request(Method::POST, "/threads")
                .header("content-type", "application/json"),
        )
        .await
        .ok();
    assert_keys(&t2, THREAD_KEYS);
    assert_ne!(t2["id"], t["id"]);
    let msgs = app
        .get(&format!("/threads/{}/messages", id_of(&t)))
        .await
        .ok();
    assert!(assert_list(&msgs).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn create_with_empty_object_and_metadata() {
    let app = TestApp::spawn().await;
    let t = app.post("/threads", json!({})).await.ok();
    assert_keys(&t, THREAD_KEYS);
    assert!(t["metadata"].is_null());
    let t = app
        .post("/threads", json!({"metadata": {"user": "u1"}}))
        .await
        .ok();
    assert_eq!(t["metadata"], json!({"user": "u1"}));
    let got = app.get(&format!("/threads/{}", id_of(&t))).await.ok();
    assert_eq!(got, t);
    app.stop().await;
}

#[tokio::test]
async fn create_with_initial_messages() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let t = app
        .post(
            "/threads",
            json!({
                "messages": [
                    {"role": "user", "content": "first", "file_ids": [f], "metadata": {"n": "1"}},
                    {"role": "assistant", "content": "second"},
                    {"role": "user", "content": "third"}
                ],
                "metadata": {"k": "v"}
            }),
        )
        .await
        .ok();
    let tid = id_of(&t);
    assert_eq!(t["metadata"], json!({"k": "v"}));
    let list = app
        .get(&format!("/threads/{tid}/messages?order=asc"))
        .await
        .ok();
    assert_eq!(assert_list(&list).len(), 3);
    let data = list["data"].as_array().unwrap();
    let texts: Vec<&str> = data
        .iter()
        .map(|m| m["content"][0]["text"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second", "third"]);
    for m in data {
        assert_keys(m, MESSAGE_KEYS);
        assert_eq!(m["thread_id"], json!(tid));
        assert!(m["run_id"].is_null());
        assert!(m["assistant_id"].is_null());
    }
    assert_eq!(data[0]["role"], "user");
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[0]["file_ids"], json!([f]));
    assert_eq!(data[0]["metadata"], json!({"n": "1"}));
    assert_eq!(data[1]["file_ids"], json!([]));
    assert!(data[1]["metadata"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn create_with_a_bad_message_is_rejected_with_its_path() {
    let app = TestApp::spawn().await;
    app.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": ""}]}),
    )
    .await
    .bad("messages[1].content");
    app.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "ok", "file_ids": ["file-nope"]}]}),
    )
    .await
    .bad("messages[0].file_ids[0]");
    app.post(
        "/threads",
        json!({"messages": [{"role": "system", "content": "no"}]}),
    )
    .await
    .bad("messages[0].role");
    app.post("/threads", json!({"messages": [{"content": "no role"}]}))
        .await
        .bad("messages[0].role");
    app.stop().await;
}

#[tokio::test]
async fn modify_metadata_semantics() {
    let app = TestApp::spawn().await;
    let t = app
        .post("/threads", json!({"metadata": {"a": "1"}}))
        .await
        .ok();
    let tid = id_of(&t);
    // Absent: untouched.
    let m = app.post(&format!("/threads/{tid}"), json!({})).await.ok();
    assert_eq!(m, t);
    // Replaced.
    let m = app
        .post(&format!("/threads/{tid}"), json!({"metadata": {"b": "2"}}))
        .await
        .ok();
    assert_keys(&m, THREAD_KEYS);
    assert_eq!(m["metadata"], json!({"b": "2"}));
    assert_eq!(m["id"], t["id"]);
    assert_eq!(m["created_at"], t["created_at"]);
    assert_eq!(app.get(&format!("/threads/{tid}")).await.ok(), m);
    // Null clears.
    let m = app
        .post(&format!("/threads/{tid}"), json!({"metadata": null}))
        .await
        .ok();
    assert!(m["metadata"].is_null());
    assert!(app.get(&format!("/threads/{tid}")).await.ok()["metadata"].is_null());
    // Only metadata can be modified.
    app.post(&format!("/threads/{tid}"), json!({"messages": []}))
        .await
        .bad("messages");
    app.stop().await;
}

#[tokio::test]
async fn delete_removes_messages_and_runs() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let msg = app.message(&tid, "hello").await;
    let run = id_of(&app.run(&tid, &asst).await);
    let d = app.delete(&format!("/threads/{tid}")).await.ok();
    assert_deleted(&d, &tid, "thread.deleted");
    app.get(&format!("/threads/{tid}"))
        .await
        .not_found("thread", &tid);
    app.delete(&format!("/threads/{tid}"))
        .await
        .not_found("thread", &tid);
    app.post(&format!("/threads/{tid}"), json!({"metadata": {}}))
        .await
        .not_found("thread", &tid);
    for path in [
        format!("/threads/{tid}/messages"),
        format!("/threads/{tid}/messages/{msg}"),
        format!("/threads/{tid}/messages/{msg}/files"),
        format!("/threads/{tid}/runs"),
        format!("/threads/{tid}/runs/{run}"),
        format!("/threads/{tid}/runs/{run}/steps"),
    ] {
        app.get(&path).await.not_found("thread", &tid);
    }
    app.post(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "x"}),
    )
    .await
    .not_found("thread", &tid);
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst}),
    )
    .await
    .not_found("thread", &tid);
    app.post(&format!("/threads/{tid}/runs/{run}/cancel"), json!({}))
        .await
        .not_found("thread", &tid);
    // The assistant is untouched.
    app.get(&format!("/assistants/{asst}")).await.ok();
    app.stop().await;
}

#[tokio::test]
async fn unknown_thread_is_404_everywhere() {
    let app = TestApp::spawn().await;
    let id = "thread_doesnotexist";
    app.get(&format!("/threads/{id}"))
        .await
        .not_found("thread", id);
    app.post(&format!("/threads/{id}"), json!({"metadata": null}))
        .await
        .not_found("thread", id);
    app.delete(&format!("/threads/{id}"))
        .await
        .not_found("thread", id);
    app.stop().await;
}
