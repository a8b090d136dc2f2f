//! The visit-log and supervision ledgers (走访日志台账、督办台账) as CSV and XLSX — headers, types,
//! scope, masking and recorded reveals — and the visit-work ranking of compounds (走访工作排名),
//! its figures computed here by hand from crafted visit data.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::sla::{self, SlaContext};
use gridloop::db::models::{HouseholdRow, VisitLogRow};
use gridloop::db::schema::{households, memberships, pii_reveals, visit_log_households, visit_logs};
use gridloop::domain::visits::HouseholdKind;
use gridloop::domain::{Id, OrgKind};

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, calendars, instant, TestApp};
use crate::report_pages::{read_xlsx, values};
use crate::tickets::{act, file, new_ticket};

fn rows(body: &str) -> Vec<Vec<String>> {
    // Enough of CSV for these cells: the cells checked hold no quoted separators.
    body.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).map(|l| l.split(',').map(String::from).collect()).collect()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn noon(s: &str) -> NaiveDateTime {
    d(s).and_hms_opt(4, 0, 0).unwrap()
}

/// A new unit under `parent` (key in the fixture), returned with its id.
fn add_unit(app: &TestApp, fx: &Fixture, parent: &str, kind: OrgKind, key: &str) -> String {
    let mut conn = app.conn();
    let parent = gridloop::app::org::find_unit(&mut conn, &fx.unit(parent).parse().unwrap()).unwrap().unwrap();
    let now = chrono::Utc::now().naive_utc();
    gridloop::app::org::insert_unit(&mut conn, Some(&parent), kind, &format!("T-{key}"), &format!("测试{key}"), now).unwrap().id.to_string()
}

fn add_compound(app: &TestApp, fx: &Fixture, key: &str) -> (String, String) {
    let compound = add_unit(app, fx, "K1", OrgKind::Compound, key);
    let mut conn = app.conn();
    let parent = gridloop::app::org::find_unit(&mut conn, &compound.parse().unwrap()).unwrap().unwrap();
    let now = chrono::Utc::now().naive_utc();
    let building =
        gridloop::app::org::insert_unit(&mut conn, Some(&parent), OrgKind::Building, &format!("T-{key}B"), &format!("测试{key}楼"), now)
            .unwrap()
            .id
            .to_string();
    (compound, building)
}

/// A household registered on `registered` (noon, China time).
fn household(app: &TestApp, building: &str, room: &str, kind: HouseholdKind, registered: &str) -> String {
    let id = Id::new().to_string();
    diesel::insert_into(households::table)
        .values(&HouseholdRow {
            id: id.parse().unwrap(),
            building_id: building.parse().unwrap(),
            unit_no: "1".into(),
            room: room.into(),
            kind,
            last_visited_on: None,
            active: true,
            version: 1,
            created_at: noon(registered),
            updated_at: noon(registered),
        })
        .execute(&mut app.conn())
        .unwrap();
    id
}

/// A visit log as filed on `date` (late or not), listing `visited`.
#[allow(clippy::too_many_arguments)]
fn log(app: &TestApp, author: &str, grid: &str, compound: &str, date: &str, late: bool, visited: &[&str], observations: &str) -> String {
    let mut conn = app.conn();
    let grid_path: String =
        gridloop::db::schema::org_units::table.find(grid).select(gridloop::db::schema::org_units::path).first(&mut conn).unwrap();
    let id = Id::new().to_string();
    let at = noon(date) + if late { Duration::hours(8) } else { Duration::zero() };
    diesel::insert_into(visit_logs::table)
        .values(&VisitLogRow {
            id: id.parse().unwrap(),
            client_id: Id::new().to_string(),
            author_id: author.parse().unwrap(),
            grid_id: grid.parse().unwrap(),
            grid_path: gridloop::domain::OrgPath::from_db(grid_path),
            compound_id: compound.parse().unwrap(),
            visit_date: d(date),
            households_visited: visited.len().max(1) as i32,
            observations: observations.into(),
            notes: Some("备注：联系人13900001111".into()),
            submission_hash: "x".into(),
            late,
            version: 1,
            created_at: at,
            updated_at: at,
        })
        .execute(&mut conn)
        .unwrap();
    for h in visited {
        diesel::insert_into(visit_log_households::table)
            .values((visit_log_households::log_id.eq(&id), visit_log_households::household_id.eq(*h)))
            .execute(&mut conn)
            .unwrap();
    }
    id
}

