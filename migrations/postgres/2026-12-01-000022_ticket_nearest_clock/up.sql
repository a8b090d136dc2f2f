-- A list shows each viewer his own deadline (decision 0029). Beside `due_at`, the ticket row
-- keeps the warning time and the provisional flag of the clock that sets it (the earliest
-- running clock that is not paused, of two equal the first started), written with `due_at` in
-- the same statements, so that a list of never-whistled tickets needs no read of their clocks.
-- Existing tickets: from their running clocks (the partial index of running clocks), so only
-- open tickets are touched.
ALTER TABLE tickets ADD COLUMN warn_at TIMESTAMP NULL;
ALTER TABLE tickets ADD COLUMN due_provisional BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE tickets SET warn_at = n.warn_at, due_provisional = n.provisional
  FROM (SELECT DISTINCT ON (ticket_id) ticket_id, warn_at, provisional FROM sla_clocks
         WHERE stopped_at IS NULL AND paused_at IS NULL
         ORDER BY ticket_id, due_at, started_at, id) n
 WHERE tickets.id = n.ticket_id;
