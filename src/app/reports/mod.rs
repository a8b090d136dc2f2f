//! Rankings (三率排名) of the units directly below one, for a period, computed from what happened
//! (clocks and audit events), with the exact tickets behind every figure (drill-down).
//! Definitions: docs/decisions/0027-rankings-from-clock-history.md.

pub mod facts;
pub mod rollup;
pub mod trend;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::app::calendars::Calendars;
use crate::config::ReportSettings;
use crate::db::schema::{org_units, tickets};
use crate::db::DbConn;
use crate::domain::reports::{self, Measure, Period, PeriodKind, Ratio};
use crate::domain::workflow::ExtensionState;
use crate::domain::{Actor, Operation, OrgKind, OrgPath, OrgUnitId};

use super::org::find_unit;
use super::scope::enforce;
use super::{AppError, AppResult};
use facts::{Fact, Window};

pub use facts::RESPONSE_STAGES;

/// What the rankings need besides the database: the settings and the time zone of China days.
#[derive(Clone, Copy)]
pub struct ReportContext<'a> {
    pub settings: &'a ReportSettings,
    pub tz: chrono_tz::Tz,
    /// The working calendars, for overdue time in working hours.
    pub calendars: &'a super::calendars::Calendars,
}

/// `GET /rankings`: the unit and the period.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// The unit whose children are ranked (default: the caller's highest unit where he may see rankings).
    pub unit: Option<String>,
    /// `2026-10` (a month), `2026-Q4` (a quarter) or `2026` (a year), in China days; default: last month.
    pub period: Option<String>,
    /// First China day of a from–to period (with `to`, instead of `period`).
    pub from: Option<NaiveDate>,
    /// Last China day of a from–to period (included).
    pub to: Option<NaiveDate>,
}

/// `GET /rankings/tickets`: the unit and period of one figure, and which figure.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DrillQuery {
    /// The unit whose figure it is (a row of the ranking; default: the caller's highest unit).
    pub unit: Option<String>,
    pub period: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Which figure (required; the ranking's `drill` links name it).
    pub measure: Option<Measure>,
    /// Items to skip (paging; default 0).
    pub offset: Option<usize>,
    /// Items per page (default and at most `DRILL_PAGE`, 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The most items a drill-down answers at once.
pub const DRILL_PAGE: usize = 1000;

/// A ratio with the query that lists the items behind it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Figure {
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator (0–1, four decimals); null when the denominator is 0.
    pub rate: Option<f64>,
    /// `GET` this path for the items behind the figure.
    pub drill: String,
}

/// A count with the query that lists the tickets behind it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub count: i64,
    pub drill: String,
}

/// One unit's line in a ranking.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UnitRanking {
    pub unit_id: String,
    pub unit_name: String,
    pub kind: OrgKind,
    /// 响应率: response clocks ended by their deadline / judged response clocks.
    pub response: Figure,
    /// 解决率: resolutions by their deadline / judged resolution clocks.
    pub resolution: Figure,
    /// 满意率: satisfied or basically satisfied / return visits done, each against the unit whose
    /// resolution came last before it.
    pub satisfaction: Figure,
    /// 受理量: tickets that first reached the unit (a judged clock in its subtree) in the period; a
    /// ticket counts once, in the period of its first such clock, so months add up to the year.
    pub volume: Count,
    /// Judged clocks (response and resolution) on time / judged.
    pub on_time: Figure,
    /// Judged clocks late or past their deadline / judged (超期).
    pub overdue: Figure,
    /// Hours past the deadlines of the overdue clocks, natural time, one decimal.
    pub overdue_hours: f64,
    /// The same in working hours (office hours of working days on each clock's calendar).
    pub overdue_working_hours: f64,
    /// 回退率: department parts returned / dispatched.
    pub returns: Figure,
    /// 重办率: resolutions reopened by a not-satisfied return visit / resolutions.
    pub reopens: Figure,
    /// Extension requests granted / made (延期).
    pub extensions: Figure,
    /// Tickets still held at the period's end (期末未办结).
    pub open_at_end: Count,
    /// The weighted score, 0–100; null for a unit with nothing to rate.
    pub score: Option<f64>,
    /// The rank within the peer group (ties share it); null when not ranked.
    pub rank: Option<usize>,
    /// The rates below the threshold.
    pub flags: Vec<Measure>,
}

