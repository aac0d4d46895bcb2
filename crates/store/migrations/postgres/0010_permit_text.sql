-- A permit's free text (person labels, photo sources, offence description, reasons), sealed
-- under the permit's data key, so a purge that shreds the key shreds the text. The document in
-- `doc` keeps these fields empty. NULL for a purged permit, and for rows from before this
-- migration until the store seals them when it opens. Keep in step with the other dialect.
ALTER TABLE permits ADD COLUMN sealed BYTEA;
