//! `stream: true`: the raw server-sent events, their order and contents, and their ends.

use crate::common::{KEY_A, TestApp};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One parsed event.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub(crate) name: String,
    pub(crate) data: String,
}

impl Ev {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Reads SSE frames from a response, one at a time.
pub(crate) struct Reader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Reader {
    pub(crate) async fn open(app: &TestApp, path: &str, body: Value) -> Reader {
        let res = app
            .http
            .post(format!("{}/v1{path}", app.base))
            .bearer_auth(KEY_A)
            .json(&body)
            .send()
            .await
            .expect("sent");
        Self::from_response(res)
    }

    /// Reads the stream of `res`, which must be a 200 event stream.
    pub(crate) fn from_response(res: reqwest::Response) -> Reader {
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Reader {
            body: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    pub(crate) async fn next(&mut self) -> Option<Ev> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                match name {
                    Some(name) => return Some(Ev { name, data }),
                    None => continue, // a keep-alive comment
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("stream stalled")?;
            self.buf
                .push_str(&String::from_utf8_lossy(&chunk.expect("body chunk")));
        }
    }

    pub(crate) async fn all(mut self) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Some(ev) = self.next().await {
            out.push(ev);
        }
        out
    }
}

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

pub(crate) fn names(evs: &[Ev]) -> Vec<&str> {
    evs.iter().map(|e| e.name.as_str()).collect()
}

/// The first event named `name`.
pub(crate) fn find<'a>(evs: &'a [Ev], name: &str) -> &'a Ev {
    evs.iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(evs)))
}

/// The events of a run answered in text with `deltas` deltas, from `thread.run.created` to
/// `done`; the message and the run end with `message_end` and `run_end`.
pub(crate) fn answer_events(
    deltas: usize,
    message_end: &'static str,
    run_end: &'static str,
) -> Vec<&'static str> {
    let mut events = vec![
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ];
    events.extend(std::iter::repeat_n("thread.message.delta", deltas));
    events.extend([message_end, "thread.run.step.completed", run_end, "done"]);
    events
}

/// The text of the `thread.message.delta` events, in order (each must carry text).
pub(crate) fn delta_text(evs: &[Ev]) -> String {
    evs.iter()
        .filter(|e| e.name == "thread.message.delta")
        .map(|e| {
            e.json()["delta"]["content"][0]["text"]["value"]
                .as_str()
                .expect("a text delta")
                .to_owned()
        })
        .collect()
}

