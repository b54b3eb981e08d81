//! Assembles the server: storage, the router with its middleware, and the listener
//! (`listener`: timeouts, the connection cap, graceful shutdown).

use crate::api;
use crate::auth::Auth;
use crate::blobs::Blobs;
use crate::config::Settings;
use crate::error::{ApiError, ErrorKind, TOO_LARGE};
use crate::limits::Limits;
use crate::telemetry;
use assistd_core::code::CodeRunner;
use assistd_core::search::{Embedder, HybridConfig, HybridSearcher, Searcher};
use assistd_core::{
    ClaimAtCreation, ClaimedRun, Signal, Signals, Store, StoreError, StoreResult, StreamRelay,
};
use assistd_executor::ingest::{IngestConfig, IngestHandle};
use assistd_executor::{EventBus, Executor, ExecutorConfig, ExecutorHandle, Services};
use assistd_models::ModelRouter;
use assistd_store::{
    PgRelay, PgSignals, PostgresSettings, PostgresStore, SqliteSettings, SqliteStore,
};
use assistd_wire::RunId;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId};
use tower_http::trace::TraceLayer;
use tracing::Instrument;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// File bytes.
    pub blobs: Blobs,
    /// Settings in effect.
    pub settings: Arc<Settings>,
    /// Key → project.
    pub auth: Auth,
    /// The run engine of this process, if it runs workers.
    pub executor: Option<ExecutorHandle>,
    /// Run events, for `stream: true`.
    pub events: Arc<EventBus>,
    /// Signals to the other instances sharing the database, if it is shared.
    pub signals: Option<Arc<dyn Signals>>,
    /// Per-project quotas and the failed-authentication backoff.
    pub limits: Arc<Limits>,
    /// The loops that ingest files added to vector stores.
    pub ingest: IngestHandle,
    /// Answers `file_search` queries: the search endpoint and the runs share it.
    pub searcher: Arc<dyn Searcher>,
}

impl AppState {
    /// Creates run `run_id` with `create` (the store's call, given the claim to make), and
    /// starts it here if a worker here is free: the store then stores it claimed for that
    /// worker ([`assistd_core::RunStore::create_run_claimed`]). Otherwise the run waits in the
    /// queue and a worker is woken.
    ///
    /// The creation and the start run in a task of their own, so that a client leaving
    /// mid-request (which drops the handler) cannot leave a run claimed and not started: it
    /// would sit under its lease until the lease ran out.
    pub async fn create_run_with<T, F, Fut>(&self, run_id: &RunId, create: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>, Option<ClaimAtCreation>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = StoreResult<(T, Option<ClaimedRun>)>> + Send + 'static,
    {
        let reserved = self.executor.as_ref().and_then(ExecutorHandle::reserve);
        let claim = reserved.as_ref().map(|r| r.claim(run_id));
        let (state, run_id) = (self.clone(), run_id.clone());
        let task = async move {
            let (out, claimed) = create(state.store.clone(), claim).await?;
            match (reserved, claimed) {
                (Some(r), Some(c)) => r.start(c),
                _ => state.run_queued(&run_id),
            }
            Ok(out)
        };
        tokio::spawn(task.instrument(tracing::Span::current()))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    /// `run_id` was queued by the current request: let a worker know, here and in the other
    /// instances (a worker here continues the request's trace).
    pub fn run_queued(&self, run_id: &RunId) {
        if let Some(e) = &self.executor {
            e.queued(run_id);
        }
        self.broadcast(Signal::Queued);
    }

    /// Files were added to a vector store: let an ingestion loop know.
    pub fn files_queued(&self) {
        self.ingest.wake();
    }

    /// A run was asked to cancel: stop its model request, wherever a worker runs it.
    pub fn run_cancel_requested(&self, run_id: &RunId) {
        if let Some(e) = &self.executor {
            e.cancel(run_id);
        }
        self.broadcast(Signal::Cancel(run_id.clone()));
    }

    /// Sends a signal without holding up the response: it is a hint (workers poll, and notice
    /// cancels when they renew their leases), so a failure is only logged.
    fn broadcast(&self, signal: Signal) {
        if let Some(signals) = self.signals.clone() {
            tokio::spawn(async move {
                if let Err(e) = signals.publish(signal).await {
                    tracing::warn!(error = %e, "publishing a signal failed");
                }
            });
        }
    }
}

/// An open database, with what instances sharing it use to reach each other.
pub struct Database {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signals between instances ("queued", "cancel"), when several can share the database.
    pub signals: Option<Arc<dyn Signals>>,
    /// Run events between instances, likewise.
    pub relay: Option<Arc<dyn StreamRelay>>,
}

/// The database the settings name, and its cross-instance signals and relay when several
/// instances can share it. The URL itself is never logged or echoed (it may hold a password).
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        crate::private::create_dir(&settings.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}",
                settings.data_dir.display()
            )
        })?;
        make_sqlite_files_private(&url)?;
        let store = SqliteStore::connect(
            &url,
            &SqliteSettings {
                read_connections: settings.sqlite_read_connections,
                ..SqliteSettings::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        return Ok(Database {
            store: Arc::new(store),
            signals: None,
            relay: None,
        });
    }
    if is_postgres(&url) {
        let pg = PostgresSettings {
            max_connections: settings.database_max_connections,
            statement_timeout: Duration::from_secs_f64(settings.database_statement_timeout_secs),
            acquire_timeout: Duration::from_secs_f64(settings.database_acquire_timeout_secs),
        };
        let store = PostgresStore::connect(&url, &pg)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database: {e}"))?;
        let signals: Arc<dyn Signals> = Arc::new(PgSignals::new(&store));
        let relay: Arc<dyn StreamRelay> = Arc::new(PgRelay::start(&store));
        return Ok(Database {
            store: Arc::new(store),
            signals: Some(signals),
            relay: Some(relay),
        });
    }
    anyhow::bail!(
        "unsupported database URL scheme '{}': use sqlite://PATH or postgres://USER@HOST/DATABASE",
        url.split("://").next().unwrap_or_default()
    )
}

