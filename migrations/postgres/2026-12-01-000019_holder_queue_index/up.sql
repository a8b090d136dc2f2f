-- A department's queue reads its running clocks that are not waiting, in (deadline, id) order: the
-- index holds exactly those, in that order, so that a page is its first entries however many
-- clocks share a deadline (the index it replaces lacked the id and held paused clocks, and
-- PostgreSQL sorted thousands of entries for a page of 400).
DROP INDEX sla_clocks_holder_open;
CREATE INDEX sla_clocks_holder_queue ON sla_clocks(holder_unit_id, due_at, id) WHERE stopped_at IS NULL AND paused_at IS NULL;
