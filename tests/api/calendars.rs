//! Working calendars in the database: a year without its published schedule is provisional (the
//! standing rule), deadlines across it say so, publishing it recomputes them; a schedule is
//! checked date by date, only the top admin publishes, every change is audited, and the warning
//! about an unpublished year reaches each admin and supervisor once.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::app::calendars::{CalendarWarning, WarningKind};
use gridloop::db::schema::{audit_events, notifications};
use gridloop::domain::calendar::{standard_hours, standing_rule, WorkCalendar, YearSchedule, YearStatus};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::{assert_error, instant, TestApp};

fn at(v: &Value) -> NaiveDateTime {
    instant(v)
}

fn weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A schedule an admin might publish for `year`: the standing rule's weekday holidays, plus two
/// bridge days off (the first working Wednesday of March and the Thursday after), one of them made
/// up on the Saturday before: one working day fewer than the standing rule.
fn schedule_for(year: i32) -> YearSchedule {
    let mut holidays: Vec<NaiveDate> = standing_rule(year).unwrap().holidays.into_iter().filter(|d| !weekend(*d)).collect();
    let mut bridge = NaiveDate::from_ymd_opt(year, 3, 1).unwrap();
    while bridge.weekday() != Weekday::Wed || holidays.contains(&bridge) {
        bridge = bridge.succ_opt().unwrap();
    }
    holidays.extend([bridge, bridge.succ_opt().unwrap()]);
    holidays.sort();
    holidays.dedup();
    YearSchedule { holidays, workdays: vec![bridge - Duration::days(4)] }
}

fn body_of(s: &YearSchedule) -> Value {
    json!({
        "holidays": s.holidays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "workdays": s.workdays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "source": "国办发明电（测试）",
    })
}

async fn put_year(app: &TestApp, token: &str, year: i32, body: &Value, if_match: Option<i64>) -> reqwest::Response {
    app.request(Method::PUT, &format!("/api/v1/calendars/cn/years/{year}"), Some(token), Some(body), if_match).await
}

/// The year of the last published schedule the server has.
async fn last_published(app: &TestApp, token: &str) -> i32 {
    let cals = app.get_ok("/api/v1/calendars", token).await;
    let cn = cals.as_array().unwrap().iter().find(|c| c["name"] == "cn").unwrap();
    cn["years"].as_array().unwrap().iter().filter(|y| y["status"] == "published").map(|y| y["year"].as_i64().unwrap() as i32).max().unwrap()
}

