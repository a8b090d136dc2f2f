use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::models::{ClockRow, TicketRow};
use crate::db::schema::{org_units, sla_clocks, sla_policies, supervision, tickets};
use crate::db::DbConn;
use crate::domain::calendar::WorkCalendar;
use crate::domain::sla::{Limit, Stage};
use crate::domain::workflow::Urgency;
use crate::domain::{AssignmentId, CategoryId, ClockId, OrgPath, OrgUnitId, TicketId};

use super::{deadline, SlaContext};
use crate::app::{AppError, AppResult};

/// The working calendar of a unit on `holder_path` (its nearest ancestor's that one is set for).
pub fn calendar_of(conn: &mut DbConn, ctx: SlaContext<'_>, holder_path: &OrgPath) -> AppResult<Arc<WorkCalendar>> {
    if !ctx.calendars.has_unit_calendars() {
        // One calendar for every unit: no need to look up the holder's ancestors.
        return Ok(ctx.calendars.default_calendar());
    }
    let ids: Vec<String> = holder_path.ids().iter().map(|i| i.to_string()).collect();
    let mut codes: Vec<(String, i32)> =
        org_units::table.filter(org_units::id.eq_any(&ids)).select((org_units::code, org_units::depth)).load(conn)?;
    codes.sort_by_key(|c| c.1);
    let codes: Vec<String> = codes.into_iter().map(|c| c.0).collect();
    Ok(ctx.calendars.for_unit(&codes))
}

/// Starts the clock of `stage`, held by `holder`, from `now` (the moment the stage is entered).
pub fn start_clock(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    ticket: &TicketRow,
    assignment_id: Option<AssignmentId>,
    stage: Stage,
    holder: (OrgUnitId, &OrgPath),
    now: NaiveDateTime,
) -> AppResult<ClockRow> {
    let policies = Policies::load(conn, &[ticket.category_id])?;
    let row = plan_clock(conn, ctx, &policies, ticket, assignment_id, stage, holder, now)?;
    diesel::insert_into(sla_clocks::table).values(&row).execute(conn)?;
    Ok(row)
}

/// The clock `start_clock` would insert, computed but not yet stored: a new ticket takes its
/// deadline before its own row is inserted, and its clock is inserted right after it.
/// `policies` holds the category limits, read once for all clocks of a batch.
#[allow(clippy::too_many_arguments)]
pub fn plan_clock(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    policies: &Policies,
    ticket: &TicketRow,
    assignment_id: Option<AssignmentId>,
    stage: Stage,
    holder: (OrgUnitId, &OrgPath),
    now: NaiveDateTime,
) -> AppResult<ClockRow> {
    // A 12345 work order's deadline (办理时限) is the platform's: its resolution clocks run to it,
    // in natural time, instead of our policy's limit (decision 0032).
    let platform_due = if stage == Stage::Resolution && ticket.channel == crate::domain::workflow::Channel::Hotline {
        crate::app::outside::orders::platform_deadline(conn, ticket.id)?
    } else {
        None
    };
    let (limit, text) = match platform_due.filter(|d| *d > now) {
        Some(d) => {
            let s = (d - now).num_seconds().max(1);
            (Limit::Natural(s), format!("{s} seconds"))
        }
        None => policies.limit(ctx, ticket.category_id, ticket.urgency == Urgency::Urgent, stage)?,
    };
    let cal = calendar_of(conn, ctx, holder.1)?;
    let due = deadline(&cal, now, limit, 1.0)?;
    let warn = deadline(&cal, now, limit, ctx.settings.warn_fraction)?.min(due);
    Ok(ClockRow {
        id: ClockId::new(),
        ticket_id: ticket.id,
        assignment_id,
        stage,
        holder_unit_id: holder.0,
        holder_path: holder.1.clone(),
        calendar: cal.name.clone(),
        limit_text: text,
        started_at: now,
        acknowledged_at: None,
        warn_at: warn,
        due_at: due,
        original_due_at: due,
        warned_at: None,
        breached_at: None,
        reminders: 0,
        paused_at: None,
        pause_reason: None,
        paused_seconds: 0,
        stopped_at: None,
        next_fire_at: Some(warn),
        fire_seq: 0,
        provisional: limit.is_working() && cal.provisional_between(now, due),
        paused_for: None,
        resolved: false,
    })
}

