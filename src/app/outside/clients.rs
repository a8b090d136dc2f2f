//! Outside clients (外部系统): the 12345 platform and Open311 apps that file requests. An admin over
//! a unit registers a client for its subtree; the client's key is shown once and kept only as a
//! SHA-256 hash. A 12345 platform also gets a secret: it signs each request it sends (HMAC) and
//! we sign each status we push to its webhook with it. Filings are recorded under the client's own
//! person, which cannot log in.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::org::find_unit;
use crate::app::scope::enforce;
use crate::app::{parse_id, stored_id, AppError, AppResult};
use crate::db::models::OrgUnitRow;
use crate::db::schema::{categories, external_categories, external_clients, people};
use crate::db::DbConn;
use crate::domain::outside::ClientKind;
use crate::domain::{Actor, CategoryId, ExternalClientId, Operation, OrgKind, OrgPath, OrgUnitId, PersonId};

/// A client as stored.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = external_clients)]
pub struct ClientRow {
    pub id: ExternalClientId,
    pub kind: String,
    pub name: String,
    pub key_id: String,
    pub key_hash: String,
    pub secret: Option<String>,
    pub webhook_url: Option<String>,
    pub scope_unit_id: OrgUnitId,
    pub triage_compound_id: OrgUnitId,
    pub person_id: PersonId,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ClientRow {
    pub fn kind(&self) -> AppResult<ClientKind> {
        self.kind.parse().map_err(AppError::internal_msg)
    }
}

/// A new client.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// `hotline` (the 12345 platform) or `open311` (an Open311 app).
    pub kind: ClientKind,
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// The unit whose subtree the client may file into (a street, a community…).
    #[schema(format = Uuid)]
    pub scope_unit_id: String,
    /// The compound in that subtree where what matches no place waits for triage (待分拨).
    #[schema(format = Uuid)]
    pub triage_compound_id: String,
    /// The 12345 platform's receiver of status pushes (签收, 退单, 延期, 办结, 回访).
    #[schema(max_length = 500)]
    pub webhook_url: Option<String>,
}

/// A change to a client (If-Match). Absent fields stay.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    /// A new receiver; an empty string removes it.
    #[schema(max_length = 500)]
    pub webhook_url: Option<String>,
    pub active: Option<bool>,
    #[schema(format = Uuid)]
    pub triage_compound_id: Option<String>,
    /// Issue a new key (and, for a platform, a new secret): the old ones stop working at once.
    #[serde(default)]
    pub rotate_key: bool,
}

/// One line of a client's category map: the platform's code → our category.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryMapEntry {
    #[schema(min_length = 1, max_length = 50)]
    pub code: String,
    #[schema(format = Uuid)]
    pub category_id: String,
}

/// A client as an admin sees it: never its key or secret again.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: String,
    pub kind: ClientKind,
    pub name: String,
    /// The key's public part (`glk_<key id>_…`).
    pub key_hint: String,
    /// Its requests must be signed, and our pushes are (a 12345 platform).
    pub signed: bool,
    /// The receiver's scheme, host and path; its query masked.
    pub webhook_url_masked: Option<String>,
    pub scope_unit_id: String,
    pub scope_unit_name: String,
    pub triage_compound_id: String,
    pub active: bool,
    pub version: i64,
    pub categories: Vec<CategoryMapEntry>,
}

/// A client just created or given a new key: the key and secret, shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClientIssued {
    pub client: ClientView,
    /// `glk_<key id>_<secret part>`: sent as `Authorization: Bearer …` (12345) or `api_key` (Open311).
    pub api_key: String,
    /// The 12345 platform's signing secret (HMAC-SHA256), if it signs.
    pub secret: Option<String>,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key: (key id, whole key).
fn new_key() -> (String, String) {
    let id = random_hex(6);
    let key = format!("glk_{id}_{}", random_hex(24));
    (id, key)
}

fn check_url(field: &str, url: &str) -> AppResult<()> {
    let ok = url.len() <= 500 && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(())
    } else {
        Err(AppError::validation(field, crate::msg!("rule-http_url")))
    }
}

fn check_name(name: &str) -> AppResult<String> {
    crate::app::text("name", name, 50)
}

/// The unit `id` names, if the actor administers it.
fn managed(conn: &mut DbConn, actor: &Actor, field: &str, id: &str) -> AppResult<OrgUnitRow> {
    let uid: OrgUnitId = parse_id(field, id)?;
    let u = find_unit(conn, &uid)?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::UnknownReference { field: field.into(), detail: crate::msg!("why-no_place_in_scope") })?;
    if !actor.may(Operation::OrgUnitManage, &u.path) {
        return Err(AppError::UnknownReference { field: field.into(), detail: crate::msg!("why-no_place_in_scope") });
    }
    Ok(u)
}

