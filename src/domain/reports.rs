//! Rankings (三率排名): the reporting period in China days, the measures and their ratios, the
//! weighted score and the ranking within a peer group with red and yellow lists (红榜/黄榜).
//! Pure arithmetic over facts the app layer read from the clock and audit history.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde::{Deserialize, Serialize};

use super::calendar::STANDING_RULE_YEARS;
use super::text::Msg;

/// A reporting period: whole China days, `first` to `last` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub kind: PeriodKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
    /// `from`–`to`, any days.
    Range,
}

/// Why a period was refused: the query field at fault and the message.
pub type PeriodError = (&'static str, Msg);

impl Period {
    /// Reads `2026-10` (a month), `2026-Q4` (a quarter) or `2026` (a year).
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let bad = || ("period", crate::msg!("rule-report_period_form", text = text, quarter = "2026-Q4"));
        let t = text.trim();
        let year_of = |y: &str| -> Result<i32, PeriodError> {
            let year: i32 =
                if y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()) { y.parse().map_err(|_| bad())? } else { return Err(bad()) };
            if STANDING_RULE_YEARS.contains(&year) {
                Ok(year)
            } else {
                let (first, last) = (*STANDING_RULE_YEARS.start(), *STANDING_RULE_YEARS.end());
                Err(("period", crate::msg!("rule-calendar_years", first = first, last = last)))
            }
        };
        let date = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad);
        match t.split_once('-') {
            None => {
                let y = year_of(t)?;
                Ok(Period { first: date(y, 1)?, last: date(y + 1, 1)? - Duration::days(1), kind: PeriodKind::Year })
            }
            Some((y, q)) if q.starts_with('Q') || q.starts_with('q') => {
                let y = year_of(y)?;
                let n: u32 = match &q[1..] {
                    "1" => 1,
                    "2" => 2,
                    "3" => 3,
                    "4" => 4,
                    _ => return Err(bad()),
                };
                let first = date(y, 3 * n - 2)?;
                let next = if n == 4 { date(y + 1, 1)? } else { date(y, 3 * n + 1)? };
                Ok(Period { first, last: next - Duration::days(1), kind: PeriodKind::Quarter })
            }
            Some((y, m)) => {
                let y = year_of(y)?;
                if m.len() != 2 || !m.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                let m: u32 = m.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&m) {
                    return Err(bad());
                }
                let first = date(y, m)?;
                let next = if m == 12 { date(y + 1, 1)? } else { date(y, m + 1)? };
                Ok(Period { first, last: next - Duration::days(1), kind: PeriodKind::Month })
            }
        }
    }

    /// `from`–`to` (China days, both included), at most `max_days` days long.
    pub fn range(from: NaiveDate, to: NaiveDate, max_days: i64) -> Result<Period, PeriodError> {
        for (field, d) in [("from", from), ("to", to)] {
            if !STANDING_RULE_YEARS.contains(&d.year()) {
                let (first, last) = (*STANDING_RULE_YEARS.start(), *STANDING_RULE_YEARS.end());
                return Err((field, crate::msg!("rule-calendar_years", first = first, last = last)));
            }
        }
        if from > to {
            return Err(("from", crate::msg!("rule-not_after", other = "to")));
        }
        if (to - from).num_days() + 1 > max_days {
            return Err(("to", crate::msg!("rule-report_range_too_long", days = max_days)));
        }
        Ok(Period { first: from, last: to, kind: PeriodKind::Range })
    }

    /// The calendar month before the one `today` lies in (the default period).
    pub fn month_before(today: NaiveDate) -> Period {
        let first_of_this = today.with_day(1).unwrap_or(today);
        let last = first_of_this - Duration::days(1);
        Period { first: last.with_day(1).unwrap_or(last), last, kind: PeriodKind::Month }
    }

    /// The period as the query names it: `2026-10`, `2026-Q4`, `2026`, or `2026-10-01..2026-10-15`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Month => format!("{}-{:02}", self.first.year(), self.first.month()),
            PeriodKind::Quarter => format!("{}-Q{}", self.first.year(), self.first.month().div_ceil(3)),
            PeriodKind::Year => format!("{}", self.first.year()),
            PeriodKind::Range => format!("{}..{}", self.first, self.last),
        }
    }

    /// The query string that names this period again (for drill-down links).
    pub fn query(&self) -> String {
        match self.kind {
            PeriodKind::Range => format!("from={}&to={}", self.first, self.last),
            _ => format!("period={}", self.label()),
        }
    }

    /// The period as UTC instants: from the first day's local midnight (included) to the
    /// midnight after the last day (excluded), in `tz`.
    pub fn window<Tz: TimeZone>(&self, tz: &Tz) -> (NaiveDateTime, NaiveDateTime) {
        let utc = |d: NaiveDate| {
            let local = d.and_time(NaiveTime::MIN);
            tz.from_local_datetime(&local).earliest().map(|t| t.naive_utc()).unwrap_or(local)
        };
        (utc(self.first), utc(self.last + Duration::days(1)))
    }
}

