//! Files (operations 29–33) and how deleting a file detaches it everywhere.

use crate::common::*;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

#[tokio::test]
async fn upload_returns_the_file_object() {
    let app = TestApp::spawn().await;
    let bytes = b"The quick brown fox.\n".to_vec();
    let f = app
        .upload("fox.txt", bytes.clone(), "assistants")
        .await
        .ok();
    assert_keys(&f, FILE_KEYS);
    assert_id(&f["id"], "file-");
    assert_eq!(f["object"], "file");
    assert_eq!(f["bytes"], json!(bytes.len()));
    assert_eq!(f["filename"], "fox.txt");
    assert_eq!(f["purpose"], "assistants");
    assert!(
        ["uploaded", "processed"].contains(&f["status"].as_str().unwrap()),
        "{f}"
    );
    assert!(f["status_details"].is_null());
    assert_ts(&f["created_at"]);
    let got = app.get(&format!("/files/{}", id_of(&f))).await.ok();
    assert_eq!(got, f);
    let ft = app
        .upload("train.jsonl", b"{\"a\":1}\n".to_vec(), "fine-tune")
        .await
        .ok();
    assert_eq!(ft["purpose"], "fine-tune");
    app.stop().await;
}

#[tokio::test]
async fn download_returns_the_exact_bytes() {
    let app = TestApp::spawn().await;
    // Every byte value, not valid UTF-8, bigger than one read buffer.
    let bytes: Vec<u8> = (0..70_000u32)
        .map(|i| u8::try_from(i * 7 % 256).expect("below 256"))
        .collect();
    let f = app
        .upload("blob.bin", bytes.clone(), "assistants")
        .await
        .ok();
    assert_eq!(f["bytes"], json!(bytes.len()));
    let res = app.get(&format!("/files/{}/content", id_of(&f))).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.bytes, bytes);
    let empty = app.upload("empty.txt", Vec::new(), "assistants").await.ok();
    assert_eq!(empty["bytes"], 0);
    let res = app.get(&format!("/files/{}/content", id_of(&empty))).await;
    assert_eq!(res.status, 200);
    assert!(res.bytes.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_with_purpose_filter() {
    let app = TestApp::spawn().await;
    let a1 = app.file().await;
    let t1 = id_of(
        &app.upload("t.jsonl", b"{}".to_vec(), "fine-tune")
            .await
            .ok(),
    );
    let a2 = app.file().await;
    let list = app.get("/files").await.ok();
    // v2's paged list: v1's `{object, data}` and the cursor fields, which v1 SDKs ignore.
    assert_keys(&list, LIST_KEYS);
    assert_eq!(list["has_more"], false);
    assert_eq!(list["object"], "list");
    assert_eq!(ids(&list), vec![a2.clone(), t1.clone(), a1.clone()]);
    for f in list["data"].as_array().unwrap() {
        assert_keys(f, FILE_KEYS);
    }
    let only = app.get("/files?purpose=assistants").await.ok();
    assert_eq!(ids(&only), vec![a2, a1]);
    let ft = app.get("/files?purpose=fine-tune").await.ok();
    assert_eq!(ids(&ft), vec![t1]);
    let none = app.get("/files?purpose=assistants_output").await.ok();
    assert!(ids(&none).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn delete_then_404() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let d = app.delete(&format!("/files/{f}")).await.ok();
    assert_deleted(&d, &f, "file");
    app.get(&format!("/files/{f}")).await.not_found("file", &f);
    app.get(&format!("/files/{f}/content"))
        .await
        .not_found("file", &f);
    app.delete(&format!("/files/{f}"))
        .await
        .not_found("file", &f);
    assert!(ids(&app.get("/files").await.ok()).is_empty());
    // The bytes are gone too.
    assert!(
        files_under(&app.data_dir.join("files")).is_empty(),
        "{:?}",
        files_under(&app.data_dir.join("files"))
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_file_is_404() {
    let app = TestApp::spawn().await;
    for (m, p) in [
        (Method::GET, "/files/file-nope"),
        (Method::GET, "/files/file-nope/content"),
        (Method::DELETE, "/files/file-nope"),
    ] {
        app.call(m, p, None).await.not_found("file", "file-nope");
    }
    app.stop().await;
}

#[tokio::test]
async fn upload_requires_file_and_a_known_purpose() {
    let app = TestApp::spawn().await;
    let send = |form: Form| app.run_request(app.request(Method::POST, "/files").multipart(form));
    send(Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("a.txt")))
        .await
        .bad("purpose");
    send(
        Form::new()
            .text("purpose", "batch-of-nonsense")
            .part("file", Part::bytes(b"x".to_vec()).file_name("a.txt")),
    )
    .await
    .bad("purpose");
    // `assistants_output` and `fine-tune-results` are written by the platform, not uploaded.
    send(
        Form::new()
            .text("purpose", "assistants_output")
            .part("file", Part::bytes(b"x".to_vec()).file_name("a.txt")),
    )
    .await
    .bad("purpose");
    send(Form::new().text("purpose", "assistants"))
        .await
        .bad("file");
    // Not multipart at all.
    app.post("/files", json!({"purpose": "assistants"}))
        .await
        .err(400);
    // Nothing was stored.
    assert!(ids(&app.get("/files").await.ok()).is_empty());
    assert!(files_under(&app.data_dir.join("files")).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn rejected_multipart_uploads_leave_no_bytes() {
    let app = TestApp::spawn().await;
    let send = |form: Form| app.run_request(app.request(Method::POST, "/files").multipart(form));
    // An unknown field after the file was already stored.
    send(
        Form::new()
            .text("purpose", "assistants")
            .part("file", Part::bytes(vec![1u8; 4096]).file_name("a.bin"))
            .text("foo", "bar"),
    )
    .await
    .bad("foo");
    // Two files.
    send(
        Form::new()
            .text("purpose", "assistants")
            .part("file", Part::bytes(vec![2u8; 4096]).file_name("a.bin"))
            .part("file", Part::bytes(vec![3u8; 4096]).file_name("b.bin")),
    )
    .await
    .bad("file");
    // A bad purpose after the file.
    send(
        Form::new()
            .part("file", Part::bytes(vec![4u8; 4096]).file_name("a.bin"))
            .text("purpose", "nonsense"),
    )
    .await
    .bad("purpose");
    assert!(ids(&app.get("/files").await.ok()).is_empty());
    assert!(
        files_under(&app.data_dir.join("files")).is_empty(),
        "{:?}",
        files_under(&app.data_dir.join("files"))
    );
    app.stop().await;
}

#[tokio::test]
async fn download_headers() {
    let app = TestApp::spawn().await;
    let f = id_of(
        &app.upload("report.csv", b"a,b\n1,2\n".to_vec(), "assistants")
            .await
            .ok(),
    );
    let res = app.get(&format!("/files/{f}/content")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-length"), Some("8"));
    assert!(res.header("x-request-id").is_some());
    assert_eq!(res.bytes, b"a,b\n1,2\n");
    app.stop().await;
}

#[tokio::test]
async fn purpose_may_follow_the_file_part() {
    let app = TestApp::spawn().await;
    let form = Form::new()
        .part("file", Part::bytes(b"abc".to_vec()).file_name("late.txt"))
        .text("purpose", "assistants");
    let f = app
        .run_request(app.request(Method::POST, "/files").multipart(form))
        .await
        .ok();
    assert_eq!(f["filename"], "late.txt");
    assert_eq!(f["bytes"], 3);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_file_detaches_it_from_assistants_messages_and_runs() {
    let app = TestApp::spawn().await;
    let keep = app.file().await;
    let gone = app.file().await;
    let asst = id_of(
        &app.post(
            "/assistants",
            json!({"model": "gpt-4", "file_ids": [keep, gone]}),
        )
        .await
        .ok(),
    );
    let tid = app.thread().await;
    let msg = id_of(
        &app.post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": [gone, keep]}),
        )
        .await
        .ok(),
    );
    let run = app.run(&tid, &asst).await;
    assert_eq!(run["file_ids"], json!([keep, gone]));
    let rid = id_of(&run);

    app.delete(&format!("/files/{gone}")).await.ok();

    let a = app.get(&format!("/assistants/{asst}")).await.ok();
    assert_eq!(a["file_ids"], json!([keep]));
    let af = app.get(&format!("/assistants/{asst}/files")).await.ok();
    assert_eq!(assert_list(&af), vec![keep.clone()]);
    app.get(&format!("/assistants/{asst}/files/{gone}"))
        .await
        .not_found("assistant file", &gone);

    let m = app
        .get(&format!("/threads/{tid}/messages/{msg}"))
        .await
        .ok();
    assert_eq!(m["file_ids"], json!([keep]));
    let mf = app
        .get(&format!("/threads/{tid}/messages/{msg}/files"))
        .await
        .ok();
    assert_eq!(assert_list(&mf), vec![keep.clone()]);
    app.get(&format!("/threads/{tid}/messages/{msg}/files/{gone}"))
        .await
        .not_found("message file", &gone);

    let r = app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok();
    assert_eq!(r["file_ids"], json!([keep]));
    let listed = app.get(&format!("/threads/{tid}/runs")).await.ok();
    assert_eq!(listed["data"][0]["file_ids"], json!([keep]));
    app.stop().await;
}

#[tokio::test]
async fn filename_is_kept_verbatim() {
    let app = TestApp::spawn().await;
    let f = app
        .upload("Résumé (final) v2.pdf", b"%PDF".to_vec(), "assistants")
        .await
        .ok();
    assert_eq!(f["filename"], "Résumé (final) v2.pdf");
    app.stop().await;
}
