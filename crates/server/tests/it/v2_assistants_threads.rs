//! Assistants and threads through v2, and the same objects read through the other version.

use crate::common::{KEY_B, TestApp, assert_keys, id_of, ids};
use serde_json::json;

/// `AssistantObject` (v2).
const V2_ASSISTANT_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "tool_resources",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
];

/// `ThreadObject` (v2).
const V2_THREAD_KEYS: &[&str] = &["id", "object", "created_at", "tool_resources", "metadata"];

#[tokio::test]
async fn a_v2_assistant_is_shown_to_each_version_in_its_shape() {
    let app = TestApp::spawn().await;
    let file = app.file().await;
    let created = app
        .v2()
        .post(
            "/assistants",
            json!({
                "model": "gpt-4o",
                "tools": [
                    {"type": "code_interpreter"},
                    {"type": "file_search", "file_search": {"max_num_results": 7, "ranking_options": {"ranker": "auto", "score_threshold": 0.5}}},
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}}
                ],
                "tool_resources": {"code_interpreter": {"file_ids": [file]}},
                "reasoning_effort": "low",
            }),
        )
        .await
        .ok();
    assert_keys(&created, V2_ASSISTANT_KEYS);
    assert_eq!(created["tools"][1]["file_search"]["max_num_results"], 7);
    assert_eq!(created["tools"][2]["function"]["strict"], true);
    assert_eq!(
        created["tool_resources"],
        json!({"code_interpreter": {"file_ids": [file]}, "file_search": {"vector_store_ids": []}})
    );
    let id = id_of(&created);

    let v1 = app.get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(v1["file_ids"], json!([file]));
    assert!(v1.get("tool_resources").is_none(), "{v1}");
    assert_eq!(v1["tools"][1], json!({"type": "retrieval"}));
    assert!(v1["tools"][2]["function"].get("strict").is_none(), "{v1}");

    // A v1 modify keeps what v1 cannot see; the v2 view still has the options.
    app.post(&format!("/assistants/{id}"), json!({"name": "renamed"}))
        .await
        .ok();
    let again = app.v2().get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(again["name"], "renamed");
    assert_eq!(again["tools"], created["tools"]);

    // The list is v2 too.
    let list = app.v2().get("/assistants").await.ok();
    assert_keys(&list["data"][0], V2_ASSISTANT_KEYS);
}

#[tokio::test]
async fn a_v1_assistant_is_readable_through_v2() {
    let app = TestApp::spawn().await;
    let file = app.file().await;
    let created = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "tools": [{"type": "retrieval"}], "file_ids": [file]}),
        )
        .await
        .ok();
    let id = id_of(&created);
    let v2 = app.v2().get(&format!("/assistants/{id}")).await.ok();
    assert_keys(&v2, V2_ASSISTANT_KEYS);
    assert_eq!(v2["tools"], json!([{"type": "file_search"}]));
    assert_eq!(
        v2["tool_resources"]["code_interpreter"]["file_ids"],
        json!([file])
    );
    // The retrieval files went into a vector store of their own, as OpenAI's migration did.
    let stores = v2["tool_resources"]["file_search"]["vector_store_ids"].clone();
    assert_eq!(stores.as_array().map(Vec::len), Some(1), "{v2}");
    let store = stores[0].as_str().unwrap().to_owned();
    let files = app
        .v2()
        .get(&format!("/vector_stores/{store}/files"))
        .await
        .ok();
    assert_eq!(ids(&files), vec![file.clone()]);
    // Detaching the file through v1 empties the assistant's store, which goes with it.
    app.delete(&format!("/assistants/{id}/files/{file}"))
        .await
        .ok();
    let v2 = app.v2().get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(
        v2["tool_resources"]["file_search"]["vector_store_ids"],
        json!([])
    );
    app.v2()
        .get(&format!("/vector_stores/{store}"))
        .await
        .err(404);
    // v2 replaces the code_interpreter files; v1 sees the change.
    let other_file = app.file().await;
    app.v2()
        .post(
            &format!("/assistants/{id}"),
            json!({"tool_resources": {"code_interpreter": {"file_ids": [other_file]}}}),
        )
        .await
        .ok();
    let v1 = app.get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(v1["file_ids"], json!([other_file]));
}

