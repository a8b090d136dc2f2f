//! The facts behind the rankings: each clock, return visit, dispatch and extension request of a
//! subtree in a period, judged once, so that a figure and its drill-down read the same list.
//! Definitions: docs/decisions/0027-rankings-from-clock-history.md.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::app::calendars::Calendars;
use crate::app::scope::column_in_subtrees;
use crate::app::AppResult;
use crate::db::schema::{audit_events, org_units, sla_clocks, ticket_assignments, ticket_extensions};
use crate::db::DbConn;
use crate::domain::reports::Measure;
use crate::domain::sla::Stage;
use crate::domain::workflow::{ActionKind, ExtensionState, TicketState};
use crate::domain::OrgPath;

/// The stages whose clock measures a response (响应): triage, acceptance, a department's
/// acknowledgement (签收).
pub const RESPONSE_STAGES: [Stage; 3] = [Stage::CompoundTriage, Stage::CommunityAcceptance, Stage::DepartmentAcknowledgement];
/// The stages a unit is judged on (the return visit and the ruling on a return are not).
pub(crate) const HELD_STAGES: [Stage; 4] =
    [Stage::CompoundTriage, Stage::CommunityAcceptance, Stage::DepartmentAcknowledgement, Stage::Resolution];
/// Ticket ids per `IN (…)` list: well under both back ends' limits on bound parameters.
const CHUNK: usize = 500;

/// One counted item behind a figure: a clock, a return visit, a dispatch, an extension request or
/// a ticket, with the unit that held it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Fact {
    pub measure: Measure,
    pub ticket_id: String,
    /// The unit that held the clock (or was dispatched, asked, or resolved before the visit).
    pub holder_unit_id: String,
    #[serde(skip)]
    pub holder_path: String,
    /// The clock's stage, for the clock-based measures.
    pub stage: Option<Stage>,
    /// When it happened: the clock's start, the visit, the dispatch, the request.
    #[serde(with = "crate::app::rfc3339")]
    pub at: NaiveDateTime,
    /// The clock's deadline (after pauses and granted extensions), for the clock-based measures.
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
    /// When the clock's stage ended for the measure (acknowledged, stopped, resolved); null while it runs.
    #[serde(with = "crate::app::rfc3339::option")]
    pub ended_at: Option<NaiveDateTime>,
    /// In the numerator: on time, satisfied, returned, reopened, granted, overdue (per measure).
    pub counted: bool,
    /// Seconds past the deadline (natural time), for a late or overdue clock.
    pub overdue_seconds: i64,
    /// The same span in working time on the clock's calendar (office hours of working days).
    pub overdue_working_seconds: i64,
}

impl Fact {
    /// An item that is not a clock: no stage, deadline, end or overdue time.
    fn item(measure: Measure, ticket_id: String, holder_unit_id: String, holder_path: String, at: NaiveDateTime, counted: bool) -> Fact {
        Fact {
            measure,
            ticket_id,
            holder_unit_id,
            holder_path,
            stage: None,
            at,
            due_at: None,
            ended_at: None,
            counted,
            overdue_seconds: 0,
            overdue_working_seconds: 0,
        }
    }
}

/// The period and the instant the report is made at.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub now: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sla_clocks)]
struct ClockLine {
    ticket_id: String,
    stage: String,
    holder_unit_id: String,
    holder_path: String,
    calendar: String,
    started_at: NaiveDateTime,
    acknowledged_at: Option<NaiveDateTime>,
    due_at: NaiveDateTime,
    paused_at: Option<NaiveDateTime>,
    stopped_at: Option<NaiveDateTime>,
    resolved: bool,
}

/// How a judged clock stands: on time, late (ended after its deadline, or running past it), or
/// not judged (still running within its limit, paused, or ended without doing the stage's work).
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    OnTime,
    Late(i64),
    NotJudged,
}