/// One figure behind a ranking, named in the drill-down (`measure=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// 响应率: response clocks ended by their deadline / response clocks judged.
    Response,
    /// 解决率: resolution clocks ended by a resolution by their deadline / resolution clocks judged.
    Resolution,
    /// 满意率: satisfied or basically satisfied return visits / return visits done.
    Satisfaction,
    /// Tickets the unit held a clock of in the period (受理量).
    Volume,
    /// Judged clocks (response and resolution) that ended by their deadline (按时).
    OnTime,
    /// Judged clocks that ended late or are past their deadline (超期).
    Overdue,
    /// 回退率: department parts returned / dispatched.
    Returns,
    /// 重办率: return visits not satisfied (the case reopened) / resolutions.
    Reopens,
    /// 延期: extension requests granted / made.
    Extensions,
    /// Tickets still held at the period's end (期末未办结).
    OpenAtEnd,
}

impl Measure {
    pub const ALL: [Measure; 10] = [
        Measure::Response,
        Measure::Resolution,
        Measure::Satisfaction,
        Measure::Volume,
        Measure::OnTime,
        Measure::Overdue,
        Measure::Returns,
        Measure::Reopens,
        Measure::Extensions,
        Measure::OpenAtEnd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Response => "response",
            Measure::Resolution => "resolution",
            Measure::Satisfaction => "satisfaction",
            Measure::Volume => "volume",
            Measure::OnTime => "on_time",
            Measure::Overdue => "overdue",
            Measure::Returns => "returns",
            Measure::Reopens => "reopens",
            Measure::Extensions => "extensions",
            Measure::OpenAtEnd => "open_at_end",
        }
    }
}

/// A figure as numerator over denominator; the rate is absent when nothing was counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ratio {
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator, 0–1, rounded to four decimals; null when the denominator is 0.
    pub rate: Option<f64>,
}

impl Ratio {
    pub fn of(numerator: i64, denominator: i64) -> Ratio {
        let rate = (denominator > 0).then(|| (numerator as f64 / denominator as f64 * 10_000.0).round() / 10_000.0);
        Ratio { numerator, denominator, rate }
    }
}

/// The weights of the score and the threshold below which a rate flags a unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scoring {
    pub response: f64,
    pub resolution: f64,
    pub satisfaction: f64,
    /// A rate below this (0–1) flags the unit.
    pub threshold: f64,
}

/// The score of the three rates, 0–100 with two decimals: the weighted mean of the rates that
/// have a denominator (a rate with nothing to count neither helps nor hurts); `None` when none has.
pub fn score(s: &Scoring, response: &Ratio, resolution: &Ratio, satisfaction: &Ratio) -> Option<f64> {
    // From the exact fractions, not the rounded rates.
    let exact = |r: &Ratio| (r.denominator > 0).then(|| r.numerator as f64 / r.denominator as f64);
    let parts = [(s.response, exact(response)), (s.resolution, exact(resolution)), (s.satisfaction, exact(satisfaction))];
    let weight: f64 = parts.iter().filter(|(_, r)| r.is_some()).map(|(w, _)| w).sum();
    if weight <= 0.0 {
        return None;
    }
    let sum: f64 = parts.iter().filter_map(|(w, r)| r.map(|r| w * r)).sum();
    Some((sum / weight * 100.0 * 100.0).round() / 100.0)
}

/// The measures among the three rates that fall below the threshold.
pub fn flags(s: &Scoring, response: &Ratio, resolution: &Ratio, satisfaction: &Ratio) -> Vec<Measure> {
    [(Measure::Response, response), (Measure::Resolution, resolution), (Measure::Satisfaction, satisfaction)]
        .into_iter()
        .filter(|(_, r)| r.rate.is_some_and(|v| v < s.threshold))
        .map(|(m, _)| m)
        .collect()
}

/// Competition ranks ("1, 1, 3") of scores, highest first; `None` scores get no rank. Scores are
/// compared in hundredths, so that equal figures always tie.
pub fn ranks(scores: &[Option<f64>]) -> Vec<Option<usize>> {
    let key = |s: f64| (s * 100.0).round() as i64;
    scores.iter().map(|s| s.map(|s| 1 + scores.iter().flatten().filter(|o| key(**o) > key(s)).count())).collect()
}

