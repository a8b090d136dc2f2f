use crate::app::audit::TimelineEvent;
use crate::app::audit::{self, ActedBy, Draft};
use crate::app::org::find_unit;
use crate::app::tickets::{self as ticket_cases};
use crate::app::{check_version, parse_id, AppError, AppResult};
use crate::app::{opt_text, text};
use crate::db::models::VisitLogRow;
use crate::db::schema::{visit_log_households, visit_logs};
use crate::db::DbConn;
use crate::domain::visits::VisitRules;
use crate::domain::{Actor, Id, Operation, TicketId, VisitLogId};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::*;

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
    let author = actor.person_id;
    parse_id::<crate::domain::Id>("client_id", &input.client_id)?;
    if let Some(found) = find_by_client_id(conn, author, &input.client_id)? {
        return replay_or_refuse(conn, ctx.rules, found, &hash, now);
    }
    let grid_id: crate::domain::OrgUnitId = parse_id("grid_id", &input.grid_id)?;
    let unknown_grid = || AppError::UnknownReference { field: "grid_id".into(), detail: crate::msg!("why-no_grid_in_scope") };
    let grid = find_unit(conn, &grid_id)?.ok_or_else(unknown_grid)?;
    let grid_path = grid.path.clone();
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
    if let Some(log_id) = log_of_day(conn, author, grid.id, input.visit_date)? {
        // The day's log may be this very submission, committed by a concurrent twin after the
        // client-id lookup above: answer that as a retry, anything else as a conflict.
        return match find_by_client_id(conn, author, &input.client_id)? {
            Some(found) => replay_or_refuse(conn, ctx.rules, found, &hash, now),
            None => Err(AppError::LogExists { date: input.visit_date, log_id: log_id.to_string() }),
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
        id: VisitLogId::new(),
        client_id: input.client_id.clone(),
        author_id: actor.person_id,
        grid_id: grid.id,
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
        let ids: Vec<String> = visited.iter().map(|h| h.id.to_string()).collect();
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
                entity_id: &row.id.to_string(),
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
        Err(AppError::Conflict { code: "already_exists", detail }) => match find_by_client_id(conn, author, &input.client_id)? {
            Some(found) => replay_or_refuse(conn, ctx.rules, found, &hash, now),
            None => match log_of_day(conn, author, grid_id, input.visit_date)? {
                Some(log_id) => Err(AppError::LogExists { date: input.visit_date, log_id: log_id.to_string() }),
                None => Err(AppError::Conflict { code: "already_exists", detail }),
            },
        },
        Err(e) => Err(e),
    }
}

/// The first step of a log's transaction, in the service's lock order (see `audit::lock_chains`):
/// the tickets revisited, then every audit chain the log will append to.
fn lock_for_log(
    conn: &mut DbConn,
    log_id: &VisitLogId,
    filings: &[ticket_cases::PreparedFiling],
    visits: &[ReturnVisitInput],
) -> AppResult<()> {
    // Ids that are no ids lock nothing; the visit itself refuses them.
    let revisited: Vec<TicketId> = visits.iter().filter_map(|r| r.ticket_id.parse().ok()).collect();
    ticket_cases::lock_rows(conn, &revisited)?;
    let chains: Vec<String> = filings
        .iter()
        .map(|f| f.ticket_id().to_string())
        .chain(revisited.iter().map(|t| t.to_string()))
        .chain([log_id.to_string()])
        .collect();
    audit::lock_chains(conn, chains.iter().map(String::as_str))
}

/// Files the requests collected on a visit, linked to its log.
fn insert_log_requests(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    log_id: &VisitLogId,
    filings: Vec<ticket_cases::PreparedFiling>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let linked = filings
        .into_iter()
        .map(|mut f| {
            f.link_visit_log(*log_id);
            (actor, f)
        })
        .collect();
    ticket_cases::insert_filings(conn, ctx.sla, linked, now)?;
    Ok(())
}

pub(crate) fn link_households(conn: &mut DbConn, log_id: &VisitLogId, ids: &[String]) -> AppResult<()> {
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

fn load_visible(conn: &mut DbConn, actor: &Actor, id: &VisitLogId) -> AppResult<VisitLogRow> {
    let log = visit_logs::table
        .find(id)
        .select(VisitLogRow::as_select())
        .first(conn)
        .optional()?
        .filter(|l| actor.may(Operation::VisitLogRead, &l.grid_path))
        .ok_or(AppError::NotFound { what: "visit log" })?;
    Ok(log)
}

/// 修改走访日志: amends the author's own log on its day; every amendment is audited with the
/// fields it changed. After the day the log is locked.
pub fn amend_log(
    conn: &mut DbConn,
    ctx: VisitContext<'_>,
    actor: &Actor,
    id: &VisitLogId,
    version: Option<i64>,
    input: VisitLogAmendment,
    now: NaiveDateTime,
) -> AppResult<VisitLogView> {
    let log = load_visible(conn, actor, id)?;
    let grid_path = log.grid_path.clone();
    let grant = match worker_grant(actor, &log.grid_id) {
        Some(g) if log.author_id == actor.person_id => g.clone(),
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
                entity_id: &log.id.to_string(),
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

pub fn get_log(conn: &mut DbConn, rules: &VisitRules, actor: &Actor, id: &VisitLogId, now: NaiveDateTime) -> AppResult<VisitLogView> {
    let log = load_visible(conn, actor, id)?;
    view(conn, rules, log, now)
}

/// The log's history: its filing and every amendment, from the audit trail.
pub fn history(conn: &mut DbConn, actor: &Actor, id: &VisitLogId) -> AppResult<Vec<TimelineEvent>> {
    let log = load_visible(conn, actor, id)?;
    Ok(audit::events_of(conn, "visit_log", &log.id.to_string())?.into_iter().map(audit::timeline_event).collect())
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
    let limit = crate::app::page_limit(f.limit, 50, 200)?;
    // Every parameter is checked before an unknown unit answers an empty page.
    if let Some(a) = &f.author_id {
        parse_id::<crate::domain::PersonId>("author_id", a)?;
    }
    let Some(roots) = crate::app::scope::narrowed_to(conn, actor.scope_roots(Operation::VisitLogRead), f.within.as_deref())? else {
        return Ok(VisitLogPage { items: vec![], next_cursor: None });
    };
    let mut q = visit_logs::table.into_boxed();
    q = q.filter(crate::app::scope::column_in_subtrees(visit_logs::grid_path, roots));
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
        // The bound first, as an index condition (see `tickets::list_query`).
        q = q
            .filter(visit_logs::visit_date.le(d))
            .filter(visit_logs::visit_date.lt(d).or(visit_logs::visit_date.eq(d).and(visit_logs::id.lt(id))));
    }
    let rows: Vec<VisitLogRow> =
        q.order((visit_logs::visit_date.desc(), visit_logs::id.desc())).limit(limit + 1).select(VisitLogRow::as_select()).load(conn)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<VisitLogSummary> = rows
        .into_iter()
        .take(limit as usize)
        .map(|l| VisitLogSummary {
            id: l.id.to_string(),
            author_id: l.author_id.to_string(),
            grid_id: l.grid_id.to_string(),
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
