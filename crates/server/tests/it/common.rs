//! `TestApp`: a server on port 0 with its own data directory, and a client for it; plus the
//! assertions every module shares (exact field sets, ids, timestamps, list envelopes).

use assistd_core::Project;
use assistd_core::Store;
use assistd_server::app::{RunningServer, start};
use assistd_server::config::{ApiKey, DatabaseUrl, Settings};
use assistd_test_support::pg::TestDatabase;
use assistd_wire::{FunctionCall, RunId, ThreadId, Usage};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The key of the default project of a [`TestApp`].
pub const KEY_A: &str = "sk-test-project-a";
/// The key of a second, isolated project.
pub const KEY_B: &str = "sk-test-project-b";

/// Every field of `AssistantObject` (plus the echoed `temperature`, `top_p`, `response_format`).
pub const ASSISTANT_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "file_ids",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
];
/// `AssistantFileObject`.
pub const ASSISTANT_FILE_KEYS: &[&str] = &["id", "object", "created_at", "assistant_id"];
/// `ThreadObject`.
pub const THREAD_KEYS: &[&str] = &["id", "object", "created_at", "metadata"];
/// `MessageObject`.
pub const MESSAGE_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "thread_id",
    "status",
    "incomplete_details",
    "completed_at",
    "incomplete_at",
    "role",
    "content",
    "assistant_id",
    "run_id",
    "file_ids",
    "metadata",
];
/// `MessageFileObject`.
pub const MESSAGE_FILE_KEYS: &[&str] = &["id", "object", "created_at", "message_id"];
/// `RunObject`.
pub const RUN_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "thread_id",
    "assistant_id",
    "status",
    "required_action",
    "last_error",
    "expires_at",
    "started_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "incomplete_details",
    "model",
    "instructions",
    "tools",
    "file_ids",
    "metadata",
    "usage",
    "temperature",
    "top_p",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "response_format",
];
/// `RunStepObject`.
pub const STEP_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "assistant_id",
    "thread_id",
    "run_id",
    "type",
    "status",
    "step_details",
    "last_error",
    "expired_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "metadata",
    "usage",
];
/// `OpenAIFile`.
pub const FILE_KEYS: &[&str] = &[
    "id",
    "bytes",
    "created_at",
    "filename",
    "object",
    "purpose",
    "status",
    "status_details",
    "expires_at",
];
/// Delete responses.
pub const DELETED_KEYS: &[&str] = &["id", "object", "deleted"];
/// Cursor-paged list envelopes.
pub const LIST_KEYS: &[&str] = &["object", "data", "first_id", "last_id", "has_more"];

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The HTTP client (keep-alive).
    pub http: reqwest::Client,
    /// The key used by [`TestApp::call`].
    pub key: String,
    /// The server's data directory (database and file bytes).
    pub data_dir: PathBuf,
    server: Option<RunningServer>,
    settings: Settings,
    db_url: String,
    _pg: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

/// Builds a [`TestApp`] with non-default settings.
pub struct TestAppBuilder {
    settings: Settings,
    dir: tempfile::TempDir,
}

impl TestAppBuilder {
    /// Changes the settings.
    pub fn with(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(&mut self.settings);
        self
    }

    /// Starts the server: on a fresh SQLite file, or on a fresh PostgreSQL database when
    /// `ASSISTD_TEST_DATABASE=postgres` (the test command runs this suite both ways).
    pub async fn spawn(mut self) -> TestApp {
        let data_dir = self.settings.data_dir.clone();
        let pg = match std::env::var("ASSISTD_TEST_DATABASE").as_deref() {
            Ok("postgres") if self.settings.database_url.is_none() => {
                let db = TestDatabase::create().await;
                self.settings.database_url = Some(DatabaseUrl(db.url()));
                Some(db)
            }
            _ => None,
        };
        let db_url = self.settings.database_url();
        let server = start(self.settings.clone()).await.expect("server starts");
        TestApp {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::new(),
            key: KEY_A.to_owned(),
            data_dir,
            server: Some(server),
            settings: self.settings,
            db_url,
            _pg: pg,
            _dir: self.dir,
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when not JSON).
    pub json: Value,
    /// Raw body.
    pub bytes: Vec<u8>,
}

impl Resp {
    /// Asserts 200 and returns the JSON.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.json);
        self.json
    }

