//! Status back to the 12345 platform (状态回传): an action on a work order's ticket that the
//! platform must know of (签收, 退单, 延期申请, 办结, 回访) records, in the action's transaction, a
//! notification addressed to the platform's client, whose delivery the worker pushes to its signed
//! webhook, at least once, with the delivery's id to deduplicate on (decision 0032). The same
//! statuses are readable by the platform by external id (`orders::order_status`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::app::notifications::{record_addressed, Recipient};
use crate::app::rfc3339;
use crate::app::AppResult;
use crate::db::schema::{external_clients, external_orders};
use crate::db::DbConn;
use crate::domain::notify::NoticeKind;
use crate::domain::outside::{rejection_code, ClientKind, PlatformStatus};
use crate::domain::workflow::{ActionKind, Satisfaction, TicketState};
use crate::domain::{ExternalClientId, OrgUnitId, TicketId};

/// An action just taken on a ticket, as the platform may need to hear of it.
pub struct Acted<'a> {
    pub ticket_id: TicketId,
    pub community_id: OrgUnitId,
    pub number: &'a str,
    /// The ticket's version after the action.
    pub version: i64,
    pub kind: ActionKind,
    pub from: TicketState,
    pub to: TicketState,
    pub reason: Option<&'a str>,
    pub resolution: Option<&'a str>,
    pub satisfaction: Option<Satisfaction>,
    pub due_at: Option<NaiveDateTime>,
}

/// Records the status pushes of these actions for the tickets that came from a 12345 platform
/// (one query finds them; nothing is written for the others).
pub fn push(conn: &mut DbConn, acted: &[Acted<'_>], now: NaiveDateTime) -> AppResult<()> {
    let wanted: Vec<&Acted<'_>> = acted.iter().filter(|a| PlatformStatus::of_action(a.kind, a.from, a.to).is_some()).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<TicketId> = wanted.iter().map(|a| a.ticket_id).collect();
    let orders: Vec<(TicketId, String, ExternalClientId, Option<String>)> = external_orders::table
        .inner_join(external_clients::table)
        .filter(external_orders::ticket_id.eq_any(&ids))
        .filter(external_clients::kind.eq(ClientKind::Hotline.as_str()))
        .select((external_orders::ticket_id, external_orders::external_id, external_orders::client_id, external_clients::webhook_url))
        .load(conn)?;
    for (ticket_id, external_id, client_id, webhook) in orders {
        for a in wanted.iter().filter(|a| a.ticket_id == ticket_id) {
            let Some(status) = PlatformStatus::of_action(a.kind, a.from, a.to) else { continue };
            let payload = json!({
                "external_id": external_id,
                "ticket_number": a.number,
                "status": status.as_str(),
                "state": a.to.as_str(),
                "at": rfc3339::format(&now),
                "reason_code": rejection_code(a.kind),
                "note": match status {
                    PlatformStatus::Solved => a.resolution,
                    _ => a.reason,
                },
                "satisfaction": (status == PlatformStatus::ReturnVisit).then_some(a.satisfaction).flatten(),
                "reopened": status == PlatformStatus::ReturnVisit && a.to != TicketState::Closed,
                "due_at": a.due_at.map(|d| rfc3339::format(&d)),
            });
            let key = if status.once_per_ticket() {
                format!("platform:{ticket_id}:{}", status.as_str())
            } else {
                format!("platform:{ticket_id}:v{}:{}", a.version, status.as_str())
            };
            // Recorded always (the platform reads it back by external id); pushed when it has a receiver.
            let to = webhook.as_ref().map(|_| Recipient::Platform(client_id));
            record_addressed(conn, a.community_id, ticket_id, NoticeKind::PlatformStatus, to, payload, &key, now)?;
        }
    }
    Ok(())
}
