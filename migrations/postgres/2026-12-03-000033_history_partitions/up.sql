-- History that grows for years (#21, decision 0034): audit events, clock firings and deliveries
-- are partitioned by month (declarative RANGE partitioning), so that old months can be detached
-- and archived (`gridloop partitions detach`). Each table gets a DEFAULT partition, so that no
-- insert ever fails for want of a month; `gridloop_ensure_month` (below) creates a month, moving
-- rows the default partition holds for it, and the servers call it for the months around now.
--
-- PostgreSQL requires the partition key in every unique index. How each guard carries over:
--   audit_events  by `at`: primary key (id, at). The chain position (shard, seq) is unique by
--                 construction (each append advances its chain's head row under its lock) and is
--                 checked by `audit verify`; it keeps a plain index.
--   sla_fires     by `clock_started_at` (the start of the clock, fixed for its life, copied in):
--                 primary key (clock_id, seq, clock_started_at). A clock always lands in the same
--                 partition, so (clock_id, seq) stays unique across the whole table: the last
--                 guard of exactly-once firing holds as before.
--   deliveries    by `created_at`: primary key (id, created_at), dedupe (dedupe_key, created_at).
--                 The exactly-once guard of a message is its notification's unique dedupe key
--                 (written first, in the same savepoint; notifications is not partitioned).
--
-- On an existing database this migration copies the three tables (in its one transaction); see
-- docs/operations.md "Partitions" for the time it takes and how to run it.

CREATE FUNCTION gridloop_ensure_month(parent TEXT, month DATE) RETURNS BOOLEAN AS $$
DECLARE
    first DATE := date_trunc('month', month)::date;
    next DATE := (date_trunc('month', month) + interval '1 month')::date;
    part TEXT := parent || '_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM');
    def TEXT := parent || '_default';
    key TEXT;
    waiting BOOLEAN;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    -- Servers starting together: one creates the month, the others find it.
    PERFORM pg_advisory_xact_lock(hashtext('gridloop_partitions:' || current_schema() || ':' || parent));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    key := CASE parent
        WHEN 'audit_events' THEN 'at'
        WHEN 'sla_fires' THEN 'clock_started_at'
        WHEN 'deliveries' THEN 'created_at'
    END;
    IF key IS NULL THEN
        RAISE EXCEPTION 'not a partitioned table of Gridloop: %', parent;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)', def, key, key)
        INTO waiting USING first, next;
    IF waiting THEN
        -- The default partition holds rows of this month (written while the clock stood beyond
        -- the months created): a new default takes the place of the old one, and every row of
        -- the old goes back through the parent, to the new month or the new default. Rows are
        -- copied, not changed (the audit trail's triggers refuse changes); the old default is dropped.
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, def);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', def, def || '_moving');
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', def, parent);
        IF parent = 'audit_events' THEN
            EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', def);
        END IF;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent, first, next);
    IF parent = 'audit_events' THEN
        -- Row triggers are cloned onto partitions; a statement trigger is not.
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', part);
    END IF;
    IF waiting THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', parent, def || '_moving');
        EXECUTE format('DROP TABLE %I', def || '_moving');
    END IF;
    RETURN TRUE;
EXCEPTION
    -- Another server created it between our look and our lock (a catalogue cache behind).
    WHEN duplicate_table OR unique_violation THEN
        RETURN FALSE;
END;
$$ LANGUAGE plpgsql;

-- Archived months of the audit trail: where each chain stood at the end of a detached partition,
-- so that `audit verify` starts each chain from there (decision 0034).
CREATE TABLE audit_archives (
    partition_name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    events BIGINT NOT NULL,
    detached_at TIMESTAMP NOT NULL,
    PRIMARY KEY (partition_name, shard)
);

