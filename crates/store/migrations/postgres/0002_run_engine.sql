-- The run queue: a run is claimed by a worker for a lease (Unix milliseconds, on the database's
-- clock so that processes on several hosts agree) that the worker renews while it executes; a
-- run whose lease expired is claimable again.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE runs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_lease ON runs (status, lease_expires_at);
CREATE INDEX runs_by_expiry ON runs (expires_at) WHERE status IN ('queued', 'requires_action', 'in_progress', 'cancelling');
