//! The rankings' aggregates (decision 0027), counted by the database: every figure of every unit
//! below a ranked one in a few `GROUP BY` statements over index ranges, so that a district's year
//! never travels to the service row by row. The definitions are those of
//! `app::reports::facts`, which lists the same items one by one for a drill-down; the tests hold
//! the two to the same numbers.
//!
//! Rows are grouped by a *key*: the first `key_len` characters of the holder's path. With the
//! ranked unit's path length plus 37 (an id is a 36-character UUID, then `/`) the key is the path
//! of the child whose subtree holds the row; with the path length alone, the whole subtree is one
//! group. Written once with `?` placeholders; PostgreSQL gets them numbered.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::db::DbConn;

/// The part of the tree and the period asked for.
#[derive(Clone, Copy, Debug)]
pub struct Span<'a> {
    /// The ranked unit's path and the exclusive upper bound of its subtree's range.
    pub root: &'a str,
    pub upper: &'a str,
    /// How many leading characters of a path name its group (see the module's doc).
    pub key_len: usize,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub now: NaiveDateTime,
    /// The period's first and last China day (`start` and `end` in the calendars' zone).
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Span<'_> {
    /// How many units from the root a group's path has (`/a/b/` and a key of `1 + 37 × n` characters: n).
    fn key_units(&self) -> usize {
        self.key_len.saturating_sub(1) / 37
    }
}

enum Arg<'a> {
    Text(&'a str),
    Time(NaiveDateTime),
    Day(NaiveDate),
}

/// `?` → `$1`, `$2`… (the statements here hold no other question mark).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

fn load<T>(conn: &mut DbConn, sql: &str, args: &[Arg<'_>]) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
{
    match conn {
        DbConn::Sqlite(c) => {
            let mut q = diesel::sql_query(
                sql.replace(NOT_ROLLED, "rolled = 0").replace(BYTES, "").replace(BY_STOP, "INDEXED BY sla_clocks_stopped"),
            )
            .into_boxed::<Sqlite>();
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind::<Text, _>(s.to_string()),
                    Arg::Time(t) => q.bind::<Timestamp, _>(*t),
                    Arg::Day(d) => q.bind::<Date, _>(*d),
                };
            }
            q.load(c)
        }
        DbConn::Postgresql(c) => {
            let mut q = diesel::sql_query(numbered(&sql.replace(BYTES, "COLLATE \"C\"").replace(BY_STOP, ""))).into_boxed::<Pg>();
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind::<Text, _>(s.to_string()),
                    Arg::Time(t) => q.bind::<Timestamp, _>(*t),
                    Arg::Day(d) => q.bind::<Date, _>(*d),
                };
            }
            q.load(c)
        }
    }
}

