DROP INDEX sla_clocks_held;
DROP INDEX sla_clocks_stopped;
ALTER TABLE sla_clocks DROP COLUMN resolved;
