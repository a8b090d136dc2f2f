DROP INDEX visit_logs_visit_date;
DROP INDEX login_attempts_at;
DROP INDEX tickets_closed_at;
DROP TRIGGER audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
DROP FUNCTION audit_events_purge_only();
