//! A client for any OpenAI-compatible `/chat/completions` endpoint, streaming.
//!
//! Requests that fail before streaming starts (429, 5xx, timeouts, refused connections) are
//! retried with exponential backoff, honouring `Retry-After`, within the route's budget. Once
//! tokens flow, a failure ends the stream with an error and the executor decides.
//!
//! A failure's message reaches the run's owner (`last_error`), so it says what happened in the
//! provider's terms (reachable, HTTP status, error code) and nothing the upstream sent or where
//! it lives: the upstream's body and the transport error go to the operator's log, masked
//! ([`crate::redact`]).

use crate::redact::{loggable_url, mask_secrets};
use assistd_core::model::{
    ChatEvent, ChatFormat, ChatMessage, ChatRequest, ChatStream, ModelBackend, ModelError,
    ToolChoice,
};
use assistd_wire::{FunctionObject, JsonSchemaFormat, ReasoningEffort};
use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How failed requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff, doubled each time.
    pub initial_backoff: Duration,
    /// Cap on one backoff (and on a `Retry-After`).
    pub max_backoff: Duration,
}

/// One OpenAI-compatible upstream.
pub struct OpenAiCompatible {
    http: reqwest::Client,
    url: String,
    /// The URL as logs may show it (no userinfo, no query).
    log_url: String,
    api_key: Option<String>,
    upstream_model: Option<String>,
    retry: RetryPolicy,
}

impl OpenAiCompatible {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        upstream_model: Option<String>,
        connect_timeout: Duration,
        read_timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .build()?;
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Ok(Self {
            http,
            log_url: loggable_url(&url),
            url,
            api_key,
            upstream_model,
            retry,
        })
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireResponseFormat<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<&'a JsonSchemaFormat>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    function: &'a FunctionObject,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        type_: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    type_: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

fn plain<'a>(role: &'static str, content: &'a str) -> WireMessage<'a> {
    WireMessage {
        role,
        content: Some(content),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

fn wire_message(m: &ChatMessage) -> WireMessage<'_> {
    match m {
        ChatMessage::System(c) => plain("system", c),
        ChatMessage::User(c) => plain("user", c),
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => WireMessage {
            role: "assistant",
            content: content.as_deref(),
            tool_calls: tool_calls
                .iter()
                .map(|c| WireToolCall {
                    id: &c.id,
                    type_: "function",
                    function: WireFunctionCall {
                        name: &c.name,
                        arguments: &c.arguments,
                    },
                })
                .collect(),
            tool_call_id: None,
        },
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => WireMessage {
            role: "tool",
            content: Some(content),
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id),
        },
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<ChunkDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ChunkToolCall>>,
}

#[derive(Deserialize)]
struct ChunkToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<ChunkFunction>,
}

#[derive(Deserialize)]
struct ChunkFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

/// An upstream error body, `{"error":{"message":...}}`.
#[derive(Deserialize)]
struct UpstreamError {
    error: UpstreamErrorBody,
}

#[derive(Deserialize)]
struct UpstreamErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// The upstream's error `code` when it is a plain identifier (`context_length_exceeded`): useful
/// to the run's owner and unable to carry anything else.
fn safe_code(body: &str) -> Option<String> {
    let code = serde_json::from_str::<UpstreamError>(body)
        .ok()?
        .error
        .code?;
    let code = code.as_str()?;
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'))
    .then(|| code.to_owned())
}

/// Puts the current span's W3C trace context on the upstream request, so that the provider's
/// traces (when it keeps any) join the run's.
struct Inject<'a>(&'a mut HeaderMap);

impl opentelemetry::propagation::Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Counts an upstream failure by kind (`assistd_upstream_errors_total`).
fn count_error(kind: &'static str) {
    metrics::counter!("assistd_upstream_errors_total", "kind" => kind).increment(1);
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
}

fn chunk_events(chunk: Chunk) -> Vec<ChatEvent> {
    let mut out = Vec::new();
    for choice in chunk.choices {
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                out.push(ChatEvent::Text(text));
            }
            for (i, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let (name, arguments) = match call.function {
                    Some(f) => (f.name, f.arguments.unwrap_or_default()),
                    None => (None, String::new()),
                };
                out.push(ChatEvent::ToolCallDelta {
                    index: call
                        .index
                        .unwrap_or_else(|| u32::try_from(i).unwrap_or(u32::MAX)),
                    id: call.id,
                    name,
                    arguments,
                });
            }
        }
        if let Some(reason) = choice.finish_reason {
            out.push(ChatEvent::Finish(reason));
        }
    }
    if let Some(u) = chunk.usage {
        out.push(ChatEvent::Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
    }
    out
}

impl OpenAiCompatible {
    fn body<'a>(&'a self, req: &'a ChatRequest) -> WireRequest<'a> {
        WireRequest {
            model: self.upstream_model.as_deref().unwrap_or(&req.model),
            messages: req.messages.iter().map(wire_message).collect(),
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            tools: req
                .tools
                .iter()
                .map(|f| WireTool {
                    type_: "function",
                    function: f,
                })
                .collect(),
            tool_choice: if req.tools.is_empty() {
                None
            } else {
                Some(match &req.tool_choice {
                    ToolChoice::Auto => WireToolChoice::Mode("auto"),
                    ToolChoice::None => WireToolChoice::Mode("none"),
                    ToolChoice::Required => WireToolChoice::Mode("required"),
                    ToolChoice::Function(name) => WireToolChoice::Function {
                        type_: "function",
                        function: WireName { name },
                    },
                })
            },
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            response_format: match &req.response_format {
                ChatFormat::Text => None,
                ChatFormat::JsonObject => Some(WireResponseFormat {
                    type_: "json_object",
                    json_schema: None,
                }),
                ChatFormat::JsonSchema(schema) => Some(WireResponseFormat {
                    type_: "json_schema",
                    json_schema: Some(schema),
                }),
            },
            // OpenAI refuses `parallel_tool_calls` on a request without tools.
            parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
            reasoning_effort: req.reasoning_effort.map(ReasoningEffort::as_str),
        }
    }

