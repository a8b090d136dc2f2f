//! Open311 GeoReport v2 (decision 0032): our categories as services, a service request filed by
//! an app (its `api_key` a client of kind `open311`) through the same landing and filing as a
//! 12345 order, and the requests read back publicly. Public reads carry no personal data: only
//! requests that came in through Open311 are listed (a grid worker's notes never are), the address
//! shown is the compound's name (never a room), coordinates are rounded to about 100 m, and a
//! phone number typed into a description is masked.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::app::sla::SlaContext;
use crate::app::{AppError, AppResult};
use crate::db::schema::{categories, external_clients, external_orders, org_units, ticket_assignments, tickets};
use crate::db::DbConn;
use crate::domain::outside::{resident_stage_key, ClientKind};
use crate::domain::workflow::{Channel, Level, TicketState, Urgency};
use crate::domain::{CategoryId, OrgUnitId, TicketId};
use crate::i18n::Lang;

use super::clients::ClientRow;
use super::orders::{file_outside, Outside, Requester};

/// The jurisdiction this server answers for; `jurisdiction_id` may be left out (one jurisdiction).
pub const JURISDICTION: &str = "gridloop";

/// The most requests one GET answers, and the default window (the spec's 1,000 and 90 days).
pub const MAX_REQUESTS: i64 = 1000;
pub const WINDOW_DAYS: i64 = 90;

/// A service: one of our categories.
#[derive(Clone, Debug)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub description: String,
    pub urgencies: Vec<Urgency>,
}

/// The active categories, as services.
pub fn services(conn: &mut DbConn, lang: Lang) -> AppResult<Vec<Service>> {
    let rows: Vec<(String, String, String, String)> = categories::table
        .filter(categories::active.eq(true))
        .order(categories::code.asc())
        .select((categories::code, categories::name_zh, categories::name_en, categories::urgencies))
        .load(conn)?;
    Ok(rows.into_iter().map(|(code, zh, en, u)| service_of(code, zh, en, &u, lang)).collect())
}

fn service_of(code: String, zh: String, en: String, urgencies: &str, lang: Lang) -> Service {
    let name = if lang == Lang::En { en } else { zh };
    Service { code, description: name.clone(), name, urgencies: urgencies.split(',').filter_map(|u| u.parse().ok()).collect() }
}

/// One service by its code; a missing or inactive one is not found.
pub fn service(conn: &mut DbConn, code: &str, lang: Lang) -> AppResult<(CategoryId, Service)> {
    let row: Option<(CategoryId, String, String, String, String)> = categories::table
        .filter(categories::code.eq(code))
        .filter(categories::active.eq(true))
        .select((categories::id, categories::code, categories::name_zh, categories::name_en, categories::urgencies))
        .first(conn)
        .optional()?;
    let (id, code, zh, en, u) = row.ok_or(AppError::NotFound { what: "category" })?;
    Ok((id, service_of(code, zh, en, &u, lang)))
}

/// A service request as an app posts it (form fields of the spec).
#[derive(Clone, Debug, Default)]
pub struct PostedRequest {
    pub service_code: String,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// `attribute[code]` values.
    pub attributes: HashMap<String, String>,
}

