//! Ingestion of files added to vector stores: the job, the outcome, and the `Ingester` seam that
//! the `file_search` work plugs into.
