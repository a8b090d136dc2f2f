//! Reads that can go elsewhere (#21, decision 0035): with `database.replica_url`, a heavy read
//! (a search, a ranking) is served by the PostgreSQL streaming replica, except that a person's
//! own writes are read from the primary until the replica has replayed them, and nobody reads a
//! replica further behind than `replica_max_lag_s`. Needs a replica of the test cluster:
//! `bash bench/replica.sh` sets one up and runs these tests (GRIDLOOP_TEST_REPLICA_URL names it).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::fixture::{spawn_fixture_on, PASSWORD};
use crate::helpers::{TestApp, TestDb, PG_ENV};

const REPLICA_ENV: &str = "GRIDLOOP_TEST_REPLICA_URL";

/// The primary's and the replica's base URLs, or `None` (the test is skipped, unless
/// GRIDLOOP_REQUIRE_REPLICA=1 says it must run).
fn bases() -> Option<(String, String)> {
    let found = (std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()), std::env::var(REPLICA_ENV).ok().filter(|u| !u.is_empty()));
    match found {
        (Some(p), Some(r)) => Some((p, r)),
        _ if std::env::var("GRIDLOOP_REQUIRE_REPLICA").is_ok_and(|v| v == "1") => {
            panic!(
                "GRIDLOOP_REQUIRE_REPLICA=1 but {PG_ENV} and {REPLICA_ENV} do not both name a database (bash bench/replica.sh sets them)"
            )
        }
        _ => {
            eprintln!("skipped: no replica ({REPLICA_ENV} unset; bash bench/replica.sh runs this test)");
            None
        }
    }
}

#[derive(QueryableByName)]
struct Lsn {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    lsn: i64,
}

fn position(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Lsn>(conn).unwrap().lsn
}

/// Waits until the replica has replayed everything the primary had written when called.
fn catch_up(primary: &mut PgConnection, replica: &mut PgConnection) {
    let target = position(primary, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn");
    let started = Instant::now();
    while position(replica, "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS lsn") < target {
        assert!(started.elapsed() < Duration::from_secs(60), "the replica did not catch up in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resumes the replica's replay however the test ends.
struct Paused(PgConnection);

impl Paused {
    fn pause(mut c: PgConnection) -> Paused {
        c.batch_execute("SELECT pg_wal_replay_pause()").unwrap();
        Paused(c)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("SELECT pg_wal_replay_resume()");
    }
}

/// The heavy reads this process counted, by source and reason.
fn reads(source: &str, reason: &str) -> u64 {
    let text = gridloop::metrics::get().encode();
    let line = format!("gridloop_heavy_reads_total{{source=\"{source}\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

async fn ticket_ids(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/tickets?limit=100", Some(token)).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn searches_and_rankings_read_the_replica_and_a_persons_own_writes_the_primary() {
    let Some((primary_base, replica_base)) = bases() else { return };
    let db = TestDb::postgres(&primary_base);
    let schema = db.postgres_schema().unwrap().1.to_string();
    let sep = if replica_base.contains('?') { '&' } else { '?' };
    let replica_url = format!("{replica_base}{sep}options=-csearch_path%3D{schema}&application_name={schema}_replica");
    let url = replica_url.clone();
    let (app, fx) = spawn_fixture_on(db, move |s| {
        s.database.replica_url = url;
        s.database.replica_max_lag_s = 4;
    })
    .await;
    let mut primary = PgConnection::establish(&app.settings.database.url).unwrap();
    let mut replica = PgConnection::establish(&replica_url).unwrap();
    catch_up(&mut primary, &mut replica);
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let sup = app.login("sup1", PASSWORD).await;
    // Let a check of the replica note a primary position from after the logins.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    catch_up(&mut primary, &mut replica);

    let on_replica = reads("replica", "");
    assert!(ticket_ids(&app, &bs).await.is_empty());
    assert_eq!(reads("replica", ""), on_replica + 1, "the secretary's search was served by the replica");

    // The replica stops replaying: what is written now is on the primary only.
    let paused = Paused::pause(PgConnection::establish(&replica_url).unwrap());
    let filed = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let id = filed["id"].as_str().unwrap().to_string();
    let own = reads("primary", "own_write");
    assert!(ticket_ids(&app, &gw).await.contains(&id), "the grid worker sees his own filing at once");
    assert_eq!(reads("primary", "own_write"), own + 1, "… read from the primary, the replica not having replayed it");
    let on_replica = reads("replica", "");
    assert!(!ticket_ids(&app, &bs).await.contains(&id), "the secretary's search came from the paused replica");
    assert_eq!(reads("replica", ""), on_replica + 1);
    // A ranking too is served by the replica meanwhile.
    let r = app.get(&format!("/api/v1/rankings?unit={}", fx.unit("D1")), Some(&sup)).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(reads("replica", ""), on_replica + 2, "the supervisor's ranking was served by the replica");

    // Past replica_max_lag_s the paused replica is too far behind: everybody reads the primary.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let lagging = reads("primary", "lagging");
    assert!(ticket_ids(&app, &bs).await.contains(&id), "a replica more than 4 s behind is not read");
    assert!(reads("primary", "lagging") > lagging);

    // Replaying again and caught up, the replica serves both, the filing included.
    drop(paused);
    catch_up(&mut primary, &mut replica);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    catch_up(&mut primary, &mut replica);
    let on_replica = reads("replica", "");
    assert!(ticket_ids(&app, &bs).await.contains(&id));
    assert!(ticket_ids(&app, &gw).await.contains(&id));
    assert_eq!(reads("replica", ""), on_replica + 2, "both searches were served by the replica once it had replayed the filing");
}

/// A replica that does not answer costs nobody his answer: the primary serves the read.
#[tokio::test]
async fn a_replica_that_does_not_answer_leaves_the_reads_to_the_primary() {
    let Some((primary_base, _)) = bases() else { return };
    let db = TestDb::postgres(&primary_base);
    let (app, fx) = spawn_fixture_on(db, |s| {
        // Nothing listens there.
        s.database.replica_url = "postgres://postgres@127.0.0.1:9/none?connect_timeout=1".into();
    })
    .await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let filed = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let unavailable = reads("primary", "unavailable");
    assert!(ticket_ids(&app, &bs).await.contains(&filed["id"].as_str().unwrap().to_string()));
    assert!(reads("primary", "unavailable") > unavailable);
}
