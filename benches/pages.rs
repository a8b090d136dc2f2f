//! The pages' weight and server time, against the release server over HTTP on this machine, with
//! the demo city and BENCH_TICKETS historic tickets (default 1,000,000) in the database: the grid
//! worker's home page (`/day`), the secretary's board (`/board`), a ticket page, his inbox. Each
//! page's HTML plus the stylesheet and script it loads is reported in bytes (uncompressed); the
//! time is measured by the client on loopback (so it includes the HTTP round trip: an upper bound
//! of the server's time).
//!
//! `bash bench/pages.sh`. Environment: BENCH_BACKEND (sqlite | postgres, default sqlite),
//! BENCH_TICKETS, BENCH_REQUESTS (per page, default 300), GRIDLOOP_BENCH_DATABASE_URL (an admin URL
//! of the PostgreSQL server; a fresh database `gridloop_bench_pages` is made on it), BENCH_DB_PATH
//! (SQLite: seed into this file and keep it; a later run with the file there reuses it), BENCH_REUSE=1
//! (PostgreSQL: keep `gridloop_bench_pages` if it is there — an earlier run's complete seed).

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::Connection;

#[path = "common.rs"]
mod common;
use common::{percentile, rss_mib, seed_tickets, start_server, Server};

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

/// A browser's session: logs in through the login page and keeps the cookie.
async fn session(base: &str, login: &str) -> reqwest::Client {
    let c = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[("login", login), ("password", gridloop::app::demo::DEMO_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "login {login}");
    c
}

/// The stylesheet and script a page loads, and their size.
fn assets_of(html: &str) -> Vec<String> {
    let mut out = vec![];
    for attr in ["href=\"/assets/", "src=\"/assets/"] {
        for piece in html.split(attr).skip(1) {
            out.push(format!("/assets/{}", piece.split('"').next().unwrap()));
        }
    }
    out
}

async fn measure(who: &str, c: &reqwest::Client, base: &str, path: &str, n: usize) {
    let first = c.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(first.status(), 200, "{path}");
    let html = first.text().await.unwrap();
    let mut weight = html.len();
    for a in assets_of(&html) {
        weight += c.get(format!("{base}{a}")).send().await.unwrap().bytes().await.unwrap().len();
    }
    for _ in 0..20 {
        let _ = c.get(format!("{base}{path}")).send().await.unwrap().bytes().await;
    }
    let mut lat = vec![];
    for _ in 0..n {
        let t = Instant::now();
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let name = format!("{who} {}", path.split('/').take(2).collect::<Vec<_>>().join("/"));
    println!(
        "{name:<22} weight {:>6.1} KB (HTML {:>5.1} KB)  p50 {:>5.1} ms  p99 {:>5.1} ms  max {:>5.1} ms  ({n} requests)",
        weight as f64 / 1024.0,
        html.len() as f64 / 1024.0,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
}

/// Work for the desks, from the historic tickets (once; a reused file keeps it): one in a hundred
/// waits at its community (a running acceptance clock held by the community), one in a hundred is
/// whistled to the city management bureau (城市管理局: a part and a running acknowledgement
/// clock held by the department) — so that the community's inbox and oversight and the liaison's
/// queue are measured full, not empty.
fn seed_desks(url: &str, postgres: bool) {
    let mut conn = gridloop::db::DbConn::establish(url).unwrap();
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use gridloop::db::schema::tickets;
    let done: i64 = tickets::table.filter(tickets::state.eq("at_community")).count().get_result(&mut conn).unwrap();
    if done > 0 {
        return;
    }
    let future = if postgres {
        "((now() AT TIME ZONE 'UTC') + (CAST(substr(number, 3) AS BIGINT) % 30 + 1) * interval '1 day')"
    } else {
        "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || (CAST(substr(number, 3) AS INTEGER) % 30 + 1) || ' days')"
    };
    let truth = if postgres { "true" } else { "1" };
    let lie = if postgres { "false" } else { "0" };
    conn.batch_execute(&format!(
        "UPDATE tickets SET state = CASE WHEN CAST(substr(number, 3) AS BIGINT) % 100 = 2 THEN 'at_community' ELSE 'whistled' END,
                closed_at = NULL, due_at = {future}, whistle_type = CASE WHEN CAST(substr(number, 3) AS BIGINT) % 100 = 3 THEN 'enforcement_needed' ELSE NULL END
         WHERE CAST(substr(number, 3) AS BIGINT) % 100 IN (2, 3);
         INSERT INTO sla_clocks (id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at,
                                 original_due_at, reminders, paused_seconds, stopped_at, next_fire_at, fire_seq, provisional)
         SELECT replace(t.id, '-0000-7000-', '-0003-7000-'), t.id, 'community_acceptance', t.community_id, u.path, 'cn', '1 working_days',
                t.created_at, t.due_at, t.due_at, t.due_at, 0, 0, NULL, t.due_at, 0, {lie}
         FROM tickets t JOIN org_units u ON u.id = t.community_id WHERE t.state = 'at_community';
         INSERT INTO ticket_assignments (id, ticket_id, department_id, lead, state, overruled, dispatched_at, ack_due_at, due_at, updated_at)
         SELECT replace(t.id, '-0000-7000-', '-0004-7000-'), t.id, d.id, {truth}, 'dispatched', {lie}, t.created_at, t.due_at, t.due_at, t.created_at
         FROM tickets t, org_units d WHERE d.code = 'LA-JA-D-CG' AND t.state = 'whistled';
         INSERT INTO sla_clocks (id, ticket_id, assignment_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at,
                                 due_at, original_due_at, reminders, paused_seconds, stopped_at, next_fire_at, fire_seq, provisional)
         SELECT replace(t.id, '-0000-7000-', '-0005-7000-'), t.id, replace(t.id, '-0000-7000-', '-0004-7000-'), 'department_acknowledgement',
                d.id, d.path, 'cn', '1 working_days', t.created_at, t.due_at, t.due_at, t.due_at, 0, 0, NULL, t.due_at, 0, {lie}
         FROM tickets t, org_units d WHERE d.code = 'LA-JA-D-CG' AND t.state = 'whistled';"
    ))
    .unwrap();
}

/// History for the rankings (once; a reused database keeps it): the historic tickets' resolution
/// clocks ended by a resolution, and each closed ticket's return visit (回访) a day after it, one
/// in twenty not satisfied — so that the ranking's resolution and satisfaction rates count a
/// year of work, not nothing. The visits go to a chain of their own (shard 99) with placeholder
/// hashes: `audit verify` does not pass on a benchmark database.
fn seed_history(url: &str, postgres: bool) {
    let mut conn = gridloop::db::DbConn::establish(url).unwrap();
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use gridloop::db::schema::audit_events;
    let done: i64 = audit_events::table.filter(audit_events::shard.eq(99)).count().get_result(&mut conn).unwrap();
    if done > 0 {
        return;
    }
    let started = Instant::now();
    let (truth, next_day) = if postgres {
        ("TRUE", "c.stopped_at + interval '1 day'")
    } else {
        ("1", "strftime('%Y-%m-%d %H:%M:%f', c.stopped_at, '+1 days')")
    };
    conn.batch_execute(&format!(
        "UPDATE sla_clocks SET resolved = {truth} WHERE stage = 'resolution' AND stopped_at IS NOT NULL;
         INSERT INTO audit_events (id, shard, seq, entity_kind, entity_id, actor_id, actor_role, actor_unit_id, at, action,
                                   from_state, to_state, reason, changes, prev_hash, hash, hash_version)
         SELECT replace(c.ticket_id, '-0000-7000-', '-0009-7000-'), 99, row_number() OVER (ORDER BY c.ticket_id), 'ticket', c.ticket_id,
                NULL, 'grid_worker', NULL, {next_day}, 'record_return_visit', 'solved',
                CASE WHEN CAST(substr(t.number, 3) AS BIGINT) % 20 = 7 THEN 'compound_handling' ELSE 'closed' END,
                NULL, '{{}}', 'bench', 'bench', 2
         FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
         WHERE c.stage = 'resolution' AND c.stopped_at IS NOT NULL AND t.state = 'closed';"
    ))
    .unwrap();
    println!("seeded the resolutions and return visits in {:.1} s", started.elapsed().as_secs_f64());
}

/// The seed's visits sit in a chain of their own (99): it gets a head, so that the roll-up reads
/// it, and a roll-up mark. Then everything final is rolled up, as a server's `rollup` task does
/// in the background (timed: the first start of an upgraded database does the same).
fn roll_up_history(url: &str) {
    let mut conn = gridloop::db::DbConn::establish(url).unwrap();
    conn.batch_execute(
        "INSERT INTO audit_heads (shard, seq, hash)
           SELECT 99, (SELECT COUNT(*) FROM audit_events WHERE shard = 99), 'bench' WHERE NOT EXISTS (SELECT 1 FROM audit_heads WHERE shard = 99);
         INSERT INTO report_marks (shard, seq) SELECT 99, 0 WHERE NOT EXISTS (SELECT 1 FROM report_marks WHERE shard = 99);",
    )
    .unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings = gridloop::config::Settings::load(&dir, "development").unwrap();
    let calendars =
        gridloop::app::calendars::Calendars::prepare(&mut conn, &settings.config_dir, &settings.sla, gridloop::app::utc_now()).unwrap();
    let started = Instant::now();
    let tz = calendars.default_calendar().tz;
    let r = gridloop::app::reports::rollup::roll_all(&mut conn, &calendars, tz).unwrap();
    println!(
        "rolled up {} running clocks' volume, {} stopped clocks and {} return visits in {:.1} s (gridloop reports roll)",
        r.started,
        r.clocks,
        r.visits,
        started.elapsed().as_secs_f64()
    );
}

/// `k` timed GETs of `path`: p50 and max, and the server's resident memory before and at peak.
async fn measure_report(c: &reqwest::Client, base: &str, server: &Server, what: &str, path: &str, k: usize) {
    let (rss_before, _) = rss_mib(server.child.id());
    let mut lat = vec![];
    for _ in 0..k {
        let t = Instant::now();
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let _ = r.bytes().await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (_, peak) = rss_mib(server.child.id());
    println!(
        "sup.zhao {path} ({what})  p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms  ({k} requests; server RSS {rss_before:.0} MiB before, peak {peak:.0} MiB)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
}

#[tokio::main]
async fn main() {
    let backend = env_or("BENCH_BACKEND", "sqlite");
    let postgres = backend == "postgres";
    let tmp = tempfile::tempdir().unwrap();
    // BENCH_REUSE=1 on PostgreSQL keeps a database an earlier run seeded (migrated to this code).
    let pg_reuse = postgres && std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1");
    let mut pg_seeded = false;
    let url = if postgres {
        let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let mut c = diesel::PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
        let url = format!("{}/gridloop_bench_pages", admin.rsplit_once('/').unwrap().0);
        pg_seeded = pg_reuse
            && gridloop::db::DbConn::establish(&gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap()))
                .is_ok();
        if !pg_seeded {
            c.batch_execute("DROP DATABASE IF EXISTS gridloop_bench_pages").unwrap();
            c.batch_execute("CREATE DATABASE gridloop_bench_pages").unwrap();
        }
        url
    } else {
        // BENCH_DB_PATH keeps the seeded SQLite file (and reuses it when it is there).
        std::env::var("BENCH_DB_PATH").unwrap_or_else(|_| tmp.path().join("pages.db").to_string_lossy().into_owned())
    };
    let reuse = pg_seeded || (!postgres && std::env::var("BENCH_DB_PATH").is_ok_and(|p| std::path::Path::new(&p).exists()));
    let tickets: u64 = env_or("BENCH_TICKETS", "1000000").parse().unwrap();
    println!("== Gridloop pages benchmark: {backend}, {tickets} historic tickets");
    let conn_url = gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap());
    if !reuse {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = gridloop::config::Settings::load(&dir, "development").unwrap();
        let mut conn = gridloop::db::DbConn::establish(&conn_url).unwrap();
        gridloop::db::run_migrations(&mut conn).unwrap();
        gridloop::app::demo::load_demo(&mut conn, &settings.auth, gridloop::app::utc_now()).unwrap();
    }
    if !reuse {
        seed_tickets(&conn_url, postgres, tickets, true);
    } else {
        // A kept database is brought to this code's schema.
        gridloop::db::run_migrations(&mut gridloop::db::DbConn::establish(&conn_url).unwrap()).unwrap();
    }
    seed_desks(&conn_url, postgres);
    seed_history(&conn_url, postgres);
    roll_up_history(&conn_url);
    if postgres {
        // The steady state of a live database: autovacuum has visited the bulk-loaded tables
        // (their visibility maps set, so counts read the indexes alone) and their statistics.
        gridloop::db::DbConn::establish(&conn_url).unwrap().batch_execute("VACUUM ANALYZE").unwrap();
    }
    let server = start_server(&url);
    let base = server.base.clone();
    let n: usize = env_or("BENCH_REQUESTS", "300").parse().unwrap();
    let worker = session(&base, "gw.wang").await;
    let secretary = session(&base, "bs.yang").await;
    measure("gw.wang", &worker, &base, "/day", n).await;
    measure("gw.wang", &worker, &base, "/mine", n).await;
    measure("bs.yang", &secretary, &base, "/board", n).await;
    measure("bs.yang", &secretary, &base, "/inbox", n).await;
    // A ticket of the secretary's compound, from his inbox.
    let inbox = secretary.get(format!("{base}/inbox")).send().await.unwrap().text().await.unwrap();
    let id = inbox.split("href=\"/tickets/").nth(1).expect("a ticket in the inbox").split('"').next().unwrap().to_string();
    measure("bs.yang", &secretary, &base, &format!("/tickets/{id}"), n).await;
    // The desks: the community's staff, a department's liaison, the district's supervisor.
    let community = session(&base, "cs.liu").await;
    measure("cs.liu", &community, &base, "/inbox", n).await;
    measure("cs.liu", &community, &base, "/oversight", n).await;
    let liaison = session(&base, "dl.cg").await;
    measure("dl.cg", &liaison, &base, "/inbox", n).await;
    let supervisor = session(&base, "sup.zhao").await;
    measure("sup.zhao", &supervisor, &base, "/oversight", n).await;
    // A district's ranking (三率) over a year and over a month, from the clock history (issue
    // #18: p99 < 500 ms on PostgreSQL); the seed's tickets were filed from 2025-11-26 to
    // 2026-11-26. And the items behind one figure (the first page of a drill-down).
    let k: usize = env_or("BENCH_RANKING_REQUESTS", "20").parse().unwrap();
    measure_report(&supervisor, &base, &server, "the district, a year", "/api/v1/rankings?period=2026", k).await;
    measure_report(&supervisor, &base, &server, "the district, a month", "/api/v1/rankings?period=2026-10", k).await;
    let ranking: serde_json::Value =
        supervisor.get(format!("{base}/api/v1/rankings?period=2026-10")).send().await.unwrap().json().await.unwrap();
    let drill = ranking["groups"][0]["units"][0]["resolution"]["drill"].as_str().unwrap().to_string();
    measure_report(&supervisor, &base, &server, "a street's resolutions of a month, first page", &drill, k).await;
    // The ticket ledger (台账) of about 100,000 tickets (36 of the seed's 365 days), as a workbook
    // and as CSV (issue #18: < 10 s, server RSS < 200 MB).
    let ledger = "/api/v1/exports/tickets.xlsx?from=2026-09-01&to=2026-10-06";
    let csv = supervisor.get(format!("{base}{}", ledger.replace(".xlsx", ".csv"))).send().await.unwrap().text().await.unwrap();
    println!("the ledger's filter holds {} tickets", csv.lines().count().saturating_sub(1));
    measure_report(&supervisor, &base, &server, "the ledger, ~100,000 tickets, XLSX", ledger, 2).await;
    measure_report(&supervisor, &base, &server, "the same ledger as CSV", &ledger.replace(".xlsx", ".csv"), 2).await;
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    measure("-", &anonymous, &base, "/login", n).await;
    let (rss, peak) = rss_mib(server.child.id());
    println!("server memory: {rss:.0} MiB now, peak {peak:.0} MiB");
}
