//! Vector stores, their files and file batches (v2 only; the same shape under either header).
//!
//! `file_counts`, `usage_bytes` and the statuses of stores and batches are computed from the
//! files' rows whenever an object is read; nothing here is a stored counter.

use crate::common::{HasId, Metadata, double_option};
use crate::ids::{FileBatchId, FileId, VectorStoreId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `file_counts` of a store or a batch; `total` is the sum of the four others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCounts {
    /// Files being ingested.
    pub in_progress: i64,
    /// Files ingested.
    pub completed: i64,
    /// Files that failed to ingest.
    pub failed: i64,
    /// Files whose ingestion was cancelled.
    pub cancelled: i64,
    /// All of them.
    pub total: i64,
}

impl FileCounts {
    /// Counts from the four statuses, with their total.
    pub fn new(in_progress: i64, completed: i64, failed: i64, cancelled: i64) -> Self {
        Self {
            in_progress,
            completed,
            failed,
            cancelled,
            total: in_progress + completed + failed + cancelled,
        }
    }
}

/// `VectorStoreObject.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreStatus {
    /// Past `expires_at`.
    Expired,
    /// Some file is being ingested.
    InProgress,
    /// Ready.
    Completed,
}

/// The status of a file in a store (and of a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreFileStatus {
    /// Being ingested.
    InProgress,
    /// Ingested.
    Completed,
    /// Cancelled before it was ingested.
    Cancelled,
    /// Ingestion failed (`last_error` says why).
    Failed,
}

impl VectorStoreFileStatus {
    /// Every status, in the order of the spec's enum.
    pub const ALL: [Self; 4] = [
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
        Self::Failed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The anchor of a store's expiration: only `last_active_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreExpirationAnchor {
    /// The store's last activity.
    LastActiveAt,
}

/// `VectorStoreExpirationAfter`: the store expires `days` after its last activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStoreExpirationAfter {
    /// Always `last_active_at`.
    pub anchor: VectorStoreExpirationAnchor,
    /// 1 to 365.
    pub days: i64,
}

/// A chunking strategy as a request names it (`auto` or `static`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChunkingStrategyRequestParam {
    /// OpenAI's default: 800-token chunks overlapping by 400.
    Auto,
    /// Chosen sizes.
    Static {
        /// The sizes.
        #[serde(rename = "static")]
        static_: StaticChunkingStrategy,
    },
}

/// `StaticChunkingStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticChunkingStrategy {
    /// 100 to 4096.
    pub max_chunk_size_tokens: i64,
    /// At most half of `max_chunk_size_tokens`.
    pub chunk_overlap_tokens: i64,
}

impl StaticChunkingStrategy {
    /// What `auto` stands for.
    pub const AUTO: Self = Self {
        max_chunk_size_tokens: 800,
        chunk_overlap_tokens: 400,
    };
}

/// A file's chunking strategy as stored and shown (`auto` shows as the `static` sizes it stands
/// for, as OpenAI does; `other` for files chunked before strategies existed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChunkingStrategy {
    /// `StaticChunkingStrategyResponseParam`.
    Static {
        /// The sizes.
        #[serde(rename = "static")]
        static_: StaticChunkingStrategy,
    },
    /// `OtherChunkingStrategyResponseParam`.
    Other,
}

impl From<ChunkingStrategyRequestParam> for ChunkingStrategy {
    fn from(r: ChunkingStrategyRequestParam) -> Self {
        match r {
            ChunkingStrategyRequestParam::Auto => Self::Static {
                static_: StaticChunkingStrategy::AUTO,
            },
            ChunkingStrategyRequestParam::Static { static_ } => Self::Static { static_ },
        }
    }
}

impl Default for ChunkingStrategy {
    fn default() -> Self {
        ChunkingStrategyRequestParam::Auto.into()
    }
}

/// One value of `VectorStoreFileAttributes`: a string (≤512 characters), a number or a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// A number.
    Number(serde_json::Number),
    /// A boolean.
    Bool(bool),
}

