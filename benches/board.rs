//! The secretary's board, measured against the release server over HTTP on this machine: a
//! compound with 50 grid workers (one per building, 40 households each) and a year of their daily
//! logs, with the requests raised on those visits, beside the demo city and background tickets.
//!
//! `bash bench/board.sh` runs SQLite, then PostgreSQL. Environment: BENCH_BACKEND (sqlite |
//! postgres | both, default both), BENCH_TICKETS (background tickets city-wide, default 100,000),
//! BENCH_REQUESTS (sequential requests per measurement, default 200), BENCH_SECONDS (the
//! concurrent phase, default 5), GRIDLOOP_BENCH_DATABASE_URL (an admin URL of the PostgreSQL
//! server; a fresh database `gridloop_bench_board` is made on it), BENCH_KEEP_DIR (keep the SQLite
//! file there instead of a temporary folder).

use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};

use gridloop::app::org::insert_unit;
use gridloop::app::people::{insert_person, NewPerson};
use gridloop::app::residents::{insert_resident, HouseholdKind, NewResident};
use gridloop::db::models::{OrgUnitRow, TicketRow, VisitLogRow};
use gridloop::db::schema::{categories, households, memberships, org_units, tickets, visit_log_households, visit_logs};
use gridloop::db::DbConn;
use gridloop::domain::{Id, OrgKind, Role};

#[path = "common.rs"]
mod common;
use common::{percentile, rss_mib, seed_tickets, start_server};

const WORKERS: usize = 50;
const HOUSEHOLDS_PER_BUILDING: usize = 40;

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

