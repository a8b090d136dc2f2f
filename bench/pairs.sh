#!/usr/bin/env bash
# Alternated pairs of bench/workflow.sh: a baseline checkout against this one, N pairs, the order
# swapped every pair (machine drift falls on both), each run's three rates printed, then the
# medians and the median of the per-pair ratios per phase. Run-to-run noise on the project's
# two-core machine is ±25 %: compare medians of several pairs, never single runs.
#
#   git worktree add --detach /work/wt-base <commit>
#   BASE=/work/wt-base N=6 bash bench/pairs.sh
#
# BASE_TARGET (default $BASE/target) is the baseline's cargo target directory. Both runs use
# BENCH_SEED_CACHE=1: a checkout with other migrations seeds its own template once.
set -euo pipefail
cd "$(dirname "$0")/.."
HEAD_DIR=$(pwd)
BASE=${BASE:?set BASE to the baseline checkout}
BASE_TARGET=${BASE_TARGET:-$BASE/target}
N=${N:-6}
LOG=$(mktemp)
run() { # $1 = base|head
  local out
  if [ "$1" = base ]; then
    out=$(cd "$BASE" && CARGO_TARGET_DIR="$BASE_TARGET" BENCH_SEED_CACHE=1 bash bench/workflow.sh 2>&1)
  else
    out=$(cd "$HEAD_DIR" && BENCH_SEED_CACHE=1 bash bench/workflow.sh 2>&1)
  fi
  echo "== $2 $1" | tee -a "$LOG"
  echo "$out" | grep -E "^(file a ticket|accept a ticket|inbox \+ list) " | tee -a "$LOG"
}
for i in $(seq 1 "$N"); do
  if [ $((i % 2)) -eq 1 ]; then run base "$i"; run head "$i"; else run head "$i"; run base "$i"; fi
done
python3 - "$LOG" "$N" <<'PY'
import re, statistics as st, sys
runs, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r'== (\d+) (\w+)', line)
    if m:
        cur = {'pair': int(m.group(1)), 'who': m.group(2)}; runs.append(cur); continue
    m = re.match(r'(file a ticket|accept a ticket|inbox \+ list).*?(\d+) req/s', line)
    if m and cur is not None:
        cur[m.group(1)] = int(m.group(2))
for ph in ['file a ticket', 'accept a ticket', 'inbox + list']:
    rate = lambda who, p: next(r[ph] for r in runs if r['who'] == who and r['pair'] == p)
    pairs = range(1, int(sys.argv[2]) + 1)
    b, h = [rate('base', p) for p in pairs], [rate('head', p) for p in pairs]
    ratios = [rate('head', p) / rate('base', p) for p in pairs]
    print(f"{ph:16} base median {st.median(b):.0f}/s  head median {st.median(h):.0f}/s  "
          f"({st.median(h) / st.median(b) - 1:+.1%}; per-pair ratio median {st.median(ratios) - 1:+.1%})")
PY
rm -f "$LOG"
