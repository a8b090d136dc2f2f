#!/usr/bin/env bash
# Measures, on the release build: time from `gridloop serve` to the first healthy /healthz on an
# empty SQLite database, and the server's idle resident memory. One command: bash bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
runs=${RUNS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
port=18$((RANDOM % 900 + 100))
total=0
for i in $(seq 1 "$runs"); do
  db="$tmp/run$i.db"
  start=$(date +%s%N)
  GRIDLOOP_ENV=development ./target/release/gridloop --database-url "$db" serve --bind "127.0.0.1:$port" >"$tmp/out" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  total=$((total + ms))
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  echo "run $i: serve -> healthy in ${ms} ms (empty SQLite, migrations applied), idle RSS $((rss / 1024)) MiB"
done
echo "mean: $((total / runs)) ms to healthy"
