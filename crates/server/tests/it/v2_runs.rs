//! Runs and steps under Assistants v2: the `incomplete` status (shown to v1 as `completed`), the
//! run parameters v2 added and what of them reaches the model upstream, and `include[]`.

use crate::common::{RUN_KEYS, TestApp, assert_keys, function_tool, id_of};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `RunObject` keys in v2: v1's without `file_ids`, with `parallel_tool_calls`.
const V2_RUN_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "thread_id",
    "assistant_id",
    "status",
    "required_action",
    "last_error",
    "expires_at",
    "started_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "incomplete_details",
    "model",
    "instructions",
    "tools",
    "metadata",
    "usage",
    "temperature",
    "top_p",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "response_format",
    "parallel_tool_calls",
];

const INCLUDE: &str = "step_details.tool_calls[*].file_search.results[*].content";

pub async fn app_with(up: &FakeUpstream) -> TestApp {
    let url = up.url.clone();
    TestApp::builder()
        .with(move |s| {
            s.workers = 2;
            s.upstream_url = Some(url);
        })
        .spawn()
        .await
}

/// A v2 thread holding one user message.
async fn v2_thread(app: &TestApp) -> String {
    id_of(
        &app.v2()
            .post(
                "/threads",
                json!({"messages": [{"role": "user", "content": "hello"}]}),
            )
            .await
            .ok(),
    )
}

/// Polls the run (as a v2 client) until it leaves `queued`/`in_progress`.
pub async fn settle(app: &TestApp, thread: &str, run: &str) -> Value {
    // Long enough for a run whose code starts a sandbox on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = app
            .v2()
            .get(&format!("/threads/{thread}/runs/{run}"))
            .await
            .ok();
        let status = r["status"].as_str().unwrap_or_default();
        if !matches!(status, "queued" | "in_progress" | "cancelling") {
            return r;
        }
        assert!(Instant::now() < deadline, "run stuck: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_run_cut_by_max_completion_tokens_is_incomplete_in_v2_and_completed_in_v1() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Text {
        chunks: vec!["cut ".into(), "short".into()],
        delay: Duration::ZERO,
        finish: "length",
    });
    let app = app_with(&up).await;
    let asst = app.v2().assistant().await;
    let thread = v2_thread(&app).await;
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "max_completion_tokens": 256}),
        )
        .await
        .ok();
    assert_keys(&run, V2_RUN_KEYS);
    assert_eq!(run["parallel_tool_calls"], true);
    let run_id = id_of(&run);

    let v2 = settle(&app, &thread, &run_id).await;
    assert_keys(&v2, V2_RUN_KEYS);
    assert_eq!(v2["status"], "incomplete", "{v2}");
    assert_eq!(
        v2["incomplete_details"],
        json!({"reason": "max_completion_tokens"})
    );
    assert!(v2["completed_at"].is_i64(), "{v2}");
    assert!(v2["usage"]["completion_tokens"].is_i64(), "{v2}");

    // v1 has no `incomplete`: it sees what it always saw of a token-capped run.
    let v1 = app
        .get(&format!("/threads/{thread}/runs/{run_id}"))
        .await
        .ok();
    assert_keys(&v1, RUN_KEYS);
    assert_eq!(v1["status"], "completed");
    assert_eq!(v1["incomplete_details"], v2["incomplete_details"]);
    assert_eq!(v1["completed_at"], v2["completed_at"]);
    let listed = app.get(&format!("/threads/{thread}/runs")).await.ok();
    assert_eq!(listed["data"][0]["status"], "completed");
    let listed = app.v2().get(&format!("/threads/{thread}/runs")).await.ok();
    assert_eq!(listed["data"][0]["status"], "incomplete");

    // The message it was writing ends incomplete; the run cannot be cancelled any more.
    let msgs = app
        .v2()
        .get(&format!("/threads/{thread}/messages?order=desc&limit=1"))
        .await
        .ok();
    assert_eq!(msgs["data"][0]["status"], "incomplete");
    assert_eq!(
        msgs["data"][0]["incomplete_details"],
        json!({"reason": "max_tokens"})
    );
    let e = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs/{run_id}/cancel"),
            json!({}),
        )
        .await
        .err(400);
    assert_eq!(e["message"], "Cannot cancel run with status 'incomplete'.");
    let e = app
        .post(
            &format!("/threads/{thread}/runs/{run_id}/cancel"),
            json!({}),
        )
        .await
        .err(400);
    assert_eq!(e["message"], "Cannot cancel run with status 'completed'.");
    // The thread is free for the next run.
    up.push(Reply::text("again"));
    let next = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst}),
        )
        .await
        .ok();
    assert_eq!(
        settle(&app, &thread, &id_of(&next)).await["status"],
        "completed"
    );
}

