//! The case workflow through HTTP: the full Lu'an scenario with its timeline, the safety rails
//! (409 with what is allowed, 412 on stale versions, idempotent retries), department scoping,
//! and the tamper-evident audit trail.

use chrono::{Duration, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::app::audit;
use gridloop::db::schema::{audit_events, tickets};
use gridloop::db::DbConn;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, instant, TestApp};

pub fn new_ticket(fx: &Fixture) -> Value {
    json!({
        "category_id": fx.category,
        "urgency": "normal",
        "title": "楼下烧烤店夜间噪音",
        "description": "每晚十一点后仍有噪音，居民多次反映。",
        "building_id": fx.unit("B1"),
        "resident_name": "居民r1",
        "resident_phone": "13712345678",
        "channel": "visit"
    })
}

pub async fn file(app: &TestApp, token: &str, body: &Value) -> Value {
    let r = app.post_json("/api/v1/tickets", Some(token), body).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// Takes an action with the ticket's current version; returns (status, body).
pub async fn act(app: &TestApp, token: &str, id: &str, version: i64, body: Value) -> (StatusCode, Value) {
    let r = app.request(Method::POST, &format!("/api/v1/tickets/{id}/actions"), Some(token), Some(&body), Some(version)).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Takes an action that must succeed; returns the ticket after it.
async fn ok(app: &TestApp, token: &str, t: &Value, body: Value) -> Value {
    let (status, v) = act(app, token, t["id"].as_str().unwrap(), t["version"].as_i64().unwrap(), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} -> {v}");
    assert_eq!(v["version"], t["version"].as_i64().unwrap() + 1, "every action bumps the version");
    v
}

fn part<'a>(t: &'a Value, dept: &str) -> &'a Value {
    t["departments"].as_array().unwrap().iter().rev().find(|p| p["department_id"] == dept).unwrap()
}

fn verify_chain(app: &TestApp) -> Result<audit::Verified, gridloop::domain::audit::Break> {
    audit::verify(&mut app.conn(), None).unwrap()
}

