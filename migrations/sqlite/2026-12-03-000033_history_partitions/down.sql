DROP TABLE audit_archives;
ALTER TABLE sla_fires DROP COLUMN clock_started_at;