/// Units of one kind below the ranked unit (compounds with compounds, departments with departments).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PeerGroup {
    pub kind: OrgKind,
    /// Ranked units first by rank, then those not ranked, by name.
    pub units: Vec<UnitRanking>,
    /// 红榜: the best `reports.list_size` (ties included).
    pub red_list: Vec<String>,
    /// 黄榜: the worst `reports.list_size` (ties included), none of the red list.
    pub yellow_list: Vec<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Weights {
    pub response: f64,
    pub resolution: f64,
    pub satisfaction: f64,
}

/// The ranking of the units below one unit for a period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rankings {
    pub unit_id: String,
    pub unit_name: String,
    /// `2026-10`, `2026-Q4`, `2026` or `2026-10-01..2026-10-15`.
    pub period: String,
    pub period_kind: PeriodKind,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// When the figures were computed: clocks still running are judged as of this instant.
    #[serde(with = "crate::app::rfc3339")]
    pub computed_at: NaiveDateTime,
    pub weights: Weights,
    pub threshold: f64,
    pub groups: Vec<PeerGroup>,
}

/// One item behind a figure: the ticket and the fact counted.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DrillItem {
    pub number: String,
    #[serde(flatten)]
    pub fact: Fact,
}

/// The items behind one figure of one unit: the denominator, each marked whether it is in the numerator.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Drill {
    pub unit_id: String,
    pub unit_name: String,
    pub period: String,
    pub measure: Measure,
    pub numerator: i64,
    pub denominator: i64,
    /// The ticket numbers in the numerator among this page's items, each once, sorted.
    pub tickets: Vec<String>,
    /// The page of the items, in the order of `at`, then ticket.
    pub items: Vec<DrillItem>,
    pub offset: usize,
    /// The `offset` of the next page; null on the last.
    pub next_offset: Option<usize>,
}

pub(crate) fn period_of(
    ctx: ReportContext<'_>,
    period: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: NaiveDateTime,
) -> AppResult<Period> {
    let refuse = |(field, msg): reports::PeriodError| AppError::validation(field, msg);
    match (period, from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(AppError::validation("period", crate::msg!("rule-report_period_or_range"))),
        (Some(p), None, None) => Period::parse(p).map_err(refuse),
        (None, Some(f), Some(t)) => Period::range(f, t, ctx.settings.max_range_days).map_err(refuse),
        (None, Some(_), None) => Err(AppError::validation("to", crate::msg!("rule-report_range_both", from = "from", to = "to"))),
        (None, None, Some(_)) => Err(AppError::validation("from", crate::msg!("rule-report_range_both", from = "from", to = "to"))),
        (None, None, None) => Ok(Period::month_before(now.and_utc().with_timezone(&ctx.tz).date_naive())),
    }
}

/// The unit asked for, if the caller may see rankings there; an unknown unit and one outside
/// the caller's scope get the same answer (422 `unknown_reference`), as references elsewhere.
pub(crate) fn unit_of(conn: &mut DbConn, actor: &Actor, unit: Option<&str>) -> AppResult<(String, String, OrgPath)> {
    let unknown = || AppError::UnknownReference { field: "unit".into(), detail: crate::msg!("why-report_no_unit_in_scope") };
    let row = match unit {
        Some(text) => {
            let id: OrgUnitId = text.trim().parse().map_err(|_| unknown())?;
            find_unit(conn, &id)?.ok_or_else(unknown)?
        }
        None => {
            let Some(top) = actor.scope_roots(Operation::RankingRead).into_iter().next() else {
                return Err(enforce_forbidden());
            };
            let id = top.ids().last().copied().ok_or_else(unknown)?;
            find_unit(conn, &id)?.ok_or_else(unknown)?
        }
    };
    let path = row.path.clone();
    match enforce(actor.decide(Operation::RankingRead, &path), "org unit", Operation::RankingRead) {
        Err(AppError::NotFound { .. }) => Err(unknown()),
        other => other.map(|()| (row.id.to_string(), row.name, path)),
    }
}

