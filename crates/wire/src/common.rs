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

/// A tool of an assistant or a run: `AssistantToolsCode`, `AssistantToolsFileSearch` (v1's
/// `AssistantToolsRetrieval`) and `AssistantToolsFunction`.
///
/// v1's `retrieval` and v2's `file_search` are one tool (OpenAI's migration rule): the store
/// writes `file_search` and reads both, v1 clients see and send `retrieval`, v2 clients
/// `file_search` with its options (see `crate::version`).
///
/// Deserialized by hand rather than as an internally tagged enum: serde buffers internally tagged
/// content, which hides the position of an error inside it, so a bad field would be reported as
/// `tools[0].foo` instead of `tools[0].function.foo`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum AssistantTool {
    /// `{"type":"code_interpreter"}`
    CodeInterpreter,
    /// `{"type":"file_search","file_search":{...}}` (v2), `{"type":"retrieval"}` (v1).
    FileSearch(Option<FileSearchOptions>),
    /// `{"type":"function","function":{...}}`
    Function {
        /// The function definition.
        function: FunctionObject,
    },
}

/// `AssistantToolsFileSearch.file_search`: how the tool searches (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSearchOptions {
    /// 1 to 50; 20 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_results: Option<u8>,
    /// The ranker and its threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<FileSearchRankingOptions>,
}

/// `FileSearchRankingOptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSearchRankingOptions {
    /// `auto` or `default_2024_08_21`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<FileSearchRanker>,
    /// 0 to 1.
    pub score_threshold: f64,
}

/// `FileSearchRanker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSearchRanker {
    /// `auto`
    Auto,
    /// `default_2024_08_21`
    #[serde(rename = "default_2024_08_21")]
    Default20240821,
}

impl Serialize for AssistantTool {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Self::CodeInterpreter => map.serialize_entry("type", "code_interpreter")?,
            Self::FileSearch(_) if crate::version::is_v1() => {
                map.serialize_entry("type", "retrieval")?;
            }
            Self::FileSearch(options) => {
                map.serialize_entry("type", "file_search")?;
                if let Some(options) = options {
                    map.serialize_entry("file_search", options)?;
                }
            }
            Self::Function { function } => {
                map.serialize_entry("type", "function")?;
                map.serialize_entry("function", function)?;
            }
        }
        map.end()
    }
}

/// The `type` of a tool, deserialized on its own so an unknown value (or one of the other API
/// version) is reported at `tools[i].type`.
enum AssistantToolType {
    CodeInterpreter,
    FileSearch,
    Function,
}

impl<'de> Deserialize<'de> for AssistantToolType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use crate::version::{is_v1, is_v2};
        const V1: &[&str] = &["code_interpreter", "retrieval", "function"];
        const V2: &[&str] = &["code_interpreter", "file_search", "function"];
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        match &*name {
            "code_interpreter" => Ok(Self::CodeInterpreter),
            "function" => Ok(Self::Function),
            "retrieval" if !is_v2() => Ok(Self::FileSearch),
            "file_search" if !is_v1() => Ok(Self::FileSearch),
            other => Err(serde::de::Error::unknown_variant(
                other,
                if is_v1() { V1 } else { V2 },
            )),
        }
    }
}

impl<'de> Deserialize<'de> for AssistantTool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};

        const FIELDS: &[&str] = &["type", "function", "file_search"];

        struct ToolVisitor;

        impl<'de> Visitor<'de> for ToolVisitor {
            type Value = AssistantTool;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a tool object with a `type`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AssistantTool, A::Error> {
                let mut type_: Option<AssistantToolType> = None;
                let mut function: Option<FunctionObject> = None;
                let mut file_search: Option<Option<FileSearchOptions>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" if type_.is_some() => return Err(A::Error::duplicate_field("type")),
                        "function" if function.is_some() => {
                            return Err(A::Error::duplicate_field("function"));
                        }
                        "file_search" if file_search.is_some() => {
                            return Err(A::Error::duplicate_field("file_search"));
                        }
                        "type" => type_ = Some(map.next_value()?),
                        "function" => function = Some(map.next_value()?),
                        "file_search" if !crate::version::is_v1() => {
                            file_search = Some(map.next_value()?);
                        }
                        other => return Err(A::Error::unknown_field(other, FIELDS)),
                    }
                }
                match (type_, function, file_search) {
                    (None, _, _) => Err(A::Error::missing_field("type")),
                    (Some(AssistantToolType::Function), Some(function), None) => {
                        Ok(AssistantTool::Function { function })
                    }
                    (Some(AssistantToolType::Function), None, None) => {
                        Err(A::Error::missing_field("function"))
                    }
                    (Some(AssistantToolType::FileSearch), None, options) => {
                        Ok(AssistantTool::FileSearch(options.flatten()))
                    }
                    (Some(AssistantToolType::CodeInterpreter), None, None) => {
                        Ok(AssistantTool::CodeInterpreter)
                    }
                    (Some(_), Some(_), _) => Err(A::Error::unknown_field("function", &["type"])),
                    (Some(_), None, Some(_)) => {
                        Err(A::Error::unknown_field("file_search", &["type"]))
                    }
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
    /// Whether the model must follow `parameters` exactly (v2).
    #[serde(
        default,
        deserialize_with = "crate::version::v2_field",
        skip_serializing_if = "strict_hidden"
    )]
    pub strict: Option<bool>,
}

