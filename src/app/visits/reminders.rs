use crate::app::{stored_id, AppResult};
use crate::db::schema::{memberships, notifications, org_units, people, visit_logs};
use crate::db::DbConn;
use crate::domain::{OrgKind, OrgPath, Role};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;

use super::*;

// ---------------------------------------------------------------- reminders

/// A grid worker's grid, as the board and the reminders see it.
#[derive(Clone, Debug)]
pub struct WorkerGrid {
    pub person_id: String,
    pub name: String,
    pub grid_id: String,
    pub grid_name: String,
    /// The compound the grid is, or lies in.
    pub compound_id: String,
    pub since: NaiveDateTime,
}

/// The active grid workers of grids under `root` (every grid when `None`).
pub fn worker_grids(conn: &mut DbConn, root: Option<&OrgPath>) -> AppResult<Vec<WorkerGrid>> {
    let mut q = memberships::table
        .inner_join(people::table)
        .inner_join(org_units::table)
        .filter(memberships::role.eq(Role::GridWorker.as_str()))
        .filter(memberships::active.eq(true))
        .filter(people::active.eq(true))
        .filter(org_units::active.eq(true))
        .into_boxed();
    if let Some(r) = root {
        q = q.filter(org_units::path.ge(r.as_str().to_string())).filter(org_units::path.lt(r.subtree_upper_bound()));
    }
    type Row = (String, String, String, String, String, Option<String>, NaiveDateTime);
    let rows: Vec<Row> = q
        .order((people::display_name, people::id, org_units::name))
        .select((
            people::id,
            people::display_name,
            org_units::id,
            org_units::name,
            org_units::kind,
            org_units::parent_id,
            memberships::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(person_id, name, grid_id, grid_name, kind, parent, since)| WorkerGrid {
            compound_id: if kind == OrgKind::Compound.as_str() { grid_id.clone() } else { parent.unwrap_or_default() },
            person_id,
            name,
            grid_id,
            grid_name,
            since,
        })
        .collect())
}

/// The dedupe key of the reminder for one worker, grid and day.
pub fn reminder_key(person_id: &str, grid_id: &str, date: NaiveDate) -> String {
    format!("visit_log_missing:{person_id}:{grid_id}:{date}")
}

/// After the day's deadline, writes one notification record (`visit_log_missing`) for every grid
/// worker who has not filed the day's log for one of his grids. Exactly once per worker, grid and
/// day, however often it runs and however many schedulers run it. Returns how many were written.
pub fn remind_missing_logs(conn: &mut DbConn, ctx: VisitContext<'_>, now: NaiveDateTime) -> AppResult<usize> {
    let rules = ctx.rules;
    let today = rules.local_date(now);
    if now <= rules.deadline_of(today) || !ctx.log_expected(today)? {
        return Ok(0);
    }
    let filed: BTreeSet<(String, String)> = visit_logs::table
        .filter(visit_logs::visit_date.eq(today))
        .select((visit_logs::author_id, visit_logs::grid_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let reminded: BTreeSet<String> = notifications::table
        .filter(notifications::kind.eq("visit_log_missing"))
        .filter(notifications::created_at.ge(rules.utc_of(today, chrono::NaiveTime::MIN)))
        .filter(notifications::dedupe_key.is_not_null())
        .select(notifications::dedupe_key)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let mut written = 0;
    for w in worker_grids(conn, None)? {
        if filed.contains(&(w.person_id.clone(), w.grid_id.clone())) || rules.local_date(w.since) > today {
            continue;
        }
        let key = reminder_key(&w.person_id, &w.grid_id, today);
        if reminded.contains(&key) {
            continue;
        }
        let once = crate::app::notifications::Once {
            unit_id: stored_id(&w.grid_id)?,
            person_id: Some(stored_id(&w.person_id)?),
            ticket_id: None,
            kind: crate::domain::notify::NoticeKind::VisitLogMissing,
            roles: None,
            urgent: false,
            payload: json!({"date": today, "grid_id": w.grid_id, "deadline": rules.deadline.format("%H:%M").to_string()}),
            dedupe_key: &key,
        };
        // Another scheduler may have written it first.
        if crate::app::notifications::record_once(conn, once, now)? {
            written += 1;
        }
    }
    Ok(written)
}