#[tokio::test]
async fn the_luan_scenario_runs_through_the_whole_loop_and_the_timeline_tells_every_step() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let cs = app.login("cs1", PASSWORD).await;
    let lead = app.login("dl1", PASSWORD).await;
    let co = app.login("dl3", PASSWORD).await;
    let (p1, p3) = (fx.unit("P1").to_string(), fx.unit("P3").to_string());

    // 1. The grid worker files it from his visit: it lands at the compound.
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    assert_eq!(t["state"], "at_compound");
    assert!(t["number"].as_str().unwrap().starts_with("GL-") && t["number"].as_str().unwrap().ends_with("-0001"));
    assert_eq!(t["resident_phone_masked"], "137****5678");
    // 2. The branch secretary cannot solve it at once and reports it to the community.
    let t = ok(&app, &bs, &t, json!({"action": "report_to_community", "reason": "需执法部门处理"})).await;
    assert_eq!(t["state"], "at_community");
    // 3. The community whistles a lead and a co-department (小区吹哨，部门报到).
    let choices = app.get_ok(&format!("/api/v1/tickets/{}/departments", t["id"].as_str().unwrap()), &cs).await;
    assert!(choices.as_array().unwrap().iter().any(|d| d["id"] == p1.as_str() && d["default_for_category"] == true));
    let t = ok(
        &app,
        &cs,
        &t,
        json!({"action": "whistle", "lead_department_id": p1, "co_department_ids": [p3], "whistle_type": "enforcement_needed", "reason": "夜间噪音需执法"}),
    )
    .await;
    assert_eq!(t["state"], "whistled");
    assert_eq!(part(&t, &p1)["state"], "dispatched");
    assert_eq!(part(&t, &p1)["lead"], true);
    // 4. The co-department returns it as outside its remit; 5. the community overrules.
    let t = ok(&app, &co, &t, json!({"action": "return_case", "reason_code": "outside_our_remit", "note": "不属于本部门职责"})).await;
    assert_eq!(part(&t, &p3)["state"], "returned");
    let t =
        ok(&app, &cs, &t, json!({"action": "rule_on_return", "department_id": p3, "decision": "overrule", "reason": "协助夜间执法"})).await;
    assert_eq!(part(&t, &p3)["state"], "dispatched");
    assert_eq!(part(&t, &p3)["overruled"], true);
    let (status, e) = act(
        &app,
        &co,
        t["id"].as_str().unwrap(),
        t["version"].as_i64().unwrap(),
        json!({"action": "return_case", "reason_code": "unclear_ownership", "note": "再退"}),
    )
    .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("return_overruled")));
    // 6. Both departments acknowledge (报到).
    let t = ok(&app, &lead, &t, json!({"action": "acknowledge"})).await;
    let t = ok(&app, &co, &t, json!({"action": "acknowledge"})).await;
    assert_eq!(part(&t, &p1)["state"], "acknowledged");
    assert_eq!(part(&t, &p1)["acknowledged_late"], false);
    // 7. The lead asks for more time and the community grants it: the deadline moves, the original stays.
    let old_due: NaiveDateTime = instant(&part(&t, &p1)["due_at"]);
    let proposed = (old_due + Duration::days(2)).and_utc();
    // Sent in China time: any offset names the instant.
    let china = proposed.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).to_rfc3339();
    assert!(china.ends_with("+08:00"), "{china}");
    let t = ok(&app, &lead, &t, json!({"action": "request_extension", "reason": "需协调业主", "proposed_due_at": china})).await;
    assert_eq!(instant(&t["extensions"][0]["proposed_due_at"]), proposed.naive_utc());
    let ext = t["extensions"][0]["id"].as_str().unwrap().to_string();
    let t = ok(&app, &cs, &t, json!({"action": "rule_on_extension", "extension_id": ext, "decision": "grant"})).await;
    let new_due: NaiveDateTime = instant(&part(&t, &p1)["due_at"]);
    let original: NaiveDateTime = instant(&part(&t, &p1)["original_due_at"]);
    assert_eq!(new_due, proposed.naive_utc());
    assert_eq!(original, old_due);
    assert_eq!(t["extensions"][0]["state"], "granted");
    // 8. The lead cannot close while the co-department's part is open; the co-department
    // completes its part (协办完成), then the lead marks it solved (办结).
    let (status, e) = act(
        &app,
        &lead,
        t["id"].as_str().unwrap(),
        t["version"].as_i64().unwrap(),
        json!({"action": "mark_solved", "resolution": "先办结"}),
    )
    .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("co_departments_open")), "{e}");
    let t = ok(&app, &co, &t, json!({"action": "complete_part", "note": "已配合夜间执法"})).await;
    assert_eq!(part(&t, &p3)["state"], "done");
    let t = ok(&app, &lead, &t, json!({"action": "mark_solved", "resolution": "已约谈店主，限时整改"})).await;
    assert_eq!((t["state"].as_str(), t["solved_level"].as_str()), (Some("solved"), Some("department")));
    // 9. Return visit: not satisfied reopens it at the level that solved it.
    let t = ok(&app, &gw, &t, json!({"action": "record_return_visit", "satisfaction": "not_satisfied", "note": "噪音仍在"})).await;
    assert_eq!((t["state"].as_str(), t["reopen_count"].as_i64()), (Some("whistled"), Some(1)));
    // 10. Solved again, 11. satisfied: closed.
    let t = ok(&app, &lead, &t, json!({"action": "mark_solved", "resolution": "已安装隔音设施并复查"})).await;
    let t = ok(&app, &gw, &t, json!({"action": "record_return_visit", "satisfaction": "satisfied"})).await;
    assert_eq!(t["state"], "closed");
    assert_eq!(t["satisfaction"], "satisfied");
    assert!(t["closed_at"].is_string());
    assert!(t["allowed_actions"].as_array().unwrap().is_empty());

    // The timeline tells every step, with who, in which role, and the state change.
    let timeline = app.get_ok(&format!("/api/v1/tickets/{}/timeline", t["id"].as_str().unwrap()), &bs).await;
    let steps: Vec<(String, String, String, String)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor_role"].as_str().unwrap_or("").to_string(),
                e["from_state"].as_str().unwrap_or("").to_string(),
                e["to_state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str, &str)> = vec![
        ("file", "grid_worker", "", "at_compound"),
        ("report_to_community", "branch_secretary", "at_compound", "at_community"),
        ("whistle", "community_staff", "at_community", "whistled"),
        ("return_case", "department_liaison", "whistled", "whistled"),
        ("rule_on_return", "community_staff", "whistled", "whistled"),
        ("acknowledge", "department_liaison", "whistled", "whistled"),
        ("acknowledge", "department_liaison", "whistled", "whistled"),
        ("request_extension", "department_liaison", "whistled", "whistled"),
        ("rule_on_extension", "community_staff", "whistled", "whistled"),
        ("complete_part", "department_liaison", "whistled", "whistled"),
        ("mark_solved", "department_liaison", "whistled", "solved"),
        ("record_return_visit", "grid_worker", "solved", "whistled"),
        ("mark_solved", "department_liaison", "whistled", "solved"),
        ("record_return_visit", "grid_worker", "solved", "closed"),
    ];
    let got: Vec<(&str, &str, &str, &str)> = steps.iter().map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str())).collect();
    assert_eq!(got, want);
    let events = timeline.as_array().unwrap();
    assert_eq!(events[1]["reason"], "需执法部门处理");
    assert_eq!(events[1]["actor_id"], fx.person("bs1"));
    assert_eq!(events[1]["actor_unit_id"], fx.unit("Y1"));
    assert_eq!(events[1]["changes"]["state"], json!(["at_compound", "at_community"]));
    assert_eq!(events[3]["changes"]["reason_code"], json!([null, "outside_our_remit"]));
    assert_eq!(events[11]["changes"]["reopen_count"], json!([0, 1]));
    assert!(!timeline.to_string().contains("13712345678"), "the timeline carries only the masked phone");
    // The ticket's 14 events, beside the shipped calendar years the server imported at start.
    assert_eq!(verify_chain(&app).unwrap().events, 14 + calendar_imports(&app));
}