#[tokio::test]
async fn a_deadline_into_an_unpublished_year_is_provisional_until_the_year_is_published() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let gw = app.login("gw1", PASSWORD).await;
    let this_year = gridloop::app::utc_now().year();
    // A triage limit long enough to end past the last published year, whatever today is.
    let published = last_published(&app, &root).await;
    let days = 260 * (published + 2 - this_year).max(1);
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/categories/{}/limits", fx.category),
            Some(&root),
            Some(&json!({"stage": "compound_triage", "urgency": "normal", "limit": format!("{days} working_days")})),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app.post_json("/api/v1/tickets", Some(&gw), &crate::tickets::new_ticket(&fx)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["provisional"], true, "{t}");
    let id = t["id"].as_str().unwrap();
    let clocks = app.get_ok(&format!("/api/v1/tickets/{id}/clocks"), &gw).await;
    let clock = &clocks[0];
    assert_eq!(clock["provisional"], true);
    let (started, due_before) = (at(&clock["started_at"]), at(&clock["due_at"]));
    let list = app.get_ok("/api/v1/inbox", &app.login("bs1", PASSWORD).await).await;
    assert_eq!(list[0]["provisional"], true, "the secretary's inbox says so too");

    // The admin publishes every year the deadline reaches into.
    let due_year = (due_before + Duration::hours(8)).year();
    let mut published_now = BTreeMap::new();
    for year in (published + 1)..=due_year {
        let s = schedule_for(year);
        let r = put_year(&app, &root, year, &body_of(&s), None).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!((v["status"].as_str(), v["stored"].as_bool(), v["version"].as_i64()), (Some("published"), Some(true), Some(1)));
        published_now.insert(year, (s, YearStatus::Published));
    }

    // The same ticket's deadline is recomputed on the published years and is no longer provisional.
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await;
    assert_eq!(t["provisional"], false, "{t}");
    let clock = &app.get_ok(&format!("/api/v1/tickets/{id}/clocks"), &gw).await[0];
    assert_eq!(clock["provisional"], false);
    let due_after = at(&clock["due_at"]);
    let mut years = published_now.clone();
    let shipped = gridloop::app::calendars::Calendars::from_files(&app.settings.config_dir.join("calendars"), &app.settings.sla).unwrap();
    for y in (this_year - 1)..=published {
        if let Some((s, YearStatus::Published)) = shipped.get("cn").unwrap().schedule(y) {
            years.insert(y, (s, YearStatus::Published));
        }
    }
    let oracle = WorkCalendar::new("cn", chrono_tz::Asia::Shanghai, &standard_hours(), &years).unwrap();
    let expected = oracle.add_working(started, days as i64 * oracle.day_seconds()).unwrap();
    assert_eq!(due_after, expected, "recomputed from the stage's start on the published schedule");
    assert!(due_after > due_before, "a bridge day off per year moves the deadline later: {due_before} -> {due_after}");
    assert_eq!(at(&t["ticket_due_at"]), due_after, "the ticket's deadline follows its clock");

    // Each publication is in the audit trail, by the admin, and the chains verify.
    let events: Vec<(String, Option<String>, String)> = audit_events::table
        .filter(audit_events::entity_kind.eq("calendar_year"))
        .filter(audit_events::actor_id.is_not_null())
        .select((audit_events::entity_id, audit_events::actor_id, audit_events::action))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(events.len(), published_now.len());
    for (entity, actor, action) in &events {
        assert!(entity.starts_with("cn/"), "{entity}");
        assert_eq!(actor.as_deref(), Some(fx.person("root")));
        assert_eq!(action, "store_calendar_year");
    }
    assert!(gridloop::app::audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn a_year_is_checked_date_by_date_and_only_the_top_admin_publishes_it() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let good = body_of(&schedule_for(2030));
    for login in ["admin1", "sup1", "gw1", "cs1", "dl1"] {
        let token = app.login(login, PASSWORD).await;
        assert_error(put_year(&app, &token, 2030, &good, None).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let r = app.request(Method::PUT, "/api/v1/calendars/nope/years/2030", Some(&root), Some(&good), None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.request(Method::PUT, "/api/v1/calendars/cn/years/soon", Some(&root), Some(&good), None).await;
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;

    // Every date at fault is named, with why, in the caller's language; nothing is stored.
    let bad = json!({
        "holidays": ["2030-01-01", "2031-01-01", "2030-13-01", "2030-03-09", "2030-01-01"],
        "workdays": ["2030-03-13"],
    });
    let body = assert_error(put_year(&app, &root, 2030, &bad, None).await, StatusCode::UNPROCESSABLE_ENTITY, "schedule_invalid").await;
    let problems: Vec<(String, String)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["date"].as_str().unwrap().to_string(), p["problem"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(problems, vec![("2030-13-01".to_string(), "not_a_date".to_string())], "an unreadable date is refused first");
    assert!(body["problems"][0]["reason"].as_str().unwrap().contains("不是"), "{body}");
    let bad = json!({"holidays": ["2030-01-01", "2031-01-01", "2030-03-09", "2030-01-01"], "workdays": ["2030-03-13", "2030-01-01"]});
    let r = app
        .client
        .put(app.url("/api/v1/calendars/cn/years/2030"))
        .bearer_auth(&root)
        .header("Accept-Language", "en")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "schedule_invalid").await;
    let problems: Vec<(&str, &str)> =
        body["problems"].as_array().unwrap().iter().map(|p| (p["date"].as_str().unwrap(), p["problem"].as_str().unwrap())).collect();
    assert_eq!(
        problems,
        vec![
            ("2030-01-01", "listed_twice"),
            ("2030-01-01", "holiday_and_workday"),
            ("2030-03-09", "lone_weekend_holiday"),
            ("2030-03-13", "workday_not_weekend"),
            ("2031-01-01", "outside_year"),
        ]
    );
    assert!(body["problems"][4]["reason"].as_str().unwrap().contains("is not in 2030"), "{body}");
    let v = app.get_ok("/api/v1/calendars/cn/years/2030", &root).await;
    assert_eq!((v["stored"].as_bool(), v["status"].as_str()), (Some(false), Some("provisional")), "nothing stored: {v}");
    let r = put_year(&app, &root, 2200, &good, None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "schedule_invalid").await;
    assert_eq!(body["problems"][0]["problem"], "year_out_of_range");

    // Stored, then replaced only with the version last seen.
    let r = put_year(&app, &root, 2030, &good, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert_error(put_year(&app, &root, 2030, &good, None).await, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    assert_error(put_year(&app, &root, 2030, &good, Some(7)).await, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    let mut provisional = good.clone();
    provisional["status"] = json!("provisional");
    let v: Value = put_year(&app, &root, 2030, &provisional, Some(1)).await.json().await.unwrap();
    assert_eq!((v["version"].as_i64(), v["status"].as_str()), (Some(2), Some("provisional")));

    // Both changes are audited, with the old and new values.
    let events: Vec<(String, Option<String>, String)> = audit_events::table
        .filter(audit_events::entity_kind.eq("calendar_year"))
        .filter(audit_events::entity_id.eq("cn/2030"))
        .order(audit_events::at)
        .select((audit_events::action, audit_events::actor_id, audit_events::changes))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["store_calendar_year", "replace_calendar_year"]);
    assert!(events.iter().all(|e| e.1.as_deref() == Some(fx.person("root"))));
    let changes: Value = serde_json::from_str(&events[1].2).unwrap();
    assert_eq!(changes["status"], json!(["published", "provisional"]));
    let history = app.get_ok("/api/v1/calendars/cn/years/2030/history", &root).await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert!(gridloop::app::audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn an_unpublished_year_is_a_warning_in_health_and_one_notification_per_admin_and_supervisor() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let this_year = gridloop::app::utc_now().year();
    // This year stored as provisional (entered ahead of the notice): health warns, still 200.
    let mut body = body_of(&schedule_for(this_year));
    body["status"] = json!("provisional");
    let current: Option<i64> = app.get_ok(&format!("/api/v1/calendars/cn/years/{this_year}"), &root).await["version"].as_i64();
    let r = put_year(&app, &root, this_year, &body, current).await;
    assert_eq!(r.status(), StatusCode::OK);
    let health = app.get_ok("/healthz", &root).await;
    let warned = |h: &Value, code: &str| h["warnings"].as_array().unwrap().iter().any(|w| w["code"] == code && w["year"] == this_year);
    assert!(warned(&health, "current_year_provisional"), "{health}");
    assert!(health["warnings"][0]["message"].as_str().unwrap().contains("暂定"), "{health}");
    body["status"] = json!("published");
    let r = put_year(&app, &root, this_year, &body, Some(current.map(|v| v + 1).unwrap_or(1))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let health = app.get_ok("/healthz", &root).await;
    assert!(!warned(&health, "current_year_provisional"), "{health}");

    // The notification: once per top admin and supervisor, however often and wherever it runs.
    let w = CalendarWarning { calendar: "cn".into(), year: 2099, which: WarningKind::NextYearProvisional };
    let now = gridloop::app::utc_now();
    let runs: Vec<std::thread::JoinHandle<usize>> = (0..3)
        .map(|_| {
            let (settings, w) = (app.settings.database.clone(), w.clone());
            std::thread::spawn(move || {
                let mut conn = gridloop::db::establish(&settings).unwrap();
                gridloop::app::calendars::notify_warnings(&mut conn, &[w], now).unwrap()
            })
        })
        .collect();
    let written: usize = runs.into_iter().map(|h| h.join().unwrap()).sum();
    let again = gridloop::app::calendars::notify_warnings(&mut app.conn(), &[w], now).unwrap();
    let mut to: Vec<String> = notifications::table
        .filter(notifications::kind.eq("calendar_provisional"))
        .filter(notifications::payload.like("%2099%"))
        .select(notifications::person_id.assume_not_null())
        .load(&mut app.conn())
        .unwrap();
    to.sort();
    let mut expected: Vec<String> = ["root", "sup1", "sup2"].iter().map(|l| fx.person(l).to_string()).collect();
    expected.sort();
    assert_eq!(to, expected, "the city's admin and every supervisor; not the district admins");
    assert_eq!((written, again), (3, 0));
}

/// Servers starting together on a new database all import the shipped calendar years: one
/// imports them, the others find them stored — none fails to start (found by the kill drill,
/// bench/drill.py, where three instances start at once).
#[test]
fn servers_starting_together_on_a_new_database_all_prepare_the_calendars() {
    let db = crate::helpers::TestDb::new();
    let settings = crate::helpers::test_settings(&db);
    let pool = gridloop::db::build_pool(&settings.database).unwrap();
    gridloop::db::run_migrations(&mut pool.get().unwrap()).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (pool, settings, barrier) = (pool.clone(), settings.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                gridloop::app::calendars::Calendars::prepare(&mut conn, &settings.config_dir, &settings.sla, gridloop::app::utc_now())
                    .map(|c| c.names())
            })
        })
        .collect();
    for s in starts {
        assert_eq!(s.join().unwrap().expect("every server starts"), vec!["cn".to_string()]);
    }
    let imports = crate::tickets::calendar_imports_in(&mut pool.get().unwrap());
    assert!(imports >= 1);
    // Imported once: a second pass of every server found the years stored.
    let years: i64 = {
        use diesel::prelude::*;
        let mut pooled = pool.get().unwrap();
        let conn: &mut gridloop::db::DbConn = &mut pooled;
        gridloop::db::schema::calendar_years::table.count().get_result(conn).unwrap()
    };
    assert_eq!(imports, years, "one import event per stored year");
}
