//! The `gridloop` command line: serve, migrate, demo, check-config, the admin's `org` and `user`
//! commands, and `audit`, `sla`, `visits` and `calendar`. Every failure prints one clear line and exits non-zero.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::demo::{database_is_empty, load_demo, DemoSummary, DEMO_PASSWORD};
use crate::app::error::Plain;
use crate::app::people::{find_person_by_login, insert_person, set_password_unchecked, NewPerson};
use crate::app::{org, utc_now};
use crate::config::{self, DatabaseTarget, Settings};
use crate::db::{self, DbConn};
use crate::domain::{OrgKind, Role};
use crate::startup::Application;

/// Prints to standard output as `print!`/`println!` do, except that a reader gone away (`gridloop
/// partitions list | head`) ends the command quietly with status 141, as a Unix tool killed by
/// SIGPIPE would, instead of a panic. (Rust ignores SIGPIPE, so the write fails with EPIPE;
/// restoring the signal would also kill the server and the sender on a closed socket.)
macro_rules! printed {
    ($w:ident, $($t:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = $w!(stdout, $($t)*).and_then(|_| stdout.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            panic!("failed printing to stdout: {e}");
        }
    }};
}

macro_rules! out {
    ($($t:tt)*) => { printed!(write, $($t)*) };
}

macro_rules! outln {
    ($($t:tt)*) => { printed!(writeln, $($t)*) };
}

#[derive(Parser, Debug)]
#[command(name = "gridloop", version, about = "Gridloop: residents' requests through grid-based community governance (网格化治理)")]
pub struct Cli {
    /// Folder holding default.toml and <env>.toml [env: GRIDLOOP_CONFIG_DIR; default: config]
    #[arg(long, global = true)]
    pub config_dir: Option<PathBuf>,
    /// Environment whose file overrides the defaults [env: GRIDLOOP_ENV; default: development]
    #[arg(long = "env", global = true)]
    pub environment: Option<String>,
    /// Database URL, overriding the configuration: a SQLite file path or postgres://…
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Load the demo city into an empty database.
    Demo,
    /// Load and validate the configuration, print the effective values with secrets hidden.
    CheckConfig,
    /// Take a consistent backup while the service runs (SQLite: `VACUUM INTO`; PostgreSQL:
    /// `pg_dump` in one snapshot), with the audit chains' heads beside it in `DEST.audit.json`.
    Backup {
        /// The backup file to write; it must not exist.
        dest: PathBuf,
    },
    /// Restore a backup into an empty database (refused when it holds data; stop the service
    /// first), then verify the restored audit trail against the heads recorded with the backup.
    Restore {
        /// A file written by `gridloop backup`.
        src: PathBuf,
    },
    /// Org tree administration.
    #[command(subcommand)]
    Org(OrgCommand),
    /// People administration.
    #[command(subcommand)]
    User(UserCommand),
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Time limits: fire the clocks that came due, once (the server does this every interval).
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Visit logs: record reminders for logs not filed by the deadline (the server does this too).
    #[command(subcommand)]
    Visits(VisitsCommand),
    /// Notifications: send what is due now (the server's delivery thread does this every second).
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Working calendars (工作日历): import the State Council's schedule of a year, export, show.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Rankings (三率): the daily roll-up of their final facts (the server keeps it up to date).
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Residents' personal data (个人信息): the retention purge (the server runs it daily).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The monthly partitions of the history tables (audit events, clock firings, deliveries) on
    /// PostgreSQL: list them, create months ahead, detach months that ended for the archive.
    #[command(subcommand)]
    Partitions(PartitionsCommand),
}

#[derive(Subcommand, Debug)]
pub enum PartitionsCommand {
    /// Each partition: its table, month, estimated rows and size.
    List,
    /// Create the months from FROM to THROUGH (YYYY-MM, both included) for every partitioned
    /// table (the servers create last month to three ahead by themselves).
    Ensure {
        #[arg(long, value_parser = year_month)]
        from: Option<chrono::NaiveDate>,
        #[arg(long, value_parser = year_month)]
        through: chrono::NaiveDate,
    },
    /// Detach every month before BEFORE (YYYY-MM; at the latest this month) from its table, to be
    /// dumped and dropped; the audit chains' ends are recorded so that `audit verify` goes on.
    Detach {
        #[arg(long, value_parser = year_month)]
        before: chrono::NaiveDate,
    },
}

