//! `code_interpreter` in runs, over HTTP, with the real sandbox: the model is offered the
//! tool, the server runs its code, the step records the code and its outputs (logs, images),
//! the files the code wrote are downloadable, and the answer shows the images and links them
//! with `file_path` annotations. Without a working sandbox the run fails with the reason.
//!
//! The sandbox cases need the sandbox's Python (`scripts/install-sandbox`, named by
//! `ASSISTD_TEST_SANDBOX_PYTHON`, as the test command sets it); without it they say so and
//! pass, unless `ASSISTD_TEST_SANDBOX=required`.

use crate::common::{TestApp, id_of};
use crate::engine::engine_app_with as app_with;
use crate::file_search_runs::{ask, tool_output};
use crate::streaming::{Ev, Reader, names};
use crate::v2_runs::settle as ended;
use assistd_test_support::upstream::{FakeUpstream, Reply};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Whether the sandbox's Python is there.
fn sandbox_ready() -> bool {
    if std::env::var_os("ASSISTD_TEST_SANDBOX_PYTHON").is_some() {
        return true;
    }
    assert_ne!(
        std::env::var("ASSISTD_TEST_SANDBOX").as_deref(),
        Ok("required"),
        "ASSISTD_TEST_SANDBOX=required, but ASSISTD_TEST_SANDBOX_PYTHON is unset"
    );
    eprintln!("skipped: no sandbox Python (scripts/install-sandbox, ASSISTD_TEST_SANDBOX_PYTHON)");
    false
}

/// A model call of the tool with `code`.
fn run_code(code: &str) -> Reply {
    Reply::call("code_interpreter", &json!({ "code": code }).to_string())
}