/// Files a posted service request: a new ticket landed by its address (or at the client's triage
/// compound), the resident's link sent to the mail or phone he gave. Returns the ticket number
/// (the `service_request_id`).
pub fn post_request(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    client: &ClientRow,
    r: PostedRequest,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<String> {
    let (category_id, svc) = service(conn, r.service_code.trim(), Lang::Zh)?;
    let has_point = r.lat.is_some() && r.long.is_some();
    let address = r.address_string.clone().or(r.address_id.clone()).filter(|a| !a.trim().is_empty());
    if !has_point && address.is_none() {
        return Err(AppError::validation("address_string", crate::msg!("why-open311_location", fields = "lat, long / address_string")));
    }
    let urgency = match r.attributes.get("urgency").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Urgency::Normal,
        Some(u) => {
            u.parse().map_err(|_| AppError::validation("attribute[urgency]", crate::msg!("rule-one_of", values = "normal, urgent")))?
        }
    };
    if !svc.urgencies.contains(&urgency) {
        return Err(AppError::validation(
            "attribute[urgency]",
            crate::msg!(
                "why-category_urgencies",
                code = &svc.code,
                allowed = svc.urgencies.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let description = r.description.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| svc.name.clone());
    if description.chars().count() > 4000 {
        return Err(AppError::validation("description", crate::msg!("rule-max_chars", max = 4000)));
    }
    let title: String = description.trim().chars().take(30).collect();
    // The building attribute names where inside the compound; it joins the address for landing.
    let address = match (address, r.attributes.get("building").map(|b| b.trim()).filter(|b| !b.is_empty())) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b.map(str::to_string)),
    };
    let address = address.map(|a| a.chars().take(200).collect::<String>());
    // The name as the app gives it (family name first, as Chinese names are written), at most 50.
    let name: String = [r.last_name.as_deref(), r.first_name.as_deref()].iter().flatten().map(|x| x.trim()).collect::<Vec<_>>().concat();
    let name = Some(name.chars().take(50).collect::<String>()).filter(|n| !n.is_empty());
    // A mainland mobile is kept (and gets the link by SMS); another number is not stored: the
    // request is not refused for it.
    let phone = r
        .phone
        .clone()
        .map(|p| p.trim().trim_start_matches("+86").replace(['-', ' '], ""))
        .filter(|p| crate::domain::pii::validate_mobile(p).is_ok());
    let email = r.email.clone().filter(|e| !e.trim().is_empty());
    let notify = if email.is_some() {
        Some("email".to_string())
    } else if phone.is_some() {
        Some("sms".to_string())
    } else {
        None
    };
    let external_id = format!("o311-{}", uuid::Uuid::now_v7().simple());
    let o = Outside {
        external_id: external_id.clone(),
        body_hash: "-".into(),
        category_id,
        urgency,
        title,
        description,
        unit_code: None,
        address,
        latitude: r.lat,
        longitude: r.long,
        requester: Requester { name, phone, email, notify },
        deadline: None,
        channel: Channel::Online,
    };
    let ticket_id = crate::db::backend::immediate_transaction(conn, |c| file_outside(c, ctx, client, o.clone(), base_url, now))
        // The requester's fields have the spec's names here (`email`, not `requester.email`).
        .map_err(|e| match e {
            AppError::Validation { field, detail } => {
                AppError::Validation { field: field.strip_prefix("requester.").map(str::to_string).unwrap_or(field), detail }
            }
            e => e,
        })?;
    let number: String = tickets::table.find(ticket_id).select(tickets::number).first(conn)?;
    Ok(number)
}

/// A request as the public reads it.
#[derive(Clone, Debug)]
pub struct PublicRequest {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: String,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    pub agency_responsible: String,
    pub requested_datetime: NaiveDateTime,
    pub updated_datetime: NaiveDateTime,
    pub expected_datetime: Option<NaiveDateTime>,
    pub address: String,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub token: String,
}

/// The GET filters of the spec.
#[derive(Clone, Debug, Default)]
pub struct RequestQuery {
    pub ids: Vec<String>,
    pub service_codes: Vec<String>,
    pub statuses: Vec<String>,
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
}

/// Phone numbers inside a text masked as 138****5678 (a mainland mobile: 11 digits from 13–19;
/// a landline: 7–8 digits after an area code such as 010-), and room numbers (digits before 室,
/// 房 or 户) hidden. Other numbers (a date, a house number, a reference) stay as written.
pub fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run == 0 {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let digits: String = chars[i..i + run].iter().collect();
        let before_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let mobile = run == 11 && digits.starts_with('1') && matches!(chars[i + 1], '3'..='9');
        // A landline: "0dd-" or "0ddd-" right before the run.
        let area = i >= 4 && chars[i - 1] == '-' && {
            let head: String = chars[i.saturating_sub(5)..i - 1].iter().collect();
            let code = head.trim_start_matches(|c: char| !c.is_ascii_digit());
            code.starts_with('0') && (3..=4).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit())
        };
        let landline = area && (7..=8).contains(&run);
        if matches!(chars.get(i + run), Some('室' | '房' | '户')) && !before_digit {
            out.push_str(&"*".repeat(run));
        } else if mobile || landline {
            let (head, tail) = if mobile { (3, 4) } else { (0, 4) };
            out.push_str(&digits[..head]);
            out.push_str(&"*".repeat(run - head - tail));
            out.push_str(&digits[run - tail..]);
        } else {
            out.push_str(&digits);
        }
        i += run;
    }
    out
}

type Row = (
    TicketId,
    String,
    TicketState,
    Option<Level>,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<f64>,
    Option<f64>,
    OrgUnitId,
    OrgUnitId,
    String,
);

/// Open or closed, for the spec: solved or finished is closed.
fn status_of(state: TicketState) -> &'static str {
    if state == TicketState::Solved || state.is_final() {
        "closed"
    } else {
        "open"
    }
}

