//! Vector stores over HTTP: the lifecycle with ingestion, counts that add up while files are
//! added concurrently, batch cancel, expiry, tenancy, file deletion, bad input, and the files
//! API as v2 SDKs use it.

use crate::common::{Arg, DELETED_KEYS, KEY_B, LIST_KEYS, TestApp, assert_keys, id_of, read};
use serde_json::{Value, json};
use std::time::Duration;

const STORE_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "name",
    "usage_bytes",
    "file_counts",
    "status",
    "expires_after",
    "expires_at",
    "last_active_at",
    "metadata",
];
const STORE_FILE_KEYS: &[&str] = &[
    "id",
    "object",
    "usage_bytes",
    "created_at",
    "vector_store_id",
    "status",
    "last_error",
    "chunking_strategy",
    "attributes",
];
const BATCH_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "vector_store_id",
    "status",
    "file_counts",
];

/// Asserts the counts add up, returning them.
#[track_caller]
fn counts(obj: &Value) -> [i64; 5] {
    let c = &obj["file_counts"];
    let n = |k: &str| c[k].as_i64().unwrap_or_else(|| panic!("{k} in {obj}"));
    let out = [
        n("in_progress"),
        n("completed"),
        n("failed"),
        n("cancelled"),
        n("total"),
    ];
    assert_eq!(
        out[0] + out[1] + out[2] + out[3],
        out[4],
        "counts add up: {c}"
    );
    out
}

/// Polls `path` until `done` holds (at most 10 s).
async fn poll(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let v = app.v2().get(path).await.ok();
        if done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} did not settle");
}

async fn no_ingest() -> TestApp {
    TestApp::builder()
        .with(|s| s.ingest_workers = 0)
        .spawn()
        .await
}

#[tokio::test]
async fn lifecycle_with_ingestion() {
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let f1 = v2.file().await;
    let f2 = v2.file().await;
    let vs = v2
        .post(
            "/vector_stores",
            json!({"file_ids": [f1], "expires_after": {"anchor": "last_active_at", "days": 7},
                   "chunking_strategy": {"type": "static", "static":
                       {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 200}},
                   "metadata": {"k": "v"}}),
        )
        .await
        .ok();
    assert_keys(&vs, STORE_KEYS);
    assert_eq!(vs["object"], "vector_store");
    assert_eq!(vs["name"], "", "an unnamed store shows an empty name");
    assert_eq!(vs["metadata"], json!({"k": "v"}));
    assert_eq!(
        vs["expires_at"].as_i64(),
        vs["last_active_at"].as_i64().map(|t| t + 7 * 86_400)
    );
    assert_eq!(counts(&vs)[4], 1);
    let id = id_of(&vs);
    let path = format!("/vector_stores/{id}");
    let done = poll(&app, &path, |v| v["status"] == "completed").await;
    assert_eq!(counts(&done), [0, 1, 0, 0, 1]);
    assert_eq!(done["usage_bytes"], 5, "the file's bytes (\"hello\")");

    // A file: added, polled (with the poller's header), its attributes updated.
    let vf = v2
        .post(
            &format!("{path}/files"),
            json!({"file_id": f2, "attributes": {"lang": "en", "n": 2, "draft": false}}),
        )
        .await
        .ok();
    assert_keys(&vf, STORE_FILE_KEYS);
    assert_eq!(vf["object"], "vector_store.file");
    assert_eq!(vf["id"], json!(f2));
    assert_eq!(vf["vector_store_id"], json!(id));
    assert_eq!(
        vf["chunking_strategy"],
        json!({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}})
    );
    let file_path = format!("{path}/files/{f2}");
    let got = app.v2().get(&file_path).await;
    assert_eq!(got.header("openai-poll-after-ms"), Some("100"));
    let vf = poll(&app, &file_path, |v| v["status"] == "completed").await;
    assert_eq!(vf["usage_bytes"], 5);
    assert!(vf["last_error"].is_null());
    let again = v2
        .post(&format!("{path}/files"), json!({"file_id": f2}))
        .await
        .ok();
    assert_eq!(again["status"], "completed", "added twice: the same entry");
    let updated = v2
        .post(&file_path, json!({"attributes": {"lang": "fr"}}))
        .await
        .ok();
    assert_eq!(updated["attributes"], json!({"lang": "fr"}));
    let listed = v2
        .get(&format!("{path}/files?filter=completed&order=asc"))
        .await
        .ok();
    assert_keys(&listed, LIST_KEYS);
    let listed_ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, vec![f1.as_str(), f2.as_str()]);
    let content = v2.get(&format!("{file_path}/content")).await.ok();
    assert_eq!(
        content,
        json!({"object": "vector_store.file_content.page",
               "data": [{"type": "text", "text": "hello"}], "has_more": false, "next_page": null})
    );

    // Search: validated whole, an empty page until search exists.
    let page = v2
        .post(
            &format!("{path}/search"),
            json!({"query": ["a", "b"], "max_num_results": 5, "rewrite_query": false,
                   "filters": {"type": "and", "filters": [
                       {"type": "eq", "key": "lang", "value": "fr"},
                       {"type": "in", "key": "n", "value": [1, 2]}]},
                   "ranking_options": {"ranker": "auto", "score_threshold": 0.5}}),
        )
        .await
        .ok();
    assert_eq!(
        page,
        json!({"object": "vector_store.search_results.page", "search_query": ["a", "b"],
               "data": [], "has_more": false, "next_page": null})
    );

    // Modify, list (under v1 too: the operations are new and clash with nothing), delete.
    let renamed = v2
        .post(&path, json!({"name": "docs", "expires_after": null}))
        .await
        .ok();
    assert_eq!(renamed["name"], "docs");
    assert!(renamed["expires_after"].is_null() && renamed["expires_at"].is_null());
    let all = app.get("/vector_stores").await.ok();
    assert_eq!(all["data"][0]["id"], json!(id));
    let del = v2.delete(&file_path).await.ok();
    assert_keys(&del, DELETED_KEYS);
    assert_eq!(del["object"], "vector_store.file.deleted");
    v2.get(&file_path).await.not_found("vector store file", &f2);
    let del = v2.delete(&path).await.ok();
    assert_eq!(del["object"], "vector_store.deleted");
    v2.get(&path).await.not_found("vector store", &id);
    // The files stay.
    v2.get(&format!("/files/{f1}")).await.ok();
}

