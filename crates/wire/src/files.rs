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
    /// When the file expires (v2's `expires_after` on upload), else `null`. Shown to both
    /// versions: the files API ignores the header, and v1 clients ignore the extra field.
    pub expires_at: Option<i64>,
}

impl HasId for OpenAIFile {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `ListFilesResponse`: v2's cursor-paged list (`first_id`, `last_id`, `has_more`), a superset
/// of v1's `{object, data}`.
pub type ListFilesResponse = crate::ListResponse<OpenAIFile>;

/// The purposes an upload may name (`CreateFileRequest.purpose`, v2's list, which includes
/// v1's `fine-tune` and `assistants`).
pub const UPLOAD_PURPOSES: [&str; 6] = [
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

/// The anchor of a file's expiration: only `created_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileExpirationAnchor {
    /// The upload.
    CreatedAt,
}

/// `FileExpirationAfter`: the file expires `seconds` after its upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileExpirationAfter {
    /// Always `created_at`.
    pub anchor: FileExpirationAnchor,
    /// 3600 (an hour) to 2592000 (30 days).
    pub seconds: i64,
}

/// `expires_after.seconds`, as OpenAI bounds it.
pub const FILE_EXPIRY_SECS: std::ops::RangeInclusive<i64> = 3600..=2_592_000;