fn late_by(end: NaiveDateTime, due: NaiveDateTime) -> Verdict {
    if end <= due {
        Verdict::OnTime
    } else {
        Verdict::Late((end - due).num_seconds())
    }
}

/// A response clock: it ends when acknowledged, when its holder stopped acting (a clock stopped
/// while paused for a return ended at the pause: returning is a response), or when it stopped.
fn response_verdict(c: &ClockLine, now: NaiveDateTime) -> (Verdict, Option<NaiveDateTime>) {
    match c.stopped_at {
        Some(stopped) => {
            let end = c.acknowledged_at.or(c.paused_at).unwrap_or(stopped);
            (late_by(end, c.due_at), Some(end))
        }
        None if c.paused_at.is_none() && c.due_at < now => (Verdict::Late((now - c.due_at).num_seconds()), None),
        None => (Verdict::NotJudged, None),
    }
}

/// A resolution clock: judged when it ended by a resolution (`resolved_at`), or runs unpaused past
/// its deadline; one that ended otherwise (handed on by a whistle, taken off, its return
/// accepted) is not judged here: the next holder's own clocks are.
fn resolution_verdict(c: &ClockLine, resolved: bool, now: NaiveDateTime) -> (Verdict, Option<NaiveDateTime>) {
    match c.stopped_at {
        Some(stopped) if resolved => (late_by(stopped, c.due_at), Some(stopped)),
        Some(stopped) => (Verdict::NotJudged, Some(stopped)),
        None if c.paused_at.is_none() && c.due_at < now => (Verdict::Late((now - c.due_at).num_seconds()), None),
        None => (Verdict::NotJudged, None),
    }
}

fn in_subtree<QS: 'static, C>(
    column: C,
    root: &OrgPath,
) -> Box<dyn BoxableExpression<QS, crate::app::scope::Db, SqlType = diesel::sql_types::Bool>>
where
    C: diesel::Column<SqlType = diesel::sql_types::Text> + SelectableExpression<QS> + AppearsOnTable<QS> + Copy + Send + 'static,
    C: diesel::query_builder::QueryFragment<crate::app::scope::Db>
        + diesel::expression::ValidGrouping<(), IsAggregate = diesel::expression::is_aggregate::No>,
{
    column_in_subtrees(column, vec![root.clone()])
}

/// The facts of one measure of the subtree of `root` in the window (only what that measure reads
/// is loaded).
pub fn gather(conn: &mut DbConn, calendars: &Calendars, root: &OrgPath, w: Window, measure: Measure) -> AppResult<Vec<Fact>> {
    let mut facts = match measure {
        Measure::Satisfaction | Measure::Reopens => visits(conn, root, w)?,
        Measure::Returns => dispatches(conn, root, w)?,
        Measure::Extensions => extensions(conn, root, w)?,
        _ => clock_facts(conn, calendars, root, w, measure)?,
    };
    facts.retain(|f| f.measure == measure);
    Ok(facts)
}

