//! The monthly bulletin (通报) over HTTP: on the crafted October of `reports.rs` plus property
//! tickets (this October, September, and the October a year before), the page shows the API
//! ranking's numbers, a twelve-month trend equal to `unit_totals` month by month, the volume by
//! category of the crafted tickets, the overdue count per unit and the property complaints year
//! on year; roles that do not rank are refused; a hostile unit name is escaped in the SVG; the
//! workbook is read back with openpyxl.

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::catalogue::{insert_category, NewCategory, Urgency};
use gridloop::app::reports::{self, RankingQuery, ReportContext};
use gridloop::db::schema::{org_units, tickets};
use gridloop::domain::workflow::TicketState;

use crate::fixture::PASSWORD;
use crate::helpers::{assert_error, calendars, TestApp};
use crate::pages::PageClient;
use crate::report_pages::{read_xlsx, row_of, unescape, values};
use crate::reports::{cn, crafted_world, ticket, World};

/// A China wall time in October 2025 as the stored UTC instant.
fn cn_2025(month: u32, day: u32, hour: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, month, day).unwrap().and_hms_opt(hour, 0, 0).unwrap() - Duration::hours(8)
}

/// The crafted October with a property-service category and its tickets: Y1 three in October
/// 2026 and one in October 2025, Y3 one in September 2026 (the noise tickets R-T1…R-T4 are in
/// October, R-T5 in September).
async fn bulletin_world() -> (TestApp, World) {
    let (app, w) = crafted_world().await;
    let mut conn = app.conn();
    let now = gridloop::app::utc_now();
    let property = insert_category(
        &mut conn,
        &NewCategory {
            code: "property_service".into(),
            name_zh: "物业服务".into(),
            name_en: "Property service".into(),
            default_department_id: None,
            urgencies: vec![Urgency::Normal],
        },
        now,
    )
    .unwrap()
    .id
    .to_string();
    for (number, compound, at) in [
        ("P-1", "Y1", cn(10, 3, 9)),
        ("P-2", "Y1", cn(10, 15, 9)),
        ("P-3", "Y1", cn(10, 31, 23)),
        ("P-4", "Y1", cn_2025(10, 20, 9)),
        ("P-5", "Y3", cn(9, 1, 0)),
        // 1 November 00:00 China time: the next month, not October.
        ("P-6", "Y1", cn(11, 1, 0)),
    ] {
        let id = ticket(&mut conn, &w, number, compound, at, TicketState::CompoundHandling);
        diesel::update(tickets::table.filter(tickets::id.eq(&id))).set(tickets::category_id.eq(&property)).execute(&mut conn).unwrap();
    }
    (app, w)
}

/// The rows of a data table of the page (`id`): each row's heading and its cells, as text.
fn table(html: &str, id: &str) -> Vec<(String, Vec<String>)> {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no table {id}"));
    let body = &html[at..];
    let body = &body[body.find("<tbody>").unwrap() + 7..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let head = row.split("<th scope=\"row\">").nth(1).unwrap().split("</th>").next().unwrap();
            let cells = row.split("<td>").skip(1).map(|c| unescape(c.split("</td>").next().unwrap())).collect();
            (unescape(head), cells)
        })
        .collect()
}

/// The headers of a data table of the page.
fn headers(html: &str, id: &str) -> Vec<String> {
    let at = html.find(&format!("id=\"{id}\"")).unwrap();
    let head = &html[at..];
    let head = &head[..head.find("</thead>").unwrap()];
    head.split("<th scope=\"col\">").skip(1).map(|h| unescape(h.split("</th>").next().unwrap())).collect()
}

fn ratio_text(f: &Value) -> String {
    let (n, d) = (f["numerator"].as_i64().unwrap(), f["denominator"].as_i64().unwrap());
    match f["rate"].as_f64() {
        Some(r) => format!("{n}/{d} ({:.2}%)", r * 100.0),
        None => format!("{n}/{d} (—)"),
    }
}

/// The SVG of a chart on the page.
fn svg<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    &html[at..at + html[at..].find("</svg>").unwrap() + 6]
}

