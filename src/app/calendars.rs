//! The working calendars (工作日历) as the service keeps them: in the database, one row per calendar
//! and one per stored year, loaded into a snapshot that every server shares and reloads when the
//! calendar revision moves. The shipped TOML files are imported when a database is prepared; the
//! same format goes both ways through `gridloop calendar import/export`. Storing a year (the
//! State Council's notice, 放假调休安排) recomputes the open deadlines it touches.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::SlaSettings;
use crate::db::models::{CalendarYearRow, WorkCalendarRow};
use crate::db::schema::{calendar_revision, calendar_years, memberships, org_units, people, work_calendars};
use crate::db::{backend, DbConn};
use crate::domain::calendar::{check_schedule, ProblemKind, WorkCalendar, YearSchedule, YearStatus};
use crate::domain::{Actor, Operation, OrgPath, Role};

use super::audit::{self, ActedBy, Draft};
use super::{AppError, AppResult};

// ---------------------------------------------------------------- the files

/// `calendar.toml`: a calendar's time zone and office hours.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    pub time_zone: String,
    pub office_hours: Vec<(String, String)>,
}

/// `<year>.toml`: one year's schedule. `calendar`, `year`, `status` and `source` are optional in a
/// shipped file (the folder and the file name say which calendar and year; a shipped file is the
/// published notice); `gridloop calendar export` writes them all.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct YearFile {
    #[serde(default)]
    pub calendar: Option<String>,
    #[serde(default)]
    pub year: Option<i32>,
    #[serde(default)]
    pub status: Option<YearStatus>,
    #[serde(default)]
    pub source: Option<String>,
    pub holidays: Vec<NaiveDate>,
    pub workdays: Vec<NaiveDate>,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(path)).extract().map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a calendar file's office hours ("08:30" pairs).
fn parse_hours(name: &str, hours: &[(String, String)]) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
    let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("calendar {name}: `{s}` is not a time like 08:30"));
    hours.iter().map(|(a, b)| Ok((t(a)?, t(b)?))).collect()
}

fn parse_tz(name: &str, tz: &str) -> Result<chrono_tz::Tz, String> {
    tz.parse().map_err(|_| format!("calendar {name}: unknown time zone {tz}"))
}

/// One calendar as the config folder ships it.
struct ShippedCalendar {
    name: String,
    head: CalendarFile,
    years: BTreeMap<i32, YearFile>,
    folder: PathBuf,
}

