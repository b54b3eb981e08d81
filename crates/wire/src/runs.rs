//! Runs.

use crate::common::{
    AssistantTool, HasId, Metadata, ReasoningEffort, ResponseFormatOption, double_option,
};
use crate::ids::{AssistantId, RunId, ThreadId};
use crate::messages::CreateMessageRequest;
use crate::threads::CreateThreadRequest;
use crate::version::{is_v1, is_v2};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// The files used (v1; v2 has `tool_resources` on the assistant and thread instead).
    #[serde(default, skip_serializing_if = "crate::version::hidden_from_v2")]
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
    /// Whether the model may call several functions in one turn (v2; v1 runs are `true`).
    #[serde(
        default = "parallel_default",
        skip_serializing_if = "crate::version::hidden_from_v1"
    )]
    pub parallel_tool_calls: bool,
    /// Passed on to reasoning models; write-only (no object shows it).
    #[serde(skip)]
    pub reasoning_effort: Option<ReasoningEffort>,
}

fn parallel_default() -> bool {
    true
}

impl HasId for Run {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `RunObject.status`.
///
/// `incomplete` is v2's: v1 has no such status and showed a token-capped run as `completed`
/// with its `incomplete_details`, which is what a v1 client sees of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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
    /// Ended by a token budget (v2).
    Incomplete,
    /// Expired.
    Expired,
}

impl Serialize for RunStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Incomplete if is_v1() => serializer.serialize_str(Self::Completed.as_str()),
            other => serializer.serialize_str(other.as_str()),
        }
    }
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
            Self::Incomplete => "incomplete",
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
            "incomplete" => Self::Incomplete,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// Whether the run can no longer change state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::Failed | Self::Completed | Self::Incomplete | Self::Expired
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoiceMode {
    /// No tool.
    None,
    /// The model decides.
    Auto,
    /// The model must call at least one tool (v2; shown to v1 as `auto`, its nearest).
    Required,
}

impl Serialize for ToolChoiceMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Self::None => "none",
            Self::Required if !is_v1() => "required",
            Self::Auto | Self::Required => "auto",
        })
    }
}

impl<'de> Deserialize<'de> for ToolChoiceMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        match &*name {
            "none" => Ok(Self::None),
            "auto" => Ok(Self::Auto),
            "required" if !is_v1() => Ok(Self::Required),
            other => Err(serde::de::Error::unknown_variant(
                other,
                if is_v1() {
                    &["none", "auto"]
                } else {
                    &["none", "auto", "required"]
                },
            )),
        }
    }
}

/// `AssistantsApiNamedToolChoice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToolChoice {
    /// `function`, `code_interpreter` or `file_search` (`retrieval` in v1).
    #[serde(rename = "type")]
    pub type_: NamedToolType,
    /// The function, when `type` is `function`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<NamedFunction>,
}

/// `AssistantsApiNamedToolChoice.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedToolType {
    /// A function.
    Function,
    /// The code interpreter.
    CodeInterpreter,
    /// `file_search` (v2), `retrieval` (v1): one tool, as in [`AssistantTool`].
    FileSearch,
}

impl Serialize for NamedToolType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Self::Function => "function",
            Self::CodeInterpreter => "code_interpreter",
            Self::FileSearch if is_v1() => "retrieval",
            Self::FileSearch => "file_search",
        })
    }
}

