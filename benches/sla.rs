//! SLA clock throughput: `bash bench/sla.sh` (PostgreSQL) or `BENCH_BACKEND=sqlite bash bench/sla.sh`.
//!
//! Prints: deadline arithmetic on the 2026 calendar (computations/s); a scheduler tick when nothing
//! is due with BENCH_TICKETS (default 1,000,000) open clocks (median and worst of 50 ticks); and
//! the time to fire 10,000 clocks coming due at once.

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use diesel::connection::SimpleConnection;
use diesel::Connection;

use gridloop::app::calendars::Calendars;
use gridloop::app::sla::{deadline, tick, SlaContext};
use gridloop::domain::sla::Limit;

#[path = "common.rs"]
mod common;

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

fn main() {
    let settings =
        gridloop::config::Settings::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), "development").unwrap();
    let calendars = Calendars::from_files(&settings.config_dir.join("calendars"), &settings.sla).unwrap();
    let cal = calendars.get("cn").unwrap();

    // 1. Deadline arithmetic.
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let limits =
        [Limit::WorkingSeconds(3600), Limit::WorkingSeconds(4 * 3600), Limit::WorkingDays(1), Limit::WorkingDays(3), Limit::WorkingDays(5)];
    let n = 1_000_000u64;
    let t = Instant::now();
    let mut sink = 0i64;
    for i in 0..n {
        let s = start + Duration::seconds(((i * 7919) % (300 * 86_400)) as i64);
        let d = deadline(&cal, s, limits[(i % 5) as usize], 1.0).unwrap();
        sink ^= d.and_utc().timestamp();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "deadline arithmetic (working time, 1 h to 5 working days): {:.0} computations/s ({n} in {secs:.2} s; {sink:x})",
        n as f64 / secs
    );

    // 2. The scheduler against a database full of open clocks.
    let backend = env_or("BENCH_BACKEND", "postgres");
    let postgres = backend == "postgres";
    let tickets: u64 = env_or("BENCH_TICKETS", "1000000").parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = if postgres {
        let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let mut c = diesel::PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
        c.batch_execute("DROP DATABASE IF EXISTS gridloop_bench_sla").unwrap();
        c.batch_execute("CREATE DATABASE gridloop_bench_sla").unwrap();
        format!("{}/gridloop_bench_sla", admin.rsplit_once('/').unwrap().0)
    } else {
        tmp.path().join("sla.db").to_string_lossy().into_owned()
    };
    let mut conn = gridloop::db::DbConn::establish(&url).unwrap();
    if !postgres {
        conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").unwrap();
    }
    gridloop::db::run_migrations(&mut conn).unwrap();
    gridloop::app::demo::load_demo(&mut conn, &settings.auth, gridloop::app::utc_now()).unwrap();
    common::seed_tickets(&url, postgres, tickets, false);
    let now = gridloop::app::utc_now();
    // One open clock per ticket, due over the next month.
    let future = if postgres {
        format!("(timestamp '{}' + ((t.number_tail % 30) + 1) * interval '1 day')", now.format("%Y-%m-%d %H:%M:%S"))
    } else {
        format!("strftime('%Y-%m-%d %H:%M:%f', '{}', '+' || ((t.number_tail % 30) + 1) || ' days')", now.format("%Y-%m-%d %H:%M:%S"))
    };
    let tail = if postgres { "CAST(substr(number, 3) AS BIGINT)" } else { "CAST(substr(number, 3) AS INTEGER)" };
    let started = Instant::now();
    conn.batch_execute(&format!(
        "INSERT INTO sla_clocks (id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at, original_due_at, reminders, paused_seconds, next_fire_at, fire_seq)
         SELECT t.id, t.id, 'resolution', t.compound_id, t.place_path, 'cn', '5 working_days', t.created_at, {future}, {future}, {future}, 0, 0, {future}, 0
         FROM (SELECT id, compound_id, place_path, created_at, {tail} AS number_tail FROM tickets) t"
    ))
    .unwrap();
    if postgres {
        conn.batch_execute("ANALYZE").unwrap();
    }
    println!("{backend}: {tickets} open clocks made in {:.1} s", started.elapsed().as_secs_f64());
    let ctx = SlaContext { settings: &settings.sla, calendars: &calendars };
    let mut times = vec![];
    for _ in 0..50 {
        let t = Instant::now();
        let r = tick(&mut conn, ctx, now, "bench").unwrap();
        assert_eq!(r.warnings + r.breaches + r.reminders, 0);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("scheduler tick with nothing due among {tickets} open clocks: median {:.2} ms, worst {:.2} ms", times[25], times[49]);

    // 3. 10,000 clocks come due at once.
    let due_sql = if postgres {
        "UPDATE sla_clocks SET next_fire_at = due_at - interval '40 days', due_at = due_at - interval '40 days' WHERE id IN (SELECT id FROM sla_clocks ORDER BY id LIMIT 10000)"
    } else {
        "UPDATE sla_clocks SET next_fire_at = strftime('%Y-%m-%d %H:%M:%f', due_at, '-40 days'), due_at = strftime('%Y-%m-%d %H:%M:%f', due_at, '-40 days') WHERE id IN (SELECT id FROM sla_clocks ORDER BY id LIMIT 10000)"
    };
    conn.batch_execute(due_sql).unwrap();
    let t = Instant::now();
    let r = tick(&mut conn, ctx, now, "bench").unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "10,000 clocks due at once: {} breaches fired in {secs:.2} s ({:.0}/s), each with its audit event, notification and supervision entry",
        r.breaches,
        r.breaches as f64 / secs
    );
    assert_eq!(r.breaches, 10_000);
}
