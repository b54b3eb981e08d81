//! A client for any OpenAI-compatible `/chat/completions` endpoint, streaming.
//!
//! Requests that fail before streaming starts (429, 5xx, timeouts, refused connections) are
//! retried with exponential backoff, honouring `Retry-After`, within the route's budget. Once
//! tokens flow, a failure ends the stream with an error and the executor decides.

use assistd_core::model::{
    ChatEvent, ChatMessage, ChatRequest, ChatStream, ModelBackend, ModelError, ToolChoice,
};
use assistd_wire::FunctionObject;
use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
        Ok(Self {
            http,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
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
    response_format: Option<WireResponseFormat>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireResponseFormat {
    #[serde(rename = "type")]
    type_: &'static str,
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
    message: String,
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
                    ToolChoice::Function(name) => WireToolChoice::Function {
                        type_: "function",
                        function: WireName { name },
                    },
                })
            },
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            response_format: req.json_object.then_some(WireResponseFormat {
                type_: "json_object",
            }),
        }
    }

    async fn start(&self, req: &ChatRequest) -> Result<reqwest::Response, ModelError> {
        let mut builder = self.http.post(&self.url).json(&self.body(req));
        if let Some(k) = &self.api_key {
            builder = builder.bearer_auth(k);
        }
        let res = builder.send().await.map_err(|e| ModelError::Transient {
            message: format!("request to the upstream failed: {e}"),
            retry_after: None,
        })?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let hint = retry_after(res.headers());
        let text = res.text().await.unwrap_or_default();
        let message = serde_json::from_str::<UpstreamError>(&text)
            .map(|e| e.error.message)
            .unwrap_or(text);
        let message = format!("{status}: {message}");
        Err(if status == StatusCode::TOO_MANY_REQUESTS {
            ModelError::RateLimited {
                message,
                retry_after: hint,
            }
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            ModelError::Transient {
                message,
                retry_after: hint,
            }
        } else {
            ModelError::Rejected(message)
        })
    }
}

#[async_trait]
impl ModelBackend for OpenAiCompatible {
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError> {
        let mut attempt = 0;
        let mut backoff = self.retry.initial_backoff;
        let res = loop {
            match self.start(&req).await {
                Ok(res) => break res,
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
        };
        let events = res
            .bytes_stream()
            .eventsource()
            .take_while(|ev| {
                let done = matches!(ev, Ok(e) if e.data.trim() == "[DONE]");
                futures::future::ready(!done)
            })
            .flat_map(|ev| {
                let items: Vec<Result<ChatEvent, ModelError>> = match ev {
                    Err(e) => vec![Err(ModelError::Transient {
                        message: format!("the upstream stream broke: {e}"),
                        retry_after: None,
                    })],
                    Ok(e) if e.data.trim().is_empty() => Vec::new(),
                    Ok(e) => match serde_json::from_str::<Chunk>(&e.data) {
                        Ok(chunk) => chunk_events(chunk).into_iter().map(Ok).collect(),
                        Err(err) => vec![Err(ModelError::Transient {
                            message: format!("the upstream sent a malformed chunk: {err}"),
                            retry_after: None,
                        })],
                    },
                };
                futures::stream::iter(items)
            });
        Ok(events.boxed())
    }
}
