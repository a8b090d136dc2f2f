//! SLA clocks (时限): a clock per stage of a ticket, started when the stage is entered, warning
//! the holder near its limit, flagging the breach for supervision (督办), reminding at an interval.
//! The scheduler claims each firing with a conditional update and records it under a unique key,
//! so every warning and breach fires exactly once however many servers run.
//!
//! - [`clocks`]: the clock engine: starting, stopping, pausing and moving clocks with the
//!   ticket's changes, and each ticket's nearest deadline;
//! - [`scheduler`]: the tick that fires warnings, breaches and reminders (run by the worker);
//! - [`recompute`]: setting a category's own limits, and recomputing deadlines when limits or
//!   calendars change;
//! - [`queries`]: clocks, the supervision queue (督办) and overdue counts as the API shows them.

pub mod clocks;
pub mod queries;
pub mod recompute;
pub mod scheduler;

pub use clocks::{
    calendar_of, mark_resolved, move_deadline, pause, pause_for_return, plan_clock, refresh_ticket_due, resume, resume_after_return,
    running_clocks, running_holds, start_clock, stop_clocks, stop_ticket_clocks, ticket_due, tickets_due, Nearest, Policies, RunningClock,
    Which, PAUSED_FOR_RESIDENT, PAUSED_FOR_RETURN,
};
pub use queries::{clock_view, overdue_counts, supervision_queue, ClockView, OverdueCount, SupervisionItem};
pub use recompute::{recompute, set_category_limit, LimitChange, Recompute};
pub use scheduler::{tick, TickReport};

use chrono::{Duration, NaiveDateTime};

use crate::config::SlaSettings;
use crate::domain::calendar::{CalendarError, WorkCalendar};
use crate::domain::sla::Limit;

use super::calendars::snapshot::Calendars;
use super::AppError;

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
