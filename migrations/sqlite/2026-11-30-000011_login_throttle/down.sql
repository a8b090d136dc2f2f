ALTER TABLE people ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN locked_until TIMESTAMP;
DROP TABLE login_usual_addresses;
DROP TABLE login_throttle;
