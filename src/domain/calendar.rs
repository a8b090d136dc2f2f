//! Working time on China's official calendar (工作日历): office hours with a lunch break, weekends,
//! public holidays and the make-up working days (调休) of each year. Deadlines in working time are
//! computed here; a year the calendar does not cover is an error, never a silent fall-back.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// The working days of one year, as a bit per day of the year (ordinal 1..=366).
#[derive(Clone, Debug)]
struct YearDays {
    working: [u64; 6],
}

impl YearDays {
    fn is_working(&self, ordinal0: u32) -> bool {
        self.working[(ordinal0 / 64) as usize] & (1 << (ordinal0 % 64)) != 0
    }
}

/// A calendar could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar `{calendar}` has no data for {year}: add config/calendars/{calendar}/{year}.toml with that year's holidays and make-up working days")]
    YearNotCovered { calendar: String, year: i32 },
    #[error("invalid calendar: {0}")]
    Invalid(String),
}

/// One year's official schedule.
#[derive(Clone, Debug, Default)]
pub struct YearSchedule {
    /// Days off that would otherwise be working days (放假).
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are working days (调休上班).
    pub workdays: Vec<NaiveDate>,
}

/// A named working calendar.
#[derive(Clone, Debug)]
pub struct WorkCalendar {
    pub name: String,
    pub tz: Tz,
    /// Office hours of a working day as seconds after midnight, sorted and disjoint: [start, end).
    periods: Vec<(u32, u32)>,
    /// Working seconds of a working day.
    day_seconds: i64,
    years: BTreeMap<i32, YearDays>,
}

impl WorkCalendar {
    /// Builds a calendar from office hours (e.g. 08:30–12:00 and 14:00–17:30) and yearly schedules.
    pub fn new(name: &str, tz: Tz, hours: &[(NaiveTime, NaiveTime)], years: &BTreeMap<i32, YearSchedule>) -> Result<Self, CalendarError> {
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
        let mut built = BTreeMap::new();
        for (year, sched) in years {
            let mut working = [0u64; 6];
            let first = NaiveDate::from_ymd_opt(*year, 1, 1).ok_or_else(|| CalendarError::Invalid(format!("year {year}")))?;
            let mut d = first;
            while d.year() == *year {
                let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
                let on = if sched.workdays.contains(&d) {
                    true
                } else if sched.holidays.contains(&d) {
                    false
                } else {
                    !weekend
                };
                if on {
                    let o = d.ordinal0();
                    working[(o / 64) as usize] |= 1 << (o % 64);
                }
                d = d.succ_opt().expect("dates go on");
            }
            for day in sched.holidays.iter().chain(&sched.workdays) {
                if day.year() != *year {
                    return Err(CalendarError::Invalid(format!("{day} is listed under {year}")));
                }
            }
            built.insert(*year, YearDays { working });
        }
        Ok(WorkCalendar { name: name.into(), tz, periods, day_seconds, years: built })
    }

    /// Working seconds in one working day (one "working day" of a limit).
    pub fn day_seconds(&self) -> i64 {
        self.day_seconds
    }

    /// The years this calendar covers.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// Is this local date a working day?
    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool, CalendarError> {
        let y = self.years.get(&d.year()).ok_or_else(|| CalendarError::YearNotCovered { calendar: self.name.clone(), year: d.year() })?;
        Ok(y.is_working(d.ordinal0()))
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
        years.insert(2026, china_2026());
        WorkCalendar::new("cn", chrono_tz::Asia::Shanghai, &standard_hours(), &years).unwrap()
    }

    /// Local China time → stored UTC.
    fn cn(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap() - Duration::hours(8)
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
        assert!(matches!(
            c.is_working_day(NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()),
            Err(CalendarError::YearNotCovered { year: 2027, .. })
        ));
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
        // Into a year without a calendar: a clear error.
        assert!(matches!(c.add_working(cn(2026, 12, 31, 17, 0), 3600), Err(CalendarError::YearNotCovered { year: 2027, .. })));
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
