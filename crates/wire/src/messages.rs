//! Messages and message files.
//!
//! One stored message, two views: v1 shows `file_ids` (at most 10) and only text and
//! `image_file` parts (without `detail`); v2 shows `attachments` (a v1-written message's files
//! as attachments for both tools) and every part.

use crate::common::{HasId, Metadata, double_option};
use crate::ids::{AssistantId, MessageId, RunId, ThreadId};
use crate::version::{hidden_from_v1, hidden_from_v2, is_v1};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

/// Files a v1 view of a message names at most (v1's limit; v2 allows more attachments).
pub const V1_MESSAGE_FILES: usize = 10;

/// `MessageObject`. Serialized through a private view per version: the fields differ by version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// The distinct ids of its files (v1's `file_ids`; the files of `attachments` for a message
    /// written through v2).
    pub file_ids: Vec<String>,
    /// v2's attachments as written; `None` for a message written through v1 (its `file_ids`
    /// then show to v2 as attachments for both tools).
    #[serde(default)]
    pub attachments: Option<Vec<Attachment>>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}

/// How a [`Message`] serializes, in the current mode.
#[derive(Serialize)]
struct MessageView<'a> {
    id: &'a MessageId,
    object: &'a str,
    created_at: i64,
    thread_id: &'a ThreadId,
    status: MessageStatus,
    incomplete_details: &'a Option<MessageIncompleteDetails>,
    completed_at: Option<i64>,
    incomplete_at: Option<i64>,
    role: MessageRole,
    content: Cow<'a, [MessageContent]>,
    assistant_id: &'a Option<AssistantId>,
    run_id: &'a Option<RunId>,
    #[serde(skip_serializing_if = "hidden_from_v2")]
    file_ids: &'a [String],
    #[serde(skip_serializing_if = "hidden_from_v1")]
    attachments: Option<Cow<'a, [Attachment]>>,
    metadata: &'a Option<Metadata>,
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v1 = is_v1();
        let content = if v1 && self.content.iter().any(|c| !c.in_v1()) {
            Cow::Owned(self.content.iter().filter(|c| c.in_v1()).cloned().collect())
        } else {
            Cow::Borrowed(self.content.as_slice())
        };
        let file_ids = if v1 {
            &self.file_ids[..self.file_ids.len().min(V1_MESSAGE_FILES)]
        } else {
            self.file_ids.as_slice()
        };
        let attachments = match (&self.attachments, crate::version::is_v2()) {
            (Some(a), _) => Some(Cow::Borrowed(a.as_slice())),
            // A v1 message file served both tools.
            (None, true) => Some(Cow::Owned(
                self.file_ids
                    .iter()
                    .map(|f| Attachment {
                        file_id: f.clone(),
                        tools: vec![AttachmentTool::CodeInterpreter, AttachmentTool::FileSearch],
                    })
                    .collect(),
            )),
            (None, false) => None,
        };
        MessageView {
            id: &self.id,
            object: &self.object,
            created_at: self.created_at,
            thread_id: &self.thread_id,
            status: self.status,
            incomplete_details: &self.incomplete_details,
            completed_at: self.completed_at,
            incomplete_at: self.incomplete_at,
            role: self.role,
            content,
            assistant_id: &self.assistant_id,
            run_id: &self.run_id,
            file_ids,
            attachments,
            metadata: &self.metadata,
        }
        .serialize(s)
    }
}

/// One of a message's `attachments` (v2): a file and the tools it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The file.
    pub file_id: String,
    /// The tools (the spec requires the field on the array, not its items: absent is none).
    #[serde(default)]
    pub tools: Vec<AttachmentTool>,
}

impl Attachment {
    /// Whether `file_search` is among the tools.
    pub fn for_file_search(&self) -> bool {
        self.tools.contains(&AttachmentTool::FileSearch)
    }
}

/// `AssistantToolsCode` / `AssistantToolsFileSearchTypeOnly` of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AttachmentTool {
    /// `{"type":"code_interpreter"}`
    CodeInterpreter,
    /// `{"type":"file_search"}`
    FileSearch,
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

