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

/// A tool call in a step: code interpreter, file search (v1's retrieval) or function.
///
/// Serialized by hand: the file-search call is `{"type":"retrieval","retrieval":{}}` to v1
/// clients and `{"type":"file_search","file_search":{...}}` to v2 clients and in the store,
/// which reads both.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepToolCall {
    /// `RunStepDetailsToolCallsCodeObject`.
    CodeInterpreter {
        /// Call id.
        id: String,
        /// Input and outputs.
        code_interpreter: CodeInterpreterCall,
    },
    /// `RunStepDetailsToolCallsFileSearchObject` (v2), `RunStepDetailsToolCallsRetrievalObject`
    /// (v1).
    #[serde(alias = "retrieval")]
    FileSearch {
        /// Call id.
        id: String,
        /// The ranking used and the results (v2); v1 shows an empty object.
        #[serde(default, alias = "retrieval")]
        file_search: FileSearchCall,
    },
    /// `RunStepDetailsToolCallsFunctionObject`.
    Function {
        /// Call id.
        id: String,
        /// Name, arguments and output.
        function: StepFunctionCall,
    },
}

impl Serialize for StepToolCall {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // The tag first, as the derived form of the other step objects writes it.
        let mut map = serializer.serialize_map(Some(3))?;
        match self {
            Self::CodeInterpreter {
                id,
                code_interpreter,
            } => {
                map.serialize_entry("type", "code_interpreter")?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("code_interpreter", code_interpreter)?;
            }
            Self::FileSearch { id, .. } if crate::version::is_v1() => {
                map.serialize_entry("type", "retrieval")?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("retrieval", &serde_json::Map::new())?;
            }
            Self::FileSearch { id, file_search } => {
                map.serialize_entry("type", "file_search")?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("file_search", file_search)?;
            }
            Self::Function { id, function } => {
                map.serialize_entry("type", "function")?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("function", function)?;
            }
        }
        map.end()
    }
}

/// `RunStepDetailsToolCallsFileSearchObject.file_search`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileSearchCall {
    /// The query the model asked for: kept in the store (to replay the call in the next turn's
    /// prompt), shown to no client, as the spec has no place for it.
    #[serde(default, skip_serializing_if = "crate::version::hidden_from_api")]
    pub query: Option<String>,
    /// The ranker and threshold the search used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<FileSearchRankingUsed>,
    /// What the search found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<FileSearchResult>>,
}

/// `RunStepDetailsToolCallsFileSearchRankingOptionsObject`: both fields are set in a step,
/// unlike in the tool's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSearchRankingUsed {
    /// The ranker used.
    pub ranker: crate::common::FileSearchRanker,
    /// 0 to 1.
    pub score_threshold: f64,
}

/// `RunStepDetailsToolCallsFileSearchResultObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSearchResult {
    /// The file found.
    pub file_id: String,
    /// Its name.
    pub file_name: String,
    /// 0 to 1.
    pub score: f64,
    /// The matching text; shown only when the request's `include[]` asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<FileSearchResultContent>>,
}

/// One part of a file-search result's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSearchResultContent {
    /// Always `text`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The text.
    pub text: String,
}

impl RunStep {
    /// The step's tool calls (none for a message creation).
    pub fn tool_calls(&self) -> &[StepToolCall] {
        match &self.step_details {
            StepDetails::ToolCalls { tool_calls } => tool_calls,
            StepDetails::MessageCreation { .. } => &[],
        }
    }

    /// Whether any file-search result of the step carries content.
    pub fn has_search_content(&self) -> bool {
        self.tool_calls().iter().any(|call| {
            matches!(
                call,
                StepToolCall::FileSearch { file_search: FileSearchCall { results: Some(results), .. }, .. }
                    if results.iter().any(|r| r.content.is_some())
            )
        })
    }

    /// Drops the file-search results' content, which a response shows only when the request
    /// asked for it with `include[]=step_details.tool_calls[*].file_search.results[*].content`.
    pub fn hide_search_content(&mut self) {
        if let StepDetails::ToolCalls { tool_calls } = &mut self.step_details {
            for call in tool_calls {
                if let StepToolCall::FileSearch { file_search, .. } = call
                    && let Some(results) = &mut file_search.results
                {
                    for r in results {
                        r.content = None;
                    }
                }
            }
        }
    }
}

