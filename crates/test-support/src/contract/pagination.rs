//! Pagination: every list, with more objects than a page holds, checked against the same
//! rules.

use super::{
    assert_empty, assistant_req, call, ids, msg_with_files, new_assistant, new_run, new_thread,
    output, params, project_a, require_tool_outputs, upload, user_msg,
};
use assistd_core::{ListParams, Order, Page, Store, StoreResult};
use assistd_wire::HasId;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_pagination {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            pagination_assistants,
            pagination_messages,
            pagination_runs,
            pagination_run_steps,
            pagination_assistant_files,
            pagination_message_files,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_pagination as cases;

/// Checks every pagination rule on a list whose objects were created in the order `created`
/// (at least 10 of them). `list` runs the list operation with the given params.
async fn check_pagination<T, F, Fut>(what: &str, created: &[impl AsRef<str>], list: F)
where
    T: HasId + Debug,
    F: Fn(ListParams) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    let created: Vec<String> = created.iter().map(|id| id.as_ref().to_owned()).collect();
    let n = created.len();
    assert!(n >= 10, "check_pagination needs at least 10 objects");
    let page = |p: ListParams| {
        let fut = list(p.clone());
        async move {
            fut.await
                .unwrap_or_else(|e| panic!("{what}: listing with {p:?} failed: {e:?}"))
        }
    };
    for order in [Order::Desc, Order::Asc] {
        let expected: Vec<String> = match order {
            Order::Asc => created.clone(),
            Order::Desc => created.iter().rev().cloned().collect(),
        };
        let ctx = format!("{what} ({order:?})");

        // Walk forward with `after` until an empty page, as the SDKs do.
        let mut seen = Vec::new();
        let mut flags = Vec::new();
        let mut lens = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..=n {
            let p = page(params(10, order, after.as_deref(), None)).await;
            if p.data.is_empty() {
                assert!(!p.has_more, "{ctx}: empty page says has_more");
                break;
            }
            after = p.data.last().map(|o| o.id().to_owned());
            lens.push(p.data.len());
            flags.push(p.has_more);
            seen.extend(ids(&p));
        }
        assert_eq!(seen, expected, "{ctx}: walk with after/limit 10");
        let chunks: Vec<usize> = expected.chunks(10).map(<[String]>::len).collect();
        assert_eq!(lens, chunks, "{ctx}: page sizes");
        let mut want_flags = vec![true; chunks.len()];
        *want_flags.last_mut().unwrap() = false;
        assert_eq!(flags, want_flags, "{ctx}: has_more per page");
        if n == 25 {
            assert_eq!(lens, [10, 10, 5]);
            assert_eq!(flags, [true, true, false]);
        }

        // `after` every object.
        for k in 0..n {
            let p = page(params(10, order, Some(&expected[k]), None)).await;
            let end = n.min(k + 11);
            assert_eq!(ids(&p), expected[k + 1..end], "{ctx}: after #{k}");
            assert_eq!(p.has_more, k + 11 < n, "{ctx}: has_more after #{k}");
        }

        // `before` every object: the objects just preceding it in list order, in list order.
        for k in 0..n {
            let p = page(params(10, order, None, Some(&expected[k]))).await;
            let start = k.saturating_sub(10);
            assert_eq!(ids(&p), expected[start..k], "{ctx}: before #{k}");
            assert_eq!(p.has_more, k > 10, "{ctx}: has_more before #{k}");
        }

        // Both cursors: `before` wins, `after` is the far bound.
        let p = page(params(10, order, Some(&expected[2]), Some(&expected[8]))).await;
        assert_eq!(ids(&p), expected[3..8], "{ctx}: after #2 before #8");
        assert!(!p.has_more, "{ctx}: after #2 before #8 has_more");
        let p = page(params(2, order, Some(&expected[2]), Some(&expected[8]))).await;
        assert_eq!(ids(&p), expected[6..8], "{ctx}: after #2 before #8 limit 2");
        assert!(p.has_more, "{ctx}: after #2 before #8 limit 2 has_more");

        // Unknown cursors.
        for (a, b) in [(Some("nonexistent"), None), (None, Some("nonexistent"))] {
            let p = page(params(10, order, a, b)).await;
            assert!(p.data.is_empty(), "{ctx}: unknown cursor gave {p:?}");
            assert!(!p.has_more, "{ctx}: unknown cursor has_more");
        }

        // Limits at the edges.
        let p = page(params(1, order, None, None)).await;
        assert_eq!(ids(&p), expected[..1], "{ctx}: limit 1");
        assert!(p.has_more, "{ctx}: limit 1 has_more");
        let p = page(params(1, order, Some(&expected[n - 2]), None)).await;
        assert_eq!(ids(&p), expected[n - 1..], "{ctx}: limit 1 at the end");
        assert!(!p.has_more, "{ctx}: limit 1 at the end has_more");
        let p = page(params(100, order, None, None)).await;
        assert_eq!(ids(&p), expected, "{ctx}: limit 100");
        assert!(!p.has_more, "{ctx}: limit 100 has_more");
    }
}

