//! Sessions: login by name or phone, one generic failure, lockout, expiry, logout, disabled
//! people, the session cookie and its CSRF protection.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::db::schema::{login_attempts, people, sessions};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::{assert_error, TestApp};

async fn try_login(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/login", None, &json!({"login": login, "password": password})).await
}

#[tokio::test]
async fn a_person_logs_in_with_login_or_phone_and_every_failure_reads_the_same() {
    let (app, _) = spawn_fixture().await;
    let by_login = app.login("gw1", PASSWORD).await;
    let me = app.get_ok("/api/v1/me", &by_login).await;
    assert_eq!(me["person"]["login"], "gw1");
    assert_eq!(me["grants"][0]["role"], "grid_worker");
    let phone = me["person"]["phone"].as_str().unwrap().to_string();
    let by_phone = app.login(&phone, PASSWORD).await;
    assert_ne!(by_login, by_phone);

    let unknown = assert_error(try_login(&app, "nobody", PASSWORD).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    let wrong = assert_error(try_login(&app, "gw1", "wrong-password").await, StatusCode::UNAUTHORIZED, "login_failed").await;
    assert_eq!(unknown, wrong, "an unknown login and a wrong password must be indistinguishable");

    // Every attempt is recorded with its real reason.
    let reasons: Vec<String> =
        login_attempts::table.select(login_attempts::reason).order(login_attempts::at).load(&mut app.conn()).unwrap();
    assert_eq!(reasons, vec!["ok", "ok", "unknown_login", "bad_password"]);
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_lockout_passes_or_an_admin_resets_it() {
    let (app, fx) = spawn_fixture().await;
    for _ in 0..5 {
        assert_error(try_login(&app, "gw1", "wrong-password").await, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    // Locked: even the right password is refused, with the same message.
    assert_error(try_login(&app, "gw1", PASSWORD).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    let locked_until: Option<chrono::NaiveDateTime> =
        people::table.filter(people::login.eq("gw1")).select(people::locked_until).first(&mut app.conn()).unwrap();
    let minutes = (locked_until.unwrap() - Utc::now().naive_utc()).num_minutes();
    assert!((app.settings.auth.lockout_minutes - 1..=app.settings.auth.lockout_minutes).contains(&minutes), "locked for {minutes} min");

    // The lockout passes: move it into the past.
    diesel::update(people::table.filter(people::login.eq("gw1")))
        .set(people::locked_until.eq(Some(Utc::now().naive_utc() - Duration::seconds(1))))
        .execute(&mut app.conn())
        .unwrap();
    app.login("gw1", PASSWORD).await;

    // Locked again, then an admin's password reset unlocks it.
    for _ in 0..5 {
        try_login(&app, "gw1", "wrong-password").await;
    }
    assert_error(try_login(&app, "gw1", PASSWORD).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    let admin = app.login("admin1", PASSWORD).await;
    let r =
        app.post_json(&format!("/api/v1/people/{}/password", fx.person("gw1")), Some(&admin), &json!({"password": "a-new-password"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.login("gw1", "a-new-password").await;
    let reasons: Vec<String> = login_attempts::table
        .filter(login_attempts::login.eq("gw1"))
        .select(login_attempts::reason)
        .order(login_attempts::at)
        .load(&mut app.conn())
        .unwrap();
    assert!(reasons.iter().filter(|r| *r == "locked").count() >= 2, "{reasons:?}");
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let (app, _) = spawn_fixture().await;
    let token = app.login("bs1", PASSWORD).await;
    app.get_ok("/api/v1/me", &token).await;
    let r = app.post_json("/api/v1/auth/logout", Some(&token), &json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(app.get("/api/v1/me", Some(&token)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn tokens_expire_after_the_idle_and_the_absolute_limit() {
    let (app, _) = spawn_fixture().await;
    let idle = app.login("cs1", PASSWORD).await;
    let absolute = app.login("cs1", PASSWORD).await;
    let fresh = app.login("cs1", PASSWORD).await;
    let now = Utc::now().naive_utc();
    let mut conn = app.conn();
    let ids: Vec<String> = sessions::table.order(sessions::created_at).select(sessions::id).load(&mut conn).unwrap();
    // Unused for longer than the idle limit.
    diesel::update(sessions::table.find(&ids[0]))
        .set(sessions::last_seen_at.eq(now - Duration::minutes(app.settings.auth.idle_timeout_minutes + 1)))
        .execute(&mut conn)
        .unwrap();
    // Recently used, but past its absolute limit.
    diesel::update(sessions::table.find(&ids[1])).set(sessions::expires_at.eq(now - Duration::seconds(1))).execute(&mut conn).unwrap();
    assert_error(app.get("/api/v1/me", Some(&idle)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(app.get("/api/v1/me", Some(&absolute)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    app.get_ok("/api/v1/me", &fresh).await;
}

#[tokio::test]
async fn a_disabled_person_is_shut_out_at_once_and_can_be_let_back_in() {
    let (app, fx) = spawn_fixture().await;
    let worker = app.login("gw1", PASSWORD).await;
    let admin = app.login("admin1", PASSWORD).await;
    let r = app.post_json(&format!("/api/v1/people/{}/disable", fx.person("gw1")), Some(&admin), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], false);
    assert_error(app.get("/api/v1/me", Some(&worker)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(try_login(&app, "gw1", PASSWORD).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    let r = app.post_json(&format!("/api/v1/people/{}/enable", fx.person("gw1")), Some(&admin), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The old token stays revoked; a new login works.
    assert_error(app.get("/api/v1/me", Some(&worker)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    app.login("gw1", PASSWORD).await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_changes_through_it_need_the_csrf_token() {
    let (app, fx) = spawn_fixture().await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let r = browser.post(app.url("/api/v1/auth/login")).json(&json!({"login": "admin1", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("gridloop_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "Secure only when TLS is configured: {set_cookie}");
    let body: Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    // Reads work with the cookie alone.
    let unit = format!("/api/v1/org-units/{}", fx.unit("B1"));
    let r = browser.get(app.url(&unit)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let version: i64 = r.json::<Value>().await.unwrap()["version"].as_i64().unwrap();

    // A change without the CSRF header is refused and changes nothing.
    let r = browser.patch(app.url(&unit)).header("If-Match", version.to_string()).json(&json!({"name": "被篡改"})).send().await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let r = browser
        .patch(app.url(&unit))
        .header("If-Match", version.to_string())
        .header("X-CSRF-Token", "not-the-token")
        .json(&json!({"name": "被篡改"}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let r = browser.get(app.url(&unit)).send().await.unwrap();
    assert_ne!(r.json::<Value>().await.unwrap()["name"], "被篡改");

    // With the header it goes through.
    let r = browser
        .patch(app.url(&unit))
        .header("If-Match", version.to_string())
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "新名字"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Logging out through the cookie also needs the token, and clears the cookie.
    let r = browser.post(app.url("/api/v1/auth/logout")).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = browser.get(app.url(&unit)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn errors_speak_chinese_by_default_and_english_on_request() {
    let app = TestApp::spawn().await;
    let zh: Value = app.get("/api/v1/me", None).await.json().await.unwrap();
    assert!(zh["message"].as_str().unwrap().contains("登录"), "{zh}");
    let en: Value = app
        .client
        .request(Method::GET, app.url("/api/v1/me"))
        .header("Accept-Language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(en["message"].as_str().unwrap().starts_with("Log in"), "{en}");
    assert_eq!(zh["code"], en["code"]);
}