#[tokio::test]
async fn v2_run_parameters_reach_the_upstream_and_each_version_sees_its_own_view() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call("get_weather", r#"{"city":"Oslo"}"#));
    let app = app_with(&up).await;
    let asst = id_of(
        &app.v2()
            .post(
                "/assistants",
                json!({"model": "gpt-4o", "tools": [function_tool("get_weather")]}),
            )
            .await
            .ok(),
    );
    let thread = v2_thread(&app).await;
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let format = json!({
        "type": "json_schema",
        "json_schema": {"name": "answer_1", "description": "d", "schema": schema, "strict": true}
    });
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({
                "assistant_id": asst,
                "parallel_tool_calls": false,
                "reasoning_effort": "high",
                "tool_choice": "required",
                "response_format": format,
            }),
        )
        .await
        .ok();
    assert_keys(&run, V2_RUN_KEYS);
    assert_eq!(run["parallel_tool_calls"], false);
    assert_eq!(run["tool_choice"], "required");
    assert_eq!(run["response_format"], format);
    assert!(run.get("reasoning_effort").is_none(), "write-only: {run}");
    let run_id = id_of(&run);
    let ended = settle(&app, &thread, &run_id).await;
    assert_eq!(ended["status"], "requires_action", "{ended}");

    let sent = up.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["parallel_tool_calls"], false, "{body}");
    assert_eq!(body["reasoning_effort"], "high", "{body}");
    assert_eq!(body["tool_choice"], "required", "{body}");
    assert_eq!(body["response_format"], format, "{body}");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");

    // v1 sees the nearest of what it knows, and none of v2's fields.
    let v1 = app
        .get(&format!("/threads/{thread}/runs/{run_id}"))
        .await
        .ok();
    assert_keys(&v1, RUN_KEYS);
    assert_eq!(v1["tool_choice"], "auto");
    assert_eq!(v1["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn parallel_tool_calls_is_sent_only_with_tools_and_v1_runs_send_nothing_new() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("no tools here"));
    up.push(Reply::text("a v1 answer"));
    let app = app_with(&up).await;
    let asst = app.v2().assistant().await;
    let thread = v2_thread(&app).await;
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "parallel_tool_calls": false}),
        )
        .await
        .ok();
    assert_eq!(
        settle(&app, &thread, &id_of(&run)).await["status"],
        "completed"
    );
    let v1_thread = app.thread().await;
    app.message(&v1_thread, "hi").await;
    let v1_run = app.run(&v1_thread, &asst).await;
    assert_eq!(
        settle(&app, &v1_thread, &id_of(&v1_run)).await["status"],
        "completed"
    );
    // An assistant's reasoning_effort reaches the upstream when the run sets none.
    up.push(Reply::text("thought through"));
    let thinker = id_of(
        &app.v2()
            .post(
                "/assistants",
                json!({"model": "o3", "reasoning_effort": "low"}),
            )
            .await
            .ok(),
    );
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": thinker}),
        )
        .await
        .ok();
    assert_eq!(
        settle(&app, &thread, &id_of(&run)).await["status"],
        "completed"
    );
    let mut sent = up.requests();
    assert_eq!(sent.len(), 3);
    let last = sent.pop().unwrap();
    assert_eq!(last["reasoning_effort"], "low", "{last}");
    for body in &sent {
        for key in ["parallel_tool_calls", "reasoning_effort", "response_format"] {
            assert!(body.get(key).is_none(), "{key} sent: {body}");
        }
    }
}

