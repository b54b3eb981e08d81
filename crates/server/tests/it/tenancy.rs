//! Projects are isolated: with `KEY_B`, everything of `KEY_A`'s project does not exist.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

struct World {
    asst: String,
    file: String,
    thread: String,
    msg: String,
    run: String,
    step: String,
}

async fn world_of_a(app: &TestApp) -> World {
    let file = app.file().await;
    let asst = id_of(
        &app.post("/assistants", json!({"model": "gpt-4", "file_ids": [file]}))
            .await
            .ok(),
    );
    let thread = app.thread().await;
    let msg = id_of(
        &app.post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "user", "content": "secret", "file_ids": [file]}),
        )
        .await
        .ok(),
    );
    let run = id_of(&app.run(&thread, &asst).await);
    let step = app.require_action(&thread, &run, &[("f", "{}")]).await;
    World {
        asst,
        file,
        thread,
        msg,
        run,
        step,
    }
}

#[tokio::test]
#[expect(
    clippy::many_single_char_names,
    reason = "`w` (project A's world) and `b` (the key-B client) recur in every one of the many requests below"
)]
async fn every_object_of_another_project_is_404() {
    let app = TestApp::spawn().await;
    let w = world_of_a(&app).await;
    let b = app.as_key(KEY_B);
    let (asst, file, thread, msg, run, step) = (
        w.asst.as_str(),
        w.file.as_str(),
        w.thread.as_str(),
        w.msg.as_str(),
        w.run.as_str(),
        w.step.as_str(),
    );
    let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
        (
            Method::GET,
            format!("/assistants/{asst}"),
            None,
            "assistant",
            asst,
        ),
        (
            Method::POST,
            format!("/assistants/{asst}"),
            Some(json!({"name": "pwned"})),
            "assistant",
            asst,
        ),
        (
            Method::DELETE,
            format!("/assistants/{asst}"),
            None,
            "assistant",
            asst,
        ),
        (
            Method::GET,
            format!("/assistants/{asst}/files"),
            None,
            "assistant",
            asst,
        ),
        (
            Method::POST,
            format!("/assistants/{asst}/files"),
            Some(json!({"file_id": file})),
            "assistant",
            asst,
        ),
        (
            Method::GET,
            format!("/assistants/{asst}/files/{file}"),
            None,
            "assistant",
            asst,
        ),
        (
            Method::DELETE,
            format!("/assistants/{asst}/files/{file}"),
            None,
            "assistant",
            asst,
        ),
        (
            Method::GET,
            format!("/threads/{thread}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}"),
            Some(json!({"metadata": {"x": "y"}})),
            "thread",
            thread,
        ),
        (
            Method::DELETE,
            format!("/threads/{thread}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/messages"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/messages"),
            Some(json!({"role": "user", "content": "x"})),
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/messages/{msg}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/messages/{msg}"),
            Some(json!({"metadata": null})),
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/messages/{msg}/files"),
            None,
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/messages/{msg}/files/{file}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/runs"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/runs"),
            Some(json!({"assistant_id": asst})),
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/runs/{run}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/runs/{run}"),
            Some(json!({"metadata": null})),
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/runs/{run}/cancel"),
            Some(json!({})),
            "thread",
            thread,
        ),
        (
            Method::POST,
            format!("/threads/{thread}/runs/{run}/submit_tool_outputs"),
            Some(json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "x"}]})),
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/runs/{run}/steps"),
            None,
            "thread",
            thread,
        ),
        (
            Method::GET,
            format!("/threads/{thread}/runs/{run}/steps/{step}"),
            None,
            "thread",
            thread,
        ),
        (
            Method::POST,
            "/threads/runs".to_owned(),
            Some(json!({"assistant_id": asst})),
            "assistant",
            asst,
        ),
        (Method::GET, format!("/files/{file}"), None, "file", file),
        (
            Method::GET,
            format!("/files/{file}/content"),
            None,
            "file",
            file,
        ),
        (Method::DELETE, format!("/files/{file}"), None, "file", file),
    ];
    for (method, path, body, kind, id) in cases {
        b.call(method, &path, body).await.not_found(kind, id);
    }

    // B's own objects cannot reach A's either.
    let b_asst = b.assistant().await;
    let b_thread = b.thread().await;
    b.post(
        &format!("/assistants/{b_asst}/files"),
        json!({"file_id": file}),
    )
    .await
    .bad("file_id");
    b.post("/assistants", json!({"model": "gpt-4", "file_ids": [file]}))
        .await
        .bad("file_ids[0]");
    b.post(
        &format!("/assistants/{b_asst}"),
        json!({"file_ids": [file]}),
    )
    .await
    .bad("file_ids[0]");
    b.post(
        &format!("/threads/{b_thread}/messages"),
        json!({"role": "user", "content": "x", "file_ids": [file]}),
    )
    .await
    .bad("file_ids[0]");
    b.post(
        &format!("/threads/{b_thread}/runs"),
        json!({"assistant_id": asst}),
    )
    .await
    .not_found("assistant", asst);
    // A's ids under B's parents.
    b.get(&format!("/threads/{b_thread}/messages/{msg}"))
        .await
        .not_found("message", msg);
    b.get(&format!("/threads/{b_thread}/runs/{run}"))
        .await
        .not_found("run", run);
    b.get(&format!("/assistants/{b_asst}/files/{file}"))
        .await
        .not_found("assistant file", file);

    // A's world is untouched.
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert!(a["name"].is_null());
    assert_eq!(a["file_ids"], json!([file]));
    let t = app.get(&format!("/threads/{thread}")).await.ok();
    assert!(t["metadata"].is_null());
    let msgs = app.get(&format!("/threads/{thread}/messages")).await.ok();
    assert_eq!(assert_list(&msgs), vec![msg.to_owned()]);
    let r = app.get(&format!("/threads/{thread}/runs/{run}")).await.ok();
    assert_eq!(r["status"], "requires_action");
    app.get(&format!("/files/{file}")).await.ok();
    app.stop().await;
}

