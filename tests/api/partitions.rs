//! History by month (#21, decision 0034): on PostgreSQL, audit events, clock firings and deliveries
//! live in monthly partitions. The audit chains verify across partitions, a period verifies on its
//! own, a month detached for the archive leaves the rest verifiable, and the exactly-once guard of
//! clock firings holds across months. On SQLite the same calls do nothing and say so.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

use gridloop::app::{audit, partitions};
use gridloop::db::schema::{audit_events, sla_clocks, sla_fires};
use gridloop::db::DbConn;

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::TestApp;

fn month(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap()
}

fn at(y: i32, m: u32, day: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, day).unwrap().and_hms_opt(10, 0, 0).unwrap()
}

/// Rows in one table of the current schema (a partition, on PostgreSQL).
fn rows_in(conn: &mut DbConn, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result::<N>(conn).unwrap().n
}

/// One event for each of `ids` at `when`.
fn append_month(conn: &mut DbConn, ids: &[String], when: NaiveDateTime) -> Vec<String> {
    let by = audit::ActedBy::default();
    ids.iter()
        .map(|id| {
            let draft = audit::Draft {
                entity_kind: "test",
                entity_id: id,
                by: &by,
                action: "tick",
                from_state: None,
                to_state: None,
                reason: Some("monthly"),
                changes: json!({"at": when.to_string()}),
            };
            audit::append(conn, draft, when).unwrap().id
        })
        .collect()
}

