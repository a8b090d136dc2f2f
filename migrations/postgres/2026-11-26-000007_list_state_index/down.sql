DROP INDEX tickets_place_state;
CREATE INDEX tickets_place_state ON tickets(place_id, state, created_at);
