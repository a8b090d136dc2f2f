-- The inbox reads each open state of a compound or community in deadline order and stops after
-- one page: an index per unit column with (state, due_at, id) gives that order directly, however
-- many tickets are open there. The compound one replaces (compound_id, state, due_at), which it
-- covers.
DROP INDEX tickets_compound_state;
CREATE INDEX tickets_compound_state ON tickets(compound_id, state, due_at, id);
CREATE INDEX tickets_community_state ON tickets(community_id, state, due_at, id);