/// Creates the SQLite database file `0600` before SQLite does (SQLite would follow the umask;
/// its `-wal` and `-shm` files copy the database file's mode), and tightens the mode of files
/// left by an earlier version.
fn make_sqlite_files_private(url: &str) -> anyhow::Result<()> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let db = std::path::Path::new(path);
    crate::private::create_file(db)
        .map_err(|e| anyhow::anyhow!("cannot create the database file {}: {e}", db.display()))?;
    for suffix in ["-wal", "-shm"] {
        let side = std::path::PathBuf::from(format!("{path}{suffix}"));
        if side.exists() {
            crate::private::restrict_file(&side)
                .map_err(|e| anyhow::anyhow!("cannot make {} private: {e}", side.display()))?;
        }
    }
    Ok(())
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Applies pending migrations to the database the settings name (`assistd migrate`).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url();
    if is_postgres(&url) {
        // One connection, no pool: a deployment step may run this before any server starts.
        return PostgresStore::migrate(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the PostgreSQL database: {e}"));
    }
    // Opening a SQLite store applies its migrations; it is closed again when dropped.
    open_database(settings).await.map(drop)
}

/// Starts the run engine when the settings ask for workers.
async fn start_executor(
    settings: &Settings,
    store: &Arc<dyn Store>,
    events: &Arc<EventBus>,
    signals: Option<Arc<dyn Signals>>,
    searcher: &Arc<dyn Searcher>,
    blobs: &Blobs,
    limits: &Arc<Limits>,
) -> anyhow::Result<Option<ExecutorHandle>> {
    if settings.workers == 0 {
        return Ok(None);
    }
    let models =
        crate::local::attach(ModelRouter::new(&settings.model_routes())?, settings).await?;
    let code = settings.code_interpreter.enabled.then(|| {
        Arc::new(crate::code::SandboxRunner::start(
            &settings.code_interpreter,
            limits.clone(),
            store.clone(),
            blobs.clone(),
        )) as Arc<dyn CodeRunner>
    });
    Ok(Some(Executor::start_with(
        store.clone(),
        Arc::new(models),
        events.clone(),
        ExecutorConfig {
            workers: settings.workers,
            lease: Duration::from_secs_f64(settings.lease_secs),
            max_turns: settings.max_turns,
            text_flush: Duration::from_millis(settings.text_flush_ms),
            max_history_tokens: settings.max_history_tokens,
            max_runs_per_project: settings.limits.running_runs(
                settings.workers,
                settings
                    .api_keys
                    .iter()
                    .map(crate::config::ApiKey::project)
                    .collect::<std::collections::HashSet<_>>()
                    .len(),
            ),
            ..ExecutorConfig::default()
        },
        Services {
            signals,
            searcher: Some(searcher.clone()),
            code,
        },
    )))
}