/// Reads every calendar folder under `dir` (`<name>/calendar.toml` and `<name>/<year>.toml`).
fn read_folder(dir: &Path) -> Result<Vec<ShippedCalendar>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the calendars folder {}: {e}", dir.display()))?;
    let mut out = vec![];
    for entry in entries.flatten() {
        let folder = entry.path();
        if !folder.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let head: CalendarFile = read_toml(&folder.join("calendar.toml"))?;
        let mut years = BTreeMap::new();
        for f in std::fs::read_dir(&folder).map_err(|e| e.to_string())?.flatten() {
            let file = f.file_name().to_string_lossy().to_string();
            let Some(year) = file.strip_suffix(".toml").and_then(|y| y.parse::<i32>().ok()) else {
                continue;
            };
            let y: YearFile = read_toml(&f.path())?;
            if y.year.is_some_and(|inside| inside != year) {
                return Err(format!("{}: the file says year {} but is named {year}.toml", f.path().display(), y.year.unwrap_or_default()));
            }
            years.insert(year, y);
        }
        out.push(ShippedCalendar { name, head, years, folder });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

// ---------------------------------------------------------------- the shared snapshot

/// Every calendar as loaded, and which org units use which.
#[derive(Debug)]
pub struct Snapshot {
    default: String,
    by_unit_code: BTreeMap<String, String>,
    calendars: HashMap<String, Arc<WorkCalendar>>,
    /// The calendar revision this snapshot was loaded at (`calendar_revision`).
    revision: i64,
    /// (calendar, year) → (version, stored at) of each stored year.
    versions: BTreeMap<(String, i32), (i64, NaiveDateTime)>,
}

impl Snapshot {
    fn check_names(&self, sla: &SlaSettings, whence: &str) -> Result<(), String> {
        if !self.calendars.contains_key(&sla.calendar) {
            return Err(format!("key `sla.calendar`: no calendar `{}` {whence}", sla.calendar));
        }
        for (unit, name) in &sla.unit_calendars {
            if !self.calendars.contains_key(name) {
                return Err(format!("key `sla.unit_calendars.{unit}`: no calendar `{name}` {whence}"));
            }
        }
        Ok(())
    }
}

/// The working calendars, shared by every thread of a server: a cheap handle on the current
/// snapshot, which a calendar change replaces as a whole.
#[derive(Clone, Debug)]
pub struct Calendars {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

/// A stored year that changed since the snapshot a server had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedYear {
    pub calendar: String,
    pub year: i32,
    pub stored_at: NaiveDateTime,
}

impl Calendars {
    fn new(s: Snapshot) -> Calendars {
        Calendars { current: Arc::new(RwLock::new(Arc::new(s))) }
    }

    fn snap(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the snapshot (after a change this server made and committed, or found), unless
    /// the one in place was loaded at a later revision already.
    pub fn install(&self, s: Snapshot) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if s.revision >= current.revision {
            *current = Arc::new(s);
        }
    }

    /// The calendars of the config folder alone, every shipped year as it says (published unless
    /// the file says otherwise): for tools and tests that have no database.
    pub fn from_files(dir: &Path, sla: &SlaSettings) -> Result<Calendars, String> {
        let mut calendars = HashMap::new();
        for c in read_folder(dir)? {
            let years =
                c.years.iter().map(|(y, f)| (*y, (schedule_of(f), f.status.unwrap_or(YearStatus::Published)))).collect::<BTreeMap<_, _>>();
            let cal =
                WorkCalendar::new(&c.name, parse_tz(&c.name, &c.head.time_zone)?, &parse_hours(&c.name, &c.head.office_hours)?, &years)
                    .map_err(|e| format!("calendar {}: {e}", c.name))?;
            calendars.insert(c.name, Arc::new(cal));
        }
        let s = Snapshot {
            default: sla.calendar.clone(),
            by_unit_code: sla.unit_calendars.clone(),
            calendars,
            revision: -1,
            versions: BTreeMap::new(),
        };
        s.check_names(sla, &format!("under {}", dir.display()))?;
        Ok(Calendars::new(s))
    }

    /// Readies the calendars of a database: imports the shipped calendars and years it does not
    /// have yet (never replacing what is stored), then loads them all.
    pub fn prepare(conn: &mut DbConn, config_dir: &Path, sla: &SlaSettings, now: NaiveDateTime) -> Result<Calendars, String> {
        let plain = |e: AppError| super::error::Plain(&e).to_string();
        let imported = backend::write_transaction(conn, |c| sync_shipped(c, &config_dir.join("calendars"), now)).map_err(plain)?;
        for line in imported {
            log::info!("{line}");
        }
        let s = load_snapshot(conn, sla).map_err(plain)?;
        s.check_names(sla, "in the database or under config/calendars")?;
        Ok(Calendars::new(s))
    }

    /// Reloads from the database when another server (or this one) changed a calendar since this
    /// snapshot was loaded; returns the stored years that changed.
    pub fn refresh(&self, conn: &mut DbConn, sla: &SlaSettings) -> AppResult<Vec<ChangedYear>> {
        let revision: i64 = calendar_revision::table.find(1).select(calendar_revision::revision).first(conn)?;
        let old = self.snap();
        if revision == old.revision {
            return Ok(vec![]);
        }
        let new = load_snapshot(conn, sla)?;
        let changed = new
            .versions
            .iter()
            .filter(|(k, v)| old.versions.get(*k).map(|o| o.0) != Some(v.0))
            .map(|((calendar, year), (_, at))| ChangedYear { calendar: calendar.clone(), year: *year, stored_at: *at })
            .collect();
        self.install(new);
        Ok(changed)
    }

    /// The calendar named by `sla.calendar`.
    pub fn default_calendar(&self) -> Arc<WorkCalendar> {
        let s = self.snap();
        s.calendars[&s.default].clone()
    }

    /// Whether some unit keeps a calendar of its own (`sla.unit_calendars`).
    pub fn has_unit_calendars(&self) -> bool {
        !self.snap().by_unit_code.is_empty()
    }

    /// The calendar of a unit: the nearest of its ancestors (itself included, root first in
    /// `codes_root_first`) that `sla.unit_calendars` names, else the default.
    pub fn for_unit(&self, codes_root_first: &[String]) -> Arc<WorkCalendar> {
        let s = self.snap();
        let name = codes_root_first.iter().rev().find_map(|c| s.by_unit_code.get(c)).unwrap_or(&s.default);
        s.calendars[name].clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<WorkCalendar>> {
        self.snap().calendars.get(name).cloned()
    }

    /// Every calendar's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.snap().calendars.keys().cloned().collect();
        v.sort();
        v
    }

    /// What an operator must hear about: this year not published (always), next year not
    /// published (from 1 November). Loud, but the service goes on with the standing rule.
    pub fn warnings(&self, today: NaiveDate) -> Vec<CalendarWarning> {
        let s = self.snap();
        let mut out = vec![];
        let mut names: Vec<&String> = s.calendars.keys().collect();
        names.sort();
        for name in names {
            let cal = &s.calendars[name];
            if cal.status(today.year()) == YearStatus::Provisional {
                out.push(CalendarWarning { calendar: name.clone(), year: today.year(), which: WarningKind::CurrentYearProvisional });
            }
            if today.month() >= 11 && cal.status(today.year() + 1) == YearStatus::Provisional {
                out.push(CalendarWarning { calendar: name.clone(), year: today.year() + 1, which: WarningKind::NextYearProvisional });
            }
        }
        out
    }
}

fn schedule_of(f: &YearFile) -> YearSchedule {
    YearSchedule { holidays: f.holidays.clone(), workdays: f.workdays.clone() }
}

fn dates_json(d: &[NaiveDate]) -> String {
    serde_json::to_string(&d.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect::<Vec<_>>()).expect("dates serialize")
}

fn dates_of(text: &str) -> AppResult<Vec<NaiveDate>> {
    serde_json::from_str(text).map_err(|e| AppError::internal_msg(format!("stored calendar dates unreadable: {e}")))
}

/// Loads every calendar from the database.
pub fn load_snapshot(conn: &mut DbConn, sla: &SlaSettings) -> AppResult<Snapshot> {
    // The revision first: a change committed while the rest is read is seen again next time.
    let revision: i64 = calendar_revision::table.find(1).select(calendar_revision::revision).first(conn)?;
    let heads: Vec<WorkCalendarRow> = work_calendars::table.select(WorkCalendarRow::as_select()).load(conn)?;
    let rows: Vec<CalendarYearRow> = calendar_years::table.select(CalendarYearRow::as_select()).load(conn)?;
    let mut by_calendar: HashMap<String, BTreeMap<i32, (YearSchedule, YearStatus)>> = HashMap::new();
    let mut versions = BTreeMap::new();
    for r in rows {
        let status = YearStatus::parse(&r.status).ok_or_else(|| AppError::internal_msg(format!("calendar year status {}", r.status)))?;
        let sched = YearSchedule { holidays: dates_of(&r.holidays)?, workdays: dates_of(&r.workdays)? };
        versions.insert((r.calendar.clone(), r.year), (r.version, r.updated_at));
        by_calendar.entry(r.calendar).or_default().insert(r.year, (sched, status));
    }
    let mut calendars = HashMap::new();
    for h in heads {
        let hours: Vec<(String, String)> =
            serde_json::from_str(&h.office_hours).map_err(|e| AppError::internal_msg(format!("office hours of {}: {e}", h.name)))?;
        let years = by_calendar.remove(&h.name).unwrap_or_default();
        let cal = WorkCalendar::new(
            &h.name,
            parse_tz(&h.name, &h.time_zone).map_err(AppError::internal_msg)?,
            &parse_hours(&h.name, &hours).map_err(AppError::internal_msg)?,
            &years,
        )
        .map_err(|e| AppError::internal_msg(format!("calendar {}: {e}", h.name)))?;
        calendars.insert(h.name, Arc::new(cal));
    }
    Ok(Snapshot { default: sla.calendar.clone(), by_unit_code: sla.unit_calendars.clone(), calendars, revision, versions })
}

fn bump_revision(conn: &mut DbConn) -> AppResult<i64> {
    Ok(diesel::update(calendar_revision::table.find(1))
        .set(calendar_revision::revision.eq(calendar_revision::revision + 1))
        .returning(calendar_revision::revision)
        .get_result(conn)?)
}

/// Imports the shipped calendars and years the database does not have yet; a stored year is
/// never replaced from a file here (`gridloop calendar import` does that, on purpose). Returns a
/// line per import, for the log.
pub fn sync_shipped(conn: &mut DbConn, dir: &Path, now: NaiveDateTime) -> AppResult<Vec<String>> {
    let shipped = read_folder(dir).map_err(AppError::internal_msg)?;
    let mut lines = vec![];
    let heads: HashMap<String, WorkCalendarRow> =
        work_calendars::table.select(WorkCalendarRow::as_select()).load(conn)?.into_iter().map(|r| (r.name.clone(), r)).collect();
    let stored: std::collections::HashSet<(String, i32)> =
        calendar_years::table.select((calendar_years::calendar, calendar_years::year)).load(conn)?.into_iter().collect();
    for c in shipped {
        parse_tz(&c.name, &c.head.time_zone).map_err(AppError::internal_msg)?;
        parse_hours(&c.name, &c.head.office_hours).map_err(AppError::internal_msg)?;
        let hours = serde_json::to_string(&c.head.office_hours).expect("hours serialize");
        match heads.get(&c.name) {
            None => {
                diesel::insert_into(work_calendars::table)
                    .values(&WorkCalendarRow {
                        name: c.name.clone(),
                        time_zone: c.head.time_zone.clone(),
                        office_hours: hours,
                        updated_at: now,
                    })
                    .execute(conn)?;
                lines.push(format!("calendar {}: imported from {}", c.name, c.folder.display()));
            }
            Some(h) if h.office_hours != hours || h.time_zone != c.head.time_zone => log::warn!(
                "calendar {}: {} differs from the database, which is kept; import it with `gridloop calendar import` to change it",
                c.name,
                c.folder.join("calendar.toml").display()
            ),
            Some(_) => {}
        }
        for (year, f) in &c.years {
            if stored.contains(&(c.name.clone(), *year)) {
                continue;
            }
            let status = f.status.unwrap_or(YearStatus::Published);
            let source = f.source.clone().or_else(|| Some(format!("config/calendars/{}/{year}.toml", c.name)));
            store_year(conn, &ActedBy::default(), &c.name, *year, &schedule_of(f), status, source.as_deref(), None, now)?;
            lines.push(format!("calendar {}: {year} imported ({})", c.name, status.as_str()));
        }
    }
    Ok(lines)
}

// ---------------------------------------------------------------- storing a year

/// The problems of a year's schedule, each with its date as given.
pub type Problems = Vec<(String, ProblemKind)>;

/// Stores (or replaces) a year's schedule: checked date by date, its version bumped, the calendar
/// revision bumped, and an audit event written with what changed. `expected` is the version the
/// caller saw (`If-Match`); replacing a stored year needs it. In the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub fn store_year(
    conn: &mut DbConn,
    by: &ActedBy,
    calendar: &str,
    year: i32,
    sched: &YearSchedule,
    status: YearStatus,
    source: Option<&str>,
    expected: Option<i64>,
    now: NaiveDateTime,
) -> AppResult<CalendarYearRow> {
    let problems = check_schedule(year, sched);
    if !problems.is_empty() {
        return Err(AppError::ScheduleRejected {
            year,
            problems: problems.into_iter().map(|p| (p.date.map(|d| d.to_string()).unwrap_or_default(), p.problem)).collect(),
        });
    }
    let exists: bool = diesel::select(diesel::dsl::exists(work_calendars::table.find(calendar))).get_result(conn)?;
    if !exists {
        return Err(AppError::NotFound { what: "calendar" });
    }
    let old: Option<CalendarYearRow> =
        calendar_years::table.find((calendar, year)).select(CalendarYearRow::as_select()).first(conn).optional()?;
    let mut holidays = sched.holidays.clone();
    holidays.sort();
    let mut workdays = sched.workdays.clone();
    workdays.sort();
    let row = CalendarYearRow {
        calendar: calendar.into(),
        year,
        status: status.as_str().into(),
        holidays: dates_json(&holidays),
        workdays: dates_json(&workdays),
        source: source.map(str::trim).filter(|s| !s.is_empty()).map(Into::into),
        version: old.as_ref().map(|o| o.version + 1).unwrap_or(1),
        updated_at: now,
        updated_by: by.person_id.clone(),
    };
    match &old {
        None => {
            if let Some(v) = expected {
                return Err(AppError::VersionConflict { given: v, current: 0 });
            }
            diesel::insert_into(calendar_years::table).values(&row).execute(conn)?;
        }
        Some(o) => {
            super::check_version(expected, o.version)?;
            let n = diesel::update(calendar_years::table.find((calendar, year)).filter(calendar_years::version.eq(o.version)))
                .set((
                    calendar_years::status.eq(&row.status),
                    calendar_years::holidays.eq(&row.holidays),
                    calendar_years::workdays.eq(&row.workdays),
                    calendar_years::source.eq(&row.source),
                    calendar_years::version.eq(row.version),
                    calendar_years::updated_at.eq(now),
                    calendar_years::updated_by.eq(&row.updated_by),
                ))
                .execute(conn)?;
            if n != 1 {
                return Err(AppError::VersionConflict { given: o.version, current: o.version + 1 });
            }
        }
    }
    bump_revision(conn)?;
    let mut changes = serde_json::Map::new();
    let old_dates =
        |f: fn(&CalendarYearRow) -> &String| old.as_ref().map(|o| serde_json::from_str::<serde_json::Value>(f(o)).unwrap_or_default());
    changes.insert("status".into(), json!([old.as_ref().map(|o| o.status.clone()), row.status]));
    changes.insert(
        "holidays".into(),
        json!([old_dates(|o| &o.holidays), serde_json::from_str::<serde_json::Value>(&row.holidays).unwrap_or_default()]),
    );
    changes.insert(
        "workdays".into(),
        json!([old_dates(|o| &o.workdays), serde_json::from_str::<serde_json::Value>(&row.workdays).unwrap_or_default()]),
    );
    changes.insert("source".into(), json!([old.as_ref().and_then(|o| o.source.clone()), row.source]));
    changes.insert("version".into(), json!([old.as_ref().map(|o| o.version), row.version]));
    let entity = calendar_entity(calendar, year);
    audit::append(
        conn,
        Draft {
            entity_kind: "calendar_year",
            entity_id: &entity,
            by,
            action: if old.is_some() { "replace_calendar_year" } else { "store_calendar_year" },
            from_state: old.as_ref().map(|o| o.status.as_str()),
            to_state: Some(&row.status),
            reason: row.source.as_deref(),
            changes: serde_json::Value::Object(changes),
        },
        now,
    )?;
    Ok(row)
}

