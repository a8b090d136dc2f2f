//! Checks one action against its ticket and does the writes of its own kind. Who may act, in
//! which state, given the parts, pauses and pending extensions, is the domain's
//! (`workflow::authorize`, the same rules that list `allowed_actions`); the target state comes
//! from the rule table (`workflow::rule`), and what an action does to a department's part from
//! `workflow::part_step`. What is left here is each action's arguments and its writes, by family:
//!
//! - [`triage`]: 受理, 上报社区, 判重, 不予受理, 超时上报;
//! - [`community`]: the community's side of a whistle (吹哨, 增派/撤回/解除部门, rulings on
//!   returns and extensions);
//! - [`department`]: a department's own part (签收, 退单, 申请延期, 进展, 协办完成);
//! - [`handling`]: 办结, 等待居民/恢复办理, 回访.

mod community;
mod department;
mod handling;
mod triage;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::models::{AssignmentRow, OrgUnitRow, TicketRow};
use crate::db::schema::ticket_assignments;
use crate::db::DbConn;
use crate::domain::sla::Stage;
use crate::domain::text::{Arg, Msg};
use crate::domain::workflow::{
    allowed_for, authorize, handling_level, own_parts, part_step, rule, ActionKind, AssignmentState, Blocked, Facts, Level, Outcome,
    PartStep, Refusal, Taker, TicketState,
};
use crate::domain::{Actor, AssignmentId, Grant, OrgKind, OrgPath, OrgUnitId, Role};

use crate::app::org::find_unit;
use crate::app::sla::{self, SlaContext};
use crate::app::{check_version, parse_id, text, AppError, AppResult};

use super::loaded::Loaded;
use super::requests::ActionRequest;

/// What an action changes, collected for the ticket row and the audit event.
pub(super) struct Change {
    pub(super) to: TicketState,
    pub(super) reason: Option<String>,
    pub(super) changes: serde_json::Map<String, Value>,
}

impl Change {
    pub(super) fn note(&mut self, field: &str, old: impl Serialize, new: impl Serialize) {
        self.changes.insert(field.into(), json!([old, new]));
    }
}

/// An action checked, with the writes of its own kind done (parts, extensions, department
/// clocks). The ticket row, the stage clocks and the audit event are written afterwards, for all
/// actions of a batch together (`actions::finish`).
pub(super) struct Decided {
    pub(super) t: Loaded,
    pub(super) from: TicketState,
    pub(super) kind: ActionKind,
    pub(super) grant: Option<Grant>,
    pub(super) c: Change,
}

/// What every family's step needs besides the ticket: where to write, who acts, when.
struct Step<'a, 'c> {
    conn: &'a mut DbConn,
    ctx: SlaContext<'c>,
    actor: &'a Actor,
    kind: ActionKind,
    now: NaiveDateTime,
}

/// Checks one action and does its own writes; see the module's documentation.
pub(super) fn decide(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    mut t: Loaded,
    version: Option<i64>,
    req: ActionRequest,
    now: NaiveDateTime,
) -> AppResult<Decided> {
    check_version(version, t.row.version)?;
    let kind = req.kind();
    let from = t.state()?;
    {
        let parts = t.domain_parts()?;
        let facts = t.facts(&parts)?;
        authorize(actor, kind, &facts).map_err(|e| refusal(e, actor, kind, &facts))?;
    }
    let grant = acting_grant(actor, kind, from, &t).cloned();
    let to = match rule(kind).outcome {
        Outcome::To(s) => s,
        Outcome::Solve => TicketState::Solved,
        // A return visit's verdict decides (`handling::return_visit`).
        Outcome::Stay | Outcome::ReturnVisit => from,
    };
    let mut c = Change { to, reason: None, changes: serde_json::Map::new() };
    let mut s = Step { conn, ctx, actor, kind, now };
    use ActionRequest as R;
    match req {
        R::AcceptAtCompound { note } | R::AcceptAtCommunity { note } => triage::accept(&mut c, note)?,
        R::ReportToCommunity { reason } | R::Decline { reason } => triage::with_reason(&mut c, reason)?,
        R::EscalateToCommunity {} => {}
        R::MarkDuplicate { duplicate_of, reason } => triage::mark_duplicate(&mut s, &mut t, &mut c, duplicate_of, reason)?,
        R::Whistle { lead_department_id, co_department_ids, whistle_type, reason } => {
            community::whistle(&mut s, &mut t, &mut c, lead_department_id, co_department_ids, whistle_type, reason)?
        }
        R::AddDepartment { department_id, reason } => community::add_department(&mut s, &mut t, &mut c, department_id, reason)?,
        R::RemoveDepartment { department_id, reason } | R::ReleasePart { department_id, reason } => {
            community::take_off(&mut s, &mut t, &mut c, department_id, reason)?
        }
        R::RuleOnReturn { department_id, decision, new_department_id, reason } => {
            community::rule_on_return(&mut s, &mut t, &mut c, department_id, decision, new_department_id, reason)?
        }
        R::RuleOnExtension { extension_id, decision, reason } => {
            community::rule_on_extension(&mut s, &mut t, &mut c, extension_id, decision, reason)?
        }
        R::Acknowledge { department_id } => department::acknowledge(&mut s, &t, &mut c, department_id)?,
        R::ReturnCase { department_id, reason_code, note } => {
            department::return_case(&mut s, &t, &mut c, department_id, reason_code, note)?
        }
        R::RequestExtension { department_id, reason, proposed_due_at } => {
            department::request_extension(&mut s, &t, &mut c, department_id, reason, proposed_due_at)?
        }
        R::AddProgress { department_id, note } => department::progress(&mut s, &t, &mut c, department_id, note)?,
        R::CompletePart { department_id, note } => department::complete(&mut s, &t, &mut c, department_id, note)?,
        R::MarkSolved { resolution } => handling::mark_solved(&mut t, &mut c, from, resolution)?,
        R::PauseForResident { reason } => handling::pause(&mut s, &t, &mut c, reason)?,
        R::ResumeWork { note } => handling::resume(&mut s, &t, &mut c, note)?,
        R::RecordReturnVisit { satisfaction, note } => handling::return_visit(&mut s, &mut t, &mut c, satisfaction, note)?,
    }
    if c.to.is_final() {
        t.row.closed_at = Some(now);
    }
    Ok(Decided { t, from, kind, grant, c })
}