#[tokio::test]
async fn lists_only_show_the_callers_objects() {
    let app = TestApp::spawn().await;
    let w = world_of_a(&app).await;
    let b = app.as_key(KEY_B);
    let b_asst = b.assistant().await;
    let b_file = b.file().await;
    let list = b.get("/assistants").await.ok();
    assert_eq!(assert_list(&list), vec![b_asst.clone()]);
    let files = b.get("/files").await.ok();
    assert_eq!(ids(&files), vec![b_file.clone()]);
    let files = b.get("/files?purpose=assistants").await.ok();
    assert_eq!(ids(&files), vec![b_file.clone()]);
    // A cursor from another project is unknown.
    let page = b.get(&format!("/assistants?after={}", w.asst)).await.ok();
    assert!(assert_list(&page).is_empty());
    // And A's lists do not show B's objects.
    let a_list = app.get("/assistants").await.ok();
    assert_eq!(assert_list(&a_list), vec![w.asst.clone()]);
    assert_eq!(ids(&app.get("/files").await.ok()), vec![w.file.clone()]);
    app.stop().await;
}

#[tokio::test]
async fn each_project_sees_its_own_copy_of_the_world() {
    // The same operations under both keys produce disjoint objects.
    let app = TestApp::spawn().await;
    let b = app.as_key(KEY_B);
    let a_thread = app.thread().await;
    let b_thread = b.thread().await;
    app.message(&a_thread, "from a").await;
    b.post(
        &format!("/threads/{b_thread}/messages"),
        json!({"role": "user", "content": "from b"}),
    )
    .await
    .ok();
    let a_msgs = app.get(&format!("/threads/{a_thread}/messages")).await.ok();
    let b_msgs = b.get(&format!("/threads/{b_thread}/messages")).await.ok();
    assert_eq!(a_msgs["data"][0]["content"][0]["text"]["value"], "from a");
    assert_eq!(b_msgs["data"][0]["content"][0]["text"]["value"], "from b");
    assert_eq!(assert_list(&a_msgs).len(), 1);
    assert_eq!(assert_list(&b_msgs).len(), 1);
    app.stop().await;
}
