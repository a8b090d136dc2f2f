//! The outbox's side of sending: claiming the due deliveries with what each needs to go out, and
//! recording how each try went. The I/O (SMTP, HTTP) is the worker's (`worker::deliveries`).
//!
//! A claimed delivery is `sending` until `claimed_until`; a worker that dies between sending and
//! marking leaves it to be claimed again after that, so delivery is at least once: receivers
//! deduplicate on the delivery's id (the mail's Message-ID, the webhook's `X-Gridloop-Delivery`).

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{channel_endpoints, deliveries, external_clients, notification_settings, notifications, people, tickets};
use crate::db::{backend, DbConn};
use crate::domain::calendar::WorkCalendar;
use crate::domain::notify::{backoff_seconds, DeliveryChannel, DeliveryState, NoticeKind, MAX_ATTEMPTS};
use crate::domain::{EndpointId, ExternalClientId, PersonId};
use crate::i18n::Lang;

use super::{render, DeliveryRow};
use crate::app::{AppError, AppResult};

/// A delivery to send now, with its text in the recipient's language.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: String,
    pub channel: DeliveryChannel,
    pub kind: NoticeKind,
    pub urgent: bool,
    /// This try's number (1 for the first).
    pub attempt: i32,
    pub ticket_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub lang: Lang,
    /// An email address, or the endpoint's URL.
    pub to: String,
    /// The recipient's name (email).
    pub to_name: Option<String>,
    /// The endpoint's signing secret (DingTalk, webhooks).
    pub secret: Option<String>,
    pub endpoint_id: Option<String>,
    pub notification_id: String,
    pub created_at: NaiveDateTime,
    /// For the person's daily digest: sent in one mail with his others due (每日摘要).
    pub digest: bool,
    /// A platform's status push: the body it gets (decision 0032).
    pub payload: Option<serde_json::Value>,
}

/// What one claim found.
#[derive(Debug, Default)]
pub struct Claimed {
    pub outgoing: Vec<Outgoing>,
    /// Non-urgent deliveries moved to the next working morning (quiet hours).
    pub deferred: usize,
    /// Deliveries with nowhere to go (no address any more, an endpoint switched off): failed.
    pub undeliverable: usize,
}

