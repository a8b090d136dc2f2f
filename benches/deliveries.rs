//! The delivery worker's throughput: BENCH_DELIVERIES (default 10,000) queued mail deliveries sent
//! to a local SMTP server (aiosmtpd, tests/support/smtp_sink.py in its light mode: it records each
//! message's recipient and nothing more — parsing every message in Python caps it near 230 a
//! second on one connection here, below what the sender does), then as many webhook deliveries to a local HTTP receiver; each run by
//! `gridloop notify send` (the delivery worker's own task, in a process of its own) until the
//! queue is empty. Prints deliveries per second and the worker process's peak memory; the target
//! is all of them within 60 s each.
//!
//! `bash bench/deliveries.sh`. Environment: BENCH_DELIVERIES; BENCH_BACKEND (sqlite | postgres,
//! default sqlite), GRIDLOOP_BENCH_DATABASE_URL (PostgreSQL: an admin URL; a fresh database
//! `gridloop_bench_deliveries` is made on it).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use gridloop::app::notifications::DeliveryRow;
use gridloop::db::schema::{channel_endpoints, deliveries, notification_settings, notifications, people};
use gridloop::db::DbConn;

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Queues `n` deliveries of one notification on `channel` (urgent: quiet hours do not hold them).
fn queue(conn: &mut DbConn, n: usize, channel: &str, person: Option<&str>, endpoint: Option<&str>, unit: &str) {
    let now = gridloop::app::utc_now();
    let nid = gridloop::domain::Id::new().to_string();
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(&nid),
            notifications::unit_id.eq(unit),
            notifications::kind.eq("sla_breach"),
            notifications::payload.eq("{}"),
            notifications::created_at.eq(now),
            notifications::dedupe_key.eq(Some(format!("bench:{nid}"))),
        ))
        .execute(conn)
        .unwrap();
    let rows: Vec<DeliveryRow> = (0..n)
        .map(|i| DeliveryRow {
            person_id: person.map(|p| p.parse().unwrap()),
            endpoint_id: endpoint.map(|e| e.parse().unwrap()),
            ..DeliveryRow::pending(nid.parse().unwrap(), channel.parse().unwrap(), format!("bench:{nid}:{i}"), true, now)
        })
        .collect();
    conn.transaction(|c| {
        for chunk in rows.chunks(500) {
            match c {
                DbConn::Postgresql(pg) => {
                    diesel::insert_into(deliveries::table).values(chunk).execute(pg)?;
                }
                DbConn::Sqlite(s) => {
                    for r in chunk {
                        diesel::insert_into(deliveries::table).values(r).execute(s)?;
                    }
                }
            }
        }
        diesel::QueryResult::Ok(())
    })
    .unwrap();
}

/// Runs `gridloop notify send` against the database and returns its last line and the seconds.
fn send(url: &str, extra: &[(&str, String)]) -> (String, f64) {
    let t = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridloop"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).env("GRIDLOOP_ENV", "development").env("GRIDLOOP_LOG__LEVEL", "warn");
    cmd.env("GRIDLOOP_DATABASE__URL", url);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.args(["notify", "send"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text.lines().last().unwrap_or_default().to_string(), t.elapsed().as_secs_f64())
}

fn state_counts(conn: &mut DbConn, channel: &str) -> Vec<(String, i64)> {
    deliveries::table
        .filter(deliveries::channel.eq(channel))
        .group_by(deliveries::state)
        .select((deliveries::state, diesel::dsl::count_star()))
        .load(conn)
        .unwrap()
}

#[tokio::main]
async fn main() {
    let n: usize = env_or("BENCH_DELIVERIES", "10000").parse().unwrap();
    let postgres = env_or("BENCH_BACKEND", "sqlite") == "postgres";
    let tmp = tempfile::tempdir().unwrap();
    let url = if postgres {
        let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let mut c = diesel::PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
        c.batch_execute("DROP DATABASE IF EXISTS gridloop_bench_deliveries").unwrap();
        c.batch_execute("CREATE DATABASE gridloop_bench_deliveries").unwrap();
        format!("{}/gridloop_bench_deliveries", admin.rsplit_once('/').unwrap().0)
    } else {
        tmp.path().join("deliveries.db").to_string_lossy().into_owned()
    };
    println!("== Gridloop delivery benchmark: {} , {n} deliveries per channel", if postgres { "postgres" } else { "sqlite" });
    let conn_url = gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap());
    let mut conn = DbConn::establish(&conn_url).unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings = gridloop::config::Settings::load(&dir, "development").unwrap();
    gridloop::app::demo::load_demo(&mut conn, &settings.auth, gridloop::app::utc_now()).unwrap();
    let (person, unit): (String, String) = people::table
        .inner_join(gridloop::db::schema::memberships::table)
        .filter(people::login.eq("dl.cg"))
        .select((people::id, gridloop::db::schema::memberships::org_unit_id))
        .first(&mut conn)
        .unwrap();
    diesel::update(notification_settings::table.find(&person))
        .set(notification_settings::email.eq(Some("dl.cg@bench.localhost")))
        .execute(&mut conn)
        .unwrap();

    // Mail to a real SMTP server.
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut sink = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--dir", mail.path().to_str().unwrap(), "--light"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd)");
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(sink.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    }
    queue(&mut conn, n, "email", Some(&person), None, &unit);
    let (line, secs) = send(&url, &[("GRIDLOOP_NOTIFY__SMTP_URL", format!("smtp://127.0.0.1:{port}"))]);
    let received = std::fs::read_dir(mail.path())
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "light")))
        .count();
    println!(
        "email   {:>6.0} deliveries/s  ({received} of {n} received by the SMTP server in {secs:.1} s; states {:?})  worker: {line}",
        received as f64 / secs,
        state_counts(&mut conn, "email")
    );
    let _ = sink.kill();
    let _ = sink.wait();

    // Webhooks to a real HTTP receiver.
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let server = actix_web::HttpServer::new(move || {
        let count = count.clone();
        actix_web::App::new().default_service(actix_web::web::to(move |_body: actix_web::web::Bytes| {
            count.fetch_add(1, Ordering::Relaxed);
            async { actix_web::HttpResponse::Ok().finish() }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let endpoint = gridloop::domain::Id::new().to_string();
    let now = gridloop::app::utc_now();
    diesel::insert_into(channel_endpoints::table)
        .values((
            channel_endpoints::id.eq(&endpoint),
            channel_endpoints::org_unit_id.eq(&unit),
            channel_endpoints::kind.eq("webhook"),
            channel_endpoints::name.eq("bench"),
            channel_endpoints::url.eq(&hook),
            channel_endpoints::secret.eq(Some("bench-secret")),
            channel_endpoints::active.eq(true),
            channel_endpoints::version.eq(1i64),
            channel_endpoints::created_at.eq(now),
            channel_endpoints::updated_at.eq(now),
        ))
        .execute(&mut conn)
        .unwrap();
    queue(&mut conn, n, "webhook", None, Some(&endpoint), &unit);
    let url2 = url.clone();
    let (line, secs) = tokio::task::spawn_blocking(move || send(&url2, &[])).await.unwrap();
    let received = seen.load(Ordering::Relaxed);
    println!(
        "webhook {:>6.0} deliveries/s  ({received} of {n} received by the HTTP receiver in {secs:.1} s; states {:?})  worker: {line}",
        received as f64 / secs,
        state_counts(&mut conn, "webhook")
    );
    handle.stop(true).await;
}
