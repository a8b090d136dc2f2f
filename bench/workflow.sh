#!/usr/bin/env bash
# Workflow throughput and latency against the release server; see benches/workflow.rs.
# PostgreSQL with 1,000,000 tickets: bash bench/workflow.sh
# SQLite:                            BENCH_BACKEND=sqlite bash bench/workflow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_BACKEND:-postgres}" = postgres ] && ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
exec cargo bench --locked --bench workflow
