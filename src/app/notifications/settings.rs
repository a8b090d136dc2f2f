//! Who wants what: a person's own notification settings (an email address, the kinds of event
//! that also go by mail, quiet hours), and a unit's group robots and webhooks (an admin's), whose
//! URLs and secrets are never shown back in full.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::app::org::find_unit;
use crate::app::scope::enforce;
use crate::app::{stored_id, AppError, AppResult};
use crate::db::schema::{channel_endpoints, notification_settings};
use crate::db::DbConn;
use crate::domain::notify::{choice_kinds, choice_text, DeliveryChannel, NoticeKind};
use crate::domain::{Actor, DeliveryId, EndpointId, Operation, OrgKind, OrgUnitId};

/// A person's notification settings.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// Where mail goes; none: no mail.
    pub email: Option<String>,
    /// Every kind of event also by mail.
    pub email_all: bool,
    /// Otherwise, these kinds.
    pub email_events: Vec<NoticeKind>,
    /// Non-urgent messages outside working time wait for the next working morning.
    pub quiet_hours: bool,
    /// Low-priority events by mail once a day, the next working morning, in one message (每日摘要).
    pub digest: bool,
    pub version: i64,
}

/// The settings to keep (all of them: a PUT).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    #[schema(max_length = 254, format = Email)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_all: bool,
    #[serde(default)]
    pub email_events: Vec<NoticeKind>,
    #[serde(default = "yes")]
    pub quiet_hours: bool,
    #[serde(default)]
    pub digest: bool,
}

fn yes() -> bool {
    true
}

fn check_email(e: &str) -> AppResult<()> {
    if !valid_email(e) {
        return Err(AppError::validation("email", crate::msg!("rule-email")));
    }
    Ok(())
}

/// Whether a mail address is one the mailer can send to (as `lettre` reads it, at most 254).
pub(crate) fn valid_email(e: &str) -> bool {
    e.chars().count() <= 254 && e.parse::<lettre::Address>().is_ok()
}

/// Settings for a person with an address: every kind by mail, quiet hours as given (the demo's
/// people get their mail at once, so that a trial at any hour shows it).
pub fn insert_default(
    conn: &mut DbConn,
    person_id: crate::domain::PersonId,
    email: Option<&str>,
    quiet_hours: bool,
    now: NaiveDateTime,
) -> AppResult<()> {
    if let Some(e) = email {
        check_email(e)?;
    }
    diesel::insert_into(notification_settings::table)
        .values((
            notification_settings::person_id.eq(person_id),
            notification_settings::email.eq(email),
            notification_settings::email_events.eq("*"),
            notification_settings::quiet_hours.eq(quiet_hours),
            notification_settings::version.eq(1i64),
            notification_settings::updated_at.eq(now),
            notification_settings::digest.eq(false),
        ))
        .execute(conn)?;
    Ok(())
}

/// The caller's settings (the defaults until he saves some: no mail, quiet hours kept).
pub fn my_settings(conn: &mut DbConn, actor: &Actor) -> AppResult<SettingsView> {
    let row: Option<(Option<String>, String, bool, bool, i64)> = notification_settings::table
        .find(actor.person_id.to_string())
        .select((
            notification_settings::email,
            notification_settings::email_events,
            notification_settings::quiet_hours,
            notification_settings::digest,
            notification_settings::version,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => SettingsView { email: None, email_all: false, email_events: vec![], quiet_hours: true, digest: false, version: 0 },
        Some((email, events, quiet_hours, digest, version)) => {
            let (email_all, email_events) = choice_kinds(&events);
            SettingsView { email, email_all, email_events, quiet_hours, digest, version }
        }
    })
}

