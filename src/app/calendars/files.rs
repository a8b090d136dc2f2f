use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::YearStatus;

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

pub(super) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(path)).extract().map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a calendar file's office hours ("08:30" pairs).
pub(super) fn parse_hours(name: &str, hours: &[(String, String)]) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
    let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("calendar {name}: `{s}` is not a time like 08:30"));
    hours.iter().map(|(a, b)| Ok((t(a)?, t(b)?))).collect()
}

pub(super) fn parse_tz(name: &str, tz: &str) -> Result<chrono_tz::Tz, String> {
    tz.parse().map_err(|_| format!("calendar {name}: unknown time zone {tz}"))
}

/// One calendar as the config folder ships it.
pub(super) struct ShippedCalendar {
    pub(super) name: String,
    pub(super) head: CalendarFile,
    pub(super) years: BTreeMap<i32, YearFile>,
    pub(super) folder: PathBuf,
}

/// Reads every calendar folder under `dir` (`<name>/calendar.toml` and `<name>/<year>.toml`).
pub(super) fn read_folder(dir: &Path) -> Result<Vec<ShippedCalendar>, String> {
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
