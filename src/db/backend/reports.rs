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

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
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
}

enum Arg<'a> {
    Text(&'a str),
    Time(NaiveDateTime),
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
            let mut q = diesel::sql_query(sql).into_boxed::<Sqlite>();
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind::<Text, _>(s.to_string()),
                    Arg::Time(t) => q.bind::<Timestamp, _>(*t),
                };
            }
            q.load(c)
        }
        DbConn::Postgresql(c) => {
            let mut q = diesel::sql_query(numbered(sql)).into_boxed::<Pg>();
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind::<Text, _>(s.to_string()),
                    Arg::Time(t) => q.bind::<Timestamp, _>(*t),
                };
            }
            q.load(c)
        }
    }
}

/// Prepares the current transaction for the aggregates: on PostgreSQL, sorts and hashes of a
/// year's clocks get `work_mem` enough to stay in memory (the default 4 MB spills a district's
/// distinct tickets to disk and takes several times longer); only for this transaction.
pub fn prepare(conn: &mut DbConn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match conn {
        DbConn::Postgresql(c) => c.batch_execute("SET LOCAL work_mem = '64MB'"),
        DbConn::Sqlite(_) => Ok(()),
    }
}

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

/// The clocks started in the period, per group: judged responses and resolutions on time and
/// late, and the distinct tickets they belong to (受理量) — one pass over the period's clocks.
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
    /// Distinct tickets with a judged-stage clock started in the period (受理量).
    #[diesel(sql_type = BigInt)]
    pub volume: i64,
}

pub fn clock_counts(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<ClockCount>> {
    let sql = format!(
        "SELECT substr(holder_path, 1, {k}) AS unit_key,
                CAST(SUM(CASE WHEN stage <> 'resolution' THEN {on_time} ELSE 0 END) AS BIGINT) AS response_on_time,
                CAST(SUM(CASE WHEN stage <> 'resolution' THEN {late} ELSE 0 END) AS BIGINT) AS response_late,
                CAST(SUM(CASE WHEN stage = 'resolution' THEN {on_time} ELSE 0 END) AS BIGINT) AS resolution_on_time,
                CAST(SUM(CASE WHEN stage = 'resolution' THEN {late} ELSE 0 END) AS BIGINT) AS resolution_late,
                CAST(COUNT(DISTINCT ticket_id) AS BIGINT) AS volume
         FROM sla_clocks
         WHERE holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at >= ? AND started_at < ?
         GROUP BY 1",
        k = s.key_len,
        on_time = on_time(),
        late = late(),
    );
    let now = || Arg::Time(s.now);
    load(conn, &sql, &[now(), now(), Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.start), Arg::Time(s.end)])
}

/// A late clock started in the period: its deadline and when its stage ended (null: still
/// running), for the overdue hours, which need each clock's working calendar.
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
         FROM sla_clocks
         WHERE holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at >= ? AND started_at < ?
           AND ({late}) = 1",
        k = s.key_len,
        late = late(),
    );
    load(conn, &sql, &[Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.start), Arg::Time(s.end), Arg::Time(s.now)])
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
           SELECT substr(holder_path, 1, {k}) AS unit_key, ticket_id FROM sla_clocks
           WHERE stopped_at > ? AND holder_path >= ? AND holder_path < ? AND stage IN {HELD} AND started_at < ?
         ) held GROUP BY unit_key",
        k = s.key_len
    );
    let (r, u, e) = (Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.end));
    load(conn, &sql, &[r, u, e, Arg::Time(s.end), Arg::Text(s.root), Arg::Text(s.upper), Arg::Time(s.end)])
}

/// Resolutions (resolution clocks that ended by one) in the period: the base of 重办率.
pub fn resolutions(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<KeyCount>> {
    let sql = format!(
        "SELECT substr(holder_path, 1, {k}) AS unit_key, CAST(COUNT(*) AS BIGINT) AS n
         FROM sla_clocks
         WHERE stopped_at >= ? AND stopped_at < ? AND holder_path >= ? AND holder_path < ? AND stage = 'resolution' AND resolved
         GROUP BY 1",
        k = s.key_len
    );
    load(conn, &sql, &[Arg::Time(s.start), Arg::Time(s.end), Arg::Text(s.root), Arg::Text(s.upper)])
}

/// Return visits (回访) of the period, each against the group of the resolution that came last
/// before it in the subtree (of two at the same instant, the first key).
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

pub fn visits(conn: &mut DbConn, s: Span<'_>) -> QueryResult<Vec<VisitCount>> {
    let sql = format!(
        "SELECT unit_key, CAST(COUNT(*) AS BIGINT) AS visits, CAST(SUM(sat) AS BIGINT) AS satisfied,
                CAST(SUM(CASE WHEN sat = 0 AND earlier = 1 THEN 1 ELSE 0 END) AS BIGINT) AS reopened_earlier
         FROM (
           SELECT a.id, MAX(CASE WHEN a.to_state = 'closed' THEN 1 ELSE 0 END) AS sat,
                  MIN(substr(c.holder_path, 1, {k})) AS unit_key, MAX(CASE WHEN c.stopped_at < ? THEN 1 ELSE 0 END) AS earlier
           FROM audit_events a JOIN sla_clocks c ON c.ticket_id = a.entity_id
           WHERE a.entity_kind = 'ticket' AND a.action = 'record_return_visit' AND a.at >= ? AND a.at < ?
             AND c.stage = 'resolution' AND c.resolved AND c.holder_path >= ? AND c.holder_path < ? AND c.stopped_at <= a.at
             AND NOT EXISTS (SELECT 1 FROM sla_clocks d
                             WHERE d.ticket_id = c.ticket_id AND d.stage = 'resolution' AND d.resolved
                               AND d.holder_path >= ? AND d.holder_path < ? AND d.stopped_at > c.stopped_at AND d.stopped_at <= a.at)
           GROUP BY a.id
         ) v GROUP BY unit_key",
        k = s.key_len
    );
    load(
        conn,
        &sql,
        &[
            Arg::Time(s.start),
            Arg::Time(s.start),
            Arg::Time(s.end),
            Arg::Text(s.root),
            Arg::Text(s.upper),
            Arg::Text(s.root),
            Arg::Text(s.upper),
        ],
    )
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

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(numbered("a = ? AND b < ? OR c"), "a = $1 AND b < $2 OR c");
    }
}
