//! Test support shared by every crate: the store contract suite, and a fake OpenAI-compatible
//! upstream for run tests.

pub mod contract;
pub mod upstream;
