#!/usr/bin/env bash
# SLA clocks: deadline arithmetic, an idle scheduler tick over 1,000,000 open clocks, and 10,000
# clocks due at once. PostgreSQL by default; BENCH_BACKEND=sqlite for SQLite. See benches/sla.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_BACKEND:-postgres}" = postgres ] && ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
exec cargo bench --locked --bench sla
