//! Every documented limit and every structural rejection, each a 400 naming the field in
//! `param`; and the 404 every resource answers for an unknown id.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn asst_with(field: &str, value: Value) -> Value {
    let mut body = json!({"model": "gpt-4"});
    body[field] = value;
    body
}

#[tokio::test]
async fn string_lengths_on_assistants() {
    let app = TestApp::spawn().await;
    let id = app.assistant().await;
    for (field, max) in [
        ("name", 256),
        ("description", 512),
        ("instructions", 256_000),
    ] {
        let a = app
            .post("/assistants", asst_with(field, json!(chars(max))))
            .await
            .ok();
        assert_eq!(a[field].as_str().unwrap().len(), max);
        let e = app
            .post("/assistants", asst_with(field, json!(chars(max + 1))))
            .await
            .bad(field);
        assert!(
            e["message"].as_str().unwrap().contains(&max.to_string()),
            "{e}"
        );
        // The same limit on modify.
        app.post(&format!("/assistants/{id}"), json!({field: chars(max + 1)}))
            .await
            .bad(field);
        app.post(&format!("/assistants/{id}"), json!({field: chars(max)}))
            .await
            .ok();
    }
    // Lengths count characters, not bytes.
    app.post("/assistants", asst_with("name", json!("é".repeat(256))))
        .await
        .ok();
    app.post("/assistants", asst_with("model", json!("")))
        .await
        .bad("model");
    app.stop().await;
}

#[tokio::test]
async fn run_instructions_length() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let path = format!("/threads/{tid}/runs");
    app.post(
        &path,
        json!({"assistant_id": asst, "instructions": chars(256_001)}),
    )
    .await
    .bad("instructions");
    app.post(
        &path,
        json!({"assistant_id": asst, "additional_instructions": chars(256_001)}),
    )
    .await
    .bad("additional_instructions");
    let r = app
        .post(
            &path,
            json!({"assistant_id": asst, "instructions": chars(256_000)}),
        )
        .await
        .ok();
    assert_eq!(r["instructions"].as_str().unwrap().len(), 256_000);
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "instructions": chars(256_001)}),
    )
    .await
    .bad("instructions");
    app.stop().await;
}

#[tokio::test]
async fn message_content_length() {
    let app = TestApp::spawn().await;
    let tid = app.thread().await;
    let path = format!("/threads/{tid}/messages");
    let m = app
        .post(&path, json!({"role": "user", "content": chars(256_000)}))
        .await
        .ok();
    assert_eq!(
        m["content"][0]["text"]["value"].as_str().unwrap().len(),
        256_000
    );
    app.post(&path, json!({"role": "user", "content": chars(256_001)}))
        .await
        .bad("content");
    app.post(&path, json!({"role": "user", "content": ""}))
        .await
        .bad("content");
    app.post(&path, json!({"role": "user"}))
        .await
        .bad("content");
    app.post(&path, json!({"content": "x"})).await.bad("role");
    app.post(&path, json!({"role": "system", "content": "x"}))
        .await
        .bad("role");
    // v1 content is a string only.
    app.post(
        &path,
        json!({"role": "user", "content": [{"type": "text", "text": "x"}]}),
    )
    .await
    .bad("content");
    app.stop().await;
}

#[tokio::test]
async fn tool_counts() {
    let app = TestApp::spawn().await;
    let a = app
        .post("/assistants", asst_with("tools", function_tools(128)))
        .await
        .ok();
    assert_eq!(a["tools"].as_array().unwrap().len(), 128);
    let e = app
        .post("/assistants", asst_with("tools", function_tools(129)))
        .await
        .bad("tools");
    assert!(e["message"].as_str().unwrap().contains("128"), "{e}");
    app.post(
        &format!("/assistants/{}", id_of(&a)),
        json!({"tools": function_tools(129)}),
    )
    .await
    .bad("tools");
    // Run overrides: at most 20.
    let asst = id_of(&a);
    let tid = app.thread().await;
    let r = app
        .post(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "tools": function_tools(20)}),
        )
        .await
        .ok();
    assert_eq!(r["tools"].as_array().unwrap().len(), 20);
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "tools": function_tools(21)}),
    )
    .await
    .bad("tools");
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "tools": function_tools(21)}),
    )
    .await
    .bad("tools");
    app.stop().await;
}

