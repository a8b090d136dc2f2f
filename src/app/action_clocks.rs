//! The clocks of the consultation's action items (行动清单, #19). An action decided at a meeting
//! runs to its deadline on the compound's working calendar like any stage's clock: it warns once
//! (预警) at `warn_at`, to the branch secretary and the responsible party's representatives, and
//! is overdue once (超期) at `due_at`, to them and to the community's staff, who supervise it (督办)
//! from their supervision list. Each firing is one conditional update of the item's row (the
//! server that changes it is the only one that tells), its audit event and its notification, in
//! one transaction: exactly once whatever the number of servers. The SLA tick runs it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::notifications::{self, Once};
use crate::app::AppResult;
use crate::db::models::ConsultItemRow;
use crate::db::schema::{consult_items, org_units};
use crate::db::{backend, DbConn};
use crate::domain::consult::{ItemState, Party};
use crate::domain::notify::NoticeKind;
use crate::domain::{OrgUnitId, Role};

/// How many actions one round looks at per kind of firing; the next round takes the rest.
const BATCH: i64 = 200;

/// What a round fired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionFirings {
    pub warnings: usize,
    pub overdue: usize,
}

/// Fires the action clocks that came due by `now`: deadlines first (an action past both its
/// warning time and its deadline is told once that it is late), then warnings.
pub fn fire(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<ActionFirings> {
    let mut out = ActionFirings::default();
    let late: Vec<ConsultItemRow> = consult_items::table
        .filter(consult_items::state.eq(ItemState::Action))
        .filter(consult_items::breached_at.is_null())
        // On time to the end of its deadline (`due_at` itself included), late just after.
        .filter(consult_items::due_at.lt(now))
        .order((consult_items::due_at.asc(), consult_items::id.asc()))
        .limit(BATCH)
        .select(ConsultItemRow::as_select())
        .load(conn)?;
    for r in &late {
        if backend::write_transaction(conn, |c| fire_one(c, r, NoticeKind::ActionOverdue, now))? {
            out.overdue += 1;
        }
    }
    let near: Vec<ConsultItemRow> = consult_items::table
        .filter(consult_items::state.eq(ItemState::Action))
        .filter(consult_items::warned_at.is_null())
        .filter(consult_items::breached_at.is_null())
        .filter(consult_items::warn_at.le(now))
        .filter(consult_items::due_at.gt(now))
        .order((consult_items::warn_at.asc(), consult_items::id.asc()))
        .limit(BATCH)
        .select(ConsultItemRow::as_select())
        .load(conn)?;
    for r in &near {
        if backend::write_transaction(conn, |c| fire_one(c, r, NoticeKind::ActionWarning, now))? {
            out.warnings += 1;
        }
    }
    Ok(out)
}

/// One firing: the item's row marked only if it is still an open action not yet marked (another
/// server, or the party completing it meanwhile, leaves nothing to do), then its audit event and
/// its notifications. Answers whether this call fired it.
fn fire_one(conn: &mut DbConn, r: &ConsultItemRow, kind: NoticeKind, now: NaiveDateTime) -> AppResult<bool> {
    let open = consult_items::table.find(r.id).filter(consult_items::state.eq(ItemState::Action));
    let (n, action, column) = if kind == NoticeKind::ActionOverdue {
        let n = diesel::update(open.filter(consult_items::breached_at.is_null())).set(consult_items::breached_at.eq(now)).execute(conn)?;
        (n, "action_overdue", "breached_at")
    } else {
        let n = diesel::update(open.filter(consult_items::warned_at.is_null()).filter(consult_items::breached_at.is_null()))
            .set(consult_items::warned_at.eq(now))
            .execute(conn)?;
        (n, "action_warned", "warned_at")
    };
    if n == 0 {
        return Ok(false);
    }
    let id = r.id.to_string();
    audit::append(
        conn,
        Draft {
            entity_kind: "consult_item",
            entity_id: &id,
            by: &ActedBy::default(),
            action,
            from_state: Some(ItemState::Action.as_str()),
            to_state: Some(ItemState::Action.as_str()),
            reason: None,
            changes: serde_json::json!({ column: [null, crate::app::rfc3339::format(&now)] }),
        },
        now,
    )?;
    let payload = serde_json::json!({
        "item_id": id,
        "title": r.title,
        "date": r.due_on.map(|d| d.to_string()).unwrap_or_default(),
        "responsible": r.responsible.map(|p| p.as_str()),
    });
    // The branch runs the action list; the responsible party's representatives are told of their own.
    let mut roles = vec![Role::BranchSecretary];
    match r.responsible {
        Some(Party::OwnersCommittee) => roles.push(Role::CommitteeRepresentative),
        Some(Party::PropertyCompany) => roles.push(Role::CompanyRepresentative),
        _ => {}
    }
    let mut told: Vec<(OrgUnitId, Vec<Role>)> = vec![(r.compound_id, roles)];
    if kind == NoticeKind::ActionOverdue {
        // 督办: the community supervises its compounds' late actions.
        let community: Option<Option<OrgUnitId>> =
            org_units::table.find(r.compound_id).select(org_units::parent_id).first(conn).optional()?;
        if let Some(Some(community)) = community {
            told.push((community, vec![Role::CommunityStaff]));
        }
    }
    for (unit, roles) in told {
        let key = format!("consult:{}:{}:{unit}", r.id, kind.as_str());
        notifications::record_once(
            conn,
            Once {
                unit_id: unit,
                person_id: None,
                ticket_id: None,
                kind,
                roles: Some(&roles),
                urgent: kind.urgent(false),
                payload: payload.clone(),
                dedupe_key: &key,
            },
            now,
        )?;
    }
    Ok(true)
}
