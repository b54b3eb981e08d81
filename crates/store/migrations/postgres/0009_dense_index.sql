-- Dense search, validated cheaply: see the SQLite migration of the same name.
ALTER TABLE vector_stores ADD COLUMN chunks_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vector_store_chunks ADD COLUMN embedded_version BIGINT;
CREATE INDEX vector_store_chunks_by_version ON vector_store_chunks (vector_store_id, embedded_version, seq);
ALTER TABLE vector_store_files ADD COLUMN indexed_at BIGINT;
