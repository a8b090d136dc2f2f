//! Layered configuration: `config/default.toml`, then `config/<environment>.toml`, then
//! `GRIDLOOP_`-prefixed environment variables (`__` separates sections). Unknown keys and bad values
//! are refused at start with the key and the reason.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variables with the `GRIDLOOP_` prefix that are not settings.
const NON_SETTING_VARS: &[&str] = &[
    "env",
    "config_dir",
    "test_database_url",
    "bench_database_url",
    "update_docs",
    "require_faketime",
    "require_browser",
    "require_smtp",
    "require_openpyxl",
    "require_georeport",
    "require_prometheus_client",
    "test_replica_url",
    "require_replica",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub sla: SlaSettings,
    pub visits: VisitSettings,
    #[serde(default)]
    pub photos: PhotoSettings,
    #[serde(default)]
    pub notify: NotifySettings,
    #[serde(default)]
    pub reports: ReportSettings,
    #[serde(default)]
    pub evaluation: EvaluationSettings,
    #[serde(default)]
    pub backup: BackupSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    /// The folder the settings were loaded from (calendars live under it).
    #[serde(skip)]
    pub config_dir: PathBuf,
}

/// Scheduled backups of an SQLite database (#22): the server writes one every `every_hours` into
/// `dir` and keeps the newest `keep`. PostgreSQL is backed up by `gridloop backup` from cron.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// The folder of scheduled backups (empty: none are taken).
    pub dir: String,
    /// Hours between two scheduled backups.
    pub every_hours: u64,
    /// How many scheduled backups are kept; older ones are deleted with their heads files.
    pub keep: usize,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings { dir: String::new(), every_hours: 24, keep: 7 }
    }
}

/// `/metrics` in the Prometheus (OpenMetrics) text format (#22). Off unless a token or an address
/// is set: the figures say how busy each unit is, which is not for everyone.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A bearer token: `/metrics` on the service's own address answers a scraper that sends
    /// `Authorization: Bearer <token>` (at least 24 characters). Empty: not served there.
    pub token: String,
    /// An address of its own (e.g. `127.0.0.1:9464`) where `/metrics` answers without a token;
    /// bind it where only the monitoring network reaches. Empty: none.
    pub bind: String,
}

/// How long residents' personal data (个人信息) is kept once its purpose is served (#22, PIPL
/// 第十九条): months after a ticket closed, a visit was logged, a login was tried. 0 keeps it.
/// The purge runs once a day in the server (and `gridloop retention run`); see
/// docs/decisions/0033-personal-data-retention.md.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// The resident's name and phone on a closed ticket (replaced by a marker).
    pub ticket_contact_months: u32,
    /// Photos of a closed ticket (files deleted; the record of the upload stays).
    pub photo_months: u32,
    /// The free-text notes of a visit log and of its return visits (replaced by a marker).
    pub visit_note_months: u32,
    /// Login attempts (account names tried and addresses), deleted.
    pub login_attempt_months: u32,
    /// Hours between two purges in the server.
    pub every_hours: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { ticket_contact_months: 36, photo_months: 36, visit_note_months: 36, login_attempt_months: 6, every_hours: 24 }
    }
}

/// Time limits (时限) and the clocks that watch them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    /// The calendar (a folder under config/calendars) used where no unit names another.
    pub calendar: String,
    /// Org unit code → calendar name, for districts or streets that keep their own.
    #[serde(default)]
    pub unit_calendars: std::collections::BTreeMap<String, String>,
    /// The holder is warned when this fraction of the limit has passed.
    pub warn_fraction: f64,
    /// How often the scheduler inside `serve` looks for clocks that came due (seconds).
    pub scheduler_interval_s: u64,
    /// After a breach, the holder and the supervisors are reminded this often (minutes).
    pub reminder_interval_minutes: i64,
    /// The longest a resolution clock may wait for the resident (等待居民) before it resumes by itself.
    pub max_pause_hours: i64,
    /// What the scheduler does on its own when a limit passes: `none`, or `escalate` (a ticket
    /// still waiting at the compound is reported to the community).
    pub breach_action: crate::domain::sla::BreachAction,
    /// Default limits per stage: `{ normal = "…", urgent = "…" }` with limits such as
    /// "3 working_days", "4 working_hours", "24 hours", "90 seconds".
    pub limits: std::collections::BTreeMap<crate::domain::sla::Stage, StageLimits>,
}

