//! `assistd-bench model`: the built-in model's speed as a client sees it, against llama.cpp's
//! own `llama-bench` on the same GGUF file and thread counts, measured in one run.
//!
//! assistd's side is measured through the API: a streamed thread-and-run whose single message is
//! about `--prompt-tokens` long. Prompt speed is the run's prompt tokens over the time from the
//! request to the first `thread.message.delta`; generation speed is the tokens after the first
//! over the time from the first delta to the last. Both therefore include everything assistd
//! adds (HTTP, storage, the run engine, sampling, SSE). Each request starts with different
//! text, so the slot's prompt cache cannot help. llama-bench then measures prompt processing of
//! the same number of tokens and generation at the same depth, with the same threads.

use crate::client::Conn;
use crate::server::Server;
use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The model scenario's settings.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// llama.cpp's `llama-bench` binary (`scripts/bench-model` builds it).
    #[arg(long)]
    pub llama_bench: Option<PathBuf>,
    /// The GGUF file (default: the built-in model in target/test-data/models).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// Thread counts to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Streamed runs measured per thread count (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Approximate prompt length in tokens.
    #[arg(long, default_value_t = 323)]
    pub prompt_tokens: usize,
}

/// One streamed run, as measured.
struct Sample {
    prompt_tokens: u64,
    completion_tokens: u64,
    to_first: Duration,
    first_to_last: Duration,
}

/// What llama-bench reported for one test.
pub(crate) struct Reference {
    /// Mean tokens per second.
    pub(crate) tokens_per_sec: f64,
    /// Their standard deviation.
    pub(crate) stddev: f64,
}

struct Line {
    threads: usize,
    prompt_tokens: u64,
    generated: u64,
    ours_pp: f64,
    ours_tg: f64,
    ref_pp: Reference,
    ref_tg: Reference,
    rss: u64,
}

const FILLER: &str = "The harbour town woke slowly. Fishing boats rocked against the pier while gulls \
    circled above the market, where merchants laid out bread, cheese, apples and rope. An old \
    sailor told the children about storms he had seen, islands with no names, and a lighthouse \
    that kept its lamp burning for forty years. ";

fn prompt(rep: usize, target_tokens: usize) -> String {
    // About four characters per token for this kind of English.
    let mut text = format!("Request number {rep}. Read this, then answer. ");
    while text.len() < target_tokens * 9 / 2 - 200 {
        text.push_str(FILLER);
    }
    text.push_str("Now write a long story about the sea, with many chapters.");
    text
}

async fn create_assistant(addr: &str) -> anyhow::Result<String> {
    let mut c = Conn::open(addr).await?;
    let (status, body) = c
        .send(
            Method::POST,
            "/v1/assistants",
            Some(r#"{"model":"built-in","instructions":"You are a storyteller."}"#),
        )
        .await?;
    anyhow::ensure!(status == 200, "create assistant answered {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// One streamed thread-and-run; `None` when the model stopped too early to time generation.
async fn streamed_run(addr: &str, assistant: &str, text: &str) -> anyhow::Result<Option<Sample>> {
    let body = serde_json::json!({
        "assistant_id": assistant,
        "stream": true,
        "max_completion_tokens": 256,
        "thread": {"messages": [{"role": "user", "content": text}]}
    })
    .to_string();
    let mut conn = Conn::open(addr).await?;
    let started = Instant::now();
    let res = conn
        .raw()
        .send_request(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/threads/runs")
                .header("host", addr)
                .header("authorization", "Bearer sk-bench")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))?,
        )
        .await?;
    anyhow::ensure!(res.status() == 200, "stream answered {}", res.status());
    let mut body = res.into_body();
    let mut buf = Vec::new();
    let (mut first, mut last) = (None, None);
    let mut completed: Option<serde_json::Value> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = Instant::now();
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..pos + 2).collect();
            let event = String::from_utf8_lossy(&event);
            if event.starts_with("event: thread.message.delta") {
                first.get_or_insert(now);
                last = Some(now);
            } else if event.starts_with("event: thread.run.completed") {
                let data = event.split("data: ").nth(1).unwrap_or_default();
                completed = Some(serde_json::from_str(data.trim())?);
            } else if event.starts_with("event: thread.run.failed") {
                anyhow::bail!("the run failed: {event}");
            }
        }
    }
    let run = completed.context("the stream ended without thread.run.completed")?;
    let usage = &run["usage"];
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(None);
    };
    let completion_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
    if completion_tokens < 32 {
        return Ok(None);
    }
    Ok(Some(Sample {
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens,
        to_first: first - started,
        first_to_last: last - first,
    }))
}

