-- mandat schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);
-- Login sessions (CLI and web). Only a hash of the token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE cameras (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    owner TEXT NOT NULL,
    url_sealed BLOB NOT NULL,
    enabled BIGINT NOT NULL
);
CREATE TABLE permits (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE permit_keys (
    permit_id TEXT PRIMARY KEY REFERENCES permits(id),
    wrapped BLOB NOT NULL
);
-- Photo and template ids are the application's own, unique within their permit.
CREATE TABLE photos (
    id TEXT NOT NULL,
    permit_id TEXT NOT NULL REFERENCES permits(id),
    person_id TEXT NOT NULL,
    source TEXT NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (permit_id, id)
);
CREATE TABLE templates (
    id TEXT NOT NULL,
    permit_id TEXT NOT NULL REFERENCES permits(id),
    person_id TEXT NOT NULL,
    photo_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (permit_id, id)
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    permit_id TEXT NOT NULL REFERENCES permits(id),
    person_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    -- When the frame was captured, and when the alert reached the reviewers.
    at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Which frame of the camera's stream (the input that led to the match).
    frame_index BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    watchlist_version TEXT NOT NULL,
    crop_sealed BLOB,
    frame_sealed BLOB
);
CREATE INDEX alerts_by_time ON alerts (created_at);
-- Two-person verification: one row per reviewer and alert.
CREATE TABLE reviews (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    permit_id TEXT NOT NULL REFERENCES permits(id),
    reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (alert_id, reviewer)
);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    permit TEXT,
    origin TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    pubkey TEXT NOT NULL,
    signature TEXT NOT NULL
);
-- Grows with every change that can change a watchlist (permits, templates, cameras), so the engine's
-- scope cache reloads on those and not on every other write.
CREATE TABLE scope_generation (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO scope_generation (id, n) VALUES (1, 0);
