-- Key epochs: each permit's data key is wrapped under the wrapping key of an epoch, kept outside
-- the database. Epoch 0 is the master key, which wrapped data keys before epochs existed; the store
-- re-wraps those when it opens. `key_epoch` is the epoch every live data key is wrapped under once
-- a rotation has committed: on a start after a crash it says whether the rotation finished.
-- Keep in step with the other dialect.
ALTER TABLE permit_keys ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
CREATE TABLE key_epoch (
    id BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    rotated_at BIGINT NOT NULL
);
INSERT INTO key_epoch (id, epoch, rotated_at) VALUES (1, 0, 0);