/// A v2 assistant with the tool (and `extra` fields).
async fn assistant(app: &TestApp, extra: Value) -> String {
    let mut body = json!({"model": "m", "tools": [{"type": "code_interpreter"}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    id_of(&app.v2().post("/assistants", body).await.ok())
}

/// The run's code interpreter calls, in order, as the v2 API shows them.
async fn code_calls(app: &TestApp, thread: &str, run: &str) -> Vec<Value> {
    let steps = app
        .v2()
        .get(&format!("/threads/{thread}/runs/{run}/steps?order=asc"))
        .await
        .ok();
    steps["data"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["type"] == "tool_calls")
        .flat_map(|s| {
            s["step_details"]["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .inspect(|c| assert_eq!(c["type"], "code_interpreter", "{c}"))
        .collect()
}

/// Asks `asst` `question` in a new thread, checks the run completed, and returns the thread
/// with the run's code interpreter calls.
async fn completed(app: &TestApp, asst: &str, question: &str) -> (String, Vec<Value>) {
    let (thread, run) = ask(app, asst, question).await;
    let done = ended(app, &thread, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    let calls = code_calls(app, &thread, &run).await;
    (thread, calls)
}

/// The newest message of the thread.
async fn answer(app: &TestApp, thread: &str) -> Value {
    let list = app
        .v2()
        .get(&format!("/threads/{thread}/messages?limit=1"))
        .await
        .ok();
    list["data"][0].clone()
}

/// The events of a streamed thread-and-run of `asst` on `question`, checked to complete.
async fn stream_run(app: &TestApp, asst: &str, question: &str) -> Vec<Ev> {
    let res = app
        .request_v2(Method::POST, "/threads/runs")
        .json(&json!({
            "assistant_id": asst,
            "stream": true,
            "thread": {"messages": [{"role": "user", "content": question}]}
        }))
        .send()
        .await
        .expect("sent");
    let evs = Reader::from_response(res).all().await;
    let n = names(&evs);
    assert_eq!(&n[n.len() - 2..], ["thread.run.completed", "done"], "{n:?}");
    evs
}

#[tokio::test]
async fn a_chart_is_drawn_stored_and_shown_in_the_answer() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    let code = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\n\
                plt.savefig('/mnt/data/chart.png')\nprint('saved')";
    up.push(run_code(code));
    let link = "sandbox:/mnt/data/chart.png";
    up.push(Reply::text(&format!("Here it is: [the chart]({link}).")));
    let app = app_with(&up, |_| {}).await;
    let asst = assistant(&app, json!({})).await;
    let (thread, run) = ask(&app, &asst, "Plot the squares.").await;
    let done = ended(&app, &thread, &run).await;
    assert_eq!(done["status"], "completed", "{done}");

    // The model was offered the tool as a function taking the code.
    let offered = &up.requests()[0]["tools"][0]["function"];
    assert_eq!(offered["name"], "code_interpreter");
    assert_eq!(
        offered["parameters"]["properties"]["code"]["type"],
        "string"
    );

    // The step holds the code, what it printed and the image; nothing else.
    let calls = code_calls(&app, &thread, &run).await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0]["code_interpreter"];
    assert_eq!(call["input"], code);
    assert_eq!(
        call["outputs"][0],
        json!({"type": "logs", "logs": "saved\n"})
    );
    assert_eq!(call["outputs"][1]["type"], "image");
    assert_eq!(call.as_object().unwrap().len(), 2, "{call}");
    let image = call["outputs"][1]["image"]["file_id"]
        .as_str()
        .expect("image file")
        .to_owned();

    // The model read the logs and the file's name.
    let read = tool_output(&up, 1);
    assert!(read.contains("saved") && read.contains(link), "{read}");

    // The answer shows the image, then the text, its link annotated with the file.
    let m = answer(&app, &thread).await;
    assert_eq!(
        m["content"][0],
        json!({"type": "image_file", "image_file": {"file_id": image}})
    );
    let text = &m["content"][1]["text"];
    let note = &text["annotations"][0];
    assert_eq!(note["type"], "file_path", "{text}");
    assert_eq!(note["text"], link);
    assert_eq!(note["file_path"]["file_id"], image);
    let chars: Vec<char> = text["value"].as_str().unwrap().chars().collect();
    let (start, end) = (
        usize::try_from(note["start_index"].as_u64().unwrap()).unwrap(),
        usize::try_from(note["end_index"].as_u64().unwrap()).unwrap(),
    );
    assert_eq!(chars[start..end].iter().collect::<String>(), link);

    // The image is a file of purpose `assistants_output` whose bytes are a PNG.
    let file = app.v2().get(&format!("/files/{image}")).await.ok();
    assert_eq!(file["purpose"], "assistants_output");
    assert_eq!(file["filename"], "chart.png");
    let bytes = app
        .request_v2(Method::GET, &format!("/files/{image}/content"))
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert!(bytes.starts_with(PNG), "not a PNG: {} bytes", bytes.len());
    assert_eq!(file["bytes"], bytes.len());
}

#[tokio::test]
async fn a_csv_given_to_the_assistant_is_analysed_and_state_lasts_across_calls() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    up.push(run_code(
        "import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\nprint(df['units'].mean())",
    ));
    // The next turn uses the variable the first call left, and the file it wrote.
    up.push(run_code(
        "df.to_csv('/mnt/data/copy.csv')\nprint(df['units'].sum(), open('/mnt/data/copy.csv').read().count(chr(10)))",
    ));
    up.push(Reply::text("Mean 20, total 60."));
    let app = app_with(&up, |_| {}).await;
    let csv = b"region,units\nnorth,10\nsouth,20\neast,30\n".to_vec();
    let file = id_of(&app.upload("sales.csv", csv, "assistants").await.ok());
    // A v1 assistant's files are the tool's files.
    let asst = id_of(
        &app.post(
            "/assistants",
            json!({"model": "m", "tools": [{"type": "code_interpreter"}], "file_ids": [file]}),
        )
        .await
        .ok(),
    );
    let (thread, calls) = completed(&app, &asst, "Average units?").await;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["code_interpreter"]["outputs"][0]["logs"], "20.0\n");
    assert_eq!(calls[1]["code_interpreter"]["outputs"][0]["logs"], "60 4\n");
    // A written file that is not an image is no image output, but the model hears of it.
    assert_eq!(
        calls[1]["code_interpreter"]["outputs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(tool_output(&up, 2).contains("sandbox:/mnt/data/copy.csv"));
    let m = answer(&app, &thread).await;
    assert_eq!(m["content"].as_array().unwrap().len(), 1, "{m}");
}

#[tokio::test]
async fn code_and_its_outputs_stream_as_step_deltas() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    let code = "for i in range(3):\n    print('line', i)";
    up.push(run_code(code));
    up.push(Reply::text("Done."));
    let app = app_with(&up, |_| {}).await;
    let asst = assistant(&app, json!({})).await;
    let evs = stream_run(&app, &asst, "count").await;
    let deltas: Vec<Value> = evs
        .iter()
        .filter(|e| e.name == "thread.run.step.delta")
        .map(|e| e.json()["delta"]["step_details"]["tool_calls"][0].clone())
        .collect();
    assert!(
        deltas.iter().all(|d| d["type"] == "code_interpreter"),
        "{deltas:?}"
    );
    assert!(
        deltas[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_"))
    );
    let streamed: String = deltas
        .iter()
        .filter_map(|d| d["code_interpreter"]["input"].as_str())
        .collect();
    assert_eq!(streamed, code);
    let outputs = deltas
        .iter()
        .find_map(|d| {
            d["code_interpreter"]["outputs"]
                .as_array()
                .filter(|o| !o.is_empty())
        })
        .expect("an outputs delta");
    assert_eq!(
        outputs[0],
        json!({"index": 0, "type": "logs", "logs": "line 0\nline 1\nline 2\n"})
    );
    // What the stream showed is what the step holds.
    let done = evs
        .iter()
        .find(|e| e.name == "thread.run.step.completed")
        .expect("step");
    let call = &done.json()["step_details"]["tool_calls"][0]["code_interpreter"];
    assert_eq!(call["input"], code);
    assert_eq!(call["outputs"][0]["logs"], "line 0\nline 1\nline 2\n");
}

#[tokio::test]
async fn a_call_past_its_time_is_stopped_and_the_next_starts_afresh() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    up.push(run_code(
        "x = 1\nimport time\nwhile True:\n    time.sleep(0.01)",
    ));
    up.push(run_code("print('x' in globals())"));
    up.push(Reply::text("It took too long."));
    let app = app_with(&up, |s| s.code_interpreter.timeout_secs = 3.0).await;
    let asst = assistant(&app, json!({})).await;
    let (_, calls) = completed(&app, &asst, "loop").await;
    let logs = calls[0]["code_interpreter"]["outputs"][0]["logs"]
        .as_str()
        .unwrap_or_default();
    assert!(logs.contains("timed out after 3 seconds"), "{logs}");
    assert_eq!(
        calls[1]["code_interpreter"]["outputs"][0]["logs"],
        "False\n"
    );
}

#[tokio::test]
async fn without_a_working_sandbox_the_run_fails_with_the_reason() {
    let up = FakeUpstream::start().await;
    up.push(run_code("print(1)"));
    let app = app_with(&up, |s| {
        s.code_interpreter.python = Some("/nonexistent/sandbox-python".into());
    })
    .await;
    let asst = assistant(&app, json!({})).await;
    let (thread, run) = ask(&app, &asst, "compute").await;
    let done = ended(&app, &thread, &run).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"]["code"], "server_error");
    let message = done["last_error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("code_interpreter sandbox does not work on this server"),
        "{message}"
    );
    // The code never ran: no step holds outputs.
    let steps = app
        .v2()
        .get(&format!("/threads/{thread}/runs/{run}/steps"))
        .await
        .ok();
    assert!(!steps.to_string().contains("\"outputs\":[{"), "{steps}");
}

#[tokio::test]
async fn a_server_with_the_tool_off_fails_its_runs_at_once() {
    let up = FakeUpstream::start().await;
    let app = app_with(&up, |s| s.code_interpreter.enabled = false).await;
    let asst = assistant(&app, json!({})).await;
    let (thread, run) = ask(&app, &asst, "compute").await;
    let done = ended(&app, &thread, &run).await;
    assert_eq!(done["status"], "failed");
    let message = done["last_error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("code_interpreter tool is not enabled"),
        "{message}"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_cancel_stops_a_run_whose_code_is_still_running() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    up.push(run_code("import time\ntime.sleep(50)"));
    let app = app_with(&up, |_| {}).await;
    let asst = assistant(&app, json!({})).await;
    let (thread, run) = ask(&app, &asst, "wait").await;
    // The code is running once the call's step exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let steps = app
            .v2()
            .get(&format!("/threads/{thread}/runs/{run}/steps"))
            .await
            .ok();
        if steps["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no step: {steps}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    app.v2()
        .post(&format!("/threads/{thread}/runs/{run}/cancel"), json!({}))
        .await
        .ok();
    let done = ended(&app, &thread, &run).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn a_streamed_answer_shows_the_image_first_and_its_links_annotated() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    up.push(run_code(
        "import matplotlib.pyplot as plt\nplt.bar([1, 2], [3, 4])\nplt.savefig('/mnt/data/bars.png')",
    ));
    up.push(Reply::text("See sandbox:/mnt/data/bars.png"));
    let app = app_with(&up, |_| {}).await;
    let asst = assistant(&app, json!({})).await;
    let evs = stream_run(&app, &asst, "bars").await;
    let parts: Vec<Value> = evs
        .iter()
        .filter(|e| e.name == "thread.message.delta")
        .flat_map(|e| {
            e.json()["delta"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let done = evs
        .iter()
        .find(|e| e.name == "thread.message.completed")
        .expect("message")
        .json();
    let image = done["content"][0]["image_file"]["file_id"].clone();
    assert!(image.is_string(), "{done}");
    // The image part streams first, whole; then the text at the next index; then its links.
    assert_eq!(
        parts[0],
        json!({"type": "image_file", "index": 0, "image_file": {"file_id": image}})
    );
    let text: String = parts[1..]
        .iter()
        .inspect(|p| assert_eq!((&p["type"], &p["index"]), (&json!("text"), &json!(1))))
        .filter_map(|p| p["text"]["value"].as_str())
        .collect();
    assert_eq!(text, done["content"][1]["text"]["value"]);
    let note = &parts.last().expect("parts")["text"]["annotations"][0];
    let stored = &done["content"][1]["text"]["annotations"][0];
    assert_eq!(note["index"], 0);
    for key in ["type", "text", "file_path", "start_index", "end_index"] {
        assert_eq!(note[key], stored[key], "{key}");
    }
    assert_eq!(stored["file_path"]["file_id"], image);
}

#[tokio::test]
async fn files_code_writes_count_against_the_storage_quota() {
    if !sandbox_ready() {
        return;
    }
    let up = FakeUpstream::start().await;
    up.push(run_code(
        "open('/mnt/data/big.bin', 'wb').write(b'x' * 4096)\nprint('written')",
    ));
    up.push(Reply::text("Could not keep it."));
    let app = app_with(&up, |s| s.limits.project_file_bytes = 1024).await;
    let asst = assistant(&app, json!({})).await;
    let (_, calls) = completed(&app, &asst, "write").await;
    let logs = calls[0]["code_interpreter"]["outputs"][0]["logs"]
        .as_str()
        .unwrap_or_default();
    assert!(
        logs.starts_with("written\n")
            && logs.contains("quota")
            && logs.contains("sandbox:/mnt/data/big.bin"),
        "{logs}"
    );
    let files = app.v2().get("/files?purpose=assistants_output").await.ok();
    assert_eq!(files["data"], json!([]), "{files}");
}
