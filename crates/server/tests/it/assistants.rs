//! Assistants: create, retrieve, modify, delete, list (operations 1–5).

use crate::common::*;
use serde_json::{Value, json};

fn full_request(file_ids: &[String]) -> Value {
    json!({
        "model": "gpt-4-turbo",
        "name": "Math tutor",
        "description": "Helps with algebra",
        "instructions": "You are a personal math tutor.",
        "tools": [
            {"type": "code_interpreter"},
            {"type": "retrieval"},
            {"type": "function", "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            }}
        ],
        "file_ids": file_ids,
        "metadata": {"team": "math", "level": "2"},
        "temperature": 0.7,
        "top_p": 0.9,
        "response_format": {"type": "json_object"}
    })
}

#[tokio::test]
async fn create_echoes_every_field() {
    let app = TestApp::spawn().await;
    let f1 = app.file().await;
    let f2 = app.file().await;
    let req = full_request(std::slice::from_ref(&f1));
    let a = app.post("/assistants", req.clone()).await.ok();
    assert_keys(&a, ASSISTANT_KEYS);
    assert_id(&a["id"], "asst_");
    assert_eq!(a["object"], "assistant");
    assert_ts(&a["created_at"]);
    for field in [
        "model",
        "name",
        "description",
        "instructions",
        "tools",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    ] {
        assert_eq!(a[field], req[field], "field {field}");
    }
    assert_eq!(a["file_ids"], json!([f1]));
    // Unattached files are not mentioned.
    assert!(!a.to_string().contains(&f2));
    app.stop().await;
}

#[tokio::test]
async fn create_minimal_sets_nullable_fields_to_null() {
    let app = TestApp::spawn().await;
    let a = app
        .post("/assistants", json!({"model": "gpt-3.5-turbo"}))
        .await
        .ok();
    assert_keys(&a, ASSISTANT_KEYS);
    assert_eq!(a["model"], "gpt-3.5-turbo");
    for field in ["name", "description", "instructions", "metadata"] {
        assert!(a[field].is_null(), "{field} should be null: {a}");
    }
    assert_eq!(a["tools"], json!([]));
    assert_eq!(a["file_ids"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn explicit_nulls_on_create_are_accepted() {
    let app = TestApp::spawn().await;
    let a = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "name": null, "description": null, "instructions": null,
                   "metadata": null, "temperature": null, "top_p": null}),
        )
        .await
        .ok();
    for field in [
        "name",
        "description",
        "instructions",
        "metadata",
        "temperature",
        "top_p",
    ] {
        assert!(a[field].is_null(), "{field}: {a}");
    }
    app.stop().await;
}

#[tokio::test]
async fn any_model_string_is_accepted() {
    let app = TestApp::spawn().await;
    let a = app
        .post("/assistants", json!({"model": "llama3:8b-instruct"}))
        .await
        .ok();
    assert_eq!(a["model"], "llama3:8b-instruct");
    app.stop().await;
}

#[tokio::test]
async fn response_format_forms_are_echoed() {
    let app = TestApp::spawn().await;
    for rf in [
        json!("auto"),
        json!("none"),
        json!({"type": "text"}),
        json!({"type": "json_object"}),
    ] {
        let a = app
            .post(
                "/assistants",
                json!({"model": "gpt-4", "response_format": rf.clone()}),
            )
            .await
            .ok();
        assert_eq!(a["response_format"], rf);
        let got = app.get(&format!("/assistants/{}", id_of(&a))).await.ok();
        assert_eq!(got["response_format"], rf);
    }
    app.stop().await;
}

#[tokio::test]
async fn file_ids_are_in_file_creation_order() {
    let app = TestApp::spawn().await;
    let f1 = app.file().await;
    let f2 = app.file().await;
    let f3 = app.file().await;
    let a = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "file_ids": [f3, f1, f2]}),
        )
        .await
        .ok();
    assert_eq!(a["file_ids"], json!([f1, f2, f3]));
    app.stop().await;
}

