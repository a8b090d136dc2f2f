//! The monthly bulletin (通报) of a unit: its ranking, the 三率 trend over twelve months, the
//! monthly volume by category, the overdue count of each unit below it, the property-service
//! complaints per compound year on year, and (where the unit has grid workers) visit-log
//! compliance per compound. Everything through the rankings' public use cases
//! (`rankings`, `unit_totals`), so the bulletin and the ranking cannot disagree.
//! Definitions: docs/decisions/0027-rankings-from-clock-history.md ("Bulletin").

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::app::board::{self, BoardQuery, UnitCompliance};
use crate::app::org::find_unit;
use crate::app::scope::column_in_subtrees;
use crate::app::visits::VisitContext;
use crate::app::{AppError, AppResult};
use crate::db::schema::{categories, org_units, tickets};
use crate::db::DbConn;
use crate::domain::reports::{Period, PeriodKind};
use crate::domain::{Actor, OrgKind, OrgPath, OrgUnitId};
use crate::i18n::{text, Lang};

use super::{RankingQuery, Rankings, ReportContext, UnitRanking};

/// Months on the trend and the volume chart (the bulletin's month and the eleven before it).
pub const TREND_MONTHS: usize = 12;
/// Categories named on the volume chart; the rest are summed as "其他".
pub const TOP_CATEGORIES: usize = 6;
/// The category codes of the property-service group (物业服务): `property_service` and any code
/// that starts with `property_` (a catalogue may split it, e.g. `property_fee`).
pub fn is_property_code(code: &str) -> bool {
    code == "property_service" || code.starts_with("property_")
}

/// One month of a trend: its label (`2026-10`) and the unit's whole-subtree line for it.
#[derive(Clone, Debug)]
pub struct TrendMonth {
    pub month: String,
    pub line: UnitRanking,
}

/// The twelve months ending with the month of `last` (oldest first), each as a month period.
pub fn months_ending(last: NaiveDate) -> Vec<Period> {
    let first_of = last.with_day(1).unwrap_or(last);
    (0..TREND_MONTHS as u32)
        .rev()
        .filter_map(|back| first_of.checked_sub_months(Months::new(back)))
        .filter(|first| first.year() >= 1902)
        .map(|first| {
            let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
            Period { first, last: next.pred_opt().unwrap_or(first), kind: PeriodKind::Month }
        })
        .collect()
}

/// The 三率 trend of a unit: `unit_totals` of each of the twelve months ending with the month of
/// `last` (the same access rule and answers as the rankings).
pub fn trend(
    conn: &mut DbConn,
    ctx: ReportContext<'_>,
    actor: &Actor,
    unit: Option<String>,
    last: NaiveDate,
    now: NaiveDateTime,
) -> AppResult<Vec<TrendMonth>> {
    months_ending(last)
        .into_iter()
        .map(|p| {
            let q = RankingQuery { unit: unit.clone(), period: Some(p.label()), from: None, to: None };
            let (period, line) = super::unit_totals(conn, ctx, actor, q, now)?;
            Ok(TrendMonth { month: period.label(), line })
        })
        .collect()
}

/// Tickets filed per month and category in a subtree: `counts[c][m]` for `categories[c]`, `months[m]`.
#[derive(Clone, Debug, Default)]
pub struct CategoryVolume {
    pub months: Vec<String>,
    /// The top categories by total, then "其他" (others) when there are more.
    pub categories: Vec<String>,
    pub counts: Vec<Vec<i64>>,
}

impl CategoryVolume {
    /// A month's total over every category.
    pub fn month_total(&self, m: usize) -> i64 {
        self.counts.iter().map(|c| c.get(m).copied().unwrap_or(0)).sum()
    }
}

