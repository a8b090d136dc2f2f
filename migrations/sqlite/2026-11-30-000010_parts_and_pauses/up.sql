-- Why a clock waits: for the resident (等待居民, resumed by the handling level or after
-- sla.max_pause_hours) or for the community's ruling on a department's return (退单, resumed
-- when the return is overruled).
ALTER TABLE sla_clocks ADD COLUMN paused_for TEXT;
UPDATE sla_clocks SET paused_for = 'resident' WHERE paused_at IS NOT NULL;

-- When and how a department's part ended (removed, released, return_accepted): the department
-- keeps reading what happened until then, and nothing after.
ALTER TABLE ticket_assignments ADD COLUMN ended_at TIMESTAMP;
ALTER TABLE ticket_assignments ADD COLUMN end_reason TEXT;
UPDATE ticket_assignments
   SET ended_at = updated_at,
       end_reason = CASE WHEN return_reason IS NOT NULL THEN 'return_accepted' ELSE 'removed' END
 WHERE state = 'removed';

-- Each holder's running clocks by deadline: a department's queue, a person's own deadlines.
CREATE INDEX sla_clocks_holder_open ON sla_clocks(holder_unit_id, due_at) WHERE stopped_at IS NULL;