-- ---- audit_events -------------------------------------------------------------------------
ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_pkey RENAME TO audit_events_unpartitioned_pkey;
ALTER INDEX audit_events_shard_seq_key RENAME TO audit_events_unpartitioned_shard_seq_key;
ALTER INDEX audit_events_entity RENAME TO audit_events_unpartitioned_entity;
ALTER INDEX audit_events_v1 RENAME TO audit_events_unpartitioned_v1;
ALTER INDEX audit_events_action_at RENAME TO audit_events_unpartitioned_action_at;
CREATE TABLE audit_events (
    id TEXT NOT NULL,
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
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_events_chain ON audit_events (shard, seq);
CREATE INDEX audit_events_entity ON audit_events (entity_kind, entity_id);
CREATE INDEX audit_events_v1 ON audit_events (shard, seq) WHERE hash_version = 1;
CREATE INDEX audit_events_action_at ON audit_events (entity_kind, action, at);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- ---- sla_fires ------------------------------------------------------------------------------
ALTER TABLE sla_fires RENAME TO sla_fires_unpartitioned;
ALTER INDEX sla_fires_pkey RENAME TO sla_fires_unpartitioned_pkey;
CREATE TABLE sla_fires (
    clock_id TEXT NOT NULL REFERENCES sla_clocks(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    fired_by TEXT NOT NULL,
    clock_started_at TIMESTAMP NOT NULL,
    PRIMARY KEY (clock_id, seq, clock_started_at)
) PARTITION BY RANGE (clock_started_at);
CREATE TABLE sla_fires_default PARTITION OF sla_fires DEFAULT;

-- ---- deliveries -----------------------------------------------------------------------------
ALTER TABLE deliveries RENAME TO deliveries_unpartitioned;
ALTER INDEX deliveries_pkey RENAME TO deliveries_unpartitioned_pkey;
ALTER INDEX deliveries_once RENAME TO deliveries_unpartitioned_once;
ALTER INDEX deliveries_due RENAME TO deliveries_unpartitioned_due;
ALTER INDEX deliveries_inbox RENAME TO deliveries_unpartitioned_inbox;
ALTER INDEX deliveries_notification RENAME TO deliveries_unpartitioned_notification;
CREATE TABLE deliveries (
    id TEXT NOT NULL,
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
    address TEXT,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE UNIQUE INDEX deliveries_once ON deliveries (dedupe_key, created_at);
CREATE INDEX deliveries_dedupe ON deliveries (dedupe_key);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_inbox ON deliveries (person_id, channel, created_at);
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;

-- ---- the months: every month the existing rows fall in, and this month and the next three ---
DO $$
DECLARE
    m DATE;
BEGIN
    FOR m IN
        SELECT DISTINCT date_trunc('month', t)::date FROM (
            SELECT at AS t FROM audit_events_unpartitioned
            UNION SELECT c.started_at FROM sla_fires_unpartitioned f JOIN sla_clocks c ON c.id = f.clock_id
            UNION SELECT created_at FROM deliveries_unpartitioned
            UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + k * interval '1 month') FROM generate_series(-1, 3) AS k
        ) AS months
    LOOP
        PERFORM gridloop_ensure_month('audit_events', m);
        PERFORM gridloop_ensure_month('sla_fires', m);
        PERFORM gridloop_ensure_month('deliveries', m);
    END LOOP;
END;
$$;

INSERT INTO audit_events SELECT id, shard, seq, entity_kind, entity_id, actor_id, actor_role, actor_unit_id, at, action,
    from_state, to_state, reason, changes, prev_hash, hash, hash_version FROM audit_events_unpartitioned;
INSERT INTO sla_fires (clock_id, seq, kind, fired_at, fired_by, clock_started_at)
    SELECT f.clock_id, f.seq, f.kind, f.fired_at, f.fired_by, c.started_at
    FROM sla_fires_unpartitioned f JOIN sla_clocks c ON c.id = f.clock_id;
INSERT INTO deliveries (id, notification_id, channel, person_id, endpoint_id, dedupe_key, urgent, state, attempts, due_at,
        claimed_until, last_error, sent_at, read_at, created_at, digest, client_id, address)
    SELECT id, notification_id, channel, person_id, endpoint_id, dedupe_key, urgent, state, attempts, due_at,
        claimed_until, last_error, sent_at, read_at, created_at, digest, client_id, address
    FROM deliveries_unpartitioned;

DROP TABLE audit_events_unpartitioned;
DROP TABLE sla_fires_unpartitioned;
DROP TABLE deliveries_unpartitioned;
