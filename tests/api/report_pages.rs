//! The supervisor's ranking pages (三率排名) over HTTP and the ledgers as XLSX: the page shows the
//! figures of the crafted October worked out in `reports.rs`, the red and yellow lists, and every
//! figure links to a page listing exactly the tickets of its numerator; the workbooks are read back
//! with Python's openpyxl (types, formats, headers, frozen panes, masked phones).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::pages::PageClient;
use crate::reports::crafted_world;
use crate::tickets::{file, new_ticket};

/// Undoes askama's escaping of an attribute or a text.
pub(crate) fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
}

/// Every `href` in a page that starts with `prefix`, unescaped, in order.
fn links(html: &str, prefix: &str) -> Vec<String> {
    html.split("href=\"").skip(1).map(|rest| unescape(rest.split('"').next().unwrap())).filter(|h| h.starts_with(prefix)).collect()
}

/// The HTML of the ranking table's row of a unit.
pub(crate) fn row_of<'a>(html: &'a str, unit_name: &str) -> &'a str {
    let at = html.find(&format!(">{unit_name}</a></th>")).unwrap_or_else(|| panic!("no row for {unit_name}"));
    let end = html[at..].find("</tr>").unwrap() + at;
    &html[at..end]
}

/// The ticket numbers a drill-down page marks as counted (in the numerator).
fn counted_on_page(html: &str) -> BTreeSet<String> {
    html.split("<tr class=\"counted\">")
        .skip(1)
        .map(|row| {
            let cell = row.split("</th>").next().unwrap();
            // The number, with or without its link.
            let text: String = cell.split('>').filter_map(|p| p.split('<').next()).collect();
            text.trim().to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_ranking_page_shows_the_hand_worked_figures_and_every_figure_opens_its_tickets() {
    let (app, w) = crafted_world().await;
    let c = PageClient::login(&app, "sup1").await;
    let (s, html) = c.get(&format!("/rankings?unit={}&period=2026-10", w.unit("K1"))).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("href=\"/rankings\" aria-current=\"page\""), "a tab of the supervisor's");
    // The period and when it was computed.
    assert!(html.contains("2026-10（2026-10-01 至 2026-10-31）") && html.contains("计算于"), "{html}");

    // Y1 (worked out in reports.rs): 2/3 on each rate, all three below 70 %, rank 2 of 2 ranked.
    let y1 = row_of(&html, "测试Y1");
    assert_eq!(y1.matches(">2/3 (66.67%)</a> <span class=\"flag\">⚠ 偏低</span>").count(), 3, "{y1}");
    assert!(y1.contains("<td>2</td><td>66.67</td>"), "rank and score: {y1}");
    assert!(y1.contains(">4/6 (66.67%)</a>"), "on time: {y1}");
    assert!(y1.contains(">2</a><small class=\"block\">51.0 小时 · 工作时间 11.5 小时</small>"), "overdue, count and hours: {y1}");
    assert!(y1.contains(">0/0 (—)</a>") && y1.contains(">1/3 (33.33%)</a>"), "returns none, one reopen of three: {y1}");
    assert!(y1.contains("黄榜"), "{y1}");
    let y3 = row_of(&html, "测试Y3");
    assert!(y3.contains("<td>1</td><td>100.00</td>") && y3.contains(">1/1 (100.00%)</a>") && !y3.contains("偏低"), "{y3}");
    assert!(y3.contains("红榜"), "{y3}");
    // Y4 had nothing: listed, not ranked.
    let y4 = row_of(&html, "测试Y4");
    assert!(y4.contains("<td>—</td><td>—</td>") && y4.contains(">0/0 (—)</a>"), "{y4}");

    // The red and yellow lists come before the tables (reports.list_size = 1 here).
    let lists = &html[html.find("id=\"lists\"").unwrap()..html.find("<table").unwrap()];
    let red = &lists[lists.find("redlist").unwrap()..lists.find("yellowlist").unwrap()];
    assert!(red.contains("红榜（小区）") && red.contains(">测试Y3</a>") && !red.contains("测试Y1"), "{red}");
    let yellow = &lists[lists.find("yellowlist").unwrap()..];
    assert!(yellow.contains("黄榜（小区）") && yellow.contains(">测试Y1</a>") && !yellow.contains("测试Y3"), "{yellow}");

    // A unit's name ranks its own children; the export carries the unit and the period.
    assert!(links(&html, "/rankings?unit=").contains(&format!("/rankings?unit={}&period=2026-10", w.unit("Y1"))));
    assert_eq!(
        links(&html, "/api/v1/exports/rankings.xlsx"),
        vec![format!("/api/v1/exports/rankings.xlsx?unit={}&period=2026-10", w.unit("K1"))]
    );

    // Every figure is a link (10 per unit, 3 units), and its page lists exactly the numerator's
    // tickets, as the API's drill-down names them.
    let sup = app.login("sup1", PASSWORD).await;
    let figures = links(&html, "/rankings/tickets?");
    assert_eq!(figures.len(), 30, "{figures:?}");
    for link in &figures {
        let (s, page) = c.get(link).await;
        assert_eq!(s, StatusCode::OK, "{link}: {page}");
        let api = app.get_ok(&format!("/api/v1{link}"), &sup).await;
        let expected: BTreeSet<String> = api["tickets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(counted_on_page(&page), expected, "{link}");
        assert_eq!(page.matches("<tr class=").count(), api["items"].as_array().unwrap().len(), "{link}: every item listed");
    }
    // Y1's response: R-T1 and R-T3 counted, R-T2 listed as late; each ticket opens (the supervisor may).
    let response = figures.iter().find(|l| l.contains(&w.unit("Y1")) && l.ends_with("measure=response")).unwrap();
    let (_, page) = c.get(response).await;
    assert_eq!(counted_on_page(&page), BTreeSet::from(["R-T1".to_string(), "R-T3".to_string()]));
    assert!(page.contains("<tr class=\"uncounted\">") && page.contains(">R-T2</a>") && page.contains("✘ 否"), "{page}");
    assert_eq!(links(&page, "/tickets/").len(), 3, "{page}");
    assert!(page.contains("测试Y1 · 响应率 · 统计期 2026-10：计入 2，共 3"), "{page}");

    // The oversight desk links to the rankings.
    let (_, desk) = c.get("/oversight").await;
    assert!(desk.contains("href=\"/rankings\""), "the oversight page's place for the rankings");
}

#[tokio::test]
async fn ranking_pages_refuse_the_roles_that_do_not_rank_and_answer_a_bad_period_on_the_form() {
    let (app, w) = crafted_world().await;
    let gw = PageClient::login(&app, "gw1").await;
    let (s, html) = gw.get("/rankings").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
    let (s, _) = gw.get("/rankings/tickets?period=2026-10&measure=response").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A unit named: out of his scope, answered as an unknown unit (as the API does).
    let (s, _) = gw.get(&format!("/rankings/tickets?unit={}&period=2026-10&measure=response", w.unit("Y1"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, search) = gw.get("/search").await;
    assert!(!search.contains("href=\"/rankings\""), "no ranking tab for a grid worker");

    let c = PageClient::login(&app, "sup1").await;
    let (s, html) = c.get(&format!("/rankings?unit={}&period=2026-13", w.unit("K1"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("flash error") && html.contains("“2026-13”不是统计期"), "the catalogue's message: {html}");
    assert!(html.contains("value=\"2026-13\"") && html.contains(&format!("value=\"{}\"", w.unit("K1"))), "the form is kept: {html}");
    for (query, words) in [
        ("from=2026-10-31&to=2026-10-01", "rule-not_after"),
        ("from=2026-10-xx&to=2026-10-31", "rule-date"),
        ("from=2026-10-01", "起止日期须同时给出"),
        (&format!("unit={}&period=2026-10", gridloop::domain::Id::new()) as &str, "您的管辖范围内没有这个单位"),
    ] {
        let (s, html) = c.get(&format!("/rankings?{query}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let expected =
            if words.starts_with("rule-") { gridloop::i18n::text(gridloop::i18n::Lang::Zh, words_key(words)) } else { words.into() };
        let shown = unescape(&html);
        assert!(shown.contains("flash error"), "{query}: {shown}");
        assert!(shown.contains(expected.split('{').next().unwrap().trim()), "{query}: {expected} in {shown}");
    }
    // The form sends the period and the dates together: typed dates win.
    let (s, html) = c.get(&format!("/rankings?unit={}&period=2026-09&from=2026-10-01&to=2026-10-31", w.unit("K1"))).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("2026-10-01..2026-10-31") && row_of(&html, "测试Y1").contains(">2/3 (66.67%)</a>"), "{html}");
    // A blank form is the default: last month at the supervisor's district.
    let (s, html) = c.get("/rankings?period=&from=&to=").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let (s, _) = c.get(&format!("/rankings/tickets?unit={}&period=2026-10&measure=popularity", w.unit("Y1"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Community staff rank their community's compounds by default.
    let cs = PageClient::login(&app, "cs1").await;
    let (s, html) = cs.get("/rankings?period=2026-10").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("测试Y1") && html.contains("href=\"/rankings\""), "{html}");
}

/// The catalogue key named in the table above.
fn words_key(k: &str) -> &'static str {
    match k {
        "rule-not_after" => "rule-not_after",
        _ => "rule-date",
    }
}

/// Reads a workbook back with openpyxl: per sheet its name, frozen pane, merged ranges, column
/// widths and every cell's value, type, number format and whether it is a date. `None` (with a
/// note) where python3 or openpyxl is missing, unless GRIDLOOP_REQUIRE_OPENPYXL=1.
pub(crate) fn read_xlsx(bytes: &[u8]) -> Option<Value> {
    const SCRIPT: &str = r#"
import datetime, json, sys
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = []
for ws in wb.worksheets:
    rows = []
    for row in ws.iter_rows():
        cells = []
        for c in row:
            v = c.value
            if isinstance(v, (datetime.datetime, datetime.date)):
                v = v.isoformat()
            cells.append({"v": v, "t": getattr(c, "data_type", None), "fmt": c.number_format, "date": bool(getattr(c, "is_date", False))})
        rows.append(cells)
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    out.append({"name": ws.title, "freeze": ws.freeze_panes, "merged": [str(r) for r in ws.merged_cells.ranges], "widths": widths, "rows": rows})
print(json.dumps(out, ensure_ascii=False))
"#;
    let available = std::process::Command::new("python3").args(["-c", "import openpyxl"]).output().is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("GRIDLOOP_REQUIRE_OPENPYXL").as_deref() != Ok("1"),
            "python3 with openpyxl is required (GRIDLOOP_REQUIRE_OPENPYXL=1): pip install openpyxl"
        );
        eprintln!("note: python3 or openpyxl missing (pip install openpyxl): the workbook is not read back");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.xlsx");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("python3").arg("-c").arg(SCRIPT).arg(&path).output().unwrap();
    assert!(out.status.success(), "openpyxl: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

pub(crate) fn values(row: &Value) -> Vec<Value> {
    row.as_array().unwrap().iter().map(|c| c["v"].clone()).collect()
}

#[tokio::test]
async fn the_ticket_ledger_opens_in_a_spreadsheet_with_chinese_headers_dates_and_masked_phones() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    for title in ["楼下烧烤店夜间噪音", "=HYPERLINK(\"http://x\")", "楼道堆物"] {
        let mut body = new_ticket(&fx);
        body["title"] = json!(title);
        file(&app, &gw, &body).await;
    }
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get("/api/v1/exports/tickets.xlsx", Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("tickets.xlsx"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "a zip, as .xlsx is");
    let csv = app.get("/api/v1/exports/tickets.csv", Some(&sup)).await.text().await.unwrap();
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheets = book.as_array().unwrap();
    assert_eq!(sheets.len(), 1);
    let sheet = &sheets[0];
    assert_eq!(sheet["name"], "工单台账");
    assert_eq!(sheet["freeze"], "A3", "the title and header rows stay in view");
    assert_eq!(sheet["merged"], json!(["A1:K1"]));
    assert!(sheet["widths"]["E"].as_f64().unwrap() > 30.0, "the title column is wide: {}", sheet["widths"]);
    let rows = sheet["rows"].as_array().unwrap();
    let title = rows[0][0]["v"].as_str().unwrap();
    assert!(title.starts_with("工单台账 · ") && title.contains("全部工单"), "{title}");
    assert_eq!(
        values(&rows[1]),
        ["编号", "登记时间", "诉求类别", "紧急程度", "标题", "状态", "当前时限", "是否超时", "重办次数", "居民姓名", "联系电话"]
            .map(|h| json!(h))
            .to_vec()
    );
    assert_eq!(rows.len(), 5, "title, headers and three tickets");
    // The same rows as the CSV, in the same order (one row source).
    let csv_numbers: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let xlsx_numbers: Vec<&str> = rows[2..].iter().map(|r| r[0]["v"].as_str().unwrap()).collect();
    assert_eq!(xlsx_numbers, csv_numbers);
    for r in &rows[2..] {
        assert_eq!(r[0]["t"], "s");
        assert!(r[1]["date"].as_bool().unwrap(), "filed at is a date: {}", r[1]);
        assert_eq!(r[1]["fmt"], "yyyy-mm-dd hh:mm");
        assert!(r[6]["date"].as_bool().unwrap(), "the deadline is a date: {}", r[6]);
        assert_eq!((r[8]["t"].as_str(), r[8]["v"].as_f64()), (Some("n"), Some(0.0)), "reopens is a number");
        assert_eq!(r[10]["v"], "137****5678", "phones masked");
        assert_eq!(r[3]["v"], "一般");
    }
    // China time: the filing's local date is today's in Shanghai (give or take the midnight).
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive().to_string();
    assert!(rows[2][1]["v"].as_str().unwrap().starts_with(&today[..7]), "{}", rows[2][1]);
    // A title a resident typed stays a string, never a formula.
    let formula = rows[2..].iter().find(|r| r[4]["v"].as_str().is_some_and(|v| v.contains("HYPERLINK"))).unwrap();
    assert_eq!((formula[4]["t"].as_str(), formula[4]["v"].as_str()), (Some("s"), Some("=HYPERLINK(\"http://x\")")));

    // Filters and their words in the title; the grid worker's reveal in clear, recorded.
    let r = app.get("/api/v1/exports/tickets.xlsx?q=%E5%A0%86%E7%89%A9&reveal=true", Some(&gw)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let book = read_xlsx(&r.bytes().await.unwrap()).unwrap();
    let rows = book[0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let title = rows[0][0]["v"].as_str().unwrap();
    assert!(title.contains("关键词：堆物") && title.contains("电话明文"), "{title}");
    assert_eq!(rows[2][10]["v"], "13712345678");
    use diesel::prelude::*;
    let recorded: i64 = gridloop::db::schema::pii_reveals::table
        .filter(gridloop::db::schema::pii_reveals::fields.eq("resident_phone_export"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(recorded, 1, "the one ticket shown in clear");
    // Refused as the CSV is.
    crate::helpers::assert_error(app.get("/api/v1/exports/tickets.xlsx?reveal=true", Some(&sup)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    crate::helpers::assert_error(
        app.get("/api/v1/exports/tickets.xlsx?state=nowhere", Some(&sup)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    crate::helpers::assert_error(app.get("/api/v1/exports/tickets.xlsx", None).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // The unit searched within names the sheet; another district's supervisor gets neither its
    // tickets nor its name.
    let within = format!("/api/v1/exports/tickets.xlsx?within={}", fx.unit("Y1"));
    let book = read_xlsx(&app.get(&within, Some(&sup)).await.bytes().await.unwrap()).unwrap();
    assert!(book[0]["rows"][0][0]["v"].as_str().unwrap().contains("测试Y1"), "{}", book[0]["rows"][0][0]);
    assert_eq!(book[0]["rows"].as_array().unwrap().len(), 5);
    let sup2 = app.login("sup2", PASSWORD).await;
    let book = read_xlsx(&app.get(&within, Some(&sup2)).await.bytes().await.unwrap()).unwrap();
    assert!(!book[0]["rows"][0][0]["v"].as_str().unwrap().contains("测试Y1"), "{}", book[0]["rows"][0][0]);
    assert_eq!(book[0]["rows"].as_array().unwrap().len(), 2, "title and headers only");

    // The search page offers the ledger of its filters, and the page's session downloads it.
    let page = PageClient::login(&app, "bs1").await;
    let (_, html) = page.get("/search?q=%E5%A0%86%E7%89%A9&overdue=true").await;
    let downloads = links(&html, "/api/v1/exports/");
    assert_eq!(
        downloads,
        vec![
            "/api/v1/exports/tickets.csv?q=%E5%A0%86%E7%89%A9&overdue=true",
            "/api/v1/exports/tickets.xlsx?q=%E5%A0%86%E7%89%A9&overdue=true"
        ]
    );
    let r = page.http.get(format!("{}/api/v1/exports/tickets.xlsx?q=%E5%A0%86%E7%89%A9", page.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the session cookie downloads the ledger");
    let book = read_xlsx(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(book[0]["rows"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_ranking_workbook_has_a_sheet_per_peer_group_with_rates_as_percentages() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get(&format!("/api/v1/exports/rankings.xlsx?unit={}&period=2026-10", w.unit("K1")), Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("rankings.xlsx"));
    let bytes = r.bytes().await.unwrap();
    let gw = app.login("gw1", PASSWORD).await;
    crate::helpers::assert_error(app.get("/api/v1/exports/rankings.xlsx", Some(&gw)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let bad = app.get(&format!("/api/v1/exports/rankings.xlsx?unit={}&period=2026-13", w.unit("K1")), Some(&sup)).await;
    crate::helpers::assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheets = book.as_array().unwrap();
    assert_eq!(sheets.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(), vec![json!("小区")]);
    let sheet = &sheets[0];
    assert_eq!(sheet["freeze"], "B3");
    let rows = sheet["rows"].as_array().unwrap();
    let title = rows[0][0]["v"].as_str().unwrap();
    assert!(title.contains("三率排名") && title.contains("2026-10（2026-10-01 至 2026-10-31）"), "{title}");
    let headers = values(&rows[1]);
    assert_eq!(headers[..6], ["单位", "名次", "得分", "响应率分子", "响应率分母", "响应率"].map(|h| json!(h)));
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let y1 = rows.iter().find(|r| r[0]["v"] == "测试Y1").unwrap();
    assert_eq!((y1[1]["v"].as_f64(), y1[2]["v"].as_f64()), (Some(2.0), Some(66.67)));
    assert_eq!((y1[3]["t"].as_str(), y1[3]["v"].as_f64(), y1[4]["v"].as_f64()), (Some("n"), Some(2.0), Some(3.0)));
    assert_eq!((y1[5]["t"].as_str(), y1[5]["v"].as_f64(), y1[5]["fmt"].as_str()), (Some("n"), Some(0.6667), Some("0.00%")));
    assert_eq!(y1[col("重办率")]["v"].as_f64(), Some(0.3333));
    assert_eq!(y1[col("超期小时")]["v"].as_f64(), Some(51.0));
    assert_eq!(y1[col("超期工作小时")]["v"].as_f64(), Some(11.5));
    assert_eq!(y1[col("榜单")]["v"], "黄榜");
    assert_eq!(y1[col("低于阈值")]["v"], "响应率、解决率、满意率");
    let y4 = rows.iter().find(|r| r[0]["v"] == "测试Y4").unwrap();
    assert_eq!((y4[1]["v"].as_str(), y4[5]["v"].as_str()), (Some("—"), Some("—")), "not ranked, nothing to rate");
    let y3 = rows.iter().find(|r| r[0]["v"] == "测试Y3").unwrap();
    assert_eq!(y3[col("榜单")]["v"], "红榜");

    // The district by default: a sheet per peer group, in the API's order.
    let api = app.get_ok("/api/v1/rankings?period=2026-10", &sup).await;
    let r = app.get("/api/v1/exports/rankings.xlsx?period=2026-10", Some(&sup)).await;
    let book = read_xlsx(&r.bytes().await.unwrap()).unwrap();
    let kinds: Vec<Value> = api["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            json!(gridloop::i18n::text(
                gridloop::i18n::Lang::Zh,
                g["kind"].as_str().unwrap().parse::<gridloop::domain::OrgKind>().unwrap().label_key()
            ))
        })
        .collect();
    assert!(kinds.len() >= 2, "{api}");
    assert_eq!(book.as_array().unwrap().iter().map(|s| s["name"].clone()).collect::<Vec<_>>(), kinds);
}