fn enforce_forbidden() -> AppError {
    match enforce(crate::domain::roles::Decision::Forbidden, "org unit", Operation::RankingRead) {
        Err(e) => e,
        Ok(()) => AppError::Unauthenticated,
    }
}

fn drill_path(unit: &str, period: &Period, measure: Measure) -> String {
    format!("/api/v1/rankings/tickets?unit={unit}&{}&measure={}", period.query(), measure.as_str())
}

/// The id of the unit directly below `root` on `path` (`None`: the root itself).
fn child_on<'p>(root: &OrgPath, path: &'p str) -> Option<&'p str> {
    path.strip_prefix(root.as_str()).and_then(|rest| rest.split('/').next()).filter(|id| !id.is_empty())
}

/// One unit's figures, counted by the database (`db::backend::reports`).
#[derive(Default)]
struct Tally {
    ratios: BTreeMap<Measure, (i64, i64)>,
    counts: BTreeMap<Measure, i64>,
    overdue_seconds: i64,
    overdue_working_seconds: i64,
}

impl Tally {
    fn add(&mut self, m: Measure, counted: i64, total: i64) {
        let e = self.ratios.entry(m).or_default();
        e.0 += counted;
        e.1 += total;
    }

    fn ratio(&self, m: Measure) -> Ratio {
        let (n, d) = self.ratios.get(&m).copied().unwrap_or_default();
        Ratio::of(n, d)
    }

    fn count(&self, m: Measure) -> i64 {
        self.counts.get(&m).copied().unwrap_or(0)
    }
}

/// Every figure of the groups of the subtree of `root` in the window: each group named by the
/// first `key_len` characters of its paths (see `db::backend::reports`). What the roll-up holds
/// (`rollup`) and what it does not hold yet, counted live, in one snapshot.
fn tallies(
    conn: &mut DbConn,
    calendars: &Calendars,
    root: &OrgPath,
    key_len: usize,
    w: Window,
    period: &Period,
) -> AppResult<HashMap<String, Tally>> {
    conn.transaction(|conn| count_all(conn, calendars, root, (key_len, w, period)))
}

