//! Working time on China's official calendar (工作日历): office hours with a lunch break, weekends,
//! public holidays and the make-up working days (调休) of each year. A year whose schedule the State
//! Council has published (放假调休安排) is *published*; any other year is *provisional*, computed by
//! the standing rule (Monday to Friday and the statutory holidays whose dates are known in advance),
//! so that a late notice never stops a deadline from being computed. Deadlines are computed here.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The years the standing rule can compute (the range of the lunisolar tables it uses).
pub const STANDING_RULE_YEARS: std::ops::RangeInclusive<i32> = 1902..=2100;

/// The working days of one year, as a bit per day of the year (ordinal 1..=366).
#[derive(Clone, Debug)]
struct YearDays {
    working: [u64; 6],
}

impl YearDays {
    fn build(year: i32, sched: &YearSchedule) -> YearDays {
        let mut working = [0u64; 6];
        let mut d = NaiveDate::from_ymd_opt(year, 1, 1).expect("a year in range");
        while d.year() == year {
            let on = if sched.workdays.contains(&d) {
                true
            } else if sched.holidays.contains(&d) {
                false
            } else {
                !is_weekend(d)
            };
            if on {
                let o = d.ordinal0();
                working[(o / 64) as usize] |= 1 << (o % 64);
            }
            d = d.succ_opt().expect("dates go on");
        }
        YearDays { working }
    }

    fn is_working(&self, ordinal0: u32) -> bool {
        self.working[(ordinal0 / 64) as usize] & (1 << (ordinal0 % 64)) != 0
    }

    fn count(&self) -> u32 {
        self.working.iter().map(|w| w.count_ones()).sum()
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A calendar could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Only outside the years the standing rule covers (1902–2100) and without a stored schedule.
    #[error("calendar `{calendar}` has no data for {year}, and the standing rule covers only 1902–2100")]
    YearNotCovered { calendar: String, year: i32 },
    #[error("invalid calendar: {0}")]
    Invalid(String),
}

/// Whether a year's schedule is the official one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum YearStatus {
    /// The State Council's notice (放假调休安排) has been entered.
    Published,
    /// Not official: the standing rule, or a schedule entered ahead of the notice. Deadlines that
    /// reach into such a year are flagged `provisional` and recomputed when it is published.
    Provisional,
}

impl YearStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            YearStatus::Published => "published",
            YearStatus::Provisional => "provisional",
        }
    }

    pub fn parse(s: &str) -> Option<YearStatus> {
        match s {
            "published" => Some(YearStatus::Published),
            "provisional" => Some(YearStatus::Provisional),
            _ => None,
        }
    }
}

/// One year's schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YearSchedule {
    /// Days off that would otherwise be working days (放假), listed with the weekend days of the
    /// same holiday span as the notice lists them.
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are working days (调休上班).
    pub workdays: Vec<NaiveDate>,
}

/// The statutory holidays (法定节假日) of a year whose dates are known in advance, per the rules
/// in force since 2025: 元旦 1 Jan; 春节 the eve and the first three days of the lunar year;
/// 清明 the day of the Qingming solar term; 劳动节 1–2 May; 端午 lunar 5/5; 中秋 lunar 8/15;
/// 国庆节 1–3 Oct. No make-up working days: those come only with the State Council's notice.
pub fn standing_rule(year: i32) -> Option<YearSchedule> {
    if !STANDING_RULE_YEARS.contains(&year) {
        return None;
    }
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day);
    let lunar =
        |m: u8, day: u8| chinese_lunisolar_calendar::LunisolarDate::from_ymd(year as u16, m, false, day).ok().map(|l| l.to_naive_date());
    let new_year = lunar(1, 1)?;
    let mut holidays = vec![d(1, 1)?, new_year.pred_opt()?, new_year, new_year.succ_opt()?, new_year.succ_opt()?.succ_opt()?];
    holidays.push(qingming(year)?);
    holidays.extend([d(5, 1)?, d(5, 2)?, lunar(5, 5)?, lunar(8, 15)?, d(10, 1)?, d(10, 2)?, d(10, 3)?]);
    holidays.retain(|h| h.year() == year);
    holidays.sort();
    holidays.dedup();
    Some(YearSchedule { holidays, workdays: vec![] })
}

