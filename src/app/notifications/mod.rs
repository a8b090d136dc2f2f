//! Notifications (通知) and their outbox. A notification records what happened for a unit or a
//! person; written in the transaction of the change that caused it, it is fanned out at once into
//! deliveries — one per recipient and channel: the in-app centre (站内通知) always, email when the
//! person gave an address and wants that kind by mail, and each active robot or webhook of the
//! unit. Every delivery carries a dedupe key made of the triggering event's key, the channel and
//! the recipient: one event retried (or tried by two servers) is one message; two events (two
//! reminders on two days) are two. The delivery worker (`worker::deliveries`) sends the pending
//! ones. The in-app centre is read here: a person's notifications, the unread count, mark read.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{channel_endpoints, deliveries, memberships, notification_settings, notifications, people, tickets};
use crate::db::DbConn;
use crate::domain::notify::{chosen, DeliveryChannel, DeliveryState, NoticeKind};
use crate::domain::{Actor, DeliveryId, EndpointId, ExternalClientId, Id, NotificationId, OrgUnitId, PersonId, Role, TicketId};
use crate::i18n::Lang;

use super::{AppError, AppResult};

pub mod sending;
pub mod settings;
pub use sending::{claim, settle, Claimed, Outgoing, Settled, Tried};

/// A notification to record once, and deliver.
pub struct Once<'a> {
    /// The unit it concerns (the holder of a clock, the grid of a missing log, the department
    /// whistled); its people in `roles` are told, unless `person_id` names the one person.
    pub unit_id: OrgUnitId,
    pub person_id: Option<PersonId>,
    pub ticket_id: Option<TicketId>,
    pub kind: NoticeKind,
    /// Who in the unit is told (defaults to the kind's audience).
    pub roles: Option<&'a [Role]>,
    /// Goes at once, whatever the hour (see [`NoticeKind::urgent`]).
    pub urgent: bool,
    pub payload: serde_json::Value,
    /// Names the event: a second record with the same key is never written.
    pub dedupe_key: &'a str,
}

/// A delivery row as written and read.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub notification_id: NotificationId,
    pub channel: DeliveryChannel,
    pub person_id: Option<PersonId>,
    pub endpoint_id: Option<EndpointId>,
    pub dedupe_key: String,
    pub urgent: bool,
    pub state: DeliveryState,
    pub attempts: i32,
    pub due_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub read_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// Kept for the person's daily digest (每日摘要).
    pub digest: bool,
    /// A status push's platform (12345): sent to its client's webhook.
    pub client_id: Option<ExternalClientId>,
    /// A resident's own address: `sms:<mobile>` or a mail address (his status link).
    pub address: Option<String>,
}

impl DeliveryRow {
    /// A delivery waiting to be sent now, for no one yet (the caller names the person, endpoint,
    /// client or address).
    pub fn pending(
        notification_id: NotificationId,
        channel: DeliveryChannel,
        dedupe_key: String,
        urgent: bool,
        now: NaiveDateTime,
    ) -> Self {
        DeliveryRow {
            id: DeliveryId::new(),
            notification_id,
            channel,
            person_id: None,
            endpoint_id: None,
            dedupe_key,
            urgent,
            state: DeliveryState::Pending,
            attempts: 0,
            due_at: now,
            claimed_until: None,
            last_error: None,
            sent_at: None,
            read_at: None,
            created_at: now,
            digest: false,
            client_id: None,
            address: None,
        }
    }
}

