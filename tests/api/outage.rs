//! An unavailable database answers 503 `service_unavailable` with `Retry-After`, never 500, and
//! the service recovers by itself when the database is back. Filings and actions go through the
//! intake concurrently while the database goes away:
//!
//! - PostgreSQL: the server's backends are terminated again and again (`pg_terminate_backend`),
//!   and, where `initdb` is installed, a private cluster is stopped mid-run and started again;
//! - SQLite: another process holds the write lock for longer than the busy timeout.
//!
//! Every client retries a 503 with the same `Idempotency-Key` (as a real client does), so at the
//! end each request was done exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::audit;
use gridloop::db::schema::tickets;
use gridloop::db::{self, DbConn};

use crate::fixture::{spawn_fixture_on, Fixture, PASSWORD};
use crate::helpers::{TestApp, TestDb, PG_ENV};
use crate::tickets::new_ticket;

/// One answer the service gave during the run.
#[derive(Debug, Clone)]
struct Answer {
    what: &'static str,
    status: u16,
    retry_after: Option<String>,
    code: String,
    /// Given after the database was back and had a moment to settle.
    recovered: bool,
}

struct Run<'a> {
    app: &'a TestApp,
    fx: &'a Fixture,
    gw: String,
    bs: String,
    answers: Mutex<Vec<Answer>>,
    /// Set when the outage is over and the pool had time to replace what it lost.
    settled: AtomicBool,
}

impl Run<'_> {
    async fn send(&self, what: &'static str, path: &str, token: &str, key: &str, if_match: Option<i64>, body: &Value) -> (u16, Value) {
        let mut req = self.app.client.post(self.app.url(path)).bearer_auth(token).header("Idempotency-Key", key).json(body);
        if let Some(v) = if_match {
            req = req.header("If-Match", format!("\"{v}\""));
        }
        let r = req.send().await.expect("the server answers");
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_string());
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let recovered = self.settled.load(Ordering::SeqCst);
        let code = body["code"].as_str().unwrap_or("").to_string();
        self.answers.lock().unwrap().push(Answer { what, status, retry_after, code, recovered });
        (status, body)
    }

    /// Files a ticket and accepts it, each retried on 503 with its key until it is answered
    /// (for at most half a minute: a service that does not come back fails the test).
    async fn file_and_accept(&self, tag: &str) -> Result<(), String> {
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut body = new_ticket(self.fx);
        body["title"] = json!(tag);
        let id = loop {
            match self.send("filing", "/api/v1/tickets", &self.gw, &format!("f-{tag}"), None, &body).await {
                (201, t) => break t["id"].as_str().unwrap().to_string(),
                (503, _) if Instant::now() < give_up => tokio::time::sleep(Duration::from_millis(50)).await,
                (s, b) => return Err(format!("filing {tag}: {s} {b}")),
            }
        };
        let accept = json!({"action": "accept_at_compound"});
        loop {
            match self.send("action", &format!("/api/v1/tickets/{id}/actions"), &self.bs, &format!("a-{tag}"), Some(1), &accept).await {
                (200, _) => return Ok(()),
                (503, _) if Instant::now() < give_up => tokio::time::sleep(Duration::from_millis(50)).await,
                (s, b) => return Err(format!("action on {tag}: {s} {b}")),
            }
        }
    }

    /// One client: filings and actions until the outage is over, then two more once it settled.
    async fn client(&self, n: usize, outage_over: &AtomicBool) -> Vec<String> {
        let mut tags = vec![];
        let mut after = 0;
        for i in 0.. {
            if outage_over.load(Ordering::SeqCst) {
                if after == 0 {
                    // Connections that died idle in the pool are checked at their next checkout
                    // once their trust window (1 s) has passed.
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    self.settled.store(true, Ordering::SeqCst);
                }
                if after == 2 {
                    break;
                }
                after += 1;
            }
            let tag = format!("c{n}-{i}");
            if let Err(e) = self.file_and_accept(&tag).await {
                self.answers.lock().unwrap().push(Answer { what: "refusal", status: 0, retry_after: None, code: e, recovered: false });
            }
            tags.push(tag);
        }
        tags
    }
}