/// The clock-based facts: response, resolution, on time and overdue, volume and open at end.
fn clock_facts(conn: &mut DbConn, calendars: &Calendars, root: &OrgPath, w: Window, want: Measure) -> AppResult<Vec<Fact>> {
    let stages: Vec<&str> = HELD_STAGES.iter().map(|s| s.as_str()).collect();
    // Clocks still held at the period's end, or those started in it.
    let q = sla_clocks::table
        .filter(in_subtree(sla_clocks::holder_path, root))
        .filter(sla_clocks::stage.eq_any(&stages))
        .filter(sla_clocks::started_at.lt(w.end))
        .select(ClockLine::as_select());
    let clocks: Vec<ClockLine> = if want == Measure::OpenAtEnd {
        q.filter(sla_clocks::stopped_at.is_null().or(sla_clocks::stopped_at.gt(w.end))).load(conn)?
    } else {
        q.filter(sla_clocks::started_at.ge(w.start)).load(conn)?
    };
    let mut facts = vec![];
    let mut volume: BTreeMap<(String, String), (String, NaiveDateTime)> = BTreeMap::new();
    let mut open: BTreeMap<(String, String), (String, NaiveDateTime)> = BTreeMap::new();
    for c in &clocks {
        let Some(stage) = Stage::parse(&c.stage) else { continue };
        if want == Measure::OpenAtEnd {
            open.entry((c.holder_unit_id.clone(), c.ticket_id.clone())).or_insert((c.holder_path.clone(), c.started_at));
            continue;
        }
        if c.started_at < w.start {
            continue;
        }
        if want == Measure::Volume {
            volume.entry((c.holder_unit_id.clone(), c.ticket_id.clone())).or_insert((c.holder_path.clone(), c.started_at));
            continue;
        }
        let (measure, (verdict, ended_at)) = if RESPONSE_STAGES.contains(&stage) {
            (Measure::Response, response_verdict(c, w.now))
        } else {
            (Measure::Resolution, resolution_verdict(c, c.resolved, w.now))
        };
        let late = match verdict {
            Verdict::NotJudged => continue,
            Verdict::OnTime => None,
            Verdict::Late(s) => Some(s),
        };
        let working = match late {
            Some(_) => {
                let cal = calendars.get(&c.calendar).unwrap_or_else(|| calendars.default_calendar());
                cal.working_between(c.due_at, ended_at.unwrap_or(w.now))?
            }
            None => 0,
        };
        let fact = |measure: Measure, counted: bool| Fact {
            measure,
            ticket_id: c.ticket_id.clone(),
            holder_unit_id: c.holder_unit_id.clone(),
            holder_path: c.holder_path.clone(),
            stage: Some(stage),
            at: c.started_at,
            due_at: Some(c.due_at),
            ended_at,
            counted,
            overdue_seconds: late.unwrap_or(0),
            overdue_working_seconds: working,
        };
        for (m, counted) in [(measure, late.is_none()), (Measure::OnTime, late.is_none()), (Measure::Overdue, late.is_some())] {
            if m == want {
                facts.push(fact(m, counted));
            }
        }
    }
    let simple = |measure: Measure, ((unit, ticket), (path, at)): ((String, String), (String, NaiveDateTime))| {
        Fact::item(measure, ticket, unit, path, at, true)
    };
    if want == Measure::Volume {
        // A ticket counts in the period it first reached the subtree: not when one of its judged
        // clocks there started before the period.
        let mut ids: Vec<&str> = volume.keys().map(|(_, t)| t.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut earlier: HashSet<String> = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            earlier.extend(
                sla_clocks::table
                    .filter(in_subtree(sla_clocks::holder_path, root))
                    .filter(sla_clocks::stage.eq_any(&stages))
                    .filter(sla_clocks::started_at.lt(w.start))
                    .filter(sla_clocks::ticket_id.eq_any(chunk))
                    .select(sla_clocks::ticket_id)
                    .load::<String>(conn)?,
            );
        }
        volume.retain(|(_, ticket), _| !earlier.contains(ticket));
    }
    facts.extend(volume.into_iter().map(|v| simple(Measure::Volume, v)));
    facts.extend(open.into_iter().map(|v| simple(Measure::OpenAtEnd, v)));
    Ok(facts)
}

