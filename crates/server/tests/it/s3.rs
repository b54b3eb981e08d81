//! File bytes in S3: the Files API against a real S3-compatible server (moto's, started per
//! test as a child process), with the objects checked in the bucket itself; and start-up
//! refusing a bucket it cannot use.

use crate::common::*;
use assistd_server::app::start;
use assistd_server::config::Settings;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Dummy credentials: moto accepts any, and they must still be sent (signed requests).
const ACCESS_KEY_ID: &str = "AKIDASSISTDTEST";
const SECRET_ACCESS_KEY: &str = "assistd-test-secret-do-not-print";
/// The key prefix the server is given.
const PREFIX: &str = "some/prefix";

/// moto's S3 server on a free port, killed when dropped.
struct Moto {
    _child: Child,
    /// `http://127.0.0.1:PORT`
    endpoint: String,
    _logs: tempfile::TempDir,
}

impl Moto {
    /// Starts moto and waits until it answers.
    async fn start() -> Self {
        let bin = moto_server();
        let logs = tempfile::tempdir().expect("tempdir");
        let log_path = logs.path().join("moto.log");
        // A file, not a pipe: moto logs every request, and a pipe nobody reads fills up and
        // blocks it.
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let port = free_port();
        let mut child = Command::new(&bin)
            .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("moto status") {
                panic!(
                    "moto_server exited ({status}) before answering:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if http.get(&endpoint).send().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {endpoint} within 60 s:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            _child: child,
            endpoint,
            _logs: logs,
        }
    }

    /// Creates `bucket` (moto takes a plain `PUT /<bucket>`).
    async fn create_bucket(&self, bucket: &str) {
        let res = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(res.status().is_success(), "create bucket: {}", res.status());
    }

    /// The options that point a store at this server.
    fn options(&self) -> BTreeMap<String, String> {
        [
            ("endpoint", self.endpoint.as_str()),
            ("region", "us-east-1"),
            ("allow_http", "true"),
            ("access_key_id", ACCESS_KEY_ID),
            ("secret_access_key", SECRET_ACCESS_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A client of `bucket` of its own, to look behind the server's back.
    fn bucket(&self, bucket: &str) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .expect("S3 client for the test")
    }
}

/// `ASSISTD_TEST_MOTO`, else the repository's venv. Absent is a failure, not a skip: a test
/// that quietly does not run proves nothing.
fn moto_server() -> PathBuf {
    let path = std::env::var_os("ASSISTD_TEST_MOTO").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "moto_server not found at {}: run scripts/test (it installs moto[server] into .venv \
         from conformance/python/requirements.txt), or set ASSISTD_TEST_MOTO to a moto_server",
        path.display()
    );
    path
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Every key in `store` under `prefix`, sorted.
async fn keys(store: &impl ObjectStore, prefix: Option<&str>) -> Vec<String> {
    let prefix = prefix.map(ObjectPath::from);
    let mut keys: Vec<String> = store
        .list(prefix.as_ref())
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list the bucket");
    keys.sort();
    keys
}

/// Settings for a server that must fail to start: like `TestApp`'s, without the `TestApp`.
fn bare_settings(dir: &tempfile::TempDir) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().to_path_buf(),
        workers: 0,
        ..Settings::default()
    };
    s.local_model.enabled = Some(false);
    s
}

#[tokio::test]
async fn s3_files_round_trip_through_the_bucket_under_the_prefix() {
    let moto = Moto::start().await;
    moto.create_bucket("assistd-files").await;
    let bucket = moto.bucket("assistd-files");
    let app = TestApp::builder()
        .with(|s| {
            s.file_storage_url = Some(format!("s3://assistd-files/{PREFIX}"));
            s.file_storage_options = assistd_server::config::StorageOptions(moto.options());
        })
        .spawn()
        .await;
    assert!(
        keys(&bucket, None).await.is_empty(),
        "the start-up probe leaves nothing behind"
    );

    // Every byte value, not valid UTF-8.
    let bytes: Vec<u8> = (0..70_000u32)
        .map(|i| u8::try_from(i * 7 % 256).expect("below 256"))
        .collect();
    let f = app
        .upload("blob.bin", bytes.clone(), "assistants")
        .await
        .ok();
    let id = id_of(&f);
    let key = format!("{PREFIX}/files/{id}");
    assert_eq!(keys(&bucket, None).await, vec![key.clone()]);
    let stored = bucket
        .get(&ObjectPath::from(key.as_str()))
        .await
        .expect("the object")
        .bytes()
        .await
        .expect("its bytes");
    assert_eq!(
        stored.as_ref(),
        bytes.as_slice(),
        "the bucket holds the bytes"
    );
    let res = app.get(&format!("/files/{id}/content")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.bytes, bytes, "download is byte-equal");

    // Larger than one 5 MiB part, so the upload takes several parts (S3's minimum part size
    // applies to all but the last).
    let big: Vec<u8> = (0..11 * 1024 * 1024u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let big_id = id_of(&app.upload("big.bin", big.clone(), "assistants").await.ok());
    let res = app.get(&format!("/files/{big_id}/content")).await;
    assert_eq!(res.status, 200);
    assert!(
        res.bytes == big,
        "the multi-part upload comes back byte-equal"
    );
    let empty_id = id_of(&app.upload("empty.txt", Vec::new(), "assistants").await.ok());
    let res = app.get(&format!("/files/{empty_id}/content")).await;
    assert_eq!(res.status, 200);
    assert!(res.bytes.is_empty());
    let mut all = vec![
        key.clone(),
        format!("{PREFIX}/files/{big_id}"),
        format!("{PREFIX}/files/{empty_id}"),
    ];
    all.sort();
    assert_eq!(keys(&bucket, Some(PREFIX)).await, all);

    let d = app.delete(&format!("/files/{id}")).await.ok();
    assert_deleted(&d, &id, "file");
    assert!(
        !keys(&bucket, None).await.contains(&key),
        "the object is gone after delete"
    );
    assert_eq!(keys(&bucket, None).await.len(), 2);
    app.get(&format!("/files/{id}/content")).await.err(404);
    app.get(&format!("/files/{id}")).await.err(404);
    assert!(
        files_under(&app.data_dir.join("files")).is_empty(),
        "nothing on local disk"
    );
    app.stop().await;
}

#[tokio::test]
async fn s3_missing_bucket_stops_start_up() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = bare_settings(&dir);
    settings.file_storage_url = Some("s3://no-such-bucket/p".to_owned());
    settings.file_storage_options = assistd_server::config::StorageOptions(moto.options());
    let Err(e) = start(settings).await else {
        panic!("the server started without its bucket");
    };
    let e = format!("{e:#}");
    assert!(
        e.contains("file_storage_url s3://no-such-bucket/p is not usable"),
        "{e}"
    );
    assert!(e.contains("the bucket does not exist"), "{e}");
    assert!(!e.contains(SECRET_ACCESS_KEY), "{e}");
}

#[tokio::test]
async fn s3_unreachable_endpoint_stops_the_binary_with_a_clear_error() {
    // Through the binary, so the options come from a real TOML file and what a user would see
    // (stderr, logs included) is what is checked. No S3 server needed: nothing listens.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("assistd.toml");
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(
        &config,
        format!(
            "[file_storage_options]\n\
             endpoint = \"{endpoint}\"\n\
             region = \"us-east-1\"\n\
             allow_http = true\n\
             access_key_id = \"{ACCESS_KEY_ID}\"\n\
             secret_access_key = \"{SECRET_ACCESS_KEY}\"\n"
        ),
    )
    .expect("write the config");
    let run = Command::new(env!("CARGO_BIN_EXE_assistd"))
        .env("ASSISTD_EMBEDDINGS_ENABLED", "false")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("ASSISTD_FILE_STORAGE_URL", "s3://assistd-files/p")
        .env("ASSISTD_WORKERS", "0")
        .env("ASSISTD_LOCAL_MODEL_ENABLED", "false")
        .env("RUST_LOG", "debug")
        .env_remove("ASSISTD_API_KEYS")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("assistd gives up on the endpoint within 120 s")
        .expect("assistd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "assistd started: {stdout}{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(
        stderr.contains("file_storage_url s3://assistd-files/p is not usable"),
        "{stderr}"
    );
    assert!(stderr.contains("endpoint"), "{stderr}");
    assert!(
        !stdout.contains(SECRET_ACCESS_KEY) && !stderr.contains(SECRET_ACCESS_KEY),
        "the secret key leaked: {stdout}{stderr}"
    );
}
