//! SLA clocks (时限): a clock per stage of a ticket, started when the stage is entered, warning
//! the holder near its limit, flagging the breach for supervision (督办), reminding at an interval.
//! The scheduler claims each firing with a conditional update and records it under a unique key,
//! so every warning and breach fires exactly once however many servers run.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::config::SlaSettings;
use crate::db::models::{ClockRow, SupervisionRow, TicketRow};
use crate::db::schema::{notifications, org_units, sla_clocks, sla_fires, sla_policies, supervision, tickets};
use crate::db::DbConn;
use crate::domain::calendar::{CalendarError, WorkCalendar};
use crate::domain::sla::{Limit, Stage};
use crate::domain::{Actor, Id, OrgPath, Role};

use super::audit::{self, ActedBy, Draft};
use super::calendars::Calendars;
use super::{AppError, AppResult};

/// What the SLA code needs from the configuration.
#[derive(Clone, Copy)]
pub struct SlaContext<'a> {
    pub settings: &'a SlaSettings,
    pub calendars: &'a Calendars,
}

impl From<CalendarError> for AppError {
    fn from(e: CalendarError) -> Self {
        match e {
            CalendarError::YearNotCovered { calendar, year } => AppError::CalendarMissing { calendar, year },
            CalendarError::Invalid(why) => AppError::internal_msg(why),
        }
    }
}

/// The instant `limit` after `start` on `cal`.
pub fn deadline(cal: &WorkCalendar, start: NaiveDateTime, limit: Limit, fraction: f64) -> Result<NaiveDateTime, CalendarError> {
    let scale = |s: i64| ((s as f64) * fraction).round() as i64;
    match limit {
        Limit::Natural(s) => Ok(start + Duration::seconds(scale(s))),
        Limit::WorkingSeconds(s) => cal.add_working(start, scale(s)),
        Limit::WorkingDays(d) => cal.add_working(start, scale(d * cal.day_seconds())),
    }
}

/// The categories' own limits (`sla_policies`), read once for all the clocks a batch starts.
#[derive(Default)]
pub struct Policies(HashMap<(String, String, String), String>);

impl Policies {
    /// The own limits of these categories, in one query.
    pub fn load(conn: &mut DbConn, category_ids: &[&str]) -> AppResult<Policies> {
        if category_ids.is_empty() {
            return Ok(Policies::default());
        }
        let rows: Vec<(String, String, String, String)> = sla_policies::table
            .filter(sla_policies::category_id.eq_any(category_ids))
            .select((sla_policies::category_id, sla_policies::urgency, sla_policies::stage, sla_policies::limit_text))
            .load(conn)?;
        Ok(Policies(rows.into_iter().map(|(c, u, s, t)| ((c, u, s), t)).collect()))
    }

