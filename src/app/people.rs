//! People and their role memberships (任职): who may log in, and which role at which unit.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::AuthSettings;
use crate::db::models::{MembershipRow, OrgUnitRow, PersonRow};
use crate::db::schema::{memberships, org_units, people, sessions};
use crate::db::DbConn;
use crate::domain::org::validate_name;
use crate::domain::pii::validate_mobile;
use crate::domain::roles::Decision;
use crate::domain::{Actor, Grant, MembershipId, Operation, OrgKind, OrgPath, OrgUnitId, PersonId, Role};

use super::org::{escape_like, find_unit};
use super::passwords::{hash_password, validate_password};
use super::scope::{enforce, units_in_scope};
use super::{check_version, parse_id, AppError, AppResult};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub id: String,
    pub role: Role,
    pub org_unit_id: String,
    pub org_unit_code: String,
    pub org_unit_name: String,
    pub org_unit_kind: OrgKind,
    pub active: bool,
}

/// A person as the API shows him. The password hash never leaves the database.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub locale: String,
    pub active: bool,
    pub version: i64,
    pub memberships: Vec<MembershipView>,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    #[schema(pattern = "^[a-z0-9._-]{2,40}$")]
    pub login: String,
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    #[schema(pattern = "^1[0-9]{10}$")]
    pub phone: Option<String>,
    #[schema(min_length = 8, max_length = 200)]
    pub password: String,
    /// The first role, bound to a unit within the admin's scope.
    pub role: Role,
    #[schema(format = Uuid)]
    pub org_unit_id: String,
    #[schema(pattern = "^(zh-CN|en)$")]
    pub locale: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// An empty string clears the phone.
    #[schema(pattern = "^(1[0-9]{10})?$")]
    pub phone: Option<String>,
    #[schema(pattern = "^(zh-CN|en)$")]
    pub locale: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembership {
    pub role: Role,
    #[schema(format = Uuid)]
    pub org_unit_id: String,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleFilter {
    /// Only people holding this role (active membership).
    pub role: Option<Role>,
    /// Text to find in the login or name.
    pub q: Option<String>,
    pub include_inactive: Option<bool>,
    /// Cursor: logins sorting after this one.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

pub const LOCALES: &[&str] = &["zh-CN", "en"];

fn validate_locale(l: &str) -> AppResult<()> {
    if LOCALES.contains(&l) {
        Ok(())
    } else {
        Err(AppError::validation("locale", crate::msg!("rule-one_of", values = LOCALES.join(", "))))
    }
}

pub fn validate_login(login: &str) -> AppResult<()> {
    let ok = (2..=40).contains(&login.len())
        && login.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-')
        && !login.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AppError::validation("login", crate::msg!("rule-login")))
    }
}

/// The active grants of a person: active memberships on active units.
pub fn load_grants(conn: &mut DbConn, person_id: &PersonId) -> AppResult<Vec<Grant>> {
    let rows: Vec<(MembershipRow, OrgUnitRow)> = memberships::table
        .inner_join(org_units::table)
        .filter(memberships::person_id.eq(person_id))
        .filter(memberships::active.eq(true))
        .filter(org_units::active.eq(true))
        .select((MembershipRow::as_select(), OrgUnitRow::as_select()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(m, u)| grant_of(m.role, u.id, u.kind, u.path)).collect())
}

/// The grant of a membership's role at its unit (the unit's id, kind and path).
pub fn grant_of(role: Role, unit_id: OrgUnitId, unit_kind: OrgKind, unit_path: OrgPath) -> Grant {
    Grant { role, org_unit_id: unit_id, org_kind: unit_kind, org_path: unit_path }
}

fn memberships_of(conn: &mut DbConn, person_ids: &[PersonId]) -> AppResult<Vec<(MembershipRow, OrgUnitRow)>> {
    Ok(memberships::table
        .inner_join(org_units::table)
        .filter(memberships::person_id.eq_any(person_ids))
        .order((memberships::person_id, memberships::created_at))
        .select((MembershipRow::as_select(), OrgUnitRow::as_select()))
        .load(conn)?)
}

