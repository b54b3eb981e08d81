//! Test support shared by every crate: the store contract suite, a fake OpenAI-compatible
//! upstream for run tests, and the built-in model's weights for the tests that run it.

pub mod contract;
pub mod models;
pub mod upstream;
