use diesel::prelude::*;

use crate::db::schema::tickets;
use crate::domain::workflow::AssignmentState;
use crate::domain::{Actor, Operation, OrgKind, OrgPath, Role};

use crate::app::scope::Db;

pub(super) type BoolExpr = Box<dyn BoxableExpression<tickets::table, Db, SqlType = diesel::sql_types::Bool>>;

/// ORs the terms together; no term matches nothing. (No constant-false seed: a leading `1 = 0 OR`
/// keeps SQLite from using an index for the terms.)
pub(super) fn any_of(terms: Vec<BoolExpr>) -> BoolExpr {
    let mut it = terms.into_iter();
    match it.next() {
        None => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
        Some(first) => it.fold(first, |acc, t| Box::new(acc.or(t))),
    }
}

/// Tickets the actor can see: by place for residential roles and supervisors, and by whistle for
/// department liaisons. One filter, evaluated in the database.
pub(super) fn tickets_in_scope(actor: &Actor) -> BoolExpr {
    let mut residential = actor.clone();
    residential.grants.retain(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::Supervisor));
    let roots = residential.scope_roots(Operation::TicketRead);
    let mut terms: Vec<BoolExpr> = roots
        .iter()
        .filter_map(|root| residential.grants.iter().find(|g| &g.org_path == root))
        .map(|g| place_within(g.org_kind, &g.org_unit_id.to_string(), &g.org_path))
        .collect();
    let departments: Vec<String> =
        actor.grants.iter().filter(|g| g.role == Role::DepartmentLiaison).map(|g| g.org_unit_id.to_string()).collect();
    if !departments.is_empty() {
        // A department lists the cases it holds a part of (done included); once its part ended it
        // may still open the ticket (up to that end) but no longer lists it.
        let held = [AssignmentState::Dispatched, AssignmentState::Acknowledged, AssignmentState::Returned, AssignmentState::Done];
        terms.push(assigned_to(&departments, Some(&held)));
    }
    any_of(terms)
}

/// Tickets whose place lies in the subtree of a unit. A building, compound or community is an
/// equality on its own column, so that "the latest tickets here" is an ordered index scan that stops
/// after one page; wider units (street and up) match most tickets anyway and use the path range.
pub(super) fn place_within(kind: OrgKind, id: &str, path: &OrgPath) -> BoolExpr {
    match kind {
        OrgKind::Building => Box::new(tickets::place_id.eq(id.to_string())),
        OrgKind::Compound => Box::new(tickets::compound_id.eq(id.to_string())),
        OrgKind::Community => Box::new(tickets::community_id.eq(id.to_string())),
        _ => Box::new(tickets::place_path.ge(path.as_str().to_string()).and(tickets::place_path.lt(path.subtree_upper_bound()))),
    }
}

/// `tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE department_id = ? [AND state IN (…)])`
/// per department, OR-ed: written as SQL because diesel's multi-backend connection cannot box a
/// sub-select. The states are our own constants; the department ids are bound, never spliced.
pub(super) fn assigned_to(departments: &[String], states: Option<&[AssignmentState]>) -> BoolExpr {
    let state_sql = match states {
        Some(states) => format!(" AND state IN ({}))", states.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")),
        None => ")".to_string(),
    };
    any_of(
        departments
            .iter()
            .map(|d| -> BoolExpr {
                Box::new(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE department_id = ",
                    )
                    .bind::<diesel::sql_types::Text, _>(d.clone())
                    .sql(&state_sql),
                )
            })
            .collect(),
    )
}

/// Tickets with a part waiting for the whistling level: a return or an extension request.
pub(super) fn waiting_for_ruling() -> BoolExpr {
    Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE state = 'returned') \
         OR tickets.id IN (SELECT ticket_id FROM ticket_extensions WHERE state = 'pending'))",
    ))
}