#[tokio::test]
async fn retrieve_returns_the_created_object() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let a = app
        .post("/assistants", full_request(std::slice::from_ref(&f)))
        .await
        .ok();
    let got = app.get(&format!("/assistants/{}", id_of(&a))).await.ok();
    assert_eq!(got, a);
    app.stop().await;
}

#[tokio::test]
async fn modify_leaves_absent_fields_untouched() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let a = app
        .post("/assistants", full_request(std::slice::from_ref(&f)))
        .await
        .ok();
    let id = id_of(&a);
    let m = app
        .post(&format!("/assistants/{id}"), json!({"name": "Renamed"}))
        .await
        .ok();
    assert_keys(&m, ASSISTANT_KEYS);
    let mut expected = a.clone();
    expected["name"] = json!("Renamed");
    assert_eq!(m, expected);
    // An empty modification changes nothing.
    let m2 = app.post(&format!("/assistants/{id}"), json!({})).await.ok();
    assert_eq!(m2, expected);
    assert_eq!(
        app.get(&format!("/assistants/{id}")).await.ok(),
        expected,
        "the modification is stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn modify_sets_every_field() {
    let app = TestApp::spawn().await;
    let a = app.post("/assistants", full_request(&[])).await.ok();
    let id = id_of(&a);
    let f = app.file().await;
    let change = json!({
        "model": "gpt-4o",
        "name": "N2",
        "description": "D2",
        "instructions": "I2",
        "tools": [function_tool("other")],
        "file_ids": [f],
        "metadata": {"x": "y"},
        "temperature": 1.5,
        "top_p": 0.25,
        "response_format": "none"
    });
    let m = app
        .post(&format!("/assistants/{id}"), change.clone())
        .await
        .ok();
    for (k, v) in change.as_object().unwrap() {
        assert_eq!(&m[k], v, "field {k}");
    }
    assert_eq!(m["id"], a["id"]);
    assert_eq!(m["created_at"], a["created_at"]);
    assert_eq!(app.get(&format!("/assistants/{id}")).await.ok(), m);
    app.stop().await;
}

#[tokio::test]
async fn modify_null_clears_nullable_fields() {
    let app = TestApp::spawn().await;
    let a = app.post("/assistants", full_request(&[])).await.ok();
    let id = id_of(&a);
    let m = app
        .post(
            &format!("/assistants/{id}"),
            json!({"name": null, "description": null, "instructions": null, "metadata": null,
                   "temperature": null, "top_p": null, "response_format": null}),
        )
        .await
        .ok();
    for field in [
        "name",
        "description",
        "instructions",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    ] {
        assert!(m[field].is_null(), "{field} should be cleared: {m}");
    }
    assert_eq!(m["model"], a["model"]);
    assert_eq!(m["tools"], a["tools"]);
    let got = app.get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(got, m);
    app.stop().await;
}

#[tokio::test]
async fn modify_file_ids_replaces_the_attachments() {
    let app = TestApp::spawn().await;
    let f1 = app.file().await;
    let f2 = app.file().await;
    let f3 = app.file().await;
    let a = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "file_ids": [f1, f2]}),
        )
        .await
        .ok();
    let id = id_of(&a);
    assert_eq!(a["file_ids"], json!([f1, f2]));
    let m = app
        .post(&format!("/assistants/{id}"), json!({"file_ids": [f2, f3]}))
        .await
        .ok();
    assert_eq!(m["file_ids"], json!([f2, f3]));
    let list = app
        .get(&format!("/assistants/{id}/files?order=asc"))
        .await
        .ok();
    let mut listed = assert_list(&list);
    listed.sort();
    let mut want = vec![f2.clone(), f3.clone()];
    want.sort();
    assert_eq!(listed, want);
    app.get(&format!("/assistants/{id}/files/{f1}"))
        .await
        .not_found("assistant file", &f1);
    // The detached file itself still exists.
    app.get(&format!("/files/{f1}")).await.ok();
    // An empty list detaches everything.
    let m = app
        .post(&format!("/assistants/{id}"), json!({"file_ids": []}))
        .await
        .ok();
    assert_eq!(m["file_ids"], json!([]));
    // Omitting file_ids keeps them.
    app.post(&format!("/assistants/{id}"), json!({"file_ids": [f1]}))
        .await
        .ok();
    let m = app
        .post(&format!("/assistants/{id}"), json!({"name": "x"}))
        .await
        .ok();
    assert_eq!(m["file_ids"], json!([f1]));
    app.stop().await;
}

