//! Administration: org units, people, memberships and the catalogue — created, changed and
//! deactivated within scope, never hard-deleted, never silently overwritten.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::{assert_error, TestApp};

#[tokio::test]
async fn an_admin_builds_the_tree_within_his_scope_and_the_shape_is_enforced() {
    let (app, fx) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": fx.unit("Y1"), "kind": "building", "code": "T-B1-2", "name": "2号楼"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["kind"], "building");
    assert_eq!(b["parent_id"], fx.unit("Y1"));
    assert_eq!(b["depth"], 5);

    // The same code again: a clear conflict, nothing created twice.
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": fx.unit("Y1"), "kind": "building", "code": "T-B1-2", "name": "2号楼"}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "code_taken").await;
    // A building cannot hang under a community.
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": fx.unit("K1"), "kind": "building", "code": "T-X", "name": "错层"}),
        )
        .await;
    let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "parent_id");
    // A parent in the other district is unknown to this admin, exactly like a missing one.
    let out = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": fx.unit("Y2"), "kind": "building", "code": "T-Y", "name": "越权"}),
        )
        .await;
    let out = assert_error(out, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    let missing = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": "00000000-0000-7000-8000-000000000000", "kind": "building", "code": "T-Z", "name": "不存在"}),
        )
        .await;
    assert_eq!(assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await, out);
    // A secretary sees his compound but may not add to it.
    let bs = app.login("bs1", PASSWORD).await;
    let r = app
        .post_json("/api/v1/org-units", Some(&bs), &json!({"parent_id": fx.unit("Y1"), "kind": "building", "code": "T-W", "name": "3号楼"}))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn changes_need_the_current_version_so_concurrent_edits_never_overwrite() {
    let (app, fx) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let path = format!("/api/v1/org-units/{}", fx.unit("Y1"));
    let r = app.get(&path, Some(&admin)).await;
    assert_eq!(r.headers()["etag"], "\"1\"");
    let r = app.patch_json(&path, Some(&admin), None, &json!({"name": "甲"})).await;
    assert_error(r, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    let r = app.patch_json(&path, Some(&admin), Some(1), &json!({"name": "甲"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A second editor still holding version 1 is refused, and the first edit stands.
    let r = app.patch_json(&path, Some(&admin), Some(1), &json!({"name": "乙"})).await;
    let e = assert_error(r, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    assert_eq!(e["current_version"], 2);
    assert_eq!(app.get_ok(&path, &admin).await["name"], "甲");
}

#[tokio::test]
async fn deactivating_a_unit_closes_its_subtree_and_deletes_nothing() {
    let (app, fx) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let r = app.patch_json(&format!("/api/v1/org-units/{}", fx.unit("Y1")), Some(&admin), Some(1), &json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b1 = app.get_ok(&format!("/api/v1/org-units/{}", fx.unit("B1")), &admin).await;
    assert_eq!(b1["active"], false, "the building under a closed compound is closed too");
    // Still there for the record, listed on request.
    let all = app.get_ok(&format!("/api/v1/org-units?within={}&include_inactive=true", fx.unit("Y1")), &admin).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let active = app.get_ok(&format!("/api/v1/org-units?within={}", fx.unit("Y1")), &admin).await;
    assert_eq!(active.as_array().unwrap().len(), 0);
    // The secretary bound to the closed compound has lost that scope.
    assert_eq!(app.get_ok("/api/v1/residents", &bs).await.as_array().unwrap().len(), 0);
    let me = app.get_ok("/api/v1/me", &bs).await;
    assert_eq!(me["grants"].as_array().unwrap().len(), 0, "still logged in, with no grant at the closed compound: {me}");
    // There is no delete route at all.
    let r = app.request(reqwest::Method::DELETE, &format!("/api/v1/org-units/{}", fx.unit("Y1")), Some(&admin), None, None).await;
    assert!(matches!(r.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND), "{}", r.status());
}

#[tokio::test]
async fn an_admin_adds_people_and_roles_only_where_the_role_fits_and_within_his_scope() {
    let (app, fx) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let new = json!({"login": "gw.new", "display_name": "新网格员", "phone": "13911112222", "password": "long-enough-1", "role": "grid_worker", "org_unit_id": fx.unit("B1")});
    let r = app.post_json("/api/v1/people", Some(&admin), &new).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    assert!(p.get("password_hash").is_none() && !p.to_string().contains("argon2"), "no hash leaves the server: {p}");
    let id = p["id"].as_str().unwrap().to_string();
    // A retry of the same creation creates nothing new.
    assert_error(app.post_json("/api/v1/people", Some(&admin), &new).await, StatusCode::CONFLICT, "login_taken").await;
    app.login("gw.new", "long-enough-1").await;

    // A grid worker cannot be bound to a community; a secretary not to a building.
    let r = app
        .post_json(
            &format!("/api/v1/people/{id}/memberships"),
            Some(&admin),
            &json!({"role": "branch_secretary", "org_unit_id": fx.unit("B1")}),
        )
        .await;
    let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "role");
    // A second role (multi-role person), then ending it keeps the record.
    let r = app
        .post_json(
            &format!("/api/v1/people/{id}/memberships"),
            Some(&admin),
            &json!({"role": "branch_secretary", "org_unit_id": fx.unit("Y1")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["memberships"].as_array().unwrap().len(), 2);
    let mid =
        p["memberships"].as_array().unwrap().iter().find(|m| m["role"] == "branch_secretary").unwrap()["id"].as_str().unwrap().to_string();
    let r = app.post_json(&format!("/api/v1/people/{id}/memberships/{mid}/end"), Some(&admin), &json!({})).await;
    let p: Value = r.json().await.unwrap();
    let ended = p["memberships"].as_array().unwrap().iter().find(|m| m["id"] == mid.as_str()).unwrap().clone();
    assert_eq!(ended["active"], false);

    // The other district's admin neither sees this person nor can bind anyone in this district.
    let admin2 = app.login("admin2", PASSWORD).await;
    assert_error(app.get(&format!("/api/v1/people/{id}"), Some(&admin2)).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .post_json(
            "/api/v1/people",
            Some(&admin2),
            &json!({"login": "x.y", "display_name": "越权", "password": "long-enough-1", "role": "grid_worker", "org_unit_id": fx.unit("B1")}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
}

#[tokio::test]
async fn a_person_with_a_role_outside_the_admins_scope_cannot_be_changed_by_him() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let admin1 = app.login("admin1", PASSWORD).await;
    // sup2 (district 2) also takes a role in district 1.
    let r = app
        .post_json(
            &format!("/api/v1/people/{}/memberships", fx.person("sup2")),
            Some(&root),
            &json!({"role": "community_staff", "org_unit_id": fx.unit("K1")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // admin1 now sees him, but may not disable a district-2 supervisor.
    app.get_ok(&format!("/api/v1/people/{}", fx.person("sup2")), &admin1).await;
    let r = app.post_json(&format!("/api/v1/people/{}/disable", fx.person("sup2")), Some(&admin1), &json!({})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn only_the_top_admin_changes_the_city_wide_catalogue() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let admin1 = app.login("admin1", PASSWORD).await;
    let worker = app.login("gw1", PASSWORD).await;
    let cats = app.get_ok("/api/v1/categories", &worker).await;
    assert_eq!(cats[0]["code"], "noise");
    let body = json!({"code": "parking", "name_zh": "停车管理", "name_en": "Parking", "default_department_id": fx.unit("P1"), "urgencies": ["normal"]});
    assert_error(app.post_json("/api/v1/categories", Some(&admin1), &body).await, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.post_json("/api/v1/categories", Some(&root), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The default department must be a department.
    let bad = json!({"code": "x", "name_zh": "甲", "name_en": "X", "default_department_id": fx.unit("B1"), "urgencies": ["normal"]});
    let e =
        assert_error(app.post_json("/api/v1/categories", Some(&root), &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference")
            .await;
    assert_eq!(e["field"], "default_department_id");
    // Deactivated, not deleted: gone from the default list, still readable.
    let path = format!("/api/v1/categories/{}", fx.category);
    let r = app.patch_json(&path, Some(&root), Some(1), &json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let listed = app.get_ok("/api/v1/categories", &worker).await;
    assert!(listed.as_array().unwrap().iter().all(|c| c["code"] != "noise"));
    assert_eq!(app.get_ok(&path, &worker).await["active"], false);
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_error_never_a_500() {
    let (app, _) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    // Malformed JSON.
    let r = app
        .client
        .post(app.url("/api/v1/org-units"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    // An unknown field is named.
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": null, "kind": "city", "code": "X", "name": "X", "colour": "red"}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(e["message"].as_str().unwrap().contains("colour"), "{e}");
    // A wrong enum value names the allowed ones.
    let r =
        app.post_json("/api/v1/org-units", Some(&admin), &json!({"parent_id": null, "kind": "village", "code": "X", "name": "X"})).await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(e["message"].as_str().unwrap().contains("village"), "{e}");
    // A bad query parameter.
    assert_error(app.get("/api/v1/org-units?limit=many", Some(&admin)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_error(app.get("/api/v1/org-units?limit=100000", Some(&admin)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // A malformed id is just "not found"; a malformed If-Match names the header.
    assert_error(app.get("/api/v1/org-units/not-an-id", Some(&admin)).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .client
        .patch(app.url("/api/v1/org-units/x"))
        .bearer_auth(&admin)
        .header("If-Match", "yesterday")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "If-Match");
    // An unknown route.
    assert_error(app.get("/api/v1/nothing-here", Some(&admin)).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn health_answers_503_when_the_database_cannot_be_reached() {
    // A pool whose every checkout fails: PostgreSQL on a port where nothing listens.
    let manager = gridloop::db::Manager::new("postgres://nobody@127.0.0.1:1/none", std::time::Duration::ZERO);
    let pool = diesel::r2d2::Pool::builder().connection_timeout(std::time::Duration::from_millis(500)).build_unchecked(manager);
    let mut settings = gridloop::config::Settings::load(&crate::helpers::project_dir().join("config"), "test").unwrap();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 1;
    let app = gridloop::startup::Application::build(settings, pool).unwrap();
    let api = crate::helpers::Api::new(&format!("http://127.0.0.1:{}", app.port()));
    tokio::spawn(app.run_until_stopped());
    let r = api.get("/healthz", None).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // Other routes say the same, never a 500.
    let r = api.post_json("/api/v1/auth/login", None, &json!({"login": "x", "password": "y"})).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
}