/// Return visits (回访) done in the period, each counted against the unit whose resolution came
/// last before it: satisfied or basically satisfied (the case closed) for 满意率, not satisfied
/// (reopened) for 重办率, whose denominator is the unit's resolutions in the period.
fn visits(conn: &mut DbConn, root: &OrgPath, w: Window) -> AppResult<Vec<Fact>> {
    // A plain range (a boxed filter cannot sit in a subselect across both back ends).
    let resolution_tickets = sla_clocks::table
        .filter(sla_clocks::holder_path.ge(root.as_str().to_string()))
        .filter(sla_clocks::holder_path.lt(root.subtree_upper_bound()))
        .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
        .select(sla_clocks::ticket_id);
    let events: Vec<(String, NaiveDateTime, Option<String>)> = audit_events::table
        .filter(audit_events::entity_kind.eq("ticket"))
        .filter(audit_events::action.eq(ActionKind::RecordReturnVisit.as_str()))
        .filter(audit_events::at.ge(w.start))
        .filter(audit_events::at.lt(w.end))
        .filter(audit_events::entity_id.eq_any(resolution_tickets))
        .select((audit_events::entity_id, audit_events::at, audit_events::to_state))
        .load(conn)?;
    let mut ids: Vec<String> = events.iter().map(|e| e.0.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    // Every resolution of those tickets (the visit judges the last, wherever it lies), and the
    // resolutions of the period in the subtree.
    let mut resolutions: HashMap<String, Vec<(NaiveDateTime, String, String)>> = HashMap::new();
    let mut load = |rows: Vec<(String, String, String, Option<NaiveDateTime>)>| {
        for (ticket, unit, path, stopped) in rows {
            if let Some(s) = stopped {
                resolutions.entry(ticket).or_default().push((s, unit, path));
            }
        }
    };
    let columns = (sla_clocks::ticket_id, sla_clocks::holder_unit_id, sla_clocks::holder_path, sla_clocks::stopped_at);
    for chunk in ids.chunks(CHUNK) {
        load(
            sla_clocks::table
                .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
                .filter(sla_clocks::ticket_id.eq_any(chunk))
                .filter(sla_clocks::resolved.eq(true))
                .filter(sla_clocks::stopped_at.lt(w.end))
                .select(columns)
                .load(conn)?,
        );
    }
    let solved_in_period: Vec<(String, String, String, Option<NaiveDateTime>)> = sla_clocks::table
        .filter(in_subtree(sla_clocks::holder_path, root))
        .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
        .filter(sla_clocks::resolved.eq(true))
        .filter(sla_clocks::stopped_at.ge(w.start))
        .filter(sla_clocks::stopped_at.lt(w.end))
        .select(columns)
        .load(conn)?;
    let mut facts = vec![];
    let mut reopen_base: BTreeMap<(String, String, NaiveDateTime), String> = BTreeMap::new();
    for (ticket, unit, path, stopped) in solved_in_period {
        if let Some(s) = stopped {
            reopen_base.insert((unit, ticket, s), path);
        }
    }
    let mut reopened: HashSet<(String, String, NaiveDateTime)> = HashSet::new();
    for (ticket, at, to_state) in events {
        // The latest resolution before the visit (a co-department's completion precedes the lead's 办结);
        // of two at the same instant, the first holder path (as the aggregate does).
        let Some((solved_at, unit, path)) = resolutions
            .get(&ticket)
            .and_then(|r| r.iter().filter(|(s, _, _)| *s <= at).max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.2.cmp(&a.2))))
            .cloned()
        else {
            continue;
        };
        if !path.starts_with(root.as_str()) {
            // The unit judged by this visit is outside the subtree.
            continue;
        }
        let satisfied = to_state.as_deref() == Some(TicketState::Closed.as_str());
        facts.push(Fact {
            ended_at: Some(solved_at),
            ..Fact::item(Measure::Satisfaction, ticket.clone(), unit.clone(), path.clone(), at, satisfied)
        });
        if !satisfied {
            reopened.insert((unit.clone(), ticket.clone(), solved_at));
            // A reopen whose resolution fell before the period still counts in the period of its visit.
            reopen_base.entry((unit, ticket, solved_at)).or_insert(path);
        }
    }
    for ((unit, ticket, solved_at), path) in reopen_base {
        let counted = reopened.contains(&(unit.clone(), ticket.clone(), solved_at));
        facts.push(Fact {
            stage: Some(Stage::Resolution),
            ended_at: Some(solved_at),
            ..Fact::item(Measure::Reopens, ticket, unit, path, solved_at, counted)
        });
    }
    Ok(facts)
}