/// The day of the Qingming solar term (清明, about 4–6 April): the common formula for the 21st
/// century (and its 20th-century constant before 2000), exact for the years it is used in here.
fn qingming(year: i32) -> Option<NaiveDate> {
    let (y, c) = if year >= 2000 { (year - 2000, 4.81) } else { (year - 1900, 5.59) };
    let day = ((y as f64) * 0.2422 + c).floor() as i32 - y / 4;
    NaiveDate::from_ymd_opt(year, 4, day.clamp(3, 6) as u32)
}

fn standing_days(year: i32) -> Option<&'static YearDays> {
    static STANDING: OnceLock<HashMap<i32, YearDays>> = OnceLock::new();
    STANDING.get_or_init(|| STANDING_RULE_YEARS.filter_map(|y| standing_rule(y).map(|s| (y, YearDays::build(y, &s)))).collect()).get(&year)
}

/// Why a year's schedule was refused, with the date at fault where there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScheduleProblem {
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
    pub problem: ProblemKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The date does not lie in the year being published.
    OutsideYear,
    /// The date is listed twice.
    ListedTwice,
    /// The date is listed both as a holiday and as a make-up working day.
    HolidayAndWorkday,
    /// A make-up working day (调休上班) must be a Saturday or a Sunday.
    WorkdayNotWeekend,
    /// A weekend day listed as a holiday outside any holiday span: it is off anyway, and most likely
    /// a typo for another date.
    LoneWeekendHoliday,
    /// A published year lists at least its holidays.
    NoHolidays,
    /// The year lies outside 1902–2100.
    YearOutOfRange,
    /// The text is not a date written YYYY-MM-DD.
    NotADate,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::OutsideYear => "outside_year",
            ProblemKind::ListedTwice => "listed_twice",
            ProblemKind::HolidayAndWorkday => "holiday_and_workday",
            ProblemKind::WorkdayNotWeekend => "workday_not_weekend",
            ProblemKind::LoneWeekendHoliday => "lone_weekend_holiday",
            ProblemKind::NoHolidays => "no_holidays",
            ProblemKind::YearOutOfRange => "year_out_of_range",
            ProblemKind::NotADate => "not_a_date",
        })
    }
}

/// Every problem of a year's schedule, in date order; empty when it may be stored.
pub fn check_schedule(year: i32, s: &YearSchedule) -> Vec<ScheduleProblem> {
    let mut problems = vec![];
    let mut at = |date: Option<NaiveDate>, problem| problems.push(ScheduleProblem { date, problem });
    if !STANDING_RULE_YEARS.contains(&year) {
        at(None, ProblemKind::YearOutOfRange);
        return problems;
    }
    if s.holidays.is_empty() {
        at(None, ProblemKind::NoHolidays);
    }
    for list in [&s.holidays, &s.workdays] {
        let mut seen = std::collections::BTreeSet::new();
        for d in list {
            if !seen.insert(*d) {
                at(Some(*d), ProblemKind::ListedTwice);
            }
        }
    }
    let holidays: std::collections::BTreeSet<NaiveDate> = s.holidays.iter().copied().collect();
    for d in &s.holidays {
        if d.year() != year {
            at(Some(*d), ProblemKind::OutsideYear);
        } else if is_weekend(*d) && !in_holiday_span(*d, &holidays) {
            at(Some(*d), ProblemKind::LoneWeekendHoliday);
        }
    }
    for d in &s.workdays {
        if d.year() != year {
            at(Some(*d), ProblemKind::OutsideYear);
        } else if holidays.contains(d) {
            at(Some(*d), ProblemKind::HolidayAndWorkday);
        } else if !is_weekend(*d) {
            at(Some(*d), ProblemKind::WorkdayNotWeekend);
        }
    }
    problems.sort_by_key(|p| (p.date, p.problem as u8));
    problems.dedup();
    problems
}

