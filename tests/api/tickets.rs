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
    // 8. The lead department marks it solved (办结).
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
    assert_eq!(events[10]["changes"]["reopen_count"], json!([0, 1]));
    assert!(!timeline.to_string().contains("13712345678"), "the timeline carries only the masked phone");
    // The ticket's 13 events, beside the shipped calendar years the server imported at start.
    assert_eq!(verify_chain(&app).unwrap().events, 13 + calendar_imports(&app));
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
        all.sort_by_key(|t| t["due_at"].as_str().unwrap().to_string());
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
    diesel::update(tickets::table.find(id))
        .set(tickets::due_at.eq(Some(gridloop::app::utc_now() - Duration::hours(1))))
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

/// The audit events the server wrote at start, importing the shipped calendar years.
pub fn calendar_imports(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use gridloop::db::schema::audit_events;
    audit_events::table.filter(audit_events::entity_kind.eq("calendar_year")).count().get_result(&mut app.conn()).unwrap()
}
