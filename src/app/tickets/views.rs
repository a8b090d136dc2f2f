use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{AssignmentRow, CategoryRow, ClockRow, ExtensionRow, RunningClock, TicketListRow};
use crate::db::schema::{categories, org_units, ticket_extensions};
use crate::db::DbConn;
use crate::domain::pii::mask_phone;
use crate::domain::sla::Stage;
use crate::domain::workflow::{
    allowed_for, holds_clock, sight, ActionKind, AssignmentState, Channel, Level, PartEnd, ReturnReason, Satisfaction, Sight, TicketPlace,
    TicketState, WhistleType,
};
use crate::domain::{Actor, AssignmentId, CategoryId, OrgPath, OrgUnitId, Role, TicketId};

use crate::app::catalogue::Urgency;
use crate::app::sla::{self};
use crate::app::{AppError, AppResult};

use super::loaded::part_state;
use super::loaded::{place_at, Loaded};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentPartView {
    pub assignment_id: String,
    pub department_id: String,
    pub department_name: String,
    pub lead: bool,
    pub state: AssignmentState,
    pub overruled: bool,
    #[serde(with = "crate::app::rfc3339")]
    pub dispatched_at: NaiveDateTime,
    /// 签收时限
    #[serde(with = "crate::app::rfc3339")]
    pub ack_due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub acknowledged_at: Option<NaiveDateTime>,
    /// A late acknowledgement stays recorded as late.
    pub acknowledged_late: bool,
    #[serde(with = "crate::app::rfc3339")]
    pub due_at: NaiveDateTime,
    /// The deadline before a granted extension.
    #[serde(with = "crate::app::rfc3339::option")]
    pub original_due_at: Option<NaiveDateTime>,
    pub return_reason: Option<ReturnReason>,
    pub return_note: Option<String>,
    /// How the part ended, when its state is `removed`: taken off, released (解除协办) or its
    /// return accepted.
    pub ended_as: Option<PartEnd>,
    #[serde(with = "crate::app::rfc3339::option")]
    pub ended_at: Option<NaiveDateTime>,
}

/// A running clock of a ticket, with the unit that holds it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunningClockView {
    pub id: String,
    pub stage: Stage,
    pub holder_unit_id: String,
    pub holder_name: String,
    /// The department part the clock belongs to, for a department's (and a return's ruling) clocks.
    pub assignment_id: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub started_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub warn_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub due_at: NaiveDateTime,
    pub overdue: bool,
    /// Waiting: for the resident (`resident`) or for the ruling on a return (`return`); the
    /// deadline moves on by the time it waits.
    pub paused_for: Option<String>,
    pub provisional: bool,
    /// Held by a unit the caller acts for: this deadline is his.
    pub yours: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    pub id: String,
    pub assignment_id: String,
    pub reason: String,
    #[serde(with = "crate::app::rfc3339")]
    pub proposed_due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub original_due_at: NaiveDateTime,
    pub state: String,
    #[serde(with = "crate::app::rfc3339")]
    pub requested_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub decided_at: Option<NaiveDateTime>,
}

/// A ticket as the API shows it. The resident's phone is masked; reveal it with the recorded action.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub id: String,
    /// e.g. GL-20261126-0042
    pub number: String,
    pub category_id: String,
    pub category_code: String,
    pub category_name_zh: String,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub place_id: String,
    pub place_name: String,
    pub compound_id: String,
    pub community_id: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub anonymous: bool,
    pub resident_name: Option<String>,
    pub resident_phone_masked: Option<String>,
    /// The resident's name and phone were cleared when their retention period ended (个人信息已按
    /// 保存期限清除): `resident_name` and `resident_phone_masked` are then empty.
    pub contact_purged: bool,
    pub channel: Channel,
    pub filed_by: String,
    pub visit_log_id: Option<String>,
    pub state: TicketState,
    pub state_zh: String,
    pub solved_level: Option<Level>,
    pub duplicate_of: Option<String>,
    pub whistle_type: Option<WhistleType>,
    pub reopen_count: i32,
    pub satisfaction: Option<Satisfaction>,
    pub resolution: Option<String>,
    /// The caller's own next deadline: the nearest of the running clocks held by a unit he acts
    /// for (a supervisor: of them all); absent when none is his.
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
    /// The caller's own deadline has passed.
    pub overdue: bool,
    /// The caller's own deadline is near: its clock's warning time (预警) has passed, the deadline
    /// not yet.
    pub warning: bool,
    /// The nearest deadline of any running clock, whoever holds it.
    #[serde(with = "crate::app::rfc3339::option")]
    pub ticket_due_at: Option<NaiveDateTime>,
    /// A running clock's deadline reaches into a year whose official holiday schedule is not
    /// published yet: it follows the standing rule and moves when the year is published.
    pub provisional: bool,
    /// Every running clock, with its holder.
    pub clocks: Vec<RunningClockView>,
    /// Present when the caller's department no longer holds a part of the case: what is shown is
    /// what happened until this moment, and nothing after.
    #[serde(with = "crate::app::rfc3339::option")]
    pub read_until: Option<NaiveDateTime>,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub updated_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub closed_at: Option<NaiveDateTime>,
    pub departments: Vec<DepartmentPartView>,
    pub extensions: Vec<ExtensionView>,
    /// What the caller may do now.
    pub allowed_actions: Vec<ActionKind>,
}

