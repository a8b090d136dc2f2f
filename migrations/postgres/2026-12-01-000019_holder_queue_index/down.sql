DROP INDEX sla_clocks_holder_queue;
CREATE INDEX sla_clocks_holder_open ON sla_clocks(holder_unit_id, due_at) WHERE stopped_at IS NULL;
