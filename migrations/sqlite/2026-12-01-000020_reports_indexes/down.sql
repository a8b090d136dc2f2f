DROP INDEX audit_events_action_at;
DROP INDEX sla_clocks_reports;
