-- Requests from outside the grid (decision 0032): the city's 12345 platform and Open311 apps
-- file through a client of their own; a resident follows his request by a link.

-- A system outside the grid that files requests: the 12345 platform (hotline) or an Open311 app.
-- Its key is shown once; `key_id` finds it, `key_hash` (SHA-256 of the whole key) checks it. A
-- platform's `secret` signs its requests (HMAC) and our status pushes to its `webhook_url`.
CREATE TABLE external_clients (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hotline', 'open311')),
    name TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    secret TEXT,
    webhook_url TEXT,
    -- The subtree it may dispatch to, and the compound where what matches nothing waits (待分拨).
    scope_unit_id TEXT NOT NULL REFERENCES org_units(id),
    triage_compound_id TEXT NOT NULL REFERENCES org_units(id),
    -- The person its filings are recorded under (no login).
    person_id TEXT NOT NULL REFERENCES people(id),
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A platform's category code → our category (the admin's map).
CREATE TABLE external_categories (
    client_id TEXT NOT NULL REFERENCES external_clients(id),
    code TEXT NOT NULL,
    category_id TEXT NOT NULL REFERENCES categories(id),
    PRIMARY KEY (client_id, code)
);

-- A work order (工单) or service request as received: one ticket per external id of a client.
CREATE TABLE external_orders (
    client_id TEXT NOT NULL REFERENCES external_clients(id),
    external_id TEXT NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE REFERENCES tickets(id),
    body_hash TEXT NOT NULL,
    revision INTEGER NOT NULL,
    -- 'unit' (the unit it named), 'address' (matched), 'triage' (matched nothing).
    landing TEXT NOT NULL CHECK (landing IN ('unit', 'address', 'location', 'triage')),
    -- The platform's deadline (办理时限): the ticket's resolution clocks run to it, not to our policy.
    deadline TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, external_id)
);

-- A resident's link to his request's status page (no login): the token is the secret.
CREATE TABLE resident_links (
    id TEXT PRIMARY KEY NOT NULL,
    token TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'none')),
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    rating TEXT CHECK (rating IN ('satisfied', 'basically_satisfied', 'not_satisfied')),
    rating_comment TEXT,
    rated_at TIMESTAMP
);
CREATE INDEX resident_links_ticket ON resident_links (ticket_id);

-- Where a compound is (its gate, WGS-84), set by the admin: a request whose address names no
-- compound lands at the nearest one within 500 m of its coordinates.
ALTER TABLE org_units ADD COLUMN latitude DOUBLE PRECISION;
ALTER TABLE org_units ADD COLUMN longitude DOUBLE PRECISION;

-- Deliveries for no person and no unit's endpoint: a platform's status push (its client) and a
-- resident's link (his mail address or phone).
ALTER TABLE deliveries ADD COLUMN client_id TEXT;
ALTER TABLE deliveries ADD COLUMN address TEXT;
