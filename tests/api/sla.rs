//! SLA clocks: started when a stage is entered, warning at 80%, breach into supervision, reminders
//! at an interval, late acknowledgements kept late, extensions and policy changes moving deadlines
//! without rewriting history, working time on the 2026 calendar, and every firing exactly once,
//! also with two server processes on one database.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::sla::{self, SlaContext, TickReport};
use gridloop::db::schema::{notifications, sla_clocks, sla_fires};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::{assert_error, calendars, instant, TestApp, TestDb};
use crate::tickets::{act, file, new_ticket};

fn at(v: &Value) -> NaiveDateTime {
    instant(v)
}

fn tick(app: &TestApp, now: NaiveDateTime) -> TickReport {
    let cals = calendars(&app.settings);
    let ctx = SlaContext { settings: &app.settings.sla, calendars: &cals };
    sla::tick(&mut app.conn(), ctx, now, "test").unwrap()
}

async fn clocks(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    app.get_ok(&format!("/api/v1/tickets/{id}/clocks"), token).await.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_clock_starts_when_a_stage_is_entered_and_stops_when_it_ends() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let cs = app.login("cs1", PASSWORD).await;
    let dl = app.login("dl1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let c = clocks(&app, &bs, &id).await;
    assert_eq!(c.len(), 1);
    assert_eq!((c[0]["stage"].as_str(), c[0]["holder_unit_id"].as_str()), (Some("compound_triage"), Some(fx.unit("Y1"))));
    // The test configuration gives triage 24 natural hours; the ticket's deadline is the clock's.
    assert_eq!(at(&c[0]["due_at"]) - at(&c[0]["started_at"]), Duration::hours(24));
    assert_eq!(t["ticket_due_at"], c[0]["due_at"]);

    let (_, t) = act(&app, &bs, &id, 1, json!({"action": "report_to_community", "reason": "上报"})).await;
    let (_, t) = act(
        &app,
        &cs,
        &id,
        t["version"].as_i64().unwrap(),
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "enforcement_needed", "reason": "吹哨"}),
    )
    .await;
    let (status, _) = act(&app, &dl, &id, t["version"].as_i64().unwrap(), json!({"action": "acknowledge"})).await;
    assert_eq!(status, StatusCode::OK);
    let c = clocks(&app, &bs, &id).await;
    let stages: Vec<(&str, bool)> = c.iter().map(|c| (c["stage"].as_str().unwrap(), c["stopped_at"].is_null())).collect();
    assert_eq!(
        stages,
        vec![("compound_triage", false), ("community_acceptance", false), ("department_acknowledgement", false), ("resolution", true)],
        "(stage, still running)"
    );
    // The acknowledgement clock records both times: dispatched (started) and acknowledged.
    assert!(c[2]["acknowledged_at"].is_string() && c[2]["started_at"].is_string());
    assert_eq!(c[2]["late"], false);
    assert_eq!(c[3]["holder_unit_id"], fx.unit("P1"));
}

