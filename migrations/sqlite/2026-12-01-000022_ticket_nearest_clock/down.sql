ALTER TABLE tickets DROP COLUMN due_provisional;
ALTER TABLE tickets DROP COLUMN warn_at;
