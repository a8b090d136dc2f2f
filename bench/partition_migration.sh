#!/usr/bin/env bash
# How long migration 33 (monthly partitions, decision 0034) takes on an existing PostgreSQL
# database: a database at migration 32 gets ROWS audit events, ROWS/3 clocks with one firing
# each, ROWS/3 notifications with three deliveries each (spread over the last 24 months), then
# `gridloop migrate` is timed, and the rows are counted in their partitions.
#
#   bash bench/partition_migration.sh            ROWS=1000000 by default
#   ROWS=200000 bash bench/partition_migration.sh
#
# Uses (and drops first) the database gridloop_partmig on 127.0.0.1:5432. The generated rows are
# filler (the migration copies them; nothing reads their content), inserted with foreign keys
# and triggers off (session_replication_role = replica).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
DB=gridloop_partmig
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
PSQL=(psql -q -v ON_ERROR_STOP=1 -U postgres -h 127.0.0.1)
if ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
# The time is PostgreSQL's (the migration is SQL): the debug build serves.
cargo build --locked --quiet
BIN=target/debug/gridloop
now() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import time; print(f'{time.time() - $1:.1f}')"; }

"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"$BIN" --database-url "$URL" migrate >/dev/null
# Back to migration 32: the two newest migrations' down.sql, newest first.
for m in migrations/postgres/*_replica_reads migrations/postgres/*_history_partitions; do
  "${PSQL[@]}" -d "$DB" -f "$m/down.sql"
  v=$(basename "$m" | cut -d_ -f1 | tr -d -)
  "${PSQL[@]}" -d "$DB" -c "DELETE FROM __diesel_schema_migrations WHERE version = '$v'"
done

echo "filling: $ROWS audit events, $((ROWS / 3)) clocks and firings, $((ROWS / 3)) notifications with $((ROWS / 3 * 3)) deliveries"
start=$(now)
"${PSQL[@]}" -d "$DB" <<SQL
SET session_replication_role = replica;
INSERT INTO audit_events (id, shard, seq, entity_kind, entity_id, at, action, changes, prev_hash, hash, hash_version)
SELECT 'ev-' || i, i % 64, i / 64 + 1, 'ticket', 'tk-' || (i / 7), now() - (i % 730) * interval '1 day', 'file',
       '{"title":["","a request of some length"]}', repeat('0', 64), md5(i::text) || md5((i + 1)::text), 3
FROM generate_series(0, $ROWS - 1) AS i;
INSERT INTO sla_clocks (id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at, original_due_at)
SELECT 'ck-' || i, 'tk-' || i, 'resolution', 'unit', '/c/d/s/k/y', 'cn-mainland', '5 working days',
       now() - (i % 730) * interval '1 day', now(), now(), now()
FROM generate_series(0, $ROWS / 3 - 1) AS i;
INSERT INTO sla_fires (clock_id, seq, kind, fired_at, fired_by)
SELECT 'ck-' || i, 1, 'sla_warning', now() - (i % 730) * interval '1 day' + interval '3 days', 'bench'
FROM generate_series(0, $ROWS / 3 - 1) AS i;
INSERT INTO notifications (id, unit_id, kind, payload, created_at)
SELECT 'nt-' || i, 'unit', 'sla_warning', '{}', now() - (i % 730) * interval '1 day'
FROM generate_series(0, $ROWS / 3 - 1) AS i;
INSERT INTO deliveries (id, notification_id, channel, dedupe_key, urgent, state, attempts, due_at, created_at)
SELECT 'dl-' || i || '-' || c, 'nt-' || i, (ARRAY['in_app', 'email', 'wecom'])[c], 'k-' || i || '-' || c, false, 'sent', 1,
       now() - (i % 730) * interval '1 day', now() - (i % 730) * interval '1 day'
FROM generate_series(0, $ROWS / 3 - 1) AS i, generate_series(1, 3) AS c;
VACUUM ANALYZE;
SQL
printf 'filled in %s s; before the migration: %s\n' "$(since "$start")" \
  "$("${PSQL[@]}" -d "$DB" -Atc "SELECT pg_size_pretty(pg_total_relation_size('audit_events') + pg_total_relation_size('sla_fires') + pg_total_relation_size('deliveries'))") in the three tables"

start=$(now)
"$BIN" --database-url "$URL" migrate
took=$(since "$start")
total=$((ROWS + ROWS / 3 + ROWS / 3 * 3))
echo "migration 33 (and 34): $took s for $total rows: $(python3 -c "print(round($total / $took))") rows/s"
"${PSQL[@]}" -d "$DB" -Atc "SELECT 'monthly partitions: ' || count(*) || ' of ' || string_agg(DISTINCT p.relname, ', ') FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname NOT LIKE '%_default'"
for t in audit_events sla_fires deliveries; do
  "${PSQL[@]}" -d "$DB" -Atc "SELECT '$t: ' || count(*) || ' rows, ' || (SELECT count(*) FROM ONLY $t) || ' in the parent itself, ' || (SELECT count(*) FROM ${t}_default) || ' in the default partition' FROM $t"
done
"${PSQL[@]}" -c "DROP DATABASE $DB"