    /// Asserts an error envelope with `status`, returning `error`.
    #[track_caller]
    pub fn err(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.json);
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "error content type {ct:?}"
        );
        let top = self.json.as_object().expect("error body is an object");
        assert_eq!(top.len(), 1, "only `error` at the top: {}", self.json);
        let e = &self.json["error"];
        let obj = e
            .as_object()
            .unwrap_or_else(|| panic!("no envelope: {}", self.json));
        for k in ["message", "type", "param", "code"] {
            assert!(obj.contains_key(k), "missing {k} in {}", self.json);
        }
        assert_eq!(obj.len(), 4, "exactly four keys: {}", self.json);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(e["param"].is_null() || e["param"].is_string());
        assert!(e["code"].is_null() || e["code"].is_string());
        e.clone()
    }

    /// Asserts a 400 whose `param` is `param`, returning `error`.
    #[track_caller]
    pub fn bad(self, param: &str) -> Value {
        let e = self.err(400);
        assert_eq!(e["param"], json!(param), "error: {e}");
        assert_eq!(e["type"], "invalid_request_error");
        e
    }

    /// Asserts a 404 whose message is OpenAI's `No <kind> found with id '<id>'.`.
    #[track_caller]
    pub fn not_found(self, kind: &str, id: &str) -> Value {
        let e = self.err(404);
        assert_eq!(
            e["message"],
            json!(format!("No {kind} found with id '{id}'.")),
            "error: {e}"
        );
        assert_eq!(e["type"], "invalid_request_error");
        e
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Uids no other test server uses at the same time: apart by process and by server.
fn sandbox_uid_base() -> u32 {
    static SERVERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let server = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 64;
    1_000_000_000 + (std::process::id() % 100_000) * 1024 + server * 16
}

impl TestApp {
    /// A builder with two API keys (projects A and B) and a fresh data directory.
    pub fn builder() -> TestAppBuilder {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().to_path_buf(),
            api_keys: vec![ApiKey::Key(KEY_A.into()), ApiKey::Key(KEY_B.into())],
            // API only: runs stay as the API left them (`queued`, ...); tests that need the
            // engine's transitions play it through `TestApp::store`.
            workers: 0,
            ..Settings::default()
        };
        let mut settings = settings;
        // The built-in model only where a test asks for it (`local_model` module).
        settings.local_model.enabled = Some(false);
        // Lexical search only where a test asks for embeddings (a route to the fake upstream).
        settings.embeddings.enabled = Some(false);
        // The sandbox's Python where the test command made one (else runs with the tool fail
        // with the reason), checked at the first call, not at every test's start; each server
        // its own uids, as servers sharing a host must.
        settings.code_interpreter.python =
            std::env::var_os("ASSISTD_TEST_SANDBOX_PYTHON").map(std::path::PathBuf::from);
        settings.code_interpreter.check_at_start = false;
        settings.code_interpreter.uid_base = sandbox_uid_base();
        TestAppBuilder { settings, dir }
    }

    /// The default test server.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// The same server, spoken to with another key.
    pub fn as_key(&self, key: &str) -> TestAppRef<'_> {
        TestAppRef {
            app: self,
            key: key.to_owned(),
            beta: "assistants=v1",
        }
    }

    /// The same server, spoken to as an Assistants v2 client (`OpenAI-Beta: assistants=v2`).
    pub fn v2(&self) -> TestAppRef<'_> {
        TestAppRef {
            app: self,
            key: self.key.clone(),
            beta: "assistants=v2",
        }
    }

    /// A request to `/v1{path}` with the default key and `OpenAI-Beta: assistants=v2`.
    pub fn request_v2(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.key, "assistants=v2", method, path)
    }

    /// Runs that have a stream channel in the server (each `stream: true` request holds one
    /// while it streams).
    pub fn stream_channels(&self) -> usize {
        self.server.as_ref().map_or(0, |s| s.events().len())
    }

    /// `/v1{path}` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.base)
    }

    /// A request to `/v1{path}` with the default key and `OpenAI-Beta: assistants=v1`, for
    /// tests that need to shape it by hand.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.key, "assistants=v1", method, path)
    }

    /// A request to `/v1{path}` with `key` and `OpenAI-Beta: {beta}`.
    fn request_as(&self, key: &str, beta: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(key)
            .header("OpenAI-Beta", beta)
    }

    /// Sends a hand-made request.
    pub async fn run_request(&self, req: RequestBuilder) -> Resp {
        read(req.send().await.expect("request sent")).await
    }

    /// Sends a request with the default key; `body` is sent as JSON when given.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send(&self.key, method, path, body).await
    }

    /// `GET`
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `DELETE`
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends a request with `key`.
    pub async fn send(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send_as(key, "assistants=v1", method, path, body).await
    }

    /// Sends a request with `key` and `OpenAI-Beta: {beta}`.
    pub async fn send_as(
        &self,
        key: &str,
        beta: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.request_as(key, beta, method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// Uploads `bytes` as `filename` with `purpose`.
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>, purpose: &str) -> Resp {
        self.upload_with_key(&self.key, filename, bytes, purpose)
            .await
    }

    /// Uploads with `key`.
    pub async fn upload_with_key(
        &self,
        key: &str,
        filename: &str,
        bytes: Vec<u8>,
        purpose: &str,
    ) -> Resp {
        let form = reqwest::multipart::Form::new()
            .text("purpose", purpose.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
            );
        let req = self
            .http
            .post(self.url("/files"))
            .bearer_auth(key)
            .multipart(form);
        read(req.send().await.expect("request sent")).await
    }

    /// Creates an assistant and returns its id.
    pub async fn assistant(&self) -> String {
        self.as_key(&self.key).assistant().await
    }

    /// Creates an empty thread and returns its id.
    pub async fn thread(&self) -> String {
        self.as_key(&self.key).thread().await
    }

    /// Uploads a small `assistants` file and returns its id.
    pub async fn file(&self) -> String {
        self.as_key(&self.key).file().await
    }

    /// Adds a user message `content` to `thread` and returns its id.
    pub async fn message(&self, thread: &str, content: &str) -> String {
        id_of(
            &self
                .post(
                    &format!("/threads/{thread}/messages"),
                    json!({"role": "user", "content": content}),
                )
                .await
                .ok(),
        )
    }

    /// Creates a run of `assistant` on `thread` and returns it.
    pub async fn run(&self, thread: &str, assistant: &str) -> Value {
        self.post(
            &format!("/threads/{thread}/runs"),
            json!({ "assistant_id": assistant }),
        )
        .await
        .ok()
    }

    /// Cancels a queued run (a thread takes a new run or message only once its run ended).
    pub async fn cancel(&self, thread: &str, run: &str) -> Value {
        let c = self
            .post(&format!("/threads/{thread}/runs/{run}/cancel"), json!({}))
            .await
            .ok();
        assert_eq!(c["status"], "cancelled");
        c
    }

    /// The project of `key`.
    pub fn project(key: &str) -> Project {
        Project::new(ApiKey::Key(key.to_owned()).project())
    }

    /// A second handle on the server's database, standing in for the run engine.
    pub async fn store(&self) -> std::sync::Arc<dyn Store> {
        let settings = Settings {
            database_url: Some(DatabaseUrl(self.db_url.clone())),
            data_dir: self.data_dir.clone(),
            ..Settings::default()
        };
        assistd_server::app::open_database(&settings)
            .await
            .expect("second connection to the database")
            .store
    }

    /// The embedding model that built vector store `vs` (of the default key's project), as the
    /// database records it; no endpoint shows it.
    pub async fn embedding_model_of(&self, vs: &str) -> Option<String> {
        self.store()
            .await
            .index_state(&Self::project(KEY_A), &vs.into())
            .await
            .expect("index state")
            .expect("the store")
            .model
    }

    /// A raw connection on the server's database, for states no endpoint can produce.
    pub async fn db(&self) -> Db {
        if self.db_url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = self.db_url.parse().expect("sqlite url");
            Db::Sqlite(
                sqlx::SqlitePool::connect_with(
                    opts.busy_timeout(std::time::Duration::from_secs(10)),
                )
                .await
                .expect("raw connection to the database"),
            )
        } else {
            Db::Pg(
                sqlx::PgPool::connect(&self.db_url)
                    .await
                    .expect("raw connection to the database"),
            )
        }
    }

    /// Plays the run engine: puts `run` (queued) in `requires_action` with one function call
    /// per `(name, arguments)`, returning the id of the `tool_calls` step it records.
    ///
    /// `EngineStore::claim_run` takes the oldest queued run of the whole database, which need
    /// not be `run`, so the claim of `run` is written directly; the transition itself goes
    /// through `EngineStore::require_action`.
    pub async fn require_action(&self, thread: &str, run: &str, calls: &[(&str, &str)]) -> String {
        const WORKER: &str = "test-engine";
        let now_ms: i64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis()
            .try_into()
            .expect("milliseconds since 1970 fit an i64");
        let db = self.db().await;
        let claimed = db
            .exec(
                "UPDATE runs SET status = 'in_progress', started_at = COALESCE(started_at, $1), \
                 lease_owner = $2, lease_expires_at = $3, attempts = attempts + 1 \
                 WHERE id = $4 AND status = 'queued'",
                &[
                    Arg::Int(now_ms / 1000),
                    Arg::Text(WORKER),
                    Arg::Int(now_ms + 60_000),
                    Arg::Text(run),
                ],
            )
            .await;
        db.close().await;
        assert_eq!(claimed, 1, "run {run} is not queued");
        let project = Self::project(&self.key);
        let store = self.store().await;
        let current = store
            .get_run(&project, &ThreadId::from(thread), &RunId::from(run))
            .await
            .expect("claimed run");
        let calls = calls
            .iter()
            .map(|(name, arguments)| FunctionCall {
                name: (*name).to_owned(),
                arguments: (*arguments).to_owned(),
            })
            .collect();
        store
            .require_action(&current, WORKER, calls, Usage::default())
            .await
            .expect("require_action")
            .expect("lease held");
        let step = store
            .run_steps(&project, &RunId::from(run))
            .await
            .expect("run steps")
            .pop()
            .expect("the tool_calls step");
        step.id.into_string()
    }

    /// Stops the server gracefully and starts it again on the same database and data
    /// directory (on a new port).
    pub async fn restart(mut self) -> TestApp {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
        let server = start(self.settings.clone()).await.expect("server restarts");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
        self
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }
}

