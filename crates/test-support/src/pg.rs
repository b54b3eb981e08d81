//! Fresh PostgreSQL databases for tests: one per test, created on the server named by
//! `ASSISTD_TEST_POSTGRES_URL` (default: the local server every development and CI machine has,
//! trust auth) and dropped when the guard goes out of scope.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;

/// The server the tests create their databases on.
pub fn server_url() -> String {
    std::env::var("ASSISTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped when the guard is.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database on the test server.
    pub async fn create() -> Self {
        let server = server_url();
        let name = format!("assistd_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("connect to the test server (ASSISTD_TEST_POSTGRES_URL)");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin
            .close()
            .await
            .expect("disconnect from the test server");
        Self { server, name }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        PgConnectOptions::from_str(&self.server)
            .expect("test server url")
            .database(&self.name)
            .to_url_lossy()
            .to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime cannot be blocked on from within: the
        // database is dropped from a thread with a runtime of its own. FORCE ends the
        // connections a pool dropped just before may still hold open.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
            .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database {} left behind: {e}", self.name),
            Err(_) => eprintln!(
                "test database {} left behind: dropping it panicked",
                self.name
            ),
        }
    }
}