#[expect(
    clippy::ref_option,
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes the field by reference"
)]
fn strict_hidden(strict: &Option<bool>) -> bool {
    strict.is_none() || crate::version::is_v1()
}

/// `ReasoningEffort` (v2): passed on to reasoning models; never shown in an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEffort {
    /// `none`
    None,
    /// `minimal`
    Minimal,
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `xhigh`
    Xhigh,
    /// `max`
    Max,
}

impl ReasoningEffort {
    /// Parses the wire string (as stored).
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Xhigh => "xhigh",
            Self::Max => "max",
        }
    }
}

/// `tool_resources` of an assistant or a thread as shown (v2): the files `code_interpreter` gets
/// and the vector stores `file_search` searches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolResources {
    /// Present when the tool is enabled or has files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_interpreter: Option<CodeInterpreterResources>,
    /// Present when the tool is enabled or has stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearchResources>,
}

/// `tool_resources.code_interpreter`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeInterpreterResources {
    /// Up to 20 file ids.
    #[serde(default)]
    pub file_ids: Vec<String>,
}

/// `tool_resources.file_search` as shown.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileSearchResources {
    /// At most one vector store id.
    #[serde(default)]
    pub vector_store_ids: Vec<String>,
}

/// `tool_resources` of a create or modify request (assistant, thread; v2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolResourcesRequest {
    /// The files `code_interpreter` gets (replaces the list on modify).
    #[serde(default)]
    pub code_interpreter: Option<CodeInterpreterResources>,
    /// The vector stores `file_search` searches.
    #[serde(default)]
    pub file_search: Option<FileSearchResourcesRequest>,
}

/// `tool_resources.file_search` of a request: existing stores, or (on create) a store to make.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSearchResourcesRequest {
    /// At most one vector store id.
    #[serde(default)]
    pub vector_store_ids: Option<Vec<String>>,
    /// At most one vector store to create with these files (create requests only).
    #[serde(default)]
    pub vector_stores: Option<Vec<VectorStoreHelper>>,
}

/// `tool_resources.file_search.vector_stores[]`: a vector store created along with its owner.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStoreHelper {
    /// Files of purpose `assistants` to add.
    #[serde(default)]
    pub file_ids: Vec<String>,
    /// `auto` (the default) or `static` chunking.
    #[serde(default)]
    pub chunking_strategy: Option<crate::vector_stores::ChunkingStrategyRequestParam>,
    /// Metadata of the store.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

impl ToolResourcesRequest {
    /// Whether the request creates a vector store (whose files then wait to be ingested).
    pub fn creates_store(&self) -> bool {
        self.file_search
            .as_ref()
            .and_then(|f| f.vector_stores.as_ref())
            .is_some_and(|s| !s.is_empty())
    }
}

impl ToolResources {
    /// The resources as shown: a tool's entry appears when the tool is enabled or has resources
    /// (so an assistant without either shows `{}`, as OpenAI's examples do).
    pub fn shown(
        tools: &[AssistantTool],
        code_interpreter_files: &[String],
        vector_store_ids: &[String],
    ) -> Self {
        let has = |wanted: fn(&AssistantTool) -> bool| tools.iter().any(wanted);
        Self {
            code_interpreter: (has(|t| matches!(t, AssistantTool::CodeInterpreter))
                || !code_interpreter_files.is_empty())
            .then(|| CodeInterpreterResources {
                file_ids: code_interpreter_files.to_vec(),
            }),
            file_search: (has(|t| matches!(t, AssistantTool::FileSearch(_)))
                || !vector_store_ids.is_empty())
            .then(|| FileSearchResources {
                vector_store_ids: vector_store_ids.to_vec(),
            }),
        }
    }
}

/// `AssistantsApiResponseFormatOption`: `"auto"`, `{"type": "text"|"json_object"}`, v1's
/// `"none"` and v2's `{"type": "json_schema", "json_schema": {...}}`.
///
/// Each version reads only its own forms. v2 has no `"none"` (v1's "no format", shown to v2 as
/// `{"type":"text"}`); v1 has no `json_schema` (shown to v1 as `{"type":"json_object"}`, the
/// nearest it knows). The store keeps and reads everything.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormatOption {
    /// `"none"` or `"auto"`.
    Mode(ResponseFormatMode),
    /// `{"type": "text"|"json_object"}`
    Format(AssistantsApiResponseFormat),
    /// `ResponseFormatJsonSchema` (v2).
    JsonSchema(ResponseFormatJsonSchema),
}

