//! Runs and run steps (operations 20–28): runs are stored `queued` with every field resolved.

use crate::common::*;
use serde_json::{Value, json};

async fn rich_assistant(app: &TestApp) -> (Value, String) {
    let f = app.file().await;
    let a = app
        .post(
            "/assistants",
            json!({
                "model": "gpt-4-turbo",
                "instructions": "Be brief.",
                "tools": [{"type": "code_interpreter"}, function_tool("lookup")],
                "file_ids": [f],
                "temperature": 0.3,
                "top_p": 0.8,
                "response_format": {"type": "json_object"}
            }),
        )
        .await
        .ok();
    (a, f)
}

#[tokio::test]
async fn create_run_is_queued_with_fields_from_the_assistant() {
    let app = TestApp::spawn().await;
    let (a, f) = rich_assistant(&app).await;
    let asst = id_of(&a);
    let tid = app.thread().await;
    let r = app.run(&tid, &asst).await;
    assert_keys(&r, RUN_KEYS);
    assert_id(&r["id"], "run_");
    assert_eq!(r["object"], "thread.run");
    assert_ts(&r["created_at"]);
    assert_eq!(r["thread_id"], json!(tid));
    assert_eq!(r["assistant_id"], json!(asst));
    assert_eq!(r["status"], "queued");
    let created = r["created_at"].as_i64().unwrap();
    assert_eq!(r["expires_at"], json!(created + 600));
    for field in [
        "required_action",
        "last_error",
        "started_at",
        "cancelled_at",
        "failed_at",
        "completed_at",
        "incomplete_details",
        "metadata",
        "usage",
        "max_prompt_tokens",
        "max_completion_tokens",
    ] {
        assert!(r[field].is_null(), "{field} should be null: {r}");
    }
    assert_eq!(r["model"], "gpt-4-turbo");
    assert_eq!(r["instructions"], "Be brief.");
    assert_eq!(r["tools"], a["tools"]);
    assert_eq!(r["file_ids"], json!([f]));
    assert_eq!(r["temperature"], json!(0.3));
    assert_eq!(r["top_p"], json!(0.8));
    assert_eq!(r["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        r["truncation_strategy"],
        json!({"type": "auto", "last_messages": null})
    );
    assert_eq!(r["tool_choice"], "auto");
    let got = app
        .get(&format!("/threads/{tid}/runs/{}", id_of(&r)))
        .await
        .ok();
    assert_eq!(got, r);
    app.stop().await;
}

#[tokio::test]
async fn bare_assistant_gives_string_instructions_and_defaults() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let r = app.run(&tid, &asst).await;
    assert_eq!(r["model"], "gpt-4");
    // `instructions` is a string (not nullable) on a run.
    assert_eq!(r["instructions"], "");
    assert_eq!(r["tools"], json!([]));
    assert_eq!(r["file_ids"], json!([]));
    assert_eq!(r["response_format"], "auto");
    assert_eq!(r["tool_choice"], "auto");
    for field in ["temperature", "top_p"] {
        assert!(
            r[field].is_null() || r[field] == json!(1.0),
            "{field} is unset or the default 1: {r}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn request_overrides_win() {
    let app = TestApp::spawn().await;
    let (a, f) = rich_assistant(&app).await;
    let asst = id_of(&a);
    let tid = app.thread().await;
    let req = json!({
        "assistant_id": asst,
        "model": "gpt-3.5-turbo",
        "instructions": "Be verbose.",
        "tools": [{"type": "retrieval"}],
        "metadata": {"run": "1"},
        "temperature": 1.2,
        "top_p": 0.5,
        "max_prompt_tokens": 1000,
        "max_completion_tokens": 256,
        "truncation_strategy": {"type": "last_messages", "last_messages": 5},
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "text"}
    });
    let r = app
        .post(&format!("/threads/{tid}/runs"), req.clone())
        .await
        .ok();
    assert_keys(&r, RUN_KEYS);
    for field in [
        "model",
        "instructions",
        "tools",
        "metadata",
        "temperature",
        "top_p",
        "max_prompt_tokens",
        "max_completion_tokens",
        "truncation_strategy",
        "tool_choice",
        "response_format",
    ] {
        assert_eq!(r[field], req[field], "field {field}");
    }
    // Files always come from the assistant.
    assert_eq!(r["file_ids"], json!([f]));
    assert_eq!(r["status"], "queued");
    for choice in [
        json!("none"),
        json!({"type": "code_interpreter"}),
        json!({"type": "retrieval"}),
    ] {
        let tid = app.thread().await;
        let r = app
            .post(
                &format!("/threads/{tid}/runs"),
                json!({"assistant_id": asst, "tool_choice": choice.clone()}),
            )
            .await
            .ok();
        assert_eq!(r["tool_choice"], choice);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_run_keeps_what_it_resolved_when_the_assistant_changes() {
    let app = TestApp::spawn().await;
    let (a, f) = rich_assistant(&app).await;
    let asst = id_of(&a);
    let tid = app.thread().await;
    let r = app
        .post(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "stream": false}),
        )
        .await
        .ok();
    app.post(
        &format!("/assistants/{asst}"),
        json!({"model": "other", "instructions": "changed", "tools": [], "file_ids": []}),
    )
    .await
    .ok();
    let got = app
        .get(&format!("/threads/{tid}/runs/{}", id_of(&r)))
        .await
        .ok();
    assert_eq!(got, r);
    assert_eq!(got["model"], "gpt-4-turbo");
    assert_eq!(got["instructions"], "Be brief.");
    assert_eq!(got["file_ids"], json!([f]));
    app.stop().await;
}

#[tokio::test]
async fn additional_messages_are_added_to_the_thread() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let first = app.message(&tid, "before").await;
    let f = app.file().await;
    let r = app
        .post(
            &format!("/threads/{tid}/runs"),
            json!({
                "assistant_id": asst,
                "additional_instructions": "Also be polite.",
                "additional_messages": [
                    {"role": "user", "content": "added one", "file_ids": [f], "metadata": {"m": "1"}},
                    {"role": "assistant", "content": "added two"}
                ]
            }),
        )
        .await
        .ok();
    assert_eq!(r["status"], "queued");
    let list = app
        .get(&format!("/threads/{tid}/messages?order=asc"))
        .await
        .ok();
    let ids = assert_list(&list);
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], first);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data[1]["content"][0]["text"]["value"], "added one");
    assert_eq!(data[1]["role"], "user");
    assert_eq!(data[1]["file_ids"], json!([f]));
    assert_eq!(data[1]["metadata"], json!({"m": "1"}));
    assert_eq!(data[2]["content"][0]["text"]["value"], "added two");
    assert_eq!(data[2]["role"], "assistant");
    app.stop().await;
}