/// A raw connection on a test server's database.
pub enum Db {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Pg(sqlx::PgPool),
}

/// A bound value of [`Db::exec`].
pub enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// An integer.
    Int(i64),
}

impl Db {
    /// Runs `sql` (placeholders `$1`, `$2`...: both backends take them), returning the rows
    /// it changed.
    pub async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> u64 {
        macro_rules! bind_all {
            ($q:expr) => {{
                let mut q = $q;
                for a in args {
                    q = match a {
                        Arg::Text(t) => q.bind(*t),
                        Arg::Int(i) => q.bind(*i),
                    };
                }
                q
            }};
        }
        match self {
            Db::Sqlite(p) => bind_all!(sqlx::query(sql))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Db::Pg(p) => bind_all!(sqlx::query(sql))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Closes the connection.
    pub async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

/// A [`TestApp`] with another key or API version.
pub struct TestAppRef<'a> {
    app: &'a TestApp,
    key: String,
    beta: &'static str,
}

impl TestAppRef<'_> {
    /// Sends a request with this key and version.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.app
            .send_as(&self.key, self.beta, method, path, body)
            .await
    }

    /// `GET`
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// `POST`
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `DELETE`
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Uploads a file with this key.
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>, purpose: &str) -> Resp {
        self.app
            .upload_with_key(&self.key, filename, bytes, purpose)
            .await
    }

    /// Creates an assistant and returns its id.
    pub async fn assistant(&self) -> String {
        id_of(
            &self
                .post("/assistants", json!({"model": "gpt-4"}))
                .await
                .ok(),
        )
    }

    /// Creates an empty thread and returns its id.
    pub async fn thread(&self) -> String {
        id_of(&self.post("/threads", json!({})).await.ok())
    }

    /// Uploads a small `assistants` file and returns its id.
    pub async fn file(&self) -> String {
        id_of(
            &self
                .upload("notes.txt", b"hello".to_vec(), "assistants")
                .await
                .ok(),
        )
    }
}

