DROP INDEX tickets_community_state;
DROP INDEX tickets_compound_state;
CREATE INDEX tickets_compound_state ON tickets(compound_id, state, due_at);