/// Which running clocks of a ticket to stop.
pub enum Which {
    /// The ticket-level clocks (triage, acceptance, the compound's or community's resolution, return visit).
    TicketLevel,
    /// The clocks of one department's part.
    Assignment(AssignmentId),
    /// One stage of one department's part.
    AssignmentStage(AssignmentId, Stage),
    /// Everything still running.
    All,
}

/// Stops running clocks; a stopped clock never fires again. An acknowledgement is recorded on
/// the clock it stops, so a late one stays visible as late.
pub fn stop_clocks(conn: &mut DbConn, ticket_id: TicketId, which: Which, acknowledged: bool, now: NaiveDateTime) -> AppResult<usize> {
    let mut q = sla_clocks::table.filter(sla_clocks::ticket_id.eq(ticket_id)).filter(sla_clocks::stopped_at.is_null()).into_boxed();
    q = match which {
        Which::TicketLevel => q.filter(sla_clocks::assignment_id.is_null()),
        Which::Assignment(a) => q.filter(sla_clocks::assignment_id.eq(a)),
        Which::AssignmentStage(a, s) => q.filter(sla_clocks::assignment_id.eq(a)).filter(sla_clocks::stage.eq(s)),
        Which::All => q,
    };
    let running: Vec<(ClockId, Option<NaiveDateTime>)> = q.select((sla_clocks::id, sla_clocks::breached_at)).load(conn)?;
    if running.is_empty() {
        return Ok(0);
    }
    let ids: Vec<ClockId> = running.iter().map(|r| r.0).collect();
    let stop = diesel::update(sla_clocks::table.filter(sla_clocks::id.eq_any(&ids)));
    if acknowledged {
        stop.set((
            sla_clocks::acknowledged_at.eq(Some(now)),
            sla_clocks::stopped_at.eq(Some(now)),
            sla_clocks::next_fire_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    } else {
        stop.set((sla_clocks::stopped_at.eq(Some(now)), sla_clocks::next_fire_at.eq(None::<NaiveDateTime>))).execute(conn)?;
    }
    close_supervision(conn, &running, now)?;
    Ok(ids.len())
}

/// A supervised (breached) clock that stops leaves the queue; the entry stays for the record.
/// `stopped`: the stopped clocks' ids with their breach times.
pub(super) fn close_supervision(conn: &mut DbConn, stopped: &[(ClockId, Option<NaiveDateTime>)], now: NaiveDateTime) -> AppResult<()> {
    let breached: Vec<&ClockId> = stopped.iter().filter(|r| r.1.is_some()).map(|r| &r.0).collect();
    if !breached.is_empty() {
        diesel::update(supervision::table.filter(supervision::clock_id.eq_any(breached)).filter(supervision::resolved_at.is_null()))
            .set(supervision::resolved_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Stops the ticket-level clocks of several tickets at once (with `all`, every running clock of
/// them): one update, plus one for the supervision entries of breached clocks among them.
/// Returns the ids of the clocks it stopped.
pub fn stop_ticket_clocks(conn: &mut DbConn, ticket_ids: &[TicketId], all: bool, now: NaiveDateTime) -> AppResult<Vec<ClockId>> {
    if ticket_ids.is_empty() {
        return Ok(vec![]);
    }
    let running = sla_clocks::table.filter(sla_clocks::ticket_id.eq_any(ticket_ids)).filter(sla_clocks::stopped_at.is_null());
    let set = (sla_clocks::stopped_at.eq(Some(now)), sla_clocks::next_fire_at.eq(None::<NaiveDateTime>));
    let returning = (sla_clocks::id, sla_clocks::breached_at);
    let stopped: Vec<(ClockId, Option<NaiveDateTime>)> = if all {
        diesel::update(running).set(set).returning(returning).load(conn)?
    } else {
        diesel::update(running.filter(sla_clocks::assignment_id.is_null())).set(set).returning(returning).load(conn)?
    };
    close_supervision(conn, &stopped, now)?;
    Ok(stopped.into_iter().map(|(id, _)| id).collect())
}

/// Records that the resolution clocks of these tickets stopped at `now` ended by a resolution
/// (办结, or a co-department's 协办完成): the fact the resolution rate counts (decision 0027).
pub fn mark_resolved(conn: &mut DbConn, ticket_ids: &[TicketId], now: NaiveDateTime) -> AppResult<usize> {
    if ticket_ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        sla_clocks::table
            .filter(sla_clocks::ticket_id.eq_any(ticket_ids))
            .filter(sla_clocks::stage.eq(Stage::Resolution))
            .filter(sla_clocks::stopped_at.eq(Some(now))),
    )
    .set(sla_clocks::resolved.eq(true))
    .execute(conn)?)
}

/// The running clock that sets a ticket's deadline: the earliest deadline among its running
/// clocks that are not paused (a clock waiting for the resident, or for the ruling on a return,
/// makes nobody late), of two equal the first started. Its deadline, warning time and
/// provisional flag are kept on the ticket row (`due_at`, `warn_at`, `due_provisional`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nearest {
    pub due_at: NaiveDateTime,
    pub warn_at: NaiveDateTime,
    pub provisional: bool,
}

impl Nearest {
    /// The nearest of a ticket's running clocks as they are in memory (those with a stop time
    /// are left out), by the same rule as [`tickets_due`].
    pub fn of(clocks: &[ClockRow]) -> Option<Nearest> {
        clocks
            .iter()
            .filter(|c| c.stopped_at.is_none() && c.paused_at.is_none())
            .min_by(|a, b| (a.due_at, a.started_at, &a.id).cmp(&(b.due_at, b.started_at, &b.id)))
            .map(|c| Nearest { due_at: c.due_at, warn_at: c.warn_at, provisional: c.provisional })
    }

    /// The ticket row's columns for it (all empty when no clock runs).
    pub fn columns(n: Option<Nearest>) -> (Option<NaiveDateTime>, Option<NaiveDateTime>, bool) {
        match n {
            Some(n) => (Some(n.due_at), Some(n.warn_at), n.provisional),
            None => (None, None, false),
        }
    }
}

/// The [`Nearest`] clock of each of these tickets (absent: none runs unpaused).
pub fn tickets_due(conn: &mut DbConn, ticket_ids: &[TicketId]) -> AppResult<HashMap<TicketId, Nearest>> {
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(TicketId, NaiveDateTime, NaiveDateTime, bool)> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq_any(ticket_ids))
        .filter(sla_clocks::stopped_at.is_null())
        .filter(sla_clocks::paused_at.is_null())
        .order((sla_clocks::ticket_id, sla_clocks::due_at, sla_clocks::started_at, sla_clocks::id))
        .select((sla_clocks::ticket_id, sla_clocks::due_at, sla_clocks::warn_at, sla_clocks::provisional))
        .load(conn)?;
    let mut out = HashMap::new();
    for (id, due_at, warn_at, provisional) in rows {
        out.entry(id).or_insert(Nearest { due_at, warn_at, provisional });
    }
    Ok(out)
}

/// The [`Nearest`] clock of one ticket.
pub fn ticket_due(conn: &mut DbConn, ticket_id: TicketId) -> AppResult<Option<Nearest>> {
    Ok(tickets_due(conn, &[ticket_id])?.remove(&ticket_id))
}

/// Sets a ticket's `due_at` (and the warning time and flag kept with it) from its running clocks.
pub fn refresh_ticket_due(conn: &mut DbConn, ticket_id: TicketId) -> AppResult<()> {
    let (due, warn, provisional) = Nearest::columns(ticket_due(conn, ticket_id)?);
    diesel::update(tickets::table.find(ticket_id))
        .set((tickets::due_at.eq(due), tickets::warn_at.eq(warn), tickets::due_provisional.eq(provisional)))
        .execute(conn)?;
    Ok(())
}

/// Moves a running clock's deadline (a granted extension); the original stays recorded. A clock
/// moved past now is no longer overdue: it leaves the supervision queue and can breach again
/// later, while the breach it had stays in the trail.
pub fn move_deadline(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    clock: &ClockRow,
    new_due: NaiveDateTime,
    now: NaiveDateTime,
) -> AppResult<()> {
    let cal = ctx.calendars.get(&clock.calendar).ok_or_else(|| AppError::internal_msg(format!("calendar {} gone", clock.calendar)))?;
    let natural = matches!(Limit::parse(&clock.limit_text), Ok(Limit::Natural(_)));
    let span = if natural { (new_due - clock.started_at).num_seconds() } else { cal.working_between(clock.started_at, new_due)? };
    let warn_span = ((span as f64) * ctx.settings.warn_fraction).round() as i64;
    let warn =
        if natural { clock.started_at + Duration::seconds(warn_span) } else { cal.add_working(clock.started_at, warn_span)? }.min(new_due);
    let (breached, next) = if new_due <= now {
        (clock.breached_at, clock.next_fire_at)
    } else {
        (None, Some(if clock.warned_at.is_some() { new_due } else { warn }))
    };
    let next = if clock.paused_at.is_some() { None } else { next };
    // The new deadline is a date someone chose; it is provisional only by the warning's
    // arithmetic, which counts working time up to it.
    let provisional = !natural && cal.provisional_between(clock.started_at, new_due);
    diesel::update(sla_clocks::table.find(&clock.id))
        .set((
            sla_clocks::due_at.eq(new_due),
            sla_clocks::warn_at.eq(warn),
            sla_clocks::breached_at.eq(breached),
            sla_clocks::next_fire_at.eq(next),
            sla_clocks::provisional.eq(provisional),
        ))
        .execute(conn)?;
    if new_due > now {
        diesel::update(supervision::table.filter(supervision::clock_id.eq(&clock.id)).filter(supervision::resolved_at.is_null()))
            .set(supervision::resolved_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// A deadline moved on by the time its clock spent paused. No pause leaves it as it is: adding
/// zero working seconds to the end of a working day would move it to the next morning.
pub(super) fn with_pauses(cal: &WorkCalendar, limit: Limit, base: NaiveDateTime, paused_seconds: i64) -> AppResult<NaiveDateTime> {
    Ok(match (limit.is_working(), paused_seconds) {
        (_, 0) => base,
        (true, s) => cal.add_working(base, s)?,
        (false, s) => base + Duration::seconds(s),
    })
}

/// When a running clock must be looked at next.
pub(super) fn next_fire(
    warned: bool,
    breached: Option<NaiveDateTime>,
    warn_at: NaiveDateTime,
    due_at: NaiveDateTime,
    paused: bool,
) -> Option<NaiveDateTime> {
    if paused {
        None
    } else if breached.is_some() {
        // Reminders are scheduled by the firing itself.
        None
    } else if warned {
        Some(due_at)
    } else {
        Some(warn_at)
    }
}

/// Why a clock waits.
pub const PAUSED_FOR_RESIDENT: &str = "resident";
pub const PAUSED_FOR_RETURN: &str = "return";

/// 等待居民: pauses the running resolution clocks of a ticket, with a reason, for at most
/// `sla.max_pause_hours`; the scheduler resumes them when that runs out.
pub fn pause(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_id: TicketId, reason: &str, now: NaiveDateTime) -> AppResult<usize> {
    let until = now + Duration::hours(ctx.settings.max_pause_hours);
    Ok(diesel::update(
        sla_clocks::table
            .filter(sla_clocks::ticket_id.eq(ticket_id))
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::paused_at.is_null())
            .filter(sla_clocks::stage.eq(Stage::Resolution)),
    )
    .set((
        sla_clocks::paused_at.eq(Some(now)),
        sla_clocks::pause_reason.eq(Some(reason)),
        sla_clocks::paused_for.eq(Some(PAUSED_FOR_RESIDENT)),
        sla_clocks::next_fire_at.eq(Some(until)),
    ))
    .execute(conn)?)
}

/// Resumes a ticket's clocks paused for the resident.
pub fn resume(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_id: TicketId, now: NaiveDateTime) -> AppResult<usize> {
    let paused: Vec<ClockRow> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq(ticket_id))
        .filter(sla_clocks::stopped_at.is_null())
        .filter(sla_clocks::paused_at.is_not_null())
        .filter(sla_clocks::paused_for.eq(PAUSED_FOR_RESIDENT))
        .select(ClockRow::as_select())
        .load(conn)?;
    for c in &paused {
        resume_clock(conn, ctx, c, now)?;
    }
    Ok(paused.len())
}

/// 退单: a department returned its part; its running clocks wait (no warning, no breach, no
/// reminder) until the community rules. The time they wait is not counted against it.
pub fn pause_for_return(conn: &mut DbConn, assignment_id: AssignmentId, now: NaiveDateTime) -> AppResult<usize> {
    Ok(diesel::update(
        sla_clocks::table
            .filter(sla_clocks::assignment_id.eq(assignment_id))
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::paused_at.is_null()),
    )
    .set((
        sla_clocks::paused_at.eq(Some(now)),
        sla_clocks::pause_reason.eq(Some("return")),
        sla_clocks::paused_for.eq(Some(PAUSED_FOR_RETURN)),
        sla_clocks::next_fire_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// The return was overruled: the department's clocks run again from the ruling, with the time
/// they had left when it returned the case.
pub fn resume_after_return(conn: &mut DbConn, ctx: SlaContext<'_>, assignment_id: AssignmentId, now: NaiveDateTime) -> AppResult<usize> {
    let paused: Vec<ClockRow> = sla_clocks::table
        .filter(sla_clocks::assignment_id.eq(assignment_id))
        .filter(sla_clocks::stopped_at.is_null())
        .filter(sla_clocks::paused_for.eq(PAUSED_FOR_RETURN))
        .select(ClockRow::as_select())
        .load(conn)?;
    for c in &paused {
        resume_clock(conn, ctx, c, now)?;
    }
    Ok(paused.len())
}

/// The running clocks of tickets (one query), each ticket's in start order.
pub fn running_clocks(conn: &mut DbConn, ticket_ids: &[TicketId]) -> AppResult<HashMap<TicketId, Vec<ClockRow>>> {
    let mut by_ticket: HashMap<TicketId, Vec<ClockRow>> = HashMap::new();
    if ticket_ids.is_empty() {
        return Ok(by_ticket);
    }
    let rows: Vec<ClockRow> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq_any(ticket_ids))
        .filter(sla_clocks::stopped_at.is_null())
        .order((sla_clocks::ticket_id, sla_clocks::started_at))
        .select(ClockRow::as_select())
        .load(conn)?;
    for c in rows {
        by_ticket.entry(c.ticket_id).or_default().push(c);
    }
    Ok(by_ticket)
}

pub use crate::db::models::RunningClock;

/// The running clocks of tickets, the few columns a list needs (one query, from the partial
/// index of running clocks), each ticket's in start order.
pub fn running_holds(conn: &mut DbConn, ticket_ids: &[&TicketId]) -> AppResult<HashMap<TicketId, Vec<RunningClock>>> {
    let mut by_ticket: HashMap<TicketId, Vec<RunningClock>> = HashMap::new();
    if ticket_ids.is_empty() {
        return Ok(by_ticket);
    }
    let rows: Vec<RunningClock> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq_any(ticket_ids))
        .filter(sla_clocks::stopped_at.is_null())
        .order((sla_clocks::ticket_id, sla_clocks::started_at))
        .select(RunningClock::as_select())
        .load(conn)?;
    for c in rows {
        by_ticket.entry(c.ticket_id).or_default().push(c);
    }
    Ok(by_ticket)
}

/// The paused span (in the clock's own time) is added to its deadline and to its pause total,
/// which later policy changes keep.
pub(super) fn resume_clock(conn: &mut DbConn, ctx: SlaContext<'_>, c: &ClockRow, now: NaiveDateTime) -> AppResult<()> {
    let Some(since) = c.paused_at else { return Ok(()) };
    let cal = ctx.calendars.get(&c.calendar).ok_or_else(|| AppError::internal_msg(format!("calendar {} gone", c.calendar)))?;
    let natural = matches!(Limit::parse(&c.limit_text), Ok(Limit::Natural(_)));
    let span = if natural { (now - since).num_seconds() } else { cal.working_between(since, now)? };
    let shift = |t: NaiveDateTime| -> AppResult<NaiveDateTime> {
        if t <= since || span == 0 {
            return Ok(t);
        }
        Ok(if natural { t + Duration::seconds(span) } else { cal.add_working(t, span)? })
    };
    let (due, warn) = (shift(c.due_at)?, shift(c.warn_at)?);
    let next = next_fire(c.warned_at.is_some(), c.breached_at, warn, due, false).or_else(|| c.breached_at.map(|_| now));
    let provisional = !natural && cal.provisional_between(c.started_at, due);
    diesel::update(sla_clocks::table.find(&c.id))
        .set((
            sla_clocks::paused_at.eq(None::<NaiveDateTime>),
            sla_clocks::pause_reason.eq(None::<String>),
            sla_clocks::paused_for.eq(None::<String>),
            sla_clocks::paused_seconds.eq(c.paused_seconds + span),
            sla_clocks::due_at.eq(due),
            sla_clocks::warn_at.eq(warn),
            sla_clocks::next_fire_at.eq(next),
            sla_clocks::provisional.eq(provisional),
        ))
        .execute(conn)?;
    refresh_ticket_due(conn, c.ticket_id)?;
    Ok(())
}

/// The categories' own limits (`sla_policies`), read once for all the clocks a batch starts.
#[derive(Default)]
pub struct Policies(HashMap<(CategoryId, Urgency, Stage), String>);

impl Policies {
    /// The own limits of these categories, in one query.
    pub fn load(conn: &mut DbConn, category_ids: &[CategoryId]) -> AppResult<Policies> {
        if category_ids.is_empty() {
            return Ok(Policies::default());
        }
        let rows: Vec<(CategoryId, Urgency, Stage, String)> = sla_policies::table
            .filter(sla_policies::category_id.eq_any(category_ids))
            .select((sla_policies::category_id, sla_policies::urgency, sla_policies::stage, sla_policies::limit_text))
            .load(conn)?;
        Ok(Policies(rows.into_iter().map(|(c, u, s, t)| ((c, u, s), t)).collect()))
    }

    /// The limit for a stage of a ticket: the category's own, or the configured default.
    pub fn limit(&self, ctx: SlaContext<'_>, category_id: CategoryId, urgent: bool, stage: Stage) -> AppResult<(Limit, String)> {
        let urgency = if urgent { Urgency::Urgent } else { Urgency::Normal };
        match self.0.get(&(category_id, urgency, stage)) {
            Some(text) => {
                // Stored by an admin through the API, where it was checked.
                let limit = Limit::parse(text).map_err(|e| AppError::internal_msg(crate::i18n::render(crate::i18n::Lang::En, &e)))?;
                Ok((limit, text.clone()))
            }
            None => {
                // Every stage is configured: Settings::validate refuses a configuration without it.
                let l =
                    ctx.settings.limits.get(&stage).ok_or_else(|| AppError::internal_msg(format!("no limit for {}", stage.as_str())))?;
                let c = if urgent { &l.urgent } else { &l.normal };
                Ok((c.limit, c.text.clone()))
            }
        }
    }
}
