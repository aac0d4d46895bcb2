-- When a verified alert was exported to the case as an evidence package: from then on the case
-- file holds its images, and the retention schedule erases them here.
-- Keep in step with the other dialect.
ALTER TABLE alerts ADD COLUMN exported_at BIGINT;