/// Prepares the current transaction for the aggregates. On PostgreSQL: one snapshot for every
/// statement (`REPEATABLE READ`), so that a roll-up round committing meanwhile is counted either
/// rolled up or live, never both or neither (SQLite's read transaction is one snapshot already);
/// `work_mem` enough for the sorts and hashes of what is counted live to stay in memory; and no
/// JIT compilation: the statements' estimated costs (a subquery per running clock, not run once
/// the roll-up holds their volume) passed `jit_above_cost`, and compiling took 250–300 ms of a
/// district year's 390 ms live count, which runs in 53 ms without it.
pub fn prepare(conn: &mut DbConn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match conn {
        DbConn::Postgresql(c) => {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Written where a clock not rolled up yet is meant (SQLite stores booleans as integers; the
/// text is that of the partial index `sla_clocks_unrolled`, so that both planners use it).
const NOT_ROLLED: &str = "rolled = FALSE";
/// Written after `FROM sla_clocks` where the clocks stopped after an instant are read: SQLite's
/// planner otherwise takes the subtree's range of `sla_clocks_reports` (the whole table for a
/// district: 6.6 s at a million tickets) over `sla_clocks_stopped`, even when nothing stopped
/// after the instant; PostgreSQL chooses by its statistics.
const BY_STOP: &str = "/*by-stop*/";
/// Written after an id compared with another: PostgreSQL then compares bytes, as Rust and SQLite do.
const BYTES: &str = "/*bytes*/";

/// The stages a unit is judged on, as SQL literals.
const HELD: &str = "('compound_triage', 'community_acceptance', 'department_acknowledgement', 'resolution')";
/// When a response clock's stage ended: acknowledged, returned (stopped while paused), stopped.
const RESPONSE_END: &str = "COALESCE(acknowledged_at, paused_at, stopped_at)";

/// 1 when a judged clock is on time: a response that ended by its deadline, a resolution that
/// resolved by it.
fn on_time() -> String {
    format!(
        "CASE WHEN stopped_at IS NULL THEN 0 \
              WHEN stage = 'resolution' THEN CASE WHEN resolved AND stopped_at <= due_at THEN 1 ELSE 0 END \
              WHEN {RESPONSE_END} <= due_at THEN 1 ELSE 0 END"
    )
}

/// 1 when a judged clock is late: it ended (a resolution: resolved) after its deadline, or runs
/// unpaused past it at `?` (now).
fn late() -> String {
    format!(
        "CASE WHEN stopped_at IS NULL THEN CASE WHEN paused_at IS NULL AND due_at < ? THEN 1 ELSE 0 END \
              WHEN stage = 'resolution' THEN CASE WHEN resolved AND stopped_at > due_at THEN 1 ELSE 0 END \
              WHEN {RESPONSE_END} > due_at THEN 1 ELSE 0 END"
    )
}

/// The judged-stage clocks of the span not rolled up yet, started in the period: those running
/// (index `sla_clocks_held`) and those stopped since the last roll-up round
/// (`sla_clocks_unrolled`). Binds: root, upper, start, end — twice.
fn unrolled() -> String {
    let cols = "id, ticket_id, stage, holder_path, calendar, started_at, acknowledged_at, due_at, paused_at, stopped_at, resolved";
    // The running ones from the covering index alone (PostgreSQL): their stop is null by definition.
    let running = cols.replace("stopped_at,", "CAST(NULL AS TIMESTAMP) AS stopped_at,");
    format!(
        "(SELECT {running} FROM sla_clocks
           WHERE stopped_at IS NULL AND holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at >= ? AND started_at < ?
          UNION ALL
          SELECT {cols} FROM sla_clocks
           WHERE stopped_at IS NOT NULL AND {NOT_ROLLED} AND holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at >= ? AND started_at < ?)"
    )
}

fn unrolled_args<'a>(s: &Span<'a>) -> Vec<Arg<'a>> {
    let mut v = vec![];
    for _ in 0..2 {
        v.extend([Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.start), Arg::Time(s.end)]);
    }
    v
}

/// The clocks not rolled up yet, started in the period, per group: judged responses and
/// resolutions on time and late, and those that are their ticket's first judged clock in the
/// group's subtree (受理量: a ticket counts in the period it first reached the unit).
#[derive(Debug, QueryableByName)]
pub struct ClockCount {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = BigInt)]
    pub response_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub response_late: i64,
    #[diesel(sql_type = BigInt)]
    pub resolution_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub resolution_late: i64,
    /// Tickets whose first judged clock in the group's subtree is one of these (受理量).
    #[diesel(sql_type = BigInt)]
    pub volume: i64,
}

pub fn clock_counts(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<ClockCount>> {
    let sql = format!(
        "SELECT substr(c.holder_path, 1, {k}) AS unit_key,
                CAST(SUM(CASE WHEN c.stage <> 'resolution' THEN {on_time} ELSE 0 END) AS BIGINT) AS response_on_time,
                CAST(SUM(CASE WHEN c.stage <> 'resolution' THEN {late} ELSE 0 END) AS BIGINT) AS response_late,
                CAST(SUM(CASE WHEN c.stage = 'resolution' THEN {on_time} ELSE 0 END) AS BIGINT) AS resolution_on_time,
                CAST(SUM(CASE WHEN c.stage = 'resolution' THEN {late} ELSE 0 END) AS BIGINT) AS resolution_late,
                CAST(SUM(CASE WHEN c.id IN (SELECT clock_id FROM report_started) THEN 0
                              WHEN NOT EXISTS (
                       SELECT 1 FROM sla_clocks d
                        WHERE d.ticket_id = c.ticket_id AND d.stage IN {HELD}
                          AND substr(d.holder_path, 1, {k}) = substr(c.holder_path, 1, {k})
                          AND (d.started_at < c.started_at OR (d.started_at = c.started_at AND d.id < c.id {BYTES})))
                     THEN 1 ELSE 0 END) AS BIGINT) AS volume
         FROM {unrolled} c
         GROUP BY 1",
        k = s.key_len,
        on_time = on_time(),
        late = late(),
        unrolled = unrolled(),
    );
    let mut args = vec![Arg::Time(s.now), Arg::Time(s.now)];
    args.extend(unrolled_args(&s));
    load(conn, &sql, &args)
}

/// A late clock not rolled up yet, started in the period: its deadline and when its stage ended
/// (null: still running), for the overdue hours, which need each clock's working calendar.
#[derive(Debug, QueryableByName)]
pub struct LateClock {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = Text)]
    pub calendar: String,
    #[diesel(sql_type = Timestamp)]
    pub due_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub ended_at: Option<NaiveDateTime>,
}

