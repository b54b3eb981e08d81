-- The Assistants v1 resources. `seq` is a monotonic insertion counter: lists sort and page by it,
-- so objects created within the same second keep their creation order. JSON-shaped fields are
-- stored as JSON text. Every row carries its project; lookups always filter on it.

CREATE TABLE files (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    project        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    filename       TEXT    NOT NULL,
    purpose        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    status_details TEXT
);
CREATE INDEX files_by_project ON files (project, seq);

CREATE TABLE assistants (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    project         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    name            TEXT,
    description     TEXT,
    model           TEXT    NOT NULL,
    instructions    TEXT,
    tools           TEXT    NOT NULL,
    metadata        TEXT,
    temperature     REAL,
    top_p           REAL,
    response_format TEXT
);
CREATE INDEX assistants_by_project ON assistants (project, seq);

CREATE TABLE assistant_files (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    assistant_id TEXT    NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    file_id      TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    UNIQUE (assistant_id, file_id)
);
CREATE INDEX assistant_files_by_file ON assistant_files (file_id);

CREATE TABLE threads (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    project    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    metadata   TEXT
);

CREATE TABLE messages (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT    NOT NULL UNIQUE,
    project            TEXT    NOT NULL,
    thread_id          TEXT    NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at         INTEGER NOT NULL,
    role               TEXT    NOT NULL,
    content            TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    incomplete_details TEXT,
    completed_at       INTEGER,
    incomplete_at      INTEGER,
    assistant_id       TEXT,
    run_id             TEXT,
    metadata           TEXT
);
CREATE INDEX messages_by_thread ON messages (thread_id, seq);
CREATE INDEX messages_by_run ON messages (run_id, seq) WHERE run_id IS NOT NULL;

CREATE TABLE message_files (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    file_id    TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    UNIQUE (message_id, file_id)
);
CREATE INDEX message_files_by_file ON message_files (file_id);

CREATE TABLE runs (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT    NOT NULL UNIQUE,
    project                 TEXT    NOT NULL,
    thread_id               TEXT    NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    assistant_id            TEXT    NOT NULL,
    created_at              INTEGER NOT NULL,
    status                  TEXT    NOT NULL,
    required_action         TEXT,
    last_error              TEXT,
    expires_at              INTEGER,
    started_at              INTEGER,
    cancelled_at            INTEGER,
    failed_at               INTEGER,
    completed_at            INTEGER,
    incomplete_details      TEXT,
    model                   TEXT    NOT NULL,
    instructions            TEXT    NOT NULL,
    additional_instructions TEXT,
    tools                   TEXT    NOT NULL,
    file_ids                TEXT    NOT NULL,
    metadata                TEXT,
    usage                   TEXT,
    temperature             REAL,
    top_p                   REAL,
    max_prompt_tokens       INTEGER,
    max_completion_tokens   INTEGER,
    truncation_strategy     TEXT    NOT NULL,
    tool_choice             TEXT    NOT NULL,
    response_format         TEXT    NOT NULL
);
CREATE INDEX runs_by_thread ON runs (thread_id, seq);
CREATE INDEX runs_by_status ON runs (status, seq);

CREATE TABLE run_steps (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    project      TEXT    NOT NULL,
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    thread_id    TEXT    NOT NULL,
    assistant_id TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    step_details TEXT    NOT NULL,
    last_error   TEXT,
    expired_at   INTEGER,
    cancelled_at INTEGER,
    failed_at    INTEGER,
    completed_at INTEGER,
    metadata     TEXT,
    usage        TEXT
);
CREATE INDEX run_steps_by_run ON run_steps (run_id, seq);
