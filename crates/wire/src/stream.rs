//! Streaming: the delta objects of `thread.message.delta` and `thread.run.step.delta` events.

use crate::messages::MessageRole;
use serde::{Deserialize, Serialize};

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
    pub content: Vec<MessageDeltaContentText>,
}

/// `MessageDeltaContentTextObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaContentText {
    /// Index of the content part.
    pub index: u32,
    /// Always `text`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The text piece.
    pub text: TextDelta,
}

/// `MessageDeltaContentTextObject.text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDelta {
    /// The piece.
    pub value: String,
    /// Annotation pieces.
    pub annotations: Vec<serde_json::Value>,
}

impl MessageDeltaObject {
    /// A piece of text of content part 0 of `message_id`.
    pub fn text(message_id: &str, value: String) -> Self {
        Self {
            id: message_id.to_owned(),
            object: "thread.message.delta".to_owned(),
            delta: MessageDelta {
                role: None,
                content: vec![MessageDeltaContentText {
                    index: 0,
                    type_: "text".to_owned(),
                    text: TextDelta {
                        value,
                        annotations: Vec::new(),
                    },
                }],
            },
        }
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
    pub tool_calls: Vec<FunctionToolCallDelta>,
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
    /// A piece of function call `index` of step `step_id`; `first` carries id and name.
    pub fn function(
        step_id: &str,
        index: u32,
        first: Option<(&str, &str)>,
        arguments: String,
    ) -> Self {
        Self {
            id: step_id.to_owned(),
            object: "thread.run.step.delta".to_owned(),
            delta: RunStepDelta {
                step_details: StepDetailsToolCallsDelta {
                    type_: "tool_calls".to_owned(),
                    tool_calls: vec![FunctionToolCallDelta {
                        index,
                        id: first.map(|(id, _)| id.to_owned()),
                        type_: "function".to_owned(),
                        function: FunctionDelta {
                            name: first.map(|(_, name)| name.to_owned()),
                            arguments,
                            output: first.map(|_| None),
                        },
                    }],
                },
            },
        }
    }
}
