//! Journeys in a real headless Chromium at phone size, over the demo city: a grid worker files
//! today's log with two requests while offline and it is sent once when the network is back; a
//! branch secretary triages one request of each kind; script payloads typed into every text field
//! never run. Screenshots go to target/screenshots/<test>/ (test artefacts: look at them).

use serde_json::{json, Value};

use gridloop::app::demo::{load_demo, DEMO_PASSWORD};

use crate::helpers::TestApp;
use crate::webdriver::Browser;

async fn demo_app() -> TestApp {
    let auth = gridloop::config::Settings::load(&crate::helpers::project_dir().join("config"), "test").unwrap().auth;
    TestApp::spawn_with(|c| {
        load_demo(c, &auth, chrono::Utc::now().naive_utc()).unwrap();
    })
    .await
}

/// The offline drafts kept on the phone: each one's fields and how many photos.
const READ_DRAFTS: &str = "return new Promise(function (done) { var o = indexedDB.open('gridloop', 1); \
    o.onupgradeneeded = function () { o.result.createObjectStore('drafts', { keyPath: 'id' }); }; \
    o.onsuccess = function () { var g = o.result.transaction('drafts').objectStore('drafts').getAll(); \
    g.onsuccess = function () { o.result.close(); done(g.result.map(function (d) { return { fields: d.fields, files: d.files.length }; })); }; }; })";

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, |a| a.len())
}