#[tokio::test]
async fn fields_of_the_other_version_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let file = app.file().await;
    let err = app
        .v2()
        .post(
            "/assistants",
            json!({"model": "gpt-4o", "file_ids": [file]}),
        )
        .await
        .bad("file_ids");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request argument supplied: file_ids"),
        "{err}"
    );
    app.post(
        "/assistants",
        json!({"model": "gpt-4", "tool_resources": {"code_interpreter": {"file_ids": []}}}),
    )
    .await
    .bad("tool_resources");
    app.post(
        "/assistants",
        json!({"model": "gpt-4", "reasoning_effort": "low"}),
    )
    .await
    .bad("reasoning_effort");
    app.v2()
        .post(
            "/assistants",
            json!({"model": "gpt-4o", "tools": [{"type": "retrieval"}]}),
        )
        .await
        .bad("tools[0].type");
    app.post(
        "/assistants",
        json!({"model": "gpt-4", "tools": [{"type": "file_search"}]}),
    )
    .await
    .bad("tools[0].type");
    app.post(
        "/threads",
        json!({"tool_resources": {"code_interpreter": {"file_ids": []}}}),
    )
    .await
    .bad("tool_resources");
    // v2 limits.
    app.v2()
        .post(
            "/assistants",
            json!({"model": "gpt-4o", "tool_resources": {"file_search": {"vector_store_ids": ["vs_a", "vs_b"]}}}),
        )
        .await
        .bad("tool_resources.file_search.vector_store_ids");
    app.v2()
        .post(
            "/assistants",
            json!({"model": "gpt-4o", "tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]}),
        )
        .await
        .bad("tools[0].file_search.max_num_results");
    // Nothing was stored by any of these.
    assert_eq!(app.get("/assistants").await.ok()["data"], json!([]));
}

#[tokio::test]
async fn thread_tool_resources() {
    let app = TestApp::spawn().await;
    let (f1, f2) = (app.file().await, app.file().await);
    let created = app
        .v2()
        .post(
            "/threads",
            json!({"tool_resources": {"code_interpreter": {"file_ids": [f1]}}, "metadata": {"k": "v"}}),
        )
        .await
        .ok();
    assert_keys(&created, V2_THREAD_KEYS);
    assert_eq!(
        created["tool_resources"],
        json!({"code_interpreter": {"file_ids": [f1]}})
    );
    let id = id_of(&created);
    let v1 = app.get(&format!("/threads/{id}")).await.ok();
    assert!(v1.get("tool_resources").is_none(), "{v1}");
    let modified = app
        .v2()
        .post(
            &format!("/threads/{id}"),
            json!({"tool_resources": {"code_interpreter": {"file_ids": [f2]}}}),
        )
        .await
        .ok();
    assert_eq!(
        modified["tool_resources"],
        json!({"code_interpreter": {"file_ids": [f2]}})
    );
    assert_eq!(modified["metadata"], json!({"k": "v"}));
    // An empty thread shows `{}`.
    let empty = app.v2().post("/threads", json!({})).await.ok();
    assert_eq!(empty["tool_resources"], json!({}));
    // A file of another project cannot be given.
    let other = app.as_key(KEY_B).file().await;
    app.v2()
        .post(
            "/threads",
            json!({"tool_resources": {"code_interpreter": {"file_ids": [other]}}}),
        )
        .await
        .bad("tool_resources.code_interpreter.file_ids[0]");
}

#[tokio::test]
async fn a_store_made_with_its_owner_is_attached() {
    let app = TestApp::spawn().await;
    let (f1, f2) = (app.file().await, app.file().await);
    let created = app
        .v2()
        .post(
            "/assistants",
            json!({
                "model": "gpt-4o",
                "tools": [{"type": "file_search"}],
                "tool_resources": {
                    "code_interpreter": {"file_ids": [f1]},
                    "file_search": {"vector_stores": [{"file_ids": [f2], "chunking_strategy": {"type": "auto"}, "metadata": {"k": "v"}}]}
                },
            }),
        )
        .await
        .ok();
    let store = created["tool_resources"]["file_search"]["vector_store_ids"][0]
        .as_str()
        .expect("a store was made")
        .to_owned();
    let vs = app.v2().get(&format!("/vector_stores/{store}")).await.ok();
    assert_eq!(vs["metadata"], json!({"k": "v"}));
    assert_eq!(vs["file_counts"]["total"], 1);
    // v1 sees the assistant's own files (the store is v2's), in both of its views.
    let v1 = app
        .get(&format!("/assistants/{}", id_of(&created)))
        .await
        .ok();
    assert_eq!(v1["file_ids"], json!([f1]));
    let listed = app
        .get(&format!("/assistants/{}/files", id_of(&created)))
        .await
        .ok();
    assert_eq!(ids(&listed), vec![f1.clone()]);

    // The helper on a thread; a store that does not exist is refused by position.
    let thread = app
        .v2()
        .post(
            "/threads",
            json!({"tool_resources": {"file_search": {"vector_stores": [{"file_ids": [f1]}]}}}),
        )
        .await
        .ok();
    assert_eq!(
        thread["tool_resources"]["file_search"]["vector_store_ids"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    app.v2()
        .post(
            "/threads",
            json!({"tool_resources": {"file_search": {"vector_store_ids": ["vs_missing"]}}}),
        )
        .await
        .bad("tool_resources.file_search.vector_store_ids[0]");
    app.v2()
        .post(
            "/assistants",
            json!({"model": "gpt-4o", "tool_resources": {"file_search": {"vector_store_ids": [store], "vector_stores": [{"file_ids": []}]}}}),
        )
        .await
        .bad("tool_resources.file_search");
    // Modify may not make a store.
    app.v2()
        .post(
            &format!("/assistants/{}", id_of(&created)),
            json!({"tool_resources": {"file_search": {"vector_stores": [{"file_ids": [f1]}]}}}),
        )
        .await
        .bad("tool_resources.file_search.vector_stores");
}