/// The audit trail's entity id of a calendar year, e.g. `cn/2027`.
pub fn calendar_entity(calendar: &str, year: i32) -> String {
    format!("{calendar}/{year}")
}

/// A year's schedule to store, as the API takes it: dates as "YYYY-MM-DD" text, each checked.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishYear {
    /// Every day off (放假) that is listed in the notice, weekend days of a holiday span included.
    #[schema(value_type = Vec<chrono::NaiveDate>)]
    pub holidays: Vec<String>,
    /// The weekend days that are working days (调休上班).
    #[serde(default)]
    #[schema(value_type = Vec<chrono::NaiveDate>)]
    pub workdays: Vec<String>,
    /// `published` (default): the State Council's notice; `provisional`: entered ahead of it.
    #[serde(default)]
    pub status: Option<YearStatus>,
    /// Where it comes from, e.g. the notice's number (国办发明电〔2026〕N号).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub source: Option<String>,
}

/// Parses the dates of a request, naming each one that is not a date.
fn parse_dates(texts: &[String], problems: &mut Problems) -> Vec<NaiveDate> {
    texts
        .iter()
        .filter_map(|t| match NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d") {
            Ok(d) if t.trim().len() == 10 => Some(d),
            _ => {
                problems.push((t.clone(), ProblemKind::NotADate));
                None
            }
        })
        .collect()
}

