//! Runs.

use crate::common::{AssistantTool, HasId, Metadata, ResponseFormatOption, double_option};
use crate::ids::{AssistantId, RunId, ThreadId};
use crate::messages::CreateMessageRequest;
use crate::threads::CreateThreadRequest;
use serde::{Deserialize, Serialize};

/// `RunObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// `run_...`
    pub id: RunId,
    /// Always `thread.run`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The thread.
    pub thread_id: ThreadId,
    /// The assistant.
    pub assistant_id: AssistantId,
    /// Lifecycle state.
    pub status: RunStatus,
    /// What the client must do to continue.
    pub required_action: Option<RequiredAction>,
    /// Why the run failed.
    pub last_error: Option<LastError>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub cancelled_at: Option<i64>,
    /// Unix seconds.
    pub failed_at: Option<i64>,
    /// Unix seconds.
    pub completed_at: Option<i64>,
    /// Why the run is incomplete.
    pub incomplete_details: Option<RunIncompleteDetails>,
    /// The model used.
    pub model: String,
    /// The instructions used.
    pub instructions: String,
    /// The tools used.
    pub tools: Vec<AssistantTool>,
    /// The files used.
    pub file_ids: Vec<String>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Token usage, once terminal.
    pub usage: Option<Usage>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Prompt token budget.
    pub max_prompt_tokens: Option<i64>,
    /// Completion token budget.
    pub max_completion_tokens: Option<i64>,
    /// How the thread is truncated.
    pub truncation_strategy: TruncationObject,
    /// Which tool the model must call.
    pub tool_choice: ToolChoiceOption,
    /// Output format.
    pub response_format: ResponseFormatOption,
}

impl HasId for Run {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `RunObject.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Executing.
    InProgress,
    /// Waiting for tool outputs.
    RequiresAction,
    /// Cancel requested.
    Cancelling,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Failed,
    /// Completed.
    Completed,
    /// Expired.
    Expired,
}

impl RunStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::RequiresAction => "requires_action",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Expired => "expired",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "in_progress" => Self::InProgress,
            "requires_action" => Self::RequiresAction,
            "cancelling" => Self::Cancelling,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "completed" => Self::Completed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// Whether the run can no longer change state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::Failed | Self::Completed | Self::Expired
        )
    }
}

/// `RunObject.required_action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequiredAction {
    /// Always `submit_tool_outputs`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The calls awaiting outputs.
    pub submit_tool_outputs: SubmitToolOutputs,
}

/// `RunObject.required_action.submit_tool_outputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitToolOutputs {
    /// The calls.
    pub tool_calls: Vec<RunToolCallObject>,
}

/// `RunToolCallObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunToolCallObject {
    /// `call_...`
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The call.
    pub function: FunctionCall,
}

/// A function call: name and JSON-encoded arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments, a JSON string.
    pub arguments: String,
}

/// `RunObject.last_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// `server_error`, `rate_limit_exceeded` or `invalid_prompt`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `RunObject.last_error.code`. [`LastError::code`] stays a string, as stored; this names the
/// values the server writes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastErrorCode {
    /// The server or the model backend failed.
    ServerError,
    /// The model backend kept answering 429.
    RateLimitExceeded,
    /// The prompt was refused.
    InvalidPrompt,
}

impl LastErrorCode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerError => "server_error",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::InvalidPrompt => "invalid_prompt",
        }
    }
}

impl LastError {
    /// A `last_error` with `code`.
    pub fn new(code: LastErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }
}

/// `RunObject.incomplete_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIncompleteDetails {
    /// `max_completion_tokens` or `max_prompt_tokens`.
    pub reason: Option<String>,
}

/// `RunCompletionUsage` / `RunStepCompletionUsage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Sum of both.
    pub total_tokens: i64,
}

/// `TruncationObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruncationObject {
    /// `auto` or `last_messages`.
    #[serde(rename = "type")]
    pub type_: TruncationType,
    /// How many recent messages to keep.
    #[serde(default)]
    pub last_messages: Option<i64>,
}

