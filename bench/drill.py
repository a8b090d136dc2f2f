#!/usr/bin/env python3
"""The multi-instance kill drill (#21): bash bench/drill.sh  (or python3 bench/drill.py)

Three `gridloop serve` instances on one PostgreSQL database behind HAProxy (from Debian; the script
writes its configuration and starts and stops it). Grid workers file requests through the proxy and
the branch secretary takes each one on (受理), every request with an Idempotency-Key and retried on
any failure until it is answered — while every 20 s one instance is killed with SIGKILL and started
again 2 s later. Then every running clock of the drill is made due at once and the three schedulers
fire them, with one more kill meanwhile. It prints what the clients were told (acked) against what
the database holds (stored, duplicated, lost), the audit verification, and the clock firings.

Settings (environment): DURATION (load seconds, default 100), KILL_EVERY (20; 0: no kills, to
measure throughput), INSTANCES (3; 1–3), WORKERS (6 filing threads), READERS (2 threads of heavy
reads: a supervisor's rankings and a community's searches), REPLICA_URL (a streaming replica of
the cluster, e.g. postgres://postgres@127.0.0.1:5433 from `bash bench/replica.sh up`: the
instances read rankings and searches from it, and the figures say how many it served),
OUTBOX (1: a webhook on the compound, received by this script on 127.0.0.1:8109, so that every
notification of the drill goes through the outbox and the instances' delivery workers; 0: none),
ADMIN_URL (postgres://postgres@127.0.0.1:5432), GRIDLOOP_BIN (target/release/gridloop,
built by drill.sh). Needs root for nothing; uses ports 8100-8103.
"""
import http.server, json, os, random, signal, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = os.environ.get("ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
DB = "gridloop_drill"
URL = f"{ADMIN}/{DB}?sslmode=disable"
BIN = os.environ.get("GRIDLOOP_BIN", os.path.join(ROOT, "target", "release", "gridloop"))
DURATION = float(os.environ.get("DURATION", "100"))
KILL_EVERY = float(os.environ.get("KILL_EVERY", "20"))
WORKERS = int(os.environ.get("WORKERS", "6"))
READERS = int(os.environ.get("READERS", "2"))
REPLICA = os.environ.get("REPLICA_URL", "")
METRICS_TOKEN = "drill-metrics-token-" + "x" * 24
OUTBOX = os.environ.get("OUTBOX", "1") == "1"
HOOK_PORT = 8109


class Hooks(http.server.ThreadingHTTPServer):
    """The webhook receiver: every X-Gridloop-Delivery it was sent (a resend after a kill shows twice)."""
    daemon_threads = True

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.received.append(self.headers.get("X-Gridloop-Delivery"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", HOOK_PORT), Handler)
PROXY = "http://127.0.0.1:8100"
PORTS = [8101, 8102, 8103][: int(os.environ.get("INSTANCES", "3"))]
RUN = uuid.uuid4().hex[:8]
GRID_WORKERS = ["gw.wang", "gw.li", "gw.zhang", "gw.song", "gw.ma", "gw.hu"]


def cpu_by_program():
    """CPU seconds used so far by every process, summed by program name (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        name = "gridloop" if name.startswith("gridloop") else "postgres" if name.startswith("postgres") else name
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def psql(sql, db=DB):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def env():
    e = dict(os.environ, GRIDLOOP_ENV="development", GRIDLOOP_LOG__LEVEL="warn", GRIDLOOP_CONFIG_DIR=os.path.join(ROOT, "config"),
             GRIDLOOP_SLA__SCHEDULER_INTERVAL_S="1", GRIDLOOP_DATABASE__POOL_SIZE="8", GRIDLOOP_METRICS__TOKEN=METRICS_TOKEN)
    if REPLICA:
        e["GRIDLOOP_DATABASE__REPLICA_URL"] = f"{REPLICA}/{DB}?sslmode=disable"
    return e


def heavy_reads(port):
    """This instance's gridloop_heavy_reads_total by source (its counters since it last started)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN})
    out = {}
    try:
        text = urllib.request.urlopen(req, timeout=5).read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("gridloop_heavy_reads_total{"):
            labels, value = line.rsplit(" ", 1)
            source = labels.split('source="', 1)[1].split('"', 1)[0]
            reason = labels.split('reason="', 1)[1].split('"', 1)[0]
            key = source + (f" ({reason})" if reason else "")
            out[key] = out.get(key, 0) + int(float(value))
    return out


class Instances:
    def __init__(self):
        self.procs = {}
        self.kills = 0
        self.lock = threading.Lock()

    def start(self, port):
        self.procs[port] = subprocess.Popen([BIN, "--database-url", URL, "serve", "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
                                            env=env(), stdout=subprocess.DEVNULL, stderr=open(f"/tmp/gridloop-drill-{port}.log", "a"))

    def kill(self, port):
        with self.lock:
            self.procs[port].send_signal(signal.SIGKILL)
            self.procs[port].wait()
            self.kills += 1

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            p.wait()


def wait_healthy(base, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if urllib.request.urlopen(base + "/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not come up")


def call(method, path, token=None, body=None, headers=None, timeout=15):
    """(status, parsed body) or (None, error text) when nothing came back."""
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(PROXY + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (OSError, ValueError) as e:
        return None, str(e)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.filed = {}  # key -> ticket id the client was told
        self.accepted = set()  # ticket ids whose accept was acknowledged
        self.retries = 0
        self.gave_up = 0
        self.refused = []
        self.statuses = {}
        self.reads = {}  # path -> heavy reads answered

    def saw(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


def until_answered(tally, stop_at, fn):
    """Calls fn() until it answers 2xx (the client's retry with the same key); None if time ran out."""
    while time.time() < stop_at:
        status, body = fn()
        tally.saw(status)
        if status is not None and 200 <= status < 300:
            return body
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            with tally.lock:
                tally.refused.append((status, body))
            return None
        with tally.lock:
            tally.retries += 1
        time.sleep(0.2)
    with tally.lock:
        tally.gave_up += 1
    return None


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} is missing: cargo build --release (bench/drill.sh does)")
    for p in PORTS:
        if os.path.exists(f"/tmp/gridloop-drill-{p}.log"):
            os.unlink(f"/tmp/gridloop-drill-{p}.log")
    psql(f"DROP DATABASE IF EXISTS {DB}", db="postgres")
    psql(f"CREATE DATABASE {DB}", db="postgres")
    subprocess.run([BIN, "--database-url", URL, "demo"], cwd=ROOT, env=env(), check=True, stdout=subprocess.DEVNULL)
    inst = Instances()
    for p in PORTS:
        inst.start(p)
    for p in PORTS:
        wait_healthy(f"http://127.0.0.1:{p}")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    cfg.write("global\n  maxconn 2000\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n"
              "  retries 3\n  option redispatch\nfrontend fe\n  bind 127.0.0.1:8100\n  default_backend be\nbackend be\n"
              "  balance roundrobin\n  option httpchk GET /healthz\n"
              + "".join(f"  server s{p} 127.0.0.1:{p} check inter 500 fall 1 rise 2\n" for p in PORTS))
    cfg.close()
    proxy = subprocess.Popen(["haproxy", "-db", "-f", cfg.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(PROXY)
    tokens = {}
    for login in GRID_WORKERS + ["bs.yang", "sup.zhao", "cs.liu", "admin"]:
        s, b = call("POST", "/api/v1/auth/login", body={"login": login, "password": "gridloop-demo"})
        tokens[login] = b["token"]
    cat = call("GET", "/api/v1/categories", tokens["gw.wang"])[1][0]["id"]
    places = {g: call("GET", "/api/v1/me", tokens[g])[1]["grants"][0]["org_unit_id"] for g in GRID_WORKERS}
    hooks = None
    if OUTBOX:
        hooks = Hooks()
        threading.Thread(target=hooks.serve_forever, daemon=True).start()
        compound = call("GET", "/api/v1/me", tokens["bs.yang"])[1]["grants"][0]["org_unit_id"]
        s_, b_ = call("POST", f"/api/v1/org-units/{compound}/channels", tokens["admin"],
                      {"kind": "webhook", "name": "演练接收端", "url": f"http://127.0.0.1:{HOOK_PORT}/hook"})
        if s_ != 201:
            raise SystemExit(f"could not add the drill's webhook: {s_} {b_}")
        endpoint = b_["id"]

    tally = Tally()
    stop = threading.Event()
    to_accept = []
    cond = threading.Condition()
    load_end = time.time() + DURATION

    def filer(n):
        login = GRID_WORKERS[n % len(GRID_WORKERS)]
        i = 0
        while not stop.is_set():
            key = f"drill-{RUN}-{n}-{i}"
            body = {"category_id": cat, "urgency": "normal", "title": key, "description": "演练：楼道灯不亮",
                    "building_id": places[login], "resident_phone": "13900001111", "channel": "visit"}
            t = until_answered(tally, time.time() + 60,
                               lambda: call("POST", "/api/v1/tickets", tokens[login], body, {"Idempotency-Key": key}))
            if t is not None:
                with tally.lock:
                    tally.filed[key] = t["id"]
                with cond:
                    to_accept.append(t["id"])
                    cond.notify()
            i += 1

    def secretary():
        # Takes requests on until the load stops (what is left stays at the compound: the
        # figures count what was acknowledged).
        while not stop.is_set():
            with cond:
                while not to_accept and not stop.is_set():
                    cond.wait(0.5)
                if not to_accept or stop.is_set():
                    return
                tid = to_accept.pop(0)
            body = {"action": "accept_at_compound"}
            r = until_answered(tally, time.time() + 60, lambda: call(
                "POST", f"/api/v1/tickets/{tid}/actions", tokens["bs.yang"], body, {"Idempotency-Key": f"accept-{tid}", "If-Match": '"1"'}))
            if r is not None:
                with tally.lock:
                    tally.accepted.add(tid)

    def reader(n):
        # Heavy reads: the supervisor's rankings, the community's searches of open requests.
        login, path = [("sup.zhao", "/api/v1/rankings"), ("cs.liu", "/api/v1/tickets?limit=50")][n % 2]
        while not stop.is_set():
            r = until_answered(tally, time.time() + 60, lambda: call("GET", path, tokens[login]))
            if r is not None:
                with tally.lock:
                    tally.reads[path.split("?")[0]] = tally.reads.get(path.split("?")[0], 0) + 1

    def killer(until):
        while KILL_EVERY > 0 and time.time() < until - 1:
            if stop.wait(KILL_EVERY):
                return
            port = random.choice(PORTS)
            inst.kill(port)
            time.sleep(2)
            inst.start(port)

    threads = [threading.Thread(target=filer, args=(n,)) for n in range(WORKERS)]
    threads += [threading.Thread(target=secretary) for _ in range(2)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    k = threading.Thread(target=killer, args=(load_end,))
    t0 = time.time()
    cpu0 = cpu_by_program()
    for t in threads + [k]:
        t.start()
    time.sleep(DURATION)
    stop.set()
    acked_by_stop, accepted_by_stop, read_by_stop = len(tally.filed), len(tally.accepted), sum(tally.reads.values())
    cpu1 = cpu_by_program()
    load_s = time.time() - t0
    for t in threads:
        t.join()
    k.join()
    for p in PORTS:
        wait_healthy(f"http://127.0.0.1:{p}")

    # The clocks: every running clock of the drill due now; the schedulers, one kill meanwhile.
    like = f"drill-{RUN}-%"
    due = int(psql(f"WITH c AS (UPDATE sla_clocks SET next_fire_at = now() AT TIME ZONE 'UTC' - interval '1 second' "
                   f"WHERE stopped_at IS NULL AND next_fire_at IS NOT NULL AND ticket_id IN (SELECT id FROM tickets WHERE title LIKE '{like}') "
                   f"RETURNING 1) SELECT count(*) FROM c"))
    time.sleep(1.5)
    if KILL_EVERY > 0:
        victim = random.choice(PORTS)
        inst.kill(victim)
        time.sleep(2)
        inst.start(victim)
        wait_healthy(f"http://127.0.0.1:{victim}")
    fire_started = time.time()
    end = fire_started + 600
    while time.time() < end and int(psql(f"SELECT count(*) FROM sla_clocks WHERE next_fire_at <= now() AT TIME ZONE 'UTC' "
                                          f"AND ticket_id IN (SELECT id FROM tickets WHERE title LIKE '{like}')")) > 0:
        time.sleep(0.5)

    fire_s = time.time() - fire_started
    outbox_line, outbox_ok = "outbox:   none (OUTBOX=0)", True
    if OUTBOX:
        # Every delivery to the drill's webhook sent (or given up), then: one row per dedupe key,
        # every sent one received, resends (a kill between send and mark) counted.
        drain_started = time.time()
        while time.time() < drain_started + 300 and int(psql(
                f"SELECT count(*) FROM deliveries WHERE endpoint_id = '{endpoint}' AND state IN ('pending', 'sending')")) > 0:
            time.sleep(0.5)
        rows = psql(f"SELECT count(*), count(DISTINCT dedupe_key), count(*) FILTER (WHERE state = 'sent'), "
                    f"count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state IN ('pending', 'sending')) "
                    f"FROM deliveries WHERE endpoint_id = '{endpoint}'").split("|")
        total, distinct_keys, sent, failed, waiting = (int(x) for x in rows)
        sent_ids = set(psql(f"SELECT id FROM deliveries WHERE endpoint_id = '{endpoint}' AND state = 'sent'").split())
        warn_notes = psql(f"SELECT count(*), count(DISTINCT n.ticket_id) FROM notifications n JOIN tickets t ON t.id = n.ticket_id "
                          f"WHERE n.kind = 'sla_warning' AND t.title LIKE '{like}'").split("|")
        with hooks.lock:
            received = list(hooks.received)
        got = set(received)
        missing = len(sent_ids - got)
        outbox_line = (f"outbox:   webhook deliveries {total} (distinct events {distinct_keys}), sent {sent}, failed {failed}, waiting {waiting}; "
                       f"received {len(received)}, distinct {len(got)}, sent but not received {missing}, resent {len(received) - len(got)} "
                       f"(a kill between sending and marking: at least once, the receiver dedupes on X-Gridloop-Delivery); "
                       f"warning notifications {warn_notes[0]} on {warn_notes[1]} tickets (drained in {time.time() - drain_started:.0f} s)")
        outbox_ok = (total == distinct_keys and failed == 0 and waiting == 0 and missing == 0
                     and warn_notes[0] == warn_notes[1] and int(warn_notes[0]) == due)
        hooks.shutdown()
    stored = int(psql(f"SELECT count(*) FROM tickets WHERE title LIKE '{like}'"))
    distinct = int(psql(f"SELECT count(DISTINCT title) FROM tickets WHERE title LIKE '{like}'"))
    rows = psql(f"SELECT title, id FROM tickets WHERE title LIKE '{like}'")
    in_db = dict(line.split("|") for line in rows.splitlines() if line)
    lost = [k for k in tally.filed if k not in in_db]
    wrong_id = [k for k, v in tally.filed.items() if k in in_db and in_db[k] != v]
    accepts = psql(f"SELECT e.entity_id, count(*) FROM audit_events e JOIN tickets t ON t.id = e.entity_id "
                   f"WHERE e.action = 'accept_at_compound' AND t.title LIKE '{like}' GROUP BY e.entity_id")
    accept_counts = dict(line.split("|") for line in accepts.splitlines() if line)
    accept_lost = [t for t in tally.accepted if t not in accept_counts]
    accept_twice = [t for t, n in accept_counts.items() if int(n) > 1]
    fires = psql(f"SELECT f.clock_id, f.kind, count(*) FROM sla_fires f JOIN sla_clocks c ON c.id = f.clock_id "
                 f"JOIN tickets t ON t.id = c.ticket_id WHERE t.title LIKE '{like}' GROUP BY f.clock_id, f.kind")
    fire_rows = [line.split("|") for line in fires.splitlines() if line]
    warned = sum(1 for r in fire_rows if r[1] == "sla_warning")
    fired_twice = sum(1 for r in fire_rows if int(r[2]) > 1)
    warn_events = psql(f"SELECT count(*), count(DISTINCT e.entity_id) FROM audit_events e JOIN tickets t ON t.id = e.entity_id "
                       f"WHERE e.action = 'sla_warning' AND t.title LIKE '{like}'")
    errors = {}
    for p in PORTS:
        with open(f"/tmp/gridloop-drill-{p}.log") as f:
            for line in f:
                if " ERROR " in line:
                    what = line.split(" ERROR ", 1)[1].strip()[:120]
                    errors[what] = errors.get(what, 0) + 1
    verify = subprocess.run([BIN, "--database-url", URL, "audit", "verify"], cwd=ROOT, env=env(), capture_output=True, text=True)
    served = {}
    for p in PORTS:
        for k, v in heavy_reads(p).items():
            served[k] = served.get(k, 0) + v

    inst.stop_all()
    proxy.terminate()
    proxy.wait()
    os.unlink(cfg.name)

    kills = (f"{inst.kills} kill -9 (one every {KILL_EVERY:.0f} s, restarted after 2 s, one more during the clock firing)"
             if KILL_EVERY > 0 else "no kills")
    print(f"drill {RUN}: {len(PORTS)} instance(s) behind HAProxy, {load_s:.0f} s of load, {WORKERS} filing clients, 2 secretaries and "
          f"{READERS} readers, {kills}" + (f"; heavy reads from the replica {REPLICA}" if REPLICA else ""))
    print(f"answers seen by the clients: {dict(sorted((str(k), v) for k, v in tally.statuses.items()))}; "
          f"retries {tally.retries}, given up {tally.gave_up}, refused {len(tally.refused)} {tally.refused[:3]}")
    print(f"filings:  acked {len(tally.filed)}  stored {stored}  duplicated {stored - distinct}  lost {len(lost)}  "
          f"answered with another id {len(wrong_id)}  ({acked_by_stop / load_s:.0f} filings/s and {accepted_by_stop / load_s:.0f} actions/s while loaded)")
    print(f"reads:    {read_by_stop / load_s:.0f} heavy reads/s while loaded {dict(sorted(tally.reads.items()))}; served by "
          f"{dict(sorted(served.items())) or 'the primary (no replica)'} (instances' counters since their last start)")
    print(f"accepts:  acked {len(tally.accepted)}  applied {len(accept_counts)}  applied twice {len(accept_twice)}  lost {len(accept_lost)}"
          f"  (applied but not acked: {len(accept_counts) - len(tally.accepted)}, answers cut off by a kill and not retried)")
    print(f"clocks:   made due {due}  warned {warned}  fired twice {fired_twice}  warning events {warn_events.replace('|', ' on ')} tickets"
          f"  (all fired in {fire_s:.0f} s by the {len(PORTS)} schedulers)")
    print(outbox_line)
    print(f"audit:    {(verify.stdout or verify.stderr).strip()}")
    print(f"errors logged by the instances: {sum(errors.values())} {sorted(errors.items(), key=lambda e: -e[1])[:4]}")
    used = {k: cpu1.get(k, 0) - cpu0.get(k, 0) for k in ("postgres", "gridloop", "haproxy", "python3")}
    cores = os.cpu_count()
    print(f"cpu:      of {cores} cores × {load_s:.0f} s = {cores * load_s:.0f} core-seconds while loaded: "
          + ", ".join(f"{k} {v:.0f} s ({100 * v / (cores * load_s):.0f}%)" for k, v in used.items())
          + " (python3: these clients)")
    ok = (not lost and not wrong_id and stored == distinct and not accept_lost and not accept_twice
          and fired_twice == 0 and warned == due and verify.returncode == 0 and tally.gave_up == 0 and not tally.refused and outbox_ok)
    print("drill: PASSED" if ok else "drill: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
