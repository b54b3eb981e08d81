-- file_search: the chunks of each file in each vector store, their lexical index (a generated tsvector with a
-- GIN index, ranked by ts_rank_cd) and their optional dense vector (little-endian f32 in bytea, brute-force
-- cosine in process: pgvector is not required).
--
-- Text search configuration: 'english' (stemming + stop words) to match SQLite's porter tokenizer, so both
-- backends rank the same queries alike; chunk text is overwhelmingly prose.

-- See the SQLite migration for the meaning of these columns.
ALTER TABLE vector_stores ADD COLUMN embedding_model TEXT;
ALTER TABLE vector_stores ADD COLUMN index_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE vector_store_chunks (
    seq             BIGSERIAL PRIMARY KEY,
    project         TEXT    NOT NULL,
    vector_store_id TEXT    NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    file_id         TEXT    NOT NULL,
    chunk_index     BIGINT  NOT NULL,
    text            TEXT    NOT NULL,
    start_char      BIGINT  NOT NULL,
    end_char        BIGINT  NOT NULL,
    tokens          BIGINT  NOT NULL,
    embedding       BYTEA,
    text_search     TSVECTOR GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
    UNIQUE (vector_store_id, file_id, chunk_index)
);
CREATE INDEX vector_store_chunks_by_file ON vector_store_chunks (file_id);
CREATE INDEX vector_store_chunks_text_search ON vector_store_chunks USING GIN (text_search);
