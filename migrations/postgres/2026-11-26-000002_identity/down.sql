DROP TABLE pii_reveals;
DROP TABLE login_attempts;
DROP TABLE sessions;
