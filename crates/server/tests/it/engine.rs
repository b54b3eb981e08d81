//! The run engine end to end: the real server with workers, talking to a fake OpenAI-compatible
//! upstream over real sockets.

use crate::common::TestApp;
use assistd_server::config::DatabaseUrl;
use assistd_test_support::pg::TestDatabase;
use assistd_test_support::upstream::{FakeUpstream, PROMPT_TOKENS, Reply};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

async fn engine_app(up: &FakeUpstream) -> TestApp {
    engine_app_with(up, |_| {}).await
}

pub async fn engine_app_with(
    up: &FakeUpstream,
    f: impl FnOnce(&mut assistd_server::config::Settings),
) -> TestApp {
    let url = up.url.clone();
    TestApp::builder()
        .with(move |s| {
            s.workers = 4;
            s.upstream_url = Some(url);
            f(s);
        })
        .spawn()
        .await
}

/// Polls the run until `done` holds (or 15 s pass).
pub(crate) async fn wait_for(
    app: &TestApp,
    thread: &str,
    run: &str,
    done: impl Fn(&str) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.get(&format!("/threads/{thread}/runs/{run}")).await.ok();
        if done(r["status"].as_str().unwrap_or_default()) {
            return r;
        }
        assert!(Instant::now() < deadline, "run stuck: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn terminal(s: &str) -> bool {
    matches!(
        s,
        "completed" | "failed" | "cancelled" | "expired" | "requires_action"
    )
}

pub(crate) async fn setup(app: &TestApp, assistant: Value, user: &str) -> (String, String) {
    let a = app.post("/assistants", assistant).await.ok();
    let t = app
        .post(
            "/threads",
            json!({"messages": [{"role": "user", "content": user}]}),
        )
        .await
        .ok();
    (
        a["id"].as_str().unwrap().to_owned(),
        t["id"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn start_run(app: &TestApp, thread: &str, body: Value) -> (Value, HeaderMap) {
    let resp = app.post(&format!("/threads/{thread}/runs"), body).await;
    let headers = resp.headers.clone();
    (resp.ok(), headers)
}

fn messages(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_text_run_completes_with_its_message_step_and_usage() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("Hello there, friend!"));
    let app = engine_app(&up).await;
    let (asst, thread) = setup(
        &app,
        json!({"model": "gpt-test", "instructions": "Be brief."}),
        "hi",
    )
    .await;
    let (run, created) = start_run(
        &app,
        &thread,
        json!({"assistant_id": asst, "additional_instructions": "Answer in English."}),
    )
    .await;
    assert_eq!(created["openai-poll-after-ms"].to_str().unwrap(), "100");
    let run_id = run["id"].as_str().unwrap();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["started_at"].as_i64().is_some());
    assert!(done["completed_at"].as_i64().is_some());
    assert_eq!(done["last_error"], Value::Null);
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 3, "total_tokens": PROMPT_TOKENS + 3})
    );

    let list = app
        .get(&format!("/threads/{thread}/messages?run_id={run_id}"))
        .await
        .ok();
    let msgs = messages(&list);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["status"], "completed");
    assert_eq!(m["assistant_id"], asst.as_str());
    assert_eq!(m["run_id"], run_id);
    assert_eq!(m["content"][0]["text"]["value"], "Hello there, friend!");
    assert!(m["completed_at"].as_i64().is_some());

    let steps = app
        .get(&format!("/threads/{thread}/runs/{run_id}/steps"))
        .await
        .ok();
    let steps = messages(&steps);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["type"], "message_creation");
    assert_eq!(steps[0]["status"], "completed");
    assert_eq!(
        steps[0]["step_details"]["message_creation"]["message_id"],
        m["id"]
    );
    assert_eq!(steps[0]["usage"], done["usage"]);

    // The prompt: instructions + additional instructions, then the thread.
    let req = &up.requests()[0];
    assert_eq!(req["model"], "gpt-test");
    assert_eq!(req["stream"], true);
    assert_eq!(req["stream_options"]["include_usage"], true);
    assert_eq!(req["messages"][0]["role"], "system");
    assert_eq!(
        req["messages"][0]["content"],
        "Be brief.\n\nAnswer in English."
    );
    assert_eq!(req["messages"][1], json!({"role": "user", "content": "hi"}));
}

