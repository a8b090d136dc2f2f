//! Sessions: login by name or phone, one generic failure, throttling of repeated failures (per
//! address, per account and address, per account from unusual addresses; X-Forwarded-For only
//! from trusted proxies), expiry, logout, disabled people, the session cookie and its CSRF protection.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::db::schema::{login_attempts, login_throttle, login_usual_addresses, people, sessions};

use crate::fixture::{spawn_fixture, spawn_fixture_configured, PASSWORD};
use crate::helpers::{assert_error, client_from, TestApp};

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

/// A login attempt from the client `from` (see `client_from`), with optional extra headers.
async fn login_from(app: &TestApp, from: &reqwest::Client, login: &str, password: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = from.post(app.url("/api/v1/auth/login")).json(&json!({"login": login, "password": password}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// Asserts 429 `too_many_attempts` and answers its `Retry-After` in seconds.
async fn assert_throttled(r: reqwest::Response) -> i64 {
    let retry: i64 = r
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.status()))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    let body = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(body["retry_after_seconds"], retry, "{body}");
    assert!(retry >= 1, "{retry}");
    retry
}

/// The recorded reasons of the attempts on `login`, oldest first.
fn reasons_of(app: &TestApp, login: &str) -> Vec<String> {
    login_attempts::table
        .filter(login_attempts::login.eq(login))
        .select(login_attempts::reason)
        .order(login_attempts::at)
        .load(&mut app.conn())
        .unwrap()
}

/// Time passes until every wait is over (the counters stay).
fn pass_the_waits(app: &TestApp) {
    diesel::update(login_throttle::table.filter(login_throttle::blocked_until.is_not_null()))
        .set(login_throttle::blocked_until.eq(Some(Utc::now().naive_utc() - Duration::seconds(1))))
        .execute(&mut app.conn())
        .unwrap();
}

#[tokio::test]
async fn thirty_rapid_wrong_passwords_from_one_address_are_refused_after_the_threshold_without_checking_the_password() {
    let (app, _) = spawn_fixture().await;
    // A password hash as costly as production's, so that checking it shows in the time taken.
    let mut costly = app.settings.auth.clone();
    (costly.argon2_memory_kib, costly.argon2_iterations) = (19_456, 4);
    let hash = gridloop::app::passwords::hash_password(&costly, PASSWORD).unwrap();
    diesel::update(people::table.filter(people::login.eq("gw1"))).set(people::password_hash.eq(hash)).execute(&mut app.conn()).unwrap();
    let free = app.settings.auth.throttle_account_address_failures as usize;
    let first_delay = app.settings.auth.throttle_first_delay_seconds;

    let (mut checked, mut refused) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for i in 0..30 {
        let started = std::time::Instant::now();
        let r = try_login(&app, "gw1", "wrong-password").await;
        if i < free {
            assert_error(r, StatusCode::UNAUTHORIZED, "login_failed").await;
            checked += started.elapsed();
        } else {
            let retry = assert_throttled(r).await;
            refused += started.elapsed();
            assert!(retry <= first_delay, "the first wait is {first_delay} s, not {retry}");
        }
    }
    // Each checked attempt verified the costly hash once; 25 refusals together took less time than
    // those 5 checks, so no refusal verified it.
    assert!(refused < checked, "25 refusals took {refused:?}, 5 checked attempts {checked:?}: the password was checked while refused");
    // Even the right password is refused while the wait lasts: it is not looked at.
    assert_throttled(try_login(&app, "gw1", PASSWORD).await).await;

    let reasons = reasons_of(&app, "gw1");
    assert_eq!(reasons.iter().filter(|r| *r == "bad_password").count(), free, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "throttled_account_address").count(), 31 - free, "{reasons:?}");

    // The refusal says so in Chinese by default and in English on request.
    let zh: Value = try_login(&app, "gw1", "wrong-password").await.json().await.unwrap();
    assert!(zh["message"].as_str().unwrap().contains("秒后再试"), "{zh}");
    let en = login_from(&app, &app.client, "gw1", "wrong-password", &[("Accept-Language", "en")]).await;
    let en: Value = en.json().await.unwrap();
    assert!(en["message"].as_str().unwrap().starts_with("Too many failed logins: try again in"), "{en}");
}

