-- A ranking counts the running clocks of a subtree live (decision 0027): reading each one's row
-- meant one heap page per clock (27,000 pages for a district's year at a million tickets). The
-- partial index of running clocks now carries what that count reads, so PostgreSQL answers it
-- from the index alone. Its key keeps holder_path first, for every other reader of it.
DROP INDEX sla_clocks_held;
CREATE INDEX sla_clocks_held ON sla_clocks (holder_path, started_at)
    INCLUDE (stage, id, ticket_id, calendar, acknowledged_at, due_at, paused_at, resolved)
    WHERE stopped_at IS NULL;