#[tokio::test]
async fn the_bulletin_shows_the_rankings_numbers_the_trend_the_volume_and_property_year_on_year() {
    let (app, w) = bulletin_world().await;
    let c = PageClient::login(&app, "sup1").await;
    let (s, html) = c.get(&format!("/rankings/bulletin?unit={}&period=2026-10", w.unit("K1"))).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>测试K1 2026-10 通报</h1>"), "the title names the unit and the period");
    assert!(
        html.contains(&format!("href=\"/api/v1/exports/bulletin.xlsx?unit={}&amp;period=2026-10\"", w.unit("K1")))
            || html.contains(&format!("href=\"/api/v1/exports/bulletin.xlsx?unit={}&#38;period=2026-10\"", w.unit("K1"))),
        "the Excel button"
    );
    assert!(html.contains("下载 Excel"));

    // The ranking's numbers are the API's, row by row; the lists too.
    let sup = app.login("sup1", PASSWORD).await;
    let api = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-10", w.unit("K1")), &sup).await;
    let units: Vec<&Value> = api["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()).collect();
    assert_eq!(units.len(), 3);
    for u in &units {
        let row = row_of(&html, u["unit_name"].as_str().unwrap());
        for m in ["response", "resolution", "satisfaction", "on_time"] {
            assert!(row.contains(&format!(">{}</a>", ratio_text(&u[m]))), "{m} of {}: {row}", u["unit_name"]);
        }
        let rank = u["rank"].as_u64().map(|r| r.to_string()).unwrap_or("—".into());
        let score = u["score"].as_f64().map(|s| format!("{s:.2}")).unwrap_or("—".into());
        assert!(row.contains(&format!("<td>{rank}</td><td>{score}</td>")), "{row}");
        assert!(row.contains(&format!(">{}</a><small", u["overdue"]["numerator"])), "{row}");
    }
    let lists = &html[html.find("id=\"lists\"").unwrap()..];
    assert!(lists.contains("红榜（小区）</b>：测试Y3") && lists.contains("黄榜（小区）</b>：测试Y1"), "{lists}");

    // Overdue by unit: the ranking's overdue counts, one bar per unit with any.
    let overdue = table(&html, "chart-overdue-data");
    let expected: Vec<(String, Vec<String>)> =
        units.iter().map(|u| (u["unit_name"].as_str().unwrap().to_string(), vec![u["overdue"]["numerator"].to_string()])).collect();
    assert_eq!(overdue, expected);
    let bars = units.iter().filter(|u| u["overdue"]["numerator"].as_i64().unwrap() > 0).count();
    let chart = svg(&html, "chart-overdue");
    assert!(bars > 0 && chart.matches("<rect class=\"bar\"").count() == bars, "{chart}");
    assert!(chart.contains("role=\"img\"") && chart.contains("<title>下级单位超期件数</title>"));
    for u in &units {
        assert!(chart.contains(&format!(">{}</text>", u["unit_name"].as_str().unwrap())), "every unit labelled, zero or not");
    }

    // The trend: twelve months ending with October, each the unit's totals of that month.
    let trend = table(&html, "chart-trend-data");
    assert_eq!(trend.len(), 12);
    assert_eq!(trend[0].0, "2025-11");
    assert_eq!(trend[11].0, "2026-10");
    let mut conn = app.conn();
    let actor = crate::fixture::actor(&mut conn, &w.fx, "sup1");
    let cals = calendars(&app.settings);
    let ctx = ReportContext { settings: &app.settings.reports, tz: chrono_tz::Asia::Shanghai, calendars: &cals };
    let now = gridloop::app::utc_now();
    let direct =
        reports::trend::trend(&mut conn, ctx, &actor, Some(w.unit("K1")), NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), now).unwrap();
    assert_eq!(direct.len(), 12);
    for ((month, cells), d) in trend.iter().zip(&direct) {
        let q = RankingQuery { unit: Some(w.unit("K1")), period: Some(month.clone()), ..Default::default() };
        let (_, totals) = reports::unit_totals(&mut conn, ctx, &actor, q, now).unwrap();
        let t = serde_json::to_value(&totals).unwrap();
        assert_eq!(cells, &vec![ratio_text(&t["response"]), ratio_text(&t["resolution"]), ratio_text(&t["satisfaction"])], "{month}");
        assert_eq!(
            (d.month.as_str(), d.line.response.numerator, d.line.response.denominator),
            (month.as_str(), totals.response.numerator, totals.response.denominator)
        );
        assert_eq!(
            (d.line.resolution.numerator, d.line.satisfaction.denominator),
            (totals.resolution.numerator, totals.satisfaction.denominator)
        );
    }
    // October has figures (the crafted month); the line chart draws the three rates.
    assert_ne!(trend[11].1[0], "0/0 (—)");
    assert_eq!(svg(&html, "chart-trend").matches("<path class=\"series\"").count(), 3);

    // Volume by category: the crafted tickets, per month.
    assert_eq!(headers(&html, "chart-volume-data"), vec!["月份", "噪音扰民", "物业服务", "合计"]);
    let volume = table(&html, "chart-volume-data");
    assert_eq!(volume.len(), 12);
    let month = |m: &str| volume.iter().find(|(x, _)| x == m).unwrap().1.clone();
    assert_eq!(month("2026-10"), vec!["4", "3", "7"], "R-T1…R-T4 and P-1…P-3 (P-6 is November in China)");
    assert_eq!(month("2026-09"), vec!["1", "1", "2"], "R-T5 at 23:00 on 30 September China time; P-5");
    assert_eq!(month("2026-08"), vec!["0", "0", "0"]);
    assert!(volume.iter().all(|(m, _)| m != "2025-10"), "a year before is not on the chart");
    assert_eq!(svg(&html, "chart-volume").matches("<rect class=\"bar\"").count(), 4, "two segments in each of two months");

    // Property-service complaints per compound, year on year.
    let property = table(&html, "table-property");
    assert_eq!(
        property,
        vec![
            ("测试Y1".to_string(), vec!["3".to_string(), "1".to_string(), "+200.0%".to_string()]),
            ("测试Y3".to_string(), vec!["0".to_string(), "0".to_string(), "—".to_string()]),
            ("测试Y4".to_string(), vec!["0".to_string(), "0".to_string(), "—".to_string()]),
        ]
    );
    assert_eq!(headers(&html, "table-property"), vec!["小区", "本期（2026-10）", "去年同期（2025-10）", "同比"]);
    // Compliance per compound: the community's grid workers' logs.
    assert!(html.contains("id=\"chart-compliance\""), "the compliance chart");

    // From the ranking page, a link to the bulletin of the same unit and period.
    let (_, rankings) = c.get(&format!("/rankings?unit={}&period=2026-10", w.unit("K1"))).await;
    assert!(unescape(&rankings).contains(&format!("href=\"/rankings/bulletin?unit={}&period=2026-10\"", w.unit("K1"))));
}