/// Reads a response whole.
pub async fn read(res: reqwest::Response) -> Resp {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body").to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        json,
        bytes,
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .try_into()
        .expect("seconds since 1970 fit an i64")
}

/// The `id` of an object.
#[track_caller]
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// The ids in a list's `data`.
#[track_caller]
pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// Asserts that `v` is an object with exactly `keys`.
#[track_caller]
pub fn assert_keys(v: &Value, keys: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {v}");
}

/// Asserts an id with `prefix` followed by something.
#[track_caller]
pub fn assert_id(v: &Value, prefix: &str) {
    let id = v.as_str().unwrap_or_else(|| panic!("id not a string: {v}"));
    assert!(
        id.starts_with(prefix) && id.len() > prefix.len() + 8,
        "id {id} should start with {prefix}"
    );
    assert!(
        id[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()),
        "id {id}"
    );
}

/// Asserts a plausible Unix-seconds timestamp: an integer within the last ten minutes.
#[track_caller]
pub fn assert_ts(v: &Value) {
    let t = v
        .as_i64()
        .unwrap_or_else(|| panic!("timestamp not an integer: {v}"));
    let now = unix_now();
    assert!(
        (now - 600..=now + 1).contains(&t),
        "timestamp {t} not near now ({now})"
    );
}