/// A code interpreter call (`RunStepDetailsToolCallsCodeObject.code_interpreter`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CodeInterpreterCall {
    /// The code.
    pub input: String,
    /// Logs and images.
    pub outputs: Vec<CodeInterpreterOutput>,
    /// The files the code wrote, by their path in the sandbox: kept in the store (so that the
    /// answer's `sandbox:/mnt/data/…` links become `file_path` annotations, whichever worker
    /// writes it, and the next turn's prompt names them), shown to no client, as the spec has
    /// no place for it.
    #[serde(default, skip_serializing_if = "crate::version::hidden_from_api")]
    pub files: Vec<CodeInterpreterFile>,
}

/// One output of a code interpreter call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeInterpreterOutput {
    /// `RunStepDetailsToolCallsCodeOutputLogsObject`: what the code printed.
    Logs {
        /// Standard output and error.
        logs: String,
    },
    /// `RunStepDetailsToolCallsCodeOutputImageObject`: an image the code wrote.
    Image {
        /// The image's file.
        image: CodeInterpreterImage,
    },
}

/// The `image` of an image output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterImage {
    /// The image's file id (purpose `assistants_output`).
    pub file_id: String,
}

/// A file the code wrote, stored as a file of purpose `assistants_output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterFile {
    /// Its path in the sandbox (`/mnt/data/…`).
    pub path: String,
    /// Its file id.
    pub file_id: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{ApiVersion, to_vec};
    use serde_json::json;

    fn view<T: Serialize>(v: ApiVersion, value: &T) -> serde_json::Value {
        serde_json::from_slice(&to_vec(v, value).unwrap()).unwrap()
    }

    #[test]
    fn a_file_search_call_is_retrieval_to_v1() {
        let call = StepToolCall::FileSearch {
            id: "call_1".to_owned(),
            file_search: FileSearchCall {
                query: None,
                ranking_options: None,
                results: Some(vec![FileSearchResult {
                    file_id: "file-1".to_owned(),
                    file_name: "a.txt".to_owned(),
                    score: 0.5,
                    content: Some(vec![FileSearchResultContent {
                        type_: "text".to_owned(),
                        text: "found".to_owned(),
                    }]),
                }]),
            },
        };
        assert_eq!(
            view(ApiVersion::V1, &call),
            json!({"type": "retrieval", "id": "call_1", "retrieval": {}})
        );
        let v2 = view(ApiVersion::V2, &call);
        assert_eq!(v2["type"], "file_search");
        assert_eq!(
            v2["file_search"]["results"][0]["content"][0]["text"],
            "found"
        );
        // The store keeps everything and reads v1's form too.
        let stored = serde_json::to_value(&call).unwrap();
        assert_eq!(
            serde_json::from_value::<StepToolCall>(stored).unwrap(),
            call
        );
        let old = json!({"type": "retrieval", "id": "call_2", "retrieval": {}});
        assert_eq!(
            serde_json::from_value::<StepToolCall>(old).unwrap(),
            StepToolCall::FileSearch {
                id: "call_2".to_owned(),
                file_search: FileSearchCall::default()
            }
        );
        // Function calls keep their derived shape.
        let f = StepToolCall::Function {
            id: "call_3".to_owned(),
            function: StepFunctionCall {
                name: "f".to_owned(),
                arguments: "{}".to_owned(),
                output: None,
            },
        };
        let expected = json!({"type": "function", "id": "call_3", "function": {"name": "f", "arguments": "{}", "output": null}});
        assert_eq!(view(ApiVersion::V1, &f), expected);
        assert_eq!(view(ApiVersion::V2, &f), expected);
    }

    #[test]
    fn search_content_is_hidden_unless_included() {
        let mut details = StepDetails::ToolCalls {
            tool_calls: vec![StepToolCall::FileSearch {
                id: "call_1".to_owned(),
                file_search: FileSearchCall {
                    query: None,
                    ranking_options: None,
                    results: Some(vec![FileSearchResult {
                        file_id: "file-1".to_owned(),
                        file_name: "a.txt".to_owned(),
                        score: 0.5,
                        content: Some(Vec::new()),
                    }]),
                },
            }],
        };
        let mut step: RunStep = serde_json::from_value(json!({
            "id": "step_1", "object": "thread.run.step", "created_at": 1,
            "assistant_id": "asst_1", "thread_id": "thread_1", "run_id": "run_1",
            "type": "tool_calls", "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": []},
            "last_error": null, "expired_at": null, "cancelled_at": null, "failed_at": null,
            "completed_at": 2, "metadata": null, "usage": null
        }))
        .unwrap();
        std::mem::swap(&mut step.step_details, &mut details);
        step.hide_search_content();
        let v2 = view(ApiVersion::V2, &step);
        let result = &v2["step_details"]["tool_calls"][0]["file_search"]["results"][0];
        assert_eq!(result["file_id"], "file-1");
        assert!(result.get("content").is_none(), "{result}");
    }
}
