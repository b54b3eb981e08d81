//! Cursor pagination, the same on every list endpoint: `limit` (default 20, 1..=100), `order`
//! (default `desc`), `after`/`before` in both orders, `first_id`/`last_id`/`has_more`, and the
//! empty page the SDKs stop on.

use crate::common::*;
use serde_json::json;

/// Fetches `path` with `query` appended and checks the envelope; returns (ids, `has_more`).
async fn page(app: &TestApp, path: &str, query: &str) -> (Vec<String>, bool) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let v = app.get(&format!("{path}{sep}{query}")).await.ok();
    let ids = assert_list(&v);
    (ids, v["has_more"].as_bool().unwrap())
}

/// Exercises every pagination rule on `path`, whose objects are `asc` (oldest first).
async fn check_pagination(app: &TestApp, path: &str, asc: &[String]) {
    let n = asc.len();
    let desc: Vec<String> = asc.iter().rev().cloned().collect();

    // Defaults: newest first, 20 at most.
    let (got, more) = page(app, path, "").await;
    assert_eq!(got, desc[..n.min(20)], "{path}: default page");
    assert_eq!(more, n > 20, "{path}: default has_more");
    let (got, _) = page(app, path, "order=desc&limit=100").await;
    assert_eq!(got, desc, "{path}: desc");
    let (got, more) = page(app, path, "order=asc&limit=100").await;
    assert_eq!(got, asc, "{path}: asc");
    assert!(!more);

    for (order, expected) in [("asc", asc.to_vec()), ("desc", desc.clone())] {
        // `limit` alone.
        let (got, more) = page(app, path, &format!("order={order}&limit=1")).await;
        assert_eq!(got, expected[..1], "{path} {order} limit=1");
        assert_eq!(more, n > 1);

        for limit in [1usize, 3, 7] {
            // Forward with `after`, as the SDKs do: until an empty page.
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let q = match &cursor {
                    Some(c) => format!("order={order}&limit={limit}&after={c}"),
                    None => format!("order={order}&limit={limit}"),
                };
                let (got, more) = page(app, path, &q).await;
                if got.is_empty() {
                    assert!(!more);
                    break;
                }
                assert!(got.len() <= limit);
                seen.extend(got.iter().cloned());
                assert_eq!(
                    more,
                    seen.len() < n,
                    "{path} {order} limit={limit}: has_more after {} of {n}",
                    seen.len()
                );
                cursor = got.last().cloned();
                assert!(seen.len() <= n, "{path}: walked past the end");
            }
            assert_eq!(seen, expected, "{path} {order} limit={limit}: after-walk");

            // Backward with `before`, from the last object.
            let mut back: Vec<String> = vec![expected[n - 1].clone()];
            loop {
                let q = format!("order={order}&limit={limit}&before={}", back[0]);
                let (got, more) = page(app, path, &q).await;
                if got.is_empty() {
                    assert!(!more);
                    break;
                }
                assert!(got.len() <= limit);
                // The page is in the requested order and ends right before the cursor.
                let at = expected.iter().position(|i| *i == back[0]).unwrap();
                assert_eq!(got, expected[at - got.len()..at], "{path} {order} before");
                assert_eq!(more, at - got.len() > 0, "{path} {order} before has_more");
                let mut joined = got.clone();
                joined.extend(back);
                back = joined;
            }
            assert_eq!(back, expected, "{path} {order} limit={limit}: before-walk");
        }

        // The page after the last object is empty, with null cursors.
        let v = app
            .get(&format!(
                "{path}{}order={order}&after={}",
                if path.contains('?') { '&' } else { '?' },
                expected[n - 1]
            ))
            .await
            .ok();
        assert_eq!(assert_list(&v), Vec::<String>::new());
        assert!(v["first_id"].is_null() && v["last_id"].is_null());
        assert_eq!(v["has_more"], false);
        // And so is the page before the first.
        let (got, more) = page(app, path, &format!("order={order}&before={}", expected[0])).await;
        assert!(got.is_empty() && !more);

        // Both cursors bound a window.
        if n >= 5 {
            let q = format!("order={order}&after={}&before={}", expected[0], expected[4]);
            let (got, _) = page(app, path, &q).await;
            assert_eq!(got, expected[1..4], "{path} {order}: after+before window");
        }
    }

    // A cursor naming nothing gives an empty page.
    let (got, more) = page(app, path, "after=nope_123").await;
    assert!(got.is_empty() && !more);
}