/// Writes the record unless one with its dedupe key exists, with its deliveries; `true` when this
/// call wrote it. The writes run in a savepoint of their own, so that losing the race to another
/// server (a unique violation) leaves the caller's transaction usable.
pub fn record_once(conn: &mut DbConn, n: Once<'_>, now: NaiveDateTime) -> AppResult<bool> {
    let written = conn.transaction(|c| -> Result<(), diesel::result::Error> {
        let id = NotificationId::new();
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(id),
                notifications::unit_id.eq(n.unit_id),
                notifications::ticket_id.eq(n.ticket_id),
                notifications::kind.eq(n.kind),
                notifications::payload.eq(n.payload.to_string()),
                notifications::created_at.eq(now),
                notifications::person_id.eq(n.person_id),
                notifications::dedupe_key.eq(Some(n.dedupe_key)),
            ))
            .execute(c)?;
        let rows = fan_out(c, id, &n, now)?;
        crate::db::backend::insert_all!(c, deliveries::table, &rows)?;
        Ok(())
    });
    match written {
        Ok(()) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A webhook's signature, and a platform request's: hex HMAC-SHA256 of "timestamp.body".
pub fn webhook_signature_bytes(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Where an addressed notification goes: a platform's client, or a resident's address.
pub enum Recipient {
    /// The 12345 platform's webhook (its client's URL and secret), as a signed webhook.
    Platform(ExternalClientId),
    /// A resident's mail address.
    Email(String),
    /// A resident's mobile, through the SMS gateway (`notify.sms_gateway_url`).
    Sms(String),
}

/// Writes an addressed notification (a status push, a resident's link) and its one delivery (none
/// when `to` is `None`), unless one with its dedupe key exists; `true` when this call wrote it. Like [`record_once`],
/// in a savepoint of its own.
#[allow(clippy::too_many_arguments)]
pub fn record_addressed(
    conn: &mut DbConn,
    unit_id: OrgUnitId,
    ticket_id: TicketId,
    kind: NoticeKind,
    to: Option<Recipient>,
    payload: serde_json::Value,
    dedupe_key: &str,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let written = conn.transaction(|c| -> Result<(), diesel::result::Error> {
        let id = NotificationId::new();
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(id),
                notifications::unit_id.eq(unit_id),
                notifications::ticket_id.eq(Some(ticket_id)),
                notifications::kind.eq(kind),
                notifications::payload.eq(payload.to_string()),
                notifications::created_at.eq(now),
                notifications::person_id.eq(None::<PersonId>),
                notifications::dedupe_key.eq(Some(dedupe_key)),
            ))
            .execute(c)?;
        // Nowhere to send it (a platform without a receiver): the record alone, readable back.
        let Some(to) = to else { return Ok(()) };
        let (channel, client_id, address) = match to {
            Recipient::Platform(c) => (DeliveryChannel::Webhook, Some(c), None),
            Recipient::Email(a) => (DeliveryChannel::Email, None, Some(a)),
            Recipient::Sms(m) => (DeliveryChannel::Webhook, None, Some(format!("sms:{m}"))),
        };
        let delivery = DeliveryRow {
            client_id,
            address,
            ..DeliveryRow::pending(id, channel, format!("{dedupe_key}/{}", channel.as_str()), kind.urgent(false), now)
        };
        diesel::insert_into(deliveries::table).values(&delivery).execute(c)?;
        Ok(())
    });
    match written {
        Ok(()) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The deliveries of a notification: in-app and email per person told, one per endpoint of the unit.
fn fan_out(
    c: &mut DbConn,
    notification_id: NotificationId,
    n: &Once<'_>,
    now: NaiveDateTime,
) -> Result<Vec<DeliveryRow>, diesel::result::Error> {
    let people: Vec<PersonId> = match n.person_id {
        Some(p) => vec![p],
        None => {
            let roles: &[Role] = n.roles.unwrap_or(n.kind.audience());
            let mut ids: Vec<PersonId> = memberships::table
                .inner_join(people::table)
                .filter(memberships::org_unit_id.eq(n.unit_id))
                .filter(memberships::active.eq(true))
                .filter(people::active.eq(true))
                .filter(memberships::role.eq_any(roles))
                .select(memberships::person_id)
                .load(c)?;
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let settings: Vec<(PersonId, Option<String>, String, bool)> = if people.is_empty() {
        vec![]
    } else {
        notification_settings::table
            .filter(notification_settings::person_id.eq_any(&people))
            .select((
                notification_settings::person_id,
                notification_settings::email,
                notification_settings::email_events,
                notification_settings::digest,
            ))
            .load(c)?
    };
    let endpoints: Vec<(EndpointId, String, String)> = channel_endpoints::table
        .filter(channel_endpoints::org_unit_id.eq(n.unit_id))
        .filter(channel_endpoints::active.eq(true))
        .select((channel_endpoints::id, channel_endpoints::kind, channel_endpoints::events))
        .load(c)?;
    let row = |channel: DeliveryChannel, person: Option<PersonId>, endpoint: Option<EndpointId>, digest: bool| DeliveryRow {
        id: DeliveryId::new(),
        notification_id,
        channel,
        person_id: person,
        endpoint_id: endpoint,
        dedupe_key: format!(
            "{}/{}/{}",
            n.dedupe_key,
            channel.as_str(),
            person.map(|p| p.to_string()).or(endpoint.map(|e| e.to_string())).as_deref().unwrap_or("-")
        ),
        urgent: n.urgent,
        // The centre shows it at once: nothing to send.
        state: if channel == DeliveryChannel::InApp { DeliveryState::Sent } else { DeliveryState::Pending },
        attempts: 0,
        due_at: now,
        claimed_until: None,
        last_error: None,
        sent_at: (channel == DeliveryChannel::InApp).then_some(now),
        read_at: None,
        created_at: now,
        digest,
        client_id: None,
        address: None,
    };
    let mut out = vec![];
    for p in &people {
        out.push(row(DeliveryChannel::InApp, Some(*p), None, false));
        if let Some((_, Some(_), events, digest)) = settings.iter().find(|(id, ..)| id == p) {
            if chosen(events, n.kind) {
                // The digest takes what is of low priority and not urgent; the rest goes on its own.
                let digest = *digest && n.kind.low_priority() && !n.urgent;
                out.push(row(DeliveryChannel::Email, Some(*p), None, digest));
            }
        }
    }
    for (id, kind, events) in &endpoints {
        if let Ok(channel) = kind.parse::<DeliveryChannel>() {
            if chosen(events, n.kind) {
                out.push(row(channel, None, Some(*id), false));
            }
        }
    }
    Ok(out)
}

/// A test message (测试消息) to one channel: a unit's robot or webhook, or the caller's own mail.
pub enum TestTarget {
    Endpoint { unit_id: OrgUnitId, endpoint_id: EndpointId, channel: DeliveryChannel },
    Mail { unit_id: OrgUnitId, person_id: PersonId },
}

/// Queues a test message for the delivery worker (it goes at once, whatever the hour) and returns
/// its delivery's id. At most one test per channel in `TEST_SPACING_SECONDS`, so that the button
/// cannot flood a group or a mailbox.
pub fn record_test(conn: &mut DbConn, target: TestTarget, now: NaiveDateTime) -> AppResult<DeliveryId> {
    let (unit_id, person_id, endpoint_id, channel) = match target {
        TestTarget::Endpoint { unit_id, endpoint_id, channel } => (unit_id, None, Some(endpoint_id), channel),
        TestTarget::Mail { unit_id, person_id } => (unit_id, Some(person_id), None, DeliveryChannel::Email),
    };
    let mut q = deliveries::table
        .inner_join(notifications::table)
        .filter(notifications::kind.eq(NoticeKind::Test))
        .filter(deliveries::channel.eq(channel))
        .filter(deliveries::created_at.gt(now - chrono::Duration::seconds(TEST_SPACING_SECONDS)))
        .into_boxed();
    q = match (person_id, endpoint_id) {
        (Some(p), _) => q.filter(deliveries::person_id.eq(p)),
        (None, Some(e)) => q.filter(deliveries::endpoint_id.eq(e)),
        (None, None) => q,
    };
    let recent: i64 = q.count().get_result(conn)?;
    if recent > 0 {
        return Err(AppError::Conflict { code: "test_too_soon", detail: crate::msg!("why-test_too_soon", seconds = TEST_SPACING_SECONDS) });
    }
    let key = format!("test/{}", Id::new());
    let (id, delivery_id) = (NotificationId::new(), DeliveryId::new());
    conn.transaction(|c| -> Result<(), diesel::result::Error> {
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(id),
                notifications::unit_id.eq(unit_id),
                notifications::kind.eq(NoticeKind::Test),
                notifications::payload.eq("{}"),
                notifications::created_at.eq(now),
                notifications::person_id.eq(person_id),
                notifications::dedupe_key.eq(Some(&key)),
            ))
            .execute(c)?;
        let delivery = DeliveryRow {
            id: delivery_id,
            person_id,
            endpoint_id,
            ..DeliveryRow::pending(id, channel, format!("{key}/{}", channel.as_str()), true, now)
        };
        diesel::insert_into(deliveries::table).values(&delivery).execute(c)?;
        Ok(())
    })?;
    Ok(delivery_id)
}

/// The shortest time between two tests of one channel.
pub const TEST_SPACING_SECONDS: i64 = 30;

/// Which of these dedupe keys are recorded already (one query), to skip them before trying.
pub fn recorded(conn: &mut DbConn, keys: &[String]) -> AppResult<std::collections::HashSet<String>> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    Ok(notifications::table
        .filter(notifications::dedupe_key.eq_any(keys))
        .select(notifications::dedupe_key)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}

/// The text of a notification in a language: a subject line and a body, from the message
/// catalogue (`notice-<kind>` and `notice-<kind>-body`), with the ticket's number and title.
pub fn render(kind: NoticeKind, payload: &serde_json::Value, ticket: Option<(&str, &str)>, lang: Lang) -> (String, String) {
    let text =
        |field: &str| payload.get(field).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
    // A notice of no ticket (an action item's) names its subject in the payload.
    let own_title = text("title");
    let (number, title) = ticket.unwrap_or(("", &own_title));
    // A subject without a ticket number (an action item, a missing log, the calendar) has no gap for one.
    let args = crate::domain::text::Msg {
        key: if number.is_empty() { "notice-subject_plain" } else { "notice-subject" },
        args: vec![("kind", crate::i18n::text(lang, kind.label_key()).into()), ("number", number.into()), ("title", title.into())],
    };
    let subject = crate::i18n::render(lang, &args).trim_end().to_string();
    let body = crate::i18n::render(
        lang,
        &crate::domain::text::Msg {
            key: kind.body_key(),
            args: vec![
                ("number", number.into()),
                ("title", title.into()),
                ("stage", text("stage").into()),
                ("date", text("date").into()),
                ("deadline", text("deadline").into()),
                ("year", text("year").into()),
                ("link", text("link").into()),
            ],
        },
    );
    (subject, body)
}

/// One notification of a person's in-app centre.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationItem {
    /// The delivery's id (what `…/read` takes).
    pub id: String,
    pub kind: NoticeKind,
    pub subject: String,
    pub body: String,
    pub ticket_id: Option<String>,
    pub ticket_number: Option<String>,
    pub urgent: bool,
    pub read: bool,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

/// A page of the centre, newest first, with the unread count.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationPage {
    pub unread: i64,
    pub items: Vec<NotificationItem>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<String>,
}

/// How many of a person's in-app notifications are unread.
pub fn unread_count(conn: &mut DbConn, person_id: PersonId) -> AppResult<i64> {
    Ok(deliveries::table
        .filter(deliveries::person_id.eq(person_id))
        .filter(deliveries::channel.eq(DeliveryChannel::InApp))
        .filter(deliveries::read_at.is_null())
        .count()
        .get_result(conn)?)
}

/// 我的通知: the caller's in-app notifications, newest first, `limit` at a time (1–100), older
/// than the `before` cursor, unread only when asked.
pub fn my_notifications(
    conn: &mut DbConn,
    actor: &Actor,
    unread_only: bool,
    limit: Option<i64>,
    before: Option<&str>,
    lang: Lang,
) -> AppResult<NotificationPage> {
    let limit = super::page_limit(limit, 30, 100)?;
    let me = actor.person_id;
    let mut q = deliveries::table
        .inner_join(notifications::table)
        .left_join(tickets::table.on(tickets::id.nullable().eq(notifications::ticket_id)))
        .filter(deliveries::person_id.eq(me))
        .filter(deliveries::channel.eq(DeliveryChannel::InApp.as_str()))
        .into_boxed();
    if unread_only {
        q = q.filter(deliveries::read_at.is_null());
    }
    if let Some(b) = before {
        let (at, id) = super::tickets::decode_cursor(b).map_err(|_| AppError::validation("before", crate::msg!("rule-cursor")))?;
        // The bound first, as an index condition (see `tickets::list_query`).
        q = q
            .filter(deliveries::created_at.le(at))
            .filter(deliveries::created_at.lt(at).or(deliveries::created_at.eq(at).and(deliveries::id.lt(id))));
    }
    type Line = (DeliveryRow, (String, String, Option<String>), Option<(String, String)>);
    let rows: Vec<Line> = q
        .order((deliveries::created_at.desc(), deliveries::id.desc()))
        .limit(limit + 1)
        .select((
            DeliveryRow::as_select(),
            (notifications::kind, notifications::payload, notifications::ticket_id),
            (tickets::number, tickets::title).nullable(),
        ))
        .load(conn)?;
    let more = rows.len() as i64 > limit;
    let mut items = vec![];
    for (d, (kind, payload, ticket_id), ticket) in rows.into_iter().take(limit as usize) {
        let kind: NoticeKind = kind.parse().map_err(AppError::internal_msg)?;
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let (subject, body) = render(kind, &payload, ticket.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), lang);
        items.push(NotificationItem {
            id: d.id.to_string(),
            kind,
            subject,
            body,
            ticket_id,
            ticket_number: ticket.map(|(n, _)| n),
            urgent: d.urgent,
            read: d.read_at.is_some(),
            created_at: d.created_at,
        });
    }
    let next_before = if more { items.last().map(|i| super::tickets::encode_cursor(i.created_at, &i.id)) } else { None };
    Ok(NotificationPage { unread: unread_count(conn, actor.person_id)?, items, next_before })
}