/// Saves the caller's settings; `if_match` (the version read) refuses a stale change.
pub fn save_my_settings(
    conn: &mut DbConn,
    actor: &Actor,
    input: SettingsInput,
    if_match: Option<i64>,
    now: NaiveDateTime,
) -> AppResult<SettingsView> {
    // No address is `null`; an empty or malformed one is refused (422), never taken as none.
    let email = input.email.map(|e| e.trim().to_string());
    if let Some(e) = &email {
        check_email(e)?;
    }
    let current = my_settings(conn, actor)?;
    if let Some(given) = if_match {
        if given != current.version {
            return Err(AppError::VersionConflict { given, current: current.version });
        }
    }
    let events = choice_text(input.email_all, &input.email_events);
    let me = actor.person_id.to_string();
    if current.version == 0 {
        diesel::insert_into(notification_settings::table)
            .values((
                notification_settings::person_id.eq(&me),
                notification_settings::email.eq(&email),
                notification_settings::email_events.eq(&events),
                notification_settings::quiet_hours.eq(input.quiet_hours),
                notification_settings::digest.eq(input.digest),
                notification_settings::version.eq(1i64),
                notification_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        let n = diesel::update(notification_settings::table.find(&me).filter(notification_settings::version.eq(current.version)))
            .set((
                notification_settings::email.eq(&email),
                notification_settings::email_events.eq(&events),
                notification_settings::quiet_hours.eq(input.quiet_hours),
                notification_settings::digest.eq(input.digest),
                notification_settings::version.eq(current.version + 1),
                notification_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: current.version, current: current.version + 1 });
        }
    }
    my_settings(conn, actor)
}

/// A unit's robot or webhook as shown: the URL's secret part and the secret masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub org_unit_id: String,
    pub kind: DeliveryChannel,
    pub name: String,
    /// The URL with its query (a robot's key) masked.
    pub url_masked: String,
    /// The secret's last four characters, if it has one.
    pub secret_hint: Option<String>,
    /// Told of every kind of event…
    pub events_all: bool,
    /// …or of these.
    pub events: Vec<NoticeKind>,
    pub active: bool,
    pub version: i64,
}

/// A new robot or webhook of a unit.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// `wecom`, `dingtalk` or `webhook`.
    pub kind: DeliveryChannel,
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// http(s) URL: the robot's webhook address (with its key), or the receiver's.
    #[schema(max_length = 500)]
    pub url: String,
    /// DingTalk's signing secret (SEC…), or the webhook's HMAC key.
    #[schema(max_length = 200)]
    pub secret: Option<String>,
    /// Every kind of event (the default)…
    #[serde(default = "yes")]
    pub events_all: bool,
    /// …or only these.
    #[serde(default)]
    pub events: Vec<NoticeKind>,
}

/// A change of one (absent fields stay).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(max_length = 50)]
    pub name: Option<String>,
    #[schema(max_length = 500)]
    pub url: Option<String>,
    #[schema(max_length = 200)]
    pub secret: Option<String>,
    pub active: Option<bool>,
    /// With `events`: every kind, or only those.
    pub events_all: Option<bool>,
    pub events: Option<Vec<NoticeKind>>,
}

/// A robot or webhook as stored.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = channel_endpoints)]
struct EndpointRow {
    id: String,
    org_unit_id: String,
    kind: String,
    name: String,
    url: String,
    secret: Option<String>,
    active: bool,
    version: i64,
    events: String,
}

fn endpoint_view(r: EndpointRow) -> AppResult<EndpointView> {
    let (events_all, events) = choice_kinds(&r.events);
    Ok(EndpointView {
        kind: r.kind.parse().map_err(AppError::internal_msg)?,
        url_masked: mask_url(&r.url),
        secret_hint: r.secret.map(|s| format!("••••{}", s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>())),
        events_all,
        events,
        id: r.id,
        org_unit_id: r.org_unit_id,
        name: r.name,
        active: r.active,
        version: r.version,
    })
}

/// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=••••` — the scheme, host and path; the
/// query and anything after the host's path that carries a key is masked.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let base = format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or(""), u.port().map(|p| format!(":{p}")).unwrap_or_default());
            let path = u.path();
            let q = if u.query().is_some() { "?••••" } else { "" };
            format!("{base}{path}{q}")
        }
        Err(_) => "••••".into(),
    }
}

