//! Three-party consultation (三方协调议事) through the API and the pages: candidates from the
//! compound's recurring tickets, the parties, an agenda decided at a meeting into actions with a
//! responsible party and a deadline, progress, results — and who may see and do what.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::app::audit;
use gridloop::db::schema::{audit_events, consult_meetings};
use gridloop::domain::consult::credit_code_check;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, TestApp};
use crate::pages::PageClient;
use crate::report_pages::{read_xlsx, values};
use crate::tickets::{file, new_ticket};

/// Today in China, where deadlines and meeting days are counted.
fn china_today() -> NaiveDate {
    (Utc::now() + Duration::hours(8)).date_naive()
}

/// A valid unified social credit code ending a 17-character stem.
fn credit_code(stem: &str) -> String {
    format!("{stem}{}", credit_code_check(stem).unwrap())
}

async fn three_noise_tickets(app: &TestApp, fx: &Fixture) -> Vec<String> {
    let gw = app.login("gw1", PASSWORD).await;
    let mut ids = vec![];
    for title in ["夜间烧烤噪音", "广场舞音响太响", "装修噪音"] {
        let mut t = new_ticket(fx);
        t["title"] = json!(title);
        ids.push(file(app, &gw, &t).await["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Option<&Value>, version: Option<i64>) -> (StatusCode, Value) {
    let r = app.request(method, path, Some(token), body, version).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn audit_actions(app: &TestApp, kind: &str, id: &str) -> Vec<(String, String)> {
    audit_events::table
        .filter(audit_events::entity_kind.eq(kind))
        .filter(audit_events::entity_id.eq(id))
        .order(audit_events::seq.asc())
        .select((audit_events::action, audit_events::changes))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_secretary_runs_a_consultation_from_recurring_tickets_to_the_results_list() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let tickets = three_noise_tickets(&app, &fx).await;
    let bs = app.login("bs1", PASSWORD).await;

    // Three noise tickets in 90 days recur: one candidate, its tickets newest first.
    let cands = app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/candidates"), &bs).await;
    assert_eq!(cands.as_array().unwrap().len(), 1, "{cands}");
    assert_eq!(cands[0]["category_name"], "噪音扰民");
    assert_eq!(cands[0]["reasons"], json!(["recurring"]));
    assert_eq!(cands[0]["tickets"].as_array().unwrap().len(), 3);
    assert_eq!(cands[0]["tickets"][0]["title"], "装修噪音");
    // Four repeats make nothing recur here; the bounds of the window are said.
    let none = app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/candidates?repeats=4"), &bs).await;
    assert_eq!(none, json!([]));
    let e = assert_error(
        app.get(&format!("/api/v1/org-units/{y1}/consultation/candidates?days=400"), Some(&bs)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "days");

    // The property company, registered once by its credit code; a wrong check character is named.
    let code = credit_code("91110105MA01ABCD1");
    let body = json!({"name": "安居物业服务有限公司", "credit_code": code, "manager_name": "赵经理", "manager_phone": "13600001111"});
    let (status, company) = send(&app, Method::POST, "/api/v1/property-companies", &bs, Some(&body), None).await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    assert_eq!(company["manager_phone_masked"], "136****1111");
    assert_error(app.post_json("/api/v1/property-companies", Some(&bs), &body).await, StatusCode::CONFLICT, "credit_code_taken").await;
    let mut bad = body.clone();
    bad["credit_code"] = json!(format!("{}{}", &code[..17], if code.ends_with('0') { '1' } else { '0' }));
    let e = assert_error(
        app.post_json("/api/v1/property-companies", Some(&bs), &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "credit_code");
    assert!(e["message"].as_str().unwrap().contains("校验位"), "{e}");
    let mut no_phone = body.clone();
    no_phone["manager_phone"] = json!("");
    let e = assert_error(
        app.post_json("/api/v1/property-companies", Some(&bs), &no_phone).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "manager_phone", "a phone sent must be one");
    let found = app.get_ok("/api/v1/property-companies?q=安居", &bs).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let e = assert_error(
        app.get(&format!("/api/v1/property-companies?q={}", "物".repeat(101)), Some(&bs)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "q");

    // The parties: first recorded with If-Match 0; the phone only masked, and only "changed" in the audit.
    let parties = format!("/api/v1/org-units/{y1}/parties");
    let pbody = json!({
        "committee_name": "第一届业主委员会", "committee_chair": "钱主任", "committee_members": ["钱主任", "孙委员", "孙委员"],
        "committee_phone": "13512345678", "term_start": "2024-01-01", "term_end": "2028-12-31",
        "company_id": company["id"], "contract_start": "2025-01-01", "contract_end": "2027-12-31"
    });
    let (status, _) = send(&app, Method::PUT, &parties, &bs, Some(&pbody), None).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    let (status, p) = send(&app, Method::PUT, &parties, &bs, Some(&pbody), Some(0)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!((p["version"].as_i64(), &p["committee_phone_masked"]), (Some(1), &json!("135****5678")));
    assert_eq!(p["committee_members"], json!(["钱主任", "孙委员"]), "a name listed twice is one member");
    assert_eq!(p["company"]["name"], "安居物业服务有限公司");
    let (status, _) = send(&app, Method::PUT, &parties, &bs, Some(&pbody), Some(0)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "a stale version does not overwrite");
    let events = audit_actions(&app, "compound_parties", y1);
    assert_eq!(events.len(), 1);
    assert!(!events[0].1.contains("13512345678") && events[0].1.contains("\"committee_phone\":\"changed\""), "{}", events[0].1);

    // The candidate goes on the agenda with its tickets; another item by hand. Raised tickets
    // are no candidates any more.
    let items = format!("/api/v1/org-units/{y1}/consultation/items");
    let (status, noise) = send(
        &app,
        Method::POST,
        &items,
        &bs,
        Some(&json!({"title": "噪音扰民反复发生", "category_id": fx.category, "ticket_ids": tickets})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{noise}");
    assert_eq!((noise["state"].as_str(), noise["tickets"].as_array().unwrap().len()), (Some("agenda"), 3));
    let (_, parking) =
        send(&app, Method::POST, &items, &bs, Some(&json!({"title": "地面停车位不足", "detail": "晚高峰占用消防通道"})), None).await;
    let (_, lights) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "楼道灯损坏"})), None).await;
    assert_eq!(app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/candidates"), &bs).await, json!([]));
    // A ticket of another compound cannot be raised here.
    let gw2 = app.login("gw2", PASSWORD).await;
    let mut other = new_ticket(&fx);
    other["building_id"] = json!(fx.unit("B2"));
    let other = file(&app, &gw2, &other).await;
    let e = assert_error(
        app.post_json(&items, Some(&bs), &json!({"title": "别处的", "ticket_ids": [other["id"]]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_reference",
    )
    .await;
    assert_eq!(e["field"], "ticket_ids");

    // The meeting: three parties present, each agenda item decided, dropped or left.
    let today = china_today();
    let meetings = format!("/api/v1/org-units/{y1}/consultation/meetings");
    let due = today + Duration::days(7);
    let meeting = json!({
        "held_on": today, "place": "居民之家",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["钱主任", "孙委员"], "property_company": ["赵经理"]},
        "minutes": "三方议定：物业于一周内在烧烤店外加装隔音设施。",
        "decisions": [{"item_id": noise["id"], "decision": "物业加装隔音设施并约谈商户", "responsible": "property_company", "due_on": due}],
        "dropped": [{"item_id": parking["id"], "reason": "已纳入街道停车改造计划"}]
    });
    let mut tomorrow = meeting.clone();
    tomorrow["held_on"] = json!(today + Duration::days(1));
    let e = assert_error(app.post_json(&meetings, Some(&bs), &tomorrow).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "held_on");
    let mut two_parties = meeting.clone();
    two_parties["attendees"]["owners_committee"] = json!([]);
    let e =
        assert_error(app.post_json(&meetings, Some(&bs), &two_parties).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "attendees.owners_committee");
    let mut twice = meeting.clone();
    twice["dropped"] = json!([{"item_id": noise["id"], "reason": "重复"}]);
    let e = assert_error(app.post_json(&meetings, Some(&bs), &twice).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "dropped[0].item_id");
    let mut early = meeting.clone();
    early["decisions"][0]["due_on"] = json!(today - Duration::days(1));
    let e = assert_error(app.post_json(&meetings, Some(&bs), &early).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "decisions[0].due_on");
    assert_eq!(consult_meetings::table.count().get_result::<i64>(&mut app.conn()).unwrap(), 0, "a refused meeting leaves nothing");

    // Sent twice with one Idempotency-Key: one meeting.
    let key = uuid::Uuid::now_v7().to_string();
    let mut ids = vec![];
    for _ in 0..2 {
        let r = app.client.post(app.url(&meetings)).bearer_auth(&bs).header("Idempotency-Key", &key).json(&meeting).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let m: Value = r.json().await.unwrap();
        ids.push(m["id"].as_str().unwrap().to_string());
        assert_eq!(m["items"].as_array().unwrap().len(), 2, "{m}");
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(consult_meetings::table.count().get_result::<i64>(&mut app.conn()).unwrap(), 1);
    let noise = app.get_ok(&format!("/api/v1/consultation/items/{}", noise["id"].as_str().unwrap()), &bs).await;
    assert_eq!(
        (noise["state"].as_str(), noise["responsible"].as_str(), noise["timeliness"].as_str()),
        (Some("action"), Some("property_company"), Some("running"))
    );
    assert_eq!(noise["due_on"], json!(due));
    assert_eq!(noise["held_on"], json!(today));
    // Due at the end of that China day: 16:00 UTC.
    assert_eq!(noise["due_at"], json!(format!("{}T16:00:00.000000Z", due)));
    let listed = app.get_ok(&format!("{items}?state=agenda"), &bs).await;
    assert_eq!(
        listed.as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        vec![lights["id"].clone()],
        "only the item left stays on the agenda"
    );
    // A decided item cannot be decided again.
    let mut again = meeting.clone();
    again["dropped"] = json!([]);
    assert_error(app.post_json(&meetings, Some(&bs), &again).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Progress, then done; a stale version is refused; a dropped item can no longer change.
    let nid = noise["id"].as_str().unwrap();
    let (status, with_note) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{nid}/notes"), &bs, Some(&json!({"body": "隔音板已进场"})), None)
            .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(with_note["notes"][0]["body"], "隔音板已进场");
    let v = with_note["version"].as_i64().unwrap();
    let complete = format!("/api/v1/consultation/items/{nid}/complete");
    let (status, _) = send(&app, Method::POST, &complete, &bs, Some(&json!({"outcome": "隔音设施已装好"})), Some(v - 1)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, done) =
        send(&app, Method::POST, &complete, &bs, Some(&json!({"outcome": "隔音设施已装好，商户承诺22点收摊"})), Some(v)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!((done["state"].as_str(), done["timeliness"].as_str()), (Some("done"), Some("on_time")));
    let (status, e) =
        send(&app, Method::POST, &complete, &bs, Some(&json!({"outcome": "再来一次"})), Some(done["version"].as_i64().unwrap())).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("item_closed")));
    let lid = lights["id"].as_str().unwrap();
    let (status, e) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{lid}/complete"), &bs, Some(&json!({"outcome": "修好了"})), Some(1))
            .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("not_decided")), "{e}");

    // Results of this month: one action done on time, with its three tickets.
    let period = format!("{}-{:02}", today.year(), today.month());
    let r = app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/results?period={period}"), &bs).await;
    assert_eq!((r["done_on_time"].as_i64(), r["done_late"].as_i64(), r["overdue"].as_i64()), (Some(1), Some(0), Some(0)), "{r}");
    assert_eq!(r["items"][0]["tickets"], 3);
    assert_eq!(r["items"][0]["title"], "噪音扰民反复发生");

    // The public page: no login, no personal data.
    let anon = PageClient::anonymous(&app);
    let (status, html) = anon.get(&format!("/public/results/{y1}?period={period}")).await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["噪音扰民反复发生", "物业加装隔音设施并约谈商户", "按时完成"] {
        assert!(html.contains(shown), "{shown} missing");
    }
    for hidden in ["13712345678", "居民r1", "钱主任", "赵经理", "杨书记", "135****5678"] {
        assert!(!html.contains(hidden), "the public page shows {hidden}");
    }
    let (status, _) = anon.get(&format!("/public/results/{}?period={period}", fx.unit("K1"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a community is no compound");

    // Signed once; amended after, the change is audited with its old and new text.
    let mid = &ids[0];
    let m = app.get_ok(&format!("/api/v1/consultation/meetings/{mid}"), &bs).await;
    let (status, signed) =
        send(&app, Method::POST, &format!("/api/v1/consultation/meetings/{mid}/sign"), &bs, None, m["version"].as_i64()).await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["signed_by"], "测试bs1");
    let (status, e) =
        send(&app, Method::POST, &format!("/api/v1/consultation/meetings/{mid}/sign"), &bs, None, signed["version"].as_i64()).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("already_signed")));
    let (status, amended) = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/consultation/meetings/{mid}"),
        &bs,
        Some(&json!({"minutes": "三方议定：物业于一周内加装隔音设施；社区监督。"})),
        signed["version"].as_i64(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{amended}");
    let events = audit_actions(&app, "consult_meeting", mid);
    assert_eq!(events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["hold_meeting", "sign_minutes", "amend_signed_minutes"]);
    assert!(events[2].1.contains("三方议定：物业于一周内在烧烤店外加装隔音设施。") && events[2].1.contains("社区监督"), "{}", events[2].1);
    let item_events = audit_actions(&app, "consult_item", nid);
    assert_eq!(item_events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["put_on_agenda", "decide", "note", "complete_action"]);
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok(), "the audit chains verify");
}

#[tokio::test]
async fn an_action_past_its_deadline_is_overdue_and_done_late_counts_late() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let bs = app.login("bs1", PASSWORD).await;
    let items = format!("/api/v1/org-units/{y1}/consultation/items");
    let (_, a) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "电梯频繁故障"})), None).await;
    let (_, b) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "垃圾清运不及时"})), None).await;
    let today = china_today();
    let (held, due) = (today - Duration::days(10), today - Duration::days(3));
    let meeting = json!({
        "held_on": held, "place": "党群服务站",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["业主代表甲"], "property_company": ["赵经理"]},
        "decisions": [
            {"item_id": a["id"], "decision": "物业联系维保单位检修", "responsible": "property_company", "due_on": due},
            {"item_id": b["id"], "decision": "业委会督促物业每日清运", "responsible": "owners_committee", "due_on": due}
        ]
    });
    let (status, m) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let a = app.get_ok(&format!("/api/v1/consultation/items/{}", a["id"].as_str().unwrap()), &bs).await;
    assert_eq!(a["timeliness"], "overdue");
    let bid = b["id"].as_str().unwrap();
    let b = app.get_ok(&format!("/api/v1/consultation/items/{bid}"), &bs).await;
    let (status, b) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{bid}/complete"),
        &bs,
        Some(&json!({"outcome": "已恢复每日清运"})),
        b["version"].as_i64(),
    )
    .await;
    assert_eq!((status, b["timeliness"].as_str()), (StatusCode::OK, Some("late")));
    // The year of the deadline: one late, one overdue (still open at its end, or now).
    let r = app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/results?period={}", due.year()), &bs).await;
    assert_eq!(r["overdue"], 1, "{r}");
    let late_or_open = r["done_late"].as_i64().unwrap() + r["overdue"].as_i64().unwrap();
    assert!(late_or_open == 2 || (due.year() != today.year() && late_or_open == 1), "{r}");

    // The same list as an Excel ledger (业绩清单): its summary, one row per action, days as dates.
    let r = app.get(&format!("/api/v1/org-units/{y1}/consultation/results.xlsx?period={}", due.year()), Some(&bs)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let e = assert_error(
        app.get(&format!("/api/v1/org-units/{y1}/consultation/results.xlsx?period=2026-13"), Some(&bs)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "period");
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheet = &book[0];
    assert_eq!((sheet["name"].as_str(), sheet["freeze"].as_str()), (Some("业绩清单"), Some("B4")));
    assert!(sheet["rows"][0][0]["v"].as_str().unwrap().starts_with("测试Y1 · 业绩清单"), "{}", sheet["rows"][0][0]);
    let summary = sheet["rows"][1][0]["v"].as_str().unwrap();
    assert!(summary.contains(&format!("超期未完成 {} 项", r_overdue(&app, &bs, y1, due.year()).await)), "{summary}");
    let rows: Vec<Vec<Value>> = sheet["rows"].as_array().unwrap()[3..].iter().map(values).collect();
    let lift = rows.iter().find(|r| r[0] == "电梯频繁故障").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!((lift[2].as_str(), lift[6].as_str(), lift[5].as_str()), (Some("物业服务企业"), Some("已超期"), Some("—")));
    assert_eq!(lift[4].as_str().map(|d| d.starts_with(&due.to_string())), Some(true), "{lift:?}");
    assert_eq!(sheet["rows"][3][4]["date"], true, "the deadline is an Excel date");
    if due.year() == today.year() {
        let bins = rows.iter().find(|r| r[0] == "垃圾清运不及时").unwrap_or_else(|| panic!("{rows:?}"));
        assert_eq!((bins[6].as_str(), bins[7].as_str()), (Some("逾期完成"), Some("已恢复每日清运")));
    }
}

async fn r_overdue(app: &TestApp, token: &str, y1: &str, year: i32) -> i64 {
    app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/results?period={year}"), token).await["overdue"].as_i64().unwrap()
}

#[tokio::test]
async fn the_consultation_is_the_compounds_the_secretary_runs_it_others_in_scope_follow() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let bs1 = app.login("bs1", PASSWORD).await;
    let (_, item) =
        send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/items"), &bs1, Some(&json!({"title": "绿化带被占"})), None)
            .await;
    let item_path = format!("/api/v1/consultation/items/{}", item["id"].as_str().unwrap());
    // The community and the district's supervisor read it; they do not run it.
    for login in ["cs1", "sup1"] {
        let t = app.login(login, PASSWORD).await;
        assert_eq!(app.get_ok(&item_path, &t).await["title"], "绿化带被占", "{login}");
        let r = app.post_json(&format!("/api/v1/org-units/{y1}/consultation/items"), Some(&t), &json!({"title": "x"})).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Another compound's secretary, another district's supervisor: as if it did not exist.
    for login in ["bs2", "sup2"] {
        let t = app.login(login, PASSWORD).await;
        assert_error(app.get(&item_path, Some(&t)).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_error(app.get(&format!("/api/v1/org-units/{y1}/parties"), Some(&t)).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    // A grid worker and a liaison have no part in it.
    for login in ["gw1", "dl1"] {
        let t = app.login(login, PASSWORD).await;
        let status = app.get(&item_path, Some(&t)).await.status();
        assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{login}: {status}");
        let r = app
            .post_json("/api/v1/property-companies", Some(&t), &json!({"name": "x", "credit_code": credit_code("91110105MA01ABCD1")}))
            .await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A unit that is no compound has no consultation.
    let e = assert_error(
        app.get(&format!("/api/v1/org-units/{}/consultation/items", fx.unit("K1")), Some(&app.login("cs1", PASSWORD).await)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("不是小区"), "{e}");
}

#[tokio::test]
async fn the_secretary_runs_it_on_the_page_and_a_refused_meeting_keeps_what_he_typed() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    three_noise_tickets(&app, &fx).await;
    let page = PageClient::login(&app, "bs1").await;
    let (status, html) = page.get("/consultation").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("候选议题") && html.contains("噪音扰民") && html.contains("反复出现"), "the candidate is shown");
    let ids = value_of(&html, "ticket_ids");
    assert_eq!(ids.split(',').count(), 3);
    let r = page
        .submit(&format!("/consultation/{y1}/items"), &[("title", "噪音扰民反复发生"), ("category_id", &fx.category), ("ticket_ids", &ids)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page.get("/consultation").await;
    assert!(html.contains("议题已列入议事清单") || html.contains("噪音扰民反复发生"));
    let item = value_of(&html, "item");
    // A meeting without the property company is refused, and the form keeps what was typed.
    let today = china_today().to_string();
    let form = |company: &str| -> Vec<(String, String)> {
        [
            ("held_on".to_string(), today.clone()),
            ("place".into(), "居民之家".into()),
            ("attend-branch".into(), "杨书记".into()),
            ("attend-owners_committee".into(), "钱主任\n孙委员".into()),
            ("attend-property_company".into(), company.into()),
            ("item".into(), item.clone()),
            (format!("do-{item}"), "decide".into()),
            (format!("decision-{item}"), "加装隔音设施".into()),
            (format!("responsible-{item}"), "property_company".into()),
            (format!("due-{item}"), (china_today() + Duration::days(5)).to_string()),
        ]
        .into()
    };
    let refused = form("");
    let pairs: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = page.submit(&format!("/consultation/{y1}/meetings"), &pairs).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("三方协调议事须有党支部、业主委员会"), "the reason is said");
    assert!(html.contains("加装隔音设施") && html.contains("钱主任\n孙委员"), "what was typed is kept");
    let sent = form("赵经理");
    let pairs: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = page.submit(&format!("/consultation/{y1}/meetings"), &pairs).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page.get("/consultation").await;
    assert!(html.contains("行动清单") && html.contains("加装隔音设施") && html.contains("未到期"), "the action is listed, not yet due");
    // Done from the page; the results page says so.
    let version = value_of(&html[html.find("/complete").unwrap()..], "version");
    let r = page.submit(&format!("/consultation/items/{item}/complete"), &[("version", &version), ("outcome", "隔音设施已装好")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let period = china_today().format("%Y-%m").to_string();
    let (_, html) = PageClient::anonymous(&app).get(&format!("/public/results/{y1}?period={period}")).await;
    assert!(html.contains("隔音设施已装好") && html.contains("按时完成"), "the result is public");
}

fn value_of(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no field {name}")) + name.len() + 15;
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_branch_rates_the_committee_and_the_company_once_a_year_with_the_evidence_in_front() {
    use gridloop::app::catalogue::{insert_category, NewCategory, Urgency};
    use gridloop::db::schema::tickets;
    let (app, fx) = spawn_fixture().await;
    let (y1, y2) = (fx.unit("Y1"), fx.unit("Y2"));
    let property = insert_category(
        &mut app.conn(),
        &NewCategory {
            code: "property_service".into(),
            name_zh: "物业服务".into(),
            name_en: "Property service".into(),
            default_department_id: Some(fx.unit("P1").into()),
            urgencies: vec![Urgency::Normal],
        },
        Utc::now().naive_utc(),
    )
    .unwrap();
    let gw = app.login("gw1", PASSWORD).await;
    let mut filed = vec![];
    for title in ["电梯停运", "小区保洁不到位", "物业收费不透明"] {
        let mut t = new_ticket(&fx);
        t["category_id"] = json!(property.id.to_string());
        t["title"] = json!(title);
        filed.push(file(&app, &gw, &t).await["id"].as_str().unwrap().to_string());
    }
    file(&app, &gw, &new_ticket(&fx)).await; // a noise ticket is no property complaint
                                             // One of them was filed a year earlier; one was reopened after a return visit.
    let this_year = china_today().year();
    diesel::update(tickets::table.filter(tickets::id.eq(&filed[0])))
        .set(tickets::created_at.eq(Utc::now().naive_utc() - Duration::days(366)))
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(tickets::table.filter(tickets::id.eq(&filed[1]))).set(tickets::reopen_count.eq(1)).execute(&mut app.conn()).unwrap();

    let bs = app.login("bs1", PASSWORD).await;
    let code = credit_code("91110105MA01ABCD1");
    let (_, company) =
        send(&app, Method::POST, "/api/v1/property-companies", &bs, Some(&json!({"name": "安居物业", "credit_code": code})), None).await;
    let parties = json!({"committee_name": "第一届业主委员会", "company_id": company["id"]});
    let (status, _) = send(&app, Method::PUT, &format!("/api/v1/org-units/{y1}/parties"), &bs, Some(&parties), Some(0)).await;
    assert_eq!(status, StatusCode::OK);
    // An action of the company, due today and done: on time.
    let (_, item) =
        send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/items"), &bs, Some(&json!({"title": "电梯维保"})), None)
            .await;
    let meeting = json!({
        "held_on": china_today(), "place": "居民之家",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["钱主任"], "property_company": ["赵经理"]},
        "decisions": [{"item_id": item["id"], "decision": "更换电梯主板", "responsible": "property_company", "due_on": china_today()}]
    });
    let (status, _) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{}/complete", item["id"].as_str().unwrap()),
        &bs,
        Some(&json!({"outcome": "已更换"})),
        Some(2),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The evidence of this year.
    let desk = app.get_ok(&format!("/api/v1/org-units/{y1}/evaluations?year={this_year}"), &bs).await;
    let company_ev = desk["evidence"].as_array().unwrap().iter().find(|e| e["party"] == "property_company").unwrap().clone();
    assert_eq!(
        (
            company_ev["property_complaints"].as_i64(),
            company_ev["property_complaints_year_before"].as_i64(),
            company_ev["property_dissatisfied"].as_i64(),
            company_ev["actions_on_time"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{company_ev}"
    );
    assert_eq!(desk["company_criteria"].as_array().unwrap().len(), 4);

    // Rate the company: (35·60 + 25·70 + 25·50 + 15·80) / 100 = 63, with the residents' 40 at a
    // fifth: 63·0.8 + 40·0.2 = 58.4, below 60: replacement recommended.
    let evaluations = format!("/api/v1/org-units/{y1}/evaluations");
    let scores = json!([
        {"code": "service_quality", "score": 60, "comment": "保洁不到位"},
        {"code": "contract_compliance", "score": 70},
        {"code": "resident_response", "score": 50},
        {"code": "cooperation", "score": 80}
    ]);
    let body = json!({"party": "property_company", "year": this_year, "scores": scores, "resident_score": 40, "comment": "限期整改"});
    let mut missing = body.clone();
    missing["scores"].as_array_mut().unwrap().pop();
    let e =
        assert_error(app.post_json(&evaluations, Some(&bs), &missing).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "scores");
    let mut unknown = body.clone();
    unknown["scores"][0]["code"] = json!("meeting_duty");
    let e =
        assert_error(app.post_json(&evaluations, Some(&bs), &unknown).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "scores[0].code", "a committee's criterion is no company's");
    let mut over = body.clone();
    over["scores"][2]["score"] = json!(101);
    let e = assert_error(app.post_json(&evaluations, Some(&bs), &over).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "scores[2].score");
    let mut next_year = body.clone();
    next_year["year"] = json!(this_year + 1);
    let e =
        assert_error(app.post_json(&evaluations, Some(&bs), &next_year).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "year");
    let mut branch = body.clone();
    branch["party"] = json!("branch");
    assert_error(app.post_json(&evaluations, Some(&bs), &branch).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let (status, ev) = send(&app, Method::POST, &evaluations, &bs, Some(&body), None).await;
    assert_eq!(status, StatusCode::CREATED, "{ev}");
    assert_eq!((ev["total"].as_f64(), ev["verdict"].as_str()), (Some(58.4), Some("replace")));
    assert_eq!((ev["subject_name"].as_str(), ev["evidence"]["property_complaints"].as_i64()), (Some("安居物业"), Some(2)));
    assert_eq!(ev["scores"][0]["name_zh"], "服务质量");
    assert_error(app.post_json(&evaluations, Some(&bs), &body).await, StatusCode::CONFLICT, "already_evaluated").await;

    // 更正: the response score was mistyped (70, not 50): (35·60 + 25·70 + 25·70 + 15·80) / 100 = 68,
    // 68·0.8 + 40·0.2 = 62.4 — called in to rectify, no longer replaced. With a reason, on the
    // version read; the evidence stays as it stood.
    let corrected = format!("/api/v1/evaluations/{}", ev["id"].as_str().unwrap());
    let mut fix = json!({"scores": scores, "resident_score": 40, "comment": "限期整改", "reason": "回应居民诉求一项录入有误"});
    fix["scores"][2]["score"] = json!(70);
    let mut no_reason = fix.clone();
    no_reason["reason"] = json!("  ");
    let (status, e) = send(&app, Method::PUT, &corrected, &bs, Some(&no_reason), Some(1)).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "{e}");
    let mut short = fix.clone();
    short["scores"].as_array_mut().unwrap().remove(1);
    let (status, e) = send(&app, Method::PUT, &corrected, &bs, Some(&short), Some(1)).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("scores")), "every criterion again: {e}");
    let (status, _) = send(&app, Method::PUT, &corrected, &app.login("cs1", PASSWORD).await, Some(&fix), Some(1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the community follows, does not rate");
    let (status, fixed) = send(&app, Method::PUT, &corrected, &bs, Some(&fix), Some(1)).await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!((fixed["total"].as_f64(), fixed["verdict"].as_str(), fixed["version"].as_i64()), (Some(62.4), Some("rectify"), Some(2)));
    assert_eq!(fixed["evidence"], ev["evidence"], "the evidence as it stood");
    let (status, e) = send(&app, Method::PUT, &corrected, &bs, Some(&fix), Some(1)).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::PRECONDITION_FAILED, Some("version_conflict")), "a stale version: {e}");
    let trail = audit_actions(&app, "evaluation", ev["id"].as_str().unwrap());
    assert_eq!(trail.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["evaluate", "correct_evaluation"]);
    let change: Value = serde_json::from_str(&trail[1].1).unwrap();
    assert_eq!((change["total"][0].as_f64(), change["total"][1].as_f64()), (Some(58.4), Some(62.4)), "{change}");
    let reason: String = audit_events::table
        .filter(audit_events::entity_id.eq(ev["id"].as_str().unwrap()))
        .filter(audit_events::action.eq("correct_evaluation"))
        .select(audit_events::reason.assume_not_null())
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(reason, "回应居民诉求一项录入有误");

    // The committee: (30·90 + 25·80 + 25·85 + 20·70) / 100 = 82.25, satisfactory.
    let committee = json!({"party": "owners_committee", "year": this_year, "scores": [
        {"code": "meeting_duty", "score": 90}, {"code": "public_accounts", "score": 80},
        {"code": "resident_response", "score": 85}, {"code": "cooperation", "score": 70}
    ]});
    let (status, ev) = send(&app, Method::POST, &evaluations, &bs, Some(&committee), None).await;
    assert_eq!(status, StatusCode::CREATED, "{ev}");
    assert_eq!((ev["total"].as_f64(), ev["verdict"].as_str()), (Some(82.25), Some("satisfactory")));
    // A compound without a committee on record cannot rate one.
    let bs2 = app.login("bs2", PASSWORD).await;
    let e = assert_error(
        app.post_json(&format!("/api/v1/org-units/{y2}/evaluations"), Some(&bs2), &committee).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "party");

    // The company's record across compounds; the community follows, may not rate.
    let cs = app
        .get_ok(&format!("/api/v1/property-companies/{}/evaluations", company["id"].as_str().unwrap()), &app.login("cs1", PASSWORD).await)
        .await;
    assert_eq!(
        (cs.as_array().unwrap().len(), cs[0]["compound_name"].as_str(), cs[0]["year"].as_i64()),
        (1, Some("测试Y1"), Some(this_year as i64))
    );
    let cs1 = app.login("cs1", PASSWORD).await;
    assert_error(app.post_json(&evaluations, Some(&cs1), &committee).await, StatusCode::FORBIDDEN, "forbidden").await;
    let desk = app.get_ok(&format!("/api/v1/org-units/{y1}/evaluations?year={this_year}"), &cs1).await;
    assert_eq!(desk["history"].as_array().unwrap().len(), 2);
    let events: i64 = audit_events::table.filter(audit_events::entity_kind.eq("evaluation")).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(events, 3, "each evaluation and its correction is an audit event");

    // The page shows the verdict and the evidence.
    let page = PageClient::login(&app, "bs1").await;
    let (status, html) = page.get(&format!("/consultation/evaluations?compound={y1}&year={this_year}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("约谈整改") && html.contains("62.4") && html.contains("82.25") && html.contains("物业服务类诉求"), "{html}");
    assert!(html.contains(&format!("/api/v1/org-units/{y1}/evaluations.xlsx")), "the ledger is offered");
    let record = html.split("id=\"company-record\"").nth(1).unwrap_or_else(|| panic!("the company's record: {html}"));
    assert!(record.contains("测试Y1") && record.contains("安居物业"), "the company's record in every compound it served");

    // 更正 on the page: the form holds the scores as made; a stale version comes back with the page.
    // The committee's public accounts re-marked 20: (30·90 + 25·20 + 25·85 + 20·70) / 100 = 67.25.
    let path = format!("/consultation/evaluations/{}/correct", ev["id"].as_str().unwrap());
    assert!(html.contains(&path) && html.contains("name=\"score-public_accounts\"") && html.contains("value=\"80\""), "{html}");
    let year_s = this_year.to_string();
    let mut form = vec![
        ("version", "2"),
        ("compound", y1),
        ("year", year_s.as_str()),
        ("score-meeting_duty", "90"),
        ("score-public_accounts", "20"),
        ("score-resident_response", "85"),
        ("score-cooperation", "70"),
        ("reason", "公开账目一项复核后下调"),
    ];
    let r = page.submit(&path, &form).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert!(r.text().await.unwrap().contains("flash error"));
    form[0].1 = "1";
    let r = page.submit(&path, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"].to_str().unwrap().ends_with("done=corrected"));
    let desk = app.get_ok(&format!("/api/v1/org-units/{y1}/evaluations?year={this_year}"), &bs).await;
    let committee_now = desk["history"].as_array().unwrap().iter().find(|h| h["party"] == "owners_committee").unwrap().clone();
    assert_eq!((committee_now["total"].as_f64(), committee_now["verdict"].as_str()), (Some(67.25), Some("rectify")), "{committee_now}");

    // The ledger of every year (两评价台账): the branch's and those above it, not the rated parties'.
    let r = app.get(&format!("/api/v1/org-units/{y1}/evaluations.xlsx"), Some(&cs1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("spreadsheetml"));
    let bytes = r.bytes().await.unwrap();
    let yw = app.login("yw1", PASSWORD).await;
    assert_error(app.get(&format!("/api/v1/org-units/{y1}/evaluations.xlsx"), Some(&yw)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get(&format!("/api/v1/org-units/{y1}/evaluations.xlsx"), Some(&bs2)).await, StatusCode::NOT_FOUND, "not_found").await;
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheet = &book[0];
    assert_eq!((sheet["name"].as_str(), sheet["freeze"].as_str()), (Some("两评价"), Some("B3")));
    let title = sheet["rows"][0][0]["v"].as_str().unwrap();
    assert!(title.starts_with("测试Y1 · 两评价台账"), "{title}");
    assert_eq!(sheet["rows"][1][3]["v"], "总分");
    let rows: Vec<Vec<Value>> = sheet["rows"].as_array().unwrap()[2..].iter().map(values).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let company_row = rows.iter().find(|r| r[1] == "物业服务企业").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (company_row[0].as_f64(), company_row[2].as_str(), company_row[3].as_f64()),
        (Some(this_year as f64), Some("安居物业"), Some(62.4))
    );
    assert_eq!(company_row[4], "约谈整改");
    assert!(company_row[5].as_str().unwrap().contains("服务质量（权重"), "{company_row:?}");
    assert_eq!(company_row[8].as_f64(), Some(2.0), "the evidence it was given with");
    let committee_row = rows.iter().find(|r| r[1] == "业主委员会").unwrap();
    assert_eq!((committee_row[3].as_f64(), committee_row[4].as_str()), (Some(67.25), Some("约谈整改")));
    assert_eq!(sheet["rows"][2][14]["date"], true, "the time it was rated is an Excel date");
}

#[tokio::test]
async fn a_partys_representative_sees_the_consultation_and_completes_only_his_partys_actions() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    // The admin gives the owners' committee and the property company a login each.
    let root = app.login("root", PASSWORD).await;
    for (login, role) in [("yw7", "committee_representative"), ("wy7", "company_representative")] {
        let person = json!({"login": login, "display_name": login, "password": PASSWORD, "role": role, "org_unit_id": y1});
        let r = app.post_json("/api/v1/people", Some(&root), &person).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{login}");
    }
    let bad = json!({"login": "yw9", "display_name": "x", "password": PASSWORD, "role": "committee_representative", "org_unit_id": fx.unit("K1")});
    assert_error(app.post_json("/api/v1/people", Some(&root), &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // The secretary decides two actions, one per party, the company's with a ticket raised to it.
    let tickets = three_noise_tickets(&app, &fx).await;
    let bs = app.login("bs1", PASSWORD).await;
    let items = format!("/api/v1/org-units/{y1}/consultation/items");
    let (_, noise) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "噪音", "ticket_ids": [tickets[0]]})), None).await;
    let (_, rules) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "管理规约修订", "ticket_ids": [tickets[1]]})), None).await;
    let due = china_today() + Duration::days(5);
    let meeting = json!({
        "held_on": china_today(), "place": "居民之家",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["yw7"], "property_company": ["wy7"]},
        "decisions": [
            {"item_id": noise["id"], "decision": "加装隔音", "responsible": "property_company", "due_on": due},
            {"item_id": rules["id"], "decision": "业委会起草规约", "responsible": "owners_committee", "due_on": due}
        ]
    });
    let (status, _) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (nid, rid) = (noise["id"].as_str().unwrap(), rules["id"].as_str().unwrap());

    let wy = app.login("wy7", PASSWORD).await;
    // He reads his compound's items; the tickets only of his own party's action.
    let list = app.get_ok(&items, &wy).await;
    let of = |id: &str| list.as_array().unwrap().iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(of(nid)["tickets"].as_array().unwrap().len(), 1, "the ticket raised to his action");
    assert_eq!(of(rid)["tickets"], json!([]), "not the committee's");
    // Not the tickets themselves, the candidates, the evaluations, the parties' record or the agenda.
    assert_ne!(app.get(&format!("/api/v1/tickets/{}", tickets[0]), Some(&wy)).await.status(), StatusCode::OK);
    assert_error(app.get(&format!("/api/v1/org-units/{y1}/consultation/candidates"), Some(&wy)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_error(app.get(&format!("/api/v1/org-units/{y1}/evaluations"), Some(&wy)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        app.request(Method::PUT, &format!("/api/v1/org-units/{y1}/parties"), Some(&wy), Some(&json!({})), Some(0)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(app.post_json(&items, Some(&wy), &json!({"title": "x"})).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Progress and done on his own action; not on the committee's; he drops nothing.
    let (status, _) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{nid}/notes"), &wy, Some(&json!({"body": "材料已采购"})), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, e) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{rid}/notes"), &wy, Some(&json!({"body": "代写"})), None).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (status, e) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{nid}/drop"), &wy, Some(&json!({"outcome": "不做了"})), Some(2))
            .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (status, done) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{nid}/complete"),
        &wy,
        Some(&json!({"outcome": "隔音板已装"})),
        Some(2),
    )
    .await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("done")), "{done}");
    let by: String = audit_events::table
        .filter(audit_events::entity_id.eq(nid))
        .filter(audit_events::action.eq("complete_action"))
        .select(audit_events::actor_role)
        .first::<Option<String>>(&mut app.conn())
        .unwrap()
        .unwrap_or_default();
    assert_eq!(by, "company_representative", "the audit says who did it in which role");
    // The committee's representative completes his; another compound's items are not his.
    let yw = app.login("yw7", PASSWORD).await;
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{rid}/complete"),
        &yw,
        Some(&json!({"outcome": "规约已公示"})),
        Some(2),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        app.get(&format!("/api/v1/org-units/{}/consultation/items", fx.unit("Y2")), Some(&yw)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // On the page: his home is the consultation; the forms only on his party's action.
    let page = PageClient::login(&app, "wy7").await;
    let r = page.http.get(format!("{}/", page.base)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/consultation");
    let (status, html) = page.get("/consultation").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("候选议题") && !html.contains("召开议事会") && !html.contains("两评价"), "no branch tools");
}

fn at(v: &Value) -> chrono::NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("no time: {v}"))).unwrap().naive_utc()
}

/// The kinds and bodies of a person's in-app notifications.
async fn notices(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let page = app.get_ok("/api/v1/notifications", token).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap().to_string(), n["body"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn an_actions_clock_warns_then_goes_overdue_once_to_its_party_and_into_the_communitys_supervision() {
    use gridloop::app::action_clocks::{fire, ActionFirings};
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let bs = app.login("bs1", PASSWORD).await;
    let (_, item) =
        send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/items"), &bs, Some(&json!({"title": "地库积水"})), None)
            .await;
    let id = item["id"].as_str().unwrap().to_string();
    let today = china_today();
    let meeting = json!({
        "held_on": today, "place": "党群服务站",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["业主代表甲"], "property_company": ["赵经理"]},
        "decisions": [{"item_id": id, "decision": "业委会牵头筹集维修资金，物业组织施工", "responsible": "owners_committee", "due_on": today + Duration::days(10)}]
    });
    let (status, m) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let item = app.get_ok(&format!("/api/v1/consultation/items/{id}"), &bs).await;
    let (warn_at, due_at) = (at(&item["warn_at"]), at(&item["due_at"]));
    // The warning falls after most of the working time from the meeting's day (0.8 of it by
    // default; the exact instant on a calendar is the domain's unit test): after the day began,
    // before the deadline, whatever holidays lie between.
    let held = (today.and_hms_opt(0, 0, 0).unwrap()) - Duration::hours(8);
    assert!(warn_at > held && warn_at < due_at, "warn {warn_at}, due {due_at}");
    // 临期 once past the warning time (not yet, but for a window with almost no working days left).
    let soon = warn_at <= Utc::now().naive_utc();
    assert_eq!((item["due_soon"].as_bool(), item["warned_at"].is_null(), item["breached_at"].is_null()), (Some(soon), true, true));

    // Nothing before its time; the warning once, whatever the number of rounds.
    let mut conn = app.conn();
    assert_eq!(fire(&mut conn, warn_at - Duration::seconds(1)).unwrap(), ActionFirings::default());
    assert_eq!(fire(&mut conn, warn_at).unwrap(), ActionFirings { warnings: 1, overdue: 0 });
    assert_eq!(fire(&mut conn, warn_at + Duration::hours(1)).unwrap(), ActionFirings::default());
    // Told: the branch and the responsible party (the committee), not the company.
    let (yw, wy, cs, cs2) = (
        app.login("yw1", PASSWORD).await,
        app.login("wy1", PASSWORD).await,
        app.login("cs1", PASSWORD).await,
        app.login("cs2", PASSWORD).await,
    );
    for who in [&bs, &yw] {
        let n = notices(&app, who).await;
        assert!(n.iter().any(|(k, b)| k == "action_warning" && b.contains("地库积水")), "{n:?}");
    }
    let page = app.get_ok("/api/v1/notifications", &yw).await;
    let warning = page["items"].as_array().unwrap().iter().find(|n| n["kind"] == "action_warning").unwrap().clone();
    assert_eq!(warning["subject"], "【行动项即将到期】地库积水", "no gap for a ticket number it has not: {warning}");
    assert!(!notices(&app, &wy).await.iter().any(|(k, _)| k.starts_with("action_")));
    assert!(!notices(&app, &cs).await.iter().any(|(k, _)| k.starts_with("action_")), "the community hears of lateness only");
    let item = app.get_ok(&format!("/api/v1/consultation/items/{id}"), &bs).await;
    assert_eq!(at(&item["warned_at"]), warn_at);
    assert_eq!(app.get_ok("/api/v1/consultation/overdue-actions", &cs).await, json!([]), "not late yet");

    // Past the deadline: overdue once, told to the branch, the committee and the community's staff.
    assert_eq!(fire(&mut conn, due_at).unwrap(), ActionFirings::default(), "due to the end of its day: not late at it");
    let late = due_at + Duration::seconds(1);
    assert_eq!(fire(&mut conn, late).unwrap(), ActionFirings { warnings: 0, overdue: 1 });
    assert_eq!(fire(&mut conn, late + Duration::days(1)).unwrap(), ActionFirings::default());
    drop(conn);
    for who in [&bs, &yw, &cs] {
        let n = notices(&app, who).await;
        assert_eq!(n.iter().filter(|(k, _)| k == "action_overdue").count(), 1, "{n:?}");
    }
    assert!(!notices(&app, &cs2).await.iter().any(|(k, _)| k.starts_with("action_")), "another community is not told");
    // In the community's supervision list (and nobody else's).
    let list = app.get_ok("/api/v1/consultation/overdue-actions", &cs).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!((list[0]["id"].as_str(), list[0]["responsible"].as_str()), (Some(id.as_str()), Some("owners_committee")));
    assert_eq!(at(&list[0]["breached_at"]), late);
    assert_eq!(app.get_ok("/api/v1/consultation/overdue-actions", &cs2).await, json!([]));
    let (status, page) = PageClient::login(&app, "cs1").await.get("/oversight").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("地库积水") && page.contains(&format!("#item-{id}")), "the oversight desk lists it");
    // Every firing is in the audit trail, by the system.
    let trail: Vec<String> = audit_actions(&app, "consult_item", &id).into_iter().map(|(a, _)| a).collect();
    assert_eq!(trail, ["put_on_agenda", "decide", "action_warned", "action_overdue"]);

    // Done (late): out of supervision.
    let (status, done) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{id}/complete"),
        &yw,
        Some(&json!({"outcome": "已抽排积水并修复排水沟"})),
        item["version"].as_i64(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(app.get_ok("/api/v1/consultation/overdue-actions", &cs).await, json!([]));
}

#[tokio::test]
async fn a_done_action_solves_the_tickets_the_branch_handles_and_names_the_others() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let tickets = three_noise_tickets(&app, &fx).await;
    let bs = app.login("bs1", PASSWORD).await;
    // The first is accepted by the branch (it handles it); the second still waits at the compound.
    let t0 = app.get_ok(&format!("/api/v1/tickets/{}", tickets[0]), &bs).await;
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{}/actions", tickets[0]),
        &bs,
        Some(&json!({"action": "accept_at_compound"})),
        t0["version"].as_i64(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, item) = send(
        &app,
        Method::POST,
        &format!("/api/v1/org-units/{y1}/consultation/items"),
        &bs,
        Some(&json!({"title": "夜间噪音", "ticket_ids": [tickets[0], tickets[1]]})),
        None,
    )
    .await;
    let id = item["id"].as_str().unwrap().to_string();
    let solve = format!("/api/v1/consultation/items/{id}/solve-tickets");
    let e = assert_error(app.post_json(&solve, Some(&bs), &json!({})).await, StatusCode::CONFLICT, "not_done").await;
    assert!(e["message"].as_str().unwrap().contains("已完成"), "{e}");
    let today = china_today();
    let meeting = json!({
        "held_on": today, "place": "党群服务站",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["业主代表甲"], "property_company": ["赵经理"]},
        "decisions": [{"item_id": id, "decision": "物业夜间巡查劝导", "responsible": "property_company", "due_on": today + Duration::days(5)}]
    });
    let (status, m) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let item = app.get_ok(&format!("/api/v1/consultation/items/{id}"), &bs).await;
    let wy = app.login("wy1", PASSWORD).await;
    let (status, done) = send(
        &app,
        Method::POST,
        &format!("/api/v1/consultation/items/{id}/complete"),
        &wy,
        Some(&json!({"outcome": "物业每晚十点巡查劝导"})),
        item["version"].as_i64(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    // The company's representative completed it but solves no ticket: that is the branch's.
    assert_error(app.post_json(&solve, Some(&wy), &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;

    let r = app.post_json(&solve, Some(&bs), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = r.json().await.unwrap();
    let mut numbers = vec![];
    for t in &tickets {
        numbers.push(number_of(&app, &bs, t).await);
    }
    assert_eq!(r["solved"], json!([numbers[0]]), "{r}");
    assert_eq!(r["skipped"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["skipped"][0]["number"], json!(numbers[1]));
    assert!(!r["skipped"][0]["reason"].as_str().unwrap().is_empty(), "the workflow's reason: {r}");
    let t0 = app.get_ok(&format!("/api/v1/tickets/{}", tickets[0]), &bs).await;
    assert_eq!(t0["state"], "solved");
    assert!(t0["resolution"].as_str().unwrap().contains("物业每晚十点巡查劝导"), "{t0}");
    // Solved: its grid worker is told the return visit is due (回访), as for any solved ticket.
    let gw = app.login("gw1", PASSWORD).await;
    let n = notices(&app, &gw).await;
    assert!(n.iter().any(|(k, _)| k == "solved"), "{n:?}");
    // Again: nothing is solved twice.
    let again: Value = app.post_json(&solve, Some(&bs), &json!({})).await.json().await.unwrap();
    assert_eq!((again["solved"].as_array().unwrap().len(), again["skipped"].as_array().unwrap().len()), (0, 2), "{again}");
    let trail: Vec<String> = audit_actions(&app, "consult_item", &id).into_iter().map(|(a, _)| a).collect();
    assert_eq!(trail.last().map(String::as_str), Some("solve_tickets"));
    assert_eq!(trail.iter().filter(|a| *a == "solve_tickets").count(), 1, "{trail:?}");

    // The page offers it on the done action and says what it did and did not solve, and why.
    let page = PageClient::login(&app, "bs1").await;
    let (_, html) = page.get(&format!("/consultation?compound={y1}")).await;
    assert!(html.contains(&format!("/consultation/items/{id}/solve-tickets")), "{html}");
    let r = page.submit(&format!("/consultation/items/{id}/solve-tickets"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("已据此办结 0 件诉求") && html.contains(&format!("另有 2 件未办结：{}（", numbers[0])), "{html}");
}

async fn number_of(app: &TestApp, token: &str, ticket: &str) -> String {
    app.get_ok(&format!("/api/v1/tickets/{ticket}"), token).await["number"].as_str().unwrap().to_string()
}

async fn upload_photo(app: &TestApp, token: &str, item: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/consultation/items/{item}/photos")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn photos_show_what_an_action_did_to_those_who_follow_the_compound() {
    let (app, fx) = spawn_fixture().await;
    let y1 = fx.unit("Y1");
    let bs = app.login("bs1", PASSWORD).await;
    let items = format!("/api/v1/org-units/{y1}/consultation/items");
    let (_, a) = send(&app, Method::POST, &items, &bs, Some(&json!({"title": "单元门禁损坏"})), None).await;
    let id = a["id"].as_str().unwrap().to_string();
    let photo = crate::photos::phone_photo();
    // On the agenda there is nothing done to show yet.
    let (status, e) = upload_photo(&app, &bs, &id, photo.clone()).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("not_decided")), "{e}");
    let today = china_today();
    let meeting = json!({
        "held_on": today, "place": "党群服务站",
        "attendees": {"branch": ["杨书记"], "owners_committee": ["业主代表甲"], "property_company": ["赵经理"]},
        "decisions": [{"item_id": id, "decision": "物业更换读卡器", "responsible": "property_company", "due_on": today + Duration::days(3)}]
    });
    let (status, m) = send(&app, Method::POST, &format!("/api/v1/org-units/{y1}/consultation/meetings"), &bs, Some(&meeting), None).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    // The responsible company's representative shows what it did; the same photo again is the same one.
    let wy = app.login("wy1", PASSWORD).await;
    let (status, p) = upload_photo(&app, &wy, &id, photo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, again) = upload_photo(&app, &wy, &id, photo.clone()).await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::OK, p["id"].as_str()));
    // The committee's representative acts on the committee's actions only.
    let (status, _) = upload_photo(&app, &app.login("yw1", PASSWORD).await, &id, photo.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, e) = upload_photo(&app, &wy, &id, b"not an image".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let item = app.get_ok(&format!("/api/v1/consultation/items/{id}"), &bs).await;
    assert_eq!(item["photos"].as_array().unwrap().len(), 1, "{item}");
    assert_eq!((item["photos"][0]["width"].as_i64(), item["photos"][0]["height"].as_i64()), (Some(20), Some(40)), "turned upright");
    // Seen by those who follow the compound (the community), not by another community.
    let pid = p["id"].as_str().unwrap();
    let cs = app.login("cs1", PASSWORD).await;
    let r = app.get(&format!("/api/v1/consultation/photos/{pid}?size=thumb"), Some(&cs)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let full = app.get(&format!("/api/v1/consultation/photos/{pid}"), Some(&cs)).await.bytes().await.unwrap();
    assert!(!full.windows(12).any(|w| w == b"SECRET-PLACE"), "its metadata is stripped");
    let cs2 = app.login("cs2", PASSWORD).await;
    assert_error(app.get(&format!("/api/v1/consultation/photos/{pid}"), Some(&cs2)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.get(&format!("/api/v1/consultation/photos/{pid}?size=huge"), Some(&cs)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let trail: Vec<String> = audit_actions(&app, "consult_item", &id).into_iter().map(|(a, _)| a).collect();
    assert_eq!(trail.iter().filter(|a| *a == "photo").count(), 1, "{trail:?}");
    // The desk page shows it, and the page's own photo address serves it.
    let page = PageClient::login(&app, "bs1").await;
    let (_, html) = page.get(&format!("/consultation?compound={y1}")).await;
    assert!(html.contains(&format!("/consultation/photos/{pid}/thumb")) && html.contains("enctype=\"multipart/form-data\""), "{html}");
    let (status, _) = page.get(&format!("/consultation/photos/{pid}/thumb")).await;
    assert_eq!(status, StatusCode::OK);
    // Done today: the results list of this month counts its evidence; the public page shows the
    // count, never the image.
    let v = app.get_ok(&format!("/api/v1/consultation/items/{id}"), &wy).await["version"].as_i64();
    let (status, done) =
        send(&app, Method::POST, &format!("/api/v1/consultation/items/{id}/complete"), &wy, Some(&json!({"outcome": "读卡器已更换"})), v)
            .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let period = format!("{}-{:02}", today.year(), today.month());
    let r = app.get_ok(&format!("/api/v1/org-units/{y1}/consultation/results?period={period}"), &bs).await;
    let line = r["items"].as_array().unwrap().iter().find(|i| i["title"] == "单元门禁损坏").unwrap_or_else(|| panic!("{r}")).clone();
    assert_eq!(line["photos"], 1, "{line}");
    let (_, public) = PageClient::anonymous(&app).get(&format!("/public/results/{y1}?period={period}")).await;
    assert!(public.contains("现场照片 1 张") && !public.contains(pid), "{public}");
}

#[tokio::test]
async fn an_evaluation_year_may_run_from_july_to_june() {
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.evaluation.year_starts_month = 7).await;
    let y1 = fx.unit("Y1");
    let bs = app.login("bs1", PASSWORD).await;
    let today = china_today();
    let running = if today.month() >= 7 { today.year() } else { today.year() - 1 };
    let desk = app.get_ok(&format!("/api/v1/org-units/{y1}/evaluations?year={running}"), &bs).await;
    let ev = &desk["evidence"][0];
    assert_eq!(
        (ev["first_day"].as_str(), ev["last_day"].as_str()),
        (Some(format!("{running}-07-01").as_str()), Some(format!("{}-06-30", running + 1).as_str())),
        "{desk}"
    );
    // The default is the last whole year; the one after the running one cannot be rated yet.
    let last = app.get_ok(&format!("/api/v1/org-units/{y1}/evaluations"), &bs).await;
    assert_eq!(last["year"], running - 1);
    let e = assert_error(
        app.get(&format!("/api/v1/org-units/{y1}/evaluations?year={}", running + 1), Some(&bs)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "year");
}
