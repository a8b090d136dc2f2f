//! The demo city has the shape the practice needs, and every demo login works.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::demo::{load_demo, DEMO_PASSWORD};

use crate::helpers::TestApp;

#[tokio::test]
async fn the_demo_city_is_shaped_like_the_luan_practice_and_every_login_works() {
    let mut summary = None;
    let auth = gridloop::config::Settings::load(&crate::helpers::project_dir().join("config"), "test").unwrap().auth;
    let app = TestApp::spawn_with(|c| summary = Some(load_demo(c, &auth, chrono::Utc::now().naive_utc()).unwrap())).await;
    let summary = summary.unwrap();
    let admin = app.login("admin", DEMO_PASSWORD).await;
    let units = app.get_ok("/api/v1/org-units?limit=500", &admin).await;
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for u in units.as_array().unwrap() {
        *kinds.entry(u["kind"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for (kind, min) in [("district", 1), ("street", 2), ("community", 3), ("compound", 8), ("building", 40), ("department", 6)] {
        assert!(kinds.get(kind).copied().unwrap_or(0) >= min, "{kind}: {kinds:?}");
    }
    let cats = app.get_ok("/api/v1/categories", &admin).await;
    assert!(cats.as_array().unwrap().len() >= 12);
    assert!(cats.as_array().unwrap().iter().all(|c| c["default_department_id"].is_string()));
    let mut roles_seen = std::collections::HashSet::new();
    for l in &summary.logins {
        let r = app.post_json("/api/v1/auth/login", None, &json!({"login": l.login, "password": DEMO_PASSWORD})).await;
        assert_eq!(r.status(), StatusCode::OK, "demo login {}", l.login);
        let body: Value = r.json().await.unwrap();
        for m in body["person"]["memberships"].as_array().unwrap() {
            roles_seen.insert(m["role"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(roles_seen.len(), 6, "one login per role: {roles_seen:?}");
}