/// A content part: text, `image_file`, and in v2 `image_url` and `refusal`.
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
    /// An image by URL (v2 only).
    ImageUrl {
        /// The URL.
        image_url: ImageUrl,
    },
    /// A refusal (v2 only).
    Refusal {
        /// Why the model refused.
        refusal: String,
    },
}

impl MessageContent {
    /// Whether v1's view shows this part (v1 knows only text and image files).
    pub fn in_v1(&self) -> bool {
        matches!(self, Self::Text { .. } | Self::ImageFile { .. })
    }

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
    pub annotations: Vec<TextAnnotation>,
}

/// A text annotation (`MessageContentTextAnnotationsFileCitationObject`,
/// `MessageContentTextAnnotationsFilePathObject`): `start_index..end_index` slices `text` out of
/// the message's text, counted in characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextAnnotation {
    /// A citation of a file that `file_search` (v1 `retrieval`) found.
    FileCitation {
        /// The marker in the text.
        text: String,
        /// The cited file.
        file_citation: FileCitation,
        /// First character of the marker.
        start_index: u32,
        /// One past its last character.
        end_index: u32,
    },
    /// A link to a file a tool wrote.
    FilePath {
        /// The link in the text.
        text: String,
        /// The file.
        file_path: FilePathRef,
        /// First character of the link.
        start_index: u32,
        /// One past its last character.
        end_index: u32,
    },
}

/// The `file_citation` of a citation annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCitation {
    /// The cited file.
    pub file_id: String,
    /// The cited text: v1 only (v2's citation has no `quote`); kept in the store.
    #[serde(default, skip_serializing_if = "quote_hidden")]
    pub quote: Option<String>,
}

#[expect(
    clippy::ref_option,
    reason = "serde's skip_serializing_if passes the field by reference"
)]
fn quote_hidden(quote: &Option<String>) -> bool {
    quote.is_none() || crate::version::is_v2()
}

/// The `file_path` of a file-path annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilePathRef {
    /// The file.
    pub file_id: String,
}

/// The `image_file` of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    /// The image's file id.
    pub file_id: String,
    /// `auto`, `low` or `high` (v2 only; absent when not given).
    #[serde(default, skip_serializing_if = "detail_hidden")]
    pub detail: Option<ImageDetail>,
}

/// The `image_url` of an image part (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageUrl {
    /// The image's URL.
    pub url: String,
    /// `auto`, `low` or `high` (absent when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// An image's level of detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageDetail {
    /// The model decides.
    Auto,
    /// Low resolution.
    Low,
    /// High resolution.
    High,
}

#[expect(
    clippy::ref_option,
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes the field by reference"
)]
fn detail_hidden(d: &Option<ImageDetail>) -> bool {
    d.is_none() || is_v1()
}

/// `CreateMessageRequest`: v1 sends a string and `file_ids`; v2 a string or parts, and
/// `attachments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMessageRequest {
    /// `user` or `assistant`.
    pub role: MessageRole,
    /// The text (at most 256,000 characters), or (v2) content parts.
    pub content: MessageRequestContent,
    /// Up to 10 files (v1).
    #[serde(default, deserialize_with = "crate::version::v1_field")]
    pub file_ids: Option<Vec<String>>,
    /// Files and the tools they are for (v2).
    #[serde(
        default,
        deserialize_with = "crate::version::v2_field",
        skip_serializing_if = "Option::is_none"
    )]
    pub attachments: Option<Vec<Attachment>>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// A message request's `content`: a string, or (v2) an array of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageRequestContent {
    /// Text.
    Text(String),
    /// Parts (v2).
    Parts(Vec<MessageRequestContentPart>),
}