/// The red list (红榜, the best) and the yellow list (黄榜, the worst) of one peer group: indexes
/// into `ranks`. The red list holds the ranked units whose rank is at most `n`; the yellow list
/// the ranked units whose rank is among the last `n` places counted from the bottom, ties
/// included, except those already on the red list.
pub fn lists(ranks: &[Option<usize>], n: usize) -> (Vec<usize>, Vec<usize>) {
    let ranked: Vec<(usize, usize)> = ranks.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).collect();
    let mut red: Vec<usize> = ranked.iter().filter(|(_, r)| *r <= n).map(|(i, _)| *i).collect();
    red.sort_by_key(|i| ranks[*i]);
    // Among the last `n` places: fewer than `n` are strictly worse.
    let mut yellow: Vec<usize> = ranked
        .iter()
        .filter(|(_, r)| ranked.iter().filter(|(_, o)| o > r).count() < n)
        .map(|(i, _)| *i)
        .filter(|i| !red.contains(i))
        .collect();
    yellow.sort_by_key(|i| std::cmp::Reverse(ranks[*i]));
    (red, yellow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_read_as_offices_write_them() {
        assert_eq!(Period::parse("2026-10").map(|p| (p.first, p.last)), Ok((d(2026, 10, 1), d(2026, 10, 31))));
        assert_eq!(Period::parse("2026-02").map(|p| p.last), Ok(d(2026, 2, 28)));
        assert_eq!(Period::parse("2026-Q4").map(|p| (p.first, p.last)), Ok((d(2026, 10, 1), d(2026, 12, 31))));
        assert_eq!(Period::parse("2026-Q1").map(|p| (p.first, p.last)), Ok((d(2026, 1, 1), d(2026, 3, 31))));
        assert_eq!(Period::parse("2026").map(|p| (p.first, p.last)), Ok((d(2026, 1, 1), d(2026, 12, 31))));
        for bad in ["2026-13", "2026-Q5", "26-10", "2026-1", "October", "", "2026-10-01", "1800"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        for text in ["2026-10", "2026-Q4", "2026"] {
            assert_eq!(Period::parse(text).unwrap().label(), text);
        }
    }

    #[test]
    fn a_range_is_ordered_and_bounded() {
        assert!(Period::range(d(2026, 10, 1), d(2026, 10, 31), 366).is_ok());
        assert_eq!(Period::range(d(2026, 10, 2), d(2026, 10, 1), 366).unwrap_err().0, "from");
        assert!(Period::range(d(2026, 1, 1), d(2027, 1, 1), 366).is_ok(), "366 days");
        assert_eq!(Period::range(d(2026, 1, 1), d(2027, 1, 2), 366).unwrap_err().0, "to");
        assert!(Period::range(d(2026, 1, 1), d(2026, 12, 31), 365).is_ok());
    }

    #[test]
    fn the_default_period_is_last_month_and_windows_are_china_days() {
        let p = Period::month_before(d(2026, 1, 15));
        assert_eq!((p.first, p.last), (d(2025, 12, 1), d(2025, 12, 31)));
        let (start, end) = Period::parse("2026-10").unwrap().window(&chrono_tz::Asia::Shanghai);
        assert_eq!(start, d(2026, 9, 30).and_hms_opt(16, 0, 0).unwrap());
        assert_eq!(end, d(2026, 10, 31).and_hms_opt(16, 0, 0).unwrap());
    }

    #[test]
    fn the_score_weighs_the_rates_that_have_a_denominator() {
        let s = Scoring { response: 30.0, resolution: 35.0, satisfaction: 35.0, threshold: 0.7 };
        let (full, half, none) = (Ratio::of(2, 2), Ratio::of(1, 2), Ratio::of(0, 0));
        assert_eq!(score(&s, &full, &half, &full), Some(82.5));
        assert_eq!(score(&s, &full, &none, &none), Some(100.0));
        assert_eq!(score(&s, &none, &none, &none), None);
        assert_eq!(flags(&s, &full, &half, &none), vec![Measure::Resolution]);
        assert_eq!(Ratio::of(2, 3).rate, Some(0.6667));
    }

    #[test]
    fn ties_share_a_rank_and_the_lists_take_the_ends() {
        let r = ranks(&[Some(90.0), Some(80.0), Some(90.0), None, Some(50.0)]);
        assert_eq!(r, vec![Some(1), Some(3), Some(1), None, Some(4)]);
        let (red, yellow) = lists(&r, 1);
        assert_eq!((red, yellow), (vec![0, 2], vec![4]));
        let (red, yellow) = lists(&r, 3);
        assert_eq!((red, yellow), (vec![0, 2, 1], vec![4]));
    }
}
