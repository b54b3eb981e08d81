//! `file_search` (v2) and `retrieval` (v1) in runs, over HTTP: the model is offered the tool,
//! the server searches the run's stores, the step records the call (its results' text only when
//! `include[]` asks), the model reads numbered results, and the markers it copies become
//! `file_citation` annotations that slice exactly the marker out of the text.

use crate::common::{TestApp, id_of};
use crate::v2_runs::{app_with, settle};
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const INCLUDE: &str = "step_details.tool_calls[*].file_search.results[*].content";
const LAUNCH: &str =
    "# Plans\n\nThe rocket launch is scheduled for Tuesday at dawn, weather permitting.";
const WEATHER: &str = "Rain is expected all week in the harbour town, with strong winds.";

pub async fn upload(app: &TestApp, name: &str, text: &str) -> String {
    id_of(
        &app.upload(name, text.as_bytes().to_vec(), "assistants")
            .await
            .ok(),
    )
}

/// Polls the store until none of its files is in progress; asserts they all completed.
pub async fn ingested(app: &TestApp, vs: &str, files: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = app.v2().get(&format!("/vector_stores/{vs}")).await.ok();
        if s["file_counts"]["in_progress"] == 0 {
            assert_eq!(s["file_counts"]["completed"], files, "{s}");
            return;
        }
        assert!(Instant::now() < deadline, "ingestion stuck: {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A v2 thread holding `question` and a run of `asst` on it: their ids.
pub async fn ask(app: &TestApp, asst: &str, question: &str) -> (String, String) {
    let thread = id_of(
        &app.v2()
            .post(
                "/threads",
                json!({"messages": [{"role": "user", "content": question}]}),
            )
            .await
            .ok(),
    );
    let run = id_of(
        &app.v2()
            .post(
                &format!("/threads/{thread}/runs"),
                json!({"assistant_id": asst}),
            )
            .await
            .ok(),
    );
    (thread, run)
}

/// The single citation of `message`, checked to slice its marker out of the text exactly.
#[track_caller]
fn citation(message: &Value, marker: &str) -> Value {
    let text = &message["content"][0]["text"];
    let value = text["value"].as_str().expect("text value");
    let notes = text["annotations"].as_array().expect("annotations");
    assert_eq!(notes.len(), 1, "{text}");
    let note = notes[0].clone();
    assert_eq!(note["type"], "file_citation");
    assert_eq!(note["text"], marker);
    let chars: Vec<char> = value.chars().collect();
    let (start, end) = (
        usize::try_from(note["start_index"].as_u64().expect("start")).unwrap(),
        usize::try_from(note["end_index"].as_u64().expect("end")).unwrap(),
    );
    assert_eq!(chars[start..end].iter().collect::<String>(), marker);
    note
}

/// The text of the (last) tool message the model read in request `n`.
pub fn tool_output(up: &FakeUpstream, n: usize) -> String {
    let req = &up.requests()[n];
    req["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rev()
        .filter(|m| m["role"] == "tool")
        .find_map(|m| m["content"].as_str())
        .unwrap_or_else(|| panic!("no tool message in {req}"))
        .to_owned()
}

#[tokio::test]
async fn a_v2_run_searches_its_stores_and_cites_what_it_found() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call(
        "file_search",
        r#"{"query": "when is the rocket launch"}"#,
    ));
    up.push(Reply::text("It launches on Tuesday 【0:0†launch.md】."));
    let app = app_with(&up).await;
    let launch = upload(&app, "launch.md", LAUNCH).await;
    let weather = upload(&app, "weather.md", WEATHER).await;
    let vs = id_of(
        &app.v2()
            .post(
                "/vector_stores",
                json!({"name": "plans", "file_ids": [launch, weather]}),
            )
            .await
            .ok(),
    );
    ingested(&app, &vs, 2).await;
    let asst = id_of(
        &app.v2()
            .post(
                "/assistants",
                json!({"model": "m", "tools": [{"type": "file_search"}],
                       "tool_resources": {"file_search": {"vector_store_ids": [vs]}}}),
            )
            .await
            .ok(),
    );
    let (thread, run) = ask(&app, &asst, "When is the launch?").await;
    let done = settle(&app, &thread, &run).await;
    assert_eq!(done["status"], "completed", "{done}");

    // The model was offered the tool as a function, and read numbered results with markers.
    let first = &up.requests()[0];
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["file_search"], "{first}");
    let read = tool_output(&up, 1);
    assert!(read.starts_with("【0:0†launch.md】\n"), "{read}");
    assert!(read.contains("Tuesday at dawn"), "{read}");

    // The step records the search; its results' text only when asked for.
    let steps = app
        .v2()
        .get(&format!("/threads/{thread}/runs/{run}/steps?order=asc"))
        .await
        .ok();
    let step = &steps["data"][0];
    assert_eq!(step["type"], "tool_calls", "{steps}");
    assert_eq!(step["status"], "completed");
    let call = &step["step_details"]["tool_calls"][0];
    assert_eq!(call["type"], "file_search", "{call}");
    assert_eq!(
        call["file_search"]["ranking_options"],
        json!({"ranker": "auto", "score_threshold": 0.0})
    );
    let results = call["file_search"]["results"].as_array().expect("results");
    assert_eq!(results[0]["file_id"], launch.as_str(), "{call}");
    assert_eq!(results[0]["file_name"], "launch.md");
    let score = results[0]["score"].as_f64().expect("score");
    assert!((0.0..=1.0).contains(&score), "{score}");
    assert!(results[0].get("content").is_none(), "{call}");
    assert!(call["file_search"].get("query").is_none(), "{call}");
    assert_eq!(steps["data"][1]["type"], "message_creation");
    let step_id = id_of(step);
    let included = app
        .v2()
        .get(&format!(
            "/threads/{thread}/runs/{run}/steps/{step_id}?include[]={INCLUDE}"
        ))
        .await
        .ok();
    let text = &included["step_details"]["tool_calls"][0]["file_search"]["results"][0]["content"]
        [0]["text"];
    assert!(
        text.as_str().is_some_and(|t| t.contains("Tuesday at dawn")),
        "{included}"
    );
    // v1 sees the same call as retrieval.
    let v1_step = app
        .get(&format!("/threads/{thread}/runs/{run}/steps/{step_id}"))
        .await
        .ok();
    assert_eq!(
        v1_step["step_details"]["tool_calls"][0],
        json!({"id": call["id"], "type": "retrieval", "retrieval": {}})
    );

    // The answer cites the file: v2 without a quote, v1 with one.
    let msgs = app
        .v2()
        .get(&format!("/threads/{thread}/messages?order=desc&limit=1"))
        .await
        .ok();
    let note = citation(&msgs["data"][0], "【0:0†launch.md】");
    assert_eq!(note["file_citation"], json!({"file_id": launch}));
    let v1 = app
        .get(&format!("/threads/{thread}/messages?order=desc&limit=1"))
        .await
        .ok();
    let note = citation(&v1["data"][0], "【0:0†launch.md】");
    assert_eq!(note["file_citation"]["file_id"], launch.as_str());
    assert!(
        note["file_citation"]["quote"]
            .as_str()
            .is_some_and(|q| q.contains("Tuesday at dawn")),
        "{note}"
    );
}

