//! What PostgreSQL says differently: writers run concurrently, so check-then-write
//! transactions lock rows; the clock is the database server's; NUL is refused in text.

use crate::lock::RowLock;
use assistd_core::StoreError;

/// The database.
pub(crate) type Db = sqlx::Postgres;
/// A connection (in a transaction or not).
pub(crate) type Conn = sqlx::PgConnection;
/// The store the shared code implements the traits for.
pub(crate) type Store = super::PostgresStore;

/// Writers run side by side: checks need row locks, and no fast path may skip them.
pub(crate) const SINGLE_WRITER: bool = false;

/// The database's clock, Unix milliseconds: workers in several processes, on several hosts,
/// compare leases against this one clock.
pub(crate) const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The row-lock clause.
pub(crate) fn lock(lock: RowLock) -> &'static str {
    match lock {
        RowLock::Update => " FOR UPDATE",
        RowLock::NoKeyUpdate => " FOR NO KEY UPDATE",
        RowLock::Share => " FOR SHARE",
        RowLock::KeyShare => " FOR KEY SHARE",
        RowLock::UpdateSkipLocked => " FOR UPDATE SKIP LOCKED",
    }
}

/// `lock` on the rows of `alias` only, in a query that joins other rows it must not lock.
pub(crate) fn lock_of(mode: RowLock, alias: &str) -> String {
    let clause = lock(mode);
    match clause.strip_suffix(" SKIP LOCKED") {
        Some(strength) => format!("{strength} OF {alias} SKIP LOCKED"),
        None => format!("{clause} OF {alias}"),
    }
}

/// The JSON array of `expr` over a subquery's rows in `order` (`[]` for none).
pub(crate) fn json_array_agg(expr: &str, order: &str) -> String {
    format!("COALESCE(jsonb_agg({expr} ORDER BY {order}), '[]'::jsonb)")
}

/// Whether the JSON array in column `col` holds the string bound at `param`.
pub(crate) fn json_array_contains(col: &str, param: &str) -> String {
    format!("{col} @> jsonb_build_array({param}::TEXT)")
}

/// Pages of messages come as rows: PostgreSQL sends rows in one round trip already.
pub(crate) const MESSAGE_JSON_PAGE: Option<(&str, &str)> = None;

/// Wraps a driver error.
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    // PostgreSQL refuses the NUL character in text and JSONB, which SQLite stores; it comes
    // from the client (an id in a path, a query parameter), so it is the client's error.
    if let Some(sqlx::Error::Database(db)) = boxed.downcast_ref::<sqlx::Error>()
        && matches!(db.code().as_deref(), Some("22021" | "22P05"))
    {
        return StoreError::invalid(
            "Invalid value: text cannot contain the null character (\\u0000).",
            None,
        );
    }
    StoreError::Backend(boxed)
}