#[tokio::test]
async fn an_illegal_action_answers_409_with_the_state_and_what_is_allowed() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let cs = app.login("cs1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap();
    let (status, e) = act(
        &app,
        &cs,
        id,
        1,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "emergency", "reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "illegal_action");
    assert_eq!(e["current_state"], "at_compound");
    // What the caller himself may do now: the community, nothing while the compound triages.
    assert_eq!(e["allowed_actions"], json!([]));
    let (status, e) = act(&app, &bs, id, 1, json!({"action": "accept_at_community"})).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_action")));
    let allowed: Vec<&str> = e["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(allowed, vec!["accept_at_compound", "report_to_community", "mark_duplicate", "decline"]);
    // The right state but the wrong role: 403, and nothing changed.
    let (status, _) = act(&app, &cs, id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A stale version: 412 with the current one; a missing one: 428.
    let (status, _) = act(&app, &bs, id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = act(&app, &bs, id, 1, json!({"action": "report_to_community", "reason": "x"})).await;
    assert_eq!((status, e["current_version"].as_i64()), (StatusCode::PRECONDITION_FAILED, Some(2)));
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/tickets/{id}/actions"),
            Some(&bs),
            Some(&json!({"action": "decline", "reason": "x"})),
            None,
        )
        .await;
    assert_error(r, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    // An unknown action or field names itself.
    let (status, e) = act(&app, &bs, id, 2, json!({"action": "teleport"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("teleport"), "{e}");
}

#[tokio::test]
async fn two_people_acting_at_once_never_overwrite_each_other() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let a = act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"}));
    let b = act(&app, &bs, &id, 1, json!({"action": "decline", "reason": "不属于受理范围"}));
    let ((sa, _), (sb, _)) = tokio::join!(a, b);
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await;
    assert_eq!(t["version"], 2);
    let timeline = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &bs).await;
    assert_eq!(timeline.as_array().unwrap().len(), 2, "exactly one of the two actions happened");
}

#[tokio::test]
async fn a_retried_filing_with_the_same_key_files_once_and_a_reused_key_is_refused() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let send = |body: Value, key: &'static str| {
        let req = app.client.post(app.url("/api/v1/tickets")).bearer_auth(&gw).header("Idempotency-Key", key).json(&body);
        async move { req.send().await.unwrap() }
    };
    let first = send(new_ticket(&fx), "visit-2026-11-26-a").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(new_ticket(&fx), "visit-2026-11-26-a").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again, "the retry returns the original response");
    let count: i64 = tickets::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1);
    let mut other = new_ticket(&fx);
    other["title"] = json!("另一件事");
    let r = send(other, "visit-2026-11-26-a").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused").await;

    // Concurrent twins with one key: still one ticket.
    let (a, b) = tokio::join!(send(new_ticket(&fx), "twin"), send(new_ticket(&fx), "twin"));
    assert_eq!((a.status(), b.status()), (StatusCode::CREATED, StatusCode::CREATED));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"]);
    let count: i64 = tickets::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 2);

    // A retried action replays instead of failing on the moved version.
    let id = a["id"].as_str().unwrap();
    let bs = app.login("bs1", PASSWORD).await;
    let action = || {
        app.client
            .post(app.url(&format!("/api/v1/tickets/{id}/actions")))
            .bearer_auth(&bs)
            .header("If-Match", "1")
            .header("Idempotency-Key", "accept-1")
            .json(&json!({"action": "accept_at_compound"}))
            .send()
    };
    assert_eq!(action().await.unwrap().status(), StatusCode::OK);
    let retry = action().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.json::<Value>().await.unwrap()["version"], 2);
}

#[tokio::test]
async fn numbers_are_unique_and_sequential_per_day() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let mut numbers = vec![];
    for _ in 0..3 {
        numbers.push(file(&app, &gw, &new_ticket(&fx)).await["number"].as_str().unwrap().to_string());
    }
    let day = gridloop::app::tickets::number_day(gridloop::app::utc_now());
    assert_eq!(numbers, vec![format!("GL-{day}-0001"), format!("GL-{day}-0002"), format!("GL-{day}-0003")]);
}

