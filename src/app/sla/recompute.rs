use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::ClockRow;
use crate::db::schema::{sla_clocks, sla_policies, tickets};
use crate::db::DbConn;
use crate::domain::sla::{Limit, Stage};
use crate::domain::workflow::Urgency;
use crate::domain::{Actor, CategoryId, Id};

use super::clocks::{calendar_of, next_fire, refresh_ticket_due, with_pauses, Policies};
use super::{deadline, SlaContext};
use crate::app::{AppError, AppResult};

/// A category's own limit for one stage and urgency.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitChange {
    pub stage: Stage,
    pub urgency: crate::app::catalogue::Urgency,
    /// e.g. "3 working_days", "4 working_hours", "24 hours", "90 seconds"
    pub limit: String,
}

/// Sets a category's own limit for a stage and urgency, and recomputes the deadlines of its open
/// clocks from now on: what already fired stays fired, and pause totals are kept.
pub fn set_category_limit(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    category_id: Option<&crate::domain::CategoryId>,
    change: &LimitChange,
    now: NaiveDateTime,
) -> AppResult<usize> {
    if !actor.grants_for(crate::domain::Operation::CatalogueManage).any(|g| g.org_path.depth() == 0) {
        return Err(AppError::forbidden(crate::msg!("why-limits_city_wide")));
    }
    let (stage, urgent, text) = (change.stage, change.urgency == crate::app::catalogue::Urgency::Urgent, change.limit.as_str());
    let limit = Limit::parse(text).map_err(|e| AppError::validation("limit", e))?;
    let category_id = category_id.ok_or(AppError::NotFound { what: "category" })?;
    crate::app::catalogue::get_category(conn, category_id)?;
    let urgency = if urgent { "urgent" } else { "normal" };
    conn.transaction(|conn| {
        diesel::delete(
            sla_policies::table
                .filter(sla_policies::category_id.eq(category_id))
                .filter(sla_policies::urgency.eq(urgency))
                .filter(sla_policies::stage.eq(stage.as_str())),
        )
        .execute(conn)?;
        diesel::insert_into(sla_policies::table)
            .values((
                sla_policies::id.eq(Id::new().to_string()),
                sla_policies::category_id.eq(category_id),
                sla_policies::urgency.eq(urgency),
                sla_policies::stage.eq(stage.as_str()),
                sla_policies::limit_text.eq(text),
                sla_policies::updated_at.eq(now),
            ))
            .execute(conn)?;
        let open: Vec<ClockRow> = sla_clocks::table
            .inner_join(tickets::table)
            .filter(tickets::category_id.eq(category_id))
            .filter(tickets::urgency.eq(urgency))
            .filter(sla_clocks::stage.eq(stage.as_str()))
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::breached_at.is_null())
            .select(ClockRow::as_select())
            .load(conn)?;
        // Resolution clocks of 12345 work orders run to the platform's deadline, not to ours.
        let ids: Vec<crate::domain::TicketId> = open.iter().filter(|c| c.stage == Stage::Resolution).map(|c| c.ticket_id).collect();
        let platform = crate::app::outside::orders::with_platform_deadline(conn, &ids)?;
        let open: Vec<ClockRow> = open.into_iter().filter(|c| !(c.stage == Stage::Resolution && platform.contains(&c.ticket_id))).collect();
        for c in &open {
            let cal = ctx.calendars.get(&c.calendar).ok_or_else(|| AppError::internal_msg(format!("calendar {} gone", c.calendar)))?;
            // The new limit, counted from the stage's start, plus the time the clock was paused.
            let base = deadline(&cal, c.started_at, limit, 1.0)?;
            let due = with_pauses(&cal, limit, base, c.paused_seconds)?;
            let warn = deadline(&cal, c.started_at, limit, ctx.settings.warn_fraction)?.min(due);
            let next = if c.paused_at.is_some() { None } else { next_fire(c.warned_at.is_some(), None, warn, due, false) };
            let provisional = limit.is_working() && cal.provisional_between(c.started_at, due);
            diesel::update(sla_clocks::table.find(&c.id))
                .set((
                    sla_clocks::due_at.eq(due),
                    sla_clocks::warn_at.eq(warn),
                    sla_clocks::limit_text.eq(text),
                    sla_clocks::next_fire_at.eq(next),
                    sla_clocks::provisional.eq(provisional),
                ))
                .execute(conn)?;
            refresh_ticket_due(conn, c.ticket_id)?;
        }
        Ok(open.len())
    })
}

