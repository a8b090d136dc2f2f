use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::CalendarYearRow;
use crate::db::schema::calendar_years;
use crate::db::DbConn;
use crate::domain::calendar::YearStatus;
use crate::domain::{Actor, Operation};

use super::snapshot::calendar_entity;
use super::snapshot::Calendars;
use crate::app::audit::{self};
use crate::app::{AppError, AppResult};

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
        updated_by: row.and_then(|r| r.updated_by).map(|p| p.to_string()),
    })
}

/// Every change of a year's stored schedule, oldest first (admins only).
pub fn year_history(
    conn: &mut DbConn,
    calendars: &Calendars,
    actor: &Actor,
    name: &str,
    year: i32,
) -> AppResult<Vec<crate::app::audit::TimelineEvent>> {
    if actor.grants_for(Operation::CatalogueManage).next().is_none() {
        return Err(AppError::forbidden(crate::msg!("why-calendar_history_admins")));
    }
    if calendars.get(name).is_none() {
        return Err(AppError::NotFound { what: "calendar" });
    }
    Ok(audit::events_of(conn, "calendar_year", &calendar_entity(name, year))?.into_iter().map(crate::app::audit::timeline_event).collect())
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