#[tokio::test]
async fn bad_additional_message_creates_nothing() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "additional_messages": [
            {"role": "user", "content": "fine"},
            {"role": "user", "content": "bad file", "file_ids": ["file-nope"]}
        ]}),
    )
    .await
    .bad("additional_messages[1].file_ids[0]");
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "additional_messages": [{"role": "user", "content": ""}]}),
    )
    .await
    .bad("additional_messages[0].content");
    let msgs = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert!(assert_list(&msgs).is_empty());
    let runs = app.get(&format!("/threads/{tid}/runs")).await.ok();
    assert!(assert_list(&runs).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn list_and_modify_runs() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let r1 = app.run(&tid, &asst).await;
    let r1 = app.cancel(&tid, &id_of(&r1)).await;
    let r2 = app.run(&tid, &asst).await;
    let list = app.get(&format!("/threads/{tid}/runs")).await.ok();
    assert_eq!(assert_list(&list), vec![id_of(&r2), id_of(&r1)]);
    assert_eq!(list["data"][0], r2);
    assert_eq!(list["data"][1], r1);
    for r in list["data"].as_array().unwrap() {
        assert_keys(r, RUN_KEYS);
    }
    let path = format!("/threads/{tid}/runs/{}", id_of(&r1));
    assert_eq!(app.post(&path, json!({})).await.ok(), r1);
    let m = app.post(&path, json!({"metadata": {"a": "b"}})).await.ok();
    let mut expected = r1.clone();
    expected["metadata"] = json!({"a": "b"});
    assert_eq!(m, expected);
    assert_eq!(app.get(&path).await.ok(), expected);
    let m = app.post(&path, json!({"metadata": null})).await.ok();
    assert!(m["metadata"].is_null());
    app.post(&path, json!({"model": "x"})).await.bad("model");
    app.stop().await;
}