#[tokio::test]
async fn a_v1_run_retrieves_from_the_assistants_files() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call(
        "file_search",
        r#"{"query": "harbour weather"}"#,
    ));
    up.push(Reply::text(
        "Expect rain 【0:0†weather.md】 and see 【9:9†nowhere】.",
    ));
    let app = app_with(&up).await;
    let weather = upload(&app, "weather.md", WEATHER).await;
    let asst = id_of(
        &app.post(
            "/assistants",
            json!({"model": "m", "tools": [{"type": "retrieval"}], "file_ids": [weather]}),
        )
        .await
        .ok(),
    );
    // v1 has no way to watch ingestion; the v2 view of the same assistant shows its store.
    let v2 = app.v2().get(&format!("/assistants/{asst}")).await.ok();
    let vs = v2["tool_resources"]["file_search"]["vector_store_ids"][0]
        .as_str()
        .unwrap_or_else(|| panic!("a store for the retrieval files: {v2}"))
        .to_owned();
    ingested(&app, &vs, 1).await;
    let thread = app.thread().await;
    app.message(&thread, "What is the weather like?").await;
    let run = id_of(&app.run(&thread, &asst).await);
    let done = settle(&app, &thread, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(tool_output(&up, 1).contains("strong winds"));

    let steps = app
        .get(&format!("/threads/{thread}/runs/{run}/steps?order=asc"))
        .await
        .ok();
    assert_eq!(
        steps["data"][0]["step_details"]["tool_calls"][0]["type"], "retrieval",
        "{steps}"
    );
    let msgs = app
        .get(&format!("/threads/{thread}/messages?order=desc&limit=1"))
        .await
        .ok();
    // The marker naming no result stays plain text.
    let note = citation(&msgs["data"][0], "【0:0†weather.md】");
    assert_eq!(note["file_citation"]["file_id"], weather.as_str());
    assert!(note["file_citation"]["quote"].is_string(), "{note}");
}

#[tokio::test]
async fn a_search_with_no_stores_finds_nothing_and_the_run_goes_on() {
    let up = FakeUpstream::start().await;
    up.push(Reply::call("file_search", r#"{"query": "anything"}"#));
    up.push(Reply::text("Nothing in your files about that."));
    let app = app_with(&up).await;
    let asst = id_of(
        &app.v2()
            .post(
                "/assistants",
                json!({"model": "m", "tools": [{"type": "file_search"}]}),
            )
            .await
            .ok(),
    );
    let (thread, run) = ask(&app, &asst, "anything?").await;
    assert_eq!(settle(&app, &thread, &run).await["status"], "completed");
    assert_eq!(tool_output(&up, 1), "No results were found in the files.");
}
