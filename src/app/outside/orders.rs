//! 12345 work orders in (接诉即办 → 派单): a platform's order becomes a ticket of the normal
//! workflow, idempotent on the order's external id (the same order sent again is the same ticket;
//! a changed one is an update recorded in the audit), landed at the unit the platform named or
//! where its address points, or at the client's triage compound (待分拨) when nothing matches.
//! Open311 service requests take the same way in (`open311`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::org::find_unit;
use crate::app::rfc3339;
use crate::app::sla::SlaContext;
use crate::app::tickets::{self, NewTicket};
use crate::app::{opt_text, text, AppError, AppResult};
use crate::db::models::OrgUnitRow;
use crate::db::schema::{external_orders, notifications, org_units, sla_clocks, tickets as tickets_t};
use crate::db::{backend, DbConn};
use crate::domain::notify::NoticeKind;
use crate::domain::outside::{match_address, Landing, NamedPlace};
use crate::domain::pii::validate_mobile;
use crate::domain::sla::Stage;
use crate::domain::workflow::{Channel, Satisfaction, TicketState, Urgency};
use crate::domain::{Actor, CategoryId, Grant, OrgKind, OrgUnitId, Role, TicketId};

use super::clients::{mapped_category, scope_of, ClientRow};
use super::links::{self, LinkChannel};

/// The person behind a request, as the platform gives him. Kept on the ticket (masked for those
/// who may not see it); never sent back out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    #[schema(max_length = 50)]
    pub name: Option<String>,
    /// A mainland mobile number.
    #[schema(max_length = 20)]
    pub phone: Option<String>,
    #[schema(max_length = 200)]
    pub email: Option<String>,
    /// Send him the link to his request's status page: `sms` (to `phone`), `email`, or `none`.
    pub notify: Option<String>,
}

/// A 12345 work order (工单) as the platform sends it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkOrder {
    /// The platform's own number of the order: the same number is the same ticket.
    #[schema(min_length = 1, max_length = 64)]
    pub external_id: String,
    /// The platform's category code, mapped to ours by the client's category map.
    #[schema(min_length = 1, max_length = 50)]
    pub category_code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: String,
    #[serde(default = "crate::app::tickets::normal_urgency")]
    pub urgency: Urgency,
    /// The platform's deadline (办理时限), RFC 3339 with an offset: the resolution clocks run to it.
    pub deadline: Option<String>,
    /// The code of the org unit the platform dispatched to (a street, community, compound or
    /// building); without it, or when it is a street or community, the address decides.
    #[schema(max_length = 50)]
    pub unit_code: Option<String>,
    #[schema(max_length = 200)]
    pub address: Option<String>,
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    pub requester: Option<Requester>,
}

/// What a received order did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Received {
    /// A new ticket (201).
    Created,
    /// The same order again: nothing changed (200).
    Unchanged,
    /// A changed order: the ticket was updated, the change audited (200).
    Updated,
}

/// One status the platform was sent (or will be).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatusEntry {
    pub status: String,
    #[serde(with = "crate::app::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: NaiveDateTime,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    pub satisfaction: Option<Satisfaction>,
}

/// A work order as the platform reads it back: its ticket's stage, where it landed, the deadline,
/// what was done, and every status pushed. No names, no phone numbers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OrderStatus {
    pub external_id: String,
    pub received: Received,
    /// Our ticket's id and number.
    pub ticket_id: String,
    pub ticket_number: String,
    pub state: TicketState,
    pub landing: Landing,
    /// The unit it landed at (a compound or building), by name.
    pub place_name: String,
    /// The platform's deadline as we hold it.
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline_at: Option<NaiveDateTime>,
    /// The nearest deadline of the ticket's running clocks.
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<NaiveDateTime>,
    pub resolution: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    /// How many times the order was changed after it arrived.
    pub revision: i32,
    pub statuses: Vec<StatusEntry>,
    #[serde(with = "crate::app::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: NaiveDateTime,
}

/// A filing from outside, whatever the door.
#[derive(Clone)]
pub struct Outside {
    /// The order's own id at its client (a 12345 work order's number, an Open311 request's token).
    pub external_id: String,
    /// What a re-sent order is compared by.
    pub body_hash: String,
    pub category_id: CategoryId,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub unit_code: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub requester: Requester,
    pub deadline: Option<NaiveDateTime>,
    pub channel: Channel,
}

/// The external id's form: letters, digits and `-_.:`, 1–64.
fn check_external_id(id: &str) -> AppResult<String> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        return Err(AppError::validation("external_id", crate::msg!("why-external_id")));
    }
    Ok(id.to_string())
}

