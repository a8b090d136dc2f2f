-- Rankings (decision 0027): the clocks a subtree held, by stage and start, and the ticket events
-- of one kind in a period (return visits, resolutions).
CREATE INDEX sla_clocks_reports ON sla_clocks (holder_path, stage, started_at);
CREATE INDEX audit_events_action_at ON audit_events (entity_kind, action, at);
