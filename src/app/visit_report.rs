//! Visit-work figures (走访工作考核) for supervisors and community staff: per compound below a unit
//! and per period, the grid workers' log compliance (日志填报率, the board's figure) and the
//! households due a visit in the period that were visited on time (按时走访率), both as numerator
//! and denominator; compounds ranked on them (competition ranks, ties share). Grid workers are
//! listed under their compound with their own compliance but never ranked: the figures judge the
//! compound's visit work, not a person's activity in the app.
//!
//! Same unit and period parameters, defaults and access as `GET /rankings` (`ranking.read`).
//!
//! Households visited on time, per household of the compound (active, of its current kind):
//! its visit is due its kind's interval (`visits.frequency_days`) after its last visit, or after
//! the day it was registered when never visited (as the household list counts it). Every due day
//! is followed through the visits recorded in logs: a visit on or before the due day meets it and
//! the next is due from that visit; an overdue household's next is due from its late visit. A
//! household is *due in the period* when one of its due days lies in the period and has been
//! judged (met, or passed unvisited before today), or when it was still overdue (unvisited past
//! an earlier due day) as the period began; it is *visited on time* when every such due day was
//! met and it was never overdue in the period. A due day still ahead, or today's not yet
//! visited, is not judged.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{households, org_units, visit_log_households, visit_logs};
use crate::db::DbConn;
use crate::domain::reports::{Period, PeriodKind, Ratio};
use crate::domain::visits::{HouseholdKind, VisitRules};
use crate::domain::{Actor, OrgKind, OrgPath, OrgUnitId};

use super::board::{unit_compliance, BoardQuery};
use super::reports::{period_of, unit_of, RankingQuery, ReportContext};
use super::visits::{worker_grids, VisitContext};
use super::{AppError, AppResult};

/// A grid worker's log compliance on one of his grids (listed, never ranked).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerVisitLine {
    pub person_id: String,
    pub name: String,
    pub grid_id: String,
    pub grid_name: String,
    /// Days a log was expected (working days or every day, per `visits.log_days`), from the later
    /// of the period's first day and the day he took the grid, to the earlier of its last day and today.
    pub expected: i64,
    /// Logs filed by the day's deadline.
    pub on_time: i64,
    /// Logs filed after it.
    pub late: i64,
    pub missing: i64,
    /// Logs filed (on time or late) / expected days.
    pub log_compliance: Ratio,
}

/// One compound's visit work in the period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CompoundVisitLine {
    pub compound_id: String,
    pub compound_name: String,
    /// The compound's community (its parent unit).
    pub community_name: String,
    /// Competition rank among the compounds (ties share it); null when neither figure has a denominator.
    pub rank: Option<usize>,
    /// The mean of the two rates that have a denominator, 0–100 with two decimals.
    pub score: Option<f64>,
    /// Logs filed / days a log was expected, over the compound's grid workers.
    pub log_compliance: Ratio,
    /// Logs filed by the deadline / days a log was expected.
    pub logs_on_time: Ratio,
    /// Households visited on time / households due a visit in the period.
    pub households_on_time: Ratio,
    /// The compound's grid workers, by name: not ranked.
    pub workers: Vec<WorkerVisitLine>,
}

/// The visit work of the compounds below a unit for a period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitRankings {
    pub unit_id: String,
    pub unit_name: String,
    /// `2026-10`, `2026-Q4`, `2026` or `2026-10-01..2026-10-15`.
    pub period: String,
    pub period_kind: PeriodKind,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(with = "crate::app::rfc3339")]
    pub computed_at: NaiveDateTime,
    /// The unit's totals.
    pub log_compliance: Ratio,
    pub logs_on_time: Ratio,
    pub households_on_time: Ratio,
    /// Ranked compounds first by rank, then those not ranked, by name.
    pub compounds: Vec<CompoundVisitLine>,
}

