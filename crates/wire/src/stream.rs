//! Streaming: the names of the stream's events ([`StreamEvent`]) and the delta objects of
//! `thread.message.delta` and `thread.run.step.delta` events.

use crate::messages::{MessageRole, MessageStatus};
use crate::runs::RunStatus;
use crate::steps::RunStepStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `event:` names of the Assistants stream protocol (`AssistantStreamEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEvent {
    /// `thread.created`
    ThreadCreated,
    /// `thread.run.created`
    RunCreated,
    /// `thread.run.queued`
    RunQueued,
    /// `thread.run.in_progress`
    RunInProgress,
    /// `thread.run.requires_action`
    RunRequiresAction,
    /// `thread.run.completed`
    RunCompleted,
    /// `thread.run.incomplete`
    RunIncomplete,
    /// `thread.run.failed`
    RunFailed,
    /// `thread.run.cancelling`
    RunCancelling,
    /// `thread.run.cancelled`
    RunCancelled,
    /// `thread.run.expired`
    RunExpired,
    /// `thread.run.step.created`
    StepCreated,
    /// `thread.run.step.in_progress`
    StepInProgress,
    /// `thread.run.step.delta`
    StepDelta,
    /// `thread.run.step.completed`
    StepCompleted,
    /// `thread.run.step.failed`
    StepFailed,
    /// `thread.run.step.cancelled`
    StepCancelled,
    /// `thread.run.step.expired`
    StepExpired,
    /// `thread.message.created`
    MessageCreated,
    /// `thread.message.in_progress`
    MessageInProgress,
    /// `thread.message.delta`
    MessageDelta,
    /// `thread.message.completed`
    MessageCompleted,
    /// `thread.message.incomplete`
    MessageIncomplete,
    /// `error`
    Error,
    /// `done`, whose data is `[DONE]`.
    Done,
}

impl StreamEvent {
    /// Every event, in the order above.
    pub const ALL: [Self; 25] = [
        Self::ThreadCreated,
        Self::RunCreated,
        Self::RunQueued,
        Self::RunInProgress,
        Self::RunRequiresAction,
        Self::RunCompleted,
        Self::RunIncomplete,
        Self::RunFailed,
        Self::RunCancelling,
        Self::RunCancelled,
        Self::RunExpired,
        Self::StepCreated,
        Self::StepInProgress,
        Self::StepDelta,
        Self::StepCompleted,
        Self::StepFailed,
        Self::StepCancelled,
        Self::StepExpired,
        Self::MessageCreated,
        Self::MessageInProgress,
        Self::MessageDelta,
        Self::MessageCompleted,
        Self::MessageIncomplete,
        Self::Error,
        Self::Done,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThreadCreated => "thread.created",
            Self::RunCreated => "thread.run.created",
            Self::RunQueued => "thread.run.queued",
            Self::RunInProgress => "thread.run.in_progress",
            Self::RunRequiresAction => "thread.run.requires_action",
            Self::RunCompleted => "thread.run.completed",
            Self::RunIncomplete => "thread.run.incomplete",
            Self::RunFailed => "thread.run.failed",
            Self::RunCancelling => "thread.run.cancelling",
            Self::RunCancelled => "thread.run.cancelled",
            Self::RunExpired => "thread.run.expired",
            Self::StepCreated => "thread.run.step.created",
            Self::StepInProgress => "thread.run.step.in_progress",
            Self::StepDelta => "thread.run.step.delta",
            Self::StepCompleted => "thread.run.step.completed",
            Self::StepFailed => "thread.run.step.failed",
            Self::StepCancelled => "thread.run.step.cancelled",
            Self::StepExpired => "thread.run.step.expired",
            Self::MessageCreated => "thread.message.created",
            Self::MessageInProgress => "thread.message.in_progress",
            Self::MessageDelta => "thread.message.delta",
            Self::MessageCompleted => "thread.message.completed",
            Self::MessageIncomplete => "thread.message.incomplete",
            Self::Error => "error",
            Self::Done => "done",
        }
    }

    /// The event announcing that a run reached `status`.
    pub fn for_run_status(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued => Self::RunQueued,
            RunStatus::InProgress => Self::RunInProgress,
            RunStatus::RequiresAction => Self::RunRequiresAction,
            RunStatus::Cancelling => Self::RunCancelling,
            RunStatus::Cancelled => Self::RunCancelled,
            RunStatus::Failed => Self::RunFailed,
            RunStatus::Completed => Self::RunCompleted,
            RunStatus::Incomplete => Self::RunIncomplete,
            RunStatus::Expired => Self::RunExpired,
        }
    }

    /// The event announcing that a step reached `status`.
    pub fn for_step_status(status: RunStepStatus) -> Self {
        match status {
            RunStepStatus::InProgress => Self::StepInProgress,
            RunStepStatus::Cancelled => Self::StepCancelled,
            RunStepStatus::Failed => Self::StepFailed,
            RunStepStatus::Completed => Self::StepCompleted,
            RunStepStatus::Expired => Self::StepExpired,
        }
    }

    /// The event announcing that a message reached `status`.
    pub fn for_message_status(status: MessageStatus) -> Self {
        match status {
            MessageStatus::InProgress => Self::MessageInProgress,
            MessageStatus::Incomplete => Self::MessageIncomplete,
            MessageStatus::Completed => Self::MessageCompleted,
        }
    }

    /// Whether a run's stream ends after this event: the run stopped, or waits for the client
    /// to submit tool outputs (which opens a stream of its own).
    pub fn ends_stream(self) -> bool {
        matches!(
            self,
            Self::RunCompleted
                | Self::RunIncomplete
                | Self::RunFailed
                | Self::RunCancelled
                | Self::RunExpired
                | Self::RunRequiresAction
        )
    }
}

impl StreamEvent {
    /// The name a client of `version` knows this event by: v1 has no `thread.run.incomplete`
    /// and saw such a run end as `thread.run.completed`.
    pub fn name_for(self, version: crate::ApiVersion) -> &'static str {
        match (self, version) {
            (Self::RunIncomplete, crate::ApiVersion::V1) => Self::RunCompleted.as_str(),
            (other, _) => other.as_str(),
        }
    }
}

impl fmt::Display for StreamEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `MessageDeltaObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaObject {
    /// The message's id.
    pub id: String,
    /// Always `thread.message.delta`.
    pub object: String,
    /// What changed.
    pub delta: MessageDelta,
}

/// `MessageDeltaObject.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Set on the first delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MessageRole>,
    /// Content pieces, by index.
    pub content: Vec<MessageDeltaContent>,
}

