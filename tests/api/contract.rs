//! The API contract: the OpenAPI document the server serves says what the server does (where
//! each parameter goes, unique operation ids, the statuses of the guard, timestamps typed as
//! date-time), and every timestamp the server writes is RFC 3339 with its offset.

use std::collections::{BTreeSet, HashSet};

use gridloop::domain::Access;
use gridloop::http::api::route_specs;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::{instant, TestApp};
use crate::tickets::{act, file, new_ticket};

const METHODS: &[&str] = &["get", "put", "post", "patch", "delete"];

/// Whether a field holds a point in time (`created_at`, `at`, `locked_until`, …); dates are
/// `…_on`, `date`, `from`, `to` and stay `YYYY-MM-DD`.
fn is_timestamp_field(name: &str) -> bool {
    name == "at" || name.ends_with("_at") || name.ends_with("_until")
}

/// `(path, method, operation)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                out.push((path.clone(), m.to_string(), op.clone()));
            }
        }
    }
    out
}

/// Calls `f(property name, property schema, where)` for every property of every schema in `v`.
fn walk_properties(v: &Value, at: &str, f: &mut impl FnMut(&str, &Value, &str)) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, schema) in props {
                    f(name, schema, at);
                }
            }
            for (k, child) in map {
                walk_properties(child, &format!("{at}/{k}"), f);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_properties(child, &format!("{at}/{i}"), f);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_served_document_declares_where_parameters_go_and_what_the_guard_answers() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json", None).await.json::<Value>().await.unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 50, "{} operations", ops.len());

    // The document and the route table list the same routes.
    let documented: BTreeSet<(String, String)> = ops.iter().map(|(p, m, _)| (p.clone(), m.to_uppercase())).collect();
    let routed: BTreeSet<(String, String)> = route_specs().iter().map(|s| (s.path.to_string(), s.method.to_string())).collect();
    assert_eq!(documented, routed, "the document and the route table differ");

    let mut ids = HashSet::new();
    for (path, method, op) in &ops {
        let here = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{here} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId `{id}` is used twice ({here})");

        // A path parameter exactly when the template names it; everything else in the query
        // or the headers.
        let template: BTreeSet<String> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).map(String::from).collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut in_path = BTreeSet::new();
        for p in &params {
            let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
            assert!(["path", "query", "header"].contains(&place), "{here}: parameter `{name}` in {place}");
            if place == "path" {
                assert!(template.contains(name), "{here}: `{name}` is declared in the path, which has no {{{name}}}");
                assert_eq!(p["required"], true, "{here}: path parameter `{name}` must be required");
                in_path.insert(name.to_string());
            }
            if place == "query" {
                assert_ne!(p["required"], true, "{here}: every query parameter is optional (`{name}`)");
            }
            if name == "id" || name.ends_with("_id") || name == "within" {
                assert_eq!(p["schema"]["format"], "uuid", "{here}: `{name}` is an id: format uuid");
            }
            if name == "limit" {
                assert!(p["schema"]["minimum"] == 1 && p["schema"]["maximum"].is_u64(), "{here}: `limit` without bounds");
            }
        }
        assert_eq!(in_path, template, "{here}: the path's parameters and the declared ones differ");

        // The access guard's answers: what needs a login says so, and declares the 401.
        let spec = route_specs().iter().find(|s| s.path == path && s.method.eq_ignore_ascii_case(method)).unwrap();
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, spec.access != Access::Public, "{here}: declared security and the route's access rule differ");
        let responses = op["responses"].as_object().unwrap();
        if secured {
            assert!(responses.contains_key("401"), "{here} needs a login but does not declare 401");
            assert!(responses.contains_key("503"), "{here} reads the session from the database but does not declare 503");
        }
        if !params.is_empty() || op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{here} takes input but does not declare 400");
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{here}: {status} without the ErrorBody schema"
                );
                assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{here}: {status} without a description");
            }
        }
    }

    // Every point in time is typed as one, in responses, request bodies and parameters alike.
    let mut timestamps = 0;
    walk_properties(&doc, "#", &mut |name, schema, at| {
        if is_timestamp_field(name) {
            timestamps += 1;
            assert_eq!(schema["format"], "date-time", "{at}/{name} is a timestamp without format date-time: {schema}");
        }
        if schema["format"] == "date-time" {
            assert!(is_timestamp_field(name), "{at}/{name} is date-time but not named as a timestamp");
        }
    });
    assert!(timestamps >= 40, "found only {timestamps} timestamp fields");

    // Body schemas are as closed as the handlers (`deny_unknown_fields`), each action included.
    let schemas = &doc["components"]["schemas"];
    for name in ["NewTicket", "NewVisitLog", "NewPerson", "NewOrgUnit", "LoginRequest", "NewComment"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name} accepts unknown fields in the document");
    }
    let actions = schemas["ActionRequest"]["oneOf"].as_array().expect("ActionRequest is one of the actions");
    for a in actions {
        assert_eq!(a["additionalProperties"], false, "{a}");
        assert!(a["required"].as_array().unwrap().contains(&json!("action")), "{a}");
    }
}