/// The score of a compound: the mean of its rates that have a denominator, from the exact
/// fractions; `None` when neither has one.
pub fn score(log_compliance: &Ratio, households: &Ratio) -> Option<f64> {
    let rates: Vec<f64> =
        [log_compliance, households].iter().filter(|r| r.denominator > 0).map(|r| r.numerator as f64 / r.denominator as f64).collect();
    if rates.is_empty() {
        return None;
    }
    Some((rates.iter().sum::<f64>() / rates.len() as f64 * 100.0 * 100.0).round() / 100.0)
}

/// Whether one household was visited on time in the period: `None` when no due day of it lies in
/// the period and was judged; `Some(true)` when every such due day was met. `visits` are the days
/// it was visited after `anchor` (its last visit before them, or its registration), sorted.
pub fn household_on_time(
    every_days: i64,
    anchor: NaiveDate,
    visits: &[NaiveDate],
    first: NaiveDate,
    last: NaiveDate,
    today: NaiveDate,
) -> Option<bool> {
    let mut anchor = anchor;
    let mut next = 0;
    let (mut due_in_period, mut all_met) = (false, true);
    loop {
        let due = anchor + Duration::days(every_days);
        if due > last {
            break;
        }
        while next < visits.len() && visits[next] <= anchor {
            next += 1;
        }
        match visits.get(next) {
            Some(v) if *v <= due => {
                if due >= first {
                    due_in_period = true;
                }
                anchor = *v;
            }
            later => {
                if due >= today {
                    // Not visited yet, and not late yet.
                    break;
                }
                // Late on a day of the period: its due day lies in it, or it was still
                // unvisited when the period began.
                if due >= first || (first < today && later.is_none_or(|v| *v > first)) {
                    due_in_period = true;
                    all_met = false;
                }
                match later {
                    Some(v) => anchor = *v,
                    None => break,
                }
            }
        }
    }
    due_in_period.then_some(all_met)
}

/// Households of one compound visited on time in the period / due a visit in it.
fn compound_households(
    conn: &mut DbConn,
    rules: &VisitRules,
    compound_id: &str,
    compound_path: &OrgPath,
    period: &Period,
    today: NaiveDate,
) -> AppResult<Ratio> {
    let hs: Vec<(String, HouseholdKind, NaiveDateTime)> = households::table
        .inner_join(org_units::table)
        .filter(org_units::path.ge(compound_path.as_str().to_string()))
        .filter(org_units::path.lt(compound_path.subtree_upper_bound()))
        .filter(households::active.eq(true))
        .select((households::id, households::kind, households::created_at))
        .load(conn)?;
    if hs.is_empty() {
        return Ok(Ratio::of(0, 0));
    }
    let longest = HouseholdKind::ALL.iter().map(|k| rules.every(*k)).max().unwrap_or(30);
    let bound = period.first - Duration::days(longest);
    let last_day = period.last.min(today);
    // The last visit before the bound (the chain's starting point), then every visit from it.
    let before: HashMap<String, Option<NaiveDate>> = visit_log_households::table
        .inner_join(visit_logs::table)
        .filter(visit_logs::compound_id.eq(compound_id))
        .filter(visit_logs::visit_date.lt(bound))
        .group_by(visit_log_households::household_id)
        .select((visit_log_households::household_id, diesel::dsl::max(visit_logs::visit_date)))
        .load::<(String, Option<NaiveDate>)>(conn)?
        .into_iter()
        .collect();
    let mut visits: HashMap<String, Vec<NaiveDate>> = HashMap::new();
    for (h, d) in visit_log_households::table
        .inner_join(visit_logs::table)
        .filter(visit_logs::compound_id.eq(compound_id))
        .filter(visit_logs::visit_date.ge(bound))
        .filter(visit_logs::visit_date.le(last_day))
        .select((visit_log_households::household_id, visit_logs::visit_date))
        .load::<(String, NaiveDate)>(conn)?
    {
        visits.entry(h).or_default().push(d);
    }
    let (mut due, mut met) = (0, 0);
    for (id, kind, created_at) in hs {
        let registered = rules.local_date(created_at);
        let anchor = before.get(&id).copied().flatten().map_or(registered, |d| d.max(registered));
        let mut v = visits.remove(&id).unwrap_or_default();
        v.sort_unstable();
        v.dedup();
        match household_on_time(rules.every(kind), anchor, &v, period.first, period.last, today) {
            Some(true) => {
                due += 1;
                met += 1;
            }
            Some(false) => due += 1,
            None => {}
        }
    }
    Ok(Ratio::of(met, due))
}

