//! `/metrics` (#22): OpenMetrics text that a real parser (the Prometheus project's Python client)
//! reads; behind its token on the service's address, open on a listener of its own, off when
//! neither is set; routes by pattern, never with an id or a resident's data in a label.

use std::sync::Arc;

use diesel::prelude::*;
use gridloop::db::schema::sla_clocks;
use gridloop::worker::Task;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fixture::{spawn_fixture_configured, PASSWORD};
use crate::helpers::{assert_error, calendars, client, TestApp};
use crate::tickets::{file, new_ticket};

const TOKEN: &str = "scrape-me-0123456789abcdefghij";

/// The families the Prometheus client's OpenMetrics parser reads from `text`: name, type and
/// samples (name, labels, value). `None` (with a note) where python3 or prometheus_client is
/// missing, unless GRIDLOOP_REQUIRE_PROMETHEUS_CLIENT=1.
fn parse(text: &str) -> Option<Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out, ensure_ascii=False))
"#;
    let available =
        std::process::Command::new("python3").args(["-c", "import prometheus_client"]).output().is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("GRIDLOOP_REQUIRE_PROMETHEUS_CLIENT").as_deref() != Ok("1"),
            "python3 with prometheus_client is required (GRIDLOOP_REQUIRE_PROMETHEUS_CLIENT=1): pip install prometheus_client"
        );
        eprintln!("note: python3 or prometheus_client missing (pip install prometheus_client): the metrics are not parsed");
        return None;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the OpenMetrics parser refused the text: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn family<'a>(families: &'a Value, name: &str) -> &'a Value {
    families.as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no family {name}"))
}

/// The value of the family's sample `sample` whose labels include `labels`.
fn sample(families: &Value, fam: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    family(families, fam)["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == sample && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

/// The value of one series in this process's metrics text (0 when it has no sample yet).
pub fn value(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url("/metrics"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn metrics_are_scraped_with_the_token_or_on_their_own_listener_and_parse_as_openmetrics() {
    let (app, fx) = spawn_fixture_configured(|s| {
        s.metrics.token = TOKEN.into();
        s.metrics.bind = "127.0.0.1:0".into();
    })
    .await;
    // Without the token, or with another, nothing: the error says so in the user's language.
    let e = assert_error(scrape(&app, None).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert!(e["message"].as_str().unwrap().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{e}");
    assert_error(scrape(&app, Some("scrape-me-0123456789abcdefghiX")).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Some work: a filing (through the intake), two reads of it, a missing route.
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await;
    }
    assert_eq!(app.get("/api/v1/no-such-thing", Some(&gw)).await.status(), StatusCode::NOT_FOUND);
    // The clock scheduler, a month on: the triage clock fires (warning, breach).
    let now = gridloop::app::utc_now() + chrono::Duration::days(30);
    let mut tick = gridloop::worker::tasks::SlaTick {
        settings: Arc::new(app.settings.clone()),
        calendars: calendars(&app.settings),
        who: "metrics-test".into(),
    };
    tick.run_once(&mut app.conn(), now).unwrap();
    // One clock made due now, so that the backlog gauge has something to count.
    let due = gridloop::app::utc_now() - chrono::Duration::minutes(1);
    diesel::update(sla_clocks::table.filter(sla_clocks::ticket_id.eq(&id)))
        .set(sla_clocks::next_fire_at.eq(Some(due)))
        .execute(&mut app.conn())
        .unwrap();
    let due_in_db =
        sla_clocks::table.filter(sla_clocks::next_fire_at.le(gridloop::app::utc_now())).count().get_result::<i64>(&mut app.conn()).unwrap();

    let r = scrape(&app, Some(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"));
    // Labels carry route patterns: no ticket id, no phone, no name anywhere.
    for secret in [id.as_str(), "13712345678", "居民r1"] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
    let Some(m) = parse(&text) else { return };
    let route = [("method", "GET"), ("route", "/api/v1/tickets/{id}"), ("status", "200")];
    assert!(sample(&m, "gridloop_http_requests", "gridloop_http_requests_total", &route).unwrap() >= 2.0);
    assert!(
        sample(&m, "gridloop_http_requests", "gridloop_http_requests_total", &[("route", "unmatched"), ("status", "404")]).unwrap() >= 1.0
    );
    let latency = [("method", "GET"), ("route", "/api/v1/tickets/{id}")];
    assert_eq!(family(&m, "gridloop_http_request_duration_seconds")["type"], "histogram");
    assert!(sample(&m, "gridloop_http_request_duration_seconds", "gridloop_http_request_duration_seconds_count", &latency).unwrap() >= 2.0);
    let inf = [("method", "GET"), ("route", "/api/v1/tickets/{id}"), ("le", "+Inf")];
    assert!(sample(&m, "gridloop_http_request_duration_seconds", "gridloop_http_request_duration_seconds_bucket", &inf).unwrap() >= 2.0);
    assert!(sample(&m, "gridloop_intake_batch_size", "gridloop_intake_batch_size_count", &[]).unwrap() >= 1.0);
    assert!(sample(&m, "gridloop_db_pool_wait_seconds", "gridloop_db_pool_wait_seconds_count", &[]).unwrap() >= 1.0);
    assert!(sample(&m, "gridloop_sla_clocks_fired", "gridloop_sla_clocks_fired_total", &[("kind", "breach")]).unwrap() >= 1.0);
    assert_eq!(sample(&m, "gridloop_sla_clocks_due", "gridloop_sla_clocks_due", &[]), Some(due_in_db as f64));
    assert!(due_in_db >= 1);
    assert_eq!(sample(&m, "gridloop_db_up", "gridloop_db_up", &[]), Some(1.0));
    assert!(sample(&m, "gridloop_db_pool_connections", "gridloop_db_pool_connections", &[]).unwrap() >= 1.0);
    assert_eq!(sample(&m, "gridloop_notification_deliveries_waiting", "gridloop_notification_deliveries_waiting", &[]), Some(0.0));
    // The provisional calendar years are the ones /healthz warns about, one sample each.
    let health: Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    let warned: Vec<(String, String)> = health["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["calendar"].as_str().unwrap().to_string(), w["year"].to_string()))
        .collect();
    let years = family(&m, "gridloop_calendar_provisional_year")["samples"].as_array().unwrap().clone();
    assert_eq!(years.len(), warned.len(), "{years:?} vs {warned:?}");
    for (cal, year) in &warned {
        assert_eq!(
            sample(&m, "gridloop_calendar_provisional_year", "gridloop_calendar_provisional_year", &[("calendar", cal), ("year", year)]),
            Some(1.0)
        );
    }

    // The listener of its own answers without a token, and nothing else.
    let port = app.metrics_port.expect("metrics.bind is set");
    let own = |path: &str| client().get(format!("http://127.0.0.1:{port}{path}")).send();
    let r = own("/metrics").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("gridloop_http_requests_total"));
    for path in ["/api/v1/tickets", "/", "/healthz", "/login"] {
        assert_eq!(own(path).await.unwrap().status(), StatusCode::NOT_FOUND, "{path} on the metrics listener");
    }
}

#[tokio::test]
async fn without_a_token_or_a_listener_there_are_no_metrics() {
    let app = TestApp::spawn().await;
    assert_error(scrape(&app, Some(TOKEN)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.metrics_port, None);
}
