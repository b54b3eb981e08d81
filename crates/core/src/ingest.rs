//! Ingestion of files added to vector stores: the job, the outcome, and the `Ingester` seam that
//! the `file_search` work plugs into.
//!
//! A file added to a store is `in_progress` until an ingester completes or fails it. Its row is
//! the job: a loop (`assistd_executor::ingest`) claims it under a lease through [`IngestStore`],
//! hands it to the [`Ingester`], and records the outcome only while the lease is still its own
//! and the file still `in_progress` (a cancelled batch or a deleted file wins over a late
//! outcome). A claimer that dies leaves a lease that expires, and the file is claimed again.

use crate::project::Project;
use crate::store::StoreResult;
use assistd_wire::vector_stores::{
    ChunkingStrategy, VectorStoreFileError, VectorStoreFileErrorCode,
};
use assistd_wire::{FileId, VectorStoreId};
use async_trait::async_trait;
use std::time::Duration;

/// Claims of one file at most before it is failed with `server_error`: a file whose ingestion
/// kills its worker every time must not be claimed forever.
pub const MAX_ATTEMPTS: i64 = 3;

/// The two steps of ingesting a file, claimed separately so that parsing and lexical indexing
/// never wait behind another file's embeddings (which take a hundred times longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestPhase {
    /// Extract, chunk and index the text.
    Index,
    /// Embed the indexed chunks that have no vector yet.
    Embed,
}

/// One file to ingest into one store.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestJob {
    /// The owner.
    pub project: Project,
    /// The store.
    pub vector_store_id: VectorStoreId,
    /// The file.
    pub file_id: FileId,
    /// The file's name.
    pub filename: String,
    /// The file's size.
    pub bytes: i64,
    /// How to chunk it.
    pub chunking_strategy: ChunkingStrategy,
    /// Which claim of this file this is (1 for the first).
    pub attempt: i64,
}

/// A file ingested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestDone {
    /// Bytes the store now uses for it.
    pub usage_bytes: i64,
    /// Its chunks, indexed in one transaction (replacing any from an earlier ingestion of the
    /// same file into the same store).
    pub chunks: Vec<crate::search::NewChunk>,
}

/// A file that cannot be ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestFailure {
    /// `server_error`, `unsupported_file` or `invalid_file`.
    pub code: VectorStoreFileErrorCode,
    /// For people.
    pub message: String,
}

impl From<IngestFailure> for VectorStoreFileError {
    fn from(f: IngestFailure) -> Self {
        Self {
            code: f.code,
            message: f.message,
        }
    }
}

/// Turns a file into what a search reads.
#[async_trait]
pub trait Ingester: Send + Sync {
    /// Ingests one file.
    async fn ingest(&self, job: &IngestJob) -> Result<IngestDone, IngestFailure>;
}

/// The queue of files to ingest.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Claims an `in_progress` file at `phase` that no live lease holds, across projects, for
    /// `lease`; a file claimed [`MAX_ATTEMPTS`] times already at that phase is failed instead.
    /// `None` when there is none.
    async fn claim_ingest(
        &self,
        worker: &str,
        lease: Duration,
        phase: IngestPhase,
    ) -> StoreResult<Option<IngestJob>>;
    /// Indexes the chunks of a file claimed for [`IngestPhase::Index`] (replacing any an
    /// earlier claim wrote) and records the bytes they use. The file is then searchable
    /// lexically; with `complete` it is `completed` too, otherwise it stays `in_progress` and
    /// its claim is released for [`IngestPhase::Embed`]. `false` if the claim was lost (the
    /// file was cancelled, deleted, or claimed by another worker after the lease ran out).
    async fn index_chunks(
        &self,
        job: &IngestJob,
        worker: &str,
        done: &IngestDone,
        complete: bool,
    ) -> StoreResult<bool>;
    /// Up to `limit` chunks of the file without a vector, in order: `(row, text)`.
    async fn unembedded_chunks(
        &self,
        job: &IngestJob,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>>;
    /// Writes vectors of chunks of a claimed file (rows from
    /// [`IngestStore::unembedded_chunks`]) built by `model`, renewing the claim for `lease`.
    /// The store records the model of its first vectors; vectors of another model are not
    /// written (the file stays searchable lexically). `false` if the claim was lost.
    async fn store_embeddings(
        &self,
        job: &IngestJob,
        worker: &str,
        model: &str,
        vectors: &[(i64, Vec<f32>)],
        lease: Duration,
    ) -> StoreResult<bool>;
    /// Completes a claimed file; `false` if the claim was lost.
    async fn complete_ingest(&self, job: &IngestJob, worker: &str) -> StoreResult<bool>;
    /// Fails a claimed file with `error`; `false` if the claim was lost.
    async fn fail_ingest(
        &self,
        job: &IngestJob,
        worker: &str,
        error: VectorStoreFileError,
    ) -> StoreResult<bool>;
}