#[tokio::test]
async fn modify_with_a_bad_file_changes_nothing() {
    let app = TestApp::spawn().await;
    let f1 = app.file().await;
    let a = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "name": "keep", "file_ids": [f1]}),
        )
        .await
        .ok();
    let id = id_of(&a);
    app.post(
        &format!("/assistants/{id}"),
        json!({"name": "changed", "file_ids": ["file-doesnotexist"]}),
    )
    .await
    .bad("file_ids[0]");
    assert_eq!(app.get(&format!("/assistants/{id}")).await.ok(), a);
    app.stop().await;
}

#[tokio::test]
async fn delete_then_404() {
    let app = TestApp::spawn().await;
    let id = app.assistant().await;
    let d = app.delete(&format!("/assistants/{id}")).await.ok();
    assert_deleted(&d, &id, "assistant.deleted");
    app.get(&format!("/assistants/{id}"))
        .await
        .not_found("assistant", &id);
    app.delete(&format!("/assistants/{id}"))
        .await
        .not_found("assistant", &id);
    app.post(&format!("/assistants/{id}"), json!({"name": "x"}))
        .await
        .not_found("assistant", &id);
    let list = app.get("/assistants").await.ok();
    assert!(!assert_list(&list).contains(&id));
    app.stop().await;
}

#[tokio::test]
async fn delete_keeps_threads_runs_and_files() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let asst = id_of(
        &app.post("/assistants", json!({"model": "gpt-4", "file_ids": [f]}))
            .await
            .ok(),
    );
    let thread = app.thread().await;
    let msg = app.message(&thread, "hi").await;
    let run = app.run(&thread, &asst).await;
    let run_id = id_of(&run);
    app.delete(&format!("/assistants/{asst}")).await.ok();
    app.get(&format!("/threads/{thread}")).await.ok();
    app.get(&format!("/threads/{thread}/messages/{msg}"))
        .await
        .ok();
    let got = app
        .get(&format!("/threads/{thread}/runs/{run_id}"))
        .await
        .ok();
    assert_eq!(got["assistant_id"], json!(asst));
    assert_eq!(got["file_ids"], json!([f]));
    let runs = app.get(&format!("/threads/{thread}/runs")).await.ok();
    assert_eq!(assert_list(&runs), vec![run_id]);
    app.get(&format!("/files/{f}")).await.ok();
    // A new run with the deleted assistant is refused.
    app.post(
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst}),
    )
    .await
    .not_found("assistant", &asst);
    app.stop().await;
}

#[tokio::test]
async fn list_returns_assistant_objects_newest_first() {
    let app = TestApp::spawn().await;
    let a1 = app.assistant().await;
    let a2 = app.assistant().await;
    let a3 = app.assistant().await;
    let list = app.get("/assistants").await.ok();
    assert_eq!(assert_list(&list), vec![a3.clone(), a2, a1]);
    assert_eq!(list["has_more"], false);
    for a in list["data"].as_array().unwrap() {
        assert_keys(a, ASSISTANT_KEYS);
        assert_eq!(a["object"], "assistant");
    }
    let one = app.get(&format!("/assistants/{a3}")).await.ok();
    assert_eq!(list["data"][0], one);
    app.stop().await;
}
