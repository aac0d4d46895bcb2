-- The sha256 of what the engine sent for an alert (see `alerts::digest`): a hit sent again (a
-- retry from a worker's outbox) is acknowledged without a second row or audit entry, and one sent
-- under a used id with other content is refused. Keep in step with the other dialect.
ALTER TABLE alerts ADD COLUMN digest TEXT;
