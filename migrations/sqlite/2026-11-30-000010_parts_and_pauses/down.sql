DROP INDEX sla_clocks_holder_open;
ALTER TABLE ticket_assignments DROP COLUMN end_reason;
ALTER TABLE ticket_assignments DROP COLUMN ended_at;
ALTER TABLE sla_clocks DROP COLUMN paused_for;