/// Photos (照片) of requests and solved reports.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhotoSettings {
    /// The folder of the photo store (files named by the SHA-256 of their content); relative to
    /// the working directory.
    pub dir: PathBuf,
    /// The largest upload taken, in bytes.
    pub max_bytes: usize,
    /// A photo's longer side is brought down to this many pixels.
    pub max_side: u32,
    /// The thumbnail's longer side, in pixels.
    pub thumb_side: u32,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings { dir: PathBuf::from("data/photos"), max_bytes: 10 * 1024 * 1024, max_side: 2048, thumb_side: 320 }
    }
}

/// Notifications (通知): how the delivery worker sends them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The SMTP server, as one URL: `smtp://host:25` (plain, for a local relay),
    /// `smtp://host:587?tls=required` (STARTTLS; `tls=opportunistic` when it may be missing),
    /// `smtps://host:465` (implicit TLS); `smtp://user:password@host…` to log in. Empty: mail is
    /// not sent (mail deliveries fail, visibly, with that reason).
    pub smtp_url: String,
    /// A PEM file of a certificate authority to trust besides the public ones, for a relay whose
    /// certificate a private CA signed (empty: the public roots only). It never turns checking off.
    pub smtp_ca_file: String,
    /// The sender of mail, e.g. `网格闭环 <noreply@gridloop.example>`.
    pub from: String,
    /// Where replies go (empty: none).
    pub reply_to: String,
    /// The address the pages are opened at, for the link to the ticket in a message (empty: no link).
    pub base_url: String,
    /// How often the delivery worker looks for due deliveries (milliseconds).
    pub poll_interval_ms: u64,
    /// Deliveries claimed at once.
    pub batch: i64,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// The longest one SMTP or HTTP exchange may take (seconds).
    pub timeout_s: u64,
    /// Messages a minute one group robot takes (WeCom and DingTalk accept 20); beyond it a batch's
    /// messages for that robot are merged into one.
    pub robot_per_minute: usize,
    /// The SMS gateway (短信网关) that sends a resident his status link: a signed webhook taking
    /// `{"mobile", "text", "delivery_id"}` (empty: links by SMS fail, visibly, with that reason).
    pub sms_gateway_url: String,
    /// The gateway's signing secret (HMAC-SHA256 of "timestamp.body", as every webhook).
    pub sms_gateway_secret: String,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            smtp_url: String::new(),
            smtp_ca_file: String::new(),
            from: "网格闭环 <noreply@gridloop.localhost>".into(),
            reply_to: String::new(),
            base_url: String::new(),
            poll_interval_ms: 1000,
            batch: 200,
            concurrency: 16,
            timeout_s: 10,
            robot_per_minute: 20,
            sms_gateway_url: String::new(),
            sms_gateway_secret: String::new(),
        }
    }
}

/// Rankings (三率排名): the weights of the score, the threshold that flags a unit, the length of
/// the red and yellow lists, and the longest from–to range.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Weight of the response rate (响应率) in the score.
    pub weight_response: f64,
    /// Weight of the resolution rate (解决率).
    pub weight_resolution: f64,
    /// Weight of the satisfaction rate (满意率).
    pub weight_satisfaction: f64,
    /// A rate below this (0–1) flags the unit.
    pub threshold: f64,
    /// Units on the red list (红榜) and on the yellow list (黄榜) of each peer group.
    pub list_size: usize,
    /// The longest from–to range, in days.
    pub max_range_days: i64,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            weight_response: 30.0,
            weight_resolution: 35.0,
            weight_satisfaction: 35.0,
            threshold: 0.7,
            list_size: 3,
            max_range_days: 366,
        }
    }
}

impl ReportSettings {
    /// The weights and threshold as the domain's scoring rule.
    pub fn scoring(&self) -> crate::domain::reports::Scoring {
        crate::domain::reports::Scoring {
            response: self.weight_response,
            resolution: self.weight_resolution,
            satisfaction: self.weight_satisfaction,
            threshold: self.threshold,
        }
    }
}

