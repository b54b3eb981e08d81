-- file_search: the chunks of each file in each vector store, their lexical index (FTS5, ranked by bm25())
-- and their optional dense vector (little-endian f32, brute-force cosine in process; no extension needed).

-- Which embedding model built the store's vectors (NULL: lexical only); dense search is used only when it
-- equals the configured embedder's model. `index_version` is bumped on every chunk change so each instance's
-- in-process vector cache can validate itself against the database.
ALTER TABLE vector_stores ADD COLUMN embedding_model TEXT;
ALTER TABLE vector_stores ADD COLUMN index_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE vector_store_chunks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    project         TEXT    NOT NULL,
    vector_store_id TEXT    NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    file_id         TEXT    NOT NULL,
    chunk_index     INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    start_char      INTEGER NOT NULL,
    end_char        INTEGER NOT NULL,
    tokens          INTEGER NOT NULL,
    -- NULL until embedded; a re-claimed ingestion embeds only the chunks still NULL.
    embedding       BLOB,
    UNIQUE (vector_store_id, file_id, chunk_index)
);
CREATE INDEX vector_store_chunks_by_file ON vector_store_chunks (file_id);

-- External-content FTS5 table over the chunk text, kept in step by triggers.
CREATE VIRTUAL TABLE vector_store_chunks_fts USING fts5 (
    text,
    content = 'vector_store_chunks',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER vector_store_chunks_ai AFTER INSERT ON vector_store_chunks BEGIN
    INSERT INTO vector_store_chunks_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER vector_store_chunks_ad AFTER DELETE ON vector_store_chunks BEGIN
    INSERT INTO vector_store_chunks_fts (vector_store_chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER vector_store_chunks_au AFTER UPDATE OF text ON vector_store_chunks BEGIN
    INSERT INTO vector_store_chunks_fts (vector_store_chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO vector_store_chunks_fts (rowid, text) VALUES (new.seq, new.text);
END;
