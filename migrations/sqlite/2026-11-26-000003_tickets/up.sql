-- Tickets (诉求), whistled departments, extensions, the audit trail and idempotency keys.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    -- GL-YYYYMMDD-NNNN, sequential per day (Asia/Shanghai)
    number TEXT NOT NULL UNIQUE,
    category_id TEXT NOT NULL REFERENCES categories(id),
    urgency TEXT NOT NULL CHECK (urgency IN ('normal','urgent')),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    place_id TEXT NOT NULL REFERENCES org_units(id),
    -- the place's materialised path: scope checks are one range scan
    place_path TEXT NOT NULL,
    compound_id TEXT NOT NULL REFERENCES org_units(id),
    community_id TEXT NOT NULL REFERENCES org_units(id),
    address TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    resident_name TEXT,
    resident_phone TEXT,
    channel TEXT NOT NULL CHECK (channel IN ('visit','hotline','walk_in','online')),
    filed_by TEXT NOT NULL REFERENCES people(id),
    visit_log_id TEXT,
    state TEXT NOT NULL,
    solved_level TEXT,
    duplicate_of TEXT REFERENCES tickets(id),
    whistle_type TEXT,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    satisfaction TEXT,
    resolution TEXT,
    -- deadline of the stage the ticket is in now
    due_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP
);
-- "the latest tickets of this building / compound / community": an ordered index scan each
CREATE INDEX tickets_place ON tickets(place_id, created_at, id);
CREATE INDEX tickets_compound ON tickets(compound_id, created_at, id);
CREATE INDEX tickets_community ON tickets(community_id, created_at, id);
CREATE INDEX tickets_created ON tickets(created_at, id);
CREATE INDEX tickets_state_due ON tickets(state, due_at);
-- inboxes: a state within a subtree, in deadline order, answered from the index alone
CREATE INDEX tickets_state_place ON tickets(state, place_path, due_at, id);

CREATE TABLE ticket_counters (
    day TEXT PRIMARY KEY NOT NULL,
    last BIGINT NOT NULL
);

CREATE TABLE ticket_assignments (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    department_id TEXT NOT NULL REFERENCES org_units(id),
    lead BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('dispatched','acknowledged','returned','done','removed')),
    overruled BOOLEAN NOT NULL DEFAULT FALSE,
    dispatched_at TIMESTAMP NOT NULL,
    ack_due_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    due_at TIMESTAMP NOT NULL,
    original_due_at TIMESTAMP,
    return_reason TEXT,
    return_note TEXT,
    done_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_assignments_ticket ON ticket_assignments(ticket_id);
CREATE INDEX ticket_assignments_department ON ticket_assignments(department_id, state, due_at);

CREATE TABLE ticket_extensions (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    assignment_id TEXT NOT NULL REFERENCES ticket_assignments(id),
    requested_by TEXT NOT NULL REFERENCES people(id),
    reason TEXT NOT NULL,
    proposed_due_at TIMESTAMP NOT NULL,
    original_due_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','granted','refused')),
    decided_by TEXT REFERENCES people(id),
    decided_at TIMESTAMP,
    requested_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_extensions_ticket ON ticket_extensions(ticket_id);

-- The audit trail: append-only (enforced by triggers below), hash-chained in 64 chains.
CREATE TABLE audit_events (
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
    UNIQUE (shard, seq)
);
CREATE INDEX audit_events_entity ON audit_events(entity_kind, entity_id);

-- The head of each chain: the writer of an event updates its chain's row in the same transaction.
CREATE TABLE audit_heads (
    shard INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    person_id TEXT NOT NULL REFERENCES people(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (person_id, key)
);

WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < 63)
INSERT INTO audit_heads (shard, seq, hash) SELECT x, 0, '0000000000000000000000000000000000000000000000000000000000000000' FROM s;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