fn view(p: PersonRow, ms: &[(MembershipRow, OrgUnitRow)]) -> PersonView {
    PersonView {
        memberships: ms
            .iter()
            .filter(|(m, _)| m.person_id == p.id)
            .map(|(m, u)| MembershipView {
                id: m.id.to_string(),
                role: m.role,
                org_unit_id: u.id.to_string(),
                org_unit_code: u.code.clone(),
                org_unit_name: u.name.clone(),
                org_unit_kind: u.kind,
                active: m.active,
            })
            .collect(),
        id: p.id.to_string(),
        login: p.login,
        display_name: p.display_name,
        phone: p.phone,
        locale: p.locale,
        active: p.active,
        version: p.version,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// Loads a person and decides `op` on him: visible when any membership is in the actor's scope
/// (or he is the actor), manageable only when every membership is.
fn person_for(conn: &mut DbConn, actor: &Actor, id: &PersonId, op: Operation) -> AppResult<(PersonRow, Vec<(MembershipRow, OrgUnitRow)>)> {
    let person: PersonRow =
        people::table.find(id).select(PersonRow::as_select()).first(conn).optional()?.ok_or(AppError::NotFound { what: "person" })?;
    let ms = memberships_of(conn, std::slice::from_ref(&person.id))?;
    // Where the person sits: his active memberships; for someone whose memberships have all
    // ended, the ended ones, so that the admin who ended them can still find and re-grant him.
    let active: Vec<OrgPath> = ms.iter().filter(|(m, _)| m.active).map(|(_, u)| u.path.clone()).collect();
    let places = if active.is_empty() { ms.iter().map(|(_, u)| u.path.clone()).collect() } else { active };
    let is_self = actor.person_id == person.id;
    if op == Operation::PersonRead && is_self {
        return Ok((person, ms));
    }
    // Reading needs one membership (active or ended) in scope; changing needs all active ones.
    let everywhere: Vec<OrgPath> = ms.iter().map(|(_, u)| u.path.clone()).collect();
    let mut decision = if op == Operation::PersonRead {
        if everywhere.iter().any(|p| actor.may(op, p)) {
            crate::domain::roles::Decision::Allowed
        } else {
            crate::domain::roles::Decision::Hidden
        }
    } else {
        match actor.decide_all(op, &places) {
            crate::domain::roles::Decision::Hidden if everywhere.iter().any(|p| actor.may(op.visibility(), p)) => {
                crate::domain::roles::Decision::Forbidden
            }
            d => d,
        }
    };
    if is_self && decision == crate::domain::roles::Decision::Hidden {
        decision = crate::domain::roles::Decision::Forbidden;
    }
    enforce(decision, "person", op)?;
    Ok((person, ms))
}

pub fn get_person(conn: &mut DbConn, actor: &Actor, id: &PersonId) -> AppResult<PersonView> {
    let (p, ms) = person_for(conn, actor, id, Operation::PersonRead)?;
    Ok(view(p, &ms))
}

/// Inserts a person with a first membership. No scope check: callers decide.
pub fn insert_person(
    conn: &mut DbConn,
    auth: &AuthSettings,
    input: &NewPerson,
    unit: &OrgUnitRow,
    now: NaiveDateTime,
) -> AppResult<PersonRow> {
    let login = input.login.trim().to_string();
    validate_login(&login)?;
    let display_name = validate_name(&input.display_name).map_err(|e| AppError::validation("display_name", e))?;
    if let Some(phone) = &input.phone {
        validate_mobile(phone).map_err(|e| AppError::validation("phone", e))?;
    }
    validate_password(&input.password)?;
    let locale = input.locale.clone().unwrap_or_else(|| "zh-CN".into());
    validate_locale(&locale)?;
    check_binding(input.role, unit)?;
    let taken = people::table
        .filter(people::login.eq(&login).or(people::phone.eq(input.phone.clone().unwrap_or_default())))
        .count()
        .get_result::<i64>(conn)?;
    if taken > 0 {
        return Err(AppError::Conflict { code: "login_taken", detail: crate::msg!("why-login_taken") });
    }
    let row = PersonRow {
        id: PersonId::new(),
        login,
        display_name,
        phone: input.phone.clone(),
        password_hash: hash_password(auth, &input.password)?,
        locale,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(people::table).values(&row).execute(conn)?;
    insert_membership(conn, &row.id, input.role, &unit.id, now)?;
    Ok(row)
}

fn check_binding(role: Role, unit: &OrgUnitRow) -> AppResult<()> {
    let kind: OrgKind = unit.kind;
    if !role.bindable_kinds().contains(&kind) {
        use crate::domain::text::Arg;
        return Err(AppError::validation(
            "role",
            crate::msg!("why-role_binding", role = Arg::Key(role.label_key()), kind = Arg::Key(kind.label_key()))
                .with("kinds", Arg::keys(role.bindable_kinds().iter().map(|k| k.label_key()))),
        ));
    }
    if !unit.active {
        return Err(AppError::validation("org_unit_id", crate::msg!("why-unit_inactive")));
    }
    Ok(())
}

pub fn insert_membership(
    conn: &mut DbConn,
    person_id: &PersonId,
    role: Role,
    unit_id: &OrgUnitId,
    now: NaiveDateTime,
) -> AppResult<MembershipRow> {
    let existing: Option<MembershipRow> = memberships::table
        .filter(memberships::person_id.eq(person_id))
        .filter(memberships::org_unit_id.eq(unit_id))
        .filter(memberships::role.eq(role.as_str()))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(mut m) = existing {
        // A membership is never duplicated: granting it again reactivates the old row.
        if !m.active {
            diesel::update(memberships::table.find(&m.id))
                .set((memberships::active.eq(true), memberships::updated_at.eq(now)))
                .execute(conn)?;
            m.active = true;
        }
        return Ok(m);
    }
    let row = MembershipRow {
        id: MembershipId::new(),
        person_id: *person_id,
        org_unit_id: *unit_id,
        role,
        active: true,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(memberships::table).values(&row).execute(conn)?;
    Ok(row)
}

/// The unit named in a body field, if the actor may manage people there.
fn unit_for_membership(conn: &mut DbConn, actor: &Actor, unit_id: &str) -> AppResult<OrgUnitRow> {
    let unit_id: OrgUnitId = parse_id("org_unit_id", unit_id)?;
    let unit = find_unit(conn, &unit_id)?
        .filter(|u| actor.may(Operation::OrgUnitRead, &u.path))
        .ok_or_else(|| AppError::unknown("org_unit_id", crate::msg!("why-no_unit_in_scope")))?;
    // The unit is visible to the caller (above), so a role that may not manage people there is
    // refused with 403; a 404 would deny that a unit he can see exists.
    let decision = match actor.decide(Operation::PersonManage, &unit.path) {
        Decision::Hidden => Decision::Forbidden,
        d => d,
    };
    enforce(decision, "org unit", Operation::PersonManage)?;
    Ok(unit)
}

/// 新增人员: an admin adds a person with a first role in his scope.
pub fn create_person(conn: &mut DbConn, auth: &AuthSettings, actor: &Actor, input: NewPerson, now: NaiveDateTime) -> AppResult<PersonView> {
    conn.transaction(|conn| {
        let unit = unit_for_membership(conn, actor, &input.org_unit_id)?;
        let row = insert_person(conn, auth, &input, &unit, now)?;
        let ms = memberships_of(conn, std::slice::from_ref(&row.id))?;
        Ok(view(row, &ms))
    })
}

pub fn update_person(
    conn: &mut DbConn,
    actor: &Actor,
    id: &PersonId,
    version: Option<i64>,
    changes: PersonChanges,
    now: NaiveDateTime,
) -> AppResult<PersonView> {
    conn.transaction(|conn| {
        let (mut p, _) = person_for(conn, actor, id, Operation::PersonManage)?;
        check_version(version, p.version)?;
        if let Some(name) = changes.display_name {
            p.display_name = validate_name(&name).map_err(|e| AppError::validation("display_name", e))?;
        }
        if let Some(phone) = changes.phone {
            if phone.is_empty() {
                p.phone = None;
            } else {
                validate_mobile(&phone).map_err(|e| AppError::validation("phone", e))?;
                let taken = people::table.filter(people::phone.eq(&phone)).filter(people::id.ne(&p.id)).count().get_result::<i64>(conn)?;
                if taken > 0 {
                    return Err(AppError::Conflict { code: "login_taken", detail: crate::msg!("why-phone_taken") });
                }
                p.phone = Some(phone);
            }
        }
        if let Some(locale) = changes.locale {
            validate_locale(&locale)?;
            p.locale = locale;
        }
        bump_person(conn, &p, now)?;
        diesel::update(people::table.find(&p.id))
            .set((people::display_name.eq(&p.display_name), people::phone.eq(&p.phone), people::locale.eq(&p.locale)))
            .execute(conn)?;
        let (p, ms) = person_for(conn, actor, id, Operation::PersonRead)?;
        Ok(view(p, &ms))
    })
}

/// Bumps the person's version, refusing if someone else bumped it first. Called inside the
/// transaction that then writes the change itself.
fn bump_person(conn: &mut DbConn, p: &PersonRow, now: NaiveDateTime) -> AppResult<()> {
    let n = diesel::update(people::table.find(&p.id).filter(people::version.eq(p.version)))
        .set((people::version.eq(p.version + 1), people::updated_at.eq(now)))
        .execute(conn)?;
    if n == 0 {
        let current = people::table.find(&p.id).select(people::version).first::<i64>(conn)?;
        return Err(AppError::VersionConflict { given: p.version, current });
    }
    Ok(())
}

/// 停用 / 启用: a disabled person's tokens stop working at once (they are revoked too). Enabling,
/// also a person who is active already, lifts the login throttling of his account.
pub fn set_person_active(conn: &mut DbConn, actor: &Actor, id: &PersonId, active: bool, now: NaiveDateTime) -> AppResult<PersonView> {
    conn.transaction(|conn| {
        let (p, _) = person_for(conn, actor, id, Operation::PersonManage)?;
        if !active && p.id == actor.person_id {
            return Err(AppError::validation("id", crate::msg!("why-disable_self")));
        }
        if p.active != active {
            bump_person(conn, &p, now)?;
            diesel::update(people::table.find(&p.id)).set(people::active.eq(active)).execute(conn)?;
        }
        if active {
            super::throttle::clear_throttle(conn, &p.id)?;
        } else {
            revoke_all_sessions(conn, &p.id, now)?;
        }
        let (p, ms) = person_for(conn, actor, id, Operation::PersonRead)?;
        Ok(view(p, &ms))
    })
}

pub fn revoke_all_sessions(conn: &mut DbConn, person_id: &PersonId, now: NaiveDateTime) -> AppResult<usize> {
    Ok(diesel::update(sessions::table.filter(sessions::person_id.eq(person_id)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)?)
}

/// 重置密码: sets a new password, lifts the login throttling of the account and ends the person's
/// sessions.
pub fn reset_password(
    conn: &mut DbConn,
    auth: &AuthSettings,
    actor: &Actor,
    id: &PersonId,
    password: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    conn.transaction(|conn| {
        let (p, _) = person_for(conn, actor, id, Operation::PersonManage)?;
        set_password_unchecked(conn, auth, &p, password, now)
    })
}

pub fn set_password_unchecked(conn: &mut DbConn, auth: &AuthSettings, p: &PersonRow, password: &str, now: NaiveDateTime) -> AppResult<()> {
    validate_password(password)?;
    let hash = hash_password(auth, password)?;
    bump_person(conn, p, now)?;
    diesel::update(people::table.find(&p.id)).set(people::password_hash.eq(hash)).execute(conn)?;
    super::throttle::clear_throttle(conn, &p.id)?;
    revoke_all_sessions(conn, &p.id, now)?;
    Ok(())
}

pub fn add_membership(
    conn: &mut DbConn,
    actor: &Actor,
    person_id: &PersonId,
    input: NewMembership,
    now: NaiveDateTime,
) -> AppResult<PersonView> {
    conn.transaction(|conn| {
        let (p, _) = person_for(conn, actor, person_id, Operation::PersonRead)?;
        let unit = unit_for_membership(conn, actor, &input.org_unit_id)?;
        check_binding(input.role, &unit)?;
        insert_membership(conn, &p.id, input.role, &unit.id, now)?;
        let (p, ms) = person_for(conn, actor, person_id, Operation::PersonRead)?;
        Ok(view(p, &ms))
    })
}

/// Ends a membership (it is kept, inactive, for the record).
pub fn end_membership(
    conn: &mut DbConn,
    actor: &Actor,
    person_id: &PersonId,
    membership_id: Option<&MembershipId>,
    now: NaiveDateTime,
) -> AppResult<PersonView> {
    conn.transaction(|conn| {
        let (p, ms) = person_for(conn, actor, person_id, Operation::PersonRead)?;
        let (m, unit) = ms.iter().find(|(m, _)| Some(&m.id) == membership_id).ok_or(AppError::NotFound { what: "membership" })?;
        enforce(actor.decide(Operation::PersonManage, &unit.path), "membership", Operation::PersonManage)?;
        if p.id == actor.person_id && m.role == Role::Admin {
            return Err(AppError::validation("membership_id", crate::msg!("why-end_own_admin")));
        }
        diesel::update(memberships::table.find(&m.id))
            .set((memberships::active.eq(false), memberships::updated_at.eq(now)))
            .execute(conn)?;
        let (p, ms) = person_for(conn, actor, person_id, Operation::PersonRead)?;
        Ok(view(p, &ms))
    })
}

/// The people the actor may see: those with a membership in his scope, and himself.
pub fn list_people(conn: &mut DbConn, actor: &Actor, f: PeopleFilter) -> AppResult<Vec<PersonView>> {
    let limit = super::page_limit(f.limit, 100, 500)?;
    // One query over people ⋈ memberships ⋈ org_units: a person is in the list once, whichever
    // of his memberships (active or ended, as in `person_for`) brought him into scope.
    // (MultiConnection cannot box a subselect.)
    let me = actor.person_id.to_string();
    let mut q = people::table
        .inner_join(memberships::table.inner_join(org_units::table))
        .filter(units_in_scope(actor, Operation::PersonRead).or(people::id.eq(me)))
        .distinct()
        .into_boxed();
    if let Some(role) = f.role {
        q = q
            .filter(memberships::role.eq(role.as_str()))
            .filter(memberships::active.eq(true))
            .filter(units_in_scope(actor, Operation::PersonRead));
    }
    if let Some(text) = f.q.filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(text.trim()));
        q = q.filter(people::login.like(pattern.clone()).escape('\\').or(people::display_name.like(pattern).escape('\\')));
    }
    if !f.include_inactive.unwrap_or(false) {
        q = q.filter(people::active.eq(true));
    }
    if let Some(after) = f.after {
        q = q.filter(people::login.gt(after));
    }
    let rows: Vec<PersonRow> = q.order(people::login.asc()).limit(limit).select(PersonRow::as_select()).load(conn)?;
    let ids: Vec<PersonId> = rows.iter().map(|p| p.id).collect();
    let ms = memberships_of(conn, &ids)?;
    Ok(rows.into_iter().map(|p| view(p, &ms)).collect())
}

pub fn find_person_by_login(conn: &mut DbConn, login_or_phone: &str) -> AppResult<Option<PersonRow>> {
    Ok(people::table
        .filter(people::login.eq(login_or_phone).or(people::phone.eq(login_or_phone)))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?)
}

/// The actor's own profile.
pub fn me(conn: &mut DbConn, actor: &Actor) -> AppResult<PersonView> {
    get_person(conn, actor, &actor.person_id)
}

/// The person's own language choice (`zh-CN`, `en`), remembered for his pages and messages. Every
/// logged-in person may set his own; nothing else of his record changes.
pub fn set_own_locale(conn: &mut DbConn, actor: &Actor, locale: &str, now: NaiveDateTime) -> AppResult<()> {
    validate_locale(locale)?;
    let id = actor.person_id.to_string();
    diesel::update(people::table.find(&id).filter(people::locale.ne(locale)))
        .set((people::locale.eq(locale), people::updated_at.eq(now), people::version.eq(people::version + 1)))
        .execute(conn)?;
    Ok(())
}

/// The display names of staff by id, for timelines and boards (staff names are not residents'
/// personal data; unknown ids are left out).
pub fn names_of(conn: &mut DbConn, ids: &[String]) -> AppResult<std::collections::HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(people::table
        .filter(people::id.eq_any(ids))
        .select((people::id, people::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}
