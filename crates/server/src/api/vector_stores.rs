//! Vector stores, their files and file batches (`/vector_stores`).
