-- Rankings (decision 0027) in SQL: a resolution clock records that it ended by a resolution
-- (办结 or 协办完成), written in the same transaction as its stop, so that the resolution rate
-- and the attribution of return visits read one table instead of matching audit events.
-- Existing clocks: the rule the rankings used until now (an event of either action on the
-- ticket at the very instant the clock stopped).
ALTER TABLE sla_clocks ADD COLUMN resolved BOOLEAN NOT NULL DEFAULT 0;
UPDATE sla_clocks SET resolved = 1
 WHERE stage = 'resolution' AND stopped_at IS NOT NULL
   AND EXISTS (SELECT 1 FROM audit_events a
                WHERE a.entity_kind = 'ticket' AND a.entity_id = sla_clocks.ticket_id
                  AND a.action IN ('mark_solved', 'complete_part') AND a.at = sla_clocks.stopped_at);
-- The clocks of a subtree that stopped in a period (resolutions of a period, clocks still held
-- at a past period's end) and those still running (held at the end of a current period).
CREATE INDEX sla_clocks_stopped ON sla_clocks (stopped_at, holder_path) WHERE stopped_at IS NOT NULL;
CREATE INDEX sla_clocks_held ON sla_clocks (holder_path) WHERE stopped_at IS NULL;
