//! The secretary's board (网格长工作台), one per compound: who filed today's visit log, the
//! compound's open tickets by stage and deadline, where every request raised on a visit stands in
//! the closed loop, and log compliance per worker over a date range.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::{TicketListRow, TicketRow};
use crate::db::schema::{notifications, tickets, visit_logs};
use crate::db::DbConn;
use crate::domain::calendar::STANDING_RULE_YEARS;
use crate::domain::visits::LoopStage;
use crate::domain::workflow::TicketState;
use crate::domain::{Actor, Operation, OrgKind, OrgPath, OrgUnitId, TicketId};

use super::org::find_unit;
use super::scope::enforce;
use super::tickets::{summaries, TicketSummary};
use super::visits::{logged_ticket, reminder_key, worker_grids, LoggedTicket, VisitContext, WorkerGrid};
use super::{AppError, AppResult};

/// The longest date range a compliance report covers.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Open tickets and open visit requests listed on the board (the counts cover all of them).
pub const BOARD_ITEMS: i64 = 50;

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// The day whose logs are shown (default today, local time).
    pub date: Option<NaiveDate>,
    /// First day of the compliance and visit-request range (default 29 days before `date`).
    pub from: Option<NaiveDate>,
    /// Last day of that range (default `date`).
    pub to: Option<NaiveDate>,
}