/// Builds the bench compound and a year of logs; returns (compound id, secretary login).
fn seed_compound(conn: &mut DbConn, settings: &gridloop::config::Settings, now: NaiveDateTime) -> String {
    let started = Instant::now();
    let rules = settings.visits.rules(chrono_tz::Asia::Shanghai);
    let today = rules.local_date(now);
    let community: OrgUnitRow = org_units::table
        .filter(org_units::kind.eq("community"))
        .order(org_units::code)
        .select(OrgUnitRow::as_select())
        .first(conn)
        .unwrap();
    let category: String = categories::table.order(categories::code).select(categories::id).first(conn).unwrap();
    let year_ago = now - Days::days(366);
    let (compound, buildings, workers) = conn
        .transaction::<_, gridloop::app::AppError, _>(|conn| {
            let compound = insert_unit(conn, Some(&community), OrgKind::Compound, "BENCH-Y", "基准小区", year_ago)?;
            let mut buildings = vec![];
            let mut workers = vec![];
            let person = |login: String, role: Role, unit: &OrgUnitRow, i: usize| NewPerson {
                login,
                display_name: format!("基准{i}"),
                phone: Some(format!("1880000{i:04}")),
                password: gridloop::app::demo::DEMO_PASSWORD.into(),
                role,
                org_unit_id: unit.id.to_string(),
                locale: None,
            };
            insert_person(conn, &settings.auth, &person("bench.bs".into(), Role::BranchSecretary, &compound, 9999), &compound, year_ago)?;
            for b in 0..WORKERS {
                let building =
                    insert_unit(conn, Some(&compound), OrgKind::Building, &format!("BENCH-B{b:02}"), &format!("{b}号楼"), year_ago)?;
                let w = insert_person(
                    conn,
                    &settings.auth,
                    &person(format!("bench.gw{b:02}"), Role::GridWorker, &building, b),
                    &building,
                    year_ago,
                )?;
                for h in 0..HOUSEHOLDS_PER_BUILDING {
                    let kind = match h % 10 {
                        0 => HouseholdKind::ElderlyAlone,
                        1 => HouseholdKind::PartyMemberHousehold,
                        2 => HouseholdKind::LowIncome,
                        _ => HouseholdKind::Ordinary,
                    };
                    let input = NewResident {
                        building_id: building.id.to_string(),
                        name: format!("居民{b}-{h}"),
                        phone: None,
                        id_number: None,
                        unit_no: format!("{}", h / 20 + 1),
                        room: format!("{}{:02}", h % 20 / 2 + 1, h % 2 + 1),
                        kind,
                    };
                    insert_resident(conn, &input, &building, year_ago)?;
                }
                buildings.push(building);
                workers.push(w.id);
            }
            Ok((compound, buildings, workers))
        })
        .unwrap();
    diesel::update(memberships::table.filter(memberships::org_unit_id.eq_any(buildings.iter().map(|b| b.id).collect::<Vec<_>>())))
        .set(memberships::created_at.eq(year_ago))
        .execute(conn)
        .unwrap();
    let (mut logs, mut links, mut filed) = (0, 0, 0);
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for (w, (building, worker)) in buildings.iter().zip(&workers).enumerate() {
            let hh: Vec<String> = households::table.filter(households::building_id.eq(&building.id)).select(households::id).load(conn)?;
            for back in 0..365i64 {
                let date = today - Days::days(back);
                // About 5% of days missed and 10% filed late.
                if (w as i64 * 7 + back) % 20 == 0 {
                    continue;
                }
                let late = (w as i64 + back) % 10 == 0;
                let at = rules.deadline_of(date) + Days::hours(if late { 2 } else { -3 });
                let log = VisitLogRow {
                    id: gridloop::domain::VisitLogId::new(),
                    client_id: Id::new().to_string(),
                    author_id: *worker,
                    grid_id: building.id,
                    grid_path: building.path.clone(),
                    compound_id: compound.id,
                    visit_date: date,
                    households_visited: 6,
                    observations: "楼道整洁，消防通道畅通。".into(),
                    notes: None,
                    submission_hash: "bench".into(),
                    late,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                };
                diesel::insert_into(visit_logs::table).values(&log).execute(conn)?;
                logs += 1;
                for k in 0..2 {
                    let h = &hh[(back as usize * 2 + k) % hh.len()];
                    diesel::insert_into(visit_log_households::table)
                        .values((visit_log_households::log_id.eq(&log.id), visit_log_households::household_id.eq(h)))
                        .execute(conn)?;
                    links += 1;
                }
                // Every fourth log raised a request; the recent ones are still moving.
                if (w as i64 + back) % 4 == 0 {
                    let state = match back {
                        0..=2 => "at_compound",
                        3..=7 => "compound_handling",
                        8..=14 => "whistled",
                        15..=20 => "solved",
                        _ if back % 17 == 0 => "declined",
                        _ => "closed",
                    };
                    let open = !matches!(state, "closed" | "declined");
                    let t = TicketRow {
                        id: Id::new().into(),
                        number: format!("B-{}-{w}-{back}", date.format("%Y%m%d")),
                        category_id: category.parse().unwrap(),
                        urgency: gridloop::domain::workflow::Urgency::Normal,
                        title: "楼道堆物".into(),
                        description: "走访发现".into(),
                        place_id: building.id,
                        place_path: building.path.clone(),
                        compound_id: compound.id,
                        community_id: community.id,
                        address: None,
                        latitude: None,
                        longitude: None,
                        resident_name: Some("居民".into()),
                        resident_phone: None,
                        channel: gridloop::domain::workflow::Channel::Visit,
                        filed_by: worker.to_string().parse().unwrap(),
                        visit_log_id: Some(log.id.to_string().parse().unwrap()),
                        state: state.parse().unwrap(),
                        solved_level: None,
                        duplicate_of: None,
                        whistle_type: None,
                        reopen_count: 0,
                        satisfaction: if state == "closed" { Some(gridloop::domain::workflow::Satisfaction::Satisfied) } else { None },
                        resolution: None,
                        due_at: if open { Some(at + Days::days(3)) } else { None },
                        version: 3,
                        created_at: at,
                        updated_at: at,
                        closed_at: if open { None } else { Some(at + Days::days(5)) },
                        warn_at: if open { Some(at + Days::days(2)) } else { None },
                        due_provisional: false,
                    };
                    diesel::insert_into(tickets::table).values(&t).execute(conn)?;
                    filed += 1;
                }
            }
        }
        Ok(())
    })
    .unwrap();
    println!(
        "seeded compound: {WORKERS} workers, {} households, {logs} logs over 365 days, {links} visited-household links, {filed} visit requests in {:.1} s",
        WORKERS * HOUSEHOLDS_PER_BUILDING,
        started.elapsed().as_secs_f64()
    );
    compound.id.to_string()
}

