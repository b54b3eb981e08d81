//! Shapes shared by every resource: lists, deletion status, errors, metadata and tools.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// `metadata`: up to 16 string pairs attached to an object.
pub type Metadata = BTreeMap<String, String>;

/// A cursor-paged list (`ListAssistantsResponse`, `ListMessagesResponse`, ...).
///
/// `first_id`/`last_id` are `null` on an empty page: the spec says "string" but OpenAI sends
/// `null` there and the SDKs accept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResponse<T> {
    /// Always `list`.
    pub object: String,
    /// The page.
    pub data: Vec<T>,
    /// Id of the first object of `data`.
    pub first_id: Option<String>,
    /// Id of the last object of `data`.
    pub last_id: Option<String>,
    /// Whether objects exist past this page in the direction of travel.
    pub has_more: bool,
}

/// Anything with an id, so lists can fill `first_id`/`last_id`.
pub trait HasId {
    /// The object's id.
    fn id(&self) -> &str;
}

impl<T: HasId> ListResponse<T> {
    /// Wraps a page of objects.
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        Self {
            object: "list".to_owned(),
            first_id: data.first().map(|o| o.id().to_owned()),
            last_id: data.last().map(|o| o.id().to_owned()),
            data,
            has_more,
        }
    }
}

/// `DeleteAssistantResponse`, `DeleteThreadResponse`, `DeleteFileResponse`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionStatus {
    /// Id of the deleted object.
    pub id: String,
    /// `assistant.deleted`, `assistant.file.deleted`, `thread.deleted` or `file`.
    pub object: String,
    /// Always `true` when answered with 200.
    pub deleted: bool,
}

impl DeletionStatus {
    /// A successful deletion of `id` reported as `object`.
    pub fn new(id: impl Into<String>, object: &str) -> Self {
        Self {
            id: id.into(),
            object: object.to_owned(),
            deleted: true,
        }
    }
}

/// `ErrorResponse`: the envelope of every error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: Error,
}

/// `Error`: all four keys are always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    /// Human-readable explanation.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `server_error`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// The offending request field, if there is one.
    pub param: Option<String>,
    /// A machine-readable code, if there is one.
    pub code: Option<String>,
}

/// `Error.type`, as far as this server reports errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request was wrong (including authentication and unknown objects, as OpenAI does).
    InvalidRequestError,
    /// The server failed.
    ServerError,
    /// Too many requests (a rate limit, as OpenAI types its request limits).
    Requests,
    /// A quota is used up.
    InsufficientQuota,
}

impl ErrorType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequestError => "invalid_request_error",
            Self::ServerError => "server_error",
            Self::Requests => "requests",
            Self::InsufficientQuota => "insufficient_quota",
        }
    }
}

/// A tool of an assistant or a run: `AssistantToolsCode`, `AssistantToolsRetrieval`,
/// `AssistantToolsFunction`.
///
/// Deserialized by hand rather than as an internally tagged enum: serde buffers internally tagged
/// content, which hides the position of an error inside it, so a bad field would be reported as
/// `tools[0].foo` instead of `tools[0].function.foo`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AssistantTool {
    /// `{"type":"code_interpreter"}`
    CodeInterpreter,
    /// `{"type":"retrieval"}`
    Retrieval,
    /// `{"type":"function","function":{...}}`
    Function {
        /// The function definition.
        function: FunctionObject,
    },
}

/// The `type` of a tool, deserialized on its own so an unknown value is reported at
/// `tools[i].type`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum AssistantToolType {
    CodeInterpreter,
    Retrieval,
    Function,
}

impl<'de> Deserialize<'de> for AssistantTool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};

        const FIELDS: &[&str] = &["type", "function"];

        struct ToolVisitor;

        impl<'de> Visitor<'de> for ToolVisitor {
            type Value = AssistantTool;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a tool object with a `type`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AssistantTool, A::Error> {
                let mut type_: Option<AssistantToolType> = None;
                let mut function: Option<FunctionObject> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" if type_.is_some() => return Err(A::Error::duplicate_field("type")),
                        "function" if function.is_some() => {
                            return Err(A::Error::duplicate_field("function"));
                        }
                        "type" => type_ = Some(map.next_value()?),
                        "function" => function = Some(map.next_value()?),
                        other => return Err(A::Error::unknown_field(other, FIELDS)),
                    }
                }
                match (type_, function) {
                    (None, _) => Err(A::Error::missing_field("type")),
                    (Some(AssistantToolType::Function), Some(function)) => {
                        Ok(AssistantTool::Function { function })
                    }
                    (Some(AssistantToolType::Function), None) => {
                        Err(A::Error::missing_field("function"))
                    }
                    (Some(_), Some(_)) => Err(A::Error::unknown_field("function", &["type"])),
                    (Some(AssistantToolType::CodeInterpreter), None) => {
                        Ok(AssistantTool::CodeInterpreter)
                    }
                    (Some(AssistantToolType::Retrieval), None) => Ok(AssistantTool::Retrieval),
                }
            }
        }

        deserializer.deserialize_map(ToolVisitor)
    }
}

/// `FunctionObject`: a function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionObject {
    /// `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    /// What the function does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `AssistantsApiResponseFormatOption`: `"none"`, `"auto"` or `{"type": "text"|"json_object"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseFormatOption {
    /// `"none"` or `"auto"`.
    Mode(ResponseFormatMode),
    /// `{"type": ...}`
    Format(AssistantsApiResponseFormat),
}

impl Default for ResponseFormatOption {
    fn default() -> Self {
        Self::Mode(ResponseFormatMode::Auto)
    }
}

/// The string forms of [`ResponseFormatOption`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatMode {
    /// `"none"`
    None,
    /// `"auto"`
    Auto,
}

/// `AssistantsApiResponseFormat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantsApiResponseFormat {
    /// `text` (the default) or `json_object`.
    #[serde(rename = "type", default)]
    pub type_: ResponseFormatType,
}

/// `AssistantsApiResponseFormat.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatType {
    /// Free text.
    #[default]
    Text,
    /// A JSON object.
    JsonObject,
}

/// Deserializes a field that distinguishes "absent" (`None`) from "null" (`Some(None)`), for the
/// nullable fields of modify requests. Use with `#[serde(default, deserialize_with = ...)]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_round_trip() {
        let tools = json!([
            {"type": "code_interpreter"},
            {"type": "retrieval"},
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}},
            {"function": {"name": "g"}, "type": "function"}
        ]);
        let parsed: Vec<AssistantTool> = serde_json::from_value(tools.clone()).unwrap();
        assert_eq!(parsed[0], AssistantTool::CodeInterpreter);
        assert_eq!(parsed[1], AssistantTool::Retrieval);
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back[2], tools[2]);
        assert_eq!(
            back[3],
            json!({"type": "function", "function": {"name": "g"}})
        );
    }

    #[test]
    fn tools_reject_unknown_and_missing_fields() {
        for bad in [
            json!({"type": "code_interpreter", "extra": 1}),
            json!({"type": "retrieval", "function": {"name": "f"}}),
            json!({"type": "function"}),
            json!({"type": "function", "function": {"name": "f", "foo": 1}}),
            json!({"type": "browser"}),
            json!({"function": {"name": "f"}}),
            json!("code_interpreter"),
        ] {
            assert!(
                serde_json::from_value::<AssistantTool>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let dup = r#"{"type": "retrieval", "type": "retrieval"}"#;
        assert!(serde_json::from_str::<AssistantTool>(dup).is_err());
    }
}
