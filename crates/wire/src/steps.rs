//! Run steps.

use crate::common::{HasId, Metadata};
use crate::ids::{AssistantId, RunId, StepId, ThreadId};
use crate::runs::{LastError, Usage};
use serde::{Deserialize, Serialize};

/// `RunStepObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    /// `step_...`
    pub id: StepId,
    /// Always `thread.run.step`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The assistant.
    pub assistant_id: AssistantId,
    /// The thread.
    pub thread_id: ThreadId,
    /// The run.
    pub run_id: RunId,
    /// `message_creation` or `tool_calls`.
    #[serde(rename = "type")]
    pub type_: RunStepType,
    /// Lifecycle state.
    pub status: RunStepStatus,
    /// What the step did.
    pub step_details: StepDetails,
    /// Why it failed.
    pub last_error: Option<LastError>,
    /// Unix seconds.
    pub expired_at: Option<i64>,
    /// Unix seconds.
    pub cancelled_at: Option<i64>,
    /// Unix seconds.
    pub failed_at: Option<i64>,
    /// Unix seconds.
    pub completed_at: Option<i64>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Token usage, once the step ended.
    pub usage: Option<Usage>,
}

impl HasId for RunStep {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `RunStepObject.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStepType {
    /// The step wrote a message.
    MessageCreation,
    /// The step called tools.
    ToolCalls,
}

impl RunStepType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreation => "message_creation",
            Self::ToolCalls => "tool_calls",
        }
    }
}

/// `RunStepObject.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStepStatus {
    /// Executing.
    InProgress,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Failed,
    /// Completed.
    Completed,
    /// Expired.
    Expired,
}

impl RunStepStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Expired => "expired",
        }
    }
}

/// `RunStepDetailsMessageCreationObject` | `RunStepDetailsToolCallsObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepDetails {
    /// The message written.
    MessageCreation {
        /// `{message_id}`.
        message_creation: MessageCreation,
    },
    /// The tools called.
    ToolCalls {
        /// The calls.
        tool_calls: Vec<StepToolCall>,
    },
}

/// `message_creation` of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCreation {
    /// The message.
    pub message_id: String,
}

/// A tool call in a step: code interpreter, retrieval or function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepToolCall {
    /// `RunStepDetailsToolCallsCodeObject`.
    CodeInterpreter {
        /// Call id.
        id: String,
        /// Input and outputs.
        code_interpreter: CodeInterpreterCall,
    },
    /// `RunStepDetailsToolCallsRetrievalObject`.
    Retrieval {
        /// Call id.
        id: String,
        /// Always an empty object.
        retrieval: serde_json::Map<String, serde_json::Value>,
    },
    /// `RunStepDetailsToolCallsFunctionObject`.
    Function {
        /// Call id.
        id: String,
        /// Name, arguments and output.
        function: StepFunctionCall,
    },
}

/// A code interpreter call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterCall {
    /// The code.
    pub input: String,
    /// Logs and images.
    pub outputs: Vec<serde_json::Value>,
}

/// A function call in a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFunctionCall {
    /// Function name.
    pub name: String,
    /// JSON arguments.
    pub arguments: String,
    /// The submitted output, `null` until submitted.
    pub output: Option<String>,
}
