//! The ingestion loop: claims files added to vector stores under a lease and ingests them.
//!
//! `workers` loops each claim one file at a time (`IngestStore::claim_ingest`), hand it to the
//! [`Ingester`] and record the outcome. An idle loop sleeps until woken by a new file in this
//! process ([`IngestHandle::wake`]) or until its poll interval passes (files added through
//! another process sharing the database). With no workers, files stay `in_progress`.

use assistd_core::Store;
use assistd_core::ingest::{IngestJob, Ingester};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Files ingested at once (0: none, files stay `in_progress`).
    pub workers: usize,
    /// How long a claim lasts. An ingester that may take longer must finish within it, or
    /// another claimer takes the file over (its late outcome is then refused).
    pub lease: Duration,
    /// How often an idle loop looks for files it was not woken for.
    pub poll_interval: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            workers: 1,
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

impl IngestHandle {
    /// Starts `cfg.workers` loops (none for 0: the handle then only ignores wakes).
    pub fn start(store: &Arc<dyn Store>, ingester: &Arc<dyn Ingester>, cfg: &IngestConfig) -> Self {
        let handle = Self {
            wake: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let instance = uuid_like();
        for n in 0..cfg.workers {
            handle.tasks.spawn(ingest_loop(
                store.clone(),
                ingester.clone(),
                cfg.clone(),
                format!("ingest-{instance}-{n}"),
                handle.wake.clone(),
                handle.shutdown.clone(),
            ));
        }
        handle.tasks.close();
        handle
    }

    /// Files were added: an idle loop looks now.
    pub fn wake(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Stops the loops after the files they are ingesting.
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

async fn ingest_loop(
    store: Arc<dyn Store>,
    ingester: Arc<dyn Ingester>,
    cfg: IngestConfig,
    name: String,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut claims: u64 = 0;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        claims += 1;
        // A lease owner names one claim, so a stale owner never matches a new one.
        let worker = format!("{name}-{claims}");
        match store.claim_ingest(&worker, cfg.lease).await {
            Ok(Some(job)) => {
                ingest_one(&*store, &*ingester, &job, &worker).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "claiming a file to ingest failed"),
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(cfg.poll_interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn ingest_one(store: &dyn Store, ingester: &dyn Ingester, job: &IngestJob, worker: &str) {
    let recorded = match ingester.ingest(job).await {
        Ok(done) => store.complete_ingest(job, worker, &done).await,
        Err(failure) => {
            tracing::info!(file_id = %job.file_id, vector_store_id = %job.vector_store_id,
                code = ?failure.code, "a file could not be ingested");
            store.fail_ingest(job, worker, failure.into()).await
        }
    };
    match recorded {
        Ok(true) => metrics::counter!("assistd_files_ingested_total").increment(1),
        // Cancelled, removed or taken over meanwhile: the outcome no longer applies.
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, file_id = %job.file_id, "recording an ingestion failed");
        }
    }
}
