#!/usr/bin/env bash
# A PostgreSQL streaming replica of the local primary (127.0.0.1:5432), as a second cluster of its
# own on another port, for the read-replica tests (cargo test --test api replica::). The replica's
# data, log and socket live under REPLICA_DIR; the primary's data is never touched.
#
#   bash bench/replica.sh [test]   up, the replica tests, then down (also on failure) unless
#                                  KEEP_REPLICA=1; exits with the tests' exit code
#   bash bench/replica.sh up       start (or reuse) the replica and prove that it streams
#   bash bench/replica.sh down     stop the replica and remove REPLICA_DIR
#   bash bench/replica.sh status   running?, in recovery?, replay lag (time and bytes)
#
# Environment: REPLICA_DIR (default /tmp/gridloop-replica), REPLICA_PORT (default 5433),
# KEEP_REPLICA=1 (test: leave the replica running afterwards).
#
# On the primary, `up` may: start it (pg_ctlcluster) when it is down; append
# `host replication all 127.0.0.1/32 trust` to its pg_hba.conf and reload it when replication
# connections from 127.0.0.1 are refused; create the database gl_test_main; create the table
# gl_test_main.public.replica_probe (one row per `up`). It creates no replication slot (a
# forgotten slot would keep WAL on the primary forever).
#
# PostgreSQL refuses to run as root: as root, the replica belongs to the user `postgres`.
set -euo pipefail

PRIMARY_HOST=127.0.0.1
PRIMARY_PORT=5432
TEST_DB=gl_test_main
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_DIR=${REPLICA_DIR:-/tmp/gridloop-replica}
SCRIPT=$(CDPATH='' cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(CDPATH='' cd "$(dirname "$SCRIPT")/.." && pwd)
# A file that marks REPLICA_DIR as made by this script: only such a directory (or an empty one)
# is ever removed.
MARKER=.gridloop-replica

say() { echo "replica: $*" >&2; }
die() { echo "replica: $*" >&2; exit 1; }

usage() {
  sed -n '/^#   bash/,/^# KEEP_REPLICA/p' "$SCRIPT" | sed 's/^# \{0,1\}//'
}

# --- settings checks ------------------------------------------------------------------------

case $REPLICA_PORT in
  '' | *[!0-9]*) die "REPLICA_PORT must be a port number, not '$REPLICA_PORT'" ;;