fn check_endpoint(kind: DeliveryChannel, name: &str, url: &str, secret: Option<&str>) -> AppResult<()> {
    if kind == DeliveryChannel::InApp || kind == DeliveryChannel::Email {
        return Err(AppError::validation("kind", crate::msg!("rule-one_of", values = "wecom, dingtalk, webhook")));
    }
    let n = name.trim().chars().count();
    if n == 0 || n > 50 {
        return Err(AppError::validation("name", crate::msg!("rule-max_chars", max = 50)));
    }
    let ok = url.len() <= 500 && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !ok {
        return Err(AppError::validation("url", crate::msg!("rule-http_url")));
    }
    if secret.is_some_and(|s| s.is_empty() || s.chars().count() > 200) {
        return Err(AppError::validation("secret", crate::msg!("rule-max_chars", max = 200)));
    }
    Ok(())
}

/// The unit, if the actor may manage its channels (an admin over it).
fn managed_unit(conn: &mut DbConn, actor: &Actor, unit_id: &OrgUnitId) -> AppResult<crate::db::models::OrgUnitRow> {
    let u = find_unit(conn, unit_id)?.ok_or(AppError::NotFound { what: "org unit" })?;
    enforce(actor.decide(Operation::OrgUnitManage, &u.path), "org unit", Operation::OrgUnitManage)?;
    if u.kind == OrgKind::Building {
        return Err(AppError::validation("id", crate::msg!("rule-channel_unit")));
    }
    Ok(u)
}

/// The units whose channels the actor manages (an admin's: every unit in his scope but buildings),
/// in the tree's order: (id, name, kind). At most 500.
pub fn channel_units(conn: &mut DbConn, actor: &Actor) -> AppResult<Vec<(String, String, OrgKind)>> {
    use crate::db::schema::org_units;
    let rows: Vec<(String, String, String)> = org_units::table
        .filter(crate::app::scope::units_in_scope(actor, Operation::OrgUnitManage))
        .filter(org_units::kind.ne(OrgKind::Building.as_str()))
        .filter(org_units::active.eq(true))
        .order(org_units::path.asc())
        .limit(500)
        .select((org_units::id, org_units::name, org_units::kind))
        .load(conn)?;
    rows.into_iter().map(|(id, name, kind)| Ok((id, name, kind.parse().map_err(AppError::internal_msg)?))).collect()
}

/// A unit's robots and webhooks.
pub fn list_endpoints(conn: &mut DbConn, actor: &Actor, unit_id: &OrgUnitId) -> AppResult<Vec<EndpointView>> {
    let u = managed_unit(conn, actor, unit_id)?;
    let rows: Vec<EndpointRow> = channel_endpoints::table
        .filter(channel_endpoints::org_unit_id.eq(u.id.to_string()))
        .order(channel_endpoints::created_at)
        .select(EndpointRow::as_select())
        .load(conn)?;
    rows.into_iter().map(endpoint_view).collect()
}

/// Adds a robot or webhook to a unit.
pub fn add_endpoint(
    conn: &mut DbConn,
    actor: &Actor,
    unit_id: &OrgUnitId,
    input: EndpointInput,
    now: NaiveDateTime,
) -> AppResult<EndpointView> {
    let u = managed_unit(conn, actor, unit_id)?;
    check_endpoint(input.kind, &input.name, &input.url, input.secret.as_deref())?;
    let id = EndpointId::new();
    diesel::insert_into(channel_endpoints::table)
        .values((
            channel_endpoints::id.eq(&id),
            channel_endpoints::org_unit_id.eq(u.id.to_string()),
            channel_endpoints::kind.eq(input.kind.as_str()),
            channel_endpoints::name.eq(input.name.trim()),
            channel_endpoints::url.eq(&input.url),
            channel_endpoints::secret.eq(&input.secret),
            channel_endpoints::active.eq(true),
            channel_endpoints::version.eq(1i64),
            channel_endpoints::created_at.eq(now),
            channel_endpoints::updated_at.eq(now),
            channel_endpoints::events.eq(choice_text(input.events_all, &input.events)),
        ))
        .execute(conn)?;
    endpoint(conn, &id)
}

