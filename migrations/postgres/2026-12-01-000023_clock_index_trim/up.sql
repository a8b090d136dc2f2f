-- Every clock written pays for every index of sla_clocks (decision 0030): three of them no longer
-- serve a query of their own.
-- sla_clocks_holder (holder_path, breached_at): every range over a subtree's clocks is served by
-- sla_clocks_reports (holder_path, stage, started_at), sla_clocks_held or sla_clocks_breached.
DROP INDEX sla_clocks_holder;
-- sla_clocks_open (calendar, due_at) of running clocks: read only when an administrator stores a
-- year's schedule (a rare recompute that reads the running clocks anyway).
DROP INDEX sla_clocks_open;
-- The scheduler reads clocks whose next firing is due; a stopped clock has none, so it need not be
-- in the index at all (a stop no longer writes an entry).
DROP INDEX sla_clocks_next_fire;
CREATE INDEX sla_clocks_next_fire ON sla_clocks(next_fire_at) WHERE next_fire_at IS NOT NULL;
