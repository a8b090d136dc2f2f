use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{ClockRow, SupervisionRow, TicketRow};
use crate::db::schema::{org_units, sla_clocks, supervision, tickets};
use crate::db::DbConn;
use crate::domain::{Actor, ClockId, OrgPath, Role, TicketId};

use crate::app::AppResult;

/// A clock as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub id: String,
    pub stage: String,
    pub assignment_id: Option<String>,
    pub holder_unit_id: String,
    pub calendar: String,
    pub limit: String,
    #[serde(with = "crate::app::rfc3339")]
    pub started_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub acknowledged_at: Option<NaiveDateTime>,
    #[serde(with = "crate::app::rfc3339")]
    pub warn_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub original_due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub warned_at: Option<NaiveDateTime>,
    #[serde(with = "crate::app::rfc3339::option")]
    pub breached_at: Option<NaiveDateTime>,
    /// Acknowledged (or stopped) after its deadline: stays recorded as late.
    pub late: bool,
    pub reminders: i32,
    #[serde(with = "crate::app::rfc3339::option")]
    pub paused_at: Option<NaiveDateTime>,
    pub paused_seconds: i64,
    #[serde(with = "crate::app::rfc3339::option")]
    pub stopped_at: Option<NaiveDateTime>,
    /// Time past the deadline, counted against the holder (to its stop, or to now if running).
    pub overdue_seconds: i64,
    /// The deadline reaches into a year whose official holiday schedule is not published yet: it
    /// was computed by the standing rule and is recomputed when the year is published.
    pub provisional: bool,
}

pub fn clock_view(c: ClockRow, now: NaiveDateTime) -> ClockView {
    let end = c.stopped_at.unwrap_or(now);
    ClockView {
        late: c.acknowledged_at.or(c.stopped_at).is_some_and(|t| t > c.due_at),
        overdue_seconds: (end - c.due_at).num_seconds().max(0),
        id: c.id.to_string(),
        stage: c.stage.as_str().to_string(),
        assignment_id: c.assignment_id.map(|a| a.to_string()),
        holder_unit_id: c.holder_unit_id.to_string(),
        calendar: c.calendar,
        limit: c.limit_text,
        started_at: c.started_at,
        acknowledged_at: c.acknowledged_at,
        warn_at: c.warn_at,
        due_at: c.due_at,
        original_due_at: c.original_due_at,
        warned_at: c.warned_at,
        breached_at: c.breached_at,
        reminders: c.reminders,
        paused_at: c.paused_at,
        paused_seconds: c.paused_seconds,
        stopped_at: c.stopped_at,
        provisional: c.provisional,
    }
}

/// An entry of the supervision queue.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SupervisionItem {
    pub ticket_id: String,
    pub ticket_number: String,
    pub title: String,
    pub state: String,
    pub stage: String,
    pub holder_unit_id: String,
    #[serde(with = "crate::app::rfc3339")]
    pub breached_at: NaiveDateTime,
    pub overdue_seconds: i64,
    /// Reminders (催办) sent since the breach.
    pub reminders: i32,
}

pub(crate) fn supervised_paths(actor: &Actor) -> Vec<OrgPath> {
    let mut a = actor.clone();
    a.grants.retain(|g| matches!(g.role, Role::Supervisor | Role::CommunityStaff));
    a.scope_roots(crate::domain::Operation::TicketRead)
}

