//! HTTP integration tests: the real server on port 0 against a fresh SQLite database per test,
//! spoken to over real sockets.

mod common;
mod smoke;
