//! `stream: true` under Assistants v2: each stream shows its objects in its request's version,
//! and a run cut by its token budget ends with `thread.run.incomplete` (v2) or
//! `thread.run.completed` (v1).

use crate::common::{TestApp, id_of};
use crate::streaming::{Ev, Reader, answer_events, find, names};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn app_with(up: &FakeUpstream) -> TestApp {
    let url = up.url.clone();
    TestApp::builder()
        .with(move |s| {
            s.workers = 2;
            s.upstream_url = Some(url);
        })
        .spawn()
        .await
}

async fn open_v2(app: &TestApp, path: &str, body: Value) -> Vec<Ev> {
    let res = app
        .request_v2(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("sent");
    Reader::from_response(res).all().await
}

fn capped() -> Reply {
    Reply::Text {
        chunks: vec!["cut ".into(), "short".into()],
        delay: Duration::ZERO,
        finish: "length",
    }
}

#[tokio::test]
async fn a_capped_run_streams_incomplete_to_v2_and_completed_to_v1() {
    let up = FakeUpstream::start().await;
    up.push(capped());
    up.push(capped());
    let app = app_with(&up).await;
    let asst = app.v2().assistant().await;
    let body = json!({
        "assistant_id": asst,
        "stream": true,
        "max_completion_tokens": 256,
        "thread": {"messages": [{"role": "user", "content": "hello"}]}
    });

    let evs = open_v2(&app, "/threads/runs", body.clone()).await;
    let n = names(&evs);
    let deltas = n.iter().filter(|n| **n == "thread.message.delta").count();
    let mut expected = vec!["thread.created"];
    expected.extend(answer_events(
        deltas,
        "thread.message.incomplete",
        "thread.run.incomplete",
    ));
    assert_eq!(n, expected);
    assert_eq!(deltas, 2);
    let run = find(&evs, "thread.run.incomplete").json();
    assert_eq!(run["status"], "incomplete");
    assert_eq!(
        run["incomplete_details"],
        json!({"reason": "max_completion_tokens"})
    );
    assert!(run.get("file_ids").is_none(), "{run}");
    assert_eq!(run["parallel_tool_calls"], true);
    let created = find(&evs, "thread.run.created").json();
    assert!(created.get("file_ids").is_none(), "{created}");
    assert_eq!(created["parallel_tool_calls"], true);
    // What the stream showed is what the v2 API returns.
    let thread = run["thread_id"].as_str().unwrap();
    let rest = app
        .v2()
        .get(&format!("/threads/{thread}/runs/{}", id_of(&run)))
        .await
        .ok();
    assert_eq!(rest, run);

    // The same run, streamed to a v1 client, ends as v1 knew it.
    let evs = Reader::open(&app, "/threads/runs", body).await.all().await;
    let n = names(&evs);
    assert!(!n.contains(&"thread.run.incomplete"), "{n:?}");
    assert_eq!(
        &n[n.len() - 3..],
        ["thread.run.step.completed", "thread.run.completed", "done"]
    );
    let run = find(&evs, "thread.run.completed").json();
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["incomplete_details"],
        json!({"reason": "max_completion_tokens"})
    );
    assert!(run.get("parallel_tool_calls").is_none(), "{run}");
    assert!(run["file_ids"].is_array(), "{run}");
}

#[tokio::test]
async fn v2_streams_of_tool_calls_and_outputs_show_v2_objects() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call("get_weather", r#"{"city":"Oslo"}"#));
    up.push(Reply::text("It is sunny."));
    let app = app_with(&up).await;
    let asst = id_of(
        &app.v2()
            .post(
                "/assistants",
                json!({"model": "gpt-4o", "tools": [crate::common::function_tool("get_weather")]}),
            )
            .await
            .ok(),
    );
    let thread = id_of(
        &app.v2()
            .post(
                "/threads",
                json!({"messages": [{"role": "user", "content": "weather?"}]}),
            )
            .await
            .ok(),
    );
    let evs = open_v2(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true, "parallel_tool_calls": false, "tool_choice": "required"}),
    )
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[n.len() - 2..],
        ["thread.run.requires_action", "done"],
        "{n:?}"
    );
    let waiting = find(&evs, "thread.run.requires_action").json();
    assert_eq!(waiting["tool_choice"], "required");
    assert_eq!(waiting["parallel_tool_calls"], false);
    let call_id = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(n.contains(&"thread.run.step.delta"), "{n:?}");

    let evs = open_v2(
        &app,
        &format!(
            "/threads/{thread}/runs/{}/submit_tool_outputs",
            id_of(&waiting)
        ),
        json!({"tool_outputs": [{"tool_call_id": call_id, "output": "sunny"}], "stream": true}),
    )
    .await;
    let n = names(&evs);
    assert_eq!(n[0], "thread.run.queued");
    assert_eq!(&n[n.len() - 2..], ["thread.run.completed", "done"], "{n:?}");
    let done = find(&evs, "thread.run.completed").json();
    assert_eq!(done["tool_choice"], "required");
    assert!(done.get("file_ids").is_none(), "{done}");
}
