use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::db::DbConn;
use crate::domain::workflow::Sight;
use crate::domain::{Actor, AssignmentId, Role, TicketId};

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::sla::{clock_view, ClockView};
use crate::app::{text, AppError, AppResult};
use crate::db::models::ClockRow;
use crate::db::schema::sla_clocks;

use super::loaded::load_visible;
use crate::app::audit::{timeline_event, TimelineEvent};

/// 留言: anyone who can see the ticket may comment; the ticket itself does not change.
pub fn comment(conn: &mut DbConn, actor: &Actor, id: &TicketId, body: &str, now: NaiveDateTime) -> AppResult<TimelineEvent> {
    conn.transaction(|conn| {
        let t = load_visible(conn, actor, id)?;
        if t.sight(actor)? != Sight::Full {
            return Err(AppError::forbidden(crate::msg!("why-part_ended_no_comment")));
        }
        let body = text("text", body, 2000)?;
        let grant = actor
            .grants
            .iter()
            .filter(|g| g.org_path.contains(&t.place.place) || t.parts.iter().any(|p| p.department_id == g.org_unit_id))
            .max_by_key(|g| g.org_path.depth())
            .cloned();
        let by = ActedBy::person(actor.person_id, grant.as_ref());
        let entity_id = t.row.id.to_string();
        let e = audit::append(
            conn,
            Draft {
                entity_kind: "ticket",
                entity_id: &entity_id,
                by: &by,
                action: "comment",
                from_state: None,
                to_state: None,
                reason: Some(&body),
                changes: json!({}),
            },
            now,
        )?;
        Ok(timeline_event(e))
    })
}

/// A ticket's whole history in one call; a department whose part ended reads it up to that end.
pub fn timeline(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<Vec<TimelineEvent>> {
    let t = load_visible(conn, actor, id)?;
    let until = match t.sight(actor)? {
        Sight::Until(at) => Some(at),
        _ => None,
    };
    Ok(audit::events_since(conn, "ticket", &t.row.id.to_string(), t.row.created_at - audit::BEFORE_CREATION)?
        .into_iter()
        .filter(|e| until.is_none_or(|u| e.at <= u))
        .map(timeline_event)
        .collect())
}

/// Which clocks of a ticket the caller may read: all of them, or (a department whose part ended)
/// only its own parts' clocks. Hidden tickets answer as missing.
fn readable_clocks(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<Option<Vec<AssignmentId>>> {
    let t = load_visible(conn, actor, id)?;
    Ok(match t.sight(actor)? {
        Sight::Until(_) => Some(
            t.parts
                .iter()
                .filter(|p| actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id == p.department_id))
                .map(|p| p.id)
                .collect(),
        ),
        _ => None,
    })
}

/// The clocks (时限) of a ticket the caller can see, oldest first.
pub fn clocks_of(conn: &mut DbConn, actor: &Actor, ticket_id: &TicketId, now: NaiveDateTime) -> AppResult<Vec<ClockView>> {
    let only_parts = readable_clocks(conn, actor, ticket_id)?;
    let mut rows: Vec<ClockRow> = sla_clocks::table.filter(sla_clocks::ticket_id.eq(ticket_id)).select(ClockRow::as_select()).load(conn)?;
    if let Some(parts) = only_parts {
        rows.retain(|c| c.assignment_id.as_ref().is_some_and(|a| parts.contains(a)));
    }
    // In the order the stages come: clocks started together (a department's two) by stage.
    rows.sort_by_key(|c| (c.started_at, c.stage, c.id));
    Ok(rows.into_iter().map(|c| clock_view(c, now)).collect())
}
