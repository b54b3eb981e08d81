//! Assistants and assistant files.

use crate::common::{
    AssistantTool, HasId, Metadata, ReasoningEffort, ResponseFormatOption, ToolResources,
    ToolResourcesRequest, double_option,
};
use crate::ids::AssistantId;
use crate::version::{hidden_from_v1, hidden_from_v2, v1_field, v2_field};
use serde::{Deserialize, Serialize};

/// `AssistantObject`.
///
/// `temperature`, `top_p` and `response_format` are not in the v1 schema, but the v1 SDK sends
/// them and the spec's examples echo them, so they are stored and echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assistant {
    /// `asst_...`
    pub id: AssistantId,
    /// Always `assistant`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Up to 256 characters.
    pub name: Option<String>,
    /// Up to 512 characters.
    pub description: Option<String>,
    /// Model name, routed by the server's configuration.
    pub model: String,
    /// Up to 256,000 characters.
    pub instructions: Option<String>,
    /// Up to 128 tools.
    pub tools: Vec<AssistantTool>,
    /// v1: up to 20 file ids, ordered by the files' creation, oldest first (as the spec says):
    /// the `code_interpreter` files and those of the `file_search` store (see
    /// `docs/v2-mapping.md`).
    #[serde(default, skip_serializing_if = "hidden_from_v2")]
    pub file_ids: Vec<String>,
    /// v2: the files and vector stores of the assistant's tools.
    #[serde(default, skip_serializing_if = "hidden_from_v1")]
    pub tool_resources: Option<ToolResources>,
    /// Up to 16 pairs.
    pub metadata: Option<Metadata>,
    /// Sampling temperature, 0..=2.
    pub temperature: Option<f64>,
    /// Nucleus sampling, 0..=1.
    pub top_p: Option<f64>,
    /// Output format.
    pub response_format: Option<ResponseFormatOption>,
    /// v2: passed on to reasoning models; never shown.
    #[serde(skip)]
    pub reasoning_effort: Option<ReasoningEffort>,
}

impl HasId for Assistant {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `CreateAssistantRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAssistantRequest {
    /// Model name.
    pub model: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// System instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Tools.
    #[serde(default)]
    pub tools: Option<Vec<AssistantTool>>,
    /// Attached files (v1).
    #[serde(default, deserialize_with = "v1_field")]
    pub file_ids: Option<Vec<String>>,
    /// The tools' files and vector stores (v2).
    #[serde(default, deserialize_with = "v2_field")]
    pub tool_resources: Option<ToolResourcesRequest>,
    /// Reasoning effort (v2).
    #[serde(default, deserialize_with = "v2_field")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Top-p.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Response format.
    #[serde(default)]
    pub response_format: Option<ResponseFormatOption>,
}

/// `ModifyAssistantRequest`: absent fields are left alone; `null` clears a nullable field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyAssistantRequest {
    /// Model name.
    #[serde(default)]
    pub model: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "double_option")]
    pub name: Option<Option<String>>,
    /// Description.
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// Instructions.
    #[serde(default, deserialize_with = "double_option")]
    pub instructions: Option<Option<String>>,
    /// Tools (replaces the list).
    #[serde(default)]
    pub tools: Option<Vec<AssistantTool>>,
    /// Attached files (replaces the list; v1).
    #[serde(default, deserialize_with = "v1_field")]
    pub file_ids: Option<Vec<String>>,
    /// The tools' files and vector stores (each given list replaces the current one; v2).
    #[serde(default, deserialize_with = "v2_field")]
    pub tool_resources: Option<ToolResourcesRequest>,
    /// Reasoning effort (v2; `null` clears it).
    #[serde(default, deserialize_with = "crate::version::v2_nullable")]
    pub reasoning_effort: Option<Option<ReasoningEffort>>,
    /// Metadata (replaces the map).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
    /// Temperature.
    #[serde(default, deserialize_with = "double_option")]
    pub temperature: Option<Option<f64>>,
    /// Top-p.
    #[serde(default, deserialize_with = "double_option")]
    pub top_p: Option<Option<f64>>,
    /// Response format.
    #[serde(default, deserialize_with = "double_option")]
    pub response_format: Option<Option<ResponseFormatOption>>,
}

/// `AssistantFileObject`: its id is the file's own id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantFile {
    /// The file id (`file-...`).
    pub id: String,
    /// Always `assistant.file`.
    pub object: String,
    /// Unix seconds of the attachment.
    pub created_at: i64,
    /// The assistant.
    pub assistant_id: String,
}

impl HasId for AssistantFile {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `CreateAssistantFileRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAssistantFileRequest {
    /// A file with purpose `assistants`.
    pub file_id: String,
}