#[tokio::test]
async fn a_department_sees_only_what_it_was_whistled_for() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let cs = app.login("cs1", PASSWORD).await;
    let dl1 = app.login("dl1", PASSWORD).await;
    let dl3 = app.login("dl3", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let other = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tickets/{id}");
    // Before the whistle the department sees nothing, exactly as if it did not exist.
    let hidden = assert_error(app.get(&path, Some(&dl1)).await, StatusCode::NOT_FOUND, "not_found").await;
    let missing =
        assert_error(app.get("/api/v1/tickets/00000000-0000-7000-8000-000000000000", Some(&dl1)).await, StatusCode::NOT_FOUND, "not_found")
            .await;
    assert_eq!(hidden, missing);
    assert!(app.get_ok("/api/v1/tickets", &dl1).await["items"].as_array().unwrap().is_empty());
    let t = ok(&app, &bs, &t, json!({"action": "report_to_community", "reason": "需部门"})).await;
    ok(
        &app,
        &cs,
        &t,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "beyond_street_power", "reason": "x"}),
    )
    .await;
    // Now P1 sees it (and only it); P3 still sees nothing.
    let listed = app.get_ok("/api/v1/tickets", &dl1).await;
    let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![id.as_str()]);
    assert!(!ids.contains(&other["id"].as_str().unwrap()));
    assert_error(app.get(&path, Some(&dl3)).await, StatusCode::NOT_FOUND, "not_found").await;
    // It is in his inbox, with the resident's phone masked until he reveals it (recorded).
    let inbox = app.get_ok("/api/v1/inbox", &dl1).await;
    assert_eq!(inbox[0]["id"], id.as_str());
    let seen = app.get_ok(&path, &dl1).await;
    assert_eq!(seen["resident_phone_masked"], "137****5678");
    let r = app.post_json(&format!("{path}/reveal"), Some(&dl1), &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["resident_phone"], "13712345678");
    let reveals: i64 = gridloop::db::schema::pii_reveals::table
        .filter(gridloop::db::schema::pii_reveals::record_id.eq(&id))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(reveals, 1);
    // A supervisor reads it but may not reveal the phone.
    let sup = app.login("sup1", PASSWORD).await;
    app.get_ok(&path, &sup).await;
    assert_error(app.post_json(&format!("{path}/reveal"), Some(&sup), &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn inboxes_hold_what_waits_on_each_role_soonest_deadline_first() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let bs2 = app.login("bs2", PASSWORD).await;
    let mut urgent = new_ticket(&fx);
    urgent["urgency"] = json!("urgent");
    let normal = file(&app, &gw, &new_ticket(&fx)).await;
    let urgent = file(&app, &gw, &urgent).await;
    let inbox = app.get_ok("/api/v1/inbox", &bs).await;
    let ids: Vec<&str> = inbox.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![urgent["id"].as_str().unwrap(), normal["id"].as_str().unwrap()], "the urgent one is due first");
    // One being handled at the compound (another state, a later deadline) merges in its place.
    let handled = file(&app, &gw, &new_ticket(&fx)).await;
    let handled = ok(&app, &bs, &handled, json!({"action": "accept_at_compound"})).await;
    assert_eq!(handled["state"], "compound_handling");
    let inbox = app.get_ok("/api/v1/inbox", &bs).await;
    let ids: Vec<&str> = inbox.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    let by_deadline = {
        let mut all = vec![&urgent, &normal, &handled];
        // The ticket's deadline, whoever looked: here it is the compound's, the secretary's own.
        all.sort_by_key(|t| t["ticket_due_at"].as_str().unwrap().to_string());
        all.into_iter().map(|t| t["id"].as_str().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(ids, by_deadline, "both open states of the compound, soonest deadline first");
    let first_two = app.get_ok("/api/v1/inbox?limit=2", &bs).await;
    let ids: Vec<&str> = first_two.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, by_deadline[..2]);
    assert!(app.get_ok("/api/v1/inbox", &bs2).await.as_array().unwrap().is_empty());
    assert!(app.get_ok("/api/v1/inbox", &gw).await.as_array().unwrap().is_empty(), "nothing to revisit yet");
}

#[tokio::test]
async fn the_list_filters_and_pages_with_a_cursor() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let mut filed = vec![];
    for i in 0..5 {
        let mut b = new_ticket(&fx);
        b["title"] = json!(format!("第{i}件"));
        if i == 4 {
            b["urgency"] = json!("urgent");
        }
        filed.push(file(&app, &gw, &b).await);
    }
    ok(&app, &bs, &filed[0], json!({"action": "decline", "reason": "重复反映"})).await;
    let page1 = app.get_ok("/api/v1/tickets?limit=2", &bs).await;
    let page2 = app.get_ok(&format!("/api/v1/tickets?limit=2&cursor={}", page1["next_cursor"].as_str().unwrap()), &bs).await;
    let page3 = app.get_ok(&format!("/api/v1/tickets?limit=2&cursor={}", page2["next_cursor"].as_str().unwrap()), &bs).await;
    assert!(page3["next_cursor"].is_null());
    let all: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()))
        .collect();
    let mut want: Vec<String> = filed.iter().rev().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(all, want, "newest first, each once");
    let declined = app.get_ok("/api/v1/tickets?state=declined", &bs).await;
    assert_eq!(declined["items"].as_array().unwrap().len(), 1);
    // Several states (one named twice) are read state by state and merged: still newest first,
    // each once, across pages, for the worker's building and for the secretary's compound.
    ok(&app, &bs, &filed[2], json!({"action": "accept_at_compound"})).await;
    let open: Vec<String> = want.iter().filter(|id| *id != filed[0]["id"].as_str().unwrap()).cloned().collect();
    for token in [&gw, &bs] {
        let mut seen: Vec<String> = vec![];
        let mut cursor = String::new();
        loop {
            let page = app.get_ok(&format!("/api/v1/tickets?limit=2&state=at_compound,compound_handling,at_compound{cursor}"), token).await;
            seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, open);
    }
    let urgent = app.get_ok("/api/v1/tickets?urgency=urgent", &bs).await;
    assert_eq!(urgent["items"][0]["id"], filed[4]["id"]);
    let found = app.get_ok(&format!("/api/v1/tickets?q={}", urlencode("第3件")), &bs).await;
    assert_eq!(found["items"][0]["id"], filed[3]["id"]);
    let within = app.get_ok(&format!("/api/v1/tickets?within={}", fx.unit("Y2")), &bs).await;
    assert!(within["items"].as_array().unwrap().is_empty());
    // Nothing is overdue yet; move one deadline into the past.
    assert!(app.get_ok("/api/v1/tickets?overdue=true", &bs).await["items"].as_array().unwrap().is_empty());
    let id = filed[1]["id"].as_str().unwrap();
    // Its clock ran out an hour ago (the ticket's deadline is its clock's).
    let past = gridloop::app::utc_now() - Duration::hours(1);
    diesel::update(tickets::table.find(id)).set(tickets::due_at.eq(Some(past))).execute(&mut app.conn()).unwrap();
    use gridloop::db::schema::sla_clocks;
    diesel::update(sla_clocks::table.filter(sla_clocks::ticket_id.eq(id)))
        .set(sla_clocks::due_at.eq(past))
        .execute(&mut app.conn())
        .unwrap();
    let overdue = app.get_ok("/api/v1/tickets?overdue=true", &bs).await;
    assert_eq!(overdue["items"][0]["id"], id);
    assert_eq!(overdue["items"][0]["overdue"], true);
    want.retain(|x| x != id);
    assert_error(app.get("/api/v1/tickets?state=lost", Some(&bs)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(app.get("/api/v1/tickets?cursor=garbage", Some(&bs)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn filing_checks_the_place_the_category_and_the_resident() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let mut b = new_ticket(&fx);
    b["building_id"] = json!(fx.unit("B2"));
    let e =
        assert_error(app.post_json("/api/v1/tickets", Some(&gw), &b).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    assert_eq!(e["field"], "building_id");
    let mut b = new_ticket(&fx);
    b["anonymous"] = json!(true);
    let e =
        assert_error(app.post_json("/api/v1/tickets", Some(&gw), &b).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "anonymous");
    let mut b = new_ticket(&fx);
    b["resident_phone"] = json!("12345");
    let e =
        assert_error(app.post_json("/api/v1/tickets", Some(&gw), &b).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "resident_phone");
    let mut b = new_ticket(&fx);
    b["title"] = json!("  ");
    assert_error(app.post_json("/api/v1/tickets", Some(&gw), &b).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // A supervisor reads but does not file; an admin does not even see tickets.
    let sup = app.login("sup1", PASSWORD).await;
    assert_error(app.post_json("/api/v1/tickets", Some(&sup), &new_ticket(&fx)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let count: i64 = tickets::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 0, "no refused filing left anything behind");
}

/// Drops the append-only triggers, as someone with direct database access could.
fn drop_triggers(conn: &mut DbConn) {
    let sql = match conn {
        DbConn::Sqlite(_) => "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;",
        DbConn::Postgresql(_) => {
            "DROP TRIGGER audit_events_no_update ON audit_events; DROP TRIGGER audit_events_no_truncate ON audit_events;"
        }
    };
    conn.batch_execute(sql).unwrap();
}

/// A ticket with a few events, for tampering.
async fn ticket_with_history(app: &TestApp, fx: &Fixture) -> (String, Vec<(String, i32, i64)>) {
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let t = file(app, &gw, &new_ticket(fx)).await;
    let t = ok(app, &bs, &t, json!({"action": "accept_at_compound"})).await;
    ok(app, &bs, &t, json!({"action": "mark_solved", "resolution": "物业已处理"})).await;
    let id = t["id"].as_str().unwrap().to_string();
    let events: Vec<(String, i32, i64)> = audit_events::table
        .filter(audit_events::entity_id.eq(&id))
        .order(audit_events::seq)
        .select((audit_events::id, audit_events::shard, audit_events::seq))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(events.len(), 3);
    (id, events)
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_an_audit_event() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    let edit = diesel::update(audit_events::table.find(&events[0].0)).set(audit_events::reason.eq(Some("篡改"))).execute(&mut conn);
    assert!(edit.unwrap_err().to_string().contains("append-only"));
    let delete = diesel::delete(audit_events::table.find(&events[0].0)).execute(&mut conn);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert!(verify_chain(&app).is_ok());
}

#[tokio::test]
async fn verify_finds_an_edited_event() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    drop_triggers(&mut conn);
    diesel::update(audit_events::table.find(&events[1].0)).set(audit_events::reason.eq(Some("篡改后的理由"))).execute(&mut conn).unwrap();
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.event_id.as_deref(), b.seq), (Some(events[1].0.as_str()), events[1].2));
    assert!(b.reason.contains("edited"), "{}", b.reason);
}

#[tokio::test]
async fn verify_finds_a_deleted_event_in_the_middle_or_at_the_end() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    drop_triggers(&mut conn);
    diesel::delete(audit_events::table.find(&events[2].0)).execute(&mut conn).unwrap();
    let b = verify_chain(&app).unwrap_err();
    assert_eq!(b.shard, events[2].1);
    assert!(b.reason.contains("head"), "{}", b.reason);
    diesel::delete(audit_events::table.find(&events[0].0)).execute(&mut conn).unwrap();
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.shard, b.seq), (events[1].1, events[1].2));
}

