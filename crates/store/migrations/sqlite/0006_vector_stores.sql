-- Vector stores (Assistants v2), their files and file batches. Counts, `usage_bytes` and the
-- statuses of stores and batches are never stored: they are computed from `vector_store_files`
-- when read, so they add up at every moment. A file's row is also its ingestion job, claimed
-- under a lease (`lease_owner`, `lease_expires_at`, on the database's clock in milliseconds).
CREATE TABLE vector_stores (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    project        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    name           TEXT,
    description    TEXT,
    expires_after  TEXT,
    expires_at     INTEGER,
    last_active_at INTEGER,
    metadata       TEXT,
    origin         TEXT
);
CREATE INDEX vector_stores_by_project ON vector_stores (project, seq);

CREATE TABLE vector_store_files (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    vector_store_id   TEXT    NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    file_id           TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    project           TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    last_error        TEXT,
    usage_bytes       INTEGER NOT NULL DEFAULT 0,
    chunking_strategy TEXT    NOT NULL,
    attributes        TEXT,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (vector_store_id, file_id)
);
CREATE INDEX vector_store_files_by_status ON vector_store_files (vector_store_id, status);
CREATE INDEX vector_store_files_queue ON vector_store_files (status, lease_expires_at);
CREATE INDEX vector_store_files_by_file ON vector_store_files (file_id);

CREATE TABLE vector_store_file_batches (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    project         TEXT    NOT NULL,
    vector_store_id TEXT    NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    cancelled_at    INTEGER
);
CREATE INDEX vector_store_file_batches_by_store ON vector_store_file_batches (vector_store_id);

CREATE TABLE vector_store_file_batch_files (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id        TEXT    NOT NULL REFERENCES vector_store_file_batches (id) ON DELETE CASCADE,
    vector_store_id TEXT    NOT NULL,
    file_id         TEXT    NOT NULL,
    UNIQUE (batch_id, file_id)
);

ALTER TABLE files ADD COLUMN expires_at INTEGER;
-- NULL: derive the v2 attachments from `file_ids` (a message written through v1).
ALTER TABLE messages ADD COLUMN attachments TEXT;
