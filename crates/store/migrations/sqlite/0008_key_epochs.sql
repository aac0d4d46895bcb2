-- Key epochs: each permit's data key is wrapped under the wrapping key of an epoch, kept outside
-- the database (mandat has no installation from before epochs, so no data key is wrapped under the
-- master key). `key_epoch` is the epoch every live data key is wrapped under once a rotation has
-- committed: on a start after a crash it says whether the rotation finished. `key_check` is a MAC
-- of nothing under that epoch's key, so a key directory that is not this database's is refused.
-- Keep in step with the other dialect.
ALTER TABLE permit_keys ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
CREATE TABLE key_epoch (
    id BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    key_check TEXT,
    rotated_at BIGINT NOT NULL
);
INSERT INTO key_epoch (id, epoch, rotated_at) VALUES (1, 0, 0);