#[tokio::test]
async fn v2_run_arguments_are_refused_under_v1_and_checked_under_v2() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let thread = app.thread().await;
    let path = format!("/threads/{thread}/runs");
    for (body, param) in [
        (json!({"parallel_tool_calls": false}), "parallel_tool_calls"),
        (json!({"reasoning_effort": "low"}), "reasoning_effort"),
        (json!({"tool_choice": "required"}), "tool_choice"),
        (
            json!({"tool_choice": {"type": "file_search"}}),
            "tool_choice",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}}),
            "response_format",
        ),
    ] {
        let mut body = body;
        body["assistant_id"] = json!(asst);
        app.post(&path, body.clone()).await.bad(param);
    }
    // v1's wording for a response format of no known form is unchanged.
    for bad in [
        json!({"type": "json_schema", "json_schema": {"name": "a"}}),
        json!({"type": "text", "x": 1}),
        json!("text"),
        json!(7),
    ] {
        let e = app
            .post(&path, json!({"assistant_id": asst, "response_format": bad}))
            .await
            .bad("response_format");
        assert_eq!(
            e["message"],
            "Invalid value for 'response_format': not one of the accepted forms."
        );
    }
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "parallel_tool_calls": true}),
    )
    .await
    .bad("parallel_tool_calls");
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "tool_resources": {}}),
    )
    .await
    .bad("tool_resources");

    let v2 = app.v2();
    for (body, param) in [
        (json!({"response_format": "none"}), "response_format"),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}}),
            "response_format.json_schema.name",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": [1]}}}),
            "response_format.json_schema.schema",
        ),
        (json!({"reasoning_effort": "huge"}), "reasoning_effort"),
        (json!({"tool_choice": {"type": "retrieval"}}), "tool_choice"),
        (json!({"max_prompt_tokens": 255}), "max_prompt_tokens"),
        (json!({"file_ids": []}), "file_ids"),
    ] {
        let mut body = body;
        body["assistant_id"] = json!(asst);
        v2.post(&path, body.clone()).await.bad(param);
    }
    // A named `file_search` and `required` are accepted by v2 (and shown back).
    let run = v2
        .post(
            &path,
            json!({"assistant_id": asst, "tool_choice": {"type": "file_search"}}),
        )
        .await
        .ok();
    assert_eq!(run["tool_choice"], json!({"type": "file_search"}));
    let v1_view = app
        .get(&format!("/threads/{thread}/runs/{}", id_of(&run)))
        .await
        .ok();
    assert_eq!(v1_view["tool_choice"], json!({"type": "retrieval"}));
    // createThreadAndRun takes v2's tool_resources override.
    let tr = v2
        .post(
            "/threads/runs",
            json!({
                "assistant_id": asst,
                "parallel_tool_calls": false,
                "tool_resources": {"file_search": {"vector_store_ids": []}}
            }),
        )
        .await
        .ok();
    assert_eq!(tr["parallel_tool_calls"], false);
    for (resources, param) in [
        (
            json!({"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}),
            "tool_resources.file_search.vector_store_ids",
        ),
        (
            json!({"file_search": {"vector_stores": [{"file_ids": []}]}}),
            "tool_resources.file_search.vector_stores",
        ),
        (json!({"browser": {}}), "tool_resources.browser"),
    ] {
        v2.post(
            "/threads/runs",
            json!({"assistant_id": asst, "tool_resources": resources}),
        )
        .await
        .bad(param);
    }
}

#[tokio::test]
async fn include_takes_only_the_search_content_value() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let thread = app.thread().await;
    let run = app.run(&thread, &asst).await;
    let run_id = id_of(&run);
    let steps = format!("/threads/{thread}/runs/{run_id}/steps");
    let v2 = app.v2();
    for query in [
        format!("?include[]={INCLUDE}"),
        format!("?include={INCLUDE}"),
        String::new(),
    ] {
        let list = v2.get(&format!("{steps}{query}")).await.ok();
        assert_eq!(list["object"], "list", "{query}");
    }
    for query in [
        "?include[]=step_details".to_owned(),
        format!("?include[]={INCLUDE}&include[]=usage"),
        "?include=".to_owned(),
    ] {
        let e = v2.get(&format!("{steps}{query}")).await.bad("include");
        assert!(
            e["message"].as_str().unwrap().contains(INCLUDE),
            "{query}: {e}"
        );
    }
    v2.get(&format!("{steps}/step_abc?include[]=nope"))
        .await
        .bad("include");
    app.cancel(&thread, &run_id).await;
    v2.post(
        &format!("/threads/{thread}/runs?include[]=nope"),
        json!({"assistant_id": asst}),
    )
    .await
    .bad("include");
    let ok = v2
        .post(
            &format!("/threads/{thread}/runs?include[]={INCLUDE}"),
            json!({"assistant_id": asst}),
        )
        .await
        .ok();
    assert_eq!(ok["status"], "queued");
    // v1 has no `include`, and ignores it as it ignores any unknown query parameter.
    app.get(&format!("{steps}?include[]=nope")).await.ok();
}