fn count_all(
    conn: &mut DbConn,
    calendars: &Calendars,
    root: &OrgPath,
    asked: (usize, Window, &Period),
) -> AppResult<HashMap<String, Tally>> {
    let (key_len, w, period) = asked;
    use crate::db::backend::reports as sql;
    sql::prepare(conn)?;
    let upper = root.subtree_upper_bound();
    let span = sql::Span {
        root: root.as_str(),
        upper: &upper,
        key_len,
        start: w.start,
        end: w.end,
        now: w.now,
        first: period.first,
        last: period.last,
    };
    let mut out: HashMap<String, Tally> = HashMap::new();
    let judged = |t: &mut Tally, response: (i64, i64), resolution: (i64, i64)| {
        t.add(Measure::Response, response.0, response.1);
        t.add(Measure::Resolution, resolution.0, resolution.1);
        let (on_time, all) = (response.0 + resolution.0, response.1 + resolution.1);
        t.add(Measure::OnTime, on_time, all);
        t.add(Measure::Overdue, all - on_time, all);
    };
    for r in sql::rolled(conn, span)? {
        let t = out.entry(r.unit_key).or_default();
        judged(t, (r.response_on_time, r.response_total), (r.resolution_on_time, r.resolution_total));
        t.overdue_seconds += r.overdue_seconds;
        t.overdue_working_seconds += r.overdue_working_seconds;
        *t.counts.entry(Measure::Volume).or_default() += r.volume;
        t.add(Measure::Reopens, 0, r.resolutions);
        t.add(Measure::Satisfaction, r.satisfied, r.visits);
        // A reopen counts in the period of its visit, its resolution too when that came earlier.
        t.add(Measure::Reopens, r.visits - r.satisfied, r.reopened_earlier);
    }
    let mut any_late = false;
    for c in sql::clock_counts(conn, span)? {
        let t = out.entry(c.unit_key).or_default();
        judged(
            t,
            (c.response_on_time, c.response_on_time + c.response_late),
            (c.resolution_on_time, c.resolution_on_time + c.resolution_late),
        );
        *t.counts.entry(Measure::Volume).or_default() += c.volume;
        any_late |= c.response_late + c.resolution_late > 0;
    }
    // Only the late clocks' deadlines and ends travel (for their hours), and only when there are some.
    if any_late {
        for c in sql::late_clocks(conn, span)? {
            let end = c.ended_at.unwrap_or(w.now);
            let cal = calendars.get(&c.calendar).unwrap_or_else(|| calendars.default_calendar());
            let working = cal.working_between(c.due_at, end)?;
            let t = out.entry(c.unit_key).or_default();
            t.overdue_seconds += (end - c.due_at).num_seconds();
            t.overdue_working_seconds += working;
        }
    }
    for r in sql::open_at_end(conn, span)? {
        *out.entry(r.unit_key).or_default().counts.entry(Measure::OpenAtEnd).or_default() += r.n;
    }
    for r in sql::resolutions(conn, span)? {
        out.entry(r.unit_key).or_default().add(Measure::Reopens, 0, r.n);
    }
    let pending = sql::pending_chains(conn)?;
    for v in sql::visits(conn, span, &pending)? {
        let t = out.entry(v.unit_key).or_default();
        t.add(Measure::Satisfaction, v.satisfied, v.visits);
        t.add(Measure::Reopens, v.visits - v.satisfied, v.reopened_earlier);
    }
    for (m, rows) in [
        (Measure::Returns, sql::dispatches(conn, span)?),
        (Measure::Extensions, sql::extensions(conn, span, ExtensionState::Granted.as_str())?),
    ] {
        for r in rows {
            out.entry(r.unit_key).or_default().add(m, r.counted, r.total);
        }
    }
    Ok(out)
}

/// One unit's line: its figures from its tally, with their drill-down paths.
fn unit_line(id: &str, name: &str, kind: OrgKind, t: &Tally, period: &Period, scoring: &reports::Scoring) -> UnitRanking {
    let figure = |m: Measure, r: Ratio| Figure {
        numerator: r.numerator,
        denominator: r.denominator,
        rate: r.rate,
        drill: drill_path(id, period, m),
    };
    let (response, resolution, satisfaction) = (t.ratio(Measure::Response), t.ratio(Measure::Resolution), t.ratio(Measure::Satisfaction));
    let (on_time, overdue) = (t.ratio(Measure::OnTime), t.ratio(Measure::Overdue));
    UnitRanking {
        unit_id: id.to_string(),
        unit_name: name.to_string(),
        kind,
        score: reports::score(scoring, &response, &resolution, &satisfaction),
        flags: reports::flags(scoring, &response, &resolution, &satisfaction),
        rank: None,
        response: figure(Measure::Response, response),
        resolution: figure(Measure::Resolution, resolution),
        satisfaction: figure(Measure::Satisfaction, satisfaction),
        volume: Count { count: t.count(Measure::Volume), drill: drill_path(id, period, Measure::Volume) },
        on_time: figure(Measure::OnTime, on_time),
        overdue: figure(Measure::Overdue, overdue),
        overdue_hours: (t.overdue_seconds as f64 / 360.0).round() / 10.0,
        overdue_working_hours: (t.overdue_working_seconds as f64 / 360.0).round() / 10.0,
        returns: figure(Measure::Returns, t.ratio(Measure::Returns)),
        reopens: figure(Measure::Reopens, t.ratio(Measure::Reopens)),
        extensions: figure(Measure::Extensions, t.ratio(Measure::Extensions)),
        open_at_end: Count { count: t.count(Measure::OpenAtEnd), drill: drill_path(id, period, Measure::OpenAtEnd) },
    }
}

