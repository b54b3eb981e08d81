//! Test support shared by every crate: the store contract suite.

pub mod contract;