#[tokio::test]
async fn verify_finds_reordered_events() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    drop_triggers(&mut conn);
    // Swap the positions of two events by exchanging their seq numbers.
    let (a, b) = (&events[0], &events[1]);
    diesel::update(audit_events::table.find(&a.0)).set(audit_events::seq.eq(-1)).execute(&mut conn).unwrap();
    diesel::update(audit_events::table.find(&b.0)).set(audit_events::seq.eq(a.2)).execute(&mut conn).unwrap();
    diesel::update(audit_events::table.find(&a.0)).set(audit_events::seq.eq(b.2)).execute(&mut conn).unwrap();
    let brk = verify_chain(&app).unwrap_err();
    assert_eq!((brk.shard, brk.seq), (a.1, a.2));
}

#[tokio::test]
async fn a_checkpoint_exposes_a_chain_rewritten_consistently() {
    let (app, fx) = spawn_fixture().await;
    let (id, events) = ticket_with_history(&app, &fx).await;
    let cp = audit::checkpoint(&mut app.conn(), gridloop::app::utc_now()).unwrap();
    assert_eq!(cp.events, 3 + calendar_imports(&app));
    assert!(audit::verify(&mut app.conn(), Some(&cp)).unwrap().is_ok());
    // Someone with full access rewrites the last event and recomputes its hash and the head:
    // the chain alone looks intact, the exported checkpoint does not agree.
    let mut conn = app.conn();
    drop_triggers(&mut conn);
    let last = &events[2];
    let row: gridloop::db::models::AuditEventRow =
        audit_events::table.find(&last.0).select(gridloop::db::models::AuditEventRow::as_select()).first(&mut conn).unwrap();
    let mut content = gridloop::domain::audit::EventContent {
        hash_version: row.hash_version,
        id: row.id.clone(),
        shard: row.shard,
        seq: row.seq,
        entity_kind: row.entity_kind.clone(),
        entity_id: id.clone(),
        actor_id: row.actor_id.clone(),
        actor_role: row.actor_role.clone(),
        actor_unit_id: row.actor_unit_id.clone(),
        at: row.at,
        action: row.action.clone(),
        from_state: row.from_state.clone(),
        to_state: row.to_state.clone(),
        reason: row.reason.clone(),
        changes: row.changes.clone(),
    };
    content.changes = r#"{"resolution":[null,"伪造的结论"]}"#.into();
    let forged = gridloop::domain::audit::event_hash(&row.prev_hash, &content);
    diesel::update(audit_events::table.find(&last.0))
        .set((audit_events::changes.eq(&content.changes), audit_events::hash.eq(&forged)))
        .execute(&mut conn)
        .unwrap();
    diesel::update(gridloop::db::schema::audit_heads::table.find(last.1))
        .set(gridloop::db::schema::audit_heads::hash.eq(&forged))
        .execute(&mut conn)
        .unwrap();
    assert!(audit::verify(&mut conn, None).unwrap().is_ok(), "a consistent rewrite fools the chain alone");
    let b = audit::verify(&mut conn, Some(&cp)).unwrap().unwrap_err();
    assert_eq!(b.seq, last.2);
    assert!(b.reason.contains("checkpoint"));
}