/// A piece of one content part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageDeltaContent {
    /// `MessageDeltaContentTextObject`.
    Text {
        /// Index of the content part.
        index: u32,
        /// The text piece.
        text: TextDelta,
    },
    /// `MessageDeltaContentImageFileObject`: an image part, whole.
    ImageFile {
        /// Index of the content part.
        index: u32,
        /// The image.
        image_file: crate::messages::ImageFile,
    },
}

/// `MessageDeltaContentTextObject.text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDelta {
    /// The piece.
    pub value: String,
    /// Annotation pieces.
    pub annotations: Vec<AnnotationDelta>,
}

/// `MessageDeltaContentTextAnnotationsFileCitationObject` and `…FilePathObject`: an
/// annotation with its index among the text part's annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationDelta {
    /// Index of the annotation in the text part.
    pub index: u32,
    /// The annotation.
    #[serde(flatten)]
    pub annotation: crate::messages::TextAnnotation,
}

impl MessageDeltaObject {
    fn content(message_id: &str, content: Vec<MessageDeltaContent>) -> Self {
        Self {
            id: message_id.to_owned(),
            object: "thread.message.delta".to_owned(),
            delta: MessageDelta {
                role: None,
                content,
            },
        }
    }

    /// A piece of text of content part `index` of `message_id`.
    pub fn text(message_id: &str, index: u32, value: String) -> Self {
        Self::content(
            message_id,
            vec![MessageDeltaContent::Text {
                index,
                text: TextDelta {
                    value,
                    annotations: Vec::new(),
                },
            }],
        )
    }

    /// The annotations of text part `index` of `message_id`, numbered from 0 (sent once the
    /// text is whole, as they are found in it).
    pub fn annotations(
        message_id: &str,
        index: u32,
        annotations: Vec<crate::messages::TextAnnotation>,
    ) -> Self {
        Self::content(
            message_id,
            vec![MessageDeltaContent::Text {
                index,
                text: TextDelta {
                    value: String::new(),
                    annotations: (0u32..)
                        .zip(annotations)
                        .map(|(index, annotation)| AnnotationDelta { index, annotation })
                        .collect(),
                },
            }],
        )
    }

