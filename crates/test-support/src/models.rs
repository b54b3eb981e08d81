//! The built-in model's weights for tests that run the real model.
//!
//! The test command fetches them with `assistd fetch-model --data-dir target/test-data` and names
//! the file in `ASSISTD_TEST_MODEL`; a test run without it (plain `cargo nextest run`) fetches
//! them into the same place. nextest runs
//! each test as its own process, so the fetch happens under a file lock and the others wait for
//! it rather than download the same 98 MB again.

use assistd_local_model::{DEFAULT_INDEX_URL, MINILM_L6_V2, SMOLLM2_135M};
use std::path::PathBuf;

/// The cargo target directory of this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

/// The verified GGUF file of the built-in model, fetched if needed.
pub async fn built_in_model() -> PathBuf {
    if let Some(path) = std::env::var_os("ASSISTD_TEST_MODEL") {
        return PathBuf::from(path);
    }
    let dir = target_dir().join("test-data/models");
    std::fs::create_dir_all(&dir).expect("create target/test-data/models");
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
    lock.lock().expect("lock target/test-data/models");
    let path = SMOLLM2_135M
        .ensure(&dir, DEFAULT_INDEX_URL)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the built-in model's weights are needed by this test and could not be fetched \
                 ({e}); set ASSISTD_TEST_MODEL to a copy of {}",
                SMOLLM2_135M.file_name
            )
        });
    drop(lock);
    path
}

/// The verified GGUF file of the built-in embedding model (`ASSISTD_TEST_EMBEDDING_MODEL`, set
/// by the test command), else fetched and converted into `target/test-data/models` under the
/// same lock.
pub async fn built_in_embedding_model() -> PathBuf {
    if let Some(path) = std::env::var_os("ASSISTD_TEST_EMBEDDING_MODEL") {
        return PathBuf::from(path);
    }
    let dir = target_dir().join("test-data/models");
    std::fs::create_dir_all(&dir).expect("create target/test-data/models");
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
    lock.lock().expect("lock target/test-data/models");
    let path = MINILM_L6_V2
        .ensure(&dir, DEFAULT_INDEX_URL)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the embedding model is needed by this test and could not be fetched ({e}); set \
                 ASSISTD_TEST_EMBEDDING_MODEL to a copy of {}",
                MINILM_L6_V2.file_name
            )
        });
    drop(lock);
    path
}
