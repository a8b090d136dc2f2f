DROP INDEX sla_clocks_next_fire;
CREATE INDEX sla_clocks_next_fire ON sla_clocks(next_fire_at);
CREATE INDEX sla_clocks_open ON sla_clocks(calendar, due_at) WHERE stopped_at IS NULL;
CREATE INDEX sla_clocks_holder ON sla_clocks(holder_path, breached_at);