/// Marks one of the caller's notifications read (again is a no-op); another's is not found.
pub fn mark_read(conn: &mut DbConn, actor: &Actor, id: &DeliveryId, now: NaiveDateTime) -> AppResult<()> {
    let me = actor.person_id;
    let found: Option<Option<NaiveDateTime>> = deliveries::table
        .filter(deliveries::id.eq(id))
        .filter(deliveries::person_id.eq(me))
        .filter(deliveries::channel.eq(DeliveryChannel::InApp.as_str()))
        .select(deliveries::read_at)
        .first(conn)
        .optional()?;
    match found {
        None => Err(AppError::NotFound { what: "notification" }),
        Some(Some(_)) => Ok(()),
        Some(None) => {
            diesel::update(deliveries::table.find(id)).set(deliveries::read_at.eq(Some(now))).execute(conn)?;
            Ok(())
        }
    }
}

/// Marks all of the caller's notifications read; how many were unread.
pub fn mark_all_read(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<usize> {
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::person_id.eq(actor.person_id))
            .filter(deliveries::channel.eq(DeliveryChannel::InApp.as_str()))
            .filter(deliveries::read_at.is_null()),
    )
    .set(deliveries::read_at.eq(Some(now)))
    .execute(conn)?)
}

/// One delivery as the delivery log shows it: to whom (a name, never an address), how, how it went.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub kind: NoticeKind,
    pub channel: DeliveryChannel,
    /// The person's name, or the robot's or webhook's name.
    pub recipient: Option<String>,
    pub ticket_id: Option<String>,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub sent_at: Option<NaiveDateTime>,
}

