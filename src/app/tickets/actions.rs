use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::db::models::{ClockRow, TicketRow};
use crate::db::schema::{sla_clocks, tickets};
use crate::db::{backend, DbConn};
use crate::domain::sla::Stage;
use crate::domain::workflow::{ticket_clock, ActionKind, AssignmentState, Sight, TicketState};
use crate::domain::{Actor, CategoryId, ClockId, Grant, OrgPath, OrgUnitId, Role, TicketId};

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::org::find_unit;
use crate::app::sla::{self, SlaContext};
use crate::app::{AppError, AppResult};

use super::decide::{decide, Decided};
use super::loaded::{load_all, parts_of};
use super::requests::ActionRequest;
use super::views::{views, TicketView};

/// Who did it, for the audit event: a person under a grant, or the system.
pub(super) fn acted_by(actor: &Actor, grant: Option<&Grant>) -> ActedBy {
    if actor.is_system() {
        ActedBy::default()
    } else {
        ActedBy::person(actor.person_id, grant)
    }
}

/// One workflow action as a request asked for it.
pub struct ActRequest {
    pub actor: Actor,
    pub ticket_id: TicketId,
    /// The version the caller last saw (`If-Match`).
    pub version: Option<i64>,
    pub action: ActionRequest,
}

/// 办理: takes one workflow action, in the caller's transaction if there is one (else in its own).
pub fn act(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    id: &TicketId,
    version: Option<i64>,
    req: ActionRequest,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let r = ActRequest { actor: actor.clone(), ticket_id: *id, version, action: req };
    act_together(conn, ctx, &[&r], now)?.pop().unwrap_or_else(|| Err(AppError::internal_msg("an action was left unanswered".into())))
}

