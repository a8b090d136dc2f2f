#!/usr/bin/env bash
# A throwaway PostgreSQL cluster of its own (data, port and socket folder under DIR), for the
# outage test (tests/api/outage.rs), which stops it mid-run. Never touches another cluster.
#
#   pg_private_cluster.sh check              exit 0 when initdb and pg_ctl are found, else say why
#   pg_private_cluster.sh init DIR PORT      initdb into DIR/data (trust auth, user postgres)
#   pg_private_cluster.sh start DIR PORT     start it on 127.0.0.1:PORT, sockets in DIR
#   pg_private_cluster.sh stop DIR           fast shutdown (sessions terminated, as in a restart)
#   pg_private_cluster.sh destroy DIR        stop it if it runs, and remove DIR
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the user `postgres`.
set -euo pipefail

find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir)
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
  done
  return 1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:?usage: $0 check|init|start|stop|destroy DIR [PORT]}
case $cmd in
  check)
    find_bin initdb >/dev/null || { echo "initdb not found (install the PostgreSQL server package)" >&2; exit 3; }
    find_bin pg_ctl >/dev/null || { echo "pg_ctl not found" >&2; exit 3; }
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "running as root and there is no user postgres to own the cluster" >&2; exit 3; }
      command -v runuser >/dev/null 2>&1 || { echo "running as root and runuser is missing" >&2; exit 3; }
    fi
    ;;
  init)
    dir=${2:?DIR}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$(find_bin initdb)" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    ;;
  start)
    dir=${2:?DIR} port=${3:?PORT}
    as_owner "$(find_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c lc_messages=C" start >/dev/null
    ;;
  stop)
    dir=${2:?DIR}
    as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    ;;
  destroy)
    dir=${2:?DIR}
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