/// The public requests the query names: those filed through Open311, newest first, at most
/// [`MAX_REQUESTS`], within [`WINDOW_DAYS`] unless ids or dates are given.
pub fn requests(conn: &mut DbConn, q: &RequestQuery, lang: Lang, now: NaiveDateTime) -> AppResult<Vec<PublicRequest>> {
    let mut query = tickets::table
        .inner_join(external_orders::table.on(external_orders::ticket_id.eq(tickets::id)))
        .inner_join(external_clients::table.on(external_clients::id.eq(external_orders::client_id)))
        .inner_join(categories::table.on(categories::id.eq(tickets::category_id)))
        .filter(external_clients::kind.eq(ClientKind::Open311.as_str()))
        .into_boxed();
    if !q.ids.is_empty() {
        query = query.filter(tickets::number.eq_any(&q.ids));
    } else {
        if !q.service_codes.is_empty() {
            query = query.filter(categories::code.eq_any(&q.service_codes));
        }
        let (start, end) = match (q.start, q.end) {
            (None, None) => (Some(now - Duration::days(WINDOW_DAYS)), None),
            (s, e) => (s, e),
        };
        if let Some(s) = start {
            query = query.filter(tickets::created_at.ge(s));
        }
        if let Some(e) = end {
            query = query.filter(tickets::created_at.le(e));
        }
        let open: Vec<&str> = [
            TicketState::AtCompound,
            TicketState::CompoundHandling,
            TicketState::AtCommunity,
            TicketState::CommunityHandling,
            TicketState::Whistled,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        match (q.statuses.iter().any(|s| s == "open"), q.statuses.iter().any(|s| s == "closed")) {
            (true, false) => query = query.filter(tickets::state.eq_any(open)),
            (false, true) => query = query.filter(tickets::state.ne_all(open)),
            _ => {}
        }
    }
    let rows: Vec<Row> = query
        .order(tickets::created_at.desc())
        .limit(MAX_REQUESTS)
        .select((
            tickets::id,
            tickets::number,
            tickets::state,
            tickets::solved_level,
            categories::code,
            categories::name_zh,
            categories::name_en,
            tickets::description,
            tickets::created_at,
            tickets::updated_at,
            tickets::due_at,
            tickets::latitude,
            tickets::longitude,
            tickets::compound_id,
            tickets::community_id,
            external_orders::external_id,
        ))
        .load(conn)?;
    // The units they are held by: compounds, communities, and the lead departments.
    let ids: Vec<TicketId> = rows.iter().map(|r| r.0).collect();
    let leads: HashMap<TicketId, OrgUnitId> = ticket_assignments::table
        .filter(ticket_assignments::ticket_id.eq_any(&ids))
        .filter(ticket_assignments::lead.eq(true))
        .filter(ticket_assignments::state.ne("removed"))
        .select((ticket_assignments::ticket_id, ticket_assignments::department_id))
        .load::<(TicketId, OrgUnitId)>(conn)?
        .into_iter()
        .collect();
    let mut unit_ids: Vec<OrgUnitId> = rows.iter().flat_map(|r| [r.13, r.14]).chain(leads.values().copied()).collect();
    unit_ids.sort_unstable();
    unit_ids.dedup();
    let names: HashMap<OrgUnitId, String> =
        org_units::table.filter(org_units::id.eq_any(&unit_ids)).select((org_units::id, org_units::name)).load(conn)?.into_iter().collect();
    let name = |u: &OrgUnitId| names.get(u).cloned().unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|r| {
            let holder = match (r.2, r.3) {
                (TicketState::AtCompound | TicketState::CompoundHandling, _) | (_, Some(Level::Compound)) => r.13,
                (TicketState::Whistled, _) | (_, Some(Level::Department)) => leads.get(&r.0).copied().unwrap_or(r.14),
                _ => r.14,
            };
            let closed = status_of(r.2) == "closed";
            PublicRequest {
                service_request_id: r.1,
                status: status_of(r.2),
                status_notes: crate::i18n::text(lang, resident_stage_key(r.2)),
                service_name: if lang == Lang::En { r.6 } else { r.5 },
                service_code: r.4,
                description: mask_phones(&r.7),
                agency_responsible: name(&holder),
                requested_datetime: r.8,
                updated_datetime: r.9,
                expected_datetime: r.10.filter(|_| !closed),
                address: name(&r.13),
                lat: r.11.map(|x| (x * 1000.0).round() / 1000.0),
                long: r.12.map(|x| (x * 1000.0).round() / 1000.0),
                token: r.15,
            }
        })
        .collect())
}

/// One public request by its `service_request_id`.
pub fn request(conn: &mut DbConn, id: &str, lang: Lang, now: NaiveDateTime) -> AppResult<PublicRequest> {
    let q = RequestQuery { ids: vec![id.to_string()], ..Default::default() };
    requests(conn, &q, lang, now)?.pop().ok_or(AppError::NotFound { what: "ticket" })
}

/// The request a token (an Open311 order's own id) names: (service_request_id, token).
pub fn by_token(conn: &mut DbConn, token: &str) -> AppResult<(String, String)> {
    let row: Option<String> = external_orders::table
        .inner_join(external_clients::table.on(external_clients::id.eq(external_orders::client_id)))
        .inner_join(tickets::table.on(tickets::id.eq(external_orders::ticket_id)))
        .filter(external_clients::kind.eq(ClientKind::Open311.as_str()))
        .filter(external_orders::external_id.eq(token))
        .select(tickets::number)
        .first(conn)
        .optional()?;
    row.map(|n| (n, token.to_string())).ok_or(AppError::NotFound { what: "ticket" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_and_room_numbers_in_a_description_are_masked_short_numbers_kept() {
        assert_eq!(mask_phones("请联系13812345678，3号楼"), "请联系138****5678，3号楼");
        assert_eq!(mask_phones("2单元302室 电话 010-62345678"), "2单元***室 电话 010-****5678");
        let stamp = "check 20261202013000-1234: a pothole";
        assert_eq!(mask_phones(stamp), stamp, "other numbers stay as written");
    }
}
