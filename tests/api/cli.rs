//! The `gridloop` binary as an operator meets it: serve, migrate, demo, check-config, user
//! commands, clear refusals with a non-zero exit, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{project_dir, TestDb};

pub fn gridloop() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridloop"));
    c.current_dir(project_dir())
        .env_remove("RUST_LOG")
        .env("GRIDLOOP_ENV", "test")
        .env("GRIDLOOP_CONFIG_DIR", project_dir().join("config"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GRIDLOOP_") && k.contains("__") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs a command to its end: (exit code, stdout, stderr).
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = gridloop().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A `gridloop serve --demo` process on a free port.
pub struct Server {
    child: Child,
    pub base: String,
    pub stdout: String,
}

impl Server {
    pub fn start(db: &TestDb, extra_env: &[(&str, &str)]) -> Server {
        let mut cmd = gridloop();
        cmd.args(["--database-url", &db.url, "serve", "--demo", "--bind", "127.0.0.1:0"])
            .env("GRIDLOOP_LOG__LEVEL", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = String::new();
        let port = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                panic!("server exited before listening: {stdout}\n{err}");
            }
            stdout.push_str(&line);
            if let Some(rest) = line.split("listening on port ").nth(1) {
                break rest.split_whitespace().next().unwrap().parse::<u16>().unwrap();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&base);
        Server { child, base, stdout }
    }

    /// Sends SIGTERM and waits for the exit: (exit code, how long it took).
    pub fn terminate(&mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t.elapsed());
            }
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and returns what it logged to stderr.
    pub fn stop_and_read_log(&mut self) -> String {
        self.terminate();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(base.trim_start_matches("http://")) {
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{base} never became healthy");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn serve_demo_prints_where_to_log_in_and_stops_gracefully_on_sigterm() {
    let db = TestDb::new();
    let mut server = Server::start(&db, &[]);
    assert!(server.stdout.contains("password: gridloop-demo"), "{}", server.stdout);
    for login in ["admin", "sup.zhao", "cs.liu", "bs.yang", "gw.wang", "dl.cg"] {
        assert!(server.stdout.contains(login), "demo login {login} not printed");
    }
    assert!(server.stdout.contains(&server.base), "the printed URL is the one served: {}", server.stdout);
    let (code, took) = server.terminate();
    assert_eq!(code, Some(0), "a SIGTERM stop is a clean exit");
    assert!(took < Duration::from_secs(15));

    // A second start on the same database keeps the data and says so.
    let server = Server::start(&db, &[]);
    assert!(server.stdout.contains("already has data"), "{}", server.stdout);
}

#[test]
fn demo_refuses_a_database_that_already_has_data() {
    let db = TestDb::new();
    let (code, out, err) = run(&["--database-url", &db.url, "demo"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Demo city loaded"));
    let (code, _, err) = run(&["--database-url", &db.url, "demo"], None);
    assert_ne!(code, 0);
    assert!(err.contains("empty database"), "{err}");
}

#[test]
fn migrate_applies_once_and_then_reports_up_to_date() {
    let db = TestDb::new();
    let count = std::fs::read_dir(project_dir().join("migrations/sqlite")).unwrap().count();
    let (code, out, _) = run(&["--database-url", &db.url, "migrate"], None);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("Applied {count} migration(s)")), "{out}");
    let (code, out, _) = run(&["--database-url", &db.url, "migrate"], None);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");
}

#[test]
fn check_config_prints_effective_values_with_the_password_hidden() {
    let (code, out, err) = run(&["--database-url", "postgres://app:s3cret@db.example:5432/gridloop", "check-config"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pool_size"), "{out}");
    assert!(out.contains("postgres://app:********@db.example:5432/gridloop"), "{out}");
    assert!(!out.contains("s3cret"));
}

#[test]
fn bad_configuration_is_refused_with_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(project_dir().join("config/default.toml"), dir.path().join("default.toml")).unwrap();
    std::fs::write(dir.path().join("test.toml"), "[database]\npool_sise = 3\n").unwrap();
    let dir_arg = dir.path().to_string_lossy().to_string();
    let (code, _, err) = run(&["--config-dir", &dir_arg, "check-config"], None);
    assert_eq!(code, 2);
    assert!(err.contains("pool_sise"), "{err}");

    std::fs::write(dir.path().join("test.toml"), "[auth]\nthrottle_account_address_failures = \"five\"\n").unwrap();
    let (code, _, err) = run(&["--config-dir", &dir_arg, "check-config"], None);
    assert_eq!(code, 2);
    assert!(err.contains("auth.throttle_account_address_failures"), "{err}");

    let (code, _, err) = run(&["--database-url", "mysql://root@localhost/g", "check-config"], None);
    assert_eq!(code, 2);
    assert!(err.contains("mysql://") && err.contains("database.url"), "{err}");

    let mut cmd = gridloop();
    cmd.env("GRIDLOOP_DATABASE__POOL_SIZE", "0").arg("check-config");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.pool_size"));

    // The intake's writers need connections of their own and leave some for the reads.
    let mut cmd = gridloop();
    cmd.env("GRIDLOOP_DATABASE__POOL_SIZE", "2").env("GRIDLOOP_DATABASE__INTAKE_WRITERS", "2").arg("check-config");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database.intake_writers") && err.contains("pool_size"), "{err}");

    // Login throttling: a proxy that is not an address, a cap below the first wait.
    let mut cmd = gridloop();
    cmd.env("GRIDLOOP_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8", "proxy.local"]"#).arg("check-config");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.trusted_proxies") && err.contains("proxy.local"), "{err}");
    let mut cmd = gridloop();
    cmd.env("GRIDLOOP_AUTH__THROTTLE_MAX_DELAY_SECONDS", "10").arg("check-config");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.throttle_max_delay_seconds") && err.contains("throttle_first_delay_seconds"), "{err}");
}

#[test]
fn an_unreachable_database_fails_fast_with_a_clear_message() {
    let started = Instant::now();
    let (code, _, err) = run(&["--database-url", "postgres://nobody@127.0.0.1:1/none", "migrate"], None);
    assert_eq!(code, 3);
    assert!(err.contains("cannot open the database"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn user_add_and_reset_password_work_from_the_command_line() {
    let db = TestDb::new();
    assert_eq!(run(&["--database-url", &db.url, "org", "add", "--kind", "city", "--code", "SZ", "--name", "示范市"], None).0, 0);
    let (code, out, err) = run(
        &[
            "--database-url",
            &db.url,
            "user",
            "add",
            "--login",
            "ops",
            "--name",
            "运维",
            "--role",
            "admin",
            "--unit",
            "SZ",
            "--password-stdin",
        ],
        Some("first-password\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["--database-url", &db.url, "user", "reset-password", "--login", "ops"], None);
    assert_eq!(code, 0);
    let generated = out.split("shown once): ").nth(1).unwrap().trim().to_string();
    assert_eq!(generated.len(), 14);
    // The new password works against the real server.
    let settings = {
        let mut s = crate::helpers::test_settings(&db);
        s.database.url = db.url.clone();
        s
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = gridloop::db::build_pool(&settings.database).unwrap();
        let app = gridloop::startup::Application::build(settings, pool).unwrap();
        let api = crate::helpers::Api::new(&format!("http://127.0.0.1:{}", app.port()));
        tokio::spawn(app.run_until_stopped());
        api.login("ops", &generated).await;
    });
    // Wrong input is refused clearly.
    let (code, _, err) =
        run(&["--database-url", &db.url, "user", "add", "--login", "x", "--name", "X", "--role", "mayor", "--unit", "SZ"], None);
    assert_ne!(code, 0);
    assert!(err.contains("mayor"), "{err}");
    let (code, _, err) =
        run(&["--database-url", &db.url, "user", "add", "--login", "xy", "--name", "X", "--role", "grid_worker", "--unit", "SZ"], None);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("building"), "a grid worker belongs to a building or compound: {err}");
}

#[test]
fn audit_verify_and_checkpoint_work_from_the_command_line() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let db = TestDb::new();
    let settings = crate::helpers::test_settings(&db);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let fx = crate::fixture::seed(&mut conn, &settings.auth);
    let actor = crate::fixture::actor(&mut conn, &fx, "gw1");
    let body: gridloop::app::tickets::NewTicket = serde_json::from_value(crate::tickets::new_ticket(&fx)).unwrap();
    let cals = crate::helpers::calendars(&settings);
    let ctx = gridloop::app::sla::SlaContext { settings: &settings.sla, calendars: &cals };
    gridloop::app::tickets::file_ticket(&mut conn, ctx, &actor, body, gridloop::app::utc_now()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("checkpoint.json").to_string_lossy().to_string();
    let (code, out, err) = run(&["--database-url", &db.url, "audit", "checkpoint", "--out", &cp], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["--database-url", &db.url, "audit", "verify", "--checkpoint", &cp], None);
    assert_eq!(code, 0);
    assert!(out.contains("intact: 1 events") && out.contains("checkpoint"), "{out}");

    let drop = match &conn {
        gridloop::db::DbConn::Sqlite(_) => "DROP TRIGGER audit_events_no_update",
        gridloop::db::DbConn::Postgresql(_) => "DROP TRIGGER audit_events_no_update ON audit_events",
    };
    conn.batch_execute(drop).unwrap();
    diesel::update(gridloop::db::schema::audit_events::table)
        .set(gridloop::db::schema::audit_events::reason.eq(Some("改过")))
        .execute(&mut conn)
        .unwrap();
    let (code, _, err) = run(&["--database-url", &db.url, "audit", "verify"], None);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("BROKEN") && err.contains("edited"), "{err}");
}

#[test]
fn migrate_seals_the_version_1_audit_events_of_an_upgraded_database_once() {
    let db = TestDb::new();
    let settings = crate::helpers::test_settings(&db);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    // Events as an older Gridloop wrote them, on three chains at most.
    let legacy = crate::tickets::write_version_1_events(&mut conn, &["old-a", "old-b", "old-c"]);
    let chains: std::collections::BTreeSet<i32> = legacy.iter().map(|e| e.1).collect();
    let (code, out, err) = run(&["--database-url", &db.url, "migrate"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Sealed the version-1 audit events of {} chain(s)", chains.len())), "{out}");
    let (code, out, _) = run(&["--database-url", &db.url, "migrate"], None);
    assert_eq!(code, 0);
    assert!(!out.contains("Sealed"), "sealed twice: {out}");
    assert_eq!(crate::tickets::seals(&mut conn).len(), chains.len());
    let (code, out, err) = run(&["--database-url", &db.url, "audit", "verify"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("intact: {} events", legacy.len() + chains.len())), "{out}");
}

#[test]
fn audit_verify_takes_a_period_and_says_what_is_wrong_with_a_bad_one() {
    let db = TestDb::new();
    let (code, _, err) = run(&["--database-url", &db.url, "demo"], None);
    assert_eq!(code, 0, "{err}");
    // The demo's events (some dated back over the last two weeks) all fall in a period from 2000
    // to tomorrow; a period from yesterday holds some of them.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%d").to_string();
    let (code, all, _) = run(&["--database-url", &db.url, "audit", "verify"], None);
    assert_eq!(code, 0);
    let n = all.split("intact: ").nth(1).and_then(|s| s.split(' ').next()).unwrap().to_string();
    let (code, out, err) = run(&["--database-url", &db.url, "audit", "verify", "--from", "2000-01-01", "--to", &tomorrow], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("Audit trail intact for the period: {n} events")), "{out} vs {all}");
    let (code, out, err) = run(&["--database-url", &db.url, "audit", "verify", "--from", &yesterday], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Audit trail intact for the period: "), "{out}");
    let (code, out, _) =
        run(&["--database-url", &db.url, "audit", "verify", "--from", "2020-01-01", "--to", "2020-02-01T00:00:00+08:00"], None);
    assert_eq!(code, 0);
    assert!(out.contains(": 0 events in 0 chains"), "{out}");
    let (code, _, err) = run(&["--database-url", &db.url, "audit", "verify", "--from", "last week"], None);
    assert_eq!(code, 2);
    assert!(err.contains("neither a date"), "{err}");
    let (code, _, err) = run(&["--database-url", &db.url, "audit", "verify", "--from", "2026-02-01", "--to", "2026-01-01"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--from must be before --to"), "{err}");
}

#[test]
fn sla_tick_and_recompute_work_from_the_command_line() {
    use diesel::prelude::*;
    let db = TestDb::new();
    let settings = crate::helpers::test_settings(&db);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let fx = crate::fixture::seed(&mut conn, &settings.auth);
    let actor = crate::fixture::actor(&mut conn, &fx, "gw1");
    let cals = crate::helpers::calendars(&settings);
    let ctx = gridloop::app::sla::SlaContext { settings: &settings.sla, calendars: &cals };
    let body: gridloop::app::tickets::NewTicket = serde_json::from_value(crate::tickets::new_ticket(&fx)).unwrap();
    let t = gridloop::app::tickets::file_ticket(&mut conn, ctx, &actor, body, gridloop::app::utc_now()).unwrap();
    use gridloop::db::schema::sla_clocks;
    let started: chrono::NaiveDateTime = sla_clocks::table.select(sla_clocks::started_at).first(&mut conn).unwrap();

    // The default triage limit changes from 24 to 48 hours in the configuration.
    let mut cmd = gridloop();
    cmd.env("GRIDLOOP_SLA__LIMITS__COMPOUND_TRIAGE__NORMAL", "48 hours").args(["--database-url", &db.url, "sla", "recompute"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 open clocks"));
    let due: chrono::NaiveDateTime = sla_clocks::table.select(sla_clocks::due_at).first(&mut conn).unwrap();
    assert_eq!(due - started, chrono::Duration::hours(48));
    assert_eq!(t.state, gridloop::domain::workflow::TicketState::AtCompound);

    // A one-shot tick "three days later" breaches it, once.
    let later = (due + chrono::Duration::hours(1)).and_utc().to_rfc3339();
    let (code, out, err) = run(&["--database-url", &db.url, "sla", "tick", "--now", &later], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("0 warnings, 1 breaches"), "{out}");
    let (_, out, _) = run(&["--database-url", &db.url, "sla", "tick", "--now", &later], None);
    assert!(out.starts_with("0 warnings, 0 breaches"), "{out}");
}

/// libfaketime as Debian's `faketime` package installs it, if it is there.
fn libfaketime() -> Option<String> {
    let dirs =
        ["/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime", "/usr/local/lib/faketime"];
    dirs.iter()
        .flat_map(|d| ["libfaketimeMT.so.1", "libfaketime.so.1"].map(|f| format!("{d}/{f}")))
        .find(|p| std::path::Path::new(p).exists())
}

/// The first year after the last one whose schedule the project ships: a year that is provisional
/// for a fresh database, whatever today's date is.
fn first_unshipped_year() -> i32 {
    std::fs::read_dir(project_dir().join("config/calendars/cn"))
        .unwrap()
        .filter_map(|f| f.ok()?.file_name().to_string_lossy().strip_suffix(".toml")?.parse::<i32>().ok())
        .max()
        .unwrap()
        + 1
}

/// The standing rule's weekday holidays of a year as a year file of the shipped format.
fn year_file(year: i32, workdays: &[&str]) -> String {
    use chrono::Datelike;
    let holidays: Vec<String> = gridloop::domain::calendar::standing_rule(year)
        .unwrap()
        .holidays
        .into_iter()
        .filter(|d| d.weekday().num_days_from_monday() < 5)
        .map(|d| format!("\"{d}\""))
        .collect();
    let workdays: Vec<String> = workdays.iter().map(|d| format!("\"{d}\"")).collect();
    format!("year = {year}\nholidays = [{}]\nworkdays = [{}]\n", holidays.join(", "), workdays.join(", "))
}

#[test]
fn calendar_import_export_and_show_work_from_the_command_line() {
    let db = TestDb::new();
    let year = first_unshipped_year();
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&["--database-url", &db.url, "calendar", "show", &year.to_string()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("provisional (the standing rule"), "{out}");
    assert!(out.contains("01-01"), "New Year's Day is a statutory holiday of every year: {out}");

    // A make-up day on a weekday is refused, naming the date; nothing is stored.
    let bad = dir.path().join("bad.toml");
    let wednesday =
        (1..=7).map(|d| chrono::NaiveDate::from_ymd_opt(year, 3, d).unwrap()).find(|d| d.format("%a").to_string() == "Wed").unwrap();
    std::fs::write(&bad, year_file(year, &[&wednesday.to_string()])).unwrap();
    let (code, _, err) = run(&["--database-url", &db.url, "calendar", "import", bad.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains(&wednesday.to_string()) && err.contains("not a Saturday or Sunday"), "{err}");

    let good = dir.path().join(format!("{year}.toml"));
    std::fs::write(&good, year_file(year, &[])).unwrap();
    let (code, out, err) = run(&["--database-url", &db.url, "calendar", "import", good.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("published schedule stored"), "{out}");
    let (_, out, _) = run(&["--database-url", &db.url, "calendar", "show", &year.to_string()], None);
    assert!(out.contains("published (the State Council's schedule)"), "{out}");

    // Export and import again: the same format both ways, the year replaced (and audited twice).
    let exported = dir.path().join("exported.toml");
    let (code, _, err) =
        run(&["--database-url", &db.url, "calendar", "export", &year.to_string(), "--out", exported.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains(&format!("year = {year}")) && text.contains("status = \"published\""), "{text}");
    let (code, _, err) = run(&["--database-url", &db.url, "calendar", "import", exported.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&["--database-url", &db.url, "calendar", "export", &year.to_string()], None);
    assert_eq!(code, 0);
    assert_eq!(out, text, "a round trip changes nothing");
    use diesel::prelude::*;
    let settings = crate::helpers::test_settings(&db);
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    use gridloop::db::schema::audit_events;
    let n: i64 = audit_events::table.filter(audit_events::entity_id.eq(format!("cn/{year}"))).count().get_result(&mut conn).unwrap();
    assert_eq!(n, 2);
    // The shipped years were imported when the database was first prepared, and export as such.
    let (_, out, _) = run(&["--database-url", &db.url, "calendar", "export", "2026"], None);
    assert!(out.contains("\"2026-10-10\"") && out.contains("status = \"published\""), "{out}");
}

/// The calendar issue's "done", as an operator meets it: a server whose clock reads early in a
/// year without its published schedule starts with only the shipped calendars, says so in
/// /healthz (still 200) and its log, files a ticket whose clocks are provisional, and recomputes
/// them when an admin publishes the year through the API. Needs libfaketime (`faketime`); CI sets
/// GRIDLOOP_REQUIRE_FAKETIME so that a missing one fails instead of skipping.
#[tokio::test]
async fn a_server_whose_clock_reads_an_unpublished_year_starts_files_and_recomputes_on_publication() {
    let Some(libfaketime) = libfaketime() else {
        assert!(std::env::var("GRIDLOOP_REQUIRE_FAKETIME").is_err(), "libfaketime is required here but not installed");
        eprintln!("SKIPPED: libfaketime is not installed (apt-get install faketime)");
        return;
    };
    let year = first_unshipped_year();
    let db = TestDb::new();
    let date = format!("{year}-01-05 10:00:00");
    // The default limits (working days), not the test environment's natural-time ones; the
    // server's clock starts at `date` and runs on (libfaketime preloaded into the server alone).
    let faked = format!("@{date}");
    let env = [
        ("GRIDLOOP_SLA__LIMITS__COMPOUND_TRIAGE__NORMAL", "1 working_days"),
        ("LD_PRELOAD", libfaketime.as_str()),
        ("FAKETIME", faked.as_str()),
    ];
    let mut server = Server::start(&db, &env);
    let api = crate::helpers::Api::new(&server.base);
    let health: serde_json::Value = api.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert!(
        health["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "current_year_provisional" && w["year"] == year),
        "{health}"
    );

    let gw = api.login("gw.wang", "gridloop-demo").await;
    let me = api.get_ok("/api/v1/me", &gw).await;
    let building = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let cats = api.get_ok("/api/v1/categories", &gw).await;
    let cat = cats.as_array().unwrap().iter().find(|c| c["code"] == "noise").unwrap()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"category_id": cat, "title": "夜间噪音", "description": "楼下烧烤店", "building_id": building, "resident_name": "李秀兰"});
    let r = api.post_json("/api/v1/tickets", Some(&gw), &body).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let t: serde_json::Value = r.json().await.unwrap();
    assert!(t["created_at"].as_str().unwrap().starts_with(&format!("{year}-01-0")), "the server's clock is faked: {t}");
    let id = t["id"].as_str().unwrap();
    let clocks = api.get_ok(&format!("/api/v1/tickets/{id}/clocks"), &gw).await;
    assert_eq!(t["provisional"], true, "{t}\n{clocks}");
    assert_eq!(clocks[0]["provisional"], true, "{clocks}");

    let admin = api.login("admin", "gridloop-demo").await;
    let holidays: Vec<String> = gridloop::domain::calendar::standing_rule(year)
        .unwrap()
        .holidays
        .into_iter()
        .filter(|d| chrono::Datelike::weekday(d).num_days_from_monday() < 5)
        .map(|d| d.to_string())
        .collect();
    let r = api
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/calendars/cn/years/{year}"),
            Some(&admin),
            Some(&serde_json::json!({"holidays": holidays})),
            None,
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let clocks = api.get_ok(&format!("/api/v1/tickets/{id}/clocks"), &gw).await;
    assert_eq!(clocks[0]["provisional"], false, "{clocks}");
    let health: serde_json::Value = api.get("/healthz", None).await.json().await.unwrap();
    assert!(!health["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "current_year_provisional"), "{health}");
    let log = server.stop_and_read_log();
    assert!(log.contains(&format!("has no published schedule for {year}")), "the log warns at start: {log}");
}

#[tokio::test]
async fn serve_demo_with_an_smtp_url_mails_the_demo_liaison_when_the_community_whistles_him() {
    let Some(sink) = crate::notifications::SmtpSink::start(false) else { return };
    let db = TestDb::new();
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let server = Server::start(&db, &[("GRIDLOOP_NOTIFY__SMTP_URL", smtp.as_str()), ("GRIDLOOP_NOTIFY__POLL_INTERVAL_MS", "200")]);
    let api = crate::helpers::Api::new(&server.base);
    let post = |token: String, path: String, body: serde_json::Value, version: Option<i64>| {
        let api = &api;
        async move {
            let r = api.request(reqwest::Method::POST, &path, Some(&token), Some(&body), version).await;
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {v}");
            v
        }
    };
    let gw = api.login("gw.wang", "gridloop-demo").await;
    let me = api.get_ok("/api/v1/me", &gw).await;
    let building = me["grants"][0]["org_unit_id"].as_str().unwrap().to_string();
    let cats = api.get_ok("/api/v1/categories", &gw).await;
    let cat = cats.as_array().unwrap().iter().find(|c| c["code"] == "illegal_construction").unwrap()["id"].as_str().unwrap().to_string();
    let body =
        serde_json::json!({"category_id": cat, "title": "楼顶违建", "description": "彩钢棚", "building_id": building, "anonymous": true});
    let t = post(gw, "/api/v1/tickets".into(), body, None).await;
    let id = t["id"].as_str().unwrap().to_string();
    let bs = api.login("bs.yang", "gridloop-demo").await;
    let t = post(
        bs,
        format!("/api/v1/tickets/{id}/actions"),
        serde_json::json!({"action": "report_to_community", "reason": "需执法"}),
        Some(1),
    )
    .await;
    let cs = api.login("cs.liu", "gridloop-demo").await;
    let admin = api.login("admin", "gridloop-demo").await;
    let units = api.get_ok("/api/v1/org-units?kind=department&limit=500", &admin).await;
    let cg = units.as_array().unwrap().iter().find(|u| u["code"] == "LA-JA-D-CG").unwrap()["id"].as_str().unwrap().to_string();
    let whistle =
        serde_json::json!({"action": "whistle", "lead_department_id": cg, "whistle_type": "enforcement_needed", "reason": "吹哨"});
    post(cs, format!("/api/v1/tickets/{id}/actions"), whistle, t["version"].as_i64()).await;
    // The server's own delivery worker sends it, at any hour (the demo keeps no quiet hours).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mail = loop {
        let mail = sink.messages();
        if let Some(m) = mail.iter().find(|m| m["rcpt_tos"] == serde_json::json!(["dl.cg@demo.gridloop.localhost"])) {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "no mail reached the liaison: {mail:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(mail["subject"].as_str().unwrap().contains("吹哨派单"), "{mail}");
    assert!(mail["text"].as_str().unwrap().contains(&format!("/tickets/{id}")), "a link to the ticket page: {mail}");
    drop(server);
}

/// The demo's first start prints the keys of its outside doors, and they work: an Open311 app
/// lists the demo's categories and posts a request whose address lands in the demo city; the
/// 12345 platform's signed order lands by its address too.
#[tokio::test]
async fn the_demo_prints_working_keys_for_its_outside_doors() {
    let db = TestDb::new();
    let server = Server::start(&db, &[]);
    let out = server.stdout.clone();
    let after = |label: &str| -> String {
        out.split(label).nth(1).unwrap_or_else(|| panic!("no `{label}` in {out}")).split_whitespace().next().unwrap().to_string()
    };
    let (app_key, key, secret) = (after("api_key "), after("key "), after("secret "));
    assert!(app_key.starts_with("glk_") && key.starts_with("glk_") && secret.starts_with("whsec_"), "{out}");
    let http = crate::helpers::client();
    let services: serde_json::Value =
        http.get(format!("{}/open311/v2/services.json", server.base)).send().await.unwrap().json().await.unwrap();
    let code = services[0]["service_code"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{}/open311/v2/requests.json", server.base))
        .form(&[
            ("api_key", app_key.as_str()),
            ("service_code", code.as_str()),
            ("address_string", "幸福里小区1号楼"),
            ("description", "楼道灯坏了"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap_or_default());
    let body = serde_json::json!({"external_id": "DEMO-1", "category_code": code, "title": "路灯不亮", "description": "市民来电：翠竹园小区2号楼门前路灯不亮", "address": "幸福路街道翠竹园小区2号楼"}).to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = gridloop::app::notifications::webhook_signature_bytes(&secret, &ts, body.as_bytes());
    let r = http
        .post(format!("{}/api/v1/external/work-orders", server.base))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .header("X-Gridloop-Timestamp", ts)
        .header("X-Gridloop-Signature", format!("sha256={sig}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["landing"].as_str(), v["place_name"].as_str()), (Some("address"), Some("2号楼")), "{v}");
}

/// The database a restore goes into: a fresh SQLite file, or on PostgreSQL a new database whose
/// search path names the source's schema (a backup restores the schema it was taken from).
struct RestoreTarget {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl RestoreTarget {
    fn new(source: &TestDb) -> RestoreTarget {
        match source.postgres_schema() {
            None => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("restored.db").to_string_lossy().into_owned();
                RestoreTarget { url, _dir: Some(dir), pg: None }
            }
            Some((base, schema)) => {
                use diesel::{Connection, RunQueryDsl};
                let name = format!("gl_restore_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(base).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
                let (head, query) = base.split_once('?').map(|(h, q)| (h, format!("?{q}&"))).unwrap_or((base, "?".into()));
                let server = &head[..head.rfind('/').unwrap()];
                let url = format!("{server}/{name}{query}options=-csearch_path%3D{schema}");
                RestoreTarget { url, _dir: None, pg: Some((base.to_string(), name)) }
            }
        }
    }
}

impl Drop for RestoreTarget {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg {
            use diesel::{Connection, RunQueryDsl};
            if let Ok(mut admin) = diesel::PgConnection::establish(base) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
            }
        }
    }
}

/// A backup taken while requests are being filed is one consistent moment: restored into an
/// empty database, its audit trail verifies against the heads recorded with it, and it holds as
/// many tickets and events as the heads say; a database holding data refuses a restore.
#[tokio::test]
async fn a_backup_taken_under_load_restores_into_an_empty_database_and_its_trail_verifies() {
    let db = TestDb::new();
    let source_url = db.url.clone();
    let restore = RestoreTarget::new(&db);
    let (app, fx) = crate::fixture::spawn_fixture_on(db, |_| {}).await;
    let gw = app.login("gw1", crate::fixture::PASSWORD).await;
    // Load: filings one after another until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s, base, body) = (stop.clone(), app.base.clone(), crate::tickets::new_ticket(&fx));
    let load = tokio::spawn(async move {
        let api = crate::helpers::Api::new(&base);
        let mut filed = 0;
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            if api.post_json("/api/v1/tickets", Some(&gw), &body).await.status().as_u16() == 201 {
                filed += 1;
            }
        }
        filed
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("gridloop.backup");
    let d = dest.to_string_lossy().into_owned();
    let su = source_url.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || run(&["--database-url", &su, "backup", &d], None)).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let filed = load.await.unwrap();
    assert!(filed > 0, "the load filed nothing");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("gridloop.backup.audit.json")).unwrap()).unwrap();
    let events = recorded["events"].as_i64().unwrap();

    let (d, ru) = (dest.to_string_lossy().into_owned(), restore.url.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || run(&["--database-url", &ru, "restore", &d], None)).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("consistent with the heads recorded at the backup"), "{out}");
    // The restored database holds what the heads say: every event, and a filing per ticket.
    let mut settings = app.settings.clone();
    settings.database.url = restore.url.clone();
    let mut conn = gridloop::db::establish(&settings.database).unwrap();
    let (restored_events, restored_tickets) = {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        use gridloop::db::schema::{audit_events, tickets};
        let e: i64 = audit_events::table.select(count_star()).first(&mut conn).unwrap();
        let t: i64 = tickets::table.select(count_star()).first(&mut conn).unwrap();
        (e, t)
    };
    assert_eq!(restored_events, events, "the events the recorded heads count");
    assert!(restored_tickets >= 1 && restored_tickets <= filed as i64, "{restored_tickets} of {filed} filed");
    let live = {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        let mut c = app.conn();
        gridloop::db::schema::tickets::table.select(count_star()).first::<i64>(&mut c).unwrap()
    };
    assert!(live >= restored_tickets, "the source went on after the backup: {live} ≥ {restored_tickets}");
    // Again into the same (now full) database: refused, exit 4.
    let (d, ru) = (dest.to_string_lossy().into_owned(), restore.url.clone());
    let (code, _, err) = tokio::task::spawn_blocking(move || run(&["--database-url", &ru, "restore", &d], None)).await.unwrap();
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("holds data"), "{err}");
    // A backup never overwrites one.
    let (d, su) = (dest.to_string_lossy().into_owned(), source_url.clone());
    let (code, _, err) = tokio::task::spawn_blocking(move || run(&["--database-url", &su, "backup", &d], None)).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
}

/// Scheduled backups of an SQLite database: one when none is recent, none before `every_hours`,
/// the newest `keep` kept with their heads files; each restores. On PostgreSQL the server takes
/// none (cron runs `gridloop backup`).
#[tokio::test]
async fn scheduled_backups_come_every_so_often_and_only_the_newest_are_kept() {
    let (app, _fx) = crate::fixture::spawn_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let target = app.settings.database_target();
    let mut conn = app.conn();
    let t0 = gridloop::app::utc_now();
    let take = |conn: &mut gridloop::db::DbConn, at: chrono::NaiveDateTime| {
        gridloop::app::backup::scheduled(conn, &target, dir.path(), 24, 2, at).unwrap().map(|d| d.path)
    };
    let first = take(&mut conn, t0);
    if matches!(target, gridloop::config::DatabaseTarget::Postgres(_)) {
        assert!(first.is_none(), "no scheduled backup on PostgreSQL");
        return;
    }
    let first = first.expect("the first one is taken at once");
    assert!(take(&mut conn, t0 + chrono::Duration::hours(23)).is_none(), "not before 24 hours");
    let second = take(&mut conn, t0 + chrono::Duration::hours(24)).expect("after 24 hours");
    let third = take(&mut conn, t0 + chrono::Duration::hours(49)).expect("and again");
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let want = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        names,
        vec![want(&second), format!("{}.audit.json", want(&second)), want(&third), format!("{}.audit.json", want(&third))],
        "the oldest went, with its heads"
    );
    assert!(!first.exists());
    let restored = tempfile::tempdir().unwrap();
    let url = restored.path().join("r.db").to_string_lossy().into_owned();
    let src = third.to_string_lossy().into_owned();
    let (code, out, err) = run(&["--database-url", &url, "restore", &src], None);
    assert_eq!(code, 0, "{out}{err}");
}

/// `gridloop partitions`: on PostgreSQL, list the months, create some, detach those that ended
/// (the audit trail verifies after, the same number of events, part of them archived); on SQLite
/// each says there are none. Bad months are refused with exit 2.
#[test]
fn partitions_are_listed_created_and_detached_from_the_command_line() {
    let db = TestDb::new();
    let pg = db.postgres_schema().is_some();
    let (code, _, err) = run(&["--database-url", &db.url, "demo"], None);
    assert_eq!(code, 0, "{err}");
    let (code, before, _) = run(&["--database-url", &db.url, "audit", "verify"], None);
    assert_eq!(code, 0);
    let events = before.split("intact: ").nth(1).and_then(|s| s.split(' ').next()).unwrap().to_string();
    let (code, out, err) = run(&["--database-url", &db.url, "partitions", "list"], None);
    assert_eq!(code, 0, "{err}");
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    if !pg {
        assert!(out.contains("SQLite keeps each table whole"), "{out}");
        let (code, _, err) = run(&["--database-url", &db.url, "partitions", "detach", "--before", &this_month], None);
        assert_eq!(code, 2);
        assert!(err.contains("no partitions to detach"), "{err}");
        return;
    }
    assert!(out.contains(&format!("audit_events_y{}", this_month.replace('-', "m"))), "{out}");
    assert!(out.contains("deliveries_default"), "{out}");
    let (code, out, err) = run(&["--database-url", &db.url, "partitions", "ensure", "--from", "2025-01", "--through", "2025-02"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("6 monthly partitions created"), "{out}");
    for bad in ["2025-13", "soon"] {
        let (code, _, err) = run(&["--database-url", &db.url, "partitions", "detach", "--before", bad], None);
        assert_eq!(code, 2, "{bad}");
        assert!(err.contains("YYYY-MM"), "{err}");
    }
    let next = crate::helpers::next_month(&this_month);
    let (code, _, err) = run(&["--database-url", &db.url, "partitions", "detach", "--before", &next], None);
    assert_eq!(code, 2);
    assert!(err.contains("only months that have ended"), "{err}");
    let (code, out, err) = run(&["--database-url", &db.url, "partitions", "detach", "--before", &this_month], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("detached audit_events_y2025m01 (0 rows)"), "{out}");
    let archived: i64 = out
        .lines()
        .filter(|l| l.starts_with("detached audit_events_"))
        .map(|l| l.split('(').nth(1).and_then(|s| s.split(' ').next()).unwrap().parse::<i64>().unwrap())
        .sum();
    let (code, after, err) = run(&["--database-url", &db.url, "audit", "verify"], None);
    assert_eq!(code, 0, "{err}");
    assert!(after.starts_with(&format!("Audit trail intact: {events} events")), "{after} vs {before}");
    if archived > 0 {
        assert!(after.contains(&format!("{archived} of them in detached months")), "{after}");
    }
}

/// Output read by a reader that went away (`gridloop calendar show 2026 | head -1`) ends the
/// command quietly with status 141, as a Unix tool killed by SIGPIPE would — not with a panic.
#[test]
fn a_reader_gone_away_ends_the_output_quietly() {
    let db = TestDb::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out =
        gridloop().args(["--database-url", &db.url, "calendar", "show", "2026"]).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
