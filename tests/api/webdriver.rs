//! A small W3C WebDriver client over reqwest, driving Debian's Chromium through chromedriver.
//! (The protocol is a handful of JSON calls; reqwest is already here, so no second HTTP stack.)
//!
//! Browser tests call [`Browser::start`]: it returns `None` (and says so) when Chromium or
//! chromedriver is missing, unless `GRIDLOOP_REQUIRE_BROWSER=1` (CI), where a missing browser
//! fails the test.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One browser only at a time on a two-core machine: journeys queue on this.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    shots: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

#[derive(Clone, Debug)]
pub struct El(String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// A headless Chromium at phone size (390×844), or `None` when none is installed here.
    pub async fn start(name: &str) -> Option<Browser> {
        let required = std::env::var("GRIDLOOP_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        if !(std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()) {
            assert!(!required, "GRIDLOOP_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing");
            eprintln!("SKIPPED browser test `{name}`: Chromium/chromedriver not installed (apt-get install chromium chromium-driver fonts-wqy-zenhei)");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().await;
        let port = free_port();
        // In a process group of its own, with the browsers it starts: dropping the Browser ends
        // them all (killing chromedriver alone would leave every Chromium it started running).
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=390,844", "--lang=zh-CN",
                         "--force-device-scale-factor=1", "--no-first-run", "--disable-extensions"],
                "prefs": {"intl.accept_languages": "zh-CN"}
            }
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.expect("new session").json().await.unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots").join(name);
        // Each run replaces the test's screenshots: none left from an earlier run.
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let b = Browser { driver, base, session, http, shots, _turn: turn };
        b.cmd("POST", "/window/rect", json!({"width": 390, "height": 844})).await;
        Some(b)
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r: Value = req.send().await.expect("webdriver").json().await.expect("webdriver json");
        if let Some(err) = r["value"]["error"].as_str() {
            panic!("webdriver {method} {path}: {err}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", Value::Null).await.as_str().unwrap_or_default().to_string()
    }

    pub async fn find(&self, css: &str) -> El {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(Instant::now() < deadline, "no element `{css}` on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<El> {
        let v = self.cmd("POST", "/elements", json!({"using": "css selector", "value": css})).await;
        v.as_array().and_then(|a| a.first()).map(|e| El(e[ELEMENT].as_str().unwrap().to_string()))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.cmd("POST", "/elements", json!({"using": "css selector", "value": css})).await.as_array().map_or(0, |a| a.len())
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{}/click", e.0), json!({})).await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{}/clear", e.0), json!({})).await;
        self.cmd("POST", &format!("/element/{}/value", e.0), json!({"text": text})).await;
    }

    /// Chooses a local file in a file input (as the phone's picker would).
    pub async fn choose_file(&self, css: &str, path: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{}/value", e.0), json!({"text": path})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{}/text", e.0), Value::Null).await.as_str().unwrap_or_default().to_string()
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Picks the option with this value in a select (or the first non-empty one for "").
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await;
        self.js(
            "const s=document.querySelector(arguments[0]); const o=[...s.options].find(o=>arguments[1]?o.value===arguments[1]:o.value!==''); s.value=o.value; s.dispatchEvent(new Event('change')); return o.value;",
            json!([css, value]),
        )
        .await;
    }

    /// Waits until the URL contains `part`.
    pub async fn wait_url(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let u = self.url().await;
            if u.contains(part) {
                return u;
            }
            assert!(Instant::now() < deadline, "URL never contained `{part}`; it is {u}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Cuts the network (or gives it back), as a phone losing signal.
    pub async fn offline(&self, off: bool) {
        let throughput = if off { 0 } else { 10_000_000 };
        self.cmd(
            "POST",
            "/chromium/network_conditions",
            json!({"network_conditions": {"offline": off, "latency": 0, "download_throughput": throughput, "upload_throughput": throughput}}),
        )
        .await;
    }

    /// The window's size: a desk's screen (1366×768) or a phone's (390×844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", json!({"width": width, "height": height})).await;
    }

    /// Presses keys, as a person at the keyboard (WebDriver key codes: Tab "\u{E004}", Enter
    /// "\u{E007}", Space " ", ArrowDown "\u{E015}"; other characters are typed).
    pub async fn keys(&self, keys: &str) {
        let mut actions = vec![];
        for k in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        self.cmd("POST", "/actions", json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})).await;
    }

    /// Presses Tab until the focused element matches `css` (at most 80 times): how a keyboard user
    /// reaches a control.
    pub async fn tab_to(&self, css: &str) {
        for _ in 0..80 {
            let here = self.js("return !!document.activeElement && document.activeElement.matches(arguments[0])", json!([css])).await;
            if here == json!(true) {
                return;
            }
            self.keys("\u{E004}").await;
        }
        panic!("Tab never reached `{css}` on {}", self.url().await);
    }

    pub async fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", Value::Null).await;
    }

    /// Saves a screenshot as target/screenshots/<test>/<name>.png (a test artefact to look at).
    pub async fn shot(&self, name: &str) {
        let png = self.cmd("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Logs in through the login page.
    pub async fn login(&self, app_base: &str, login: &str, password: &str) {
        self.delete_cookies().await;
        self.goto(&format!("{app_base}/login")).await;
        self.fill("#login", login).await;
        self.fill("#password", password).await;
        self.click("form.stack button[type=submit]").await;
        self.wait_until_not("/login").await;
    }

    pub async fn wait_until_not(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.url().await.contains(part) {
            assert!(Instant::now() < deadline, "still on {part}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
