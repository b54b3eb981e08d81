//! A fake OpenAI-compatible chat-completions server for tests: real HTTP on port 0, replies
//! scripted per test (text, tool calls, errors, slowness, malformed chunks, dropped
//! connections), and a record of every request it received and every stream a client abandoned.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams `chunks` as content deltas, `delay` apart, then usage and `[DONE]`.
    Text {
        /// The pieces of text.
        chunks: Vec<String>,
        /// Pause before each chunk.
        delay: Duration,
        /// `finish_reason` (`stop`, `length`).
        finish: &'static str,
    },
    /// Streams function calls, each call's arguments split in two pieces.
    ToolCalls(Vec<(String, String)>),
    /// Answers with an HTTP error.
    Status {
        /// The status.
        code: u16,
        /// A `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Sends a chunk that is not JSON.
    Malformed,
    /// Sends these text chunks, then drops the connection without `[DONE]`.
    DropAfter(Vec<String>),
    /// Sends one empty delta, then nothing until the client goes away.
    Hang,
    /// Answers with this HTTP error, its body echoing the request's `Authorization` header (as
    /// some upstreams' error pages do).
    EchoAuthorization(u16),
}

impl Reply {
    /// A plain answer in a few chunks.
    pub fn text(s: &str) -> Self {
        let chunks = s
            .split_inclusive(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>();
        Self::Text {
            chunks,
            delay: Duration::ZERO,
            finish: "stop",
        }
    }

    /// One function call.
    pub fn call(name: &str, arguments: &str) -> Self {
        Self::ToolCalls(vec![(name.to_owned(), arguments.to_owned())])
    }
}

/// Prompt tokens the fake reports for every request.
pub const PROMPT_TOKENS: i64 = 11;

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<serde_json::Value>>,
    headers: Mutex<Vec<HeaderMap>>,
    abandoned: AtomicUsize,
    embedding_requests: Mutex<Vec<serde_json::Value>>,
    /// How long `/v1/embeddings` waits before answering, in milliseconds.
    embedding_delay_ms: std::sync::atomic::AtomicU64,
}

/// A running fake upstream.
#[derive(Clone)]
pub struct FakeUpstream {
    /// Base URL, up to `/v1`.
    pub url: String,
    shared: Arc<Shared>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'a str,
    created: i64,
    model: &'a str,
    choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct Choice {
    index: u32,
    delta: Delta,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Serialize)]
struct ToolCallDelta {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'static str>,
    function: FunctionDelta,
}

#[derive(Serialize)]
struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    arguments: String,
}

#[derive(Serialize)]
#[expect(
    clippy::struct_field_names,
    reason = "the field names of OpenAI's usage object"
)]
struct UsageOut {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
}

fn frame(delta: Delta, finish: Option<&'static str>, usage: Option<i64>) -> Bytes {
    let chunk = Chunk {
        id: "chatcmpl-fake",
        object: "chat.completion.chunk",
        created: 0,
        model: "fake",
        choices: if usage.is_some() {
            Vec::new()
        } else {
            vec![Choice {
                index: 0,
                delta,
                finish_reason: finish,
            }]
        },
        usage: usage.map(|c| UsageOut {
            prompt_tokens: PROMPT_TOKENS,
            completion_tokens: c,
            total_tokens: PROMPT_TOKENS + c,
        }),
    };
    let json = serde_json::to_string(&chunk).unwrap_or_default();
    Bytes::from(format!("data: {json}\n\n"))
}

/// Counts a stream as abandoned if it is dropped before it finished.
struct Watch {
    shared: Arc<Shared>,
    done: bool,
}

