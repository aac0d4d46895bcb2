-- A sighting keeps what the AI Act's log needs of every match (art. 12(3)(b) and (c)): the frame
-- it came from, the threshold it passed and the version of the reference database it was matched
-- against, as its candidate does. Keep in step with the other dialect.
ALTER TABLE alert_sightings ADD COLUMN frame_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alert_sightings ADD COLUMN threshold DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE alert_sightings ADD COLUMN watchlist_version TEXT NOT NULL DEFAULT '';