/// A ticket in a list: the fields a list shows, nothing personal beyond the masked phone.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketSummary {
    #[schema(value_type = String, format = Uuid)]
    pub id: TicketId,
    pub number: String,
    #[schema(value_type = String, format = Uuid)]
    pub category_id: CategoryId,
    pub urgency: Urgency,
    pub title: String,
    #[schema(value_type = String, format = Uuid)]
    pub place_id: OrgUnitId,
    pub state: TicketState,
    pub state_zh: String,
    /// The caller's own next deadline (see `TicketView::due_at`).
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
    /// The caller's own deadline has passed.
    pub overdue: bool,
    /// The caller's own deadline is near: its clock's warning time (预警) has passed, the deadline
    /// not yet.
    pub warning: bool,
    /// The nearest deadline of any running clock, whoever holds it.
    #[serde(with = "crate::app::rfc3339::option")]
    pub ticket_due_at: Option<NaiveDateTime>,
    /// The caller's deadline is provisional (see `TicketView::provisional`).
    pub provisional: bool,
    pub reopen_count: i32,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub(super) fn part_view(p: &AssignmentRow, names: &HashMap<OrgUnitId, String>) -> AppResult<DepartmentPartView> {
    Ok(DepartmentPartView {
        assignment_id: p.id.to_string(),
        department_id: p.department_id.to_string(),
        department_name: names.get(&p.department_id).cloned().unwrap_or_default(),
        lead: p.lead,
        state: part_state(p)?,
        overruled: p.overruled,
        dispatched_at: p.dispatched_at,
        ack_due_at: p.ack_due_at,
        acknowledged_at: p.acknowledged_at,
        acknowledged_late: p.acknowledged_at.is_some_and(|a| a > p.ack_due_at),
        due_at: p.due_at,
        original_due_at: p.original_due_at,
        return_reason: p.return_reason,
        return_note: p.return_note.clone(),
        ended_as: p.end_reason,
        ended_at: p.ended_at,
    })
}

/// A caller's view of a ticket's running clocks: his own next deadline (not paused), whether it is
/// provisional, and the nearest deadline of any holder.
pub(super) struct Deadlines {
    pub(super) mine: Option<NaiveDateTime>,
    /// When the clock that sets `mine` warns (预警).
    pub(super) mine_warn: Option<NaiveDateTime>,
    pub(super) mine_provisional: bool,
    pub(super) any: Option<NaiveDateTime>,
    pub(super) any_provisional: bool,
}

impl Deadlines {
    /// No deadline of the caller's own; the ticket's nearest is `any`.
    fn none_of_his(any: Option<NaiveDateTime>) -> Deadlines {
        Deadlines { mine: None, mine_warn: None, mine_provisional: false, any, any_provisional: false }
    }

    /// The caller's own deadline is near (预警) but not passed, on an open ticket.
    fn warns(&self, state: TicketState, now: NaiveDateTime) -> bool {
        !state.is_final() && self.mine.is_some_and(|m| m >= now) && self.mine_warn.is_some_and(|w| w <= now)
    }
}