pub fn late_clocks(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<LateClock>> {
    let sql = format!(
        "SELECT substr(holder_path, 1, {k}) AS unit_key, calendar, due_at,
                CASE WHEN stopped_at IS NULL THEN NULL WHEN stage = 'resolution' THEN stopped_at ELSE {RESPONSE_END} END AS ended_at
         FROM {unrolled} c
         WHERE ({late}) = 1",
        k = s.key_len,
        late = late(),
        unrolled = unrolled(),
    );
    let mut args = unrolled_args(&s);
    args.push(Arg::Time(s.now));
    load(conn, &sql, &args)
}

/// The rolled-up facts of the period's days (`report_days`, app::reports::rollup), per group.
#[derive(Debug, QueryableByName)]
pub struct RolledCount {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = BigInt)]
    pub response_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub response_total: i64,
    #[diesel(sql_type = BigInt)]
    pub resolution_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub resolution_total: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue_seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue_working_seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub volume: i64,
    #[diesel(sql_type = BigInt)]
    pub resolutions: i64,
    #[diesel(sql_type = BigInt)]
    pub visits: i64,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = BigInt)]
    pub reopened_earlier: i64,
}

pub fn rolled(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<RolledCount>> {
    use crate::app::reports::rollup::{day_number, RESOLUTION, RESOLVED, RESPONSE, VISIT, VOLUME};
    // Both numbers are formatted, not bound: a depth and a day number, computed here.
    let (units, first) = (s.key_units(), day_number(s.first));
    let sum = |cond: &str, col: &str| format!("CAST(SUM(CASE WHEN {cond} THEN {col} ELSE 0 END) AS BIGINT)");
    let sql = format!(
        "SELECT substr(holder_path, 1, {k}) AS unit_key,
                {} AS response_on_time, {} AS response_total,
                {} AS resolution_on_time, {} AS resolution_total,
                CAST(SUM(overdue_seconds) AS BIGINT) AS overdue_seconds,
                CAST(SUM(overdue_working_seconds) AS BIGINT) AS overdue_working_seconds,
                {} AS volume, {} AS resolutions, {} AS visits, {} AS satisfied, {} AS reopened_earlier
         FROM report_days
         WHERE holder_path >= ? AND holder_path < ? AND day >= ? AND day <= ?
         GROUP BY 1",
        sum(&format!("measure = '{RESPONSE}'"), "counted"),
        sum(&format!("measure = '{RESPONSE}'"), "total"),
        sum(&format!("measure = '{RESOLUTION}'"), "counted"),
        sum(&format!("measure = '{RESOLUTION}'"), "total"),
        sum(&format!("measure = '{VOLUME}' AND variant <= {units}"), "total"),
        sum(&format!("measure = '{RESOLVED}'"), "total"),
        sum(&format!("measure = '{VISIT}'"), "total"),
        sum(&format!("measure = '{VISIT}'"), "counted"),
        sum(&format!("measure = '{VISIT}' AND variant >= 0 AND variant < {first}"), "total"),
        k = s.key_len,
    );
    load(conn, &sql, &[Arg::Text(s.root), Arg::Text(s.upper), Arg::Day(s.first), Arg::Day(s.last)])
}

/// A number per group.
#[derive(Debug, QueryableByName)]
pub struct KeyCount {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Open at the period's end (期末未办结): distinct tickets whose judged-stage clock started before
/// the end and had not stopped by it — those still running, and those stopped since.
pub fn open_at_end(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<KeyCount>> {
    let sql = format!(
        "SELECT unit_key, CAST(COUNT(DISTINCT ticket_id) AS BIGINT) AS n FROM (
           SELECT substr(holder_path, 1, {k}) AS unit_key, ticket_id FROM sla_clocks
           WHERE stopped_at IS NULL AND holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at < ?
           UNION ALL
           SELECT substr(holder_path, 1, {k}) AS unit_key, ticket_id FROM sla_clocks {BY_STOP}
           WHERE stopped_at > ? AND holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at < ?
         ) held GROUP BY unit_key",
        k = s.key_len
    );
    let (r, u, e) = (Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.end));
    load(conn, &sql, &[r, u, e, Arg::Time(s.end), Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.end)])
}

