-- The notification outbox (通知投递). A notification (what happened, for which unit or person) is
-- fanned out, in the transaction of the change that caused it, into deliveries: one per
-- recipient and channel, each with a dedupe key naming the triggering event, so that one event
-- retried is one message. The delivery worker claims due deliveries, sends, and marks them.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    channel TEXT NOT NULL CHECK (channel IN ('in_app', 'email', 'wecom', 'dingtalk', 'webhook')),
    -- The person it is for (in-app, email), or the unit's endpoint (robots, webhooks).
    person_id TEXT REFERENCES people(id),
    endpoint_id TEXT,
    dedupe_key TEXT NOT NULL,
    urgent BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL,
    -- Not before: quiet hours move a non-urgent message to the next working morning; a retry
    -- waits its backoff.
    due_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX deliveries_once ON deliveries (dedupe_key);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_inbox ON deliveries (person_id, channel, created_at);
CREATE INDEX deliveries_notification ON deliveries (notification_id);

-- A unit's group robots (WeCom 企业微信, DingTalk 钉钉) and signed webhooks.
CREATE TABLE channel_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    org_unit_id TEXT NOT NULL REFERENCES org_units(id),
    kind TEXT NOT NULL CHECK (kind IN ('wecom', 'dingtalk', 'webhook')),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX channel_endpoints_unit ON channel_endpoints (org_unit_id);

-- A person's choices: an email address, which kinds of event also go by email, quiet hours.
CREATE TABLE notification_settings (
    person_id TEXT PRIMARY KEY NOT NULL REFERENCES people(id),
    email TEXT,
    email_events TEXT NOT NULL,
    quiet_hours BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
