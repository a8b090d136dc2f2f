//! Visit logs: one submission files the log, its requests and its return visits; retries file
//! nothing twice; same-day amendments are audited and then locked; households' visit status; the
//! secretary's board with reminders and compliance.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::board::{self, BoardQuery, LogStatus};
use gridloop::app::visits::{self, VisitContext, VisitLogAmendment};
use gridloop::app::{utc_now, AppError};
use gridloop::db::schema::{households, memberships, notifications, tickets, visit_logs};
use gridloop::domain::visits::{LoopStage, VisitRules};
use gridloop::domain::Id;

use crate::fixture::{actor, spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, calendars, TestApp};
use crate::tickets::{act, file, new_ticket};

fn rules(app: &TestApp) -> VisitRules {
    app.settings.visits.rules(calendars(&app.settings).default_calendar().tz)
}

/// Runs `f` with a visit context over the app's settings.
fn with_ctx<T>(app: &TestApp, f: impl FnOnce(VisitContext<'_>) -> T) -> T {
    let cals = calendars(&app.settings);
    let rules = rules(app);
    let ctx = VisitContext { rules: &rules, sla: gridloop::app::sla::SlaContext { settings: &app.settings.sla, calendars: &cals } };
    f(ctx)
}

fn today(app: &TestApp) -> NaiveDate {
    rules(app).local_date(utc_now())
}

/// The UTC instant of a local time on a local date.
fn local(app: &TestApp, d: NaiveDate, hh: u32, mm: u32) -> NaiveDateTime {
    rules(app).utc_of(d, NaiveTime::from_hms_opt(hh, mm, 0).unwrap())
}

async fn household_of(app: &TestApp, token: &str, fx: &Fixture, resident: &str) -> String {
    let r = app.get_ok(&format!("/api/v1/residents/{}", fx.resident(resident)), token).await;
    r["household_id"].as_str().expect("every resident has a household").to_string()
}

fn log_body(fx: &Fixture, date: NaiveDate) -> Value {
    json!({
        "client_id": Id::new().to_string(),
        "grid_id": fx.unit("B1"),
        "visit_date": date,
        "households_visited": 3,
        "observations": "1单元楼道堆放杂物；2单元声控灯损坏。",
    })
}

async fn submit(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = app.post_json("/api/v1/visit-logs", Some(token), body).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A ticket of B1 taken through triage and marked solved at the compound: it waits for the return visit.
async fn solved_ticket(app: &TestApp, fx: &Fixture, gw: &str, bs: &str) -> String {
    let t = file(app, gw, &new_ticket(fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let (s, t) = act(app, bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, t) = act(app, bs, &id, 2, json!({"action": "mark_solved", "resolution": "已协调物业清理"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["state"], "solved");
    id
}

fn count_tickets(app: &TestApp) -> i64 {
    tickets::table.count().get_result(&mut app.conn()).unwrap()
}

#[tokio::test]
async fn one_submission_files_the_log_its_requests_and_return_visits_and_a_retry_files_nothing_twice() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let solved = solved_ticket(&app, &fx, &gw, &bs).await;
    let h1 = household_of(&app, &gw, &fx, "r1").await;
    let mut body = log_body(&fx, today(&app));
    body["household_ids"] = json!([h1]);
    let mut request = new_ticket(&fx);
    request.as_object_mut().unwrap().remove("building_id");
    request["title"] = json!("2单元声控灯损坏");
    body["tickets"] = json!([request]);
    body["return_visits"] = json!([{"ticket_id": solved, "satisfaction": "satisfied", "note": "居民表示满意"}]);
    let before = count_tickets(&app);

    let (status, log) = submit(&app, &gw, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{log}");
    let log_id = log["id"].as_str().unwrap().to_string();
    assert_eq!(log["households"][0]["id"], h1.as_str());
    assert_eq!(log["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(log["tickets"][0]["loop_stage"], "visited");
    assert_eq!(log["return_visits"][0]["ticket_id"], solved.as_str());
    assert_eq!(count_tickets(&app), before + 1);

    // The request is a ticket of the log's grid, linked both ways, filed through the visit channel.
    let t = app.get_ok(&format!("/api/v1/tickets/{}", log["tickets"][0]["id"].as_str().unwrap()), &bs).await;
    assert_eq!(
        (t["visit_log_id"].as_str(), t["channel"].as_str(), t["place_id"].as_str()),
        (Some(log_id.as_str()), Some("visit"), Some(fx.unit("B1")))
    );
    // The return visit went through the ticket's own workflow: closed, with its event in the timeline.
    let closed = app.get_ok(&format!("/api/v1/tickets/{solved}"), &bs).await;
    assert_eq!((closed["state"].as_str(), closed["satisfaction"].as_str()), (Some("closed"), Some("satisfied")));
    let timeline = app.get_ok(&format!("/api/v1/tickets/{solved}/timeline"), &bs).await;
    assert_eq!(timeline.as_array().unwrap().last().unwrap()["action"], "record_return_visit");
    // The household counts as visited today.
    let h = app.get_ok(&format!("/api/v1/households/{h1}"), &gw).await;
    assert_eq!(h["last_visited_on"], json!(today(&app)));

    // A retry on a bad network: the same log, nothing filed twice.
    let r = app.post_json("/api/v1/visit-logs", Some(&gw), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], log_id.as_str());
    assert_eq!(count_tickets(&app), before + 1);
    let logs: i64 = visit_logs::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(logs, 1);
    assert!(again["tickets"].as_array().unwrap().len() == 1);

    // The same client id for a different log is refused, naming the field.
    let mut other = body.clone();
    other["observations"] = json!("另一份日志");
    let v =
        assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &other).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    assert_eq!(v["field"], "client_id");
    // A second log for the same grid and day (a new client id) is refused: amend the first.
    let mut second = log_body(&fx, today(&app));
    second["observations"] = json!("重复提交");
    let v = assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &second).await, StatusCode::CONFLICT, "log_exists").await;
    assert!(v["message"].as_str().unwrap().contains(&log_id), "{v}");

    // A request filed on its own can join the worker's own log, never another's.
    let mut linked = new_ticket(&fx);
    linked["visit_log_id"] = json!(log_id);
    let t = file(&app, &gw, &linked).await;
    assert_eq!(t["visit_log_id"], log_id.as_str());
    let v = assert_error(
        app.post_json("/api/v1/tickets", Some(&app.login("gw1b", PASSWORD).await), &linked).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_reference",
    )
    .await;
    assert_eq!(v["field"], "visit_log_id");
    let log_now = app.get_ok(&format!("/api/v1/visit-logs/{log_id}"), &gw).await;
    assert_eq!(log_now["tickets"].as_array().unwrap().len(), 2);

    // Scope: the secretary and community see it; the other district's people do not.
    for (login, want) in [("bs1", 200), ("cs1", 200), ("sup1", 200), ("gw2", 404), ("bs2", 404), ("dl1", 404), ("admin1", 404)] {
        let token = app.login(login, PASSWORD).await;
        let r = app.get(&format!("/api/v1/visit-logs/{log_id}"), Some(&token)).await;
        assert_eq!(r.status().as_u16(), want, "{login}");
    }
    let page = app.get_ok("/api/v1/visit-logs", &bs).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = app.get_ok("/api/v1/visit-logs", &app.login("bs2", PASSWORD).await).await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn only_a_worker_files_for_his_own_grid_and_a_bad_part_files_nothing() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let d = today(&app);
    // Another district's grid is unknown to him; a secretary files no visit logs.
    let mut body = log_body(&fx, d);
    body["grid_id"] = json!(fx.unit("B2"));
    let v =
        assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &body).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference")
            .await;
    assert_eq!(v["field"], "grid_id");
    assert_error(app.post_json("/api/v1/visit-logs", Some(&bs), &log_body(&fx, d)).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Dates: not in the future, not beyond the backfill window.
    for bad in [d + Duration::days(1), d - Duration::days(app.settings.visits.backfill_days + 1)] {
        let v = assert_error(
            app.post_json("/api/v1/visit-logs", Some(&gw), &log_body(&fx, bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(v["field"], "visit_date");
    }
    // Fewer households visited than listed.
    let h1 = household_of(&app, &gw, &fx, "r1").await;
    let mut body = log_body(&fx, d);
    body["households_visited"] = json!(0);
    body["household_ids"] = json!([h1]);
    let v =
        assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    assert_eq!(v["field"], "households_visited");
    // A return visit on a ticket that is not waiting for one, next to a good request: nothing is filed.
    let open = file(&app, &gw, &new_ticket(&fx)).await;
    let before = count_tickets(&app);
    let mut body = log_body(&fx, d);
    body["tickets"] = json!([new_ticket(&fx)]);
    body["return_visits"] = json!([{"ticket_id": open["id"], "satisfaction": "satisfied"}]);
    let v =
        assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    assert_eq!(v["field"], "return_visits[0].ticket_id");
    // A request with an unknown category names its place in the body.
    let mut body = log_body(&fx, d);
    let mut bad = new_ticket(&fx);
    bad["category_id"] = json!(Id::new().to_string());
    body["tickets"] = json!([new_ticket(&fx), bad]);
    let v =
        assert_error(app.post_json("/api/v1/visit-logs", Some(&gw), &body).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference")
            .await;
    assert_eq!(v["field"], "tickets[1].category_id");
    assert_eq!(count_tickets(&app), before, "a refused log files none of its requests");
    let logs: i64 = visit_logs::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(logs, 0);
    let still = app.get_ok(&format!("/api/v1/tickets/{}", open["id"].as_str().unwrap()), &bs).await;
    assert_eq!(still["state"], "at_compound");
}

#[tokio::test]
async fn a_log_is_amended_on_its_day_with_each_change_audited_and_locked_afterwards() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let (status, log) = submit(&app, &gw, &log_body(&fx, today(&app))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = log["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/visit-logs/{id}");
    let change = json!({"observations": "补充：3单元有老人需要帮助", "households_visited": 5, "add_tickets": [new_ticket(&fx)]});
    assert_error(app.patch_json(&path, Some(&gw), None, &change).await, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    assert_error(app.patch_json(&path, Some(&gw), Some(7), &change).await, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    // Another worker of the same grid may read it but not change it.
    let other = app.login("gw1b", PASSWORD).await;
    assert_eq!(app.get(&path, Some(&other)).await.status(), StatusCode::OK);
    assert_error(app.patch_json(&path, Some(&other), Some(1), &change).await, StatusCode::FORBIDDEN, "forbidden").await;

    let r = app.patch_json(&path, Some(&gw), Some(1), &change).await;
    assert_eq!(r.status(), StatusCode::OK);
    let amended: Value = r.json().await.unwrap();
    assert_eq!((amended["version"].as_i64(), amended["households_visited"].as_i64()), (Some(2), Some(5)));
    assert_eq!(amended["tickets"].as_array().unwrap().len(), 1);
    let history = app.get_ok(&format!("{path}/history"), &app.login("bs1", PASSWORD).await).await;
    let events = history.as_array().unwrap();
    assert_eq!(events.iter().map(|e| e["action"].as_str().unwrap()).collect::<Vec<_>>(), ["file", "amend"]);
    assert_eq!(events[1]["changes"]["observations"], json!([log["observations"], "补充：3单元有老人需要帮助"]));
    assert_eq!(events[1]["changes"]["households_visited"], json!([3, 5]));
    assert_eq!(events[1]["actor_id"], fx.person("gw1"));

    // The next day (local time) the log is locked.
    let mut conn = app.conn();
    let gw1 = actor(&mut conn, &fx, "gw1");
    let tomorrow = local(&app, today(&app) + Duration::days(1), 0, 5);
    let locked = with_ctx(&app, |ctx| {
        visits::amend_log(
            &mut conn,
            ctx,
            &gw1,
            &id.parse().unwrap(),
            Some(2),
            VisitLogAmendment { notes: Some("迟到的补充".into()), ..Default::default() },
            tomorrow,
        )
    });
    assert!(matches!(locked, Err(AppError::LogLocked { .. })), "{:?}", locked.err());
    // Every event of the trail still verifies.
    assert!(gridloop::app::audit::verify(&mut conn, None).unwrap().is_ok());
}

#[tokio::test]
async fn overdue_households_show_on_the_workers_list_until_visited() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let h1 = household_of(&app, &gw, &fx, "r1").await;
    // r1 lives alone and is elderly: weekly visits. Registered 30 days ago and never visited.
    diesel::update(households::table.find(&h1))
        .set(households::created_at.eq(utc_now() - Duration::days(30)))
        .execute(&mut app.conn())
        .unwrap();
    let overdue = app.get_ok("/api/v1/households?overdue=true", &gw).await;
    let ids: Vec<&str> = overdue.as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [h1.as_str()]);
    assert_eq!(overdue[0]["visit_every_days"], 7);
    assert_eq!(overdue[0]["overdue_days"], 23);
    assert!(app.get_ok("/api/v1/households?overdue=false", &gw).await.as_array().unwrap().is_empty());
    // gw2's district has its own overdue households, never gw1's.
    let gw2 = app.login("gw2", PASSWORD).await;
    assert!(app.get_ok("/api/v1/households?overdue=true", &gw2).await.as_array().unwrap().is_empty());

    let list = app.get_ok("/api/v1/my/visit-list", &gw).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "one grid");
    assert_eq!(list[0]["grid_id"], fx.unit("B1"));
    assert!(list[0]["todays_log_id"].is_null());
    assert_eq!(list[0]["households_due"][0]["id"], h1.as_str());

    let mut body = log_body(&fx, today(&app));
    body["household_ids"] = json!([h1]);
    let (status, log) = submit(&app, &gw, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{log}");
    assert!(app.get_ok("/api/v1/households?overdue=true", &gw).await.as_array().unwrap().is_empty());
    let list = app.get_ok("/api/v1/my/visit-list", &gw).await;
    assert_eq!(list[0]["todays_log_id"], log["id"]);
    assert!(list[0]["households_due"].as_array().unwrap().is_empty());

    // Amending the log to drop the household makes it overdue again.
    let r = app
        .patch_json(&format!("/api/v1/visit-logs/{}", log["id"].as_str().unwrap()), Some(&gw), Some(1), &json!({"household_ids": []}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_ok("/api/v1/households?overdue=true", &gw).await.as_array().unwrap().len(), 1);

    // The secretary changes the household's kind: ordinary households are visited every 90 days.
    let bs = app.login("bs1", PASSWORD).await;
    let r = app.patch_json(&format!("/api/v1/households/{h1}"), Some(&bs), Some(1), &json!({"kind": "ordinary"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h: Value = r.json().await.unwrap();
    assert_eq!((h["visit_every_days"].as_i64(), h["overdue_days"].as_i64()), (Some(90), Some(0)));
    // The change is in the audit trail, with who made it in which role.
    let events = gridloop::app::audit::events_of(&mut app.conn(), "household", &h1).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].action.as_str(), events[0].actor_role.as_deref()), ("change_kind", Some("branch_secretary")));
    assert_eq!(serde_json::from_str::<Value>(&events[0].changes).unwrap()["kind"], json!(["elderly_alone", "ordinary"]));
    assert_error(
        app.patch_json(&format!("/api/v1/households/{h1}"), Some(&bs), Some(1), &json!({"kind": "ordinary"})).await,
        StatusCode::PRECONDITION_FAILED,
        "version_conflict",
    )
    .await;
}

#[tokio::test]
async fn the_board_shows_log_compliance_open_tickets_and_the_loop_of_visit_requests() {
    let (app, fx) = spawn_fixture().await;
    let bs = app.login("bs1", PASSWORD).await;
    let d = today(&app);
    // Both B1 workers took their grid ten days ago.
    diesel::update(memberships::table.filter(memberships::person_id.eq_any([fx.person("gw1"), fx.person("gw1b")])))
        .set(memberships::created_at.eq(utc_now() - Duration::days(10)))
        .execute(&mut app.conn())
        .unwrap();
    let mut conn = app.conn();
    let gw1 = actor(&mut conn, &fx, "gw1");
    // gw1 files today's log in the morning with two requests, and yesterday's log late (this morning).
    let morning = local(&app, d, 9, 0);
    let mut today_log: gridloop::app::visits::NewVisitLog = serde_json::from_value(log_body(&fx, d)).unwrap();
    today_log.tickets = vec![serde_json::from_value(new_ticket(&fx)).unwrap(), serde_json::from_value(new_ticket(&fx)).unwrap()];
    let filed = with_ctx(&app, |ctx| {
        gridloop::db::backend::write_transaction(&mut conn, |c| visits::submit_log(c, ctx, &gw1, today_log.clone(), morning))
    })
    .unwrap();
    assert!(!filed.log.late);
    let yesterday: gridloop::app::visits::NewVisitLog = serde_json::from_value(log_body(&fx, d - Duration::days(1))).unwrap();
    let late = with_ctx(&app, |ctx| visits::submit_log(&mut conn, ctx, &gw1, yesterday, morning)).unwrap();
    assert!(late.log.late);
    // One request moves on: accepted at the compound (fed back).
    let first = &filed.log.tickets[0].id;
    let (s, _) = act(&app, &bs, first, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(s, StatusCode::OK);

    // Before the deadline gw1b is pending; after it he is missing, listed, and reminded once.
    let y1 = fx.unit("Y1").to_string();
    let bs1 = actor(&mut conn, &fx, "bs1");
    let board_at = |conn: &mut gridloop::db::DbConn, now| {
        with_ctx(&app, |ctx| board::board(conn, ctx, &bs1, &y1.parse().unwrap(), BoardQuery::default(), now)).unwrap()
    };
    let before = board_at(&mut conn, local(&app, d, 12, 0));
    let status_of = |b: &board::Board, login: &str| b.logs.entries.iter().find(|e| e.person_id == fx.person(login)).unwrap().status;
    assert_eq!((status_of(&before, "gw1"), status_of(&before, "gw1b")), (LogStatus::Filed, LogStatus::Pending));
    assert!(before.logs.not_filed_by_deadline.is_empty());
    assert_eq!(
        with_ctx(&app, |ctx| visits::remind_missing_logs(&mut conn, ctx, local(&app, d, 12, 0))).unwrap(),
        0,
        "no reminder before the deadline"
    );

    let evening = local(&app, d, 18, 30);
    // Reminders for gw1b (B1) and gw2 (the other district); gw1 filed. Exactly once.
    assert_eq!(with_ctx(&app, |ctx| visits::remind_missing_logs(&mut conn, ctx, evening)).unwrap(), 2);
    assert_eq!(with_ctx(&app, |ctx| visits::remind_missing_logs(&mut conn, ctx, evening + Duration::minutes(5))).unwrap(), 0);
    let for_gw1b: Vec<(Option<String>, String)> = notifications::table
        .filter(notifications::kind.eq("visit_log_missing"))
        .select((notifications::person_id, notifications::unit_id))
        .order(notifications::person_id)
        .load(&mut conn)
        .unwrap();
    assert!(for_gw1b.contains(&(Some(fx.person("gw1b").to_string()), fx.unit("B1").to_string())), "{for_gw1b:?}");

    let after = board_at(&mut conn, evening + Duration::minutes(10));
    assert_eq!((status_of(&after, "gw1"), status_of(&after, "gw1b")), (LogStatus::Filed, LogStatus::Missing));
    assert_eq!(after.logs.not_filed_by_deadline.iter().map(|e| e.person_id.as_str()).collect::<Vec<_>>(), [fx.person("gw1b")]);
    assert!(after.logs.not_filed_by_deadline[0].reminded_at.is_some());
    assert_eq!((after.logs.workers, after.logs.filed, after.logs.missing), (2, 1, 1));
    // Open tickets by stage: one waiting at the compound, one taken on there.
    let count = |state: &str| after.open_tickets.by_state.iter().find(|s| s.state.as_str() == state).unwrap().count;
    assert_eq!((count("at_compound"), count("compound_handling"), after.open_tickets.total), (1, 1, 2));
    assert_eq!(after.open_tickets.nearest_deadlines.len(), 2);
    let dues: Vec<_> = after.open_tickets.nearest_deadlines.iter().map(|t| t.ticket_due_at).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "nearest first, across states: {dues:?}");
    // The loop of the visit requests: one visited, one fed back.
    let stage = |s: LoopStage| after.visit_requests.by_stage.iter().find(|x| x.stage == s).unwrap().count;
    assert_eq!((stage(LoopStage::Visited), stage(LoopStage::FedBack), stage(LoopStage::Closed)), (1, 1, 0));
    // Compliance over three days: gw1 on time today, late yesterday, missing the day before; gw1b none.
    let q = BoardQuery { date: None, from: Some(d - Duration::days(2)), to: Some(d) };
    let c = with_ctx(&app, |ctx| board::compliance(&mut conn, ctx, &bs1, &y1.parse().unwrap(), q, evening)).unwrap();
    let w = |login: &str| c.workers.iter().find(|w| w.person_id == fx.person(login)).unwrap().clone();
    assert_eq!((w("gw1").expected, w("gw1").on_time, w("gw1").late, w("gw1").missing), (3, 1, 1, 1));
    assert_eq!((w("gw1b").expected, w("gw1b").missing), (3, 3));
    assert!((w("gw1").rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((c.expected, c.filed), (6, 2));
    // The community sees the same figures rolled up per compound; the second district's worker
    // is not in it.
    let cs1 = actor(&mut conn, &fx, "cs1");
    let q = BoardQuery { date: None, from: Some(d - Duration::days(2)), to: Some(d) };
    let k = with_ctx(&app, |ctx| board::unit_compliance(&mut conn, ctx, &cs1, &fx.unit("K1").parse().unwrap(), q, evening)).unwrap();
    assert_eq!(k.compounds.len(), 1);
    assert_eq!(
        (k.compounds[0].compound_id.as_str(), k.compounds[0].workers, k.compounds[0].expected, k.compounds[0].filed),
        (y1.as_str(), 2, 6, 2)
    );
    assert_eq!(k.workers.len(), 2);

    // Over HTTP: who may see the board of Y1.
    for (login, want) in [("bs1", 200), ("cs1", 200), ("sup1", 200), ("gw1", 404), ("bs2", 404), ("dl1", 404), ("admin1", 403)] {
        let token = app.login(login, PASSWORD).await;
        let r = app.get(&format!("/api/v1/compounds/{y1}/board"), Some(&token)).await;
        assert_eq!(r.status().as_u16(), want, "{login}");
    }
    let b = app.get_ok(&format!("/api/v1/compounds/{y1}/board"), &bs).await;
    assert_eq!(b["open_tickets"]["total"], 2);
    let bad = app.get(&format!("/api/v1/compounds/{y1}/board?from=2026-01-01&to=2025-01-01"), Some(&bs)).await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let bad = app.get(&format!("/api/v1/compounds/{y1}/log-compliance?from=2024-01-01&to=2026-01-01"), Some(&bs)).await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // A building is not a compound.
    let r = app.get(&format!("/api/v1/compounds/{}/board", fx.unit("B1")), Some(&bs)).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn with_working_day_logs_rest_days_expect_none_and_their_logs_do_not_count() {
    let (app, fx) = spawn_fixture().await;
    let cals = calendars(&app.settings);
    let mut settings = app.settings.visits.clone();
    settings.log_days = gridloop::domain::visits::LogDays::WorkingDays;
    let rules = settings.rules(cals.default_calendar().tz);
    let ctx = VisitContext { rules: &rules, sla: gridloop::app::sla::SlaContext { settings: &app.settings.sla, calendars: &cals } };
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    // The make-up Saturday after National Day is a working day; the holiday and a plain Saturday are not.
    assert!(ctx.log_expected(d("2026-10-10")).unwrap());
    assert!(!ctx.log_expected(d("2026-10-03")).unwrap());
    assert!(!ctx.log_expected(d("2026-11-21")).unwrap());
    assert!(ctx.log_expected(d("2026-11-20")).unwrap());

    let mut conn = app.conn();
    diesel::update(memberships::table)
        .set(memberships::created_at.eq(rules.utc_of(d("2026-11-01"), NaiveTime::MIN)))
        .execute(&mut conn)
        .unwrap();
    let gw1 = actor(&mut conn, &fx, "gw1");
    // gw1 files on Friday the 20th and also on Saturday the 21st; nothing on Sunday.
    for day in ["2026-11-20", "2026-11-21"] {
        let body: gridloop::app::visits::NewVisitLog = serde_json::from_value(log_body(&fx, d(day))).unwrap();
        let filed =
            visits::submit_log(&mut conn, ctx, &gw1, body, rules.utc_of(d(day), NaiveTime::from_hms_opt(9, 0, 0).unwrap())).unwrap();
        assert!(!filed.log.late);
    }
    let bs1 = actor(&mut conn, &fx, "bs1");
    let monday = rules.utc_of(d("2026-11-23"), NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    let q = BoardQuery { date: None, from: Some(d("2026-11-20")), to: Some(d("2026-11-22")) };
    let c = board::compliance(&mut conn, ctx, &bs1, &fx.unit("Y1").parse().unwrap(), q, monday).unwrap();
    let w = c.workers.iter().find(|w| w.person_id == fx.person("gw1")).unwrap();
    assert_eq!((w.expected, w.on_time, w.late, w.missing), (1, 1, 0, 0), "only Friday was expected; Saturday's log does not count");
    let w = c.workers.iter().find(|w| w.person_id == fx.person("gw1b")).unwrap();
    assert_eq!((w.expected, w.missing), (1, 1));
    // No reminders on a rest day, even after the deadline.
    let saturday_evening = rules.utc_of(d("2026-11-21"), NaiveTime::from_hms_opt(20, 0, 0).unwrap());
    assert_eq!(visits::remind_missing_logs(&mut conn, ctx, saturday_evening).unwrap(), 0);
    let friday_evening = rules.utc_of(d("2026-11-20"), NaiveTime::from_hms_opt(20, 0, 0).unwrap());
    assert_eq!(visits::remind_missing_logs(&mut conn, ctx, friday_evening).unwrap(), 2, "gw1b and gw2 had not filed on Friday");
}

#[tokio::test]
async fn concurrent_retries_of_one_submission_file_one_log_and_its_requests_once() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let mut body = log_body(&fx, today(&app));
    body["tickets"] = json!([new_ticket(&fx)]);
    let before = count_tickets(&app);
    let send = || async {
        let r = app.post_json("/api/v1/visit-logs", Some(&gw), &body).await;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (status, v["id"].as_str().map(String::from))
    };
    let (a, b, c, d) = tokio::join!(send(), send(), send(), send());
    let results = [a, b, c, d];
    let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 201], "{results:?}");
    let ids: std::collections::BTreeSet<_> = results.iter().map(|r| r.1.clone().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every answer names the same log");
    assert_eq!(count_tickets(&app), before + 1, "its request was filed once");
    let logs: i64 = visit_logs::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(logs, 1);
}

#[tokio::test]
async fn the_board_refuses_days_no_working_calendar_counts() {
    let (app, fx) = spawn_fixture().await;
    let bs1 = app.login("bs1", PASSWORD).await;
    let y1 = fx.unit("Y1");
    // A range ending in 1758 (found by the conformance run) used to answer 503 calendar_missing,
    // as if the service lacked a calendar; the mistake is the caller's.
    for (query, field) in [("to=1758-10-14", "to"), ("date=1800-01-01", "date"), ("from=1901-12-31&to=1902-01-02", "from")] {
        for route in ["board", "log-compliance"] {
            let r = app.get(&format!("/api/v1/compounds/{y1}/{route}?{query}"), Some(&bs1)).await;
            let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            assert_eq!(e["field"], field, "{route}?{query}: {e}");
        }
    }
    let r = app
        .get(&format!("/api/v1/org-units/{}/log-compliance?to=2101-01-01", fx.unit("K1")), Some(&app.login("cs1", PASSWORD).await))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // The first and last years the calendars count are fine.
    app.get_ok(&format!("/api/v1/compounds/{y1}/log-compliance?from=1902-01-01&to=1902-01-31"), &bs1).await;
    app.get_ok(&format!("/api/v1/compounds/{y1}/log-compliance?from=2100-12-01&to=2100-12-31"), &bs1).await;
}