/// Only an admin bound to a top unit changes calendars: they are city-wide.
fn require_top_admin(actor: &Actor) -> AppResult<&crate::domain::Grant> {
    actor
        .grants_for(Operation::CatalogueManage)
        .find(|g| g.org_path.depth() == 0)
        .ok_or_else(|| AppError::forbidden(crate::msg!("why-calendars_city_wide")))
}

/// What publishing a year did.
pub struct Published {
    pub view: YearView,
    /// The calendars as they are now, to install once the transaction has committed.
    pub snapshot: Snapshot,
    /// Open clocks whose deadlines were recomputed.
    pub recomputed: usize,
}

/// Publishes (or replaces) a year of a calendar through the API: the top admin only; checked
/// date by date; audited; every open deadline that touches the year recomputed in the same
/// transaction (what already fired stays, as `gridloop sla recompute` does).
#[allow(clippy::too_many_arguments)]
pub fn publish_year(
    conn: &mut DbConn,
    calendars: &Calendars,
    sla: &SlaSettings,
    actor: &Actor,
    name: &str,
    year: i32,
    input: PublishYear,
    expected: Option<i64>,
    now: NaiveDateTime,
) -> AppResult<Published> {
    let grant = require_top_admin(actor)?.clone();
    if calendars.get(name).is_none() {
        return Err(AppError::NotFound { what: "calendar" });
    }
    let mut problems = vec![];
    let sched =
        YearSchedule { holidays: parse_dates(&input.holidays, &mut problems), workdays: parse_dates(&input.workdays, &mut problems) };
    if !problems.is_empty() {
        return Err(AppError::ScheduleRejected { year, problems });
    }
    let source = match input.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(super::text("source", s, 200)?),
        None => None,
    };
    let by = ActedBy::person(actor.person_id, Some(&grant));
    let status = input.status.unwrap_or(YearStatus::Published);
    store_year(conn, &by, name, year, &sched, status, source.as_deref(), expected, now)?;
    let (snapshot, recomputed) = apply_change(conn, sla, &[(name.to_string(), year)], now)?;
    let view = year_view(conn, &Calendars::new_from(&snapshot), name, year)?;
    Ok(Published { view, snapshot, recomputed })
}

