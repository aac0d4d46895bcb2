-- A permit's record (its period, status, deadlines, team) bound to its id by a MAC keyed from the
-- master key, so a DBA who edits it (puts themselves on a team, stretches a period) makes a record
-- mandat refuses. A record without one is refused too: nothing seals records after the fact, so a
-- DBA cannot have a forged one sealed (mandat has no installation from before this migration).
-- Keep in step with the other dialect.
ALTER TABLE permits ADD COLUMN mac TEXT;