/// The searcher over the database's chunk index, dense too with `embedder`.
fn searcher(
    settings: &Settings,
    store: &Arc<dyn Store>,
    embedder: Option<Arc<dyn Embedder>>,
) -> Arc<dyn Searcher> {
    let searcher = HybridSearcher::new(
        store.clone(),
        embedder,
        HybridConfig {
            ranking: settings.search.mode,
            dense_weight: settings.search.dense_weight,
            cache_bytes: settings.search.cache_mb.saturating_mul(1 << 20),
        },
    );
    tracing::info!(ranking = ?searcher.config().ranking, "file_search ready");
    Arc::new(searcher)
}

/// Starts `ingest_workers` ingestion loops, which extract and chunk files from `blobs`, and
/// with `embedder` the loops that embed the chunks.
fn start_ingest(
    settings: &Settings,
    store: &Arc<dyn Store>,
    blobs: &Blobs,
    embedder: Option<Arc<dyn Embedder>>,
) -> IngestHandle {
    let ingester: Arc<dyn assistd_core::ingest::Ingester> =
        Arc::new(crate::ingest::FileIngester::new(blobs.clone()));
    IngestHandle::start(
        store,
        &ingester,
        embedder,
        &IngestConfig {
            workers: settings.ingest_workers,
            embed_workers: settings.embeddings.workers,
            embed_batch: settings.embeddings.batch,
            lease: Duration::from_secs_f64(settings.ingest_lease_secs),
            ..IngestConfig::default()
        },
    )
}