#[tokio::test]
async fn runs_are_scoped_to_their_thread() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let t1 = app.thread().await;
    let t2 = app.thread().await;
    let run = id_of(&app.run(&t1, &asst).await);
    app.get(&format!("/threads/{t2}/runs/{run}"))
        .await
        .not_found("run", &run);
    app.post(&format!("/threads/{t2}/runs/{run}/cancel"), json!({}))
        .await
        .not_found("run", &run);
    app.get(&format!("/threads/{t2}/runs/{run}/steps"))
        .await
        .not_found("run", &run);
    app.get(&format!("/threads/{t1}/runs/run_nope"))
        .await
        .not_found("run", "run_nope");
    app.post(&format!("/threads/{t1}/runs/run_nope"), json!({}))
        .await
        .not_found("run", "run_nope");
    app.get(&format!("/threads/{t1}/runs/run_nope/steps/step_nope"))
        .await
        .not_found("run", "run_nope");
    app.post(
        &format!("/threads/{t1}/runs/run_nope/submit_tool_outputs"),
        json!({"tool_outputs": []}),
    )
    .await
    .not_found("run", "run_nope");
    app.stop().await;
}

#[tokio::test]
async fn create_run_with_unknown_references() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    app.post(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": "asst_nope"}),
    )
    .await
    .not_found("assistant", "asst_nope");
    app.post("/threads/thread_nope/runs", json!({"assistant_id": asst}))
        .await
        .not_found("thread", "thread_nope");
    app.post(&format!("/threads/{tid}/runs"), json!({}))
        .await
        .bad("assistant_id");
    app.post("/threads/runs", json!({"assistant_id": "asst_nope"}))
        .await
        .not_found("assistant", "asst_nope");
    app.post("/threads/runs", json!({"thread": {}}))
        .await
        .bad("assistant_id");
    app.stop().await;
}

#[tokio::test]
async fn create_thread_and_run_without_a_thread() {
    let app = TestApp::spawn().await;
    let (a, f) = rich_assistant(&app).await;
    let asst = id_of(&a);
    let r = app
        .post("/threads/runs", json!({"assistant_id": asst}))
        .await
        .ok();
    assert_keys(&r, RUN_KEYS);
    assert_id(&r["id"], "run_");
    assert_id(&r["thread_id"], "thread_");
    assert_eq!(r["status"], "queued");
    assert_eq!(r["model"], "gpt-4-turbo");
    assert_eq!(r["instructions"], "Be brief.");
    assert_eq!(r["tools"], a["tools"]);
    assert_eq!(r["file_ids"], json!([f]));
    let created = r["created_at"].as_i64().unwrap();
    assert_eq!(r["expires_at"], json!(created + 600));
    let tid = r["thread_id"].as_str().unwrap();
    let t = app.get(&format!("/threads/{tid}")).await.ok();
    assert!(t["metadata"].is_null());
    let msgs = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert!(assert_list(&msgs).is_empty());
    let runs = app.get(&format!("/threads/{tid}/runs")).await.ok();
    assert_eq!(runs["data"][0], r);
    app.stop().await;
}

#[tokio::test]
async fn create_thread_and_run_with_a_thread_and_overrides() {
    let app = TestApp::spawn().await;
    let (a, _) = rich_assistant(&app).await;
    let asst = id_of(&a);
    let r = app
        .post(
            "/threads/runs",
            json!({
                "assistant_id": asst,
                "thread": {
                    "messages": [{"role": "user", "content": "Explain deep learning."}],
                    "metadata": {"t": "1"}
                },
                "model": "gpt-4o",
                "instructions": "Override.",
                "tools": [],
                "metadata": {"r": "1"},
                "temperature": 0.0,
                "top_p": 1.0,
                "max_completion_tokens": 300,
                "truncation_strategy": {"type": "auto"},
                "tool_choice": "none",
                "response_format": "auto"
            }),
        )
        .await
        .ok();
    assert_eq!(r["model"], "gpt-4o");
    assert_eq!(r["instructions"], "Override.");
    assert_eq!(r["tools"], json!([]));
    assert_eq!(r["metadata"], json!({"r": "1"}));
    assert_eq!(r["temperature"], json!(0.0));
    assert_eq!(r["top_p"], json!(1.0));
    assert_eq!(r["max_completion_tokens"], 300);
    assert!(r["max_prompt_tokens"].is_null());
    assert_eq!(r["tool_choice"], "none");
    assert_eq!(r["response_format"], "auto");
    let tid = r["thread_id"].as_str().unwrap();
    let t = app.get(&format!("/threads/{tid}")).await.ok();
    assert_eq!(t["metadata"], json!({"t": "1"}));
    let msgs = app.get(&format!("/threads/{tid}/messages")).await.ok();
    assert_eq!(assert_list(&msgs).len(), 1);
    assert_eq!(
        msgs["data"][0]["content"][0]["text"]["value"],
        "Explain deep learning."
    );
    assert_eq!(msgs["data"][0]["thread_id"], json!(tid));
    app.stop().await;
}