/// The crafted October 2026: two grid workers of B1 in 测试Y1 (since September), 23 logs of one
/// of them (20 on time, 3 late), none of the other; households of every kind in Y1; and two more
/// compounds under K1, Y3 and Y4, each with one household visited on time and no grid worker.
struct October {
    y3: String,
    y4: String,
    b3: String,
}

fn october(app: &TestApp, fx: &Fixture) -> October {
    let since = noon("2026-09-01");
    diesel::update(memberships::table.filter(memberships::person_id.eq_any([fx.person("gw1"), fx.person("gw1b")])))
        .set(memberships::created_at.eq(since))
        .execute(&mut app.conn())
        .unwrap();
    let (gw1, b1, y1) = (fx.person("gw1"), fx.unit("B1"), fx.unit("Y1"));
    // Y1's households (the intervals of the default configuration: 90, 7, 14, 30, 14 days).
    let h1 = household(app, b1, "201", HouseholdKind::Ordinary, "2026-08-01"); // due 10-30, visited 10-20: on time
    let h2 = household(app, b1, "202", HouseholdKind::ElderlyAlone, "2026-09-28"); // due 10-05 met, 10-12 missed (visited 10-13)
    household(app, b1, "203", HouseholdKind::Disabled, "2026-06-01"); // never visited: overdue all October
    household(app, b1, "204", HouseholdKind::PartyMemberHousehold, "2026-10-10"); // due 11-09: not in the period
    let h5 = household(app, b1, "205", HouseholdKind::LowIncome, "2026-09-01"); // 09-10, 09-24, 10-08, 10-22: on time
                                                                                // gw1's logs: 1–20 October on time, 21–23 late; the households on their days; two in September.
    for day in 1..=23 {
        let date = format!("2026-10-{day:02}");
        let mut visited: Vec<&str> = vec![];
        match day {
            5 | 13 => visited.push(&h2),
            8 | 22 => visited.push(&h5),
            20 => visited.push(&h1),
            _ => {}
        }
        let words = if day == 1 { "走访3户，王大爷电话13812345678，身份证11010519491231002X" } else { "走访正常" };
        log(app, gw1, b1, y1, &date, day > 20, &visited, words);
    }
    for date in ["2026-09-10", "2026-09-24"] {
        log(app, gw1, b1, y1, date, false, &[&h5], "九月走访");
    }
    // Y3 and Y4: one household each, visited on time (logs by a grid worker of another grid:
    // they count for the households, not for anyone's compliance).
    let (y3, b3) = add_compound(app, fx, "Y3");
    let h6 = household(app, &b3, "101", HouseholdKind::ElderlyAlone, "2026-09-28");
    for date in ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"] {
        log(app, gw1, &b3, &y3, date, false, &[&h6], "Y3走访");
    }
    let (y4, b4) = add_compound(app, fx, "Y4");
    let h7 = household(app, &b4, "101", HouseholdKind::PartyMemberHousehold, "2026-09-20");
    log(app, gw1, &b4, &y4, "2026-10-15", false, &[&h7], "Y4走访");
    October { y3, y4, b3 }
}