/// Tickets of the subtree of `root` filed in each month (China days), grouped by category: the
/// `TOP_CATEGORIES` with the most tickets over the months named (zh or en name), the rest summed
/// as others. The caller has checked access to `root`.
pub fn volume_by_category(
    conn: &mut DbConn,
    tz: chrono_tz::Tz,
    root: &OrgPath,
    months: &[Period],
    lang: Lang,
) -> AppResult<CategoryVolume> {
    let mut per: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (m, p) in months.iter().enumerate() {
        let (start, end) = p.window(&tz);
        let rows: Vec<(String, i64)> = tickets::table
            .filter(column_in_subtrees(tickets::place_path, vec![root.clone()]))
            .filter(tickets::created_at.ge(start).and(tickets::created_at.lt(end)))
            .group_by(tickets::category_id)
            .select((tickets::category_id, diesel::dsl::count_star()))
            .load(conn)?;
        for (cat, n) in rows {
            per.entry(cat).or_insert_with(|| vec![0; months.len()])[m] += n;
        }
    }
    let ids: Vec<String> = per.keys().cloned().collect();
    let names: HashMap<String, (String, String)> = categories::table
        .filter(categories::id.eq_any(&ids))
        .select((categories::id, categories::name_zh, categories::name_en))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, zh, en)| (id, (zh, en)))
        .collect();
    let name = |id: &str| match names.get(id) {
        Some((zh, en)) => {
            if lang == Lang::En {
                en.clone()
            } else {
                zh.clone()
            }
        }
        None => id.to_string(),
    };
    let mut ranked: Vec<(String, Vec<i64>)> = per.into_iter().map(|(id, v)| (name(&id), v)).collect();
    ranked.sort_by(|a, b| b.1.iter().sum::<i64>().cmp(&a.1.iter().sum::<i64>()).then_with(|| a.0.cmp(&b.0)));
    let mut out = CategoryVolume { months: months.iter().map(Period::label).collect(), ..Default::default() };
    let rest = if ranked.len() > TOP_CATEGORIES { ranked.split_off(TOP_CATEGORIES) } else { vec![] };
    for (n, v) in ranked {
        out.categories.push(n);
        out.counts.push(v);
    }
    if !rest.is_empty() {
        let mut sum = vec![0; months.len()];
        for (_, v) in rest {
            for (s, x) in sum.iter_mut().zip(v) {
                *s += x;
            }
        }
        out.categories.push(text(lang, "bulletin-others"));
        out.counts.push(sum);
    }
    Ok(out)
}

/// One compound's property-service complaints in the period and the same period a year earlier.
#[derive(Clone, Debug)]
pub struct PropertyLine {
    pub compound_id: String,
    pub compound_name: String,
    pub this_year: i64,
    pub last_year: i64,
}

impl PropertyLine {
    /// The change year on year, (this − last) / last; `None` when last year had none.
    pub fn change(&self) -> Option<f64> {
        (self.last_year > 0).then(|| (self.this_year - self.last_year) as f64 / self.last_year as f64)
    }
}

/// The same days a year earlier (29 February becomes the 28th).
pub fn year_before(p: &Period) -> Period {
    let back = |d: NaiveDate| d.checked_sub_months(Months::new(12)).unwrap_or(d);
    Period { first: back(p.first), last: back(p.last), kind: p.kind }
}