/// Department parts dispatched (派单) in the period; counted when the department returned it (退单).
fn dispatches(conn: &mut DbConn, root: &OrgPath, w: Window) -> AppResult<Vec<Fact>> {
    let rows: Vec<(String, String, String, NaiveDateTime, Option<String>)> = ticket_assignments::table
        .inner_join(org_units::table.on(org_units::id.eq(ticket_assignments::department_id)))
        .filter(in_subtree(org_units::path, root))
        .filter(ticket_assignments::dispatched_at.ge(w.start))
        .filter(ticket_assignments::dispatched_at.lt(w.end))
        .select((
            ticket_assignments::ticket_id,
            ticket_assignments::department_id,
            org_units::path,
            ticket_assignments::dispatched_at,
            ticket_assignments::return_reason,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(ticket, unit, path, at, reason)| Fact::item(Measure::Returns, ticket, unit, path, at, reason.is_some()))
        .collect())
}

/// Extension requests (延期申请) made in the period by departments of the subtree; counted when granted.
fn extensions(conn: &mut DbConn, root: &OrgPath, w: Window) -> AppResult<Vec<Fact>> {
    let rows: Vec<(String, String, String, NaiveDateTime, ExtensionState)> = ticket_extensions::table
        .inner_join(ticket_assignments::table)
        .inner_join(org_units::table.on(org_units::id.eq(ticket_assignments::department_id)))
        .filter(in_subtree(org_units::path, root))
        .filter(ticket_extensions::requested_at.ge(w.start))
        .filter(ticket_extensions::requested_at.lt(w.end))
        .select((
            ticket_extensions::ticket_id,
            ticket_assignments::department_id,
            org_units::path,
            ticket_extensions::requested_at,
            ticket_extensions::state,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(ticket, unit, path, at, state)| Fact::item(Measure::Extensions, ticket, unit, path, at, state == ExtensionState::Granted))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 10, 12).unwrap().and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn clock(ack: Option<i64>, paused: Option<i64>, stopped: Option<i64>) -> ClockLine {
        ClockLine {
            ticket_id: "t".into(),
            stage: "department_acknowledgement".into(),
            holder_unit_id: "u".into(),
            holder_path: "/u/".into(),
            calendar: "cn".into(),
            started_at: t(0),
            acknowledged_at: ack.map(t),
            due_at: t(4),
            paused_at: paused.map(t),
            stopped_at: stopped.map(t),
            resolved: false,
        }
    }

    #[test]
    fn a_response_is_judged_when_it_ends_or_its_deadline_passes() {
        assert_eq!(response_verdict(&clock(Some(3), None, Some(3)), t(10)).0, Verdict::OnTime);
        assert_eq!(response_verdict(&clock(Some(5), None, Some(5)), t(10)).0, Verdict::Late(3600));
        // Returned within the limit, the return accepted later: on time (it ended at the pause).
        assert_eq!(response_verdict(&clock(None, Some(2), Some(30)), t(40)).0, Verdict::OnTime);
        assert_eq!(response_verdict(&clock(None, None, None), t(3)).0, Verdict::NotJudged);
        assert_eq!(response_verdict(&clock(None, None, None), t(6)).0, Verdict::Late(7200));
        assert_eq!(response_verdict(&clock(None, Some(1), None), t(6)).0, Verdict::NotJudged);
    }

    #[test]
    fn a_resolution_is_judged_only_when_it_resolves_or_overruns() {
        let c = clock(None, None, Some(3));
        assert_eq!(resolution_verdict(&c, true, t(10)).0, Verdict::OnTime);
        assert_eq!(resolution_verdict(&c, false, t(10)).0, Verdict::NotJudged);
        assert_eq!(resolution_verdict(&clock(None, None, Some(6)), true, t(10)).0, Verdict::Late(7200));
    }
}