#[tokio::test]
async fn create_thread_and_run_rejects_bad_thread_messages() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": ""}]}}),
    )
    .await
    .bad("thread.messages[0].content");
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "thread": {"messages": [
            {"role": "user", "content": "x", "file_ids": ["file-nope"]}
        ]}}),
    )
    .await
    .bad("thread.messages[0].file_ids[0]");
    // additional_* belong to createRun only.
    app.post(
        "/threads/runs",
        json!({"assistant_id": asst, "additional_instructions": "x"}),
    )
    .await
    .bad("additional_instructions");
    app.stop().await;
}

#[tokio::test]
async fn cancel_a_queued_run() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let r = app.run(&tid, &asst).await;
    let rid = id_of(&r);
    // The SDKs send the cancel without a body.
    let c = app
        .run_request(app.request(
            reqwest::Method::POST,
            &format!("/threads/{tid}/runs/{rid}/cancel"),
        ))
        .await
        .ok();
    assert_keys(&c, RUN_KEYS);
    assert_eq!(c["id"], json!(rid));
    assert_eq!(c["status"], "cancelled");
    assert_ts(&c["cancelled_at"]);
    assert!(c["completed_at"].is_null());
    assert!(c["failed_at"].is_null());
    assert_eq!(c["created_at"], r["created_at"]);
    assert_eq!(app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok(), c);
    // A cancelled run cannot be cancelled again.
    let e = app
        .post(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await
        .err(400);
    assert_eq!(e["type"], "invalid_request_error");
    assert!(e["message"].as_str().unwrap().contains("cancelled"), "{e}");
    // Nor accept tool outputs.
    app.post(
        &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]}),
    )
    .await
    .err(400);
    app.stop().await;
}

#[tokio::test]
async fn submit_tool_outputs_to_a_queued_run_is_400() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let r = app.run(&tid, &asst).await;
    let rid = id_of(&r);
    let e = app
        .post(
            &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]}),
        )
        .await
        .err(400);
    assert!(e["message"].as_str().unwrap().contains("queued"), "{e}");
    app.post(
        &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
        json!({}),
    )
    .await
    .bad("tool_outputs");
    assert_eq!(app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok(), r);
    app.stop().await;
}

#[tokio::test]
async fn run_steps_of_a_fresh_run() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let steps = app
        .get(&format!("/threads/{tid}/runs/{rid}/steps"))
        .await
        .ok();
    assert!(assert_list(&steps).is_empty());
    app.get(&format!("/threads/{tid}/runs/{rid}/steps/step_nope"))
        .await
        .not_found("run step", "step_nope");
    app.stop().await;
}

