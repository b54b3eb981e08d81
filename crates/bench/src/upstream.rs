//! The bench's own fake OpenAI-compatible upstream: streams `tokens` tokens per reply at
//! `tokens_per_sec`, after `latency`. Each token's text is the Unix time in nanoseconds at
//! which it left, so a client can measure how long it took to come through assistd. It also
//! answers `POST /embeddings` with deterministic vectors, so `file_search` can be measured without
//! a model's cost in the way.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::post;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the fake answers.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamConfig {
    /// Delay before the first token.
    pub latency: Duration,
    /// Tokens per reply.
    pub tokens: usize,
    /// Pace of the tokens (0: as fast as possible).
    pub tokens_per_sec: f64,
}

/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn frame(content: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"b\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
    ))
}

async fn completions(State(cfg): State<Arc<UpstreamConfig>>) -> Response {
    let cfg = *cfg;
    let gap = if cfg.tokens_per_sec > 0.0 {
        Duration::from_secs_f64(1.0 / cfg.tokens_per_sec)
    } else {
        Duration::ZERO
    };
    let stream = futures::stream::unfold(0usize, move |i| async move {
        if i == 0 && !cfg.latency.is_zero() {
            tokio::time::sleep(cfg.latency).await;
        } else if i > 0 && i <= cfg.tokens && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let bytes = match i.cmp(&cfg.tokens) {
            std::cmp::Ordering::Less => frame(&format!("{} ", now_nanos())),
            std::cmp::Ordering::Equal => Bytes::from(format!(
                "data: {{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"b\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: {{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"b\",\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
                cfg.tokens,
                cfg.tokens + 10
            )),
            std::cmp::Ordering::Greater => return None,
        };
        Some((Ok::<Bytes, std::io::Error>(bytes), i + 1))
    });
    let mut res = Response::new(Body::from_stream(stream.boxed()));
    res.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    res
}

/// Dimensions of the fake embeddings: all-MiniLM-L6-v2's, so the dense index the server keeps
/// is the size the built-in model would give it.
pub const EMBEDDING_DIMS: usize = 384;

/// A deterministic embedding: a hashing-trick bag of the lower-cased words of `text` in
/// [`EMBEDDING_DIMS`] dimensions, L2-normalized, so texts sharing words are close (all zeros
/// for a text without words).
pub fn embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0.0_f32; EMBEDDING_DIMS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a: stable across runs, unlike `DefaultHasher`'s contract.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.bytes() {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let slot = usize::try_from(h % EMBEDDING_DIMS as u64).unwrap_or(0);
        v[slot] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

#[derive(serde::Deserialize)]
struct EmbeddingsRequest {
    input: Vec<String>,
}

/// `POST /embeddings`: [`embedding`] of each `input` string, in order.
async fn embeddings(axum::Json(req): axum::Json<EmbeddingsRequest>) -> Response {
    let data: Vec<serde_json::Value> = req
        .input
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": embedding(t)}))
        .collect();
    let words: usize = req.input.iter().map(|t| t.split_whitespace().count()).sum();
    axum::response::IntoResponse::into_response(axum::Json(serde_json::json!({
        "object": "list",
        "data": data,
        "model": "bench-embed",
        "usage": {"prompt_tokens": words, "total_tokens": words}
    })))
}

/// Starts the fake on 127.0.0.1, port 0, on a thread and runtime of its own (so the load
/// generator's work never delays a token's departure); returns its base URL (up to `/v1`).
pub fn start(cfg: UpstreamConfig) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("fake-upstream".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::anyhow!(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let app = Router::new()
                    .route("/v1/chat/completions", post(completions))
                    .route("/v1/embeddings", post(embeddings))
                    .with_state(Arc::new(cfg));
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::anyhow!(e)));
                        return;
                    }
                };
                let addr = listener.local_addr().map(|a| format!("http://{a}/v1"));
                let _ = tx.send(addr.map_err(Into::into));
                let _ = axum::serve(listener, app).await;
            });
        })?;
    rx.recv()?
}