/// A robot or webhook the actor may manage; another's is not found.
fn managed_endpoint(conn: &mut DbConn, actor: &Actor, id: &EndpointId) -> AppResult<EndpointRow> {
    let row = find_endpoint(conn, id)?;
    managed_unit(conn, actor, &stored_id(&row.org_unit_id)?).map_err(|e| {
        if matches!(e, AppError::Forbidden { .. }) {
            AppError::NotFound { what: "channel" }
        } else {
            e
        }
    })?;
    Ok(row)
}

/// Sends a robot or webhook a test message (测试消息) through the delivery worker; its delivery's
/// id, to follow how it went.
pub fn test_endpoint(conn: &mut DbConn, actor: &Actor, id: &EndpointId, now: NaiveDateTime) -> AppResult<DeliveryId> {
    let row = managed_endpoint(conn, actor, id)?;
    let channel: DeliveryChannel = row.kind.parse().map_err(AppError::internal_msg)?;
    let unit_id = stored_id(&row.org_unit_id)?;
    super::record_test(conn, super::TestTarget::Endpoint { unit_id, endpoint_id: *id, channel }, now)
}

/// Sends the caller a test mail at his saved address.
pub fn test_my_mail(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<DeliveryId> {
    if my_settings(conn, actor)?.email.is_none() {
        return Err(AppError::Conflict { code: "no_email", detail: crate::msg!("why-no_email") });
    }
    // The notification belongs to one of his units (a record needs one); any will do.
    let unit_id = actor.grants.first().map(|g| g.org_unit_id).ok_or(AppError::NotFound { what: "org unit" })?;
    super::record_test(conn, super::TestTarget::Mail { unit_id, person_id: actor.person_id }, now)
}

fn find_endpoint(conn: &mut DbConn, id: &EndpointId) -> AppResult<EndpointRow> {
    channel_endpoints::table.find(id).select(EndpointRow::as_select()).first(conn).optional()?.ok_or(AppError::NotFound { what: "channel" })
}

fn endpoint(conn: &mut DbConn, id: &EndpointId) -> AppResult<EndpointView> {
    endpoint_view(find_endpoint(conn, id)?)
}

/// Changes a robot or webhook (If-Match: its version).
pub fn change_endpoint(
    conn: &mut DbConn,
    actor: &Actor,
    id: &EndpointId,
    change: EndpointChange,
    if_match: i64,
    now: NaiveDateTime,
) -> AppResult<EndpointView> {
    let row = managed_endpoint(conn, actor, id)?;
    let EndpointRow { kind, name, url, secret, active, version, events, .. } = row;
    if if_match != version {
        return Err(AppError::VersionConflict { given: if_match, current: version });
    }
    let kind: DeliveryChannel = kind.parse().map_err(AppError::internal_msg)?;
    let (name, url, secret) = (change.name.unwrap_or(name), change.url.unwrap_or(url), change.secret.or(secret));
    check_endpoint(kind, &name, &url, secret.as_deref())?;
    let events = match (change.events_all, change.events) {
        (None, None) => events,
        (all, kinds) => choice_text(all.unwrap_or(false), &kinds.unwrap_or_default()),
    };
    let n = diesel::update(channel_endpoints::table.find(id).filter(channel_endpoints::version.eq(version)))
        .set((
            channel_endpoints::name.eq(name.trim()),
            channel_endpoints::url.eq(&url),
            channel_endpoints::secret.eq(&secret),
            channel_endpoints::active.eq(change.active.unwrap_or(active)),
            channel_endpoints::events.eq(&events),
            channel_endpoints::version.eq(version + 1),
            channel_endpoints::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::VersionConflict { given: if_match, current: version + 1 });
    }
    endpoint(conn, id)
}
