//! The ingester of files added to vector stores: reads a file's bytes, extracts its text
//! (`assistd_retrieval`), chunks it as the file's `chunking_strategy` says, and hands the
//! chunks to the store, which indexes them lexically when it completes the file.
//!
//! Dense vectors (an embedding model) are not part of ingestion yet: the search is lexical.

use crate::blobs::Blobs;
use assistd_core::ingest::{IngestDone, IngestFailure, IngestJob, Ingester};
use assistd_retrieval::{ExtractErrorKind, MAX_FILE_TOKENS, Tokenized};
use assistd_wire::vector_stores::{ChunkingStrategy, VectorStoreFileErrorCode};
use async_trait::async_trait;
use futures::TryStreamExt;

/// Bytes of one file ingested at most: the file's bytes and its text are in memory together,
/// so this bounds what one ingestion costs (OpenAI's 5,000,000-token limit is reached well
/// before it by text; larger PDFs, DOCX and PPTX are refused).
pub const MAX_INGEST_BYTES: i64 = 64 << 20;

/// Reads files from `blobs` and chunks them.
pub struct FileIngester {
    blobs: Blobs,
}

impl FileIngester {
    /// An ingester reading from `blobs`.
    pub fn new(blobs: Blobs) -> Self {
        Self { blobs }
    }
}

fn failure(code: VectorStoreFileErrorCode, message: impl Into<String>) -> IngestFailure {
    IngestFailure {
        code,
        message: message.into(),
    }
}

#[async_trait]
impl Ingester for FileIngester {
    async fn ingest(&self, job: &IngestJob) -> Result<IngestDone, IngestFailure> {
        if job.bytes > MAX_INGEST_BYTES {
            return Err(failure(
                VectorStoreFileErrorCode::InvalidFile,
                format!(
                    "The file is larger than the {} MiB file_search ingests.",
                    MAX_INGEST_BYTES >> 20
                ),
            ));
        }
        let server_error = |e: &dyn std::fmt::Display| {
            tracing::error!(file_id = %job.file_id, error = %e, "reading a file to ingest failed");
            failure(
                VectorStoreFileErrorCode::ServerError,
                "The file's bytes could not be read.",
            )
        };
        let mut bytes = Vec::with_capacity(usize::try_from(job.bytes).unwrap_or(0));
        let mut stream = self
            .blobs
            .get(job.file_id.as_str())
            .await
            .map_err(|e| server_error(&e))?;
        while let Some(piece) = stream.try_next().await.map_err(|e| server_error(&e))? {
            bytes.extend_from_slice(&piece);
            if i64::try_from(bytes.len()).unwrap_or(i64::MAX) > MAX_INGEST_BYTES {
                return Err(failure(
                    VectorStoreFileErrorCode::InvalidFile,
                    "The file is larger than file_search ingests.",
                ));
            }
        }
        let (max, overlap) = match &job.chunking_strategy {
            ChunkingStrategy::Static { static_ } => {
                (static_.max_chunk_size_tokens, static_.chunk_overlap_tokens)
            }
            // Stored files always have their sizes; `other` is how OpenAI showed files it
            // chunked before strategies existed: the `auto` sizes.
            ChunkingStrategy::Other => (800, 400),
        };
        let filename = job.filename.clone();
        // Parsing and tokenizing are CPU work of up to seconds: off the async threads.
        let chunks = tokio::task::spawn_blocking(move || {
            let text = assistd_retrieval::extract(&filename, &bytes).map_err(|e| {
                let code = match e.kind {
                    ExtractErrorKind::UnsupportedFile => VectorStoreFileErrorCode::UnsupportedFile,
                    ExtractErrorKind::InvalidFile => VectorStoreFileErrorCode::InvalidFile,
                };
                failure(code, e.message)
            })?;
            drop(bytes);
            let tokens = Tokenized::new(&text.text);
            if tokens.len() > MAX_FILE_TOKENS {
                return Err(failure(
                    VectorStoreFileErrorCode::InvalidFile,
                    format!(
                        "The file has {} tokens; file_search takes at most {MAX_FILE_TOKENS}.",
                        tokens.len()
                    ),
                ));
            }
            Ok(tokens.chunks(
                usize::try_from(max).unwrap_or(800),
                usize::try_from(overlap).unwrap_or(400),
            ))
        })
        .await
        .map_err(|e| server_error(&e))??;
        let usage_bytes = chunks
            .iter()
            .map(|c| i64::try_from(c.text.len()).unwrap_or(i64::MAX))
            .sum();
        Ok(IngestDone {
            usage_bytes,
            chunks,
        })
    }
}
