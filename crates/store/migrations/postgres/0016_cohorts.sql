-- The impostor cohort of a per-template calibration table: templates of consenting or
-- public-dataset people, biometric data, so sealed under the master key (never beside it) and
-- bound to its table's version. cohort_version is the table's name for it (sha256 of the values).
-- Keep in step with the other dialect.
ALTER TABLE calibrations ADD COLUMN cohort_version TEXT;
ALTER TABLE calibrations ADD COLUMN cohort_sealed BYTEA;