#[tokio::test]
async fn tool_shapes() {
    let app = TestApp::spawn().await;
    let bad = [
        (json!([{"type": "browser"}]), "tools[0].type"),
        (json!([{"type": "retreival"}]), "tools[0].type"),
        (json!([{"type": "function"}]), "tools[0].function"),
        (
            json!([{"type": "function", "function": {}}]),
            "tools[0].function.name",
        ),
        (
            json!([{"type": "code_interpreter", "extra": 1}]),
            "tools[0].extra",
        ),
        (
            json!([{"type": "retrieval"}, {"type": "function", "function": {"name": "f", "foo": 1}}]),
            "tools[1].function.foo",
        ),
        (json!([{"function": {"name": "f"}}]), "tools[0].type"),
        (json!("code_interpreter"), "tools"),
    ];
    for (tools, param) in bad {
        let e = app
            .post("/assistants", asst_with("tools", tools.clone()))
            .await
            .bad(param);
        assert!(
            e["message"].as_str().unwrap().contains(param),
            "{tools}: {e}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn function_names() {
    let app = TestApp::spawn().await;
    for ok in ["get_weather", "A-b_9", &"a".repeat(64)] {
        app.post(
            "/assistants",
            asst_with("tools", json!([function_tool(ok)])),
        )
        .await
        .ok();
    }
    for bad in ["", "get weather", "größe", "a.b", &"a".repeat(65)] {
        app.post(
            "/assistants",
            asst_with("tools", json!([function_tool(bad)])),
        )
        .await
        .bad("tools[0].function.name");
    }
    app.post(
        "/assistants",
        asst_with(
            "tools",
            json!([{"type": "retrieval"}, function_tool("bad name")]),
        ),
    )
    .await
    .bad("tools[1].function.name");
    // Parameters must be a JSON Schema object.
    app.post(
        "/assistants",
        asst_with(
            "tools",
            json!([{"type": "function", "function": {"name": "f", "parameters": [1]}}]),
        ),
    )
    .await
    .bad("tools[0].function.parameters");
    // Run overrides too.
    let asst = app.assistant().await;
    let tid = app.thread().await;
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "tools": [function_tool("no spaces allowed")]}),
    )
    .await
    .bad("tools[0].function.name");
    app.stop().await;
}

#[tokio::test]
async fn file_id_counts() {
    let app = TestApp::spawn().await;
    let mut files = Vec::new();
    for _ in 0..11 {
        files.push(app.file().await);
    }
    let many: Vec<String> = (0..21).map(|i| format!("file-{i:024}")).collect();
    let e = app
        .post("/assistants", asst_with("file_ids", json!(many)))
        .await
        .bad("file_ids");
    assert!(e["message"].as_str().unwrap().contains("20"), "{e}");
    let asst = app.assistant().await;
    app.post(&format!("/assistants/{asst}"), json!({"file_ids": many}))
        .await
        .bad("file_ids");
    let tid = app.thread().await;
    let m = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": &files[..10]}),
        )
        .await
        .ok();
    assert_eq!(m["file_ids"].as_array().unwrap().len(), 10);
    let e = app
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": files}),
        )
        .await
        .bad("file_ids");
    assert!(e["message"].as_str().unwrap().contains("10"), "{e}");
    app.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "x", "file_ids": files}]}),
    )
    .await
    .bad("messages[0].file_ids");
    app.stop().await;
}

