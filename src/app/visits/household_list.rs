use crate::app::audit::{self, ActedBy, Draft};
use crate::app::org::find_unit;
use crate::app::scope::{enforce, paths_in};
use crate::app::{check_version, parse_id, AppError, AppResult};
use crate::db::models::{HouseholdRow, OrgUnitRow};
use crate::db::schema::{households, org_units};
use crate::db::DbConn;
use crate::domain::visits::{HouseholdKind, VisitRules};
use crate::domain::{Actor, HouseholdId, Operation, Role};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

use super::*;

// ---------------------------------------------------------------- households

/// A household with its visit status.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HouseholdView {
    pub id: String,
    pub building_id: String,
    pub building_name: String,
    pub unit_no: String,
    pub room: String,
    pub kind: HouseholdKind,
    /// Days between visits for this kind (`visits.frequency_days`).
    pub visit_every_days: i64,
    pub last_visited_on: Option<NaiveDate>,
    /// The day the next visit is due by.
    pub next_visit_due: NaiveDate,
    /// Days past the due day (0 when not overdue).
    pub overdue_days: i64,
    pub residents: i64,
    pub version: i64,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HouseholdFilter {
    /// Only households in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    pub kind: Option<HouseholdKind>,
    /// Only households overdue for a visit (true) or not (false).
    pub overdue: Option<bool>,
    /// Cursor: ids after this one.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdChange {
    pub kind: HouseholdKind,
}

type HouseholdBool = Box<
    dyn BoxableExpression<
        diesel::helper_types::InnerJoinQuerySource<households::table, org_units::table>,
        crate::app::scope::Db,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// Households whose next visit was due before `today`, per kind: the last visit (or, never
/// visited, the registration) lies before `today - interval`.
fn overdue_expr(rules: &VisitRules, today: NaiveDate) -> HouseholdBool {
    let mut out: Option<HouseholdBool> = None;
    for kind in HouseholdKind::ALL {
        let threshold = today - chrono::Duration::days(rules.every(kind));
        let registered_before = rules.utc_of(threshold, chrono::NaiveTime::MIN);
        let term: HouseholdBool = Box::new(
            households::kind.eq(kind.as_str()).and(
                households::last_visited_on
                    .is_not_null()
                    .and(households::last_visited_on.assume_not_null().lt(threshold))
                    .or(households::last_visited_on.is_null().and(households::created_at.lt(registered_before))),
            ),
        );
        out = Some(match out {
            None => term,
            Some(acc) => Box::new(acc.or(term)),
        });
    }
    out.expect("at least one kind")
}

fn household_view(rules: &VisitRules, h: HouseholdRow, building_name: String, residents: i64, today: NaiveDate) -> HouseholdView {
    let kind = h.kind;
    let due = rules.next_due(kind, h.last_visited_on, rules.local_date(h.created_at));
    HouseholdView {
        visit_every_days: rules.every(kind),
        next_visit_due: due,
        overdue_days: (today - due).num_days().max(0),
        id: h.id.to_string(),
        building_id: h.building_id.to_string(),
        building_name,
        unit_no: h.unit_no,
        room: h.room,
        kind,
        last_visited_on: h.last_visited_on,
        residents,
        version: h.version,
    }
}

fn resident_counts(conn: &mut DbConn, ids: &[HouseholdId]) -> AppResult<HashMap<HouseholdId, i64>> {
    use crate::db::schema::residents;
    let rows: Vec<(Option<HouseholdId>, i64)> = residents::table
        .filter(residents::household_id.eq_any(ids))
        .filter(residents::active.eq(true))
        .group_by(residents::household_id)
        .select((residents::household_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(h, n)| h.map(|h| (h, n))).collect())
}

/// Households in the caller's scope with their visit status.
pub fn list_households(
    conn: &mut DbConn,
    rules: &VisitRules,
    actor: &Actor,
    f: HouseholdFilter,
    now: NaiveDateTime,
) -> AppResult<Vec<HouseholdView>> {
    let limit = crate::app::page_limit(f.limit, 100, 500)?;
    let today = rules.local_date(now);
    let mut q = households::table
        .inner_join(org_units::table)
        .filter(paths_in(actor.scope_roots(Operation::ResidentRead)))
        .filter(households::active.eq(true))
        .into_boxed();
    if let Some(within) = &f.within {
        let within: crate::domain::OrgUnitId = parse_id("within", within)?;
        match find_unit(conn, &within)? {
            Some(u) => {
                let p = u.path;
                q = q.filter(org_units::path.ge(p.as_str().to_string())).filter(org_units::path.lt(p.subtree_upper_bound()));
            }
            None => return Ok(vec![]),
        }
    }
    if let Some(kind) = f.kind {
        q = q.filter(households::kind.eq(kind.as_str()));
    }
    match f.overdue {
        Some(true) => q = q.filter(overdue_expr(rules, today)),
        Some(false) => q = q.filter(diesel::dsl::not(overdue_expr(rules, today))),
        None => {}
    }
    if let Some(after) = &f.after {
        q = q.filter(households::id.gt(after.clone()));
    }
    let rows: Vec<(HouseholdRow, String)> =
        q.order(households::id).limit(limit).select((HouseholdRow::as_select(), org_units::name)).load(conn)?;
    let ids: Vec<HouseholdId> = rows.iter().map(|(h, _)| h.id).collect();
    let counts = resident_counts(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(h, name)| {
            let n = counts.get(&h.id).copied().unwrap_or(0);
            household_view(rules, h, name, n, today)
        })
        .collect())
}