/// Claims up to `limit` due deliveries for `hold` (a worker's time to send them) and returns them
/// ready to send. Non-urgent ones of people who keep quiet hours (the default) and of group
/// endpoints wait, outside working time by `calendar`, for the next working morning. Run it in a
/// write transaction.
pub fn claim(conn: &mut DbConn, calendar: &WorkCalendar, now: NaiveDateTime, limit: i64, hold: Duration) -> AppResult<Claimed> {
    let ids = backend::claim_due_deliveries(conn, now, limit)?;
    if ids.is_empty() {
        return Ok(Claimed::default());
    }
    type Line = (DeliveryRow, (String, String, Option<String>), Option<(String, String)>);
    let rows: Vec<Line> = deliveries::table
        .inner_join(notifications::table)
        .left_join(tickets::table.on(tickets::id.nullable().eq(notifications::ticket_id)))
        .filter(deliveries::id.eq_any(&ids))
        .select((
            DeliveryRow::as_select(),
            (notifications::kind, notifications::payload, notifications::ticket_id),
            (tickets::number, tickets::title).nullable(),
        ))
        .load(conn)?;
    let person_ids: Vec<PersonId> = rows.iter().filter_map(|(d, _, _)| d.person_id).collect();
    let persons: HashMap<PersonId, (String, String)> = people::table
        .filter(people::id.eq_any(&person_ids))
        .select((people::id, people::display_name, people::locale))
        .load::<(PersonId, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, locale)| (id, (name, locale)))
        .collect();
    let settings: HashMap<PersonId, (Option<String>, bool)> = notification_settings::table
        .filter(notification_settings::person_id.eq_any(&person_ids))
        .select((notification_settings::person_id, notification_settings::email, notification_settings::quiet_hours))
        .load::<(PersonId, Option<String>, bool)>(conn)?
        .into_iter()
        .map(|(id, email, quiet)| (id, (email, quiet)))
        .collect();
    let endpoint_ids: Vec<EndpointId> = rows.iter().filter_map(|(d, _, _)| d.endpoint_id).collect();
    let endpoints: HashMap<EndpointId, (String, Option<String>, bool)> = channel_endpoints::table
        .filter(channel_endpoints::id.eq_any(&endpoint_ids))
        .select((channel_endpoints::id, channel_endpoints::url, channel_endpoints::secret, channel_endpoints::active))
        .load::<(EndpointId, String, Option<String>, bool)>(conn)?
        .into_iter()
        .map(|(id, url, secret, active)| (id, (url, secret, active)))
        .collect();
    let client_ids: Vec<ExternalClientId> = rows.iter().filter_map(|(d, _, _)| d.client_id).collect();
    let clients: HashMap<ExternalClientId, (Option<String>, Option<String>, bool)> = if client_ids.is_empty() {
        HashMap::new()
    } else {
        external_clients::table
            .filter(external_clients::id.eq_any(&client_ids))
            .select((external_clients::id, external_clients::webhook_url, external_clients::secret, external_clients::active))
            .load::<(ExternalClientId, Option<String>, Option<String>, bool)>(conn)?
            .into_iter()
            .map(|(id, url, secret, active)| (id, (url, secret, active)))
            .collect()
    };
    let quiet_until = calendar.quiet_until(now)?;
    let (mut out, mut deferred, mut dead) = (Claimed::default(), vec![], vec![]);
    for (d, (kind, payload, ticket_id), ticket) in rows {
        let channel = d.channel;
        let kind: NoticeKind = kind.parse().map_err(AppError::internal_msg)?;
        let (email, quiet) = d.person_id.as_ref().and_then(|p| settings.get(p).cloned()).unwrap_or((None, true));
        // A group's robot or a gateway is quiet after hours too; a person may choose otherwise.
        let keeps_quiet = if d.endpoint_id.is_some() { true } else { quiet };
        if let Some(at) = quiet_until.filter(|_| !d.urgent && keeps_quiet) {
            deferred.push((d.id.to_string(), at));
            continue;
        }
        // A digest's delivery waits for the working morning after it was written (then the
        // person's others written since go with it); after that it goes at once, with retries.
        if d.digest {
            let morning = calendar.next_working_morning(d.created_at)?;
            if morning > now {
                deferred.push((d.id.to_string(), morning));
                continue;
            }
        }
        let (to, secret) = match channel {
            // A platform's status push: its client's webhook, while the client is active.
            _ if d.client_id.is_some() => match d.client_id.as_ref().and_then(|c| clients.get(c)) {
                Some((Some(url), secret, true)) => (Some(url.clone()), secret.clone()),
                _ => (None, None),
            },
            // A resident's own address (a mail address, or `sms:<mobile>` for the gateway).
            _ if d.address.is_some() => (d.address.clone(), None),
            DeliveryChannel::Email => (email, None),
            DeliveryChannel::InApp => (None, None),
            _ => match d.endpoint_id.as_ref().and_then(|e| endpoints.get(e)) {
                Some((url, secret, true)) => (Some(url.clone()), secret.clone()),
                _ => (None, None),
            },
        };
        let Some(to) = to else {
            dead.push(d.id.to_string());
            continue;
        };
        let (name, locale) = d.person_id.as_ref().and_then(|p| persons.get(p).cloned()).unwrap_or_default();
        let lang = Lang::from_locale(&locale);
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let (subject, body) = render(kind, &payload, ticket.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), lang);
        let payload = (kind == NoticeKind::PlatformStatus).then_some(payload);
        out.outgoing.push(Outgoing {
            id: d.id.to_string(),
            channel,
            kind,
            urgent: d.urgent,
            attempt: d.attempts + 1,
            ticket_id,
            subject,
            body,
            lang,
            to,
            to_name: d.person_id.is_some().then_some(name),
            secret,
            endpoint_id: d.endpoint_id.map(|e| e.to_string()),
            notification_id: d.notification_id.to_string(),
            created_at: d.created_at,
            digest: d.digest,
            payload,
        });
    }
    let mut by_time: HashMap<NaiveDateTime, Vec<String>> = HashMap::new();
    for (id, at) in &deferred {
        by_time.entry(*at).or_default().push(id.clone());
    }
    for (at, ids) in by_time {
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)))
            .set((
                deliveries::state.eq(DeliveryState::Pending.as_str()),
                deliveries::due_at.eq(at),
                deliveries::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&dead)))
        .set((deliveries::state.eq(DeliveryState::Failed.as_str()), deliveries::last_error.eq(Some("no address to send to"))))
        .execute(conn)?;
    let sending: Vec<&str> = out.outgoing.iter().map(|o| o.id.as_str()).collect();
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&sending)))
        .set((
            deliveries::state.eq(DeliveryState::Sending.as_str()),
            deliveries::claimed_until.eq(Some(now + hold)),
            deliveries::attempts.eq(deliveries::attempts + 1),
        ))
        .execute(conn)?;
    out.deferred = deferred.len();
    out.undeliverable = dead.len();
    Ok(out)
}