/// Whether a weekend holiday belongs to a run of listed holidays that takes a weekday off too, or
/// that crosses into the next or the previous year (31 Dec – 2 Jan spans are listed in two years).
fn in_holiday_span(d: NaiveDate, holidays: &std::collections::BTreeSet<NaiveDate>) -> bool {
    let run = |step: fn(NaiveDate) -> Option<NaiveDate>| {
        let mut out = vec![];
        let mut x = d;
        while let Some(n) = step(x).filter(|n| holidays.contains(n)) {
            out.push(n);
            x = n;
        }
        (out, x)
    };
    let (before, first) = run(|x| x.pred_opt());
    let (after, last) = run(|x| x.succ_opt());
    let at_year_edge = (first.month() == 1 && first.day() == 1) || (last.month() == 12 && last.day() == 31);
    at_year_edge || before.iter().chain(&after).any(|x| !is_weekend(*x))
}

/// A named working calendar: its time zone, office hours, and the schedules stored for it.
#[derive(Clone, Debug)]
pub struct WorkCalendar {
    pub name: String,
    pub tz: Tz,
    /// Office hours of a working day as seconds after midnight, sorted and disjoint: [start, end).
    periods: Vec<(u32, u32)>,
    /// Working seconds of a working day.
    day_seconds: i64,
    /// The schedules stored for this calendar; other years follow the standing rule.
    stored: BTreeMap<i32, (YearSchedule, YearStatus, YearDays)>,
}

impl WorkCalendar {
    /// Builds a calendar from office hours (e.g. 08:30–12:00 and 14:00–17:30) and its stored
    /// yearly schedules; years without one are provisional, by the standing rule.
    pub fn new(
        name: &str,
        tz: Tz,
        hours: &[(NaiveTime, NaiveTime)],
        years: &BTreeMap<i32, (YearSchedule, YearStatus)>,
    ) -> Result<Self, CalendarError> {
        let mut periods: Vec<(u32, u32)> = hours.iter().map(|(a, b)| (secs(*a), secs(*b))).collect();
        periods.sort();
        if periods.is_empty() {
            return Err(CalendarError::Invalid("office hours are empty".into()));
        }
        for w in periods.windows(2) {
            if w[0].1 > w[1].0 {
                return Err(CalendarError::Invalid("office hour periods overlap".into()));
            }
        }
        if periods.iter().any(|(a, b)| a >= b) {
            return Err(CalendarError::Invalid("an office hour period ends before it starts".into()));
        }
        let day_seconds = periods.iter().map(|(a, b)| (b - a) as i64).sum();
        let mut stored = BTreeMap::new();
        for (year, (sched, status)) in years {
            if NaiveDate::from_ymd_opt(*year, 1, 1).is_none() {
                return Err(CalendarError::Invalid(format!("year {year}")));
            }
            for day in sched.holidays.iter().chain(&sched.workdays) {
                if day.year() != *year {
                    return Err(CalendarError::Invalid(format!("{day} is listed under {year}")));
                }
            }
            stored.insert(*year, (sched.clone(), *status, YearDays::build(*year, sched)));
        }
        Ok(WorkCalendar { name: name.into(), tz, periods, day_seconds, stored })
    }

    /// Working seconds in one working day (one "working day" of a limit).
    pub fn day_seconds(&self) -> i64 {
        self.day_seconds
    }

    /// Office hours as "HH:MM" pairs.
    pub fn office_hours(&self) -> Vec<(String, String)> {
        let hm = |s: u32| format!("{:02}:{:02}", s / 3600, s % 3600 / 60);
        self.periods.iter().map(|(a, b)| (hm(*a), hm(*b))).collect()
    }

    /// The years with a stored schedule.
    pub fn stored_years(&self) -> Vec<i32> {
        self.stored.keys().copied().collect()
    }

