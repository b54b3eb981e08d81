//! Threads.

use crate::common::{HasId, Metadata, double_option};
use crate::ids::ThreadId;
use crate::messages::CreateMessageRequest;
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
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `ModifyThreadRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyThreadRequest {
    /// Metadata (replaces the map; `null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
}
