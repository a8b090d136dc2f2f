//! The task catalogue (任务目录): request categories with their default department and the
//! urgency levels they allow. City-wide; everyone logged in reads it, a root admin manages it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::CategoryRow;
use crate::db::schema::categories;
use crate::db::DbConn;
use crate::domain::org::{validate_code, validate_name};
use crate::domain::{Actor, CategoryId, Operation, OrgKind, OrgUnitId};

use super::org::find_unit;
use super::{check_version, parse_id, AppError, AppResult};

pub use crate::domain::workflow::Urgency;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryView {
    pub id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub default_department_id: Option<String>,
    pub urgencies: Vec<Urgency>,
    pub active: bool,
    pub version: i64,
}

impl From<CategoryRow> for CategoryView {
    fn from(r: CategoryRow) -> Self {
        CategoryView {
            urgencies: r
                .urgencies
                .split(',')
                .filter_map(|u| match u {
                    "normal" => Some(Urgency::Normal),
                    "urgent" => Some(Urgency::Urgent),
                    _ => None,
                })
                .collect(),
            id: r.id.to_string(),
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            default_department_id: r.default_department_id.map(|d| d.to_string()),
            active: r.active,
            version: r.version,
        }
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name_zh: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name_en: String,
    #[schema(format = Uuid)]
    pub default_department_id: Option<String>,
    #[schema(min_items = 1)]
    pub urgencies: Vec<Urgency>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub name_zh: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name_en: Option<String>,
    /// An empty string clears the default department.
    pub default_department_id: Option<String>,
    #[schema(min_items = 1)]
    pub urgencies: Option<Vec<Urgency>>,
    pub active: Option<bool>,
}

fn encode_urgencies(u: &[Urgency]) -> AppResult<String> {
    if u.is_empty() {
        return Err(AppError::validation("urgencies", crate::msg!("rule-urgencies")));
    }
    let mut v: Vec<&str> = u.iter().map(|u| u.as_str()).collect();
    v.sort();
    v.dedup();
    Ok(v.join(","))
}

/// Only an admin bound to a root unit (the whole city) may change the city-wide catalogue.
fn ensure_catalogue_admin(actor: &Actor) -> AppResult<()> {
    if actor.grants_for(Operation::CatalogueManage).any(|g| g.org_path.depth() == 0) {
        Ok(())
    } else {
        Err(AppError::forbidden(crate::msg!("why-catalogue_city_wide")))
    }
}

fn department(conn: &mut DbConn, id: &str) -> AppResult<OrgUnitId> {
    let id: OrgUnitId = parse_id("default_department_id", id)?;
    match find_unit(conn, &id)? {
        Some(u) if u.kind == OrgKind::Department && u.active => Ok(u.id),
        _ => Err(AppError::unknown("default_department_id", crate::msg!("why-no_active_department"))),
    }
}

/// Inserts a category. No permission check: callers decide.
pub fn insert_category(conn: &mut DbConn, input: &NewCategory, now: NaiveDateTime) -> AppResult<CategoryRow> {
    let code = input.code.trim().to_string();
    validate_code(&code).map_err(|e| AppError::validation("code", e))?;
    let row = CategoryRow {
        id: CategoryId::new(),
        name_zh: validate_name(&input.name_zh).map_err(|e| AppError::validation("name_zh", e))?,
        name_en: validate_name(&input.name_en).map_err(|e| AppError::validation("name_en", e))?,
        default_department_id: input.default_department_id.as_deref().map(|d| department(conn, d)).transpose()?,
        urgencies: encode_urgencies(&input.urgencies)?,
        code,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let taken = categories::table.filter(categories::code.eq(&row.code)).count().get_result::<i64>(conn)?;
    if taken > 0 {
        return Err(AppError::conflict("code_taken", crate::msg!("why-category_code_taken", code = &row.code)));
    }
    diesel::insert_into(categories::table).values(&row).execute(conn)?;
    Ok(row)
}

pub fn create_category(conn: &mut DbConn, actor: &Actor, input: NewCategory, now: NaiveDateTime) -> AppResult<CategoryView> {
    ensure_catalogue_admin(actor)?;
    conn.transaction(|conn| insert_category(conn, &input, now).map(Into::into))
}

pub fn list_categories(conn: &mut DbConn, include_inactive: bool) -> AppResult<Vec<CategoryView>> {
    let mut q = categories::table.into_boxed();
    if !include_inactive {
        q = q.filter(categories::active.eq(true));
    }
    let rows: Vec<CategoryRow> = q.order(categories::code).select(CategoryRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub fn get_category(conn: &mut DbConn, id: &CategoryId) -> AppResult<CategoryView> {
    categories::table
        .find(id)
        .select(CategoryRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into)
        .ok_or(AppError::NotFound { what: "category" })
}

pub fn update_category(
    conn: &mut DbConn,
    actor: &Actor,
    id: &CategoryId,
    version: Option<i64>,
    c: CategoryChanges,
    now: NaiveDateTime,
) -> AppResult<CategoryView> {
    conn.transaction(|conn| {
        let mut row: CategoryRow = categories::table
            .find(id)
            .select(CategoryRow::as_select())
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound { what: "category" })?;
        ensure_catalogue_admin(actor)?;
        check_version(version, row.version)?;
        if let Some(n) = c.name_zh {
            row.name_zh = validate_name(&n).map_err(|e| AppError::validation("name_zh", e))?;
        }
        if let Some(n) = c.name_en {
            row.name_en = validate_name(&n).map_err(|e| AppError::validation("name_en", e))?;
        }
        if let Some(d) = c.default_department_id {
            row.default_department_id = if d.is_empty() { None } else { Some(department(conn, &d)?) };
        }
        if let Some(u) = c.urgencies {
            row.urgencies = encode_urgencies(&u)?;
        }
        if let Some(a) = c.active {
            row.active = a;
        }
        let n = diesel::update(categories::table.find(&row.id).filter(categories::version.eq(row.version)))
            .set((
                categories::name_zh.eq(&row.name_zh),
                categories::name_en.eq(&row.name_en),
                categories::default_department_id.eq(&row.default_department_id),
                categories::urgencies.eq(&row.urgencies),
                categories::active.eq(row.active),
                categories::version.eq(row.version + 1),
                categories::updated_at.eq(now),
            ))
            .execute(conn)?;
        if n == 0 {
            let current = categories::table.find(&row.id).select(categories::version).first(conn)?;
            return Err(AppError::VersionConflict { given: row.version, current });
        }
        row.version += 1;
        Ok(row.into())
    })
}

/// The active categories with the ones this person filed most among his last 200 requests first
/// (then by code): the filing form's choice starts with what he usually needs. Bounded by the
/// `tickets_by_filer` index, however many he filed over the years.
pub fn categories_for_filer(conn: &mut DbConn, person_id: crate::domain::PersonId) -> AppResult<Vec<CategoryView>> {
    use crate::db::schema::tickets;
    let recent: Vec<String> = tickets::table
        .filter(tickets::filed_by.eq(person_id))
        .order(tickets::created_at.desc())
        .limit(200)
        .select(tickets::category_id)
        .load(conn)?;
    let mut counts: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for c in recent {
        *counts.entry(c).or_default() += 1;
    }
    let mut all = list_categories(conn, false)?;
    all.sort_by(|a, b| counts.get(&b.id).unwrap_or(&0).cmp(counts.get(&a.id).unwrap_or(&0)).then_with(|| a.code.cmp(&b.code)));
    Ok(all)
}