#[tokio::test]
async fn the_victim_logs_in_from_his_usual_address_while_another_address_guesses_his_password() {
    let (app, _) = spawn_fixture().await;
    let victim = client_from("127.0.0.1");
    let attacker = client_from("127.0.0.2");
    assert_eq!(login_from(&app, &victim, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    for _ in 0..30 {
        login_from(&app, &attacker, "gw1", "wrong-password", &[]).await;
    }
    assert_throttled(login_from(&app, &attacker, "gw1", PASSWORD, &[]).await).await;
    // The victim's own address is not held up: a typo is an ordinary failure, the password works.
    assert_error(login_from(&app, &victim, "gw1", "typo-password", &[]).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    assert_eq!(login_from(&app, &victim, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    let attempts: Vec<(Option<String>, String)> = login_attempts::table
        .filter(login_attempts::login.eq("gw1"))
        .select((login_attempts::remote_addr, login_attempts::reason))
        .order(login_attempts::at)
        .load(&mut app.conn())
        .unwrap();
    assert!(attempts.iter().filter(|a| a.1.starts_with("throttled")).all(|a| a.0.as_deref() == Some("127.0.0.2")), "{attempts:?}");
    assert_eq!(attempts.last().unwrap(), &(Some("127.0.0.1".to_string()), "ok".to_string()));
}

/// Wrong passwords on `login` from `addresses` clients, `each` from every one.
async fn attack_from_many_addresses(app: &TestApp, login: &str, addresses: std::ops::Range<u8>, each: usize) {
    for a in addresses {
        let from = client_from(&format!("127.0.1.{a}"));
        for _ in 0..each {
            assert_error(login_from(app, &from, login, "wrong-password", &[]).await, StatusCode::UNAUTHORIZED, "login_failed").await;
        }
    }
}

#[tokio::test]
async fn an_attack_from_many_addresses_throttles_the_unusual_addresses_of_the_account_but_not_its_usual_one() {
    let (app, _) = spawn_fixture().await;
    let usual = client_from("127.0.0.1");
    assert_eq!(login_from(&app, &usual, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    // Five addresses, each below its own limits (4 < 5 per account and address), together reach
    // the account's limit for unusual addresses (20).
    let per_address = app.settings.auth.throttle_account_address_failures as usize - 1;
    let limit = app.settings.auth.throttle_unusual_address_failures as usize;
    attack_from_many_addresses(&app, "gw1", 1..(1 + (limit / per_address) as u8), per_address).await;

    // Any address the account does not usually use now waits, even with the right password...
    let fresh = client_from("127.0.2.1");
    assert_throttled(login_from(&app, &fresh, "gw1", PASSWORD, &[]).await).await;
    assert_eq!(reasons_of(&app, "gw1").last().unwrap(), "throttled_account");
    // ... while the usual address is answered as ever, and its password works.
    assert_error(login_from(&app, &usual, "gw1", "typo-password", &[]).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    assert_eq!(login_from(&app, &usual, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    // Other accounts are untouched, from the fresh address too.
    assert_eq!(login_from(&app, &fresh, "bs1", PASSWORD, &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_address_is_not_usual_once_its_last_success_is_older_than_the_configured_days() {
    let (app, _) = spawn_fixture().await;
    let old = client_from("127.0.0.1");
    assert_eq!(login_from(&app, &old, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    let days = app.settings.auth.usual_address_days;
    diesel::update(login_usual_addresses::table)
        .set(login_usual_addresses::last_success_at.eq(Utc::now().naive_utc() - Duration::days(days) - Duration::hours(1)))
        .execute(&mut app.conn())
        .unwrap();
    attack_from_many_addresses(&app, "gw1", 1..6, 4).await;
    assert_throttled(login_from(&app, &old, "gw1", PASSWORD, &[]).await).await;
}

#[tokio::test]
async fn the_wait_doubles_with_each_failure_past_the_threshold_up_to_the_cap() {
    let (app, _) = spawn_fixture().await;
    for _ in 0..app.settings.auth.throttle_account_address_failures {
        assert_error(try_login(&app, "gw1", "wrong-password").await, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    let mut waits = vec![];
    for _ in 0..7 {
        waits.push(assert_throttled(try_login(&app, "gw1", "wrong-password").await).await);
        // Once the wait has passed, the attempt is checked again: one more failure.
        pass_the_waits(&app);
        assert_error(try_login(&app, "gw1", "wrong-password").await, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    // The refusal announces the whole wait, less the few seconds it may take to get here.
    let expected = [30, 60, 120, 240, 480, 900, 900];
    for (got, want) in waits.iter().zip(expected) {
        assert!((want - 5..=want).contains(got), "waits {waits:?}, expected {expected:?}");
    }
    // Counters whose failures are all forgotten are deleted by the scheduler's pruning.
    let later = Utc::now().naive_utc() + Duration::days(2);
    let pruned = gridloop::app::throttle::prune_throttle(&mut app.conn(), &app.settings.auth, later).unwrap();
    assert!(pruned >= 2, "{pruned}");
    assert_eq!(login_throttle::table.count().get_result::<i64>(&mut app.conn()).unwrap(), 0);
}

#[tokio::test]
async fn one_address_trying_many_logins_is_throttled_and_unknown_logins_are_throttled_like_known_ones() {
    let (app, _) = spawn_fixture().await;
    let sprayer = client_from("127.0.0.3");
    let limit = app.settings.auth.throttle_address_failures;
    for i in 0..limit {
        let login = if i % 2 == 0 { format!("nobody{i}") } else { ["gw1", "bs1", "cs1", "dl1", "sup1"][(i as usize / 2) % 5].to_string() };
        assert_error(login_from(&app, &sprayer, &login, "wrong-password", &[]).await, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    assert_throttled(login_from(&app, &sprayer, "admin1", PASSWORD, &[]).await).await;
    assert_eq!(reasons_of(&app, "admin1"), vec!["throttled_address"]);
    assert_eq!(login_from(&app, &client_from("127.0.0.4"), "admin1", PASSWORD, &[]).await.status(), StatusCode::OK);

    // A login that names nobody meets the same limits as a real one: the answers tell nothing.
    let prober = client_from("127.0.0.5");
    for login in ["nobody", "gw1"] {
        for _ in 0..app.settings.auth.throttle_account_address_failures {
            assert_error(login_from(&app, &prober, login, "wrong-password", &[]).await, StatusCode::UNAUTHORIZED, "login_failed").await;
        }
    }
    let unknown = assert_throttled(login_from(&app, &prober, "nobody", "wrong-password", &[]).await).await;
    let known = assert_throttled(login_from(&app, &prober, "gw1", "wrong-password", &[]).await).await;
    assert!((unknown - known).abs() <= 1, "{unknown} vs {known}");
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy() {
    let (app, _) = spawn_fixture().await;
    assert!(app.settings.server.trusted_proxies.is_empty(), "no proxy is trusted by default");
    for i in 0..app.settings.auth.throttle_account_address_failures {
        let forged = format!("198.51.100.{i}");
        let r = login_from(&app, &app.client, "gw1", "wrong-password", &[("X-Forwarded-For", &forged)]).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    // A new forged address each time does not make a new client.
    assert_throttled(login_from(&app, &app.client, "gw1", "wrong-password", &[("X-Forwarded-For", "198.51.100.200")]).await).await;
    let remotes: Vec<Option<String>> = login_attempts::table.select(login_attempts::remote_addr).load(&mut app.conn()).unwrap();
    assert!(remotes.iter().all(|r| r.as_deref() == Some("127.0.0.1")), "{remotes:?}");
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client_and_only_its_right_end_is_believed() {
    let (app, _) = spawn_fixture_configured(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let proxy = client_from("127.0.0.1");
    let free = app.settings.auth.throttle_account_address_failures;
    // Through the proxy, each client is its own address: none reaches a limit.
    for i in 0..2 * free {
        let client = format!("198.51.100.{i}");
        let r = login_from(&app, &proxy, "gw1", "wrong-password", &[("X-Forwarded-For", &client)]).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    // What a client writes to the left of the proxy's entry is not believed.
    for i in 0..free {
        let forged = format!("203.0.113.{i}, 198.51.100.99");
        let r = login_from(&app, &proxy, "gw1", "wrong-password", &[("X-Forwarded-For", &forged)]).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "login_failed").await;
    }
    assert_throttled(login_from(&app, &proxy, "gw1", PASSWORD, &[("X-Forwarded-For", "203.0.113.77, 198.51.100.99")]).await).await;
    // The proxy's own address is not held up by its clients' failures.
    assert_eq!(login_from(&app, &proxy, "gw1", PASSWORD, &[]).await.status(), StatusCode::OK);
    // A peer that is not a trusted proxy is its own client, whatever the header says.
    let other = client_from("127.0.0.2");
    login_from(&app, &other, "bs1", "wrong-password", &[("X-Forwarded-For", "198.51.100.1")]).await;
    let remote = |login: &str| -> Vec<String> {
        login_attempts::table
            .filter(login_attempts::login.eq(login))
            .order(login_attempts::at)
            .select(login_attempts::remote_addr.assume_not_null())
            .load(&mut app.conn())
            .unwrap()
    };
    let gw1 = remote("gw1");
    assert_eq!(gw1[0], "198.51.100.0");
    assert_eq!(gw1[2 * free as usize], "198.51.100.99");
    assert_eq!(gw1.last().unwrap(), "127.0.0.1");
    assert_eq!(remote("bs1"), vec!["127.0.0.2"]);
}

#[tokio::test]
async fn an_admin_lifts_the_throttling_of_an_account_by_resetting_the_password_or_enabling_it() {
    let (app, fx) = spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let fresh = client_from("127.0.2.1");
    let attack = |range| attack_from_many_addresses(&app, "gw1", range, 4);

    attack(1..6).await;
    assert_throttled(login_from(&app, &fresh, "gw1", PASSWORD, &[]).await).await;
    let r =
        app.post_json(&format!("/api/v1/people/{}/password", fx.person("gw1")), Some(&admin), &json!({"password": "a-new-password"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(login_from(&app, &fresh, "gw1", "a-new-password", &[]).await.status(), StatusCode::OK);

    // Enabling a person who is active lifts it too, without touching his password.
    attack(6..11).await;
    let fresher = client_from("127.0.2.2");
    assert_throttled(login_from(&app, &fresher, "gw1", "a-new-password", &[]).await).await;
    let r = app.post_json(&format!("/api/v1/people/{}/enable", fx.person("gw1")), Some(&admin), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(login_from(&app, &fresher, "gw1", "a-new-password", &[]).await.status(), StatusCode::OK);
    // The attackers' addresses keep their own counters.
    let addresses: i64 = login_throttle::table.filter(login_throttle::account.eq("")).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(addresses, 10);
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