/// The requester checked: a valid mobile, a plausible mail address, a known way to tell him.
pub fn check_requester(r: &Requester) -> AppResult<(Requester, LinkChannel)> {
    let name = opt_text("requester.name", &r.name, 50)?;
    let phone = opt_text("requester.phone", &r.phone, 20)?;
    if let Some(p) = &phone {
        validate_mobile(p).map_err(|e| AppError::validation("requester.phone", e))?;
    }
    let email = opt_text("requester.email", &r.email, 200)?;
    if let Some(e) = &email {
        if !crate::app::notifications::settings::valid_email(e) {
            return Err(AppError::validation("requester.email", crate::msg!("rule-email")));
        }
    }
    let channel = match r.notify.as_deref().map(str::trim) {
        None | Some("") | Some("none") => LinkChannel::None,
        Some("sms") => {
            LinkChannel::Sms(phone.clone().ok_or_else(|| AppError::validation("requester.phone", crate::msg!("why-link_needs_phone")))?)
        }
        Some("email") => {
            LinkChannel::Email(email.clone().ok_or_else(|| AppError::validation("requester.email", crate::msg!("why-link_needs_email")))?)
        }
        Some(_) => return Err(AppError::validation("requester.notify", crate::msg!("rule-one_of", values = "sms, email, none"))),
    };
    Ok((Requester { name, phone, email, notify: r.notify.clone() }, channel))
}

/// Where a filing from outside lands: the named unit when it is a compound or building in the
/// client's scope; else the compound (and building) its address names inside the named unit or
/// the scope; else the compound nearest its coordinates (within 500 m of the gate the admin
/// recorded); else the client's triage compound.
pub fn land(
    conn: &mut DbConn,
    client: &ClientRow,
    unit_code: Option<&str>,
    address: Option<&str>,
    point: Option<(f64, f64)>,
) -> AppResult<(OrgUnitRow, Landing)> {
    let scope = scope_of(conn, client)?;
    let mut within = scope.clone();
    if let Some(code) = unit_code.map(str::trim).filter(|c| !c.is_empty()) {
        let unit = crate::app::org::find_unit_by_code(conn, code)?.filter(|u| u.active && scope.path.contains(&u.path));
        if let Some(u) = unit {
            if matches!(u.kind, OrgKind::Compound | OrgKind::Building) {
                return Ok((u, Landing::Unit));
            }
            if u.kind != OrgKind::Department {
                within = u;
            }
        }
    }
    if let Some(address) = address.filter(|a| !a.trim().is_empty()) {
        // The compounds and buildings of the subtree, by name (a street holds a few hundred).
        let rows: Vec<(String, Option<String>, String, String)> = org_units::table
            .filter(org_units::path.like(format!("{}%", within.path.as_str())))
            .filter(org_units::active.eq(true))
            .filter(org_units::kind.eq_any([OrgKind::Compound.as_str(), OrgKind::Building.as_str()]))
            .select((org_units::id, org_units::parent_id, org_units::name, org_units::kind))
            .load(conn)?;
        let places: Vec<NamedPlace<'_>> = rows
            .iter()
            .map(|(id, parent, name, kind)| NamedPlace {
                id,
                compound: if kind == OrgKind::Building.as_str() { parent.as_deref() } else { None },
                name,
            })
            .collect();
        if let Some((compound, building)) = match_address(address, &places) {
            let id = building.unwrap_or(compound);
            let unit = find_unit(conn, &crate::app::stored_id(id)?)?.ok_or_else(|| AppError::internal_msg("matched unit gone".into()))?;
            return Ok((unit, Landing::Address));
        }
    }
    if let Some(point) = point {
        let rows: Vec<(String, Option<f64>, Option<f64>)> = org_units::table
            .filter(org_units::path.like(format!("{}%", within.path.as_str())))
            .filter(org_units::active.eq(true))
            .filter(org_units::kind.eq(OrgKind::Compound.as_str()))
            .filter(org_units::latitude.is_not_null())
            .select((org_units::id, org_units::latitude, org_units::longitude))
            .load(conn)?;
        let located: Vec<(&str, f64, f64)> = rows.iter().filter_map(|(id, lat, lon)| Some((id.as_str(), (*lat)?, (*lon)?))).collect();
        if let Some(id) = crate::domain::outside::nearest(point, &located) {
            let unit = find_unit(conn, &crate::app::stored_id(id)?)?.ok_or_else(|| AppError::internal_msg("located unit gone".into()))?;
            return Ok((unit, Landing::Location));
        }
    }
    let triage = find_unit(conn, &client.triage_compound_id)?.ok_or_else(|| AppError::internal_msg("triage compound gone".into()))?;
    Ok((triage, Landing::Triage))
}

