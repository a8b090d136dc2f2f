-- Personal-data retention (#22, decision 0033): audit events stay append-only, except that the
-- retention purge may rewrite the `changes` of a hash-version-3 event (replacing residents'
-- personal values with the digests the hash already covers). Any other change is refused, as before.
CREATE FUNCTION audit_events_purge_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash_version >= 3
       AND (NEW.id, NEW.shard, NEW.seq, NEW.entity_kind, NEW.entity_id, NEW.actor_id, NEW.actor_role, NEW.actor_unit_id,
            NEW.at, NEW.action, NEW.from_state, NEW.to_state, NEW.reason, NEW.prev_hash, NEW.hash, NEW.hash_version)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.shard, OLD.seq, OLD.entity_kind, OLD.entity_id, OLD.actor_id, OLD.actor_role, OLD.actor_unit_id,
            OLD.at, OLD.action, OLD.from_state, OLD.to_state, OLD.reason, OLD.prev_hash, OLD.hash, OLD.hash_version) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only();
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX login_attempts_at ON login_attempts (at);
CREATE INDEX visit_logs_visit_date ON visit_logs (visit_date);