/// The two evaluations (两评价): the criteria the branch rates the owners' committee and the
/// property company on each year, with their weights; the weight of the residents'
/// representatives' score; the totals below which a party is called in to rectify (约谈整改) or its
/// replacement recommended (解聘更换).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSettings {
    pub committee_criteria: Vec<crate::domain::consult::Criterion>,
    pub company_criteria: Vec<crate::domain::consult::Criterion>,
    /// The share (0–1) of the total taken by the residents' representatives' score, when given.
    pub resident_weight: f64,
    pub rectify_below: f64,
    pub replace_below: f64,
    /// The month (1–12) an evaluation year starts in, on its first day: 1 is the calendar year.
    pub year_starts_month: u32,
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        let c = |code: &str, zh: &str, en: &str, weight: f64| crate::domain::consult::Criterion {
            code: code.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            weight,
        };
        EvaluationSettings {
            committee_criteria: vec![
                c("meeting_duty", "依法履职、按时议事", "Duties and meetings held", 30.0),
                c("public_accounts", "公共收益与账目公开", "Public income and accounts disclosed", 25.0),
                c("resident_response", "回应业主诉求", "Response to owners", 25.0),
                c("cooperation", "配合三方协调", "Cooperation in the consultation", 20.0),
            ],
            company_criteria: vec![
                c("service_quality", "服务质量", "Service quality", 35.0),
                c("contract_compliance", "合同履约", "Contract compliance", 25.0),
                c("resident_response", "回应居民诉求", "Response to residents", 25.0),
                c("cooperation", "配合三方协调", "Cooperation in the consultation", 15.0),
            ],
            resident_weight: 0.2,
            rectify_below: 70.0,
            replace_below: 60.0,
            year_starts_month: 1,
        }
    }
}

impl EvaluationSettings {
    pub fn thresholds(&self) -> crate::domain::consult::Thresholds {
        crate::domain::consult::Thresholds {
            rectify_below: self.rectify_below,
            replace_below: self.replace_below,
            resident_weight: self.resident_weight,
        }
    }

    /// The criteria a party is rated on.
    pub fn criteria(&self, party: crate::domain::consult::Party) -> &[crate::domain::consult::Criterion] {
        match party {
            crate::domain::consult::Party::PropertyCompany => &self.company_criteria,
            _ => &self.committee_criteria,
        }
    }

    fn problem(&self) -> Option<(&'static str, String)> {
        for (field, list) in
            [("evaluation.committee_criteria", &self.committee_criteria), ("evaluation.company_criteria", &self.company_criteria)]
        {
            if list.is_empty() || list.len() > 20 {
                return Some((field, "list 1–20 criteria".into()));
            }
            let mut codes = std::collections::BTreeSet::new();
            for c in list {
                let code_ok = !c.code.is_empty() && c.code.len() <= 40 && c.code.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_');
                if !code_ok || !codes.insert(c.code.as_str()) {
                    return Some((field, format!("`{}`: each code once, 1–40 lowercase letters or _", c.code)));
                }
                if c.name_zh.trim().is_empty() || c.name_en.trim().is_empty() {
                    return Some((field, format!("`{}` needs name_zh and name_en", c.code)));
                }
                if !c.weight.is_finite() || c.weight < 0.0 {
                    return Some((field, format!("`{}`: the weight must be a number of 0 or more", c.code)));
                }
            }
            if list.iter().map(|c| c.weight).sum::<f64>() <= 0.0 {
                return Some((field, "the weights must not all be 0".into()));
            }
        }
        if !(self.resident_weight.is_finite() && (0.0..=1.0).contains(&self.resident_weight)) {
            return Some(("evaluation.resident_weight", "must be between 0 and 1 (0.2 is a fifth of the total)".into()));
        }
        let ok = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
        if !ok(self.rectify_below) || !ok(self.replace_below) || self.replace_below > self.rectify_below {
            return Some(("evaluation.rectify_below", "need 0 ≤ replace_below ≤ rectify_below ≤ 100".into()));
        }
        if !(1..=12).contains(&self.year_starts_month) {
            return Some(("evaluation.year_starts_month", "a month, 1–12 (1: the calendar year)".into()));
        }
        None
    }
}

impl NotifySettings {
    /// The domain of the mails' Message-IDs: the pages' host, or `gridloop.localhost`.
    pub fn message_id_domain(&self) -> String {
        url::Url::parse(&self.base_url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "gridloop.localhost".into())
    }
}

/// Visit logs (走访日志) and how often households must be visited.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSettings {
    /// Local time ("HH:MM", in the default calendar's time zone) by which a grid worker should have
    /// filed the day's log; after it he is listed on the secretary's board and notified.
    #[serde(with = "hour_minute")]
    pub log_deadline: chrono::NaiveTime,
    /// The days a log is expected on: `working_days` (the working calendar) or `every_day`.
    pub log_days: crate::domain::visits::LogDays,
    /// How many days back a worker who was offline may still file a log (0 = today only).
    pub backfill_days: i64,
    /// Days between visits, per household kind (every kind must be listed).
    pub frequency_days: std::collections::BTreeMap<crate::domain::visits::HouseholdKind, i64>,
}