    /// Image parts of `message_id`, the first at index 0.
    pub fn images(message_id: &str, file_ids: &[String]) -> Self {
        Self::content(
            message_id,
            (0u32..)
                .zip(file_ids)
                .map(|(index, file_id)| MessageDeltaContent::ImageFile {
                    index,
                    image_file: crate::messages::ImageFile {
                        file_id: file_id.clone(),
                        detail: None,
                    },
                })
                .collect(),
        )
    }
}

/// `RunStepDeltaObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStepDeltaObject {
    /// The step's id.
    pub id: String,
    /// Always `thread.run.step.delta`.
    pub object: String,
    /// What changed.
    pub delta: RunStepDelta,
}

/// `RunStepDeltaObject.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStepDelta {
    /// The changed details.
    pub step_details: StepDetailsToolCallsDelta,
}

/// `RunStepDeltaStepDetailsToolCallsObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDetailsToolCallsDelta {
    /// Always `tool_calls`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Call pieces, by index.
    pub tool_calls: Vec<ToolCallDelta>,
}

/// A piece of one tool call of a step: a function (what runs stream today), a code
/// interpreter or a file search (for the tools that arrive with #14 and #17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolCallDelta {
    /// `RunStepDeltaStepDetailsToolCallsFunctionObject`.
    Function(FunctionToolCallDelta),
    /// `RunStepDeltaStepDetailsToolCallsCodeObject`.
    CodeInterpreter(CodeInterpreterToolCallDelta),
    /// `RunStepDeltaStepDetailsToolCallsFileSearchObject` (v2), the retrieval delta (v1).
    FileSearch(FileSearchToolCallDelta),
}

/// `RunStepDeltaStepDetailsToolCallsCodeObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterToolCallDelta {
    /// Index of the call in the step.
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `code_interpreter`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The input and outputs pieces.
    pub code_interpreter: CodeInterpreterDelta,
}

/// The `code_interpreter` of a [`CodeInterpreterToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CodeInterpreterDelta {
    /// A piece of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Outputs (logs, images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<CodeInterpreterOutputDelta>>,
}

/// `RunStepDeltaStepDetailsToolCallsCodeOutputLogsObject` and `…ImageObject`: an output with
/// its index among the call's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterOutputDelta {
    /// Index of the output in the call's outputs.
    pub index: u32,
    /// The output.
    #[serde(flatten)]
    pub output: crate::steps::CodeInterpreterOutput,
}

/// `RunStepDeltaStepDetailsToolCallsFileSearchObject`: `{"index", "id"?, "type":
/// "file_search", "file_search": {}}`; v1 clients see `{"type": "retrieval", "retrieval": {}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileSearchToolCallDelta {
    /// Index of the call in the step.
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default)]
    pub id: Option<String>,
    /// `file_search` (or v1's `retrieval`).
    #[serde(rename = "type")]
    pub type_: FileSearchDeltaType,
    /// Always an empty object.
    #[serde(default, alias = "retrieval")]
    pub file_search: serde_json::Map<String, serde_json::Value>,
}

/// The `type` of a [`FileSearchToolCallDelta`], read in either version's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSearchDeltaType {
    /// `file_search`
    #[serde(alias = "retrieval")]
    FileSearch,
}

impl Serialize for FileSearchToolCallDelta {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let name = if crate::version::is_v1() {
            "retrieval"
        } else {
            "file_search"
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("index", &self.index)?;
        if let Some(id) = &self.id {
            map.serialize_entry("id", id)?;
        }
        map.serialize_entry("type", name)?;
        map.serialize_entry(name, &self.file_search)?;
        map.end()
    }
}

/// `RunStepDeltaStepDetailsToolCallsFunctionObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionToolCallDelta {
    /// Index of the call in the step.
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `function`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The function piece.
    pub function: FunctionDelta,
}

/// The `function` of a [`FunctionToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// The name, on the first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments.
    pub arguments: String,
    /// The output (`null` while the call is pending), on the first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Option<String>>,
}

impl RunStepDeltaObject {
    /// A delta of step `step_id` carrying one piece of one tool call.
    fn tool_call(step_id: &str, call: ToolCallDelta) -> Self {
        Self {
            id: step_id.to_owned(),
            object: "thread.run.step.delta".to_owned(),
            delta: RunStepDelta {
                step_details: StepDetailsToolCallsDelta {
                    type_: "tool_calls".to_owned(),
                    tool_calls: vec![call],
                },
            },
        }
    }