esac
[ "$REPLICA_PORT" != "$PRIMARY_PORT" ] || die "REPLICA_PORT must differ from the primary's port $PRIMARY_PORT"
# Absolute, without trailing slashes; the path goes into pg_ctl -o and into config files, so keep
# it to plain characters.
case $REPLICA_DIR in /*) ;; *) REPLICA_DIR=$PWD/$REPLICA_DIR ;; esac
while [ "${REPLICA_DIR%/}" != "$REPLICA_DIR" ]; do REPLICA_DIR=${REPLICA_DIR%/}; done
case $REPLICA_DIR in
  '' | *[!A-Za-z0-9._/-]*) die "REPLICA_DIR must be a path of letters, digits, '.', '_', '-' and '/', not '$REPLICA_DIR'" ;;
esac
DATA=$REPLICA_DIR/data
LOG=$REPLICA_DIR/log
# The replica's cluster_name, which its WAL receiver also uses as application_name: this is how
# its row in the primary's pg_stat_replication is found.
APP=gridloop_replica_$REPLICA_PORT

# --- helpers (find_bin and as_owner as in tests/pg_private_cluster.sh) ----------------------

find_bin() {
  local name=$1 dir
  # Prefer the binaries of the primary's (or the replica's) major version: they must match.
  if [ -z "${PG_MAJOR:-}" ] && [ -r "$DATA/PG_VERSION" ]; then PG_MAJOR=$(cat "$DATA/PG_VERSION"); fi
  if [ -n "${PG_MAJOR:-}" ] && [ -x "/usr/lib/postgresql/$PG_MAJOR/bin/$name" ]; then
    echo "/usr/lib/postgresql/$PG_MAJOR/bin/$name"; return
  fi
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir)
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
  done
  echo "replica: $name not found (install the PostgreSQL server package)" >&2
  return 1
}

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the owner of the replica (from /, which every user may enter). Without the
# lock's file descriptor: a postmaster started from here would inherit it and hold the lock.
as_owner() {
  if is_root; then (cd / && runuser -u postgres -- "$@" 9<&-); else "$@" 9<&-; fi
}

# Gives a file or directory made by root to the replica's owner.
give_to_owner() {
  if is_root; then chown -R postgres: "$@"; fi
}

# psql on the primary / the replica: no psqlrc, unaligned, tuples only, stop on the first error.
# The database is $DB when set, else postgres.
psql_primary() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 \
    "host=$PRIMARY_HOST port=$PRIMARY_PORT user=postgres dbname=${DB:-postgres} sslmode=disable connect_timeout=5" "$@"
}
psql_replica() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$REPLICA_PORT user=postgres dbname=${DB:-postgres} sslmode=disable connect_timeout=5" "$@"
}

primary_ready() { pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; }

# Exits 0 when a replication connection (as used by pg_basebackup and the WAL receiver) works.
can_replicate() {
  psql -X -q "host=$PRIMARY_HOST port=$PRIMARY_PORT user=postgres replication=true connect_timeout=5" \
    -c "IDENTIFY_SYSTEM" >/dev/null 2>&1
}

# Exits 0 when a postmaster runs with its data in $DATA (whatever its port).
replica_runs() {
  [ -f "$DATA/postmaster.pid" ] || return 1
  as_owner "$(find_bin pg_ctl)" -D "$DATA" status >/dev/null 2>&1 || return 1
  # pg_ctl status only asks whether the PID exists, and a killed postmaster that is not reaped yet
  # (a zombie) still does.
  local pid
  pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null) || return 0
  case $(ps -o stat= -p "$pid" 2>/dev/null) in '' | Z*) return 1 ;; esac
}

# The port the running replica listens on, from its postmaster.pid (line 4).
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }

# Serialises runs of this script (two `up`s at once would race on REPLICA_DIR and the port):
# flock on the script itself, file descriptor 9, which no server started from here may inherit.
lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9<"$SCRIPT"
  flock -w 300 9 || die "another bench/replica.sh has been running for 5 minutes; giving up"
}
unlock() { exec 9<&-; }

# Removes REPLICA_DIR, but only when this script made it (marker file) or it is empty.
remove_replica_dir() {
  [ -e "$REPLICA_DIR" ] || return 0
  [ -d "$REPLICA_DIR" ] || die "$REPLICA_DIR exists and is not a directory; not touching it"
  if [ ! -e "$REPLICA_DIR/$MARKER" ] && [ -n "$(ls -A "$REPLICA_DIR")" ]; then
    die "$REPLICA_DIR is not empty and was not made by this script (no $MARKER); not removing it"
  fi
  rm -rf "$REPLICA_DIR"
}

# Stops the replica: fast shutdown (sessions terminated), immediate when that does not finish.
stop_replica() {
  replica_runs || return 0
  say "stopping the replica in $DATA"
  as_owner "$(find_bin pg_ctl)" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 && return 0
  as_owner "$(find_bin pg_ctl)" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 && return 0
  # It may have died meanwhile.
  ! replica_runs || die "could not stop the replica in $DATA (see $LOG)"
}

# --- up ---------------------------------------------------------------------------------------

# (1) The primary runs.
ensure_primary() {
  if ! primary_ready; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | head -n1)
    [ -n "$version" ] || die "the primary on $PRIMARY_HOST:$PRIMARY_PORT is down and there is no cluster in /etc/postgresql to start"
    say "starting the primary (pg_ctlcluster $version main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 9<&-
    for _ in $(seq 30); do primary_ready && break; sleep 1; done
    primary_ready || die "the primary on $PRIMARY_HOST:$PRIMARY_PORT does not accept connections"
  fi
  PG_MAJOR=$(( $(psql_primary -c "show server_version_num") / 10000 ))
}

# (2) The primary streams WAL to replication connections from 127.0.0.1 for user postgres,
# without a password.
ensure_replication_allowed() {
  local wal_level max_senders hba
  wal_level=$(psql_primary -c "show wal_level")
  case $wal_level in
    replica | logical) ;;
    *) die "the primary has wal_level = $wal_level; a streaming replica needs replica or logical (set it in its postgresql.conf and restart it)" ;;
  esac
  max_senders=$(psql_primary -c "show max_wal_senders")
  [ "$max_senders" -gt 0 ] \
    || die "the primary has max_wal_senders = 0; a streaming replica needs at least 1 (pg_basebackup -X stream: 2), set it in its postgresql.conf and restart it"
  can_replicate && return 0

  hba=$(psql_primary -c "show hba_file")
  [ -f "$hba" ] || die "the primary refuses replication connections and its hba_file $hba is not here to edit"
  [ -w "$hba" ] || die "the primary refuses replication connections from 127.0.0.1; add 'host replication all 127.0.0.1/32 trust' to $hba (not writable by $(id -un)) and reload it"
  if grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    say "$hba already has 'host replication all 127.0.0.1/32 trust'; reloading it"
  else
    say "allowing replication connections from 127.0.0.1 on the primary: appending to $hba"
    # Make sure the new line starts on a line of its own.
    if [ -s "$hba" ] && [ -n "$(tail -c1 "$hba")" ]; then echo >>"$hba"; fi
    printf '%s\n' "# Added by gridloop bench/replica.sh: a local streaming replica (pg_basebackup, WAL receiver)" \
      "host replication all 127.0.0.1/32 trust" >>"$hba"
  fi
  psql_primary -c "select pg_reload_conf()" >/dev/null
  # The reload is asynchronous: give the postmaster a moment.
  for _ in $(seq 10); do can_replicate && return 0; sleep 0.5; done
  psql "host=$PRIMARY_HOST port=$PRIMARY_PORT user=postgres replication=true connect_timeout=5" -c "IDENTIFY_SYSTEM" >/dev/null || true
  die "the primary still refuses replication connections from 127.0.0.1 (an earlier line of $hba may match first, see above)"
}

# (3) The tests' database exists on the primary.
ensure_test_db() {
  if [ "$(psql_primary -c "select count(*) from pg_database where datname = '$TEST_DB'")" = 0 ]; then
    say "creating database $TEST_DB on the primary"
    psql_primary -c "create database $TEST_DB" >/dev/null
  fi
}

# Exits 0 when a replica of this primary already runs from $DATA on REPLICA_PORT, in recovery.
reusable() {
  replica_runs || return 1
  local dir rec sysid_r sysid_p
  dir=$(psql_replica -c "show data_directory" 2>/dev/null) || return 1
  [ "$dir" = "$DATA" ] || return 1
  rec=$(psql_replica -c "select pg_is_in_recovery()" 2>/dev/null) || return 1
  [ "$rec" = t ] || return 1
  sysid_r=$(psql_replica -c "select system_identifier from pg_control_system()" 2>/dev/null) || return 1
  sysid_p=$(psql_primary -c "select system_identifier from pg_control_system()") || return 1
  [ "$sysid_r" = "$sysid_p" ]
}

# The replica's configuration. The base backup copies postgresql.auto.conf (plus, from -R,
# primary_conninfo and standby.signal) but not the Debian files in /etc/postgresql: write a
# postgresql.conf with the primary's settings that matter (minus paths, ports, SSL and archiving),
# and an hba and ident file of the replica's own. Nothing may point back at the primary's files.
configure_replica() {
  local not_copied="'data_directory', 'config_file', 'hba_file', 'ident_file', 'external_pid_file',
    'port', 'listen_addresses', 'unix_socket_directories', 'unix_socket_group',
    'unix_socket_permissions', 'cluster_name', 'logging_collector', 'log_directory', 'log_filename',
    'archive_mode', 'archive_command', 'archive_library', 'restore_command',
    'archive_cleanup_command', 'recovery_end_command', 'primary_conninfo', 'primary_slot_name',
    'promote_trigger_file', 'synchronous_standby_names', 'hot_standby',
    'max_standby_streaming_delay', 'krb_server_keyfile'"
  # Paths in the copied files would name the primary's: comment them out.
  local paths='data_directory|config_file|hba_file|ident_file|external_pid_file|cluster_name|port|listen_addresses|unix_socket_directories|ssl[a-z_]*|archive_mode|archive_command|archive_library|logging_collector|log_directory|primary_slot_name'
  local f
  for f in "$DATA/postgresql.conf" "$DATA/postgresql.auto.conf"; do
    if [ -f "$f" ]; then
      as_owner sed -i -E "s/^[[:space:]]*($paths)[[:space:]]*=/# (disabled by bench\/replica.sh) &/I" "$f"
    fi
  done

  if [ ! -f "$DATA/postgresql.conf" ]; then
    {
      echo "# Replica of $PRIMARY_HOST:$PRIMARY_PORT, written by bench/replica.sh."
      echo "# The primary's settings from its configuration files (paths, ports, SSL and archiving left out);"
      echo "# the hot standby parameters must be at least the primary's."
      psql_primary <<SQL
select name || ' = ''' || replace(replace(current_setting(name), '\\', '\\\\'), '''', '''''') || ''''
from pg_settings
where (source = 'configuration file'
       and lower(name) not in ($not_copied)
       and lower(name) not like 'ssl%')
   or name in ('max_connections', 'max_worker_processes', 'max_wal_senders',
               'max_prepared_transactions', 'max_locks_per_transaction')
order by name;
SQL
    } >"$DATA/postgresql.conf"
  fi
  cat >>"$DATA/postgresql.conf" <<EOF

# The replica's own (bench/replica.sh); port, sockets and listen_addresses come from pg_ctl -o.
cluster_name = '$APP'
hba_file = '$DATA/pg_hba.conf'
ident_file = '$DATA/pg_ident.conf'
ssl = off
logging_collector = off
EOF
  cat >"$DATA/pg_hba.conf" <<'EOF'
# The replica's own (bench/replica.sh): trust, local connections only.
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
EOF
  : >"$DATA/pg_ident.conf"
  give_to_owner "$DATA/postgresql.conf" "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"
  chmod 600 "$DATA/postgresql.conf" "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"
  chmod 700 "$DATA"
}

# (4) A fresh base backup of the primary, started as a hot standby.
build_replica() {
  stop_replica
  if (exec 3<>"/dev/tcp/127.0.0.1/$REPLICA_PORT") 2>/dev/null; then
    die "something else already listens on 127.0.0.1:$REPLICA_PORT (not the replica in $DATA); choose another REPLICA_PORT"
  fi
  remove_replica_dir
  mkdir -p "$REPLICA_DIR"
  touch "$REPLICA_DIR/$MARKER"
  give_to_owner "$REPLICA_DIR"
  chmod 700 "$REPLICA_DIR"
  as_owner test -w "$REPLICA_DIR" \
    || die "the owner of the replica ($(is_root && echo postgres || id -un)) cannot write to $REPLICA_DIR (can it reach the parent folders?)"

  say "base backup of $PRIMARY_HOST:$PRIMARY_PORT into $DATA"
  as_owner "$(find_bin pg_basebackup)" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$DATA" \
    -R -X stream -c fast >"$REPLICA_DIR/basebackup.log" 2>&1 \
    || { cat "$REPLICA_DIR/basebackup.log" >&2; die "pg_basebackup failed"; }
  [ -f "$DATA/standby.signal" ] || die "pg_basebackup -R wrote no standby.signal in $DATA"
  configure_replica

  say "starting the replica on 127.0.0.1:$REPLICA_PORT"
  as_owner "$(find_bin pg_ctl)" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $REPLICA_PORT -k $REPLICA_DIR -c listen_addresses=127.0.0.1 -c hot_standby=on -c max_standby_streaming_delay=30s" \
    start >/dev/null \
    || { tail -n 30 "$LOG" >&2 || true; die "the replica did not start (log: $LOG)"; }
}

# (5) The replica is in recovery and the primary streams to it.
wait_streaming() {
  local rec="" state=""
  for _ in $(seq 60); do
    rec=$(psql_replica -c "select pg_is_in_recovery()" 2>/dev/null) || rec=""
    state=$(psql_primary -c "select string_agg(state, ',') from pg_stat_replication where application_name = '$APP'") \
      || state=""
    case $rec,$state in t,*streaming*) return 0 ;; esac
    sleep 1
  done
  tail -n 20 "$LOG" >&2 || true
  die "after 60 s: pg_is_in_recovery() = '${rec:-no answer}' on the replica, pg_stat_replication state = '${state:-no row}' on the primary (log: $LOG)"
}

# (6) A row written on the primary shows on the replica. Wait for the replica to replay past the
# insert's commit first (so that it is not queried before the table exists), then look for the row.
prove_replication() {
  local at lsn replayed="" seen lag
  at=$(DB=$TEST_DB psql_primary \
    -c "set client_min_messages = warning" \
    -c "create table if not exists replica_probe(at timestamptz)" \
    -c "delete from replica_probe where at < now() - interval '1 day'" \
    -c "insert into replica_probe values (now()) returning at")
  lsn=$(psql_primary -c "select pg_current_wal_lsn()")
  for _ in $(seq 150); do
    replayed=$(psql_replica -c "select pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null) || replayed=""
    [ "$replayed" = t ] && break
    sleep 0.2
  done
  [ "$replayed" = t ] || die "the replica did not replay the primary's WAL up to $lsn within 30 s (log: $LOG)"
  seen=$(DB=$TEST_DB psql_replica -c "select count(*) from replica_probe where at = '$at'")
  [ "$seen" = 1 ] || die "the replica replayed up to $lsn but does not show the row written on the primary at $at"
  lag=$(psql_primary -c "select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::bigint
                         from pg_stat_replication where application_name = '$APP'")
  echo "replica: streaming from $PRIMARY_HOST:$PRIMARY_PORT on 127.0.0.1:$REPLICA_PORT (lag $lag bytes)"
}

up() {
  lock
  ensure_primary
  ensure_replication_allowed
  ensure_test_db
  if reusable; then
    say "reusing the replica already running from $DATA on 127.0.0.1:$REPLICA_PORT"
  else
    build_replica
  fi
  wait_streaming
  prove_replication
  unlock
}

# --- down, status, test -----------------------------------------------------------------------

down() {
  lock
  stop_replica
  if [ -e "$REPLICA_DIR" ]; then
    remove_replica_dir
    say "removed $REPLICA_DIR"
  fi
  unlock
}

status() {
  if ! replica_runs; then
    echo "replica: not running (REPLICA_DIR $REPLICA_DIR, port $REPLICA_PORT)"
    return 3
  fi
  local rec lag port
  port=$(running_port)
  if [ -n "$port" ] && [ "$port" != "$REPLICA_PORT" ]; then
    echo "replica: running from $DATA on 127.0.0.1:$port (not on REPLICA_PORT=$REPLICA_PORT)"
    REPLICA_PORT=$port
    APP=gridloop_replica_$port
  else
    echo "replica: running from $DATA on 127.0.0.1:$REPLICA_PORT"
  fi
  rec=$(psql_replica -c "select pg_is_in_recovery()" 2>/dev/null) || rec="no answer on port $REPLICA_PORT"
  echo "  pg_is_in_recovery(): $rec"
  # Grows while the primary commits nothing: it is the age of the last replayed transaction.
  lag=$(psql_replica -c "select coalesce((now() - pg_last_xact_replay_timestamp())::text, 'no transaction replayed yet')" 2>/dev/null) \
    || lag="no answer"
  echo "  now() - pg_last_xact_replay_timestamp(): $lag (grows while the primary is idle)"
  if primary_ready; then
    local row state bytes replay_lag
    row=$(psql_primary -F ' ' -c "select state,
             coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
             coalesce(replay_lag::text, 'idle')
           from pg_stat_replication where application_name = '$APP'")
    if [ -n "$row" ]; then
      read -r state bytes replay_lag <<<"$row"
      echo "  primary $PRIMARY_HOST:$PRIMARY_PORT: state $state, replay lag $bytes bytes ($replay_lag)"
    else
      echo "  primary $PRIMARY_HOST:$PRIMARY_PORT: no row for $APP in pg_stat_replication (not streaming)"
    fi
  else
    echo "  primary $PRIMARY_HOST:$PRIMARY_PORT: not reachable"
  fi
}

# On leaving `test`, however: down (unless KEEP_REPLICA=1), keeping the exit code.
cleanup() {
  local rc=$?
  trap - EXIT
  unlock
  if [ "${KEEP_REPLICA:-0}" = 1 ]; then
    say "kept running (KEEP_REPLICA=1); remove it with: bash bench/replica.sh down"
  else
    (down) || say "warning: could not take the replica down"
  fi
  exit "$rc"
}

run_test() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  up
  cd "$ROOT"
  local rc=0
  GRIDLOOP_TEST_DATABASE_URL="postgres://postgres@$PRIMARY_HOST:$PRIMARY_PORT/$TEST_DB?sslmode=disable" \
    GRIDLOOP_TEST_REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/$TEST_DB?sslmode=disable" \
    GRIDLOOP_REQUIRE_REPLICA=1 \
    cargo test --test api replica:: -- --test-threads=2 || rc=$?
  exit "$rc"
}

case ${1:-test} in
  test) run_test ;;
  up) up ;;
  down) down ;;
  status) status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