/// After stored years changed in this transaction: loads the calendars as they are now and
/// recomputes every open deadline that touches one of the years.
pub fn apply_change(conn: &mut DbConn, sla: &SlaSettings, years: &[(String, i32)], now: NaiveDateTime) -> AppResult<(Snapshot, usize)> {
    let snapshot = load_snapshot(conn, sla)?;
    let fresh = Calendars::new_from(&snapshot);
    let ctx = super::sla::SlaContext { settings: sla, calendars: &fresh };
    let mut n = 0;
    for (calendar, year) in years {
        n += super::sla::recompute(conn, ctx, super::sla::Recompute::Touching { calendar, year: *year, started_since: None }, now)?;
    }
    Ok((snapshot, n))
}

impl Calendars {
    /// A handle of its own on a copy of a snapshot (for work inside a transaction that has not
    /// committed yet: the shared snapshot changes only after the commit).
    fn new_from(s: &Snapshot) -> Calendars {
        Calendars::new(Snapshot {
            default: s.default.clone(),
            by_unit_code: s.by_unit_code.clone(),
            calendars: s.calendars.clone(),
            revision: s.revision,
            versions: s.versions.clone(),
        })
    }
}

/// After this server installed calendars that changed (its own publication, or one it found on
/// refresh): recomputes the open deadlines of the changed years that were started shortly before
/// or after the change, which a server still holding the old calendars may have computed. The
/// change's own transaction recomputed all those that existed then.
pub fn heal_after_change(
    conn: &mut DbConn,
    calendars: &Calendars,
    sla: &SlaSettings,
    changed: &[ChangedYear],
    now: NaiveDateTime,
) -> AppResult<usize> {
    let ctx = super::sla::SlaContext { settings: sla, calendars };
    let mut n = 0;
    for c in changed {
        let since = c.stored_at - chrono::Duration::minutes(2);
        n += super::sla::recompute(
            conn,
            ctx,
            super::sla::Recompute::Touching { calendar: &c.calendar, year: c.year, started_since: Some(since) },
            now,
        )?;
    }
    Ok(n)
}

