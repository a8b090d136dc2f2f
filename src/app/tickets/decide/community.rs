//! The community's side of a whistle (吹哨): dispatching departments, adding and taking them off,
//! and ruling on their returns (退单) and extension requests (延期).

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::app::sla::{self, Which};
use crate::app::{opt_text, AppError, AppResult};
use crate::db::models::{ClockRow, ExtensionRow};
use crate::db::schema::{sla_clocks, ticket_extensions};
use crate::domain::sla::Stage;
use crate::domain::workflow::{ActionKind, AssignmentState, PartEnd, PartStep, WhistleType};

use super::super::loaded::Loaded;
use super::super::requests::{ExtensionRuling, ReturnRuling};
use super::{dispatch_part, required, set_part, step_part, whistleable_department, Change, Step};

/// 吹哨: the lead department and any co-departments, each dispatched with its clocks.
pub(super) fn whistle(
    s: &mut Step<'_, '_>,
    t: &mut Loaded,
    c: &mut Change,
    lead: String,
    co: Vec<String>,
    whistle_type: WhistleType,
    reason: String,
) -> AppResult<()> {
    c.reason = Some(required("reason", &reason)?);
    let mut all = vec![lead];
    for d in co {
        if all.contains(&d) {
            return Err(AppError::validation("co_department_ids", crate::msg!("why-department_once")));
        }
        all.push(d);
    }
    let mut created = vec![];
    for (i, d) in all.iter().enumerate() {
        let field = if i == 0 { "lead_department_id" } else { "co_department_ids" };
        let dept = whistleable_department(s.conn, t, field, d)?;
        let p = dispatch_part(s.conn, s.ctx, &t.row, &dept, i == 0, s.now)?;
        created.push(json!({"department_id": dept.id, "lead": i == 0}));
        t.parts.push(p);
    }
    c.note("departments", Value::Null, created);
    c.note("whistle_type", t.row.whistle_type, whistle_type.as_str());
    t.row.whistle_type = Some(whistle_type);
    Ok(())
}

/// 增派部门: one more co-department.
pub(super) fn add_department(s: &mut Step<'_, '_>, t: &mut Loaded, c: &mut Change, id: String, reason: Option<String>) -> AppResult<()> {
    let dept = whistleable_department(s.conn, t, "department_id", &id)?;
    let p = dispatch_part(s.conn, s.ctx, &t.row, &dept, false, s.now)?;
    c.reason = opt_text("reason", &reason, 2000)?;
    c.note("department_added", Value::Null, dept.id);
    t.parts.push(p);
    Ok(())
}

/// 撤回部门 and 解除协办: a co-department whose part is open leaves the case; its clocks stop.
pub(super) fn take_off(s: &mut Step<'_, '_>, t: &mut Loaded, c: &mut Change, id: String, reason: String) -> AppResult<()> {
    c.reason = Some(required("reason", &reason)?);
    let end = if s.kind == ActionKind::ReleasePart { PartEnd::Released } else { PartEnd::Removed };
    let idx = t
        .parts
        .iter()
        .position(|p| id.parse().ok() == Some(p.department_id) && p.state != AssignmentState::Removed)
        .ok_or_else(|| AppError::UnknownReference { field: "department_id".into(), detail: crate::msg!("why-no_live_part") })?;
    let to = step_part(&t.parts[idx], PartStep::TakeOff, t, s.kind)?;
    let p = &mut t.parts[idx];
    c.note("department", Value::Null, p.department_id);
    c.note("part_state", p.state, to.as_str());
    c.note("part_end", Value::Null, end.as_str());
    p.state = to;
    p.ended_at = Some(s.now);
    p.end_reason = Some(end);
    p.updated_at = s.now;
    set_part(s.conn, p)?;
    sla::stop_clocks(s.conn, t.row.id, Which::Assignment(p.id), false, s.now)?;
    Ok(())
}