#[tokio::test]
async fn a_thread_over_max_prompt_tokens_ends_the_run_incomplete_without_a_model_call() {
    let up = FakeUpstream::start().await;
    let app = app_with(&up).await;
    let asst = app.v2().assistant().await;
    // About 1,000 estimated tokens: more than the smallest budget a run may set.
    let long = "word ".repeat(800);
    let thread = id_of(
        &app.v2()
            .post(
                "/threads",
                json!({"messages": [{"role": "user", "content": long}]}),
            )
            .await
            .ok(),
    );
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "max_prompt_tokens": 256}),
        )
        .await
        .ok();
    let ended = settle(&app, &thread, &id_of(&run)).await;
    assert_eq!(ended["status"], "incomplete", "{ended}");
    assert_eq!(
        ended["incomplete_details"],
        json!({"reason": "max_prompt_tokens"})
    );
    assert!(up.requests().is_empty(), "the model was called");
    // With room for it, the same thread runs.
    up.push(Reply::text("fits"));
    let run = app
        .v2()
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "max_prompt_tokens": 5000}),
        )
        .await
        .ok();
    assert_eq!(
        settle(&app, &thread, &id_of(&run)).await["status"],
        "completed"
    );
}

#[tokio::test]
async fn additional_messages_take_v2_attachments_into_the_threads_store() {
    let app = TestApp::spawn().await;
    let v2 = app.v2();
    let asst = v2.assistant().await;
    let thread = v2.thread().await;
    let file = v2.file().await;
    let run = v2
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst, "additional_messages": [
                {"role": "user", "content": [{"type": "text", "text": "read this"}],
                 "attachments": [{"file_id": file, "tools": [{"type": "file_search"}]}]}
            ]}),
        )
        .await
        .ok();
    assert_eq!(run["status"], "queued");
    let msgs = v2.get(&format!("/threads/{thread}/messages")).await.ok();
    let msg = &msgs["data"][0];
    assert_eq!(
        msg["attachments"],
        json!([{"file_id": file, "tools": [{"type": "file_search"}]}])
    );
    assert_eq!(msg["content"][0]["text"]["value"], "read this");
    // The file went into the thread's vector store, as a message's attachment does.
    let stores = v2.get("/vector_stores").await.ok();
    let store = id_of(&stores["data"][0]);
    let files = v2.get(&format!("/vector_stores/{store}/files")).await.ok();
    assert_eq!(files["data"][0]["id"], json!(file));
    // v1 refuses attachments, and v2 refuses v1's file_ids, each naming the field.
    app.post(
        &format!("/threads/{thread}/runs/{}/cancel", id_of(&run)),
        json!({}),
    )
    .await
    .ok();
    app.post(
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "additional_messages": [
            {"role": "user", "content": "x", "attachments": []}]}),
    )
    .await
    .bad("additional_messages[0].attachments");
    v2.post(
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "additional_messages": [
            {"role": "user", "content": "x", "file_ids": [file]}]}),
    )
    .await
    .bad("additional_messages[0].file_ids");
}