#[tokio::test]
async fn compounds_are_ranked_on_visit_work_with_the_figures_computed_by_hand_and_grid_workers_listed_unranked() {
    let (app, fx) = spawn_fixture().await;
    let o = october(&app, &fx);
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get_ok(&format!("/api/v1/rankings/visits?unit={}&period=2026-10", fx.unit("D1")), &sup).await;
    assert_eq!((r["period"].as_str(), r["from"].as_str(), r["to"].as_str()), (Some("2026-10"), Some("2026-10-01"), Some("2026-10-31")));
    let compounds = r["compounds"].as_array().unwrap();
    let names: Vec<&str> = compounds.iter().map(|c| c["compound_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["测试Y3", "测试Y4", "测试Y1"], "ranked, ties by name");
    let ranks: Vec<Value> = compounds.iter().map(|c| c["rank"].clone()).collect();
    assert_eq!(ranks, [json!(1), json!(1), json!(3)], "competition ranks: the tie shares 1, the next is 3");
    let ratio = |v: &Value| (v["numerator"].as_i64().unwrap(), v["denominator"].as_i64().unwrap());
    // Y1: two workers × 31 expected days (every day in the test configuration); 23 filed, 20 on time.
    let y1 = &compounds[2];
    assert_eq!(y1["community_name"], "测试K1");
    assert_eq!(ratio(&y1["log_compliance"]), (23, 62));
    assert_eq!(ratio(&y1["logs_on_time"]), (20, 62));
    // Households due in October: h1 (met), h2 (10-12 missed), h3 (overdue), h5 (met); h4 not due.
    assert_eq!(ratio(&y1["households_on_time"]), (2, 4));
    assert_eq!(y1["households_on_time"]["rate"], 0.5);
    // Score: the mean of 23/62 and 2/4, in percent with two decimals.
    let expected_score = ((23.0 / 62.0 + 0.5) / 2.0 * 100.0 * 100.0_f64).round() / 100.0;
    assert_eq!(y1["score"].as_f64(), Some(expected_score));
    assert_eq!(expected_score, 43.55);
    for (c, id) in [(&compounds[0], &o.y3), (&compounds[1], &o.y4)] {
        assert_eq!(c["compound_id"].as_str(), Some(id.as_str()));
        assert_eq!(ratio(&c["households_on_time"]), (1, 1));
        assert_eq!(ratio(&c["log_compliance"]), (0, 0));
        assert!(c["log_compliance"]["rate"].is_null());
        assert_eq!(c["score"].as_f64(), Some(100.0));
        assert!(c["workers"].as_array().unwrap().is_empty());
    }
    // The grid workers: listed by name with their numbers, no rank.
    let workers = y1["workers"].as_array().unwrap();
    let lines: Vec<(&str, i64, i64, i64, i64)> = workers
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap(),
                w["expected"].as_i64().unwrap(),
                w["on_time"].as_i64().unwrap(),
                w["late"].as_i64().unwrap(),
                w["missing"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [("测试gw1", 31, 20, 3, 8), ("测试gw1b", 31, 0, 0, 31)]);
    assert_eq!(ratio(&workers[0]["log_compliance"]), (23, 31));
    assert!(workers.iter().all(|w| w.get("rank").is_none() && w.get("score").is_none()), "grid workers are never ranked");
    // The unit's totals.
    assert_eq!(ratio(&r["log_compliance"]), (23, 62));
    assert_eq!(ratio(&r["households_on_time"]), (4, 6));

    // Community staff: their community by default; the same figures.
    let cs = app.login("cs1", PASSWORD).await;
    let k = app.get_ok("/api/v1/rankings/visits?period=2026-10", &cs).await;
    assert_eq!(k["unit_id"], fx.unit("K1"));
    assert_eq!(k["compounds"].as_array().unwrap().len(), 3);
    // A unit outside the caller's scope is refused; a grid worker may not see rankings; a bad period.
    let r = app.get(&format!("/api/v1/rankings/visits?unit={}&period=2026-10", fx.unit("D2")), Some(&sup)).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    let gw = app.login("gw1", PASSWORD).await;
    assert_error(app.get("/api/v1/rankings/visits", Some(&gw)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        app.get("/api/v1/rankings/visits?period=2026-13", Some(&sup)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    // The default period (last month) answers too.
    assert_eq!(app.get("/api/v1/rankings/visits", Some(&sup)).await.status(), StatusCode::OK);

    // The page: the ranking, the workers unranked, the export buttons; linked from the navigation.
    let page = crate::pages::PageClient::login(&app, "sup1").await;
    let (status, html) = page.get(&format!("/rankings/visits?unit={}&period=2026-10", fx.unit("D1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("走访工作排名") && html.contains("测试Y3") && html.contains("23/62 (37.10%)") && html.contains("2/4 (50.00%)"),
        "{html}"
    );
    assert!(html.contains("/api/v1/exports/visit_logs.xlsx?within=") && html.contains("/api/v1/exports/supervision.xlsx?within="));
    assert!(html.contains("href=\"/rankings/visits\""), "the navigation links the page");
    let _ = o.b3;
}

async fn csv_as(app: &TestApp, path: &str, token: &str, lang: &str) -> (StatusCode, Vec<u8>) {
    let r = app.client.get(app.url(path)).bearer_auth(token).header("Accept-Language", lang).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_visit_log_ledger_exports_the_lists_logs_in_scope_with_numbers_masked_unless_revealed() {
    let (app, fx) = spawn_fixture().await;
    october(&app, &fx);
    let gw2 = fx.person("gw2");
    let other = log(&app, gw2, fx.unit("B2"), fx.unit("Y2"), "2026-10-09", false, &[], "另一个区的走访");
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get("/api/v1/exports/visit_logs.csv?from=2026-10-01&to=2026-10-31", Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("visit_logs.csv"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with a byte-order mark");
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    let table = rows(&body);
    assert_eq!(
        table[0],
        [
            "走访日期",
            "网格员",
            "网格",
            "小区",
            "走访户数",
            "走访住户",
            "走访情况",
            "备注",
            "收集诉求数",
            "诉求编号",
            "回访数",
            "提交时间",
            "是否迟报",
            "最后修改时间"
        ]
    );
    assert_eq!(table.len(), 1 + 23 + 4 + 1, "October's logs of D1, none of D2: {body}");
    assert!(!body.contains("另一个区的走访"));
    // Newest day first, as the list; the day's values.
    assert_eq!(table[1][0], "2026-10-26");
    let first_day = table.iter().find(|r| r[0] == "2026-10-01").unwrap();
    assert_eq!(first_day[1..4], ["测试gw1".to_string(), "测试B1".into(), "测试Y1".into()]);
    assert!(first_day[6].contains("138****5678") && first_day[6].contains("1101**********002X"), "{first_day:?}");
    assert!(!body.contains("13812345678") && !body.contains("13900001111"), "numbers in free text are masked");
    assert_eq!(first_day[7], "备注：联系人139****1111");
    assert_eq!(first_day[12], "否");
    let late = table.iter().find(|r| r[0] == "2026-10-22").unwrap();
    assert_eq!((late[4].as_str(), late[5].as_str(), late[12].as_str()), ("1", "测试B1 1-205", "是"));
    // English headers for an English caller.
    let (_, en) = csv_as(&app, "/api/v1/exports/visit_logs.csv?from=2026-10-26&to=2026-10-26", &sup, "en").await;
    let t = rows(&String::from_utf8(en).unwrap());
    assert_eq!((t[0][0].as_str(), t.len()), ("Visit date", 2));

    // Scope: a grid worker gets his grid's logs only; a unit outside scope lists nothing; the
    // other district's supervisor his own.
    let gw2t = app.login("gw2", PASSWORD).await;
    let t = rows(&app.get("/api/v1/exports/visit_logs.csv", Some(&gw2t)).await.text().await.unwrap());
    assert_eq!(t.len(), 2);
    assert_eq!(t[1][6], "另一个区的走访");
    let t = rows(&app.get(&format!("/api/v1/exports/visit_logs.csv?within={}", fx.unit("Y2")), Some(&sup)).await.text().await.unwrap());
    assert_eq!(t.len(), 1, "only the headers");
    let sup2 = app.login("sup2", PASSWORD).await;
    assert_eq!(rows(&app.get("/api/v1/exports/visit_logs.csv", Some(&sup2)).await.text().await.unwrap()).len(), 2);
    let _ = other;
    let t =
        rows(&app.get(&format!("/api/v1/exports/visit_logs.csv?author_id={}", fx.person("gw1b")), Some(&sup)).await.text().await.unwrap());
    assert_eq!(t.len(), 1, "gw1b filed nothing");

    // Reveal: a supervisor may not; the branch secretary sees the text in clear, each log recorded.
    let r = app.get("/api/v1/exports/visit_logs.csv?reveal=true", Some(&sup)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let bs = app.login("bs1", PASSWORD).await;
    let body = app.get("/api/v1/exports/visit_logs.csv?reveal=true&from=2026-10-01&to=2026-10-31", Some(&bs)).await.text().await.unwrap();
    let t = rows(&body);
    assert_eq!(t.len(), 1 + 23, "the secretary's compound");
    assert!(body.contains("13812345678") && body.contains("13900001111"));
    let recorded: Vec<(String, String, String, String)> = pii_reveals::table
        .filter(pii_reveals::fields.eq("visit_log_text_export"))
        .select((pii_reveals::person_id, pii_reveals::role, pii_reveals::record_kind, pii_reveals::org_unit_id))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(recorded.len(), 23, "one reveal per log shown in clear");
    assert!(recorded
        .iter()
        .all(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str())
            == (fx.person("bs1"), "branch_secretary", "visit_log", fx.unit("Y1"))));
    // Without reveal=true nothing more is recorded.
    app.get("/api/v1/exports/visit_logs.csv", Some(&bs)).await.text().await.unwrap();
    let total: i64 = pii_reveals::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(total, 23);
    assert_error(app.get("/api/v1/exports/visit_logs.csv?from=2026-13-01", Some(&sup)).await, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn a_visit_log_ledger_longer_than_a_page_streams_every_row_once() {
    let (app, fx) = spawn_fixture().await;
    let n = gridloop::app::exports::EXPORT_PAGE as usize + 5;
    let start = d("2026-01-01");
    for i in 0..n {
        let date = (start + Duration::days(i as i64)).to_string();
        log(&app, fx.person("gw1"), fx.unit("B1"), fx.unit("Y1"), &date, false, &[], "走访");
    }
    let bs = app.login("bs1", PASSWORD).await;
    let body = app.get("/api/v1/exports/visit_logs.csv", Some(&bs)).await.text().await.unwrap();
    let t = rows(&body);
    assert_eq!(t.len(), n + 1);
    let mut days: Vec<&String> = t[1..].iter().map(|r| &r[0]).collect();
    days.dedup();
    assert_eq!(days.len(), n, "no log twice across pages");
    assert_eq!(body.matches('\u{feff}').count(), 1);
    let Some(book) = read_xlsx(&app.get("/api/v1/exports/visit_logs.xlsx", Some(&bs)).await.bytes().await.unwrap()) else { return };
    assert_eq!(book[0]["rows"].as_array().unwrap().len(), n + 2, "title, headers and every log");
}

/// Two tickets of Y1 breached; the second handled, so its supervision ended.
async fn breached(app: &TestApp, fx: &Fixture) -> (String, String) {
    let gw = app.login("gw1", PASSWORD).await;
    let a = file(app, &gw, &new_ticket(fx)).await;
    let b = file(app, &gw, &new_ticket(fx)).await;
    let due = instant(&b["ticket_due_at"]);
    let cals = calendars(&app.settings);
    let ctx = SlaContext { settings: &app.settings.sla, calendars: &cals };
    let report = sla::tick(&mut app.conn(), ctx, due + Duration::minutes(1), "test").unwrap();
    assert_eq!(report.breaches, 2);
    let bs = app.login("bs1", PASSWORD).await;
    let (status, _) = act(app, &bs, b["id"].as_str().unwrap(), 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(status, StatusCode::OK);
    (a["number"].as_str().unwrap().to_string(), b["number"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_supervision_ledger_lists_the_queue_in_scope_with_residents_masked_unless_revealed() {
    let (app, fx) = spawn_fixture().await;
    let (open, ended) = breached(&app, &fx).await;
    let sup = app.login("sup1", PASSWORD).await;
    let queue = app.get_ok("/api/v1/supervision", &sup).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let r = app.get("/api/v1/exports/supervision.csv", Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("supervision.csv"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    let t = rows(&body);
    assert_eq!(
        t[0],
        [
            "工单编号",
            "标题",
            "诉求类别",
            "紧急程度",
            "工单状态",
            "超时环节",
            "责任单位",
            "办理时限",
            "超时时间",
            "超时小时数",
            "催办次数",
            "督办状态",
            "解除时间",
            "居民姓名",
            "联系电话"
        ]
    );
    assert_eq!(t.len(), 2, "the list's entries: {body}");
    let row = &t[1];
    assert_eq!(row[0], open);
    assert_eq!(row[0], queue[0]["ticket_number"].as_str().unwrap());
    assert_eq!(row[2..7], ["噪音扰民".to_string(), "一般".into(), "待小区处理".into(), "小区分拨".into(), "测试Y1".into()]);
    assert_eq!((row[11].as_str(), row[12].as_str()), ("督办中", ""));
    assert_eq!((row[13].as_str(), row[14].as_str()), ("居***", "137****5678"), "names and phones masked");
    assert!(!body.contains("居民r1") && !body.contains("13712345678"));
    // All entries, the ended one with its end.
    let t = rows(&app.get("/api/v1/exports/supervision.csv?status=all", Some(&sup)).await.text().await.unwrap());
    assert_eq!(t.len(), 3);
    let e = t.iter().find(|r| r[0] == ended).unwrap();
    assert_eq!(e[11], "已解除");
    assert!(!e[12].is_empty());
    let t = rows(&app.get("/api/v1/exports/supervision.csv?status=resolved", Some(&sup)).await.text().await.unwrap());
    assert_eq!(t[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(), vec![ended.clone()]);

    // Scope: the other district, a grid worker, a unit outside scope: nothing.
    for who in ["sup2", "gw1"] {
        let token = app.login(who, PASSWORD).await;
        assert_eq!(rows(&app.get("/api/v1/exports/supervision.csv", Some(&token)).await.text().await.unwrap()).len(), 1, "{who}");
    }
    let t = rows(&app.get(&format!("/api/v1/exports/supervision.csv?within={}", fx.unit("D2")), Some(&sup)).await.text().await.unwrap());
    assert_eq!(t.len(), 1);
    assert_error(app.get("/api/v1/exports/supervision.csv?status=maybe", Some(&sup)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_error(
        app.get("/api/v1/exports/supervision.csv?within=nope", Some(&sup)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // Reveal: refused to a supervisor; community staff see names and phones, each ticket recorded.
    assert_error(app.get("/api/v1/exports/supervision.csv?reveal=true", Some(&sup)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let cs = app.login("cs1", PASSWORD).await;
    let t = rows(&app.get("/api/v1/exports/supervision.csv?reveal=true&status=all", Some(&cs)).await.text().await.unwrap());
    assert_eq!(t.len(), 3);
    assert!(t[1..].iter().all(|r| r[13] == "居民r1" && r[14] == "13712345678"));
    let recorded: Vec<(String, String, String)> = pii_reveals::table
        .filter(pii_reveals::fields.eq("resident_supervision_export"))
        .select((pii_reveals::person_id, pii_reveals::role, pii_reveals::record_kind))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()) == (fx.person("cs1"), "community_staff", "ticket")));

    // The workbook: types and formats.
    let r = app.get("/api/v1/exports/supervision.xlsx?status=all", Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheet = &book[0];
    assert_eq!(sheet["name"], "督办台账");
    assert_eq!(sheet["freeze"], "A3");
    assert_eq!(sheet["merged"], json!(["A1:O1"]));
    let rows = sheet["rows"].as_array().unwrap();
    let title = rows[0][0]["v"].as_str().unwrap();
    assert!(title.starts_with("督办台账 · 测试D1") && title.contains("督办状态：全部"), "{title}");
    assert_eq!(values(&rows[1])[0], "工单编号");
    assert_eq!(rows.len(), 4);
    for r in &rows[2..] {
        assert_eq!(r[0]["t"], "s");
        assert!(r[7]["date"].as_bool().unwrap() && r[8]["date"].as_bool().unwrap(), "deadline and breach are dates: {r:?}");
        assert_eq!(r[7]["fmt"], "yyyy-mm-dd hh:mm");
        assert_eq!((r[9]["t"].as_str(), r[9]["fmt"].as_str()), (Some("n"), Some("0.0")), "hours overdue a number");
        assert_eq!(r[10]["t"], "n", "reminders a number");
        assert_eq!((r[13]["v"].as_str(), r[14]["v"].as_str()), (Some("居***"), Some("137****5678")));
    }
    let ended_row = rows[2..].iter().find(|r| r[0]["v"] == json!(ended)).unwrap();
    assert!(ended_row[12]["date"].as_bool().unwrap(), "the end is a date");
}

#[tokio::test]
async fn the_visit_log_workbook_has_chinese_headers_dates_numbers_and_masked_text() {
    let (app, fx) = spawn_fixture().await;
    october(&app, &fx);
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get(&format!("/api/v1/exports/visit_logs.xlsx?within={}&from=2026-10-01&to=2026-10-31", fx.unit("Y1")), Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("visit_logs.xlsx"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheet = &book[0];
    assert_eq!(sheet["name"], "走访日志台账");
    assert_eq!(sheet["freeze"], "A3");
    assert_eq!(sheet["merged"], json!(["A1:N1"]));
    assert!(sheet["widths"]["G"].as_f64().unwrap() > 30.0, "the observations column is wide");
    let rows = sheet["rows"].as_array().unwrap();
    let title = rows[0][0]["v"].as_str().unwrap();
    assert!(title.starts_with("走访日志台账 · 测试Y1") && title.contains("走访日期：2026-10-01 – 2026-10-31"), "{title}");
    assert_eq!(values(&rows[1])[..5], ["走访日期", "网格员", "网格", "小区", "走访户数"].map(|h| json!(h)));
    assert_eq!(rows.len(), 2 + 23);
    for r in &rows[2..] {
        assert!(r[0]["date"].as_bool().unwrap(), "the visit date is a date: {}", r[0]);
        assert_eq!(r[0]["fmt"], "yyyy-mm-dd");
        assert_eq!(r[4]["t"], "n");
        assert_eq!(r[8]["t"], "n");
        assert_eq!(r[10]["t"], "n");
        assert!(r[11]["date"].as_bool().unwrap() && r[13]["date"].as_bool().unwrap());
        assert_eq!(r[11]["fmt"], "yyyy-mm-dd hh:mm");
    }
    let first = rows.iter().find(|r| r[0]["v"].as_str().is_some_and(|v| v.starts_with("2026-10-01"))).unwrap();
    assert!(first[6]["v"].as_str().unwrap().contains("138****5678"));
    // Filed at noon UTC-8 = 12:00 China time.
    assert!(first[11]["v"].as_str().unwrap().starts_with("2026-10-01T12:00"), "{}", first[11]);
    // A grid worker may reveal in his grid: in clear, and recorded.
    let gw = app.login("gw1", PASSWORD).await;
    let r = app.get("/api/v1/exports/visit_logs.xlsx?reveal=true&from=2026-10-01&to=2026-10-01", Some(&gw)).await;
    let book = read_xlsx(&r.bytes().await.unwrap()).unwrap();
    let rows = book[0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[2][6]["v"].as_str().unwrap().contains("13812345678"));
    assert!(rows[0][0]["v"].as_str().unwrap().contains("个人信息明文"));
    let recorded: i64 =
        pii_reveals::table.filter(pii_reveals::fields.eq("visit_log_text_export")).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(recorded, 1);
}
