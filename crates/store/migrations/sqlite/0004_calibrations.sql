-- Calibration tables: cosine thresholds for target false-positive identification rates, one per
-- evaluation run, for the embedding model named by its sha256. Thresholds and counts only.
CREATE TABLE calibrations (
    version TEXT PRIMARY KEY,
    model_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);

-- Every alert records the target its permit's threshold was derived from (NULL: a plain cosine).
ALTER TABLE alerts ADD COLUMN fpir_target REAL;
ALTER TABLE alerts ADD COLUMN calibration TEXT;
