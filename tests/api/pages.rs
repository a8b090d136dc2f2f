//! The pages over HTTP, as a browser without JavaScript uses them: login and redirects, the CSRF
//! token of every form, a ticket page that offers exactly what the API allows, stale forms that
//! keep what was typed, the visit log form filing once, escaping, the language switch.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::domain::Access;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::TestApp;
use crate::tickets::{act, file, new_ticket};

/// A browser of one person: its own cookie jar, redirects not followed (the tests look at them).
pub struct PageClient {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl PageClient {
    pub fn anonymous(app: &TestApp) -> PageClient {
        let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        PageClient { http, base: app.base.clone(), csrf: String::new() }
    }

    pub async fn login(app: &TestApp, login: &str) -> PageClient {
        let mut c = PageClient::anonymous(app);
        let r = c.post("/login", &[("login", login), ("password", PASSWORD), ("next", "/")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login as {login}");
        let (_, html) = c.get("/search").await;
        c.csrf = csrf_of(&html);
        c
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.base)).form(form).send().await.unwrap()
    }

    /// Posts a form with the session's CSRF token.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut f: Vec<(&str, &str)> = vec![("_csrf", &self.csrf)];
        f.extend_from_slice(form);
        self.post(path, &f).await
    }
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a form with a CSRF token") + 20;
    html[at..].split('"').next().unwrap().to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The action forms a ticket page offers.
fn offered(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html.split("id=\"form-").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect();
    out.sort();
    out
}

async fn ticket_fixture() -> (TestApp, Fixture, String, String) {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    (app, fx, gw, id)
}

#[tokio::test]
async fn anonymous_visitors_go_to_the_login_page_and_come_back_after_it() {
    let (app, _fx) = spawn_fixture().await;
    let c = PageClient::anonymous(&app);
    let r = c.http.get(format!("{}/inbox?x=1", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Finbox%3Fx%3D1");
    let (s, html) = c.get("/login").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("lang=\"zh-CN\"") && html.contains("登录名或手机号"), "the login page is in Chinese by default");
    // A wrong password: the same page, the API's one message, the typed login kept.
    let r = c.post("/login", &[("login", "bs1"), ("password", "wrong-password"), ("next", "/inbox")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"bs1\"") && html.contains("flash error"), "{html}");
    // Another host is never a place to come back to.
    let r = c.post("/login", &[("login", "bs1"), ("password", PASSWORD), ("next", "//evil.example/x")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let r = c.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(location(&r), "/board", "a branch secretary starts at his board");
    let (s, html) = c.get("/board").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("测试Y1"), "the board of his compound");
    // Logging out ends the session at once.
    let csrf = csrf_of(&html);
    let r = c.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(location(&r), "/login");
    let r = c.http.get(format!("{}/board", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_page_form_needs_the_sessions_csrf_token_and_pages_carry_a_strict_policy() {
    let (app, _fx, _gw, id) = ticket_fixture().await;
    let c = PageClient::login(&app, "bs1").await;
    let posts: Vec<&str> =
        gridloop::http::web::ROUTES.iter().filter(|r| r.method == "POST" && r.access != Access::Public).map(|r| r.path).collect();
    assert!(posts.len() >= 6, "{posts:?}");
    for path in posts {
        let path = path.replace("{id}", &id).replace("{name}", "cn").replace("{year}", "2027");
        let r =
            c.post(&path, &[("_csrf", "not-the-token"), ("_action", "decline"), ("_version", "1"), ("reason", "x"), ("text", "x")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} without the right token");
        let r = c.post(&path, &[("_action", "decline"), ("_version", "1"), ("reason", "x")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} without a token");
    }
    // A change started on another site is refused even with the token.
    let r = c
        .http
        .post(format!("{}/tickets/{id}/comment", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", c.csrf.as_str()), ("text", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &app.login("bs1", PASSWORD).await).await;
    assert_eq!(t["state"], "at_compound", "nothing changed");
    assert_eq!(t["version"], 1);
    let r = c.http.get(format!("{}/tickets/{id}", app.base)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style=\"") && !html.contains(" onclick="), "no inline script or style");
}

#[tokio::test]
async fn a_ticket_page_offers_exactly_the_actions_the_api_allows_and_hides_what_the_api_hides() {
    let (app, _fx, _gw, id) = ticket_fixture().await;
    for login in ["bs1", "gw1", "cs1", "sup1"] {
        let c = PageClient::login(&app, login).await;
        let (s, html) = c.get(&format!("/tickets/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{login}");
        let api = app.get_ok(&format!("/api/v1/tickets/{id}"), &app.login(login, PASSWORD).await).await;
        let mut allowed: Vec<String> = api["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        allowed.sort();
        assert_eq!(offered(&html), allowed, "{login}: the page offers what the API allows");
        // The resident's phone is masked on the page as in the API.
        assert!(!html.contains("13712345678"), "{login} sees the full phone");
    }
    // Out of scope, malformed or missing: the same 404 page.
    let c = PageClient::login(&app, "bs2").await;
    let (s, out_of_scope) = c.get(&format!("/tickets/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!out_of_scope.contains("烧烤"), "nothing of the ticket shows");
    let (s, _) = c.get("/tickets/not-a-uuid").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = c.get(&format!("/tickets/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for path in ["/photos/not-a-uuid/thumb", "/photos/12345/full"] {
        let (s, _) = c.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let r = c.submit("/tickets/not-a-uuid/reveal", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The reveal button shows the number once, and the look is in the trail.
    let c = PageClient::login(&app, "bs1").await;
    let r = c.submit(&format!("/tickets/{id}/reveal"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("13712345678"));
    let (_, html) = c.get(&format!("/tickets/{id}")).await;
    assert!(!html.contains("13712345678"), "not shown again without asking");
}

#[tokio::test]
async fn an_action_form_takes_the_action_and_a_stale_one_keeps_what_was_typed() {
    let (app, _fx, _gw, id) = ticket_fixture().await;
    let c = PageClient::login(&app, "bs1").await;
    // Declining without a reason: the form comes back open with a plain error.
    let r = c.submit(&format!("/tickets/{id}/act"), &[("_action", "decline"), ("_version", "1"), ("reason", "  ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("<details class=\"action\" open>"), "the refused form is open again");
    // Someone else accepts first; the stale decline answers with the fresh page and the reason kept.
    let bs = app.login("bs1", PASSWORD).await;
    let (s, _) = act(&app, &bs, &id, 1, json!({"action": "accept_at_compound"})).await;
    assert_eq!(s, StatusCode::OK);
    let r = c
        .submit(&format!("/tickets/{id}/act"), &[("_action", "report_to_community"), ("_version", "1"), ("reason", "超出小区能力-KEEP")])
        .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let html = r.text().await.unwrap();
    assert!(html.contains("超出小区能力-KEEP"), "what was typed is given back");
    assert!(html.contains("已被他人办理"), "a plain message says why");
    let t = app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await;
    assert_eq!(t["state"], "compound_handling");
    // With the current version the form works: POST → 303 → the ticket with a message.
    let v = t["version"].as_i64().unwrap().to_string();
    let r = c
        .submit(
            &format!("/tickets/{id}/act"),
            &[("_action", "mark_solved"), ("_version", &v), ("resolution", "已协调物业处理"), ("_key", "k-1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/tickets/{id}?done=mark_solved"));
    // The same form sent again (a double tap) changes nothing more.
    let r = c
        .submit(
            &format!("/tickets/{id}/act"),
            &[("_action", "mark_solved"), ("_version", &v), ("resolution", "已协调物业处理"), ("_key", "k-1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let t2 = app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await;
    assert_eq!(t2["state"], "solved");
    assert_eq!(t2["version"].as_i64().unwrap(), t["version"].as_i64().unwrap() + 1);
    // The grid worker's return-visit form closes it.
    let w = PageClient::login(&app, "gw1").await;
    let (_, mine) = w.get("/mine").await;
    assert!(mine.contains(&id), "the return visit is due on his list");
    let v = t2["version"].as_i64().unwrap().to_string();
    let r = w
        .submit(&format!("/tickets/{id}/act"), &[("_action", "record_return_visit"), ("_version", &v), ("satisfaction", "satisfied")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await["state"], "closed");
}

#[tokio::test]
async fn the_visit_log_form_files_the_log_and_its_requests_once_however_often_it_is_sent() {
    let (app, fx) = spawn_fixture().await;
    let c = PageClient::login(&app, "gw1").await;
    let (s, day) = c.get("/day").await;
    assert_eq!(s, StatusCode::OK);
    assert!(day.contains("测试B1"), "his grid");
    let client_id = uuid::Uuid::now_v7().to_string();
    let form = [
        ("grid_id", fx.unit("B1")),
        ("client_id", client_id.as_str()),
        ("observations", "楼道堆物，已提醒。"),
        ("r0_category", fx.category.as_str()),
        ("r0_building", fx.unit("B1")),
        ("r0_title", "夜间噪音"),
        ("r0_description", "烧烤店夜间噪音"),
        ("r0_urgency", "normal"),
        ("r0_resident_name", "居民r1"),
        ("r0_resident_phone", "13712345678"),
        ("r1_category", fx.category.as_str()),
        ("r1_title", "路灯不亮"),
        ("r1_description", "3号路灯不亮"),
        ("r1_anonymous", "1"),
        ("r2_category", fx.category.as_str()),
    ];
    for _ in 0..2 {
        let r = c.submit("/day/log", &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    }
    let gw = app.login("gw1", PASSWORD).await;
    let logs = app.get_ok("/api/v1/visit-logs", &gw).await;
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{logs}");
    let log = app.get_ok(&format!("/api/v1/visit-logs/{}", items[0]["id"].as_str().unwrap()), &gw).await;
    assert_eq!(log["tickets"].as_array().unwrap().len(), 2, "two requests, filed once: {log}");
    // Adding to today's log: the page now sends the log's id and version; twice is once.
    let (_, day) = c.get("/day").await;
    assert!(day.contains("name=\"log_id\""), "the form adds to today's log");
    let version = log["version"].as_i64().unwrap().to_string();
    let amend_id = uuid::Uuid::now_v7().to_string();
    let amend = [
        ("grid_id", fx.unit("B1")),
        ("client_id", amend_id.as_str()),
        ("log_id", log["id"].as_str().unwrap()),
        ("log_version", version.as_str()),
        ("r0_category", fx.category.as_str()),
        ("r0_title", "垃圾未清运"),
        ("r0_anonymous", "1"),
    ];
    for _ in 0..2 {
        let r = c.submit("/day/log", &amend).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap_or_default().split("flash error").nth(1).unwrap_or("").chars().take(200).collect::<String>()
        );
    }
    let log = app.get_ok(&format!("/api/v1/visit-logs/{}", log["id"].as_str().unwrap()), &gw).await;
    assert_eq!(log["tickets"].as_array().unwrap().len(), 3, "{log}");
    // A request without a category: the page answers with the error and what was typed.
    let r = c
        .submit("/day/log", &[("grid_id", fx.unit("B1")), ("client_id", "x-1"), ("observations", "看过"), ("r0_title", "没有类别-KEEP")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("没有类别-KEEP"));
}

#[tokio::test]
async fn text_people_typed_is_shown_as_text_never_as_markup() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let payload = "<script>window.__xss=1</script>\"><img src=x onerror=alert(1)>";
    let mut body = new_ticket(&fx);
    body["title"] = Value::String(format!("T{payload}"));
    body["description"] = Value::String(payload.into());
    body["resident_name"] = Value::String("<b>x</b>".into());
    let t = file(&app, &gw, &body).await;
    let id = t["id"].as_str().unwrap();
    let c = PageClient::login(&app, "bs1").await;
    c.submit(&format!("/tickets/{id}/comment"), &[("text", payload)]).await;
    for path in [format!("/tickets/{id}"), "/inbox".into(), "/search?q=T".into(), "/board".into()] {
        let (s, html) = c.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            !html.contains("<script>window") && !html.contains("<img src=x") && !html.contains("<b>x</b>"),
            "{path} shows markup: {html}"
        );
    }
    let (_, html) = c.get(&format!("/tickets/{id}")).await;
    assert!(html.contains("&#60;script&#62;window.__xss=1&#60;/script&#62;"), "shown as text, escaped");
}

#[tokio::test]
async fn the_language_switch_is_remembered_for_the_person() {
    let (app, _fx) = spawn_fixture().await;
    let c = PageClient::login(&app, "bs1").await;
    let (_, html) = c.get("/inbox").await;
    assert!(html.contains("lang=\"zh-CN\"") && html.contains("待办"));
    let r = c.submit("/language", &[("lang", "en"), ("back", "/inbox")]).await;
    assert_eq!(location(&r), "/inbox");
    let (_, html) = c.get("/inbox").await;
    assert!(html.contains("lang=\"en\"") && html.contains("To do"), "{html}");
    // Remembered in his record: another device (a new login) is in English too.
    let other = PageClient::login(&app, "bs1").await;
    let (_, html) = other.get("/search").await;
    assert!(html.contains("Find requests"));
    let me = app.get_ok("/api/v1/me", &app.login("bs1", PASSWORD).await).await;
    assert_eq!(me["person"]["locale"], "en");
}

#[tokio::test]
async fn the_search_page_filters_by_building_among_the_secretarys_own() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let mut at_building = new_ticket(&fx);
    at_building["title"] = json!("楼栋内的诉求-FIND");
    file(&app, &gw, &at_building).await;
    let bs = app.login("bs1", PASSWORD).await;
    let mut whole_compound = new_ticket(&fx);
    whole_compound["title"] = json!("整个小区的诉求-FIND");
    whole_compound["building_id"] = Value::Null;
    whole_compound["compound_id"] = json!(fx.unit("Y1"));
    file(&app, &bs, &whole_compound).await;
    let c = PageClient::login(&app, "bs1").await;
    let (s, html) = c.get("/search?q=FIND").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("楼栋内的诉求-FIND") && html.contains("整个小区的诉求-FIND"), "both without a building chosen");
    assert!(html.contains(&format!("<option value=\"{}\"", fx.unit("B1"))), "his compound's building is offered");
    assert!(!html.contains(fx.unit("B2")), "another compound's building is not offered");
    let (_, html) = c.get(&format!("/search?q=FIND&within={}", fx.unit("B1"))).await;
    assert!(html.contains("楼栋内的诉求-FIND"), "{html}");
    assert!(!html.contains("整个小区的诉求-FIND"), "only the chosen building's tickets");
    assert!(html.contains(&format!("<option value=\"{}\" selected>", fx.unit("B1"))), "the choice is kept");
}

#[tokio::test]
async fn community_staff_and_supervisors_oversee_open_cases_per_compound_and_the_supervision_queue() {
    use gridloop::app::sla::SlaContext;
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let bs = app.login("bs1", PASSWORD).await;
    let a = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let b = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let (_, _) =
        crate::tickets::act(&app, &bs, a["id"].as_str().unwrap(), 1, json!({"action": "report_to_community", "reason": "上报"})).await;
    // Far past every deadline: the SLA tick breaches the clocks, and supervision opens.
    let cals = crate::helpers::calendars(&app.settings);
    let later = gridloop::app::utc_now() + chrono::Duration::days(30);
    gridloop::app::sla::tick(&mut app.conn(), SlaContext { settings: &app.settings.sla, calendars: &cals }, later, "test").unwrap();

    let cs = PageClient::login(&app, "cs1").await;
    let (s, html) = cs.get("/oversight").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("href=\"/oversight\" aria-current=\"page\""), "a tab of the community's staff");
    // The compound's row: one at the community, one at the compound, both open, links to each list.
    let y1 = fx.unit("Y1");
    assert!(html.contains(&format!("href=\"/search?within={y1}&#38;state=at_community\">1</a>")), "{html}");
    assert!(html.contains(&format!("href=\"/search?within={y1}&#38;state=at_compound\">1</a>")), "{html}");
    // The supervision queue lists the breached cases, each linked to its page.
    for t in [&a, &b] {
        assert!(html.contains(&format!("href=\"/tickets/{}\"", t["id"].as_str().unwrap())), "{html}");
    }
    assert!(html.contains("走访日志填报率"));
    // The other district's community sees none of it.
    let (_, other) = PageClient::login(&app, "cs2").await.get("/oversight").await;
    assert!(!other.contains(a["id"].as_str().unwrap()) && !other.contains(y1), "{other}");
    // A supervisor lands on it; a grid worker may not.
    let sup = PageClient::login(&app, "sup1").await;
    let r = sup.http.get(format!("{}/", sup.base)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/oversight");
    let (s, html) = sup.get("/oversight").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(a["number"].as_str().unwrap()) && html.contains("督办"), "{html}");
    let (s, _) = PageClient::login(&app, "gw1").await.get("/oversight").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// The value of the first `name="…" value="…"` of a page.
fn value_of(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_admin_adds_a_person_resets_a_password_and_disables_him_all_in_his_scope_only() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let admin = PageClient::login(&app, "admin1").await;
    let r = admin.http.get(format!("{}/", admin.base)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/admin/org", "an admin's home");
    let (s, html) = admin.get("/admin/people").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("gw1") && !html.contains("gw2"), "only his district's people");
    // A bad login: refused with the reason, what he typed given back.
    let add =
        |login: &'static str| vec![("login", login), ("display_name", "新网格员"), ("role", "grid_worker"), ("org_unit_id", fx.unit("B1"))];
    let r = admin.submit("/admin/people/add", &add("Bad Login!")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("value=\"Bad Login!\""), "{html}");
    // Added: the generated password is shown this once, and it works.
    let r = admin.submit("/admin/people/add", &add("gw.new")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let password = html.split("id=\"shown-password\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert_eq!(password.len(), 12, "{html}");
    let token = app.login("gw.new", &password).await;
    assert_eq!(app.get_ok("/api/v1/me", &token).await["person"]["login"], "gw.new");
    let (_, again) = admin.get("/admin/people?q=gw.new").await;
    assert!(!again.contains(&password), "never shown again");
    // Reset gw1's password: the old one stops working, the new one works.
    let gw1 = fx.person("gw1");
    let r = PageClient::login(&app, "admin2").await.submit(&format!("/admin/people/{gw1}/password"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another district's admin");
    let r = admin.submit(&format!("/admin/people/{gw1}/password"), &[]).await;
    let html = r.text().await.unwrap();
    let fresh = html.split("id=\"shown-password\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"login": "gw1", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.login("gw1", &fresh).await;
    // Disabled: he cannot log in; enabled again: he can.
    let r = admin.submit(&format!("/admin/people/{gw1}/active"), &[("active", "false")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"login": "gw1", "password": fresh})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, html) = admin.get("/admin/people?inactive=1&q=gw1").await;
    assert!(html.contains("已停用"), "{html}");
    admin.submit(&format!("/admin/people/{gw1}/active"), &[("active", "true")]).await;
    app.login("gw1", &fresh).await;
    // A second role for the new person, then ended (kept for the record, no longer in force).
    let person = app.get_ok("/api/v1/people?q=gw.new", &app.login("admin1", PASSWORD).await).await[0]["id"].as_str().unwrap().to_string();
    let r = admin.submit(&format!("/admin/people/{person}/roles"), &[("role", "branch_secretary"), ("org_unit_id", fx.unit("Y1"))]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = app.login("gw.new", &password).await;
    let grants = app.get_ok("/api/v1/me", &token).await["grants"].as_array().unwrap().len();
    assert_eq!(grants, 2);
    let (_, html) = admin.get("/admin/people?q=gw.new").await;
    let ends: Vec<String> = html.split("/roles/").skip(1).map(|s| s.split('/').next().unwrap().to_string()).collect();
    assert_eq!(ends.len(), 2, "an end button per role: {html}");
    let r = admin.submit(&format!("/admin/people/{person}/roles/{}/end", ends[1]), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = app.login("gw.new", &password).await;
    assert_eq!(app.get_ok("/api/v1/me", &token).await["grants"].as_array().unwrap().len(), 1);
    // Not an admin: no admin page.
    let (s, _) = PageClient::login(&app, "cs1").await.get("/admin/people").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_grows_the_org_tree_and_sees_what_closes_before_deactivating() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let admin = PageClient::login(&app, "admin1").await;
    let (s, html) = admin.get("/admin/org").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("测试D1") && html.contains("测试S1"), "his district and its streets: {html}");
    let s1 = fx.unit("S1");
    let r = admin.submit(&format!("/admin/org/{s1}/add"), &[("kind", "community"), ("code", "T-K9"), ("name", "新社区")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains("新社区") && html.contains("已新增下级单位"), "{html}");
    // A code already taken: refused on the page, with the reason.
    let r = admin.submit(&format!("/admin/org/{s1}/add"), &[("kind", "community"), ("code", "T-K9"), ("name", "重复")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Renamed with a stale version: refused, not overwritten.
    let (_, html) = admin.get(&format!("/admin/org?unit={s1}")).await;
    let v = value_of(&html, "version");
    let r = admin.submit(&format!("/admin/org/{s1}"), &[("version", &v), ("name", "街道甲"), ("code", "T-S1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin.submit(&format!("/admin/org/{s1}"), &[("version", &v), ("name", "街道乙"), ("code", "T-S1")]).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Deactivating K1 first shows what closes with it (its compound and building; its people).
    let k1 = fx.unit("K1");
    let r = admin.submit(&format!("/admin/org/{k1}/deactivate"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("确认撤销此单位") && html.contains("<b>2</b>"), "two units below: {html}");
    assert!(app.get_ok(&format!("/api/v1/org-units/{k1}"), &app.login("admin1", PASSWORD).await).await["active"] == true, "not yet");
    let v = value_of(&html, "version");
    let r = admin.submit(&format!("/admin/org/{k1}/deactivate"), &[("version", &v), ("confirm", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = app.login("admin1", PASSWORD).await;
    assert_eq!(app.get_ok(&format!("/api/v1/org-units/{}", fx.unit("Y1")), &token).await["active"], false, "the subtree closed");
    // Another district's unit is not found.
    let (s, _) = PageClient::login(&app, "admin2").await.get(&format!("/admin/org?unit={s1}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_register_imports_whole_or_names_each_bad_line_and_a_second_send_adds_nothing() {
    use diesel::prelude::*;
    let (app, _fx) = crate::fixture::spawn_fixture().await;
    let (s, _) = PageClient::login(&app, "admin1").await.get("/residents/import").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an admin holds no resident's data");
    let admin = PageClient::login(&app, "cs1").await;
    let (_, html) = admin.get("/residents/import").await;
    let key = value_of(&html, "_key");
    let count = || gridloop::db::schema::residents::table.count().get_result::<i64>(&mut app.conn()).unwrap();
    let before = count();
    let upload = |csv: &'static str, key: String| {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", admin.csrf.clone())
            .text("_key", key)
            .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("名册.csv").mime_str("text/csv").unwrap());
        admin.http.post(format!("{}/residents/import", admin.base)).multipart(form).send()
    };
    let bad =
        "building_code,unit_no,room,name,phone,id_number,kind\nT-B1,1,201,张大爷,13700002222,,独居老人\nT-B1,2,302,赵五,12345,,ordinary\n";
    let r = upload(bad, uuid::Uuid::new_v4().to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("第 3 行") && !html.contains("第 2 行"), "the bad line named: {html}");
    assert_eq!(count(), before, "nothing imported");
    let good =
        "building_code,unit_no,room,name,phone,id_number,kind\nT-B1,1,201,张大爷,13700002222,,独居老人\nT-B1,2,301,王阿姨,,,党员中心户\n";
    let r = upload(good, key.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("已导入 2 户"));
    // The same form sent again (a double tap, a retry): the same answer, nothing added.
    let r = upload(good, key).await.unwrap();
    assert!(r.text().await.unwrap().contains("已导入 2 户"));
    assert_eq!(count(), before + 2);
}

#[tokio::test]
async fn the_top_admin_publishes_a_year_on_the_calendar_page_and_a_wrong_date_is_named() {
    let (app, _fx) = crate::fixture::spawn_fixture().await;
    let year = chrono::Utc::now().date_naive().year() + 1;
    let root = PageClient::login(&app, "root").await;
    let (s, html) = root.get("/admin/calendars").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("/admin/calendars/cn/{year}")), "next year listed: {html}");
    let path = format!("/admin/calendars/cn/{year}");
    let (_, html) = root.get(&path).await;
    assert!(html.contains("暂定"), "{html}");
    // A make-up working day that is not a weekend day: named, nothing stored.
    let holidays = format!("{year}-01-01\n{year}-10-01，{year}-10-02");
    let monday =
        (1..=7).map(|d| chrono::NaiveDate::from_ymd_opt(year, 3, d).unwrap()).find(|d| d.weekday() == chrono::Weekday::Mon).unwrap();
    let r = root.submit(&path, &[("holidays", &holidays), ("workdays", &monday.to_string()), ("status", "published")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"problems\"") && html.contains(&monday.to_string()), "{html}");
    assert!(html.contains(&format!("{year}-10-02")), "what he typed is given back");
    let r = root.submit(&path, &[("holidays", &holidays), ("workdays", ""), ("status", "published"), ("source", "国办发明电")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = root.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains("正式") && html.contains("国办发明电") && html.contains("已发布"), "{html}");
    let v = app.get_ok(&format!("/api/v1/calendars/cn/years/{year}"), &app.login("root", PASSWORD).await).await;
    assert_eq!(v["holidays"].as_array().unwrap().len(), 3, "{v}");
    // A district admin sees the year but may not publish it.
    let (_, html) = PageClient::login(&app, "admin1").await.get(&path).await;
    assert!(html.contains("只有市级管理员") && !html.contains("name=\"holidays\""), "{html}");
}

#[tokio::test]
async fn search_finds_by_category_and_dates_and_by_phone_only_for_who_may_reveal_it_each_look_recorded() {
    use diesel::prelude::*;
    use gridloop::db::schema::pii_reveals;
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let mut other = new_ticket(&fx);
    other["resident_phone"] = json!("13900009999");
    let t2 = file(&app, &gw, &other).await;
    let bs = PageClient::login(&app, "bs1").await;
    let today = chrono::Utc::now().date_naive();
    let (s, html) = bs.get(&format!("/search?category={}&from={}", fx.category, today - chrono::Duration::days(1))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(t["number"].as_str().unwrap()) && html.contains(t2["number"].as_str().unwrap()), "{html}");
    let (_, html) = bs.get(&format!("/search?to={}", today - chrono::Duration::days(3))).await;
    assert!(!html.contains(t["number"].as_str().unwrap()), "filed after the range");
    let (s, _) = bs.get("/search?from=yesterday").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a date that is not one is refused");
    // By phone: a form (the number never in an address), the match only, each look recorded.
    let reveals =
        || pii_reveals::table.filter(pii_reveals::fields.eq("resident_phone_search")).count().get_result::<i64>(&mut app.conn()).unwrap();
    assert_eq!(reveals(), 0);
    let r = bs.submit("/search/phone", &[("resident_phone", "13712345678")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(t["number"].as_str().unwrap()) && !html.contains(t2["number"].as_str().unwrap()), "{html}");
    assert!(html.contains("本次按电话查找已记录"));
    assert_eq!(reveals(), 1, "one ticket found, one reveal");
    let r = bs.submit("/search/phone", &[("resident_phone", "13x")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another compound's secretary finds nothing of it; a supervisor may not look by phone.
    let r = PageClient::login(&app, "bs2").await.submit("/search/phone", &[("resident_phone", "13712345678")]).await;
    assert!(!r.text().await.unwrap().contains(t["number"].as_str().unwrap()));
    let sup = PageClient::login(&app, "sup1").await;
    let (_, html) = sup.get("/search").await;
    assert!(!html.contains("/search/phone"), "no phone form offered to whom it is not allowed");
    let r = sup.submit("/search/phone", &[("resident_phone", "13712345678")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The API's list takes the same filter, with the same rule.
    let token = app.login("sup1", PASSWORD).await;
    let r = app.get("/api/v1/tickets?resident_phone=13712345678", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = app.get_ok("/api/v1/tickets?resident_phone=13712345678", &app.login("bs1", PASSWORD).await).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(reveals(), 2);
}

#[tokio::test]
async fn the_city_admin_keeps_the_catalogue_on_its_page_limits_included_and_a_bad_limit_is_explained() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let root = PageClient::login(&app, "root").await;
    let (s, html) = root.get("/admin/catalogue").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("社区受理") && html.contains("action=\"/admin/catalogue/add\""), "{html}");
    let cat = &fx.category;
    // A limit of its own for community acceptance, urgent: shown as the category's own.
    let limit = format!("/admin/catalogue/{cat}/limit");
    let r = root.submit(&limit, &[("stage", "community_acceptance"), ("urgency", "urgent"), ("limit", "3 fortnights")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("fortnights") && html.contains("无效"), "the reason, in Chinese: {html}");
    let r = root.submit(&limit, &[("stage", "community_acceptance"), ("urgency", "urgent"), ("limit", "2 working_hours")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = root.get("/admin/catalogue?done=limit").await;
    assert!(html.contains("2 个工作小时 <span class=\"badge\">本类别</span>"), "{html}");
    // Its usual department changed; a stale form is refused.
    let version = value_of(&html, "version");
    let save = format!("/admin/catalogue/{cat}");
    let form = [
        ("version", version.as_str()),
        ("name_zh", "噪音扰民"),
        ("name_en", "Noise"),
        ("default_department_id", fx.unit("P3")),
        ("urgency", "normal"),
        ("active", "1"),
    ];
    let r = root.submit(&save, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = root.submit(&save, &form).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let c = app.get_ok(&format!("/api/v1/categories/{cat}"), &app.login("root", PASSWORD).await).await;
    assert_eq!((c["default_department_id"].as_str(), c["urgencies"].clone()), (Some(fx.unit("P3")), json!(["normal"])), "{c}");
    // A district admin reads it but changes nothing.
    let (_, html) = PageClient::login(&app, "admin1").await.get("/admin/catalogue").await;
    assert!(html.contains("只有市级管理员") && !html.contains("/limit\""), "{html}");
}

#[tokio::test]
async fn a_clock_past_its_warning_time_is_marked_for_its_holder_only_until_it_is_late() {
    use diesel::prelude::*;
    use gridloop::db::schema::sla_clocks;
    let (app, _fx, gw, id) = ticket_fixture().await;
    let bs = app.login("bs1", PASSWORD).await;
    let now = gridloop::app::utc_now();
    // The clock moved by hand, and the ticket row that keeps its nearest clock's times with it
    // (decision 0029), as the service writes them together.
    let set = |warn: chrono::NaiveDateTime, due: chrono::NaiveDateTime| {
        use gridloop::db::schema::tickets;
        diesel::update(sla_clocks::table.filter(sla_clocks::ticket_id.eq(&id)))
            .set((sla_clocks::warn_at.eq(warn), sla_clocks::due_at.eq(due)))
            .execute(&mut app.conn())
            .unwrap();
        diesel::update(tickets::table.find(&id))
            .set((tickets::warn_at.eq(Some(warn)), tickets::due_at.eq(Some(due))))
            .execute(&mut app.conn())
            .unwrap();
    };
    let line = |v: &Value| v["items"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).cloned().unwrap();
    // Not yet at its warning time: no mark for anyone.
    set(now + chrono::Duration::hours(1), now + chrono::Duration::hours(2));
    assert_eq!(line(&app.get_ok("/api/v1/tickets", &bs).await)["warning"], false);
    // Past its warning time (预警), before its deadline: the secretary who holds the triage clock
    // sees the mark in the list, on the ticket and on his inbox page; the grid worker does not.
    set(now - chrono::Duration::minutes(5), now + chrono::Duration::hours(1));
    let l = line(&app.get_ok("/api/v1/tickets", &bs).await);
    assert_eq!((l["warning"].as_bool(), l["overdue"].as_bool()), (Some(true), Some(false)));
    assert_eq!(app.get_ok(&format!("/api/v1/tickets/{id}"), &bs).await["warning"], true);
    assert_eq!(line(&app.get_ok("/api/v1/tickets", &gw).await)["warning"], false, "the filer holds no clock");
    let page = PageClient::login(&app, "bs1").await;
    let (status, html) = page.get("/inbox").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"badge warn\">预警 · "), "the inbox marks the near deadline");
    let (_, html) = page.get(&format!("/tickets/{id}")).await;
    assert!(html.contains("预警 · "), "the ticket page marks it too");
    // Late: overdue, no longer a warning.
    set(now - chrono::Duration::hours(2), now - chrono::Duration::hours(1));
    let l = line(&app.get_ok("/api/v1/tickets", &bs).await);
    assert_eq!((l["warning"].as_bool(), l["overdue"].as_bool()), (Some(false), Some(true)));
    let (_, html) = page.get("/inbox").await;
    assert!(html.contains("class=\"badge late\"") && !html.contains("预警 · "));
}

#[tokio::test]
async fn the_oversight_counts_are_shared_for_their_refresh_time_and_say_when_they_were_counted() {
    let (app, fx) = crate::fixture::spawn_fixture_configured(|s| s.server.overview_refresh_s = 3600).await;
    let gw = app.login("gw1", PASSWORD).await;
    let y1 = fx.unit("Y1");
    let at_compound = |n: usize| format!("href=\"/search?within={y1}&#38;state=at_compound\">{n}</a>");
    crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let cs = PageClient::login(&app, "cs1").await;
    let (_, first) = cs.get("/oversight").await;
    assert!(first.contains(&at_compound(1)), "{first}");
    let counted = first.split("id=\"counted\">").nth(1).unwrap().split("</p>").next().unwrap().to_string();
    assert!(counted.starts_with("统计于 "), "{counted}");
    // A second filing within the refresh time: the shared count (and its time) stay as they were.
    crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let (_, again) = cs.get("/oversight").await;
    assert!(again.contains(&at_compound(1)) && again.contains(&counted), "{again}");
    // The access check is not shared: another district's staff is refused the unit's counts even
    // while they are kept, and sees his own.
    let (_, other) = PageClient::login(&app, "cs2").await.get("/oversight").await;
    assert!(!other.contains(y1), "{other}");
    // With the test settings (0: counted on every view) the second filing shows at once.
    let (fresh, fx2) = crate::fixture::spawn_fixture().await;
    let gw2 = fresh.login("gw1", PASSWORD).await;
    let y1b = fx2.unit("Y1");
    for _ in 0..2 {
        crate::tickets::file(&fresh, &gw2, &crate::tickets::new_ticket(&fx2)).await;
    }
    let (_, html) = PageClient::login(&fresh, "cs1").await.get("/oversight").await;
    assert!(html.contains(&format!("href=\"/search?within={y1b}&#38;state=at_compound\">2</a>")), "{html}");
}
