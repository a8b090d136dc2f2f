//! Row structs, one per table, exactly as stored. Conversion into domain values happens in `app`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = org_units)]
pub struct OrgUnitRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub path: String,
    pub depth: i32,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = people)]
pub struct PersonRow {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub locale: String,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRow")
            .field("id", &self.id)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub id: String,
    pub person_id: String,
    pub org_unit_id: String,
    pub role: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = categories)]
pub struct CategoryRow {
    pub id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub default_department_id: Option<String>,
    pub urgencies: String,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = residents)]
pub struct ResidentRow {
    pub id: String,
    pub building_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub unit_no: String,
    pub room: String,
    pub kind: String,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for ResidentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentRow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub person_id: String,
    pub token_hash: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("person_id", &self.person_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_attempts)]
pub struct LoginAttemptRow {
    pub id: String,
    pub login: String,
    pub person_id: Option<String>,
    pub succeeded: bool,
    pub reason: String,
    pub remote_addr: Option<String>,
    pub at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = pii_reveals)]
pub struct PiiRevealRow {
    pub id: String,
    pub person_id: String,
    pub role: String,
    pub org_unit_id: String,
    pub record_kind: String,
    pub record_id: String,
    pub fields: String,
    pub at: NaiveDateTime,
}
