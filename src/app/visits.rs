//! The daily visit (走访): grid workers' visit logs with the requests and return visits recorded in
//! them, the households' visit status, and reminders for logs not filed by the deadline.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::calendars::Calendars;
use crate::db::models::{HouseholdRow, OrgUnitRow, ReturnVisitRow, TicketRow, VisitLogRow};
use crate::db::schema::{
    households, memberships, notifications, org_units, people, tickets, visit_log_households, visit_log_return_visits, visit_logs,
};
use crate::db::DbConn;
use crate::domain::visits::{HouseholdKind, LogDays, LoopStage, VisitRules};
use crate::domain::workflow::{Satisfaction, TicketState};
use crate::domain::{Actor, Grant, Id, Operation, OrgKind, OrgPath, Role};

use super::audit::{self, ActedBy, Draft};
use super::org::find_unit;
use super::scope::{enforce, paths_in};
use super::sla::SlaContext;
use super::tickets::{self as ticket_cases, ActionRequest, NewTicket, TimelineEvent};
use super::{check_version, parse_id, AppError, AppResult};
use super::{opt_text, text};

/// What the visit use cases need besides a connection.
#[derive(Clone, Copy)]
pub struct VisitContext<'a> {
    pub rules: &'a VisitRules,
    pub sla: SlaContext<'a>,
}

impl VisitContext<'_> {
    fn calendars(&self) -> &Calendars {
        self.sla.calendars
    }

    /// Whether a log is expected on `date` (a working day, or every day).
    pub fn log_expected(&self, date: NaiveDate) -> AppResult<bool> {
        match self.rules.log_days {
            LogDays::EveryDay => Ok(true),
            LogDays::WorkingDays => Ok(self.calendars().default_calendar().is_working_day(date)?),
        }
    }
}

/// The most requests and return visits one log may carry, and households it may list.
pub const MAX_LOG_TICKETS: usize = 20;
pub const MAX_LOG_RETURN_VISITS: usize = 50;
pub const MAX_LOG_HOUSEHOLDS: usize = 500;

// ---------------------------------------------------------------- input and output

/// A return visit (回访) recorded in a log: the resident's verdict on a solved ticket.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnVisitInput {
    #[schema(format = Uuid)]
    pub ticket_id: String,
    pub satisfaction: Satisfaction,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A day's visit log (走访日志) as the worker's device submits it.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisitLog {
    /// A UUID the device generates once per log: a retried submission with the same id returns
    /// the first log and files nothing twice.
    #[schema(format = Uuid)]
    pub client_id: String,
    /// The grid (building or compound) the log is for: one of the worker's own grids.
    #[schema(format = Uuid)]
    pub grid_id: String,
    /// The day of the visit (local date). Today, or up to `visits.backfill_days` back.
    pub visit_date: NaiveDate,
    /// Households visited, at least as many as `household_ids` lists.
    #[schema(minimum = 0, maximum = 500)]
    pub households_visited: i32,
    /// Which households were visited, when the worker records them.
    #[serde(default)]
    #[schema(inline, value_type = Vec<uuid::Uuid>, max_items = 500)]
    pub household_ids: Vec<String>,
    /// What was observed (走访情况).
    #[schema(min_length = 1, max_length = 4000)]
    pub observations: String,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// Requests collected on the visit, filed as tickets with the log. `building_id` /
    /// `compound_id` may be left out: the log's grid is used.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tickets: Vec<NewTicket>,
    /// Return visits made on the round.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub return_visits: Vec<ReturnVisitInput>,
}

/// Changes to a log on its own day. Absent fields stay; tickets and return visits are added.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitLogAmendment {
    #[schema(minimum = 0, maximum = 500)]
    pub households_visited: Option<i32>,
    /// Replaces the list of visited households.
    #[schema(inline, value_type = Option<Vec<uuid::Uuid>>, max_items = 500)]
    pub household_ids: Option<Vec<String>>,
    #[schema(min_length = 1, max_length = 4000)]
    pub observations: Option<String>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub add_tickets: Vec<NewTicket>,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub add_return_visits: Vec<ReturnVisitInput>,
}

/// A household as a log or a list shows it: address and kind, no personal data.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HouseholdRef {
    pub id: String,
    pub building_id: String,
    pub unit_no: String,
    pub room: String,
    pub kind: HouseholdKind,
}

/// A ticket raised in a log, with where it stands in the closed loop.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedTicket {
    pub id: String,
    pub number: String,
    pub title: String,
    pub state: TicketState,
    pub loop_stage: LoopStage,
    pub satisfaction: Option<Satisfaction>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReturnVisitView {
    pub ticket_id: String,
    pub ticket_number: String,
    pub satisfaction: Satisfaction,
    pub note: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub recorded_at: NaiveDateTime,
}