impl Default for TruncationObject {
    fn default() -> Self {
        Self {
            type_: TruncationType::Auto,
            last_messages: None,
        }
    }
}

/// `TruncationObject.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruncationType {
    /// Drop from the middle as needed.
    Auto,
    /// Keep the last N messages.
    LastMessages,
}

/// `AssistantsApiToolChoiceOption`: `"none"`, `"auto"` or a named tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoiceOption {
    /// `"none"` or `"auto"`.
    Mode(ToolChoiceMode),
    /// `AssistantsApiNamedToolChoice`.
    Named(NamedToolChoice),
}

impl Default for ToolChoiceOption {
    fn default() -> Self {
        Self::Mode(ToolChoiceMode::Auto)
    }
}

/// The string forms of [`ToolChoiceOption`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    /// No tool.
    None,
    /// The model decides.
    Auto,
}

/// `AssistantsApiNamedToolChoice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToolChoice {
    /// `function`, `code_interpreter` or `retrieval`.
    #[serde(rename = "type")]
    pub type_: NamedToolType,
    /// The function, when `type` is `function`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<NamedFunction>,
}

/// `AssistantsApiNamedToolChoice.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedToolType {
    /// A function.
    Function,
    /// The code interpreter.
    CodeInterpreter,
    /// Retrieval.
    Retrieval,
}

/// `AssistantsApiNamedToolChoice.function`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedFunction {
    /// Function name.
    pub name: String,
}

/// `CreateRunRequest`.
///
/// `thread_id` is listed as required by the spec but never defined; the thread comes from the
/// path, so it is not a field here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    /// The assistant.
    pub assistant_id: AssistantId,
    /// Overrides the assistant's model.
    #[serde(default)]
    pub model: Option<String>,
    /// Overrides the assistant's instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Appended to the instructions.
    #[serde(default)]
    pub additional_instructions: Option<String>,
    /// Added to the thread before the run.
    #[serde(default)]
    pub additional_messages: Option<Vec<CreateMessageRequest>>,
    /// Overrides the assistant's tools.
    #[serde(default)]
    pub tools: Option<Vec<AssistantTool>>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Top-p.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Answer with server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Prompt token budget.
    #[serde(default)]
    pub max_prompt_tokens: Option<i64>,
    /// Completion token budget.
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// Truncation.
    #[serde(default)]
    pub truncation_strategy: Option<TruncationObject>,
    /// Tool choice.
    #[serde(default)]
    pub tool_choice: Option<ToolChoiceOption>,
    /// Response format.
    #[serde(default)]
    pub response_format: Option<ResponseFormatOption>,
}

/// `CreateThreadAndRunRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateThreadAndRunRequest {
    /// The assistant.
    pub assistant_id: AssistantId,
    /// The thread to create (empty when absent).
    #[serde(default)]
    pub thread: Option<CreateThreadRequest>,
    /// Overrides the assistant's model.
    #[serde(default)]
    pub model: Option<String>,
    /// Overrides the assistant's instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Overrides the assistant's tools.
    #[serde(default)]
    pub tools: Option<Vec<AssistantTool>>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Top-p.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Answer with server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Prompt token budget.
    #[serde(default)]
    pub max_prompt_tokens: Option<i64>,
    /// Completion token budget.
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// Truncation.
    #[serde(default)]
    pub truncation_strategy: Option<TruncationObject>,
    /// Tool choice.
    #[serde(default)]
    pub tool_choice: Option<ToolChoiceOption>,
    /// Response format.
    #[serde(default)]
    pub response_format: Option<ResponseFormatOption>,
}

/// `ModifyRunRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyRunRequest {
    /// Metadata (replaces the map; `null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
}

/// `SubmitToolOutputsRunRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitToolOutputsRunRequest {
    /// One output per pending call.
    pub tool_outputs: Vec<ToolOutput>,
    /// Answer with server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// One entry of `tool_outputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolOutput {
    /// The call answered.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// The output.
    #[serde(default)]
    pub output: Option<String>,
}
