-- Assistants v2 `tool_resources`: the vector stores an assistant or a thread searches (at most
-- one, as OpenAI allows), and the files a thread gives code_interpreter (the copy of
-- `assistant_files`). An assistant's code_interpreter files are its `assistant_files`.
ALTER TABLE assistants ADD COLUMN vector_store_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE assistants ADD COLUMN reasoning_effort TEXT;
ALTER TABLE threads ADD COLUMN vector_store_ids TEXT NOT NULL DEFAULT '[]';

CREATE TABLE thread_files (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id  TEXT    NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    file_id    TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    UNIQUE (thread_id, file_id)
);
CREATE INDEX thread_files_by_file ON thread_files (file_id);
