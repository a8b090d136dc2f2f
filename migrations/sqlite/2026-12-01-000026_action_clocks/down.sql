DROP INDEX consult_items_open_due;
ALTER TABLE consult_items DROP COLUMN breached_at;
ALTER TABLE consult_items DROP COLUMN warned_at;
ALTER TABLE consult_items DROP COLUMN warn_at;