impl From<&str> for MessageRequestContent {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for MessageRequestContent {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl MessageRequestContent {
    /// The stored parts.
    pub fn to_content(&self) -> Vec<MessageContent> {
        match self {
            Self::Text(t) => vec![MessageContent::text(t.clone())],
            Self::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    MessageRequestContentPart::Text { text } => MessageContent::text(text.clone()),
                    MessageRequestContentPart::ImageFile { image_file } => {
                        MessageContent::ImageFile {
                            image_file: image_file.clone(),
                        }
                    }
                    MessageRequestContentPart::ImageUrl { image_url } => MessageContent::ImageUrl {
                        image_url: image_url.clone(),
                    },
                })
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for MessageRequestContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageRequestContent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                if is_v1() {
                    f.write_str("a string")
                } else {
                    f.write_str("a string or an array of content parts")
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MessageRequestContent::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(MessageRequestContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                if is_v1() {
                    return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
                }
                Vec::<MessageRequestContentPart>::deserialize(
                    de::value::SeqAccessDeserializer::new(seq),
                )
                .map(MessageRequestContent::Parts)
            }
        }
        d.deserialize_any(V)
    }
}

/// One part of a v2 request's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MessageRequestContentPart {
    /// `{"type":"text","text":…}`
    Text {
        /// The text.
        text: String,
    },
    /// An image file.
    ImageFile {
        /// The file.
        image_file: ImageFile,
    },
    /// An image by URL.
    ImageUrl {
        /// The URL.
        image_url: ImageUrl,
    },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{ApiVersion, to_vec};
    use serde_json::{Value, json};

    fn message(content: Vec<MessageContent>, file_ids: &[&str]) -> Message {
        Message {
            id: MessageId::from("msg_1"),
            object: "thread.message".to_owned(),
            created_at: 1,
            thread_id: ThreadId::from("thread_1"),
            status: MessageStatus::Completed,
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: MessageRole::User,
            content,
            assistant_id: None,
            run_id: None,
            file_ids: file_ids.iter().map(|s| (*s).to_owned()).collect(),
            attachments: None,
            metadata: None,
        }
    }

    fn view(v: ApiVersion, m: &Message) -> Value {
        serde_json::from_slice(&to_vec(v, m).unwrap()).unwrap()
    }

    #[test]
    fn v2_drops_the_citation_quote_and_v1_keeps_it() {
        let cited = MessageContent::Text {
            text: TextContent {
                value: "x".to_owned(),
                annotations: vec![TextAnnotation::FileCitation {
                    text: "x".to_owned(),
                    file_citation: FileCitation {
                        file_id: "file-1".to_owned(),
                        quote: Some("q".to_owned()),
                    },
                    start_index: 0,
                    end_index: 1,
                }],
            },
        };
        let m = message(vec![cited], &[]);
        let v2 = view(ApiVersion::V2, &m);
        assert_eq!(
            v2["content"][0]["text"]["annotations"][0]["file_citation"],
            json!({"file_id": "file-1"})
        );
        let v1 = view(ApiVersion::V1, &m);
        assert_eq!(
            v1["content"][0]["text"]["annotations"][0]["file_citation"]["quote"],
            "q"
        );
        // The stored form keeps everything.
        let stored: Value = serde_json::to_value(&m).unwrap();
        assert_eq!(
            stored["content"][0]["text"]["annotations"][0]["file_citation"]["quote"],
            "q"
        );
    }

    #[test]
    fn v1_shows_at_most_ten_files_and_v2_derives_attachments() {
        let ids: Vec<String> = (0..12).map(|i| format!("file-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let m = message(vec![MessageContent::text("x")], &refs);
        let v1 = view(ApiVersion::V1, &m);
        assert_eq!(v1["file_ids"].as_array().unwrap().len(), 10);
        assert!(v1.get("attachments").is_none());
        let v2 = view(ApiVersion::V2, &m);
        assert!(v2.get("file_ids").is_none());
        assert_eq!(v2["attachments"].as_array().unwrap().len(), 12);
        assert_eq!(
            v2["attachments"][0],
            json!({"file_id": "file-0", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]})
        );
    }
}
