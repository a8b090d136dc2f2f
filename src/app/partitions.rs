//! The history tables by month (#21, decision 0034): audit events, clock firings and deliveries are
//! partitioned by month on PostgreSQL. Every server creates the months around now at start and
//! daily (a DEFAULT partition takes any row of a month not created, so no write ever waits for
//! this); an operator detaches the months that ended, to archive them (`gridloop partitions`).
//! The audit trail stays verifiable: a detached month leaves where each chain stood at its end in
//! `audit_archives`, and `audit verify` starts each chain from there.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::backend::partitions as db;
use crate::db::schema::audit_archives;
use crate::db::DbConn;

use super::AppResult;

/// Months created ahead of now (and one behind, for a clock set back a little).
pub const MONTHS_AHEAD: i32 = 3;

/// The first day of the month `k` months after the month of `d`.
pub fn month_start(d: NaiveDate, k: i32) -> NaiveDate {
    let m0 = d.year() * 12 + d.month0() as i32 + k;
    NaiveDate::from_ymd_opt(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1).expect("the first of a month")
}

/// Creates the months from last month to `MONTHS_AHEAD` months ahead of `now`, for every
/// partitioned table; answers how many partitions were created (0 on SQLite).
pub fn ensure_around(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    ensure_months(conn, month_start(now.date(), -1), month_start(now.date(), MONTHS_AHEAD))
}

/// Creates every month from `from`'s to `through`'s (both included), for every partitioned table.
pub fn ensure_months(conn: &mut DbConn, from: NaiveDate, through: NaiveDate) -> AppResult<usize> {
    if !db::partitioned(conn) {
        return Ok(0);
    }
    let (mut m, last) = (month_start(from, 0), month_start(through, 0));
    let mut created = 0;
    while m <= last {
        for (table, _) in db::PARTITIONED {
            if crate::db::backend::retry_conflicts(conn, |c| db::ensure_month(c, table, m))? {
                created += 1;
            }
        }
        m = month_start(m, 1);
    }
    Ok(created)
}

/// A partition of a history table.
#[derive(Clone, Debug)]
pub struct Partition {
    pub table: String,
    pub name: String,
    /// The month it holds; `None` for the default partition.
    pub month: Option<NaiveDate>,
    pub rows_estimate: i64,
    pub bytes: i64,
}

/// The month a partition's name says (`audit_events_y2026m12`).
fn month_of(table: &str, name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix(table)?.strip_prefix("_y")?;
    let (y, m) = rest.split_once('m')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// Every partition of the history tables (none on SQLite).
pub fn list(conn: &mut DbConn) -> AppResult<Vec<Partition>> {
    Ok(db::list(conn)?
        .into_iter()
        .map(|r| Partition {
            month: month_of(&r.parent, &r.name),
            table: r.parent,
            name: r.name,
            rows_estimate: r.rows_estimate,
            bytes: r.bytes,
        })
        .collect())
}

/// A partition detached for the archive.
#[derive(Clone, Debug)]
pub struct Detached {
    pub table: String,
    pub name: String,
    pub rows: i64,
}

/// What a detach did: the partitions detached, and those kept with why.
#[derive(Clone, Debug, Default)]
pub struct DetachReport {
    pub detached: Vec<Detached>,
    pub kept: Vec<(String, String)>,
}

/// Why a detach was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// SQLite keeps each table whole.
    NotPartitioned,
    /// `before` is not the first day of a month.
    NotFirstOfMonth,
    /// `before` is after the first day of the current month: that month has not ended.
    NotEnded,
}

/// Detaches every monthly partition of a month before `before` (the first of a month, at the
/// latest this month's): each stays in the database as a table of its own, to be dumped and
/// dropped. An audit month first records where each of its chains ends (`audit_archives`), in the
/// same transaction, so that `audit verify` starts those chains there. A deliveries month with
/// messages still to send is kept. Rows written later for a detached month go to the default partition.
pub fn detach_before(conn: &mut DbConn, before: NaiveDate, now: NaiveDateTime) -> AppResult<Result<DetachReport, Refused>> {
    if !db::partitioned(conn) {
        return Ok(Err(Refused::NotPartitioned));
    }
    if before.day() != 1 {
        return Ok(Err(Refused::NotFirstOfMonth));
    }
    if before > month_start(now.date(), 0) {
        return Ok(Err(Refused::NotEnded));
    }
    let mut report = DetachReport::default();
    let mut months: Vec<Partition> = list(conn)?.into_iter().filter(|p| p.month.is_some_and(|m| m < before)).collect();
    // Oldest first: the archive's anchors of a chain only move forward.
    months.sort_by_key(|p| (p.month, p.table.clone()));
    for p in months {
        if p.table == "deliveries" {
            let unsent = db::unsent_deliveries(conn, &p.name)?;
            if unsent > 0 {
                report.kept.push((p.name.clone(), format!("{unsent} deliveries still to send")));
                continue;
            }
        }
        let rows = crate::db::backend::immediate_transaction(conn, |c| -> AppResult<i64> {
            let rows = db::count(c, &p.name)?;
            if p.table == "audit_events" {
                for (shard, seq, hash, events) in db::chain_ends(c, &p.name)? {
                    diesel::insert_into(audit_archives::table)
                        .values((
                            audit_archives::partition_name.eq(&p.name),
                            audit_archives::shard.eq(shard),
                            audit_archives::seq.eq(seq),
                            audit_archives::hash.eq(&hash),
                            audit_archives::events.eq(events),
                            audit_archives::detached_at.eq(now),
                        ))
                        .execute(c)?;
                }
            }
            db::detach(c, &p.table, &p.name)?;
            Ok(rows)
        })?;
        report.detached.push(Detached { table: p.table, name: p.name, rows });
    }
    Ok(Ok(report))
}

/// Where each chain's stored events start after archived months: shard → (seq, hash) of the last
/// archived event (the highest of all detached months).
pub fn archive_anchors(conn: &mut DbConn) -> AppResult<std::collections::BTreeMap<i32, (i64, String)>> {
    let rows: Vec<(i32, i64, String)> = audit_archives::table
        .order((audit_archives::shard.asc(), audit_archives::seq.asc()))
        .select((audit_archives::shard, audit_archives::seq, audit_archives::hash))
        .load(conn)?;
    // Ordered by seq: the last one of each chain wins.
    Ok(rows.into_iter().map(|(s, q, h)| (s, (q, h))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_across_years_both_ways() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 17).unwrap();
        assert_eq!(month_start(d, 0), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(month_start(d, 1), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(month_start(d, -12), NaiveDate::from_ymd_opt(2025, 12, 1).unwrap());
        assert_eq!(month_start(d, -13), NaiveDate::from_ymd_opt(2025, 11, 1).unwrap());
        assert_eq!(month_start(NaiveDate::from_ymd_opt(2027, 1, 31).unwrap(), -1), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    }

    #[test]
    fn a_partitions_month_is_read_from_its_name() {
        assert_eq!(month_of("audit_events", "audit_events_y2026m02"), NaiveDate::from_ymd_opt(2026, 2, 1));
        assert_eq!(month_of("audit_events", "audit_events_default"), None);
        assert_eq!(month_of("sla_fires", "audit_events_y2026m02"), None);
        assert_eq!(month_of("deliveries", "deliveries_y2026m13"), None);
    }
}
