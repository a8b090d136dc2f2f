-- SLA clocks (时限): one row per running or finished clock of a stage; the scheduler fires
-- warnings, breaches and reminders from next_fire_at, each exactly once.
CREATE TABLE sla_clocks (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    assignment_id TEXT REFERENCES ticket_assignments(id),
    stage TEXT NOT NULL,
    holder_unit_id TEXT NOT NULL REFERENCES org_units(id),
    holder_path TEXT COLLATE "C" NOT NULL,
    calendar TEXT NOT NULL,
    limit_text TEXT NOT NULL,
    -- the stage was entered (dispatch), whoever acknowledges when
    started_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    warn_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    -- the first deadline, kept when an extension or a policy change moves due_at
    original_due_at TIMESTAMP NOT NULL,
    warned_at TIMESTAMP,
    breached_at TIMESTAMP,
    reminders INTEGER NOT NULL DEFAULT 0,
    paused_at TIMESTAMP,
    pause_reason TEXT,
    paused_seconds BIGINT NOT NULL DEFAULT 0,
    stopped_at TIMESTAMP,
    -- when the scheduler must look at this clock next; NULL once stopped
    next_fire_at TIMESTAMP,
    fire_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sla_clocks_next_fire ON sla_clocks(next_fire_at);
CREATE INDEX sla_clocks_ticket ON sla_clocks(ticket_id);
CREATE INDEX sla_clocks_holder ON sla_clocks(holder_path, breached_at);

-- The last guard of exactly-once: one row per firing of a clock.
CREATE TABLE sla_fires (
    clock_id TEXT NOT NULL REFERENCES sla_clocks(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    fired_by TEXT NOT NULL,
    PRIMARY KEY (clock_id, seq)
);

-- The supervision queue (督办): one entry per breached clock.
CREATE TABLE supervision (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    clock_id TEXT NOT NULL UNIQUE REFERENCES sla_clocks(id),
    stage TEXT NOT NULL,
    holder_unit_id TEXT NOT NULL REFERENCES org_units(id),
    holder_path TEXT COLLATE "C" NOT NULL,
    breached_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);
CREATE INDEX supervision_holder ON supervision(holder_path, resolved_at);

-- Notification records for the notification work that follows (email, SMS, app push).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    unit_id TEXT NOT NULL REFERENCES org_units(id),
    ticket_id TEXT REFERENCES tickets(id),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX notifications_unsent ON notifications(sent_at, created_at);

-- An admin's limits for one category, overriding the configured defaults.
CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY NOT NULL,
    category_id TEXT NOT NULL REFERENCES categories(id),
    urgency TEXT NOT NULL,
    stage TEXT NOT NULL,
    limit_text TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (category_id, urgency, stage)
);
