-- Reads from a streaming replica (#21, decision 0035): each person's latest write, as the
-- primary's WAL position just after it committed. A read may go to the replica only once the
-- replica has replayed that far: a person always sees his own writes.
CREATE TABLE person_writes (
    person_id TEXT PRIMARY KEY NOT NULL REFERENCES people(id),
    wrote_lsn BIGINT NOT NULL,
    wrote_at TIMESTAMP NOT NULL
);
