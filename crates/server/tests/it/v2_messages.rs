//! Messages in v2 over HTTP: part-array content, attachments (and their files in the thread's
//! vector store), delete, the views each version gets of what the other wrote, and bad input.

use crate::common::{DELETED_KEYS, MESSAGE_KEYS, TestApp, assert_keys, id_of};
use serde_json::{Value, json};

/// `MessageObject` as v2 shows it.
const V2_MESSAGE_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "thread_id",
    "status",
    "incomplete_details",
    "completed_at",
    "incomplete_at",
    "role",
    "content",
    "assistant_id",
    "run_id",
    "attachments",
    "metadata",
];

fn ids_of(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(id_of).collect()
}

#[tokio::test]
async fn part_array_content_in_both_views() {
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let image = v2.file().await;
    let thread = v2.thread().await;
    let msg = v2
        .post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                {"type": "image_file", "image_file": {"file_id": image, "detail": "high"}},
            ]}),
        )
        .await
        .ok();
    assert_keys(&msg, V2_MESSAGE_KEYS);
    assert_eq!(msg["attachments"], json!([]));
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": {"value": "look", "annotations": []}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
            {"type": "image_file", "image_file": {"file_id": image, "detail": "high"}},
        ])
    );
    let path = format!("/threads/{thread}/messages/{}", id_of(&msg));
    // v1 knows text and image files, without `detail`.
    let v1 = app.get(&path).await.ok();
    assert_keys(&v1, MESSAGE_KEYS);
    assert_eq!(
        v1["content"],
        json!([
            {"type": "text", "text": {"value": "look", "annotations": []}},
            {"type": "image_file", "image_file": {"file_id": image}},
        ])
    );
    assert_eq!(v1["file_ids"], json!([]));
    // Lists render the same views (SQLite builds their pages in SQL).
    let listed = v2.get(&format!("/threads/{thread}/messages")).await.ok();
    assert_eq!(listed["data"][0], msg);
    let listed = app.get(&format!("/threads/{thread}/messages")).await.ok();
    assert_eq!(listed["data"][0], v1);
}

#[tokio::test]
async fn attachments_reach_the_threads_vector_store() {
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let (f1, f2, f3) = (v2.file().await, v2.file().await, v2.file().await);
    let thread = v2.thread().await;
    let msg = v2
        .post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "user", "content": "see files", "attachments": [
                {"file_id": f1, "tools": [{"type": "file_search"}]},
                {"file_id": f2, "tools": [{"type": "code_interpreter"}]},
                {"file_id": f1, "tools": [{"type": "code_interpreter"}]},
            ]}),
        )
        .await
        .ok();
    assert_eq!(msg["attachments"][0]["file_id"], json!(f1));
    assert_eq!(msg["attachments"].as_array().unwrap().len(), 3);
    // v1 sees the distinct files.
    let v1 = app
        .get(&format!("/threads/{thread}/messages/{}", id_of(&msg)))
        .await
        .ok();
    assert_eq!(v1["file_ids"], json!([f1, f2]));
    assert!(v1.get("attachments").is_none());

    // The thread got a store (unnamed, expiring 7 days after its last activity) with only the
    // file_search file.
    let stores = v2.get("/vector_stores").await.ok();
    assert_eq!(stores["data"].as_array().unwrap().len(), 1);
    let store = &stores["data"][0];
    assert_eq!(store["name"], "");
    assert_eq!(
        store["expires_after"],
        json!({"anchor": "last_active_at", "days": 7})
    );
    let vs = id_of(store);
    let files = v2
        .get(&format!("/vector_stores/{vs}/files?order=asc"))
        .await
        .ok();
    assert_eq!(ids_of(&files), vec![f1.clone()]);

    // A later message adds to the same store, and so does a v1 message's file (v1 files served
    // both tools).
    v2.post(
        &format!("/threads/{thread}/messages"),
        json!({"role": "user", "content": "more", "attachments": [
            {"file_id": f2, "tools": [{"type": "file_search"}]}]}),
    )
    .await
    .ok();
    app.post(
        &format!("/threads/{thread}/messages"),
        json!({"role": "user", "content": "v1", "file_ids": [f3]}),
    )
    .await
    .ok();
    assert_eq!(
        v2.get("/vector_stores").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let files = v2
        .get(&format!("/vector_stores/{vs}/files?order=asc"))
        .await
        .ok();
    assert_eq!(ids_of(&files), vec![f1, f2, f3]);
}

#[tokio::test]
async fn each_version_reads_what_the_other_wrote() {
    let app = TestApp::spawn().await;
    let f = app.v2().file().await;
    let thread = app.v2().thread().await;
    let written_v1 = app
        .post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "user", "content": "from v1", "file_ids": [f]}),
        )
        .await
        .ok();
    assert_keys(&written_v1, MESSAGE_KEYS);
    let read_v2 = app
        .v2()
        .get(&format!(
            "/threads/{thread}/messages/{}",
            id_of(&written_v1)
        ))
        .await
        .ok();
    assert_keys(&read_v2, V2_MESSAGE_KEYS);
    assert_eq!(
        read_v2["attachments"],
        json!([{"file_id": f, "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]}])
    );
    assert_eq!(read_v2["content"], written_v1["content"]);

    let written_v2 = app
        .v2()
        .post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "assistant", "content": "from v2", "metadata": {"k": "v"}}),
        )
        .await
        .ok();
    let read_v1 = app
        .get(&format!(
            "/threads/{thread}/messages/{}",
            id_of(&written_v2)
        ))
        .await
        .ok();
    assert_keys(&read_v1, MESSAGE_KEYS);
    assert_eq!(read_v1["file_ids"], json!([]));
    assert_eq!(read_v1["role"], "assistant");
    assert_eq!(read_v1["metadata"], json!({"k": "v"}));
}

