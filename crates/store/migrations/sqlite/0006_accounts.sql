-- Accounts that admins cannot take over. Keep in step with the other dialect.

-- The TOTP second factor (RFC 6238): the secret sealed under a key derived from the master key
-- (hex), and the last time step accepted, so a code is never accepted twice.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_step BIGINT;

-- A one-time enrolment code, stored only as a MAC keyed from the master key, with its expiry. The
-- user sets their own password with it; the admin who handed it over never learns the password.
ALTER TABLE users ADD COLUMN enrolment_mac TEXT;
ALTER TABLE users ADD COLUMN enrolment_expires_at BIGINT;

-- Roles requested by one admin; they take effect only when a second admin approves. `mac` binds
-- the row (id, user, roles, requester) to the master key, so a DBA cannot slip roles into a grant.
CREATE TABLE role_grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    approved_by TEXT,
    approved_at BIGINT,
    withdrawn_at BIGINT,
    mac TEXT NOT NULL
);
