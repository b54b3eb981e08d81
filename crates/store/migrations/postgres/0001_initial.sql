-- The Assistants v1 resources. `seq` is a monotonic insertion counter: lists sort and page by it,
-- so objects created within the same second keep their creation order. Timestamps are Unix
-- seconds; JSON-shaped fields are JSONB. Every row carries its project; lookups always filter on
-- it.

CREATE TABLE files (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT   NOT NULL UNIQUE,
    project        TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    filename       TEXT   NOT NULL,
    purpose        TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    status_details TEXT
);
CREATE INDEX files_by_project ON files (project, seq);

CREATE TABLE assistants (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT   NOT NULL UNIQUE,
    project         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    name            TEXT,
    description     TEXT,
    model           TEXT   NOT NULL,
    instructions    TEXT,
    tools           JSONB  NOT NULL,
    metadata        JSONB,
    temperature     DOUBLE PRECISION,
    top_p           DOUBLE PRECISION,
    response_format JSONB
);
CREATE INDEX assistants_by_project ON assistants (project, seq);

CREATE TABLE assistant_files (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assistant_id TEXT   NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    file_id      TEXT   NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    UNIQUE (assistant_id, file_id)
);
CREATE INDEX assistant_files_by_file ON assistant_files (file_id);

CREATE TABLE threads (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    project    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    metadata   JSONB
);

CREATE TABLE messages (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT   NOT NULL UNIQUE,
    project            TEXT   NOT NULL,
    thread_id          TEXT   NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at         BIGINT NOT NULL,
    role               TEXT   NOT NULL,
    content            JSONB  NOT NULL,
    status             TEXT   NOT NULL,
    incomplete_details JSONB,
    completed_at       BIGINT,
    incomplete_at      BIGINT,
    assistant_id       TEXT,
    run_id             TEXT,
    metadata           JSONB
);
CREATE INDEX messages_by_thread ON messages (thread_id, seq);
CREATE INDEX messages_by_run ON messages (run_id, seq) WHERE run_id IS NOT NULL;

CREATE TABLE message_files (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT   NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    file_id    TEXT   NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (message_id, file_id)
);
CREATE INDEX message_files_by_file ON message_files (file_id);

CREATE TABLE runs (
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                      TEXT   NOT NULL UNIQUE,
    project                 TEXT   NOT NULL,
    thread_id               TEXT   NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    assistant_id            TEXT   NOT NULL,
    created_at              BIGINT NOT NULL,
    status                  TEXT   NOT NULL,
    required_action         JSONB,
    last_error              JSONB,
    expires_at              BIGINT,
    started_at              BIGINT,
    cancelled_at            BIGINT,
    failed_at               BIGINT,
    completed_at            BIGINT,
    incomplete_details      JSONB,
    model                   TEXT   NOT NULL,
    instructions            TEXT   NOT NULL,
    additional_instructions TEXT,
    tools                   JSONB  NOT NULL,
    file_ids                JSONB  NOT NULL,
    metadata                JSONB,
    usage                   JSONB,
    temperature             DOUBLE PRECISION,
    top_p                   DOUBLE PRECISION,
    max_prompt_tokens       BIGINT,
    max_completion_tokens   BIGINT,
    truncation_strategy     JSONB  NOT NULL,
    tool_choice             JSONB  NOT NULL,
    response_format         JSONB  NOT NULL
);
CREATE INDEX runs_by_thread ON runs (thread_id, seq);
CREATE INDEX runs_by_status ON runs (status, seq);

CREATE TABLE run_steps (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    project      TEXT   NOT NULL,
    run_id       TEXT   NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    thread_id    TEXT   NOT NULL,
    assistant_id TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    type         TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    step_details JSONB  NOT NULL,
    last_error   JSONB,
    expired_at   BIGINT,
    cancelled_at BIGINT,
    failed_at    BIGINT,
    completed_at BIGINT,
    metadata     JSONB,
    usage        JSONB
);
CREATE INDEX run_steps_by_run ON run_steps (run_id, seq);