type LogLine = (DeliveryRow, String, Option<String>, Option<String>, Option<String>);

fn log_views(rows: Vec<LogLine>) -> AppResult<Vec<DeliveryView>> {
    rows.into_iter()
        .map(|(d, kind, ticket_id, person, endpoint)| {
            Ok(DeliveryView {
                kind: kind.parse().map_err(AppError::internal_msg)?,
                channel: d.channel,
                recipient: person.or(endpoint),
                ticket_id,
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error,
                created_at: d.created_at,
                sent_at: d.sent_at,
                id: d.id.to_string(),
            })
        })
        .collect()
}

/// Which deliveries a log shows.
enum LogOf<'a> {
    /// Every message about a ticket, oldest first.
    Ticket(TicketId),
    /// The failed ones about units in a scope, newest first.
    Failed(&'a Actor, i64),
    /// One.
    One(DeliveryId),
}

/// The lines of a delivery log, with the names of who was told (never an address), and each
/// notification's unit path (for the access check of one).
fn log_lines(conn: &mut DbConn, of: LogOf<'_>) -> AppResult<Vec<(LogLine, String)>> {
    use crate::db::schema::org_units;
    let mut q = deliveries::table
        .inner_join(notifications::table.inner_join(org_units::table.on(org_units::id.eq(notifications::unit_id))))
        .left_join(people::table.on(people::id.nullable().eq(deliveries::person_id)))
        .left_join(channel_endpoints::table.on(channel_endpoints::id.nullable().eq(deliveries::endpoint_id)))
        .select((
            DeliveryRow::as_select(),
            notifications::kind,
            notifications::ticket_id,
            people::display_name.nullable(),
            channel_endpoints::name.nullable(),
            org_units::path,
        ))
        .into_boxed();
    q = match of {
        LogOf::Ticket(id) => q.filter(notifications::ticket_id.eq(id)).order((deliveries::created_at, deliveries::id)),
        LogOf::Failed(actor, limit) => q
            .filter(deliveries::state.eq(DeliveryState::Failed.as_str()))
            .filter(super::scope::units_in_scope(actor, crate::domain::Operation::TicketRead))
            .order((deliveries::created_at.desc(), deliveries::id.desc()))
            .limit(limit),
        LogOf::One(id) => q.filter(deliveries::id.eq(id)),
    };
    type Flat = (DeliveryRow, String, Option<String>, Option<String>, Option<String>, String);
    Ok(q.load::<Flat>(conn)?.into_iter().map(|(d, k, t, p, e, path)| ((d, k, t, p, e), path)).collect())
}