/// 退单审核: overruled, the department takes the case back with the time it had left; accepted,
/// its part ends and (for the lead, required) another department is dispatched in its place.
pub(super) fn rule_on_return(
    s: &mut Step<'_, '_>,
    t: &mut Loaded,
    c: &mut Change,
    id: String,
    decision: ReturnRuling,
    new_department_id: Option<String>,
    reason: String,
) -> AppResult<()> {
    c.reason = Some(required("reason", &reason)?);
    let idx = t
        .parts
        .iter()
        .position(|p| id.parse().ok() == Some(p.department_id) && p.state == AssignmentState::Returned)
        .ok_or_else(|| AppError::UnknownReference { field: "department_id".into(), detail: crate::msg!("why-no_return_waiting") })?;
    let mut p = t.parts[idx].clone();
    c.note("department", Value::Null, p.department_id);
    c.note("ruling", Value::Null, json!(decision));
    match decision {
        ReturnRuling::Overrule => {
            let back = step_part(&p, PartStep::Overrule { acknowledged: p.acknowledged_at.is_some() }, t, s.kind)?;
            c.note("part_state", p.state, back.as_str());
            p.state = back;
            p.overruled = true;
            p.updated_at = s.now;
            set_part(s.conn, &p)?;
            // The ruling's clock stops; the department's clocks run again from now with the
            // time they had left.
            sla::stop_clocks(s.conn, t.row.id, Which::AssignmentStage(p.id, Stage::ReturnRuling), false, s.now)?;
            sla::resume_after_return(s.conn, s.ctx, p.id, s.now)?;
        }
        ReturnRuling::Accept => {
            let was_lead = p.lead;
            if was_lead && new_department_id.is_none() {
                return Err(AppError::validation("new_department_id", crate::msg!("why-name_new_lead")));
            }
            let ended = step_part(&p, PartStep::AcceptReturn, t, s.kind)?;
            c.note("part_state", p.state, ended.as_str());
            c.note("part_end", Value::Null, PartEnd::ReturnAccepted.as_str());
            p.state = ended;
            p.lead = false;
            p.ended_at = Some(s.now);
            p.end_reason = Some(PartEnd::ReturnAccepted);
            p.updated_at = s.now;
            set_part(s.conn, &p)?;
            sla::stop_clocks(s.conn, t.row.id, Which::Assignment(p.id), false, s.now)?;
            // The department that returned the case cannot be dispatched in its own place: its
            // part still counts as live for that check.
            if let Some(new_id) = new_department_id {
                let dept = whistleable_department(s.conn, t, "new_department_id", &new_id)?;
                dispatch_part(s.conn, s.ctx, &t.row, &dept, was_lead, s.now)?;
                c.note("redispatched_to", Value::Null, json!({"department_id": dept.id, "lead": was_lead}));
            }
            t.parts[idx] = p;
        }
    }
    Ok(())
}

/// 延期审批: granted, the department's deadline moves (its first deadline is kept) and its
/// resolution clock with it; refused, nothing moves.
pub(super) fn rule_on_extension(
    s: &mut Step<'_, '_>,
    t: &mut Loaded,
    c: &mut Change,
    extension_id: String,
    decision: ExtensionRuling,
    reason: Option<String>,
) -> AppResult<()> {
    c.reason = opt_text("reason", &reason, 2000)?;
    let e: ExtensionRow = ticket_extensions::table
        .find(&extension_id)
        .filter(ticket_extensions::ticket_id.eq(&t.row.id))
        .filter(ticket_extensions::state.eq("pending"))
        .select(ExtensionRow::as_select())
        .first(s.conn)
        .optional()?
        .ok_or_else(|| AppError::UnknownReference { field: "extension_id".into(), detail: crate::msg!("why-no_pending_extension") })?;
    let new_state = if decision == ExtensionRuling::Grant { "granted" } else { "refused" };
    diesel::update(ticket_extensions::table.find(&e.id))
        .set((
            ticket_extensions::state.eq(new_state),
            ticket_extensions::decided_by.eq(Some(s.actor.person_id.to_string())),
            ticket_extensions::decided_at.eq(Some(s.now)),
        ))
        .execute(s.conn)?;
    c.note("extension", "pending", json!({"extension_id": e.id, "decision": new_state}));
    if decision != ExtensionRuling::Grant {
        return Ok(());
    }
    let Some(p) = t.parts.iter_mut().find(|p| p.id == e.assignment_id) else { return Ok(()) };
    c.note("department_due_at", p.due_at, e.proposed_due_at);
    // The first deadline is kept, however many extensions follow.
    p.original_due_at = Some(p.original_due_at.unwrap_or(p.due_at));
    p.due_at = e.proposed_due_at;
    p.updated_at = s.now;
    set_part(s.conn, p)?;
    let running: Option<ClockRow> = sla_clocks::table
        .filter(sla_clocks::assignment_id.eq(&p.id))
        .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
        .filter(sla_clocks::stopped_at.is_null())
        .select(ClockRow::as_select())
        .first(s.conn)
        .optional()?;
    if let Some(clock) = running {
        sla::move_deadline(s.conn, s.ctx, &clock, e.proposed_due_at, s.now)?;
    }
    Ok(())
}
