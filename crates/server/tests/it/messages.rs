//! Messages and message files (operations 14–19).

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn create_returns_the_full_message_object() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "How does AI work?", "metadata": {"k": "v"}}),
        )
        .await
        .ok();
    assert_keys(&m, MESSAGE_KEYS);
    assert_id(&m["id"], "msg_");
    assert_eq!(m["object"], "thread.message");
    assert_ts(&m["created_at"]);
    assert_eq!(m["thread_id"], json!(tid));
    assert_eq!(m["status"], "completed");
    assert!(m["incomplete_details"].is_null());
    assert!(m["incomplete_at"].is_null());
    assert!(m["completed_at"].is_null() || m["completed_at"].is_i64());
    assert_eq!(m["role"], "user");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": {"value": "How does AI work?", "annotations": []}}])
    );
    assert!(m["assistant_id"].is_null());
    assert!(m["run_id"].is_null());
    assert_eq!(m["file_ids"], json!([]));
    assert_eq!(m["metadata"], json!({"k": "v"}));
    let got = app
        .get(&format!("/threads/{tid}/messages/{}", id_of(&m)))
        .await
        .ok();
    assert_eq!(got, m);
    app.stop().await;
}

#[tokio::test]
async fn assistant_role_is_accepted() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "assistant", "content": "Hi, I'm your assistant."}),
        )
        .await
        .ok();
    assert_eq!(m["role"], "assistant");
    assert!(m["metadata"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn content_keeps_unicode_and_whitespace_exactly() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let text = "  Grüße 👋\n\ttabs \"quotes\" \\ backslash  ";
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": text}),
        )
        .await
        .ok();
    assert_eq!(m["content"][0]["text"]["value"], json!(text));
    app.stop().await;
}

#[tokio::test]
async fn modify_metadata_semantics() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "metadata": {"a": "1"}}),
        )
        .await
        .ok();
    let path = format!("/threads/{tid}/messages/{}", id_of(&m));
    assert_eq!(app.post(&path, json!({})).await.ok(), m);
    let changed = app.post(&path, json!({"metadata": {"b": "2"}})).await.ok();
    assert_keys(&changed, MESSAGE_KEYS);
    let mut expected = m.clone();
    expected["metadata"] = json!({"b": "2"});
    assert_eq!(changed, expected);
    assert_eq!(app.get(&path).await.ok(), expected);
    let cleared = app.post(&path, json!({"metadata": null})).await.ok();
    assert!(cleared["metadata"].is_null());
    assert!(app.get(&path).await.ok()["metadata"].is_null());
    // Content cannot be modified.
    app.post(&path, json!({"content": "new"}))
        .await
        .bad("content");
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_by_default() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let m1 = app.message(&tid, "one").await;
    let m2 = app.message(&tid, "two").await;
    let m3 = app.message(&tid, "three").await;
    let list = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert_eq!(assert_list(&list), vec![m3.clone(), m2.clone(), m1.clone()]);
    assert_eq!(list["has_more"], false);
    for m in list["data"].as_array().unwrap() {
        assert_keys(m, MESSAGE_KEYS);
    }
    let asc = app
        .get(&format!("/threads/{tid}/messages?order=asc"))
        .await
        .ok();
    assert_eq!(assert_list(&asc), vec![m1, m2, m3]);
    app.stop().await;
}

#[tokio::test]
async fn messages_of_another_thread_are_404() {
    let app = TestApp::spawn().await;
    let t1 = app.thread().await;
    let t2 = app.thread().await;
    let m = app.message(&t1, "in t1").await;
    app.get(&format!("/threads/{t2}/messages/{m}"))
        .await
        .not_found("message", &m);
    app.post(
        &format!("/threads/{t2}/messages/{m}"),
        json!({"metadata": {}}),
    )
    .await
    .not_found("message", &m);
    app.get(&format!("/threads/{t2}/messages/{m}/files"))
        .await
        .not_found("message", &m);
    let list = app.get(&format!("/threads/{t2}/messages")).await.ok();
    assert!(assert_list(&list).is_empty());
    app.get(&format!("/threads/{t1}/messages/msg_nope"))
        .await
        .not_found("message", "msg_nope");
    app.get(&format!("/threads/{t1}/messages/msg_nope/files/file-x"))
        .await
        .not_found("message", "msg_nope");
    app.stop().await;
}

