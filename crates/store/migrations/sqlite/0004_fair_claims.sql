-- Per-project run counts: the claim's fairness (runs each project executes) and the project's
-- quota of runs queued or executing are both counted by project and status.
CREATE INDEX runs_by_project_status ON runs (project, status);