/// The actor a client files as: its own person, under the desk grant of the community that
/// receives the request (the rules ask for a filing grant over the place).
fn filing_actor(conn: &mut DbConn, client: &ClientRow, place: &OrgUnitRow) -> AppResult<Actor> {
    let compound = if place.kind == OrgKind::Building {
        find_unit(conn, &place.parent_id.ok_or_else(|| AppError::internal_msg("building without compound".into()))?)?
    } else {
        Some(place.clone())
    };
    let community_id = compound.and_then(|c| c.parent_id).ok_or_else(|| AppError::internal_msg("compound without community".into()))?;
    let community = find_unit(conn, &community_id)?.ok_or_else(|| AppError::internal_msg("community gone".into()))?;
    Ok(Actor {
        person_id: client.person_id,
        login: format!("client-{}", client.key_id),
        grants: vec![Grant { role: Role::CommunityStaff, org_unit_id: community.id, org_kind: community.kind, org_path: community.path }],
    })
}

/// Files a request from outside as a new ticket, with its order row and, when the requester asked
/// for one, his status link; in the caller's transaction. Returns the ticket's id.
pub fn file_outside(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    client: &ClientRow,
    o: Outside,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<TicketId> {
    let (external_id, body_hash) = (o.external_id.as_str(), o.body_hash.as_str());
    let (requester, link) = check_requester(&o.requester)?;
    let point = o.latitude.zip(o.longitude).filter(|(a, b)| a.is_finite() && b.is_finite() && a.abs() <= 90.0 && b.abs() <= 180.0);
    let (place, landing) = land(conn, client, o.unit_code.as_deref(), o.address.as_deref(), point)?;
    let actor = filing_actor(conn, client, &place)?;
    let anonymous = requester.name.is_none() && requester.phone.is_none();
    let input = NewTicket {
        category_id: o.category_id.to_string(),
        urgency: o.urgency,
        title: o.title,
        description: o.description,
        building_id: (place.kind == OrgKind::Building).then(|| place.id.to_string()),
        compound_id: (place.kind == OrgKind::Compound).then(|| place.id.to_string()),
        address: o.address,
        latitude: o.latitude,
        longitude: o.longitude,
        resident_name: requester.name.clone(),
        resident_phone: requester.phone.clone(),
        anonymous,
        channel: o.channel,
        visit_log_id: None,
    };
    let mut p = tickets::check_filing(conn, &actor, input, now)?;
    p.take_number(conn, now)?;
    let (ticket_id, number, community_id) = (p.ticket_id(), p.number().to_string(), p.community_id());
    // The order first: the ticket's clocks look its deadline up.
    let order = diesel::insert_into(external_orders::table).values((
        external_orders::client_id.eq(client.id),
        external_orders::external_id.eq(external_id),
        external_orders::ticket_id.eq(ticket_id),
        external_orders::body_hash.eq(body_hash),
        external_orders::revision.eq(0),
        external_orders::landing.eq(landing.as_str()),
        external_orders::deadline.eq(o.deadline),
        external_orders::created_at.eq(now),
        external_orders::updated_at.eq(now),
    ));
    tickets::insert_filing(conn, ctx, &actor, p, now)?;
    order.execute(conn)?;
    if link != LinkChannel::None {
        links::create(conn, ticket_id, community_id, &number, link, None, base_url, now)?;
    }
    Ok(ticket_id)
}

/// A 12345 work order's deadline (办理时限), if the ticket came with one.
pub fn platform_deadline(conn: &mut DbConn, ticket_id: TicketId) -> AppResult<Option<NaiveDateTime>> {
    Ok(external_orders::table
        .filter(external_orders::ticket_id.eq(ticket_id))
        .select(external_orders::deadline)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten())
}

/// Which of these tickets run to a 12345 platform's deadline (one query, in pages of 1,000).
pub fn with_platform_deadline(conn: &mut DbConn, ids: &[TicketId]) -> AppResult<std::collections::HashSet<TicketId>> {
    let mut out = std::collections::HashSet::new();
    for page in ids.chunks(1000) {
        let found: Vec<TicketId> = external_orders::table
            .filter(external_orders::ticket_id.eq_any(page))
            .filter(external_orders::deadline.is_not_null())
            .select(external_orders::ticket_id)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

/// The hash an order is compared by: its fields as parsed, serialised again.
pub fn order_hash(o: &WorkOrder) -> String {
    hex::encode(Sha256::digest(serde_json::to_string(o).unwrap_or_default().as_bytes()))
}

/// 派单: receives a work order. New → a ticket; the same again → nothing; changed → the ticket's
/// title, description, address and deadline updated, with an audit event (the place, category,
/// urgency and requester of a filed ticket are the workflow's from then on).
/// Runs its own transaction (run again once if another server filed the same order meanwhile).
pub fn receive(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    client: &ClientRow,
    order: WorkOrder,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<OrderStatus> {
    let external_id = check_external_id(&order.external_id)?;
    let once =
        |conn: &mut DbConn| backend::immediate_transaction(conn, |c| receive_in(c, ctx, client, &external_id, &order, base_url, now));
    match once(conn) {
        // Another server stored the same external id between our read and our insert.
        Err(AppError::Conflict { code: "already_exists", .. }) => once(conn),
        r => r,
    }
}

fn receive_in(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    client: &ClientRow,
    external_id: &str,
    order: &WorkOrder,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<OrderStatus> {
    let hash = order_hash(order);
    let title = text("title", &order.title, 100)?;
    let description = text("description", &order.description, 4000)?;
    let address = opt_text("address", &order.address, 200)?;
    let deadline = match order.deadline.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            rfc3339::parse(d)
                .map_err(|_| AppError::validation("deadline", crate::msg!("rule-rfc3339", example = "2026-12-02T18:00:00+08:00")))?,
        ),
        None => None,
    };
    let existing: Option<(TicketId, String)> = external_orders::table
        .filter(external_orders::client_id.eq(client.id))
        .filter(external_orders::external_id.eq(external_id))
        .select((external_orders::ticket_id, external_orders::body_hash))
        .first(conn)
        .optional()?;
    match existing {
        Some((_, h)) if h == hash => order_status(conn, client, external_id, Received::Unchanged),
        Some((ticket_id, _)) => {
            update_order(conn, ctx, client, external_id, ticket_id, &hash, (title, description, address, deadline), now)?;
            order_status(conn, client, external_id, Received::Updated)
        }
        None => {
            let code = text("category_code", &order.category_code, 50)?;
            let category_id = mapped_category(conn, &client.id, &code)?.ok_or_else(|| AppError::UnknownReference {
                field: "category_code".into(),
                detail: crate::msg!("why-no_category_map", code = code),
            })?;
            let o = Outside {
                external_id: external_id.to_string(),
                body_hash: hash.clone(),
                category_id,
                urgency: order.urgency,
                title,
                description,
                unit_code: order.unit_code.clone(),
                address,
                latitude: order.latitude,
                longitude: order.longitude,
                requester: order.requester.clone().unwrap_or_default(),
                deadline,
                channel: Channel::Hotline,
            };
            file_outside(conn, ctx, client, o, base_url, now)?;
            order_status(conn, client, external_id, Received::Created)
        }
    }
}

/// A changed order: what the platform may change once the ticket exists (its text, address and
/// deadline), audited as `external_update`; a ticket already finished refuses it.
#[allow(clippy::too_many_arguments)]
fn update_order(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    client: &ClientRow,
    external_id: &str,
    ticket_id: TicketId,
    hash: &str,
    (title, description, address, deadline): (String, String, Option<String>, Option<NaiveDateTime>),
    now: NaiveDateTime,
) -> AppResult<()> {
    tickets::lock_rows(conn, &[ticket_id])?;
    let t: (String, String, Option<String>, Option<NaiveDateTime>, TicketState, i64) = tickets_t::table
        .find(ticket_id)
        .select((tickets_t::title, tickets_t::description, tickets_t::address, tickets_t::due_at, tickets_t::state, tickets_t::version))
        .first(conn)?;
    let old_deadline = platform_deadline(conn, ticket_id)?;
    let t = (t.0, t.1, t.2, old_deadline, t.4, t.5);
    if t.4.is_final() {
        return Err(AppError::conflict(
            "order_finished",
            crate::msg!("why-order_finished", state = crate::domain::text::Arg::Key(t.4.label_key())),
        ));
    }
    let mut changes = serde_json::Map::new();
    if t.0 != title {
        changes.insert("title".into(), json!([t.0, title]));
    }
    if t.1 != description {
        changes.insert("description".into(), json!([t.1, description]));
    }
    if t.2 != address {
        changes.insert("address".into(), json!([t.2, address]));
    }
    if t.3 != deadline {
        changes.insert("external_due_at".into(), json!([t.3, deadline]));
    }
    diesel::update(tickets_t::table.find(ticket_id))
        .set((
            tickets_t::title.eq(&title),
            tickets_t::description.eq(&description),
            tickets_t::address.eq(&address),
            tickets_t::version.eq(t.5 + 1),
            tickets_t::updated_at.eq(now),
        ))
        .execute(conn)?;
    if t.3 != deadline {
        // The running resolution clocks take the new deadline (or the policy's, when it is gone).
        let running: Vec<crate::db::models::ClockRow> = sla_clocks::table
            .filter(sla_clocks::ticket_id.eq(ticket_id))
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
            .select(crate::db::models::ClockRow::as_select())
            .load(conn)?;
        for c in &running {
            if let Some(d) = deadline.filter(|d| *d > now) {
                crate::app::sla::clocks::move_deadline(conn, ctx, c, d, now)?;
            }
        }
        crate::app::sla::clocks::refresh_ticket_due(conn, ticket_id)?;
    }
    diesel::update(
        external_orders::table.filter(external_orders::client_id.eq(client.id)).filter(external_orders::external_id.eq(external_id)),
    )
    .set((
        external_orders::body_hash.eq(hash),
        external_orders::deadline.eq(deadline),
        external_orders::revision.eq(external_orders::revision + 1),
        external_orders::updated_at.eq(now),
    ))
    .execute(conn)?;
    let by = ActedBy { person_id: Some(client.person_id), role: None, unit_id: None };
    let id = ticket_id.to_string();
    let state = t.4.as_str();
    audit::append_all(
        conn,
        vec![Draft {
            entity_kind: "ticket",
            entity_id: &id,
            by: &by,
            action: "external_update",
            from_state: Some(state),
            to_state: Some(state),
            reason: None,
            changes: serde_json::Value::Object(changes),
        }],
        now,
    )?;
    Ok(())
}

/// A work order's status, for the platform that sent it; another client's is not found.
pub fn order_status(conn: &mut DbConn, client: &ClientRow, external_id: &str, received: Received) -> AppResult<OrderStatus> {
    let row: Option<(TicketId, String, i32)> = external_orders::table
        .filter(external_orders::client_id.eq(client.id))
        .filter(external_orders::external_id.eq(external_id))
        .select((external_orders::ticket_id, external_orders::landing, external_orders::revision))
        .first(conn)
        .optional()?;
    let (ticket_id, landing, revision) = row.ok_or(AppError::NotFound { what: "work order" })?;
    type T = (String, TicketState, OrgUnitId, TicketId, Option<NaiveDateTime>, Option<String>, Option<Satisfaction>, NaiveDateTime);
    let t: T = tickets_t::table
        .find(ticket_id)
        .select((
            tickets_t::number,
            tickets_t::state,
            tickets_t::place_id,
            tickets_t::id,
            tickets_t::due_at,
            tickets_t::resolution,
            tickets_t::satisfaction,
            tickets_t::updated_at,
        ))
        .first(conn)?;
    let place_name = find_unit(conn, &t.2)?.map(|u| u.name).unwrap_or_default();
    let payloads: Vec<String> = notifications::table
        .filter(notifications::ticket_id.eq(ticket_id))
        .filter(notifications::kind.eq(NoticeKind::PlatformStatus))
        .order((notifications::created_at.asc(), notifications::id.asc()))
        .select(notifications::payload)
        .load(conn)?;
    let statuses = payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .map(|v| StatusEntry {
            status: v["status"].as_str().unwrap_or_default().to_string(),
            at: v["at"].as_str().and_then(|t| rfc3339::parse(t).ok()).unwrap_or_default(),
            reason_code: v["reason_code"].as_str().map(str::to_string),
            note: v["note"].as_str().map(str::to_string),
            satisfaction: v["satisfaction"].as_str().and_then(|s| s.parse().ok()),
        })
        .collect();
    Ok(OrderStatus {
        external_id: external_id.to_string(),
        received,
        ticket_id: ticket_id.to_string(),
        ticket_number: t.0,
        state: t.1,
        landing: landing.parse().map_err(AppError::internal_msg)?,
        place_name,
        deadline_at: platform_deadline(conn, t.3)?,
        due_at: t.4,
        resolution: t.5,
        satisfaction: t.6,
        revision,
        statuses,
        updated_at: t.7,
    })
}
