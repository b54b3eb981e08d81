//! The ingestion loop: claims files added to vector stores under a lease and ingests them.
