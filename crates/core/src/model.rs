//! The model backend trait: a chat-completions-shaped interface that every backend (an
//! OpenAI-compatible upstream, the built-in local model) implements, so the run executor never
//! knows which one answers.

use assistd_wire::{FunctionObject, JsonSchemaFormat, ReasoningEffort};
use async_trait::async_trait;
use futures::stream::BoxStream;
use std::time::Duration;

/// A message of the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    /// Instructions.
    System(String),
    /// A user's message.
    User(String),
    /// The assistant's text, or the function calls it made.
    Assistant {
        /// Text, if any.
        content: Option<String>,
        /// Function calls, if any.
        tool_calls: Vec<ToolCall>,
    },
    /// A function's output.
    Tool {
        /// The call answered.
        tool_call_id: String,
        /// The output.
        content: String,
    },
}

/// A function call made by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// JSON arguments.
    pub arguments: String,
}

/// How the model may use tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// It decides.
    #[default]
    Auto,
    /// It must not.
    None,
    /// It must call at least one of the functions offered.
    Required,
    /// It must call this function.
    Function(String),
}

/// The form of the answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ChatFormat {
    /// Free text.
    #[default]
    Text,
    /// A JSON object.
    JsonObject,
    /// JSON following a schema (passed on verbatim to upstreams).
    JsonSchema(JsonSchemaFormat),
}

/// One model request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model name as the run names it (the backend maps it to its own).
    pub model: String,
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// Functions offered.
    pub tools: Vec<FunctionObject>,
    /// Tool use.
    pub tool_choice: ToolChoice,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Completion token cap for this request.
    pub max_tokens: Option<i64>,
    /// The form of the answer.
    pub response_format: ChatFormat,
    /// `Some(false)`: at most one function call per answer. `None` leaves it to the backend
    /// (parallel calls allowed).
    pub parallel_tool_calls: Option<bool>,
    /// Passed on to reasoning models.
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// What a backend streams back.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// A piece of the answer's text.
    Text(String),
    /// A piece of a function call; `index` identifies the call across pieces.
    ToolCallDelta {
        /// Position of the call in the turn.
        index: u32,
        /// Set on the call's first piece.
        id: Option<String>,
        /// Set on the call's first piece.
        name: Option<String>,
        /// A piece of the JSON arguments.
        arguments: String,
    },
    /// Token counts of the request.
    Usage {
        /// Prompt tokens.
        prompt_tokens: i64,
        /// Completion tokens.
        completion_tokens: i64,
    },
    /// Why generation stopped (`stop`, `length`, `tool_calls`, ...).
    Finish(String),
}

/// Why a model call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// No backend serves this model name.
    #[error(
        "no model route matches '{0}': configure a route for it (see [[models]] in the configuration) or set ASSISTD_UPSTREAM_URL"
    )]
    NoRoute(String),
    /// The upstream is rate limiting; `retry_after` is its hint.
    #[error("the model upstream is rate limiting requests: {message}")]
    RateLimited {
        /// Upstream's words.
        message: String,
        /// Its `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A transient failure (5xx, timeout, dropped connection): worth retrying.
    #[error("the model failed: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// A `Retry-After` hint, if any.
        retry_after: Option<Duration>,
    },
    /// The request was refused (4xx other than 429, or a prompt the model cannot take):
    /// retrying will not help.
    #[error("the model refused the request: {0}")]
    Rejected(String),
}

impl ModelError {
    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }

    /// The server's hint of when to retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Transient { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// A stream of events from one model call; it ends after `Finish` (or with an error).
pub type ChatStream = BoxStream<'static, Result<ChatEvent, ModelError>>;

/// A model backend. Dropping the returned stream must abort the request (no wasted tokens).
#[async_trait]
pub trait ModelBackend: Send + Sync {
    /// Starts a completion.
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError>;

    /// Whether `model` calls tools well enough to be offered server tools (`file_search`) as
    /// functions. A model that does not (the small built-in one) gets the search run up front
    /// on the user's last message instead, with its results in the prompt.
    fn calls_tools(&self, model: &str) -> bool {
        let _ = model;
        true
    }
}
