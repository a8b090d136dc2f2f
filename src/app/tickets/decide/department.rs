//! A department's own part of a whistled case (部门报到): 签收, 退单, 申请延期, 进展, 协办完成.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::app::sla::{self, Which};
use crate::app::{truncate_to_micros, AppError, AppResult};
use crate::db::models::ExtensionRow;
use crate::db::schema::ticket_extensions;
use crate::domain::sla::Stage;
use crate::domain::workflow::{PartStep, ReturnReason};
use crate::domain::ExtensionId;

use super::super::loaded::Loaded;
use super::{own_part, required, set_part, step_part, Change, Step};

/// 签收: the acknowledgement clock stops, keeping both times (dispatched and acknowledged).
pub(super) fn acknowledge(s: &mut Step<'_, '_>, t: &Loaded, c: &mut Change, department_id: Option<String>) -> AppResult<()> {
    let mut p = own_part(s.actor, t, &department_id)?.clone();
    let to = step_part(&p, PartStep::Acknowledge, t, s.kind)?;
    p.state = to;
    p.acknowledged_at = Some(s.now);
    p.updated_at = s.now;
    c.note("department", Value::Null, p.department_id);
    c.note("acknowledged_late", Value::Null, s.now > p.ack_due_at);
    set_part(s.conn, &p)?;
    sla::stop_clocks(s.conn, t.row.id, Which::AssignmentStage(p.id, Stage::DepartmentAcknowledgement), true, s.now)?;
    Ok(())
}

/// 退单: the department says the case is not its own. Its clocks wait for the community's ruling
/// (its time is not counted meanwhile); the ruling has a clock of its own.
pub(super) fn return_case(
    s: &mut Step<'_, '_>,
    t: &Loaded,
    c: &mut Change,
    department_id: Option<String>,
    reason_code: ReturnReason,
    note: String,
) -> AppResult<()> {
    let mut p = own_part(s.actor, t, &department_id)?.clone();
    let to = step_part(&p, PartStep::Return, t, s.kind)?;
    c.reason = Some(required("note", &note)?);
    c.note("department", Value::Null, p.department_id);
    c.note("part_state", p.state, to.as_str());
    c.note("reason_code", Value::Null, reason_code.as_str());
    p.state = to;
    p.return_reason = Some(reason_code);
    p.return_note = c.reason.clone();
    p.updated_at = s.now;
    set_part(s.conn, &p)?;
    sla::pause_for_return(s.conn, p.id, s.now)?;
    let community = (t.row.community_id, &t.place.community);
    sla::start_clock(s.conn, s.ctx, &t.row, Some(p.id), Stage::ReturnRuling, community, s.now)?;
    Ok(())
}

/// 申请延期: a later deadline asked of the community; one request at a time per part.
pub(super) fn request_extension(
    s: &mut Step<'_, '_>,
    t: &Loaded,
    c: &mut Change,
    department_id: Option<String>,
    reason: String,
    proposed_due_at: DateTime<Utc>,
) -> AppResult<()> {
    let p = own_part(s.actor, t, &department_id)?;
    step_part(p, PartStep::RequestExtension, t, s.kind)?;
    let proposed = truncate_to_micros(proposed_due_at.naive_utc());
    if proposed <= p.due_at {
        return Err(AppError::validation("proposed_due_at", crate::msg!("rule-later_than_deadline")));
    }
    c.reason = Some(required("reason", &reason)?);
    let e = ExtensionRow {
        id: ExtensionId::new(),
        ticket_id: t.row.id,
        assignment_id: p.id,
        requested_by: s.actor.person_id,
        reason: c.reason.clone().unwrap_or_default(),
        proposed_due_at: proposed,
        original_due_at: p.due_at,
        state: crate::domain::workflow::ExtensionState::Pending,
        decided_by: None,
        decided_at: None,
        requested_at: s.now,
    };
    diesel::insert_into(ticket_extensions::table).values(&e).execute(s.conn)?;
    c.note("extension_requested", Value::Null, json!({"extension_id": e.id, "department": p.department_id, "proposed_due_at": proposed}));
    Ok(())
}

/// 进展: a note on the work, nothing moves.
pub(super) fn progress(s: &mut Step<'_, '_>, t: &Loaded, c: &mut Change, department_id: Option<String>, note: String) -> AppResult<()> {
    let p = own_part(s.actor, t, &department_id)?;
    step_part(p, PartStep::Progress, t, s.kind)?;
    c.note("department", Value::Null, p.department_id);
    c.reason = Some(required("note", &note)?);
    Ok(())
}

/// 协办完成: a co-department's part is done and its clocks stop (the lead closes by solving).
pub(super) fn complete(s: &mut Step<'_, '_>, t: &Loaded, c: &mut Change, department_id: Option<String>, note: String) -> AppResult<()> {
    let mut p = own_part(s.actor, t, &department_id)?.clone();
    let to = step_part(&p, PartStep::Complete, t, s.kind)?;
    c.reason = Some(required("note", &note)?);
    c.note("department", Value::Null, p.department_id);
    c.note("part_state", p.state, to.as_str());
    p.state = to;
    p.done_at = Some(s.now);
    p.updated_at = s.now;
    set_part(s.conn, &p)?;
    sla::stop_clocks(s.conn, t.row.id, Which::Assignment(p.id), false, s.now)?;
    sla::mark_resolved(s.conn, &[t.row.id], s.now)?;
    Ok(())
}