/// The delivery log of a ticket (every message about it, on every channel), for whoever may see
/// the ticket.
pub fn ticket_deliveries(conn: &mut DbConn, actor: &Actor, ticket_id: &TicketId) -> AppResult<Vec<DeliveryView>> {
    super::tickets::get_ticket(conn, actor, ticket_id, super::utc_now())?;
    deliveries_of_seen_ticket(conn, *ticket_id)
}

/// The delivery log of a ticket the caller has just been allowed to see (its page loaded it).
pub fn deliveries_of_seen_ticket(conn: &mut DbConn, ticket_id: TicketId) -> AppResult<Vec<DeliveryView>> {
    log_views(log_lines(conn, LogOf::Ticket(ticket_id))?.into_iter().map(|(l, _)| l).collect())
}

/// Failed deliveries about units in the caller's scope (a supervisor's or an admin's), newest first.
pub fn failed_deliveries(conn: &mut DbConn, actor: &Actor, limit: Option<i64>) -> AppResult<Vec<DeliveryView>> {
    let limit = super::page_limit(limit, 100, 500)?;
    log_views(log_lines(conn, LogOf::Failed(actor, limit))?.into_iter().map(|(l, _)| l).collect())
}

/// One delivery, for its recipient or an admin over its unit (how a test message went).
pub fn delivery(conn: &mut DbConn, actor: &Actor, id: &DeliveryId) -> AppResult<DeliveryView> {
    let (line, path) = log_lines(conn, LogOf::One(*id))?.into_iter().next().ok_or(AppError::NotFound { what: "delivery" })?;
    let mine = line.0.person_id == Some(actor.person_id);
    let op = crate::domain::Operation::OrgUnitManage;
    if !mine && super::scope::enforce(actor.decide(op, &crate::domain::OrgPath::from_db(path)), "delivery", op).is_err() {
        return Err(AppError::NotFound { what: "delivery" });
    }
    log_views(vec![line])?.pop().ok_or(AppError::NotFound { what: "delivery" })
}

