#!/usr/bin/env bash
# The pages' weight and server time with a million tickets in the database; see benches/pages.rs.
# SQLite: bash bench/pages.sh      PostgreSQL: BENCH_BACKEND=postgres bash bench/pages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_BACKEND:-sqlite}" = postgres ] && ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
exec cargo bench --locked --bench pages
