DROP TABLE idempotency_keys;
DROP TABLE audit_heads;
DROP TABLE audit_events;
DROP TABLE ticket_extensions;
DROP TABLE ticket_assignments;
DROP TABLE ticket_counters;
DROP TABLE tickets;
