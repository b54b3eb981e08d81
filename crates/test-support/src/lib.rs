//! Test support shared by every crate: the store contract suite, a fake OpenAI-compatible
//! upstream for run tests, the built-in model's weights for the tests that run it, and fresh
//! PostgreSQL databases for the tests of that backend.

pub mod contract;
pub mod models;
pub mod pg;
pub mod upstream;