/// The figures of one unit's whole subtree (its own clocks included) for a period: the line a
/// trend (one per month) or a bulletin's heading reads. Not ranked (`rank` null); `score` and
/// `flags` as in a ranking. The same access rule and answers as `rankings`.
pub fn unit_totals(
    conn: &mut DbConn,
    ctx: ReportContext<'_>,
    actor: &Actor,
    q: RankingQuery,
    now: NaiveDateTime,
) -> AppResult<(Period, UnitRanking)> {
    let period = period_of(ctx, q.period.as_deref(), q.from, q.to, now)?;
    let (unit_id, unit_name, root) = unit_of(conn, actor, q.unit.as_deref())?;
    let kind = org_units::table
        .filter(org_units::id.eq(&unit_id))
        .select(org_units::kind)
        .first::<String>(conn)?
        .parse::<OrgKind>()
        .map_err(|_| AppError::internal_msg("an org unit of an unknown kind".into()))?;
    let (start, end) = period.window(&ctx.tz);
    let all = tallies(conn, ctx.calendars, &root, root.as_str().len(), Window { start, end, now }, &period)?;
    let empty = Tally::default();
    let line = unit_line(&unit_id, &unit_name, kind, all.get(root.as_str()).unwrap_or(&empty), &period, &ctx.settings.scoring());
    Ok((period, line))
}

/// 三率排名: the units directly below `unit` ranked within their kind, for the period.
pub fn rankings(conn: &mut DbConn, ctx: ReportContext<'_>, actor: &Actor, q: RankingQuery, now: NaiveDateTime) -> AppResult<Rankings> {
    let period = period_of(ctx, q.period.as_deref(), q.from, q.to, now)?;
    let (unit_id, unit_name, root) = unit_of(conn, actor, q.unit.as_deref())?;
    let (start, end) = period.window(&ctx.tz);
    // A child's group: its path, the ranked unit's path and a 36-character id and a slash.
    let by_path = tallies(conn, ctx.calendars, &root, root.as_str().len() + 37, Window { start, end, now }, &period)?;
    let children: Vec<(String, String, OrgKind)> = org_units::table
        .filter(org_units::parent_id.eq(&unit_id))
        .order(org_units::name)
        .select((org_units::id, org_units::name, org_units::kind))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .filter_map(|(id, name, kind)| kind.parse::<OrgKind>().ok().map(|k| (id, name, k)))
        .collect();
    let tallies: HashMap<&str, &Tally> = by_path.iter().filter_map(|(path, t)| child_on(&root, path).map(|c| (c, t))).collect();
    let scoring = ctx.settings.scoring();
    // Peer groups in the tree's order of kinds (streets, communities, compounds…, departments last).
    let order = |k: OrgKind| OrgKind::ALL.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    let mut groups: BTreeMap<usize, (OrgKind, Vec<UnitRanking>)> = BTreeMap::new();
    let empty = Tally::default();
    for (id, name, kind) in &children {
        let t = tallies.get(id.as_str()).copied().unwrap_or(&empty);
        groups.entry(order(*kind)).or_insert_with(|| (*kind, vec![])).1.push(unit_line(id, name, *kind, t, &period, &scoring));
    }
    let groups = groups
        .into_values()
        .map(|(kind, mut units)| {
            let scores: Vec<Option<f64>> = units.iter().map(|u| u.score).collect();
            let ranks = reports::ranks(&scores);
            let (red, yellow) = reports::lists(&ranks, ctx.settings.list_size);
            let ids = |list: Vec<usize>| list.into_iter().map(|i| units[i].unit_id.clone()).collect::<Vec<_>>();
            let (red_list, yellow_list) = (ids(red), ids(yellow));
            for (u, r) in units.iter_mut().zip(ranks) {
                u.rank = r;
            }
            units.sort_by(|a, b| {
                a.rank.unwrap_or(usize::MAX).cmp(&b.rank.unwrap_or(usize::MAX)).then_with(|| a.unit_name.cmp(&b.unit_name))
            });
            PeerGroup { kind, units, red_list, yellow_list }
        })
        .collect();
    let s = ctx.settings;
    Ok(Rankings {
        unit_id,
        unit_name,
        period: period.label(),
        period_kind: period.kind,
        from: period.first,
        to: period.last,
        computed_at: now,
        weights: Weights { response: s.weight_response, resolution: s.weight_resolution, satisfaction: s.weight_satisfaction },
        threshold: s.threshold,
        groups,
    })
}

