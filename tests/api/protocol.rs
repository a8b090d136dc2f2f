//! What every response carries whatever the route: 405 with `Allow` for a method a path does not
//! declare (for every path of the route table).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use gridloop::http::routes::{find_route, route_specs};

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
