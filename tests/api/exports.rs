//! The ticket ledger as CSV (台账导出): UTF-8 with a BOM, headers in the caller's language, the
//! list's filters and scope, phones masked unless revealed (and then recorded), formulas
//! disarmed, streamed page by page.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::assert_error;
use crate::tickets::{file, new_ticket};

fn rows(body: &str) -> Vec<Vec<String>> {
    // Enough of CSV for these cells: no quoted separators in the numbers or states checked.
    body.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).map(|l| l.split(',').map(String::from).collect()).collect()
}

#[tokio::test]
async fn the_ledger_exports_the_lists_tickets_in_scope_with_phones_masked() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let mut numbers = vec![];
    for title in ["楼下烧烤店夜间噪音", "=HYPERLINK(\"http://x\")", "楼道堆物"] {
        let mut body = new_ticket(&fx);
        body["title"] = json!(title);
        numbers.push(file(&app, &gw, &body).await["number"].as_str().unwrap().to_string());
    }
    let gw2 = app.login("gw2", PASSWORD).await;
    let mut other = new_ticket(&fx);
    other["building_id"] = json!(fx.unit("B2"));
    let outside = file(&app, &gw2, &other).await["number"].as_str().unwrap().to_string();

    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get("/api/v1/exports/tickets.csv", Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("tickets.csv"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with a byte-order mark");
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    let table = rows(&body);
    assert_eq!(
        table[0],
        ["编号", "登记时间", "诉求类别", "紧急程度", "标题", "状态", "当前时限", "是否超时", "重办次数", "居民姓名", "联系电话"]
    );
    let listed: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    let mut expected: Vec<&str> = numbers.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected, "the list's order, newest first, and only the caller's scope");
    assert!(!body.contains(&outside));
    assert!(!body.contains("13712345678"), "phones are masked");
    assert_eq!(table[1][9..], ["居民r1".to_string(), "137****5678".to_string()]);
    assert!(body.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "a formula is disarmed and quoted: {body}");
    assert_eq!(table[1][2..4], ["噪音扰民".to_string(), "一般".to_string()]);
    assert_eq!(table[1][5], "待小区处理");

    // The list's filters apply; English headers for an English caller.
    let r = app
        .client
        .get(app.url("/api/v1/exports/tickets.csv?q=%E5%A0%86%E7%89%A9"))
        .bearer_auth(&sup)
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    let table = rows(&r.text().await.unwrap());
    assert_eq!(table.len(), 2);
    assert_eq!(
        (table[0][0].as_str(), table[1][0].as_str(), table[1][5].as_str()),
        ("Number", numbers[2].as_str(), "Waiting for the compound")
    );

    // The other district's supervisor gets his own tickets only; a bad filter is refused as JSON.
    let sup2 = app.login("sup2", PASSWORD).await;
    let theirs = app.get("/api/v1/exports/tickets.csv", Some(&sup2)).await.text().await.unwrap();
    assert_eq!(rows(&theirs)[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(), vec![outside]);
    let r = app.get("/api/v1/exports/tickets.csv?state=nowhere", Some(&sup)).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(app.get("/api/v1/exports/tickets.csv", None).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_ledger_longer_than_a_page_streams_every_row_once() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let n = gridloop::app::exports::EXPORT_PAGE as usize + 5;
    for i in 0..n {
        let mut body = new_ticket(&fx);
        body["title"] = json!(format!("诉求{i}"));
        file(&app, &gw, &body).await;
    }
    let bs = app.login("bs1", PASSWORD).await;
    let body = app.get("/api/v1/exports/tickets.csv", Some(&bs)).await.text().await.unwrap();
    let table = rows(&body);
    assert_eq!(table.len(), n + 1, "header and every ticket");
    let mut seen: Vec<&String> = table[1..].iter().map(|r| &r[0]).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "no ticket twice across pages");
    assert_eq!(body.matches('\u{feff}').count(), 1, "one BOM, at the start");
}

#[tokio::test]
async fn phones_are_revealed_only_to_those_who_may_and_each_reveal_is_recorded() {
    use diesel::prelude::*;
    use gridloop::db::schema::pii_reveals;

    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    for _ in 0..2 {
        file(&app, &gw, &new_ticket(&fx)).await;
    }
    let body = app.get("/api/v1/exports/tickets.csv?reveal=true", Some(&gw)).await.text().await.unwrap();
    let table = rows(&body);
    assert_eq!(table.len(), 3);
    assert!(table[1..].iter().all(|r| r[10] == "13712345678"), "{body}");
    let recorded: Vec<(String, String, String)> = pii_reveals::table
        .filter(pii_reveals::fields.eq("resident_phone_export"))
        .select((pii_reveals::person_id, pii_reveals::role, pii_reveals::record_kind))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(recorded.len(), 2, "one reveal per ticket shown in clear");
    assert!(recorded.iter().all(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()) == (fx.person("gw1"), "grid_worker", "ticket")));
    // Without reveal=true: masked and nothing recorded; a supervisor may not reveal at all.
    let masked = app.get("/api/v1/exports/tickets.csv", Some(&gw)).await.text().await.unwrap();
    assert!(!masked.contains("13712345678"));
    let sup = app.login("sup1", PASSWORD).await;
    assert_error(app.get("/api/v1/exports/tickets.csv?reveal=true", Some(&sup)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let total: i64 =
        pii_reveals::table.filter(pii_reveals::fields.eq("resident_phone_export")).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(total, 2);
}