#[tokio::test]
async fn delete_message() {
    let app = TestApp::spawn().await;
    let f = app.v2().file().await;
    let thread = app.v2().thread().await;
    let m1 = app.message(&thread, "one").await;
    let m2 = id_of(
        &app.v2()
            .post(
                &format!("/threads/{thread}/messages"),
                json!({"role": "user", "content": "two", "attachments": [
                    {"file_id": f, "tools": [{"type": "code_interpreter"}]}]}),
            )
            .await
            .ok(),
    );
    let path = format!("/threads/{thread}/messages/{m2}");
    let del = app.v2().delete(&path).await.ok();
    assert_keys(&del, DELETED_KEYS);
    assert_eq!(
        del,
        json!({"id": m2, "object": "thread.message.deleted", "deleted": true})
    );
    app.v2().get(&path).await.not_found("message", &m2);
    app.v2().delete(&path).await.not_found("message", &m2);
    let listed = app
        .v2()
        .get(&format!("/threads/{thread}/messages"))
        .await
        .ok();
    assert_eq!(ids_of(&listed), vec![m1.clone()]);
    // The file stays.
    app.get(&format!("/files/{f}")).await.ok();
    // Served under v1 too (a new operation), and scoped to the project.
    app.as_key(crate::common::KEY_B)
        .delete(&format!("/threads/{thread}/messages/{m1}"))
        .await
        .not_found("thread", &thread);
    app.delete(&format!("/threads/{thread}/messages/{m1}"))
        .await
        .ok();
    app.delete(&format!("/threads/thread_nope/messages/{m1}"))
        .await
        .not_found("thread", "thread_nope");
}

#[tokio::test]
async fn bad_message_input() {
    let app = TestApp::spawn().await;
    let f = app.v2().file().await;
    let thread = app.v2().thread().await;
    let path = format!("/threads/{thread}/messages");
    let e = app
        .post(
            &path,
            json!({"role": "user", "content": "x", "attachments": [{"file_id": f}]}),
        )
        .await
        .bad("attachments");
    assert!(
        e["message"].as_str().unwrap().contains("assistants=v2"),
        "{e}"
    );
    app.v2()
        .post(
            &path,
            json!({"role": "user", "content": "x", "file_ids": [f]}),
        )
        .await
        .bad("file_ids");
    app.post(
        &path,
        json!({"role": "user", "content": [{"type": "text", "text": "x"}]}),
    )
    .await
    .bad("content");
    let v2 = app.v2();
    for (body, param) in [
        (json!({"role": "user", "content": []}), "content"),
        (
            json!({"role": "user", "content": [{"type": "text", "text": ""}]}),
            "content[0].text",
        ),
        (
            json!({"role": "user", "content": [{"type": "video", "video": {}}]}),
            "content[0]",
        ),
        (
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}),
            "content[0].image_url.url",
        ),
        (
            // serde reads a tagged part whole: the path stops at the part.
            json!({"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": f, "detail": "huge"}}]}),
            "content[0]",
        ),
        (
            json!({"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": "file-nope"}}]}),
            "content[0].image_file.file_id",
        ),
        (
            json!({"role": "user", "content": "x", "attachments": [{"file_id": "file-nope", "tools": []}]}),
            "attachments[0].file_id",
        ),
        (
            json!({"role": "user", "content": "x", "attachments": [{"file_id": f, "tools": [{"type": "retrieval"}]}]}),
            "attachments[0].tools[0]",
        ),
        (
            json!({"role": "user", "content": "x", "attachments":
                (0..21).map(|_| json!({"file_id": f})).collect::<Vec<_>>()}),
            "attachments",
        ),
    ] {
        let r = v2.post(&path, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", r.json);
        let e = r.err(400);
        assert!(
            e["param"].as_str().is_some_and(|p| p.starts_with(param)),
            "{body}: {e}"
        );
    }
    // Nothing was written by the refused requests.
    assert!(
        v2.get(&path).await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        v2.get("/vector_stores").await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_new_threads_message_attachments_reach_its_store() {
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let f = v2.file().await;
    let thread = v2
        .post(
            "/threads",
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}],
                "attachments": [{"file_id": f, "tools": [{"type": "file_search"}]}]}]}),
        )
        .await
        .ok();
    let msgs = v2
        .get(&format!("/threads/{}/messages", id_of(&thread)))
        .await
        .ok();
    assert_eq!(
        msgs["data"][0]["attachments"],
        json!([{"file_id": f, "tools": [{"type": "file_search"}]}])
    );
    let stores = v2.get("/vector_stores").await.ok();
    let vs = id_of(&stores["data"][0]);
    // Ingested by the loop's poll even though nothing woke it.
    let mut status = Value::Null;
    for _ in 0..100 {
        status = v2.get(&format!("/vector_stores/{vs}/files/{f}")).await.ok()["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    // A bad attachment in a new thread's message names its path.
    v2.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "x",
            "attachments": [{"file_id": "file-nope"}]}]}),
    )
    .await
    .bad("messages[0].attachments[0].file_id");
}
