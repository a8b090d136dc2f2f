//! The daily roll-up of the rankings (decision 0027): the facts that can no longer change are
//! added up per holder path, China day and measure in `report_days`, so that a ranking sums a few
//! thousand rows where it would count millions of clocks.
//!
//! - A clock that stopped is final: its response or resolution verdict, its overdue time (in
//!   natural and in working seconds, on its calendar as it stands when rolled up), and whether it
//!   is its ticket's first judged clock in a unit's subtree (the volume, 受理量) never change. It
//!   is rolled up once, and marked `rolled` in the same transaction.
//! - A return visit (回访) is final once recorded: it is read from the audit trail chain by chain,
//!   up to each chain's head (a chain's events commit in the order of their numbers), and the
//!   chain's mark (`report_marks`) moves in the same transaction.
//!
//! What is not rolled up yet — running clocks, clocks stopped since the last round, visits past
//! the marks — is counted live by the ranking (`db::backend::reports`), in the same snapshot:
//! the figures never depend on how far the roll-up has got. `gridloop reports rebuild` starts it
//! again from nothing (after a correction of past calendars, say).

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::app::calendars::Calendars;
use crate::app::AppResult;
use crate::db::backend::reports::{self as sql, DayRow, StoppedClock};
use crate::db::schema::{audit_events, audit_heads, report_days, report_marks, report_started, sla_clocks};
use crate::db::{backend, DbConn};
use crate::domain::sla::Stage;
use crate::domain::workflow::{ActionKind, TicketState};

use super::facts::{HELD_STAGES, RESPONSE_STAGES};

/// Clocks one round takes (the oldest stops first).
const CLOCK_BATCH: i64 = 5000;
/// Events of one chain one round reads.
const EVENT_SPAN: i64 = 5000;
/// Ticket ids per `IN (…)` list.
const CHUNK: usize = 500;

/// The measures of `report_days`.
pub const RESPONSE: &str = "response";
pub const RESOLUTION: &str = "resolution";
pub const RESOLVED: &str = "resolved";
pub const VOLUME: &str = "volume";
pub const VISIT: &str = "visit";

/// What one round rolled up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Running clocks whose volume was rolled up.
    pub started: usize,
    pub clocks: usize,
    pub visits: usize,
    /// Events read past the marks (of every action).
    pub events: usize,
}

impl Rolled {
    /// Adds another round's counts.
    pub fn add(&mut self, r: Rolled) {
        self.started += r.started;
        self.clocks += r.clocks;
        self.visits += r.visits;
        self.events += r.events;
    }

