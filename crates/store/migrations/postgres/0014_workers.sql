-- Workers and their camera leases. A worker is a process that decodes and analyses cameras and
-- holds no key: enrolled ones prove who they are with a certificate from the internal CA (its
-- sha256 fingerprint is kept here), embedded ones run inside a control process. A lease says
-- which worker may process which camera until when, timed by the database's clock (milliseconds
-- since the epoch) so that no host's clock decides it; its epoch is a fencing token, new on every
-- assignment. Renewals are not in the audit chain; every assignment and release is. An enrolled
-- worker gets nothing until a second admin approves it (approved_at): one admin alone cannot route
-- watchlists to a machine of their choosing. A released lease moves to lease_history, so an alert
-- captured under it and delivered late is still recognised as the worker's.
-- Keep in step with the other dialect.
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    fingerprint TEXT UNIQUE,
    capacity BIGINT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    enrolled_at BIGINT NOT NULL,
    enrolled_by TEXT,
    approved_at BIGINT,
    approved_by TEXT,
    disabled_at BIGINT,
    last_seen BIGINT
);
CREATE TABLE assignments (
    camera_id TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    granted_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
);
CREATE INDEX assignments_by_worker ON assignments (worker_id);
CREATE TABLE lease_history (
    camera_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    epoch BIGINT PRIMARY KEY,
    granted_at BIGINT NOT NULL,
    released_at BIGINT NOT NULL
);
CREATE TABLE lease_epoch (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO lease_epoch (id, n) VALUES (1, 0);
