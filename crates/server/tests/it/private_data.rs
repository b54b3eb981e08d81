//! What the server leaves on disk: private modes whatever the umask, deleted rows overwritten,
//! and download names that cannot spoof.

use crate::common::{Db, TestApp, id_of};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Under a permissive umask, the data directory, the file store, the SQLite database and the
/// stored bytes are still private.
#[tokio::test]
async fn data_directory_and_files_are_private_whatever_the_umask() {
    // A umask that lets others read (the common default); `it` runs each test in its own
    // process under nextest, and elsewhere it only matches the usual default.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let parent = tempfile::tempdir().expect("tempdir");
    let data_dir = parent.path().join("data");
    let app = TestApp::builder()
        .with(|s| s.data_dir.clone_from(&data_dir))
        .spawn()
        .await;
    let file = id_of(
        &app.upload("a.txt", b"secret".to_vec(), "assistants")
            .await
            .ok(),
    );
    assert_eq!(mode(&data_dir), 0o700, "data directory");
    assert_eq!(mode(&data_dir.join("files")), 0o700, "file store");
    let stored: Vec<_> = crate::common::files_under(&data_dir.join("files"));
    let bytes = stored
        .iter()
        .find(|p| p.to_string_lossy().ends_with(&file))
        .unwrap_or_else(|| panic!("the stored bytes of {file} in {stored:?}"));
    assert_eq!(mode(bytes), 0o600, "stored bytes");
    if matches!(app.db().await, Db::Sqlite(_)) {
        assert_eq!(mode(&data_dir.join("assistd.db")), 0o600, "database");
        for side in ["assistd.db-wal", "assistd.db-shm"] {
            let p = data_dir.join(side);
            if p.exists() {
                assert_eq!(mode(&p), 0o600, "{side}");
            }
        }
    }
}

/// A deleted thread's messages are overwritten in the SQLite file, not left in free space.
#[tokio::test]
async fn deleted_messages_are_gone_from_the_sqlite_file() {
    let app = TestApp::spawn().await;
    let Db::Sqlite(pool) = app.db().await else {
        return; // PostgreSQL: VACUUM's business, not the server's.
    };
    let marker = "zq-deleted-secret-7f3a9c";
    let thread = app.thread().await;
    for n in [1, 600] {
        app.message(&thread, &marker.repeat(n)).await;
    }
    let kept = app.thread().await;
    app.message(&kept, "zq-kept-text").await;
    app.delete(&format!("/threads/{thread}")).await.ok();
    // Every page back in the main file, and the write-ahead log emptied.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("checkpoint");
    let mut on_disk = Vec::new();
    for f in ["assistd.db", "assistd.db-wal"] {
        if let Ok(b) = std::fs::read(app.data_dir.join(f)) {
            on_disk.extend(b);
        }
    }
    let contains = |needle: &str| {
        on_disk
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(contains("zq-kept-text"), "the scan reads the live rows");
    assert!(!contains(marker), "deleted text still in the database file");
}

/// Downloads name the file exactly in `filename*` (RFC 6266), and the plain `filename` holds no
/// bidi override or other non-ASCII character.
#[tokio::test]
async fn download_names_use_rfc6266_and_cannot_be_reordered() {
    let app = TestApp::spawn().await;
    let name = "invoice_\u{202e}fdp.exe";
    let file = id_of(&app.upload(name, b"x".to_vec(), "assistants").await.ok());
    let res = app.get(&format!("/files/{file}/content")).await;
    assert_eq!(res.status, 200);
    let cd = res
        .header("content-disposition")
        .expect("content-disposition");
    assert_eq!(
        cd,
        "attachment; filename=\"invoice__fdp.exe\"; filename*=UTF-8''invoice_%E2%80%AEfdp.exe"
    );
}