/// Drives `clients` clients while `outage` runs on a thread of its own; then checks every answer
/// and what was stored.
async fn filings_and_actions_through(app: &TestApp, fx: &Fixture, clients: usize, outage: impl FnOnce() + Send + 'static) {
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let run = Run { app, fx, gw, bs, answers: Mutex::new(vec![]), settled: AtomicBool::new(false) };
    let outage_over = Arc::new(AtomicBool::new(false));
    let over = outage_over.clone();
    let outage = std::thread::spawn(move || {
        // Over when the outage ends, or fails: the clients must not wait for it forever.
        struct Over(Arc<AtomicBool>);
        impl Drop for Over {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _over = Over(over);
        std::thread::sleep(Duration::from_millis(300));
        outage();
    });
    let started = Instant::now();
    let tags: Vec<String> = futures_util::future::join_all((0..clients).map(|n| run.client(n, &outage_over))).await.concat();
    if let Err(panic) = outage.join() {
        std::panic::resume_unwind(panic);
    }
    let answers = run.answers.into_inner().unwrap();
    let unavailable = answers.iter().filter(|a| a.status == 503).count();
    let per_kind = |what: &str| answers.iter().filter(|a| a.what == what && a.status == 503).count();
    eprintln!(
        "{} answers in {:?}, {unavailable} of them 503 ({} filings, {} actions), for {} filings with their actions",
        answers.len(),
        started.elapsed(),
        per_kind("filing"),
        per_kind("action"),
        tags.len()
    );

    let wrong: Vec<&Answer> = answers
        .iter()
        .filter(|a| {
            !(matches!(a.status, 200 | 201)
                || (a.status == 503
                    && a.code == "service_unavailable"
                    && a.retry_after.as_deref().is_some_and(|s| s.parse::<u32>().is_ok())))
        })
        .collect();
    assert!(wrong.is_empty(), "only 200/201, or 503 with Retry-After, while the database is away: {wrong:#?}");
    assert!(unavailable > 0, "the outage was felt (else this test tests nothing)");
    let late: Vec<&Answer> = answers.iter().filter(|a| a.recovered && a.status == 503).collect();
    assert!(late.is_empty(), "once the database is back, the service answers again: {late:#?}");

    // Each filing and each action happened exactly once, whatever the retries.
    let mut conn = app.conn();
    for tag in &tags {
        let rows: Vec<(String, i64)> =
            tickets::table.filter(tickets::title.eq(tag)).select((tickets::state, tickets::version)).load(&mut conn).unwrap();
        assert_eq!(rows, [("compound_handling".to_string(), 2)], "{tag}");
    }
    assert!(audit::verify(&mut conn, None).unwrap().is_ok());
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

fn configure(s: &mut gridloop::config::Settings) {
    // A request waits at most a second for a connection while the database is away.
    s.database.connect_timeout_s = 1;
    s.database.sqlite_busy_timeout_ms = 100;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filings_and_actions_answer_503_never_500_while_the_database_goes_away_and_recover() {
    let (app, fx) = spawn_fixture_on(TestDb::new(), configure).await;
    match app._db.postgres_schema().map(|(base, schema)| (base.to_string(), schema.to_string())) {
        Some((base, schema)) => {
            // Cut every connection of this server, ten times a second for two and a half seconds.
            filings_and_actions_through(&app, &fx, 6, move || {
                let mut admin = diesel::PgConnection::establish(&base).expect("admin connection");
                let until = Instant::now() + Duration::from_millis(2500);
                while Instant::now() < until {
                    admin
                        .batch_execute(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                        ))
                        .expect("terminate");
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .await;
        }
        None => {
            // Another process holds the write lock (a backup, a maintenance script) three times
            // for 0.8 s, longer than the busy timeout.
            let mut settings = app.settings.database.clone();
            // The other process waits as long as it takes for its turn.
            settings.sqlite_busy_timeout_ms = 10_000;
            filings_and_actions_through(&app, &fx, 6, move || {
                let mut holder: DbConn = db::establish(&settings).expect("a connection of another process");
                for _ in 0..3 {
                    holder.batch_execute("BEGIN IMMEDIATE").expect("take the write lock");
                    std::thread::sleep(Duration::from_millis(800));
                    holder.batch_execute("COMMIT").expect("release it");
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .await;
        }
    }
}

/// A PostgreSQL cluster of the test's own (tests/pg_private_cluster.sh), destroyed on drop.
struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn script(args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(crate::helpers::project_dir().join("tests/pg_private_cluster.sh"))
        .args(args)
        .output()
        .expect("run tests/pg_private_cluster.sh")
}

impl PrivateCluster {
    /// Starts one, or says why it cannot.
    fn start() -> Result<PrivateCluster, String> {
        let check = script(&["check"]);
        if !check.status.success() {
            return Err(String::from_utf8_lossy(&check.stderr).trim().to_string());
        }
        let dir = tempfile::Builder::new().prefix("gl-outage-").tempdir_in("/tmp").map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = PrivateCluster { dir, port };
        for step in ["init", "start"] {
            let out = script(&[step, cluster.path(), &port.to_string()]);
            assert!(out.status.success(), "pg_private_cluster.sh {step}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(cluster)
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = script(&["destroy", self.path()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filings_and_actions_answer_503_never_500_while_postgresql_is_stopped_and_recover_when_it_starts() {
    if std::env::var(PG_ENV).is_err() {
        eprintln!("skipped: the PostgreSQL outage test runs with {PG_ENV} set (the suite's PostgreSQL run)");
        return;
    }
    let cluster = match PrivateCluster::start() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped: no private PostgreSQL cluster can be made here ({why})");
            return;
        }
    };
    let (app, fx) = spawn_fixture_on(TestDb::postgres(&cluster.url()), configure).await;
    let (dir, port) = (cluster.path().to_string(), cluster.port.to_string());
    filings_and_actions_through(&app, &fx, 6, move || {
        let out = script(&["stop", &dir]);
        assert!(out.status.success(), "stop: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(2000));
        let out = script(&["start", &dir, &port]);
        assert!(out.status.success(), "start: {}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    drop(app);
    drop(cluster);
}