async fn thread_with_message(app: &TestApp) -> String {
    app.post(
        "/threads",
        json!({"messages": [{"role": "user", "content": "hello"}]}),
    )
    .await
    .ok()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_text_run_streams_every_event_in_order() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("one two three four"));
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    let deltas = n.iter().filter(|n| **n == "thread.message.delta").count();
    assert_eq!(deltas, 4, "{n:?}");
    assert_eq!(
        n,
        answer_events(deltas, "thread.message.completed", "thread.run.completed")
    );
    assert_eq!(evs.last().unwrap().data, "[DONE]");

    // The deltas add up to the stored text, and the objects are what REST returns.
    let text: String = evs
        .iter()
        .filter(|e| e.name == "thread.message.delta")
        .map(|e| {
            let d = e.json();
            assert_eq!(d["object"], "thread.message.delta");
            assert_eq!(d["delta"]["content"][0]["index"], 0);
            assert_eq!(d["delta"]["content"][0]["type"], "text");
            d["delta"]["content"][0]["text"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let completed = evs
        .iter()
        .find(|e| e.name == "thread.message.completed")
        .unwrap()
        .json();
    assert_eq!(completed["content"][0]["text"]["value"], text.as_str());
    let stored = app
        .get(&format!(
            "/threads/{thread}/messages/{}",
            completed["id"].as_str().unwrap()
        ))
        .await
        .ok();
    assert_eq!(stored, completed);
    let run_done = evs
        .iter()
        .find(|e| e.name == "thread.run.completed")
        .unwrap()
        .json();
    let run_id = run_done["id"].as_str().unwrap();
    let rest_run = app
        .get(&format!("/threads/{thread}/runs/{run_id}"))
        .await
        .ok();
    assert_eq!(rest_run, run_done);
    let step_done = evs
        .iter()
        .find(|e| e.name == "thread.run.step.completed")
        .unwrap()
        .json();
    let rest_step = app
        .get(&format!(
            "/threads/{thread}/runs/{run_id}/steps/{}",
            step_done["id"].as_str().unwrap()
        ))
        .await
        .ok();
    assert_eq!(rest_step, step_done);
    let created = evs[0].json();
    assert_eq!(created["status"], "queued");
    assert_eq!(created["id"], run_id);
}

#[tokio::test]
async fn create_thread_and_run_streams_the_thread_first() {
    let up = FakeUpstream::start().await;
    up.push(Reply::text("hi"));
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let evs = Reader::open(
        &app,
        "/threads/runs",
        json!({"assistant_id": asst, "stream": true,
               "thread": {"messages": [{"role": "user", "content": "hey"}]}}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[..3],
        ["thread.created", "thread.run.created", "thread.run.queued"]
    );
    assert_eq!(&n[n.len() - 2..], ["thread.run.completed", "done"]);
    let thread = evs[0].json();
    assert_eq!(thread["object"], "thread");
    assert_eq!(evs[1].json()["thread_id"], thread["id"]);
}

#[tokio::test]
async fn function_calls_stream_as_step_deltas_then_tool_outputs_stream_the_rest() {
    let up = FakeUpstream::start().await;
    up.push(Reply::ToolCalls(vec![
        (
            "get_weather".into(),
            r#"{"city":"Paris","unit":"c"}"#.into(),
        ),
        ("get_time".into(), r#"{"tz":"CET"}"#.into()),
    ]));
    up.push(Reply::text("Sunny at noon."));
    let app = app_with(&up).await;
    let asst = app
        .post(
            "/assistants",
            json!({"model": "m", "tools": [
                {"type": "function", "function": {"name": "get_weather"}},
                {"type": "function", "function": {"name": "get_time"}}
            ]}),
        )
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let thread = thread_with_message(&app).await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[..5],
        [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.step.created",
            "thread.run.step.in_progress"
        ]
    );
    assert_eq!(&n[n.len() - 2..], ["thread.run.requires_action", "done"]);
    let step = evs[3].json();
    assert_eq!(step["type"], "tool_calls");
    // Arguments arrive piecewise, indexed; the first piece of each call carries id and name.
    let mut args = [String::new(), String::new()];
    let mut ids = [String::new(), String::new()];
    for e in evs.iter().filter(|e| e.name == "thread.run.step.delta") {
        let d = e.json();
        assert_eq!(d["id"], step["id"]);
        assert_eq!(d["object"], "thread.run.step.delta");
        let call = &d["delta"]["step_details"]["tool_calls"][0];
        let i = usize::try_from(call["index"].as_u64().unwrap()).unwrap();
        if let Some(id) = call["id"].as_str() {
            assert!(ids[i].is_empty());
            ids[i] = id.to_owned();
            assert!(call["function"]["name"].is_string());
        }
        args[i].push_str(call["function"]["arguments"].as_str().unwrap());
    }
    let run = evs[evs.len() - 2].json();
    let pending = &run["required_action"]["submit_tool_outputs"]["tool_calls"];
    assert_eq!(pending[0]["id"], ids[0].as_str());
    assert_eq!(pending[0]["function"]["arguments"], args[0].as_str());
    assert_eq!(pending[1]["function"]["arguments"], args[1].as_str());
    assert_eq!(args[0], r#"{"city":"Paris","unit":"c"}"#);

    let run_id = run["id"].as_str().unwrap();
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
        json!({"stream": true, "tool_outputs": [
            {"tool_call_id": ids[0], "output": "sunny"},
            {"tool_call_id": ids[1], "output": "noon"}
        ]}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[..3],
        [
            "thread.run.queued",
            "thread.run.step.completed",
            "thread.run.in_progress"
        ]
    );
    let tool_step = evs[1].json();
    assert_eq!(tool_step["type"], "tool_calls");
    assert_eq!(tool_step["status"], "completed");
    assert_eq!(
        tool_step["step_details"]["tool_calls"][0]["function"]["output"],
        "sunny"
    );
    assert!(n.contains(&"thread.message.delta"));
    assert_eq!(&n[n.len() - 2..], ["thread.run.completed", "done"]);
}

/// A run that fails for a reason its `last_error` explains ends with `thread.run.failed`, not
/// an `error` event (the official Node SDK throws on any `error` event, and OpenAI keeps that
/// event for the server's own failures).
#[tokio::test]
async fn a_failing_upstream_ends_the_stream_with_the_failed_run() {
    let up = FakeUpstream::start().await;
    for _ in 0..4 {
        up.push(Reply::Status {
            code: 503,
            retry_after: Some(0),
        });
    }
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert!(!n.contains(&"error"), "{n:?}");
    assert_eq!(&n[n.len() - 2..], ["thread.run.failed", "done"]);
    let failed = evs[n.len() - 2].json();
    assert_eq!(failed["last_error"]["code"], "server_error");
    assert!(
        failed["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("503")
    );
}

#[tokio::test]
#[expect(
    clippy::format_collect,
    reason = "the expected text of ten deltas, built once in a test; plainer than `fold` with `write!`"
)]
async fn deltas_are_forwarded_as_they_arrive_and_a_disconnect_does_not_cancel() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Text {
        chunks: (0..10).map(|i| format!("w{i} ")).collect(),
        delay: Duration::from_millis(150),
        finish: "stop",
    });
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let mut reader = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await;
    let mut run_id = String::new();
    loop {
        let ev = reader.next().await.expect("event");
        if ev.name == "thread.run.created" {
            run_id = ev.json()["id"].as_str().unwrap().to_owned();
        }
        if ev.name == "thread.message.delta" {
            break;
        }
    }
    // The first token reached us while the model is still talking: not buffered to the end.
    let now = app
        .get(&format!("/threads/{thread}/runs/{run_id}"))
        .await
        .ok();
    assert_eq!(now["status"], "in_progress");
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .get(&format!("/threads/{thread}/runs/{run_id}"))
            .await
            .ok();
        if r["status"] == "completed" {
            break;
        }
        assert_eq!(r["status"], "in_progress", "{r}");
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let msgs = app
        .get(&format!("/threads/{thread}/messages?run_id={run_id}"))
        .await
        .ok();
    assert_eq!(
        msgs["data"][0]["content"][0]["text"]["value"],
        (0..10).map(|i| format!("w{i} ")).collect::<String>()
    );
}

#[tokio::test]
async fn cancelling_a_streamed_run_ends_the_stream() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Hang);
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let mut reader = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await;
    let created = reader.next().await.unwrap().json();
    let run_id = created["id"].as_str().unwrap().to_owned();
    while reader.next().await.unwrap().name != "thread.run.in_progress" {}
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.requests().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.post(
        &format!("/threads/{thread}/runs/{run_id}/cancel"),
        json!({}),
    )
    .await
    .ok();
    let rest = reader.all().await;
    let n = names(&rest);
    assert_eq!(
        n,
        ["thread.run.cancelling", "thread.run.cancelled", "done"],
        "{rest:?}"
    );
}

