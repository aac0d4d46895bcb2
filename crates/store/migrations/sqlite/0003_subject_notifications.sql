-- Persons to notify after a verified identification (underrättelse). The task names the designated
-- person by the permit's id for them; a purge of the permit deletes its tasks.
CREATE TABLE subject_notifications (
    id TEXT PRIMARY KEY,
    permit_id TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    completed_at BIGINT,
    doc TEXT NOT NULL
);