    /// Announces file-search call `index` (with its id) of step `step_id`: the delta carries no
    /// more than that, as OpenAI's did.
    pub fn file_search(step_id: &str, index: u32, call_id: &str) -> Self {
        Self::tool_call(
            step_id,
            ToolCallDelta::FileSearch(FileSearchToolCallDelta {
                index,
                id: Some(call_id.to_owned()),
                type_: FileSearchDeltaType::FileSearch,
                file_search: serde_json::Map::new(),
            }),
        )
    }

    /// A piece of code interpreter call `index` of step `step_id`: its first piece carries
    /// the call's id (`first`), later ones a piece of the code or the outputs.
    pub fn code_interpreter(
        step_id: &str,
        index: u32,
        first: Option<&str>,
        input: Option<String>,
        outputs: Option<Vec<crate::steps::CodeInterpreterOutput>>,
    ) -> Self {
        Self::tool_call(
            step_id,
            ToolCallDelta::CodeInterpreter(CodeInterpreterToolCallDelta {
                index,
                id: first.map(str::to_owned),
                type_: "code_interpreter".to_owned(),
                code_interpreter: CodeInterpreterDelta {
                    input,
                    outputs: outputs.map(|o| {
                        (0u32..)
                            .zip(o)
                            .map(|(index, output)| CodeInterpreterOutputDelta { index, output })
                            .collect()
                    }),
                },
            }),
        )
    }

    /// A piece of function call `index` of step `step_id`; `first` carries id and name.
    pub fn function(
        step_id: &str,
        index: u32,
        first: Option<(&str, &str)>,
        arguments: String,
    ) -> Self {
        Self::tool_call(
            step_id,
            ToolCallDelta::Function(FunctionToolCallDelta {
                index,
                id: first.map(|(id, _)| id.to_owned()),
                type_: "function".to_owned(),
                function: FunctionDelta {
                    name: first.map(|(_, name)| name.to_owned()),
                    arguments,
                    output: first.map(|_| None),
                },
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_deltas_per_version() {
        use crate::version::{ApiVersion, to_vec};
        let f = RunStepDeltaObject::function("step_1", 0, Some(("call_1", "f")), "{".to_owned());
        let expected = serde_json::json!({"id": "step_1", "object": "thread.run.step.delta", "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{", "output": null}}]}}});
        for v in [ApiVersion::V1, ApiVersion::V2] {
            let shown: serde_json::Value = serde_json::from_slice(&to_vec(v, &f).unwrap()).unwrap();
            assert_eq!(shown, expected);
        }
        let fs = ToolCallDelta::FileSearch(FileSearchToolCallDelta {
            index: 1,
            id: Some("call_2".to_owned()),
            type_: FileSearchDeltaType::FileSearch,
            file_search: serde_json::Map::new(),
        });
        assert_eq!(
            to_vec(ApiVersion::V2, &fs).unwrap(),
            br#"{"index":1,"id":"call_2","type":"file_search","file_search":{}}"#
        );
        assert_eq!(
            to_vec(ApiVersion::V1, &fs).unwrap(),
            br#"{"index":1,"id":"call_2","type":"retrieval","retrieval":{}}"#
        );
        let stored = serde_json::to_value(&fs).unwrap();
        assert_eq!(serde_json::from_value::<ToolCallDelta>(stored).unwrap(), fs);
        let v1: ToolCallDelta = serde_json::from_value(
            serde_json::json!({"index": 1, "id": "call_2", "type": "retrieval", "retrieval": {}}),
        )
        .unwrap();
        assert_eq!(v1, fs);
    }

    #[test]
    fn event_names_are_distinct_and_status_events_match_their_status() {
        let names: std::collections::HashSet<_> =
            StreamEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), StreamEvent::ALL.len());
        assert_eq!(StreamEvent::Done.to_string(), "done");
        for s in [
            RunStatus::Queued,
            RunStatus::RequiresAction,
            RunStatus::Expired,
        ] {
            let ev = StreamEvent::for_run_status(s);
            assert_eq!(ev.as_str(), format!("thread.run.{}", s.as_str()));
        }
        for s in [RunStepStatus::InProgress, RunStepStatus::Cancelled] {
            let ev = StreamEvent::for_step_status(s);
            assert_eq!(ev.as_str(), format!("thread.run.step.{}", s.as_str()));
        }
        assert_eq!(
            StreamEvent::for_message_status(MessageStatus::Incomplete).as_str(),
            "thread.message.incomplete"
        );
        assert!(StreamEvent::RunRequiresAction.ends_stream());
        assert!(!StreamEvent::RunCancelling.ends_stream());
        assert!(!StreamEvent::Done.ends_stream());
    }
}