#[tokio::test]
async fn assistants_pagination_with_25_objects() {
    let app = TestApp::spawn().await;
    let mut asc = Vec::new();
    for _ in 0..25 {
        asc.push(app.assistant().await);
    }
    check_pagination(&app, "/assistants", &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn same_second_objects_keep_creation_order() {
    let app = TestApp::spawn().await;
    let mut asc = Vec::new();
    for _ in 0..25 {
        asc.push(app.assistant().await);
    }
    // Force every timestamp equal: only the creation order can sort them.
    let db = app.db().await;
    db.exec("UPDATE assistants SET created_at = 1700000000", &[])
        .await;
    db.close().await;
    let (got, _) = page(&app, "/assistants", "order=asc&limit=100").await;
    assert_eq!(got, asc);
    let v = app.get("/assistants?limit=100").await.ok();
    for a in v["data"].as_array().unwrap() {
        assert_eq!(a["created_at"], 1_700_000_000);
    }
    check_pagination(&app, "/assistants", &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn messages_pagination() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let mut asc = Vec::new();
    for i in 0..25 {
        asc.push(app.message(&tid, &format!("m{i}")).await);
    }
    check_pagination(&app, &format!("/threads/{tid}/messages"), &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn messages_pagination_with_run_filter() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let mut asc = Vec::new();
    for i in 0..8 {
        let m = app.message(&tid, &format!("m{i}")).await;
        if i % 2 == 0 {
            asc.push(m);
        }
    }
    let rid = id_of(&app.run(&tid, &asst).await);
    let db = app.db().await;
    for m in &asc {
        db.exec(
            "UPDATE messages SET run_id = $1 WHERE id = $2",
            &[Arg::Text(&rid), Arg::Text(m)],
        )
        .await;
    }
    db.close().await;
    check_pagination(&app, &format!("/threads/{tid}/messages?run_id={rid}"), &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn runs_pagination() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let mut asc = Vec::new();
    for _ in 0..9 {
        let run = id_of(&app.run(&tid, &asst).await);
        app.cancel(&tid, &run).await;
        asc.push(run);
    }
    check_pagination(&app, &format!("/threads/{tid}/runs"), &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn assistant_files_pagination() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let mut asc = Vec::new();
    for _ in 0..12 {
        let f = app.file().await;
        app.post(&format!("/assistants/{asst}/files"), json!({"file_id": f}))
            .await
            .ok();
        asc.push(f);
    }
    check_pagination(&app, &format!("/assistants/{asst}/files"), &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn message_files_pagination() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let mut files = Vec::new();
    for _ in 0..10 {
        files.push(app.file().await);
    }
    let mid = id_of(
        &app.post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": files}),
        )
        .await
        .ok(),
    );
    check_pagination(
        &app,
        &format!("/threads/{tid}/messages/{mid}/files"),
        &files,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn run_steps_pagination() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let mut asc = Vec::new();
    for _ in 0..5 {
        let step = app.require_action(&tid, &rid, &[("f", "{}")]).await;
        let run = app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok();
        let call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"].clone();
        app.post(
            &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": call, "output": "ok"}]}),
        )
        .await
        .ok();
        asc.push(step);
    }
    check_pagination(&app, &format!("/threads/{tid}/runs/{rid}/steps"), &asc).await;
    app.stop().await;
}

#[tokio::test]
async fn default_limit_is_20_and_100_is_the_maximum() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    for i in 0..21 {
        app.message(&tid, &format!("{i}")).await;
    }
    let path = format!("/threads/{tid}/messages");
    let (got, more) = page(&app, &path, "").await;
    assert_eq!(got.len(), 20);
    assert!(more);
    let (got, more) = page(&app, &path, "limit=100").await;
    assert_eq!(got.len(), 21);
    assert!(!more);
    let (got, more) = page(&app, &path, "limit=20").await;
    assert_eq!(got.len(), 20);
    assert!(more);
    let (got, more) = page(&app, &path, "limit=21").await;
    assert_eq!(got.len(), 21);
    assert!(!more);
    app.stop().await;
}

#[tokio::test]
async fn bad_list_parameters_on_every_list_endpoint() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let f = app.file().await;
    let mid = id_of(
        &app.post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": [f]}),
        )
        .await
        .ok(),
    );
    let rid = id_of(&app.run(&tid, &asst).await);
    let paths = [
        "/assistants".to_owned(),
        format!("/assistants/{asst}/files"),
        format!("/threads/{tid}/messages"),
        format!("/threads/{tid}/messages/{mid}/files"),
        format!("/threads/{tid}/runs"),
        format!("/threads/{tid}/runs/{rid}/steps"),
    ];
    for path in &paths {
        for (q, param) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("limit=1.5", "limit"),
            ("limit=", "limit"),
            ("order=sideways", "order"),
            ("order=ASC", "order"),
            ("order=", "order"),
            ("after=", "after"),
            ("before=", "before"),
        ] {
            let e = app.get(&format!("{path}?{q}")).await.bad(param);
            assert!(
                e["message"].as_str().unwrap().contains(param),
                "{path}?{q}: {e}"
            );
        }
        for q in ["limit=1", "limit=100", "order=asc", "order=desc"] {
            app.get(&format!("{path}?{q}")).await.ok();
        }
    }
    // Unknown query parameters are ignored, as OpenAI does.
    app.get("/assistants?foo=bar").await.ok();
    app.stop().await;
}