fn household_visible(conn: &mut DbConn, actor: &Actor, id: &HouseholdId, op: Operation) -> AppResult<(HouseholdRow, OrgUnitRow)> {
    let (h, b): (HouseholdRow, OrgUnitRow) = households::table
        .inner_join(org_units::table)
        .filter(households::id.eq(id))
        .filter(households::active.eq(true))
        .select((HouseholdRow::as_select(), OrgUnitRow::as_select()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "household" })?;
    enforce(actor.decide(op, &b.path), "household", op)?;
    Ok((h, b))
}

pub fn get_household(
    conn: &mut DbConn,
    rules: &VisitRules,
    actor: &Actor,
    id: &HouseholdId,
    now: NaiveDateTime,
) -> AppResult<HouseholdView> {
    let (h, b) = household_visible(conn, actor, id, Operation::ResidentRead)?;
    let counts = resident_counts(conn, std::slice::from_ref(&h.id))?;
    let n = counts.get(&h.id).copied().unwrap_or(0);
    Ok(household_view(rules, h, b.name, n, rules.local_date(now)))
}

/// Sets a household's kind (and so how often it must be visited).
pub fn change_household(
    conn: &mut DbConn,
    rules: &VisitRules,
    actor: &Actor,
    id: &HouseholdId,
    version: Option<i64>,
    input: HouseholdChange,
    now: NaiveDateTime,
) -> AppResult<HouseholdView> {
    conn.transaction(|conn| {
        let (h, b) = household_visible(conn, actor, id, Operation::ResidentManage)?;
        check_version(version, h.version)?;
        let n = diesel::update(households::table.find(&h.id))
            .filter(households::version.eq(h.version))
            .set((households::kind.eq(input.kind.as_str()), households::version.eq(h.version + 1), households::updated_at.eq(now)))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: h.version, current: h.version + 1 });
        }
        // The change is in the audit trail: who, in which role, old kind → new kind.
        let path = b.path.clone();
        let grant = actor.grants_for(Operation::ResidentManage).filter(|g| g.org_path.contains(&path)).max_by_key(|g| g.org_path.depth());
        let by = ActedBy::person(actor.person_id, grant);
        audit::append(
            conn,
            Draft {
                entity_kind: "household",
                entity_id: &h.id.to_string(),
                by: &by,
                action: "change_kind",
                from_state: None,
                to_state: None,
                reason: None,
                changes: json!({"kind": [h.kind, input.kind.as_str()]}),
            },
            now,
        )?;
        let h = households::table.find(&h.id).select(HouseholdRow::as_select()).first(conn)?;
        let counts = resident_counts(conn, std::slice::from_ref(&h.id))?;
        let n = counts.get(&h.id).copied().unwrap_or(0);
        Ok(household_view(rules, h, b.name, n, rules.local_date(now)))
    })
}

/// One of the worker's grids on his visit list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GridVisitList {
    pub grid_id: String,
    pub grid_name: String,
    pub date: NaiveDate,
    /// Today's log, once filed.
    pub todays_log_id: Option<String>,
    /// When today's log is due (UTC).
    #[serde(with = "crate::app::rfc3339")]
    pub log_due_at: NaiveDateTime,
    pub log_expected_today: bool,
    /// Households overdue or due today, the most overdue first.
    pub households_due: Vec<HouseholdView>,
}

/// 我的走访清单: for each of the caller's own grids, whether today's log is filed and the households
/// that are due or overdue for a visit.
pub fn my_visit_list(conn: &mut DbConn, ctx: VisitContext<'_>, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<GridVisitList>> {
    let rules = ctx.rules;
    let today = rules.local_date(now);
    let mut out = vec![];
    for g in actor.grants.iter().filter(|g| g.role == Role::GridWorker) {
        let grid_id = g.org_unit_id.to_string();
        let grid_name: String = org_units::table.find(&grid_id).select(org_units::name).first(conn)?;
        let todays_log_id = log_of_day(conn, actor.person_id, g.org_unit_id, today)?.map(|l| l.to_string());
        // Due today counts too: the threshold is tomorrow.
        let rows: Vec<(HouseholdRow, String)> = households::table
            .inner_join(org_units::table)
            .filter(org_units::path.ge(g.org_path.as_str().to_string()))
            .filter(org_units::path.lt(g.org_path.subtree_upper_bound()))
            .filter(households::active.eq(true))
            .filter(overdue_expr(rules, today + chrono::Duration::days(1)))
            .select((HouseholdRow::as_select(), org_units::name))
            .load(conn)?;
        let ids: Vec<HouseholdId> = rows.iter().map(|(h, _)| h.id).collect();
        let counts = resident_counts(conn, &ids)?;
        let mut due: Vec<HouseholdView> = rows
            .into_iter()
            .map(|(h, name)| {
                let n = counts.get(&h.id).copied().unwrap_or(0);
                household_view(rules, h, name, n, today)
            })
            .collect();
        due.sort_by(|a, b| a.next_visit_due.cmp(&b.next_visit_due).then(a.id.cmp(&b.id)));
        out.push(GridVisitList {
            grid_id,
            grid_name,
            date: today,
            todays_log_id,
            log_due_at: rules.deadline_of(today),
            log_expected_today: ctx.log_expected(today)?,
            households_due: due,
        });
    }
    Ok(out)
}
