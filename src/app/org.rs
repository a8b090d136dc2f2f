//! The org tree (组织架构): create, rename, deactivate and list units within the actor's scope.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::OrgUnitRow;
use crate::db::schema::org_units;
use crate::db::DbConn;
use crate::domain::org::{validate_code, validate_name};
use crate::domain::{Actor, Operation, OrgKind, OrgPath, OrgUnitId};

use super::scope::{enforce, units_in_scope};
use super::{check_version, parse_id, AppError, AppResult};

/// An org unit as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OrgUnitView {
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: OrgKind,
    pub code: String,
    pub name: String,
    pub depth: i32,
    pub active: bool,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub updated_at: NaiveDateTime,
    /// Where it is (a compound's gate, WGS-84): requests from outside whose address names no
    /// compound land at the nearest one within 500 m.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl From<OrgUnitRow> for OrgUnitView {
    fn from(r: OrgUnitRow) -> Self {
        OrgUnitView {
            kind: r.kind,
            id: r.id.to_string(),
            parent_id: r.parent_id.map(|p| p.to_string()),
            code: r.code,
            name: r.name,
            depth: r.depth,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            latitude: r.latitude,
            longitude: r.longitude,
        }
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgUnit {
    /// The parent unit; omitted only for a root (which only the CLI or demo loader may create).
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    pub kind: OrgKind,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgUnitChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub code: Option<String>,
    /// false deactivates the unit (it is never deleted); true reactivates it.
    pub active: Option<bool>,
    /// Where the unit is (WGS-84), given with `longitude`: a compound's gate.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgUnitFilter {
    /// Only units of this kind.
    pub kind: Option<OrgKind>,
    /// Only the direct children of this unit.
    #[param(format = Uuid)]
    pub parent_id: Option<String>,
    /// Only units in this unit's subtree (itself included).
    #[param(format = Uuid)]
    pub within: Option<String>,
    /// Text to find in the name or code.
    pub q: Option<String>,
    /// Include deactivated units (default false).
    pub include_inactive: Option<bool>,
    /// Return units whose code sorts after this one (cursor).
    pub after: Option<String>,
    /// Page size, 1–500 (default 200).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

pub fn find_unit(conn: &mut DbConn, id: &OrgUnitId) -> AppResult<Option<OrgUnitRow>> {
    Ok(org_units::table.find(id).select(OrgUnitRow::as_select()).first(conn).optional()?)
}

pub fn find_unit_by_code(conn: &mut DbConn, code: &str) -> AppResult<Option<OrgUnitRow>> {
    Ok(org_units::table.filter(org_units::code.eq(code)).select(OrgUnitRow::as_select()).first(conn).optional()?)
}

/// Inserts a unit under `parent` (or as a root) after checking the shape of the tree.
/// No scope check: callers decide who may do this.
pub fn insert_unit(
    conn: &mut DbConn,
    parent: Option<&OrgUnitRow>,
    kind: OrgKind,
    code: &str,
    name: &str,
    now: NaiveDateTime,
) -> AppResult<OrgUnitRow> {
    validate_code(code).map_err(|e| AppError::validation("code", e))?;
    let name = validate_name(name).map_err(|e| AppError::validation("name", e))?;
    let parent_kind = parent.map(|p| p.kind);
    if !kind.may_hang_under(parent_kind) {
        use crate::domain::text::Arg;
        let allowed = Arg::keys(kind.allowed_parents().iter().map(|p| p.map(|k| k.label_key()).unwrap_or("why-as_root")));
        let parent = Arg::Key(parent_kind.map(|k| k.label_key()).unwrap_or("why-as_root"));
        return Err(AppError::validation(
            "parent_id",
            crate::msg!("why-cannot_hang_under", kind = Arg::Key(kind.label_key()), parent = parent).with("allowed", allowed),
        ));
    }
    if let Some(p) = parent {
        if !p.active {
            return Err(AppError::validation("parent_id", crate::msg!("why-parent_inactive")));
        }
    }
    if find_unit_by_code(conn, code)?.is_some() {
        return Err(AppError::conflict("code_taken", crate::msg!("why-org_code_taken", code = code)));
    }
    let id = OrgUnitId::new();
    let path = match parent {
        Some(p) => p.path.clone().child(id),
        None => OrgPath::root(id),
    };
    let row = OrgUnitRow {
        id,
        parent_id: parent.map(|p| p.id),
        kind,
        code: code.into(),
        name,
        depth: path.depth() as i32,
        path: path.clone(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
        latitude: None,
        longitude: None,
    };
    diesel::insert_into(org_units::table).values(&row).execute(conn)?;
    Ok(row)
}

/// 新建组织单元: an admin adds a unit under a parent within his scope.
pub fn create_unit(conn: &mut DbConn, actor: &Actor, input: NewOrgUnit, now: NaiveDateTime) -> AppResult<OrgUnitView> {
    conn.transaction(|conn| {
        let Some(parent_id) = input.parent_id.as_deref() else {
            return Err(AppError::validation("parent_id", crate::msg!("why-parent_required")));
        };
        let parent_id: OrgUnitId = parse_id("parent_id", parent_id)?;
        let parent = find_unit(conn, &parent_id)?.filter(|p| actor.may(Operation::OrgUnitRead, &p.path));
        let Some(parent) = parent else {
            return Err(AppError::unknown("parent_id", crate::msg!("why-no_unit_in_scope")));
        };
        enforce(actor.decide(Operation::OrgUnitManage, &parent.path), "org unit", Operation::OrgUnitManage)?;
        insert_unit(conn, Some(&parent), input.kind, input.code.trim(), &input.name, now).map(Into::into)
    })
}

/// Loads a unit the actor may see with `op`, or reports it missing.
fn unit_for(conn: &mut DbConn, actor: &Actor, id: &OrgUnitId, op: Operation) -> AppResult<OrgUnitRow> {
    let row = find_unit(conn, id)?.ok_or(AppError::NotFound { what: "org unit" })?;
    enforce(actor.decide(op, &row.path), "org unit", op)?;
    Ok(row)
}

pub fn get_unit(conn: &mut DbConn, actor: &Actor, id: &OrgUnitId) -> AppResult<OrgUnitView> {
    unit_for(conn, actor, id, Operation::OrgUnitRead).map(Into::into)
}

/// 修改组织单元: rename, recode, deactivate or reactivate; guarded by the version.
pub fn update_unit(
    conn: &mut DbConn,
    actor: &Actor,
    id: &OrgUnitId,
    version: Option<i64>,
    changes: OrgUnitChanges,
    now: NaiveDateTime,
) -> AppResult<OrgUnitView> {
    conn.transaction(|conn| {
        let mut row = unit_for(conn, actor, id, Operation::OrgUnitManage)?;
        check_version(version, row.version)?;
        if let Some(name) = changes.name {
            row.name = validate_name(&name).map_err(|e| AppError::validation("name", e))?;
        }
        if let Some(code) = changes.code {
            let code = code.trim().to_string();
            validate_code(&code).map_err(|e| AppError::validation("code", e))?;
            if code != row.code && find_unit_by_code(conn, &code)?.is_some() {
                return Err(AppError::conflict("code_taken", crate::msg!("why-org_code_taken", code = &code)));
            }
            row.code = code;
        }
        match (changes.latitude, changes.longitude) {
            (None, None) => {}
            (Some(lat), Some(lon)) => {
                for (field, v, lim) in [("latitude", lat, 90.0), ("longitude", lon, 180.0)] {
                    if !v.is_finite() || v.abs() > lim {
                        return Err(AppError::validation(
                            field,
                            crate::msg!("rule-between", min = format!("-{lim}"), max = lim.to_string()),
                        ));
                    }
                }
                (row.latitude, row.longitude) = (Some(lat), Some(lon));
            }
            (Some(_), None) => return Err(AppError::validation("longitude", crate::msg!("why-both_coordinates"))),
            (None, Some(_)) => return Err(AppError::validation("latitude", crate::msg!("why-both_coordinates"))),
        }
        if let Some(active) = changes.active {
            if !active && actor.grants.iter().any(|g| g.org_unit_id == row.id && g.role == crate::domain::Role::Admin) {
                return Err(AppError::validation("active", crate::msg!("why-own_admin_unit")));
            }
            if active && !row.active {
                if let Some(parent) = row.parent_id.map(|p| find_unit(conn, &p)).transpose()?.flatten() {
                    if !parent.active {
                        return Err(AppError::validation("active", crate::msg!("why-reactivate_parent_first")));
                    }
                }
            }
            row.active = active;
        }
        let updated = diesel::update(org_units::table.find(&row.id).filter(org_units::version.eq(row.version)))
            .set((
                org_units::name.eq(&row.name),
                org_units::code.eq(&row.code),
                org_units::active.eq(row.active),
                org_units::latitude.eq(row.latitude),
                org_units::longitude.eq(row.longitude),
                org_units::version.eq(row.version + 1),
                org_units::updated_at.eq(now),
            ))
            .execute(conn)?;
        if updated == 0 {
            let current = org_units::table.find(&row.id).select(org_units::version).first(conn)?;
            return Err(AppError::VersionConflict { given: row.version, current });
        }
        if !row.active {
            // Deactivation reaches the whole subtree: nothing below a closed unit stays open.
            let path = row.path.clone();
            diesel::update(
                org_units::table
                    .filter(org_units::path.gt(path.as_str().to_string()))
                    .filter(org_units::path.lt(path.subtree_upper_bound()))
                    .filter(org_units::active.eq(true)),
            )
            .set((org_units::active.eq(false), org_units::version.eq(org_units::version + 1), org_units::updated_at.eq(now)))
            .execute(conn)?;
        }
        row.version += 1;
        row.updated_at = now;
        Ok(row.into())
    })
}

/// What deactivating a unit would close with it: its active units below, and the active role
/// memberships held at it or below (shown before the admin confirms).
pub fn deactivation_preview(conn: &mut DbConn, actor: &Actor, id: &OrgUnitId) -> AppResult<(i64, i64)> {
    use crate::db::schema::memberships;
    let row = unit_for(conn, actor, id, Operation::OrgUnitManage)?;
    let path = row.path.clone();
    let below = || org_units::path.gt(path.as_str().to_string()).and(org_units::path.lt(path.subtree_upper_bound()));
    let units: i64 = org_units::table.filter(below()).filter(org_units::active.eq(true)).count().get_result(conn)?;
    let within = org_units::path.ge(path.as_str().to_string()).and(org_units::path.lt(path.subtree_upper_bound()));
    let people: i64 =
        memberships::table.inner_join(org_units::table).filter(within).filter(memberships::active.eq(true)).count().get_result(conn)?;
    Ok((units, people))
}

/// The units the actor may see, filtered, in code order, one page at a time.
pub fn list_units(conn: &mut DbConn, actor: &Actor, f: OrgUnitFilter) -> AppResult<Vec<OrgUnitView>> {
    let limit = super::page_limit(f.limit, 200, 500)?;
    let mut q = org_units::table.filter(units_in_scope(actor, Operation::OrgUnitRead)).into_boxed();
    if let Some(kind) = f.kind {
        q = q.filter(org_units::kind.eq(kind.as_str()));
    }
    if let Some(parent) = f.parent_id {
        let parent: OrgUnitId = parse_id("parent_id", &parent)?;
        q = q.filter(org_units::parent_id.eq(parent));
    }
    if let Some(within) = f.within {
        let within: OrgUnitId = parse_id("within", &within)?;
        // An unknown or out-of-scope unit simply yields nothing.
        let path = find_unit(conn, &within)?.map(|u| u.path);
        match path {
            Some(p) => q = q.filter(org_units::path.ge(p.as_str().to_string())).filter(org_units::path.lt(p.subtree_upper_bound())),
            None => return Ok(vec![]),
        }
    }
    if let Some(text) = f.q.filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(text.trim()));
        q = q.filter(org_units::name.like(pattern.clone()).escape('\\').or(org_units::code.like(pattern).escape('\\')));
    }
    if !f.include_inactive.unwrap_or(false) {
        q = q.filter(org_units::active.eq(true));
    }
    if let Some(after) = f.after {
        q = q.filter(org_units::code.gt(after));
    }
    let rows: Vec<OrgUnitRow> = q.order(org_units::code.asc()).limit(limit).select(OrgUnitRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `\` as the escape character.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The names of org units by id (the org tree is not secret inside the service).
pub fn names_of(conn: &mut DbConn, ids: &[String]) -> AppResult<std::collections::HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(org_units::table
        .filter(org_units::id.eq_any(ids))
        .select((org_units::id, org_units::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}
