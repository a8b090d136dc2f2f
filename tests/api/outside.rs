//! Requests from outside the grid (decision 0032): the 12345 platform's work orders (signed, idempotent
//! on the external id, landed by unit, address or triage, their statuses pushed back once each to a
//! real HTTP receiver), the resident's link (sent through a real SMS gateway receiver, his page, his
//! rating in the ticket's history, revocation, the rate limit). Open311 is in `open311.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fixture::{Fixture, PASSWORD};
use crate::helpers::TestApp;
use crate::notifications::{deliver, header, receiver, Receiver};
use crate::tickets::act;

/// A registered platform: its key and secret.
pub struct Platform {
    pub id: String,
    pub key: String,
    pub secret: Option<String>,
}

/// An admin over D1 registers an outside client of `kind`, with a triage compound "待分拨" of its
/// own under K1, and maps the platform's code `A01` to the fixture's category.
pub async fn register(app: &TestApp, fx: &Fixture, kind: &str, webhook: Option<&str>) -> Platform {
    let admin = app.login("admin1", PASSWORD).await;
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": fx.unit("K1"), "kind": "compound", "code": format!("TRIAGE-{kind}"), "name": "待分拨"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let triage: Value = r.json().await.unwrap();
    let body = json!({"kind": kind, "name": "12345市民热线", "scope_unit_id": fx.unit("D1"), "triage_compound_id": triage["id"], "webhook_url": webhook});
    let r = app.post_json("/api/v1/external-clients", Some(&admin), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let issued: Value = r.json().await.unwrap();
    let id = issued["client"]["id"].as_str().unwrap().to_string();
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/external-clients/{id}/categories"),
            Some(&admin),
            Some(&json!([{"code": "A01", "category_id": fx.category}])),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    Platform { id, key: issued["api_key"].as_str().unwrap().to_string(), secret: issued["secret"].as_str().map(str::to_string) }
}

/// Sends a body to the platform's door, signed with `secret` at `ts` (Unix seconds).
async fn send_signed(app: &TestApp, key: &str, secret: Option<&str>, ts: i64, body: &str) -> reqwest::Response {
    let mut req = crate::helpers::client()
        .post(app.url("/api/v1/external/work-orders"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(secret) = secret {
        let sig = gridloop::app::notifications::webhook_signature_bytes(secret, &ts.to_string(), body.as_bytes());
        req = req.header("X-Gridloop-Timestamp", ts.to_string()).header("X-Gridloop-Signature", format!("sha256={sig}"));
    }
    req.send().await.unwrap()
}

async fn send(app: &TestApp, p: &Platform, order: &Value) -> (StatusCode, Value) {
    let r = send_signed(app, &p.key, p.secret.as_deref(), chrono::Utc::now().timestamp(), &order.to_string()).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn order(id: &str, address: &str) -> Value {
    let deadline = (chrono::Utc::now() + chrono::Duration::days(3)).with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    json!({
        "external_id": id,
        "category_code": "A01",
        "title": "小区门口垃圾堆放",
        "description": "市民来电反映：小区东门垃圾多日无人清运。",
        "deadline": deadline.to_rfc3339(),
        "address": address,
        "requester": {"name": "张三", "phone": "13712340000", "notify": "sms"}
    })
}

/// What the receiver got on `path`, as (headers, JSON body), in order.
fn received(rx: &Receiver, path: &str) -> Vec<(Vec<(String, String)>, Value)> {
    rx.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p.starts_with(path))
        .map(|(_, h, b)| (h.clone(), serde_json::from_str(b).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_work_order_is_one_ticket_however_often_sent_its_changes_are_audited_and_bad_signatures_refused() {
    let rx = receiver(200).await;
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let p = register(&app, &fx, "hotline", Some(&format!("{}/status", rx.base))).await;
    assert!(p.secret.as_deref().is_some_and(|s| s.starts_with("whsec_")), "a platform signs");
    // The admin sees the client again, never its key or secret; another district's admin does not.
    let seen = app.get_ok(&format!("/api/v1/external-clients/{}", p.id), &app.login("admin1", PASSWORD).await).await;
    let shown = seen.to_string();
    assert!(seen["key_hint"].as_str().unwrap().starts_with("glk_"), "{seen}");
    assert!(!shown.contains(&p.key[17..]) && !shown.contains(p.secret.as_deref().unwrap()), "{shown}");
    let r = app.get(&format!("/api/v1/external-clients/{}", p.id), Some(&app.login("admin2", PASSWORD).await)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Its address names the compound and building: it lands there.
    let o = order("WO-20261202-0001", "北京市某区测试Y1测试B1 2单元302");
    let (s, first) = send(&app, &p, &o).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["received"].as_str(), first["landing"].as_str(), first["place_name"].as_str()),
        (Some("created"), Some("address"), Some("测试B1"))
    );
    assert!(first["deadline_at"].is_string(), "the platform's deadline is held: {first}");
    let shown = first.to_string();
    assert!(!shown.contains("13712340000") && !shown.contains("张三"), "no personal data goes back: {shown}");

    // The same order again: the same ticket, nothing new.
    let (s, again) = send(&app, &p, &o).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (again["received"].as_str(), &again["ticket_id"], again["revision"].as_i64()),
        (Some("unchanged"), &first["ticket_id"], Some(0))
    );
    let cs = app.login("cs1", PASSWORD).await;
    let id = first["ticket_id"].as_str().unwrap();
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &cs).await;
    assert_eq!((t["channel"].as_str(), t["title"].as_str()), (Some("hotline"), Some("小区门口垃圾堆放")));
    assert_ne!(t["resident_phone"].as_str(), Some("13712340000"), "masked for those who did not reveal it: {t}");
    let list = app.get_ok("/api/v1/tickets?limit=100", &cs).await;
    let same: Vec<&Value> = list["items"].as_array().unwrap().iter().filter(|i| i["number"] == first["ticket_number"]).collect();
    assert_eq!(same.len(), 1, "one ticket for the order");

    // A changed order: an update of the same ticket, with its audit event.
    let mut changed = o.clone();
    changed["title"] = json!("小区东门垃圾堆放（补充）");
    let (s, upd) = send(&app, &p, &changed).await;
    assert_eq!(s, StatusCode::OK, "{upd}");
    assert_eq!((upd["received"].as_str(), upd["revision"].as_i64(), &upd["ticket_id"]), (Some("updated"), Some(1), &first["ticket_id"]));
    let timeline = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &cs).await;
    let ev = timeline.as_array().unwrap().iter().find(|e| e["action"] == "external_update").expect("the update is in the history");
    assert!(ev.to_string().contains("小区东门垃圾堆放（补充）"), "{ev}");

    // Refused: no signature, a wrong one, an old timestamp, a wrong key — all 401, nothing filed.
    let body = order("WO-20261202-0009", "测试Y1").to_string();
    let now = chrono::Utc::now().timestamp();
    for (key, secret, ts) in [
        (p.key.as_str(), None, now),
        (p.key.as_str(), Some("whsec_wrong"), now),
        (p.key.as_str(), p.secret.as_deref(), now - 3600),
        ("glk_000000000000_nope", p.secret.as_deref(), now),
    ] {
        let r = send_signed(&app, key, secret, ts, &body).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "client_refused", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| m.contains("签名")), "{v}");
    }
    let r = crate::helpers::client()
        .get(app.url("/api/v1/external/work-orders/WO-20261202-0009"))
        .header("Authorization", format!("Bearer {}", p.key))
        .header("X-Gridloop-Timestamp", now.to_string())
        .header(
            "X-Gridloop-Signature",
            format!(
                "sha256={}",
                gridloop::app::notifications::webhook_signature_bytes(p.secret.as_deref().unwrap(), &now.to_string(), b"")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the refused order was never filed");

    // A new key: the old one is refused at once, the new one works.
    let admin = app.login("admin1", PASSWORD).await;
    let r = app
        .patch_json(
            &format!("/api/v1/external-clients/{}", p.id),
            Some(&admin),
            Some(seen["version"].as_i64().unwrap()),
            &json!({"rotate_key": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let fresh = Platform {
        id: p.id.clone(),
        key: rotated["api_key"].as_str().unwrap().into(),
        secret: rotated["secret"].as_str().map(str::to_string),
    };
    let (s, _) = send(&app, &p, &changed).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old key and secret stop at once");
    let (s, v) = send(&app, &fresh, &changed).await;
    assert_eq!((s, v["received"].as_str()), (StatusCode::OK, Some("unchanged")), "{v}");
    let p = fresh;
    // A signed body with a NUL in a text: refused naming the field, nothing filed.
    let mut nul = order("WO-20261202-0014", "测试Y1");
    nul["address"] = json!("测试Y1\u{0}3号楼");
    let (s, v) = send(&app, &p, &nul).await;
    assert_eq!((s, v["code"].as_str(), v["field"].as_str()), (StatusCode::BAD_REQUEST, Some("nul_character"), Some("/address")), "{v}");
    // A code the map does not know: 422 naming the field, in the caller's language.
    let mut unmapped = order("WO-20261202-0010", "测试Y1");
    unmapped["category_code"] = json!("Z99");
    let (s, v) = send(&app, &p, &unmapped).await;
    assert_eq!(s.as_u16(), 422);
    assert_eq!(v["field"], "category_code", "{v}");
    assert!(v["message"].as_str().unwrap().contains("Z99"), "{v}");

    // An address that matches no compound waits at the triage compound; a unit code lands there.
    let (s, lost) = send(&app, &p, &order("WO-20261202-0011", "朝阳路88号")).await;
    assert_eq!(s, StatusCode::CREATED, "{lost}");
    assert_eq!((lost["landing"].as_str(), lost["place_name"].as_str()), (Some("triage"), Some("待分拨")));
    let mut named = order("WO-20261202-0012", "朝阳路88号");
    named["unit_code"] = json!("T-Y1");
    let (s, at_unit) = send(&app, &p, &named).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!((at_unit["landing"].as_str(), at_unit["place_name"].as_str()), (Some("unit"), Some("测试Y1")));
    // The admin records where 测试Y1's gate is: an unmatched address with coordinates 150 m away
    // lands there (by location); 3 km away, it waits for triage.
    let admin = app.login("admin1", PASSWORD).await;
    let y1 = app.get_ok(&format!("/api/v1/org-units/{}", fx.unit("Y1")), &admin).await;
    let r = app
        .patch_json(
            &format!("/api/v1/org-units/{}", fx.unit("Y1")),
            Some(&admin),
            Some(y1["version"].as_i64().unwrap()),
            &json!({"latitude": 31.7500}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "a latitude alone is refused");
    let r = app
        .patch_json(
            &format!("/api/v1/org-units/{}", fx.unit("Y1")),
            Some(&admin),
            Some(y1["version"].as_i64().unwrap()),
            &json!({"latitude": 31.7500, "longitude": 116.5000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut near = order("WO-20261202-0015", "朝阳路88号");
    (near["latitude"], near["longitude"]) = (json!(31.7513), json!(116.5003));
    let (_, at) = send(&app, &p, &near).await;
    assert_eq!((at["landing"].as_str(), at["place_name"].as_str()), (Some("location"), Some("测试Y1")), "{at}");
    let mut far = order("WO-20261202-0016", "朝阳路88号");
    (far["latitude"], far["longitude"]) = (json!(31.7800), json!(116.5000));
    let (_, at) = send(&app, &p, &far).await;
    assert_eq!(at["landing"].as_str(), Some("triage"), "{at}");
    // A unit outside the client's scope (D2's compound) is not taken: the address decides.
    named["external_id"] = json!("WO-20261202-0013");
    named["unit_code"] = json!("T-Y2");
    let (_, outside) = send(&app, &p, &named).await;
    assert_eq!(outside["landing"].as_str(), Some("triage"), "{outside}");
    drop(rx);
}

#[tokio::test]
async fn the_platform_hears_each_status_once_signed_and_reads_them_back_by_external_id() {
    let rx = receiver(200).await;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| {
        s.notify.base_url = "https://gridloop.example".into();
    })
    .await;
    let p = register(&app, &fx, "hotline", Some(&format!("{}/status", rx.base))).await;
    let o = order("WO-STATUS-1", "测试Y1测试B1");
    let (s, first) = send(&app, &p, &o).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let id = first["ticket_id"].as_str().unwrap().to_string();
    let deadline = crate::helpers::instant(&json!(chrono::DateTime::parse_from_rfc3339(o["deadline"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));

    // 签收: the compound takes it; its resolution clock runs to the platform's deadline.
    let bs = app.login("bs1", PASSWORD).await;
    let (s, t) = act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let due = crate::helpers::instant(&t["due_at"]);
    assert!((due - deadline).num_seconds().abs() <= 1, "the resolution clock takes the platform's deadline: {due} vs {deadline}");
    // The category's own resolution limit changes (the city's admin): policy clocks are
    // recomputed, the platform's deadline stays.
    let root = app.login("root", PASSWORD).await;
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/categories/{}/limits", fx.category),
            Some(&root),
            Some(&json!({"stage": "resolution", "urgency": "normal", "limit": "1 working_days"})),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await;
    assert!((crate::helpers::instant(&t["due_at"]) - deadline).num_seconds().abs() <= 1, "the platform's deadline stands: {t}");
    let now = gridloop::app::utc_now();
    deliver(&app, now);
    deliver(&app, now + chrono::Duration::seconds(5));
    let got = received(&rx, "/status");
    assert_eq!(got.len(), 1, "one push for one status, however often the worker runs: {got:?}");
    let (h, body) = &got[0];
    assert_eq!((body["status"].as_str(), body["external_id"].as_str()), (Some("accepted"), Some("WO-STATUS-1")));
    assert_eq!(header(h, "x-gridloop-delivery"), body["delivery_id"].as_str().unwrap(), "the delivery id to deduplicate on");
    let raw = rx.seen.lock().unwrap().iter().find(|(p, _, _)| p.starts_with("/status")).unwrap().2.clone();
    let sig = gridloop::app::notifications::webhook_signature_bytes(
        p.secret.as_deref().unwrap(),
        header(h, "x-gridloop-timestamp"),
        raw.as_bytes(),
    );
    assert_eq!(header(h, "x-gridloop-signature"), format!("sha256={sig}"), "signed with the platform's secret");

    // 办结 and 回访: one push each, with what was done and the resident's verdict.
    let (s, t) =
        act(&app, &bs, &id, t["version"].as_i64().unwrap(), json!({"action": "mark_solved", "resolution": "已协调物业清运"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let gw = app.login("gw1", PASSWORD).await;
    let (s, t) =
        act(&app, &gw, &id, t["version"].as_i64().unwrap(), json!({"action": "record_return_visit", "satisfaction": "satisfied"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    deliver(&app, now + chrono::Duration::seconds(10));
    deliver(&app, now + chrono::Duration::seconds(20));
    let got = received(&rx, "/status");
    let statuses: Vec<&str> = got.iter().map(|(_, b)| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["accepted", "solved", "return_visit"], "each status once, in order");
    assert_eq!(got[1].1["note"], "已协调物业清运");
    assert_eq!((got[2].1["satisfaction"].as_str(), got[2].1["reopened"].as_bool()), (Some("satisfied"), Some(false)));
    let ids: std::collections::HashSet<&str> = got.iter().map(|(h, _)| header(h, "x-gridloop-delivery")).collect();
    assert_eq!(ids.len(), 3, "three deliveries, three ids");

    // Read back by external id (signed GET): the stage and every status.
    let ts = chrono::Utc::now().timestamp();
    let r = crate::helpers::client()
        .get(app.url("/api/v1/external/work-orders/WO-STATUS-1"))
        .header("Authorization", format!("Bearer {}", p.key))
        .header("X-Gridloop-Timestamp", ts.to_string())
        .header(
            "X-Gridloop-Signature",
            format!("sha256={}", gridloop::app::notifications::webhook_signature_bytes(p.secret.as_deref().unwrap(), &ts.to_string(), b"")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let st: Value = r.json().await.unwrap();
    assert_eq!(st["state"], "closed");
    assert_eq!(st["statuses"].as_array().unwrap().len(), 3, "{st}");
    assert_eq!(st["resolution"], "已协调物业清运");
    // A finished ticket refuses a changed order.
    let mut late = o.clone();
    late["title"] = json!("再次反映");
    let (s, v) = send(&app, &p, &late).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("order_finished")), "{v}");
}

/// The token of the first link a receiver's SMS gateway got, and the whole message.
fn sms_token(rx: &Receiver) -> (String, Value) {
    let got = received(rx, "/sms");
    let (_, body) = got.first().expect("an SMS went to the gateway").clone();
    let text = body["text"].as_str().unwrap();
    let token = text
        .split("/s/")
        .nth(1)
        .expect("a link in the text")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token, body)
}

#[tokio::test]
async fn a_resident_follows_and_rates_his_request_by_his_link_and_the_rating_shows_in_the_timeline() {
    let rx = receiver(200).await;
    let gateway = format!("{}/sms", rx.base);
    let (app, fx) = crate::fixture::spawn_fixture_configured(move |s| {
        s.notify.base_url = "https://gridloop.example".into();
        s.notify.sms_gateway_url = gateway;
        s.notify.sms_gateway_secret = "gw-secret".into();
    })
    .await;
    // A grid worker files; he sends the resident a link by SMS (to the ticket's own phone).
    let gw = app.login("gw1", PASSWORD).await;
    let t = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let r = app.post_json(&format!("/api/v1/tickets/{id}/resident-links"), Some(&gw), &json!({"channel": "sms"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let link: Value = r.json().await.unwrap();
    assert!(link["url"].as_str().unwrap().starts_with("https://gridloop.example/s/"), "{link}");
    // Another compound's secretary cannot send links for it (not his ticket).
    let r = app
        .post_json(&format!("/api/v1/tickets/{id}/resident-links"), Some(&app.login("bs2", PASSWORD).await), &json!({"channel": "none"}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let o = deliver(&app, crate::notifications::working_and_quiet(&app).0);
    assert!(o.done >= 1, "{o:?}");
    let (token, sms) = sms_token(&rx);
    assert_eq!(sms["mobile"], "13712345678");
    assert_eq!(format!("https://gridloop.example/s/{token}"), link["url"].as_str().unwrap());
    let (h, _) = &received(&rx, "/sms")[0];
    assert!(header(h, "x-gridloop-signature").starts_with("sha256="), "the gateway's request is signed");

    // His page: the stage in plain words, no staff names, no phone.
    let web = crate::helpers::client_from("127.0.41.1");
    let page = web.get(app.url(&format!("/s/{token}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("已登记，等待小区处理") && html.contains(t["number"].as_str().unwrap()), "{html}");
    for private in ["测试gw1", "13712345678", "居民r1", "5678"] {
        assert!(!html.contains(private), "the page shows {private}");
    }
    assert!(!html.contains("name=\"rating\""), "no rating before it is solved");
    let r = web.post(app.url(&format!("/s/{token}/rating"))).form(&[("rating", "satisfied")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "rating an open request is refused");

    // Solved: he rates it; the rating is in the ticket's history for the return visit.
    let bs = app.login("bs1", PASSWORD).await;
    let (_, t) = act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    let (s, _) = act(&app, &bs, &id, t["version"].as_i64().unwrap(), json!({"action": "mark_solved", "resolution": "已劝导店主"})).await;
    assert_eq!(s, StatusCode::OK);
    let html = web.get(app.url(&format!("/s/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("name=\"rating\""), "the rating form once solved");
    let r = web
        .post(app.url(&format!("/s/{token}/rating")))
        .form(&[("rating", "basically_satisfied"), ("comment", "晚上还是有点吵")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("基本满意"));
    let r = web.post(app.url(&format!("/s/{token}/rating"))).form(&[("rating", "satisfied")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "once per link");
    let timeline = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &gw).await;
    let ev = timeline.as_array().unwrap().iter().find(|e| e["action"] == "resident_rating").expect("the rating is in the history");
    assert!(ev.to_string().contains("basically_satisfied") && ev.to_string().contains("晚上还是有点吵"), "{ev}");
    let links = app.get_ok(&format!("/api/v1/tickets/{id}/resident-links"), &gw).await;
    assert_eq!(links[0]["rating"], "basically_satisfied");
    assert!(links[0]["url"].is_null(), "the address is shown once");
    // The grid worker still records his own return visit; both are kept.
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await;
    let (s, _) = act(
        &app,
        &gw,
        &id,
        t["version"].as_i64().unwrap(),
        json!({"action": "record_return_visit", "satisfaction": "basically_satisfied"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Revoked: the page answers exactly as a token that never existed.
    let r = app
        .request(Method::POST, &format!("/api/v1/resident-links/{}/revoke", links[0]["id"].as_str().unwrap()), Some(&gw), None, None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let gone = web.get(app.url(&format!("/s/{token}"))).send().await.unwrap();
    let gone_status = gone.status();
    let gone_body = gone.text().await.unwrap();
    let never = web.get(app.url("/s/AAAAAAAAAAAAAAAAAAAAAA")).send().await.unwrap();
    assert_eq!((gone_status, never.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(gone_body, never.text().await.unwrap(), "revoked and unknown look the same");
}

#[tokio::test]
async fn guessing_tokens_from_one_address_is_stopped_after_a_minutes_budget() {
    let (app, _fx) = crate::fixture::spawn_fixture().await;
    let web = crate::helpers::client_from("127.0.42.7");
    let mut statuses = vec![];
    for i in 0..(2 * gridloop::http::web::pages::status::PER_MINUTE + 3) {
        let r = web.get(app.url(&format!("/s/guess{i:017}"))).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    // Twice the budget and more: even across a minute's edge one of the two minutes goes over.
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 404 || *s == 429), "{statuses:?}");
    // Another address is not held up.
    let r = crate::helpers::client_from("127.0.42.8").get(app.url("/s/AAAAAAAAAAAAAAAAAAAAAA")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The admin's page of outside systems: register a platform (its key and secret shown once, and
/// working), map its codes, switch it off; another district's admin sees none of it.
#[tokio::test]
async fn an_admin_registers_maps_and_switches_off_a_platform_on_the_page() {
    use crate::pages::PageClient;
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let admin = PageClient::login(&app, "admin1").await;
    let (s, html) = admin.get("/admin/clients").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("尚未接入外部系统") && html.contains("测试Y1"), "{html}");
    let r = admin
        .submit(
            "/admin/clients/add",
            &[
                ("kind", "hotline"),
                ("name", "12345平台"),
                ("scope_unit_id", fx.unit("D1")),
                ("triage_compound_id", fx.unit("Y1")),
                ("webhook_url", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    let code_in = |id: &str| html.split(&format!("id=\"{id}\">")).nth(1).and_then(|r| r.split('<').next()).unwrap_or_default().to_string();
    let (key, secret) = (code_in("issued-key"), code_in("issued-secret"));
    assert!(key.starts_with("glk_") && secret.starts_with("whsec_"), "{html}");
    let (_, again) = admin.get("/admin/clients").await;
    assert!(!again.contains(&key) && !again.contains(&secret), "shown once");
    let id = again.split("/admin/clients/").nth(1).unwrap().split('/').next().unwrap().to_string();

    // The map from its text; a line naming no category comes back with the reason.
    let r = admin.submit(&format!("/admin/clients/{id}/categories"), &[("map", "A01 = noise\nZ9 = nothing")]).await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("nothing"), "the bad code is named");
    let r = admin.submit(&format!("/admin/clients/{id}/categories"), &[("map", "A01 = noise\n\nB02= noise")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get("/admin/clients").await;
    assert!(html.contains("A01 = noise") && html.contains("B02 = noise"), "{html}");
    // The key works at the platform's door; switched off, it is refused.
    let p = Platform { id: id.clone(), key: key.clone(), secret: Some(secret.clone()) };
    let (s, _) = send(&app, &p, &order("WO-PAGE-1", "测试Y1")).await;
    assert_eq!(s, StatusCode::CREATED);
    let version = html.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = admin.submit(&format!("/admin/clients/{id}/change"), &[("version", &version), ("active", "false")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, _) = send(&app, &p, &order("WO-PAGE-2", "测试Y1")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a switched-off client is refused");
    // Another district's admin lists nothing; a grid worker gets no page.
    let (_, other) = PageClient::login(&app, "admin2").await.get("/admin/clients").await;
    assert!(!other.contains("12345平台"), "{other}");
    let (s, _) = PageClient::login(&app, "gw1").await.get("/admin/clients").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// The platform sends the same order five times at once (a retry storm): one ticket; one answer
/// says created, the others unchanged, all naming it.
#[tokio::test]
async fn the_same_order_sent_five_times_at_once_is_one_ticket() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let p = register(&app, &fx, "hotline", None).await;
    let o = order("WO-RACE-1", "测试Y1测试B1");
    let answers = futures_util::future::join_all((0..5).map(|_| send(&app, &p, &o))).await;
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let unchanged = answers.iter().filter(|(s, v)| *s == StatusCode::OK && v["received"] == "unchanged").count();
    assert_eq!((created, unchanged), (1, 4), "{answers:?}");
    let ids: std::collections::HashSet<&str> = answers.iter().map(|(_, v)| v["ticket_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let cs = app.login("cs1", PASSWORD).await;
    let list = app.get_ok("/api/v1/tickets?limit=100", &cs).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "one ticket in all");
}
