//! What every response carries whatever the route: 405 with `Allow` for a method a path does not
//! declare (for every path of the route table), and the security headers (`nosniff`, the referrer
//! policy, and `Cache-Control: no-store` on the API's data).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::http::api::{find_route, route_specs};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::TestApp;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A request path for a declared pattern: each `{param}` filled with a plausible value.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{year}" => "2026".to_string(),
            "{name}" => "cn".to_string(),
            s if s.starts_with('{') => "01a2183a-4e2e-7018-bccf-fe7848ae3a3e".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the route table declares for a request path, as the router matches it.
fn declared(path: &str) -> BTreeSet<&'static str> {
    METHODS.into_iter().filter(|m| find_route(path, m).is_some()).collect()
}

#[tokio::test]
async fn every_path_answers_405_with_its_declared_methods_for_a_method_it_does_not_declare() {
    let app = TestApp::spawn().await;
    let paths: BTreeSet<&str> = route_specs().iter().map(|s| s.path).collect();
    for pattern in paths {
        let path = concrete(pattern);
        let allowed = declared(&path);
        assert!(!allowed.is_empty(), "{pattern}");
        let method = METHODS.into_iter().find(|m| !allowed.contains(m)).expect("a method the path does not declare");
        for (lang, expect) in [(None, "不支持"), (Some("en"), "not allowed")] {
            let mut req = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path));
            if let Some(l) = lang {
                req = req.header("Accept-Language", l);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let allow: BTreeSet<String> = r
                .headers()
                .get("allow")
                .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_string())
                .collect();
            assert_eq!(allow, allowed.iter().map(|m| m.to_string()).collect(), "{method} {path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "method_not_allowed", "{method} {path}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains(expect) && message.contains(method), "{method} {path}: {message}");
        }
    }
    // A path the table does not know is still 404, whatever the method.
    for method in [Method::GET, Method::DELETE] {
        let r = app.client.request(method, app.url("/api/v1/no-such-thing")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Asserts the headers every response carries, and `no-store` where the API answers with data.
fn assert_security_headers(what: &str, r: &reqwest::Response, path: &str) {
    assert_eq!(header(r, "x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(header(r, "referrer-policy"), Some("no-referrer"), "{what}");
    assert!(header(r, "content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")), "{what}");
    let api_data = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
    // Pages show personal data too; the health check, the API document and the assets do not.
    let page = !path.starts_with("/api/") && path != "/healthz" && !path.starts_with("/assets/");
    if api_data || page {
        assert_eq!(header(r, "cache-control"), Some("no-store"), "{what}");
    } else {
        assert_ne!(header(r, "cache-control"), Some("no-store"), "{what}: only data and pages are marked no-store");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_api_data_is_never_stored_by_caches() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    // Every GET of the route table, as a logged-in admin (200, 403, 404 or 422 alike), and as
    // nobody (401, or 200 on the public ones).
    for spec in route_specs().iter().filter(|s| s.method == "GET") {
        let path = concrete(spec.path);
        let r = app.get(&path, Some(&root)).await;
        assert_security_headers(&format!("GET {path} -> {}", r.status()), &r, &path);
        let r = app.get(&path, None).await;
        assert_security_headers(&format!("GET {path} without a token -> {}", r.status()), &r, &path);
    }
    // The other kinds of answer: a login, a created object, a refused body, a reveal, a 405, a 404.
    let r = app.post_json("/api/v1/auth/login", None, &json!({"login": "gw1", "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers("login", &r, "/api/v1/auth/login");
    let resident = fx.resident("r1");
    let r = app.request(Method::POST, &format!("/api/v1/residents/{resident}/reveal"), Some(&root), None, None).await;
    assert_security_headers(&format!("reveal -> {}", r.status()), &r, "/api/v1/residents/x/reveal");
    let r = app.post_json("/api/v1/org-units", Some(&root), &json!({"kind": "street"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_security_headers("a refused body", &r, "/api/v1/org-units");
    let r = app.client.delete(app.url("/api/v1/tickets")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers("405", &r, "/api/v1/tickets");
    let r = app.get("/api/v1/nothing-here", Some(&root)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_security_headers("404", &r, "/api/v1/nothing-here");
    let r = app.get("/nothing-here", None).await;
    assert_security_headers("404 outside the API", &r, "/nothing-here");
    assert!(header(&r, "content-security-policy").is_some_and(|c| c.contains("script-src 'self'")), "a page's policy");
}
