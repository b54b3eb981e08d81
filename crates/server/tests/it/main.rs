//! HTTP integration tests: the real server on port 0 against a fresh database per test (a SQLite
//! file, or a PostgreSQL database with `ASSISTD_TEST_DATABASE=postgres`), spoken to over real
//! sockets.

#![expect(
    clippy::too_many_lines,
    reason = "each test is one scenario told from start to end; split, it would read worse"
)]

mod assistant_files;
mod assistants;
mod code_interpreter;
mod common;
mod connections;
mod crash;
mod engine;
mod errors;
mod file_search_runs;
mod files;
mod hybrid_search;
mod lists;
mod local_model;
mod memory;
mod messages;
mod ops;
mod playground;
mod private_data;
mod quotas;
mod runs;
mod s3;
mod scale;
mod server;
mod smoke;
mod streaming;
mod tenancy;
mod threads;
mod v2_assistants_threads;
mod v2_messages;
mod v2_runs;
mod v2_streaming;
mod validation;
mod vector_stores;
mod versions;
mod visible;