/// The triage compound: an active compound inside the scope.
fn triage_compound(conn: &mut DbConn, actor: &Actor, id: &str, scope: &OrgPath) -> AppResult<OrgUnitRow> {
    let c = managed(conn, actor, "triage_compound_id", id)?;
    if c.kind != OrgKind::Compound || !scope.contains(&c.path) {
        return Err(AppError::validation("triage_compound_id", crate::msg!("why-triage_compound")));
    }
    Ok(c)
}

/// Stores a client and its person (no scope check: `create_client` and the demo loader decide).
/// Returns its id, key and secret (a platform's), which are never readable again.
pub fn insert_client(
    conn: &mut DbConn,
    kind: ClientKind,
    name: &str,
    scope: &OrgUnitRow,
    triage: &OrgUnitRow,
    webhook: Option<String>,
    now: NaiveDateTime,
) -> AppResult<(ExternalClientId, String, Option<String>)> {
    let (key_id, key) = new_key();
    let secret = (kind == ClientKind::Hotline).then(|| format!("whsec_{}", random_hex(24)));
    let id = ExternalClientId::new();
    let person = PersonId::new();
    crate::db::backend::within_transaction(conn, |conn| -> AppResult<()> {
        diesel::insert_into(people::table)
            .values((
                people::id.eq(person),
                people::login.eq(format!("client-{key_id}")),
                people::display_name.eq(name),
                people::phone.eq(None::<String>),
                // No password matches it, and the person is inactive: nobody logs in as a client.
                people::password_hash.eq("!"),
                people::locale.eq("zh-CN"),
                people::active.eq(false),
                people::version.eq(1i64),
                people::created_at.eq(now),
                people::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::insert_into(external_clients::table)
            .values((
                external_clients::id.eq(id),
                external_clients::kind.eq(kind.as_str()),
                external_clients::name.eq(name),
                external_clients::key_id.eq(&key_id),
                external_clients::key_hash.eq(key_hash(&key)),
                external_clients::secret.eq(&secret),
                external_clients::webhook_url.eq(&webhook),
                external_clients::scope_unit_id.eq(scope.id),
                external_clients::triage_compound_id.eq(triage.id),
                external_clients::person_id.eq(person),
                external_clients::active.eq(true),
                external_clients::version.eq(1i64),
                external_clients::created_at.eq(now),
                external_clients::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok((id, key, secret))
}

/// Maps a platform's category code to one of ours (the demo's identity map; the admin's map is
/// [`set_categories`]).
pub fn map_category(conn: &mut DbConn, client: ExternalClientId, code: &str, category: CategoryId) -> AppResult<()> {
    diesel::insert_into(external_categories::table)
        .values((
            external_categories::client_id.eq(client),
            external_categories::code.eq(code),
            external_categories::category_id.eq(category),
        ))
        .execute(conn)?;
    Ok(())
}

/// 接入外部系统: registers a client; its key (and secret) are in the answer, this once.
pub fn create_client(conn: &mut DbConn, actor: &Actor, input: ClientInput, now: NaiveDateTime) -> AppResult<ClientIssued> {
    let name = check_name(&input.name)?;
    let scope = managed(conn, actor, "scope_unit_id", &input.scope_unit_id)?;
    if matches!(scope.kind, OrgKind::Building | OrgKind::Department) {
        return Err(AppError::validation("scope_unit_id", crate::msg!("why-client_scope")));
    }
    let triage = triage_compound(conn, actor, &input.triage_compound_id, &scope.path)?;
    let webhook = input.webhook_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string);
    if let Some(u) = &webhook {
        check_url("webhook_url", u)?;
    }
    let (id, key, secret) = insert_client(conn, input.kind, &name, &scope, &triage, webhook, now)?;
    Ok(ClientIssued { client: client_view(conn, actor, &id)?, api_key: key, secret })
}

fn find(conn: &mut DbConn, id: &ExternalClientId) -> AppResult<ClientRow> {
    external_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "external client" })
}

/// A client the actor administers (its scope unit in his); another's is not found.
fn managed_client(conn: &mut DbConn, actor: &Actor, id: &ExternalClientId) -> AppResult<(ClientRow, OrgUnitRow)> {
    let c = find(conn, id)?;
    let scope = find_unit(conn, &c.scope_unit_id)?.ok_or(AppError::NotFound { what: "external client" })?;
    enforce(actor.decide(Operation::OrgUnitManage, &scope.path), "external client", Operation::OrgUnitManage).map_err(|e| match e {
        AppError::Forbidden { .. } => AppError::NotFound { what: "external client" },
        e => e,
    })?;
    Ok((c, scope))
}

fn view(conn: &mut DbConn, c: ClientRow, scope: OrgUnitRow) -> AppResult<ClientView> {
    let map: Vec<(String, CategoryId)> = external_categories::table
        .filter(external_categories::client_id.eq(c.id))
        .order(external_categories::code.asc())
        .select((external_categories::code, external_categories::category_id))
        .load(conn)?;
    Ok(ClientView {
        id: c.id.to_string(),
        kind: c.kind()?,
        name: c.name,
        key_hint: format!("glk_{}_…", c.key_id),
        signed: c.secret.is_some(),
        webhook_url_masked: c.webhook_url.as_deref().map(crate::app::notifications::settings::mask_url),
        scope_unit_id: c.scope_unit_id.to_string(),
        scope_unit_name: scope.name,
        triage_compound_id: c.triage_compound_id.to_string(),
        active: c.active,
        version: c.version,
        categories: map.into_iter().map(|(code, category_id)| CategoryMapEntry { code, category_id: category_id.to_string() }).collect(),
    })
}

/// One client, for an admin over it.
pub fn client_view(conn: &mut DbConn, actor: &Actor, id: &ExternalClientId) -> AppResult<ClientView> {
    let (c, scope) = managed_client(conn, actor, id)?;
    view(conn, c, scope)
}

/// The clients whose scope lies in the actor's administration.
pub fn list_clients(conn: &mut DbConn, actor: &Actor) -> AppResult<Vec<ClientView>> {
    let rows: Vec<(ClientRow, OrgUnitRow)> = external_clients::table
        .inner_join(crate::db::schema::org_units::table.on(crate::db::schema::org_units::id.eq(external_clients::scope_unit_id)))
        .order(external_clients::created_at.asc())
        .select((ClientRow::as_select(), OrgUnitRow::as_select()))
        .load(conn)?;
    rows.into_iter().filter(|(_, u)| actor.may(Operation::OrgUnitManage, &u.path)).map(|(c, u)| view(conn, c, u)).collect()
}

/// Changes a client (If-Match): its name, receiver, triage compound, on or off; or a new key.
pub fn change_client(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ExternalClientId,
    version: Option<i64>,
    change: ClientChange,
    now: NaiveDateTime,
) -> AppResult<ClientIssued> {
    let (c, scope) = managed_client(conn, actor, id)?;
    let given = version.ok_or(AppError::PreconditionRequired)?;
    if given != c.version {
        return Err(AppError::VersionConflict { given, current: c.version });
    }
    let name = change.name.as_deref().map(check_name).transpose()?.unwrap_or(c.name.clone());
    let webhook = match change.webhook_url.as_deref().map(str::trim) {
        None => c.webhook_url.clone(),
        Some("") => None,
        Some(u) => {
            check_url("webhook_url", u)?;
            Some(u.to_string())
        }
    };
    let triage = match &change.triage_compound_id {
        Some(t) => triage_compound(conn, actor, t, &scope.path)?.id,
        None => c.triage_compound_id,
    };
    let (mut api_key, mut secret) = (String::new(), None);
    let (mut key_id, mut hash, mut stored_secret) = (c.key_id.clone(), c.key_hash.clone(), c.secret.clone());
    if change.rotate_key {
        let (i, k) = new_key();
        (key_id, hash, api_key) = (i, key_hash(&k), k);
        if c.secret.is_some() {
            secret = Some(format!("whsec_{}", random_hex(24)));
            stored_secret = secret.clone();
        }
    }
    let n = diesel::update(external_clients::table.find(c.id).filter(external_clients::version.eq(c.version)))
        .set((
            external_clients::name.eq(&name),
            external_clients::webhook_url.eq(&webhook),
            external_clients::triage_compound_id.eq(triage),
            external_clients::active.eq(change.active.unwrap_or(c.active)),
            external_clients::key_id.eq(&key_id),
            external_clients::key_hash.eq(&hash),
            external_clients::secret.eq(&stored_secret),
            external_clients::version.eq(c.version + 1),
            external_clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::VersionConflict { given, current: given + 1 });
    }
    Ok(ClientIssued { client: client_view(conn, actor, id)?, api_key, secret })
}

/// Replaces a client's category map (platform code → our category). Codes are unique; each
/// category must be active.
pub fn set_categories(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ExternalClientId,
    entries: Vec<CategoryMapEntry>,
    _now: NaiveDateTime,
) -> AppResult<ClientView> {
    let (c, _) = managed_client(conn, actor, id)?;
    if entries.len() > 500 {
        return Err(AppError::validation("categories", crate::msg!("rule-max_items", max = 500)));
    }
    let mut seen = std::collections::HashSet::new();
    let mut rows = vec![];
    for (i, e) in entries.iter().enumerate() {
        let code = crate::app::text(&format!("[{i}].code"), &e.code, 50)?;
        if !seen.insert(code.clone()) {
            return Err(AppError::validation(format!("[{i}].code"), crate::msg!("why-map_code_taken", code = code)));
        }
        let cat: CategoryId = parse_id(&format!("[{i}].category_id"), &e.category_id)?;
        let active: Option<bool> = categories::table.find(cat).select(categories::active).first(conn).optional()?;
        if active != Some(true) {
            return Err(AppError::UnknownReference { field: format!("[{i}].category_id"), detail: crate::msg!("why-no_category") });
        }
        rows.push((external_categories::client_id.eq(c.id), external_categories::code.eq(code), external_categories::category_id.eq(cat)));
    }
    crate::db::backend::within_transaction(conn, |conn| -> AppResult<()> {
        diesel::delete(external_categories::table.filter(external_categories::client_id.eq(c.id))).execute(conn)?;
        for r in &rows {
            diesel::insert_into(external_categories::table).values(r.clone()).execute(conn)?;
        }
        Ok(())
    })?;
    client_view(conn, actor, id)
}

/// The client a key names, if the key is right, the client active and of this kind. A wrong key,
/// an unknown one and a switched-off client are the same refusal.
pub fn authenticate(conn: &mut DbConn, key: &str, kind: ClientKind) -> AppResult<ClientRow> {
    let key = key.trim();
    let refused = || AppError::ClientRefused;
    let mut parts = key.splitn(3, '_');
    let (Some("glk"), Some(id), Some(_)) = (parts.next(), parts.next(), parts.next()) else { return Err(refused()) };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refused());
    }
    let c: Option<ClientRow> =
        external_clients::table.filter(external_clients::key_id.eq(id)).select(ClientRow::as_select()).first(conn).optional()?;
    let Some(c) = c else {
        return Err(refused());
    };
    let ok = crate::app::constant_time_eq(key_hash(key).as_bytes(), c.key_hash.as_bytes());
    if !ok || !c.active || c.kind()? != kind {
        return Err(refused());
    }
    Ok(c)
}

/// Checks a platform's signature of a request: `sha256=<hex HMAC-SHA256 of "timestamp.body">`
/// with its secret, the timestamp (Unix seconds) within five minutes of `now`. A client without a
/// secret does not sign.
pub fn verify_signature(c: &ClientRow, timestamp: Option<&str>, signature: Option<&str>, body: &[u8], now: NaiveDateTime) -> AppResult<()> {
    let Some(secret) = c.secret.as_deref() else { return Ok(()) };
    let bad = || AppError::ClientRefused;
    let ts = timestamp.ok_or_else(bad)?;
    let at: i64 = ts.trim().parse().map_err(|_| bad())?;
    if (at - now.and_utc().timestamp()).abs() > 300 {
        return Err(bad());
    }
    let sig = signature.and_then(|s| s.trim().strip_prefix("sha256=")).ok_or_else(bad)?;
    let want = crate::app::notifications::webhook_signature_bytes(secret, ts.trim(), body);
    if !crate::app::constant_time_eq(want.as_bytes(), sig.to_ascii_lowercase().as_bytes()) {
        return Err(bad());
    }
    Ok(())
}

/// The category a platform's code maps to, for this client.
pub fn mapped_category(conn: &mut DbConn, client: &ExternalClientId, code: &str) -> AppResult<Option<CategoryId>> {
    Ok(external_categories::table
        .filter(external_categories::client_id.eq(client))
        .filter(external_categories::code.eq(code))
        .select(external_categories::category_id)
        .first(conn)
        .optional()?)
}

/// The scope unit's path of a client.
pub fn scope_of(conn: &mut DbConn, c: &ClientRow) -> AppResult<OrgUnitRow> {
    find_unit(conn, &c.scope_unit_id)?.ok_or_else(|| AppError::internal_msg("client without scope unit".into()))
}

/// Parses a stored client id.
pub fn client_id(text: &str) -> AppResult<ExternalClientId> {
    stored_id(text)
}