/// The items behind one figure of one unit (its whole subtree), so that the unit can contest it.
pub fn drill(conn: &mut DbConn, ctx: ReportContext<'_>, actor: &Actor, q: DrillQuery, now: NaiveDateTime) -> AppResult<Drill> {
    let Some(measure) = q.measure else {
        let all = Measure::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        return Err(AppError::validation("measure", crate::msg!("rule-report_measure_needed", measures = all)));
    };
    let period = period_of(ctx, q.period.as_deref(), q.from, q.to, now)?;
    let (unit_id, unit_name, root) = unit_of(conn, actor, q.unit.as_deref())?;
    let (start, end) = period.window(&ctx.tz);
    let limit = q.limit.unwrap_or(DRILL_PAGE);
    if !(1..=DRILL_PAGE).contains(&limit) {
        return Err(AppError::validation("limit", crate::msg!("rule-page_limit", max = DRILL_PAGE as i64)));
    }
    let offset = q.offset.unwrap_or(0);
    let mut facts: Vec<Fact> = facts::gather(conn, ctx.calendars, &root, Window { start, end, now }, measure)?;
    facts.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.ticket_id.cmp(&b.ticket_id)));
    let (numerator, denominator) = match measure {
        Measure::Volume | Measure::OpenAtEnd => {
            let distinct = facts.iter().map(|f| f.ticket_id.as_str()).collect::<BTreeSet<_>>().len() as i64;
            (distinct, distinct)
        }
        _ => (facts.iter().filter(|f| f.counted).count() as i64, facts.len() as i64),
    };
    let total = facts.len();
    let facts: Vec<Fact> = facts.into_iter().skip(offset).take(limit).collect();
    let next_offset = (offset.saturating_add(limit) < total).then_some(offset + limit);
    let mut ids: Vec<String> = facts.iter().map(|f| f.ticket_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut numbers: HashMap<String, String> = HashMap::new();
    for chunk in ids.chunks(500) {
        numbers.extend(
            tickets::table.filter(tickets::id.eq_any(chunk)).select((tickets::id, tickets::number)).load::<(String, String)>(conn)?,
        );
    }
    let counted: BTreeSet<String> = facts.iter().filter(|f| f.counted).filter_map(|f| numbers.get(&f.ticket_id).cloned()).collect();
    Ok(Drill {
        unit_id,
        unit_name,
        period: period.label(),
        measure,
        numerator,
        denominator,
        tickets: counted.into_iter().collect(),
        items: facts
            .into_iter()
            .map(|fact| DrillItem { number: numbers.get(&fact.ticket_id).cloned().unwrap_or_default(), fact })
            .collect(),
        offset,
        next_offset,
    })
}

/// The tickets among `ids` that the actor may open (`/tickets/{id}`): those whose place lies in
/// the subtree of one of his residential or supervising grants. A drill-down lists items of the
/// whole ranked subtree; its page links only these, and shows the others as numbers.
pub fn openable_tickets(conn: &mut DbConn, actor: &Actor, ids: &[String]) -> AppResult<BTreeSet<String>> {
    use crate::domain::Role;
    let mut residential = actor.clone();
    residential.grants.retain(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::Supervisor));
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(500) {
        for (id, place) in
            tickets::table.filter(tickets::id.eq_any(chunk)).select((tickets::id, tickets::place_path)).load::<(String, String)>(conn)?
        {
            if residential.may(Operation::TicketRead, &OrgPath::from_db(place)) {
                out.insert(id);
            }
        }
    }
    Ok(out)
}
