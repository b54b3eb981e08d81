//! What pollers and stream clients see of a run while and after it executes: the text of a
//! message being written, `expires_at` of an ended run, the sampling parameters nobody set, and
//! a run that fails before its first turn.

use crate::common::TestApp;
use crate::engine::{engine_app_with, setup, start_run, terminal, wait_for};
use crate::streaming::{Reader, names};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The text parts of a message's content.
fn text_of(m: &Value) -> String {
    m["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"]["value"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The run's assistant message, as the list of `thread`'s messages shows it (v1 or v2).
async fn listed(app: &TestApp, v2: bool, thread: &str, run: &str) -> Option<Value> {
    let path = format!("/threads/{thread}/messages?run_id={run}");
    let list = if v2 {
        app.v2().get(&path).await.ok()
    } else {
        app.get(&path).await.ok()
    };
    list["data"].as_array()?.first().cloned()
}

#[tokio::test]
async fn a_message_shows_its_text_to_pollers_while_it_is_written() {
    let up = FakeUpstream::start().await;
    // The model pauses long after each piece: pollers must see the text so far meanwhile.
    up.push(Reply::Text {
        chunks: vec!["Hello ".into(), "partial ".into(), "world.".into()],
        delay: Duration::from_millis(1500),
        finish: "stop",
    });
    let app = engine_app_with(&up, |s| s.text_flush_ms = 100).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let run_id = run["id"].as_str().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let partial = loop {
        if let Some(m) = listed(&app, false, &thread, run_id).await
            && m["status"] == "in_progress"
            && !text_of(&m).is_empty()
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no text while the answer streams"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let full = "Hello partial world.";
    let id = partial["id"].as_str().unwrap().to_owned();
    let path = format!("/threads/{thread}/messages/{id}");
    let views = [
        ("v1 list", partial),
        ("v1 get", app.get(&path).await.ok()),
        ("v2 get", app.v2().get(&path).await.ok()),
        (
            "v2 list",
            listed(&app, true, &thread, run_id).await.unwrap(),
        ),
    ];
    for (how, m) in views {
        assert_eq!(m["status"], "in_progress", "{how}: {m}");
        let text = text_of(&m);
        assert!(
            text.starts_with("Hello ") && text.len() < full.len(),
            "{how}: the text so far, not the whole: {m}"
        );
        // The shape the completed message has: one text part, no annotations yet.
        assert_eq!(
            m["content"],
            json!([{"type": "text", "text": {"value": text, "annotations": []}}]),
            "{how}"
        );
    }
    let run = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(run["status"], "completed");
    for v2 in [false, true] {
        let m = listed(&app, v2, &thread, run_id).await.unwrap();
        assert_eq!(m["status"], "completed", "{m}");
        assert_eq!(
            m["content"],
            json!([{"type": "text", "text": {"value": full, "annotations": []}}])
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_run_that_ended_no_longer_expires() {
    let up = FakeUpstream::start().await;
    let app = engine_app_with(&up, |s| s.run_expires_after_secs = 3).await;
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let (asst, _) = setup(&app, json!({"model": "m", "tools": tools}), "hi").await;
    // One run at a time, so that each takes its own scripted reply.
    for (reply, status) in [
        (Reply::text("Done."), "completed"),
        (Reply::call("f", "{}"), "cancelled"),
        (
            Reply::Status {
                code: 400,
                retry_after: None,
            },
            "failed",
        ),
        (Reply::call("f", "{}"), "expired"),
    ] {
        up.push(reply);
        let thread = app.thread().await;
        app.message(&thread, "hi").await;
        let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
        assert!(run["expires_at"].as_i64().is_some(), "queued: {run}");
        let id = run["id"].as_str().unwrap();
        if matches!(status, "cancelled" | "expired") {
            // It expires while it waits for tool outputs.
            let waiting = wait_for(&app, &thread, id, |s| s == "requires_action").await;
            assert!(waiting["expires_at"].as_i64().is_some(), "{waiting}");
            if status == "cancelled" {
                app.cancel(&thread, id).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let run = loop {
            let r = app.get(&format!("/threads/{thread}/runs/{id}")).await.ok();
            if r["status"] == status {
                break r;
            }
            assert!(Instant::now() < deadline, "not {status}: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["expires_at"], Value::Null, "{status}: {run}");
        let v2 = app
            .v2()
            .get(&format!("/threads/{thread}/runs/{id}"))
            .await
            .ok();
        assert_eq!(v2["expires_at"], Value::Null, "v2 {status}: {v2}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sampling_parameters_nobody_set_stay_out_of_the_model_request() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("One."));
    up.push(Reply::text("Two."));
    let app = engine_app_with(&up, |_| {}).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let id = run["id"].as_str().unwrap();
    wait_for(&app, &thread, id, terminal).await;
    let req = &up.requests()[0];
    assert!(
        req.get("temperature").is_none() && req.get("top_p").is_none(),
        "nobody set them: {req}"
    );
    // Clients see what the model used, as OpenAI shows it.
    let path = format!("/threads/{thread}/runs/{id}");
    for run in [app.get(&path).await.ok(), app.v2().get(&path).await.ok()] {
        assert_eq!(run["temperature"], json!(1.0), "{run}");
        assert_eq!(run["top_p"], json!(1.0), "{run}");
    }

    // Set explicitly (even to the default), by the run or by its assistant: sent.
    let (asst, thread) = setup(&app, json!({"model": "m", "top_p": 0.5}), "hi").await;
    let body = json!({"assistant_id": asst, "temperature": 1.0});
    let (run, _) = start_run(&app, &thread, body).await;
    assert_eq!(run["temperature"], json!(1.0));
    assert_eq!(run["top_p"], json!(0.5));
    wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    let req = &up.requests()[1];
    assert_eq!(req["temperature"], json!(1.0), "{req}");
    assert_eq!(req["top_p"], json!(0.5), "{req}");
    app.stop().await;
}

#[tokio::test]
async fn a_run_failing_before_its_first_turn_streams_in_progress_then_failed() {
    let up = FakeUpstream::start().await;
    let app = engine_app_with(&up, |s| s.code_interpreter.enabled = false).await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true,
               "tools": [{"type": "code_interpreter"}]}),
    )
    .await
    .all()
    .await;
    assert_eq!(
        names(&evs),
        [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.failed",
            "done"
        ],
        "{evs:?}"
    );
    let in_progress = evs[2].json();
    let failed = evs[3].json();
    assert_eq!(in_progress["status"], "in_progress");
    assert!(
        in_progress["started_at"].as_i64().is_some(),
        "{in_progress}"
    );
    assert!(
        failed["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("not enabled"),
        "{failed}"
    );
    // The stream and the REST object agree: started, then failed.
    let id = failed["id"].as_str().unwrap();
    let run = app.get(&format!("/threads/{thread}/runs/{id}")).await.ok();
    assert_eq!(run["status"], "failed");
    assert_eq!(run["started_at"], in_progress["started_at"]);
    assert!(run["failed_at"].as_i64().is_some());
    assert!(up.requests().is_empty(), "the model was never asked");

    // A budget the run cannot fit in ends it before the model too: also after in_progress.
    // (About 1,000 estimated tokens against the smallest budget a run may set.)
    let (asst, thread) = setup(&app, json!({"model": "m"}), &"word ".repeat(800)).await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true, "max_prompt_tokens": 256}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    let started = n.iter().position(|e| *e == "thread.run.in_progress");
    let ended = n.iter().position(|e| *e == "thread.run.completed");
    assert!(started.is_some() && started < ended, "{n:?}");
    assert!(up.requests().is_empty(), "the model was never asked");
    app.stop().await;
}

/// The value of the metric `name` (without labels) in a Prometheus scrape.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_long_answer_costs_one_write_per_interval_at_most() {
    let up = FakeUpstream::start().await;
    let tokens = 1000;
    up.push(Reply::Text {
        chunks: (0..tokens).map(|i| format!("t{i} ")).collect(),
        delay: Duration::from_millis(2),
        finish: "stop",
    });
    let app = engine_app_with(&up, |s| {
        s.metrics_enabled = true;
        s.text_flush_ms = 200;
    })
    .await;
    let (asst, thread) = setup(&app, json!({"model": "m"}), "hi").await;
    let started = Instant::now();
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    let elapsed = started.elapsed();
    assert_eq!(done["status"], "completed", "{done}");
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let flushes = metric(&text, "assistd_message_text_flushes_total").unwrap_or(0.0);
    let bound = elapsed.as_secs_f64() / 0.2 + 1.0;
    eprintln!("{tokens} tokens in {elapsed:?}: {flushes} flushes (bound {bound:.1})");
    assert!(flushes >= 1.0, "the text was stored while it streamed");
    assert!(flushes <= bound, "{flushes} flushes in {elapsed:?}");
    app.stop().await;
}
