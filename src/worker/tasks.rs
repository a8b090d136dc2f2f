//! The background tasks of a server. The SLA tick and the visit reminders are the same code that
//! `gridloop sla tick` and `gridloop visits remind` run once.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};

use crate::app::calendars::{Calendars, ChangedYear};
use crate::app::sla::SlaContext;
use crate::app::AppResult;
use crate::config::Settings;
use crate::db::{backend, DbConn};
use crate::domain::visits::VisitRules;

use super::{Outcome, Task};

/// Today in China (the calendars' days).
pub fn local_today(now: NaiveDateTime) -> NaiveDate {
    now.and_utc().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

/// Reloads the calendars when another server changed them, and recomputes the deadlines a server
/// holding the old calendars may have computed around the change (on the round that found the
/// change and the next, for requests that were still in flight).
pub struct CalendarReload {
    pub settings: Arc<Settings>,
    pub calendars: Calendars,
    pending: Vec<ChangedYear>,
}

impl CalendarReload {
    pub fn new(settings: Arc<Settings>, calendars: Calendars) -> CalendarReload {
        CalendarReload { settings, calendars, pending: vec![] }
    }
}

impl Task for CalendarReload {
    fn name(&self) -> &'static str {
        "calendars"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let changed = self.calendars.refresh(conn, &self.settings.sla)?;
        let mut heal = std::mem::take(&mut self.pending);
        heal.extend(changed.iter().cloned());
        let n = if heal.is_empty() {
            0
        } else {
            backend::write_transaction(conn, |c| {
                crate::app::calendars::heal_after_change(c, &self.calendars, &self.settings.sla, &heal, now)
            })?
        };
        self.pending = changed.clone();
        Ok(Outcome::did(
            changed.len() + n,
            format!("{} stored year(s) reloaded, {n} deadlines computed with the old calendar recomputed", changed.len()),
        ))
    }
}

/// Fires the clocks that came due (warnings, breaches, reminders, expired pauses), then takes the
/// breach policy's escalations through the workflow; then the consultation's action clocks.
pub struct SlaTick {
    pub settings: Arc<Settings>,
    pub calendars: Calendars,
    /// Names this scheduler in the fire records.
    pub who: String,
}

impl Task for SlaTick {
    fn name(&self) -> &'static str {
        "sla"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let ctx = SlaContext { settings: &self.settings.sla, calendars: &self.calendars };
        let r = crate::app::sla::tick(conn, ctx, now, &self.who)?;
        let escalated = crate::app::tickets::escalate_breached(conn, ctx, &r.escalate, now)?;
        // The consultation's action items (行动清单) keep clocks of their own.
        let a = crate::app::action_clocks::fire(conn, now)?;
        let m = crate::metrics::get();
        m.clock_fired("warning", r.warnings);
        m.clock_fired("breach", r.breaches);
        m.clock_fired("reminder", r.reminders);
        m.clock_fired("pause_expired", r.pauses_expired);
        m.clock_fired("action_warning", a.warnings);
        m.clock_fired("action_overdue", a.overdue);
        Ok(Outcome::did(
            r.warnings + r.breaches + r.reminders + r.pauses_expired + escalated + a.warnings + a.overdue,
            format!(
                "{} warnings, {} breaches, {} reminders, {} pauses expired, {escalated} escalated ({} taken by another scheduler); \
                 {} action items warned, {} action items overdue",
                r.warnings, r.breaches, r.reminders, r.pauses_expired, r.lost_races, a.warnings, a.overdue
            ),
        ))
    }
}

/// After the day's deadline, one reminder per grid worker and grid whose visit log is missing.
pub struct VisitReminders {
    pub settings: Arc<Settings>,
    pub calendars: Calendars,
    pub rules: VisitRules,
}

impl Task for VisitReminders {
    fn name(&self) -> &'static str {
        "visits"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let ctx = crate::app::visits::VisitContext {
            rules: &self.rules,
            sla: SlaContext { settings: &self.settings.sla, calendars: &self.calendars },
        };
        let n = crate::app::visits::remind_missing_logs(conn, ctx, now)?;
        Ok(Outcome::did(n, format!("{n} reminders for visit logs not filed by the deadline")))
    }
}

/// Once a day (and at start): a calendar year without its published schedule is a warning in the
/// log and one notification to each top admin and supervisor.
pub struct CalendarWarnings {
    pub calendars: Calendars,
    warned_on: Option<NaiveDate>,
}

impl CalendarWarnings {
    pub fn new(calendars: Calendars) -> CalendarWarnings {
        CalendarWarnings { calendars, warned_on: None }
    }
}

impl Task for CalendarWarnings {
    fn name(&self) -> &'static str {
        "calendar_warnings"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let today = local_today(now);
        if self.warned_on == Some(today) {
            return Ok(Outcome::nothing());
        }
        let warnings = self.calendars.warnings(today);
        for w in &warnings {
            log::warn!("{}", w.log_line());
        }
        let n = crate::app::calendars::notify_warnings(conn, &warnings, now)?;
        self.warned_on = Some(today);
        Ok(Outcome::did(n, format!("{n} notifications of unpublished calendar years to admins and supervisors")))
    }
}

/// Deletes login throttle counters that hold nothing any more.
pub struct ThrottlePrune {
    pub settings: Arc<Settings>,
}

impl Task for ThrottlePrune {
    fn name(&self) -> &'static str {
        "login_throttle"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        backend::write_transaction(conn, |c| crate::app::throttle::prune_throttle(c, &self.settings.auth, now))?;
        Ok(Outcome::nothing())
    }
}