#[tokio::test]
async fn function_calling_round_trip_with_parallel_calls() {
    let up = FakeUpstream::start().await;
    up.push(Reply::ToolCalls(vec![
        ("get_weather".into(), r#"{"city":"Paris"}"#.into()),
        ("get_time".into(), r#"{"tz":"CET"}"#.into()),
    ]));
    up.push(Reply::text("Sunny, and it is noon."));
    let app = engine_app(&up).await;
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_time"}}
    ]);
    let (asst, thread) = setup(
        &app,
        json!({"model": "gpt-test", "tools": tools}),
        "weather and time?",
    )
    .await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    let waiting = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(waiting["status"], "requires_action", "{waiting}");
    let calls = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["function"]["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(calls[1]["function"]["name"], "get_time");
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|i| i.starts_with("call_")));
    assert_ne!(ids[0], ids[1]);

    // One output per call, in one request.
    let path = format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs");
    let e = app
        .post(
            &path,
            json!({"tool_outputs": [{"tool_call_id": ids[0], "output": "sunny"}]}),
        )
        .await
        .err(400);
    assert_eq!(e["param"], "tool_outputs");
    let resumed = app
        .post(
            &path,
            json!({"tool_outputs": [
                {"tool_call_id": ids[1], "output": "12:00"},
                {"tool_call_id": ids[0], "output": "sunny"}
            ]}),
        )
        .await
        .ok();
    assert_eq!(resumed["status"], "queued");
    let done = wait_for(&app, &thread, run_id, |s| s == "completed" || s == "failed").await;
    assert_eq!(done["status"], "completed", "{done}");

    // The second request carries the calls and their outputs.
    let second = &up.requests()[1];
    let msgs = second["messages"].as_array().unwrap();
    let assistant = msgs.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant["tool_calls"][0]["id"], ids[0]);
    let tool_msgs: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_msgs.len(), 2);
    assert_eq!(tool_msgs[0]["tool_call_id"], ids[0]);
    assert_eq!(tool_msgs[0]["content"], "sunny");
    assert_eq!(tool_msgs[1]["content"], "12:00");

    let steps = app
        .get(&format!("/threads/{thread}/runs/{run_id}/steps?order=asc"))
        .await
        .ok();
    let steps = messages(&steps);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["type"], "tool_calls");
    assert_eq!(steps[0]["status"], "completed");
    assert_eq!(
        steps[0]["step_details"]["tool_calls"][0]["function"]["output"],
        "sunny"
    );
    assert_eq!(steps[1]["type"], "message_creation");
    let total: i64 = steps
        .iter()
        .map(|s| s["usage"]["total_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!(done["usage"]["total_tokens"].as_i64().unwrap(), total);
}

#[tokio::test]
async fn a_model_without_a_route_fails_the_run_clearly() {
    let app = TestApp::builder().with(|s| s.workers = 2).spawn().await;
    let (asst, thread) = setup(&app, json!({"model": "nowhere-model"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["last_error"]["code"], "server_error");
    assert!(
        done["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("nowhere-model"),
        "{done}"
    );
    assert!(done["failed_at"].as_i64().is_some());
}

#[tokio::test]
async fn rate_limits_are_retried_then_reported() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Status {
        code: 429,
        retry_after: Some(0),
    });
    up.push(Reply::text("made it"));
    // Then a run that never gets through.
    for _ in 0..10 {
        up.push(Reply::Status {
            code: 429,
            retry_after: Some(0),
        });
    }
    let app = engine_app(&up).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "completed", "{done}");

    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn upstream_errors_fail_the_run_with_server_error() {
    let up = FakeUpstream::start().await;
    for _ in 0..4 {
        up.push(Reply::Status {
            code: 500,
            retry_after: Some(0),
        });
    }
    let app = engine_app(&up).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "server_error");
    assert_eq!(up.requests().len(), 4, "first attempt + 3 retries");
}

#[tokio::test]
async fn malformed_tool_call_json_fails_the_run() {
    let up = FakeUpstream::start().await;
    for _ in 0..3 {
        up.push(Reply::call("f", "{\"a\": 1"));
    }
    let app = engine_app(&up).await;
    let (asst, thread) = setup(
        &app,
        json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]}),
        "hi",
    )
    .await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
}

#[tokio::test]
async fn a_dropped_stream_is_retried_without_duplicating_the_message() {
    let up = FakeUpstream::start().await;
    up.push(Reply::DropAfter(vec!["partial ".into(), "answer".into()]));
    up.push(Reply::text("whole answer"));
    let app = engine_app(&up).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_one_answer(&app, &thread, run_id, "whole answer").await;
}

