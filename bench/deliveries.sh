#!/usr/bin/env bash
# The delivery worker's throughput: 10,000 mails to a local SMTP server, 10,000 webhooks to a local
# HTTP receiver (benches/deliveries.rs). Needs python3 with aiosmtpd (installed here if missing).
# SQLite by default; BENCH_BACKEND=postgres for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import aiosmtpd" 2>/dev/null || pip install -q aiosmtpd
if [ "${BENCH_BACKEND:-sqlite}" = postgres ] && ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
exec cargo bench --locked --bench deliveries
