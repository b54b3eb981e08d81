-- The run queue: a run is claimed by a worker for a lease (Unix milliseconds) that the worker
-- renews while it executes; a run whose lease expired is claimable again.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_by_lease ON runs (status, lease_expires_at);
CREATE INDEX runs_by_expiry ON runs (expires_at) WHERE status IN ('queued', 'requires_action', 'in_progress', 'cancelling');