#[tokio::test]
async fn a_grid_worker_files_his_log_offline_and_it_is_sent_once_then_the_secretary_triages_each_kind() {
    let Some(b) = Browser::start("journey").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    b.goto(&format!("{base}/day")).await;
    b.wait_url("/login").await;
    b.shot("01-login").await;
    b.fill("#login", "gw.wang").await;
    b.fill("#password", DEMO_PASSWORD).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_url("/day").await;
    b.find("form.visit-log").await;
    b.shot("02-day").await;
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let before = app.get_ok("/api/v1/visit-logs?limit=200", &gw).await;
    let todays_before = b.count("input[name=log_id]").await;

    // The phone loses its signal; the worker fills the log with two requests and sends it.
    b.offline(true).await;
    if b.count("form.visit-log input[name=household]").await > 0 {
        b.click("form.visit-log input[name=household]").await;
    }
    if todays_before == 0 {
        b.fill("form.visit-log textarea[name=observations]", "走访1号楼，楼道堆物已提醒清理。").await;
    }
    b.select("form.visit-log select[name=r0_category]", "").await;
    b.fill("form.visit-log input[name=r0_title]", "楼道声控灯损坏").await;
    b.fill("form.visit-log textarea[name=r0_description]", "2单元3楼声控灯不亮，老人夜间出行不便。").await;
    b.fill("form.visit-log input[name=r0_resident_name]", "李秀兰").await;
    b.fill("form.visit-log input[name=r0_resident_phone]", "13955556666").await;
    b.click("form.visit-log details.request:nth-of-type(2) summary").await;
    b.select("form.visit-log select[name=r1_category]", "").await;
    b.fill("form.visit-log input[name=r1_title]", "小区门口占道经营").await;
    b.fill("form.visit-log textarea[name=r1_description]", "早市摊贩占用消防通道。").await;
    b.click("form.visit-log input[name=r1_anonymous]").await;
    // A photo of the stalls, from the phone's album, with the second request.
    let stalls = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    std::fs::write(stalls.path(), crate::photos::green_png()).unwrap();
    b.choose_file("form.visit-log input[name=r1_photos]", stalls.path().to_str().unwrap()).await;
    b.click("form.visit-log button[type=submit]").await;
    b.find("#drafts:not([hidden]) #draft-list li").await;
    b.shot("03-offline-draft").await;
    // The draft is kept on the phone (IndexedDB) with its fields and its photo.
    let draft = b.js(READ_DRAFTS, json!([])).await;
    assert_eq!(count(&draft), 1, "{draft}");
    let fields = draft[0]["fields"].clone();
    assert!(fields.as_array().unwrap().iter().any(|f| f[0] == "client_id"), "the draft keeps its client id");
    assert_eq!(draft[0]["files"], 1, "and its photo");
    assert_eq!(app.get_ok("/api/v1/visit-logs?limit=200", &gw).await["items"], before["items"], "nothing reached the server offline");

    // The signal comes back: the draft goes out by itself (or with the button), once.
    b.offline(false).await;
    b.js("window.dispatchEvent(new Event('online'))", json!([])).await;
    b.wait_url("done=log").await;
    b.find(".flash.ok").await;
    b.shot("04-sent").await;
    assert_eq!(count(&b.js(READ_DRAFTS, json!([])).await), 0, "the draft is gone once sent");
    let logs = app.get_ok("/api/v1/visit-logs?limit=200", &gw).await;
    let today = logs["items"].as_array().unwrap().iter().max_by_key(|l| l["visit_date"].as_str().unwrap().to_string()).unwrap().clone();
    let log = app.get_ok(&format!("/api/v1/visit-logs/{}", today["id"].as_str().unwrap()), &gw).await;
    let titles: Vec<&str> = log["tickets"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles.iter().filter(|t| **t == "楼道声控灯损坏" || **t == "小区门口占道经营").count(), 2, "{titles:?}");

    // A retry of the very same draft (its answer lost on the way) files nothing twice.
    let n_before = count(&log["tickets"]);
    let status = b
        .js(
            "return fetch('/day/log',{method:'POST',credentials:'same-origin',headers:{'Content-Type':'application/x-www-form-urlencoded'},body:new URLSearchParams(arguments[0]).toString()}).then(r=>r.status)",
            json!([fields]),
        )
        .await;
    assert_eq!(status, 200, "the resent draft is answered as taken");
    let log2 = app.get_ok(&format!("/api/v1/visit-logs/{}", today["id"].as_str().unwrap()), &gw).await;
    assert_eq!(count(&log2["tickets"]), n_before, "nothing filed twice");
    let stall_ticket = log2["tickets"].as_array().unwrap().iter().find(|t| t["title"] == "小区门口占道经营").unwrap()["id"].clone();
    let stall_photos = app.get_ok(&format!("/api/v1/tickets/{}/photos", stall_ticket.as_str().unwrap()), &gw).await;
    assert_eq!(count(&stall_photos), 1, "the draft's photo reached its request, once: {stall_photos}");

    // The secretary of the compound triages: accept, report up, mark a duplicate, decline.
    let bs = app.login("bs.yang", DEMO_PASSWORD).await;
    let filed: Vec<String> = log["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    let first = app.get_ok(&format!("/api/v1/tickets/{}", filed[0]), &bs).await;
    let mut extra = vec![];
    for title in ["同类诉求：楼道灯再次损坏", "需上报：外墙脱落", "不予受理示例"] {
        let body = json!({"category_id": first["category_id"], "title": title, "description": title, "building_id": first["place_id"], "anonymous": true});
        let r = app.post_json("/api/v1/tickets", Some(&gw), &body).await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        extra.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    b.login(&base, "bs.yang", DEMO_PASSWORD).await;
    b.wait_url("/board").await;
    b.shot("05-board").await;
    b.goto(&format!("{base}/inbox")).await;
    b.find("ul.rows a.row").await;
    b.shot("06-inbox").await;

    let triage = [
        (filed[0].clone(), "accept_at_compound", vec![]),
        (extra[1].clone(), "report_to_community", vec![("textarea[name=reason]", "外墙脱落超出小区处理能力，需社区协调住建部门。")]),
        (extra[0].clone(), "mark_duplicate", vec![]),
        (extra[2].clone(), "decline", vec![("textarea[name=reason]", "属于业主私人装修纠纷，不属于公共事务。")]),
    ];
    for (i, (id, action, fields)) in triage.iter().enumerate() {
        b.goto(&format!("{base}/tickets/{id}")).await;
        // The action forms are folded: a tap on the summary opens one.
        b.click(&format!("details:has(#form-{action}) > summary")).await;
        for (css, text) in fields {
            b.fill(&format!("#form-{action} {css}"), text).await;
        }
        if *action == "mark_duplicate" {
            b.click(&format!("#form-{action} input[name=duplicate_of][value='{}']", filed[0])).await;
        }
        b.shot(&format!("07-{i}-{action}")).await;
        b.click(&format!("#form-{action} button[type=submit]")).await;
        b.wait_url(&format!("done={action}")).await;
    }
    b.shot("08-after-triage").await;
    let state = |id: String| {
        let (app, bs) = (&app, &bs);
        async move { app.get_ok(&format!("/api/v1/tickets/{id}"), bs).await["state"].as_str().unwrap().to_string() }
    };
    assert_eq!(state(filed[0].clone()).await, "compound_handling");
    assert_eq!(state(extra[1].clone()).await, "at_community");
    assert_eq!(state(extra[0].clone()).await, "duplicate");
    assert_eq!(state(extra[2].clone()).await, "declined");
    b.goto(&format!("{base}/tickets/{}", extra[2])).await;
    b.find("ol.timeline li").await;
    b.shot("09-ticket").await;

    // The worker adds a photo to his request from the phone (the page's file input).
    let photo = tempfile::Builder::new().suffix(".jpg").tempfile().unwrap();
    std::fs::write(photo.path(), crate::photos::phone_photo()).unwrap();
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/tickets/{}", filed[0])).await;
    b.choose_file("#photo-file", photo.path().to_str().unwrap()).await;
    b.click("#photos button[type=submit]").await;
    b.wait_url("done=photo").await;
    b.find("#photos .thumbs img").await;
    let width = b.js("const i=document.querySelector('#photos .thumbs img'); return i.complete ? i.naturalWidth : new Promise(r=>i.onload=()=>r(i.naturalWidth))", json!([])).await;
    assert!(width.as_u64().unwrap_or(0) > 0, "the thumbnail loads");
    b.shot("10-photo").await;
    let photos = app.get_ok(&format!("/api/v1/tickets/{}/photos", filed[0]), &gw).await;
    assert_eq!(count(&photos), 1);
    assert_eq!(photos[0]["height"].as_i64(), Some(40), "upright");

    // He gives his mail address and asks for the daily digest on his settings page.
    b.goto(&format!("{base}/settings")).await;
    b.fill("#email", "wang@example.org").await;
    b.click("input[name=digest]").await;
    b.click("form[action='/settings'] button[type=submit]").await;
    b.wait_url("saved=1").await;
    b.find("form[action='/settings/test'] button").await;
    b.shot("11-settings").await;
    let mine = app.get_ok("/api/v1/me/notification-settings", &gw).await;
    assert_eq!((mine["email"].as_str(), mine["digest"].as_bool()), (Some("wang@example.org"), Some(true)));
    // The admin's channels page: a unit's robots and webhooks, the failed deliveries.
    b.login(&base, "admin", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/channels")).await;
    b.find("form[action='/channels/add']").await;
    b.shot("12-channels").await;
}

#[tokio::test]
async fn script_typed_into_every_text_field_never_runs_on_any_page() {
    let Some(b) = Browser::start("xss").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    let payloads = [
        "<script>window.__xss=1</script>",
        "\"><img src=x onerror=\"window.__xss=2\">",
        "'><svg onload=window.__xss=3>",
        "javascript:window.__xss=4",
        "</textarea><script>window.__xss=5</script>",
    ];
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let p = payloads.join(" ");
    let cats = app.get_ok("/api/v1/categories", &gw).await;
    let me = app.get_ok("/api/v1/me", &gw).await;
    let building = me["grants"][0]["org_unit_id"].clone();
    let body = json!({"category_id": cats[0]["id"], "title": format!("XSS {}", payloads[1]), "description": p, "building_id": building,
                      "resident_name": payloads[0], "resident_phone": "13900001234"});
    let r = app.post_json("/api/v1/tickets", Some(&gw), &body).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    let id = t["id"].as_str().unwrap().to_string();
    let r = app.post_json(&format!("/api/v1/tickets/{id}/comments"), Some(&gw), &json!({"text": p})).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let bs = app.login("bs.yang", DEMO_PASSWORD).await;
    let (s, _) = crate::tickets::act(&app, &bs, &id, 1, json!({"action": "report_to_community", "reason": p})).await;
    assert_eq!(s, reqwest::StatusCode::OK);

    // Each page with the name of its screenshot (fixed names: runs replace, never pile up).
    let pages = [
        (format!("/tickets/{id}"), "ticket"),
        ("/inbox".into(), "inbox"),
        ("/search?q=XSS".into(), "search"),
        ("/mine".into(), "mine"),
        ("/day".into(), "day"),
    ];
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    for (i, (path, name)) in pages.iter().enumerate() {
        b.goto(&format!("{base}{path}")).await;
        b.find("main").await;
        let ran = b.js("return window.__xss || 0", json!([])).await;
        assert_eq!(ran, 0, "script ran on {path}");
        let injected = b
            .js(
                "return document.querySelectorAll('main script, main img[src=x], main svg, main [onerror], main [onload]').length",
                json!([]),
            )
            .await;
        assert_eq!(injected, 0, "markup injected on {path}");
        b.shot(&format!("{i:02}-{name}")).await;
    }
    b.goto(&format!("{base}/tickets/{id}")).await;
    let text = b.text("main").await;
    assert!(text.contains("<script>window.__xss=1</script>"), "the payload shows as the text it is");
    b.login(&base, "bs.yang", DEMO_PASSWORD).await;
    for path in ["/board".to_string(), "/inbox".into(), format!("/tickets/{id}")] {
        b.goto(&format!("{base}{path}")).await;
        b.find("main").await;
        assert_eq!(b.js("return window.__xss || 0", json!([])).await, 0, "script ran on {path} for the secretary");
    }
}
