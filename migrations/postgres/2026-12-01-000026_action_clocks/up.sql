-- The clock of an action item (行动清单, #19): warned before its deadline on the compound's
-- working calendar (the SLA's warn fraction of the working time from the meeting to the
-- deadline), breached at it (督办); each fires once, whatever the number of servers.
ALTER TABLE consult_items ADD COLUMN warn_at TIMESTAMP;
ALTER TABLE consult_items ADD COLUMN warned_at TIMESTAMP;
ALTER TABLE consult_items ADD COLUMN breached_at TIMESTAMP;
-- Actions decided before this migration warn at their deadline (their breach).
UPDATE consult_items SET warn_at = due_at WHERE due_at IS NOT NULL;
CREATE INDEX consult_items_open_due ON consult_items (state, due_at);
