//! Notifications: the change that causes one writes it with its deliveries (in its transaction,
//! once per event), and each person reads his own in the in-app centre.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::tickets::{act, file, new_ticket};

async fn centre(app: &crate::helpers::TestApp, token: &str, query: &str) -> Value {
    app.get_ok(&format!("/api/v1/notifications{query}"), token).await
}

#[tokio::test]
async fn a_whistle_tells_the_departments_liaisons_once_and_each_reads_only_his_own() {
    let (app, fx) = spawn_fixture().await;
    let (gw, bs, cs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await, app.login("cs1", PASSWORD).await);
    let (dl, dl_b, dl2) = (app.login("dl1", PASSWORD).await, app.login("dl1b", PASSWORD).await, app.login("dl2", PASSWORD).await);
    assert_eq!(centre(&app, &dl, "").await["unread"], 0);
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let (_, t) = act(&app, &bs, &id, 1, json!({"action": "report_to_community", "reason": "上报"})).await;
    // The community is told nothing by a report (its inbox shows it); the whistle tells P1.
    let whistle = json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "enforcement_needed", "reason": "吹哨"});
    let key = uuid::Uuid::now_v7().to_string();
    for _ in 0..2 {
        // The same keyed action twice (a retry): one event, one message.
        let r = app
            .client
            .post(app.url(&format!("/api/v1/tickets/{id}/actions")))
            .bearer_auth(&cs)
            .header("If-Match", format!("\"{}\"", t["version"]))
            .header("Idempotency-Key", &key)
            .json(&whistle)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for token in [&dl, &dl_b] {
        let page = centre(&app, token, "").await;
        assert_eq!(page["unread"], 1, "{page}");
        let item = &page["items"][0];
        assert_eq!(item["kind"], "whistled");
        assert_eq!(item["ticket_id"], id.as_str());
        assert!(item["subject"].as_str().unwrap().contains("吹哨派单"), "{item}");
        assert!(item["body"].as_str().unwrap().contains(t["number"].as_str().unwrap()), "{item}");
        assert_eq!(item["read"], false);
    }
    assert_eq!(centre(&app, &dl2, "").await["unread"], 0, "another department is not told");
    assert_eq!(centre(&app, &cs, "").await["unread"], 0, "nor is the one who whistled");
    // English for a person who asks for it.
    let r = app.client.get(app.url("/api/v1/notifications")).bearer_auth(&dl).header("Accept-Language", "en").send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    assert!(page["items"][0]["subject"].as_str().unwrap().contains("Whistled"), "{page}");

    // Read: his own only; another's is not found; the count follows.
    let mine = centre(&app, &dl, "").await["items"][0]["id"].as_str().unwrap().to_string();
    let r = app.request(reqwest::Method::POST, &format!("/api/v1/notifications/{mine}/read"), Some(&dl2), None, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.request(reqwest::Method::POST, &format!("/api/v1/notifications/{mine}/read"), Some(&dl), None, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_ok("/api/v1/notifications/unread", &dl).await["unread"], 0);
    assert_eq!(centre(&app, &dl, "?unread=true").await["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get_ok("/api/v1/notifications/unread", &dl_b).await["unread"], 1, "his colleague's stays unread");

    // The liaison returns the case: the community's staff are told.
    let v = app.get_ok(&format!("/api/v1/tickets/{id}"), &dl).await["version"].as_i64().unwrap();
    let (s, _) =
        act(&app, &dl, &id, v, json!({"action": "return_case", "reason_code": "outside_our_remit", "note": "不属本部门职责"})).await;
    assert_eq!(s, StatusCode::OK);
    let page = centre(&app, &cs, "").await;
    assert_eq!(page["items"][0]["kind"], "returned", "{page}");
    let r = app.request(reqwest::Method::POST, "/api/v1/notifications/read-all", Some(&cs), None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_ok("/api/v1/notifications/unread", &cs).await["unread"], 0);
}

/// A real SMTP server (tests/support/smtp_sink.py, on aiosmtpd) on a port of its own; `None`
/// (the test says it skips) when Python has no aiosmtpd, unless GRIDLOOP_REQUIRE_SMTP is set.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(refuse: bool) -> Option<SmtpSink> {
        Self::start_on(free_port(), refuse)
    }

    pub fn start_on(port: u16, refuse: bool) -> Option<SmtpSink> {
        Self::start_with(port, if refuse { &["--refuse"] } else { &[] })
    }

    /// A sink with the script's other options (`--tls CERT KEY`, `--delay S`).
    pub fn start_with(port: u16, args: &[&str]) -> Option<SmtpSink> {
        use std::io::BufRead;
        let ok = std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !ok {
            assert!(std::env::var("GRIDLOOP_REQUIRE_SMTP").is_err(), "GRIDLOOP_REQUIRE_SMTP is set but python3 has no aiosmtpd");
            eprintln!("SKIPPED: no aiosmtpd for python3 (pip install aiosmtpd) — the SMTP tests did not run");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = crate::helpers::project_dir().join("tests/support/smtp_sink.py");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script).args(["--port", &port.to_string(), "--dir", dir.path().to_str().unwrap()]);
        cmd.args(args);
        let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Some(SmtpSink { child, port, dir })
    }

    /// The messages taken, in order, as the sink parsed them.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs the delivery worker's task once at `now` (on a thread of its own, as in the server).
pub fn deliver(app: &crate::helpers::TestApp, now: chrono::NaiveDateTime) -> gridloop::worker::Outcome {
    deliver_with(app, &app.settings.notify, now)
}

/// The same with other notify settings (another SMTP server, a CA to trust).
pub fn deliver_with(
    app: &crate::helpers::TestApp,
    notify: &gridloop::config::NotifySettings,
    now: chrono::NaiveDateTime,
) -> gridloop::worker::Outcome {
    let (pool, settings, notify) = (app.pool.clone(), app.settings.clone(), notify.clone());
    std::thread::spawn(move || {
        use gridloop::worker::Task;
        let mut task = gridloop::worker::deliveries::Deliveries::new(&notify, crate::helpers::calendars(&settings));
        let mut conn = pool.get().unwrap();
        task.run_once(&mut conn, now).unwrap()
    })
    .join()
    .unwrap()
}

/// The next instants (after today, China time) inside and outside working hours: 10:00 of the
/// next working day, and 10:00 of the next day off (weekend or holiday).
pub fn working_and_quiet(app: &crate::helpers::TestApp) -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
    let cals = crate::helpers::calendars(&app.settings);
    let cal = cals.default_calendar();
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let at10 = |d: chrono::NaiveDate| d.and_hms_opt(2, 0, 0).unwrap(); // 10:00 China = 02:00 UTC
    let mut d = today.succ_opt().unwrap();
    let (mut work, mut off) = (None, None);
    while work.is_none() || off.is_none() {
        if cal.is_working_day(d).unwrap() {
            work.get_or_insert(at10(d));
        } else {
            off.get_or_insert(at10(d));
        }
        d = d.succ_opt().unwrap();
    }
    (work.unwrap(), off.unwrap())
}

async fn whistled_ticket(app: &crate::helpers::TestApp, fx: &crate::fixture::Fixture, urgent: bool) -> Value {
    let (gw, bs, cs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await, app.login("cs1", PASSWORD).await);
    let mut body = new_ticket(fx);
    if urgent {
        body["urgency"] = json!("urgent");
    }
    let t = file(app, &gw, &body).await;
    let id = t["id"].as_str().unwrap().to_string();
    let (_, t) = act(app, &bs, &id, 1, json!({"action": "report_to_community", "reason": "上报"})).await;
    let whistle = json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "whistle_type": "enforcement_needed", "reason": "吹哨"});
    let (s, t) = act(app, &cs, &id, t["version"].as_i64().unwrap(), whistle).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

