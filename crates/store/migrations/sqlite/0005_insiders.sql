-- Insider hardening. Keep in step with the other dialect.

-- Deployment settings: the jurisdiction profile chosen at `mandat init`. A process started under
-- another profile is refused.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Login back-off, keyed by a keyed hash of (user name as typed, client network), so neither a
-- mistyped password in the user field nor the client address is stored. Counted inside the write
-- transaction, so parallel guesses cannot escape it.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A disabled account cannot log in, and its sessions end.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- The agency an account works for (`polismyndigheten`, `sakerhetspolisen`): nobody sees another
-- agency's permits. NULL reads as polismyndigheten, the agency of every account made before.
ALTER TABLE users ADD COLUMN agency TEXT;

-- A MAC over each account row (id, password hash, roles, agency, disabled), keyed from the master
-- key: a DBA who edits roles or a password hash, or inserts an account, makes a row the server
-- refuses.
ALTER TABLE users ADD COLUMN mac TEXT;