    /// `text` masked for the log: this route's key and anything credential-like.
    fn mask(&self, text: &str) -> String {
        mask_secrets(text, &[self.api_key.as_deref().unwrap_or_default()])
    }

    async fn start(&self, req: &ChatRequest) -> Result<reqwest::Response, ModelError> {
        let mut builder = self.http.post(&self.url).json(&self.body(req));
        if let Some(k) = &self.api_key {
            builder = builder.bearer_auth(k);
        }
        let mut trace_headers = HeaderMap::new();
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut Inject(&mut trace_headers));
        });
        let started = Instant::now();
        let res = match builder.headers(trace_headers).send().await {
            Ok(res) => res,
            Err(e) => {
                let timeout = e.is_timeout();
                count_error(if timeout { "timeout" } else { "connect" });
                tracing::warn!(
                    upstream = %self.log_url,
                    error = %self.mask(&e.without_url().to_string()),
                    "the model upstream could not be reached"
                );
                let message = if timeout {
                    "the model provider did not answer in time"
                } else {
                    "the model provider could not be reached"
                };
                return Err(ModelError::Transient {
                    message: message.to_owned(),
                    retry_after: None,
                });
            }
        };
        let status = res.status();
        metrics::histogram!(
            "assistd_upstream_request_duration_seconds",
            "status" => status.as_str().to_owned()
        )
        .record(started.elapsed().as_secs_f64());
        if status.is_success() {
            return Ok(res);
        }
        let hint = retry_after(res.headers());
        let text = res.text().await.unwrap_or_default();
        tracing::warn!(
            upstream = %self.log_url,
            status = status.as_u16(),
            body = %self.mask(&text),
            "the model upstream answered with an error"
        );
        let mut message = format!("the model provider returned an error (HTTP {status}");
        if let Some(code) = safe_code(&text) {
            message.push_str(", code ");
            message.push_str(&code);
        }
        message.push(')');
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            message.push_str(": it refused this server's credentials; tell the server's operator");
        }
        Err(if status == StatusCode::TOO_MANY_REQUESTS {
            count_error("rate_limited");
            ModelError::RateLimited {
                message,
                retry_after: hint,
            }
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            count_error("server_error");
            ModelError::Transient {
                message,
                retry_after: hint,
            }
        } else {
            count_error("client_error");
            ModelError::Rejected(message)
        })
    }
}

#[async_trait]
impl ModelBackend for OpenAiCompatible {
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError> {
        let span = tracing::info_span!(
            "chat.completions",
            otel.kind = "client",
            server.address = %self.log_url,
            gen_ai.request.model = %self.upstream_model.as_deref().unwrap_or(&req.model),
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        let res =
            tracing::Instrument::instrument(self.send_with_retries(&req), span.clone()).await?;
        let secrets = self.api_key.clone();
        let log_url = self.log_url.clone();
        let events = res
            .bytes_stream()
            .eventsource()
            .take_while(|ev| {
                let done = matches!(ev, Ok(e) if e.data.trim() == "[DONE]");
                futures::future::ready(!done)
            })
            // The span lives as long as the stream: it measures the whole call.
            .flat_map(move |ev| {
                let mask = |t: &str| mask_secrets(t, &[secrets.as_deref().unwrap_or_default()]);
                let items: Vec<Result<ChatEvent, ModelError>> = match ev {
                    Err(e) => {
                        count_error("stream");
                        tracing::warn!(parent: &span, upstream = %log_url, error = %mask(&e.to_string()), "the model upstream's stream broke");
                        vec![Err(ModelError::Transient {
                            message: "the model provider's response stream broke".to_owned(),
                            retry_after: None,
                        })]
                    }
                    Ok(e) if e.data.trim().is_empty() => Vec::new(),
                    Ok(e) => match serde_json::from_str::<Chunk>(&e.data) {
                        Ok(chunk) => {
                            if let Some(u) = &chunk.usage {
                                span.record("gen_ai.usage.input_tokens", u.prompt_tokens);
                                span.record("gen_ai.usage.output_tokens", u.completion_tokens);
                            }
                            chunk_events(chunk).into_iter().map(Ok).collect()
                        }
                        Err(err) => {
                            count_error("malformed");
                            tracing::warn!(parent: &span, upstream = %log_url, error = %mask(&err.to_string()), "the model upstream sent a malformed chunk");
                            vec![Err(ModelError::Transient {
                                message: "the model provider sent a malformed response".to_owned(),
                                retry_after: None,
                            })]
                        }
                    },
                };
                futures::stream::iter(items)
            });
        Ok(events.boxed())
    }
}

impl OpenAiCompatible {
    /// Starts the request, retrying what is worth retrying within the route's budget.
    async fn send_with_retries(&self, req: &ChatRequest) -> Result<reqwest::Response, ModelError> {
        let mut attempt = 0;
        let mut backoff = self.retry.initial_backoff;
        loop {
            match self.start(req).await {
                Ok(res) => return Ok(res),
                Err(e) if e.is_retryable() && attempt < self.retry.max_retries => {
                    attempt += 1;
                    let wait = e
                        .retry_after()
                        .unwrap_or(backoff)
                        .min(self.retry.max_backoff);
                    tracing::warn!(error = %e, attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying the model request");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