/// `VectorStoreFileAttributes`: up to 16 keys of at most 64 characters.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// `VectorStoreObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreObject {
    /// `vs_…`
    pub id: VectorStoreId,
    /// Always `vector_store`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The name; `""` for an unnamed store (the spec's type is a non-null string).
    pub name: String,
    /// Bytes of its completed files.
    pub usage_bytes: i64,
    /// Its files by status.
    pub file_counts: FileCounts,
    /// `expired`, `in_progress` or `completed`.
    pub status: VectorStoreStatus,
    /// The expiration policy, `null` when none.
    pub expires_after: Option<VectorStoreExpirationAfter>,
    /// When it expires, `null` without a policy.
    pub expires_at: Option<i64>,
    /// Its last activity.
    pub last_active_at: Option<i64>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}

impl HasId for VectorStoreObject {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `last_error` of a vector store file: why its ingestion failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorStoreFileError {
    /// `server_error`, `unsupported_file` or `invalid_file`.
    pub code: VectorStoreFileErrorCode,
    /// For people.
    pub message: String,
}

/// `last_error.code` of a vector store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreFileErrorCode {
    /// The server failed.
    ServerError,
    /// The file's type cannot be ingested.
    UnsupportedFile,
    /// The file is damaged or empty.
    InvalidFile,
}

/// `VectorStoreFileObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreFileObject {
    /// The file's own id.
    pub id: FileId,
    /// Always `vector_store.file`.
    pub object: String,
    /// Bytes the store uses for it (0 until ingested).
    pub usage_bytes: i64,
    /// Unix seconds: when it was added to the store.
    pub created_at: i64,
    /// The store.
    pub vector_store_id: VectorStoreId,
    /// Its ingestion status.
    pub status: VectorStoreFileStatus,
    /// Why ingestion failed, else `null`.
    pub last_error: Option<VectorStoreFileError>,
    /// How it is chunked.
    pub chunking_strategy: ChunkingStrategy,
    /// Its attributes.
    pub attributes: Option<Attributes>,
}

impl HasId for VectorStoreFileObject {
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// `VectorStoreFileBatchObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreFileBatchObject {
    /// `vsfb_…`
    pub id: FileBatchId,
    /// Always `vector_store.files_batch`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The store.
    pub vector_store_id: VectorStoreId,
    /// `in_progress` while any of its files is, else `cancelled` if it was cancelled, else
    /// `completed`.
    pub status: VectorStoreFileStatus,
    /// Its files by status.
    pub file_counts: FileCounts,
}

/// `DeleteVectorStoreResponse` / `DeleteVectorStoreFileResponse` are `DeletionStatus`.
pub const VECTOR_STORE_DELETED: &str = "vector_store.deleted";
/// `DeleteVectorStoreFileResponse.object`.
pub const VECTOR_STORE_FILE_DELETED: &str = "vector_store.file.deleted";

/// One part of `VectorStoreFileContentResponse.data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileContentPart {
    /// Always `text`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The text.
    pub text: String,
}

/// `VectorStoreFileContentResponse`: the text ingestion extracted from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreFileContentResponse {
    /// Always `vector_store.file_content.page`.
    pub object: String,
    /// The parts.
    pub data: Vec<FileContentPart>,
    /// Whether more pages follow.
    pub has_more: bool,
    /// The next page's token.
    pub next_page: Option<String>,
}

/// One part of a search result's `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResultContent {
    /// Always `text`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The chunk's text.
    pub text: String,
}

/// `VectorStoreSearchResultItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreSearchResultItem {
    /// The file.
    pub file_id: FileId,
    /// Its name.
    pub filename: String,
    /// 0 to 1.
    pub score: f64,
    /// The file's attributes.
    pub attributes: Option<Attributes>,
    /// The matching chunks.
    pub content: Vec<SearchResultContent>,
}

/// `VectorStoreSearchResultsPage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreSearchResultsPage {
    /// Always `vector_store.search_results.page`.
    pub object: String,
    /// The queries searched.
    pub search_query: Vec<String>,
    /// The results.
    pub data: Vec<VectorStoreSearchResultItem>,
    /// Whether more pages follow.
    pub has_more: bool,
    /// The next page's token.
    pub next_page: Option<String>,
}

