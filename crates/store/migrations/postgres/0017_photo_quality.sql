-- What the enrolment quality gate measured on each reference photo (face box, inter-eye
-- distance, sharpness, pose), JSON sealed under the permit's data key like the photo, so that
-- the applicant and the decider see why it was taken. NULL for photos enrolled before.
-- Keep in step with the other dialect.
ALTER TABLE photos ADD COLUMN quality_sealed BYTEA;
