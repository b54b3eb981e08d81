//! The floor: what the hardware and the libraries allow, measured in the same run so every
//! assistd figure reads as a ratio.
//!
//! - A minimal axum handler doing the same SQLite write as `POST /threads/{id}/messages` (same
//!   WAL settings, one writer connection, JSON in and out), on a runtime of its own with the
//!   same two worker threads the server gets.
//! - The fake upstream streamed directly, without assistd in between.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;

#[derive(Deserialize)]
struct NewMessage {
    role: String,
    content: String,
}

#[derive(Serialize)]
struct Created {
    id: String,
    object: &'static str,
    thread_id: String,
    role: String,
    content: String,
}

async fn create(
    State(pool): State<sqlx::SqlitePool>,
    Path(thread): Path<String>,
    Json(m): Json<NewMessage>,
) -> Result<Json<Created>, axum::http::StatusCode> {
    let id = format!("msg_{:024x}", rand_id());
    sqlx::query("INSERT INTO messages (id, thread_id, role, content) VALUES (?, ?, ?, ?)")
        .bind(&id)
        .bind(&thread)
        .bind(&m.role)
        .bind(&m.content)
        .execute(&pool)
        .await
        .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(Created {
        id,
        object: "thread.message",
        thread_id: thread,
        role: m.role,
        content: m.content,
    }))
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed)) * 0x9E37_79B9_7F4A_7C15
}

/// Starts the floor server on 127.0.0.1, port 0, with its database in `dir`; returns its
/// address.
pub fn start_sqlite_floor(dir: std::path::PathBuf) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("floor".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::anyhow!(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let setup = async {
                    let opts = SqliteConnectOptions::from_str(&format!(
                        "sqlite://{}",
                        dir.join("floor.db").display()
                    ))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal);
                    let pool = SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(opts)
                        .await?;
                    sqlx::query(
                        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                         id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL, role TEXT NOT NULL, \
                         content TEXT NOT NULL)",
                    )
                    .execute(&pool)
                    .await?;
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    anyhow::Ok((pool, listener))
                };
                match setup.await {
                    Ok((pool, listener)) => {
                        let addr = listener.local_addr().map(|a| a.to_string());
                        let _ = tx.send(addr.map_err(Into::into));
                        let app = Router::new()
                            .route("/v1/threads/{thread}/messages", post(create))
                            .with_state(pool);
                        let _ = axum::serve(listener, app).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    rx.recv()?
}