/// Whether the caller acts for the unit that holds this clock: its deadline is his.
pub(super) fn is_yours(actor: &Actor, stage: Stage, holder: OrgUnitId, holder_path: &OrgPath, place: &TicketPlace) -> bool {
    holds_clock(actor, stage, holder, holder_path, place)
}

/// The caller's own deadline and the ticket's nearest one, from the ticket's running clocks.
pub(super) fn deadlines(actor: &Actor, clocks: &[RunningClock], place: &TicketPlace) -> Deadlines {
    let mut d = Deadlines::none_of_his(None);
    for c in clocks {
        d.any_provisional |= c.provisional;
        if c.paused_at.is_some() {
            continue;
        }
        if d.any.is_none_or(|a| c.due_at < a) {
            d.any = Some(c.due_at);
        }
        if is_yours(actor, c.stage, c.holder_unit_id, &c.holder_path, place) && d.mine.is_none_or(|m| c.due_at < m) {
            d.mine = Some(c.due_at);
            d.mine_warn = Some(c.warn_at);
            d.mine_provisional = c.provisional;
        }
    }
    d
}

pub(super) fn view(conn: &mut DbConn, actor: &Actor, t: &Loaded, now: NaiveDateTime) -> AppResult<TicketView> {
    views(conn, &[(actor, t)], now)?.pop().ok_or_else(|| AppError::internal_msg("a view went missing".into()))
}

/// The views of several tickets, each for its actor: their categories, unit names and extensions
/// read with one query each (as they are now, after any change of the batch). Their running
/// clocks are the ones they carry: read with them, and kept up to date by an action's `finish`.
pub(super) fn views(conn: &mut DbConn, items: &[(&Actor, &Loaded)], now: NaiveDateTime) -> AppResult<Vec<TicketView>> {
    let mut cat_ids: Vec<CategoryId> = items.iter().map(|(_, t)| t.row.category_id).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let cats: HashMap<CategoryId, CategoryRow> = categories::table
        .filter(categories::id.eq_any(&cat_ids))
        .select(CategoryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c: CategoryRow| (c.id, c))
        .collect();
    let mut unit_ids: Vec<OrgUnitId> = items
        .iter()
        .flat_map(|(_, t)| t.parts.iter().map(|p| p.department_id).chain([t.row.place_id]).chain(t.clocks.iter().map(|c| c.holder_unit_id)))
        .collect();
    unit_ids.sort_unstable();
    unit_ids.dedup();
    let names: HashMap<OrgUnitId, String> =
        org_units::table.filter(org_units::id.eq_any(&unit_ids)).select((org_units::id, org_units::name)).load(conn)?.into_iter().collect();
    // Extensions belong to department parts: a ticket never whistled has none.
    let whistled: Vec<TicketId> = items.iter().filter(|(_, t)| !t.parts.is_empty()).map(|(_, t)| t.row.id).collect();
    let mut extensions: HashMap<TicketId, Vec<ExtensionRow>> = HashMap::new();
    if !whistled.is_empty() {
        let rows: Vec<ExtensionRow> = ticket_extensions::table
            .filter(ticket_extensions::ticket_id.eq_any(&whistled))
            .order(ticket_extensions::requested_at)
            .select(ExtensionRow::as_select())
            .load(conn)?;
        for e in rows {
            extensions.entry(e.ticket_id).or_default().push(e);
        }
    }
    items
        .iter()
        .map(|(actor, t)| {
            let cat = cats.get(&t.row.category_id).ok_or_else(|| AppError::internal_msg(format!("category {} gone", t.row.category_id)))?;
            let ext = extensions.remove(&t.row.id).unwrap_or_default();
            let live = Live { clocks: t.clocks.clone(), extensions: ext };
            render(actor, t, cat, &names, live, now)
        })
        .collect()
}

/// What changes as a ticket is worked on, as read for its view.
pub(super) struct Live {
    pub(super) clocks: Vec<ClockRow>,
    pub(super) extensions: Vec<ExtensionRow>,
}

