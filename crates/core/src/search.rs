//! File search: the seams between ingestion (extract, chunk, embed, index) and search (lexical
//! and dense, fused), so that each side is written once and the run engine, the search endpoint
//! and the ingestion loop share them.
//!
//! - An [`Embedder`] turns texts into vectors: the built-in all-MiniLM-L6-v2 run by llama.cpp,
//!   or any OpenAI-compatible `/v1/embeddings` route.
//! - A [`Searcher`] answers a query over vector stores with hits whose scores are in `[0, 1]`,
//!   so that a `score_threshold` means the same thing for every query.

use crate::project::Project;
use assistd_wire::vector_stores::Attributes;
use assistd_wire::{FileId, VectorStoreId};
use async_trait::async_trait;

/// Why texts could not be embedded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EmbedError {
    /// Worth trying again later (a timeout, a 429 or 5xx from the route, a busy local model).
    pub retryable: bool,
    /// For the log and `last_error`; never carries a key.
    pub message: String,
}

/// An embedding model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name as a vector store records it (`all-MiniLM-L6-v2`, or the routed model's
    /// name): a store is searched densely only with the model that built it.
    fn model(&self) -> &str;
    /// The vectors of `texts`, in order, each L2-normalized (so a dot product is the cosine).
    /// A text longer than the model takes is embedded by the embedder's own documented rule.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// One chunk of a file's extracted text, as ingestion produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Its text.
    pub text: String,
    /// Where it starts in the extracted text, in characters.
    pub start: i64,
    /// Where it ends (exclusive), in characters.
    pub end: i64,
    /// Its length in tokens.
    pub tokens: i64,
}

/// A query over one or more vector stores of one project.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The owner.
    pub project: Project,
    /// The stores searched (expired or missing ones answer nothing).
    pub vector_store_ids: Vec<VectorStoreId>,
    /// The query text.
    pub query: String,
    /// At most this many hits (1 to 50).
    pub max_results: usize,
    /// Hits scoring below this (0 to 1) are left out.
    pub score_threshold: f64,
    /// A checked `ComparisonFilter` or `CompoundFilter` over the files' attributes.
    pub filter: Option<serde_json::Value>,
}

/// One chunk found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The store it was found in.
    pub vector_store_id: VectorStoreId,
    /// The file.
    pub file_id: FileId,
    /// The file's name.
    pub filename: String,
    /// The file's attributes in that store.
    pub attributes: Option<Attributes>,
    /// The chunk's position in the file (0 for the first).
    pub chunk_index: i64,
    /// The chunk's text.
    pub text: String,
    /// The fused score, in `[0, 1]`, higher is better.
    pub score: f64,
}

/// Why a search failed (not "nothing found": that is an empty list).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The query could not be embedded (the search may fall back to lexical only instead).
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Answers queries over vector stores.
#[async_trait]
pub trait Searcher: Send + Sync {
    /// The best hits for `req`, best first, at most `req.max_results`.
    async fn search(&self, req: &SearchRequest) -> Result<Vec<SearchHit>, SearchError>;
}