/// Resolutions (resolution clocks that ended by one) in the period not rolled up yet: the base of 重办率.
pub fn resolutions(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<KeyCount>> {
    let sql = format!(
        "SELECT substr(holder_path, 1, {k}) AS unit_key, CAST(COUNT(*) AS BIGINT) AS n
         FROM sla_clocks
         WHERE stopped_at IS NOT NULL AND {NOT_ROLLED} AND stopped_at >= ? AND stopped_at < ?
           AND holder_path >= ? AND holder_path < ? AND stage = 'resolution' AND resolved
         GROUP BY 1",
        k = s.key_len
    );
    load(conn, &sql, &[Arg::Time(s.start), Arg::Time(s.end), Arg::Text(s.root), Arg::Text(s.upper)])
}

/// Return visits (回访) of the period not rolled up yet (past a chain's mark), each against the
/// group of the resolution that came last before it (of two at the same instant, the first
/// path), when that lies in the span.
#[derive(Debug, QueryableByName)]
pub struct VisitCount {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = BigInt)]
    pub visits: i64,
    /// Satisfied or basically satisfied: the visit closed the case.
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    /// Not satisfied (reopened), of a resolution from before the period.
    #[diesel(sql_type = BigInt)]
    pub reopened_earlier: i64,
}

/// `pending`: each audit chain with events past its roll-up mark, and the mark (read in the
/// same snapshot). None: nothing is counted live.
pub fn visits(conn: &mut DbConn, s: Span<'_>, pending: &[(i32, i64)]) -> QueryResult<Vec<VisitCount>> {
    if pending.is_empty() {
        return Ok(vec![]);
    }
    // Numbers read from the database just now, formatted: one index range per chain.
    let past_marks = pending.iter().map(|(shard, seq)| format!("(a.shard = {shard} AND a.seq > {seq})")).collect::<Vec<_>>().join(" OR ");
    let sql = format!(
        "SELECT substr(path, 1, {k}) AS unit_key, CAST(COUNT(*) AS BIGINT) AS visits, CAST(SUM(sat) AS BIGINT) AS satisfied,
                CAST(SUM(CASE WHEN sat = 0 AND earlier = 1 THEN 1 ELSE 0 END) AS BIGINT) AS reopened_earlier
         FROM (
           SELECT a.id, MAX(CASE WHEN a.to_state = 'closed' THEN 1 ELSE 0 END) AS sat,
                  MIN(c.holder_path) AS path, MAX(CASE WHEN c.stopped_at < ? THEN 1 ELSE 0 END) AS earlier
           FROM audit_events a JOIN sla_clocks c ON c.ticket_id = a.entity_id
           WHERE ({past_marks}) AND a.entity_kind = 'ticket' AND a.action = 'record_return_visit' AND a.at >= ? AND a.at < ?
             AND c.stage = 'resolution' AND c.resolved AND c.stopped_at <= a.at
             AND NOT EXISTS (SELECT 1 FROM sla_clocks d
                             WHERE d.ticket_id = c.ticket_id AND d.stage = 'resolution' AND d.resolved
                               AND d.stopped_at > c.stopped_at AND d.stopped_at <= a.at)
           GROUP BY a.id
         ) v
         WHERE path >= ? AND path < ?
         GROUP BY 1",
        k = s.key_len
    );
    load(conn, &sql, &[Arg::Time(s.start), Arg::Time(s.start), Arg::Time(s.end), Arg::Text(s.root), Arg::Text(s.upper)])
}

