//! Open311 GeoReport v2 (decision 0032): each rule of the spec we follow, on both back ends, and a
//! real third-party client (PyPI `georeport`, with the schemas of tests/open311/schemas) listing
//! the services, posting a request and reading it back.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::{Fixture, PASSWORD};
use crate::helpers::TestApp;

async fn get(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let r = crate::helpers::client().get(app.url(path)).send().await.unwrap();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status(), ct, r.text().await.unwrap())
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let r = crate::helpers::client().post(app.url(path)).form(form).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn errors_of(body: &str, code: u16) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let e = &v.as_array().unwrap_or_else(|| panic!("errors are an array: {body}"))[0];
    assert_eq!(e["code"], code, "{body}");
    assert!(e["description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

/// An app's key (an Open311 client registered by the district's admin).
async fn app_key(app: &TestApp, fx: &Fixture) -> String {
    crate::outside::register(app, fx, "open311", None).await.key
}

#[tokio::test]
async fn open311_serves_services_requests_and_errors_as_the_spec_says_without_personal_data() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let key = app_key(&app, &fx).await;

    // Services: our categories; the definition offers urgency (a list) and building.
    let (s, ct, body) = get(&app, "/open311/v2/services.json").await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/json; charset=utf-8"));
    let services: Value = serde_json::from_str(&body).unwrap();
    let noise = services.as_array().unwrap().iter().find(|x| x["service_code"] == "noise").expect("the category is a service");
    assert_eq!(
        (noise["metadata"].as_bool(), noise["type"].as_str(), noise["service_name"].as_str()),
        (Some(true), Some("realtime"), Some("噪音扰民"))
    );
    let (_, ct, xml) = get(&app, "/open311/v2/services.xml").await;
    assert_eq!(ct, "text/xml; charset=utf-8");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<services><service><service_code>noise</service_code>"), "{xml}");
    let (_, _, def) = get(&app, "/open311/v2/services/noise.json").await;
    let def: Value = serde_json::from_str(&def).unwrap();
    let urgency = &def["attributes"][0];
    assert_eq!(
        (urgency["code"].as_str(), urgency["datatype"].as_str(), urgency["values"][1]["key"].as_str()),
        (Some("urgency"), Some("singlevaluelist"), Some("urgent"))
    );
    let (s, _, body) = get(&app, "/open311/v2/services/nope.json").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    errors_of(&body, 404);

    // POST: form-encoded with the app's key; lands by address; answers a list of one.
    let form = [
        ("api_key", key.as_str()),
        ("service_code", "noise"),
        ("lat", "39.9087654"),
        ("long", "116.3975321"),
        ("address_string", "测试Y1测试B1 3单元1203室"),
        ("description", "楼下烧烤店每晚噪音，联系电话13912345678，1203室"),
        ("first_name", "四"),
        ("last_name", "李"),
        ("email", "li.si@example.org"),
        ("phone", "13912345678"),
        ("attribute[urgency]", "urgent"),
    ];
    let (s, body) = post(&app, "/open311/v2/requests.json", &form).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let posted: Value = serde_json::from_str(&body).unwrap();
    let id = posted[0]["service_request_id"].as_str().expect("a realtime service answers its id").to_string();
    assert!(posted[0].get("token").is_none(), "an id or a token, never both: {posted}");

    // Read back: the spec's fields, open, held by the compound, no personal data anywhere.
    let (s, _, body) = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "one request, as a list");
    let r = &list[0];
    assert_eq!(
        (r["status"].as_str(), r["service_code"].as_str(), r["agency_responsible"].as_str()),
        (Some("open"), Some("noise"), Some("测试Y1"))
    );
    assert_eq!(r["address"], "测试Y1", "the compound, never the room");
    assert_eq!((r["lat"].as_f64(), r["long"].as_f64()), (Some(39.909), Some(116.398)), "about 100 m");
    assert!(r["requested_datetime"].as_str().unwrap().ends_with("+08:00"), "{r}");
    assert!(r["expected_datetime"].as_str().is_some_and(|t| t.ends_with("+08:00")), "from the clock: {r}");
    assert_eq!(r["status_notes"], "已登记，等待小区处理");
    for private in ["13912345678", "李四", "li.si", "1203", "first_name", "phone", "email"] {
        assert!(!body.contains(private), "{private} in a public answer: {body}");
    }
    assert!(r["description"].as_str().unwrap().contains("139****5678"), "{r}");

    // The same request in XML, and in the list; a grid worker's own ticket is never listed.
    let (_, ct, xml) = get(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(ct, "text/xml; charset=utf-8");
    assert!(
        xml.contains(&format!("<service_requests><request><service_request_id>{id}</service_request_id><status>open</status>")),
        "{xml}"
    );
    let gw = app.login("gw1", PASSWORD).await;
    let own = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let (_, _, body) = get(&app, "/open311/v2/requests.json").await;
    let all: Value = serde_json::from_str(&body).unwrap();
    let numbers: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
    assert!(numbers.contains(&id.as_str()) && !numbers.contains(&own["number"].as_str().unwrap()), "{numbers:?}");
    let (_, _, body) = get(&app, "/open311/v2/requests.json?status=closed").await;
    assert_eq!(body, "[]", "nothing closed yet");
    let (_, _, body) = get(&app, "/open311/v2/requests.json?service_code=other,noise&status=open").await;
    assert!(body.contains(&id), "{body}");

    // Its ticket is in the normal workflow: the compound's branch sees it, urgent, by the app.
    let bs = app.login("bs1", PASSWORD).await;
    let inbox = app.get_ok("/api/v1/tickets?limit=100", &bs).await.to_string();
    assert!(inbox.contains(&id), "{inbox}");

    // Errors: the spec's statuses and bodies.
    let (s, body) = post(&app, "/open311/v2/requests.json", &[("service_code", "noise"), ("address_string", "测试Y1")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no api_key");
    errors_of(&body, 403);
    let (s, body) = post(
        &app,
        "/open311/v2/requests.json",
        &[("api_key", "glk_0123456789ab_wrong"), ("service_code", "noise"), ("address_string", "x")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a wrong key: {body}");
    let (s, body) = post(&app, "/open311/v2/requests.json", &[("api_key", key.as_str()), ("service_code", "noise")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no location: {body}");
    errors_of(&body, 400);
    let (s, _) =
        post(&app, "/open311/v2/requests.json", &[("api_key", key.as_str()), ("service_code", "nope"), ("address_string", "x")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an unknown service code");
    let (s, xml) = post(&app, "/open311/v2/requests.xml", &[("api_key", key.as_str()), ("service_code", "noise")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(xml.contains("<errors><error><code>400</code><description>"), "{xml}");
    let (s, _, body) = get(&app, "/open311/v2/requests/GL-00000000-0000.json").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    errors_of(&body, 404);
    let (s, _, _) = get(&app, &format!("/open311/v2/requests/{}.json", own["number"].as_str().unwrap())).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a grid worker's ticket is not public");
    let (s, _, _) = get(&app, "/open311/v2/services.json?jurisdiction_id=elsewhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another jurisdiction");
    let (s, _, _) = get(&app, "/open311/v2/services.json?jurisdiction_id=gridloop").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, body) =
        get(&app, "/open311/v2/requests.json?start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-06-01T00:00:00%2B08:00").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "more than 90 days: {body}");
    let (s, _, _) = get(&app, "/open311/v2/requests.json?start_date=2026-01-01T00:00:00").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a date-time without its offset");
    let (s, _, body) = get(&app, "/open311/v2/requests/a%00b.json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a NUL in the address");
    errors_of(&body, 400);
    let (s, body) = post(
        &app,
        "/open311/v2/requests.json",
        &[("api_key", key.as_str()), ("service_code", "noise"), ("address_string", "x"), ("email", "not-an-address")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("（email）"), "the spec's field name: {body}");
    let (s, _, _) = get(&app, "/open311/v2/requests.csv").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Discovery names this endpoint and its formats.
    let (s, _, body) = get(&app, "/open311/v2/discovery.json").await;
    assert_eq!(s, StatusCode::OK);
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["endpoints"][0]["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(d["endpoints"][0]["formats"], json!(["text/xml", "application/json"]));
}

#[tokio::test]
async fn a_real_open311_client_lists_services_posts_and_reads_back_its_request() {
    let ok = std::process::Command::new("python3").args(["-c", "import georeport, lxml"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("GRIDLOOP_REQUIRE_GEOREPORT").is_err(),
            "GRIDLOOP_REQUIRE_GEOREPORT is set but python3 has no georeport/lxml"
        );
        eprintln!("SKIPPED: no georeport/lxml for python3 (pip install georeport lxml) — the Open311 client test did not run");
        return;
    }
    let (app, fx) = crate::fixture::spawn_fixture_configured(|_| {}).await;
    let key = app_key(&app, &fx).await;
    let base = app.url("/open311/v2/");
    let script = crate::helpers::project_dir().join("tests/open311/client_check.py");
    let discovery = app.url("/open311/v2/discovery.json");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([base.as_str(), key.as_str(), "noise", "--lat", "39.9087", "--long", "116.3975", "--discovery", discovery.as_str()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Open311 client check failed:\n{stdout}\n{stderr}");
    for step in [
        "GET services.json (georeport get_service_list)",
        "POST requests.json",
        "GET requests/",
        "no first_name, last_name, phone or email",
    ] {
        assert!(stdout.contains(step), "the check did not report `{step}`:\n{stdout}");
    }
}

/// An Open311 request with the resident's mail sends him his status link by mail (a real SMTP
/// server), and the link opens his page.
#[tokio::test]
async fn an_open311_request_sends_its_resident_the_link_by_mail() {
    let Some(sink) = crate::notifications::SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(move |s| {
        s.notify.smtp_url = format!("smtp://127.0.0.1:{port}");
        s.notify.base_url = "https://gridloop.example".into();
    })
    .await;
    let key = app_key(&app, &fx).await;
    let form = [("api_key", key.as_str()), ("service_code", "noise"), ("address_string", "测试Y1"), ("email", "wang.wu@example.org")];
    let (s, body) = post(&app, "/open311/v2/requests.json", &form).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()[0]["service_request_id"].as_str().unwrap().to_string();
    crate::notifications::deliver(&app, crate::notifications::working_and_quiet(&app).0);
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let text = mail[0].to_string();
    assert!(text.contains("wang.wu@example.org") && text.contains(&id), "{text}");
    assert!(!text.contains("/tickets/"), "no link into the staff's pages: {text}");
    let token: String = text
        .split("https://gridloop.example/s/")
        .nth(1)
        .expect("the link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let (s, _, html) = get(&app, &format!("/s/{token}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&id) && html.contains("已登记，等待小区处理"), "{html}");
}
