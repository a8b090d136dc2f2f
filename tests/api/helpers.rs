//! The test harness: a real server on port 0 over a real database of its own — a fresh SQLite file,
//! or a fresh schema in the PostgreSQL database named by GRIDLOOP_TEST_DATABASE_URL — dropped at the end.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use gridloop::config::Settings;
use gridloop::db::{self, DbConn, DbPool};
use gridloop::startup::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// Names the PostgreSQL database to test against; unset means SQLite.
pub const PG_ENV: &str = "GRIDLOOP_TEST_DATABASE_URL";

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The working calendars of the project's configuration.
pub fn calendars(settings: &Settings) -> gridloop::app::calendars::Calendars {
    gridloop::app::calendars::Calendars::from_files(&settings.config_dir.join("calendars"), &settings.sla).expect("calendars")
}

/// A database of one test's own.
pub struct TestDb {
    pub url: String,
    pg_base: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
    /// The photo store of the test's server, removed with it.
    pub photos: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        match std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) {
            Some(base) => TestDb::postgres(&base),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("gridloop.db").to_string_lossy().into_owned();
                TestDb { url, pg_base: None, _dir: Some(dir), photos: tempfile::tempdir().expect("temp dir") }
            }
        }
    }
}

impl TestDb {
    /// A fresh schema in the PostgreSQL database `base`. The server's connections carry the
    /// schema's name as their `application_name`, so that a test can find (and cut) them.
    pub fn postgres(base: &str) -> TestDb {
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = diesel::PgConnection::establish(base).unwrap_or_else(|e| panic!("cannot reach {base}: {e}"));
        conn.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}&application_name={schema}");
        TestDb { url, pg_base: Some((base.to_string(), schema)), _dir: None, photos: tempfile::tempdir().expect("temp dir") }
    }

    /// The PostgreSQL database the schema lives in and the schema's name (also the
    /// `application_name` of every connection made with `url`); `None` on SQLite.
    pub fn postgres_schema(&self) -> Option<(&str, &str)> {
        self.pg_base.as_ref().map(|(b, s)| (b.as_str(), s.as_str()))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg_base {
            if let Ok(mut conn) = diesel::PgConnection::establish(base) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

/// The settings of the test environment (config/test.toml), pointed at `db`.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::load(&project_dir().join("config"), "test").expect("test settings");
    s.database.url = db.url.clone();
    s.database.pool_size = 4;
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 1;
    s.server.shutdown_timeout_s = 1;
    s.photos.dir = db.photos.path().to_path_buf();
    s
}

/// An HTTP client pointed at one server.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

pub struct TestApp {
    pub api: Api,
    pub pool: DbPool,
    pub settings: Settings,
    /// Kept so that the database lives (and is dropped) with the app.
    pub _db: TestDb,
    /// The port of the metrics listener, when `metrics.bind` is set.
    pub metrics_port: Option<u16>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// Starts a server over a freshly migrated, empty database.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `seed` has run on the migrated database.
    pub async fn spawn_with(seed: impl FnOnce(&mut DbConn)) -> TestApp {
        Self::spawn_on(TestDb::new(), |_| {}, seed).await
    }

    /// Starts a server with the test settings changed by `configure`, after `seed` has run.
    pub async fn spawn_configured(configure: impl FnOnce(&mut Settings), seed: impl FnOnce(&mut DbConn)) -> TestApp {
        Self::spawn_on(TestDb::new(), configure, seed).await
    }

    /// Starts a server over `db` with the test settings changed by `configure`, after `seed`
    /// has run on the migrated database.
    pub async fn spawn_on(db: TestDb, configure: impl FnOnce(&mut Settings), seed: impl FnOnce(&mut DbConn)) -> TestApp {
        let mut settings = test_settings(&db);
        configure(&mut settings);
        settings.validate().expect("test settings");
        let pool = db::build_pool(&settings.database).expect("pool");
        {
            let mut conn = pool.get().expect("conn");
            db::run_migrations(&mut conn).expect("migrations");
            seed(&mut conn);
        }
        let app = Application::build(settings.clone(), pool.clone()).expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let metrics_port = app.metrics_port();
        tokio::spawn(app.run_until_stopped());
        TestApp { api: Api { base, client: client() }, pool, settings, _db: db, metrics_port, handle }
    }

    /// A connection of the test's own to the server's database, outside the server's pool.
    pub fn conn(&self) -> DbConn {
        db::establish(&self.settings.database).expect("conn")
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api { base: base.to_string(), client: client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in and returns the bearer token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let r = self.post_json("/api/v1/auth/login", None, &json!({"login": login, "password": password})).await;
        assert_eq!(r.status(), StatusCode::OK, "login of {login} failed");
        let body: Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>, if_match: Option<i64>) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(v) = if_match {
            req = req.header("If-Match", format!("\"{v}\""));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None, None).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body), None).await
    }

    pub async fn patch_json(&self, path: &str, token: Option<&str>, version: Option<i64>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body), version).await
    }

    /// GETs a JSON body, asserting 200.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let r = self.get(path, Some(token)).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the runtime of the test ends right after and takes the workers along.
        // The stop command is sent at once; nobody needs to wait for it.
        drop(self.handle.stop(false));
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A client whose connections come from `ip`: every 127.x.y.z address is the loopback, so a test
/// server on 127.0.0.1 sees each such client as a different peer.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).local_address(Some(ip.parse().unwrap())).build().unwrap()
}

/// Asserts an error response: status, stable code, and a non-empty message.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["code"], code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error without a message: {body}");
    body
}

/// A timestamp of a response as the stored UTC time. The API writes RFC 3339 in UTC (`…Z`): a
/// time without its offset, or in another zone, fails here.
pub fn instant(v: &Value) -> chrono::NaiveDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    let t = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("`{text}` is not RFC 3339 with an offset: {e}"));
    assert!(text.ends_with('Z') && t.offset().local_minus_utc() == 0, "the API writes UTC with `Z`: {text}");
    t.naive_utc()
}

/// The month after `ym` (`YYYY-MM`), as `YYYY-MM`.
pub fn next_month(ym: &str) -> String {
    let first = chrono::NaiveDate::parse_from_str(&format!("{ym}-01"), "%Y-%m-%d").unwrap();
    (first + chrono::Duration::days(32)).format("%Y-%m").to_string()
}