impl VisitSettings {
    /// The visit rules these settings give, in the default calendar's time zone.
    pub fn rules(&self, tz: chrono_tz::Tz) -> crate::domain::visits::VisitRules {
        crate::domain::visits::VisitRules {
            tz,
            deadline: self.log_deadline,
            log_days: self.log_days,
            backfill_days: self.backfill_days,
            frequency: self.frequency_days.clone(),
        }
    }
}

/// `HH:MM` times in the configuration.
mod hour_minute {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &chrono::NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        chrono::NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time such as 18:00")))
    }
}

/// A limit in the configuration, as people write it ("3 working_days", "24 hours"), parsed once
/// at start (a limit that does not parse is refused there), its text kept for the clocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfiguredLimit {
    pub limit: crate::domain::sla::Limit,
    pub text: String,
}

impl Serialize for ConfiguredLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ConfiguredLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::domain::sla::Limit::parse(&text)
            .map(|limit| ConfiguredLimit { limit, text: text.trim().to_string() })
            .map_err(|why| serde::de::Error::custom(crate::i18n::render(crate::i18n::Lang::En, &why)))
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageLimits {
    pub normal: ConfiguredLimit,
    pub urgent: ConfiguredLimit,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds given to in-flight requests on SIGTERM.
    pub shutdown_timeout_s: u64,
    /// The address people use to reach the service, printed at start.
    pub public_url: String,
    /// Reverse proxies (addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed. From any other peer the header is ignored and the peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Seconds the oversight desks' per-compound open counts are shared before they are counted
    /// again (0: counted on every request).
    pub overview_refresh_s: u64,
}