/// Which running clocks [`recompute`] looks at.
pub enum Recompute<'a> {
    /// Every running clock (after the configured default limits or a calendar's office hours changed).
    All,
    /// The running clocks of a calendar whose deadlines touch a year (a year's schedule was
    /// stored), or only those started since a moment (see `calendars::heal_after_change`).
    Touching { calendar: &'a str, year: i32, started_since: Option<NaiveDateTime> },
}

/// Recomputes the deadlines of running clocks that have not breached yet, from their start, with
/// the limit and calendar that apply now and their pause totals kept; their `provisional` flag
/// follows. What already fired stays; history is not rewritten. Returns how many changed.
pub fn recompute(conn: &mut DbConn, ctx: SlaContext<'_>, which: Recompute<'_>, _now: NaiveDateTime) -> AppResult<usize> {
    let mut q = sla_clocks::table
        .inner_join(tickets::table)
        .filter(sla_clocks::stopped_at.is_null())
        .filter(sla_clocks::breached_at.is_null())
        .into_boxed();
    if let Recompute::Touching { calendar, year, started_since } = which {
        let cal = ctx.calendars.get(calendar).ok_or(AppError::NotFound { what: "calendar" })?;
        let (from, to) = cal.year_bounds(year);
        q = q.filter(sla_clocks::calendar.eq(calendar)).filter(sla_clocks::due_at.ge(from)).filter(sla_clocks::started_at.lt(to));
        if let Some(since) = started_since {
            q = q.filter(sla_clocks::started_at.ge(since));
        }
    }
    let open: Vec<(ClockRow, CategoryId, Urgency, crate::domain::workflow::Channel)> =
        q.select((ClockRow::as_select(), tickets::category_id, tickets::urgency, tickets::channel)).load(conn)?;
    // A resolution clock running to a 12345 platform's deadline keeps it: no policy of ours sets it.
    let hotline: Vec<crate::domain::TicketId> = open
        .iter()
        .filter(|(c, _, _, channel)| c.stage == Stage::Resolution && *channel == crate::domain::workflow::Channel::Hotline)
        .map(|(c, ..)| c.ticket_id)
        .collect();
    let platform = crate::app::outside::orders::with_platform_deadline(conn, &hotline)?;
    let open: Vec<(ClockRow, CategoryId, Urgency)> = open
        .into_iter()
        .filter(|(c, ..)| !(c.stage == Stage::Resolution && platform.contains(&c.ticket_id)))
        .map(|(c, k, u, _)| (c, k, u))
        .collect();
    let mut categories: Vec<CategoryId> = open.iter().map(|o| o.1).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = Policies::load(conn, &categories)?;
    let mut changed = 0;
    let mut tickets_touched = std::collections::BTreeSet::new();
    for (c, category, urgency) in &open {
        let (limit, text) = policies.limit(ctx, *category, *urgency == Urgency::Urgent, c.stage)?;
        let cal = calendar_of(conn, ctx, &c.holder_path)?;
        let base = deadline(&cal, c.started_at, limit, 1.0)?;
        let due = with_pauses(&cal, limit, base, c.paused_seconds)?;
        let warn = deadline(&cal, c.started_at, limit, ctx.settings.warn_fraction)?.min(due);
        let provisional = limit.is_working() && cal.provisional_between(c.started_at, due);
        if due == c.due_at && warn == c.warn_at && text == c.limit_text && cal.name == c.calendar && provisional == c.provisional {
            continue;
        }
        let next = if c.paused_at.is_some() { c.next_fire_at } else { next_fire(c.warned_at.is_some(), None, warn, due, false) };
        diesel::update(sla_clocks::table.find(&c.id))
            .set((
                sla_clocks::due_at.eq(due),
                sla_clocks::warn_at.eq(warn),
                sla_clocks::limit_text.eq(&text),
                sla_clocks::calendar.eq(&cal.name),
                sla_clocks::next_fire_at.eq(next),
                sla_clocks::provisional.eq(provisional),
            ))
            .execute(conn)?;
        tickets_touched.insert(c.ticket_id);
        changed += 1;
    }
    for t in tickets_touched {
        refresh_ticket_due(conn, t)?;
    }
    Ok(changed)
}
