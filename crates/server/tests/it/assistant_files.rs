//! Assistant files: attach, retrieve, list, detach (operations 6–9).

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn attach_returns_an_assistant_file_whose_id_is_the_file_id() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let f = app.file().await;
    let af = app
        .post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
        .await
        .ok();
    assert_keys(&af, ASSISTANT_FILE_KEYS);
    assert_eq!(af["id"], json!(f));
    assert_id(&af["id"], "file-");
    assert_eq!(af["object"], "assistant.file");
    assert_eq!(af["assistant_id"], json!(asst));
    assert_ts(&af["created_at"]);
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!([f]));
    let got = app.get(&format!("/assistants/{asst}/files/{f}")).await.ok();
    assert_eq!(got, af);
    app.stop().await;
}

#[tokio::test]
async fn attaching_twice_is_idempotent() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let f = app.file().await;
    let first = app
        .post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
        .await
        .ok();
    let second = app
        .post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
        .await
        .ok();
    assert_eq!(first, second);
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!([f]));
    let list = app.get(&format!("/assistants/{asst}/files")).await.ok();
    assert_eq!(assert_list(&list), vec![f]);
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_with_full_objects() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let mut files = Vec::new();
    for _ in 0..3 {
        let f = app.file().await;
        app.post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
            .await
            .ok();
        files.push(f);
    }
    let list = app.get(&format!("/assistants/{asst}/files")).await.ok();
    let mut desc = files.clone();
    desc.reverse();
    assert_eq!(assert_list(&list), desc);
    for af in list["data"].as_array().unwrap() {
        assert_keys(af, ASSISTANT_FILE_KEYS);
        assert_eq!(af["object"], "assistant.file");
        assert_eq!(af["assistant_id"], json!(asst));
    }
    let asc = app
        .get(&format!("/assistants/{asst}/files?order=asc"))
        .await
        .ok();
    assert_eq!(assert_list(&asc), files);
    app.stop().await;
}

#[tokio::test]
async fn detach_keeps_the_file() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let f = app.file().await;
    app.post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
        .await
        .ok();
    let d = app
        .delete(&format!("/assistants/{asst}/files/{f}"))
        .await
        .ok();
    assert_deleted(&d, &f, "assistant.file.deleted");
    app.get(&format!("/assistants/{asst}/files/{f}"))
        .await
        .not_found("assistant file", &f);
    app.delete(&format!("/assistants/{asst}/files/{f}"))
        .await
        .not_found("assistant file", &f);
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!([]));
    let list = app.get(&format!("/assistants/{asst}/files")).await.ok();
    assert!(assert_list(&list).is_empty());
    let file = app.get(&format!("/files/{f}")).await.ok();
    assert_eq!(file["id"], json!(f));
    app.stop().await;
}

#[tokio::test]
async fn unknown_assistant_or_file() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let f = app.file().await;
    for (method, path) in [
        (reqwest::Method::GET, "/assistants/asst_nope/files"),
        (
            reqwest::Method::GET,
            &*format!("/assistants/asst_nope/files/{f}"),
        ),
        (
            reqwest::Method::DELETE,
            &*format!("/assistants/asst_nope/files/{f}"),
        ),
    ] {
        app.call(method, path, None)
            .await
            .not_found("assistant", "asst_nope");
    }
    app.post("/assistants/asst_nope/files", json!({"file_id": f}))
        .await
        .not_found("assistant", "asst_nope");
    // A file that exists but is not attached.
    app.get(&format!("/assistants/{asst}/files/{f}"))
        .await
        .not_found("assistant file", &f);
    app.get(&format!("/assistants/{asst}/files/file-nope"))
        .await
        .not_found("assistant file", "file-nope");
    app.stop().await;
}

#[tokio::test]
async fn attach_rejects_bad_files() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let e = app
        .post(
            &format!("/assistants/{asst}/files"),
            json!({"file_id": "file-nope"}),
        )
        .await
        .bad("file_id");
    assert!(e["message"].as_str().unwrap().contains("file-nope"), "{e}");
    let ft = id_of(
        &app.upload("train.jsonl", b"{}\n".to_vec(), "fine-tune")
            .await
            .ok(),
    );
    app.post(&format!("/assistants/{asst}/files"), json!({"file_id": ft}))
        .await
        .bad("file_id");
    app.post(&format!("/assistants/{asst}/files"), json!({}))
        .await
        .bad("file_id");
    app.post(&format!("/assistants/{asst}/files"), json!({"file_id": 7}))
        .await
        .bad("file_id");
    app.post(
        &format!("/assistants/{asst}/files"),
        json!({"file_id": "x", "extra": 1}),
    )
    .await
    .bad("extra");
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn at_most_twenty_files_per_assistant() {
    let app = TestApp::spawn().await;
    let mut files = Vec::new();
    for _ in 0..21 {
        files.push(app.file().await);
    }
    let asst = id_of(
        &app.post(
            "/assistants",
            json!({"model": "gpt-4", "file_ids": &files[..20]}),
        )
        .await
        .ok(),
    );
    let e = app
        .post(
            &format!("/assistants/{asst}/files"),
            json!({"file_id": files[20]}),
        )
        .await
        .bad("file_id");
    assert!(e["message"].as_str().unwrap().contains("20"), "{e}");
    // Re-attaching one that is already there is still fine.
    app.post(
        &format!("/assistants/{asst}/files"),
        json!({"file_id": files[0]}),
    )
    .await
    .ok();
    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!(&files[..20]));
    app.stop().await;
}