pub(super) fn render(
    actor: &Actor,
    t: &Loaded,
    cat: &CategoryRow,
    names: &HashMap<OrgUnitId, String>,
    live: Live,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let r = &t.row;
    let parts = t.domain_parts()?;
    let seen = sight(actor, &t.place, &parts);
    let pending_extensions: Vec<AssignmentId> =
        live.extensions.iter().filter(|e| e.state == crate::domain::workflow::ExtensionState::Pending).map(|e| e.assignment_id).collect();
    let fresh = Loaded { row: t.row.clone(), place: t.place.clone(), parts: t.parts.clone(), clocks: live.clocks, pending_extensions };
    let parts = fresh.domain_parts()?;
    let facts = fresh.facts(&parts)?;
    let running: Vec<RunningClock> = fresh.clocks.iter().filter(|c| c.stopped_at.is_none()).map(RunningClock::from).collect();
    let d = deadlines(actor, &running, &t.place);
    let clocks = fresh
        .clocks
        .iter()
        .map(|c| RunningClockView {
            id: c.id.to_string(),
            stage: c.stage,
            holder_unit_id: c.holder_unit_id.to_string(),
            holder_name: names.get(&c.holder_unit_id).cloned().unwrap_or_default(),
            assignment_id: c.assignment_id.map(|a| a.to_string()),
            started_at: c.started_at,
            warn_at: c.warn_at,
            due_at: c.due_at,
            overdue: c.paused_at.is_none() && c.due_at < now,
            paused_for: c.paused_for.clone(),
            provisional: c.provisional,
            yours: is_yours(actor, c.stage, c.holder_unit_id, &c.holder_path, &t.place),
        })
        .collect();
    let mut v = TicketView {
        id: r.id.to_string(),
        number: r.number.clone(),
        category_id: cat.id.to_string(),
        category_code: cat.code.clone(),
        category_name_zh: cat.name_zh.clone(),
        urgency: r.urgency,
        title: r.title.clone(),
        description: r.description.clone(),
        place_id: r.place_id.to_string(),
        place_name: names.get(&r.place_id).cloned().unwrap_or_default(),
        compound_id: r.compound_id.to_string(),
        community_id: r.community_id.to_string(),
        address: r.address.clone(),
        latitude: r.latitude,
        longitude: r.longitude,
        anonymous: r.resident_name.is_none() && r.resident_phone.is_none(),
        resident_name: r.resident_name.clone().filter(|n| !crate::domain::pii::is_purged(Some(n))),
        contact_purged: crate::domain::pii::is_purged(r.resident_name.as_deref()),
        resident_phone_masked: r.resident_phone.as_deref().map(mask_phone),
        channel: r.channel,
        filed_by: r.filed_by.to_string(),
        visit_log_id: r.visit_log_id.map(|v| v.to_string()),
        state: facts.state,
        state_zh: crate::i18n::text(crate::i18n::Lang::Zh, facts.state.label_key()),
        solved_level: r.solved_level,
        duplicate_of: r.duplicate_of.map(|d| d.to_string()),
        whistle_type: r.whistle_type,
        reopen_count: r.reopen_count,
        satisfaction: r.satisfaction,
        resolution: r.resolution.clone(),
        due_at: d.mine,
        overdue: !facts.state.is_final() && d.mine.is_some_and(|m| m < now),
        warning: d.warns(facts.state, now),
        ticket_due_at: d.any,
        provisional: d.any_provisional,
        clocks,
        read_until: None,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        closed_at: r.closed_at,
        departments: t.parts.iter().map(|p| part_view(p, names)).collect::<AppResult<_>>()?,
        extensions: vec![],
        allowed_actions: allowed_for(actor, &facts),
    };
    if let Sight::Until(until) = seen {
        // A department whose part ended reads the case as it was when its part ended (always
        // while whistled), its own part and nothing that came after.
        let own: Vec<&AssignmentRow> = t
            .parts
            .iter()
            .filter(|p| actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id == p.department_id))
            .collect();
        let own_ids: Vec<AssignmentId> = own.iter().map(|p| p.id).collect();
        v.state = TicketState::Whistled;
        v.state_zh = crate::i18n::text(crate::i18n::Lang::Zh, TicketState::Whistled.label_key());
        v.departments = own.into_iter().map(|p| part_view(p, names)).collect::<AppResult<_>>()?;
        v.extensions = extension_views(live.extensions.into_iter().filter(|e| own_ids.contains(&e.assignment_id)));
        (v.solved_level, v.satisfaction, v.resolution, v.closed_at, v.duplicate_of) = (None, None, None, None, None);
        (v.due_at, v.overdue, v.warning, v.ticket_due_at, v.provisional) = (None, false, false, None, false);
        v.clocks = vec![];
        v.allowed_actions = vec![];
        v.updated_at = until;
        v.read_until = Some(until);
    } else {
        v.extensions = extension_views(live.extensions.into_iter());
    }
    Ok(v)
}