/// Asserts that run `run_id` left one message, whose text is `text`, and one step: a turn tried
/// again left nothing of its first try.
async fn assert_one_answer(app: &TestApp, thread: &str, run_id: &str, text: &str) {
    let list = app
        .get(&format!("/threads/{thread}/messages?run_id={run_id}"))
        .await
        .ok();
    let msgs = messages(&list);
    assert_eq!(msgs.len(), 1, "{list}");
    assert_eq!(msgs[0]["content"][0]["text"]["value"], text);
    let steps = app
        .get(&format!("/threads/{thread}/runs/{run_id}/steps"))
        .await
        .ok();
    assert_eq!(messages(&steps).len(), 1, "{steps}");
}

#[tokio::test]
async fn cancelling_an_in_progress_run_aborts_the_model_request() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Hang);
    let app = engine_app(&up).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    wait_for(&app, &thread, run_id, |s| s == "in_progress").await;
    // Wait until the model request is in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.requests().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancelled = app
        .post(
            &format!("/threads/{thread}/runs/{run_id}/cancel"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(cancelled["status"], "cancelling");
    let t = Instant::now();
    let done = wait_for(&app, &thread, run_id, |s| s == "cancelled").await;
    assert!(done["cancelled_at"].as_i64().is_some());
    assert!(t.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.abandoned() == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream request was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn one_active_run_per_thread_and_no_messages_while_active() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Hang);
    let app = engine_app(&up).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    let e = app
        .post(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst}),
        )
        .await
        .err(400);
    assert!(e["message"].as_str().unwrap().contains(run_id), "{e}");
    let e = app
        .post(
            &format!("/threads/{thread}/messages"),
            json!({"role": "user", "content": "more"}),
        )
        .await
        .err(400);
    assert!(e["message"].as_str().unwrap().contains(run_id), "{e}");
    app.post(
        &format!("/threads/{thread}/runs/{run_id}/cancel"),
        json!({}),
    )
    .await
    .ok();
    wait_for(&app, &thread, run_id, |s| s == "cancelled").await;
    app.post(
        &format!("/threads/{thread}/messages"),
        json!({"role": "user", "content": "more"}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn a_run_waiting_for_tool_outputs_expires() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call("f", "{}"));
    let app = engine_app_with(&up, |s| s.run_expires_after_secs = 2).await;
    let (asst, thread) = setup(
        &app,
        json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]}),
        "hi",
    )
    .await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    wait_for(&app, &thread, run_id, |s| s == "requires_action").await;
    let done = wait_for(&app, &thread, run_id, |s| s == "expired").await;
    assert_eq!(done["required_action"], Value::Null);
    let steps = app
        .get(&format!("/threads/{thread}/runs/{run_id}/steps"))
        .await
        .ok();
    assert_eq!(messages(&steps)[0]["status"], "expired");
    assert!(messages(&steps)[0]["expired_at"].as_i64().is_some());
}

