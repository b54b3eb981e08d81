//! Vector stores, their files and batches, in SQL written once for both backends.
