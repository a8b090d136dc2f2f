use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::models::{AssignmentRow, ClockRow, TicketRow};
use crate::db::schema::{ticket_assignments, ticket_extensions};
use crate::db::{backend, DbConn};
use crate::domain::sla::Stage;
use crate::domain::workflow::{sight, AssignmentState, DepartmentPart, Facts, Sight, TicketPlace, TicketState};
use crate::domain::{Actor, AssignmentId, OrgPath, OrgUnitId, TicketId};

use crate::app::sla::{self};
use crate::app::{AppError, AppResult};

/// A ticket with everything the rules need: its row, its department parts, its running clocks
/// and the parts with an extension request waiting.
pub(super) struct Loaded {
    pub(super) row: TicketRow,
    pub(super) place: TicketPlace,
    pub(super) parts: Vec<AssignmentRow>,
    pub(super) clocks: Vec<ClockRow>,
    /// Assignment ids with a pending extension request.
    pub(super) pending_extensions: Vec<AssignmentId>,
}

impl Loaded {
    pub(super) fn state(&self) -> AppResult<TicketState> {
        Ok(self.row.state)
    }

    /// The parts as the rules see them. A stored value the domain does not know is a corrupt row:
    /// an error, never a guess.
    pub(super) fn domain_parts(&self) -> AppResult<Vec<DepartmentPart>> {
        self.parts.iter().map(|p| self.domain_part(p)).collect()
    }

    /// One stored part as the rules see it.
    pub(super) fn domain_part(&self, p: &AssignmentRow) -> AppResult<DepartmentPart> {
        Ok(DepartmentPart {
            department_id: p.department_id,
            lead: p.lead,
            state: p.state,
            overruled: p.overruled,
            extension_pending: self.pending_extensions.contains(&p.id),
            ended_at: p.ended_at,
        })
    }

    /// What the rules look at, over `parts` (from [`Loaded::domain_parts`]).
    pub(super) fn facts<'a>(&'a self, parts: &'a [DepartmentPart]) -> AppResult<Facts<'a>> {
        Ok(Facts {
            state: self.state()?,
            place: &self.place,
            parts,
            resolution_running: self.clocks.iter().any(|c| c.stage == Stage::Resolution && c.paused_at.is_none()),
            waiting_for_resident: self.clocks.iter().any(|c| c.paused_for.as_deref() == Some(sla::PAUSED_FOR_RESIDENT)),
        })
    }

    pub(super) fn sight(&self, actor: &Actor) -> AppResult<Sight> {
        Ok(sight(actor, &self.place, &self.domain_parts()?))
    }
}

/// The path of `unit_id` on `path`, cut after it: the ancestor's own path.
pub(super) fn ancestor_path(path: &OrgPath, unit_id: OrgUnitId) -> OrgPath {
    let mut buf = uuid::Uuid::encode_buffer();
    let (path, unit_id) = (path.as_str(), &*unit_id.as_uuid().hyphenated().encode_lower(&mut buf));
    match path.find(unit_id) {
        Some(i) => OrgPath::from_db(path[..i + unit_id.len() + 1].to_string()),
        None => OrgPath::from_db(path.to_string()),
    }
}

pub(super) fn place_of(row: &TicketRow) -> TicketPlace {
    place_at(&row.place_path, row.compound_id, row.community_id)
}

/// The places a ticket's clocks are held at: its own, its compound's and its community's.
pub(super) fn place_at(place: &OrgPath, compound: OrgUnitId, community: OrgUnitId) -> TicketPlace {
    TicketPlace { place: place.clone(), compound: ancestor_path(place, compound), community: ancestor_path(place, community) }
}

pub(super) fn load(conn: &mut DbConn, id: &TicketId) -> AppResult<Option<Loaded>> {
    Ok(load_all(conn, &[*id], false)?.remove(id))
}

/// Loads a ticket the actor can see (fully, or up to the end of his department's part), or
/// reports it missing (the same answer either way).
pub(super) fn load_visible(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<Loaded> {
    let t = load(conn, id)?.ok_or(AppError::NotFound { what: "ticket" })?;
    if t.sight(actor)? == Sight::Hidden {
        return Err(AppError::NotFound { what: "ticket" });
    }
    Ok(t)
}

/// Reads tickets with their department parts; on PostgreSQL `lock` takes their rows, in id order.
pub(super) fn load_all(conn: &mut DbConn, ids: &[TicketId], lock: bool) -> AppResult<HashMap<TicketId, Loaded>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = backend::load_tickets(conn, ids, lock)?;
    let ids: Vec<TicketId> = rows.iter().map(|r| r.id).collect();
    // Department parts come only with a whistle (吹哨), which sets the ticket's whistle type for
    // good: a ticket never whistled has none to read (decision 0030 reads its row the same way).
    let ever_whistled: Vec<TicketId> = rows.iter().filter(|r| r.whistle_type.is_some()).map(|r| r.id).collect();
    let mut parts = parts_of(conn, &ever_whistled)?;
    let mut clocks = sla::running_clocks(conn, &ids)?;
    // Extension requests belong to department parts: only whistled tickets can have one.
    let whistled: Vec<TicketId> = ids.iter().copied().filter(|id| parts.contains_key(id)).collect();
    let mut pending: HashMap<TicketId, Vec<AssignmentId>> = HashMap::new();
    if !whistled.is_empty() {
        let rows: Vec<(TicketId, AssignmentId)> = ticket_extensions::table
            .filter(ticket_extensions::ticket_id.eq_any(&whistled))
            .filter(ticket_extensions::state.eq("pending"))
            .select((ticket_extensions::ticket_id, ticket_extensions::assignment_id))
            .load(conn)?;
        for (t, a) in rows {
            pending.entry(t).or_default().push(a);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let parts = parts.remove(&row.id).unwrap_or_default();
            let clocks = clocks.remove(&row.id).unwrap_or_default();
            let pending_extensions = pending.remove(&row.id).unwrap_or_default();
            (row.id, Loaded { place: place_of(&row), row, parts, clocks, pending_extensions })
        })
        .collect())
}

/// The department parts of tickets, each ticket's in dispatch order.
pub(super) fn parts_of(conn: &mut DbConn, ids: &[TicketId]) -> AppResult<HashMap<TicketId, Vec<AssignmentRow>>> {
    let mut by_ticket: HashMap<TicketId, Vec<AssignmentRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_ticket);
    }
    let rows: Vec<AssignmentRow> = ticket_assignments::table
        .filter(ticket_assignments::ticket_id.eq_any(ids))
        .order((ticket_assignments::ticket_id, ticket_assignments::dispatched_at))
        .select(AssignmentRow::as_select())
        .load(conn)?;
    for p in rows {
        by_ticket.entry(p.ticket_id).or_default().push(p);
    }
    Ok(by_ticket)
}

/// A stored part's state; a value the domain does not know is a corrupt row.
pub(super) fn part_state(p: &AssignmentRow) -> AppResult<AssignmentState> {
    Ok(p.state)
}
