//! What SQLite says differently. One writer at a time: row locks are nothing, the single
//! writer connection already serializes every check-then-write.

use crate::lock::RowLock;
use assistd_core::StoreError;

/// The database.
pub(crate) type Db = sqlx::Sqlite;
/// A connection (in a transaction or not).
pub(crate) type Conn = sqlx::SqliteConnection;
/// The store the shared code implements the traits for.
pub(crate) type Store = super::SqliteStore;

/// Whether transactions that write run one at a time (so a check and the write after it cannot
/// interleave with another writer's, and fast paths that skip the check are safe).
pub(crate) const SINGLE_WRITER: bool = true;

/// SQLite's `WITH` holds only queries: writes that go together are statements of their own
/// (on the writer's own connection, in process: no network round trip to save).
pub(crate) const WRITES_IN_WITH: bool = false;

/// The database's clock, Unix milliseconds (one clock for every lease).
pub(crate) const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// SQLite has no row locks.
pub(crate) fn lock(_: RowLock) -> &'static str {
    ""
}

/// SQLite has no row locks, on any table of a join either.
pub(crate) fn lock_of(_: RowLock, _alias: &str) -> &'static str {
    ""
}

/// The JSON array of `expr` over a subquery's rows in `order` (`[]` for none). SQLite
/// aggregates in the order its subquery delivers, which orders by `order` already.
pub(crate) fn json_array_agg(expr: &str, _order: &str) -> String {
    format!("json_group_array({expr})")
}

/// The integer at `key` of the JSON object in `col`.
pub(crate) fn json_int(col: &str, key: &str) -> String {
    format!("json_extract({col}, '$.{key}')")
}

/// The function that builds a JSON object of its key and value arguments.
pub(crate) const JSON_OBJECT: &str = "json_object";

/// Whether the JSON array in column `col` holds the string bound at `param`.
pub(crate) fn json_array_contains(col: &str, param: &str) -> String {
    format!("EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {param})")
}

/// SQLite builds a page of messages as one JSON array itself: the page crosses from the
/// database thread in one value instead of one message per row and column. The message as a
/// JSON object with exactly the fields of `MessageObject`, and the aggregate over a page of
/// them (`obj`, in scan order).
pub(crate) const MESSAGE_JSON_PAGE: Option<(&str, &str)> = Some((
    "json_object('id', m.id, 'object', 'thread.message', 'created_at', m.created_at, \
     'thread_id', m.thread_id, 'status', m.status, \
     'incomplete_details', json(m.incomplete_details), 'completed_at', m.completed_at, \
     'incomplete_at', m.incomplete_at, 'role', m.role, 'content', json(m.content), \
     'assistant_id', m.assistant_id, 'run_id', m.run_id, 'file_ids', json(m.file_ids), \
     'attachments', json(m.attachments), 'metadata', json(m.metadata))",
    "json_group_array(json(obj))",
));

/// Wraps a driver error.
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    crate::failure::classify(Box::new(e), busy)
}

/// Whether an SQLite result code (sqlx gives the extended one) is `SQLITE_BUSY` or one of its
/// extended codes: another connection or process holds a lock the statement needs (past the
/// busy timeout, where one applies).
fn busy(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|c| c & 0xff == 5)
}

/// The chunks of one store matching a query (`$1`, from [`chunk_query`]) best first, with their
/// raw relevance: FTS5's `bm25()`, negated so that higher is better.
pub(crate) const CHUNK_MATCH: &str = "SELECT c.seq, c.file_id, f.filename, vf.attributes, c.chunk_index, c.text, -bm25(vector_store_chunks_fts) AS raw \
     FROM vector_store_chunks_fts JOIN vector_store_chunks c ON c.seq = vector_store_chunks_fts.rowid \
     JOIN vector_store_files vf ON vf.vector_store_id = c.vector_store_id AND vf.file_id = c.file_id \
     JOIN files f ON f.id = c.file_id \
     JOIN vector_stores vs ON vs.id = c.vector_store_id \
     WHERE vector_store_chunks_fts MATCH $1 AND c.vector_store_id = $2 AND c.project = $3 AND vs.project = $3 \
       AND vf.status IN ('in_progress', 'completed') AND (vs.expires_at IS NULL OR vs.expires_at > $4) \
     ORDER BY raw DESC LIMIT $5";

/// An FTS5 query matching any of `terms` (plain words, each quoted, so nothing in them is
/// query syntax).
pub(crate) fn chunk_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// `bm25()` of a good match is a few units: a raw score of `RANK_HALF` maps to 0.5.
pub(crate) const RANK_HALF: f64 = 5.0;

#[cfg(test)]
mod tests {
    use super::busy;

    #[test]
    fn busy_is_sqlite_busy_and_its_extended_codes() {
        // SQLITE_BUSY, _RECOVERY, _SNAPSHOT, _TIMEOUT.
        for code in ["5", "261", "517", "773"] {
            assert!(busy(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_LOCKED, SQLITE_CONSTRAINT_UNIQUE, a code that is no number.
        for code in ["1", "6", "2067", "x"] {
            assert!(!busy(code), "{code}");
        }
    }
}
