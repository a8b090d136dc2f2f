ALTER TABLE tickets RESET (autovacuum_analyze_scale_factor, autovacuum_vacuum_scale_factor);
DROP INDEX tickets_community_state;
DROP INDEX tickets_compound_state;
CREATE INDEX tickets_compound_state ON tickets(compound_id, state, due_at);