/// An admin sends a failed delivery again: pending, its tries counted from zero.
pub fn retry_delivery(conn: &mut DbConn, actor: &Actor, id: &DeliveryId, now: NaiveDateTime) -> AppResult<()> {
    use crate::db::schema::org_units;
    let found: Option<(String, String)> = deliveries::table
        .inner_join(notifications::table.inner_join(org_units::table.on(org_units::id.eq(notifications::unit_id))))
        .filter(deliveries::id.eq(id))
        .select((deliveries::state, org_units::path))
        .first(conn)
        .optional()?;
    let (state, path) = found.ok_or(AppError::NotFound { what: "delivery" })?;
    let op = crate::domain::Operation::OrgUnitManage;
    super::scope::enforce(actor.decide(op, &crate::domain::OrgPath::from_db(path)), "delivery", op)
        .map_err(|_| AppError::NotFound { what: "delivery" })?;
    if state != DeliveryState::Failed.as_str() {
        return Err(AppError::validation("state", crate::msg!("rule-one_of", values = DeliveryState::Failed.as_str())));
    }
    diesel::update(deliveries::table.find(id))
        .set((deliveries::state.eq(DeliveryState::Pending.as_str()), deliveries::attempts.eq(0), deliveries::due_at.eq(now)))
        .execute(conn)?;
    Ok(())
}