/// Property-service complaints (category group 物业服务, see [`is_property_code`]) filed per
/// compound of the subtree of `root`, in `period` and a year earlier; every compound listed, by name.
pub fn property_complaints(conn: &mut DbConn, tz: chrono_tz::Tz, root: &OrgPath, period: &Period) -> AppResult<Vec<PropertyLine>> {
    let property: Vec<String> = categories::table
        .select((categories::id, categories::code))
        .load::<(String, String)>(conn)?
        .into_iter()
        .filter(|(_, code)| is_property_code(code))
        .map(|(id, _)| id)
        .collect();
    let compounds: Vec<(String, String)> = org_units::table
        .filter(column_in_subtrees(org_units::path, vec![root.clone()]))
        .filter(org_units::kind.eq(OrgKind::Compound.as_str()))
        .order(org_units::name)
        .select((org_units::id, org_units::name))
        .load(conn)?;
    let mut count = |p: &Period| -> AppResult<HashMap<String, i64>> {
        let (start, end) = p.window(&tz);
        Ok(tickets::table
            .filter(column_in_subtrees(tickets::place_path, vec![root.clone()]))
            .filter(tickets::category_id.eq_any(&property))
            .filter(tickets::created_at.ge(start).and(tickets::created_at.lt(end)))
            .group_by(tickets::compound_id)
            .select((tickets::compound_id, diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect())
    };
    let now_counts = count(period)?;
    let then_counts = count(&year_before(period))?;
    Ok(compounds
        .into_iter()
        .map(|(id, name)| PropertyLine {
            this_year: now_counts.get(&id).copied().unwrap_or(0),
            last_year: then_counts.get(&id).copied().unwrap_or(0),
            compound_id: id,
            compound_name: name,
        })
        .collect())
}

/// A unit below the bulletin's unit and its overdue count (the ranking's `overdue` numerator).
#[derive(Clone, Debug)]
pub struct OverdueLine {
    pub unit_id: String,
    pub unit_name: String,
    pub overdue: i64,
}

/// Everything on a bulletin.
#[derive(Clone, Debug)]
pub struct Bulletin {
    pub rankings: Rankings,
    /// The unit's own whole-subtree line for the period (the heading's figures).
    pub totals: UnitRanking,
    pub period: Period,
    pub trend: Vec<TrendMonth>,
    pub volume: CategoryVolume,
    /// Every unit ranked, in the ranking's order (peer group by peer group).
    pub overdue: Vec<OverdueLine>,
    /// The period a year earlier, as its label.
    pub prior_period: String,
    pub property: Vec<PropertyLine>,
    /// Visit-log compliance per compound over the period's days (`None` for a department).
    pub compliance: Option<UnitCompliance>,
}

/// The bulletin of `q`'s unit and period (defaults as for the rankings: the caller's unit, last
/// month); the trend and the volume cover the twelve months ending with the period's last month.
pub fn bulletin(
    conn: &mut DbConn,
    ctx: ReportContext<'_>,
    visits: VisitContext<'_>,
    actor: &Actor,
    q: RankingQuery,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<Bulletin> {
    let rankings = super::rankings(conn, ctx, actor, q.clone(), now)?;
    let (period, totals) = super::unit_totals(conn, ctx, actor, RankingQuery { unit: Some(rankings.unit_id.clone()), ..q }, now)?;
    let unit_id: OrgUnitId = rankings.unit_id.parse().map_err(|_| AppError::internal_msg("a ranked unit without a unit id".into()))?;
    let row = find_unit(conn, &unit_id)?.ok_or(AppError::NotFound { what: "org unit" })?;
    let root = row.path.clone();
    let trend = trend(conn, ctx, actor, Some(rankings.unit_id.clone()), period.last, now)?;
    let months = months_ending(period.last);
    let volume = volume_by_category(conn, ctx.tz, &root, &months, lang)?;
    let overdue = rankings
        .groups
        .iter()
        .flat_map(|g| &g.units)
        .map(|u| OverdueLine { unit_id: u.unit_id.clone(), unit_name: u.unit_name.clone(), overdue: u.overdue.numerator })
        .collect();
    let property = property_complaints(conn, ctx.tz, &root, &period)?;
    let compliance = if row.kind == OrgKind::Department {
        None
    } else {
        let today = now.and_utc().with_timezone(&ctx.tz).date_naive();
        let to = period.last.min(today);
        if to < period.first {
            None
        } else {
            let q = BoardQuery { date: Some(to), from: Some(period.first), to: Some(to) };
            match board::unit_compliance(conn, visits, actor, &unit_id, q, now) {
                Ok(c) => Some(c),
                // A role that ranks but may not read boards, or a range the board refuses: no chart.
                Err(AppError::Forbidden { .. } | AppError::NotFound { .. } | AppError::Validation { .. }) => None,
                Err(e) => return Err(e),
            }
        }
    };
    Ok(Bulletin { prior_period: year_before(&period).label(), rankings, totals, period, trend, volume, overdue, property, compliance })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_months_end_with_the_given_one() {
        let m = months_ending(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        assert_eq!(m.len(), 12);
        assert_eq!(m[0].label(), "2025-11");
        assert_eq!(m[11].label(), "2026-10");
        assert_eq!(m[11].last, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        let early = months_ending(NaiveDate::from_ymd_opt(1902, 3, 5).unwrap());
        assert_eq!(early.iter().map(Period::label).collect::<Vec<_>>(), ["1902-01", "1902-02", "1902-03"]);
    }

    #[test]
    fn a_year_before_keeps_the_kind_and_clamps_a_leap_day() {
        let p = Period::range(NaiveDate::from_ymd_opt(2028, 2, 1).unwrap(), NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(), 366).unwrap();
        let b = year_before(&p);
        assert_eq!((b.first.to_string(), b.last.to_string()), ("2027-02-01".into(), "2027-02-28".into()));
        assert_eq!(year_before(&Period::parse("2026-10").unwrap()).label(), "2025-10");
    }

    #[test]
    fn the_property_group_is_its_codes() {
        assert!(is_property_code("property_service") && is_property_code("property_fee"));
        assert!(!is_property_code("noise") && !is_property_code("propertyless"));
    }
}
