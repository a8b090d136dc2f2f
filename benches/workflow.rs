//! Workflow throughput and latency, measured against the release server over HTTP on this machine.
//!
//! `bash bench/workflow.sh` (PostgreSQL, 1,000,000 tickets present) or
//! `BENCH_BACKEND=sqlite bash bench/workflow.sh`. Environment:
//! BENCH_BACKEND (postgres|sqlite), BENCH_TICKETS (pre-existing tickets, default 1,000,000),
//! BENCH_SECONDS per phase (default 10), BENCH_CLIENTS concurrent writers (default 32),
//! BENCH_READ_CLIENTS concurrent readers (default 8),
//! GRIDLOOP_BENCH_DATABASE_URL (an admin URL of the PostgreSQL server; a fresh database
//! `gridloop_bench` is made on it), BENCH_SEED_CACHE=1 (PostgreSQL: keep the seeded database as
//! a template and copy it on later runs instead of seeding again).
//!
//! Phases: filing (POST /api/v1/tickets with an Idempotency-Key), state changes (accept_at_compound
//! with If-Match), then reads (inbox and ticket list). Prints throughput, latency percentiles and
//! the server's resident memory. For PostgreSQL it then runs pgbench twice, to show the service's
//! overhead against the database alone: with one filing's writes per transaction (the shape of a
//! lone filing), and with the intake's batch shape (a batch of as many filings as the service's
//! batches held on average during the filing phase, on as many connections as it has writers).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::{json, Value};

#[path = "common.rs"]
mod common;
use common::{percentile, rss_mib, seed_tickets, start_server};

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

struct Phase {
    name: &'static str,
    ok: usize,
    failed: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

impl Phase {
    fn report(&mut self) {
        self.latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{:<28} {:>8.0} req/s  ({} ok, {} failed in {:.1} s)  latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.name,
            self.ok as f64 / self.seconds,
            self.ok,
            self.failed,
            self.seconds,
            percentile(&self.latencies_ms, 0.5),
            percentile(&self.latencies_ms, 0.99),
            self.latencies_ms.last().copied().unwrap_or(f64::NAN),
        );
    }
}

