-- Back to one table each (the rows of every partition, attached or default, are copied).
CREATE TABLE audit_events_flat (
    id TEXT PRIMARY KEY NOT NULL,
    shard INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    actor_unit_id TEXT,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    changes TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    hash_version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (shard, seq)
);
INSERT INTO audit_events_flat SELECT id, shard, seq, entity_kind, entity_id, actor_id, actor_role, actor_unit_id, at, action,
    from_state, to_state, reason, changes, prev_hash, hash, hash_version FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_flat RENAME TO audit_events;
ALTER INDEX audit_events_flat_pkey RENAME TO audit_events_pkey;
ALTER INDEX audit_events_flat_shard_seq_key RENAME TO audit_events_shard_seq_key;
CREATE INDEX audit_events_entity ON audit_events(entity_kind, entity_id);
CREATE INDEX audit_events_v1 ON audit_events(shard, seq) WHERE hash_version = 1;
CREATE INDEX audit_events_action_at ON audit_events (entity_kind, action, at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE sla_fires_flat (
    clock_id TEXT NOT NULL REFERENCES sla_clocks(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    fired_by TEXT NOT NULL,
    PRIMARY KEY (clock_id, seq)
);
INSERT INTO sla_fires_flat SELECT clock_id, seq, kind, fired_at, fired_by FROM sla_fires;
DROP TABLE sla_fires;
ALTER TABLE sla_fires_flat RENAME TO sla_fires;
ALTER INDEX sla_fires_flat_pkey RENAME TO sla_fires_pkey;

CREATE TABLE deliveries_flat (
    id TEXT PRIMARY KEY NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    channel TEXT NOT NULL CHECK (channel IN ('in_app', 'email', 'wecom', 'dingtalk', 'webhook')),
    person_id TEXT REFERENCES people(id),
    endpoint_id TEXT,
    dedupe_key TEXT NOT NULL,
    urgent BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    digest BOOLEAN NOT NULL DEFAULT FALSE,
    client_id TEXT,
    address TEXT
);
INSERT INTO deliveries_flat SELECT id, notification_id, channel, person_id, endpoint_id, dedupe_key, urgent, state, attempts, due_at,
    claimed_until, last_error, sent_at, read_at, created_at, digest, client_id, address FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_flat RENAME TO deliveries;
ALTER INDEX deliveries_flat_pkey RENAME TO deliveries_pkey;
CREATE UNIQUE INDEX deliveries_once ON deliveries (dedupe_key);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_inbox ON deliveries (person_id, channel, created_at);
CREATE INDEX deliveries_notification ON deliveries (notification_id);

DROP TABLE audit_archives;
DROP FUNCTION gridloop_ensure_month(TEXT, DATE);