/// How one try of a delivery went.
#[derive(Clone, Debug, PartialEq)]
pub enum Tried {
    Sent,
    /// It failed; `retry` when trying again may help (a server down, a 5xx, a timeout).
    Failed {
        retry: bool,
        error: String,
    },
    /// Not tried now (a robot's rate limit): again at this time, the try not counted.
    Later(NaiveDateTime),
}

/// What the settling of a batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub later: usize,
}

/// Records the tries: sent; failed for now (pending again after its backoff, with `jitter` in
/// 0.0–1.0); failed for good after [`MAX_ATTEMPTS`] or when retrying cannot help; or put off.
pub fn settle(conn: &mut DbConn, tries: &[(&Outgoing, Tried)], now: NaiveDateTime, jitter: &mut dyn FnMut() -> f64) -> AppResult<Settled> {
    let mut s = Settled::default();
    let sent: Vec<&str> = tries.iter().filter(|(_, t)| *t == Tried::Sent).map(|(o, _)| o.id.as_str()).collect();
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&sent)))
        .set((
            deliveries::state.eq(DeliveryState::Sent.as_str()),
            deliveries::sent_at.eq(Some(now)),
            deliveries::claimed_until.eq(None::<NaiveDateTime>),
            deliveries::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    s.sent = sent.len();
    for (o, t) in tries {
        let target = deliveries::table.find(&o.id);
        match t {
            Tried::Sent => {}
            Tried::Failed { retry, error } if *retry && o.attempt < MAX_ATTEMPTS => {
                let at = now + Duration::seconds(backoff_seconds(o.attempt, jitter()));
                diesel::update(target)
                    .set((
                        deliveries::state.eq(DeliveryState::Pending.as_str()),
                        deliveries::due_at.eq(at),
                        deliveries::claimed_until.eq(None::<NaiveDateTime>),
                        deliveries::last_error.eq(Some(short(error))),
                    ))
                    .execute(conn)?;
                s.retrying += 1;
            }
            Tried::Failed { error, .. } => {
                diesel::update(target)
                    .set((
                        deliveries::state.eq(DeliveryState::Failed.as_str()),
                        deliveries::claimed_until.eq(None::<NaiveDateTime>),
                        deliveries::last_error.eq(Some(short(error))),
                    ))
                    .execute(conn)?;
                s.failed += 1;
            }
            Tried::Later(at) => {
                diesel::update(target)
                    .set((
                        deliveries::state.eq(DeliveryState::Pending.as_str()),
                        deliveries::due_at.eq(*at),
                        deliveries::claimed_until.eq(None::<NaiveDateTime>),
                        deliveries::attempts.eq(deliveries::attempts - 1),
                    ))
                    .execute(conn)?;
                s.later += 1;
            }
        }
    }
    Ok(s)
}

/// An error as stored: one line, at most 500 characters.
fn short(e: &str) -> String {
    e.replace(['\r', '\n'], " ").chars().take(500).collect()
}

/// How many deliveries each robot endpoint sent since `since` (its rate limit's window). Those
/// merged into one message each count: the count errs on the side of sending fewer.
pub fn sent_since(conn: &mut DbConn, endpoint_ids: &[&str], since: NaiveDateTime) -> AppResult<HashMap<String, i64>> {
    if endpoint_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, i64)> = deliveries::table
        .filter(deliveries::endpoint_id.eq_any(endpoint_ids))
        .filter(deliveries::state.eq(DeliveryState::Sent.as_str()))
        .filter(deliveries::sent_at.ge(since))
        .group_by(deliveries::endpoint_id)
        .select((deliveries::endpoint_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(e, n)| e.map(|e| (e, n))).collect())
}