/// Runs `clients` loops of `call` for `seconds`; each call returns whether it succeeded.
async fn drive<F, Fut>(name: &'static str, clients: usize, seconds: u64, call: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<bool>> + Send,
{
    let call = Arc::new(call);
    let lat = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = vec![];
    for c in 0..clients {
        let (call, lat, failed) = (call.clone(), lat.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            let mut mine = vec![];
            while Instant::now() < deadline {
                let t = Instant::now();
                match call(c, i).await {
                    Some(true) => mine.push(t.elapsed().as_secs_f64() * 1000.0),
                    Some(false) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
                i += 1;
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    let finished = Arc::new(Mutex::new(0.0f64));
    for t in tasks {
        t.await.unwrap();
        *finished.lock().unwrap() = start.elapsed().as_secs_f64();
    }
    let seconds = start.elapsed().as_secs_f64().min(seconds as f64).max(*finished.lock().unwrap());
    let latencies_ms = std::mem::take(&mut *lat.lock().unwrap());
    Phase { name, ok: latencies_ms.len(), failed: failed.load(Ordering::Relaxed), seconds, latencies_ms }
}

/// One filing's writes per transaction.
fn pgbench_single(url: &str, clients: usize, seconds: u64) -> Option<f64> {
    // One filing's writes: the number (its own transaction, committed without waiting for its
    // flush, as the service does), then ticket + triage clock + audit event + chain head + the
    // idempotency key with the response.
    let script = r#"
\set n random(1, 1000000000)
\set shard random(0, 63)
BEGIN;
SET LOCAL synchronous_commit TO OFF;
INSERT INTO ticket_counters (day, last) VALUES ('pgbench', 1) ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last;
COMMIT;
BEGIN;
INSERT INTO tickets (id, number, category_id, urgency, title, description, place_id, place_path, compound_id, community_id, resident_name, resident_phone, channel, filed_by, state, reopen_count, due_at, version, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'P-' || :n || '-' || gen_random_uuid()::text, category_id, urgency, title, description, place_id, place_path, compound_id, community_id, resident_name, resident_phone, channel, filed_by, 'at_compound', 0, now(), 1, now(), now() FROM tickets WHERE id = '00000001-0000-7000-8000-000000000001';
INSERT INTO sla_clocks (id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at, original_due_at, reminders, paused_seconds, next_fire_at, fire_seq)
  SELECT gen_random_uuid()::text, id, 'compound_triage', compound_id, place_path, 'cn', '1 working_days', now(), now(), now(), now(), 0, 0, now() + interval '1 day', 0 FROM tickets WHERE id = '00000001-0000-7000-8000-000000000001';
UPDATE audit_heads SET seq = seq + 1 WHERE shard = :shard RETURNING seq, hash;
INSERT INTO audit_events (id, shard, seq, entity_kind, entity_id, actor_id, actor_role, actor_unit_id, at, action, from_state, to_state, reason, changes, prev_hash, hash)
  SELECT gen_random_uuid()::text, :shard, seq, 'pgbench', 'x', NULL, NULL, NULL, now(), 'file', NULL, 'at_compound', NULL, '{}', hash, md5(random()::text) FROM audit_heads WHERE shard = :shard;
UPDATE audit_heads SET hash = md5(random()::text) WHERE shard = :shard;
INSERT INTO idempotency_keys (person_id, key, request_hash, status, body, created_at)
  SELECT filed_by, 'pgbench-' || :n || '-' || gen_random_uuid()::text, md5(random()::text), 201, repeat('x', 1200), now() FROM tickets WHERE id = '00000001-0000-7000-8000-000000000001';
COMMIT;
"#;
    pgbench(url, script, "single", clients, seconds)
}

/// The intake's batch of `b` filings: numbers for all from one counter update, then one
/// transaction with multi-row inserts of tickets, clocks, audit events and idempotency keys, and
/// the chain heads of the batch locked in shard order and updated in one statement.
fn pgbench_batch(url: &str, b: usize, clients: usize, seconds: u64) -> Option<f64> {
    let script = format!(
        r#"
\set n random(1, 1000000000)
\set shard random(0, 63)
BEGIN;
SET LOCAL synchronous_commit TO OFF;
INSERT INTO ticket_counters (day, last) VALUES ('pgbench', {b}) ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + excluded.last RETURNING last;
COMMIT;
BEGIN;
WITH t AS (INSERT INTO tickets (id, number, category_id, urgency, title, description, place_id, place_path, compound_id, community_id, resident_name, resident_phone, channel, filed_by, state, reopen_count, due_at, version, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'P-' || :n || '-' || g || '-' || gen_random_uuid()::text, category_id, urgency, title, description, place_id, place_path, compound_id, community_id, resident_name, resident_phone, channel, filed_by, 'at_compound', 0, now(), 1, now(), now() FROM tickets, generate_series(1, {b}) g WHERE id = '00000001-0000-7000-8000-000000000001'
  RETURNING id, compound_id, place_path)
INSERT INTO sla_clocks (id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at, original_due_at, reminders, paused_seconds, next_fire_at, fire_seq)
  SELECT gen_random_uuid()::text, t.id, 'compound_triage', t.compound_id, t.place_path, 'cn', '1 working_days', now(), now(), now(), now(), 0, 0, now() + interval '1 day', 0 FROM t;
SELECT shard, seq, hash FROM audit_heads WHERE shard IN (SELECT (:shard + g) % 64 FROM generate_series(0, {b} - 1) g) ORDER BY shard FOR UPDATE;
INSERT INTO audit_events (id, shard, seq, entity_kind, entity_id, actor_id, actor_role, actor_unit_id, at, action, from_state, to_state, reason, changes, prev_hash, hash)
  SELECT gen_random_uuid()::text, 64, :n::bigint * 1000 + g, 'pgbench', 'x', NULL, NULL, NULL, now(), 'file', NULL, 'at_compound', NULL, '{{}}', 'prev', md5(random()::text) FROM generate_series(1, {b}) g;
UPDATE audit_heads SET seq = audit_heads.seq, hash = md5(random()::text) WHERE shard IN (SELECT (:shard + g) % 64 FROM generate_series(0, {b} - 1) g);
INSERT INTO idempotency_keys (person_id, key, request_hash, status, body, created_at)
  SELECT filed_by, 'pgbench-' || :n || '-' || g || '-' || gen_random_uuid()::text, md5(random()::text), 201, repeat('x', 1200), now() FROM tickets, generate_series(1, {b}) g WHERE id = '00000001-0000-7000-8000-000000000001';
COMMIT;
"#
    );
    pgbench(url, &script, "batch", clients, seconds)
}

fn pgbench(url: &str, script: &str, name: &str, clients: usize, seconds: u64) -> Option<f64> {
    let path = std::env::temp_dir().join(format!("gridloop-pgbench-{name}.sql"));
    std::fs::write(&path, script).ok()?;
    let out = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), "-f", &path.to_string_lossy(), url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::main]
async fn main() {
    let backend = env_or("BENCH_BACKEND", "postgres");
    let postgres = backend == "postgres";
    let n: u64 = env_or("BENCH_TICKETS", "1000000").parse().unwrap();
    let seconds: u64 = env_or("BENCH_SECONDS", "10").parse().unwrap();
    let clients: usize = env_or("BENCH_CLIENTS", "32").parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = match std::env::var("BENCH_KEEP_DIR") {
        Ok(d) => std::path::PathBuf::from(d),
        Err(_) => tmp.path().to_path_buf(),
    };
    // BENCH_SEED_CACHE=1 (PostgreSQL): keep the seeded database as a template and copy it on the
    // next run instead of seeding again. The template is named after the ticket count and the
    // number of migrations; drop it by hand after changing a migration's content or the seed.
    let seed_template = (postgres && std::env::var("BENCH_SEED_CACHE").is_ok_and(|v| v == "1")).then(|| {
        let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
        format!("gridloop_bench_seed_{n}_{migrations}_clocks")
    });
    let mut seeded = false;
    let url = if postgres {
        let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let mut c = diesel::PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
        c.batch_execute("DROP DATABASE IF EXISTS gridloop_bench").unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        if let Some(t) = &seed_template {
            let exists: i64 = diesel::RunQueryDsl::get_result::<Count>(
                diesel::sql_query(format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{t}'")),
                &mut c,
            )
            .unwrap()
            .n;
            if exists == 1 {
                let started = Instant::now();
                c.batch_execute(&format!("CREATE DATABASE gridloop_bench TEMPLATE {t}")).unwrap();
                println!("copied the seeded database {t} in {:.1} s", started.elapsed().as_secs_f64());
                seeded = true;
            }
        }
        if !seeded {
            c.batch_execute("CREATE DATABASE gridloop_bench").unwrap();
        }
        format!("{base}/gridloop_bench")
    } else {
        tmp_path.join("bench.db").to_string_lossy().into_owned()
    };
    println!("== Gridloop workflow benchmark: {backend}, {n} tickets present, {clients} clients, {seconds} s per phase");
    if !seeded {
        let (dir, _) = (std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), ());
        let settings = gridloop::config::Settings::load(&dir, "development").unwrap();
        let mut conn =
            gridloop::db::DbConn::establish(&gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap()))
                .unwrap();
        gridloop::db::run_migrations(&mut conn).unwrap();
        gridloop::app::demo::load_demo(&mut conn, &settings.auth, gridloop::app::utc_now()).unwrap();
    }
    if !seeded {
        seed_tickets(&gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap()), postgres, n, true);
        if let Some(t) = &seed_template {
            let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
            let mut c = diesel::PgConnection::establish(&admin).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {t} TEMPLATE gridloop_bench")).unwrap();
            println!("kept the seeded database as {t} for the next run (BENCH_SEED_CACHE)");
        }
    }
    let server = start_server(&url);
    let pid = server.child.id();
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let login = |l: &'static str| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let r: Value = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"login": l, "password": gridloop::app::demo::DEMO_PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["token"].as_str().unwrap().to_string()
        }
    };
    // The grid workers of the first compound, one per building, and their secretary.
    let workers = ["gw.wang", "gw.li", "gw.zhang", "gw.song", "gw.ma", "gw.hu"];
    let mut tokens = vec![];
    for w in workers {
        tokens.push(login(w).await);
    }
    let secretary = login("bs.yang").await;
    let me: Value = client.get(format!("{}/api/v1/me", server.base)).bearer_auth(&tokens[0]).send().await.unwrap().json().await.unwrap();
    let _ = me;
    let mut buildings = vec![];
    for t in &tokens {
        let me: Value = client.get(format!("{}/api/v1/me", server.base)).bearer_auth(t).send().await.unwrap().json().await.unwrap();
        buildings.push(me["grants"][0]["org_unit_id"].as_str().unwrap().to_string());
    }
    let cats: Value =
        client.get(format!("{}/api/v1/categories", server.base)).bearer_auth(&tokens[0]).send().await.unwrap().json().await.unwrap();
    let category = cats[0]["id"].as_str().unwrap().to_string();
    let (idle_rss, _) = rss_mib(pid);

    // Phase 1: filing.
    let filed: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![]));
    let (c, base, toks, bs, cat, f) =
        (client.clone(), server.base.clone(), tokens.clone(), buildings.clone(), category.clone(), filed.clone());
    let mut filing = drive("file a ticket (POST)", clients, seconds, move |cl, i| {
        let (c, base, cat, f) = (c.clone(), base.clone(), cat.clone(), f.clone());
        let w = cl % toks.len();
        let (tok, b) = (toks[w].clone(), bs[w].clone());
        async move {
            let body = json!({"category_id": cat, "title": "楼道堆物", "description": "基准测试", "building_id": b, "resident_name": "居民", "resident_phone": "13700001234"});
            match c.post(format!("{base}/api/v1/tickets")).bearer_auth(&tok).header("Idempotency-Key", format!("bench-{cl}-{i}")).json(&body).send().await {
                Ok(r) if r.status() == 201 => {
                    if let Ok(v) = r.json::<Value>().await {
                        f.lock().unwrap().push(v["id"].as_str().unwrap_or_default().to_string());
                    }
                    Some(true)
                }
                _ => Some(false),
            }
        }
    })
    .await;
    filing.report();
    let (_, peak_after_filing) = rss_mib(pid);

    // Phase 2: state changes, each ticket accepted once by its secretary.
    let queue: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(std::mem::take(&mut *filed.lock().unwrap())));
    let (c, base, q, sec) = (client.clone(), server.base.clone(), queue.clone(), secretary.clone());
    let mut acting = drive("accept a ticket (POST action)", clients, seconds, move |_, _| {
        let (c, base, q, sec) = (c.clone(), base.clone(), q.clone(), sec.clone());
        async move {
            let id = q.lock().unwrap().pop()?;
            Some(matches!(
                c.post(format!("{base}/api/v1/tickets/{id}/actions"))
                    .bearer_auth(&sec)
                    .header("If-Match", "1")
                    .json(&json!({"action": "accept_at_compound"}))
                    .send()
                    .await,
                Ok(r) if r.status() == 200
            ))
        }
    })
    .await;
    acting.report();

    // Phase 3: reads — each worker's and the secretary's inbox, and list pages. The write phases
    // just put tens of thousands of open tickets into one compound; on a live system autovacuum
    // re-analyses `tickets` within a minute of such a burst (migration 6 lowers its threshold to
    // 0.5% of the table), so the statistics are brought up to date here the same way.
    if postgres {
        let mut c = diesel::PgConnection::establish(&url).unwrap();
        c.batch_execute("ANALYZE tickets").unwrap();
    }
    let (c, base, toks, sec) = (client.clone(), server.base.clone(), tokens.clone(), secretary.clone());
    let read_clients: usize = env_or("BENCH_READ_CLIENTS", "8").parse().unwrap();
    const READS: [&str; 3] =
        ["/api/v1/inbox?limit=50", "/api/v1/tickets?limit=50", "/api/v1/tickets?limit=50&state=compound_handling,at_compound"];
    let by_kind: Arc<Mutex<[Vec<f64>; 3]>> = Arc::new(Mutex::new(Default::default()));
    let kinds = by_kind.clone();
    let mut reading = drive("inbox + list (GET)", read_clients, seconds, move |cl, i| {
        let (c, base, kinds) = (c.clone(), base.clone(), kinds.clone());
        let tok = if cl % 4 == 0 { sec.clone() } else { toks[cl % toks.len()].clone() };
        async move {
            let t = Instant::now();
            let ok = match c.get(format!("{base}{}", READS[i % 3])).bearer_auth(&tok).send().await {
                Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                _ => false,
            };
            if ok {
                kinds.lock().unwrap()[i % 3].push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Some(ok)
        }
    })
    .await;
    reading.report();
    for (path, lat) in READS.iter().zip(by_kind.lock().unwrap().iter_mut()) {
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("  {path:<62} p50 {:.1} ms  p99 {:.1} ms  ({} requests)", percentile(lat, 0.5), percentile(lat, 0.99), lat.len());
    }
    let (rss, peak) = rss_mib(pid);
    println!("server memory: idle {idle_rss:.0} MiB before load, peak {peak_after_filing:.0} MiB after filing, peak {peak:.0} MiB overall, {rss:.0} MiB now");
    drop(server);
    if postgres {
        // How many filings the intake's transactions held on average: a batch shares one `now`.
        #[derive(diesel::QueryableByName)]
        struct Mean {
            #[diesel(sql_type = diesel::sql_types::Double)]
            mean: f64,
        }
        let mut c = diesel::PgConnection::establish(&url).unwrap();
        let mean = diesel::RunQueryDsl::get_result::<Mean>(
            diesel::sql_query(
                "SELECT count(*)::float8 / greatest(count(DISTINCT created_at), 1) AS mean FROM tickets WHERE description = '基准测试'",
            ),
            &mut c,
        )
        .map(|m| m.mean)
        .unwrap_or(1.0);
        let writers = gridloop::config::Settings::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), "development")
            .map(|s| s.database.intake_writers)
            .unwrap_or(2);
        let filing_rate = filing.ok as f64 / filing.seconds;
        let b = mean.round().max(1.0) as usize;
        println!("the intake wrote the filing phase in batches of {mean:.1} filings on average");
        let (u1, u2) = (url.clone(), url.clone());
        let single = tokio::task::spawn_blocking(move || pgbench_single(&u1, clients, seconds)).await.unwrap();
        let batch = tokio::task::spawn_blocking(move || pgbench_batch(&u2, b, writers, seconds)).await.unwrap();
        match (single, batch) {
            (Some(single), Some(batch)) => {
                println!(
                    "pgbench, one filing's writes per transaction, {clients} clients: {single:.0} filings/s; the service files at {filing_rate:.0}/s = {:.0}% of that",
                    100.0 * filing_rate / single
                );
                println!(
                    "pgbench, the intake's batch shape ({b} filings per transaction, {writers} clients as the intake's writers): {:.0} filings/s; the service = {:.0}% of that",
                    batch * b as f64,
                    100.0 * filing_rate / (batch * b as f64)
                );
            }
            _ => println!("pgbench not available: no ratio"),
        }
    }
}