/// How one worker's log for one grid stands on the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    /// Filed by the deadline.
    Filed,
    /// Filed after the deadline.
    FiledLate,
    /// Not filed, and the deadline has not passed yet.
    Pending,
    /// Not filed by the deadline (未按时填写).
    Missing,
    /// No log is expected that day (a rest day under `visits.log_days`).
    NotExpected,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerLog {
    pub person_id: String,
    pub name: String,
    pub grid_id: String,
    pub grid_name: String,
    pub status: LogStatus,
    pub log_id: Option<String>,
    #[serde(with = "crate::app::rfc3339::option")]
    pub filed_at: Option<NaiveDateTime>,
    pub households_visited: Option<i32>,
    /// When the reminder for a missing log was recorded.
    #[serde(with = "crate::app::rfc3339::option")]
    pub reminded_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DayLogs {
    pub date: NaiveDate,
    pub expected: bool,
    /// The day's deadline (UTC).
    #[serde(with = "crate::app::rfc3339")]
    pub deadline_at: NaiveDateTime,
    pub past_deadline: bool,
    pub workers: usize,
    pub filed: usize,
    pub missing: usize,
    pub entries: Vec<WorkerLog>,
    /// Workers who had not filed when the deadline passed (督促名单).
    pub not_filed_by_deadline: Vec<WorkerLog>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StateCount {
    pub state: TicketState,
    pub state_zh: String,
    pub count: i64,
    pub overdue: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OpenTickets {
    pub total: i64,
    pub overdue: i64,
    pub by_state: Vec<StateCount>,
    /// The open tickets with the nearest deadlines first (at most 50).
    pub nearest_deadlines: Vec<TicketSummary>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StageCount {
    pub stage: LoopStage,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitRequests {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: i64,
    /// visited → fed back → followed up → closed (with a return visit); `ended` = declined or duplicate.
    pub by_stage: Vec<StageCount>,
    /// Requests not yet closed, the oldest first (at most 50).
    pub open: Vec<VisitRequest>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitRequest {
    #[serde(flatten)]
    pub ticket: LoggedTicket,
    pub visit_log_id: String,
    #[serde(with = "crate::app::rfc3339")]
    pub filed_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerCompliance {
    pub person_id: String,
    pub name: String,
    pub grid_id: String,
    pub grid_name: String,
    /// Days a log was expected (from the later of `from` and the day he took the grid, to the
    /// earlier of `to` and today).
    pub expected: i64,
    pub on_time: i64,
    pub late: i64,
    pub missing: i64,
    /// (on time + late) / expected, 0–1; 1 when nothing was expected.
    pub rate: f64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Compliance {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub expected: i64,
    pub filed: i64,
    pub rate: f64,
    pub workers: Vec<WorkerCompliance>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub compound_id: String,
    pub compound_name: String,
    #[serde(with = "crate::app::rfc3339")]
    pub generated_at: NaiveDateTime,
    pub logs: DayLogs,
    pub open_tickets: OpenTickets,
    pub visit_requests: VisitRequests,
    pub compliance: Compliance,
}

fn compound_for(conn: &mut DbConn, actor: &Actor, id: &OrgUnitId) -> AppResult<(OrgUnitId, String, OrgPath)> {
    let c = find_unit(conn, id)?.filter(|u| u.kind == OrgKind::Compound).ok_or(AppError::NotFound { what: "compound" })?;
    let path = c.path.clone();
    enforce(actor.decide(Operation::BoardRead, &path), "compound", Operation::BoardRead)?;
    Ok((c.id, c.name, path))
}

fn range(q: &BoardQuery, date: NaiveDate) -> AppResult<(NaiveDate, NaiveDate)> {
    // Only days a working calendar counts: outside 1902–2100 no rest day is known, which is the
    // caller's mistake (422), not a calendar the service lacks (503).
    let covered = |field: &str, d: NaiveDate| {
        if STANDING_RULE_YEARS.contains(&d.year()) {
            Ok(d)
        } else {
            let (first, last) = (STANDING_RULE_YEARS.start(), STANDING_RULE_YEARS.end());
            Err(AppError::validation(field, crate::msg!("rule-calendar_years", first = *first, last = *last)))
        }
    };
    covered("date", date)?;
    let to = covered("to", q.to.unwrap_or(date))?;
    let from = covered("from", q.from.unwrap_or(to - Duration::days(29)))?;
    if from > to {
        return Err(AppError::validation("from", crate::msg!("rule-not_after", other = "to")));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(AppError::validation("from", crate::msg!("rule-range_days", days = MAX_RANGE_DAYS)));
    }
    Ok((from, to))
}

/// The board of one compound.
pub fn board(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    compound_id: &OrgUnitId,
    q: BoardQuery,
    now: NaiveDateTime,
) -> AppResult<Board> {
    let (id, name, path) = compound_for(conn, actor, compound_id)?;
    let today = ctx.rules.local_date(now);
    let date = q.date.unwrap_or(today);
    if date > today {
        return Err(AppError::validation("date", crate::msg!("rule-future_date", date = date.to_string())));
    }
    let (from, to) = range(&q, date)?;
    let workers = worker_grids(conn, Some(&path))?;
    let logs = day_logs(conn, ctx, id, &workers, date, now)?;
    let open_tickets = open_tickets(conn, actor, id, now)?;
    let visit_requests = visit_requests(conn, ctx, id, from, to)?;
    let compliance = compliance_of(conn, ctx, LogScope::Compound(id), &workers, from, to, now)?;
    Ok(Board { compound_id: id.to_string(), compound_name: name, generated_at: now, logs, open_tickets, visit_requests, compliance })
}

/// Log compliance per worker over a date range (日志填报率).
pub fn compliance(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    compound_id: &OrgUnitId,
    q: BoardQuery,
    now: NaiveDateTime,
) -> AppResult<Compliance> {
    let (id, _, path) = compound_for(conn, actor, compound_id)?;
    let today = ctx.rules.local_date(now);
    let (from, to) = range(&q, q.date.unwrap_or(today))?;
    let workers = worker_grids(conn, Some(&path))?;
    compliance_of(conn, ctx, LogScope::Compound(id), &workers, from, to, now)
}

/// One compound's line in a wider compliance report.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CompoundCompliance {
    pub compound_id: String,
    pub compound_name: String,
    pub workers: usize,
    pub expected: i64,
    pub filed: i64,
    pub rate: f64,
}

/// Log compliance of every grid worker under a unit, rolled up per compound (lowest rate first).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UnitCompliance {
    pub unit_id: String,
    pub unit_name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub expected: i64,
    pub filed: i64,
    pub rate: f64,
    pub compounds: Vec<CompoundCompliance>,
    pub workers: Vec<WorkerCompliance>,
}

/// 日志填报率 for any unit of the residential tree (a community, street, district…): the
/// aggregate that community staff and supervisors rank compounds by, with every worker's line.
pub fn unit_compliance(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    unit_id: &OrgUnitId,
    q: BoardQuery,
    now: NaiveDateTime,
) -> AppResult<UnitCompliance> {
    let unit = find_unit(conn, unit_id)?.filter(|u| u.kind != OrgKind::Department).ok_or(AppError::NotFound { what: "org unit" })?;
    let path = unit.path.clone();
    enforce(actor.decide(Operation::BoardRead, &path), "org unit", Operation::BoardRead)?;
    let today = ctx.rules.local_date(now);
    let (from, to) = range(&q, q.date.unwrap_or(today))?;
    let workers = worker_grids(conn, Some(&path))?;
    let c = compliance_of(conn, ctx, LogScope::Subtree(&path), &workers, from, to, now)?;
    let mut per: BTreeMap<String, CompoundCompliance> = BTreeMap::new();
    for (w, line) in workers.iter().zip(&c.workers) {
        let e = per.entry(w.compound_id.clone()).or_insert_with(|| CompoundCompliance {
            compound_id: w.compound_id.clone(),
            compound_name: String::new(),
            workers: 0,
            expected: 0,
            filed: 0,
            rate: 1.0,
        });
        e.workers += 1;
        e.expected += line.expected;
        e.filed += (line.on_time + line.late).min(line.expected);
    }
    let ids: Vec<String> = per.keys().cloned().collect();
    let names: HashMap<String, String> = crate::db::schema::org_units::table
        .filter(crate::db::schema::org_units::id.eq_any(&ids))
        .select((crate::db::schema::org_units::id, crate::db::schema::org_units::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut compounds: Vec<CompoundCompliance> = per
        .into_values()
        .map(|mut c| {
            c.compound_name = names.get(&c.compound_id).cloned().unwrap_or_default();
            c.rate = if c.expected == 0 { 1.0 } else { c.filed as f64 / c.expected as f64 };
            c
        })
        .collect();
    compounds.sort_by(|a, b| a.rate.partial_cmp(&b.rate).unwrap_or(std::cmp::Ordering::Equal).then(a.compound_name.cmp(&b.compound_name)));
    Ok(UnitCompliance {
        unit_id: unit.id.to_string(),
        unit_name: unit.name,
        from: c.from,
        to: c.to,
        expected: c.expected,
        filed: c.filed,
        rate: c.rate,
        compounds,
        workers: c.workers,
    })
}

fn day_logs(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    compound_id: OrgUnitId,
    workers: &[WorkerGrid],
    date: NaiveDate,
    now: NaiveDateTime,
) -> AppResult<DayLogs> {
    let rules = ctx.rules;
    let expected = ctx.log_expected(date)?;
    let deadline_at = rules.deadline_of(date);
    let past_deadline = now > deadline_at;
    let rows: Vec<(String, String, String, NaiveDateTime, bool, i32)> = visit_logs::table
        .filter(visit_logs::compound_id.eq(compound_id))
        .filter(visit_logs::visit_date.eq(date))
        .select((
            visit_logs::id,
            visit_logs::author_id,
            visit_logs::grid_id,
            visit_logs::created_at,
            visit_logs::late,
            visit_logs::households_visited,
        ))
        .load(conn)?;
    let filed: HashMap<(String, String), (String, NaiveDateTime, bool, i32)> =
        rows.into_iter().map(|(id, a, g, at, late, n)| ((a, g), (id, at, late, n))).collect();
    let keys: Vec<String> = workers.iter().map(|w| reminder_key(&w.person_id, &w.grid_id, date)).collect();
    let reminded: HashMap<String, NaiveDateTime> = notifications::table
        .filter(notifications::dedupe_key.eq_any(&keys))
        .select((notifications::dedupe_key, notifications::created_at))
        .load::<(Option<String>, NaiveDateTime)>(conn)?
        .into_iter()
        .filter_map(|(k, at)| k.map(|k| (k, at)))
        .collect();
    let mut entries = vec![];
    for w in workers {
        if rules.local_date(w.since) > date {
            continue;
        }
        let log = filed.get(&(w.person_id.clone(), w.grid_id.clone()));
        let status = match log {
            Some((_, _, false, _)) => LogStatus::Filed,
            Some((_, _, true, _)) => LogStatus::FiledLate,
            None if !expected => LogStatus::NotExpected,
            None if past_deadline => LogStatus::Missing,
            None => LogStatus::Pending,
        };
        entries.push(WorkerLog {
            person_id: w.person_id.clone(),
            name: w.name.clone(),
            grid_id: w.grid_id.clone(),
            grid_name: w.grid_name.clone(),
            status,
            log_id: log.map(|l| l.0.clone()),
            filed_at: log.map(|l| l.1),
            households_visited: log.map(|l| l.3),
            reminded_at: reminded.get(&reminder_key(&w.person_id, &w.grid_id, date)).copied(),
        });
    }
    let filed_n = entries.iter().filter(|e| matches!(e.status, LogStatus::Filed | LogStatus::FiledLate)).count();
    let not_filed_by_deadline: Vec<WorkerLog> =
        entries.iter().filter(|e| e.status == LogStatus::Missing || e.status == LogStatus::FiledLate).cloned().collect();
    let missing = entries.iter().filter(|e| e.status == LogStatus::Missing).count();
    Ok(DayLogs {
        date,
        expected,
        deadline_at,
        past_deadline,
        workers: entries.len(),
        filed: filed_n,
        missing,
        entries,
        not_filed_by_deadline,
    })
}

/// One compound's open cases, by state, with how many are past their nearest deadline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CompoundOpen {
    pub compound_id: String,
    pub compound_name: String,
    /// Every open state, in the workflow's order (zero included).
    pub by_state: Vec<(TicketState, i64)>,
    pub total: i64,
    pub overdue: i64,
}

/// 各小区在办 as of a moment: computed once and shared by everyone who oversees the unit for
/// `server.overview_refresh_s` (the page says when it was counted).
#[derive(Clone, Debug)]
pub struct OpenByCompound {
    pub counted_at: NaiveDateTime,
    pub compounds: std::sync::Arc<Vec<CompoundOpen>>,
}

/// The shared counts of the oversight desks, per unit: counting a district's open cases reads
/// every one of them (tens of thousands of index entries at a million tickets), so that each
/// overseer's page view does not repeat it, the count is kept for a few seconds.
pub struct OverviewCache {
    refresh: std::time::Duration,
    entries: std::sync::Mutex<HashMap<String, (std::time::Instant, OpenByCompound)>>,
}

impl OverviewCache {
    /// Counts are kept `refresh_s` seconds; 0 counts on every request.
    pub fn new(refresh_s: u64) -> OverviewCache {
        OverviewCache { refresh: std::time::Duration::from_secs(refresh_s), entries: Default::default() }
    }

    fn get(&self, unit_id: &str) -> Option<OpenByCompound> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(unit_id).filter(|(taken, _)| taken.elapsed() < self.refresh).map(|(_, v)| v.clone())
    }

    fn put(&self, unit_id: String, v: OpenByCompound) {
        if self.refresh.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (taken, _)| taken.elapsed() < self.refresh);
        entries.insert(unit_id, (std::time::Instant::now(), v));
    }
}

/// 各小区在办: the open cases of every compound under a unit of the residential tree (a community,
/// a street, a district…), by state, most overdue first — what community staff and supervisors
/// oversee. Compounds with nothing open are left out. The caller's right is checked on every call;
/// the counts may come from `cache` (at most `server.overview_refresh_s` old, `counted_at` says).
pub fn open_by_compound(
    conn: &mut DbConn,
    actor: &Actor,
    unit_id: &OrgUnitId,
    now: NaiveDateTime,
    cache: &OverviewCache,
) -> AppResult<OpenByCompound> {
    let unit = find_unit(conn, unit_id)?.filter(|u| u.kind != OrgKind::Department).ok_or(AppError::NotFound { what: "org unit" })?;
    let path = unit.path.clone();
    enforce(actor.decide(Operation::BoardRead, &path), "org unit", Operation::BoardRead)?;
    let key = unit.id.to_string();
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let open = open_states();
    // The compounds under the unit (itself, if it is one), then their open tickets by state, and
    // how many of them are past their nearest deadline, in one pass over the
    // (compound_id, state, due_at) index alone: no ticket row is read.
    let compounds: Vec<String> = if unit.kind == OrgKind::Compound {
        vec![key.clone()]
    } else {
        crate::db::schema::org_units::table
            .filter(crate::db::schema::org_units::kind.eq(OrgKind::Compound.as_str()))
            .filter(crate::db::schema::org_units::path.gt(path.as_str().to_string()))
            .filter(crate::db::schema::org_units::path.lt(path.subtree_upper_bound()))
            .select(crate::db::schema::org_units::id)
            .load(conn)?
    };
    let counts: Vec<(String, String, i64, i64)> = if compounds.is_empty() {
        vec![]
    } else {
        let late = late_count(now);
        tickets::table
            .filter(tickets::compound_id.eq_any(&compounds))
            .filter(tickets::state.eq_any(open))
            .group_by((tickets::compound_id, tickets::state))
            .select((tickets::compound_id, tickets::state, diesel::dsl::count_star(), late))
            .load(conn)?
    };
    let mut per: BTreeMap<String, (HashMap<String, i64>, i64)> = BTreeMap::new();
    for (compound, state, n, late) in counts {
        let e = per.entry(compound).or_default();
        e.0.insert(state, n);
        e.1 += late;
    }
    let ids: Vec<String> = per.keys().cloned().collect();
    let names = super::org::names_of(conn, &ids)?;
    let mut out: Vec<CompoundOpen> = per
        .into_iter()
        .map(|(compound_id, (states, overdue))| {
            let by_state: Vec<(TicketState, i64)> =
                TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| (*s, states.get(s.as_str()).copied().unwrap_or(0))).collect();
            CompoundOpen {
                compound_name: names.get(&compound_id).cloned().unwrap_or_default(),
                total: by_state.iter().map(|(_, n)| n).sum(),
                overdue,
                by_state,
                compound_id,
            }
        })
        .collect();
    out.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(b.total.cmp(&a.total)).then(a.compound_name.cmp(&b.compound_name)));
    let counted = OpenByCompound { counted_at: now, compounds: std::sync::Arc::new(out) };
    cache.put(key, counted.clone());
    Ok(counted)
}

/// How many tickets of a group are past their nearest deadline at `now`: counted in the same
/// pass as the group's size.
type LateCount = diesel::expression::SqlLiteral<
    diesel::sql_types::BigInt,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<diesel::sql_types::BigInt>,
        diesel::dsl::AsExprOf<NaiveDateTime, diesel::sql_types::Timestamp>,
    >,
>;

fn late_count(now: NaiveDateTime) -> LateCount {
    use diesel::sql_types::{BigInt, Timestamp};
    diesel::dsl::sql::<BigInt>("CAST(COALESCE(SUM(CASE WHEN due_at < ").bind::<Timestamp, _>(now).sql(" THEN 1 ELSE 0 END), 0) AS BIGINT)")
}

fn open_states() -> Vec<&'static str> {
    TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect()
}

fn open_tickets(conn: &mut DbConn, actor: &Actor, compound_id: OrgUnitId, now: NaiveDateTime) -> AppResult<OpenTickets> {
    let open = open_states();
    // Open tickets by state and how many are past their nearest deadline: one pass over the
    // (compound_id, state, due_at) index alone.
    let late = late_count(now);
    let counts: Vec<(String, i64, i64)> = tickets::table
        .filter(tickets::compound_id.eq(compound_id))
        .filter(tickets::state.eq_any(&open))
        .group_by(tickets::state)
        .select((tickets::state, diesel::dsl::count_star(), late))
        .load(conn)?;
    let counts: HashMap<String, (i64, i64)> = counts.into_iter().map(|(s, n, late)| (s, (n, late))).collect();
    let by_state: Vec<StateCount> = TicketState::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| {
            let (count, overdue) = counts.get(s.as_str()).copied().unwrap_or((0, 0));
            StateCount { state: *s, state_zh: crate::i18n::text(crate::i18n::Lang::Zh, s.label_key()), count, overdue }
        })
        .collect();
    // The nearest deadlines: the first entries of each open state's range of that index, in
    // deadline order, merged; then those few rows (sorting every open row of a large compound
    // would read them all).
    let mut heads: Vec<(NaiveDateTime, TicketId)> = vec![];
    for state in &open {
        let page: Vec<(Option<NaiveDateTime>, TicketId)> = tickets::table
            .filter(tickets::compound_id.eq(compound_id))
            .filter(tickets::state.eq(*state))
            .filter(tickets::due_at.is_not_null())
            .order((tickets::due_at.asc(), tickets::id))
            .limit(BOARD_ITEMS)
            .select((tickets::due_at, tickets::id))
            .load(conn)?;
        heads.extend(page.into_iter().filter_map(|(due, id)| due.map(|d| (d, id))));
    }
    heads.sort();
    heads.truncate(BOARD_ITEMS as usize);
    let ids: Vec<TicketId> = heads.iter().map(|(_, id)| *id).collect();
    let mut nearest: Vec<TicketListRow> = tickets::table.filter(tickets::id.eq_any(&ids)).select(TicketListRow::as_select()).load(conn)?;
    nearest.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    Ok(OpenTickets {
        total: by_state.iter().map(|s| s.count).sum(),
        overdue: by_state.iter().map(|s| s.overdue).sum(),
        by_state,
        nearest_deadlines: summaries(conn, actor, nearest, now)?,
    })
}

fn visit_requests(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    compound_id: OrgUnitId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<VisitRequests> {
    let start = ctx.rules.utc_of(from, chrono::NaiveTime::MIN);
    let end = ctx.rules.utc_of(to + Duration::days(1), chrono::NaiveTime::MIN);
    let counts: Vec<(String, i64)> = tickets::table
        .filter(tickets::compound_id.eq(compound_id))
        .filter(tickets::created_at.ge(start))
        .filter(tickets::created_at.lt(end))
        .filter(tickets::visit_log_id.is_not_null())
        .group_by(tickets::state)
        .select((tickets::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut stages: BTreeMap<LoopStage, i64> = LoopStage::ALL.iter().map(|s| (*s, 0)).collect();
    for (state, n) in counts {
        if let Ok(s) = state.parse::<TicketState>() {
            *stages.entry(LoopStage::of(s)).or_default() += n;
        }
    }
    let open = open_states();
    let rows: Vec<TicketRow> = tickets::table
        .filter(tickets::compound_id.eq(compound_id))
        .filter(tickets::created_at.ge(start))
        .filter(tickets::created_at.lt(end))
        .filter(tickets::visit_log_id.is_not_null())
        .filter(tickets::state.eq_any(&open))
        .order((tickets::created_at.asc(), tickets::id))
        .limit(BOARD_ITEMS)
        .select(TicketRow::as_select())
        .load(conn)?;
    Ok(VisitRequests {
        from,
        to,
        total: stages.values().sum(),
        by_stage: stages.into_iter().map(|(stage, count)| StageCount { stage, count }).collect(),
        open: rows
            .into_iter()
            .map(|t| VisitRequest {
                visit_log_id: t.visit_log_id.map(|v| v.to_string()).unwrap_or_default(),
                filed_at: t.created_at,
                due_at: t.due_at,
                ticket: logged_ticket(t),
            })
            .collect(),
    })
}

/// Whose logs a compliance report counts.
enum LogScope<'a> {
    Compound(OrgUnitId),
    Subtree(&'a OrgPath),
}

fn compliance_of(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    scope: LogScope<'_>,
    workers: &[WorkerGrid],
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
) -> AppResult<Compliance> {
    let today = ctx.rules.local_date(now);
    let last = to.min(today);
    // The range's days split once into expected days and rest days (weekends, holidays). Rest
    // days are few, so their logs are excluded by list and the rest counted per worker in one pass.
    let (mut expected_days, mut rest_days): (Vec<NaiveDate>, Vec<NaiveDate>) = (vec![], vec![]);
    let mut d = from;
    while d <= last {
        if ctx.log_expected(d)? {
            expected_days.push(d);
        } else {
            rest_days.push(d);
        }
        d += Duration::days(1);
    }
    let in_range = visit_logs::visit_date.ge(from).and(visit_logs::visit_date.le(last)).and(visit_logs::visit_date.ne_all(rest_days));
    let counts = (visit_logs::author_id, visit_logs::grid_id, visit_logs::late, diesel::dsl::count_star());
    let grouping = (visit_logs::author_id, visit_logs::grid_id, visit_logs::late);
    let rows: Vec<(String, String, bool, i64)> = match scope {
        LogScope::Compound(id) => {
            visit_logs::table.filter(visit_logs::compound_id.eq(id)).filter(in_range).group_by(grouping).select(counts).load(conn)?
        }
        LogScope::Subtree(root) => visit_logs::table
            .filter(visit_logs::grid_path.ge(root.as_str().to_string()))
            .filter(visit_logs::grid_path.lt(root.subtree_upper_bound()))
            .filter(in_range)
            .group_by(grouping)
            .select(counts)
            .load(conn)?,
    };
    let mut tally: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for (a, g, late, n) in rows {
        let e = tally.entry((a, g)).or_default();
        if late {
            e.1 += n
        } else {
            e.0 += n
        }
    }
    let mut out = vec![];
    for w in workers {
        let since = ctx.rules.local_date(w.since);
        let expected = expected_days.iter().filter(|d| **d >= since).count() as i64;
        let (on_time, late) = tally.get(&(w.person_id.clone(), w.grid_id.clone())).copied().unwrap_or((0, 0));
        let missing = (expected - on_time - late).max(0);
        out.push(WorkerCompliance {
            person_id: w.person_id.clone(),
            name: w.name.clone(),
            grid_id: w.grid_id.clone(),
            grid_name: w.grid_name.clone(),
            expected,
            on_time,
            late,
            missing,
            rate: if expected == 0 { 1.0 } else { ((on_time + late) as f64 / expected as f64).min(1.0) },
        });
    }
    let expected: i64 = out.iter().map(|w| w.expected).sum();
    let filed: i64 = out.iter().map(|w| (w.on_time + w.late).min(w.expected)).sum();
    Ok(Compliance { from, to, expected, filed, rate: if expected == 0 { 1.0 } else { filed as f64 / expected as f64 }, workers: out })
}