/// Walks a response and checks every timestamp in it: by name, and any string that looks like a
/// date and a time. Returns how many it found. The free-form `changes` of audit events are left
/// as they were recorded.
fn check_timestamps(v: &Value, at: &str) -> usize {
    match v {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "changes")
            .map(|(k, child)| {
                let here = format!("{at}.{k}");
                match child {
                    Value::String(_) if is_timestamp_field(k) => {
                        instant(child);
                        1
                    }
                    Value::Null if is_timestamp_field(k) => 0,
                    _ => check_timestamps(child, &here),
                }
            })
            .sum(),
        Value::Array(items) => items.iter().enumerate().map(|(i, c)| check_timestamps(c, &format!("{at}[{i}]"))).sum(),
        Value::String(s) => {
            let b = s.as_bytes();
            let looks_like_a_time = b.len() >= 16 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':';
            if looks_like_a_time {
                instant(v);
                1
            } else {
                0
            }
        }
        _ => 0,
    }
}

#[tokio::test]
async fn every_timestamp_the_api_writes_is_rfc3339_with_its_offset() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let (status, t) =
        act(&app, &bs, &id, t["version"].as_i64().unwrap(), json!({"action": "report_to_community", "reason": "需社区协调"})).await;
    assert_eq!(status, StatusCode::OK, "{t}");

    let mut seen = 0;
    for (path, token, at_least) in [
        (format!("/api/v1/tickets/{id}"), &gw, 3),
        (format!("/api/v1/tickets/{id}/clocks"), &gw, 8),
        (format!("/api/v1/tickets/{id}/timeline"), &gw, 2),
        (format!("/api/v1/compounds/{}/board", fx.unit("Y1")), &bs, 3),
        ("/api/v1/tickets".to_string(), &gw, 2),
        ("/api/v1/auth/session".to_string(), &gw, 1),
        ("/api/v1/me".to_string(), &gw, 2),
    ] {
        let body = app.get_ok(&path, token).await;
        let n = check_timestamps(&body, &path);
        assert!(n >= at_least, "{path}: only {n} timestamps in {body}");
        seen += n;
    }
    // The clocks of the ticket's two stages, in the order they started, each with its deadline
    // after its start.
    let clocks = app.get_ok(&format!("/api/v1/tickets/{id}/clocks"), &gw).await;
    for c in clocks.as_array().unwrap() {
        assert!(instant(&c["due_at"]) > instant(&c["started_at"]), "{c}");
    }
    assert!(seen >= 21);
}

/// What the conformance run (and a look beyond it) found answering wrongly, kept answering right.
#[tokio::test]
async fn malformed_or_extreme_input_is_refused_as_such_and_never_crashes() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let nowhere = uuid::Uuid::now_v7();
    for (path, field) in [
        // Days at the ends of the date type overflowed the China-day arithmetic: 500.
        ("/api/v1/tickets?from=-262143-01-01".to_string(), "from"),
        ("/api/v1/tickets?to=-262143-01-01".to_string(), "to"),
        // A malformed id after an unknown unit was answered with an empty page.
        (format!("/api/v1/tickets?within={nowhere}&category_id=not-an-id"), "category_id"),
        (format!("/api/v1/visit-logs?within={nowhere}&author_id=not-an-id"), "author_id"),
    ] {
        let r = app.get(&path, Some(&gw)).await;
        let e = crate::helpers::assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(e["field"], field, "{path}: {e}");
    }
    // A unit the grid worker sees, where he may not add people: 403, not "no such unit".
    let body = json!({"login": "gw.new", "display_name": "新人", "password": "long-enough-1", "role": "grid_worker",
                      "org_unit_id": fx.unit("B1")});
    let r = app.post_json("/api/v1/people", Some(&gw), &body).await;
    crate::helpers::assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

