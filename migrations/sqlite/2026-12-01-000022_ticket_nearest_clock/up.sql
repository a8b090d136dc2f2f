-- A list shows each viewer his own deadline (decision 0029). Beside `due_at`, the ticket row
-- keeps the warning time and the provisional flag of the clock that sets it (the earliest
-- running clock that is not paused, of two equal the first started), written with `due_at` in
-- the same statements, so that a list of never-whistled tickets needs no read of their clocks.
-- Existing tickets: from their running clocks (the partial index of running clocks), so only
-- open tickets are touched.
ALTER TABLE tickets ADD COLUMN warn_at TIMESTAMP NULL;
ALTER TABLE tickets ADD COLUMN due_provisional BOOLEAN NOT NULL DEFAULT 0;
UPDATE tickets SET
  warn_at = (SELECT c.warn_at FROM sla_clocks c
              WHERE c.ticket_id = tickets.id AND c.stopped_at IS NULL AND c.paused_at IS NULL
              ORDER BY c.due_at, c.started_at, c.id LIMIT 1),
  due_provisional = (SELECT c.provisional FROM sla_clocks c
              WHERE c.ticket_id = tickets.id AND c.stopped_at IS NULL AND c.paused_at IS NULL
              ORDER BY c.due_at, c.started_at, c.id LIMIT 1)
WHERE id IN (SELECT ticket_id FROM sla_clocks WHERE stopped_at IS NULL AND paused_at IS NULL);