// ---------------------------------------------------------------- reading

/// A year of a calendar as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct YearView {
    pub calendar: String,
    pub year: i32,
    pub status: YearStatus,
    /// Whether a schedule is stored for the year; without one it follows the standing rule.
    pub stored: bool,
    #[schema(value_type = Vec<String>)]
    pub holidays: Vec<NaiveDate>,
    #[schema(value_type = Vec<String>)]
    pub workdays: Vec<NaiveDate>,
    pub working_days: u32,
    pub source: Option<String>,
    /// The stored version (send it as `If-Match` to replace the year); absent when none is stored.
    pub version: Option<i64>,
    #[serde(with = "crate::app::rfc3339::option")]
    pub updated_at: Option<NaiveDateTime>,
    pub updated_by: Option<String>,
}

/// One year of a calendar: the stored schedule, or the standing rule's.
pub fn year_view(conn: &mut DbConn, calendars: &Calendars, name: &str, year: i32) -> AppResult<YearView> {
    let cal = calendars.get(name).ok_or(AppError::NotFound { what: "calendar" })?;
    let (sched, status) = cal.schedule(year).ok_or(AppError::NotFound { what: "calendar year" })?;
    let row: Option<CalendarYearRow> =
        calendar_years::table.find((name, year)).select(CalendarYearRow::as_select()).first(conn).optional()?;
    Ok(YearView {
        calendar: name.into(),
        year,
        status,
        stored: row.is_some(),
        holidays: sched.holidays,
        workdays: sched.workdays,
        working_days: cal.working_days_in(year)?,
        source: row.as_ref().and_then(|r| r.source.clone()),
        version: row.as_ref().map(|r| r.version),
        updated_at: row.as_ref().map(|r| r.updated_at),
        updated_by: row.and_then(|r| r.updated_by),
    })
}

/// Every change of a year's stored schedule, oldest first (admins only).
pub fn year_history(
    conn: &mut DbConn,
    calendars: &Calendars,
    actor: &Actor,
    name: &str,
    year: i32,
) -> AppResult<Vec<super::tickets::TimelineEvent>> {
    if actor.grants_for(Operation::CatalogueManage).next().is_none() {
        return Err(AppError::forbidden(crate::msg!("why-calendar_history_admins")));
    }
    if calendars.get(name).is_none() {
        return Err(AppError::NotFound { what: "calendar" });
    }
    Ok(audit::events_of(conn, "calendar_year", &calendar_entity(name, year))?.into_iter().map(super::tickets::timeline_event).collect())
}

/// A calendar with the years an admin looks at.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarView {
    pub name: String,
    pub time_zone: String,
    /// Office hours of a working day, e.g. [["08:30","12:00"],["14:00","17:30"]].
    pub office_hours: Vec<(String, String)>,
    /// Whether units without a calendar of their own use this one.
    pub default: bool,
    /// The stored years and the current and next year, in order.
    pub years: Vec<YearSummary>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct YearSummary {
    pub year: i32,
    pub status: YearStatus,
    pub stored: bool,
    pub working_days: u32,
    pub version: Option<i64>,
}

/// Every calendar with its stored years and the current and next year.
pub fn list(calendars: &Calendars, today: NaiveDate) -> AppResult<Vec<CalendarView>> {
    let s = calendars.snap();
    let mut out = vec![];
    for name in calendars.names() {
        let cal = &s.calendars[&name];
        let mut years: std::collections::BTreeSet<i32> = cal.stored_years().into_iter().collect();
        years.extend([today.year(), today.year() + 1]);
        out.push(CalendarView {
            name: name.clone(),
            time_zone: cal.tz.name().to_string(),
            office_hours: cal.office_hours(),
            default: name == s.default,
            years: years
                .into_iter()
                .map(|y| {
                    Ok(YearSummary {
                        year: y,
                        status: cal.status(y),
                        stored: s.versions.contains_key(&(name.clone(), y)),
                        working_days: cal.working_days_in(y)?,
                        version: s.versions.get(&(name.clone(), y)).map(|v| v.0),
                    })
                })
                .collect::<AppResult<_>>()?,
        });
    }
    Ok(out)
}