#[tokio::test]
async fn requires_action_steps_and_tool_outputs() {
    let app = TestApp::spawn().await;
    let asst = id_of(
        &app.post(
            "/assistants",
            json!({"model": "gpt-4", "tools": [function_tool("get_weather"), function_tool("get_time")]}),
        )
        .await
        .ok(),
    );
    let tid = app.thread().await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let step_id = app
        .require_action(
            &tid,
            &rid,
            &[
                ("get_weather", r#"{"city":"Paris"}"#),
                ("get_time", r#"{"tz":"UTC"}"#),
            ],
        )
        .await;
    let run = app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok();
    assert_keys(&run, RUN_KEYS);
    assert_eq!(run["status"], "requires_action");
    assert_ts(&run["started_at"]);
    let action = &run["required_action"];
    assert_eq!(action["type"], "submit_tool_outputs");
    let calls = action["submit_tool_outputs"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 2);
    for c in calls {
        assert_keys(c, &["id", "type", "function"]);
        assert_id(&c["id"], "call_");
        assert_eq!(c["type"], "function");
        assert_keys(&c["function"], &["name", "arguments"]);
    }
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["function"]["arguments"], r#"{"city":"Paris"}"#);
    let (c0, c1) = (
        calls[0]["id"].as_str().unwrap().to_owned(),
        calls[1]["id"].as_str().unwrap().to_owned(),
    );

    // The step.
    let steps = app
        .get(&format!("/threads/{tid}/runs/{rid}/steps"))
        .await
        .ok();
    assert_eq!(assert_list(&steps), vec![step_id.clone()]);
    let step = &steps["data"][0];
    assert_keys(step, STEP_KEYS);
    assert_id(&step["id"], "step_");
    assert_eq!(step["object"], "thread.run.step");
    assert_ts(&step["created_at"]);
    assert_eq!(step["assistant_id"], json!(asst));
    assert_eq!(step["thread_id"], json!(tid));
    assert_eq!(step["run_id"], json!(rid));
    assert_eq!(step["type"], "tool_calls");
    assert_eq!(step["status"], "in_progress");
    for field in [
        "last_error",
        "expired_at",
        "cancelled_at",
        "failed_at",
        "completed_at",
        "usage",
    ] {
        assert!(step[field].is_null(), "{field}: {step}");
    }
    assert_eq!(
        step["step_details"],
        json!({"type": "tool_calls", "tool_calls": [
            {"id": c0, "type": "function", "function": {"name": "get_weather", "arguments": r#"{"city":"Paris"}"#, "output": null}},
            {"id": c1, "type": "function", "function": {"name": "get_time", "arguments": r#"{"tz":"UTC"}"#, "output": null}}
        ]})
    );
    let one = app
        .get(&format!("/threads/{tid}/runs/{rid}/steps/{step_id}"))
        .await
        .ok();
    assert_eq!(&one, step);

    // Wrong submissions change nothing.
    let sto = format!("/threads/{tid}/runs/{rid}/submit_tool_outputs");
    app.post(
        &sto,
        json!({"tool_outputs": [{"tool_call_id": "call_unknown", "output": "x"}]}),
    )
    .await
    .bad("tool_outputs[0].tool_call_id");
    app.post(
        &sto,
        json!({"tool_outputs": [{"tool_call_id": c0, "output": "x"}]}),
    )
    .await
    .bad("tool_outputs");
    app.post(
        &sto,
        json!({"tool_outputs": [{"tool_call_id": c0, "output": "x"}, {"tool_call_id": c0, "output": "y"}]}),
    )
    .await
    .bad("tool_outputs[1].tool_call_id");
    app.post(
        &sto,
        json!({"tool_outputs": [{"tool_call_id": c0, "output": "x", "junk": 1}]}),
    )
    .await
    .bad("tool_outputs[0].junk");
    assert_eq!(
        app.get(&format!("/threads/{tid}/runs/{rid}")).await.ok(),
        run
    );

    // All outputs at once.
    let after = app
        .post(
            &sto,
            json!({"tool_outputs": [
                {"tool_call_id": c1, "output": "12:00"},
                {"tool_call_id": c0, "output": "sunny"}
            ]}),
        )
        .await
        .ok();
    assert_keys(&after, RUN_KEYS);
    assert_eq!(after["status"], "queued");
    assert!(after["required_action"].is_null());
    let step = app
        .get(&format!("/threads/{tid}/runs/{rid}/steps/{step_id}"))
        .await
        .ok();
    assert_eq!(step["status"], "completed");
    assert_ts(&step["completed_at"]);
    assert_eq!(
        step["step_details"]["tool_calls"][0]["function"]["output"],
        "sunny"
    );
    assert_eq!(
        step["step_details"]["tool_calls"][1]["function"]["output"],
        "12:00"
    );
    app.stop().await;
}

#[tokio::test]
async fn cancel_a_run_that_requires_action() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let rid = id_of(&app.run(&tid, &asst).await);
    let step = app.require_action(&tid, &rid, &[("f", "{}")]).await;
    let c = app
        .post(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await
        .ok();
    assert_eq!(c["status"], "cancelled");
    assert!(c["required_action"].is_null());
    assert_ts(&c["cancelled_at"]);
    let s = app
        .get(&format!("/threads/{tid}/runs/{rid}/steps/{step}"))
        .await
        .ok();
    assert_eq!(s["status"], "cancelled");
    assert_ts(&s["cancelled_at"]);
    app.stop().await;
}

#[tokio::test]
async fn steps_of_another_run_are_404() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let tid = app.thread().await;
    let r1 = id_of(&app.run(&tid, &asst).await);
    let step = app.require_action(&tid, &r1, &[("f", "{}")]).await;
    app.cancel(&tid, &r1).await;
    let r2 = id_of(&app.run(&tid, &asst).await);
    app.get(&format!("/threads/{tid}/runs/{r2}/steps/{step}"))
        .await
        .not_found("run step", &step);
    let list = app
        .get(&format!("/threads/{tid}/runs/{r2}/steps"))
        .await
        .ok();
    assert!(assert_list(&list).is_empty());
    app.stop().await;
}