/// The answer to an action the rules refuse.
pub(super) fn refusal(e: Refusal, actor: &Actor, action: ActionKind, f: &Facts<'_>) -> AppError {
    match e {
        Refusal::Hidden => AppError::NotFound { what: "ticket" },
        Refusal::WrongRole(why) => AppError::forbidden(why),
        Refusal::WrongState => AppError::IllegalAction {
            action: action.as_str().into(),
            state: f.state.as_str().into(),
            allowed: allowed_for(actor, f).iter().map(|a| a.as_str().to_string()).collect(),
        },
        Refusal::Blocked(b) => AppError::conflict(b.code(), blocked_detail(b, action)),
    }
}

fn blocked_detail(b: Blocked, action: ActionKind) -> Msg {
    use Blocked as B;
    let a = Arg::Key(action.label_key());
    match b {
        B::PartState => crate::msg!("why-illegal_part_state", action = a),
        B::ReturnOverruled => crate::msg!("why-return_overruled"),
        B::ExtensionPending => crate::msg!("why-extension_pending"),
        B::LeadClosesBySolving => crate::msg!("why-lead_closes_by_solving"),
        B::LeadNotAcknowledged => crate::msg!("why-lead_not_acknowledged"),
        B::CoDepartmentsOpen => crate::msg!("why-co_departments_open"),
        B::NothingToRule => crate::msg!("why-nothing_to_rule", action = a),
        B::NoCoDepartment => crate::msg!("why-no_co_department"),
        B::NothingToPause => crate::msg!("why-nothing_to_pause"),
        B::NotPaused => crate::msg!("why-not_paused"),
        B::LeadNotRemovable => crate::msg!("why-lead_not_removable"),
        B::PartNotOpen => crate::msg!("why-part_not_open", action = a),
    }
}

/// The answer when the part named cannot take this step: the lead named where a co-department
/// is needed is the caller's mistake in `department_id` (422); a part in the wrong state is a
/// conflict with the case as it is now (409).
fn part_refusal(b: Blocked, action: ActionKind) -> AppError {
    match b {
        Blocked::LeadNotRemovable | Blocked::LeadClosesBySolving => AppError::validation("department_id", blocked_detail(b, action)),
        _ => AppError::conflict(b.code(), blocked_detail(b, action)),
    }
}

/// Applies the domain's part-level table to a stored part: the state it moves to.
fn step_part(p: &AssignmentRow, step: PartStep, t: &Loaded, action: ActionKind) -> AppResult<AssignmentState> {
    let part = t.domain_part(p)?;
    part_step(step, &part).map_err(|b| part_refusal(b, action))
}

/// The grant the actor acts under for this action, for the audit event.
fn acting_grant<'a>(actor: &'a Actor, kind: ActionKind, state: TicketState, t: &Loaded) -> Option<&'a Grant> {
    let role_at = |role: Role, at: &OrgPath| actor.grants.iter().find(|g| g.role == role && g.org_path.contains(at));
    let dept = || {
        actor.grants.iter().find(|g| {
            g.role == Role::DepartmentLiaison
                && t.parts.iter().any(|p| p.department_id == g.org_unit_id && p.state != AssignmentState::Removed)
        })
    };
    match rule(kind).taker {
        Taker::Compound => role_at(Role::BranchSecretary, &t.place.compound),
        Taker::Community => role_at(Role::CommunityStaff, &t.place.community),
        Taker::AnyDepartment => dept(),
        Taker::GridWorker => role_at(Role::GridWorker, &t.place.place),
        Taker::System => None,
        Taker::HandlingLevel => match handling_level(state) {
            Some(Level::Compound) => role_at(Role::BranchSecretary, &t.place.compound),
            Some(Level::Community) => role_at(Role::CommunityStaff, &t.place.community),
            Some(Level::Department) => dept(),
            None => role_at(Role::BranchSecretary, &t.place.compound).or_else(|| role_at(Role::CommunityStaff, &t.place.community)),
        },
    }
}