    pub fn is_empty(&self) -> bool {
        self.started == 0 && self.clocks == 0 && self.events == 0
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sum {
    counted: i64,
    total: i64,
    overdue: i64,
    working: i64,
}

type Key = (String, NaiveDate, &'static str, i32);

/// The China day of an instant.
pub fn day_of(tz: chrono_tz::Tz, at: NaiveDateTime) -> NaiveDate {
    at.and_utc().with_timezone(&tz).date_naive()
}

/// A day as the number `yyyymmdd` (the `variant` of a visit that reopened a case).
pub fn day_number(d: NaiveDate) -> i32 {
    use chrono::Datelike;
    d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32
}

/// How many leading units two paths (`/a/b/c/`) share.
fn shared_units(a: &str, b: &str) -> i32 {
    a.split('/').filter(|s| !s.is_empty()).zip(b.split('/').filter(|s| !s.is_empty())).take_while(|(x, y)| x == y).count() as i32
}

/// From which depth of the tree (units counted from the root) a clock is its ticket's first
/// judged clock in a unit's subtree: one more than the most units its path shares with the path
/// of any earlier clock of the ticket (0: no earlier clock, the first everywhere). A subtree
/// whose path has `m` units counts the clock in its volume when this is at most `m`.
fn first_from(path: &str, earlier: impl Iterator<Item = String>) -> i32 {
    earlier.map(|p| shared_units(path, &p) + 1).max().unwrap_or(0)
}

/// One round: up to `CLOCK_BATCH` stopped clocks and `EVENT_SPAN` events of each chain, each in a
/// transaction of its own (on both back ends). Safe beside other servers' rounds: clocks are claimed with
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL, the marks are locked.
pub fn roll_once(conn: &mut DbConn, calendars: &Calendars, tz: chrono_tz::Tz) -> AppResult<Rolled> {
    let started = backend::immediate_transaction(conn, |c| roll_started(c, tz))?;
    let clocks = backend::immediate_transaction(conn, |c| roll_clocks(c, calendars, tz))?;
    let (visits, events) = backend::immediate_transaction(conn, |c| roll_visits(c, tz))?;
    Ok(Rolled { started, clocks, visits, events })
}

/// Rounds until nothing is left to roll up; the total.
pub fn roll_all(conn: &mut DbConn, calendars: &Calendars, tz: chrono_tz::Tz) -> AppResult<Rolled> {
    let mut all = Rolled::default();
    loop {
        let r = roll_once(conn, calendars, tz)?;
        if r.is_empty() {
            return Ok(all);
        }
        all.add(r);
    }
}

/// Empties the roll-up and marks every clock and event as not rolled up (the next rounds start
/// again from nothing); the figures stay right meanwhile, counted live.
pub fn reset(conn: &mut DbConn) -> AppResult<()> {
    backend::immediate_transaction(conn, |c| {
        diesel::delete(report_days::table).execute(c)?;
        diesel::delete(report_started::table).execute(c)?;
        diesel::update(sla_clocks::table.filter(sla_clocks::rolled.eq(true))).set(sla_clocks::rolled.eq(false)).execute(c)?;
        diesel::update(report_marks::table).set(report_marks::seq.eq(0)).execute(c)?;
        Ok::<_, crate::app::AppError>(())
    })
}

fn add(sums: &mut BTreeMap<Key, Sum>, key: Key, counted: bool, overdue: i64, working: i64) {
    let s = sums.entry(key).or_default();
    s.counted += i64::from(counted);
    s.total += 1;
    s.overdue += overdue;
    s.working += working;
}

fn store(conn: &mut DbConn, sums: BTreeMap<Key, Sum>) -> QueryResult<()> {
    let rows: Vec<DayRow> = sums
        .into_iter()
        .map(|((holder_path, day, measure, variant), s)| DayRow {
            holder_path,
            day,
            measure,
            variant,
            counted: s.counted,
            total: s.total,
            overdue_seconds: s.overdue,
            overdue_working_seconds: s.working,
        })
        .collect();
    sql::add_days(conn, &rows)
}

/// For each clock, from which depth it is its ticket's first judged clock (`first_from`), from
/// every judged clock of the same tickets.
fn firsts(conn: &mut DbConn, clocks: &[&StoppedClock]) -> AppResult<HashMap<String, i32>> {
    let held: Vec<&str> = HELD_STAGES.iter().map(|s| s.as_str()).collect();
    let mut tickets: Vec<&str> = clocks.iter().map(|c| c.ticket_id.as_str()).collect();
    tickets.sort_unstable();
    tickets.dedup();
    let mut of_ticket: HashMap<String, Vec<(NaiveDateTime, String, String)>> = HashMap::new();
    for chunk in tickets.chunks(CHUNK) {
        let rows: Vec<(String, NaiveDateTime, String, String)> = sla_clocks::table
            .filter(sla_clocks::ticket_id.eq_any(chunk))
            .filter(sla_clocks::stage.eq_any(&held))
            .select((sla_clocks::ticket_id, sla_clocks::started_at, sla_clocks::id, sla_clocks::holder_path))
            .load(conn)?;
        for (ticket, started, id, path) in rows {
            of_ticket.entry(ticket).or_default().push((started, id, path));
        }
    }
    Ok(clocks
        .iter()
        .map(|c| {
            let earlier = of_ticket
                .get(&c.ticket_id)
                .into_iter()
                .flatten()
                .filter(|(s, id, _)| (*s, id.as_str()) < (c.started_at, c.id.as_str()))
                .map(|(_, _, p)| p.clone());
            (c.id.clone(), first_from(&c.holder_path, earlier))
        })
        .collect())
}

/// Running clocks: their volume fact, final at their start; each listed in `report_started`.
fn roll_started(conn: &mut DbConn, tz: chrono_tz::Tz) -> AppResult<usize> {
    let clocks = sql::claim_started_clocks(conn, CLOCK_BATCH)?;
    if clocks.is_empty() {
        return Ok(0);
    }
    // Listed first: only the clocks this round listed are counted (another server's round may
    // have claimed the same ones; see `list_started`).
    let ids: Vec<&str> = clocks.iter().map(|c| c.id.as_str()).collect();
    let listed: std::collections::HashSet<String> = sql::list_started(conn, &ids)?.into_iter().collect();
    let clocks: Vec<_> = clocks.into_iter().filter(|c| listed.contains(&c.id)).collect();
    let firsts = firsts(conn, &clocks.iter().collect::<Vec<_>>())?;
    let mut sums: BTreeMap<Key, Sum> = BTreeMap::new();
    for c in &clocks {
        add(&mut sums, (c.holder_path.clone(), day_of(tz, c.started_at), VOLUME, firsts[&c.id]), true, 0, 0);
    }
    store(conn, sums)?;
    Ok(clocks.len())
}

/// Stopped clocks: their verdicts, and their volume unless it was rolled up at their start.
fn roll_clocks(conn: &mut DbConn, calendars: &Calendars, tz: chrono_tz::Tz) -> AppResult<usize> {
    let clocks = sql::claim_stopped_clocks(conn, CLOCK_BATCH)?;
    if clocks.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = clocks.iter().map(|c| c.id.as_str()).collect();
    let started = sql::take_started(conn, &ids)?;
    // Only the clocks whose volume was not rolled up while they ran need their tickets' clocks.
    let firsts = firsts(conn, &clocks.iter().filter(|c| !started.contains(&c.id)).collect::<Vec<_>>())?;
    let mut sums: BTreeMap<Key, Sum> = BTreeMap::new();
    for c in &clocks {
        let (Some(stage), Some(stopped)) = (Stage::parse(&c.stage), c.stopped_at) else { continue };
        if !HELD_STAGES.contains(&stage) {
            continue;
        }
        let day = day_of(tz, c.started_at);
        if let Some(first) = firsts.get(&c.id) {
            add(&mut sums, (c.holder_path.clone(), day, VOLUME, *first), true, 0, 0);
        }
        let (measure, end) = if RESPONSE_STAGES.contains(&stage) {
            (RESPONSE, c.acknowledged_at.or(c.paused_at).unwrap_or(stopped))
        } else if c.resolved {
            add(&mut sums, (c.holder_path.clone(), day_of(tz, stopped), RESOLVED, 0), false, 0, 0);
            (RESOLUTION, stopped)
        } else {
            // Handed on without a resolution: not judged (the next holder's clocks are).
            continue;
        };
        let (overdue, working) = if end > c.due_at {
            let cal = calendars.get(&c.calendar).unwrap_or_else(|| calendars.default_calendar());
            ((end - c.due_at).num_seconds(), cal.working_between(c.due_at, end)?)
        } else {
            (0, 0)
        };
        add(&mut sums, (c.holder_path.clone(), day, measure, 0), end <= c.due_at, overdue, working);
    }
    store(conn, sums)?;
    for chunk in ids.chunks(CHUNK) {
        diesel::update(sla_clocks::table.filter(sla_clocks::id.eq_any(chunk))).set(sla_clocks::rolled.eq(true)).execute(conn)?;
    }
    Ok(clocks.len())
}

/// The return visits past each chain's mark, up to its head: each against the unit whose
/// resolution came last before it (of two at the same instant, the first path), on the visit's
/// day; a visit of a ticket no unit resolved counts nowhere, as live.
fn roll_visits(conn: &mut DbConn, tz: chrono_tz::Tz) -> AppResult<(usize, usize)> {
    let marks = sql::lock_marks(conn)?;
    let heads: HashMap<i32, i64> =
        audit_heads::table.select((audit_heads::shard, audit_heads::seq)).load::<(i32, i64)>(conn)?.into_iter().collect();
    let mut visits: Vec<(String, NaiveDateTime, Option<String>)> = vec![];
    let mut events = 0usize;
    for (shard, mark) in marks {
        let head = heads.get(&shard).copied().unwrap_or(mark);
        if head <= mark {
            continue;
        }
        let upto = head.min(mark + EVENT_SPAN);
        events += (upto - mark) as usize;
        // Every event of the range is read (by the chain's own index; a filter on the action
        // would let the planner walk the action's index over the whole history instead) and
        // the return visits kept.
        let range: Vec<(String, String, String, NaiveDateTime, Option<String>)> = audit_events::table
            .filter(audit_events::shard.eq(shard))
            .filter(audit_events::seq.gt(mark))
            .filter(audit_events::seq.le(upto))
            .select((audit_events::entity_kind, audit_events::action, audit_events::entity_id, audit_events::at, audit_events::to_state))
            .load(conn)?;
        visits.extend(
            range
                .into_iter()
                .filter(|e| e.0 == "ticket" && e.1 == ActionKind::RecordReturnVisit.as_str())
                .map(|(_, _, ticket, at, to_state)| (ticket, at, to_state)),
        );
        diesel::update(report_marks::table.filter(report_marks::shard.eq(shard))).set(report_marks::seq.eq(upto)).execute(conn)?;
    }
    let mut tickets: Vec<&str> = visits.iter().map(|v| v.0.as_str()).collect();
    tickets.sort_unstable();
    tickets.dedup();
    let mut resolutions: HashMap<String, Vec<(NaiveDateTime, String)>> = HashMap::new();
    for chunk in tickets.chunks(CHUNK) {
        let rows: Vec<(String, Option<NaiveDateTime>, String)> = sla_clocks::table
            .filter(sla_clocks::ticket_id.eq_any(chunk))
            .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
            .filter(sla_clocks::resolved.eq(true))
            .select((sla_clocks::ticket_id, sla_clocks::stopped_at, sla_clocks::holder_path))
            .load(conn)?;
        for (ticket, stopped, path) in rows {
            if let Some(s) = stopped {
                resolutions.entry(ticket).or_default().push((s, path));
            }
        }
    }
    let mut sums: BTreeMap<Key, Sum> = BTreeMap::new();
    let mut counted = 0;
    for (ticket, at, to_state) in &visits {
        let Some((solved_at, path)) = latest_resolution(resolutions.get(ticket).map(Vec::as_slice).unwrap_or(&[]), *at) else {
            continue;
        };
        let satisfied = to_state.as_deref() == Some(TicketState::Closed.as_str());
        let variant = if satisfied { -1 } else { day_number(day_of(tz, *solved_at)) };
        add(&mut sums, (path.clone(), day_of(tz, *at), VISIT, variant), satisfied, 0, 0);
        counted += 1;
    }
    store(conn, sums)?;
    Ok((counted, events))
}

/// The resolution a return visit at `at` judges: the latest at or before it; of two at the same
/// instant, the first path.
pub fn latest_resolution(resolutions: &[(NaiveDateTime, String)], at: NaiveDateTime) -> Option<&(NaiveDateTime, String)> {
    resolutions.iter().filter(|(s, _)| *s <= at).max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_is_first_below_the_deepest_unit_it_shares_with_an_earlier_one() {
        let none: Vec<String> = vec![];
        assert_eq!(first_from("/c/d/s/k/y/", none.into_iter()), 0, "no earlier clock: first everywhere");
        // The compound triaged; the community's acceptance is new only where the compound is not below.
        assert_eq!(first_from("/c/d/s/k/", ["/c/d/s/k/y/".to_string()].into_iter()), 5);
        // A department under the district after the compound's clocks: new below the district.
        assert_eq!(first_from("/c/d/p/", ["/c/d/s/k/y/".to_string(), "/c/d/s/k/".to_string()].into_iter()), 3);
        assert_eq!(shared_units("/a/b/", "/a/bc/"), 1);
    }

    #[test]
    fn days_are_china_days_and_numbers_sort_as_days() {
        let at = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap().and_hms_opt(16, 0, 0).unwrap();
        assert_eq!(day_of(chrono_tz::Asia::Shanghai, at), NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(day_number(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()), 20261001);
    }
}