/// SQLite's planner statistics, kept fresh as the tables grow: `PRAGMA optimize` once an hour
/// (it re-analyses only the tables that changed much). PostgreSQL's autovacuum does this itself.
#[derive(Default)]
pub struct SqliteOptimize {
    last: Option<std::time::Instant>,
}

impl Task for SqliteOptimize {
    fn name(&self) -> &'static str {
        "sqlite_optimize"
    }

    fn run_once(&mut self, conn: &mut DbConn, _now: NaiveDateTime) -> AppResult<Outcome> {
        if self.last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(3600)) {
            return Ok(Outcome::nothing());
        }
        self.last = Some(std::time::Instant::now());
        backend::refresh_statistics(conn, false)?;
        Ok(Outcome::nothing())
    }
}

/// Adds the rankings' final facts to their daily roll-up (decision 0027): the clocks that stopped
/// and the return visits recorded since the last round, a bounded batch of each per round and
/// as many rounds as fit in half a second. Safe beside other servers (see `rollup`).
pub struct ReportRollup {
    pub calendars: Calendars,
}

impl Task for ReportRollup {
    fn name(&self) -> &'static str {
        "rollup"
    }

    fn run_once(&mut self, conn: &mut DbConn, _now: NaiveDateTime) -> AppResult<Outcome> {
        use crate::app::reports::rollup;
        let tz = self.calendars.default_calendar().tz;
        let started = std::time::Instant::now();
        let mut all = rollup::Rolled::default();
        while started.elapsed() < std::time::Duration::from_millis(500) {
            let r = rollup::roll_once(conn, &self.calendars, tz)?;
            if r.is_empty() {
                break;
            }
            all.add(r);
        }
        let n = all.started + all.clocks + all.visits;
        if n == 0 {
            return Ok(Outcome::nothing());
        }
        Ok(Outcome::did(
            n,
            format!("{} running clocks, {} stopped clocks and {} return visits rolled up", all.started, all.clocks, all.visits),
        ))
    }
}

/// Scheduled backups of an SQLite database (`backup.dir`, `every_hours`, `keep`; #22).
pub struct ScheduledBackup {
    pub settings: Arc<Settings>,
}

impl Task for ScheduledBackup {
    fn name(&self) -> &'static str {
        "backup"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let b = &self.settings.backup;
        if b.dir.trim().is_empty() {
            return Ok(Outcome::nothing());
        }
        let target = self.settings.database_target();
        let taken = crate::app::backup::scheduled(conn, &target, std::path::Path::new(b.dir.trim()), b.every_hours, b.keep, now);
        let outcome = match &taken {
            Ok(Some(_)) => "written",
            Ok(None) => "",
            Err(_) => "failed",
        };
        if !outcome.is_empty() {
            crate::metrics::get().backups.get_or_create(&crate::metrics::KindLabels { kind: outcome.into() }).inc();
        }
        match taken? {
            Some(done) => Ok(Outcome::did(1, format!("backup written to {} ({} bytes)", done.path.display(), done.bytes))),
            None => Ok(Outcome::nothing()),
        }
    }
}

/// The personal-data retention purge (`[retention]`, #22): once every `every_hours` in each
/// server (a second server running it at the same time finds nothing left to clear).
pub struct RetentionPurge {
    pub settings: Arc<Settings>,
    pub last: Option<NaiveDateTime>,
}

impl Task for RetentionPurge {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let every = chrono::Duration::hours(self.settings.retention.every_hours as i64);
        if self.last.is_some_and(|l| now < l + every) {
            return Ok(Outcome::nothing());
        }
        let store = crate::app::photos::FileStore { dir: self.settings.photos.dir.clone() };
        let p = crate::app::retention::purge(conn, &store, &self.settings.retention, now)?;
        self.last = Some(now);
        Ok(Outcome::did(p.total(), p.summary()))
    }
}

/// The months of the history tables (PostgreSQL, #21): last month to three ahead, created once a
/// day in each server (creating a month that exists is one catalogue lookup).
#[derive(Default)]
pub struct PartitionUpkeep {
    pub last: Option<NaiveDateTime>,
}

impl Task for PartitionUpkeep {
    fn name(&self) -> &'static str {
        "partitions"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        if self.last.is_some_and(|l| now < l + chrono::Duration::hours(24) && now >= l) {
            return Ok(Outcome::nothing());
        }
        let created = crate::app::partitions::ensure_around(conn, now)?;
        self.last = Some(now);
        Ok(if created > 0 { Outcome::did(created, format!("{created} monthly partitions created")) } else { Outcome::nothing() })
    }
}

/// Names this scheduler in the fire records: host and process.
pub fn scheduler_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
    format!("{host}:{}", std::process::id())
}

/// Every task of a server, in the order they run.
pub fn all(settings: Arc<Settings>, calendars: Calendars, rules: VisitRules) -> Vec<Box<dyn Task>> {
    vec![
        Box::new(CalendarReload::new(settings.clone(), calendars.clone())),
        Box::new(SlaTick { settings: settings.clone(), calendars: calendars.clone(), who: scheduler_name() }),
        Box::new(ReportRollup { calendars: calendars.clone() }),
        Box::new(VisitReminders { settings: settings.clone(), calendars: calendars.clone(), rules }),
        Box::new(CalendarWarnings::new(calendars)),
        Box::new(ThrottlePrune { settings: settings.clone() }),
        Box::new(ScheduledBackup { settings: settings.clone() }),
        Box::new(RetentionPurge { settings, last: None }),
        Box::new(PartitionUpkeep::default()),
        Box::new(SqliteOptimize::default()),
    ]
}
