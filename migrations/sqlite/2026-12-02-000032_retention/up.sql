-- Personal-data retention (#22, decision 0033): audit events stay append-only, except that the
-- retention purge may rewrite the `changes` of a hash-version-3 event (replacing residents'
-- personal values with the digests the hash already covers). Any other change is refused, as before.
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OF id, shard, seq, entity_kind, entity_id, actor_id, actor_role,
    actor_unit_id, at, action, from_state, to_state, reason, prev_hash, hash, hash_version ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_purge_only BEFORE UPDATE OF changes ON audit_events WHEN OLD.hash_version < 3
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
-- The purge finds closed tickets by when they closed.
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX login_attempts_at ON login_attempts (at);
CREATE INDEX visit_logs_visit_date ON visit_logs (visit_date);