#[tokio::test]
async fn cancelling_mid_answer_closes_the_message_and_step_in_the_stream() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Text {
        chunks: (0..40).map(|i| format!("w{i} ")).collect(),
        delay: Duration::from_millis(100),
        finish: "stop",
    });
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let mut reader = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await;
    let run_id = reader.next().await.unwrap().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut streamed = String::new();
    loop {
        let ev = reader.next().await.unwrap();
        if ev.name == "thread.message.delta" {
            streamed.push_str(
                ev.json()["delta"]["content"][0]["text"]["value"]
                    .as_str()
                    .unwrap(),
            );
            if streamed.len() > 5 {
                break;
            }
        }
    }
    app.post(
        &format!("/threads/{thread}/runs/{run_id}/cancel"),
        json!({}),
    )
    .await
    .ok();
    let rest = reader.all().await;
    // Deltas may still be in flight before the cancel lands.
    streamed.push_str(&delta_text(&rest));
    let n: Vec<&str> = names(&rest)
        .into_iter()
        .filter(|n| *n != "thread.message.delta")
        .collect();
    assert_eq!(
        n,
        [
            "thread.run.cancelling",
            "thread.message.incomplete",
            "thread.run.step.cancelled",
            "thread.run.cancelled",
            "done"
        ],
        "{rest:?}"
    );
    let msg = rest
        .iter()
        .find(|e| e.name == "thread.message.incomplete")
        .unwrap()
        .json();
    assert_eq!(msg["incomplete_details"]["reason"], "run_cancelled");
    assert_eq!(msg["content"][0]["text"]["value"], streamed.as_str());
    let stored = app
        .get(&format!(
            "/threads/{thread}/messages/{}",
            msg["id"].as_str().unwrap()
        ))
        .await
        .ok();
    assert_eq!(stored, msg);
}

#[tokio::test]
async fn a_stream_that_breaks_after_text_was_shown_fails_the_run_in_the_open() {
    let up = FakeUpstream::start().await;
    up.push(Reply::DropAfter(vec!["Half ".into(), "an ".into()]));
    let app = app_with(&up).await;
    let asst = app.assistant().await;
    let thread = thread_with_message(&app).await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert_eq!(
        &n[n.len() - 4..],
        [
            "thread.message.incomplete",
            "thread.run.step.failed",
            "thread.run.failed",
            "done"
        ],
        "{n:?}"
    );
    // Not retried behind the client's back: one message, with what was shown.
    assert_eq!(
        n.iter().filter(|n| **n == "thread.message.created").count(),
        1
    );
    let msg = evs[n.len() - 4].json();
    assert_eq!(msg["content"][0]["text"]["value"], "Half an ");
    assert_eq!(msg["incomplete_details"]["reason"], "run_failed");
    assert_eq!(up.requests().len(), 1);
}
