-- Assistants v2 runs: whether the model may call several functions in one turn (v1 runs did),
-- the reasoning effort passed on to upstreams (write-only), and createThreadAndRun's
-- `tool_resources`, which replace the assistant's for that run.
ALTER TABLE runs ADD COLUMN parallel_tool_calls BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE runs ADD COLUMN reasoning_effort TEXT;
ALTER TABLE runs ADD COLUMN tool_resources TEXT;