    /// Whether the year's official schedule is in.
    pub fn status(&self, year: i32) -> YearStatus {
        match self.stored.get(&year) {
            Some((_, status, _)) => *status,
            None => YearStatus::Provisional,
        }
    }

    /// The year's schedule as the calendar uses it: the stored one, or the standing rule's.
    pub fn schedule(&self, year: i32) -> Option<(YearSchedule, YearStatus)> {
        match self.stored.get(&year) {
            Some((s, status, _)) => Some((s.clone(), *status)),
            None => standing_rule(year).map(|s| (s, YearStatus::Provisional)),
        }
    }

    /// The number of working days in a year.
    pub fn working_days_in(&self, year: i32) -> Result<u32, CalendarError> {
        Ok(self.days(year)?.count())
    }

    fn days(&self, year: i32) -> Result<&YearDays, CalendarError> {
        match self.stored.get(&year) {
            Some((_, _, days)) => Ok(days),
            None => standing_days(year).ok_or_else(|| CalendarError::YearNotCovered { calendar: self.name.clone(), year }),
        }
    }

    /// Is this local date a working day?
    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.days(d.year())?.is_working(d.ordinal0()))
    }

    /// Whether a span of time (UTC instants, as stored) touches a year that is not published:
    /// a deadline computed across it is provisional.
    pub fn provisional_between(&self, from: NaiveDateTime, to: NaiveDateTime) -> bool {
        let (a, b) = (self.to_local(from.min(to)).year(), self.to_local(from.max(to)).year());
        (a..=b).any(|y| self.status(y) == YearStatus::Provisional)
    }

    /// A local year as UTC instants (as stored): `[first instant, first instant of the next year)`.
    pub fn year_bounds(&self, year: i32) -> (NaiveDateTime, NaiveDateTime) {
        let start = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).map(|d| self.to_utc(d.and_time(NaiveTime::MIN)));
        let lo = start(year).unwrap_or(NaiveDateTime::MIN);
        let hi = start(year + 1).unwrap_or(NaiveDateTime::MAX);
        (lo, hi)
    }

    fn to_local(&self, t: NaiveDateTime) -> NaiveDateTime {
        Utc.from_utc_datetime(&t).with_timezone(&self.tz).naive_local()
    }

    fn to_utc(&self, local: NaiveDateTime) -> NaiveDateTime {
        // China has had no daylight saving time since 1991, so every local time maps to one instant;
        // the earliest is taken should a zone with gaps ever be configured.
        match self.tz.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc).naive_utc(),
            None => local - Duration::hours(8),
        }
    }

    /// The instant `seconds` of working time after `start` (UTC, as stored). Starting outside office
    /// hours counts from the next working instant; the result always lies in working time (a
    /// period's end counts as inside it).
    pub fn add_working(&self, start: NaiveDateTime, seconds: i64) -> Result<NaiveDateTime, CalendarError> {
        // Working time is counted in whole seconds: a start inside a second counts from its end.
        let mut local = self.to_local(start);
        if local.nanosecond() > 0 {
            local = local.with_nanosecond(0).expect("zero nanoseconds") + Duration::seconds(1);
        }
        let mut day = local.date();
        let mut at = local.time().num_seconds_from_midnight();
        let mut remaining = seconds.max(0);
        loop {
            if self.is_working_day(day)? {
                // A whole working day fits: skip it without walking its periods.
                if at <= self.periods[0].0 && remaining > self.day_seconds {
                    remaining -= self.day_seconds;
                } else {
                    for &(a, b) in &self.periods {
                        if at >= b {
                            continue;
                        }
                        let from = at.max(a);
                        let available = (b - from) as i64;
                        if remaining <= available {
                            let t = day.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(from as i64 + remaining);
                            return Ok(self.to_utc(t));
                        }
                        remaining -= available;
                        at = b;
                    }
                }
            }
            day = day.succ_opt().expect("dates go on");
            at = 0;
        }
    }

    /// Working seconds between two instants (0 when `to` is not after `from`).
    pub fn working_between(&self, from: NaiveDateTime, to: NaiveDateTime) -> Result<i64, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        let (lf, lt) = (self.to_local(from), self.to_local(to));
        let mut total = 0i64;
        let mut day = lf.date();
        while day <= lt.date() {
            if self.is_working_day(day)? {
                let lo = if day == lf.date() { lf.time().num_seconds_from_midnight() } else { 0 };
                let hi = if day == lt.date() { lt.time().num_seconds_from_midnight() } else { 86_400 };
                for &(a, b) in &self.periods {
                    let (s, e) = (a.max(lo), b.min(hi));
                    if e > s {
                        total += (e - s) as i64;
                    }
                }
            }
            day = day.succ_opt().expect("dates go on");
        }
        Ok(total)
    }

    /// Quiet hours (免打扰): `None` while the working day is on (from its first office period's
    /// start to its last one's end, the lunch break included); otherwise the instant the next one
    /// starts — the next working morning, over weekends and holidays.
    pub fn quiet_until(&self, t: NaiveDateTime) -> Result<Option<NaiveDateTime>, CalendarError> {
        let l = self.to_local(t);
        let s = l.time().num_seconds_from_midnight();
        let (first, last) = (self.periods[0].0, self.periods[self.periods.len() - 1].1);
        if self.is_working_day(l.date())? && s >= first && s < last {
            return Ok(None);
        }
        Ok(Some(self.add_working(t, 0)?))
    }

    /// The next working morning (the first office period's start) after `t`: today's when `t` is
    /// before it on a working day, else the next working day's — when the daily digest (每日摘要)
    /// goes.
    pub fn next_working_morning(&self, t: NaiveDateTime) -> Result<NaiveDateTime, CalendarError> {
        let l = self.to_local(t);
        let first = self.periods[0].0;
        if self.is_working_day(l.date())? && l.time().num_seconds_from_midnight() < first {
            return Ok(self.to_utc(l.date().and_time(NaiveTime::MIN) + Duration::seconds(first as i64)));
        }
        let tomorrow = l.date().succ_opt().expect("dates go on").and_time(NaiveTime::MIN);
        self.add_working(self.to_utc(tomorrow), 0)
    }

    /// Is this instant inside office hours of a working day (period ends included)?
    pub fn is_working_instant(&self, t: NaiveDateTime) -> Result<bool, CalendarError> {
        let l = self.to_local(t);
        if !self.is_working_day(l.date())? {
            return Ok(false);
        }
        let s = l.time().num_seconds_from_midnight();
        let exact = l.time().nanosecond() == 0;
        Ok(self.periods.iter().any(|&(a, b)| s >= a && (s < b || (s == b && exact))))
    }
}

