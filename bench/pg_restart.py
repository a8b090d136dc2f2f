#!/usr/bin/env python3
"""What a PostgreSQL restart costs a busy service: python3 bench/pg_restart.py

Builds the release binary, loads the demo city into a fresh database `gridloop_restart`, then, for
database.connection_trust_ms = 1000 (the default) and 0, starts `gridloop serve` with a pool of 8,
keeps 8 clients reading their inbox, restarts the local PostgreSQL cluster after 3 s, and counts
the answers before, during and after the restart. Needs root (pg_ctlcluster) and a local
cluster; ADMIN_URL (default postgres://postgres@127.0.0.1:5432) names the server.
"""
import json, os, re, subprocess, threading, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = os.environ.get("ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
URL = f"{ADMIN}/gridloop_restart"
BIN = os.path.join(ROOT, "target", "release", "gridloop")
CLUSTER = sorted(os.listdir("/etc/postgresql"))[0]


def run(trust):
    env = dict(os.environ, GRIDLOOP_ENV="development", GRIDLOOP_LOG__LEVEL="warn",
               GRIDLOOP_DATABASE__POOL_SIZE="8", GRIDLOOP_DATABASE__CONNECTION_TRUST_MS=str(trust))
    srv = subprocess.Popen([BIN, "--database-url", URL, "serve", "--bind", "127.0.0.1:0"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    while port is None:
        m = re.search(r"listening on port (\d+)", srv.stdout.readline())
        port = m and m.group(1)
    base = f"http://127.0.0.1:{port}"
    login = urllib.request.Request(base + "/api/v1/auth/login", headers={"Content-Type": "application/json"},
                                   data=json.dumps({"login": "gw.wang", "password": "gridloop-demo"}).encode())
    token = json.load(urllib.request.urlopen(login))["token"]
    log, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            r = urllib.request.Request(base + "/api/v1/inbox?limit=5", headers={"Authorization": "Bearer " + token})
            t = time.time()
            try:
                code = urllib.request.urlopen(r, timeout=10).status
            except urllib.error.HTTPError as e:
                code = e.code
            except OSError:
                code = "no answer"
            log.append((t, code))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    t0 = time.time()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", "restart"], check=True)
    t1 = time.time()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join()
    srv.terminate()
    srv.wait()

    def count(xs):
        return ", ".join(f"{xs.count(c)} × {c}" for c in sorted(set(xs), key=str)) or "none"

    print(f"connection_trust_ms = {trust}: the restart took {t1 - t0:.1f} s; answers before: "
          f"{count([c for t, c in log if t < t0])}; during: {count([c for t, c in log if t0 <= t < t1])}; "
          f"after: {count([c for t, c in log if t >= t1])}")


if __name__ == "__main__":
    subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    subprocess.run(["psql", "-q", f"{ADMIN}/postgres", "-c", "DROP DATABASE IF EXISTS gridloop_restart",
                    "-c", "CREATE DATABASE gridloop_restart"], check=True)
    subprocess.run([BIN, "--database-url", URL, "demo"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, GRIDLOOP_ENV="development"))
    for trust in (1000, 0):
        run(trust)
        time.sleep(2)