#[tokio::test]
async fn nonexistent_files_are_400_naming_the_entry() {
    let app = TestApp::spawn().await;
    let f = app.file().await;
    let e = app
        .post(
            "/assistants",
            asst_with("file_ids", json!([f, "file-nope"])),
        )
        .await
        .bad("file_ids[1]");
    assert!(e["message"].as_str().unwrap().contains("file-nope"), "{e}");
    // Nothing was created.
    assert!(assert_list(&app.get("/assistants").await.ok()).is_empty());
    app.post("/assistants", asst_with("file_ids", json!([""])))
        .await
        .bad("file_ids[0]");
    app.stop().await;
}

/// Every endpoint that takes metadata, with the request body the metadata goes into.
async fn metadata_targets(app: &TestApp) -> Vec<(String, Value)> {
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let mid = app.message(&tid, "x").await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let idle = app.thread().await;
    let idle2 = app.thread().await;
    vec![
        ("/assistants".to_owned(), json!({"model": "gpt-4"})),
        (format!("/assistants/{asst}"), json!({})),
        ("/threads".to_owned(), json!({})),
        (format!("/threads/{tid}"), json!({})),
        (
            format!("/threads/{idle}/messages"),
            json!({"role": "user", "content": "x"}),
        ),
        (format!("/threads/{tid}/messages/{mid}"), json!({})),
        (
            format!("/threads/{idle2}/runs"),
            json!({"assistant_id": asst}),
        ),
        (format!("/threads/{tid}/runs/{rid}"), json!({})),
        ("/threads/runs".to_owned(), json!({"assistant_id": asst})),
    ]
}

#[tokio::test]
async fn metadata_limits_everywhere() {
    let app = TestApp::spawn().await;
    for (path, base) in metadata_targets(&app).await {
        let with = |m: Value| {
            let mut b = base.clone();
            b["metadata"] = m;
            b
        };
        // At the limits: fine, and echoed.
        let mut edge = metadata_pairs(15);
        edge[chars(64)] = json!(chars(512));
        let ok = app.post(&path, with(edge.clone())).await.ok();
        assert_eq!(ok["metadata"], edge, "{path}");
        // 17 pairs.
        let e = app
            .post(&path, with(metadata_pairs(17)))
            .await
            .bad("metadata");
        assert!(e["message"].as_str().unwrap().contains("16"), "{path}: {e}");
        // A 65-character key.
        app.post(&path, with(json!({chars(65): "v"})))
            .await
            .bad("metadata");
        // A 513-character value.
        let e = app
            .post(&path, with(json!({"k": chars(513)})))
            .await
            .err(400);
        assert!(
            e["param"].as_str().unwrap().starts_with("metadata"),
            "{path}: {e}"
        );
        // Values are strings.
        let e = app.post(&path, with(json!({"k": 1}))).await.err(400);
        assert!(
            e["param"].as_str().unwrap().starts_with("metadata"),
            "{path}: {e}"
        );
        app.post(&path, with(json!(["k"]))).await.bad("metadata");
    }
    app.stop().await;
}

#[tokio::test]
async fn nested_message_metadata_is_checked() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    app.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "x", "metadata": metadata_pairs(17)}]}),
    )
    .await
    .bad("messages[0].metadata");
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "additional_messages": [
            {"role": "user", "content": "x", "metadata": metadata_pairs(17)}
        ]}),
    )
    .await
    .bad("additional_messages[0].metadata");
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "thread": {"metadata": metadata_pairs(17)}}),
    )
    .await
    .bad("thread.metadata");
    app.stop().await;
}

