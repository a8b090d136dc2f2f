//! Loads the working calendars from `config/calendars/<name>/` (office hours in `calendar.toml`,
//! one `<year>.toml` per year) and picks the calendar of an org unit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::config::SlaSettings;
use crate::domain::calendar::{WorkCalendar, YearSchedule};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    time_zone: String,
    office_hours: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    holidays: Vec<NaiveDate>,
    workdays: Vec<NaiveDate>,
}

/// Every calendar, and which org unit codes use which.
#[derive(Clone, Debug)]
pub struct Calendars {
    pub default: String,
    pub by_unit_code: BTreeMap<String, String>,
    pub calendars: HashMap<String, WorkCalendar>,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(path)).extract().map_err(|e| format!("{}: {e}", path.display()))
}

impl Calendars {
    /// Loads every calendar under `dir` and checks that the settings name only existing ones.
    pub fn load(dir: &Path, sla: &SlaSettings) -> Result<Calendars, String> {
        let mut calendars = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the calendars folder {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let folder = entry.path();
            if !folder.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            let head: CalendarFile = read_toml(&folder.join("calendar.toml"))?;
            let tz: chrono_tz::Tz = head.time_zone.parse().map_err(|_| format!("calendar {name}: unknown time zone {}", head.time_zone))?;
            let mut hours = vec![];
            for (a, b) in &head.office_hours {
                let t =
                    |s: &str| NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("calendar {name}: `{s}` is not a time like 08:30"));
                hours.push((t(a)?, t(b)?));
            }
            let mut years = BTreeMap::new();
            for f in std::fs::read_dir(&folder).map_err(|e| e.to_string())?.flatten() {
                let file = f.file_name().to_string_lossy().to_string();
                let Some(year) = file.strip_suffix(".toml").and_then(|y| y.parse::<i32>().ok()) else {
                    continue;
                };
                let y: YearFile = read_toml(&f.path())?;
                years.insert(year, YearSchedule { holidays: y.holidays, workdays: y.workdays });
            }
            let cal = WorkCalendar::new(&name, tz, &hours, &years).map_err(|e| format!("calendar {name}: {e}"))?;
            calendars.insert(name, cal);
        }
        if !calendars.contains_key(&sla.calendar) {
            return Err(format!("key `sla.calendar`: no calendar `{}` under {}", sla.calendar, dir.display()));
        }
        for (unit, name) in &sla.unit_calendars {
            if !calendars.contains_key(name) {
                return Err(format!("key `sla.unit_calendars.{unit}`: no calendar `{name}` under {}", dir.display()));
            }
        }
        Ok(Calendars { default: sla.calendar.clone(), by_unit_code: sla.unit_calendars.clone(), calendars })
    }

    /// Refuses a year no calendar covers; warns loudly when next year is near and missing.
    pub fn check_years(&self, today: NaiveDate) -> Result<Vec<String>, String> {
        let mut warnings = vec![];
        for (name, cal) in &self.calendars {
            if !cal.covers(today.year()) {
                return Err(format!(
                    "calendar `{name}` has no data for {0}: add config/calendars/{name}/{0}.toml with that year's holidays and make-up working days (deadlines are never computed in natural time instead)",
                    today.year()
                ));
            }
            if today.month() >= 11 && !cal.covers(today.year() + 1) {
                warnings.push(format!(
                    "calendar `{name}` has no data for {0} yet: deadlines that reach into {0} cannot be computed; add config/calendars/{name}/{0}.toml once the State Council publishes the {0} schedule",
                    today.year() + 1
                ));
            }
        }
        Ok(warnings)
    }

    /// The calendar of a unit: the nearest of its ancestors (itself included, root first in
    /// `codes_root_first`) that `sla.unit_calendars` names, else the default.
    pub fn for_unit(&self, codes_root_first: &[String]) -> &WorkCalendar {
        let name = codes_root_first.iter().rev().find_map(|c| self.by_unit_code.get(c)).unwrap_or(&self.default);
        &self.calendars[name]
    }

    /// The calendar named by `sla.calendar`.
    pub fn default_calendar(&self) -> &WorkCalendar {
        &self.calendars[&self.default]
    }

    pub fn get(&self, name: &str) -> Option<&WorkCalendar> {
        self.calendars.get(name)
    }
}
