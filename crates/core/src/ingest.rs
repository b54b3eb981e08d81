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
    /// Its chunks, indexed with the outcome in one transaction (replacing any from an earlier
    /// ingestion of the same file into the same store).
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

/// The ingester until search exists: records the file as ingested, using as many bytes as the
/// file has. Nothing is extracted, so a file's content page stays empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOnly;

#[async_trait]
impl Ingester for RecordOnly {
    async fn ingest(&self, job: &IngestJob) -> Result<IngestDone, IngestFailure> {
        Ok(IngestDone {
            usage_bytes: job.bytes,
            chunks: Vec::new(),
        })
    }
}

/// The queue of files to ingest.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Claims an `in_progress` file no live lease holds, across projects, for `lease`; a file
    /// claimed [`MAX_ATTEMPTS`] times already is failed instead. `None` when there is none.
    async fn claim_ingest(&self, worker: &str, lease: Duration) -> StoreResult<Option<IngestJob>>;
    /// Completes a claimed file, indexing its chunks; `false` if the claim was lost (the file was cancelled, deleted,
    /// or claimed by another worker after the lease ran out).
    async fn complete_ingest(
        &self,
        job: &IngestJob,
        worker: &str,
        done: &IngestDone,
    ) -> StoreResult<bool>;
    /// Fails a claimed file with `error`; `false` if the claim was lost.
    async fn fail_ingest(
        &self,
        job: &IngestJob,
        worker: &str,
        error: VectorStoreFileError,
    ) -> StoreResult<bool>;
}
