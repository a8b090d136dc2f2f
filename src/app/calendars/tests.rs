//! The calendars as shipped: warnings, export and import round trips.

use std::path::Path;

use chrono::NaiveDate;

use super::files::read_toml;
use super::snapshot::schedule_of;
use super::*;
use crate::domain::calendar::YearStatus;

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
    assert_eq!(w(d(last + 1, 12, 30)), vec![(last + 1, WarningKind::CurrentYearProvisional), (last + 2, WarningKind::NextYearProvisional)]);
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