#[tokio::test]
async fn sampling_ranges() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    for (field, ok, bad) in [
        ("temperature", [0.0, 2.0], [-0.1, 2.01]),
        ("top_p", [0.0, 1.0], [-0.5, 1.1]),
    ] {
        for v in ok {
            let a = app
                .post("/assistants", asst_with(field, json!(v)))
                .await
                .ok();
            assert_eq!(a[field], json!(v));
            app.post(&format!("/assistants/{asst}"), json!({field: v}))
                .await
                .ok();
            let fresh = app.thread().await;
            let r = app
                .post(
                    &format!("/threads/{fresh}/runs"),
                    json!({"assistant_id": asst, field: v}),
                )
                .await
                .ok();
            assert_eq!(r[field], json!(v));
            let r = app
                .post("/threads/runs", json!({"assistant_id": asst, field: v}))
                .await
                .ok();
            assert_eq!(r[field], json!(v));
        }
        for v in bad {
            app.post("/assistants", asst_with(field, json!(v)))
                .await
                .bad(field);
            app.post(&format!("/assistants/{asst}"), json!({field: v}))
                .await
                .bad(field);
            app.post(
                &format!("/threads/{tid}/runs"),
                json!({"assistant_id": asst, field: v}),
            )
            .await
            .bad(field);
            app.post("/threads/runs", json!({"assistant_id": asst, field: v}))
                .await
                .bad(field);
        }
        app.post("/assistants", asst_with(field, json!("hot")))
            .await
            .bad(field);
    }
    app.stop().await;
}

#[tokio::test]
async fn token_budgets_and_truncation() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let path = format!("/threads/{tid}/runs");
    for field in ["max_prompt_tokens", "max_completion_tokens"] {
        let r = app
            .post("/threads/runs", json!({"assistant_id": asst, field: 256}))
            .await
            .ok();
        assert_eq!(r[field], 256);
        for bad in [255, 0, -1] {
            app.post(&path, json!({"assistant_id": asst, field: bad}))
                .await
                .bad(field);
            app.post("/threads/runs", json!({"assistant_id": asst, field: bad}))
                .await
                .bad(field);
        }
        app.post(&path, json!({"assistant_id": asst, field: 300.5}))
            .await
            .bad(field);
    }
    let r = app
        .post(
            &path,
            json!({"assistant_id": asst, "truncation_strategy": {"type": "last_messages", "last_messages": 1}}),
        )
        .await
        .ok();
    assert_eq!(
        r["truncation_strategy"],
        json!({"type": "last_messages", "last_messages": 1})
    );
    app.post(
        &path,
        json!({"assistant_id": asst, "truncation_strategy": {"type": "last_messages", "last_messages": 0}}),
    )
    .await
    .bad("truncation_strategy.last_messages");
    app.post(
        &path,
        json!({"assistant_id": asst, "truncation_strategy": {"type": "middle"}}),
    )
    .await
    .bad("truncation_strategy.type");
    app.post(
        &path,
        json!({"assistant_id": asst, "truncation_strategy": {"type": "auto", "x": 1}}),
    )
    .await
    .bad("truncation_strategy.x");
    app.stop().await;
}