/// Workers only, no HTTP (`assistd worker`): executes the shared queue's runs until
/// `shutdown` resolves, then releases the runs in flight.
pub async fn run_worker(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    settings.check()?;
    anyhow::ensure!(settings.workers > 0, "a worker needs workers > 0");
    let Database {
        store,
        signals,
        relay,
    } = open_database(&settings).await?;
    // Sends only: a worker serves no streams.
    let events = Arc::new(EventBus::new(relay));
    let embedder = crate::local::embedder(&settings).await?;
    let searcher = searcher(&settings, &store, embedder.clone());
    let blobs = Blobs::from_settings(&settings).await?;
    let limits = Arc::new(Limits::new(&settings.limits));
    let executor = start_executor(
        &settings, &store, &events, signals, &searcher, &blobs, &limits,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no workers configured"))?;
    let ingest = start_ingest(&settings, &store, &blobs, embedder);
    tracing::info!(workers = settings.workers, "worker ready");
    shutdown.await;
    executor.shutdown().await;
    ingest.shutdown().await;
    Ok(())
}

/// Opens storage as the settings say.
pub async fn open_state(settings: Settings) -> anyhow::Result<AppState> {
    // Each user of the data directory creates what it needs: the SQLite database's directory
    // (`open_database`), `files/` (`Blobs`), `models/` (the built-in model's weights).
    let Database {
        store,
        signals,
        relay,
    } = open_database(&settings).await?;
    let blobs = Blobs::from_settings(&settings).await?;
    let events = Arc::new(EventBus::new(relay));
    events.receive_relayed();
    let embedder = crate::local::embedder(&settings).await?;
    let searcher = searcher(&settings, &store, embedder.clone());
    // One set of quotas: the API's, which the files the code interpreter writes count against.
    let limits = Arc::new(Limits::new(&settings.limits));
    let executor = start_executor(
        &settings,
        &store,
        &events,
        signals.clone(),
        &searcher,
        &blobs,
        &limits,
    )
    .await?;
    let ingest = start_ingest(&settings, &store, &blobs, embedder);
    Ok(AppState {
        store,
        blobs,
        auth: Auth::new(&settings.api_keys, limits.clone()),
        limits,
        settings: Arc::new(settings),
        executor,
        events,
        signals,
        ingest,
        searcher,
    })
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent `x-request-id` kept for the log.
const CLIENT_REQUEST_ID_MAX: usize = 128;

/// A client's own `x-request-id`, sanitized: it goes to the log, never back in a response,
/// where a client-chosen value would pass for one of ours.
#[derive(Clone)]
pub(crate) struct ClientRequestId(pub(crate) String);

/// Gives every request our own id, `req_` + 32 hex digits like OpenAI's, replacing any the
/// client sent (kept aside as [`ClientRequestId`]); `PropagateRequestIdLayer` echoes ours.
async fn assign_request_id(mut req: Request, next: Next) -> Response {
    let theirs: String = req
        .headers()
        .get(X_REQUEST_ID)
        .map(|v| {
            v.as_bytes()
                .iter()
                .filter(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
                .take(CLIENT_REQUEST_ID_MAX)
                .map(|&b| char::from(b))
                .collect()
        })
        .unwrap_or_default();
    if !theirs.is_empty() {
        req.extensions_mut().insert(ClientRequestId(theirs));
    }
    let ours = format!("req_{}", uuid::Uuid::new_v4().simple());
    if let Ok(v) = HeaderValue::from_str(&ours) {
        req.headers_mut().insert(X_REQUEST_ID, v.clone());
        req.extensions_mut().insert(RequestId::new(v));
    }
    next.run(req).await
}

/// `/healthz` body.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(Health { status: "ok" }).into_response(),
        // A database out of reach is a 503, which load balancers read as "not ready".
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError::unknown_route(req.method(), req.uri().path())
}

/// Turns any error that left the router without the envelope (axum's own 405, a rejected
/// extractor, ...) into the envelope, keeping its status.
async fn envelope_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let kind = ErrorKind::of_status(status);
    let message = match kind {
        ErrorKind::MethodNotAllowed => format!("Invalid method for URL ({method} {path})."),
        ErrorKind::BodyTooLarge => TOO_LARGE.to_owned(),
        _ => {
            let body = axum::body::to_bytes(res.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("Request failed")
                    .to_owned()
            } else {
                text
            }
        }
    };
    ApiError::new(kind, message).into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    ApiError::internal(&"a request handler panicked").into_response()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(telemetry::metrics_routes(&state.settings))
        .merge(crate::playground::routes(&state.settings))
        .with_state(state.clone())
        .nest("/v1", api::routes(state))
        .fallback(unknown_route)
        .layer(from_fn(envelope_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn(telemetry::track_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_response(telemetry::record_status),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(from_fn(assign_request_id))
}

/// A server running in this process.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    executor: Option<ExecutorHandle>,
    events: Arc<EventBus>,
    ingest: IngestHandle,
}

impl RunningServer {
    /// The run-event channels of this server (how many runs are being streamed).
    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        let served = self.task.await.map_err(std::io::Error::other);
        // Runs in flight are released, not failed: whoever starts next resumes them.
        if let Some(e) = &self.executor {
            e.shutdown().await;
        }
        self.ingest.shutdown().await;
        served
    }
}

/// Binds `settings.listen` and serves in the background until [`RunningServer::stop`].
pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
    settings.check()?;
    let listen = settings.listen;
    let limits = crate::listener::Limits::from_settings(&settings);
    let state = open_state(settings).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let executor = state.executor.clone();
    let events = state.events.clone();
    let ingest = state.ingest.clone();
    let app = router(state);
    let task = tokio::spawn(crate::listener::serve(listener, app, limits, async move {
        let _ = rx.await;
    }));
    Ok(RunningServer {
        addr,
        shutdown: tx,
        task,
        executor,
        events,
        ingest,
    })
}