pub(super) fn extension_views(rows: impl Iterator<Item = ExtensionRow>) -> Vec<ExtensionView> {
    rows.map(|e| ExtensionView {
        id: e.id.to_string(),
        assignment_id: e.assignment_id.to_string(),
        reason: e.reason,
        proposed_due_at: e.proposed_due_at,
        original_due_at: e.original_due_at,
        state: e.state.as_str().to_string(),
        requested_at: e.requested_at,
        decided_at: e.decided_at,
    })
    .collect()
}

/// List entries of ticket rows for a caller, each with his own deadline. A ticket never
/// whistled runs at most its one ticket-level clock, whose deadline, warning time and flag its
/// row keeps (decision 0029); the running clocks of the others are read in one query.
pub fn summaries(conn: &mut DbConn, actor: &Actor, rows: Vec<TicketListRow>, now: NaiveDateTime) -> AppResult<Vec<TicketSummary>> {
    let read: Vec<&TicketId> =
        rows.iter().filter(|r| crate::domain::workflow::may_hold_clock_in(actor, r.state) && !kept_on_row(r)).map(|r| &r.id).collect();
    let mut clocks = sla::running_holds(conn, &read)?;
    rows.into_iter()
        .map(|r| {
            let d = if !crate::domain::workflow::may_hold_clock_in(actor, r.state) {
                Deadlines::none_of_his(r.due_at)
            } else if kept_on_row(&r) {
                row_deadlines(actor, &r)
            } else {
                match clocks.remove(&r.id) {
                    Some(c) => deadlines(actor, &c, &place_at(&r.place_path, r.compound_id, r.community_id)),
                    None => Deadlines::none_of_his(r.due_at),
                }
            };
            summary(r, d, now)
        })
        .collect()
}

/// Whether the row stands for the ticket's running clocks: never whistled (no department part,
/// so no clock but the ticket-level one), and its deadline and warning time kept together.
fn kept_on_row(r: &TicketListRow) -> bool {
    r.whistle_type.is_none() && r.due_at.is_some() == r.warn_at.is_some()
}

/// The deadlines of a never-whistled ticket from its row: the clock it stands for is its
/// state's ticket-level clock, unpaused (a paused clock sets no deadline, and the row has none).
fn row_deadlines(actor: &Actor, r: &TicketListRow) -> Deadlines {
    let (Some((stage, holder)), Some(due_at), Some(warn_at)) = (crate::domain::workflow::ticket_clock(r.state), r.due_at, r.warn_at) else {
        return Deadlines::none_of_his(r.due_at);
    };
    let place = place_at(&r.place_path, r.compound_id, r.community_id);
    let unit = holder.unit(r.place_id, r.compound_id, r.community_id);
    let yours = holds_clock(actor, stage, unit, place.holder(holder), &place);
    Deadlines {
        mine: yours.then_some(due_at),
        mine_warn: yours.then_some(warn_at),
        mine_provisional: yours && r.due_provisional,
        any: Some(due_at),
        any_provisional: r.due_provisional,
    }
}

pub(super) fn summary(r: TicketListRow, d: Deadlines, now: NaiveDateTime) -> AppResult<TicketSummary> {
    let state: TicketState = r.state;
    Ok(TicketSummary {
        overdue: !state.is_final() && d.mine.is_some_and(|m| m < now),
        warning: d.warns(state, now),
        due_at: d.mine,
        ticket_due_at: d.any,
        provisional: d.mine_provisional,
        id: r.id,
        number: r.number,
        category_id: r.category_id,
        urgency: r.urgency,
        title: r.title,
        place_id: r.place_id,
        state,
        state_zh: crate::i18n::text(crate::i18n::Lang::Zh, state.label_key()),
        reopen_count: r.reopen_count,
        version: r.version,
        created_at: r.created_at,
    })
}