#[tokio::test]
async fn tool_choice_and_response_format_shapes() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let path = format!("/threads/{tid}/runs");
    for bad in [
        json!("sometimes"),
        json!({"type": "browser"}),
        json!({"type": "function"}),
        json!({"type": "function", "function": {"name": "bad name"}}),
        json!(3),
    ] {
        let e = app
            .post(
                &path,
                json!({"assistant_id": asst, "tool_choice": bad.clone()}),
            )
            .await
            .err(400);
        assert!(
            e["param"].as_str().unwrap().starts_with("tool_choice"),
            "{bad}: {e}"
        );
    }
    for bad in [json!("json"), json!({"type": "xml"}), json!(true)] {
        let e = app
            .post("/assistants", asst_with("response_format", bad.clone()))
            .await
            .err(400);
        assert!(
            e["param"].as_str().unwrap().starts_with("response_format"),
            "{bad}: {e}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_and_wrong_content_type() {
    let app = TestApp::spawn().await;
    for body in [
        "{",
        "{\"model\": }",
        "not json",
        "{\"model\": \"gpt-4\"} trailing",
    ] {
        let e = app
            .run_request(
                app.request(Method::POST, "/assistants")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await
            .err(400);
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["param"].is_null());
        assert!(e["message"].as_str().unwrap().contains("JSON"), "{e}");
    }
    // Valid JSON under the wrong content type, and under none.
    let e = app
        .run_request(
            app.request(Method::POST, "/assistants")
                .header("content-type", "text/plain")
                .body(r#"{"model": "gpt-4"}"#),
        )
        .await
        .err(400);
    assert!(
        e["message"].as_str().unwrap().contains("Content-Type"),
        "{e}"
    );
    app.run_request(
        app.request(Method::POST, "/assistants")
            .body(r#"{"model": "gpt-4"}"#),
    )
    .await
    .err(400);
    // A JSON content type with parameters is fine.
    app.run_request(
        app.request(Method::POST, "/assistants")
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"model": "gpt-4"}"#),
    )
    .await
    .ok();
    // A body that is JSON but not an object.
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        let e = app.post("/assistants", body).await.err(400);
        assert!(e["param"].is_null(), "{e}");
    }
    // A missing body where one is required.
    app.run_request(
        app.request(Method::POST, "/assistants")
            .header("content-type", "application/json"),
    )
    .await
    .err(400);
    // The optional-body endpoint still rejects a malformed one.
    app.run_request(
        app.request(Method::POST, "/threads")
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .err(400);
    app.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_named() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let mid = app.message(&tid, "x").await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let cases = [
        (
            "/assistants".to_owned(),
            json!({"model": "gpt-4", "foo": 1}),
            "foo",
        ),
        (format!("/assistants/{asst}"), json!({"bar": 1}), "bar"),
        (
            "/assistants".to_owned(),
            json!({"model": "gpt-4", "tools": [{"type": "function", "function": {"name": "f", "foo": 1}}]}),
            "tools[0].function.foo",
        ),
        (
            "/assistants".to_owned(),
            json!({"model": "gpt-4", "response_format": {"type": "text", "foo": 1}}),
            "response_format",
        ),
        ("/threads".to_owned(), json!({"foo": 1}), "foo"),
        (
            "/threads".to_owned(),
            json!({"messages": [{"role": "user", "content": "x", "foo": 1}]}),
            "messages[0].foo",
        ),
        (format!("/threads/{tid}"), json!({"foo": 1}), "foo"),
        (
            format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "attachments": []}),
            "attachments",
        ),
        (
            format!("/threads/{tid}/messages/{mid}"),
            json!({"foo": 1}),
            "foo",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "foo": 1}),
            "foo",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "additional_messages": [{"role": "user", "content": "x", "foo": 1}]}),
            "additional_messages[0].foo",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "tool_choice": {"type": "function", "function": {"name": "f", "foo": 1}}}),
            "tool_choice",
        ),
        (
            format!("/threads/{tid}/runs/{rid}"),
            json!({"foo": 1}),
            "foo",
        ),
        (
            format!("/threads/{tid}/runs/{rid}/cancel"),
            json!({"foo": 1}),
            "foo",
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": asst, "thread": {"foo": 1}}),
            "thread.foo",
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "x", "foo": 1}]}}),
            "thread.messages[0].foo",
        ),
        (
            // v2 fields are unknown to v1.
            "/assistants".to_owned(),
            json!({"model": "gpt-4", "tool_resources": {}}),
            "tool_resources",
        ),
    ];
    for (path, body, param) in cases {
        let e = app.post(&path, body.clone()).await.err(400);
        let got = e["param"].as_str().unwrap_or_default();
        assert!(
            got.starts_with(param),
            "{path} {body}: param {got:?}, want {param:?}"
        );
        if !matches!(param, "response_format" | "tool_choice") {
            assert_eq!(got, param, "{path} {body}");
            assert!(e["message"].as_str().unwrap().contains(param), "{e}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let cases = [
        ("/assistants".to_owned(), json!({}), "model"),
        ("/assistants".to_owned(), json!({"model": 4}), "model"),
        ("/assistants".to_owned(), json!({"model": null}), "model"),
        (
            "/assistants".to_owned(),
            asst_with("name", json!(123)),
            "name",
        ),
        (
            "/assistants".to_owned(),
            asst_with("description", json!([])),
            "description",
        ),
        (
            "/assistants".to_owned(),
            asst_with("tools", json!({})),
            "tools",
        ),
        (
            "/assistants".to_owned(),
            asst_with("file_ids", json!("file-1")),
            "file_ids",
        ),
        (
            "/assistants".to_owned(),
            asst_with("file_ids", json!([1])),
            "file_ids[0]",
        ),
        (
            "/assistants".to_owned(),
            asst_with("metadata", json!("x")),
            "metadata",
        ),
        (
            format!("/assistants/{asst}"),
            json!({"name": false}),
            "name",
        ),
        (format!("/assistants/{asst}"), json!({"tools": 1}), "tools"),
        ("/threads".to_owned(), json!({"messages": {}}), "messages"),
        (
            format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": 1}),
            "content",
        ),
        (
            format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x", "file_ids": "f"}),
            "file_ids",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": 1}),
            "assistant_id",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "stream": "yes"}),
            "stream",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "additional_messages": "hi"}),
            "additional_messages",
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "max_prompt_tokens": "300"}),
            "max_prompt_tokens",
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": asst, "thread": "t"}),
            "thread",
        ),
    ];
    for (path, body, param) in cases {
        let e = app.post(&path, body.clone()).await.bad(param);
        assert!(
            e["message"].as_str().unwrap().contains(param),
            "{path} {body}: {e}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_404_with_openai_messages() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let mid = app.message(&tid, "x").await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
        (
            Method::GET,
            "/assistants/asst_x".into(),
            None,
            "assistant",
            "asst_x",
        ),
        (
            Method::POST,
            "/assistants/asst_x".into(),
            Some(json!({})),
            "assistant",
            "asst_x",
        ),
        (
            Method::DELETE,
            "/assistants/asst_x".into(),
            None,
            "assistant",
            "asst_x",
        ),
        (
            Method::GET,
            "/assistants/asst_x/files".into(),
            None,
            "assistant",
            "asst_x",
        ),
        (
            Method::GET,
            format!("/assistants/{asst}/files/file-x"),
            None,
            "assistant file",
            "file-x",
        ),
        (
            Method::DELETE,
            format!("/assistants/{asst}/files/file-x"),
            None,
            "assistant file",
            "file-x",
        ),
        (
            Method::GET,
            "/threads/thread_x".into(),
            None,
            "thread",
            "thread_x",
        ),
        (
            Method::GET,
            "/threads/thread_x/messages".into(),
            None,
            "thread",
            "thread_x",
        ),
        (
            Method::GET,
            "/threads/thread_x/runs".into(),
            None,
            "thread",
            "thread_x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/messages/msg_x"),
            None,
            "message",
            "msg_x",
        ),
        (
            Method::POST,
            format!("/threads/{tid}/messages/msg_x"),
            Some(json!({})),
            "message",
            "msg_x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/messages/msg_x/files"),
            None,
            "message",
            "msg_x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/messages/{mid}/files/file-x"),
            None,
            "message file",
            "file-x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/runs/run_x"),
            None,
            "run",
            "run_x",
        ),
        (
            Method::POST,
            format!("/threads/{tid}/runs/run_x"),
            Some(json!({})),
            "run",
            "run_x",
        ),
        (
            Method::POST,
            format!("/threads/{tid}/runs/run_x/cancel"),
            Some(json!({})),
            "run",
            "run_x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/runs/run_x/steps"),
            None,
            "run",
            "run_x",
        ),
        (
            Method::GET,
            format!("/threads/{tid}/runs/{rid}/steps/step_x"),
            None,
            "run step",
            "step_x",
        ),
        (Method::GET, "/files/file-x".into(), None, "file", "file-x"),
        (
            Method::GET,
            "/files/file-x/content".into(),
            None,
            "file",
            "file-x",
        ),
        (
            Method::DELETE,
            "/files/file-x".into(),
            None,
            "file",
            "file-x",
        ),
    ];
    for (method, path, body, kind, id) in cases {
        let e = app
            .call(method.clone(), &path, body)
            .await
            .not_found(kind, id);
        assert!(e["param"].is_null(), "{method} {path}: {e}");
    }
    app.stop().await;
}
