-- Audit hash version 2 (审计哈希第 2 版). Version 1 hashed every column of an event but its id,
-- so an id could be changed unnoticed. New events are hashed in version 2, which covers the id
-- and this column too. Existing events keep version 1 and their hashes; the first start after
-- this migration (`gridloop migrate`, `serve`) appends to each chain holding them a seal event
-- (`audit_sealed`) carrying a digest of their ids, which `gridloop audit verify` checks.
-- The default of 1 is for the rows already there, and for any row an older Gridloop still
-- running during the upgrade writes: hashed in version 1, sealed at the next start.
ALTER TABLE audit_events ADD COLUMN hash_version INTEGER NOT NULL DEFAULT 1;
-- The version-1 events per chain, for sealing: new events (version 2) never enter this index.
CREATE INDEX audit_events_v1 ON audit_events(shard, seq) WHERE hash_version = 1;