#[tokio::test]
async fn verify_finds_an_event_whose_id_was_changed_and_names_it() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    drop_triggers(&mut conn);
    let forged = gridloop::domain::Id::new().to_string();
    diesel::update(audit_events::table.find(&events[1].0)).set(audit_events::id.eq(&forged)).execute(&mut conn).unwrap();
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.shard, b.seq, b.event_id.as_deref()), (events[1].1, events[1].2, Some(forged.as_str())));
    assert!(b.reason.contains("edited"), "{}", b.reason);
}

#[tokio::test]
async fn every_column_of_an_audit_event_is_in_its_hash_or_is_the_hash() {
    let app = TestApp::spawn().await;
    let live: std::collections::BTreeSet<String> =
        gridloop::db::backend::live_columns(&mut app.conn(), "audit_events").unwrap().into_iter().map(|c| c.0).collect();
    let content = gridloop::domain::audit::EventContent {
        hash_version: gridloop::domain::audit::HASH_VERSION,
        id: "i".into(),
        shard: 0,
        seq: 1,
        entity_kind: "k".into(),
        entity_id: "e".into(),
        actor_id: None,
        actor_role: None,
        actor_unit_id: None,
        at: gridloop::app::utc_now(),
        action: "a".into(),
        from_state: None,
        to_state: None,
        reason: None,
        changes: "{}".into(),
    };
    let canonical: serde_json::Map<String, Value> = serde_json::from_str(&gridloop::domain::audit::canonical_json("p", &content)).unwrap();
    let mut hashed: std::collections::BTreeSet<String> = canonical
        .keys()
        .map(|k| match k.as_str() {
            "v" => "hash_version".to_string(),
            "prev" => "prev_hash".to_string(),
            other => other.to_string(),
        })
        .collect();
    hashed.insert("hash".into());
    assert_eq!(live, hashed, "a column of audit_events is neither hashed nor the hash (or the hash names a column that is gone)");
}

/// Writes events as Gridloop did before hash version 2: their hashes leave the id out. One event
/// per entry, on its entity's chain; answers (id, shard, seq) of each.
pub fn write_version_1_events(conn: &mut DbConn, entity_ids: &[&str]) -> Vec<(String, i32, i64)> {
    use gridloop::db::schema::audit_heads;
    use gridloop::domain::audit::{event_hash, shard_of, EventContent};
    let at = gridloop::app::utc_now();
    entity_ids
        .iter()
        .map(|entity| {
            let shard = shard_of(entity);
            let (seq, prev): (i64, String) =
                audit_heads::table.find(shard).select((audit_heads::seq, audit_heads::hash)).first(conn).unwrap();
            let content = EventContent {
                hash_version: 1,
                id: gridloop::domain::Id::new().to_string(),
                shard,
                seq: seq + 1,
                entity_kind: "ticket".into(),
                entity_id: entity.to_string(),
                actor_id: None,
                actor_role: None,
                actor_unit_id: None,
                at,
                action: "file".into(),
                from_state: None,
                to_state: Some("at_compound".into()),
                reason: None,
                changes: "{}".into(),
            };
            let hash = event_hash(&prev, &content);
            let row = gridloop::db::models::AuditEventRow {
                id: content.id.clone(),
                shard,
                seq: content.seq,
                entity_kind: content.entity_kind,
                entity_id: content.entity_id,
                actor_id: None,
                actor_role: None,
                actor_unit_id: None,
                at,
                action: content.action,
                from_state: None,
                to_state: content.to_state,
                reason: None,
                changes: content.changes,
                prev_hash: prev,
                hash: hash.clone(),
                hash_version: 1,
            };
            diesel::insert_into(audit_events::table).values(&row).execute(conn).unwrap();
            diesel::update(audit_heads::table.find(shard))
                .set((audit_heads::seq.eq(row.seq), audit_heads::hash.eq(&hash)))
                .execute(conn)
                .unwrap();
            (row.id, shard, row.seq)
        })
        .collect()
}