async fn timed(client: &reqwest::Client, url: &str, token: &str, n: usize) -> Vec<f64> {
    let mut lat = vec![];
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let _ = r.bytes().await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    lat
}

fn line(what: &str, lat: &[f64]) {
    println!(
        "{what:<52} p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  ({} requests)",
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
}

async fn run(backend: &str) {
    let postgres = backend == "postgres";
    let tmp = tempfile::tempdir().unwrap();
    let url = if postgres {
        let admin = env_or("GRIDLOOP_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let mut c = diesel::PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
        c.batch_execute("DROP DATABASE IF EXISTS gridloop_bench_board").unwrap();
        c.batch_execute("CREATE DATABASE gridloop_bench_board").unwrap();
        format!("{}/gridloop_bench_board", admin.rsplit_once('/').unwrap().0)
    } else {
        let dir = std::env::var("BENCH_KEEP_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| tmp.path().to_path_buf());
        dir.join("board.db").to_string_lossy().into_owned()
    };
    let background: u64 = env_or("BENCH_TICKETS", "100000").parse().unwrap();
    println!("== Gridloop board benchmark: {backend}");
    let conn_url = gridloop::db::connection_url(&gridloop::config::DatabaseTarget::parse(&url).unwrap());
    let compound = {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = gridloop::config::Settings::load(&dir, "development").unwrap();
        let mut conn = DbConn::establish(&conn_url).unwrap();
        gridloop::db::run_migrations(&mut conn).unwrap();
        let now = gridloop::app::utc_now();
        gridloop::app::demo::load_demo(&mut conn, &settings.auth, now).unwrap();
        let id = seed_compound(&mut conn, &settings, now);
        if postgres {
            conn.batch_execute("ANALYZE").unwrap();
        }
        id
    };
    seed_tickets(&conn_url, postgres, background, false);
    let server = start_server(&url);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"login": "bench.bs", "password": gridloop::app::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let n: usize = env_or("BENCH_REQUESTS", "200").parse().unwrap();
    let board = format!("{}/api/v1/compounds/{compound}/board", server.base);
    let first: Value = client.get(&board).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    println!(
        "board: {} workers today, {} open tickets, {} visit requests in the last 30 days",
        first["logs"]["workers"], first["open_tickets"]["total"], first["visit_requests"]["total"]
    );
    timed(&client, &board, &token, 20).await; // warm-up
    line("board, default range (30 days)", &timed(&client, &board, &token, n).await);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let year = format!("{board}?from={}&to={today}", today - Days::days(365));
    line("board, a year of compliance and visit requests", &timed(&client, &year, &token, n).await);
    let compliance = format!("{}/api/v1/compounds/{compound}/log-compliance?from={}&to={today}", server.base, today - Days::days(365));
    line("log compliance alone, a year", &timed(&client, &compliance, &token, n).await);
    // Four secretaries at once, for a few seconds.
    let seconds: u64 = env_or("BENCH_SECONDS", "5").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = vec![];
    for _ in 0..4 {
        let (client, url, token) = (client.clone(), year.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{:<52} {:.0} boards/s", "4 concurrent readers, a year each", all.len() as f64 / seconds as f64);
    line("  their latency", &all);
    let (rss, peak) = rss_mib(server.child.id());
    println!("server memory: {rss:.0} MiB now, peak {peak:.0} MiB");
}

#[tokio::main]
async fn main() {
    let which = env_or("BENCH_BACKEND", "both");
    for backend in ["sqlite", "postgres"] {
        if which == "both" || which == backend {
            run(backend).await;
        }
    }
}