#[tokio::test]
async fn counts_add_up_while_files_are_added_concurrently() {
    let app = TestApp::spawn().await;
    let vs = id_of(&app.v2().post("/vector_stores", json!({})).await.ok());
    let mut files = Vec::new();
    for _ in 0..12 {
        files.push(app.v2().file().await);
    }
    let path = format!("/vector_stores/{vs}");
    let app = &app;
    let adds = async {
        let calls = files.iter().map(|f| {
            let body = json!({"file_id": f});
            let path = format!("{path}/files");
            async move { app.v2().post(&path, body).await.ok() }
        });
        futures::future::join_all(calls).await
    };
    let reads = async {
        let mut seen = Vec::new();
        for _ in 0..30 {
            seen.push(counts(&app.v2().get(&path).await.ok()));
            let batch_reads = app.v2().get(&format!("{path}/files?limit=100")).await.ok();
            assert!(batch_reads["data"].as_array().unwrap().len() <= files.len());
        }
        seen
    };
    let (added, seen) = tokio::join!(adds, reads);
    assert_eq!(added.len(), files.len());
    assert!(
        seen.windows(2).all(|w| w[0][4] <= w[1][4]),
        "totals only grow: {seen:?}"
    );
    let done = poll(app, &path, |v| v["file_counts"]["completed"] == 12).await;
    assert_eq!(counts(&done), [0, 12, 0, 0, 12]);
    assert_eq!(done["usage_bytes"], 60);
}