impl ServerSettings {
    /// The trusted proxies, parsed (refused at load when one does not parse).
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<crate::domain::net::IpRange>, String> {
        self.trusted_proxies.iter().map(|t| crate::domain::net::IpRange::parse(t)).collect()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for PostgreSQL; a file path or `sqlite://path` for SQLite.
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_s: u64,
    pub sqlite_busy_timeout_ms: u64,
    /// Writer threads of the intake (group commit of filings and state changes); each holds a pooled
    /// connection while it writes, so keep it below `pool_size`.
    pub intake_writers: usize,
    /// The most filings, or state changes, one intake transaction writes.
    pub intake_batch_max: usize,
    /// How long after the database last answered on a pooled connection it is handed out without
    /// a `SELECT 1` first, provided its last use succeeded; 0 checks at every checkout.
    pub connection_trust_ms: u64,
    /// A PostgreSQL streaming replica (`postgres://…`) that rankings, exports, boards and searches
    /// read from (#21, decision 0035); empty: every read goes to `url`.
    pub replica_url: String,
    /// Connections to the replica.
    pub replica_pool_size: u32,
    /// The most the replica may lag behind the primary and still be read from, in seconds; a
    /// person whose own latest write the replica has not replayed yet reads from the primary.
    pub replica_max_lag_s: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// A token unused for this long stops working.
    pub idle_timeout_minutes: i64,
    /// A token stops working this long after login, however busy.
    pub absolute_timeout_hours: i64,
    /// Failed logins from one client address, whatever the accounts, answered without a wait;
    /// each further one makes the next attempt from that address wait (登录限流).
    pub throttle_address_failures: i32,
    /// Failed logins against one account from one address answered without a wait.
    pub throttle_account_address_failures: i32,
    /// Failed logins against one account from addresses that are not its usual ones answered
    /// without a wait; past them, attempts on the account from unusual addresses wait too.
    pub throttle_unusual_address_failures: i32,
    /// The first wait; each further failure doubles it.
    pub throttle_first_delay_seconds: i64,
    /// The longest wait.
    pub throttle_max_delay_seconds: i64,
    /// One counted failure is forgotten per this many minutes.
    pub throttle_decay_minutes: i64,
    /// An address the account logged in from successfully within this many days is one of its
    /// usual addresses.
    pub usual_address_days: i64,
    pub cookie_name: String,
    /// Marks the session cookie Secure; turn on whenever the service is reached over TLS.
    pub cookie_secure: bool,
    /// argon2id cost; the defaults follow OWASP's minimum (19 MiB, 2 passes).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

impl AuthSettings {
    /// The throttling limits as the domain takes them.
    pub fn throttle_rules(&self) -> crate::domain::throttle::ThrottleRules {
        use chrono::Duration;
        crate::domain::throttle::ThrottleRules {
            address_failures: self.throttle_address_failures,
            account_address_failures: self.throttle_account_address_failures,
            unusual_address_failures: self.throttle_unusual_address_failures,
            first_delay: Duration::seconds(self.throttle_first_delay_seconds),
            max_delay: Duration::seconds(self.throttle_max_delay_seconds),
            decay: Duration::minutes(self.throttle_decay_minutes),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// env_logger filter, e.g. `info` or `gridloop=debug,actix_web=info`. RUST_LOG wins if set.
    pub level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the database lives, parsed from the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseTarget {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("the database URL is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_string()));
        }
        if url.ends_with(":memory:") || url.contains("mode=memory") {
            return Err(
                "an in-memory SQLite database is not supported: each pooled connection would see its own empty database; use a file path"
                    .into(),
            );
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err("a sqlite URL needs a file path, e.g. sqlite://data/gridloop.db".into());
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "unsupported database URL scheme `{scheme}://`; use postgres:// for PostgreSQL or a file path (or sqlite://path) for SQLite"
            ));
        }
        if url == ":memory:" {
            return Err(
                "an in-memory SQLite database is not supported: each pooled connection would see its own empty database; use a file path"
                    .into(),
            );
        }
        Ok(DatabaseTarget::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::Sqlite(_) => Backend::Sqlite,
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the layered configuration from `dir` for `environment`.
    pub fn load(dir: &Path, environment: &str) -> Result<Settings, ConfigError> {
        let default = dir.join("default.toml");
        if !default.is_file() {
            return Err(ConfigError::Invalid(format!(
                "{} not found; run from the project folder or set GRIDLOOP_CONFIG_DIR",
                default.display()
            )));
        }
        if environment.is_empty() || !environment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ConfigError::Invalid(format!("GRIDLOOP_ENV `{environment}` is not a valid environment name")));
        }
        let env_file = dir.join(format!("{environment}.toml"));
        if !env_file.is_file() {
            return Err(ConfigError::Invalid(format!("environment `{environment}` has no file {}", env_file.display())));
        }
        let figment = Figment::new().merge(Toml::file(&default)).merge(Toml::file(&env_file)).merge(
            Env::prefixed("GRIDLOOP_").filter(|k| !NON_SETTING_VARS.contains(&k.as_str().to_ascii_lowercase().as_str())).split("__"),
        );
        let settings: Settings = figment.extract().map_err(|e| {
            ConfigError::Invalid(
                e.into_iter()
                    .map(|e| {
                        let key = if e.path.is_empty() { String::new() } else { format!("key `{}`: ", e.path.join(".")) };
                        let source = e
                            .metadata
                            .as_ref()
                            .and_then(|m| m.source.as_ref().map(|s| format!(" (from {s})")).or(Some(format!(" (from {})", m.name))))
                            .unwrap_or_default();
                        format!("{key}{}{source}", e.kind)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut settings = settings;
        settings.config_dir = dir.to_path_buf();
        // The command line may still set database.url (`--database-url`): what depends on it is
        // checked once it has (`validate`, which every command runs after its overrides).
        settings.checked(false)?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.checked(true)
    }

    fn checked(&self, url_final: bool) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::Invalid(format!("key `{key}`: {why}")));
        if !(1024..=100 * 1024 * 1024).contains(&self.photos.max_bytes) {
            return bad("photos.max_bytes", "must be between 1024 and 104857600".into());
        }
        if !self.notify.smtp_url.trim().is_empty() {
            let u = url::Url::parse(self.notify.smtp_url.trim()).map_err(|e| format!("notify.smtp_url: {e}"));
            match u {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some() => {}
                Ok(_) => {
                    return bad("notify.smtp_url", "must be smtp://host[:port][?tls=required|opportunistic] or smtps://host[:port]".into())
                }
                Err(e) => return bad("notify.smtp_url", e),
            }
        }
        let ca = self.notify.smtp_ca_file.trim();
        if !ca.is_empty() && !std::path::Path::new(ca).is_file() {
            return bad("notify.smtp_ca_file", format!("{ca} is not a readable file"));
        }
        if self.notify.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("notify.from", "must be an address such as 网格闭环 <noreply@example.org>".into());
        }
        if !self.notify.reply_to.trim().is_empty() && self.notify.reply_to.parse::<lettre::message::Mailbox>().is_err() {
            return bad("notify.reply_to", "must be an address".into());
        }
        if !(1..=5000).contains(&self.notify.batch)
            || !(1..=256).contains(&self.notify.concurrency)
            || !(1..=300).contains(&self.notify.timeout_s)
        {
            return bad("notify.batch", "batch must be 1–5000, concurrency 1–256, timeout_s 1–300".into());
        }
        let m = &self.metrics;
        if !m.token.is_empty() && (m.token.chars().count() < 24 || m.token.chars().any(|c| !c.is_ascii_graphic())) {
            return bad("metrics.token", "the token must be at least 24 printable ASCII characters without spaces".into());
        }
        if !m.bind.is_empty() && m.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("metrics.bind", format!("`{}` is not an address and port such as 127.0.0.1:9464", m.bind));
        }
        let r = &self.retention;
        for (key, months) in [
            ("retention.ticket_contact_months", r.ticket_contact_months),
            ("retention.photo_months", r.photo_months),
            ("retention.visit_note_months", r.visit_note_months),
            ("retention.login_attempt_months", r.login_attempt_months),
        ] {
            if months > 1200 {
                return bad(key, "at most 1200 months (0 keeps the data)".into());
            }
        }
        if !(1..=720).contains(&r.every_hours) {
            return bad("retention.every_hours", "every_hours must be 1–720".into());
        }
        if !(1..=720).contains(&self.backup.every_hours) || !(1..=1000).contains(&self.backup.keep) {
            return bad("backup.every_hours", "every_hours must be 1–720, keep 1–1000".into());
        }
        let gw = self.notify.sms_gateway_url.trim();
        if !(gw.is_empty() || gw.starts_with("http://") || gw.starts_with("https://")) {
            return bad("notify.sms_gateway_url", "an http:// or https:// URL, or empty".into());
        }
        if !(100..=3_600_000).contains(&self.notify.poll_interval_ms) || !(1..=1000).contains(&self.notify.robot_per_minute) {
            return bad("notify.poll_interval_ms", "poll_interval_ms must be 100–3600000, robot_per_minute 1–1000".into());
        }
        if !(64..=8192).contains(&self.photos.thumb_side) || self.photos.max_side < self.photos.thumb_side || self.photos.max_side > 8192 {
            return bad("photos.max_side", "thumb_side must be 64–8192 and max_side between thumb_side and 8192".into());
        }
        if let Some((field, why)) = self.evaluation.problem() {
            return bad(field, why);
        }
        let r = &self.reports;
        let weights = [r.weight_response, r.weight_resolution, r.weight_satisfaction];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
            return bad("reports.weight_response", "the three weights must be numbers of 0 or more, and not all 0".into());
        }
        if !(r.threshold.is_finite() && (0.0..=1.0).contains(&r.threshold)) {
            return bad("reports.threshold", "must be between 0 and 1 (0.7 is 70%)".into());
        }
        if !(1..=50).contains(&r.list_size) {
            return bad("reports.list_size", "must be between 1 and 50".into());
        }
        if !(1..=3660).contains(&r.max_range_days) {
            return bad("reports.max_range_days", "must be between 1 and 3660".into());
        }
        if let Err(why) = DatabaseTarget::parse(&self.database.url) {
            return bad("database.url", why);
        }
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.bind", format!("`{}` is not an address:port such as 127.0.0.1:8080", self.server.bind));
        }
        if !self.database.replica_url.trim().is_empty() {
            match (DatabaseTarget::parse(&self.database.url), DatabaseTarget::parse(&self.database.replica_url)) {
                (_, Err(why)) => return bad("database.replica_url", why),
                (_, Ok(DatabaseTarget::Sqlite(_))) => {
                    return bad("database.replica_url", "must be a PostgreSQL streaming replica (postgres://…)".into())
                }
                (Ok(DatabaseTarget::Sqlite(_)), _) if url_final => {
                    return bad("database.replica_url", "a replica needs PostgreSQL as database.url; SQLite has none".into())
                }
                _ => {}
            }
            if self.database.replica_pool_size == 0 || self.database.replica_pool_size > 200 {
                return bad("database.replica_pool_size", "must be between 1 and 200".into());
            }
            if !(1..=3600).contains(&self.database.replica_max_lag_s) {
                return bad("database.replica_max_lag_s", "must be between 1 and 3600 seconds".into());
            }
        }
        if self.database.connection_trust_ms > 60_000 {
            return bad("database.connection_trust_ms", "must be between 0 and 60000 (one minute)".into());
        }
        if self.database.pool_size == 0 || self.database.pool_size > 200 {
            return bad("database.pool_size", "must be between 1 and 200".into());
        }
        if self.database.intake_writers == 0 || self.database.intake_writers as u32 >= self.database.pool_size {
            return bad(
                "database.intake_writers",
                format!("must be at least 1 and below database.pool_size ({}), which also serves the reads", self.database.pool_size),
            );
        }
        if self.database.intake_batch_max == 0 || self.database.intake_batch_max > 500 {
            return bad("database.intake_batch_max", "must be between 1 and 500".into());
        }
        if self.auth.idle_timeout_minutes <= 0 {
            return bad("auth.idle_timeout_minutes", "must be positive".into());
        }
        if self.auth.absolute_timeout_hours <= 0 {
            return bad("auth.absolute_timeout_hours", "must be positive".into());
        }
        if let Err(why) = self.server.trusted_proxy_ranges() {
            return bad("server.trusted_proxies", why);
        }
        for (key, value, max) in [
            ("auth.throttle_address_failures", self.auth.throttle_address_failures, 10_000),
            ("auth.throttle_account_address_failures", self.auth.throttle_account_address_failures, 1_000),
            ("auth.throttle_unusual_address_failures", self.auth.throttle_unusual_address_failures, 10_000),
        ] {
            if !(1..=max).contains(&value) {
                return bad(key, format!("must be between 1 and {max}"));
            }
        }
        if !(1..=3600).contains(&self.auth.throttle_first_delay_seconds) {
            return bad("auth.throttle_first_delay_seconds", "must be between 1 and 3600 (one hour)".into());
        }
        if !(self.auth.throttle_first_delay_seconds..=86_400).contains(&self.auth.throttle_max_delay_seconds) {
            return bad(
                "auth.throttle_max_delay_seconds",
                format!(
                    "must be between auth.throttle_first_delay_seconds ({}) and 86400 (one day)",
                    self.auth.throttle_first_delay_seconds
                ),
            );
        }
        if !(1..=10_080).contains(&self.auth.throttle_decay_minutes) {
            return bad("auth.throttle_decay_minutes", "must be between 1 and 10080 (one week)".into());
        }
        if !(1..=366).contains(&self.auth.usual_address_days) {
            return bad("auth.usual_address_days", "must be between 1 and 366".into());
        }
        if self.auth.argon2_memory_kib < 8 {
            return bad("auth.argon2_memory_kib", "argon2 needs at least 8 KiB".into());
        }
        if self.auth.argon2_iterations == 0 {
            return bad("auth.argon2_iterations", "argon2 needs at least 1 iteration".into());
        }
        if !self.server.public_url.starts_with("http://") && !self.server.public_url.starts_with("https://") {
            return bad("server.public_url", format!("`{}` must start with http:// or https://", self.server.public_url));
        }
        if !(self.sla.warn_fraction > 0.0 && self.sla.warn_fraction < 1.0) {
            return bad("sla.warn_fraction", "must be between 0 and 1 (e.g. 0.8)".into());
        }
        if self.sla.max_pause_hours <= 0 {
            return bad("sla.max_pause_hours", "must be positive".into());
        }
        if self.sla.scheduler_interval_s == 0 {
            return bad("sla.scheduler_interval_s", "must be at least 1".into());
        }
        if self.sla.reminder_interval_minutes <= 0 {
            return bad("sla.reminder_interval_minutes", "must be positive".into());
        }
        for stage in crate::domain::sla::Stage::ALL {
            if !self.sla.limits.contains_key(&stage) {
                return bad(&format!("sla.limits.{}", stage.as_str()), "missing: every stage needs its limits".into());
            }
        }
        if !(0..=31).contains(&self.visits.backfill_days) {
            return bad("visits.backfill_days", "must be between 0 and 31".into());
        }
        for kind in crate::domain::visits::HouseholdKind::ALL {
            match self.visits.frequency_days.get(&kind) {
                None => return bad(&format!("visits.frequency_days.{}", kind.as_str()), "missing: every household kind needs one".into()),
                Some(d) if !(1..=366).contains(d) => {
                    return bad(&format!("visits.frequency_days.{}", kind.as_str()), "must be between 1 and 366 days".into())
                }
                Some(_) => {}
            }
        }
        if self.log.level.trim().is_empty() {
            return bad("log.level", "must not be empty (e.g. info)".into());
        }
        if self.auth.cookie_name.is_empty() || !self.auth.cookie_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return bad("auth.cookie_name", "must be non-empty ASCII letters, digits, '_' or '-'".into());
        }
        Ok(())
    }