    /// The limit for a stage of a ticket: the category's own, or the configured default.
    pub fn limit(&self, ctx: SlaContext<'_>, category_id: &str, urgent: bool, stage: Stage) -> AppResult<(Limit, String)> {
        let urgency = if urgent { "urgent" } else { "normal" };
        match self.0.get(&(category_id.to_string(), urgency.to_string(), stage.as_str().to_string())) {
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

fn calendar_of(conn: &mut DbConn, ctx: SlaContext<'_>, holder_path: &OrgPath) -> AppResult<Arc<WorkCalendar>> {
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
    assignment_id: Option<&str>,
    stage: Stage,
    holder: (&str, &str),
    now: NaiveDateTime,
) -> AppResult<ClockRow> {
    let policies = Policies::load(conn, &[ticket.category_id.as_str()])?;
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
    assignment_id: Option<&str>,
    stage: Stage,
    holder: (&str, &str),
    now: NaiveDateTime,
) -> AppResult<ClockRow> {
    let (limit, text) = policies.limit(ctx, &ticket.category_id, ticket.urgency == "urgent", stage)?;
    let holder_path = OrgPath::from_db(holder.1.to_string());
    let cal = calendar_of(conn, ctx, &holder_path)?;
    let due = deadline(&cal, now, limit, 1.0)?;
    let warn = deadline(&cal, now, limit, ctx.settings.warn_fraction)?.min(due);
    Ok(ClockRow {
        id: Id::new().to_string(),
        ticket_id: ticket.id.clone(),
        assignment_id: assignment_id.map(Into::into),
        stage: stage.as_str().into(),
        holder_unit_id: holder.0.into(),
        holder_path: holder.1.into(),
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
    })
}

/// Which running clocks of a ticket to stop.
pub enum Which<'a> {
    /// The ticket-level clocks (triage, acceptance, the compound's or community's resolution, return visit).
    TicketLevel,
    /// The clocks of one department's part.
    Assignment(&'a str),
    /// One stage of one department's part.
    AssignmentStage(&'a str, Stage),
    /// Everything still running.
    All,
}

/// Stops running clocks; a stopped clock never fires again. An acknowledgement is recorded on
/// the clock it stops, so a late one stays visible as late.
pub fn stop_clocks(conn: &mut DbConn, ticket_id: &str, which: Which<'_>, acknowledged: bool, now: NaiveDateTime) -> AppResult<usize> {
    let mut q = sla_clocks::table.filter(sla_clocks::ticket_id.eq(ticket_id)).filter(sla_clocks::stopped_at.is_null()).into_boxed();
    q = match which {
        Which::TicketLevel => q.filter(sla_clocks::assignment_id.is_null()),
        Which::Assignment(a) => q.filter(sla_clocks::assignment_id.eq(a.to_string())),
        Which::AssignmentStage(a, s) => q.filter(sla_clocks::assignment_id.eq(a.to_string())).filter(sla_clocks::stage.eq(s.as_str())),
        Which::All => q,
    };
    let running: Vec<(String, Option<NaiveDateTime>)> = q.select((sla_clocks::id, sla_clocks::breached_at)).load(conn)?;
    if running.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = running.iter().map(|r| r.0.clone()).collect();
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
fn close_supervision(conn: &mut DbConn, stopped: &[(String, Option<NaiveDateTime>)], now: NaiveDateTime) -> AppResult<()> {
    let breached: Vec<&String> = stopped.iter().filter(|r| r.1.is_some()).map(|r| &r.0).collect();
    if !breached.is_empty() {
        diesel::update(supervision::table.filter(supervision::clock_id.eq_any(breached)).filter(supervision::resolved_at.is_null()))
            .set(supervision::resolved_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Stops the ticket-level clocks of several tickets at once (with `all`, every running clock of
/// them): one update, plus one for the supervision entries of breached clocks among them.
pub fn stop_ticket_clocks(conn: &mut DbConn, ticket_ids: &[&str], all: bool, now: NaiveDateTime) -> AppResult<usize> {
    if ticket_ids.is_empty() {
        return Ok(0);
    }
    let running = sla_clocks::table.filter(sla_clocks::ticket_id.eq_any(ticket_ids)).filter(sla_clocks::stopped_at.is_null());
    let set = (sla_clocks::stopped_at.eq(Some(now)), sla_clocks::next_fire_at.eq(None::<NaiveDateTime>));
    let returning = (sla_clocks::id, sla_clocks::breached_at);
    let stopped: Vec<(String, Option<NaiveDateTime>)> = if all {
        diesel::update(running).set(set).returning(returning).load(conn)?
    } else {
        diesel::update(running.filter(sla_clocks::assignment_id.is_null())).set(set).returning(returning).load(conn)?
    };
    close_supervision(conn, &stopped, now)?;
    Ok(stopped.len())
}

/// The earliest deadline among the running clocks of each of these tickets (absent: none runs).
pub fn tickets_due(conn: &mut DbConn, ticket_ids: &[&str]) -> AppResult<HashMap<String, NaiveDateTime>> {
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Option<NaiveDateTime>)> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq_any(ticket_ids))
        .filter(sla_clocks::stopped_at.is_null())
        .group_by(sla_clocks::ticket_id)
        .select((sla_clocks::ticket_id, diesel::dsl::min(sla_clocks::due_at)))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, due)| due.map(|d| (id, d))).collect())
}

/// The earliest deadline among a ticket's running clocks: the ticket's `due_at`.
pub fn ticket_due(conn: &mut DbConn, ticket_id: &str) -> AppResult<Option<NaiveDateTime>> {
    Ok(sla_clocks::table
        .filter(sla_clocks::ticket_id.eq(ticket_id))
        .filter(sla_clocks::stopped_at.is_null())
        .select(diesel::dsl::min(sla_clocks::due_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// Sets a ticket's `due_at` to the earliest deadline of its running clocks.
pub fn refresh_ticket_due(conn: &mut DbConn, ticket_id: &str) -> AppResult<()> {
    let due = ticket_due(conn, ticket_id)?;
    diesel::update(tickets::table.find(ticket_id)).set(tickets::due_at.eq(due)).execute(conn)?;
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
fn with_pauses(cal: &WorkCalendar, limit: Limit, base: NaiveDateTime, paused_seconds: i64) -> AppResult<NaiveDateTime> {
    Ok(match (limit.is_working(), paused_seconds) {
        (_, 0) => base,
        (true, s) => cal.add_working(base, s)?,
        (false, s) => base + Duration::seconds(s),
    })
}

/// When a running clock must be looked at next.
fn next_fire(
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
pub fn pause(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_id: &str, reason: &str, now: NaiveDateTime) -> AppResult<usize> {
    let until = now + Duration::hours(ctx.settings.max_pause_hours);
    Ok(diesel::update(
        sla_clocks::table
            .filter(sla_clocks::ticket_id.eq(ticket_id))
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::paused_at.is_null())
            .filter(sla_clocks::stage.eq(Stage::Resolution.as_str())),
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
pub fn resume(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_id: &str, now: NaiveDateTime) -> AppResult<usize> {
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
pub fn pause_for_return(conn: &mut DbConn, assignment_id: &str, now: NaiveDateTime) -> AppResult<usize> {
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
pub fn resume_after_return(conn: &mut DbConn, ctx: SlaContext<'_>, assignment_id: &str, now: NaiveDateTime) -> AppResult<usize> {
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
pub fn running_clocks(conn: &mut DbConn, ticket_ids: &[&str]) -> AppResult<HashMap<String, Vec<ClockRow>>> {
    let mut by_ticket: HashMap<String, Vec<ClockRow>> = HashMap::new();
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
        by_ticket.entry(c.ticket_id.clone()).or_default().push(c);
    }
    Ok(by_ticket)
}

/// The paused span (in the clock's own time) is added to its deadline and to its pause total,
/// which later policy changes keep.
fn resume_clock(conn: &mut DbConn, ctx: SlaContext<'_>, c: &ClockRow, now: NaiveDateTime) -> AppResult<()> {
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
    refresh_ticket_due(conn, &c.ticket_id)?;
    Ok(())
}

// ---------------------------------------------------------------- the scheduler

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub warnings: usize,
    pub breaches: usize,
    pub reminders: usize,
    /// Pauses ("waiting for the resident") that reached their maximum and resumed.
    pub pauses_expired: usize,
    /// Firings another scheduler claimed first.
    pub lost_races: usize,
    /// Tickets whose triage breached under `sla.breach_action = "escalate"`: the caller takes the
    /// workflow's `escalate_to_community` on each, as the system, after the firings committed
    /// (see `tickets::escalate_breached`).
    pub escalate: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Firing {
    Warning,
    Breach,
    Reminder,
    PauseExpired,
}

/// The unique (clock, seq) row: the last guard against a second firing.
fn record_fire(conn: &mut DbConn, c: &ClockRow, kind: &str, now: NaiveDateTime, who: &str) -> AppResult<()> {
    diesel::insert_into(sla_fires::table)
        .values((
            sla_fires::clock_id.eq(&c.id),
            sla_fires::seq.eq(c.fire_seq + 1),
            sla_fires::kind.eq(kind),
            sla_fires::fired_at.eq(now),
            sla_fires::fired_by.eq(who),
        ))
        .execute(conn)?;
    Ok(())
}

impl Firing {
    fn as_str(self) -> &'static str {
        match self {
            Firing::Warning => "sla_warning",
            Firing::Breach => "sla_breach",
            Firing::Reminder => "sla_reminder",
            Firing::PauseExpired => "sla_pause_expired",
        }
    }
}

/// Fires every clock that came due by `now`: warnings, breaches, reminders. Clocks that came due
/// while no scheduler ran fire on the next tick. `who` names this scheduler in the fire record.
pub fn tick(conn: &mut DbConn, ctx: SlaContext<'_>, now: NaiveDateTime, who: &str) -> AppResult<TickReport> {
    let mut report = TickReport::default();
    loop {
        // One batch per transaction: firings commit together (one disk flush for a hundred).
        let batch = crate::db::backend::immediate_transaction(conn, |conn| -> AppResult<(usize, TickReport)> {
            let mut due = crate::db::backend::claim_due_clocks(conn, now, TICK_BATCH)?;
            // Firings append audit events; taking the chains' head rows in one order keeps two
            // schedulers' batches from deadlocking on them.
            due.sort_by_key(|c| crate::domain::audit::shard_of(&c.ticket_id));
            let mut r = TickReport::default();
            for clock in &due {
                match fire_one(conn, ctx, clock, now, who, &mut r.escalate)? {
                    Some(Firing::Warning) => r.warnings += 1,
                    Some(Firing::Breach) => r.breaches += 1,
                    Some(Firing::Reminder) => r.reminders += 1,
                    Some(Firing::PauseExpired) => r.pauses_expired += 1,
                    None => r.lost_races += 1,
                }
            }
            Ok((due.len(), r))
        })?;
        let (seen, r) = batch;
        report.warnings += r.warnings;
        report.breaches += r.breaches;
        report.reminders += r.reminders;
        report.pauses_expired += r.pauses_expired;
        report.lost_races += r.lost_races;
        report.escalate.extend(r.escalate);
        if seen < TICK_BATCH as usize || r.warnings + r.breaches + r.reminders + r.pauses_expired == 0 {
            break;
        }
    }
    Ok(report)
}

/// Clocks fired per transaction.
const TICK_BATCH: i64 = 200;

/// Claims and fires one clock in one transaction. The claim is a conditional update on the
/// clock's firing sequence: of several schedulers that saw the same row, one wins and the others
/// update nothing; the (clock, seq) key of `sla_fires` guards the rest.
fn fire_one(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    c: &ClockRow,
    now: NaiveDateTime,
    who: &str,
    escalations: &mut Vec<String>,
) -> AppResult<Option<Firing>> {
    {
        if c.paused_at.is_some() {
            // Waiting for the resident ran out its maximum: the clock resumes on its own.
            let claimed = diesel::update(sla_clocks::table.find(&c.id).filter(sla_clocks::fire_seq.eq(c.fire_seq)))
                .set(sla_clocks::fire_seq.eq(c.fire_seq + 1))
                .execute(conn)?;
            if claimed == 0 {
                return Ok(None);
            }
            record_fire(conn, c, "sla_pause_expired", now, who)?;
            resume_clock(conn, ctx, c, now)?;
            return Ok(Some(Firing::PauseExpired));
        }
        let kind = if c.breached_at.is_some() {
            Firing::Reminder
        } else if c.due_at <= now {
            Firing::Breach
        } else {
            Firing::Warning
        };
        let reminder_every = Duration::minutes(ctx.settings.reminder_interval_minutes);
        let (next, warned_at, breached_at, reminders) = match kind {
            Firing::Warning => (Some(c.due_at), Some(now), None, c.reminders),
            Firing::Breach => (Some(now + reminder_every), Some(c.warned_at.unwrap_or(now)), Some(now), c.reminders),
            Firing::Reminder | Firing::PauseExpired => (Some(now + reminder_every), c.warned_at, c.breached_at, c.reminders + 1),
        };
        let claimed = diesel::update(
            sla_clocks::table.find(&c.id).filter(sla_clocks::fire_seq.eq(c.fire_seq)).filter(sla_clocks::stopped_at.is_null()),
        )
        .set((
            sla_clocks::fire_seq.eq(c.fire_seq + 1),
            sla_clocks::next_fire_at.eq(next),
            sla_clocks::warned_at.eq(warned_at),
            sla_clocks::breached_at.eq(breached_at),
            sla_clocks::reminders.eq(reminders),
        ))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(None);
        }
        record_fire(conn, c, kind.as_str(), now, who)?;
        let overdue_minutes = (now - c.due_at).num_minutes().max(0);
        let changes = json!({
            "stage": [null, c.stage],
            "holder_unit_id": [null, c.holder_unit_id],
            "due_at": [null, c.due_at],
            "overdue_minutes": [null, overdue_minutes],
        });
        audit::append(
            conn,
            Draft {
                entity_kind: "ticket",
                entity_id: &c.ticket_id,
                by: &ActedBy::default(),
                action: kind.as_str(),
                from_state: None,
                to_state: None,
                reason: None,
                changes,
            },
            now,
        )?;
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(Id::new().to_string()),
                notifications::unit_id.eq(&c.holder_unit_id),
                notifications::ticket_id.eq(Some(&c.ticket_id)),
                notifications::kind.eq(kind.as_str()),
                notifications::payload.eq(json!({"clock_id": c.id, "stage": c.stage, "due_at": c.due_at}).to_string()),
                notifications::created_at.eq(now),
            ))
            .execute(conn)?;
        if kind == Firing::Breach {
            diesel::insert_into(supervision::table)
                .values(&SupervisionRow {
                    id: Id::new().to_string(),
                    ticket_id: c.ticket_id.clone(),
                    clock_id: c.id.clone(),
                    stage: c.stage.clone(),
                    holder_unit_id: c.holder_unit_id.clone(),
                    holder_path: c.holder_path.clone(),
                    breached_at: now,
                    resolved_at: None,
                })
                .execute(conn)?;
            if ctx.settings.breach_action == crate::domain::sla::BreachAction::Escalate && c.stage == Stage::CompoundTriage.as_str() {
                escalations.push(c.ticket_id.clone());
            }
        }
        Ok(Some(kind))
    }
}

// ---------------------------------------------------------------- queries

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

fn clock_view(c: ClockRow, now: NaiveDateTime) -> ClockView {
    let end = c.stopped_at.unwrap_or(now);
    ClockView {
        late: c.acknowledged_at.or(c.stopped_at).is_some_and(|t| t > c.due_at),
        overdue_seconds: (end - c.due_at).num_seconds().max(0),
        id: c.id,
        stage: c.stage,
        assignment_id: c.assignment_id,
        holder_unit_id: c.holder_unit_id,
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

/// The clocks of a ticket the caller can see, oldest first.
pub fn clocks_of(conn: &mut DbConn, actor: &Actor, ticket_id: &str, now: NaiveDateTime) -> AppResult<Vec<ClockView>> {
    let only_parts = super::tickets::readable_clocks(conn, actor, ticket_id)?;
    let mut rows: Vec<ClockRow> = sla_clocks::table.filter(sla_clocks::ticket_id.eq(ticket_id)).select(ClockRow::as_select()).load(conn)?;
    if let Some(parts) = only_parts {
        rows.retain(|c| c.assignment_id.as_ref().is_some_and(|a| parts.contains(a)));
    }
    // In the order the stages come: clocks started together (a department's two) by stage.
    rows.sort_by_key(|c| (c.started_at, Stage::parse(&c.stage).map(|s| s as u8).unwrap_or(u8::MAX), c.id.clone()));
    Ok(rows.into_iter().map(|c| clock_view(c, now)).collect())
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
}

fn supervised_paths(actor: &Actor) -> Vec<OrgPath> {
    let mut a = actor.clone();
    a.grants.retain(|g| matches!(g.role, Role::Supervisor | Role::CommunityStaff));
    a.scope_roots(crate::domain::Operation::TicketRead)
}

/// 督办: breached clocks still running, held by units in the caller's supervisor (or community) scope.
pub fn supervision_queue(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<SupervisionItem>> {
    let mut items = vec![];
    for root in supervised_paths(actor) {
        let rows: Vec<(SupervisionRow, TicketRow, ClockRow)> = supervision::table
            .inner_join(tickets::table)
            .inner_join(sla_clocks::table.on(sla_clocks::id.eq(supervision::clock_id)))
            .filter(supervision::holder_path.ge(root.as_str().to_string()))
            .filter(supervision::holder_path.lt(root.subtree_upper_bound()))
            .filter(sla_clocks::stopped_at.is_null())
            .order(supervision::breached_at.asc())
            .limit(500)
            .select((SupervisionRow::as_select(), TicketRow::as_select(), ClockRow::as_select()))
            .load(conn)?;
        items.extend(rows.into_iter().map(|(s, t, c)| SupervisionItem {
            ticket_id: t.id,
            ticket_number: t.number,
            title: t.title,
            state: t.state,
            stage: s.stage,
            holder_unit_id: s.holder_unit_id,
            breached_at: s.breached_at,
            overdue_seconds: (now - c.due_at).num_seconds().max(0),
        }));
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
        let rows: Vec<ClockRow> = sla_clocks::table
            .filter(sla_clocks::holder_path.ge(root.as_str().to_string()))
            .filter(sla_clocks::holder_path.lt(root.subtree_upper_bound()))
            .filter(sla_clocks::breached_at.is_not_null())
            .select(ClockRow::as_select())
            .load(conn)?;
        for c in rows {
            let e = by_unit.entry(c.holder_unit_id.clone()).or_insert_with(|| OverdueCount {
                unit_id: c.holder_unit_id.clone(),
                unit_name: String::new(),
                overdue_now: 0,
                breached_total: 0,
                overdue_seconds: 0,
            });
            e.breached_total += 1;
            if c.stopped_at.is_none() {
                e.overdue_now += 1;
            }
            e.overdue_seconds += (c.stopped_at.unwrap_or(now) - c.due_at).num_seconds().max(0);
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
    category_id: &str,
    change: &LimitChange,
    now: NaiveDateTime,
) -> AppResult<usize> {
    if !actor.grants_for(crate::domain::Operation::CatalogueManage).any(|g| g.org_path.depth() == 0) {
        return Err(AppError::forbidden(crate::msg!("why-limits_city_wide")));
    }
    let (stage, urgent, text) = (change.stage, change.urgency == crate::app::catalogue::Urgency::Urgent, change.limit.as_str());
    let limit = Limit::parse(text).map_err(|e| AppError::validation("limit", e))?;
    super::catalogue::get_category(conn, category_id)?;
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
            refresh_ticket_due(conn, &c.ticket_id)?;
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
    let open: Vec<(ClockRow, String, String)> = q.select((ClockRow::as_select(), tickets::category_id, tickets::urgency)).load(conn)?;
    let mut categories: Vec<&str> = open.iter().map(|o| o.1.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = Policies::load(conn, &categories)?;
    let mut changed = 0;
    let mut tickets_touched = std::collections::BTreeSet::new();
    for (c, category, urgency) in &open {
        let stage = Stage::parse(&c.stage).ok_or_else(|| AppError::internal_msg(format!("unknown stage {}", c.stage)))?;
        let (limit, text) = policies.limit(ctx, category, urgency == "urgent", stage)?;
        let holder = OrgPath::from_db(c.holder_path.clone());
        let cal = calendar_of(conn, ctx, &holder)?;
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
        tickets_touched.insert(c.ticket_id.as_str());
        changed += 1;
    }
    for t in tickets_touched {
        refresh_ticket_due(conn, t)?;
    }
    Ok(changed)
}