/// A visit log with everything recorded in it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitLogView {
    pub id: String,
    pub client_id: String,
    pub author_id: String,
    pub author_name: String,
    pub grid_id: String,
    pub grid_name: String,
    pub compound_id: String,
    pub visit_date: NaiveDate,
    pub households_visited: i32,
    pub households: Vec<HouseholdRef>,
    pub observations: String,
    pub notes: Option<String>,
    /// Filed after the day's deadline (`visits.log_deadline`).
    pub late: bool,
    /// Past its day: no more amendments.
    pub locked: bool,
    pub tickets: Vec<LoggedTicket>,
    pub return_visits: Vec<ReturnVisitView>,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// A log in a list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitLogSummary {
    pub id: String,
    pub author_id: String,
    pub grid_id: String,
    pub visit_date: NaiveDate,
    pub households_visited: i32,
    pub late: bool,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitLogPage {
    pub items: Vec<VisitLogSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VisitLogFilter {
    /// Only logs of grids in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    /// Only logs of this grid worker.
    #[param(format = Uuid)]
    pub author_id: Option<String>,
    /// First visit date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last visit date (inclusive).
    pub to: Option<NaiveDate>,
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

// ---------------------------------------------------------------- helpers

fn submission_hash(input: &NewVisitLog) -> String {
    let body = serde_json::to_string(input).unwrap_or_default();
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// The grid-worker grant for exactly this grid.
fn worker_grant<'a>(actor: &'a Actor, grid_id: &str) -> Option<&'a Grant> {
    actor.grants.iter().find(|g| g.role == Role::GridWorker && g.org_unit_id.to_string() == grid_id)
}

fn compound_of(conn: &mut DbConn, grid: &OrgUnitRow) -> AppResult<String> {
    if grid.kind == OrgKind::Compound.as_str() {
        return Ok(grid.id.clone());
    }
    let parent = find_unit(conn, grid.parent_id.as_deref().unwrap_or_default())?
        .ok_or_else(|| AppError::internal_msg("building without compound".into()))?;
    Ok(parent.id)
}

fn check_count(households_visited: i32, listed: usize) -> AppResult<()> {
    if !(0..=MAX_LOG_HOUSEHOLDS as i32).contains(&households_visited) {
        return Err(AppError::validation(
            "households_visited",
            crate::msg!("rule-between", min = "0", max = MAX_LOG_HOUSEHOLDS.to_string()),
        ));
    }
    if (households_visited as usize) < listed {
        return Err(AppError::validation(
            "households_visited",
            crate::msg!("why-households_count", visited = households_visited, listed = listed),
        ));
    }
    Ok(())
}

/// Checks that every listed household exists, is active and lies in the grid; returns them.
fn grid_households(conn: &mut DbConn, grid_path: &OrgPath, ids: &[String]) -> AppResult<Vec<HouseholdRow>> {
    if ids.len() > MAX_LOG_HOUSEHOLDS {
        return Err(AppError::validation("household_ids", crate::msg!("rule-at_most_items", max = MAX_LOG_HOUSEHOLDS)));
    }
    let mut seen = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        parse_id(&format!("household_ids[{i}]"), id)?;
        if !seen.insert(id.as_str()) {
            return Err(AppError::validation(format!("household_ids[{i}]"), crate::msg!("rule-listed_twice")));
        }
    }
    let found: Vec<(HouseholdRow, String)> = households::table
        .inner_join(org_units::table)
        .filter(households::id.eq_any(ids))
        .filter(households::active.eq(true))
        .select((HouseholdRow::as_select(), org_units::path))
        .load(conn)?;
    let by_id: HashMap<String, (HouseholdRow, String)> = found.into_iter().map(|(h, p)| (h.id.clone(), (h, p))).collect();
    let mut out = vec![];
    for (i, id) in ids.iter().enumerate() {
        match by_id.get(id) {
            Some((h, path)) if grid_path.contains(&OrgPath::from_db(path.clone())) => out.push(h.clone()),
            _ => {
                return Err(AppError::UnknownReference {
                    field: format!("household_ids[{i}]"),
                    detail: crate::msg!("why-no_household_in_grid"),
                })
            }
        }
    }
    Ok(out)
}

/// Raises the households' last visit date to `date`.
pub(crate) fn mark_visited(conn: &mut DbConn, ids: &[String], date: NaiveDate) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(households::table.filter(households::id.eq_any(ids)))
        .filter(households::last_visited_on.is_null().or(households::last_visited_on.lt(date)))
        .set(households::last_visited_on.eq(date))
        .execute(conn)?;
    Ok(())
}

/// Recomputes the households' last visit date from the logs that list them.
fn recompute_visited(conn: &mut DbConn, ids: &[String]) -> AppResult<()> {
    for id in ids {
        let last: Option<NaiveDate> = visit_log_households::table
            .inner_join(visit_logs::table)
            .filter(visit_log_households::household_id.eq(id))
            .select(diesel::dsl::max(visit_logs::visit_date))
            .first(conn)?;
        diesel::update(households::table.find(id)).set(households::last_visited_on.eq(last)).execute(conn)?;
    }
    Ok(())
}

/// A ticket filing of a log, checked and numbered (numbers are taken outside the transaction).
fn prepare_tickets(
    conn: &mut DbConn,
    actor: &Actor,
    grid: &OrgUnitRow,
    inputs: Vec<NewTicket>,
    field: &str,
    now: NaiveDateTime,
) -> AppResult<Vec<ticket_cases::PreparedFiling>> {
    if inputs.len() > MAX_LOG_TICKETS {
        return Err(AppError::validation(field, crate::msg!("rule-at_most_items", max = MAX_LOG_TICKETS)));
    }
    let grid_path = OrgPath::from_db(grid.path.clone());
    let mut out = vec![];
    for (i, mut t) in inputs.into_iter().enumerate() {
        let at = |e: AppError| -> AppError {
            match e {
                AppError::Validation { field: f, detail } => AppError::Validation { field: format!("{field}[{i}].{f}"), detail },
                AppError::UnknownReference { field: f, detail } => {
                    AppError::UnknownReference { field: format!("{field}[{i}].{f}"), detail }
                }
                other => other,
            }
        };
        if t.visit_log_id.is_some() {
            return Err(AppError::validation(format!("{field}[{i}].visit_log_id"), crate::msg!("why-log_links_requests")));
        }
        if t.building_id.is_none() && t.compound_id.is_none() {
            if grid.kind == OrgKind::Building.as_str() {
                t.building_id = Some(grid.id.clone());
            } else {
                t.compound_id = Some(grid.id.clone());
            }
        }
        let p = ticket_cases::prepare_filing(conn, actor, t, now).map_err(at)?;
        if !grid_path.contains(&OrgPath::from_db(p.place_path().to_string())) {
            return Err(AppError::validation(format!("{field}[{i}]"), crate::msg!("why-place_in_log_grid")));
        }
        out.push(p);
    }
    Ok(out)
}