#[tokio::test]
async fn batch_cancel_without_ingest_workers() {
    let app = no_ingest().await;
    let v2 = app.v2();
    let (f1, f2, f3) = (v2.file().await, v2.file().await, v2.file().await);
    let vs = id_of(&v2.post("/vector_stores", json!({"name": "b"})).await.ok());
    let batch = v2
        .post(
            &format!("/vector_stores/{vs}/file_batches"),
            json!({"files": [{"file_id": f1, "attributes": {"a": 1}}, {"file_id": f2}],
                   "attributes": {"b": true}}),
        )
        .await
        .ok();
    assert_keys(&batch, BATCH_KEYS);
    assert_eq!(batch["object"], "vector_store.files_batch");
    assert_eq!(batch["status"], "in_progress");
    assert_eq!(counts(&batch), [2, 0, 0, 0, 2]);
    let bpath = format!("/vector_stores/{vs}/file_batches/{}", id_of(&batch));
    let got = app.v2().get(&bpath).await;
    assert_eq!(got.header("openai-poll-after-ms"), Some("100"));
    let files = v2
        .get(&format!("{bpath}/files?filter=in_progress&order=asc"))
        .await
        .ok();
    assert_eq!(files["data"][0]["attributes"], json!({"a": 1}));
    assert_eq!(files["data"][1]["attributes"], json!({"b": true}));
    // A file outside the batch is not cancelled with it.
    v2.post(
        &format!("/vector_stores/{vs}/files"),
        json!({"file_id": f3}),
    )
    .await
    .ok();
    let store = v2.get(&format!("/vector_stores/{vs}")).await.ok();
    assert_eq!(store["status"], "in_progress");
    assert_eq!(counts(&store), [3, 0, 0, 0, 3]);

    let cancelled = v2.post(&format!("{bpath}/cancel"), json!({})).await.ok();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(counts(&cancelled), [0, 0, 0, 2, 2]);
    let store = v2.get(&format!("/vector_stores/{vs}")).await.ok();
    assert_eq!(counts(&store), [1, 0, 0, 2, 3]);
    let listed = v2
        .get(&format!("{bpath}/files?filter=cancelled"))
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert!(
        v2.get(&format!("{bpath}/files?filter=in_progress"))
            .await
            .ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let e = v2
        .post(&format!("{bpath}/cancel"), json!({}))
        .await
        .err(400);
    assert!(e["message"].as_str().unwrap().contains("cancelled"), "{e}");
    v2.get(&format!("/vector_stores/{vs}/file_batches/vsfb_nope"))
        .await
        .not_found("file batch", "vsfb_nope");
}

#[tokio::test]
async fn an_expired_store_says_so() {
    let app = TestApp::spawn().await;
    let vs = app
        .v2()
        .post(
            "/vector_stores",
            json!({"expires_after": {"anchor": "last_active_at", "days": 1}}),
        )
        .await
        .ok();
    assert_eq!(vs["status"], "completed");
    let id = id_of(&vs);
    // Two days without activity.
    let db = app.db().await;
    let back = crate::common::unix_now() - 2 * 86_400;
    db.exec(
        "UPDATE vector_stores SET last_active_at = $1, expires_at = $2 WHERE id = $3",
        &[Arg::Int(back), Arg::Int(back + 86_400), Arg::Text(&id)],
    )
    .await;
    db.close().await;
    let got = app.v2().get(&format!("/vector_stores/{id}")).await.ok();
    assert_eq!(got["status"], "expired");
    assert_eq!(got["expires_at"], json!(back + 86_400));
    // Searching an expired store does not bring it back.
    app.v2()
        .post(
            &format!("/vector_stores/{id}/search"),
            json!({"query": "x"}),
        )
        .await
        .ok();
    let got = app.v2().get(&format!("/vector_stores/{id}")).await.ok();
    assert_eq!(got["status"], "expired");
}

#[tokio::test]
async fn another_key_sees_no_store() {
    let app = TestApp::spawn().await;
    let f = app.v2().file().await;
    let vs = id_of(
        &app.v2()
            .post("/vector_stores", json!({"file_ids": [f]}))
            .await
            .ok(),
    );
    let b = app.as_key(KEY_B);
    b.get(&format!("/vector_stores/{vs}"))
        .await
        .not_found("vector store", &vs);
    b.get(&format!("/vector_stores/{vs}/files/{f}"))
        .await
        .not_found("vector store", &vs);
    b.post(&format!("/vector_stores/{vs}"), json!({"name": "x"}))
        .await
        .not_found("vector store", &vs);
    b.delete(&format!("/vector_stores/{vs}"))
        .await
        .not_found("vector store", &vs);
    assert!(
        b.get("/vector_stores").await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Nor can B put A's file into its own store.
    let mine = id_of(&b.post("/vector_stores", json!({})).await.ok());
    let e = b
        .post(
            &format!("/vector_stores/{mine}/files"),
            json!({"file_id": f}),
        )
        .await
        .bad("file_id");
    assert_eq!(e["message"], json!(format!("No file found with id '{f}'.")));
    app.v2().get(&format!("/vector_stores/{vs}")).await.ok();
}

#[tokio::test]
async fn deleting_a_file_updates_the_counts() {
    let app = TestApp::spawn().await;
    let (f1, f2) = (app.v2().file().await, app.v2().file().await);
    let vs = id_of(
        &app.v2()
            .post("/vector_stores", json!({"file_ids": [f1, f2]}))
            .await
            .ok(),
    );
    let path = format!("/vector_stores/{vs}");
    poll(&app, &path, |v| v["file_counts"]["completed"] == 2).await;
    app.delete(&format!("/files/{f1}")).await.ok();
    let after = app.v2().get(&path).await.ok();
    assert_eq!(counts(&after), [0, 1, 0, 0, 1]);
    assert_eq!(after["usage_bytes"], 5);
    app.v2()
        .get(&format!("{path}/files/{f1}"))
        .await
        .not_found("vector store file", &f1);
}

#[tokio::test]
async fn bad_input_is_refused_with_its_param() {
    let app = no_ingest().await;
    let v2 = app.v2();
    let f = v2.file().await;
    let vs = id_of(&v2.post("/vector_stores", json!({})).await.ok());
    let path = format!("/vector_stores/{vs}");
    let cases: Vec<(String, Value, &str)> = vec![
        ("/vector_stores".into(), json!({"bogus": 1}), "bogus"),
        (
            "/vector_stores".into(),
            json!({"expires_after": {"anchor": "last_active_at", "days": 0}}),
            "expires_after.days",
        ),
        (
            "/vector_stores".into(),
            json!({"expires_after": {"anchor": "created_at", "days": 3}}),
            "expires_after.anchor",
        ),
        (
            "/vector_stores".into(),
            json!({"file_ids": [f], "chunking_strategy": {"type": "static", "static":
                {"max_chunk_size_tokens": 1000, "chunk_overlap_tokens": 501}}}),
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        (
            "/vector_stores".into(),
            json!({"file_ids": [f], "chunking_strategy": {"type": "static", "static":
                {"max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}}}),
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            "/vector_stores".into(),
            json!({"file_ids": ["file-missing"]}),
            "file_ids[0]",
        ),
        (
            format!("{path}/files"),
            json!({"file_id": "file-missing"}),
            "file_id",
        ),
        (
            format!("{path}/files"),
            json!({"file_id": f, "attributes": (0..17).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
            "attributes",
        ),
        (
            format!("{path}/files"),
            json!({"file_id": f, "attributes": {"k": "x".repeat(513)}}),
            "attributes.k",
        ),
        (
            format!("{path}/file_batches"),
            json!({"file_ids": []}),
            "file_ids",
        ),
        (format!("{path}/file_batches"), json!({}), "file_ids"),
        (
            format!("{path}/file_batches"),
            json!({"files": [{"file_id": f}, {"file_id": "file-missing"}]}),
            "files[1].file_id",
        ),
        (format!("{path}/search"), json!({}), "query"),
        (
            format!("{path}/search"),
            json!({"query": "q", "max_num_results": 51}),
            "max_num_results",
        ),
        (
            format!("{path}/search"),
            json!({"query": "q", "filters": {"type": "or", "filters": [{"type": "like", "key": "a", "value": 1}]}}),
            "filters.filters[0].type",
        ),
        (
            format!("{path}/search"),
            json!({"query": "q", "ranking_options": {"score_threshold": 2}}),
            "ranking_options.score_threshold",
        ),
        (
            format!("{path}/search"),
            json!({"query": "q", "ranking_options": {"ranker": "best"}}),
            "ranking_options.ranker",
        ),
    ];
    for (p, body, param) in cases {
        let r = v2.post(&p, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{p} {body}: {}", r.json);
        r.bad(param);
    }
    v2.get(&format!("{path}/files?filter=done"))
        .await
        .bad("filter");
    v2.post(&format!("{path}/files/{f}"), json!({}))
        .await
        .bad("attributes");
    v2.get("/vector_stores/vs_nope")
        .await
        .not_found("vector store", "vs_nope");
    // Nothing was added by the refused requests.
    let store = v2.get(&path).await.ok();
    assert_eq!(counts(&store), [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn files_take_v2_purposes_and_expiry_without_the_header() {
    let app = TestApp::spawn().await;
    let upload = |fields: Vec<(&'static str, String)>| {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"data".to_vec()).file_name("d.txt"),
        );
        for (k, v) in fields {
            form = form.text(k, v);
        }
        app.http
            .post(app.url("/files"))
            .bearer_auth(&app.key)
            .multipart(form)
            .send()
    };
    for purpose in [
        "assistants",
        "batch",
        "fine-tune",
        "vision",
        "user_data",
        "evals",
    ] {
        let f = read(upload(vec![("purpose", purpose.into())]).await.unwrap())
            .await
            .ok();
        assert_eq!(f["purpose"], purpose);
        assert!(f["expires_at"].is_null());
    }
    let f = read(
        upload(vec![
            ("purpose", "user_data".into()),
            ("expires_after[anchor]", "created_at".into()),
            ("expires_after[seconds]", "3600".into()),
        ])
        .await
        .unwrap(),
    )
    .await
    .ok();
    assert_eq!(
        f["expires_at"],
        json!(f["created_at"].as_i64().unwrap() + 3600)
    );
    let got = app.get(&format!("/files/{}", id_of(&f))).await.ok();
    assert_eq!(got["expires_at"], f["expires_at"]);
    for (fields, param) in [
        (
            vec![
                ("purpose", "assistants".to_owned()),
                ("expires_after[anchor]", "created_at".to_owned()),
                ("expires_after[seconds]", "60".to_owned()),
            ],
            "expires_after.seconds",
        ),
        (
            vec![
                ("purpose", "assistants".to_owned()),
                ("expires_after[anchor]", "last_active_at".to_owned()),
                ("expires_after[seconds]", "3600".to_owned()),
            ],
            "expires_after.anchor",
        ),
        (
            vec![
                ("purpose", "assistants".to_owned()),
                ("expires_after[seconds]", "3600".to_owned()),
            ],
            "expires_after.anchor",
        ),
        (vec![("purpose", "answers".to_owned())], "purpose"),
    ] {
        read(upload(fields).await.unwrap()).await.bad(param);
    }
    // A store only takes `assistants` files.
    let data = read(upload(vec![("purpose", "user_data".into())]).await.unwrap())
        .await
        .ok();
    let vs = id_of(&app.v2().post("/vector_stores", json!({})).await.ok());
    app.v2()
        .post(
            &format!("/vector_stores/{vs}/files"),
            json!({"file_id": id_of(&data)}),
        )
        .await
        .bad("file_id");
}

/// A file of many overlapping chunks reads back, through its content page, as exactly the text
/// it was chunked from, one part per chunk's new text.
#[tokio::test]
async fn the_content_page_gives_back_the_extracted_text() {
    use std::fmt::Write;
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let mut text = String::new();
    for i in 0..400 {
        write!(text, "Sentence {i} says ünïcode things about boats. ").expect("a String takes it");
    }
    let f = id_of(
        &app.upload("long.md", text.clone().into_bytes(), "assistants")
            .await
            .ok(),
    );
    let vs = id_of(
        &v2.post(
            "/vector_stores",
            json!({"file_ids": [f], "chunking_strategy": {"type": "static",
                   "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50}}}),
        )
        .await
        .ok(),
    );
    let path = format!("/vector_stores/{vs}/files/{f}");
    poll(&app, &path, |v| v["status"] == "completed").await;
    let page = v2.get(&format!("{path}/content")).await.ok();
    let parts = page["data"].as_array().expect("data");
    assert!(parts.len() > 20, "one part per chunk: {}", parts.len());
    assert!(parts.iter().all(|p| p["type"] == "text"));
    let joined: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(joined, text);
    assert_eq!(page["has_more"], false);
}