impl<'de> Deserialize<'de> for NamedToolType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        match &*name {
            "function" => Ok(Self::Function),
            "code_interpreter" => Ok(Self::CodeInterpreter),
            "retrieval" if !is_v2() => Ok(Self::FileSearch),
            "file_search" if !is_v1() => Ok(Self::FileSearch),
            other => Err(serde::de::Error::unknown_variant(
                other,
                if is_v1() {
                    &["function", "code_interpreter", "retrieval"]
                } else {
                    &["function", "code_interpreter", "file_search"]
                },
            )),
        }
    }
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
    /// Whether the model may call several functions in one turn (v2).
    #[serde(default, deserialize_with = "crate::version::v2_field")]
    pub parallel_tool_calls: Option<bool>,
    /// Passed on to reasoning models (v2).
    #[serde(default, deserialize_with = "crate::version::v2_field")]
    pub reasoning_effort: Option<ReasoningEffort>,
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
    /// Whether the model may call several functions in one turn (v2).
    #[serde(default, deserialize_with = "crate::version::v2_field")]
    pub parallel_tool_calls: Option<bool>,
    /// Overrides the assistant's `tool_resources` for this run (v2).
    #[serde(default, deserialize_with = "crate::version::v2_field")]
    pub tool_resources: Option<crate::common::ToolResourcesRequest>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{ApiVersion, to_vec, with_version};
    use serde_json::json;

    fn view<T: Serialize>(v: ApiVersion, value: &T) -> serde_json::Value {
        serde_json::from_slice(&to_vec(v, value).unwrap()).unwrap()
    }

    fn read<T: serde::de::DeserializeOwned>(
        v: ApiVersion,
        value: serde_json::Value,
    ) -> Result<T, serde_json::Error> {
        with_version(v, || serde_json::from_value(value))
    }

    #[test]
    fn incomplete_is_completed_to_v1() {
        let s = RunStatus::Incomplete;
        assert_eq!(view(ApiVersion::V2, &s), json!("incomplete"));
        assert_eq!(view(ApiVersion::V1, &s), json!("completed"));
        assert_eq!(serde_json::to_value(s).unwrap(), json!("incomplete"));
        assert!(s.is_terminal());
        assert_eq!(RunStatus::parse("incomplete"), Some(s));
    }

    #[test]
    fn tool_choice_per_version() {
        use ApiVersion::{V1, V2};
        let required: ToolChoiceOption = read(V2, json!("required")).unwrap();
        assert_eq!(required, ToolChoiceOption::Mode(ToolChoiceMode::Required));
        assert!(read::<ToolChoiceOption>(V1, json!("required")).is_err());
        assert_eq!(view(V1, &required), json!("auto"));
        assert_eq!(view(V2, &required), json!("required"));
        assert_eq!(serde_json::to_value(&required).unwrap(), json!("required"));

        let v2_named: ToolChoiceOption = read(V2, json!({"type": "file_search"})).unwrap();
        let v1_named: ToolChoiceOption = read(V1, json!({"type": "retrieval"})).unwrap();
        assert_eq!(v1_named, v2_named);
        assert!(read::<ToolChoiceOption>(V1, json!({"type": "file_search"})).is_err());
        assert!(read::<ToolChoiceOption>(V2, json!({"type": "retrieval"})).is_err());
        assert_eq!(view(V1, &v2_named), json!({"type": "retrieval"}));
        assert_eq!(view(V2, &v1_named), json!({"type": "file_search"}));
        // The store reads what either version wrote.
        let stored = serde_json::to_value(&v1_named).unwrap();
        assert_eq!(
            serde_json::from_value::<ToolChoiceOption>(stored).unwrap(),
            v1_named
        );
        assert_eq!(
            serde_json::from_value::<ToolChoiceOption>(json!({"type": "retrieval"})).unwrap(),
            v1_named
        );
    }

    #[test]
    fn response_format_per_version() {
        use ApiVersion::{V1, V2};
        let schema = json!({
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": true}
        });
        let f: ResponseFormatOption = read(V2, schema.clone()).unwrap();
        assert!(matches!(f, ResponseFormatOption::JsonSchema(_)));
        assert_eq!(view(V2, &f), schema);
        assert_eq!(view(V1, &f), json!({"type": "json_object"}));
        assert_eq!(serde_json::to_value(&f).unwrap(), schema);
        assert_eq!(
            serde_json::from_value::<ResponseFormatOption>(schema.clone()).unwrap(),
            f
        );
        assert!(read::<ResponseFormatOption>(V1, schema).is_err());

        let none: ResponseFormatOption = read(V1, json!("none")).unwrap();
        assert!(read::<ResponseFormatOption>(V2, json!("none")).is_err());
        assert_eq!(view(V1, &none), json!("none"));
        assert_eq!(view(V2, &none), json!({"type": "text"}));
        for ok in [
            json!("auto"),
            json!({"type": "text"}),
            json!({"type": "json_object"}),
        ] {
            for v in [V1, V2] {
                let f: ResponseFormatOption = read(v, ok.clone()).unwrap();
                assert_eq!(view(v, &f), ok);
            }
        }
        for bad in [
            json!({"type": "json_object", "x": 1}),
            json!({"type": "yaml"}),
            json!("text"),
            json!(3),
            json!({"type": "json_schema"}),
            json!({"type": "json_schema", "json_schema": {"schema": {}}}),
        ] {
            assert!(
                read::<ResponseFormatOption>(V2, bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn v2_run_fields_are_refused_under_v1() {
        let body = json!({"assistant_id": "asst_1", "parallel_tool_calls": false, "reasoning_effort": "low"});
        assert!(read::<CreateRunRequest>(ApiVersion::V1, body.clone()).is_err());
        let req: CreateRunRequest = read(ApiVersion::V2, body).unwrap();
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.reasoning_effort, Some(ReasoningEffort::Low));
    }
}
