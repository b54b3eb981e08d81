//! Threads.

use crate::common::{HasId, Metadata, ToolResources, ToolResourcesRequest, double_option};
use crate::ids::ThreadId;
use crate::messages::CreateMessageRequest;
use crate::version::{hidden_from_v1, v2_field};
use serde::{Deserialize, Serialize};

/// `ThreadObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// `thread_...`
    pub id: ThreadId,
    /// Always `thread`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// v2: the files and vector stores the thread gives the tools (`{}` when none).
    #[serde(default, skip_serializing_if = "hidden_from_v1")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}

impl HasId for Thread {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `CreateThreadRequest` (the body itself is optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateThreadRequest {
    /// Messages to start the thread with.
    #[serde(default)]
    pub messages: Option<Vec<CreateMessageRequest>>,
    /// The tools' files and vector stores (v2).
    #[serde(default, deserialize_with = "v2_field")]
    pub tool_resources: Option<ToolResourcesRequest>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `ModifyThreadRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyThreadRequest {
    /// The tools' files and vector stores (each given list replaces the current one; v2).
    #[serde(default, deserialize_with = "v2_field")]
    pub tool_resources: Option<ToolResourcesRequest>,
    /// Metadata (replaces the map; `null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
}