/// A required free-text argument (a reason, a note), at most 2000 characters.
fn required(field: &str, v: &str) -> AppResult<String> {
    text(field, v, 2000)
}

/// The caller's own live part on the ticket, chosen by `department_id` when he speaks for several.
fn own_part<'a>(actor: &Actor, t: &'a Loaded, department_id: &Option<String>) -> AppResult<&'a AssignmentRow> {
    let parts = t.domain_parts()?;
    let mine: Vec<OrgUnitId> = own_parts(actor, &parts).iter().map(|p| p.department_id).collect();
    let candidates: Vec<&AssignmentRow> = t
        .parts
        .iter()
        .filter(|p| p.state != AssignmentState::Removed && mine.contains(&p.department_id))
        .filter(|p| department_id.as_ref().is_none_or(|d| d.parse().ok() == Some(p.department_id)))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(AppError::validation("department_id", crate::msg!("why-no_own_part"))),
        _ => Err(AppError::validation("department_id", crate::msg!("why-name_department"))),
    }
}

/// A department that this ticket's community may whistle: an active department hanging off one
/// of the community's ancestors (the street, district or city it belongs to), not already on
/// the case.
fn whistleable_department(conn: &mut DbConn, t: &Loaded, field: &str, id: &str) -> AppResult<OrgUnitRow> {
    let id: crate::domain::OrgUnitId = parse_id(field, id)?;
    let unknown = || AppError::UnknownReference { field: field.into(), detail: crate::msg!("why-no_department_for_community") };
    let d = find_unit(conn, &id)?.ok_or_else(unknown)?;
    if d.kind != OrgKind::Department || !d.active {
        return Err(unknown());
    }
    let parent = d.parent_id.and_then(|p| find_unit(conn, &p).transpose()).transpose()?.ok_or_else(unknown)?;
    if !parent.path.contains(&t.place.community) {
        return Err(unknown());
    }
    if t.parts.iter().any(|p| p.department_id == d.id && p.state != AssignmentState::Removed) {
        return Err(AppError::Conflict { code: "already_whistled", detail: crate::msg!("why-already_whistled") });
    }
    Ok(d)
}

/// Whistles a department onto the ticket: its part, and its two clocks started now (签收 and 办理),
/// held by the department. The part's deadlines are the clocks'.
fn dispatch_part(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    ticket: &TicketRow,
    dept: &OrgUnitRow,
    lead: bool,
    now: NaiveDateTime,
) -> AppResult<AssignmentRow> {
    let mut p = AssignmentRow {
        id: AssignmentId::new(),
        ticket_id: ticket.id,
        department_id: dept.id,
        lead,
        state: AssignmentState::Dispatched,
        overruled: false,
        dispatched_at: now,
        ack_due_at: now,
        acknowledged_at: None,
        due_at: now,
        original_due_at: None,
        return_reason: None,
        return_note: None,
        done_at: None,
        updated_at: now,
        ended_at: None,
        end_reason: None,
    };
    diesel::insert_into(ticket_assignments::table).values(&p).execute(conn)?;
    let path = dept.path.clone();
    let holder = (dept.id, &path);
    let ack = sla::start_clock(conn, ctx, ticket, Some(p.id), Stage::DepartmentAcknowledgement, holder, now)?;
    let resolve = sla::start_clock(conn, ctx, ticket, Some(p.id), Stage::Resolution, holder, now)?;
    p.ack_due_at = ack.due_at;
    p.due_at = resolve.due_at;
    diesel::update(ticket_assignments::table.find(&p.id))
        .set((ticket_assignments::ack_due_at.eq(p.ack_due_at), ticket_assignments::due_at.eq(p.due_at)))
        .execute(conn)?;
    Ok(p)
}

/// Writes a part's changed fields back.
fn set_part(conn: &mut DbConn, p: &AssignmentRow) -> AppResult<()> {
    diesel::update(ticket_assignments::table.find(&p.id))
        .set((
            ticket_assignments::state.eq(&p.state),
            ticket_assignments::lead.eq(p.lead),
            ticket_assignments::overruled.eq(p.overruled),
            ticket_assignments::acknowledged_at.eq(p.acknowledged_at),
            ticket_assignments::due_at.eq(p.due_at),
            ticket_assignments::original_due_at.eq(p.original_due_at),
            ticket_assignments::return_reason.eq(&p.return_reason),
            ticket_assignments::return_note.eq(&p.return_note),
            ticket_assignments::done_at.eq(p.done_at),
            ticket_assignments::updated_at.eq(p.updated_at),
            ticket_assignments::ended_at.eq(p.ended_at),
            ticket_assignments::end_reason.eq(&p.end_reason),
        ))
        .execute(conn)?;
    Ok(())
}
