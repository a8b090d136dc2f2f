use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::config::SlaSettings;
use crate::db::models::{CalendarYearRow, WorkCalendarRow};
use crate::db::schema::{calendar_years, work_calendars};
use crate::db::DbConn;
use crate::domain::calendar::{check_schedule, ProblemKind, WorkCalendar, YearSchedule, YearStatus};
use crate::domain::{Actor, Operation};

use super::files::read_folder;
use super::files::{parse_hours, parse_tz, read_toml, CalendarFile, YearFile};
use super::snapshot::{bump_revision, calendar_entity, dates_json, load_snapshot, schedule_of, Calendars, ChangedYear, Snapshot};
use super::views::{year_view, YearView};
use crate::app::audit::{self, ActedBy, Draft};
use crate::app::{AppError, AppResult};
use crate::db::backend;
use std::collections::HashMap;

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
        status,
        holidays: dates_json(&holidays),
        workdays: dates_json(&workdays),
        source: source.map(str::trim).filter(|s| !s.is_empty()).map(Into::into),
        version: old.as_ref().map(|o| o.version + 1).unwrap_or(1),
        updated_at: now,
        updated_by: by.person_id,
    };
    match &old {
        None => {
            if let Some(v) = expected {
                return Err(AppError::VersionConflict { given: v, current: 0 });
            }
            diesel::insert_into(calendar_years::table).values(&row).execute(conn)?;
        }
        Some(o) => {
            crate::app::check_version(expected, o.version)?;
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
    changes.insert("status".into(), json!([old.as_ref().map(|o| o.status), row.status]));
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
            to_state: Some(row.status.as_str()),
            reason: row.source.as_deref(),
            changes: serde_json::Value::Object(changes),
        },
        now,
    )?;
    Ok(row)
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
pub(super) fn parse_dates(texts: &[String], problems: &mut Problems) -> Vec<NaiveDate> {
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
pub(super) fn require_top_admin(actor: &Actor) -> AppResult<&crate::domain::Grant> {
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
        Some(s) => Some(crate::app::text("source", s, 200)?),
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
    let ctx = crate::app::sla::SlaContext { settings: sla, calendars: &fresh };
    let mut n = 0;
    for (calendar, year) in years {
        n += crate::app::sla::recompute(
            conn,
            ctx,
            crate::app::sla::Recompute::Touching { calendar, year: *year, started_since: None },
            now,
        )?;
    }
    Ok((snapshot, n))
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
    let ctx = crate::app::sla::SlaContext { settings: sla, calendars };
    let mut n = 0;
    for c in changed {
        let since = c.stored_at - chrono::Duration::minutes(2);
        n += crate::app::sla::recompute(
            conn,
            ctx,
            crate::app::sla::Recompute::Touching { calendar: &c.calendar, year: c.year, started_since: Some(since) },
            now,
        )?;
    }
    Ok(n)
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
        let n = crate::app::sla::recompute(
            conn,
            crate::app::sla::SlaContext { settings: sla, calendars: &fresh },
            crate::app::sla::Recompute::All,
            now,
        )?;
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

impl Calendars {
    /// Readies the calendars of a database: imports the shipped calendars and years it does not
    /// have yet (never replacing what is stored), then loads them all.
    pub fn prepare(conn: &mut DbConn, config_dir: &Path, sla: &SlaSettings, now: NaiveDateTime) -> Result<Calendars, String> {
        let plain = |e: AppError| crate::app::error::Plain(&e).to_string();
        // One transaction: servers starting together on a new database race to import the
        // shipped years; the loser's insert meets the winner's row, and its second pass finds
        // everything stored.
        let mut tries = 0;
        let imported = loop {
            tries += 1;
            match backend::immediate_transaction(conn, |c| sync_shipped(c, &config_dir.join("calendars"), now)) {
                Err(e) if e.code() == "already_exists" && tries < 3 => continue,
                r => break r.map_err(plain)?,
            }
        };
        for line in imported {
            log::info!("{line}");
        }
        let s = load_snapshot(conn, sla).map_err(plain)?;
        s.check_names(sla, "in the database or under config/calendars")?;
        Ok(Calendars::new(s))
    }

    pub(super) fn new_from(s: &Snapshot) -> Calendars {
        Calendars::new(Snapshot {
            default: s.default.clone(),
            by_unit_code: s.by_unit_code.clone(),
            calendars: s.calendars.clone(),
            revision: s.revision,
            versions: s.versions.clone(),
        })
    }
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
