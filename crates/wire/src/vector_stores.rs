//! Vector stores, their files and file batches (v2 only; the same shape under either header).