/// The document the server generates, kept whole in `docs/openapi.json`, so that a client
/// developer can read it without a server and every change to the contract shows in review as a
/// diff of that file. `GRIDLOOP_UPDATE_DOCS=1 cargo test --test api -- contract::docs_openapi`
/// writes it again.
#[tokio::test]
async fn docs_openapi_json_is_the_generated_document() {
    let doc = <gridloop::http::api::ApiDoc as utoipa::OpenApi>::openapi();
    let rendered = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
    let path = crate::helpers::project_dir().join("docs/openapi.json");
    if std::env::var("GRIDLOOP_UPDATE_DOCS").is_ok() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == rendered, "docs/openapi.json is stale; run GRIDLOOP_UPDATE_DOCS=1 cargo test --test api -- contract::docs_openapi");
    // And it is the document a running server serves.
    let app = TestApp::spawn().await;
    let served = app.get("/api/v1/openapi.json", None).await.json::<Value>().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&on_disk).unwrap(), served, "docs/openapi.json differs from the served document");
}

/// A path segment that is no id names no object: every route with an id in its path answers it
/// exactly as it answers an id that exists nowhere (the 404 of a missing object where the caller
/// may look), never 400 or 500. The routes come from the served document, not from a list here:
/// every operation without a body or a required header, as an administrator over everything.
#[tokio::test]
async fn a_malformed_id_in_any_path_is_answered_as_an_unknown_one() {
    let (app, _fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let doc = app.get("/api/v1/openapi.json", None).await.json::<Value>().await.unwrap();
    let (mut checked, mut missing) = (0, 0);
    for (path, method, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let ids: Vec<String> = params
            .iter()
            .filter(|p| p["in"] == "path" && p["schema"]["format"] == "uuid")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let needs_header = params.iter().any(|p| p["in"] == "header" && p["required"] == true);
        if ids.is_empty() || op.get("requestBody").is_some() || needs_header || path.contains("{year}") {
            continue;
        }
        let fill = |with: &str| ids.iter().fold(path.clone(), |p, name| p.replace(&format!("{{{name}}}"), with));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let unknown = app.request(method.clone(), &fill(&uuid::Uuid::now_v7().to_string()), Some(&root), None, None).await;
        let (unknown_status, unknown_body) = (unknown.status(), unknown.json::<Value>().await.unwrap_or(Value::Null));
        for garbage in ["not-a-uuid", "12345", "%E4%B8%AD"] {
            let r = app.request(method.clone(), &fill(garbage), Some(&root), None, None).await;
            let status = r.status();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            assert_eq!(status, unknown_status, "{method} {path} with `{garbage}`: {body}");
            assert_eq!(body["code"], unknown_body["code"], "{method} {path} with `{garbage}`");
        }
        checked += 1;
        missing += usize::from(unknown_status == StatusCode::NOT_FOUND);
    }
    assert!(checked >= 25, "only {checked} routes with an id were tried");
    assert!(missing * 10 >= checked * 8, "{missing} of {checked} answered 404");
}

/// Every refusal is the API's error body, also where a body is too large for an extractor.
#[tokio::test]
async fn an_import_file_over_the_limit_is_refused_in_the_error_shape() {
    let (app, _fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let csv = format!("building_code,unit_no,room,name,phone,id_number,kind\n{}", "x".repeat(2 * 1024 * 1024));
    let r = app
        .client
        .post(app.url("/api/v1/residents/import"))
        .bearer_auth(&gw)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    crate::helpers::assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
