//! Row locks a transaction may ask for. PostgreSQL runs writers concurrently, so a
//! check-then-write needs the row locked first; SQLite has one writer at a time, and its
//! dialect turns every lock into nothing.

/// A row lock, named after PostgreSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// `FOR UPDATE`: the row is about to change in a way that depends on what was read.
    Update,
    /// `FOR NO KEY UPDATE`: like `Update`, without blocking foreign-key checks of rows that
    /// reference this one (a worker's message in the thread).
    NoKeyUpdate,
    /// `FOR SHARE`: no change to the row until the transaction ends; other sharers go on.
    Share,
    /// `FOR KEY SHARE`: the row must not be deleted until the transaction ends.
    KeyShare,
    /// `FOR UPDATE SKIP LOCKED`: take rows no other transaction holds (queue claims).
    UpdateSkipLocked,
}
