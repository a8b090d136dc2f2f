-- Reads from a streaming replica are PostgreSQL's (#21, decision 0035); the table exists here so
-- that both back ends share one schema, and stays empty.
CREATE TABLE person_writes (
    person_id TEXT PRIMARY KEY NOT NULL REFERENCES people(id),
    wrote_lsn BIGINT NOT NULL,
    wrote_at TIMESTAMP NOT NULL
);