/// 超时上报: the time limit's own policy (`sla.breach_action = "escalate"`) takes the workflow's
/// `escalate_to_community` on tickets whose triage breached, as the system, each in its own
/// transaction and through the same path as every action: a ticket someone acted on meanwhile
/// (it left `at_compound`) is refused by the rules and left alone. Returns how many went up.
pub fn escalate_breached(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_ids: &[TicketId], now: NaiveDateTime) -> AppResult<usize> {
    let system = Actor::system();
    let mut done = 0;
    for &id in ticket_ids {
        let Some(version) = tickets::table.find(id).select(tickets::version).first::<i64>(conn).optional()? else { continue };
        let taken =
            backend::write_transaction(conn, |c| act(c, ctx, &system, &id, Some(version), ActionRequest::EscalateToCommunity {}, now));
        match taken {
            Ok(_) => done += 1,
            // Moved on since the breach (a secretary acted): nothing to escalate.
            Err(AppError::IllegalAction { .. } | AppError::VersionConflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Takes several actions, on distinct tickets, in one transaction: the intake's group commit for
/// state changes. The tickets are read and locked together (in id order, before any audit chain:
/// the service's lock order), each action is checked and its own writes done, then the stage
/// clocks, the ticket rows, the audit events and the answers are written and read for all of them
/// with a few statements. An action refused (its version stale, its state or scope wrong) gets its
/// own error and changes nothing; the others go on. The outer error means the whole transaction
/// failed and nothing was written. Runs in the caller's transaction, or in one of its own.
pub fn act_together(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    requests: &[&ActRequest],
    now: NaiveDateTime,
) -> AppResult<Vec<AppResult<TicketView>>> {
    backend::within_transaction(conn, |conn| {
        let ids: Vec<TicketId> = requests.iter().map(|r| r.ticket_id).collect();
        let mut loaded = load_all(conn, &ids, true)?;
        let mut answers: Vec<Option<AppResult<TicketView>>> = requests.iter().map(|_| None).collect();
        let mut decided = vec![];
        for (i, r) in requests.iter().enumerate() {
            let t = match loaded.remove(&ids[i]) {
                Some(t) if r.actor.is_system() || t.sight(&r.actor)? != Sight::Hidden => t,
                _ => {
                    answers[i] = Some(Err(AppError::NotFound { what: "ticket" }));
                    continue;
                }
            };
            let kind = r.action.kind();
            // An action that writes while it is checked does so in a savepoint, so that its
            // refusal undoes its writes and leaves the batch's others alone.
            let d = if writes_while_deciding(kind) {
                conn.transaction(|conn| decide(conn, ctx, &r.actor, t, r.version, r.action.clone(), now))
            } else {
                decide(conn, ctx, &r.actor, t, r.version, r.action.clone(), now)
            };
            match d {
                Ok(d) => decided.push((i, d)),
                // The database is away or broke the transaction off: not this action's refusal,
                // but the whole round's failure (run again, or answered 503).
                Err(e) if e.is_database_failure() => return Err(e),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let (index, decided): (Vec<usize>, Vec<Decided>) = decided.into_iter().unzip();
        let actors: Vec<&Actor> = index.iter().map(|&i| &requests[i].actor).collect();
        let views = finish(conn, ctx, &actors, decided, now)?;
        for (i, v) in index.into_iter().zip(views) {
            answers[i] = Some(Ok(v));
        }
        Ok(answers.into_iter().map(|a| a.unwrap_or_else(|| Err(AppError::internal_msg("an action was left unanswered".into())))).collect())
    })
}

/// Whether checking an action of this kind writes (departments dispatched, parts changed, clocks
/// of a part stopped, extensions recorded). The others only read until [`finish`].
pub(super) fn writes_while_deciding(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::AcceptAtCompound
            | ActionKind::AcceptAtCommunity
            | ActionKind::ReportToCommunity
            | ActionKind::MarkDuplicate
            | ActionKind::Decline
            | ActionKind::AddProgress
            | ActionKind::MarkSolved
            | ActionKind::RecordReturnVisit
            | ActionKind::EscalateToCommunity
    )
}

/// Writes what the decided actions of a batch share: each ticket's stage clocks (a new stage
/// starts its own clock now; a finished stage stops its clocks), its deadline, its row (the
/// version checked and bumped), its audit event; then reads their views.
pub(super) fn finish(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actors: &[&Actor],
    mut items: Vec<Decided>,
    now: NaiveDateTime,
) -> AppResult<Vec<TicketView>> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    let moving: Vec<&Decided> = items.iter().filter(|d| d.c.to != d.from).collect();
    let moving_ids: Vec<TicketId> = moving.iter().map(|d| d.t.row.id).collect();
    let mut stopped = sla::stop_ticket_clocks(conn, &moving_ids, false, now)?;
    let ending: Vec<TicketId> = moving.iter().filter(|d| d.c.to == TicketState::Solved || d.c.to.is_final()).map(|d| d.t.row.id).collect();
    stopped.extend(sla::stop_ticket_clocks(conn, &ending, true, now)?);
    let solved: Vec<TicketId> = moving.iter().filter(|d| d.kind == ActionKind::MarkSolved).map(|d| d.t.row.id).collect();
    sla::mark_resolved(conn, &solved, now)?;
    let mut categories: Vec<CategoryId> = moving.iter().map(|d| d.t.row.category_id).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = sla::Policies::load(conn, &categories)?;
    let mut clocks = vec![];
    for d in &moving {
        let (t, now) = (&d.t, now);
        let mut plan = |conn: &mut DbConn, stage: Stage, holder: (OrgUnitId, &OrgPath)| -> AppResult<()> {
            clocks.push(sla::plan_clock(conn, ctx, &policies, &t.row, None, stage, holder, now)?);
            Ok(())
        };
        match (d.c.to, ticket_clock(d.c.to)) {
            (_, Some((stage, holder))) => {
                plan(conn, stage, (holder.unit(t.row.place_id, t.row.compound_id, t.row.community_id), t.place.holder(holder)))?
            }
            (TicketState::Whistled, None) if d.from == TicketState::Solved => {
                // Reopened at the department level: the lead department's resolution clock runs again.
                let lead = t.parts.iter().find(|p| p.lead && p.state != AssignmentState::Removed);
                if let Some(lead) = lead {
                    if let Some(dept) = find_unit(conn, &lead.department_id)? {
                        let holder = (dept.id, &dept.path);
                        clocks.push(sla::plan_clock(conn, ctx, &policies, &t.row, Some(lead.id), Stage::Resolution, holder, now)?);
                    }
                }
            }
            _ => {}
        }
    }
    backend::insert_all!(conn, sla_clocks::table, &clocks)?;
    running_after(conn, &mut items, &stopped, clocks)?;
    for d in &mut items {
        let (due_at, warn_at, provisional) = sla::Nearest::columns(sla::Nearest::of(&d.t.clocks));
        if due_at != d.t.row.due_at {
            d.c.note("due_at", d.t.row.due_at, due_at);
        }
        if d.c.to != d.from {
            d.c.note("state", d.from.as_str(), d.c.to.as_str());
        }
        (d.t.row.due_at, d.t.row.warn_at, d.t.row.due_provisional) = (due_at, warn_at, provisional);
        d.t.row.state = d.c.to;
    }
    update_rows(conn, &items.iter().map(|d| &d.t.row).collect::<Vec<_>>(), now)?;
    let by: Vec<ActedBy> = actors.iter().zip(&items).map(|(a, d)| acted_by(a, d.grant.as_ref())).collect();
    let changes: Vec<Value> = items.iter_mut().map(|d| Value::Object(std::mem::take(&mut d.c.changes))).collect();
    let entity_ids: Vec<String> = items.iter().map(|d| d.t.row.id.to_string()).collect();
    let drafts = items
        .iter()
        .zip(&by)
        .zip(changes)
        .zip(&entity_ids)
        .map(|(((d, by), changes), entity_id)| Draft {
            entity_kind: "ticket",
            entity_id,
            by,
            action: d.kind.as_str(),
            from_state: Some(d.from.as_str()),
            to_state: Some(d.c.to.as_str()),
            reason: d.c.reason.as_deref(),
            changes,
        })
        .collect();
    audit::append_all(conn, drafts, now)?;
    // The rows as just written, without reading them back; the parts only where they may have changed.
    let reread: Vec<TicketId> = items
        .iter()
        .filter(|d| !d.t.parts.is_empty() || matches!(d.kind, ActionKind::Whistle | ActionKind::AddDepartment))
        .map(|d| d.t.row.id)
        .collect();
    let mut parts = parts_of(conn, &reread)?;
    for d in &mut items {
        d.t.row.version += 1;
        d.t.row.updated_at = now;
        if let Some(p) = parts.remove(&d.t.row.id) {
            d.t.parts = p;
        }
    }
    for d in &items {
        notify(conn, d, now)?;
    }
    // A 12345 work order's platform hears of its acceptance, rejection, extension, solution and
    // return visit (decision 0032); only tickets that came by the hotline are looked up.
    let hotline: Vec<crate::app::outside::status::Acted<'_>> = items
        .iter()
        .filter(|d| d.t.row.channel == crate::domain::workflow::Channel::Hotline)
        .map(|d| crate::app::outside::status::Acted {
            ticket_id: d.t.row.id,
            community_id: d.t.row.community_id,
            number: &d.t.row.number,
            version: d.t.row.version,
            kind: d.kind,
            from: d.from,
            to: d.c.to,
            reason: d.c.reason.as_deref(),
            resolution: d.t.row.resolution.as_deref(),
            satisfaction: d.t.row.satisfaction,
            due_at: d.t.row.due_at,
        })
        .collect();
    crate::app::outside::status::push(conn, &hotline, now)?;
    views(conn, &actors.iter().copied().zip(items.iter().map(|d| &d.t)).collect::<Vec<_>>(), now)
}

/// Brings each ticket's running clocks up to date after its action, so that its deadline and its
/// view need no read of them: those loaded with it, less those `finish` stopped, with those it
/// started. An action that wrote while it was checked (a whistle, a pause, a part ended) may
/// have changed clocks on its own: its ticket's are read again (one query for all of them).
fn running_after(conn: &mut DbConn, items: &mut [Decided], stopped: &[ClockId], started: Vec<ClockRow>) -> AppResult<()> {
    let stopped: HashSet<ClockId> = stopped.iter().copied().collect();
    let mut started: HashMap<TicketId, Vec<ClockRow>> = started.into_iter().fold(HashMap::new(), |mut m, c| {
        m.entry(c.ticket_id).or_default().push(c);
        m
    });
    let reread: Vec<TicketId> = items.iter().filter(|d| writes_while_deciding(d.kind)).map(|d| d.t.row.id).collect();
    let mut fresh = sla::running_clocks(conn, &reread)?;
    for d in items.iter_mut() {
        if writes_while_deciding(d.kind) {
            d.t.clocks = fresh.remove(&d.t.row.id).unwrap_or_default();
        } else {
            d.t.clocks.retain(|c| !stopped.contains(&c.id));
            d.t.clocks.extend(started.remove(&d.t.row.id).unwrap_or_default());
        }
    }
    Ok(())
}

/// Writes the acted-on ticket rows, each only if its version is still the one read (and bumps
/// it). A version that moved is a conflict.
pub(super) fn update_rows(conn: &mut DbConn, rows: &[&TicketRow], now: NaiveDateTime) -> AppResult<()> {
    let updated = backend::update_tickets(conn, rows, now)?;
    if updated != rows.len() {
        // Only possible without the row locks (SQLite's single writer, or PostgreSQL's locks
        // taken by `load_all`, rule it out): answer the first moved version.
        let given: HashMap<TicketId, i64> = rows.iter().map(|r| (r.id, r.version)).collect();
        let current: Vec<(TicketId, i64)> = tickets::table
            .filter(tickets::id.eq_any(given.keys().copied().collect::<Vec<_>>()))
            .select((tickets::id, tickets::version))
            .load(conn)?;
        let moved = current.into_iter().find(|(id, v)| given.get(id) != Some(v));
        let (given, current) = moved.map(|(id, current)| (given.get(&id).copied().unwrap_or_default(), current)).unwrap_or_default();
        return Err(AppError::VersionConflict { given, current });
    }
    Ok(())
}

/// Tells those who must act next (in the same transaction as the action): a whistled
/// department's liaisons, the community of a return or an extension request, the departments of
/// a ruling, the grid workers of a solved case (their return visit is due), whoever handles a
/// reopened case. The event is the ticket's new version: a retried action is one message.
fn notify(conn: &mut DbConn, d: &Decided, now: NaiveDateTime) -> AppResult<()> {
    use crate::domain::notify::NoticeKind;
    let t = &d.t.row;
    let live = || d.t.parts.iter().filter(|p| p.state != AssignmentState::Removed);
    let (kind, units, roles): (NoticeKind, Vec<OrgUnitId>, Option<&[Role]>) = match NoticeKind::of_action(d.kind) {
        Some(NoticeKind::Whistled) => {
            // The departments this action dispatched (a whistle's all, an added one).
            let fresh = live().filter(|p| p.state == AssignmentState::Dispatched && p.dispatched_at == now);
            (NoticeKind::Whistled, fresh.map(|p| p.department_id).collect(), None)
        }
        Some(k @ (NoticeKind::Returned | NoticeKind::ExtensionRequested)) => (k, vec![t.community_id], None),
        Some(k @ (NoticeKind::ExtensionDecided | NoticeKind::ReturnRuled)) => (k, live().map(|p| p.department_id).collect(), None),
        Some(NoticeKind::Solved) => (NoticeKind::Solved, vec![t.place_id], None),
        Some(_) => return Ok(()),
        // 重办: a not-satisfied return visit gives the case back to a handler.
        None if d.kind == ActionKind::RecordReturnVisit && d.from == TicketState::Solved && d.c.to != TicketState::Closed => {
            let (unit, role) = match d.c.to {
                TicketState::CompoundHandling => (t.compound_id, Role::BranchSecretary),
                TicketState::CommunityHandling => (t.community_id, Role::CommunityStaff),
                _ => match live().find(|p| p.lead) {
                    Some(p) => (p.department_id, Role::DepartmentLiaison),
                    None => return Ok(()),
                },
            };
            let roles: &[Role] = match role {
                Role::BranchSecretary => &[Role::BranchSecretary],
                Role::CommunityStaff => &[Role::CommunityStaff],
                _ => &[Role::DepartmentLiaison],
            };
            (NoticeKind::Reopened, vec![unit], Some(roles))
        }
        None => return Ok(()),
    };
    let urgent = kind.urgent(t.urgency == crate::domain::workflow::Urgency::Urgent);
    for unit in units {
        let key = format!("ticket:{}:v{}:{}:{unit}", t.id, t.version, kind.as_str());
        crate::app::notifications::record_once(
            conn,
            crate::app::notifications::Once {
                unit_id: unit,
                person_id: None,
                ticket_id: Some(t.id),
                kind,
                roles,
                urgent,
                payload: serde_json::json!({"action": d.kind.as_str(), "state": d.c.to.as_str()}),
                dedupe_key: &key,
            },
            now,
        )?;
    }
    Ok(())
}