#[tokio::test]
async fn a_run_executing_past_its_expiry_is_expired_with_its_model_request_stopped() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Hang);
    let app = engine_app_with(&up, |s| s.run_expires_after_secs = 2).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    wait_for(&app, &thread, run_id, |s| s == "in_progress").await;
    let started = Instant::now();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "expired", "{done}");
    // Noticed at the expiry itself, not at a lease renewal (every 10 s by default).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "expired after {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.abandoned() == 0 {
        assert!(
            Instant::now() < deadline,
            "the model request was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_named_tool_choice_forces_the_first_turn_only() {
    let up = FakeUpstream::start().await;
    up.push(Reply::ToolCalls(vec![("f".into(), "{}".into())]));
    up.push(Reply::text("done with f"));
    let app = engine_app(&up).await;
    let (asst, thread) = setup(
        &app,
        json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]}),
        "use f",
    )
    .await;
    let (run, _) = start_run(
        &app,
        &thread,
        json!({"assistant_id": asst, "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    )
    .await;
    let run_id = run["id"].as_str().unwrap();
    let waiting = wait_for(&app, &thread, run_id, terminal).await;
    let call = &waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0];
    app.post(
        &format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": call["id"], "output": "ok"}]}),
    )
    .await
    .ok();
    let done = wait_for(&app, &thread, run_id, |s| s == "completed" || s == "failed").await;
    assert_eq!(done["status"], "completed", "{done}");
    let reqs = up.requests();
    assert_eq!(reqs[0]["tool_choice"]["function"]["name"], "f");
    assert_eq!(
        reqs[1]["tool_choice"], "auto",
        "the answer to f's output is not forced"
    );
    // The run still reports what it was created with.
    assert_eq!(done["tool_choice"]["function"]["name"], "f");
}

#[tokio::test]
async fn truncation_and_overrides_shape_the_prompt() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("ok"));
    let app = engine_app(&up).await;
    let a = app
        .post(
            "/assistants",
            json!({"model": "assistant-model", "instructions": "assistant says"}),
        )
        .await
        .ok();
    let t = app
        .post(
            "/threads",
            json!({"messages": [
                {"role": "user", "content": "first"},
                {"role": "user", "content": "second"},
                {"role": "user", "content": "third"}
            ]}),
        )
        .await
        .ok();
    let thread = t["id"].as_str().unwrap();
    let (run, _) = start_run(
        &app,
        thread,
        json!({
            "assistant_id": a["id"],
            "model": "run-model",
            "instructions": "run says",
            "temperature": 0.2,
            "truncation_strategy": {"type": "last_messages", "last_messages": 2},
            "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}
        }),
    )
    .await;
    wait_for(&app, thread, run["id"].as_str().unwrap(), terminal).await;
    let req = &up.requests()[0];
    assert_eq!(req["model"], "run-model");
    assert_eq!(req["temperature"], 0.2);
    assert_eq!(req["response_format"]["type"], "json_object");
    assert_eq!(req["tool_choice"]["function"]["name"], "f");
    let contents: Vec<&str> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["run says", "second", "third"]);
}

/// A run on PostgreSQL whose `messages` answer the first assistant-message write that `when`
/// (a PL/pgSQL condition on `NEW`) picks with SQLSTATE 57P01, what PostgreSQL says as it
/// terminates a connection for a restart or failover, and every assistant-message write or
/// delete for half a second after it, as a database away for a moment would (the moment is kept
/// in a sequence, which is not rolled back with the write): the run ends `completed` with the
/// second upstream reply alone. SQLite cannot be made to say 57P01.
async fn a_run_meets_the_database_out_of_reach_at(event: &str, when: &str) {
    let db = TestDatabase::create().await;
    let up = FakeUpstream::start().await;
    up.push(Reply::text("Never kept."));
    up.push(Reply::text("Hello again."));
    let app = engine_app_with(&up, |s| s.database_url = Some(DatabaseUrl(db.url()))).await;
    let mut conn = PgConnection::connect(&db.url()).await.expect("connect");
    sqlx::raw_sql(&format!(
        "CREATE SEQUENCE fault_at; \
         CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE \
           now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint; \
           target messages; \
           away boolean := false; \
         BEGIN \
           IF TG_OP = 'DELETE' THEN target := OLD; ELSE target := NEW; END IF; \
           IF target.role = 'assistant' THEN \
             IF (SELECT is_called FROM fault_at) THEN \
               away := now_ms - (SELECT last_value FROM fault_at) < 500; \
             ELSIF TG_OP <> 'DELETE' THEN IF {when} THEN \
               PERFORM setval('fault_at', now_ms); \
               away := true; \
             END IF; END IF; \
           END IF; \
           IF away THEN \
             RAISE EXCEPTION 'terminating connection due to administrator command' \
               USING ERRCODE = '57P01'; \
           END IF; \
           RETURN target; \
         END $$; \
         CREATE TRIGGER fault BEFORE {event} OR DELETE ON messages \
           FOR EACH ROW EXECUTE FUNCTION fault();"
    ))
    .execute(&mut conn)
    .await
    .expect("install the fault");
    let (asst, thread) = setup(&app, json!({"model": "gpt-test"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["last_error"], Value::Null);
    assert_eq!(up.requests().len(), 2, "the turn was tried again");
    assert_one_answer(&app, &thread, run_id, "Hello again.").await;
    app.stop().await;
}

#[tokio::test]
async fn a_turn_whose_message_cannot_be_opened_for_a_moment_is_tried_again() {
    a_run_meets_the_database_out_of_reach_at("INSERT", "TRUE").await;
}

/// The message stands, in progress with its text, when its completion fails: the second try
/// discards it, once the database is back.
#[tokio::test]
async fn a_turn_whose_message_cannot_be_completed_for_a_moment_is_tried_again() {
    a_run_meets_the_database_out_of_reach_at("UPDATE", "NEW.status = 'completed'").await;
}