#[tokio::test]
async fn warning_breach_and_reminders_each_fire_once_and_the_breach_enters_supervision() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let sup = app.login("sup1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let c = &clocks(&app, &gw, &id).await[0];
    let (started, due) = (at(&c["started_at"]), at(&c["due_at"]));
    assert_eq!(at(&c["warn_at"]), started + Duration::seconds((24 * 3600) * 8 / 10));

    assert_eq!(tick(&app, started + Duration::hours(1)), TickReport::default(), "nothing is due yet");
    let warn = started + Duration::hours(20);
    assert_eq!(tick(&app, warn).warnings, 1);
    assert_eq!(tick(&app, warn), TickReport::default(), "a warning fires once");
    assert!(app.get_ok("/api/v1/supervision", &sup).await.as_array().unwrap().is_empty());

    let late = due + Duration::minutes(1);
    assert_eq!(tick(&app, late).breaches, 1);
    assert_eq!(tick(&app, late), TickReport::default(), "a breach fires once");
    // Reminders repeat at the interval, not at every tick.
    let every = Duration::minutes(app.settings.sla.reminder_interval_minutes);
    assert_eq!(tick(&app, late + every - Duration::minutes(1)), TickReport::default());
    assert_eq!(tick(&app, late + every).reminders, 1);
    assert_eq!(tick(&app, late + every + every).reminders, 1);

    let queue = app.get_ok("/api/v1/supervision", &sup).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!((queue[0]["ticket_id"].as_str(), queue[0]["stage"].as_str()), (Some(id.as_str()), Some("compound_triage")));
    let counts = app.get_ok("/api/v1/overdue-counts", &sup).await;
    assert_eq!(counts[0]["unit_id"], fx.unit("Y1"));
    assert_eq!(counts[0]["overdue_now"], 1);
    // Other districts' supervisors see nothing of it.
    let sup2 = app.login("sup2", PASSWORD).await;
    assert!(app.get_ok("/api/v1/supervision", &sup2).await.as_array().unwrap().is_empty());

    let timeline = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &gw).await;
    let actions: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["file", "sla_warning", "sla_breach", "sla_reminder", "sla_reminder"]);
    let fired: i64 = sla_fires::table.count().get_result(&mut app.conn()).unwrap();
    let notes: i64 = notifications::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!((fired, notes), (4, 4));
    assert!(gridloop::app::audit::verify(&mut app.conn(), None).unwrap().is_ok());

    // Handling the ticket stops the clock: it leaves the queue, the breach stays on record.
    let bs = app.login("bs1", PASSWORD).await;
    let (status, _) = act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.get_ok("/api/v1/supervision", &sup).await.as_array().unwrap().is_empty());
    let c = &clocks(&app, &gw, &id).await[0];
    assert!(c["breached_at"].is_string() && c["stopped_at"].is_string());
}

