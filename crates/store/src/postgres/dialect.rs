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

/// A `WITH` clause may hold writes (data-modifying CTEs): writes that go together can be one
/// statement, one round trip, atomic without a transaction of its own.
pub(crate) const WRITES_IN_WITH: bool = true;

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

/// The integer at `key` of the JSON object in `col`.
pub(crate) fn json_int(col: &str, key: &str) -> String {
    format!("({col} ->> '{key}')::BIGINT")
}

/// The function that builds a JSON object of its key and value arguments.
pub(crate) const JSON_OBJECT: &str = "jsonb_build_object";

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
    crate::failure::classify(boxed, unavailable)
}

/// Whether a SQLSTATE says the server is out of reach for now: a connection exception (class
/// 08, but not 08P01, a protocol violation, which retrying repeats), too many connections
/// (53300), a shutdown or a restart under way (57P01–57P03), or a session ended for idling
/// (57P05).
fn unavailable(code: &str) -> bool {
    (code.starts_with("08") && code != "08P01")
        || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "57P05")
}

/// The chunks of one store matching a query (`$1`, from [`chunk_query`]) best first, with their
/// raw relevance: `ts_rank_cd` over the `english` configuration.
pub(crate) const CHUNK_MATCH: &str = "SELECT c.seq, c.file_id, f.filename, vf.attributes, c.chunk_index, c.text, CAST(ts_rank_cd(c.text_search, q.q) AS DOUBLE PRECISION) AS raw \
     FROM vector_store_chunks c CROSS JOIN to_tsquery('english', $1) AS q (q) \
     JOIN vector_store_files vf ON vf.vector_store_id = c.vector_store_id AND vf.file_id = c.file_id \
     JOIN files f ON f.id = c.file_id \
     JOIN vector_stores vs ON vs.id = c.vector_store_id \
     WHERE c.text_search @@ q.q AND c.vector_store_id = $2 AND c.project = $3 AND vs.project = $3 \
       AND vf.status IN ('in_progress', 'completed') AND (vs.expires_at IS NULL OR vs.expires_at > $4) \
     ORDER BY raw DESC LIMIT $5";

/// A `to_tsquery` matching any of `terms` (plain words of letters and digits; each is quoted
/// as a literal, so nothing in them is query syntax).
pub(crate) fn chunk_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("'{}'", t.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `ts_rank_cd` of a good match is a few tenths: a raw score of `RANK_HALF` maps to 0.5.
pub(crate) const RANK_HALF: f64 = 0.1;

#[cfg(test)]
mod tests {
    use super::unavailable;

    #[test]
    fn unavailable_is_a_lost_or_refused_connection_not_a_failed_statement() {
        for code in [
            "08000", "08003", "08006", "53300", "57P01", "57P02", "57P03", "57P05",
        ] {
            assert!(unavailable(code), "{code}");
        }
        // A protocol violation, a statement timeout, a unique violation, a serialization
        // failure, disk full.
        for code in ["08P01", "57014", "23505", "40001", "53100"] {
            assert!(!unavailable(code), "{code}");
        }
    }
}