/// `CreateVectorStoreRequest`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVectorStoreRequest {
    /// Files to add (at most 500).
    #[serde(default)]
    pub file_ids: Option<Vec<String>>,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// A description (accepted and not shown: the object has no such field).
    #[serde(default)]
    pub description: Option<String>,
    /// The expiration policy.
    #[serde(default)]
    pub expires_after: Option<VectorStoreExpirationAfter>,
    /// How `file_ids` are chunked (only with `file_ids`).
    #[serde(default)]
    pub chunking_strategy: Option<ChunkingStrategyRequestParam>,
    /// Metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `UpdateVectorStoreRequest`: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateVectorStoreRequest {
    /// The name.
    #[serde(default, deserialize_with = "double_option")]
    pub name: Option<Option<String>>,
    /// The expiration policy.
    #[serde(default, deserialize_with = "double_option")]
    pub expires_after: Option<Option<VectorStoreExpirationAfter>>,
    /// Metadata.
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Metadata>>,
}

/// `CreateVectorStoreFileRequest`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVectorStoreFileRequest {
    /// The file.
    pub file_id: String,
    /// How it is chunked.
    #[serde(default)]
    pub chunking_strategy: Option<ChunkingStrategyRequestParam>,
    /// Its attributes.
    #[serde(default)]
    pub attributes: Option<Attributes>,
}

/// One entry of `CreateVectorStoreFileBatchRequest.files`: the fields of a single file's
/// request; an absent strategy or attributes falls back to the batch's.
pub type BatchFileEntry = CreateVectorStoreFileRequest;

/// `CreateVectorStoreFileBatchRequest`: `file_ids` or `files` (1 to 2000).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVectorStoreFileBatchRequest {
    /// The files, sharing the batch's strategy and attributes.
    #[serde(default)]
    pub file_ids: Option<Vec<String>>,
    /// The files, each with its own strategy and attributes.
    #[serde(default)]
    pub files: Option<Vec<BatchFileEntry>>,
    /// The strategy of every file that names none.
    #[serde(default)]
    pub chunking_strategy: Option<ChunkingStrategyRequestParam>,
    /// The attributes of every file that names none.
    #[serde(default)]
    pub attributes: Option<Attributes>,
}

/// `UpdateVectorStoreFileAttributesRequest`: `attributes` is required and may be `null`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateVectorStoreFileAttributesRequest {
    /// The new attributes (`Some(None)`: cleared; `None`: missing, refused).
    #[serde(default, deserialize_with = "double_option")]
    pub attributes: Option<Option<Attributes>>,
}

/// `VectorStoreSearchRequest.query`: one query or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SearchQuery {
    /// One query.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `VectorStoreSearchRequest.ranking_options.ranker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SearchRanker {
    /// No re-ranking.
    #[serde(rename = "none")]
    None,
    /// The default.
    #[serde(rename = "auto")]
    Auto,
    /// A dated ranker.
    #[serde(rename = "default-2024-11-15")]
    Default20241115,
}

/// `VectorStoreSearchRequest.ranking_options`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRankingOptions {
    /// The ranker.
    #[serde(default)]
    pub ranker: Option<SearchRanker>,
    /// 0 to 1.
    #[serde(default)]
    pub score_threshold: Option<f64>,
}

/// `VectorStoreSearchRequest`. `filters` stays JSON here: its recursive shape is checked by
/// `assistd_core::vector_stores::check_filter`, which names the offending path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStoreSearchRequest {
    /// What to search for.
    pub query: SearchQuery,
    /// Whether to rewrite the query.
    #[serde(default)]
    pub rewrite_query: Option<bool>,
    /// 1 to 50.
    #[serde(default)]
    pub max_num_results: Option<i64>,
    /// A `ComparisonFilter` or `CompoundFilter` over the files' attributes.
    #[serde(default)]
    pub filters: Option<serde_json::Value>,
    /// Ranking.
    #[serde(default)]
    pub ranking_options: Option<SearchRankingOptions>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_chunking_shows_as_its_static_sizes() {
        let s: ChunkingStrategy =
            serde_json::from_str::<ChunkingStrategyRequestParam>(r#"{"type":"auto"}"#)
                .unwrap()
                .into();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"type":"static","static":{"max_chunk_size_tokens":800,"chunk_overlap_tokens":400}}"#
        );
    }

    #[test]
    fn counts_add_up() {
        let c = FileCounts::new(1, 2, 3, 4);
        assert_eq!(c.total, 10);
    }
}
