//! Journeys in a real headless Chromium at phone size, over the demo city: a grid worker files
//! today's log with two requests while offline and it is sent once when the network is back; a
//! branch secretary triages one request of each kind; script payloads typed into every text field
//! never run. Screenshots go to target/screenshots/<test>/ (test artefacts: look at them).

use chrono::Datelike;
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

    // The desks' pages: payloads as a unit's name, a person's name, a category's names, a
    // channel's name, typed by an admin through the API, then shown to every desk.
    let admin = app.login("admin", DEMO_PASSWORD).await;
    let me = app.get_ok("/api/v1/me", &admin).await;
    let top = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let units = app.get_ok("/api/v1/org-units?kind=district", &admin).await;
    let district = units[0]["id"].as_str().unwrap().to_string();
    let r = app
        .post_json(
            "/api/v1/org-units",
            Some(&admin),
            &json!({"parent_id": district, "kind": "street", "code": "XSS-1", "name": payloads[1]}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let street: Value = r.json().await.unwrap();
    let r = app
        .post_json("/api/v1/people", Some(&admin), &json!({"login": "xss.person", "display_name": payloads[0], "password": "longpassword1", "role": "supervisor", "org_unit_id": street["id"]}))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let r = app
        .post_json(
            "/api/v1/categories",
            Some(&admin),
            &json!({"code": "xss", "name_zh": payloads[4], "name_en": payloads[2], "urgencies": ["normal"]}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let r = app
        .post_json(
            &format!("/api/v1/org-units/{top}/channels"),
            Some(&admin),
            &json!({"kind": "webhook", "name": payloads[3], "url": "https://example.org/hook?a=<b>"}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let desks: [(&str, Vec<String>); 3] = [
        (
            "admin",
            vec![
                "/admin/org".into(),
                format!("/admin/org?unit={}", street["id"].as_str().unwrap()),
                "/admin/people?q=xss".into(),
                "/admin/catalogue".into(),
                "/admin/calendars".into(),
                "/channels".into(),
                "/settings".into(),
                "/search?q=XSS".into(),
            ],
        ),
        ("cs.liu", vec!["/oversight".into(), "/inbox".into(), "/residents/import".into(), format!("/tickets/{id}")]),
        ("xss.person", vec!["/oversight".into(), "/notifications".into()]),
    ];
    for (who, paths) in desks {
        let password = if who == "xss.person" { "longpassword1" } else { DEMO_PASSWORD };
        b.login(&base, who, password).await;
        for path in paths {
            b.goto(&format!("{base}{path}")).await;
            b.find("main").await;
            assert_eq!(b.js("return window.__xss || 0", json!([])).await, 0, "script ran on {path} for {who}");
            let injected = b
                .js(
                    "return document.querySelectorAll('main script, main img[src=x], main svg, main [onerror], main [onload]').length",
                    json!([]),
                )
                .await;
            assert_eq!(injected, 0, "markup injected on {path} for {who}");
            let name = path.trim_start_matches('/').replace(['/', '?', '=', '&'], "-");
            b.shot(&format!("desk-{who}-{name}")).await;
        }
    }
}

/// Takes an action on a ticket's page as its person would: opens the action's fold, fills its
/// fields (`(css inside the form, text)`; a `select:` prefix picks an option's value, `check:`
/// ticks a box), sends it and waits for the page to say it is done.
async fn act_on_page(b: &Browser, base: &str, id: &str, action: &str, fields: &[(&str, &str)], shot: &str) {
    b.goto(&format!("{base}/tickets/{id}")).await;
    b.click(&format!("details:has(#form-{action}) > summary")).await;
    for (css, text) in fields {
        if let Some(sel) = css.strip_prefix("select:") {
            b.select(&format!("#form-{action} {sel}"), text).await;
        } else if let Some(cb) = css.strip_prefix("check:") {
            b.click(&format!("#form-{action} {cb}[value='{text}']")).await;
        } else {
            b.fill(&format!("#form-{action} {css}"), text).await;
        }
    }
    b.shot(shot).await;
    b.click(&format!("#form-{action} button[type=submit]")).await;
    b.wait_url(&format!("done={action}")).await;
}

/// The actions a ticket's page offers its viewer now (the ids of its action forms).
async fn offered(b: &Browser) -> Vec<String> {
    let v = b.js("return [...document.querySelectorAll('form[id^=form-]')].map(f => f.id.slice(5))", json!([])).await;
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_luan_loop_runs_across_every_role_in_the_browser_alone_at_desk_size() {
    let Some(b) = Browser::start("desks").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    b.resize(1366, 768).await;
    // Ids the pages carry (read through the API; every step below is taken in the browser).
    let admin = app.login("admin", DEMO_PASSWORD).await;
    let units = app.get_ok("/api/v1/org-units?kind=department&limit=500", &admin).await;
    let dept = |code: &str| units.as_array().unwrap().iter().find(|u| u["code"] == code).unwrap()["id"].as_str().unwrap().to_string();
    let (cg, zj) = (dept("LA-JA-D-CG"), dept("LA-JA-D-ZJ"));
    let cats = app.get_ok("/api/v1/categories", &admin).await;
    let illegal =
        cats.as_array().unwrap().iter().find(|c| c["code"] == "illegal_construction").unwrap()["id"].as_str().unwrap().to_string();

    // 1. The grid worker files the request from his visit (his day page).
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/day")).await;
    b.find("form.visit-log").await;
    if b.count("form.visit-log input[name=log_id]").await == 0 {
        b.fill("form.visit-log textarea[name=observations]", "巡查发现3号楼顶有人搭建彩钢棚。").await;
    }
    b.select("form.visit-log select[name=r0_category]", &illegal).await;
    b.fill("form.visit-log input[name=r0_title]", "楼顶违章搭建彩钢棚").await;
    b.fill("form.visit-log textarea[name=r0_description]", "3号楼顶新搭彩钢棚约20平方米，存在安全隐患，邻居多次反映。").await;
    b.click("form.visit-log input[name=r0_anonymous]").await;
    b.click("form.visit-log button[type=submit]").await;
    b.wait_url("done=log").await;
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let mine = app.get_ok("/api/v1/tickets?q=%E5%BD%A9%E9%92%A2%E6%A3%9A", &gw).await;
    let id = mine["items"][0]["id"].as_str().expect("the filed request").to_string();
    b.shot("01-filed").await;

    // 2. The branch secretary reports it up (上报社区).
    b.login(&base, "bs.yang", DEMO_PASSWORD).await;
    act_on_page(&b, &base, &id, "report_to_community", &[("textarea[name=reason]", "违建需城管执法，超出小区处理能力。")], "02-report")
        .await;

    // 3. The community blows the whistle for two departments — with the keyboard alone.
    b.login(&base, "cs.liu", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/inbox")).await;
    b.find(&format!("a[href='/tickets/{id}']")).await;
    b.shot("03-community-inbox").await;
    b.goto(&format!("{base}/tickets/{id}")).await;
    b.find("#form-whistle").await;
    b.tab_to("details:has(#form-whistle) > summary").await;
    b.keys("\u{E007}").await; // Enter opens the fold.
    b.tab_to("#form-whistle select[name=lead_department_id]").await;
    let lead = b.js("return document.activeElement.value", json!([])).await;
    assert_eq!(lead.as_str(), Some(cg.as_str()), "the category's usual department is proposed first");
    b.tab_to(&format!("#form-whistle input[name=co_department_ids][value='{zj}']")).await;
    b.keys(" ").await; // Space ticks the co-department.
    b.tab_to("#form-whistle select[name=whistle_type]").await;
    b.keys("\u{E015}").await; // ArrowDown: another whistle type.
    b.tab_to("#form-whistle textarea[name=reason]").await;
    b.keys("楼顶违建，请城管牵头、住建配合查处。").await;
    b.shot("04-whistle-keyboard").await;
    b.tab_to("#form-whistle button[type=submit]").await;
    b.keys("\u{E007}").await;
    b.wait_url("done=whistle").await;
    let cs = app.login("cs.liu", DEMO_PASSWORD).await;
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &cs).await;
    assert_eq!(t["state"], "whistled", "{t}");
    assert_eq!(t["departments"].as_array().unwrap().len(), 2, "lead and co-department: {t}");

    // 4. The co-department returns it (退单) — it thinks the case is not its; the community overrules.
    b.login(&base, "dl.zj", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/inbox")).await;
    b.find(&format!("a[href='/tickets/{id}']")).await;
    act_on_page(
        &b,
        &base,
        &id,
        "return_case",
        &[("select:select[name=reason_code]", ""), ("textarea[name=note]", "违建查处属城管职责，住建无需参与。")],
        "05-return",
    )
    .await;
    b.login(&base, "cs.liu", DEMO_PASSWORD).await;
    act_on_page(
        &b,
        &base,
        &id,
        "rule_on_return",
        &[("select:select[name=decision]", "overrule"), ("textarea[name=reason]", "彩钢棚涉及房屋结构安全，需住建鉴定。")],
        "06-overrule",
    )
    .await;

    // 5. Both departments report (报到); the lead asks for more time and the community grants it.
    b.login(&base, "dl.zj", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/tickets/{id}")).await;
    assert!(offered(&b).await.contains(&"acknowledge".to_string()), "{:?}", offered(&b).await);
    act_on_page(&b, &base, &id, "acknowledge", &[], "07-zj-acknowledge").await;
    act_on_page(&b, &base, &id, "complete_part", &[("textarea[name=note]", "已完成房屋结构安全鉴定，无结构风险。")], "08-zj-done").await;
    b.login(&base, "dl.cg", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/inbox")).await;
    b.find(&format!("a[href='/tickets/{id}']")).await;
    b.shot("09-liaison-queue").await;
    b.goto(&format!("{base}/tickets/{id}")).await;
    let now_offered = offered(&b).await;
    assert!(
        now_offered.contains(&"acknowledge".to_string()) && !now_offered.contains(&"mark_solved".to_string()),
        "solve only after reporting: {now_offered:?}"
    );
    act_on_page(&b, &base, &id, "acknowledge", &[], "10-cg-acknowledge").await;
    act_on_page(&b, &base, &id, "request_extension", &[("textarea[name=reason]", "需等待业主自行拆除期限届满。")], "11-extension").await;
    b.login(&base, "cs.liu", DEMO_PASSWORD).await;
    act_on_page(
        &b,
        &base,
        &id,
        "rule_on_extension",
        &[("select:select[name=extension_id]", ""), ("select:select[name=decision]", "grant")],
        "12-grant",
    )
    .await;
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &cs).await;
    assert_eq!(t["extensions"][0]["state"], "granted", "{t}");

    // 6. The lead solves it (办结); the grid worker's return visit: not satisfied → reopened.
    b.login(&base, "dl.cg", DEMO_PASSWORD).await;
    act_on_page(&b, &base, &id, "mark_solved", &[("textarea[name=resolution]", "已责令拆除，彩钢棚已拆除完毕。")], "13-solved").await;
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    act_on_page(
        &b,
        &base,
        &id,
        "record_return_visit",
        &[("check:input[name=satisfaction]", "not_satisfied"), ("textarea[name=note]", "居民反映拆除后垃圾未清运。")],
        "14-not-satisfied",
    )
    .await;
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await;
    assert_eq!(t["reopen_count"], 1, "{t}");

    // 7. Reopened: the lead finishes it again, and the resident is satisfied: closed.
    b.login(&base, "dl.cg", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/tickets/{id}")).await;
    for step in ["acknowledge", "resume_work"] {
        if offered(&b).await.contains(&step.to_string()) {
            act_on_page(&b, &base, &id, step, &[], &format!("15-{step}")).await;
        }
    }
    act_on_page(&b, &base, &id, "mark_solved", &[("textarea[name=resolution]", "拆除垃圾已全部清运。")], "16-solved-again").await;
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    act_on_page(&b, &base, &id, "record_return_visit", &[("check:input[name=satisfaction]", "satisfied")], "17-satisfied").await;
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &gw).await;
    assert_eq!(t["state"], "closed", "{t}");

    // The timeline tells the whole story, in order.
    b.goto(&format!("{base}/tickets/{id}")).await;
    let timeline = b.text("ol.timeline").await;
    // Newest first: read from the bottom up, each step after the one before.
    let mut at = timeline.len();
    for word in [
        "登记诉求",
        "上报社区",
        "吹哨派单",
        "退单",
        "退单裁定",
        "签收报到",
        "协办完成",
        "签收报到",
        "申请延期",
        "延期审批",
        "办结",
        "不满意",
        "办结",
        "回访 · 满意",
    ] {
        let found =
            timeline[..at].rfind(word).unwrap_or_else(|| panic!("`{word}` missing before position {at} in the timeline:\n{timeline}"));
        at = found;
    }
    b.shot("18-timeline").await;
    // The supervisor's desk and the admin's, at desk size.
    b.login(&base, "sup.zhao", DEMO_PASSWORD).await;
    b.wait_url("/oversight").await;
    b.find("#compounds").await;
    b.shot("19-supervisor").await;
    // This month's ranking of the district's streets: the loop above counts in it.
    let month = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m").to_string();
    b.goto(&format!("{base}/rankings?period={month}")).await;
    b.find("#lists").await;
    let text = b.text("main").await;
    assert!(text.contains("红榜") && text.contains("满意率"), "the ranking page: {text}");
    b.shot("19b-rankings").await;
    // The month's bulletin (通报) from the ranking: charts drawn on the server, each with its table.
    b.click("#open-bulletin").await;
    b.wait_url("/rankings/bulletin").await;
    b.find("#chart-trend").await;
    let text = b.text("main").await;
    assert!(text.contains("通报") && text.contains("三率走势") && text.contains("物业服务类诉求同比"), "the bulletin: {text}");
    assert_eq!(b.count("svg.chart[role=img]").await, 4, "volume, trend, overdue, compliance");
    b.shot("19c-bulletin-top").await;
    b.js("document.getElementById('chart-volume-section').scrollIntoView()", json!([])).await;
    b.shot("19c-bulletin").await;
    b.js("document.getElementById('chart-overdue-section').scrollIntoView()", json!([])).await;
    b.shot("19d-bulletin-overdue").await;
    b.js("document.getElementById('chart-trend-section').scrollIntoView()", json!([])).await;
    b.shot("19e-bulletin-trend").await;
    // Visit work (走访考核): the compounds ranked on their logs and visits, grid workers listed, never ranked.
    b.goto(&format!("{base}/rankings/visits?period={month}")).await;
    b.find("#visit-ranking").await;
    let text = b.text("main").await;
    assert!(text.contains("走访") && text.contains("幸福里小区"), "the visit-work ranking: {text}");
    assert_eq!(b.count("#ledger-exports a").await, 4, "the visit-log and supervision ledgers, Excel and CSV");
    b.shot("19f-visit-work").await;
    b.login(&base, "admin", DEMO_PASSWORD).await;
    b.wait_url("/admin/org").await;
    b.shot("20-admin-org").await;
    b.goto(&format!("{base}/admin/calendars")).await;
    b.shot("21-admin-calendars").await;
    b.goto(&format!("{base}/admin/people")).await;
    b.shot("22-admin-people").await;

    // The city's admin publishes next year's calendar on its page: a wrong date first.
    let year = chrono::Utc::now().date_naive().year() + 1;
    b.goto(&format!("{base}/admin/calendars")).await;
    b.click(&format!("a[href='/admin/calendars/cn/{year}']")).await;
    b.wait_url(&format!("/admin/calendars/cn/{year}")).await;
    b.fill("#holidays", &format!("{year}-01-01\n{year}-13-01")).await;
    b.fill("#workdays", "").await;
    b.fill("#source", "国办发明电").await;
    b.click("form[action^='/admin/calendars/'] button[type=submit]").await;
    b.find("#problems").await;
    assert!(b.text("#problems").await.contains(&format!("{year}-13-01")), "the wrong date is named");
    b.shot("23-calendar-refused").await;
    b.fill("#holidays", &format!("{year}-01-01\n{year}-10-01\n{year}-10-02")).await;
    b.click("form[action^='/admin/calendars/'] button[type=submit]").await;
    b.wait_url("done=published").await;
    b.shot("24-calendar-published").await;
    let v = app.get_ok(&format!("/api/v1/calendars/cn/years/{year}"), &admin).await;
    assert_eq!((v["status"].as_str(), v["holidays"].as_array().map(|h| h.len())), (Some("published"), Some(3)), "{v}");

    // The community imports households from a file: one bad line refuses the file, named.
    b.login(&base, "cs.liu", DEMO_PASSWORD).await;
    let cs = app.login("cs.liu", DEMO_PASSWORD).await;
    let buildings = app.get_ok("/api/v1/org-units?kind=building&limit=5", &cs).await;
    let code = buildings[0]["code"].as_str().unwrap().to_string();
    let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    let bad = format!("building_code,unit_no,room,name,phone,id_number,kind\n{code},9,901,周大爷,13700009901,,独居老人\n{code},9,902,吴阿姨,12345,,ordinary\n");
    std::fs::write(file.path(), bad).unwrap();
    b.click("a[href='/residents/import']").await; // its tab
    b.wait_url("/residents/import").await;
    b.choose_file("#file", file.path().to_str().unwrap()).await;
    b.click("form[action='/residents/import'] button[type=submit]").await;
    b.find("#lineproblems").await;
    assert!(b.text("#lineproblems").await.contains("第 3 行"), "the bad line is named");
    b.shot("25-import-refused").await;
    let good = format!(
        "building_code,unit_no,room,name,phone,id_number,kind\n{code},9,901,周大爷,13700009901,,独居老人\n{code},9,902,吴阿姨,,,ordinary\n"
    );
    std::fs::write(file.path(), good).unwrap();
    b.goto(&format!("{base}/residents/import")).await;
    b.choose_file("#file", file.path().to_str().unwrap()).await;
    b.click("form[action='/residents/import'] button[type=submit]").await;
    b.find(".flash.ok").await;
    assert!(b.text(".flash.ok").await.contains("已导入 2 户"));
    b.shot("26-import-done").await;
}

/// Sets a field's value as a script would (date inputs take typed text in the browser's locale).
async fn set_value(b: &Browser, css: &str, value: &str) {
    b.js("document.querySelector(arguments[0]).value = arguments[1];", json!([css, value])).await;
}

#[tokio::test]
async fn the_secretary_runs_a_consultation_to_its_results_and_rates_the_parties_in_the_browser() {
    let Some(b) = Browser::start("consultation").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    let bs = app.login("bs.yang", DEMO_PASSWORD).await;
    let me = app.get_ok("/api/v1/me", &bs).await;
    let compound = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let china_today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();

    // The desk: the demo's parties, its agenda item, its running action, its signed meeting.
    b.login(&base, "bs.yang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/consultation")).await;
    assert!(b.text("#parties").await.contains("六安翠竹物业服务有限公司"));
    assert!(b.text("#actions").await.contains("夜间停车公约") || b.text("#actions").await.contains("停车"));
    b.shot("01-desk").await;

    // A new item by hand, then the meeting: decide it, drop the demo's waiting one.
    b.click("#agenda details > summary").await;
    b.fill("#nt", "单元门禁损坏").await;
    b.fill("#nd", "5号楼2单元门禁无法刷卡").await;
    b.click("#agenda details form button[type=submit]").await;
    b.wait_url("done=item").await;
    let agenda = app.get_ok(&format!("/api/v1/org-units/{compound}/consultation/items?state=agenda"), &bs).await;
    let id_of = |title: &str| agenda.as_array().unwrap().iter().find(|i| i["title"] == title).unwrap()["id"].as_str().unwrap().to_string();
    let (door, smell) = (id_of("单元门禁损坏"), id_of("垃圾分类投放点异味"));
    b.fill("#place", "翠竹园居民之家").await;
    b.fill("#at-branch", "杨德明").await;
    b.fill("#at-owners_committee", "钱立新\n孙海燕").await;
    b.fill("#at-property_company", "周建国").await;
    b.click(&format!("input[name='do-{door}'][value=decide]")).await;
    b.fill(&format!("#dec-{door}"), "物业三日内更换门禁读卡器").await;
    b.select(&format!("#res-{door}"), "property_company").await;
    set_value(&b, &format!("#due-{door}"), &(china_today + chrono::Duration::days(3)).to_string()).await;
    b.click(&format!("input[name='do-{smell}'][value=drop]")).await;
    b.fill(&format!("#why-{smell}"), "已纳入街道垃圾分类改造").await;
    b.fill("#minutes", "三方议定：门禁由物业三日内修复；投放点改造由街道统一实施。").await;
    b.shot("02-meeting-form").await;
    b.click("#meeting-form button[type=submit]").await;
    b.wait_url("done=meeting").await;
    b.shot("03-action-list").await;

    // Done on the action list, then the minutes signed.
    b.click(&format!("#item-{door} details > summary")).await;
    b.fill(&format!("#out-{door}"), "读卡器已更换，刷卡正常").await;
    b.click(&format!("form[action='/consultation/items/{door}/complete'] button[type=submit]")).await;
    b.wait_url("done=complete").await;
    let item = app.get_ok(&format!("/api/v1/consultation/items/{door}"), &bs).await;
    assert_eq!((item["state"].as_str(), item["timeliness"].as_str()), (Some("done"), Some("on_time")), "{item}");
    b.goto(&format!("{base}/consultation/meetings/{}", item["meeting_id"].as_str().unwrap())).await;
    b.click("form[action$='/sign'] button[type=submit]").await;
    b.wait_url("done=signed").await;
    b.shot("04-meeting-signed").await;

    // The demo's clutter action is a week past its deadline and not done: its clock fires (as the
    // server's tick does), and the action list says it is late and under supervision (督办中).
    let fired = gridloop::app::action_clocks::fire(&mut app.conn(), gridloop::app::utc_now()).unwrap();
    assert_eq!(fired.overdue, 1, "{fired:?}");
    b.goto(&format!("{base}/consultation")).await;
    let actions = b.text("#actions").await;
    assert!(actions.contains("楼道堆物清理") && actions.contains("已超期") && actions.contains("督办中"), "{actions}");
    b.js(
        "[...document.querySelectorAll('#actions li')].find(l => l.textContent.includes('楼道堆物清理')).scrollIntoView({block: 'center'})",
        json!([]),
    )
    .await;
    b.shot("04b-late-action").await;

    // The public results list of this month, without logging in.
    b.delete_cookies().await;
    let period = format!("{}-{:02}", china_today.year(), china_today.month());
    b.goto(&format!("{base}/public/results/{compound}?period={period}")).await;
    let page = b.text("main").await;
    assert!(page.contains("单元门禁损坏") && page.contains("按时完成"), "{page}");
    assert!(page.contains("楼道堆物清理") && page.contains("已超期"), "the late one is on the list: {page}");
    assert!(!page.contains("钱立新") && !page.contains("周建国"), "no names on the public page");
    b.shot("05-public-results").await;

    // 两评价 of this year: the company rated with the evidence in front.
    b.login(&base, "bs.yang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/consultation/evaluations?compound={compound}&year={}", china_today.year())).await;
    assert!(b.text("#eval-property_company").await.contains("物业服务类诉求"));
    for (code, score) in [("service_quality", "70"), ("contract_compliance", "80"), ("resident_response", "60"), ("cooperation", "90")] {
        b.fill(&format!("#s-property_company-{code}"), score).await;
    }
    b.fill("#c-property_company", "门禁、保洁响应偏慢").await;
    b.shot("06-evaluation-form").await;
    b.click("#eval-property_company form button[type=submit]").await;
    b.wait_url("done=evaluated").await;
    // (35·70 + 25·80 + 25·60 + 15·90) / 100 = 73: satisfactory.
    let section = b.text("#eval-property_company").await;
    assert!(section.contains("73") && section.contains("合格"), "{section}");
    assert!(b.text("#history").await.contains("约谈整改"), "last year's demo rating is in the history");
    b.shot("07-evaluated").await;
    assert!(b.text("#company-record").await.contains("翠竹园"), "the company's record across compounds");
    b.js("document.querySelector('#company-record').scrollIntoView({block: 'center'})", json!([])).await;
    b.shot("07b-company-record").await;

    // The community's staff supervise the late action from their oversight desk.
    b.delete_cookies().await;
    b.login(&base, "cs.liu", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/oversight")).await;
    let overdue = b.text("#overdue-actions").await;
    assert!(overdue.contains("楼道堆物清理") && overdue.contains("翠竹园"), "{overdue}");
    b.js("document.querySelector('#overdue-actions').scrollIntoView({block: 'center'})", json!([])).await;
    b.shot("08-oversight-late-action").await;
}

/// 居民查询链接 in the browser: the grid worker gives the resident a link on the ticket page (shown
/// to read out), the resident opens it on his phone without logging in, follows the request and
/// rates it once solved; the grid worker then sees the rating in the ticket's history.
#[tokio::test]
async fn a_resident_follows_and_rates_his_request_on_his_phone_by_the_link_the_grid_worker_gave() {
    let Some(b) = Browser::start("resident-link").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let me = app.get_ok("/api/v1/me", &gw).await;
    let building = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let cats = app.get_ok("/api/v1/categories", &gw).await;
    let cat = cats.as_array().unwrap().iter().find(|c| c["code"] == "noise").unwrap()["id"].as_str().unwrap().to_string();
    let body = json!({"category_id": cat, "title": "楼下烧烤店夜间噪音", "description": "每晚十一点后仍有噪音", "building_id": building,
        "resident_name": "李秀兰", "resident_phone": "13700000001"});
    let r = app.post_json("/api/v1/tickets", Some(&gw), &body).await;
    assert_eq!(r.status().as_u16(), 201);
    let t: Value = r.json().await.unwrap();
    let id = t["id"].as_str().unwrap().to_string();

    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/tickets/{id}#links")).await;
    b.select("#link-channel", "none").await;
    b.click("#links form.stack button[type=submit]").await;
    b.wait_url("/link").await;
    let flash = b.text(".flash.ok").await;
    b.shot("01-link-given").await;
    assert!(flash.contains(&format!("{base}/s/")), "the whole address to read out: {flash}");
    let path = flash.split("/s/").nth(1).map(|t| format!("/s/{}", t.trim())).expect("the link is shown once");

    // The resident, on his phone, no login: the stage in plain words, no names.
    b.delete_cookies().await;
    b.goto(&format!("{base}{path}")).await;
    let page = b.text("main").await;
    assert!(page.contains("已登记，等待小区处理"), "{page}");
    assert!(!page.contains("王") && !page.contains("13700000001") && !page.contains("李秀兰"), "{page}");
    assert_eq!(b.count("input[name=rating]").await, 0, "nothing to rate yet");
    b.shot("02-resident-open").await;

    // Solved by the branch: he rates it.
    let bs = app.login("bs.yang", DEMO_PASSWORD).await;
    let (_, t) = crate::tickets::act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    let (s, _) =
        crate::tickets::act(&app, &bs, &id, t["version"].as_i64().unwrap(), json!({"action": "mark_solved", "resolution": "已劝导店主"}))
            .await;
    assert_eq!(s.as_u16(), 200);
    b.goto(&format!("{base}{path}")).await;
    assert!(b.text("main").await.contains("已办结，等待回访确认"));
    b.shot("03-resident-solved").await;
    b.click("input[name=rating][value=basically_satisfied]").await;
    b.fill("#comment", "晚上还是有点吵").await;
    b.click("main form button[type=submit]").await;
    b.wait_url("/rating").await;
    let thanks = b.text("main").await;
    assert!(thanks.contains("感谢您的评价") && thanks.contains("基本满意"), "{thanks}");
    assert_eq!(b.count("input[name=rating]").await, 0, "once per link");
    b.shot("04-resident-rated").await;

    // The grid worker sees it in the history, by 居民, before his own return visit.
    b.login(&base, "gw.wang", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/tickets/{id}")).await;
    let history = b.text("#comments").await;
    assert!(history.contains("居民评价 · 基本满意") && history.contains("晚上还是有点吵"), "{history}");
    assert!(b.text("#links").await.contains("居民已评价"));
    b.shot("05-worker-sees-rating").await;
}

/// 外部系统 in the browser: the demo's admin sees the street's 12345 platform and Open311 app,
/// registers another app and is shown its key once.
#[tokio::test]
async fn the_admin_registers_an_open311_app_and_is_shown_its_key_once() {
    let Some(b) = Browser::start("outside-systems").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    b.login(&base, "admin", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/admin/clients")).await;
    let listed = b.text("main").await;
    assert!(listed.contains("12345市民服务热线（演示）") && listed.contains("随手拍（开放311演示应用）"), "{listed}");
    b.shot("01-list").await;
    b.select("#kind", "open311").await;
    b.fill("#name", "社区随手拍小程序").await;
    b.click("#add button[type=submit]").await;
    b.wait_url("/admin/clients/add").await;
    let key = b.text("#issued-key").await;
    assert!(key.starts_with("glk_"), "{key}");
    b.shot("02-key-shown-once").await;
    b.goto(&format!("{base}/admin/clients")).await;
    assert!(!b.text("main").await.contains(&key), "never shown again");
}

/// 个人信息申请: a resident asks the street's admin for a copy of his data and then for its
/// erasure; the admin looks it up, is stopped until he ticks that the identity was checked, then
/// erases it and is told which open request keeps the contact until it closes.
#[tokio::test]
async fn the_admin_answers_a_residents_request_to_see_and_erase_his_data() {
    let Some(b) = Browser::start("personal-data").await else { return };
    let app = demo_app().await;
    let base = app.base.clone();
    let gw = app.login("gw.wang", DEMO_PASSWORD).await;
    let cats = app.get_ok("/api/v1/categories", &gw).await;
    let me = app.get_ok("/api/v1/me", &gw).await;
    let body = json!({"category_id": cats[0]["id"], "title": "楼道扶手松动", "description": "3单元扶手松动，老人上下楼不便。",
                      "building_id": me["grants"][0]["org_unit_id"], "resident_name": "周桂芳", "resident_phone": "13955557777"});
    let r = app.post_json("/api/v1/tickets", Some(&gw), &body).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    let number = t["number"].as_str().unwrap().to_string();

    b.login(&base, "admin", DEMO_PASSWORD).await;
    b.goto(&format!("{base}/admin/personal-data")).await;
    b.find("#pii-form").await;
    b.shot("01-form").await;
    b.fill("#pii-phone", "13955557777").await;
    b.fill("#pii-reference", "PIPL-2026-031").await;
    b.fill("#pii-note", "本人持身份证到街道申请").await;
    b.click("#pii-access").await;
    b.find("#pii-copy").await;
    let copy = b.text("#pii-copy").await;
    assert!(copy.contains(&number) && copy.contains("周桂芳") && copy.contains("13955557777"), "{copy}");
    b.shot("02-copy").await;

    // Erasure without the box ticked: refused, the form keeps what was typed.
    b.click("#pii-form details summary").await;
    b.click("#pii-erase").await;
    b.find("p.flash.error").await;
    let flash = b.text("p.flash.error").await;
    assert!(flash.contains("已核实申请人身份"), "{flash}");
    assert!(!flash.contains("confirm"), "the box is named as the form labels it: {flash}");
    // The erasure section stays open, with the box to tick.
    assert_eq!(b.count("#pii-form details[open]").await, 1, "the erasure section folded after the refusal");
    b.shot("03-confirm-needed").await;
    b.click("#pii-confirm").await;
    b.click("#pii-erase").await;
    b.find("#pii-erased").await;
    let done = b.text("#pii-erased").await;
    assert!(done.contains(&number), "the open request is listed as keeping its contact: {done}");
    assert!(!done.contains("13955557777"), "{done}");
    b.shot("04-erased").await;
    // The trail holds the request, with the number masked.
    let trail: Vec<String> = {
        use diesel::prelude::*;
        use gridloop::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::entity_kind.eq("personal_data_request"))
            .select(audit_events::changes)
            .load(&mut app.conn())
            .unwrap()
    };
    assert_eq!(trail.len(), 2, "the look-up and the erasure");
    assert!(trail.iter().all(|c| c.contains("139****7777") && !c.contains("13955557777")), "{trail:?}");
}
