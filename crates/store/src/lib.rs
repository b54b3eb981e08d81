//! The assistd store: one implementation of the store traits (`assistd_core::Store`) for two
//! databases, SQLite (WAL, embedded) and PostgreSQL (several instances on one database).
//!
//! The store's logic and its queries are written once, in `src/sql/`, against a small
//! *dialect* that each backend supplies (`sqlite/dialect.rs`, `postgres/dialect.rs`): its
//! connection types and pools, row locks, the run-claim pick, the database clock, JSON array
//! expressions, the page of messages built as one JSON array, and how driver errors map. Each
//! backend module mounts `src/sql/` over its own dialect (`#[path]`), so the same source is
//! compiled once per database with concrete sqlx types — see ARCHITECTURE.md, "One store, two
//! dialects", for why this and not sqlx's `Any` driver or a query builder.

#![expect(
    clippy::duplicate_mod,
    reason = "src/sql is mounted once per backend on purpose: one source, compiled per dialect"
)]

mod failure;
mod lane;
mod lock;
mod pool;
pub mod postgres;
pub mod sqlite;

pub use postgres::{PgRelay, PgSignals, PostgresSettings, PostgresStore};
pub use sqlite::{SqliteSettings, SqliteStore};
