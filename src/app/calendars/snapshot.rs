use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::config::SlaSettings;
use crate::db::models::{CalendarYearRow, WorkCalendarRow};
use crate::db::schema::{calendar_revision, calendar_years, work_calendars};
use crate::db::DbConn;
use crate::domain::calendar::{WorkCalendar, YearSchedule, YearStatus};

use super::files::{parse_hours, parse_tz, read_folder, YearFile};
use super::warnings::{CalendarWarning, WarningKind};
use crate::app::{AppError, AppResult};

/// Every calendar as loaded, and which org units use which.
#[derive(Debug)]
pub struct Snapshot {
    pub(super) default: String,
    pub(super) by_unit_code: BTreeMap<String, String>,
    pub(super) calendars: HashMap<String, Arc<WorkCalendar>>,
    /// The calendar revision this snapshot was loaded at (`calendar_revision`).
    pub(super) revision: i64,
    /// (calendar, year) → (version, stored at) of each stored year.
    pub(super) versions: BTreeMap<(String, i32), (i64, NaiveDateTime)>,
}

impl Snapshot {
    pub(super) fn check_names(&self, sla: &SlaSettings, whence: &str) -> Result<(), String> {
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
    pub(super) current: Arc<RwLock<Arc<Snapshot>>>,
}

/// A stored year that changed since the snapshot a server had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedYear {
    pub calendar: String,
    pub year: i32,
    pub stored_at: NaiveDateTime,
}

impl Calendars {
    pub(super) fn new(s: Snapshot) -> Calendars {
        Calendars { current: Arc::new(RwLock::new(Arc::new(s))) }
    }

    pub(super) fn snap(&self) -> Arc<Snapshot> {
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

pub(super) fn schedule_of(f: &YearFile) -> YearSchedule {
    YearSchedule { holidays: f.holidays.clone(), workdays: f.workdays.clone() }
}

pub(super) fn dates_json(d: &[NaiveDate]) -> String {
    serde_json::to_string(&d.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect::<Vec<_>>()).expect("dates serialize")
}

pub(super) fn dates_of(text: &str) -> AppResult<Vec<NaiveDate>> {
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
        let status = r.status;
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

pub(super) fn bump_revision(conn: &mut DbConn) -> AppResult<i64> {
    Ok(diesel::update(calendar_revision::table.find(1))
        .set(calendar_revision::revision.eq(calendar_revision::revision + 1))
        .returning(calendar_revision::revision)
        .get_result(conn)?)
}

/// The audit trail's entity id of a calendar year, e.g. `cn/2027`.
pub fn calendar_entity(calendar: &str, year: i32) -> String {
    format!("{calendar}/{year}")
}
