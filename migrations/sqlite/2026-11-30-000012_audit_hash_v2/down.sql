-- Seal events and version-2 events stay: an older Gridloop cannot verify them.
DROP INDEX audit_events_v1;
ALTER TABLE audit_events DROP COLUMN hash_version;
