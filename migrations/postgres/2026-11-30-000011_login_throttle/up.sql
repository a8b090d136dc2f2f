-- Login throttling (登录限流) replaces the per-account lockout, which anyone could trigger to lock
-- a person out. A row is one failure counter, shared by every server on the database:
--   ('', address)        every failure from one client address, whatever the account;
--   (account, address)   failures against one account from one address;
--   (account, '')        failures against one account from addresses that are not its usual ones.
-- `account` is a person's id, or 'login:<text>' for a login that names nobody (so that an unknown
-- login is throttled exactly like a known one). `address` is an IPv4 address or an IPv6 /64.
CREATE TABLE login_throttle (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    failures INTEGER NOT NULL,
    -- failures are forgotten one per auth.throttle_decay_minutes, counted from here
    decayed_at TIMESTAMP NOT NULL,
    -- attempts this counter applies to are refused (429) before this instant
    blocked_until TIMESTAMP,
    -- after this the row holds nothing and may be deleted
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX login_throttle_expiry ON login_throttle(expires_at);

-- The addresses (IPv4, or IPv6 /64) each person logged in from successfully, with the last time:
-- an account's usual addresses are not held up when the account is attacked from elsewhere.
CREATE TABLE login_usual_addresses (
    person_id TEXT NOT NULL REFERENCES people(id),
    address TEXT NOT NULL,
    last_success_at TIMESTAMP NOT NULL,
    PRIMARY KEY (person_id, address)
);
CREATE INDEX login_usual_addresses_age ON login_usual_addresses(last_success_at);

-- The lockout's columns go with it.
ALTER TABLE people DROP COLUMN failed_logins;
ALTER TABLE people DROP COLUMN locked_until;
