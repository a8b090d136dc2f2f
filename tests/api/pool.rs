//! The pool's cheaper checkout (db::Manager): a connection is handed out without `SELECT 1` only
//! when its last use was vouched for and its last check is recent; otherwise it is checked, and a
//! dead one replaced. Connections cut by the server exist only on PostgreSQL: on SQLite a
//! connection is an open file, so these tests return at once there.

use diesel::prelude::*;
use gridloop::db::{self, DbPool};

use crate::helpers::{test_settings, TestDb, PG_ENV};

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

fn pool(db: &TestDb, trust_ms: u64) -> DbPool {
    let mut s = test_settings(db);
    s.database.pool_size = 1;
    s.database.connection_trust_ms = trust_ms;
    db::build_pool(&s.database).expect("pool")
}

fn backend_pid(conn: &mut db::DbConn) -> QueryResult<i32> {
    diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(conn).map(|p| p.pid)
}

/// Ends a server process from another connection, and waits until it is gone.
fn kill_backend(db: &TestDb, pid: i32) {
    let mut admin = diesel::PgConnection::establish(&db.url).expect("admin connection");
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})")).execute(&mut admin).expect("terminate");
    for _ in 0..500 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let left = diesel::sql_query(format!("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {pid}"))
            .get_result::<N>(&mut admin)
            .expect("pg_stat_activity")
            .n;
        if left == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("backend {pid} did not end");
}

/// Checks a connection out, uses it, vouches for it if told, returns it, and cuts it from the
/// server's side; returns its backend pid.
fn use_then_cut(db: &TestDb, pool: &DbPool, vouch: bool) -> i32 {
    let pid = {
        let mut conn = pool.get().unwrap();
        let pid = backend_pid(&mut conn).unwrap();
        if vouch {
            conn.vouch();
        }
        pid
    };
    kill_backend(db, pid);
    pid
}

/// The next checkout gives a working connection that is not the cut one.
fn replaced(pool: &DbPool, cut: i32) {
    let mut conn = pool.get().expect("the pool replaces the dead connection");
    assert_ne!(backend_pid(&mut conn).expect("the connection handed out works"), cut);
}

/// A database of the test's own on PostgreSQL; none on SQLite.
fn postgres_db() -> Option<TestDb> {
    std::env::var(PG_ENV).is_ok_and(|u| !u.is_empty()).then(TestDb::new)
}

#[test]
fn a_connection_whose_last_use_failed_is_checked_and_replaced() {
    let Some(db) = postgres_db() else { return };
    // A long trust window, so that only the missing vouch can make the pool check.
    let pool = pool(&db, 60_000);
    // Not vouched for: as after a request that failed.
    let cut = use_then_cut(&db, &pool, false);
    replaced(&pool, cut);
}

#[test]
fn a_vouched_connection_skips_the_check_only_inside_the_trust_window() {
    let Some(db) = postgres_db() else { return };
    // Trust 0: the pool checks at every checkout, vouched or not, as r2d2 does by default.
    let checked = pool(&db, 0);
    let cut = use_then_cut(&db, &checked, true);
    replaced(&checked, cut);

    // Trust for a minute: a vouched connection is handed out unchecked, so one cut by the server
    // in the meantime fails its first use (the documented price); that use is not vouched for,
    // so the next checkout checks it and replaces it.
    let trusting = pool(&db, 60_000);
    let cut = use_then_cut(&db, &trusting, true);
    {
        let mut conn = trusting.get().unwrap();
        let err = backend_pid(&mut conn).expect_err("a trusted connection is handed out without a check");
        let app: gridloop::app::error::AppError = err.into();
        assert!(matches!(app, gridloop::app::error::AppError::Unavailable(_)), "a cut connection answers 503: {app:?}");
    }
    replaced(&trusting, cut);
}

#[test]
fn a_connection_the_pool_cannot_make_is_reported_with_its_real_cause() {
    use diesel::r2d2::ManageConnection;
    // Nothing listens on a port just freed. The pool logs the error of each failed attempt, so
    // the error must say what happened, whichever back end the URL names.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let manager = db::Manager::new(&format!("postgres://postgres@127.0.0.1:{port}/gridloop"), std::time::Duration::from_secs(1));
    let Err(e) = manager.connect() else { panic!("nothing listens on {port}") };
    assert!(e.to_string().to_lowercase().contains("connection refused"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder/gridloop.db");
    let manager = db::Manager::new(missing.to_str().unwrap(), std::time::Duration::from_secs(1));
    let Err(e) = manager.connect() else { panic!("the folder does not exist") };
    assert!(e.to_string().to_lowercase().contains("unable to open the database file"), "{e}");
}
