-- Sessions, login attempts and the record of every reveal of a resident's personal data.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    -- SHA-256 of the bearer token; the token itself is never stored
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_person ON sessions(person_id);

CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL,
    person_id TEXT REFERENCES people(id),
    succeeded BOOLEAN NOT NULL,
    reason TEXT NOT NULL,
    remote_addr TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_person ON login_attempts(person_id, at);

CREATE TABLE pii_reveals (
    id TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    role TEXT NOT NULL,
    org_unit_id TEXT NOT NULL REFERENCES org_units(id),
    record_kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX pii_reveals_record ON pii_reveals(record_kind, record_id);
