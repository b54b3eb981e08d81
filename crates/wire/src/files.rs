//! Files.

use crate::common::HasId;
use crate::ids::FileId;
use serde::{Deserialize, Serialize};

/// `OpenAIFile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAIFile {
    /// `file-...`
    pub id: FileId,
    /// Size in bytes.
    pub bytes: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// The uploaded file's name.
    pub filename: String,
    /// Always `file`.
    pub object: String,
    /// `fine-tune`, `fine-tune-results`, `assistants` or `assistants_output`.
    pub purpose: String,
    /// Deprecated, still required: `uploaded`, `processed` or `error`.
    pub status: String,
    /// Deprecated.
    pub status_details: Option<String>,
}

impl HasId for OpenAIFile {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `ListFilesResponse`: v2's cursor-paged list (`first_id`, `last_id`, `has_more`), a superset
/// of v1's `{object, data}`.
pub type ListFilesResponse = crate::ListResponse<OpenAIFile>;

/// The purposes an upload may name (`CreateFileRequest.purpose`).
pub const UPLOAD_PURPOSES: [&str; 2] = ["fine-tune", "assistants"];
