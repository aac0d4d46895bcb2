-- Partner cameras (issue 18 part 5). Each camera's terms (owner, whether it is enabled, and a
-- partner's agreement: legal basis, reference, period, contact), JSON sealed under the master key
-- with the camera's id as associated data. The owner and enabled columns stay for reading; a row
-- whose columns differ from its sealed terms (edited in the database), or whose terms do not open,
-- is not analysed. Cameras without terms (registered before) are sealed when the store opens, as
-- the audit log has them: the owner they were registered with and their last enable or disable.
-- Keep in step with the other dialect.
ALTER TABLE cameras ADD COLUMN terms_sealed BYTEA;

-- Each camera's health per day (Swedish civil date), summed from the engines' samples: how long it
-- was meant to run and how long it was connected, frames, faces seen (counts only, never a face),
-- and time spent fit, unfit and of unknown fitness. The SLA report and passers-by per day read it.
CREATE TABLE camera_days (
    camera TEXT NOT NULL,
    day TEXT NOT NULL,
    observed_ms BIGINT NOT NULL,
    available_ms BIGINT NOT NULL,
    frames_in BIGINT NOT NULL,
    faces_seen BIGINT NOT NULL,
    faces_identifiable BIGINT NOT NULL,
    passers_by BIGINT NOT NULL,
    fit_ms BIGINT NOT NULL,
    unfit_ms BIGINT NOT NULL,
    unknown_ms BIGINT NOT NULL,
    fitness TEXT NOT NULL,
    reasons TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (camera, day)
);

-- A covered camera that became unfit, told to the team of each permit covering it.
CREATE TABLE camera_notices (
    id TEXT PRIMARY KEY,
    permit TEXT NOT NULL,
    camera TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    seen_by TEXT,
    seen_at BIGINT
);
CREATE INDEX camera_notices_permit ON camera_notices (permit);