/// The seal events: (id, chain, seq).
pub fn seals(conn: &mut DbConn) -> Vec<(String, i32, i64)> {
    audit_events::table
        .filter(audit_events::action.eq(gridloop::domain::audit::SEAL_ACTION))
        .order((audit_events::shard, audit_events::seq))
        .select((audit_events::id, audit_events::shard, audit_events::seq))
        .load(conn)
        .unwrap()
}

#[tokio::test]
async fn an_upgraded_database_seals_its_version_1_events_once_and_a_changed_id_among_them_is_found() {
    // A database written by an older Gridloop: its events are hashed in version 1.
    let mut legacy = vec![];
    let app = TestApp::spawn_with(|c| legacy = write_version_1_events(c, &["legacy-a", "legacy-a", "legacy-b", "legacy-c"])).await;
    let mut conn = app.conn();
    // The server sealed each chain holding them at start: one seal per chain, after its events.
    let chains: std::collections::BTreeSet<i32> = legacy.iter().map(|e| e.1).collect();
    let sealed = seals(&mut conn);
    assert_eq!(sealed.iter().map(|s| s.1).collect::<std::collections::BTreeSet<_>>(), chains);
    assert_eq!(sealed.len(), chains.len());
    for (_, shard, seq) in &sealed {
        assert!(legacy.iter().filter(|e| e.1 == *shard).all(|e| e.2 < *seq));
    }
    // Later starts (and `gridloop migrate`) find nothing more to seal.
    assert_eq!(audit::seal_version_1_events(&mut conn, gridloop::app::utc_now()).unwrap(), 0);
    assert_eq!(seals(&mut conn), sealed);
    let all: i64 = audit_events::table.count().get_result(&mut conn).unwrap();
    assert_eq!(verify_chain(&app).unwrap().events, all);
    assert_eq!(all, legacy.len() as i64 + sealed.len() as i64 + calendar_imports(&app));

    // A version-1 hash does not cover the id; the chain's seal does.
    drop_triggers(&mut conn);
    diesel::update(audit_events::table.find(&legacy[1].0)).set(audit_events::id.eq("forged-id")).execute(&mut conn).unwrap();
    let b = verify_chain(&app).unwrap_err();
    let seal = sealed.iter().find(|s| s.1 == legacy[1].1).unwrap();
    assert_eq!((b.shard, b.seq, b.event_id.as_deref()), (seal.1, seal.2, Some(seal.0.as_str())));
    assert!(b.reason.contains("version-1") && b.reason.contains("id was changed"), "{}", b.reason);
}

#[tokio::test]
async fn flipping_an_events_hash_version_is_found_and_a_late_version_1_event_is_sealed_at_the_next_start() {
    let (app, fx) = spawn_fixture().await;
    let (_, events) = ticket_with_history(&app, &fx).await;
    let mut conn = app.conn();
    // An older Gridloop still running during a rolling upgrade writes a version-1 event: until it
    // is sealed, verify names it; the next start seals it.
    let late = write_version_1_events(&mut conn, &["legacy-late"]);
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.seq, b.event_id.as_deref()), (late[0].2, Some(late[0].0.as_str())));
    assert!(b.reason.contains("no seal covers"), "{}", b.reason);
    assert_eq!(audit::seal_version_1_events(&mut conn, gridloop::app::utc_now()).unwrap(), 1);
    assert!(verify_chain(&app).is_ok());

    drop_triggers(&mut conn);
    let flip = |conn: &mut DbConn, id: &str, version: i32| {
        diesel::update(audit_events::table.find(id)).set(audit_events::hash_version.eq(version)).execute(conn).unwrap();
    };
    // A current-version event presented as version 1 (whose hash would not cover its id)...
    flip(&mut conn, &events[1].0, 1);
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.seq, b.event_id.as_deref()), (events[1].2, Some(events[1].0.as_str())));
    assert!(b.reason.contains("edited"), "{}", b.reason);
    flip(&mut conn, &events[1].0, gridloop::domain::audit::HASH_VERSION);
    assert!(verify_chain(&app).is_ok());
    // ... and a version-1 event presented as version 2.
    flip(&mut conn, &late[0].0, 2);
    let b = verify_chain(&app).unwrap_err();
    assert_eq!((b.seq, b.event_id.as_deref()), (late[0].2, Some(late[0].0.as_str())));
}

/// The audit events the server wrote at start, importing the shipped calendar years.
pub fn calendar_imports(app: &TestApp) -> i64 {
    calendar_imports_in(&mut app.conn())
}

/// The same on a connection.
pub fn calendar_imports_in(conn: &mut DbConn) -> i64 {
    use gridloop::db::schema::audit_events;
    audit_events::table.filter(audit_events::entity_kind.eq("calendar_year")).count().get_result(conn).unwrap()
}