#[tokio::test]
async fn the_bulletin_refuses_roles_that_do_not_rank_and_units_out_of_scope_and_escapes_names() {
    let (app, w) = bulletin_world().await;
    for login in ["bs1", "gw1"] {
        let p = PageClient::login(&app, login).await;
        let (s, html) = p.get("/rankings/bulletin").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{login}: {html}");
        let token = app.login(login, PASSWORD).await;
        assert_error(app.get("/api/v1/exports/bulletin.xlsx", Some(&token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Out of scope: as /rankings answers it (422 on the page, unknown_reference in the API).
    let sup2 = PageClient::login(&app, "sup2").await;
    let q = format!("unit={}&period=2026-10", w.unit("K1"));
    let (s, html) = sup2.get(&format!("/rankings/bulletin?{q}")).await;
    let (s2, _) = sup2.get(&format!("/rankings?{q}")).await;
    assert_eq!((s, s2), (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::UNPROCESSABLE_ENTITY));
    assert!(html.contains("flash error") && html.contains("您的管辖范围内没有这个单位") && !html.contains("测试Y1"), "{html}");
    let token = app.login("sup2", PASSWORD).await;
    assert_error(
        app.get(&format!("/api/v1/exports/bulletin.xlsx?{q}"), Some(&token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_reference",
    )
    .await;
    let (s, _) = sup2.get(&format!("/rankings/bulletin?unit={}&period=2026-13", w.unit("K2"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Community staff: their community by default. A hostile compound name is escaped everywhere.
    let mut conn = app.conn();
    let hostile = "<script>alert(1)</script>\"'&";
    diesel::update(org_units::table.filter(org_units::id.eq(w.unit("Y4")))).set(org_units::name.eq(hostile)).execute(&mut conn).unwrap();
    let cs = PageClient::login(&app, "cs1").await;
    let (s, html) = cs.get("/rankings/bulletin?period=2026-10").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>测试K1 2026-10 通报</h1>"));
    assert!(!html.contains("<script>alert(1)"), "never raw");
    let chart = svg(&html, "chart-overdue");
    assert!(chart.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;</text>"), "{chart}");
}

#[tokio::test]
async fn the_bulletin_workbook_has_a_sheet_per_table_with_headers_and_values() {
    let (app, w) = bulletin_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get(&format!("/api/v1/exports/bulletin.xlsx?unit={}&period=2026-10", w.unit("K1")), Some(&sup)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("bulletin.xlsx"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");
    let api = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-10", w.unit("K1")), &sup).await;
    let Some(book) = read_xlsx(&bytes) else { return };
    let sheets = book.as_array().unwrap();
    let names: Vec<&str> = sheets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["排名", "三率走势", "分类受理量", "超期件数", "物业服务同比", "日志填报率"]);
    for s in sheets {
        assert_eq!(s["freeze"], "B3", "{}", s["name"]);
        let title = s["rows"][0][0]["v"].as_str().unwrap();
        assert!(title.starts_with("测试K1 · 通报 · 统计期 2026-10"), "{title}");
    }
    let rows = |name: &str| sheets.iter().find(|s| s["name"] == name).unwrap()["rows"].as_array().unwrap().clone();

    let ranking = rows("排名");
    assert_eq!(
        values(&ranking[1]),
        ["类别", "单位", "名次", "得分", "响应率", "解决率", "满意率", "受理量", "超期", "榜单"].map(|h| json!(h)).to_vec()
    );
    let units: Vec<&Value> = api["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()).collect();
    assert_eq!(ranking.len(), 2 + units.len());
    for (row, u) in ranking[2..].iter().zip(&units) {
        let v = values(row);
        assert_eq!(v[0], "小区");
        assert_eq!(v[1], u["unit_name"]);
        match u["rank"].as_u64() {
            Some(rank) => assert_eq!(v[2].as_f64(), Some(rank as f64)),
            None => assert_eq!(v[2], "—"),
        }
        match u["response"]["rate"].as_f64() {
            Some(rate) => {
                assert!((v[4].as_f64().unwrap() - rate).abs() < 1e-9);
                assert_eq!(row[4]["fmt"], "0.00%");
            }
            None => assert_eq!(v[4], "—"),
        }
        assert_eq!(v[7].as_f64(), u["volume"]["count"].as_f64());
        assert_eq!(v[8].as_f64(), u["overdue"]["numerator"].as_f64());
    }

    let trend = rows("三率走势");
    assert_eq!(values(&trend[1])[0], "月份");
    assert_eq!(trend.len(), 2 + 12);
    assert_eq!(values(&trend[13])[0], "2026-10");

    let volume = rows("分类受理量");
    assert_eq!(values(&volume[1]), vec![json!("月份"), json!("噪音扰民"), json!("物业服务"), json!("合计")]);
    let oct = volume.iter().find(|r| values(r)[0] == "2026-10").unwrap();
    assert_eq!(values(oct)[1..].iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(), vec![4.0, 3.0, 7.0]);

    let overdue = rows("超期件数");
    assert_eq!(values(&overdue[1]), vec![json!("单位"), json!("超期件数")]);
    for (row, u) in overdue[2..].iter().zip(&units) {
        let v = values(row);
        assert_eq!((&v[0], v[1].as_f64()), (&u["unit_name"], u["overdue"]["numerator"].as_f64()));
    }

    let property = rows("物业服务同比");
    assert_eq!(values(&property[1]), vec![json!("小区"), json!("本期（2026-10）"), json!("去年同期（2025-10）"), json!("同比")]);
    let y1 = values(&property[2]);
    assert_eq!((&y1[0], y1[1].as_f64(), y1[2].as_f64()), (&json!("测试Y1"), Some(3.0), Some(1.0)));
    assert!((values(&property[2])[3].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(property[2][3]["fmt"], "0.00%");
}
