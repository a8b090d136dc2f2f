DROP INDEX sla_clocks_held;
CREATE INDEX sla_clocks_held ON sla_clocks (holder_path) WHERE stopped_at IS NULL;
