-- A list filtered by state reads each state newest first, `created_at` then `id` (the cursor's
-- order). With `id` in the index both back ends take that order from it; without, SQLite (no
-- statistics) walks the building's whole `(place_id, created_at, id)` index filtering on state,
-- and PostgreSQL sorts each page's ties. Replaces (place_id, state, created_at), which it covers.
DROP INDEX tickets_place_state;
CREATE INDEX tickets_place_state ON tickets(place_id, state, created_at, id);
