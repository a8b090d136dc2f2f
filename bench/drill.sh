#!/usr/bin/env bash
# The multi-instance kill drill (#21): three instances behind HAProxy on PostgreSQL, one killed
# with SIGKILL every 20 s under filings and actions with idempotent retries; prints acked /
# stored / duplicated / lost and the clock firings. See bench/drill.py for the settings.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; }
if ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
fi
cargo build --release --locked --quiet
exec python3 bench/drill.py