/// A year in the TOML format of the shipped files, with every key written.
pub fn export_toml(v: &YearView) -> String {
    let list = |d: &[NaiveDate]| {
        if d.is_empty() {
            return "[]".to_string();
        }
        let items: Vec<String> = d.iter().map(|d| format!("    \"{d}\",")).collect();
        format!("[\n{}\n]", items.join("\n"))
    };
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut out = format!(
        "# Working calendar `{}`, {}: {} schedule ({} working days). Import with `gridloop calendar import FILE`.\n",
        v.calendar,
        v.year,
        v.status.as_str(),
        v.working_days
    );
    out += &format!("calendar = {}\nyear = {}\nstatus = \"{}\"\n", quote(&v.calendar), v.year, v.status.as_str());
    if let Some(s) = &v.source {
        out += &format!("source = {}\n", quote(s));
    }
    out += &format!("holidays = {}\nworkdays = {}\n", list(&v.holidays), list(&v.workdays));
    out
}

/// Imports a TOML file from the command line: a year file (stored, replacing what is there,
/// audited as the system, deadlines recomputed), or a `calendar.toml` (time zone and office
/// hours; every open deadline of the calendar recomputed). `calendar` and `year` name what the
/// file does not say itself.
pub fn import_file(
    conn: &mut DbConn,
    sla: &SlaSettings,
    path: &Path,
    calendar: Option<&str>,
    year: Option<i32>,
    now: NaiveDateTime,
) -> AppResult<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        log::warn!("cannot read {}: {e}", path.display());
        AppError::validation("file", crate::msg!("why-cannot_read_file", path = path.display().to_string()))
    })?;
    let looks_like_head = text.lines().any(|l| l.trim_start().starts_with("office_hours"));
    // An operator's file, read on the command line: its problems are told as they come.
    let bad = |e: String| AppError::validation("file", crate::msg!("why-file_problem", problem = e));
    if looks_like_head {
        let name =
            calendar.map(str::to_string).or_else(|| path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()));
        let name = name.ok_or_else(|| bad("name the calendar with --calendar".into()))?;
        let head: CalendarFile = read_toml(path).map_err(bad)?;
        parse_tz(&name, &head.time_zone).map_err(bad)?;
        let hours = parse_hours(&name, &head.office_hours).map_err(bad)?;
        WorkCalendar::new(&name, parse_tz(&name, &head.time_zone).map_err(bad)?, &hours, &BTreeMap::new())
            .map_err(|e| bad(e.to_string()))?;
        let row = WorkCalendarRow {
            name: name.clone(),
            time_zone: head.time_zone.clone(),
            office_hours: serde_json::to_string(&head.office_hours).expect("hours serialize"),
            updated_at: now,
        };
        let exists: bool = diesel::select(diesel::dsl::exists(work_calendars::table.find(&name))).get_result(conn)?;
        if exists {
            diesel::update(work_calendars::table.find(&name))
                .set((
                    work_calendars::time_zone.eq(&row.time_zone),
                    work_calendars::office_hours.eq(&row.office_hours),
                    work_calendars::updated_at.eq(now),
                ))
                .execute(conn)?;
        } else {
            diesel::insert_into(work_calendars::table).values(&row).execute(conn)?;
        }
        bump_revision(conn)?;
        audit::append(
            conn,
            Draft {
                entity_kind: "calendar",
                entity_id: &name,
                by: &ActedBy::default(),
                action: "set_office_hours",
                from_state: None,
                to_state: None,
                reason: Some(&path.display().to_string()),
                changes: json!({"time_zone": [null, head.time_zone], "office_hours": [null, head.office_hours]}),
            },
            now,
        )?;
        let snapshot = load_snapshot(conn, sla)?;
        let fresh = Calendars::new_from(&snapshot);
        let n = super::sla::recompute(conn, super::sla::SlaContext { settings: sla, calendars: &fresh }, super::sla::Recompute::All, now)?;
        return Ok(format!("Calendar {name}: time zone and office hours stored; {n} open deadlines recomputed."));
    }
    let f: YearFile = read_toml(path).map_err(bad)?;
    let year = f
        .year
        .or(year)
        .or_else(|| path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()))
        .ok_or_else(|| bad("the file names no year: add `year = …`, pass --year, or name the file <year>.toml".into()))?;
    let name = f.calendar.clone().or(calendar.map(str::to_string)).unwrap_or_else(|| sla.calendar.clone());
    let status = f.status.unwrap_or(YearStatus::Published);
    let current: Option<i64> = calendar_years::table.find((&name, year)).select(calendar_years::version).first(conn).optional()?;
    let source = f.source.clone().or_else(|| Some(path.display().to_string()));
    store_year(conn, &ActedBy::default(), &name, year, &schedule_of(&f), status, source.as_deref(), current, now)?;
    let (_, n) = apply_change(conn, sla, &[(name.clone(), year)], now)?;
    Ok(format!(
        "Calendar {name}, {year}: {} schedule stored ({} holidays, {} make-up working days); {n} open deadlines recomputed.",
        status.as_str(),
        f.holidays.len(),
        f.workdays.len()
    ))
}

// ---------------------------------------------------------------- warnings

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// This year's official schedule is not in: deadlines use the standing rule.
    CurrentYearProvisional,
    /// From 1 November: next year's schedule is not in yet.
    NextYearProvisional,
}