#[tokio::test]
async fn message_files_list_and_get() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let f1 = app.file().await;
    let f2 = app.file().await;
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "see files", "file_ids": [f1, f2]}),
        )
        .await
        .ok();
    let mid = id_of(&m);
    assert_eq!(m["file_ids"], json!([f1, f2]));
    let list = app
        .get(&format!("/threads/{tid}/messages/{mid}/files"))
        .await
        .ok();
    assert_eq!(assert_list(&list), vec![f2.clone(), f1.clone()]);
    for mf in list["data"].as_array().unwrap() {
        assert_keys(mf, MESSAGE_FILE_KEYS);
        assert_eq!(mf["object"], "thread.message.file");
        assert_eq!(mf["message_id"], json!(mid));
        assert_ts(&mf["created_at"]);
    }
    let asc = app
        .get(&format!("/threads/{tid}/messages/{mid}/files?order=asc"))
        .await
        .ok();
    assert_eq!(assert_list(&asc), vec![f1.clone(), f2.clone()]);
    let one = app
        .get(&format!("/threads/{tid}/messages/{mid}/files/{f1}"))
        .await
        .ok();
    assert_keys(&one, MESSAGE_FILE_KEYS);
    assert_eq!(one["id"], json!(f1));
    assert_id(&one["id"], "file-");
    assert_eq!(one["message_id"], json!(mid));
    assert_eq!(one, asc["data"][0]);
    let other = app.file().await;
    app.get(&format!("/threads/{tid}/messages/{mid}/files/{other}"))
        .await
        .not_found("message file", &other);
    app.stop().await;
}

#[tokio::test]
async fn message_file_ids_must_exist_and_be_assistants_files() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let f = app.file().await;
    let e = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": [f, "file-nope"]}),
        )
        .await
        .bad("file_ids[1]");
    assert!(e["message"].as_str().unwrap().contains("file-nope"));
    let ft = id_of(
        &app.upload("t.jsonl", b"{}".to_vec(), "fine-tune")
            .await
            .ok(),
    );
    app.post(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "x", "file_ids": [ft]}),
    )
    .await
    .bad("file_ids[0]");
    // Nothing was added.
    let list = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert!(assert_list(&list).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn run_id_filter() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let user = app.message(&tid, "question").await;
    // The engine writes the reply during the run; stand in for it.
    let reply = app.message(&tid, "answer").await;
    let run = id_of(&app.run(&tid, &asst).await);
    let db = app.db().await;
    db.exec(
        "UPDATE messages SET role = 'assistant', run_id = $1, assistant_id = $2 WHERE id = $3",
        &[Arg::Text(&run), Arg::Text(&asst), Arg::Text(&reply)],
    )
    .await;
    db.close().await;
    let filtered = app
        .get(&format!("/threads/{tid}/messages?run_id={run}"))
        .await
        .ok();
    assert_eq!(assert_list(&filtered), vec![reply.clone()]);
    let m = &filtered["data"][0];
    assert_eq!(m["run_id"], json!(run));
    assert_eq!(m["assistant_id"], json!(asst));
    assert_eq!(m["role"], "assistant");
    let all = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert_eq!(assert_list(&all), vec![reply, user]);
    let none = app
        .get(&format!("/threads/{tid}/messages?run_id=run_other"))
        .await
        .ok();
    assert!(assert_list(&none).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn unknown_message_file_route_ids() {
    let app = TestApp::spawn().await;
    app.get("/threads/thread_nope/messages/msg_nope/files/file-nope")
        .await
        .not_found("thread", "thread_nope");
    app.get("/threads/thread_nope/messages/msg_nope")
        .await
        .not_found("thread", "thread_nope");
    app.stop().await;
}