async fn my_mail(app: &crate::helpers::TestApp, login: &str, email: &str, quiet_hours: bool) {
    let token = app.login(login, PASSWORD).await;
    let body = json!({"email": email, "email_all": true, "quiet_hours": quiet_hours});
    let r = app.request(reqwest::Method::PUT, "/api/v1/me/notification-settings", Some(&token), Some(&body), None).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_whistle_reaches_the_liaison_by_mail_once_with_its_subject_text_link_and_message_id() {
    let Some(sink) = SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| {
        // STARTTLS is tried (the test server offers none, so the mail goes in the clear).
        s.notify.smtp_url = format!("smtp://127.0.0.1:{port}?tls=opportunistic");
        s.notify.base_url = "http://gridloop.test".into();
        s.notify.reply_to = "office@gridloop.test".into();
    })
    .await;
    my_mail(&app, "dl1", "dl1@example.org", true).await;
    let t = whistled_ticket(&app, &fx, false).await;
    let (work, _) = working_and_quiet(&app);
    let sent_mail = || {
        crate::metrics::value(
            &gridloop::metrics::get().encode(),
            r#"gridloop_notification_deliveries_total{channel="email",outcome="sent"}"#,
        )
    };
    let counted = sent_mail();
    let o = deliver(&app, work);
    assert_eq!(o.done, 1, "{o:?}");
    assert!(sent_mail() >= counted + 1.0, "the metrics count the mail sent");
    // Run again: nothing goes twice.
    deliver(&app, work);
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let m = &mail[0];
    assert_eq!(m["rcpt_tos"], json!(["dl1@example.org"]));
    assert!(
        m["subject"].as_str().unwrap().contains("吹哨派单") && m["subject"].as_str().unwrap().contains(t["number"].as_str().unwrap()),
        "{m}"
    );
    assert!(m["text"].as_str().unwrap().contains("请及时报到"), "the body in Chinese: {m}");
    let link = format!("http://gridloop.test/tickets/{}", t["id"].as_str().unwrap());
    assert!(m["text"].as_str().unwrap().contains(&link) && m["html"].as_str().unwrap().contains(&link), "{m}");
    assert_eq!(m["reply_to"], "office@gridloop.test");
    assert!(m["from"].as_str().unwrap().contains("noreply@gridloop.localhost"));
    // The Message-ID is the delivery's id: what a receiver deduplicates on.
    let log = app.get_ok(&format!("/api/v1/tickets/{}/deliveries", t["id"].as_str().unwrap()), &app.login("cs1", PASSWORD).await).await;
    let email = log.as_array().unwrap().iter().find(|d| d["channel"] == "email").unwrap().clone();
    assert_eq!(email["state"], "sent");
    assert_eq!(m["message_id"], format!("<{}@gridloop.test>", email["id"].as_str().unwrap()));
    assert!(!log.to_string().contains("dl1@example.org"), "the log names people, never their addresses");
}