impl Watch {
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

enum Piece {
    Bytes(Bytes, Duration),
    Fail,
    Pending,
    End,
}

fn sse(shared: Arc<Shared>, pieces: Vec<Piece>) -> Response {
    let watch = Watch {
        shared,
        done: false,
    };
    let stream = futures::stream::unfold(
        (VecDeque::from(pieces), watch),
        |(mut pieces, mut watch)| async move {
            match pieces.pop_front()? {
                Piece::Bytes(b, delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok::<Bytes, std::io::Error>(b), (pieces, watch)))
                }
                Piece::Fail => {
                    // Let what was sent reach the client before the connection breaks.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Err(std::io::Error::other("fake upstream drops the connection")),
                        (pieces, watch),
                    ))
                }
                Piece::Pending => {
                    std::future::pending::<()>().await;
                    None
                }
                Piece::End => {
                    watch.finish();
                    None
                }
            }
        },
    );
    let mut res = Response::new(Body::from_stream(stream.boxed()));
    res.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    res
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Ok(mut r) = shared.requests.lock() {
        r.push(req);
    }
    if let Ok(mut h) = shared.headers.lock() {
        h.push(headers.clone());
    }
    let next = shared.script.lock().ok().and_then(|mut s| s.pop_front());
    let Some(reply) = next else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "fake upstream: no scripted reply left",
        )
            .into_response();
    };
    match reply {
        Reply::Text {
            chunks,
            delay,
            finish,
        } => {
            let n = i64::try_from(chunks.len()).expect("a scripted reply has few chunks");
            let mut pieces = vec![role_piece()];
            for c in chunks {
                pieces.push(Piece::Bytes(
                    frame(
                        Delta {
                            content: Some(c),
                            ..Delta::default()
                        },
                        None,
                        None,
                    ),
                    delay,
                ));
            }
            pieces.push(Piece::Bytes(
                frame(Delta::default(), Some(finish), None),
                Duration::ZERO,
            ));
            pieces.push(Piece::Bytes(
                frame(Delta::default(), None, Some(n)),
                Duration::ZERO,
            ));
            pieces.push(done_piece());
            pieces.push(Piece::End);
            sse(shared.clone(), pieces)
        }
        Reply::ToolCalls(calls) => sse(shared.clone(), tool_call_pieces(&calls)),
        Reply::Status { code, retry_after } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!(
                "{{\"error\":{{\"message\":\"fake upstream says {code}\",\"type\":\"fake\",\"param\":null,\"code\":null}}}}"
            );
            let mut res = (status, body).into_response();
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                res.headers_mut().insert("retry-after", v);
            }
            res
        }
        Reply::Malformed => sse(
            shared.clone(),
            vec![
                role_piece(),
                Piece::Bytes(Bytes::from_static(b"data: {not json\n\n"), Duration::ZERO),
                done_piece(),
                Piece::End,
            ],
        ),
        Reply::DropAfter(chunks) => {
            let mut pieces = vec![role_piece()];
            for c in chunks {
                pieces.push(Piece::Bytes(
                    frame(
                        Delta {
                            content: Some(c),
                            ..Delta::default()
                        },
                        None,
                        None,
                    ),
                    Duration::ZERO,
                ));
            }
            pieces.push(Piece::Fail);
            sse(shared.clone(), pieces)
        }
        Reply::Hang => sse(shared.clone(), vec![role_piece(), Piece::Pending]),
        Reply::EchoAuthorization(code) => echo_authorization(code, &headers),
    }
}

/// An error answer echoing the request's `Authorization` header.
fn echo_authorization(code: u16, headers: &HeaderMap) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = serde_json::json!({"error": {
        "message": format!("Incorrect API key provided: {authorization}"),
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key",
        "request": {"headers": {"authorization": authorization}},
    }});
    (status, body.to_string()).into_response()
}

/// The first delta of every stream: the role.
fn role_piece() -> Piece {
    Piece::Bytes(
        frame(
            Delta {
                role: Some("assistant"),
                ..Delta::default()
            },
            None,
            None,
        ),
        Duration::ZERO,
    )
}

fn done_piece() -> Piece {
    Piece::Bytes(Bytes::from_static(b"data: [DONE]\n\n"), Duration::ZERO)
}