/// Runs llama-bench once; returns tokens per second (mean, stddev) of its single test.
pub(crate) fn llama_bench(
    bin: &Path,
    model: &Path,
    threads: usize,
    args: &[&str],
) -> anyhow::Result<Reference> {
    let out = std::process::Command::new(bin)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string(), "-r", "5", "-o", "json"])
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "llama-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let test = v
        .as_array()
        .and_then(|a| a.first())
        .context("llama-bench printed no test")?;
    Ok(Reference {
        tokens_per_sec: test["avg_ts"].as_f64().context("no avg_ts")?,
        stddev: test["stddev_ts"].as_f64().unwrap_or(0.0),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Measures, then prints the table.
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "token counts and byte sizes are far below 2^52; the median of non-negative token counts is a non-negative token count"
)]
pub async fn run(assistd_bin: Option<PathBuf>, m: &ModelArgs) -> anyhow::Result<()> {
    let model = m.model_path.clone().unwrap_or_else(|| {
        PathBuf::from("target/test-data/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    anyhow::ensure!(model.is_file(), "no model at {}", model.display());
    let llama_bench_bin = m
        .llama_bench
        .clone()
        .context("--llama-bench is required (scripts/bench-model builds it)")?;
    let mut lines = Vec::new();
    for &threads in &m.threads {
        let config = format!(
            "workers = 4\npoll_after_ms = 5\n\n[local_model]\nenabled = true\npath = {:?}\nthreads = {threads}\nslots = 1\nseed = 1\n\n[embeddings]\nenabled = false\n",
            model.display().to_string()
        );
        let server = Server::start(assistd_bin.clone(), &config, None).await?;
        let assistant = create_assistant(&server.addr).await?;
        streamed_run(&server.addr, &assistant, &prompt(0, m.prompt_tokens)).await?;
        let mut samples = Vec::new();
        let mut rep = 1;
        while samples.len() < m.reps && rep <= m.reps * 4 {
            if let Some(s) =
                streamed_run(&server.addr, &assistant, &prompt(rep, m.prompt_tokens)).await?
            {
                samples.push(s);
            }
            rep += 1;
        }
        anyhow::ensure!(!samples.is_empty(), "the model never generated 32 tokens");
        let (rss, _) = server.rss();
        server.stop().await;

        let prompt_tokens = samples[0].prompt_tokens;
        let generated = median(samples.iter().map(|s| s.completion_tokens as f64).collect()) as u64;
        let ours_pp = median(
            samples
                .iter()
                .map(|s| s.prompt_tokens as f64 / s.to_first.as_secs_f64())
                .collect(),
        );
        let ours_tg = median(
            samples
                .iter()
                .map(|s| (s.completion_tokens - 1) as f64 / s.first_to_last.as_secs_f64())
                .collect(),
        );
        let p = prompt_tokens.to_string();
        let n = generated.to_string();
        let ref_pp = llama_bench(&llama_bench_bin, &model, threads, &["-p", &p, "-n", "0"])?;
        let ref_tg = llama_bench(
            &llama_bench_bin,
            &model,
            threads,
            &["-p", "0", "-n", &n, "-d", &p],
        )?;
        lines.push(Line {
            threads,
            prompt_tokens,
            generated,
            ours_pp,
            ours_tg,
            ref_pp,
            ref_tg,
            rss,
        });
    }
    println!();
    println!("{}", crate::report::machine_line());
    println!("model: {}", model.display());
    println!(
        "| threads | prompt tok | assistd prompt tok/s | llama-bench pp tok/s | ratio | gen tok | assistd gen tok/s | llama-bench tg tok/s | ratio | server RSS MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in &lines {
        println!(
            "| {} | {} | {:.0} | {:.0} ± {:.0} | {:.0}% | {} | {:.1} | {:.1} ± {:.1} | {:.0}% | {:.0} |",
            l.threads,
            l.prompt_tokens,
            l.ours_pp,
            l.ref_pp.tokens_per_sec,
            l.ref_pp.stddev,
            100.0 * l.ours_pp / l.ref_pp.tokens_per_sec,
            l.generated,
            l.ours_tg,
            l.ref_tg.tokens_per_sec,
            l.ref_tg.stddev,
            100.0 * l.ours_tg / l.ref_tg.tokens_per_sec,
            l.rss as f64 / (1024.0 * 1024.0),
        );
    }
    Ok(())
}