/// 走访工作排名: the compounds below `unit` (the unit itself if it is one) for the period, ranked
/// on log compliance and households visited on time; their grid workers listed, not ranked.
pub fn visit_rankings(
    conn: &mut DbConn,
    ctx: ReportContext<'_>,
    vctx: VisitContext<'_>,
    actor: &Actor,
    q: RankingQuery,
    now: NaiveDateTime,
) -> AppResult<VisitRankings> {
    let period = period_of(ctx, q.period.as_deref(), q.from, q.to, now)?;
    let (unit_id, unit_name, root) = unit_of(conn, actor, q.unit.as_deref())?;
    let today = vctx.rules.local_date(now);
    let compounds: Vec<(String, String, String, Option<String>)> = org_units::table
        .filter(org_units::kind.eq(OrgKind::Compound.as_str()))
        .filter(org_units::active.eq(true))
        .filter(org_units::path.ge(root.as_str().to_string()))
        .filter(org_units::path.lt(root.subtree_upper_bound()))
        .order((org_units::name, org_units::id))
        .select((org_units::id, org_units::name, org_units::path, org_units::parent_id))
        .load(conn)?;
    // Log compliance of every grid worker under the unit, as the board counts it.
    let (workers, grids) = if compounds.is_empty() {
        (vec![], vec![])
    } else {
        let id: OrgUnitId = unit_id.parse().map_err(|_| AppError::internal_msg("a stored unit id".into()))?;
        let board = BoardQuery { date: None, from: Some(period.first), to: Some(period.last) };
        let c = unit_compliance(conn, vctx, actor, &id, board, now)?;
        (c.workers, worker_grids(conn, Some(&root))?)
    };
    let compound_of: HashMap<(String, String), String> = grids.into_iter().map(|w| ((w.person_id, w.grid_id), w.compound_id)).collect();
    let mut per: BTreeMap<String, Vec<WorkerVisitLine>> = BTreeMap::new();
    for w in workers {
        let Some(compound) = compound_of.get(&(w.person_id.clone(), w.grid_id.clone())) else { continue };
        per.entry(compound.clone()).or_default().push(WorkerVisitLine {
            log_compliance: Ratio::of((w.on_time + w.late).min(w.expected), w.expected),
            person_id: w.person_id,
            name: w.name,
            grid_id: w.grid_id,
            grid_name: w.grid_name,
            expected: w.expected,
            on_time: w.on_time,
            late: w.late,
            missing: w.missing,
        });
    }
    let parents: Vec<String> = compounds.iter().filter_map(|c| c.3.clone()).collect();
    let parent_names = super::org::names_of(conn, &parents)?;
    let mut lines = vec![];
    let (mut total_expected, mut total_filed, mut total_on_time, mut total_due, mut total_met) = (0, 0, 0, 0, 0);
    for (id, name, path, parent) in compounds {
        let mut workers = per.remove(&id).unwrap_or_default();
        workers.sort_by(|a, b| a.name.cmp(&b.name).then(a.grid_name.cmp(&b.grid_name)).then(a.person_id.cmp(&b.person_id)));
        let expected: i64 = workers.iter().map(|w| w.expected).sum();
        let filed: i64 = workers.iter().map(|w| w.log_compliance.numerator).sum();
        let on_time: i64 = workers.iter().map(|w| w.on_time.min(w.expected)).sum();
        let households = compound_households(conn, vctx.rules, &id, &OrgPath::from_db(path), &period, today)?;
        let log_compliance = Ratio::of(filed, expected);
        total_expected += expected;
        total_filed += filed;
        total_on_time += on_time;
        total_due += households.denominator;
        total_met += households.numerator;
        lines.push(CompoundVisitLine {
            community_name: parent.and_then(|p| parent_names.get(&p).cloned()).unwrap_or_default(),
            compound_id: id,
            compound_name: name,
            rank: None,
            score: score(&log_compliance, &households),
            log_compliance,
            logs_on_time: Ratio::of(on_time, expected),
            households_on_time: households,
            workers,
        });
    }
    let ranks = crate::domain::reports::ranks(&lines.iter().map(|l| l.score).collect::<Vec<_>>());
    for (l, r) in lines.iter_mut().zip(ranks) {
        l.rank = r;
    }
    lines.sort_by(|a, b| {
        a.rank.unwrap_or(usize::MAX).cmp(&b.rank.unwrap_or(usize::MAX)).then_with(|| a.compound_name.cmp(&b.compound_name))
    });
    Ok(VisitRankings {
        unit_id,
        unit_name,
        period: period.label(),
        period_kind: period.kind,
        from: period.first,
        to: period.last,
        computed_at: now,
        log_compliance: Ratio::of(total_filed, total_expected),
        logs_on_time: Ratio::of(total_on_time, total_expected),
        households_on_time: Ratio::of(total_met, total_due),
        compounds: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_household_is_on_time_when_every_due_day_in_the_period_is_met() {
        let (first, last, today) = (d("2026-10-01"), d("2026-10-31"), d("2026-11-15"));
        // Weekly, registered 09-28: due 10-05, 10-12 … visited every 7 days → on time.
        let weekly: Vec<NaiveDate> = (0..5).map(|i| d("2026-10-05") + Duration::days(7 * i)).collect();
        assert_eq!(household_on_time(7, d("2026-09-28"), &weekly, first, last, today), Some(true));
        // One visit a day late (10-13 for 10-12) → not on time.
        let late = [d("2026-10-05"), d("2026-10-13"), d("2026-10-20")];
        assert_eq!(household_on_time(7, d("2026-09-28"), &late, first, last, today), Some(false));
        // Never visited, registered 09-20 with a 30-day interval: due 10-20, passed → due, not met.
        assert_eq!(household_on_time(30, d("2026-09-20"), &[], first, last, today), Some(false));
        // Overdue since June and still unvisited in October → due in it, not met; visited late on
        // 10-03 (overdue 10-01 and 10-02) → the same; visited on 10-01, the period's first day → on time
        // for the rest (due 10-15 met on 10-14, then 10-28 met on 10-27, then 11-10).
        assert_eq!(household_on_time(14, d("2026-06-01"), &[], first, last, today), Some(false));
        assert_eq!(household_on_time(14, d("2026-06-01"), &[d("2026-10-03")], first, last, today), Some(false));
        assert_eq!(
            household_on_time(14, d("2026-06-01"), &[d("2026-10-01"), d("2026-10-14"), d("2026-10-27")], first, last, today),
            Some(true)
        );
        // Due only after the period → not due in it.
        assert_eq!(household_on_time(90, d("2026-09-01"), &[], first, last, today), None);
        // Visited before the period for a due day in it → met.
        assert_eq!(household_on_time(30, d("2026-09-05"), &[d("2026-09-30"), d("2026-10-28")], first, last, today), Some(true));
        // A due day today not yet visited is not judged; one met early is.
        assert_eq!(household_on_time(7, d("2026-11-08"), &[], d("2026-11-01"), d("2026-11-30"), d("2026-11-15")), None);
        assert_eq!(
            household_on_time(7, d("2026-11-08"), &[d("2026-11-14")], d("2026-11-01"), d("2026-11-30"), d("2026-11-15")),
            Some(true)
        );
    }

    #[test]
    fn the_score_is_the_mean_of_the_rates_with_a_denominator() {
        assert_eq!(score(&Ratio::of(3, 4), &Ratio::of(1, 2)), Some(62.5));
        assert_eq!(score(&Ratio::of(3, 4), &Ratio::of(0, 0)), Some(75.0));
        assert_eq!(score(&Ratio::of(0, 0), &Ratio::of(0, 0)), None);
    }
}