/// 督办: breached clocks still running, held by units in the caller's supervisor (or community) scope.
pub fn supervision_queue(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<SupervisionItem>> {
    let mut items = vec![];
    for root in supervised_paths(actor) {
        // The open entries first, from the supervision table's own (holder_path, resolved_at)
        // index: a clock that stopped, or whose deadline moved past now on a recompute, has left
        // the queue. Only then their tickets and clocks, by key — a join would let a planner
        // without statistics for a young table start from every running clock instead.
        let open: Vec<SupervisionRow> = supervision::table
            .filter(supervision::holder_path.ge(root.as_str()))
            .filter(supervision::holder_path.lt(root.subtree_upper_bound()))
            .filter(supervision::resolved_at.is_null())
            .order(supervision::breached_at.asc())
            .limit(500)
            .select(SupervisionRow::as_select())
            .load(conn)?;
        if open.is_empty() {
            continue;
        }
        let ticket_ids: Vec<TicketId> = open.iter().map(|s| s.ticket_id).collect();
        let clock_ids: Vec<ClockId> = open.iter().map(|s| s.clock_id).collect();
        let tickets: std::collections::HashMap<TicketId, TicketRow> = tickets::table
            .filter(tickets::id.eq_any(&ticket_ids))
            .select(TicketRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|t: TicketRow| (t.id, t))
            .collect();
        let clocks: std::collections::HashMap<ClockId, ClockRow> = sla_clocks::table
            .filter(sla_clocks::id.eq_any(&clock_ids))
            .filter(sla_clocks::stopped_at.is_null())
            .select(ClockRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|c: ClockRow| (c.id, c))
            .collect();
        for s in open {
            let (Some(t), Some(c)) = (tickets.get(&s.ticket_id), clocks.get(&s.clock_id)) else { continue };
            items.push(SupervisionItem {
                ticket_id: t.id.to_string(),
                ticket_number: t.number.clone(),
                title: t.title.clone(),
                state: t.state.as_str().to_string(),
                stage: s.stage.as_str().to_string(),
                holder_unit_id: s.holder_unit_id.to_string(),
                breached_at: s.breached_at,
                overdue_seconds: (now - c.due_at).num_seconds().max(0),
                reminders: c.reminders,
            });
        }
    }
    items.sort_by_key(|i| i.breached_at);
    Ok(items)
}

/// Overdue figures of one holding unit.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OverdueCount {
    pub unit_id: String,
    pub unit_name: String,
    /// Clocks past their deadline and still running.
    pub overdue_now: i64,
    /// Clocks that ever breached.
    pub breached_total: i64,
    /// Time past deadlines, summed over all its clocks (running ones up to now).
    pub overdue_seconds: i64,
}

/// Overdue counts per holding unit within the caller's supervisor or community scope.
pub fn overdue_counts(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<OverdueCount>> {
    let mut by_unit: std::collections::BTreeMap<String, OverdueCount> = Default::default();
    for root in supervised_paths(actor) {
        // Only the breached clocks (a partial index holds just those), and only what is counted.
        let rows: Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> = sla_clocks::table
            .filter(sla_clocks::breached_at.is_not_null())
            .filter(sla_clocks::holder_path.ge(root.as_str().to_string()))
            .filter(sla_clocks::holder_path.lt(root.subtree_upper_bound()))
            .select((sla_clocks::holder_unit_id, sla_clocks::due_at, sla_clocks::stopped_at))
            .load(conn)?;
        for (holder, due_at, stopped_at) in rows {
            let e = by_unit.entry(holder.clone()).or_insert_with(|| OverdueCount {
                unit_id: holder.clone(),
                unit_name: String::new(),
                overdue_now: 0,
                breached_total: 0,
                overdue_seconds: 0,
            });
            e.breached_total += 1;
            if stopped_at.is_none() {
                e.overdue_now += 1;
            }
            e.overdue_seconds += (stopped_at.unwrap_or(now) - due_at).num_seconds().max(0);
        }
    }
    let ids: Vec<String> = by_unit.keys().cloned().collect();
    let names: Vec<(String, String)> =
        org_units::table.filter(org_units::id.eq_any(&ids)).select((org_units::id, org_units::name)).load(conn)?;
    for (id, name) in names {
        if let Some(e) = by_unit.get_mut(&id) {
            e.unit_name = name;
        }
    }
    let mut v: Vec<OverdueCount> = by_unit.into_values().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.overdue_seconds));
    Ok(v)
}
