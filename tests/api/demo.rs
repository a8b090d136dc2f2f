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
    assert_eq!(roles_seen.len(), gridloop::domain::Role::ALL.len(), "one login per role: {roles_seen:?}");

    // Two weeks of visit logs: the secretary's board has workers, some logs filed and some missed.
    assert!(summary.visit_logs > 0);
    let bs = app.login("bs.yang", DEMO_PASSWORD).await;
    let me = app.get_ok("/api/v1/me", &bs).await;
    let compound = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let board = app.get_ok(&format!("/api/v1/compounds/{compound}/board"), &bs).await;
    assert!(board["logs"]["workers"].as_u64().unwrap() >= 2, "{}", board["logs"]);
    let (expected, filed) = (board["compliance"]["expected"].as_i64().unwrap(), board["compliance"]["filed"].as_i64().unwrap());
    assert!(filed > 0 && filed < expected, "some logs filed, some missed: {filed}/{expected}");
    // The grid worker's list shows his grid and whether today's log is in.
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let list = app.get_ok("/api/v1/my/visit-list", &gw).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}