/// Something about the calendars an operator must act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CalendarWarning {
    pub calendar: String,
    pub year: i32,
    #[serde(rename = "code")]
    pub which: WarningKind,
}

impl CalendarWarning {
    /// What an operator reads in the log and in `check-config` (English, like the log).
    pub fn log_line(&self) -> String {
        format!(
            "calendar `{}` has no published schedule for {}: deadlines reaching into {} use the standing rule (weekdays and the statutory holidays) and are flagged provisional; publish the State Council's {} schedule (PUT /api/v1/calendars/{}/years/{} or `gridloop calendar import`) to recompute them",
            self.calendar, self.year, self.year, self.year, self.calendar, self.year
        )
    }

    /// The message in a person's language.
    pub fn message(&self, lang: super::Lang) -> String {
        crate::i18n::render(lang, &crate::msg!("calendar-year_provisional", calendar = &self.calendar, year = self.year))
    }

    /// The dedupe key of the one notification a recipient gets for this warning.
    fn dedupe_key(&self, person_id: &str) -> String {
        format!("calendar_provisional:{}:{}:{person_id}", self.calendar, self.year)
    }
}

/// Writes one notification (`calendar_provisional`) per warning to every top admin and every
/// supervisor: once per person, calendar and year, however often it runs and on however many
/// servers. Returns how many were written.
pub fn notify_warnings(conn: &mut DbConn, warnings: &[CalendarWarning], now: NaiveDateTime) -> AppResult<usize> {
    if warnings.is_empty() {
        return Ok(0);
    }
    let grants: Vec<(String, String, String, String)> = memberships::table
        .inner_join(people::table)
        .inner_join(org_units::table)
        .filter(memberships::active.eq(true))
        .filter(people::active.eq(true))
        .filter(memberships::role.eq_any([Role::Admin.as_str(), Role::Supervisor.as_str()]))
        .select((memberships::person_id, memberships::role, memberships::org_unit_id, org_units::path))
        .load(conn)?;
    let mut recipients: BTreeMap<String, String> = BTreeMap::new();
    for (person, role, unit, path) in grants {
        let top = OrgPath::from_db(path).depth() == 0;
        if role == Role::Supervisor.as_str() || top {
            recipients.entry(person).or_insert(unit);
        }
    }
    let keys: Vec<String> = warnings.iter().flat_map(|w| recipients.keys().map(move |p| w.dedupe_key(p))).collect();
    let done = super::notifications::recorded(conn, &keys)?;
    let mut written = 0;
    for w in warnings {
        for (person, unit) in &recipients {
            let key = w.dedupe_key(person);
            if done.contains(&key) {
                continue;
            }
            let once = super::notifications::Once {
                unit_id: unit,
                person_id: Some(person),
                ticket_id: None,
                kind: "calendar_provisional",
                payload: json!({"calendar": w.calendar, "year": w.year, "code": w.which}),
                dedupe_key: &key,
            };
            if super::notifications::record_once(conn, once, now)? {
                written += 1;
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Calendars {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = crate::config::Settings::load(&dir, "test").unwrap();
        Calendars::from_files(&dir.join("calendars"), &settings.sla).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn an_unpublished_year_is_warned_of_this_year_always_and_next_year_from_november() {
        let c = shipped();
        let last = c.get("cn").unwrap().stored_years().into_iter().max().unwrap();
        let w = |today| c.warnings(today).into_iter().map(|w| (w.year, w.which)).collect::<Vec<_>>();
        assert_eq!(w(d(last, 10, 31)), vec![], "the last shipped year, before November: nothing to say");
        assert_eq!(w(d(last, 11, 1)), vec![(last + 1, WarningKind::NextYearProvisional)]);
        assert_eq!(w(d(last + 1, 1, 5)), vec![(last + 1, WarningKind::CurrentYearProvisional)]);
        assert_eq!(
            w(d(last + 1, 12, 30)),
            vec![(last + 1, WarningKind::CurrentYearProvisional), (last + 2, WarningKind::NextYearProvisional)]
        );
    }

    #[test]
    fn an_exported_year_reads_back_as_the_same_schedule() {
        let c = shipped();
        let cal = c.get("cn").unwrap();
        let (s, status) = cal.schedule(2026).unwrap();
        let v = YearView {
            calendar: "cn".into(),
            year: 2026,
            status,
            stored: true,
            holidays: s.holidays.clone(),
            workdays: s.workdays.clone(),
            working_days: cal.working_days_in(2026).unwrap(),
            source: Some("国办发明电〔2025〕7号 \"quoted\"".into()),
            version: Some(1),
            updated_at: None,
            updated_by: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, export_toml(&v)).unwrap();
        let back: YearFile = read_toml(&path).unwrap();
        assert_eq!((back.year, back.calendar.as_deref(), back.status), (Some(2026), Some("cn"), Some(YearStatus::Published)));
        assert_eq!(back.source, v.source);
        assert_eq!(schedule_of(&back), s);
    }
}