fn secs(t: NaiveTime) -> u32 {
    t.num_seconds_from_midnight()
}

/// The office hours most government offices keep: 08:30–12:00 and 14:00–17:30.
pub fn standard_hours() -> Vec<(NaiveTime, NaiveTime)> {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid time");
    vec![(t(8, 30), t(12, 0)), (t(14, 0), t(17, 30))]
}

/// 2026 per the State Council notice of 2025-11-04 (DOMAIN.md).
pub fn china_2026() -> YearSchedule {
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("valid date");
    let span = |m, a, b| (a..=b).map(move |day| d(m, day));
    YearSchedule {
        holidays: span(1, 1, 3)
            .chain(span(2, 15, 23))
            .chain(span(4, 4, 6))
            .chain(span(5, 1, 5))
            .chain(span(6, 19, 21))
            .chain(span(9, 25, 27))
            .chain(span(10, 1, 7))
            .collect(),
        workdays: vec![d(1, 4), d(2, 14), d(2, 28), d(5, 9), d(9, 20), d(10, 10)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cal() -> WorkCalendar {
        let mut years = BTreeMap::new();
        years.insert(2026, (china_2026(), YearStatus::Published));
        WorkCalendar::new("cn", chrono_tz::Asia::Shanghai, &standard_hours(), &years).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Local China time → stored UTC.
    fn cn(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap() - Duration::hours(8)
    }

    #[test]
    fn quiet_hours_end_on_the_next_working_morning_over_weekends_and_holidays() {
        let c = cal();
        // Friday evening → Monday 08:30.
        assert_eq!(c.quiet_until(cn(2026, 12, 4, 18, 0)).unwrap(), Some(cn(2026, 12, 7, 8, 30)));
        // Early on a working day → its own 08:30; the lunch break is not quiet.
        assert_eq!(c.quiet_until(cn(2026, 12, 7, 6, 0)).unwrap(), Some(cn(2026, 12, 7, 8, 30)));
        assert_eq!(c.quiet_until(cn(2026, 12, 7, 12, 30)).unwrap(), None);
        assert_eq!(c.quiet_until(cn(2026, 12, 7, 17, 29)).unwrap(), None);
        // National Day (Oct 1–7) → Thursday Oct 8; Saturday Oct 10 is a make-up working day.
        assert_eq!(c.quiet_until(cn(2026, 10, 1, 10, 0)).unwrap(), Some(cn(2026, 10, 8, 8, 30)));
        assert_eq!(c.quiet_until(cn(2026, 10, 9, 20, 0)).unwrap(), Some(cn(2026, 10, 10, 8, 30)));
    }

    #[test]
    fn the_digest_goes_the_next_working_morning_never_twice_a_day() {
        let c = cal();
        // Before the day starts → that morning; during it or after → the next working one.
        assert_eq!(c.next_working_morning(cn(2026, 12, 7, 6, 0)).unwrap(), cn(2026, 12, 7, 8, 30));
        assert_eq!(c.next_working_morning(cn(2026, 12, 7, 8, 30)).unwrap(), cn(2026, 12, 8, 8, 30));
        assert_eq!(c.next_working_morning(cn(2026, 12, 7, 10, 0)).unwrap(), cn(2026, 12, 8, 8, 30));
        // Friday → Monday; National Day → the 8th.
        assert_eq!(c.next_working_morning(cn(2026, 12, 4, 10, 0)).unwrap(), cn(2026, 12, 7, 8, 30));
        assert_eq!(c.next_working_morning(cn(2026, 9, 30, 10, 0)).unwrap(), cn(2026, 10, 8, 8, 30));
    }

    #[test]
    fn the_2026_schedule_has_its_holidays_and_make_up_days() {
        let c = cal();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(!c.is_working_day(d(1, 1)).unwrap());
        assert!(c.is_working_day(d(1, 4)).unwrap(), "Sunday Jan 4 is a make-up working day");
        assert!(c.is_working_day(d(2, 14)).unwrap(), "Saturday Feb 14 works");
        assert!(!c.is_working_day(d(2, 16)).unwrap(), "Spring Festival");
        assert!(!c.is_working_day(d(11, 28)).unwrap(), "an ordinary Saturday");
        assert!(c.is_working_day(d(11, 26)).unwrap());
        // 2027 has no stored schedule: the standing rule answers, and says so.
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()).unwrap());
        assert_eq!(c.status(2026), YearStatus::Published);
        assert_eq!(c.status(2027), YearStatus::Provisional);
    }

    #[test]
    fn the_standing_rule_knows_the_statutory_holidays_and_nothing_more() {
        // Checked against the published 2026 schedule: every statutory day of the standing rule
        // is a day off in the notice (the notice adds bridge days and make-up days on top).
        let rule = standing_rule(2026).unwrap();
        let official = china_2026();
        for h in &rule.holidays {
            assert!(official.holidays.contains(h), "{h} is a statutory holiday of 2026 by the rule but not in the notice");
        }
        let expected_2026 = [
            d(2026, 1, 1),
            d(2026, 2, 16), // 除夕
            d(2026, 2, 17), // 春节
            d(2026, 2, 18),
            d(2026, 2, 19),
            d(2026, 4, 5), // 清明
            d(2026, 5, 1),
            d(2026, 5, 2),
            d(2026, 6, 19), // 端午
            d(2026, 9, 25), // 中秋
            d(2026, 10, 1),
            d(2026, 10, 2),
            d(2026, 10, 3),
        ];
        assert_eq!(rule.holidays, expected_2026);
        assert!(rule.workdays.is_empty(), "make-up days come only with the notice");
        // 2027: 春节 on 6 Feb (eve 5 Feb), 清明 5 Apr, 端午 9 Jun, 中秋 15 Sep.
        let r27 = standing_rule(2027).unwrap().holidays;
        for day in [d(2027, 1, 1), d(2027, 2, 5), d(2027, 2, 8), d(2027, 4, 5), d(2027, 6, 9), d(2027, 9, 15), d(2027, 10, 3)] {
            assert!(r27.contains(&day), "{day} missing from the 2027 standing rule: {r27:?}");
        }
        // 清明 by the formula, against the known dates.
        for (y, day) in [(2024, 4), (2025, 4), (2026, 5), (2027, 5), (2028, 4), (2029, 4), (2030, 5)] {
            assert_eq!(qingming(y), Some(d(y, 4, day)), "清明 {y}");
        }
        assert!(standing_rule(2101).is_none());
    }

    #[test]
    fn a_provisional_year_counts_mondays_to_fridays_without_its_statutory_holidays() {
        let c = cal();
        assert!(!c.is_working_day(d(2027, 1, 1)).unwrap(), "元旦");
        assert!(!c.is_working_day(d(2027, 1, 2)).unwrap(), "a Saturday");
        assert!(c.is_working_day(d(2027, 1, 4)).unwrap(), "a Monday");
        assert!(!c.is_working_day(d(2027, 2, 8)).unwrap(), "初三 of the Spring Festival (a Monday)");
        assert!(c.is_working_day(d(2027, 2, 9)).unwrap(), "the Tuesday after: no bridge days without the notice");
        // 2027 has 261 weekdays, of which 10 are statutory holidays (1 Jan, 5 Feb, 8 Feb, 5 Apr, 3 May is not one: 1–2 May fall on a weekend, 9 Jun, 15 Sep, 1 Oct).
        let weekdays = (0..365).map(|i| d(2027, 1, 1) + Duration::days(i)).filter(|x| !is_weekend(*x)).count() as u32;
        let statutory_on_weekdays = standing_rule(2027).unwrap().holidays.iter().filter(|x| !is_weekend(**x)).count() as u32;
        assert_eq!(c.working_days_in(2027).unwrap(), weekdays - statutory_on_weekdays);
        // A deadline reaching into 2027 is provisional; one inside 2026 is not.
        assert!(c.provisional_between(cn(2026, 12, 31, 17, 0), cn(2027, 1, 4, 9, 0)));
        assert!(!c.provisional_between(cn(2026, 12, 1, 9, 0), cn(2026, 12, 31, 17, 0)));
    }

    #[test]
    fn a_schedule_is_checked_date_by_date() {
        let ok = YearSchedule { holidays: vec![d(2027, 1, 1), d(2027, 1, 2), d(2027, 1, 3)], workdays: vec![d(2027, 2, 20)] };
        assert_eq!(check_schedule(2027, &ok), vec![]);
        let bad = YearSchedule {
            // 2026-12-31 belongs to another year; 2027-03-06 is a lone Saturday; 1 Jan twice.
            holidays: vec![d(2027, 1, 1), d(2027, 1, 1), d(2026, 12, 31), d(2027, 3, 6)],
            // a Wednesday, and a day that is also a holiday
            workdays: vec![d(2027, 3, 10), d(2027, 1, 1)],
        };
        let problems: Vec<(Option<NaiveDate>, ProblemKind)> = check_schedule(2027, &bad).into_iter().map(|p| (p.date, p.problem)).collect();
        assert_eq!(
            problems,
            vec![
                (Some(d(2026, 12, 31)), ProblemKind::OutsideYear),
                (Some(d(2027, 1, 1)), ProblemKind::ListedTwice),
                (Some(d(2027, 1, 1)), ProblemKind::HolidayAndWorkday),
                (Some(d(2027, 3, 6)), ProblemKind::LoneWeekendHoliday),
                (Some(d(2027, 3, 10)), ProblemKind::WorkdayNotWeekend),
            ]
        );
        // A span across New Year is listed in two years: its weekend end in December is fine.
        let edge = YearSchedule { holidays: vec![d(2022, 12, 31)], workdays: vec![] };
        assert_eq!(check_schedule(2022, &edge), vec![]);
        assert_eq!(check_schedule(2027, &YearSchedule::default())[0].problem, ProblemKind::NoHolidays);
        assert_eq!(check_schedule(2200, &ok)[0].problem, ProblemKind::YearOutOfRange);
        // The shipped 2026 schedule passes.
        assert_eq!(check_schedule(2026, &china_2026()), vec![]);
    }

    #[test]
    fn deadlines_skip_lunch_nights_weekends_and_holidays() {
        let c = cal();
        // Thursday 11:00 + 2 h: one hour before lunch, one after → 15:00.
        assert_eq!(c.add_working(cn(2026, 11, 26, 11, 0), 7200).unwrap(), cn(2026, 11, 26, 15, 0));
        // Friday 17:00 + 1 h: 30 min on Friday, 30 on Monday → Mon 09:00.
        assert_eq!(c.add_working(cn(2026, 11, 27, 17, 0), 3600).unwrap(), cn(2026, 11, 30, 9, 0));
        // Before National Day: Wed Sep 30 17:00 + 1 h → Oct 8 (Thursday) 09:00.
        assert_eq!(c.add_working(cn(2026, 9, 30, 17, 0), 3600).unwrap(), cn(2026, 10, 8, 9, 0));
        // Friday Oct 9 17:00 + 1 h → Saturday Oct 10, a make-up working day, 09:00.
        assert_eq!(c.add_working(cn(2026, 10, 9, 17, 0), 3600).unwrap(), cn(2026, 10, 10, 9, 0));
        // Starting at night counts from the next morning.
        assert_eq!(c.add_working(cn(2026, 11, 26, 22, 0), 1800).unwrap(), cn(2026, 11, 27, 9, 0));
        // Three working days from Thursday morning.
        assert_eq!(c.add_working(cn(2026, 11, 26, 8, 30), 3 * 7 * 3600).unwrap(), cn(2026, 11, 30, 17, 30));
        // Into a year without a published schedule: the standing rule (1 Jan off, 2–3 Jan a weekend).
        assert_eq!(c.add_working(cn(2026, 12, 31, 17, 0), 3600).unwrap(), cn(2027, 1, 4, 9, 0));
    }

    fn instant() -> impl Strategy<Value = NaiveDateTime> {
        // Any second from Jan 1 to Nov 30 2026, so that five working days stay inside 2026.
        (0i64..(334 * 86_400)).prop_map(|s| cn(2026, 1, 1, 0, 0) + Duration::seconds(s))
    }

    proptest! {
        #[test]
        fn adding_and_measuring_round_trip(start in instant(), secs in 0i64..(5 * 7 * 3600)) {
            let c = cal();
            let due = c.add_working(start, secs).unwrap();
            prop_assert_eq!(c.working_between(start, due).unwrap(), secs);
        }

        #[test]
        fn a_deadline_never_falls_in_non_working_time(start in instant(), secs in 1i64..(5 * 7 * 3600)) {
            let c = cal();
            let due = c.add_working(start, secs).unwrap();
            prop_assert!(c.is_working_instant(due).unwrap(), "{due} is not working time");
        }

        #[test]
        fn deadlines_are_monotonic(a in instant(), gap in 0i64..86_400 * 3, s1 in 0i64..(3 * 7 * 3600), more in 0i64..7 * 3600) {
            let c = cal();
            let b = a + Duration::seconds(gap);
            prop_assert!(c.add_working(a, s1).unwrap() <= c.add_working(a, s1 + more).unwrap());
            prop_assert!(c.add_working(a, s1).unwrap() <= c.add_working(b, s1).unwrap());
        }
    }
}