/// The audit chains with events past their roll-up mark: (chain, mark).
pub fn pending_chains(conn: &mut DbConn) -> QueryResult<Vec<(i32, i64)>> {
    use crate::db::schema::{audit_heads, report_marks};
    report_marks::table
        .inner_join(audit_heads::table.on(audit_heads::shard.eq(report_marks::shard)))
        .filter(audit_heads::seq.gt(report_marks::seq))
        .select((report_marks::shard, report_marks::seq))
        .load(conn)
}

/// A ratio per group: the items and those counted.
#[derive(Debug, QueryableByName)]
pub struct KeyRatio {
    #[diesel(sql_type = Text)]
    pub unit_key: String,
    #[diesel(sql_type = BigInt)]
    pub counted: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// Department parts dispatched (派单) in the period to departments of the subtree; counted: returned (退单).
pub fn dispatches(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<KeyRatio>> {
    let sql = format!(
        "SELECT substr(u.path, 1, {k}) AS unit_key, CAST(SUM(CASE WHEN a.return_reason IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS counted,
                CAST(COUNT(*) AS BIGINT) AS total
         FROM ticket_assignments a JOIN org_units u ON u.id = a.department_id
         WHERE u.path >= ? AND u.path < ? AND a.dispatched_at >= ? AND a.dispatched_at < ?
         GROUP BY 1",
        k = s.key_len
    );
    load(conn, &sql, &[Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.start), Arg::Time(s.end)])
}

/// Extension requests (延期申请) made in the period by departments of the subtree; counted: granted.
pub fn extensions(conn: &mut DbConn, s: Span<'_>, granted: &str) -> QueryResult<Vec<KeyRatio>> {
    let sql = format!(
        "SELECT substr(u.path, 1, {k}) AS unit_key, CAST(SUM(CASE WHEN e.state = ? THEN 1 ELSE 0 END) AS BIGINT) AS counted,
                CAST(COUNT(*) AS BIGINT) AS total
         FROM ticket_extensions e JOIN ticket_assignments a ON a.id = e.assignment_id JOIN org_units u ON u.id = a.department_id
         WHERE u.path >= ? AND u.path < ? AND e.requested_at >= ? AND e.requested_at < ?
         GROUP BY 1",
        k = s.key_len
    );
    load(conn, &sql, &[Arg::Text(granted), Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.start), Arg::Time(s.end)])
}

/// A clock the roll-up takes (`app::reports::rollup`): a stopped one, or a running one for its volume.
#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::sla_clocks)]
pub struct StoppedClock {
    pub id: String,
    pub ticket_id: String,
    pub stage: String,
    pub holder_path: String,
    pub calendar: String,
    pub started_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub due_at: NaiveDateTime,
    pub paused_at: Option<NaiveDateTime>,
    pub stopped_at: Option<NaiveDateTime>,
    pub resolved: bool,
}

/// Up to `limit` stopped clocks not rolled up yet, oldest stop first, locked for this
/// transaction; PostgreSQL skips those another server's round has locked. The condition is
/// written as the partial index `sla_clocks_unrolled` states it, a literal (not a bound
/// parameter), so that both planners read the index and not the table.
pub fn claim_stopped_clocks(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<StoppedClock>> {
    use crate::db::schema::sla_clocks;
    let unrolled = |literal: &'static str| {
        sla_clocks::table
            .filter(sla_clocks::stopped_at.is_not_null())
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(literal))
            .order(sla_clocks::stopped_at.asc())
            .limit(limit)
    };
    match conn {
        DbConn::Postgresql(c) => unrolled("rolled = FALSE").for_update().skip_locked().select(StoppedClock::as_select()).load(c),
        DbConn::Sqlite(c) => unrolled("rolled = 0").select(StoppedClock::as_select()).load(c),
    }
}

/// Up to `limit` running judged-stage clocks whose volume is not rolled up yet, locked for this
/// transaction (PostgreSQL skips those another round or a stopping action holds; a clock that
/// stopped meanwhile is not taken, it is the stopped clocks' round's).
pub fn claim_started_clocks(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<StoppedClock>> {
    use crate::db::schema::{report_started, sla_clocks};
    let held: Vec<&str> = crate::app::reports::facts::HELD_STAGES.iter().map(|s| s.as_str()).collect();
    let new = || {
        sla_clocks::table
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::stage.eq_any(held.clone()))
            .filter(diesel::dsl::not(diesel::dsl::exists(report_started::table.filter(report_started::clock_id.eq(sla_clocks::id)))))
            .limit(limit)
    };
    match conn {
        DbConn::Postgresql(c) => new().for_update().skip_locked().select(StoppedClock::as_select()).load(c),
        DbConn::Sqlite(c) => new().select(StoppedClock::as_select()).load(c),
    }
}