fn check_return_visits(v: &[ReturnVisitInput], field: &str) -> AppResult<()> {
    if v.len() > MAX_LOG_RETURN_VISITS {
        return Err(AppError::validation(field, crate::msg!("rule-at_most_items", max = MAX_LOG_RETURN_VISITS)));
    }
    let mut seen = BTreeSet::new();
    for (i, r) in v.iter().enumerate() {
        parse_id(&format!("{field}[{i}].ticket_id"), &r.ticket_id)?;
        if !seen.insert(r.ticket_id.as_str()) {
            return Err(AppError::validation(format!("{field}[{i}].ticket_id"), crate::msg!("rule-listed_twice")));
        }
        opt_text(&format!("{field}[{i}].note"), &r.note, 2000)?;
    }
    Ok(())
}

/// Records return visits through the ticket workflow (each is the ticket's own `record_return_visit`
/// action, with its audit event) and in the log.
fn record_return_visits(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    log_id: &str,
    visits: Vec<ReturnVisitInput>,
    field: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    for (i, r) in visits.into_iter().enumerate() {
        let f = format!("{field}[{i}].ticket_id");
        let version: Option<i64> = tickets::table.find(&r.ticket_id).select(tickets::version).first(conn).optional()?;
        let Some(version) = version else {
            return Err(AppError::UnknownReference { field: f, detail: crate::msg!("why-no_ticket_in_grid") });
        };
        let req = ActionRequest::RecordReturnVisit { satisfaction: r.satisfaction, note: r.note.clone() };
        ticket_cases::act(conn, ctx.sla, actor, &r.ticket_id, Some(version), req, now).map_err(|e| match e {
            AppError::NotFound { .. } => AppError::UnknownReference { field: f.clone(), detail: crate::msg!("why-no_ticket_in_grid") },
            AppError::IllegalAction { state, .. } => AppError::validation(
                f.clone(),
                crate::msg!(
                    "why-return_visit_needs_solved",
                    state = crate::domain::text::Arg::Key(
                        state.parse::<crate::domain::workflow::TicketState>().map(|s| s.label_key()).unwrap_or("entity-object")
                    )
                ),
            ),
            other => other,
        })?;
        diesel::insert_into(visit_log_return_visits::table)
            .values(&ReturnVisitRow {
                id: Id::new().to_string(),
                log_id: log_id.into(),
                ticket_id: r.ticket_id,
                satisfaction: r.satisfaction.as_str().into(),
                note: opt_text("note", &r.note, 2000)?,
                recorded_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

fn view(conn: &mut DbConn, rules: &VisitRules, log: VisitLogRow, now: NaiveDateTime) -> AppResult<VisitLogView> {
    let author_name: String = people::table.find(&log.author_id).select(people::display_name).first(conn)?;
    let grid_name: String = org_units::table.find(&log.grid_id).select(org_units::name).first(conn)?;
    let hh: Vec<HouseholdRow> = households::table
        .inner_join(visit_log_households::table)
        .filter(visit_log_households::log_id.eq(&log.id))
        .order((households::unit_no, households::room))
        .select(HouseholdRow::as_select())
        .load(conn)?;
    let ts: Vec<TicketRow> =
        tickets::table.filter(tickets::visit_log_id.eq(&log.id)).order(tickets::created_at).select(TicketRow::as_select()).load(conn)?;
    let rv: Vec<(ReturnVisitRow, String)> = visit_log_return_visits::table
        .inner_join(tickets::table)
        .filter(visit_log_return_visits::log_id.eq(&log.id))
        .order(visit_log_return_visits::recorded_at)
        .select((ReturnVisitRow::as_select(), tickets::number))
        .load(conn)?;
    Ok(VisitLogView {
        locked: rules.is_locked(log.visit_date, now),
        households: hh.into_iter().map(household_ref).collect(),
        tickets: ts.into_iter().map(logged_ticket).collect(),
        return_visits: rv
            .into_iter()
            .map(|(r, number)| ReturnVisitView {
                ticket_id: r.ticket_id,
                ticket_number: number,
                satisfaction: r.satisfaction.parse().unwrap_or(Satisfaction::Satisfied),
                note: r.note,
                recorded_at: r.recorded_at,
            })
            .collect(),
        id: log.id,
        client_id: log.client_id,
        author_id: log.author_id,
        author_name,
        grid_id: log.grid_id,
        grid_name,
        compound_id: log.compound_id,
        visit_date: log.visit_date,
        households_visited: log.households_visited,
        observations: log.observations,
        notes: log.notes,
        late: log.late,
        version: log.version,
        created_at: log.created_at,
        updated_at: log.updated_at,
    })
}

fn household_ref(h: HouseholdRow) -> HouseholdRef {
    HouseholdRef {
        kind: HouseholdKind::parse(&h.kind).unwrap_or(HouseholdKind::Ordinary),
        id: h.id,
        building_id: h.building_id,
        unit_no: h.unit_no,
        room: h.room,
    }
}

pub fn logged_ticket(t: TicketRow) -> LoggedTicket {
    let state: TicketState = t.state.parse().unwrap_or(TicketState::AtCompound);
    LoggedTicket {
        loop_stage: LoopStage::of(state),
        satisfaction: t.satisfaction.as_deref().and_then(|s| s.parse().ok()),
        id: t.id,
        number: t.number,
        title: t.title,
        state,
    }
}

/// The id of an author's log of one grid and day, if filed.
fn log_of_day(conn: &mut DbConn, author: &str, grid_id: &str, date: NaiveDate) -> AppResult<Option<String>> {
    Ok(visit_logs::table
        .filter(visit_logs::author_id.eq(author))
        .filter(visit_logs::grid_id.eq(grid_id))
        .filter(visit_logs::visit_date.eq(date))
        .select(visit_logs::id)
        .first(conn)
        .optional()?)
}

fn find_by_client_id(conn: &mut DbConn, author: &str, client_id: &str) -> AppResult<Option<VisitLogRow>> {
    Ok(visit_logs::table
        .filter(visit_logs::author_id.eq(author))
        .filter(visit_logs::client_id.eq(client_id))
        .select(VisitLogRow::as_select())
        .first(conn)
        .optional()?)
}

/// A replayed retry or a client id reused for a different log.
fn replay_or_refuse(conn: &mut DbConn, rules: &VisitRules, found: VisitLogRow, hash: &str, now: NaiveDateTime) -> AppResult<Filed> {
    if found.submission_hash != hash {
        return Err(AppError::validation("client_id", crate::msg!("why-client_id_used", date = found.visit_date.to_string())));
    }
    Ok(Filed { replayed: true, log: view(conn, rules, found, now)? })
}

// ---------------------------------------------------------------- commands

/// The outcome of a submission: a new log, or the first one again for a retry.
pub struct Filed {
    pub replayed: bool,
    pub log: VisitLogView,
}

/// 提交走访日志: files the day's log for one of the worker's grids, with the requests collected
/// (filed as tickets linked to the log) and the return visits made, all in one transaction.
/// Idempotent on the device's `client_id`.
pub fn submit_log(conn: &mut DbConn, ctx: VisitContext<'_>, actor: &Actor, input: NewVisitLog, now: NaiveDateTime) -> AppResult<Filed> {
    let hash = submission_hash(&input);
    let author = actor.person_id.to_string();
    parse_id("client_id", &input.client_id)?;
    if let Some(found) = find_by_client_id(conn, &author, &input.client_id)? {
        return replay_or_refuse(conn, ctx.rules, found, &hash, now);
    }
    parse_id("grid_id", &input.grid_id)?;
    let unknown_grid = || AppError::UnknownReference { field: "grid_id".into(), detail: crate::msg!("why-no_grid_in_scope") };
    let grid = find_unit(conn, &input.grid_id)?.ok_or_else(unknown_grid)?;
    let grid_path = OrgPath::from_db(grid.path.clone());
    if !actor.may(Operation::VisitLogRead, &grid_path) {
        return Err(unknown_grid());
    }
    let Some(grant) = worker_grant(actor, &grid.id).cloned() else {
        return Err(AppError::forbidden(crate::msg!("why-own_grid_log")));
    };
    if !grid.active {
        return Err(AppError::validation("grid_id", crate::msg!("why-grid_inactive")));
    }
    ctx.rules.check_filing_date(input.visit_date, now).map_err(|e| AppError::validation("visit_date", e))?;
    if let Some(log_id) = log_of_day(conn, &author, &grid.id, input.visit_date)? {
        // The day's log may be this very submission, committed by a concurrent twin after the
        // client-id lookup above: answer that as a retry, anything else as a conflict.
        return match find_by_client_id(conn, &author, &input.client_id)? {
            Some(found) => replay_or_refuse(conn, ctx.rules, found, &hash, now),
            None => Err(AppError::LogExists { date: input.visit_date, log_id }),
        };
    }
    check_count(input.households_visited, input.household_ids.len())?;
    let observations = text("observations", &input.observations, 4000)?;
    let notes = opt_text("notes", &input.notes, 2000)?;
    let visited = grid_households(conn, &grid_path, &input.household_ids)?;
    check_return_visits(&input.return_visits, "return_visits")?;
    let compound_id = compound_of(conn, &grid)?;
    let filings = prepare_tickets(conn, actor, &grid, input.tickets.clone(), "tickets", now)?;
    let row = VisitLogRow {
        id: Id::new().to_string(),
        client_id: input.client_id.clone(),
        author_id: author.clone(),
        grid_id: grid.id.clone(),
        grid_path: grid.path.clone(),
        compound_id,
        visit_date: input.visit_date,
        households_visited: input.households_visited,
        observations,
        notes,
        submission_hash: hash.clone(),
        late: ctx.rules.is_late(input.visit_date, now),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let done = conn.transaction(|conn| {
        lock_for_log(conn, &row.id, &filings, &input.return_visits)?;
        diesel::insert_into(visit_logs::table).values(&row).execute(conn)?;
        let ids: Vec<String> = visited.iter().map(|h| h.id.clone()).collect();
        link_households(conn, &row.id, &ids)?;
        mark_visited(conn, &ids, row.visit_date)?;
        let n_tickets = filings.len();
        insert_log_requests(conn, ctx, actor, &row.id, filings, now)?;
        let n_visits = input.return_visits.len();
        record_return_visits(conn, ctx, actor, &row.id, input.return_visits.clone(), "return_visits", now)?;
        let by = ActedBy::person(actor.person_id, Some(&grant));
        audit::append(
            conn,
            Draft {
                entity_kind: "visit_log",
                entity_id: &row.id,
                by: &by,
                action: "file",
                from_state: None,
                to_state: None,
                reason: None,
                changes: json!({
                    "visit_date": [null, row.visit_date],
                    "grid_id": [null, row.grid_id],
                    "households_visited": [null, row.households_visited],
                    "household_ids": [null, ids],
                    "observations": [null, row.observations],
                    "notes": [null, row.notes],
                    "tickets_filed": [null, n_tickets],
                    "return_visits": [null, n_visits],
                    "late": [null, row.late],
                }),
            },
            now,
        )?;
        Ok::<_, AppError>(())
    });
    match done {
        Ok(()) => Ok(Filed { replayed: false, log: view(conn, ctx.rules, row, now)? }),
        // A concurrent twin of this submission won the race: answer as its retry.
        Err(AppError::Conflict { code: "already_exists", detail }) => match find_by_client_id(conn, &author, &input.client_id)? {
            Some(found) => replay_or_refuse(conn, ctx.rules, found, &hash, now),
            None => match log_of_day(conn, &author, &input.grid_id, input.visit_date)? {
                Some(log_id) => Err(AppError::LogExists { date: input.visit_date, log_id }),
                None => Err(AppError::Conflict { code: "already_exists", detail }),
            },
        },
        Err(e) => Err(e),
    }
}

/// The first step of a log's transaction, in the service's lock order (see `audit::lock_chains`):
/// the tickets revisited, then every audit chain the log will append to.
fn lock_for_log(conn: &mut DbConn, log_id: &str, filings: &[ticket_cases::PreparedFiling], visits: &[ReturnVisitInput]) -> AppResult<()> {
    let revisited: Vec<&str> = visits.iter().map(|r| r.ticket_id.as_str()).collect();
    ticket_cases::lock_rows(conn, &revisited)?;
    let chains = filings.iter().map(|f| f.ticket_id()).chain(revisited.iter().copied());
    audit::lock_chains(conn, chains.chain([log_id]))
}

/// Files the requests collected on a visit, linked to its log.
fn insert_log_requests(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    log_id: &str,
    filings: Vec<ticket_cases::PreparedFiling>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let linked = filings
        .into_iter()
        .map(|mut f| {
            f.link_visit_log(log_id);
            (actor, f)
        })
        .collect();
    ticket_cases::insert_filings(conn, ctx.sla, linked, now)?;
    Ok(())
}

pub(crate) fn link_households(conn: &mut DbConn, log_id: &str, ids: &[String]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    for h in ids {
        diesel::insert_into(visit_log_households::table)
            .values((visit_log_households::log_id.eq(log_id), visit_log_households::household_id.eq(h)))
            .execute(conn)?;
    }
    Ok(())
}

fn load_visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<VisitLogRow> {
    if id.parse::<Id>().is_err() {
        return Err(AppError::NotFound { what: "visit log" });
    }
    let log = visit_logs::table
        .find(id)
        .select(VisitLogRow::as_select())
        .first(conn)
        .optional()?
        .filter(|l| actor.may(Operation::VisitLogRead, &OrgPath::from_db(l.grid_path.clone())))
        .ok_or(AppError::NotFound { what: "visit log" })?;
    Ok(log)
}

/// 修改走访日志: amends the author's own log on its day; every amendment is audited with the
/// fields it changed. After the day the log is locked.
pub fn amend_log(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    id: &str,
    version: Option<i64>,
    input: VisitLogAmendment,
    now: NaiveDateTime,
) -> AppResult<VisitLogView> {
    let log = load_visible(conn, actor, id)?;
    let grid_path = OrgPath::from_db(log.grid_path.clone());
    let grant = match worker_grant(actor, &log.grid_id) {
        Some(g) if log.author_id == actor.person_id.to_string() => g.clone(),
        _ => return Err(AppError::forbidden(crate::msg!("why-log_author_amends"))),
    };
    if ctx.rules.is_locked(log.visit_date, now) {
        return Err(AppError::LogLocked { date: log.visit_date });
    }
    check_version(version, log.version)?;
    let grid = find_unit(conn, &log.grid_id)?.ok_or_else(|| AppError::internal_msg("log grid missing".into()))?;
    let old_ids: Vec<String> = visit_log_households::table
        .filter(visit_log_households::log_id.eq(&log.id))
        .order(visit_log_households::household_id)
        .select(visit_log_households::household_id)
        .load(conn)?;
    let new_ids: Vec<String> = match &input.household_ids {
        Some(ids) => {
            grid_households(conn, &grid_path, ids)?;
            let mut v = ids.clone();
            v.sort();
            v
        }
        None => old_ids.clone(),
    };
    let count = input.households_visited.unwrap_or(log.households_visited);
    check_count(count, new_ids.len())?;
    let observations = match &input.observations {
        Some(o) => text("observations", o, 4000)?,
        None => log.observations.clone(),
    };
    let notes = match &input.notes {
        Some(_) => opt_text("notes", &input.notes, 2000)?,
        None => log.notes.clone(),
    };
    check_return_visits(&input.add_return_visits, "add_return_visits")?;
    let filings = prepare_tickets(conn, actor, &grid, input.add_tickets.clone(), "add_tickets", now)?;
    let mut changes = serde_json::Map::new();
    if count != log.households_visited {
        changes.insert("households_visited".into(), json!([log.households_visited, count]));
    }
    if new_ids != old_ids {
        changes.insert("household_ids".into(), json!([old_ids, new_ids]));
    }
    if observations != log.observations {
        changes.insert("observations".into(), json!([log.observations, observations]));
    }
    if notes != log.notes {
        changes.insert("notes".into(), json!([log.notes, notes]));
    }
    if !filings.is_empty() {
        changes.insert("tickets_filed".into(), json!([null, filings.len()]));
    }
    if !input.add_return_visits.is_empty() {
        changes.insert("return_visits".into(), json!([null, input.add_return_visits.len()]));
    }
    if changes.is_empty() {
        return Err(AppError::validation("body", crate::msg!("why-nothing_to_change")));
    }
    conn.transaction(|conn| {
        lock_for_log(conn, &log.id, &filings, &input.add_return_visits)?;
        let n = diesel::update(visit_logs::table.find(&log.id))
            .filter(visit_logs::version.eq(log.version))
            .set((
                visit_logs::households_visited.eq(count),
                visit_logs::observations.eq(&observations),
                visit_logs::notes.eq(&notes),
                visit_logs::version.eq(log.version + 1),
                visit_logs::updated_at.eq(now),
            ))
            .execute(conn)?;
        if n == 0 {
            let current: i64 = visit_logs::table.find(&log.id).select(visit_logs::version).first(conn)?;
            return Err(AppError::VersionConflict { given: log.version, current });
        }
        if new_ids != old_ids {
            let removed: Vec<String> = old_ids.iter().filter(|h| !new_ids.contains(h)).cloned().collect();
            let added: Vec<String> = new_ids.iter().filter(|h| !old_ids.contains(h)).cloned().collect();
            diesel::delete(
                visit_log_households::table
                    .filter(visit_log_households::log_id.eq(&log.id))
                    .filter(visit_log_households::household_id.eq_any(&removed)),
            )
            .execute(conn)?;
            link_households(conn, &log.id, &added)?;
            mark_visited(conn, &added, log.visit_date)?;
            recompute_visited(conn, &removed)?;
        }
        insert_log_requests(conn, ctx, actor, &log.id, filings, now)?;
        record_return_visits(conn, ctx, actor, &log.id, input.add_return_visits.clone(), "add_return_visits", now)?;
        let by = ActedBy::person(actor.person_id, Some(&grant));
        audit::append(
            conn,
            Draft {
                entity_kind: "visit_log",
                entity_id: &log.id,
                by: &by,
                action: "amend",
                from_state: None,
                to_state: None,
                reason: None,
                changes: Value::Object(changes),
            },
            now,
        )?;
        Ok::<_, AppError>(())
    })?;
    let log = visit_logs::table.find(&log.id).select(VisitLogRow::as_select()).first(conn)?;
    view(conn, ctx.rules, log, now)
}

// ---------------------------------------------------------------- queries

pub fn get_log(conn: &mut DbConn, rules: &VisitRules, actor: &Actor, id: &str, now: NaiveDateTime) -> AppResult<VisitLogView> {
    let log = load_visible(conn, actor, id)?;
    view(conn, rules, log, now)
}

/// The log's history: its filing and every amendment, from the audit trail.
pub fn history(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Vec<TimelineEvent>> {
    let log = load_visible(conn, actor, id)?;
    Ok(audit::events_of(conn, "visit_log", &log.id)?.into_iter().map(ticket_cases::timeline_event).collect())
}

fn encode_cursor(date: NaiveDate, id: &str) -> String {
    format!("{date}_{id}")
}

fn decode_cursor(c: &str) -> AppResult<(NaiveDate, String)> {
    let bad = || AppError::validation("cursor", crate::msg!("rule-cursor"));
    let (d, id) = c.split_once('_').ok_or_else(bad)?;
    let d: NaiveDate = d.parse().map_err(|_| bad())?;
    id.parse::<Id>().map_err(|_| bad())?;
    Ok((d, id.to_string()))
}

/// Logs in the caller's scope, newest day first.
pub fn list_logs(conn: &mut DbConn, actor: &Actor, f: VisitLogFilter) -> AppResult<VisitLogPage> {
    let limit = super::page_limit(f.limit, 50, 200)?;
    // Every parameter is checked before an unknown unit answers an empty page.
    if let Some(a) = &f.author_id {
        parse_id("author_id", a)?;
    }
    let mut roots = actor.scope_roots(Operation::VisitLogRead);
    if let Some(within) = &f.within {
        parse_id("within", within)?;
        let Some(u) = find_unit(conn, within)? else {
            return Ok(VisitLogPage { items: vec![], next_cursor: None });
        };
        let w = OrgPath::from_db(u.path);
        roots = roots
            .into_iter()
            .filter_map(|r| {
                if r.contains(&w) {
                    Some(w.clone())
                } else if w.contains(&r) {
                    Some(r)
                } else {
                    None
                }
            })
            .collect();
    }
    let mut q = visit_logs::table.into_boxed();
    q = q.filter(super::scope::column_in_subtrees(visit_logs::grid_path, roots));
    if let Some(a) = &f.author_id {
        q = q.filter(visit_logs::author_id.eq(a.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(visit_logs::visit_date.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(visit_logs::visit_date.le(to));
    }
    if let Some(c) = &f.cursor {
        let (d, id) = decode_cursor(c)?;
        q = q.filter(visit_logs::visit_date.lt(d).or(visit_logs::visit_date.eq(d).and(visit_logs::id.lt(id))));
    }
    let rows: Vec<VisitLogRow> =
        q.order((visit_logs::visit_date.desc(), visit_logs::id.desc())).limit(limit + 1).select(VisitLogRow::as_select()).load(conn)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<VisitLogSummary> = rows
        .into_iter()
        .take(limit as usize)
        .map(|l| VisitLogSummary {
            id: l.id,
            author_id: l.author_id,
            grid_id: l.grid_id,
            visit_date: l.visit_date,
            households_visited: l.households_visited,
            late: l.late,
            version: l.version,
            created_at: l.created_at,
        })
        .collect();
    let next_cursor = if more { items.last().map(|l| encode_cursor(l.visit_date, &l.id)) } else { None };
    Ok(VisitLogPage { items, next_cursor })
}

// ---------------------------------------------------------------- households

/// A household with its visit status.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HouseholdView {
    pub id: String,
    pub building_id: String,
    pub building_name: String,
    pub unit_no: String,
    pub room: String,
    pub kind: HouseholdKind,
    /// Days between visits for this kind (`visits.frequency_days`).
    pub visit_every_days: i64,
    pub last_visited_on: Option<NaiveDate>,
    /// The day the next visit is due by.
    pub next_visit_due: NaiveDate,
    /// Days past the due day (0 when not overdue).
    pub overdue_days: i64,
    pub residents: i64,
    pub version: i64,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HouseholdFilter {
    /// Only households in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    pub kind: Option<HouseholdKind>,
    /// Only households overdue for a visit (true) or not (false).
    pub overdue: Option<bool>,
    /// Cursor: ids after this one.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdChange {
    pub kind: HouseholdKind,
}

type HouseholdBool = Box<
    dyn BoxableExpression<
        diesel::helper_types::InnerJoinQuerySource<households::table, org_units::table>,
        super::scope::Db,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// Households whose next visit was due before `today`, per kind: the last visit (or, never
/// visited, the registration) lies before `today - interval`.
fn overdue_expr(rules: &VisitRules, today: NaiveDate) -> HouseholdBool {
    let mut out: Option<HouseholdBool> = None;
    for kind in HouseholdKind::ALL {
        let threshold = today - chrono::Duration::days(rules.every(kind));
        let registered_before = rules.utc_of(threshold, chrono::NaiveTime::MIN);
        let term: HouseholdBool = Box::new(
            households::kind.eq(kind.as_str()).and(
                households::last_visited_on
                    .is_not_null()
                    .and(households::last_visited_on.assume_not_null().lt(threshold))
                    .or(households::last_visited_on.is_null().and(households::created_at.lt(registered_before))),
            ),
        );
        out = Some(match out {
            None => term,
            Some(acc) => Box::new(acc.or(term)),
        });
    }
    out.expect("at least one kind")
}

fn household_view(rules: &VisitRules, h: HouseholdRow, building_name: String, residents: i64, today: NaiveDate) -> HouseholdView {
    let kind = HouseholdKind::parse(&h.kind).unwrap_or(HouseholdKind::Ordinary);
    let due = rules.next_due(kind, h.last_visited_on, rules.local_date(h.created_at));
    HouseholdView {
        visit_every_days: rules.every(kind),
        next_visit_due: due,
        overdue_days: (today - due).num_days().max(0),
        id: h.id,
        building_id: h.building_id,
        building_name,
        unit_no: h.unit_no,
        room: h.room,
        kind,
        last_visited_on: h.last_visited_on,
        residents,
        version: h.version,
    }
}

fn resident_counts(conn: &mut DbConn, ids: &[String]) -> AppResult<HashMap<String, i64>> {
    use crate::db::schema::residents;
    let rows: Vec<(Option<String>, i64)> = residents::table
        .filter(residents::household_id.eq_any(ids))
        .filter(residents::active.eq(true))
        .group_by(residents::household_id)
        .select((residents::household_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(h, n)| h.map(|h| (h, n))).collect())
}

/// Households in the caller's scope with their visit status.
pub fn list_households(
    conn: &mut DbConn,
    rules: &VisitRules,
    actor: &Actor,
    f: HouseholdFilter,
    now: NaiveDateTime,
) -> AppResult<Vec<HouseholdView>> {
    let limit = super::page_limit(f.limit, 100, 500)?;
    let today = rules.local_date(now);
    let mut q = households::table
        .inner_join(org_units::table)
        .filter(paths_in(actor.scope_roots(Operation::ResidentRead)))
        .filter(households::active.eq(true))
        .into_boxed();
    if let Some(within) = &f.within {
        parse_id("within", within)?;
        match find_unit(conn, within)? {
            Some(u) => {
                let p = OrgPath::from_db(u.path);
                q = q.filter(org_units::path.ge(p.as_str().to_string())).filter(org_units::path.lt(p.subtree_upper_bound()));
            }
            None => return Ok(vec![]),
        }
    }
    if let Some(kind) = f.kind {
        q = q.filter(households::kind.eq(kind.as_str()));
    }
    match f.overdue {
        Some(true) => q = q.filter(overdue_expr(rules, today)),
        Some(false) => q = q.filter(diesel::dsl::not(overdue_expr(rules, today))),
        None => {}
    }
    if let Some(after) = &f.after {
        q = q.filter(households::id.gt(after.clone()));
    }
    let rows: Vec<(HouseholdRow, String)> =
        q.order(households::id).limit(limit).select((HouseholdRow::as_select(), org_units::name)).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|(h, _)| h.id.clone()).collect();
    let counts = resident_counts(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(h, name)| {
            let n = counts.get(&h.id).copied().unwrap_or(0);
            household_view(rules, h, name, n, today)
        })
        .collect())
}

fn household_visible(conn: &mut DbConn, actor: &Actor, id: &str, op: Operation) -> AppResult<(HouseholdRow, OrgUnitRow)> {
    if id.parse::<Id>().is_err() {
        return Err(AppError::NotFound { what: "household" });
    }
    let (h, b): (HouseholdRow, OrgUnitRow) = households::table
        .inner_join(org_units::table)
        .filter(households::id.eq(id))
        .filter(households::active.eq(true))
        .select((HouseholdRow::as_select(), OrgUnitRow::as_select()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "household" })?;
    enforce(actor.decide(op, &OrgPath::from_db(b.path.clone())), "household", op)?;
    Ok((h, b))
}

pub fn get_household(conn: &mut DbConn, rules: &VisitRules, actor: &Actor, id: &str, now: NaiveDateTime) -> AppResult<HouseholdView> {
    let (h, b) = household_visible(conn, actor, id, Operation::ResidentRead)?;
    let counts = resident_counts(conn, std::slice::from_ref(&h.id))?;
    let n = counts.get(&h.id).copied().unwrap_or(0);
    Ok(household_view(rules, h, b.name, n, rules.local_date(now)))
}

/// Sets a household's kind (and so how often it must be visited).
pub fn change_household(
    conn: &mut DbConn,
    rules: &VisitRules,
    actor: &Actor,
    id: &str,
    version: Option<i64>,
    input: HouseholdChange,
    now: NaiveDateTime,
) -> AppResult<HouseholdView> {
    conn.transaction(|conn| {
        let (h, b) = household_visible(conn, actor, id, Operation::ResidentManage)?;
        check_version(version, h.version)?;
        let n = diesel::update(households::table.find(&h.id))
            .filter(households::version.eq(h.version))
            .set((households::kind.eq(input.kind.as_str()), households::version.eq(h.version + 1), households::updated_at.eq(now)))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: h.version, current: h.version + 1 });
        }
        // The change is in the audit trail: who, in which role, old kind → new kind.
        let path = OrgPath::from_db(b.path.clone());
        let grant = actor.grants_for(Operation::ResidentManage).filter(|g| g.org_path.contains(&path)).max_by_key(|g| g.org_path.depth());
        let by = ActedBy::person(actor.person_id, grant);
        audit::append(
            conn,
            Draft {
                entity_kind: "household",
                entity_id: &h.id,
                by: &by,
                action: "change_kind",
                from_state: None,
                to_state: None,
                reason: None,
                changes: json!({"kind": [h.kind, input.kind.as_str()]}),
            },
            now,
        )?;
        let h = households::table.find(&h.id).select(HouseholdRow::as_select()).first(conn)?;
        let counts = resident_counts(conn, std::slice::from_ref(&h.id))?;
        let n = counts.get(&h.id).copied().unwrap_or(0);
        Ok(household_view(rules, h, b.name, n, rules.local_date(now)))
    })
}

/// One of the worker's grids on his visit list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GridVisitList {
    pub grid_id: String,
    pub grid_name: String,
    pub date: NaiveDate,
    /// Today's log, once filed.
    pub todays_log_id: Option<String>,
    /// When today's log is due (UTC).
    #[serde(with = "crate::app::rfc3339")]
    pub log_due_at: NaiveDateTime,
    pub log_expected_today: bool,
    /// Households overdue or due today, the most overdue first.
    pub households_due: Vec<HouseholdView>,
}

/// 我的走访清单: for each of the caller's own grids, whether today's log is filed and the households
/// that are due or overdue for a visit.
pub fn my_visit_list(conn: &mut DbConn, ctx: VisitContext<'_>, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<GridVisitList>> {
    let rules = ctx.rules;
    let today = rules.local_date(now);
    let mut out = vec![];
    for g in actor.grants.iter().filter(|g| g.role == Role::GridWorker) {
        let grid_id = g.org_unit_id.to_string();
        let grid_name: String = org_units::table.find(&grid_id).select(org_units::name).first(conn)?;
        let todays_log_id = log_of_day(conn, &actor.person_id.to_string(), &grid_id, today)?;
        // Due today counts too: the threshold is tomorrow.
        let rows: Vec<(HouseholdRow, String)> = households::table
            .inner_join(org_units::table)
            .filter(org_units::path.ge(g.org_path.as_str().to_string()))
            .filter(org_units::path.lt(g.org_path.subtree_upper_bound()))
            .filter(households::active.eq(true))
            .filter(overdue_expr(rules, today + chrono::Duration::days(1)))
            .select((HouseholdRow::as_select(), org_units::name))
            .load(conn)?;
        let ids: Vec<String> = rows.iter().map(|(h, _)| h.id.clone()).collect();
        let counts = resident_counts(conn, &ids)?;
        let mut due: Vec<HouseholdView> = rows
            .into_iter()
            .map(|(h, name)| {
                let n = counts.get(&h.id).copied().unwrap_or(0);
                household_view(rules, h, name, n, today)
            })
            .collect();
        due.sort_by(|a, b| a.next_visit_due.cmp(&b.next_visit_due).then(a.id.cmp(&b.id)));
        out.push(GridVisitList {
            grid_id,
            grid_name,
            date: today,
            todays_log_id,
            log_due_at: rules.deadline_of(today),
            log_expected_today: ctx.log_expected(today)?,
            households_due: due,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- reminders

/// A grid worker's grid, as the board and the reminders see it.
#[derive(Clone, Debug)]
pub struct WorkerGrid {
    pub person_id: String,
    pub name: String,
    pub grid_id: String,
    pub grid_name: String,
    /// The compound the grid is, or lies in.
    pub compound_id: String,
    pub since: NaiveDateTime,
}

/// The active grid workers of grids under `root` (every grid when `None`).
pub fn worker_grids(conn: &mut DbConn, root: Option<&OrgPath>) -> AppResult<Vec<WorkerGrid>> {
    let mut q = memberships::table
        .inner_join(people::table)
        .inner_join(org_units::table)
        .filter(memberships::role.eq(Role::GridWorker.as_str()))
        .filter(memberships::active.eq(true))
        .filter(people::active.eq(true))
        .filter(org_units::active.eq(true))
        .into_boxed();
    if let Some(r) = root {
        q = q.filter(org_units::path.ge(r.as_str().to_string())).filter(org_units::path.lt(r.subtree_upper_bound()));
    }
    type Row = (String, String, String, String, String, Option<String>, NaiveDateTime);
    let rows: Vec<Row> = q
        .order((people::display_name, people::id, org_units::name))
        .select((
            people::id,
            people::display_name,
            org_units::id,
            org_units::name,
            org_units::kind,
            org_units::parent_id,
            memberships::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(person_id, name, grid_id, grid_name, kind, parent, since)| WorkerGrid {
            compound_id: if kind == OrgKind::Compound.as_str() { grid_id.clone() } else { parent.unwrap_or_default() },
            person_id,
            name,
            grid_id,
            grid_name,
            since,
        })
        .collect())
}

/// The dedupe key of the reminder for one worker, grid and day.
pub fn reminder_key(person_id: &str, grid_id: &str, date: NaiveDate) -> String {
    format!("visit_log_missing:{person_id}:{grid_id}:{date}")
}

/// After the day's deadline, writes one notification record (`visit_log_missing`) for every grid
/// worker who has not filed the day's log for one of his grids. Exactly once per worker, grid and
/// day, however often it runs and however many schedulers run it. Returns how many were written.
pub fn remind_missing_logs(conn: &mut DbConn, ctx: VisitContext<'_>, now: NaiveDateTime) -> AppResult<usize> {
    let rules = ctx.rules;
    let today = rules.local_date(now);
    if now <= rules.deadline_of(today) || !ctx.log_expected(today)? {
        return Ok(0);
    }
    let filed: BTreeSet<(String, String)> = visit_logs::table
        .filter(visit_logs::visit_date.eq(today))
        .select((visit_logs::author_id, visit_logs::grid_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let reminded: BTreeSet<String> = notifications::table
        .filter(notifications::kind.eq("visit_log_missing"))
        .filter(notifications::created_at.ge(rules.utc_of(today, chrono::NaiveTime::MIN)))
        .filter(notifications::dedupe_key.is_not_null())
        .select(notifications::dedupe_key)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let mut written = 0;
    for w in worker_grids(conn, None)? {
        if filed.contains(&(w.person_id.clone(), w.grid_id.clone())) || rules.local_date(w.since) > today {
            continue;
        }
        let key = reminder_key(&w.person_id, &w.grid_id, today);
        if reminded.contains(&key) {
            continue;
        }
        let once = super::notifications::Once {
            unit_id: &w.grid_id,
            person_id: Some(&w.person_id),
            ticket_id: None,
            kind: "visit_log_missing",
            payload: json!({"date": today, "grid_id": w.grid_id, "deadline": rules.deadline.format("%H:%M").to_string()}),
            dedupe_key: &key,
        };
        // Another scheduler may have written it first.
        if super::notifications::record_once(conn, once, now)? {
            written += 1;
        }
    }
    Ok(written)
}