impl Default for ResponseFormatOption {
    fn default() -> Self {
        Self::Mode(ResponseFormatMode::Auto)
    }
}

impl Serialize for ResponseFormatOption {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use crate::version::{is_v1, is_v2};
        let format = |type_| AssistantsApiResponseFormat { type_ };
        match self {
            Self::Mode(ResponseFormatMode::None) if is_v2() => {
                format(ResponseFormatType::Text).serialize(serializer)
            }
            Self::Mode(mode) => mode.serialize(serializer),
            Self::Format(f) => f.serialize(serializer),
            Self::JsonSchema(_) if is_v1() => {
                format(ResponseFormatType::JsonObject).serialize(serializer)
            }
            Self::JsonSchema(s) => s.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ResponseFormatOption {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use crate::version::{is_v1, is_v2};
        use serde::de::Error;
        // What v1 always answered for a value of none of the forms (this was an untagged enum),
        // kept word for word; v2 names the accepted values where it can.
        let no_form = || D::Error::custom(NO_FORM);
        let value = serde_json::Value::deserialize(deserializer)?;
        let kind = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => match o.get("type") {
                Some(serde_json::Value::String(t)) => t.clone(),
                // v1's `type` defaults to `text`.
                None if !is_v2() => "text".to_owned(),
                _ => return Err(no_form()),
            },
            _ => return Err(no_form()),
        };
        let named = |other: &str, accepted: &'static [&'static str]| {
            if is_v1() {
                no_form()
            } else {
                D::Error::unknown_variant(other, accepted)
            }
        };
        match (value.is_string(), kind.as_str()) {
            (true, "auto") => Ok(Self::Mode(ResponseFormatMode::Auto)),
            (true, "none") if !is_v2() => Ok(Self::Mode(ResponseFormatMode::None)),
            (true, other) => Err(named(other, &["auto"])),
            (false, "text" | "json_object") => serde_json::from_value(value)
                .map(Self::Format)
                .map_err(|_| no_form()),
            (false, "json_schema") if !is_v1() => serde_json::from_value(value)
                .map(Self::JsonSchema)
                .map_err(|_| no_form()),
            (false, other) => Err(named(other, &["text", "json_object", "json_schema"])),
        }
    }
}

/// serde's message for a value that matches no variant of an untagged enum (what
/// `ResponseFormatOption` was); the server reports it as "not one of the accepted forms".
const NO_FORM: &str = "data did not match any variant of untagged enum ResponseFormatOption";

/// The string forms of [`ResponseFormatOption`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatMode {
    /// `"none"` (v1)
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

/// `ResponseFormatJsonSchema` (v2): answers that follow a JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFormatJsonSchema {
    /// Always `json_schema`.
    #[serde(rename = "type")]
    pub type_: JsonSchemaType,
    /// The schema.
    pub json_schema: JsonSchemaFormat,
}

/// The `type` of [`ResponseFormatJsonSchema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonSchemaType {
    /// `json_schema`
    JsonSchema,
}

/// `ResponseFormatJsonSchema.json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaFormat {
    /// `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What the format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Whether the answer must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
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
        assert_eq!(parsed[1], AssistantTool::FileSearch(None));
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

    #[test]
    fn retrieval_and_file_search_are_one_tool() {
        use crate::version::{ApiVersion, to_vec, with_version};
        let read = |v, t: serde_json::Value| {
            with_version(v, || serde_json::from_value::<AssistantTool>(t))
        };
        let v1 = read(ApiVersion::V1, json!({"type": "retrieval"})).unwrap();
        let options = json!({"type": "file_search", "file_search": {"max_num_results": 5}});
        let v2 = read(ApiVersion::V2, options.clone()).unwrap();
        assert_eq!(v1, AssistantTool::FileSearch(None));
        assert!(read(ApiVersion::V1, json!({"type": "file_search"})).is_err());
        assert!(read(ApiVersion::V2, json!({"type": "retrieval"})).is_err());
        assert!(
            read(
                ApiVersion::V1,
                json!({"type": "function", "function": {"name": "f", "strict": true}})
            )
            .is_err()
        );
        // The store keeps the options and reads what either version wrote.
        assert_eq!(serde_json::to_value(&v2).unwrap(), options);
        assert_eq!(
            serde_json::from_value::<AssistantTool>(options.clone()).unwrap(),
            v2
        );
        assert_eq!(
            serde_json::from_value::<AssistantTool>(json!({"type": "retrieval"})).unwrap(),
            v1
        );
        assert_eq!(
            to_vec(ApiVersion::V1, &v2).unwrap(),
            br#"{"type":"retrieval"}"#
        );
        assert_eq!(
            to_vec(ApiVersion::V2, &v1).unwrap(),
            br#"{"type":"file_search"}"#
        );
    }
}
