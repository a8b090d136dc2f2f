DROP INDEX visit_logs_visit_date;
DROP INDEX login_attempts_at;
DROP INDEX tickets_closed_at;
DROP TRIGGER audit_events_purge_only;
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
