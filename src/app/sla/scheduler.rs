use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::db::models::{ClockRow, SupervisionRow};
use crate::db::schema::{sla_clocks, sla_fires, supervision, tickets};
use crate::db::DbConn;
use crate::domain::sla::Stage;
use crate::domain::{SupervisionId, TicketId};

use super::clocks::resume_clock;
use super::SlaContext;
use crate::app::audit::{self, ActedBy, Draft};
use crate::app::AppResult;

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
    pub escalate: Vec<TicketId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Firing {
    Warning,
    Breach,
    Reminder,
    PauseExpired,
}

/// The unique (clock, seq) row: the last guard against a second firing.
pub(super) fn record_fire(conn: &mut DbConn, c: &ClockRow, kind: &str, now: NaiveDateTime, who: &str) -> AppResult<()> {
    diesel::insert_into(sla_fires::table)
        .values((
            sla_fires::clock_id.eq(&c.id),
            sla_fires::seq.eq(c.fire_seq + 1),
            sla_fires::kind.eq(kind),
            sla_fires::fired_at.eq(now),
            sla_fires::fired_by.eq(who),
            // The partition key (PostgreSQL, by month): fixed for the clock's life, so that all
            // its firings share one partition and (clock, seq) stays unique across the table.
            sla_fires::clock_started_at.eq(c.started_at),
        ))
        .execute(conn)?;
    Ok(())
}

impl Firing {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Firing::Warning => "sla_warning",
            Firing::Breach => "sla_breach",
            Firing::Reminder => "sla_reminder",
            Firing::PauseExpired => "sla_pause_expired",
        }
    }

    /// The notification a firing sends, if any.
    fn notice(self) -> Option<crate::domain::notify::NoticeKind> {
        use crate::domain::notify::NoticeKind;
        match self {
            Firing::Warning => Some(NoticeKind::SlaWarning),
            Firing::Breach => Some(NoticeKind::SlaBreach),
            Firing::Reminder => Some(NoticeKind::SlaReminder),
            Firing::PauseExpired => None,
        }
    }
}

/// Fires every clock that came due by `now`: warnings, breaches, reminders. Clocks that came due
/// while no scheduler ran fire on the next tick. `who` names this scheduler in the fire record.
pub fn tick(conn: &mut DbConn, ctx: SlaContext<'_>, now: NaiveDateTime, who: &str) -> AppResult<TickReport> {
    let mut report = TickReport::default();
    loop {
        // One batch per transaction: firings commit together (one disk flush for a whole batch).
        let batch = crate::db::backend::immediate_transaction(conn, |conn| -> AppResult<(usize, TickReport)> {
            let mut due = crate::db::backend::claim_due_clocks(conn, now, TICK_BATCH)?;
            // Firings append audit events; taking the chains' head rows in one order keeps two
            // schedulers' batches from deadlocking on them.
            due.sort_by_cached_key(|c| crate::domain::audit::shard_of(&c.ticket_id.to_string()));
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
pub(super) const TICK_BATCH: i64 = 200;

/// Claims and fires one clock, inside the tick's batch transaction. The claim is a conditional update on the
/// clock's firing sequence: of several schedulers that saw the same row, one wins and the others
/// update nothing; the (clock, seq) key of `sla_fires` guards the rest.
pub(super) fn fire_one(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    c: &ClockRow,
    now: NaiveDateTime,
    who: &str,
    escalations: &mut Vec<TicketId>,
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
        let ticket_id = c.ticket_id.to_string();
        audit::append(
            conn,
            Draft {
                entity_kind: "ticket",
                entity_id: &ticket_id,
                by: &ActedBy::default(),
                action: kind.as_str(),
                from_state: None,
                to_state: None,
                reason: None,
                changes,
            },
            now,
        )?;
        if let Some(notice) = kind.notice() {
            let urgent_ticket: bool = tickets::table
                .find(c.ticket_id)
                .select(tickets::urgency)
                .first::<crate::domain::workflow::Urgency>(conn)
                .optional()?
                .is_some_and(|u| u == crate::domain::workflow::Urgency::Urgent);
            // The firing is claimed once (fire_seq): its sequence number names the event.
            let key = format!("clock:{}:{}", c.id, c.fire_seq + 1);
            crate::app::notifications::record_once(
                conn,
                crate::app::notifications::Once {
                    unit_id: c.holder_unit_id,
                    person_id: None,
                    ticket_id: Some(c.ticket_id),
                    kind: notice,
                    roles: None,
                    urgent: notice.urgent(urgent_ticket),
                    payload: json!({"clock_id": c.id, "stage": c.stage, "due_at": c.due_at}),
                    dedupe_key: &key,
                },
                now,
            )?;
        }
        if kind == Firing::Breach {
            diesel::insert_into(supervision::table)
                .values(&SupervisionRow {
                    id: SupervisionId::new(),
                    ticket_id: c.ticket_id,
                    clock_id: c.id,
                    stage: c.stage,
                    holder_unit_id: c.holder_unit_id,
                    holder_path: c.holder_path.clone(),
                    breached_at: now,
                    resolved_at: None,
                })
                .execute(conn)?;
            if ctx.settings.breach_action == crate::domain::sla::BreachAction::Escalate && c.stage == Stage::CompoundTriage {
                escalations.push(c.ticket_id);
            }
        }
        Ok(Some(kind))
    }
}