/// Paging through 25 assistants created back to back.
pub async fn pagination_assistants(store: Arc<dyn Store>) {
    let p = project_a();
    let mut created = Vec::new();
    for i in 0..25 {
        let mut req = assistant_req("gpt-4-turbo");
        req.name = Some(format!("assistant {i}"));
        created.push(store.create_assistant(&p, req).await.unwrap().id);
    }
    let s = Arc::clone(&store);
    check_pagination("assistants", &created, |lp| {
        let (s, p) = (Arc::clone(&s), p.clone());
        async move { s.list_assistants(&p, &lp).await }
    })
    .await;
}

/// Paging through 25 messages; a cursor from another thread is unknown here.
pub async fn pagination_messages(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    let foreign = store
        .create_message(&p, &other, user_msg("elsewhere"))
        .await
        .unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let m = store
            .create_message(&p, &thread, user_msg(&format!("message {i}")))
            .await
            .unwrap();
        created.push(m.id);
    }
    let s = Arc::clone(&store);
    let t = thread.clone();
    check_pagination("messages", &created, |lp| {
        let (s, p, t) = (Arc::clone(&s), p.clone(), t.clone());
        async move { s.list_messages(&p, &t, &lp, None).await }
    })
    .await;
    for order in [Order::Asc, Order::Desc] {
        assert_empty(
            store
                .list_messages(
                    &p,
                    &thread,
                    &params(10, order, Some(foreign.id.as_str()), None),
                    None,
                )
                .await,
            "messages after another thread's message",
        );
        assert_empty(
            store
                .list_messages(
                    &p,
                    &thread,
                    &params(10, order, None, Some(foreign.id.as_str())),
                    None,
                )
                .await,
            "messages before another thread's message",
        );
    }
}

/// Paging through 25 runs of one thread.
pub async fn pagination_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..25 {
        let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
        // One active run per thread: end it before the next.
        store.cancel_run(&p, &thread, &run.id).await.unwrap();
        created.push(run.id);
    }
    let s = Arc::clone(&store);
    let t = thread.clone();
    check_pagination("runs", &created, |lp| {
        let (s, p, t) = (Arc::clone(&s), p.clone(), t.clone());
        async move { s.list_runs(&p, &t, &lp).await }
    })
    .await;
}

/// Paging through 25 steps of one run (25 rounds of tool calls).
pub async fn pagination_run_steps(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let (r, step) = require_tool_outputs(
            &store,
            &p,
            &run.id,
            vec![call("f", &format!("{{\"i\":{i}}}"))],
        )
        .await;
        let call_id = r.required_action.unwrap().submit_tool_outputs.tool_calls[0]
            .id
            .clone();
        store
            .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "ok")])
            .await
            .unwrap();
        created.push(step.id);
    }
    let s = Arc::clone(&store);
    let (t, r) = (thread.clone(), run.id.clone());
    check_pagination("run steps", &created, |lp| {
        let (s, p, t, r) = (Arc::clone(&s), p.clone(), t.clone(), r.clone());
        async move { s.list_run_steps(&p, &t, &r, &lp).await }
    })
    .await;
}

/// Paging through an assistant's 20 files (the maximum), attached one by one.
pub async fn pagination_assistant_files(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..20 {
        let f = upload(&store, &p, "assistants").await;
        store.create_assistant_file(&p, &asst, &f.id).await.unwrap();
        created.push(f.id);
    }
    let s = Arc::clone(&store);
    let a = asst.clone();
    check_pagination("assistant files", &created, |lp| {
        let (s, p, a) = (Arc::clone(&s), p.clone(), a.clone());
        async move { s.list_assistant_files(&p, &a, &lp).await }
    })
    .await;
}

/// Paging through a message's 10 files (the maximum).
pub async fn pagination_message_files(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let mut created = Vec::new();
    for _ in 0..10 {
        created.push(upload(&store, &p, "assistants").await.id.into_string());
    }
    let refs: Vec<&str> = created.iter().map(String::as_str).collect();
    let msg = store
        .create_message(&p, &thread, msg_with_files("ten files", &refs))
        .await
        .unwrap();
    assert_eq!(msg.file_ids, created);
    let s = Arc::clone(&store);
    let (t, m) = (thread.clone(), msg.id.clone());
    check_pagination("message files", &created, |lp| {
        let (s, p, t, m) = (Arc::clone(&s), p.clone(), t.clone(), m.clone());
        async move { s.list_message_files(&p, &t, &m, &lp).await }
    })
    .await;
}