#[tokio::test]
async fn a_late_acknowledgement_stays_late_and_an_extension_keeps_the_original_deadline() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let cs = app.login("cs1", PASSWORD).await;
    let dl = app.login("dl1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    act(&app, &bs, &id, 1, json!({"action": "report_to_community", "reason": "上报"})).await;
    let (_, t) = act(
        &app,
        &cs,
        &id,
        2,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "emergency", "reason": "x"}),
    )
    .await;
    // The department does not acknowledge within its limit: the clock breaches.
    let ack_due = at(&t["departments"][0]["ack_due_at"]);
    assert_eq!(tick(&app, ack_due + Duration::minutes(5)).breaches, 1);
    // Pretend the acknowledgement comes after that: move the clock's start back, as time passing would.
    diesel::update(sla_clocks::table.filter(sla_clocks::stage.eq("department_acknowledgement")))
        .set(sla_clocks::due_at.eq(gridloop::app::utc_now() - Duration::minutes(1)))
        .execute(&mut app.conn())
        .unwrap();
    let (_, t) = act(&app, &dl, &id, 3, json!({"action": "acknowledge"})).await;
    let c = clocks(&app, &cs, &id).await;
    let ack = c.iter().find(|c| c["stage"] == "department_acknowledgement").unwrap();
    assert_eq!(ack["late"], true, "acknowledged after its deadline: recorded late for good");
    assert!(ack["breached_at"].is_string());

    // An extension moves the resolution deadline and keeps the original.
    let resolution = c.iter().find(|c| c["stage"] == "resolution").unwrap();
    let old_due = at(&resolution["due_at"]);
    let proposed = (old_due + Duration::days(3)).and_utc();
    let (_, t) = act(
        &app,
        &dl,
        &id,
        t["version"].as_i64().unwrap(),
        json!({"action": "request_extension", "reason": "等材料", "proposed_due_at": proposed}),
    )
    .await;
    let ext = t["extensions"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = act(
        &app,
        &cs,
        &id,
        t["version"].as_i64().unwrap(),
        json!({"action": "rule_on_extension", "extension_id": ext, "decision": "grant"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let c = clocks(&app, &cs, &id).await;
    let resolution = c.iter().find(|c| c["stage"] == "resolution").unwrap();
    assert_eq!(at(&resolution["due_at"]), proposed.naive_utc());
    assert_eq!(at(&resolution["original_due_at"]), old_due);
}

#[tokio::test]
async fn a_policy_change_recomputes_open_deadlines_from_now_on() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let before = clocks(&app, &gw, &id).await[0].clone();
    let path = format!("/api/v1/categories/{}/limits", fx.category);
    let change = json!({"stage": "compound_triage", "urgency": "normal", "limit": "48 hours"});
    let admin1 = app.login("admin1", PASSWORD).await;
    let r = app.request(reqwest::Method::PUT, &path, Some(&admin1), Some(&change), None).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .request(
            reqwest::Method::PUT,
            &path,
            Some(&root),
            Some(&json!({"stage": "compound_triage", "urgency": "normal", "limit": "soon"})),
            None,
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let r = app.request(reqwest::Method::PUT, &path, Some(&root), Some(&change), None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["recomputed_clocks"], 1);
    let after = clocks(&app, &gw, &id).await[0].clone();
    assert_eq!(after["started_at"], before["started_at"], "history is not rewritten");
    assert_eq!(after["original_due_at"], before["original_due_at"]);
    assert_eq!(at(&after["due_at"]) - at(&after["started_at"]), Duration::hours(48));
    assert_eq!(app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await["ticket_due_at"], after["due_at"]);
    // New tickets of the category get the new limit.
    let t2 = file(&app, &gw, &new_ticket(&fx)).await;
    let c2 = &clocks(&app, &gw, t2["id"].as_str().unwrap()).await[0];
    assert_eq!(c2["limit"], "48 hours");
}

#[tokio::test]
async fn working_time_limits_follow_the_2026_calendar() {
    // The default (production) limits are in working time: 1 working day for triage.
    let (app, fx) = spawn_fixture().await;
    let mut settings = app.settings.clone();
    settings.sla = gridloop::config::Settings::load(&crate::helpers::project_dir().join("config"), "development").unwrap().sla;
    let cals = calendars(&settings);
    let ctx = SlaContext { settings: &settings.sla, calendars: &cals };
    let mut conn = app.conn();
    let actor = crate::fixture::actor(&mut conn, &fx, "gw1");
    let china = |d: u32, h: u32, m: u32| NaiveDate::from_ymd_opt(2026, 9, d).unwrap().and_hms_opt(h, m, 0).unwrap() - Duration::hours(8);
    // Filed Wednesday Sep 30 at 17:00 China time: half an hour left that day, then the National
    // Day holiday (Oct 1–7); the day's remaining 6.5 working hours run on Thursday Oct 8.
    let body: gridloop::app::tickets::NewTicket = serde_json::from_value(new_ticket(&fx)).unwrap();
    let t = gridloop::app::tickets::file_ticket(&mut conn, ctx, &actor, body, china(30, 17, 0)).unwrap();
    let due = t.ticket_due_at.unwrap();
    let oct8 = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap().and_hms_opt(17, 0, 0).unwrap() - Duration::hours(8);
    assert_eq!(due, oct8, "08:30–12:00 and 14:00–17:00 on Oct 8 complete the working day");
}

#[test]
fn two_server_processes_fire_each_clock_exactly_once() {
    // Clocks that came due while no server ran fire when the servers start — once, between both.
    let db = TestDb::new();
    let settings = crate::helpers::test_settings(&db);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let fx = crate::fixture::seed(&mut conn, &settings.auth);
    let cals = calendars(&settings);
    let ctx = SlaContext { settings: &settings.sla, calendars: &cals };
    let actor = crate::fixture::actor(&mut conn, &fx, "gw1");
    let long_ago = gridloop::app::utc_now() - Duration::days(10);
    let n = 40;
    for _ in 0..n {
        let body: gridloop::app::tickets::NewTicket = serde_json::from_value(new_ticket(&fx)).unwrap();
        gridloop::app::tickets::file_ticket(&mut conn, ctx, &actor, body, long_ago).unwrap();
    }
    drop(conn);
    let env = [("GRIDLOOP_SLA__SCHEDULER_INTERVAL_S", "1"), ("GRIDLOOP_ENV", "test")];
    let a = crate::cli::Server::start(&db, &env);
    let b = crate::cli::Server::start(&db, &env);
    // Each overdue clock owes one breach; reminders are an interval away.
    let deadline = Instant::now() + StdDuration::from_secs(30);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    loop {
        let breaches: i64 = sla_fires::table.filter(sla_fires::kind.eq("sla_breach")).count().get_result(&mut conn).unwrap();
        if breaches >= n || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    std::thread::sleep(StdDuration::from_secs(2)); // both schedulers tick again meanwhile
    drop((a, b));
    let fires: Vec<(String, String)> = sla_fires::table.select((sla_fires::clock_id, sla_fires::kind)).load(&mut conn).unwrap();
    let breaches = fires.iter().filter(|f| f.1 == "sla_breach").count();
    let mut clocks: Vec<&String> = fires.iter().map(|f| &f.0).collect();
    clocks.sort();
    clocks.dedup();
    assert_eq!(breaches, n as usize, "one breach per overdue clock: {fires:?}");
    assert_eq!(clocks.len(), n as usize);
    assert_eq!(fires.len(), n as usize, "and nothing else fired (no duplicate, no early reminder)");
    let by: Vec<String> = sla_fires::table.select(sla_fires::fired_by).distinct().load(&mut conn).unwrap();
    eprintln!("fired by: {by:?}");
    let events: i64 = gridloop::db::schema::audit_events::table
        .filter(gridloop::db::schema::audit_events::action.eq("sla_breach"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(events, n);
    assert!(gridloop::app::audit::verify(&mut conn, None).unwrap().is_ok());
}

#[tokio::test]
async fn waiting_for_the_resident_pauses_only_the_resolution_clock_and_resumes_at_its_maximum() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    let (status, e) = act(&app, &bs, &id, 2, json!({"action": "pause_for_resident", "reason": ""})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
    let (status, _) = act(&app, &bs, &id, 2, json!({"action": "pause_for_resident", "reason": "居民外出，下周回来"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = act(&app, &bs, &id, 3, json!({"action": "pause_for_resident", "reason": "再停"})).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("nothing_to_pause")));
    let c = clocks(&app, &bs, &id).await;
    let resolution = c.iter().find(|c| c["stage"] == "resolution").unwrap().clone();
    assert!(resolution["paused_at"].is_string());
    let (paused_at, due) = (at(&resolution["paused_at"]), at(&resolution["due_at"]));
    // Nothing fires while paused, not even past the old deadline…
    assert_eq!(tick(&app, due + Duration::hours(1)).breaches, 0);
    // …until the longest allowed pause runs out: the clock resumes by itself, its deadline moved
    // by the time it stood still, which is kept in its pause total.
    let max = Duration::hours(app.settings.sla.max_pause_hours);
    let r = tick(&app, paused_at + max);
    assert_eq!(r.pauses_expired, 1);
    let c = clocks(&app, &bs, &id).await;
    let resolution = c.iter().find(|c| c["stage"] == "resolution").unwrap();
    assert!(resolution["paused_at"].is_null());
    assert_eq!(resolution["paused_seconds"], max.num_seconds());
    assert_eq!(at(&resolution["due_at"]), due + max);
    let (status, e) = act(&app, &bs, &id, 3, json!({"action": "resume_work"})).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("not_paused")));
}
