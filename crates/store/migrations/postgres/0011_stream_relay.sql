-- Streams from any instance. `runs.streamer` names the instance whose client streams the run
-- (set by a `stream: true` create or submit, cleared by a submit without it): the instance
-- that executes the run relays its events there when it is another one. Small events travel
-- as NOTIFY payloads; an event too large for one (PostgreSQL's limit is 8,000 bytes) is kept
-- in `stream_relay` and the NOTIFY names its row, deleted once it is a minute old.
ALTER TABLE runs ADD COLUMN streamer TEXT;
CREATE TABLE stream_relay (
    id BIGSERIAL PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX stream_relay_by_age ON stream_relay (created_at);
