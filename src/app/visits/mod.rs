//! The daily visit (走访): grid workers' visit logs with the requests and return visits recorded in
//! them, the households' visit status, and reminders for logs not filed by the deadline.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::calendars::Calendars;
use crate::db::models::{HouseholdRow, OrgUnitRow, ReturnVisitRow, TicketRow, VisitLogRow};
use crate::db::schema::{households, org_units, people, tickets, visit_log_households, visit_log_return_visits, visit_logs};
use crate::db::DbConn;
use crate::domain::visits::{HouseholdKind, LogDays, LoopStage, VisitRules};
use crate::domain::workflow::{Satisfaction, TicketState};
use crate::domain::{Actor, Grant, OrgKind, OrgPath, OrgUnitId, PersonId, ReturnVisitId, Role, VisitLogId};

use crate::app::opt_text;
use crate::app::org::find_unit;
use crate::app::sla::SlaContext;
use crate::app::tickets::{self as ticket_cases, ActionRequest, NewTicket};
use crate::app::{parse_id, AppError, AppResult};

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
    /// The note was cleared when its retention period ended (`retention.visit_note_months`).
    pub note_purged: bool,
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
    /// The notes were cleared when their retention period ended (`retention.visit_note_months`).
    pub notes_purged: bool,
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
fn worker_grant<'a>(actor: &'a Actor, grid_id: &OrgUnitId) -> Option<&'a Grant> {
    actor.grants.iter().find(|g| g.role == Role::GridWorker && g.org_unit_id == *grid_id)
}

fn compound_of(conn: &mut DbConn, grid: &OrgUnitRow) -> AppResult<OrgUnitId> {
    if grid.kind == OrgKind::Compound {
        return Ok(grid.id);
    }
    let parent = grid
        .parent_id
        .map(|p| find_unit(conn, &p))
        .transpose()?
        .flatten()
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
        parse_id::<crate::domain::HouseholdId>(&format!("household_ids[{i}]"), id)?;
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
    let by_id: HashMap<String, (HouseholdRow, String)> = found.into_iter().map(|(h, p)| (h.id.to_string(), (h, p))).collect();
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
    let grid_path = grid.path.clone();
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
            if grid.kind == OrgKind::Building {
                t.building_id = Some(grid.id.to_string());
            } else {
                t.compound_id = Some(grid.id.to_string());
            }
        }
        let p = ticket_cases::prepare_filing(conn, actor, t, now).map_err(at)?;
        if !grid_path.contains(p.place_path()) {
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
        parse_id::<crate::domain::TicketId>(&format!("{field}[{i}].ticket_id"), &r.ticket_id)?;
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
    log_id: &VisitLogId,
    visits: Vec<ReturnVisitInput>,
    field: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    for (i, r) in visits.into_iter().enumerate() {
        let f = format!("{field}[{i}].ticket_id");
        let ticket_id: crate::domain::TicketId = parse_id(&f, &r.ticket_id)?;
        let version: Option<i64> = tickets::table.find(ticket_id).select(tickets::version).first(conn).optional()?;
        let Some(version) = version else {
            return Err(AppError::UnknownReference { field: f, detail: crate::msg!("why-no_ticket_in_grid") });
        };
        let req = ActionRequest::RecordReturnVisit { satisfaction: r.satisfaction, note: r.note.clone() };
        ticket_cases::act(conn, ctx.sla, actor, &ticket_id, Some(version), req, now).map_err(|e| match e {
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
                id: ReturnVisitId::new(),
                log_id: *log_id,
                ticket_id,
                satisfaction: r.satisfaction,
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
    let mut ts: Vec<TicketRow> = tickets::table.filter(tickets::visit_log_id.eq(&log.id)).select(TicketRow::as_select()).load(conn)?;
    // In filing order: the requests of one submission share a time and take the day's numbers in
    // their order ("GL-…-9999" before "GL-…-10000").
    ts.sort_by(|a, b| (a.created_at, a.number.len(), &a.number).cmp(&(b.created_at, b.number.len(), &b.number)));
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
                ticket_id: r.ticket_id.to_string(),
                ticket_number: number,
                satisfaction: r.satisfaction,
                note_purged: crate::domain::pii::is_purged(r.note.as_deref()),
                note: r.note.filter(|n| !crate::domain::pii::is_purged(Some(n))),
                recorded_at: r.recorded_at,
            })
            .collect(),
        id: log.id.to_string(),
        client_id: log.client_id,
        author_id: log.author_id.to_string(),
        author_name,
        grid_id: log.grid_id.to_string(),
        grid_name,
        compound_id: log.compound_id.to_string(),
        visit_date: log.visit_date,
        households_visited: log.households_visited,
        observations: log.observations,
        notes_purged: crate::domain::pii::is_purged(log.notes.as_deref()),
        notes: log.notes.filter(|n| !crate::domain::pii::is_purged(Some(n))),
        late: log.late,
        version: log.version,
        created_at: log.created_at,
        updated_at: log.updated_at,
    })
}

fn household_ref(h: HouseholdRow) -> HouseholdRef {
    HouseholdRef { kind: h.kind, id: h.id.to_string(), building_id: h.building_id.to_string(), unit_no: h.unit_no, room: h.room }
}

pub fn logged_ticket(t: TicketRow) -> LoggedTicket {
    let state: TicketState = t.state;
    LoggedTicket {
        loop_stage: LoopStage::of(state),
        satisfaction: t.satisfaction,
        id: t.id.to_string(),
        number: t.number,
        title: t.title,
        state,
    }
}

/// The id of an author's log of one grid and day, if filed.
fn log_of_day(conn: &mut DbConn, author: PersonId, grid_id: OrgUnitId, date: NaiveDate) -> AppResult<Option<VisitLogId>> {
    Ok(visit_logs::table
        .filter(visit_logs::author_id.eq(author))
        .filter(visit_logs::grid_id.eq(grid_id))
        .filter(visit_logs::visit_date.eq(date))
        .select(visit_logs::id)
        .first(conn)
        .optional()?)
}

fn find_by_client_id(conn: &mut DbConn, author: PersonId, client_id: &str) -> AppResult<Option<VisitLogRow>> {
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

mod household_list;
mod logs;
mod reminders;

pub use household_list::*;
pub use logs::*;
pub use reminders::*;
