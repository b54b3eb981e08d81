//! `TestApp`: a server on port 0 with its own data directory, and a client for it.

use assistd_server::app::{RunningServer, start};
use assistd_server::config::{ApiKey, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The key of the default project of a [`TestApp`].
pub const KEY_A: &str = "sk-test-project-a";
/// The key of a second, isolated project.
pub const KEY_B: &str = "sk-test-project-b";

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The HTTP client (keep-alive).
    pub http: reqwest::Client,
    /// The key used by [`TestApp::call`].
    pub key: String,
    server: Option<RunningServer>,
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

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        let server = start(self.settings).await.expect("server starts");
        TestApp {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::new(),
            key: KEY_A.to_owned(),
            server: Some(server),
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
        let e = &self.json["error"];
        let obj = e
            .as_object()
            .unwrap_or_else(|| panic!("no envelope: {}", self.json));
        for k in ["message", "type", "param", "code"] {
            assert!(obj.contains_key(k), "missing {k} in {}", self.json);
        }
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        e.clone()
    }
}

impl TestApp {
    /// A builder with two API keys (projects A and B) and a fresh data directory.
    pub fn builder() -> TestAppBuilder {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().to_path_buf(),
            api_keys: vec![ApiKey::Key(KEY_A.into()), ApiKey::Key(KEY_B.into())],
            ..Settings::default()
        };
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
        }
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
        let mut req = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .bearer_auth(key)
            .header("OpenAI-Beta", "assistants=v1");
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// Uploads `bytes` as `filename` with `purpose`.
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>, purpose: &str) -> Resp {
        let form = reqwest::multipart::Form::new()
            .text("purpose", purpose.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
            );
        let req = self
            .http
            .post(format!("{}/v1/files", self.base))
            .bearer_auth(&self.key)
            .multipart(form);
        read(req.send().await.expect("request sent")).await
    }

    /// Creates an assistant and returns its id.
    pub async fn assistant(&self) -> String {
        self.post("/assistants", serde_json::json!({"model": "gpt-4"}))
            .await
            .ok()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Creates an empty thread and returns its id.
    pub async fn thread(&self) -> String {
        self.post("/threads", serde_json::json!({})).await.ok()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Uploads a small `assistants` file and returns its id.
    pub async fn file(&self) -> String {
        self.upload("notes.txt", b"hello".to_vec(), "assistants")
            .await
            .ok()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }
}

/// A [`TestApp`] with another key.
pub struct TestAppRef<'a> {
    app: &'a TestApp,
    key: String,
}

impl TestAppRef<'_> {
    /// Sends a request with this key.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.app.send(&self.key, method, path, body).await
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
