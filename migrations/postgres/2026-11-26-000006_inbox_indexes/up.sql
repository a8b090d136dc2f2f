-- The inbox reads each open state of a compound or community in deadline order and stops after
-- one page: an index per unit column with (state, due_at, id) gives that order directly, however
-- many tickets are open there. The compound one replaces (compound_id, state, due_at), which it
-- covers.
DROP INDEX tickets_compound_state;
CREATE INDEX tickets_compound_state ON tickets(compound_id, state, due_at, id);
CREATE INDEX tickets_community_state ON tickets(community_id, state, due_at, id);

-- Tickets grow by bursts (a morning's visits, a storm night's calls) into a table of millions:
-- PostgreSQL's default re-analyses a table only after 10% of it changed, so a compound whose
-- backlog grew by thousands would keep the old estimate of "almost none open here" and get plans
-- made for that. Re-analyse after 0.5% and vacuum (visibility map for index-only scans) after 2%.
ALTER TABLE tickets SET (autovacuum_analyze_scale_factor = 0.005, autovacuum_vacuum_scale_factor = 0.02);
