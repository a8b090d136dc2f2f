-- A list shows each viewer his own deadline, read from the running clocks of the page's tickets:
-- a partial index of the running clocks only (a small fraction of all clocks), in the order the
-- list reads them, so that stopped clocks are never visited.
CREATE INDEX sla_clocks_running ON sla_clocks (ticket_id, started_at) WHERE stopped_at IS NULL;