/// Asserts a cursor-list envelope consistent with its data, returning the ids.
#[track_caller]
pub fn assert_list(v: &Value) -> Vec<String> {
    assert_keys(v, LIST_KEYS);
    assert_eq!(v["object"], "list");
    assert!(v["has_more"].is_boolean());
    let ids = ids(v);
    if let (Some(f), Some(l)) = (ids.first(), ids.last()) {
        assert_eq!(v["first_id"], json!(f));
        assert_eq!(v["last_id"], json!(l));
    } else {
        assert!(v["first_id"].is_null(), "{v}");
        assert!(v["last_id"].is_null(), "{v}");
        assert_eq!(v["has_more"], false, "{v}");
    }
    ids
}

/// Asserts a delete response.
#[track_caller]
pub fn assert_deleted(v: &Value, id: &str, object: &str) {
    assert_keys(v, DELETED_KEYS);
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["object"], json!(object));
    assert_eq!(v["deleted"], true);
}

/// Every regular file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `n` characters.
pub fn chars(n: usize) -> String {
    "x".repeat(n)
}

/// A metadata map with `n` pairs.
pub fn metadata_pairs(n: usize) -> Value {
    let map: serde_json::Map<String, Value> = (0..n)
        .map(|i| (format!("k{i}"), Value::String(format!("v{i}"))))
        .collect();
    Value::Object(map)
}

/// A function tool named `name`.
pub fn function_tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name}})
}

/// `n` function tools with distinct names.
pub fn function_tools(n: usize) -> Value {
    Value::Array((0..n).map(|i| function_tool(&format!("fn_{i}"))).collect())
}
