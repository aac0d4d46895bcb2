-- A worker's row (its certificate, capacity, who enrolled and approved it, whether it is enabled)
-- bound to its id by a MAC keyed from the master key, so a DBA who approves a worker, enables a
-- disabled one or swaps its certificate's fingerprint makes a row mandat refuses: such a worker
-- gets no lease, no grant and no alert in. A row without a MAC is refused too; a worker enrolled
-- before this migration is enrolled again (embedded workers are sealed again at start).
-- Keep in step with the other dialect.
ALTER TABLE workers ADD COLUMN mac TEXT;
-- Disabling is final: a worker with a `worker.disabled` entry in the signed chain gets nothing,
-- whatever its row says, so a row restored from before the disabling (MAC and all) stays refused.
CREATE INDEX audit_log_by_action ON audit_log (action);
