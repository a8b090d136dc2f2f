#!/usr/bin/env bash
# The SQL statements one filing and one accept send to PostgreSQL (#13's method): a copy of a
# database is made, `log_statement = 'all'` set on it, a server started there, one ticket filed by
# the grid worker and accepted by the branch secretary, and the statements logged between two
# marker queries counted (and, with SHOW=1, printed). The count does not depend on the machine's
# load: what it compares across builds is the round trips and the work each write asks of the
# database.
#
#   bash bench/statements.sh                        # this checkout's release build, a demo city
#   BIN=/work/target-a/release/gridloop TEMPLATE=gridloop_bench_seed_1000000_9_clocks \
#       bash bench/statements.sh                    # another build, on a seeded template
#
# BIN (default target/release/gridloop), TEMPLATE (a database to copy; default: none, a demo city
# is loaded), LOG (the server log PostgreSQL writes; default the Debian cluster's), PORT (18099).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/gridloop}
LOG=${LOG:-/var/log/postgresql/postgresql-15-main.log}
PORT=${PORT:-18099}
DB=gridloop_statements
PSQL=(psql -U postgres -h 127.0.0.1 -qAt)
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
if [ -n "${TEMPLATE:-}" ]; then
  "${PSQL[@]}" -c "CREATE DATABASE $DB TEMPLATE $TEMPLATE"
else
  "${PSQL[@]}" -c "CREATE DATABASE $DB"
  GRIDLOOP_LOG__LEVEL=warn "$BIN" --database-url "postgres://postgres@127.0.0.1:5432/$DB" demo >/dev/null
fi
"${PSQL[@]}" -c "ALTER DATABASE $DB SET log_statement = 'all'"
GRIDLOOP_ENV=development GRIDLOOP_LOG__LEVEL=warn "$BIN" --database-url "postgres://postgres@127.0.0.1:5432/$DB" \
  serve --bind "127.0.0.1:$PORT" >/tmp/gridloop-statements.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
python3 - "$PORT" "$DB" "$LOG" "${SHOW:-0}" <<'PY'
import json, subprocess, sys, time, urllib.request, uuid
port, db, log, show = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
base = f"http://127.0.0.1:{port}/api/v1"

def call(method, path, token=None, body=None, headers=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        return r.status, dict(r.headers), json.loads(r.read() or b"null")

def login(name):
    return call("POST", "/auth/login", body={"login": name, "password": "gridloop-demo"})[2]["token"]

def mark(text):
    subprocess.run(["psql", "-U", "postgres", "-h", "127.0.0.1", "-qAt", "-d", db, "-c", f"SELECT '{text}'"], check=True, capture_output=True)
    time.sleep(0.3)

gw, bs = login("gw.wang"), login("bs.yang")
me = call("GET", "/me", gw)[2]
building = me["grants"][0]["org_unit_id"]
category = call("GET", "/categories", gw)[2][0]["id"]
# Warm the server's caches and connections first: one filing and one accept not counted.
def file_one():
    return call("POST", "/tickets", gw, {"category_id": category, "building_id": building, "title": "楼道灯不亮",
                                          "description": "三单元楼道灯坏了", "resident_name": "居民", "resident_phone": "13700001234"},
                {"Idempotency-Key": str(uuid.uuid4())})[2]
def accept(t):
    return call("POST", f"/tickets/{t['id']}/actions", bs, {"action": "accept_at_compound"}, {"If-Match": str(t["version"])})
accept(file_one())
mark("statements-marker-1")
t = file_one()
mark("statements-marker-2")
accept(t)
mark("statements-marker-3")
lines = open(log, encoding="utf-8", errors="replace").read().splitlines()
def between(a, b):
    start = max(i for i, l in enumerate(lines) if f"'{a}'" in l)
    end = max(i for i, l in enumerate(lines) if f"'{b}'" in l)
    return [l for l in lines[start + 1:end] if " statement: " in l or " execute " in l]
for name, a, b in (("filing", "statements-marker-1", "statements-marker-2"), ("accept", "statements-marker-2", "statements-marker-3")):
    got = between(a, b)
    print(f"{name}: {len(got)} statements")
    if show:
        for l in got:
            print("   ", l.split(": ", 2)[-1][:220])
PY
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
