-- Dense search, validated cheaply: each instance keeps a store's vectors in memory and asks the database only
-- what changed since it last looked.
--
-- `index_version` (0008) now counts embedding writes: each batch of vectors written takes the next version and
-- stamps its chunks with it, so a cache loads only chunks with a newer `embedded_version`. Removing chunks
-- cannot be seen that way, so it bumps `chunks_generation` instead, and a cache of an older generation is
-- rebuilt whole.
ALTER TABLE vector_stores ADD COLUMN chunks_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vector_store_chunks ADD COLUMN embedded_version INTEGER;
CREATE INDEX vector_store_chunks_by_version ON vector_store_chunks (vector_store_id, embedded_version, seq);

-- Ingestion in two claimed steps: a file's row is claimed to extract and index it (`indexed_at` NULL), then
-- claimed again to embed its chunks (`indexed_at` set), so parsing never waits behind another file's embeddings.
ALTER TABLE vector_store_files ADD COLUMN indexed_at INTEGER;
