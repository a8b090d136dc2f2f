#!/usr/bin/env python3
"""CPU time one request costs the server and PostgreSQL (decision 0029's method).

Against a running server (any build, any database), sends one kind of GET request (or, with
`--post-json`, one kind of POST, e.g. a filing, each with its own Idempotency-Key) sequentially
for a few seconds and reads the CPU time (user + system) of the server process and of every
PostgreSQL backend from /proc before and after. Sequential requests keep the figure free of
queueing; what it measures is the work, which is what limits the rate on two cores.

    python3 bench/cpu_per_request.py --port 18080 --login bs.yang \
        --path '/api/v1/tickets?limit=50&state=compound_handling,at_compound' --seconds 5

With `--accept-as`, the tickets a filing makes (`--post-json`, for `--seconds`) are then accepted
one by one by that login, and the accepts are measured (a state change's cost):

    python3 bench/cpu_per_request.py --port 18080 --login gw.wang --path /api/v1/tickets \
        --post-json '{"category_id": "…", "building_id": "…", "title": "t", "description": "d"}' \
        --accept-as bs.yang --seconds 10

Start the server on the benchmark database first, e.g. a copy of the seeded template of
`BENCH_SEED_CACHE=1 bash bench/workflow.sh`:

    psql -U postgres -h 127.0.0.1 -c "create database probe template gridloop_bench_seed_1000000_23_clocks"
    GRIDLOOP_ENV=development GRIDLOOP_LOG__LEVEL=warn target/release/gridloop \
        --database-url postgres://postgres@127.0.0.1:5432/probe serve --bind 127.0.0.1:18080
"""
import argparse
import json
import os
import subprocess
import time
import urllib.request

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def jiffies(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def postgres_jiffies() -> int:
    total = 0
    out = subprocess.run(["pgrep", "-f", "postgres: "], capture_output=True, text=True).stdout.split()
    for pid in out:
        try:
            total += jiffies(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass  # a backend that ended meanwhile
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--login", required=True)
    p.add_argument("--password", default="gridloop-demo")
    p.add_argument("--path", required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--post-json", help="POST this JSON body instead of a GET, each with an Idempotency-Key of its own (a filing)")
    p.add_argument("--accept-as", metavar="LOGIN", help="with --post-json: file tickets for --seconds (not measured), "
                   "then measure LOGIN accepting each of them (accept_at_compound with If-Match), a state change's cost")
    a = p.parse_args()
    body = json.loads(a.post_json) if a.post_json else None
    base = f"http://127.0.0.1:{a.port}"

    sent = [0]

    def get(path: str, token: str | None = None, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(base + path, data=data, headers={"content-type": "application/json"})
        if token:
            r.add_header("authorization", "Bearer " + token)
        if token and body is not None:
            sent[0] += 1
            r.add_header("idempotency-key", f"cpu-{os.getpid()}-{time.time_ns()}-{sent[0]}")
        with urllib.request.urlopen(r) as f:
            return f.read()

    server = subprocess.run(["pgrep", "-f", f"serve --bind 127.0.0.1:{a.port}"], capture_output=True, text=True).stdout.split()
    if not server:
        raise SystemExit(f"no gridloop server bound to 127.0.0.1:{a.port}")
    token = json.loads(get("/api/v1/auth/login", body={"login": a.login, "password": a.password}))["token"]
    if a.accept_as:
        if body is None:
            raise SystemExit("--accept-as needs --post-json (the filing that makes the tickets to accept)")
        filed, end = [], time.time() + a.seconds
        while time.time() < end:
            filed.append(json.loads(get(a.path, token, body))["id"])
        acting = json.loads(get("/api/v1/auth/login", body={"login": a.accept_as, "password": a.password}))["token"]

        def accept(ticket: str) -> None:
            r = urllib.request.Request(f"{base}/api/v1/tickets/{ticket}/actions", data=b'{"action":"accept_at_compound"}',
                                       headers={"content-type": "application/json", "authorization": "Bearer " + acting, "if-match": "1"})
            with urllib.request.urlopen(r) as f:
                f.read()

        accept(filed.pop())  # warm
        s0, p0, started = jiffies(server[0]), postgres_jiffies(), time.time()
        for ticket in filed:
            accept(ticket)
        s1, p1, took = jiffies(server[0]), postgres_jiffies(), time.time() - started
        n = len(filed)
        print(
            f"{a.accept_as} POST accept_at_compound ({n} tickets): {n / took:.0f} requests/s sequential, "
            f"server {(s1 - s0) * TICK_MS / n:.3f} ms CPU/request, PostgreSQL {(p1 - p0) * TICK_MS / n:.3f} ms CPU/request"
        )
        return
    get(a.path, token, body)  # warm: the statement is prepared on this connection
    s0, p0, n, end = jiffies(server[0]), postgres_jiffies(), 0, time.time() + a.seconds
    while time.time() < end:
        get(a.path, token, body)
        n += 1
    s1, p1 = jiffies(server[0]), postgres_jiffies()
    print(
        f"{a.login} {'POST' if body else 'GET'} {a.path}: {n / a.seconds:.0f} requests/s sequential, "
        f"server {(s1 - s0) * TICK_MS / n:.3f} ms CPU/request, PostgreSQL {(p1 - p0) * TICK_MS / n:.3f} ms CPU/request"
    )


if __name__ == "__main__":
    main()
