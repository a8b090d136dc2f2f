#!/usr/bin/env bash
# The secretary's board for a compound with 50 grid workers and a year of logs, on SQLite and
# PostgreSQL, against the release server; see benches/board.rs.
# Both back ends: bash bench/board.sh      One: BENCH_BACKEND=sqlite|postgres bash bench/board.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_BACKEND:-both}" != sqlite ] && ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
exec cargo bench --locked --bench board