/// Lists clocks whose volume is rolled up while they run; answers those this call listed. Another
/// server's round may have claimed the same clock: on PostgreSQL the claim's `NOT EXISTS` is
/// read in the statement's snapshot, which a round committing meanwhile does not change (the
/// lock is rechecked against the clock's row only). The list's key decides: a clock already
/// listed is not listed, nor counted, again.
pub fn list_started(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<String>> {
    use crate::db::schema::report_started;
    let mut listed = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let rows: Vec<_> = chunk.iter().map(|id| report_started::clock_id.eq(*id)).collect();
        listed.extend(match conn {
            DbConn::Sqlite(c) => diesel::insert_into(report_started::table)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(report_started::clock_id)
                .get_results::<String>(c)?,
            DbConn::Postgresql(c) => diesel::insert_into(report_started::table)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(report_started::clock_id)
                .get_results::<String>(c)?,
        });
    }
    Ok(listed)
}

/// Of these (stopped, claimed) clocks, those whose volume was rolled up while they ran; their
/// lines are taken away.
pub fn take_started(conn: &mut DbConn, ids: &[&str]) -> QueryResult<std::collections::HashSet<String>> {
    use crate::db::schema::report_started;
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        found.extend(
            report_started::table.filter(report_started::clock_id.eq_any(chunk)).select(report_started::clock_id).load::<String>(conn)?,
        );
        diesel::delete(report_started::table.filter(report_started::clock_id.eq_any(chunk))).execute(conn)?;
    }
    Ok(found)
}

/// Every audit chain's roll-up mark, locked for this transaction (one round at a time reads
/// past them; SQLite has one writer anyway).
pub fn lock_marks(conn: &mut DbConn) -> QueryResult<Vec<(i32, i64)>> {
    use crate::db::schema::report_marks;
    match conn {
        DbConn::Postgresql(c) => report_marks::table.order(report_marks::shard).for_update().load(c),
        DbConn::Sqlite(c) => report_marks::table.order(report_marks::shard).load(c),
    }
}

/// Sums to add to one row of `report_days`.
pub struct DayRow {
    pub holder_path: String,
    pub day: NaiveDate,
    pub measure: &'static str,
    pub variant: i32,
    pub counted: i64,
    pub total: i64,
    pub overdue_seconds: i64,
    pub overdue_working_seconds: i64,
}

/// Adds the rows to `report_days` (inserted, or added to the row of the same key), many rows per
/// statement; no two rows share a key.
pub fn add_days(conn: &mut DbConn, rows: &[DayRow]) -> QueryResult<()> {
    use crate::db::schema::report_days::dsl as r;
    use diesel::upsert::excluded;
    let values: Vec<_> = rows
        .iter()
        .map(|d| {
            (
                r::holder_path.eq(&d.holder_path),
                r::day.eq(d.day),
                r::measure.eq(d.measure),
                r::variant.eq(d.variant),
                r::counted.eq(d.counted),
                r::total.eq(d.total),
                r::overdue_seconds.eq(d.overdue_seconds),
                r::overdue_working_seconds.eq(d.overdue_working_seconds),
            )
        })
        .collect();
    let set = (
        r::counted.eq(r::counted + excluded(r::counted)),
        r::total.eq(r::total + excluded(r::total)),
        r::overdue_seconds.eq(r::overdue_seconds + excluded(r::overdue_seconds)),
        r::overdue_working_seconds.eq(r::overdue_working_seconds + excluded(r::overdue_working_seconds)),
    );
    let target = (r::holder_path, r::day, r::measure, r::variant);
    // Eight values a row: well under both back ends' limits on bound parameters.
    for chunk in values.chunks(1000) {
        match conn {
            DbConn::Sqlite(c) => diesel::insert_into(r::report_days).values(chunk).on_conflict(target).do_update().set(set).execute(c)?,
            DbConn::Postgresql(c) => {
                diesel::insert_into(r::report_days).values(chunk).on_conflict(target).do_update().set(set).execute(c)?
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(numbered("a = ? AND b < ? OR c"), "a = $1 AND b < $2 OR c");
    }
}
