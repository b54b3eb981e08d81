//! The ingestion loops: claim files added to vector stores under a lease and ingest them, in
//! two steps claimed separately (`IngestPhase`).
//!
//! - Index loops (`workers`) claim a new file, hand it to the [`Ingester`] (extract, chunk),
//!   and index its chunks: from then on it is searchable lexically. Without an embedder the file
//!   is completed there.
//! - Embed loops (`embed_workers`, with an embedder) claim indexed files and embed their chunks
//!   a batch at a time, each batch written with the claim renewed, then complete the file. A
//!   claimer killed mid-file leaves a lease that expires; the next claim embeds only the chunks
//!   still without a vector.
//!
//! So a large file's embeddings (minutes on a CPU) never hold up the parsing and lexical
//! indexing of the files behind it. An idle loop sleeps until woken by a new file in this
//! process ([`IngestHandle::wake`]) or until its poll interval passes (files added through
//! another process sharing the database). With no index loops, files stay `in_progress`.

use assistd_core::Store;
use assistd_core::ingest::{IngestFailure, IngestJob, IngestPhase, Ingester};
use assistd_core::search::Embedder;
use assistd_wire::vector_stores::VectorStoreFileErrorCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Files parsed and indexed at once (0: none, files stay `in_progress`).
    pub workers: usize,
    /// Files embedded at once (with an embedder).
    pub embed_workers: usize,
    /// Chunks embedded and written together.
    pub embed_batch: usize,
    /// How long a claim lasts. Parsing must finish within it, and each batch of embeddings
    /// (which renews it), or another claimer takes the file over (a late outcome is then
    /// refused).
    pub lease: Duration,
    /// How often an idle loop looks for files it was not woken for.
    pub poll_interval: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            embed_workers: 1,
            embed_batch: 16,
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The running loops.
#[derive(Clone)]
pub struct IngestHandle {
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// What the loops share.
struct Loops {
    store: Arc<dyn Store>,
    ingester: Arc<dyn Ingester>,
    embedder: Option<Arc<dyn Embedder>>,
    cfg: IngestConfig,
    /// New files for the index loops.
    wake: Arc<Notify>,
    /// Indexed files for the embed loops.
    indexed: Notify,
    shutdown: CancellationToken,
}

impl IngestHandle {
    /// Starts `cfg.workers` index loops and, with `embedder`, `cfg.embed_workers` embed loops
    /// (no index loops for 0: the handle then only ignores wakes).
    pub fn start(
        store: &Arc<dyn Store>,
        ingester: &Arc<dyn Ingester>,
        embedder: Option<Arc<dyn Embedder>>,
        cfg: &IngestConfig,
    ) -> Self {
        let handle = Self {
            wake: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let embed_workers = if embedder.is_some() && cfg.workers > 0 {
            cfg.embed_workers.max(1)
        } else {
            0
        };
        let loops = Arc::new(Loops {
            store: store.clone(),
            ingester: ingester.clone(),
            embedder,
            cfg: cfg.clone(),
            wake: handle.wake.clone(),
            indexed: Notify::new(),
            shutdown: handle.shutdown.clone(),
        });
        let instance = uuid_like();
        for n in 0..cfg.workers {
            let name = format!("ingest-{instance}-{n}");
            handle
                .tasks
                .spawn(claim_loop(loops.clone(), IngestPhase::Index, name));
        }
        for n in 0..embed_workers {
            let name = format!("embed-{instance}-{n}");
            handle
                .tasks
                .spawn(claim_loop(loops.clone(), IngestPhase::Embed, name));
        }
        handle.tasks.close();
        handle
    }

    /// Files were added: an idle loop looks now.
    pub fn wake(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Stops the loops after the file (index loops) or the batch of chunks (embed loops) they
    /// are working on; a file left half embedded is resumed by the next claim.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

/// A name for this process's claims that no other process shares.
fn uuid_like() -> String {
    assistd_core::ids::new_id(assistd_core::ids::IdKind::FileBatch)
        .trim_start_matches("vsfb_")
        .to_owned()
}

async fn claim_loop(loops: Arc<Loops>, phase: IngestPhase, name: String) {
    let mut claims: u64 = 0;
    loop {
        if loops.shutdown.is_cancelled() {
            return;
        }
        claims += 1;
        // A lease owner names one claim, so a stale owner never matches a new one.
        let worker = format!("{name}-{claims}");
        match loops
            .store
            .claim_ingest(&worker, loops.cfg.lease, phase)
            .await
        {
            Ok(Some(job)) => {
                let recorded = match phase {
                    IngestPhase::Index => index_one(&loops, &job, &worker).await,
                    IngestPhase::Embed => embed_one(&loops, &job, &worker).await,
                };
                match recorded {
                    Ok(Outcome::Completed) => {
                        metrics::counter!("assistd_files_ingested_total").increment(1);
                    }
                    Ok(Outcome::Indexed) => {
                        loops.indexed.notify_waiters();
                        loops.indexed.notify_one();
                    }
                    // Cancelled, removed or taken over meanwhile, or left for a later claim.
                    Ok(Outcome::Dropped) => {}
                    Err(e) => tracing::error!(error = %e, file_id = %job.file_id,
                        "recording an ingestion failed"),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "claiming a file to ingest failed"),
        }
        let woken = match phase {
            IngestPhase::Index => loops.wake.notified(),
            IngestPhase::Embed => loops.indexed.notified(),
        };
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(loops.cfg.poll_interval) => {}
            () = loops.shutdown.cancelled() => return,
        }
    }
}

/// Where a claimed file went.
enum Outcome {
    /// Completed.
    Completed,
    /// Indexed, waiting for its embeddings.
    Indexed,
    /// Nothing recorded: the claim was lost, the file failed, or it waits for another claim.
    Dropped,
}

async fn index_one(
    loops: &Loops,
    job: &IngestJob,
    worker: &str,
) -> assistd_core::StoreResult<Outcome> {
    let store = &*loops.store;
    match loops.ingester.ingest(job).await {
        Ok(done) => {
            let complete = loops.embedder.is_none();
            Ok(
                match store.index_chunks(job, worker, &done, complete).await? {
                    false => Outcome::Dropped,
                    true if complete => Outcome::Completed,
                    true => Outcome::Indexed,
                },
            )
        }
        Err(failure) => {
            tracing::info!(file_id = %job.file_id, vector_store_id = %job.vector_store_id,
                code = ?failure.code, "a file could not be ingested");
            store.fail_ingest(job, worker, failure.into()).await?;
            Ok(Outcome::Dropped)
        }
    }
}

/// Tries of one batch whose embedder answered with a retryable error, before the claim is
/// left to expire (and the file is claimed again later, up to `MAX_ATTEMPTS` times).
const EMBED_TRIES: u32 = 4;

async fn embed_one(
    loops: &Loops,
    job: &IngestJob,
    worker: &str,
) -> assistd_core::StoreResult<Outcome> {
    let store = &*loops.store;
    let Some(embedder) = loops.embedder.as_ref() else {
        // Indexed while an embedder was configured: searchable lexically as it is.
        return Ok(if store.complete_ingest(job, worker).await? {
            Outcome::Completed
        } else {
            Outcome::Dropped
        });
    };
    let model = embedder.model();
    let built_by = store
        .index_state(&job.project, &job.vector_store_id)
        .await?
        .and_then(|s| s.model);
    if built_by.as_deref().is_some_and(|m| m != model) {
        tracing::warn!(vector_store_id = %job.vector_store_id, built_by = ?built_by, model,
            "the store's vectors were built by another embedding model: this file is searched \
             lexically only");
    } else {
        loop {
            if loops.shutdown.is_cancelled() {
                return Ok(Outcome::Dropped);
            }
            let batch = store
                .unembedded_chunks(job, loops.cfg.embed_batch.max(1))
                .await?;
            if batch.is_empty() {
                break;
            }
            let (seqs, texts): (Vec<i64>, Vec<String>) = batch.into_iter().unzip();
            let vectors = match embed_with_retries(&**embedder, &texts, &loops.shutdown).await {
                Ok(v) if v.len() == texts.len() => v,
                Ok(v) => {
                    let message = format!(
                        "The embedding model returned {} vectors for {} chunks.",
                        v.len(),
                        texts.len()
                    );
                    return fail(store, job, worker, message).await;
                }
                Err(e) if e.retryable => {
                    tracing::warn!(error = %e, file_id = %job.file_id,
                        "embedding is failing: the file is left for a later claim");
                    return Ok(Outcome::Dropped);
                }
                Err(e) => {
                    tracing::warn!(error = %e, file_id = %job.file_id, "embedding failed");
                    return fail(
                        store,
                        job,
                        worker,
                        format!("The file's text could not be embedded: {e}"),
                    )
                    .await;
                }
            };
            let written: Vec<(i64, Vec<f32>)> = seqs.into_iter().zip(vectors).collect();
            if !store
                .store_embeddings(job, worker, model, &written, loops.cfg.lease)
                .await?
            {
                return Ok(Outcome::Dropped);
            }
            metrics::counter!("assistd_chunks_embedded_total").increment(written.len() as u64);
        }
    }
    Ok(if store.complete_ingest(job, worker).await? {
        Outcome::Completed
    } else {
        Outcome::Dropped
    })
}

async fn fail(
    store: &dyn Store,
    job: &IngestJob,
    worker: &str,
    message: String,
) -> assistd_core::StoreResult<Outcome> {
    let failure = IngestFailure {
        code: VectorStoreFileErrorCode::ServerError,
        message,
    };
    store.fail_ingest(job, worker, failure.into()).await?;
    Ok(Outcome::Dropped)
}

/// Embeds `texts`, trying again after a retryable error with a doubling pause.
async fn embed_with_retries(
    embedder: &dyn Embedder,
    texts: &[String],
    shutdown: &CancellationToken,
) -> Result<Vec<Vec<f32>>, assistd_core::search::EmbedError> {
    let mut pause = Duration::from_millis(500);
    let mut tries = 0;
    loop {
        tries += 1;
        match embedder.embed(texts).await {
            Err(e) if e.retryable && tries < EMBED_TRIES && !shutdown.is_cancelled() => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
}