/// `YYYY-MM` → the first day of that month.
fn year_month(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
        .map_err(|_| format!("expected a month as YYYY-MM, got {s:?}"))
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Clear the personal data whose retention period (`[retention]`) is over, now, and say what
    /// was cleared; each clearing is an audit event.
    Run {
        /// Pretend it is this instant (RFC 3339); default now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportsCommand {
    /// Roll up every stopped clock and recorded return visit not rolled up yet, now.
    Roll,
    /// Empty the roll-up and build it again from the clocks and the audit trail (after correcting
    /// a past year's calendar, say); rankings stay right meanwhile, counted live.
    Rebuild,
}

#[derive(Subcommand, Debug)]
pub enum CalendarCommand {
    /// Store a year from a TOML file (the format of config/calendars/<name>/<year>.toml), replacing
    /// what is stored, and recompute the open deadlines it touches. A `calendar.toml` (time zone
    /// and office hours) is imported too.
    Import {
        file: PathBuf,
        /// The calendar, when the file does not say (default: sla.calendar, or the file's folder
        /// for a calendar.toml).
        #[arg(long)]
        calendar: Option<String>,
        /// The year, when the file does not say and is not named <year>.toml.
        #[arg(long)]
        year: Option<i32>,
    },
    /// Print a year in the same TOML format (published, stored provisional, or the standing rule).
    Export {
        year: i32,
        #[arg(long)]
        calendar: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show a year: its status, holidays, make-up working days and number of working days.
    Show {
        year: i32,
        #[arg(long)]
        calendar: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum VisitsCommand {
    /// After the day's `visits.log_deadline`, record one reminder per grid worker and grid whose
    /// log is missing; exactly once per worker, grid and day.
    Remind {
        /// Pretend it is this instant (RFC 3339, e.g. 2026-11-27T18:30:00+08:00); default now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Send every due delivery (mail, robots, webhooks) until none is left that may go now, and
    /// say how it went, how long it took and the process's peak memory.
    Send {
        /// Pretend it is this instant (RFC 3339); default now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SlaCommand {
    /// Fire every warning, breach and reminder that came due; exactly once across all schedulers.
    Tick {
        /// Pretend it is this instant (RFC 3339, e.g. 2026-11-27T09:00:00+08:00); default now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// After editing a calendar or the default limits: recompute the deadlines of open clocks.
    Recompute,
}

/// Exit 6 naming the first broken event of the audit trail.
fn broken(b: crate::domain::audit::Break) -> Failure {
    fail(
        6,
        format!(
            "audit trail BROKEN at chain {} event {}{}: {}",
            b.shard,
            b.seq,
            b.event_id.map(|id| format!(" (id {id})")).unwrap_or_default(),
            b.reason
        ),
    )
}

/// A moment on the command line: an RFC 3339 instant, or a date meaning its midnight in China
/// time (UTC+8), as UTC.
fn parse_moment(s: &str) -> Result<chrono::NaiveDateTime, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is neither a date (2026-11-01) nor an RFC 3339 instant"))?;
    Ok(d.and_hms_opt(0, 0, 0).expect("midnight") - chrono::Duration::hours(8))
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check every hash chain; names the first broken event and exits 6 if one is broken.
    Verify {
        /// A checkpoint exported earlier: also proves the chains were not rewritten since.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        checkpoint: Option<PathBuf>,
        /// Only the events written from this moment on: a date (midnight, China time, e.g.
        /// 2026-11-01) or an RFC 3339 instant. With `--to`, a month can be checked on its own.
        #[arg(long, value_parser = parse_moment)]
        from: Option<chrono::NaiveDateTime>,
        /// Only the events written before this moment (same forms as `--from`).
        #[arg(long, value_parser = parse_moment)]
        to: Option<chrono::NaiveDateTime>,
    },
    /// Export the head of every chain as JSON, to be kept outside the database.
    Checkpoint {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Load the demo city first when the database is empty, and print the demo logins.
    #[arg(long)]
    pub demo: bool,
    /// Listen address, overriding server.bind (e.g. 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long)]
    pub bind: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Add an org unit; without --parent it becomes a root (a city or district).
    Add {
        #[arg(long)]
        kind: OrgKind,
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// Code of the parent unit.
        #[arg(long)]
        parent: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a person with one role bound to an org unit. Reads the password from stdin with
    /// --password-stdin; otherwise generates one and prints it once.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        role: Role,
        /// Code of the org unit the role is bound to.
        #[arg(long)]
        unit: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (lifts the login throttling of the account and ends the person's sessions).
    ResetPassword {
        /// Login name or phone number.
        #[arg(long)]
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A failure with the exit code to leave with.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    Failure { code, message: message.into() }
}

/// Loads settings with the command line's overrides.
pub fn load_settings(cli: &Cli) -> Result<Settings, Failure> {
    let (dir, env) = config::locate();
    let dir = cli.config_dir.clone().unwrap_or(dir);
    let env = cli.environment.clone().unwrap_or(env);
    let mut settings = Settings::load(&dir, &env).map_err(|e| fail(2, e.to_string()))?;
    if let Some(url) = &cli.database_url {
        settings.database.url = url.clone();
    }
    if let Some(Command::Serve(ServeArgs { bind: Some(bind), .. })) = &cli.command.as_serve() {
        settings.server.bind = bind.clone();
        // The address people use: a wildcard bind is reached through the loopback here.
        let reach = bind.replacen("0.0.0.0:", "127.0.0.1:", 1).replacen("[::]:", "[::1]:", 1);
        settings.server.public_url = format!("http://{reach}");
    }
    settings.validate().map_err(|e| fail(2, e.to_string()))?;
    Ok(settings)
}

impl Command {
    fn as_serve(&self) -> Option<&Command> {
        matches!(self, Command::Serve(_)).then_some(self)
    }
}

fn init_logging(settings: &Settings) {
    let env = env_logger::Env::default().default_filter_or(settings.log.level.clone());
    let _ = env_logger::Builder::from_env(env).format_timestamp_millis().try_init();
}

fn open_database(settings: &Settings) -> Result<(db::DbPool, DbConnGuard), Failure> {
    let pool = db::build_pool(&settings.database).map_err(|e| fail(3, e.to_string()))?;
    let conn = pool.get().map_err(|e| fail(3, format!("cannot open the database: {e}")))?;
    Ok((pool, DbConnGuard(conn)))
}

struct DbConnGuard(db::PooledConn);

impl std::ops::Deref for DbConnGuard {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.0
    }
}
impl std::ops::DerefMut for DbConnGuard {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.0
    }
}

/// What bringing a database up to date did.
struct Upgrade {
    /// The migrations applied.
    applied: Vec<String>,
    /// The audit chains whose version-1 events were sealed (see `app::audit::seal_version_1_events`),
    /// or why that failed.
    sealed: Result<usize, String>,
}

/// Applies pending migrations, then completes what they need done with data: seals the audit
/// chains' version-1 events (once, after the upgrade to hash version 2; cheap afterwards). A
/// failure to seal is logged and left to the caller: `migrate` fails on it, other commands and
/// `serve` go on (`audit verify` names what is unsealed; the next start tries again).
fn migrate(conn: &mut DbConn) -> Result<Upgrade, Failure> {
    let applied = db::run_migrations(conn).map_err(|e| fail(3, e.to_string()))?;
    let sealed = crate::app::audit::seal_version_1_events(conn, utc_now()).map_err(|e| {
        let why = format!("sealing the audit chains failed: {}", Plain(&e));
        log::error!("{why}");
        why
    });
    Ok(Upgrade { applied, sealed })
}

fn partitions_command(settings: &Settings, command: PartitionsCommand) -> Result<(), Failure> {
    use crate::app::partitions::{self, Refused};
    let (_pool, mut conn) = open_database(settings)?;
    migrate(&mut conn)?;
    if !crate::db::backend::partitions::partitioned(&mut conn) && !matches!(command, PartitionsCommand::Detach { .. }) {
        outln!("SQLite keeps each table whole: the monthly partitions are PostgreSQL's (docs/scaling.md).");
        return Ok(());
    }
    match command {
        PartitionsCommand::List => {
            let parts = partitions::list(&mut conn).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("{:<14} {:<28} {:<8} {:>12} {:>10}", "table", "partition", "month", "rows (est.)", "size");
            for p in parts {
                outln!(
                    "{:<14} {:<28} {:<8} {:>12} {:>10}",
                    p.table,
                    p.name,
                    p.month.map(|m| m.format("%Y-%m").to_string()).unwrap_or_else(|| "default".into()),
                    if p.rows_estimate < 0 { "-".to_string() } else { p.rows_estimate.to_string() },
                    format!("{:.1} MB", p.bytes as f64 / 1e6)
                );
            }
            Ok(())
        }
        PartitionsCommand::Ensure { from, through } => {
            let from = from.unwrap_or_else(|| partitions::month_start(utc_now().date(), 0));
            if from > through {
                return Err(fail(2, "--from must not be after --through"));
            }
            if through > partitions::month_start(from, 1200) {
                return Err(fail(2, "at most 100 years of months at once"));
            }
            let n = partitions::ensure_months(&mut conn, from, through).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("{n} monthly partitions created ({} to {}).", from.format("%Y-%m"), through.format("%Y-%m"));
            Ok(())
        }
        PartitionsCommand::Detach { before } => {
            let report = match partitions::detach_before(&mut conn, before, utc_now()).map_err(|e| fail(1, Plain(&e).to_string()))? {
                Ok(r) => r,
                Err(Refused::NotPartitioned) => {
                    return Err(fail(2, "SQLite keeps each table whole: there are no partitions to detach (they are PostgreSQL's)"))
                }
                Err(Refused::NotFirstOfMonth) => return Err(fail(2, "--before takes a month, YYYY-MM")),
                Err(Refused::NotEnded) => {
                    return Err(fail(2, "only months that have ended can be detached: --before is at most this month"))
                }
            };
            let schema = crate::db::backend::backup::current_schema(&mut conn).ok().flatten().unwrap_or_else(|| "public".into());
            for d in &report.detached {
                outln!("detached {} ({} rows) from {}", d.name, d.rows, d.table);
            }
            for (name, why) in &report.kept {
                outln!("kept {name}: {why}");
            }
            if report.detached.is_empty() {
                outln!("Nothing to detach before {}.", before.format("%Y-%m"));
            } else {
                outln!(
                    "Archive each with `pg_dump --table={schema}.<name> --format=custom --file=<name>.dump <database>`, then `DROP TABLE {schema}.<name>`; \
                     `gridloop audit verify` goes on from where each chain's archive ends."
                );
            }
            Ok(())
        }
    }
}

fn print_demo(summary: &DemoSummary, url: &str) {
    outln!(
        "Demo city loaded: {} org units, {} categories, {} residents, {} visit logs of the last two weeks.",
        summary.units,
        summary.categories,
        summary.residents,
        summary.visit_logs
    );
    print_logins(summary, url);
}

fn print_logins(summary: &DemoSummary, url: &str) {
    outln!();
    outln!("Open {url}/login in a browser (a phone-sized window works best) and log in with any of these");
    outln!("(password: {DEMO_PASSWORD}); try gw.wang (grid worker: today's visits) and bs.yang (branch secretary: board and triage).");
    outln!("The API takes the same logins at {url}/api/v1/auth/login.");
    for l in &summary.logins {
        let roles: Vec<String> = l
            .roles
            .iter()
            .map(|(r, unit)| format!("{} {} @ {unit}", crate::i18n::text(crate::i18n::Lang::Zh, r.label_key()), r.as_str()))
            .collect();
        outln!("  {:<12} {:<6} {}", l.login, l.name, roles.join("; "));
    }
    for c in &summary.clients {
        match c.kind {
            crate::domain::outside::ClientKind::Hotline => {
                outln!();
                outln!("The 12345 platform's door (POST {url}/api/v1/external/work-orders, signed; docs/api.md):");
                outln!("  key {}  secret {}", c.key, c.secret.as_deref().unwrap_or("-"));
            }
            crate::domain::outside::ClientKind::Open311 => {
                outln!("Open311 GeoReport v2 at {url}/open311/v2/ (try {url}/open311/v2/services.json); an app posts with");
                outln!("  api_key {}", c.key);
            }
        }
    }
    outln!();
}

fn read_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| fail(1, format!("cannot read the password from stdin: {e}")))?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_string(), false));
    }
    use rand::Rng;
    // No ambiguous characters (0/O, 1/l/I): it is read off a screen and typed on a phone.
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let pw: String = (0..14).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
    Ok((pw, true))
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let settings = load_settings(&cli)?;
    init_logging(&settings);
    match cli.command {
        Command::Backup { dest } => {
            let target = settings.database_target();
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let started = std::time::Instant::now();
            let done = crate::app::backup::backup(&mut conn, &target, &dest, utc_now()).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!(
                "Backup written to {} ({} bytes) in {:.1} s; the audit heads ({} events) to {}.",
                done.path.display(),
                done.bytes,
                started.elapsed().as_secs_f64(),
                done.checkpoint.events,
                done.checkpoint_path.display()
            );
            Ok(())
        }
        Command::Restore { src } => {
            if !src.is_file() {
                return Err(fail(1, format!("{} is not a backup file", src.display())));
            }
            let target = settings.database_target();
            let recorded = crate::app::backup::recorded_checkpoint(&src).map_err(|e| fail(1, Plain(&e).to_string()))?;
            // The target must hold nothing (a fresh file or database, or one only migrated).
            let holds = |settings: &Settings| -> Result<bool, Failure> {
                let mut conn = db::establish(&settings.database).map_err(|e| fail(3, e.to_string()))?;
                crate::app::backup::target_is_empty(&mut conn).map(|empty| !empty).map_err(|e| fail(3, Plain(&e).to_string()))
            };
            match &target {
                DatabaseTarget::Sqlite(path) => {
                    if path.exists() && holds(&settings)? {
                        return Err(fail(4, format!("{} holds data: a restore goes only into an empty database", path.display())));
                    }
                    crate::app::backup::restore_sqlite_file(&src, path).map_err(|e| fail(1, Plain(&e).to_string()))?;
                }
                DatabaseTarget::Postgres(url) => {
                    if holds(&settings)? {
                        return Err(fail(4, "the database holds data: a restore goes only into an empty database".to_string()));
                    }
                    crate::app::backup::restore_postgres(&src, url).map_err(|e| fail(1, Plain(&e).to_string()))?;
                }
            }
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            match crate::app::audit::verify(&mut conn, recorded.as_ref()).map_err(|e| fail(1, Plain(&e).to_string()))? {
                Ok(v) => {
                    outln!(
                        "Restored from {}: audit trail intact, {} events in {} chains{}.",
                        src.display(),
                        v.events,
                        v.chains,
                        if recorded.is_some() {
                            ", consistent with the heads recorded at the backup"
                        } else {
                            " (no recorded heads beside the backup)"
                        }
                    );
                    Ok(())
                }
                Err(b) => {
                    Err(fail(6, format!("restored, but the audit trail is BROKEN at chain {} event {}: {}", b.shard, b.seq, b.reason)))
                }
            }
        }
        Command::CheckConfig => {
            outln!("# configuration is valid; effective values (secrets hidden):\n");
            out!("{}", settings.render_redacted());
            // The calendars as the database has them when it can be read; the shipped files if not.
            let from_db = open_database(&settings).ok().and_then(|(_pool, mut conn)| {
                db::run_migrations(&mut conn).ok()?;
                Some(crate::app::calendars::Calendars::prepare(&mut conn, &settings.config_dir, &settings.sla, utc_now()))
            });
            let calendars = from_db
                .unwrap_or_else(|| crate::app::calendars::Calendars::from_files(&settings.config_dir.join("calendars"), &settings.sla))
                .map_err(|e| fail(2, e))?;
            let warnings = calendars.warnings(local_today());
            outln!();
            if warnings.is_empty() {
                outln!("# calendars: {} (every year in use is published)", calendars.names().join(", "));
            }
            for w in warnings {
                outln!("# WARNING: {}", w.log_line());
            }
            Ok(())
        }
        Command::Migrate => {
            let (_pool, mut conn) = open_database(&settings)?;
            let Upgrade { applied, sealed } = migrate(&mut conn)?;
            if applied.is_empty() {
                outln!("The database is up to date.");
            } else {
                outln!("Applied {} migration(s): {}", applied.len(), applied.join(", "));
            }
            match sealed {
                Ok(0) => {}
                Ok(n) => outln!("Sealed the version-1 audit events of {n} chain(s): `gridloop audit verify` now covers their ids."),
                Err(why) => return Err(fail(3, why)),
            }
            Ok(())
        }
        Command::Demo => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let summary = load_demo(&mut conn, &settings.auth, utc_now()).map_err(|e| fail(4, Plain(&e).to_string()))?;
            print_demo(&summary, &settings.server.public_url);
            Ok(())
        }
        Command::Serve(args) => serve(settings, args.demo),
        Command::Sla(SlaCommand::Recompute) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let calendars = load_calendars(&mut conn, &settings)?;
            let ctx = crate::app::sla::SlaContext { settings: &settings.sla, calendars: &calendars };
            let n = crate::db::backend::immediate_transaction(&mut conn, |c| {
                crate::app::sla::recompute(c, ctx, crate::app::sla::Recompute::All, utc_now())
            })
            .map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("{n} open clocks got new deadlines.");
            Ok(())
        }
        Command::Sla(SlaCommand::Tick { now }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let calendars = load_calendars(&mut conn, &settings)?;
            let now = now.map(|t| crate::app::truncate_to_micros(t.naive_utc())).unwrap_or_else(utc_now);
            // The scheduler's own task, run once.
            let mut task = crate::worker::tasks::SlaTick {
                settings: std::sync::Arc::new(settings.clone()),
                calendars,
                who: crate::worker::tasks::scheduler_name(),
            };
            match crate::worker::run_guarded(&mut task, &mut conn, now) {
                crate::worker::Ran::Done(o) => {
                    outln!("{}.", o.summary);
                    Ok(())
                }
                crate::worker::Ran::Failed(e) => Err(fail(1, Plain(&e).to_string())),
                crate::worker::Ran::Panicked(why) => Err(fail(1, format!("the tick failed: {why}"))),
            }
        }
        Command::Visits(VisitsCommand::Remind { now }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let calendars = load_calendars(&mut conn, &settings)?;
            let rules = visit_rules(&settings, &calendars)?;
            let now = now.map(|t| crate::app::truncate_to_micros(t.naive_utc())).unwrap_or_else(utc_now);
            let mut task = crate::worker::tasks::VisitReminders { settings: std::sync::Arc::new(settings.clone()), calendars, rules };
            match crate::worker::run_guarded(&mut task, &mut conn, now) {
                crate::worker::Ran::Done(o) => {
                    outln!("{}.", o.summary.replace("reminders for", "reminders recorded for"));
                    Ok(())
                }
                crate::worker::Ran::Failed(e) => Err(fail(1, Plain(&e).to_string())),
                crate::worker::Ran::Panicked(why) => Err(fail(1, format!("the reminders failed: {why}"))),
            }
        }
        Command::Retention(RetentionCommand::Run { now }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let now = now.map(|t| crate::app::truncate_to_micros(t.naive_utc())).unwrap_or_else(utc_now);
            let store = crate::app::photos::FileStore { dir: settings.photos.dir.clone() };
            let p =
                crate::app::retention::purge(&mut conn, &store, &settings.retention, now).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("Retention purge: {}.", p.summary());
            Ok(())
        }
        Command::Partitions(command) => partitions_command(&settings, command),
        Command::Notify(NotifyCommand::Send { now }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let calendars = load_calendars(&mut conn, &settings)?;
            let fixed = now.map(|t| crate::app::truncate_to_micros(t.naive_utc()));
            let mut task = crate::worker::deliveries::Deliveries::new(&settings.notify, calendars);
            let started = std::time::Instant::now();
            let mut total = 0;
            // Rounds until one finds nothing to send (what waits for quiet hours or a backoff stays).
            loop {
                let at = fixed.unwrap_or_else(utc_now);
                match crate::worker::run_guarded(&mut task, &mut conn, at) {
                    crate::worker::Ran::Done(o) if o.done == 0 => break,
                    crate::worker::Ran::Done(o) => {
                        total += o.done;
                        outln!("{}.", o.summary);
                    }
                    crate::worker::Ran::Failed(e) => return Err(fail(1, Plain(&e).to_string())),
                    crate::worker::Ran::Panicked(why) => return Err(fail(1, format!("sending failed: {why}"))),
                }
            }
            let peak = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<f64>().ok())
                })
                .map(|kb| format!("{:.0} MiB", kb / 1024.0))
                .unwrap_or_else(|| "unknown".into());
            outln!("{total} deliveries tried in {:.2} s; peak memory {peak}.", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Calendar(cmd) => calendar_command(&settings, cmd),
        Command::Audit(AuditCommand::Verify { checkpoint: None, from, to }) if from.is_some() || to.is_some() => {
            // Open ends as dates both back ends store and compare (not chrono's extremes).
            let from = from
                .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date").and_hms_opt(0, 0, 0).expect("midnight"));
            let to = to
                .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date").and_hms_opt(0, 0, 0).expect("midnight"));
            if from >= to {
                return Err(fail(2, "--from must be before --to"));
            }
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            match crate::app::audit::verify_period(&mut conn, from, to).map_err(|e| fail(1, Plain(&e).to_string()))? {
                Ok(v) => {
                    outln!(
                        "Audit trail intact for the period: {} events in {} chains, linked to the events before and after it{}.",
                        v.events,
                        v.chains,
                        if v.anchored > 0 {
                            format!(" ({} chains start after events no longer stored)", v.anchored)
                        } else {
                            String::new()
                        }
                    );
                    Ok(())
                }
                Err(b) => Err(broken(b)),
            }
        }
        Command::Audit(AuditCommand::Verify { checkpoint, .. }) => {
            let cp = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| fail(1, format!("cannot read {}: {e}", path.display())))?;
                    Some(
                        serde_json::from_str::<crate::app::audit::Checkpoint>(&text)
                            .map_err(|e| fail(1, format!("{} is not a checkpoint: {e}", path.display())))?,
                    )
                }
                None => None,
            };
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            match crate::app::audit::verify(&mut conn, cp.as_ref()).map_err(|e| fail(1, Plain(&e).to_string()))? {
                Ok(v) => {
                    outln!(
                        "Audit trail intact: {} events in {} chains{}{}.",
                        v.events,
                        v.chains,
                        if v.archived > 0 {
                            format!(" ({} of them in detached months, each chain continuing from where its archive ends)", v.archived)
                        } else {
                            String::new()
                        },
                        if cp.is_some() { ", consistent with the checkpoint" } else { "" }
                    );
                    Ok(())
                }
                Err(b) => Err(broken(b)),
            }
        }
        Command::Reports(command) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let calendars = load_calendars(&mut conn, &settings)?;
            let tz = calendars.default_calendar().tz;
            let started = std::time::Instant::now();
            if matches!(command, ReportsCommand::Rebuild) {
                crate::app::reports::rollup::reset(&mut conn).map_err(|e| fail(1, Plain(&e).to_string()))?;
            }
            let r = crate::app::reports::rollup::roll_all(&mut conn, &calendars, tz).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!(
                "{} running clocks (their volume), {} stopped clocks and {} return visits ({} audit events read) rolled up in {:.1} s.",
                r.started,
                r.clocks,
                r.visits,
                r.events,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Audit(AuditCommand::Checkpoint { out }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let cp = crate::app::audit::checkpoint(&mut conn, utc_now()).map_err(|e| fail(1, Plain(&e).to_string()))?;
            let json = serde_json::to_string_pretty(&cp).map_err(|e| fail(1, e.to_string()))?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json).map_err(|e| fail(1, format!("cannot write {}: {e}", path.display())))?;
                    outln!("Checkpoint of {} events written to {}.", cp.events, path.display());
                }
                None => outln!("{json}"),
            }
            Ok(())
        }
        Command::Org(OrgCommand::Add { kind, code, name, parent }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let parent = match parent {
                Some(code) => Some(
                    org::find_unit_by_code(&mut conn, &code)
                        .map_err(|e| fail(1, Plain(&e).to_string()))?
                        .ok_or_else(|| fail(1, format!("no org unit has the code `{code}`")))?,
                ),
                None => None,
            };
            let row =
                org::insert_unit(&mut conn, parent.as_ref(), kind, &code, &name, utc_now()).map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("Added {} {} ({}) with id {}", row.kind, row.name, row.code, row.id);
            Ok(())
        }
        Command::User(UserCommand::Add { login, name, phone, role, unit, password_stdin }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let unit_row = org::find_unit_by_code(&mut conn, &unit)
                .map_err(|e| fail(1, Plain(&e).to_string()))?
                .ok_or_else(|| fail(1, format!("no org unit has the code `{unit}`")))?;
            let (password, generated) = read_password(password_stdin)?;
            let input = NewPerson {
                login,
                display_name: name,
                phone,
                password: password.clone(),
                role,
                org_unit_id: unit_row.id.to_string(),
                locale: None,
            };
            let row = diesel::Connection::transaction(&mut *conn, |c| insert_person(c, &settings.auth, &input, &unit_row, utc_now()))
                .map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("Added {} ({}) as {} at {} ({}).", row.login, row.display_name, role, unit_row.name, unit_row.code);
            if generated {
                outln!("Generated password (shown once): {password}");
            }
            Ok(())
        }
        Command::User(UserCommand::ResetPassword { login, password_stdin }) => {
            let (_pool, mut conn) = open_database(&settings)?;
            migrate(&mut conn)?;
            let person = find_person_by_login(&mut conn, &login)
                .map_err(|e| fail(1, Plain(&e).to_string()))?
                .ok_or_else(|| fail(1, format!("no person has the login or phone `{login}`")))?;
            let (password, generated) = read_password(password_stdin)?;
            diesel::Connection::transaction(&mut *conn, |c| set_password_unchecked(c, &settings.auth, &person, &password, utc_now()))
                .map_err(|e| fail(1, Plain(&e).to_string()))?;
            outln!("Password of {} reset; the account's login throttling is lifted and its sessions ended.", person.login);
            if generated {
                outln!("Generated password (shown once): {password}");
            }
            Ok(())
        }
    }
}