    pub fn database_target(&self) -> DatabaseTarget {
        DatabaseTarget::parse(&self.database.url).expect("validated at load")
    }

    /// The effective settings as TOML, with the passwords, secrets and tokens hidden.
    pub fn render_redacted(&self) -> String {
        let mut copy = self.clone();
        copy.database.url = redact_url(&copy.database.url);
        copy.database.replica_url = redact_url(&copy.database.replica_url);
        let hide = |s: &mut String| {
            if !s.is_empty() {
                *s = "********".into();
            }
        };
        hide(&mut copy.metrics.token);
        copy.notify.smtp_url = redact_url(&copy.notify.smtp_url);
        hide(&mut copy.notify.sms_gateway_secret);
        toml_string(&copy)
    }
}

fn toml_string(s: &Settings) -> String {
    // figment re-exports no serializer; a small hand-rolled renderer keeps a dependency out.
    let v = serde_json::to_value(s).expect("settings serialize");
    let mut out = String::new();
    if let serde_json::Value::Object(sections) = v {
        for (name, section) in sections {
            out.push_str(&format!("[{name}]\n"));
            if let serde_json::Value::Object(keys) = section {
                for (k, v) in keys {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The configuration folder and environment from the process environment.
pub fn locate() -> (PathBuf, String) {
    let dir = std::env::var("GRIDLOOP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
    let env = std::env::var("GRIDLOOP_ENV").unwrap_or_else(|_| "development".into());
    (PathBuf::from(dir), env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_choose_the_back_end_or_say_why_not() {
        assert_eq!(DatabaseTarget::parse("data/g.db").unwrap().backend(), Backend::Sqlite);
        assert_eq!(DatabaseTarget::parse("sqlite://data/g.db").unwrap(), DatabaseTarget::Sqlite("data/g.db".into()));
        assert_eq!(DatabaseTarget::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        let err = DatabaseTarget::parse("mysql://u@h/db").unwrap_err();
        assert!(err.contains("mysql://"), "{err}");
        assert!(DatabaseTarget::parse(":memory:").is_err());
        assert!(DatabaseTarget::parse("sqlite::memory:").is_err());
        assert!(DatabaseTarget::parse("sqlite://:memory:").is_err());
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/g"), "postgres://app:********@db:5432/g");
        assert_eq!(redact_url("data/g.db"), "data/g.db");
    }

    #[test]
    fn check_config_hides_every_secret_and_refuses_a_weak_metrics_token() {
        let mut s = Settings::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), "test").unwrap();
        s.metrics.token = "scrape-token-0123456789abcdef".into();
        s.notify.sms_gateway_secret = "sms-secret-42".into();
        s.notify.smtp_url = "smtp://mailer:mail-pass@mx.example:587".into();
        s.validate().unwrap();
        let shown = s.render_redacted();
        for secret in ["scrape-token-0123456789abcdef", "sms-secret-42", "mail-pass"] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(shown.contains("[metrics]") && shown.contains("[retention]"));
        s.metrics.token = "short".into();
        assert!(s.validate().unwrap_err().to_string().contains("metrics.token"));
        s.metrics.token = String::new();
        s.metrics.bind = "not an address".into();
        assert!(s.validate().unwrap_err().to_string().contains("metrics.bind"));
        s.metrics.bind = String::new();
        s.retention.visit_note_months = 5000;
        assert!(s.validate().unwrap_err().to_string().contains("retention.visit_note_months"));
    }

    #[test]
    fn a_replica_needs_postgresql_on_both_sides_and_its_password_is_hidden() {
        let mut s = Settings::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), "test").unwrap();
        s.database.url = "postgres://app:primary-pass@db1/g".into();
        s.database.replica_url = "postgres://app:replica-pass@db2/g".into();
        s.validate().unwrap();
        let shown = s.render_redacted();
        assert!(!shown.contains("replica-pass") && !shown.contains("primary-pass"), "{shown}");
        assert!(shown.contains("db2/g"), "{shown}");
        s.database.replica_url = "data/replica.db".into();
        assert!(s.validate().unwrap_err().to_string().contains("must be a PostgreSQL streaming replica"));
        s.database.replica_url = "postgres://app@db2/g".into();
        s.database.url = "data/g.db".into();
        assert!(s.validate().unwrap_err().to_string().contains("a replica needs PostgreSQL as database.url"));
        s.database.url = "postgres://app@db1/g".into();
        s.database.replica_max_lag_s = 0;
        assert!(s.validate().unwrap_err().to_string().contains("database.replica_max_lag_s"));
        // Without a replica its other settings are not looked at.
        s.database.replica_url = String::new();
        s.validate().unwrap();
    }
}
