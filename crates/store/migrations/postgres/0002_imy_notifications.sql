-- The register of notifications to IMY: one when a use starts, one when it ends. They hold counts and
-- categories, never personal data, and outlive a purge: IMY is told of a refused urgent use too.
CREATE TABLE imy_notifications (
    id TEXT PRIMARY KEY,
    permit_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    doc TEXT NOT NULL,
    sent_at BIGINT,
    sent_by TEXT,
    acknowledged_at BIGINT,
    imy_reference TEXT,
    UNIQUE (permit_id, kind)
);