/// Today in China (the calendars' days).
fn local_today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

/// Loads the working calendars of the database (importing the shipped ones it lacks). A year
/// without its published schedule never stops anything: it is a loud warning, and deadlines in it
/// follow the standing rule, flagged provisional.
fn load_calendars(conn: &mut DbConn, settings: &Settings) -> Result<crate::app::calendars::Calendars, Failure> {
    let calendars =
        crate::app::calendars::Calendars::prepare(conn, &settings.config_dir, &settings.sla, utc_now()).map_err(|e| fail(2, e))?;
    for w in calendars.warnings(local_today()) {
        log::warn!("{}", w.log_line());
        eprintln!("WARNING: {}", w.log_line());
    }
    Ok(calendars)
}

fn calendar_command(settings: &Settings, cmd: CalendarCommand) -> Result<(), Failure> {
    let (_pool, mut conn) = open_database(settings)?;
    migrate(&mut conn)?;
    let calendars =
        crate::app::calendars::Calendars::prepare(&mut conn, &settings.config_dir, &settings.sla, utc_now()).map_err(|e| fail(2, e))?;
    let name = |c: Option<String>| c.unwrap_or_else(|| settings.sla.calendar.clone());
    match cmd {
        CalendarCommand::Import { file, calendar, year } => {
            let line = crate::db::backend::write_transaction(&mut conn, |c| {
                crate::app::calendars::import_file(c, &settings.sla, &file, calendar.as_deref(), year, utc_now())
            })
            .map_err(|e| match &e {
                crate::app::AppError::ScheduleRejected { year, problems } => fail(
                    1,
                    problems
                        .iter()
                        .map(|(d, p)| {
                            format!(
                                "{}: {}",
                                file.display(),
                                crate::app::error::schedule_problem_message(d, *year, *p, crate::app::Lang::En)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                _ => fail(1, Plain(&e).to_string()),
            })?;
            outln!("{line}");
            Ok(())
        }
        CalendarCommand::Export { year, calendar, out } => {
            let v = crate::app::calendars::year_view(&mut conn, &calendars, &name(calendar), year)
                .map_err(|e| fail(1, Plain(&e).to_string()))?;
            let text = crate::app::calendars::export_toml(&v);
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| fail(1, format!("cannot write {}: {e}", path.display())))?;
                    outln!("Calendar {}, {year} ({}) written to {}.", v.calendar, v.status.as_str(), path.display());
                }
                None => out!("{text}"),
            }
            Ok(())
        }
        CalendarCommand::Show { year, calendar } => {
            let v = crate::app::calendars::year_view(&mut conn, &calendars, &name(calendar), year)
                .map_err(|e| fail(1, Plain(&e).to_string()))?;
            let how = match (v.status, v.stored) {
                (crate::domain::calendar::YearStatus::Published, _) => "published (the State Council's schedule)",
                (_, true) => "provisional (stored ahead of the official schedule)",
                (_, false) => "provisional (the standing rule: weekdays less the statutory holidays; no make-up days)",
            };
            outln!("Calendar {}, {}: {how}", v.calendar, v.year);
            if let Some(s) = &v.source {
                outln!("  source:    {s}");
            }
            let list = |d: &[chrono::NaiveDate]| d.iter().map(|d| d.format("%m-%d").to_string()).collect::<Vec<_>>().join(" ");
            outln!("  holidays:  {}", list(&v.holidays));
            outln!("  make-up working days: {}", if v.workdays.is_empty() { "none".into() } else { list(&v.workdays) });
            outln!("  working days: {}", v.working_days);
            Ok(())
        }
    }
}

fn visit_rules(settings: &Settings, calendars: &crate::app::calendars::Calendars) -> Result<crate::domain::visits::VisitRules, Failure> {
    Ok(settings.visits.rules(calendars.default_calendar().tz))
}

fn serve(settings: Settings, demo: bool) -> Result<(), Failure> {
    let (pool, mut conn) = open_database(&settings)?;
    let applied = migrate(&mut conn)?.applied;
    if !applied.is_empty() {
        log::info!("applied {} migration(s)", applied.len());
    }
    // Imports the shipped calendars and says loudly what is not published; never refuses.
    load_calendars(&mut conn, &settings)?;
    // SQLite's planner statistics, before the first request needs them (the worker keeps them fresh).
    crate::db::backend::refresh_statistics(&mut conn, true).map_err(|e| fail(3, format!("cannot analyse the database: {e}")))?;
    let mut demo_summary = None;
    let mut demo_note = None;
    if demo {
        let empty = database_is_empty(&mut conn).map_err(|e| fail(3, Plain(&e).to_string()))?;
        if empty {
            demo_summary = Some(load_demo(&mut conn, &settings.auth, utc_now()).map_err(|e| fail(4, Plain(&e).to_string()))?);
        } else {
            demo_note = Some(format!(
                "The database already has data, so the demo city was not loaded again (demo logins keep the password {DEMO_PASSWORD})."
            ));
        }
    }
    drop(conn);
    let backend = settings.database_target().backend();
    let configured_url = settings.server.public_url.clone();
    actix_web::rt::System::new().block_on(async move {
        let worker_settings = std::sync::Arc::new(settings.clone());
        let interval = std::time::Duration::from_secs(settings.sla.scheduler_interval_s);
        let app = Application::build(settings, pool.clone()).map_err(|e| fail(5, format!("cannot listen: {e}")))?;
        let rules = visit_rules(&worker_settings, &app.calendars())?;
        let worker = crate::worker::Worker::start(
            pool.clone(),
            crate::worker::tasks::all(worker_settings.clone(), app.calendars(), rules),
            interval,
        );
        // With port 0 the real port is known only now.
        let url = match configured_url.strip_suffix(":0") {
            Some(host) => format!("{host}:{}", app.port()),
            None => configured_url,
        };
        // The outbox's sender, on a thread of its own; messages link to the pages at `url` unless
        // notify.base_url names another address.
        let mut notify = worker_settings.notify.clone();
        if notify.base_url.trim().is_empty() {
            notify.base_url = url.clone();
        }
        let poll = std::time::Duration::from_millis(notify.poll_interval_ms);
        let sender =
            crate::worker::Worker::start(pool, vec![Box::new(crate::worker::deliveries::Deliveries::new(&notify, app.calendars()))], poll);
        if let Some(summary) = &demo_summary {
            print_demo(summary, &url);
        }
        if let Some(note) = demo_note {
            outln!("{note}");
        }
        outln!("Gridloop is listening on port {} ({backend:?}) at {url}; health: {url}/healthz", app.port());
        let served = app.run_until_stopped().await.map_err(|e| fail(5, format!("server stopped with an error: {e}")));
        // The server has drained its requests: let the background work finish its round.
        worker.stop();
        sender.stop();
        served
    })
}