/// `audit verify --from/--to`: a period is verified on its own — across month boundaries too —,
/// linked to the events before and after it; an edit inside it is found, an edit elsewhere does
/// not touch it, and a period that starts after a missing event says so (the whole chain breaks).
#[tokio::test]
async fn a_period_of_the_audit_trail_verifies_on_its_own_and_finds_an_edit_inside_it() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    let month = |m: u32| chrono::NaiveDate::from_ymd_opt(2026, m, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let by = audit::ActedBy::default();
    // 40 entities, one event each on the 10th of January to April (64 chains: many hold several).
    let ids: Vec<String> = (0..40).map(|i| format!("period-test-{i}")).collect();
    let mut written: Vec<(u32, String)> = vec![];
    for m in 1..=4u32 {
        for id in &ids {
            let draft = audit::Draft {
                entity_kind: "test",
                entity_id: id,
                by: &by,
                action: "tick",
                from_state: None,
                to_state: None,
                reason: Some("monthly"),
                changes: json!({"month": m}),
            };
            let row = audit::append(&mut conn, draft, month(m) + Duration::days(9)).unwrap();
            written.push((m, row.id));
        }
    }
    let period = |conn: &mut DbConn, from: u32, to: u32| audit::verify_period(conn, month(from), month(to)).unwrap();
    let feb = period(&mut conn, 2, 3).expect("February verifies");
    assert_eq!((feb.events, feb.anchored), (40, 0), "{feb:?}");
    // Across a month boundary, from mid-January to mid-March: February whole and the 10ths.
    let across = audit::verify_period(&mut conn, month(1) + Duration::days(5), month(3) + Duration::days(15)).unwrap().unwrap();
    assert_eq!(across.events, 120);
    assert!(audit::verify(&mut conn, None).unwrap().is_ok());

    // An edit in February: February breaks at that event; January and March still verify.
    drop_triggers(&mut conn);
    let edited = written.iter().find(|(m, _)| *m == 2).unwrap().1.clone();
    diesel::update(audit_events::table.find(&edited)).set(audit_events::reason.eq(Some("rewritten"))).execute(&mut conn).unwrap();
    let b = period(&mut conn, 2, 3).unwrap_err();
    assert_eq!(b.event_id.as_deref(), Some(edited.as_str()), "{b:?}");
    assert!(period(&mut conn, 1, 2).is_ok() && period(&mut conn, 3, 4).is_ok());
    diesel::update(audit_events::table.find(&edited)).set(audit_events::reason.eq(Some("monthly"))).execute(&mut conn).unwrap();
    assert!(period(&mut conn, 2, 3).is_ok());

    // A deleted event: the period after it starts after a missing event (as after archiving a
    // month) and says so; the period before it no longer links forward; the whole chain breaks.
    let (shard, seq): (i32, i64) =
        audit_events::table.find(&edited).select((audit_events::shard, audit_events::seq)).first(&mut conn).unwrap();
    let march_in_chain: i64 = audit_events::table
        .filter(audit_events::shard.eq(shard))
        .filter(audit_events::at.ge(month(3)))
        .select(diesel::dsl::min(audit_events::seq))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap();
    let last_feb: i64 = march_in_chain - 1;
    assert!(last_feb >= seq);
    diesel::delete(audit_events::table.filter(audit_events::shard.eq(shard)).filter(audit_events::seq.eq(last_feb)))
        .execute(&mut conn)
        .unwrap();
    let mar = period(&mut conn, 3, 4).expect("March is anchored on what it links to");
    assert_eq!(mar.anchored, 1, "{mar:?}");
    assert!(period(&mut conn, 2, 3).is_err(), "February's last event is gone: the run no longer links to March");
    assert!(audit::verify(&mut conn, None).unwrap().is_err());
}

/// `audit verify` on a live database: servers appending meanwhile never make it report a break
/// (it reads the heads and the chains in one snapshot; found by the kill drill, where the
/// verification ran while three schedulers were still firing clocks).
#[tokio::test]
async fn the_audit_trail_verifies_while_events_are_being_appended() {
    let app = TestApp::spawn().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (mut conn, stop) = (app.conn(), stop.clone());
            std::thread::spawn(move || {
                let by = audit::ActedBy::default();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = format!("live-{w}-{}", n % 50);
                    gridloop::db::backend::immediate_transaction(&mut conn, |c| {
                        let d = audit::Draft {
                            entity_kind: "test",
                            entity_id: &id,
                            by: &by,
                            action: "tick",
                            from_state: None,
                            to_state: None,
                            reason: None,
                            changes: json!({"n": n}),
                        };
                        audit::append(c, d, gridloop::app::utc_now())
                    })
                    .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut conn = app.conn();
    for _ in 0..15 {
        let v = audit::verify(&mut conn, None).unwrap();
        assert!(v.is_ok(), "a live append looked like a break: {v:?}");
        let p =
            audit::verify_period(&mut conn, gridloop::app::utc_now() - Duration::hours(1), gridloop::app::utc_now() + Duration::hours(1))
                .unwrap();
        assert!(p.is_ok(), "{p:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written: i32 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(written > 0);
    assert_eq!(audit::verify(&mut conn, None).unwrap().unwrap().events, written as i64 + calendar_imports(&app));
}
