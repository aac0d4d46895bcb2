-- One person, one candidate: a hit for the permit, person and camera of an open candidate within
-- 30 s of its last sighting is folded into it as a further sighting, so reviewers never judge the
-- same sighting twice (a face the tracker lost and found again, or a camera handed to another
-- worker). A sighting keeps no image: the candidate's own images are what reviewers judge. Its id
-- and digest make a resent sighting idempotent, as an alert's are. Sightings go wherever their
-- alert goes (purge, retention). Keep in step with the other dialect.
ALTER TABLE alerts ADD COLUMN sightings BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN last_seen_at BIGINT;
CREATE TABLE alert_sightings (
    id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    permit_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    score REAL NOT NULL,
    digest TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX alert_sightings_by_alert ON alert_sightings (alert_id);
CREATE INDEX alert_sightings_by_permit ON alert_sightings (permit_id);
CREATE INDEX alerts_open_by_subject ON alerts (permit_id, person_id, camera_id, state);