/// The pieces of a `Reply::ToolCalls`: each call's arguments in two deltas, then usage.
fn tool_call_pieces(calls: &[(String, String)]) -> Vec<Piece> {
    let mut pieces = vec![role_piece()];
    for (i, (name, args)) in calls.iter().enumerate() {
        let (a, b) = args.split_at(args.len() / 2);
        pieces.push(Piece::Bytes(
            frame(
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: u32::try_from(i).expect("a scripted reply has few calls"),
                        id: Some(format!("call_fake{i}")),
                        type_: Some("function"),
                        function: FunctionDelta {
                            name: Some(name.clone()),
                            arguments: a.to_owned(),
                        },
                    }]),
                    ..Delta::default()
                },
                None,
                None,
            ),
            Duration::ZERO,
        ));
        pieces.push(Piece::Bytes(
            frame(
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: u32::try_from(i).expect("a scripted reply has few calls"),
                        id: None,
                        type_: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: b.to_owned(),
                        },
                    }]),
                    ..Delta::default()
                },
                None,
                None,
            ),
            Duration::ZERO,
        ));
    }
    pieces.push(Piece::Bytes(
        frame(Delta::default(), Some("tool_calls"), None),
        Duration::ZERO,
    ));
    pieces.push(Piece::Bytes(
        frame(
            Delta::default(),
            None,
            Some(5 * i64::try_from(calls.len()).expect("a scripted reply has few calls")),
        ),
        Duration::ZERO,
    ));
    pieces.push(done_piece());
    pieces.push(Piece::End);
    pieces
}

/// Dimensions of the fake embeddings.
pub const FAKE_EMBEDDING_DIMS: usize = 64;

/// A deterministic embedding: a hashing-trick bag of the lower-cased words of `text` in
/// [`FAKE_EMBEDDING_DIMS`] dimensions, L2-normalized, so texts sharing words are close.
/// All zeros for a text without words.
#[must_use]
pub fn fake_embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0.0_f32; FAKE_EMBEDDING_DIMS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a: stable across runs and platforms, unlike `DefaultHasher`'s contract.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let dims = u64::try_from(FAKE_EMBEDDING_DIMS).unwrap_or(1);
        let slot = usize::try_from(h % dims).unwrap_or(0);
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

/// `POST /v1/embeddings`: `input` as a string or an array of strings; replies with
/// [`fake_embedding`] of each, in order, and a word-count `usage`.
async fn embeddings(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Ok(mut r) = shared.embedding_requests.lock() {
        r.push(req.clone());
    }
    let delay = shared.embedding_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let inputs: Vec<String> = match req.get("input") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return (StatusCode::BAD_REQUEST, "fake upstream: no input").into_response();
        }
    };
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    let data: Vec<serde_json::Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"object": "embedding", "index": i, "embedding": fake_embedding(t)})
        })
        .collect();
    axum::Json(serde_json::json!({
        "object": "list",
        "data": data,
        "model": req.get("model").cloned().unwrap_or_default(),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

impl FakeUpstream {
    /// Starts on 127.0.0.1, port 0.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Queues a reply for the next request.
    pub fn push(&self, reply: Reply) {
        if let Ok(mut s) = self.shared.script.lock() {
            s.push_back(reply);
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The headers of every request received so far.
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.shared
            .headers
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Streams that clients abandoned before the end.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Makes `/v1/embeddings` wait `delay` before each answer (an embedding model at work).
    pub fn set_embedding_delay(&self, delay: Duration) {
        self.shared.embedding_delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// The bodies of the `/v1/embeddings` requests received so far, in order.
    pub fn embedding_requests(&self) -> Vec<serde_json::Value> {
        self.shared
            .embedding_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_embeddings_are_normalized_and_close_for_shared_words() {
        let a = fake_embedding("The quick brown fox");
        let b = fake_embedding("the QUICK brown cat");
        let c = fake_embedding("zebra");
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert!(dot(&a, &b) > dot(&a, &c));
        assert_eq!(a, fake_embedding("the quick brown fox"));
        assert!(fake_embedding("").iter().all(|x| x.abs() < f32::EPSILON));
    }
}
