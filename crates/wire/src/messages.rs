//! Messages and message files.

use crate::common::{HasId, Metadata, double_option};
use crate::ids::{AssistantId, MessageId, RunId, ThreadId};
use serde::{Deserialize, Serialize};

/// `MessageObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `msg_...`
    pub id: MessageId,
    /// Always `thread.message`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The thread.
    pub thread_id: ThreadId,
    /// `in_progress`, `incomplete` or `completed`.
    pub status: MessageStatus,
    /// Why the message is incomplete.
    pub incomplete_details: Option<MessageIncompleteDetails>,
    /// Unix seconds.
    pub completed_at: Option<i64>,
    /// Unix seconds.
    pub incomplete_at: Option<i64>,
    /// `user` or `assistant`.
    pub role: MessageRole,
    /// Text and image parts.
    pub content: Vec<MessageContent>,
    /// The assistant that wrote it, for run-created messages.
    pub assistant_id: Option<AssistantId>,
    /// The run that wrote it, for run-created messages.
    pub run_id: Option<RunId>,
    /// Up to 10 file ids.
    pub file_ids: Vec<String>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}

impl HasId for Message {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `MessageObject.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Being written by a run.
    InProgress,
    /// Ended early.
    Incomplete,
    /// Done.
    Completed,
}

impl MessageStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Incomplete => "incomplete",
            Self::Completed => "completed",
        }
    }
}

/// `MessageObject.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// Written by the user.
    User,
    /// Written by the assistant.
    Assistant,
}

impl MessageRole {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// `MessageObject.incomplete_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageIncompleteDetails {
    /// `content_filter`, `max_tokens`, `run_cancelled`, `run_expired` or `run_failed`.
    pub reason: String,
}

/// A content part: `MessageContentTextObject` or `MessageContentImageFileObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    /// Text with annotations.
    Text {
        /// The text.
        text: TextContent,
    },
    /// An image file.
    ImageFile {
        /// The file.
        image_file: ImageFile,
    },
}

impl MessageContent {
    /// A plain text part without annotations.
    pub fn text(value: impl Into<String>) -> Self {
        Self::Text {
            text: TextContent {
                value: value.into(),
                annotations: Vec::new(),
            },
        }
    }
}

/// The `text` of a text part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextContent {
    /// The text.
    pub value: String,
    /// `file_citation` and `file_path` annotations.
    pub annotations: Vec<serde_json::Value>,
}

/// The `image_file` of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFile {
    /// The image's file id.
    pub file_id: String,
}

/// `CreateMessageRequest`: v1 content is a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMessageRequest {
    /// `user` or `assistant`.
    pub role: MessageRole,
    /// 1..=256,000 characters.
    pub content: String,
    /// Up to 10 files.
    #[serde(default)]
    pub file_ids: Option<Vec<String>>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `ModifyMessageRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyMessageRequest {
    /// Metadata (replaces the map; `null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
}

/// `MessageFileObject`: its id is the file's own id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFile {
    /// The file id.
    pub id: String,
    /// Always `thread.message.file`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The message.
    pub message_id: String,
}

impl HasId for MessageFile {
    fn id(&self) -> &str {
        &self.id
    }
}
