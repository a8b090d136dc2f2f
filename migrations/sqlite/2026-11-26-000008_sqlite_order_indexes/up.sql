-- SQLite only (PostgreSQL's migration 8 is empty). SQLite keeps no planner statistics, so for
-- `a = ? AND state = ? ORDER BY x` it prefers any index that yields the order without a sort.
-- A grid worker's inbox (`place_id = ? AND state = 'solved'` by deadline) had none and walked
-- `(state, due_at)`, every solved ticket of the city (p50 20-30 ms, p99 250-430 ms at a million
-- tickets); a secretary's list filtered by state (`compound_id = ? AND state = ?` newest first)
-- sorted every match of the compound (p99 160-860 ms). Each now reads one page of an index.
-- PostgreSQL plans both well from its statistics, so it is spared the two extra index writes.
CREATE INDEX tickets_place_state_due ON tickets(place_id, state, due_at, id);
CREATE INDEX tickets_compound_state_created ON tickets(compound_id, state, created_at, id);