#[tokio::test]
async fn quiet_hours_hold_a_normal_mail_to_the_next_working_morning_and_an_urgent_one_goes_at_once() {
    let Some(sink) = SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = format!("smtp://127.0.0.1:{port}")).await;
    my_mail(&app, "dl1", "dl1@example.org", true).await;
    let (_, off) = working_and_quiet(&app);
    // The first working morning after the day off: the held mail's time.
    let cals = crate::helpers::calendars(&app.settings);
    let mut d = off.date().succ_opt().unwrap();
    while !cals.default_calendar().is_working_day(d).unwrap() {
        d = d.succ_opt().unwrap();
    }
    let work = d.and_hms_opt(2, 0, 0).unwrap();
    whistled_ticket(&app, &fx, false).await;
    let o = deliver(&app, off);
    assert_eq!((o.done, sink.messages().len()), (0, 0), "a day off: the normal mail waits");
    let urgent = whistled_ticket(&app, &fx, true).await;
    deliver(&app, off);
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "the urgent one goes at once");
    assert!(mail[0]["subject"].as_str().unwrap().contains(urgent["number"].as_str().unwrap()));
    // The held one went to the next working morning: not before it, then once.
    let dl = app.login("dl1", PASSWORD).await;
    assert_eq!(app.get_ok("/api/v1/notifications/unread", &dl).await["unread"], 2, "the in-app centre has both at once");
    deliver(&app, work - chrono::Duration::hours(3));
    assert_eq!(sink.messages().len(), 1, "07:00 of the working day is still quiet");
    deliver(&app, work);
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn a_refused_mail_fails_visibly_a_server_down_is_retried_with_backoff_and_an_admin_can_send_again() {
    if SmtpSink::start(false).is_none() {
        return;
    }
    let port = free_port();
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = format!("smtp://127.0.0.1:{port}")).await;
    my_mail(&app, "dl1", "dl1@example.org", false).await;
    let t = whistled_ticket(&app, &fx, false).await;
    let id = t["id"].as_str().unwrap().to_string();
    let cs = app.login("cs1", PASSWORD).await;
    let email = |log: &Value| log.as_array().unwrap().iter().find(|d| d["channel"] == "email").unwrap().clone();
    // Nobody listens: the try fails and waits its backoff.
    let (work, _) = working_and_quiet(&app);
    deliver(&app, work);
    let d = email(&app.get_ok(&format!("/api/v1/tickets/{id}/deliveries"), &cs).await);
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("pending"), Some(1)), "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("smtp"), "{d}");
    deliver(&app, work + chrono::Duration::seconds(5));
    assert_eq!(email(&app.get_ok(&format!("/api/v1/tickets/{id}/deliveries"), &cs).await)["attempts"], 1, "not before its backoff");
    // The server comes up, refusing the message: failed for good (a 5xx will not change).
    let sink = SmtpSink::start_on(port, true).unwrap();
    deliver(&app, work + chrono::Duration::seconds(31));
    let d = email(&app.get_ok(&format!("/api/v1/tickets/{id}/deliveries"), &cs).await);
    assert_eq!(d["state"], "failed", "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("554"), "{d}");
    let sup = app.login("sup1", PASSWORD).await;
    let failed = app.get_ok("/api/v1/deliveries/failed", &sup).await;
    assert!(failed.as_array().unwrap().iter().any(|f| f["id"] == d["id"]), "a supervisor sees it: {failed}");
    assert!(app.get_ok("/api/v1/deliveries/failed", &app.login("sup2", PASSWORD).await).await.as_array().unwrap().is_empty());
    drop(sink);
    // An admin over the unit sends it again, and now it goes.
    let _sink = SmtpSink::start_on(port, false).unwrap();
    let retry = format!("/api/v1/deliveries/{}/retry", d["id"].as_str().unwrap());
    let r = app.request(reqwest::Method::POST, &retry, Some(&app.login("admin2", PASSWORD).await), None, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another district's admin");
    let r = app.request(reqwest::Method::POST, &retry, Some(&app.login("admin1", PASSWORD).await), None, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    deliver(&app, work + chrono::Duration::seconds(40));
    assert_eq!(email(&app.get_ok(&format!("/api/v1/tickets/{id}/deliveries"), &cs).await)["state"], "sent");
    assert_eq!(_sink.messages().len(), 1);
}

/// A real HTTP receiver for the robots and webhooks: records each request (path and query,
/// headers, body) and answers `status`.
/// One request received: the path with its query, the headers, the body.
pub(crate) type Received = (String, Vec<(String, String)>, String);

pub(crate) struct Receiver {
    pub(crate) base: String,
    pub(crate) seen: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

pub(crate) async fn receiver(status: u16) -> Receiver {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let keep = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = HttpServer::new(move || {
        let keep = keep.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let keep = keep.clone();
            async move {
                let headers = req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
                let target = format!("{}?{}", req.path(), req.query_string());
                keep.lock().unwrap().push((target, headers, String::from_utf8_lossy(&body).into_owned()));
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                    .content_type("application/json")
                    .body(r#"{"errcode":0,"errmsg":"ok"}"#)
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Receiver { base, seen, handle }
}

pub(crate) fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[tokio::test]
async fn a_units_robots_and_signed_webhook_are_told_and_an_admin_never_sees_their_secrets_again() {
    let rx = receiver(200).await;
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let admin = app.login("admin1", PASSWORD).await;
    let add = |kind: &str, path: &str, secret: Option<&str>| json!({"kind": kind, "name": format!("社区{kind}"), "url": format!("{}{path}", rx.base), "secret": secret});
    for body in [
        add("webhook", "/hook", Some("whsec-123456")),
        add("wecom", "/cgi-bin/webhook/send?key=WECOM-KEY-9999", None),
        add("dingtalk", "/robot/send?access_token=DING-TOKEN", Some("SECding-abcdef")),
    ] {
        let r = app
            .request(reqwest::Method::POST, &format!("/api/v1/org-units/{}/channels", fx.unit("K1")), Some(&admin), Some(&body), None)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
    }
    let list = app.get_ok(&format!("/api/v1/org-units/{}/channels", fx.unit("K1")), &admin).await;
    let shown = list.to_string();
    assert!(
        !shown.contains("WECOM-KEY") && !shown.contains("DING-TOKEN") && !shown.contains("whsec-1234") && !shown.contains("SECding"),
        "{shown}"
    );
    assert!(shown.contains("••••3456"), "a hint of the secret: {shown}");
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/org-units/{}/channels", fx.unit("K1")),
            Some(&app.login("admin2", PASSWORD).await),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another district's admin: as if it did not exist");
    let bad = json!({"kind": "webhook", "name": "x", "url": "ftp://example.org/x"});
    let r =
        app.request(reqwest::Method::POST, &format!("/api/v1/org-units/{}/channels", fx.unit("K1")), Some(&admin), Some(&bad), None).await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("http"), "the error says what is wrong");

    // A department returns a whistled case: the community (K1) is told on its three endpoints.
    let t = whistled_ticket(&app, &fx, true).await;
    let id = t["id"].as_str().unwrap().to_string();
    let dl = app.login("dl1", PASSWORD).await;
    let (s, _) = act(
        &app,
        &dl,
        &id,
        t["version"].as_i64().unwrap(),
        json!({"action": "return_case", "reason_code": "outside_our_remit", "note": "不属本部门职责"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let o = deliver(&app, gridloop::app::utc_now());
    assert_eq!(o.done, 3, "{o:?}");
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (_, h, body) = seen.iter().find(|(p, _, _)| p.starts_with("/hook")).unwrap();
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!((v["kind"].as_str(), v["ticket_id"].as_str(), v["urgent"].as_bool()), (Some("returned"), Some(id.as_str()), Some(true)));
    assert_eq!(header(h, "x-gridloop-delivery"), v["delivery_id"].as_str().unwrap());
    // The signature, checked with HMAC-SHA256 computed here over "timestamp.body".
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec-123456").unwrap();
    mac.update(format!("{}.{}", header(h, "x-gridloop-timestamp"), body).as_bytes());
    assert_eq!(header(h, "x-gridloop-signature"), format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
    let (_, _, body) = seen.iter().find(|(p, _, _)| p.starts_with("/cgi-bin/webhook/send?key=WECOM-KEY-9999")).unwrap();
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["msgtype"], "text");
    assert!(v["text"]["content"].as_str().unwrap().contains("部门退单"), "{v}");
    let (target, _, _) = seen.iter().find(|(p, _, _)| p.starts_with("/robot/send")).unwrap();
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(target.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    let ts: i64 = q["timestamp"].parse().unwrap();
    assert_eq!(q["sign"], gridloop::worker::deliveries::dingtalk_sign("SECding-abcdef", ts), "DingTalk's signed timestamp");
    assert_eq!(q["access_token"], "DING-TOKEN");
    rx.handle.stop(true).await;
}

#[tokio::test]
async fn the_notifications_page_lists_the_persons_own_and_opening_one_marks_it_read() {
    let (app, fx) = spawn_fixture().await;
    let t = whistled_ticket(&app, &fx, false).await;
    let id = t["id"].as_str().unwrap();
    let c = crate::pages::PageClient::login(&app, "dl1").await;
    let (s, html) = c.get("/notifications").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("吹哨派单") && html.contains(t["number"].as_str().unwrap()) && html.contains("1 条未读"), "{html}");
    assert!(html.contains("href=\"/notifications\" aria-current=\"page\""), "a tab of its own");
    let delivery = html.split("name=\"id\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = c.submit("/notifications/read", &[("id", &delivery), ("then", &format!("/tickets/{id}"))]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/tickets/{id}").as_str(), "on to the ticket");
    let (_, html) = c.get("/notifications").await;
    assert!(!html.contains("条未读"), "read now");
    // Only a ticket page is a place to go on to; another's notification is not found.
    let r = c.submit("/notifications/read", &[("id", &delivery), ("then", "https://elsewhere.example/")]).await;
    assert_eq!(r.headers()["location"], "/notifications");
    let other = crate::pages::PageClient::login(&app, "dl2").await;
    let r = other.submit("/notifications/read", &[("id", &delivery)]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, html) = other.get("/notifications").await;
    assert!(html.contains("暂无通知"));
    // The ticket's page keeps its delivery log: who was told how, by name.
    let (_, html) = crate::pages::PageClient::login(&app, "cs1").await.get(&format!("/tickets/{id}")).await;
    let log = html.split("id=\"deliveries\"").nth(1).unwrap().split("</section>").next().unwrap().to_string();
    assert!(log.contains("吹哨派单 · 站内通知") && log.contains("已发送"), "{log}");
}

/// Records a notification for one person straight into the outbox (as the change that causes it
/// would), `n` of them with keys of their own.
fn record_for(app: &crate::helpers::TestApp, unit: &str, person: &str, kind: gridloop::domain::notify::NoticeKind, tag: &str, n: usize) {
    let mut conn = app.conn();
    let now = gridloop::app::utc_now();
    for i in 0..n {
        let key = format!("{tag}/{i}");
        let once = gridloop::app::notifications::Once {
            unit_id: unit.parse().unwrap(),
            person_id: Some(person.parse().unwrap()),
            ticket_id: None,
            kind,
            roles: None,
            urgent: false,
            payload: json!({"date": "2026-12-01", "deadline": "18:00", "year": 2027}),
            dedupe_key: &key,
        };
        assert!(gridloop::app::notifications::record_once(&mut conn, once, now).unwrap());
    }
}

#[tokio::test]
async fn the_daily_digest_gathers_low_priority_mail_into_one_message_the_next_working_morning() {
    use gridloop::domain::notify::NoticeKind;
    let Some(sink) = SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = format!("smtp://127.0.0.1:{port}")).await;
    let gw = app.login("gw1", PASSWORD).await;
    let body = json!({"email": "gw1@example.org", "email_all": true, "quiet_hours": false, "digest": true});
    let r = app.request(reqwest::Method::PUT, "/api/v1/me/notification-settings", Some(&gw), Some(&body), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["digest"], true);
    // Three low-priority events (two missing logs, a calendar warning) and one that asks for action.
    record_for(&app, fx.unit("B1"), fx.person("gw1"), NoticeKind::VisitLogMissing, "digest-log", 2);
    record_for(&app, fx.unit("B1"), fx.person("gw1"), NoticeKind::CalendarProvisional, "digest-cal", 1);
    record_for(&app, fx.unit("B1"), fx.person("gw1"), NoticeKind::SlaWarning, "digest-warn", 1);
    let cals = crate::helpers::calendars(&app.settings);
    let morning = cals.default_calendar().next_working_morning(gridloop::app::utc_now()).unwrap();
    // Before the morning: only the warning goes (on its own); the digest waits.
    deliver(&app, morning - chrono::Duration::seconds(1));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["subject"].as_str().unwrap().contains("即将超时"), "{}", mail[0]);
    // The morning: the three in one mail, once.
    deliver(&app, morning);
    deliver(&app, morning + chrono::Duration::minutes(5));
    let mail = sink.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    let d = &mail[1];
    assert!(d["subject"].as_str().unwrap().contains("每日摘要") && d["subject"].as_str().unwrap().contains('3'), "{d}");
    let text = d["text"].as_str().unwrap();
    assert_eq!(text.matches("走访日志未提交").count(), 2, "{text}");
    assert!(text.contains("工作日历未发布") && text.contains("2027"), "{text}");
    // Every delivery it carried is sent; in the centre each was there at once.
    assert_eq!(app.get_ok("/api/v1/notifications/unread", &gw).await["unread"], 4);
    let mut conn = app.conn();
    use diesel::prelude::*;
    use gridloop::db::schema::deliveries;
    let pending: i64 = deliveries::table.filter(deliveries::state.ne("sent")).count().get_result(&mut conn).unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn a_robot_is_told_only_of_what_it_chose_and_a_test_message_goes_at_once_and_is_followed() {
    let Some(sink) = SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = format!("smtp://127.0.0.1:{port}")).await;
    let robot = receiver(200).await;
    let admin = app.login("admin1", PASSWORD).await;
    let add = json!({"kind": "wecom", "name": "执法队群", "url": format!("{}/cgi-bin/webhook/send?key=abc", robot.base),
        "events_all": false, "events": ["sla_breach", "returned"]});
    let r =
        app.request(reqwest::Method::POST, &format!("/api/v1/org-units/{}/channels", fx.unit("P1")), Some(&admin), Some(&add), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ch: Value = r.json().await.unwrap();
    assert_eq!((ch["events_all"].as_bool(), ch["events"].clone()), (Some(false), json!(["returned", "sla_breach"])));
    // A whistle is not among its events: the robot is not told (the liaisons are, in-app).
    whistled_ticket(&app, &fx, false).await;
    let (work, _) = working_and_quiet(&app);
    deliver(&app, work);
    assert!(robot.seen.lock().unwrap().is_empty(), "the robot chose not to hear of whistles");
    // The test button: queued, sent by the worker whatever the hour, followed by its id.
    let test = format!("/api/v1/channels/{}/test", ch["id"].as_str().unwrap());
    let r = app.request(reqwest::Method::POST, &test, Some(&app.login("admin2", PASSWORD).await), None, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another district's admin");
    let r = app.request(reqwest::Method::POST, &test, Some(&admin), None, None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["delivery_id"].as_str().unwrap().to_string();
    let again = app.request(reqwest::Method::POST, &test, Some(&admin), None, None).await;
    let e = crate::helpers::assert_error(again, StatusCode::CONFLICT, "test_too_soon").await;
    assert!(e["message"].as_str().unwrap().contains("秒"), "{e}");
    assert_eq!(app.get_ok(&format!("/api/v1/deliveries/{id}"), &admin).await["state"], "pending");
    let (_, off) = working_and_quiet(&app);
    deliver(&app, off);
    let d = app.get_ok(&format!("/api/v1/deliveries/{id}"), &admin).await;
    assert_eq!((d["state"].as_str(), d["kind"].as_str(), d["recipient"].as_str()), (Some("sent"), Some("test"), Some("执法队群")), "{d}");
    let seen = robot.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let body: Value = serde_json::from_str(&seen[0].2).unwrap();
    assert!(body["text"]["content"].as_str().unwrap().contains("测试消息"), "{body}");
    let r = app.get(&format!("/api/v1/deliveries/{id}"), Some(&app.login("dl1", PASSWORD).await)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a liaison does not see the admin's test");
    // A person tests his own mail: none set → told so; set → a test mail arrives.
    let dl = app.login("dl1", PASSWORD).await;
    let r = app.request(reqwest::Method::POST, "/api/v1/me/notification-settings/test", Some(&dl), None, None).await;
    crate::helpers::assert_error(r, StatusCode::CONFLICT, "no_email").await;
    my_mail(&app, "dl1", "dl1@example.org", true).await;
    let r = app.request(reqwest::Method::POST, "/api/v1/me/notification-settings/test", Some(&dl), None, None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mid = r.json::<Value>().await.unwrap()["delivery_id"].as_str().unwrap().to_string();
    deliver(&app, off);
    let mail = sink.messages();
    let test_mail: Vec<&Value> = mail.iter().filter(|m| m["subject"].as_str().unwrap().contains("测试消息")).collect();
    assert_eq!(test_mail.len(), 1, "{mail:?}");
    assert_eq!(test_mail[0]["rcpt_tos"], json!(["dl1@example.org"]));
    assert_eq!(app.get_ok(&format!("/api/v1/deliveries/{mid}"), &dl).await["state"], "sent");
    robot.handle.stop(true).await;
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it (openssl), valid
/// from now for two days: (dir, CA file, server certificate, server key).
fn test_ca() -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    std::fs::write(p("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let run = |args: Vec<&str>| {
        let out = std::process::Command::new("openssl").args(&args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ca_key, ca, key, csr, cert, ext) = (p("ca.key"), p("ca.pem"), p("leaf.key"), p("leaf.csr"), p("leaf.pem"), p("ext"));
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", "/CN=Gridloop Test CA"]);
    run(a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    run(a);
    run(vec!["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial", "-out", &cert, "-days", "2", "-extfile", &ext]);
    (dir, ca, cert, key)
}

#[tokio::test]
async fn mail_goes_over_starttls_to_a_relay_whose_ca_is_trusted_and_never_in_the_clear_to_an_unknown_one() {
    if SmtpSink::start(false).is_none() {
        return;
    }
    let (_dir, ca, cert, key) = test_ca();
    let port = free_port();
    let sink = SmtpSink::start_with(port, &["--tls", &cert, &key]).unwrap();
    let url = format!("smtp://127.0.0.1:{port}?tls=required");
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = url.clone()).await;
    my_mail(&app, "dl1", "dl1@example.org", false).await;
    let t = whistled_ticket(&app, &fx, false).await;
    let (work, _) = working_and_quiet(&app);
    // The relay's certificate is signed by a CA nobody was told to trust: refused, not sent plain.
    deliver(&app, work);
    assert!(sink.messages().is_empty());
    let cs = app.login("cs1", PASSWORD).await;
    let log = app.get_ok(&format!("/api/v1/tickets/{}/deliveries", t["id"].as_str().unwrap()), &cs).await;
    let email = log.as_array().unwrap().iter().find(|d| d["channel"] == "email").unwrap().clone();
    assert_eq!(email["state"], "pending", "it will be tried again: {email}");
    assert!(email["last_error"].as_str().unwrap().to_lowercase().contains("cert"), "{email}");
    // Told to trust the CA (notify.smtp_ca_file): STARTTLS, and the mail goes encrypted.
    let mut notify = app.settings.notify.clone();
    notify.smtp_ca_file = ca.clone();
    deliver_with(&app, &notify, work + chrono::Duration::minutes(5));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["tls"], true, "the session was encrypted");
    assert!(mail[0]["subject"].as_str().unwrap().contains(t["number"].as_str().unwrap()));
    // A CA file that is not there is refused when the settings are read.
    let mut s = app.settings.clone();
    s.notify.smtp_ca_file = "/nonexistent/ca.pem".into();
    assert!(s.validate().unwrap_err().to_string().contains("notify.smtp_ca_file"));
}

/// A `gridloop notify send` process against the app's database, sending at `now`.
fn sender(app: &crate::helpers::TestApp, port: u16, now: chrono::NaiveDateTime, batch: &str) -> std::process::Child {
    let at = format!("{}Z", now.format("%Y-%m-%dT%H:%M:%S"));
    crate::cli::gridloop()
        .args(["--database-url", &app.settings.database.url, "notify", "send", "--now", &at])
        .env("GRIDLOOP_NOTIFY__SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .env("GRIDLOOP_NOTIFY__BATCH", batch)
        .env("GRIDLOOP_NOTIFY__CONCURRENCY", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn email_delivery_ids(app: &crate::helpers::TestApp) -> std::collections::BTreeSet<String> {
    use diesel::prelude::*;
    use gridloop::db::schema::deliveries;
    let mut conn = app.conn();
    deliveries::table
        .filter(deliveries::channel.eq("email"))
        .select(deliveries::id)
        .load::<String>(&mut conn)
        .unwrap()
        .into_iter()
        .collect()
}

fn message_ids(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().trim_start_matches('<').split('@').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_senders_at_once_send_each_mail_once_and_one_killed_mid_batch_loses_none() {
    use gridloop::domain::notify::NoticeKind;
    let Some(sink) = SmtpSink::start(false) else { return };
    let (app, fx) = crate::fixture::spawn_fixture().await;
    my_mail(&app, "dl1", "dl1@example.org", false).await;
    record_for(&app, fx.unit("P1"), fx.person("dl1"), NoticeKind::SlaWarning, "two", 60);
    let (work, _) = working_and_quiet(&app);
    // Two instances at once, in small batches so that they take turns at the queue.
    let (a, b) = (sender(&app, sink.port, work, "5"), sender(&app, sink.port, work, "5"));
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut ids = message_ids(&sink);
    assert_eq!(ids.len(), 60, "each once: no mail twice, none missing");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.into_iter().collect::<std::collections::BTreeSet<_>>(), email_delivery_ids(&app));

    // A slow server, and a sender killed (SIGKILL) in the middle of a batch.
    let slow = SmtpSink::start_with(free_port(), &["--delay", "0.1"]).unwrap();
    record_for(&app, fx.unit("P1"), fx.person("dl1"), NoticeKind::SlaWarning, "killed", 30);
    let mut victim = sender(&app, slow.port, work, "10");
    let started = std::time::Instant::now();
    while slow.messages().len() < 3 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the sender never got going");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let before = slow.messages().len();
    assert!(before < 30, "killed before the end ({before} sent)");
    // What it had claimed waits out its claim (300 s), then another sender sends the rest.
    let out = sender(&app, slow.port, work + chrono::Duration::seconds(301), "10").wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got = message_ids(&slow);
    let total = got.len();
    got.sort();
    got.dedup();
    let wanted: std::collections::BTreeSet<String> = email_delivery_ids(&app).difference(&ids_of(&sink)).cloned().collect();
    assert_eq!(got.into_iter().collect::<std::collections::BTreeSet<_>>(), wanted, "nothing lost");
    // At least once: only mail in flight when it died may come twice (at most one batch).
    assert!(total - wanted.len() <= 10, "{} duplicates", total - wanted.len());
}

fn ids_of(sink: &SmtpSink) -> std::collections::BTreeSet<String> {
    message_ids(sink).into_iter().collect()
}

#[tokio::test]
async fn a_person_sets_his_mail_and_digest_on_a_page_and_an_admin_adds_tests_and_switches_off_a_robot() {
    let Some(sink) = SmtpSink::start(false) else { return };
    let port = sink.port;
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.notify.smtp_url = format!("smtp://127.0.0.1:{port}")).await;
    let c = crate::pages::PageClient::login(&app, "dl1").await;
    let (s, html) = c.get("/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("保存邮箱地址后可发送测试邮件"), "no test button without an address");
    // A malformed address: refused, said why, what he typed given back; nothing saved.
    let r = c.submit("/settings", &[("version", "0"), ("email", "not an address"), ("kind", "whistled")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("value=\"not an address\""), "{html}");
    assert_eq!(app.get_ok("/api/v1/me/notification-settings", &app.login("dl1", PASSWORD).await).await["version"], 0);
    let form = [("version", "0"), ("email", "dl1@example.org"), ("kind", "whistled"), ("kind", "returned"), ("digest", "1")];
    let r = c.submit("/settings", &form).await;
    assert_eq!((r.status(), r.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/settings?saved=1"));
    let saved = app.get_ok("/api/v1/me/notification-settings", &app.login("dl1", PASSWORD).await).await;
    assert_eq!(saved["email_events"], json!(["returned", "whistled"]), "{saved}");
    assert_eq!((saved["digest"].as_bool(), saved["quiet_hours"].as_bool()), (Some(true), Some(false)));
    // The same form again (its version is stale now): refused, not silently overwritten.
    let r = c.submit("/settings", &form).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // The test mail: queued, sent by the worker, and the page says so.
    let r = c.submit("/settings/test", &[]).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/settings?test="), "{to}");
    assert!(c.get(&to).await.1.contains("测试消息排队中"));
    let (_, off) = working_and_quiet(&app);
    deliver(&app, off);
    assert!(c.get(&to).await.1.contains("测试消息已发出"));
    assert_eq!(sink.messages().len(), 1);

    // Not an admin: no channels page.
    let (s, _) = c.get("/channels").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let admin = crate::pages::PageClient::login(&app, "admin1").await;
    let (s, html) = admin.get(&format!("/channels?unit={}", fx.unit("P1"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("href=\"/channels\" aria-current=\"page\"") && html.contains("此单位尚未配置"), "{html}");
    let robot = receiver(200).await;
    let url = format!("{}/robot/send?key=SECRETKEY123", robot.base);
    let r = admin
        .submit(
            "/channels/add",
            &[("unit", fx.unit("P1")), ("kind", "wecom"), ("name", "执法群"), ("url", &url), ("kind_event", "sla_breach")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains("执法群") && html.contains("已超时") && !html.contains("SECRETKEY123"), "the key never shown: {html}");
    let id = html.split("action=\"/channels/").nth(1).unwrap().split('/').next().unwrap().to_string();
    let r = admin.submit(&format!("/channels/{id}/test"), &[("unit", fx.unit("P1"))]).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    deliver(&app, off);
    assert!(admin.get(&to).await.1.contains("测试消息已发出"));
    assert_eq!(robot.seen.lock().unwrap().len(), 1);
    // Switched off: the page says so and its test button is disabled.
    let version = html.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = admin.submit(&format!("/channels/{id}/change"), &[("version", &version), ("active", "false")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains("已停用") && html.contains(" disabled>发送测试"), "{html}");
    // Another district's admin cannot reach it.
    let other = crate::pages::PageClient::login(&app, "admin2").await;
    let r = other.submit(&format!("/channels/{id}/test"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    robot.handle.stop(true).await;
}