#[tokio::test]
async fn the_audit_trail_verifies_across_monthly_partitions_and_after_old_months_are_detached() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    let pg = matches!(conn, DbConn::Postgresql(_));
    // January to March 2026 (the servers create only the months around now).
    let created = partitions::ensure_months(&mut conn, month(2026, 1), month(2026, 3)).unwrap();
    assert_eq!(created, if pg { 9 } else { 0 }, "three months of three tables on PostgreSQL, none on SQLite");
    assert_eq!(partitions::ensure_months(&mut conn, month(2026, 1), month(2026, 3)).unwrap(), 0, "a month is created once");

    // The server's own events so far (the calendars it imported at start).
    let base = audit::verify(&mut conn, None).unwrap().unwrap().events;
    let ids: Vec<String> = (0..40).map(|i| format!("partition-test-{i}")).collect();
    for m in 1..=3 {
        append_month(&mut conn, &ids, at(2026, m, 10));
    }
    // April has no partition yet: its events wait in the default partition, and move into
    // April's when it is created.
    let april = append_month(&mut conn, &ids, at(2026, 4, 10));
    if pg {
        for m in 1..=3 {
            assert_eq!(rows_in(&mut conn, &format!("audit_events_y2026m0{m}")), 40, "month {m} in its own partition");
        }
        assert_eq!(rows_in(&mut conn, "audit_events_default"), 40, "April waits in the default partition");
        assert_eq!(partitions::ensure_months(&mut conn, month(2026, 4), month(2026, 4)).unwrap(), 3);
        assert_eq!(rows_in(&mut conn, "audit_events_y2026m04"), 40, "April's events moved into April's partition");
        assert_eq!(rows_in(&mut conn, "audit_events_default"), 0);
        let listed = partitions::list(&mut conn).unwrap();
        assert!(listed.iter().any(|p| p.table == "sla_fires" && p.month == Some(month(2026, 4))), "{listed:?}");
        assert!(listed.iter().any(|p| p.table == "deliveries" && p.month.is_none()), "each table keeps a default partition");
    } else {
        assert!(partitions::list(&mut conn).unwrap().is_empty());
    }
    // Moved or not, every event is where its chain expects it.
    let whole = audit::verify(&mut conn, None).unwrap().expect("the whole trail verifies across the partitions");
    assert_eq!((whole.events, whole.archived), (base + 160, 0));
    let feb = audit::verify_period(&mut conn, at(2026, 2, 1), at(2026, 3, 1)).unwrap().expect("February on its own");
    assert_eq!((feb.events, feb.anchored), (40, 0));
    let across = audit::verify_period(&mut conn, at(2026, 2, 20), at(2026, 4, 20)).unwrap().expect("across two month boundaries");
    assert_eq!(across.events, 80);
    let checkpoint = audit::checkpoint(&mut conn, at(2026, 4, 11)).unwrap();

    // Detach January and February for the archive (PostgreSQL); SQLite has nothing to detach.
    let now = gridloop::app::utc_now();
    let report = partitions::detach_before(&mut conn, month(2026, 3), now).unwrap();
    if !pg {
        assert_eq!(report.unwrap_err(), partitions::Refused::NotPartitioned);
        return;
    }
    let report = report.unwrap();
    let names: Vec<&str> = report.detached.iter().map(|d| d.name.as_str()).collect();
    for name in ["audit_events_y2026m01", "audit_events_y2026m02", "sla_fires_y2026m01", "deliveries_y2026m02"] {
        assert!(names.contains(&name), "{name} detached: {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("y2026m03")), "March stays: {names:?}");
    assert_eq!(report.detached.iter().filter(|d| d.table == "audit_events").map(|d| d.rows).sum::<i64>(), 80);
    // The detached months are tables of their own now, outside the trail, kept for the dump.
    assert_eq!(rows_in(&mut conn, "audit_events_y2026m01"), 40);
    let stored: i64 = audit_events::table.count().get_result(&mut conn).unwrap();
    assert_eq!(stored, base + 80, "only March and April (and the server's own events) remain in the trail");

    // The trail still verifies: each chain continues from where its archive ends, and the
    // checkpoint taken before the detach still holds.
    let v = audit::verify(&mut conn, Some(&checkpoint)).unwrap().expect("verifies after the detach");
    assert_eq!((v.events, v.archived), (base + 160, 80));
    let mar = audit::verify_period(&mut conn, at(2026, 3, 1), at(2026, 4, 1)).unwrap().expect("March, anchored on February's archive");
    assert_eq!(mar.events, 40);
    assert!(mar.anchored > 0, "{mar:?}");
    // A late event of a detached month goes to the default partition and its chain goes on.
    append_month(&mut conn, &ids[..3], at(2026, 2, 27));
    assert_eq!(rows_in(&mut conn, "audit_events_default"), 3);
    assert!(audit::verify(&mut conn, None).unwrap().is_ok());

    // Tampering after the detach is still found: an edited April event, and a dropped month.
    conn.batch_execute("DROP TRIGGER audit_events_no_update ON audit_events").unwrap();
    diesel::update(audit_events::table.find(&april[7])).set(audit_events::reason.eq(Some("rewritten"))).execute(&mut conn).unwrap();
    let b = audit::verify(&mut conn, None).unwrap().unwrap_err();
    assert_eq!(b.event_id.as_deref(), Some(april[7].as_str()), "{b:?}");
    diesel::update(audit_events::table.find(&april[7])).set(audit_events::reason.eq(Some("monthly"))).execute(&mut conn).unwrap();
    assert!(audit::verify(&mut conn, None).unwrap().is_ok());
    // March dropped without the archive's record: the chains no longer start where the archive ends.
    conn.batch_execute("ALTER TABLE audit_events DETACH PARTITION audit_events_y2026m03").unwrap();
    assert!(audit::verify(&mut conn, None).unwrap().is_err(), "a month removed behind the archive's back breaks the chains");

    // Only months that ended, and only whole months.
    assert_eq!(
        partitions::detach_before(&mut conn, partitions::month_start(now.date(), 1), now).unwrap().unwrap_err(),
        partitions::Refused::NotEnded
    );
    assert_eq!(
        partitions::detach_before(&mut conn, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(), now).unwrap().unwrap_err(),
        partitions::Refused::NotFirstOfMonth
    );
}

/// The last guard of exactly-once firing — one row per (clock, seq) — holds across months: a
/// second firing of the same step of a clock is refused even a month later, because the firings
/// are partitioned by the clock's start, which a clock never changes.
#[tokio::test]
async fn a_clocks_second_firing_is_refused_even_in_another_month() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let mut conn = app.conn();
    let (clock_id, started_at): (String, NaiveDateTime) =
        sla_clocks::table.select((sla_clocks::id, sla_clocks::started_at)).first(&mut conn).unwrap();
    let fire = |conn: &mut DbConn, fired_at: NaiveDateTime| {
        diesel::insert_into(sla_fires::table)
            .values((
                sla_fires::clock_id.eq(&clock_id),
                sla_fires::seq.eq(1i64),
                sla_fires::kind.eq("sla_warning"),
                sla_fires::fired_at.eq(fired_at),
                sla_fires::fired_by.eq("test"),
                sla_fires::clock_started_at.eq(started_at),
            ))
            .execute(conn)
    };
    fire(&mut conn, started_at + Duration::hours(1)).unwrap();
    let again = fire(&mut conn, started_at + Duration::days(40));
    assert!(matches!(again, Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))), "{again:?}");
    if matches!(conn, DbConn::Postgresql(_)) {
        let part = format!("sla_fires_y{}", started_at.format("%Ym%m"));
        assert_eq!(rows_in(&mut conn, &part), 1, "the firing lives in the partition of its clock's month");
    }
}
