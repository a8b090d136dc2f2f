//! A resident's own link (居民查询链接): a short unguessable token, no login, to a page showing
//! his request's stage in plain words, its steps without staff names or personal data, the
//! expected date and — once solved — a rating (满意 / 基本满意 / 不满意) with a comment, which is
//! recorded in the ticket's history for the grid worker's return visit (he still confirms by
//! visit or phone; both are kept). Staff who can act on the ticket create, list and revoke links;
//! a link is sent by the channel the resident gave (SMS gateway, mail). A wrong, expired or
//! revoked token are the same "not found".

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::notifications::{record_addressed, Recipient};
use crate::app::{opt_text, AppError, AppResult};
use crate::db::schema::{categories, resident_links, tickets};
use crate::db::DbConn;
use crate::domain::notify::NoticeKind;
use crate::domain::outside::{resident_stage_key, resident_step_key};
use crate::domain::pii::validate_mobile;
use crate::domain::workflow::{Satisfaction, TicketState};
use crate::domain::{Actor, Operation, OrgUnitId, PersonId, ResidentLinkId, TicketId};

/// How long a link works.
pub const LINK_DAYS: i64 = 180;

/// How a link reaches the resident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkChannel {
    Sms(String),
    Email(String),
    /// Handed over by the staff (read out, printed): nothing is sent.
    None,
}

impl LinkChannel {
    fn as_str(&self) -> &'static str {
        match self {
            LinkChannel::Sms(_) => "sms",
            LinkChannel::Email(_) => "email",
            LinkChannel::None => "none",
        }
    }
}

/// A new token: 16 random bytes, base64url (22 characters).
fn new_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The page a token opens, under `base_url` (the address the pages are opened at).
pub fn link_url(base_url: &str, token: &str) -> String {
    format!("{}/s/{token}", base_url.trim_end_matches('/'))
}

/// Creates a link for a ticket and, by SMS or mail, sends it; in the caller's transaction.
/// Returns its id and token.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    ticket_id: TicketId,
    community_id: OrgUnitId,
    number: &str,
    channel: LinkChannel,
    created_by: Option<PersonId>,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<(ResidentLinkId, String)> {
    let id = ResidentLinkId::new();
    let token = new_token();
    diesel::insert_into(resident_links::table)
        .values((
            resident_links::id.eq(id),
            resident_links::token.eq(&token),
            resident_links::ticket_id.eq(ticket_id),
            resident_links::channel.eq(channel.as_str()),
            resident_links::created_by.eq(created_by),
            resident_links::created_at.eq(now),
            resident_links::expires_at.eq(now + Duration::days(LINK_DAYS)),
        ))
        .execute(conn)?;
    let to = match channel {
        LinkChannel::Sms(m) => Some(Recipient::Sms(m)),
        LinkChannel::Email(a) => Some(Recipient::Email(a)),
        LinkChannel::None => None,
    };
    if let Some(to) = to {
        let payload = json!({"number": number, "link": link_url(base_url, &token)});
        record_addressed(conn, community_id, ticket_id, NoticeKind::ResidentLink, Some(to), payload, &format!("resident_link:{id}"), now)?;
    }
    Ok((id, token))
}

/// A staff member's request for a link: how to send it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// `sms` (to `phone`, or the ticket's resident phone), `email` (to `email`), or `none` (to hand over).
    pub channel: String,
    #[schema(max_length = 20)]
    pub phone: Option<String>,
    #[schema(max_length = 200)]
    pub email: Option<String>,
}

/// A link as staff see it: never its token again (except once, when created).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub id: String,
    pub channel: String,
    #[serde(with = "crate::app::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<NaiveDateTime>,
    pub rating: Option<Satisfaction>,
    pub rating_comment: Option<String>,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub rated_at: Option<NaiveDateTime>,
    /// The page's address: only in the answer that created it.
    pub url: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = resident_links)]
struct LinkRow {
    id: ResidentLinkId,
    ticket_id: TicketId,
    channel: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    rating: Option<String>,
    rating_comment: Option<String>,
    rated_at: Option<NaiveDateTime>,
}

fn view(r: LinkRow, url: Option<String>) -> LinkView {
    LinkView {
        id: r.id.to_string(),
        channel: r.channel,
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
        rating: r.rating.and_then(|s| s.parse().ok()),
        rating_comment: r.rating_comment,
        rated_at: r.rated_at,
        url,
    }
}

/// A ticket the actor may act on (those who handle it give out its links).
fn acting_on(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<crate::app::tickets::Visible> {
    let t = crate::app::tickets::visible(conn, actor, id)?;
    if !actor.may(Operation::TicketAct, &t.place_path) {
        return Err(AppError::forbidden(crate::msg!("why-link_who")));
    }
    Ok(t)
}

/// A ticket's links for its page, and whether the actor may give and revoke them (he can act on
/// it): one read of the ticket. A department whose part ended sees none.
pub fn for_page(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<(Vec<LinkView>, bool)> {
    let t = match crate::app::tickets::visible(conn, actor, id) {
        Ok(t) => t,
        Err(AppError::NotFound { .. }) => return Ok((vec![], false)),
        Err(e) => return Err(e),
    };
    Ok((links_of(conn, t.id)?, actor.may(Operation::TicketAct, &t.place_path)))
}

fn links_of(conn: &mut DbConn, ticket: TicketId) -> AppResult<Vec<LinkView>> {
    let rows: Vec<LinkRow> = resident_links::table
        .filter(resident_links::ticket_id.eq(ticket))
        .order(resident_links::created_at.desc())
        .select(LinkRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| view(r, None)).collect())
}

/// 发送查询链接: creates a link for the ticket's resident and sends it by SMS or mail (or
/// returns it to hand over). The answer carries the page's address, this once.
pub fn give_link(
    conn: &mut DbConn,
    actor: &Actor,
    id: &TicketId,
    input: LinkInput,
    base_url: &str,
    now: NaiveDateTime,
) -> AppResult<LinkView> {
    let t = acting_on(conn, actor, id)?;
    let channel = match input.channel.trim() {
        "sms" => {
            let phone = opt_text("phone", &input.phone, 20)?.or(t.resident_phone.clone());
            let phone = phone.ok_or_else(|| AppError::validation("phone", crate::msg!("why-link_needs_phone")))?;
            validate_mobile(&phone).map_err(|e| AppError::validation("phone", e))?;
            LinkChannel::Sms(phone)
        }
        "email" => {
            let e =
                opt_text("email", &input.email, 200)?.ok_or_else(|| AppError::validation("email", crate::msg!("why-link_needs_email")))?;
            if !crate::app::notifications::settings::valid_email(&e) {
                return Err(AppError::validation("email", crate::msg!("rule-email")));
            }
            LinkChannel::Email(e)
        }
        "none" => LinkChannel::None,
        _ => return Err(AppError::validation("channel", crate::msg!("rule-one_of", values = "sms, email, none"))),
    };
    // The link and its message together, or neither.
    let (link_id, token) = crate::db::backend::within_transaction(conn, |c| {
        create(c, t.id, t.community_id, &t.number, channel.clone(), Some(actor.person_id), base_url, now)
    })?;
    let row: LinkRow = resident_links::table.find(link_id).select(LinkRow::as_select()).first(conn)?;
    Ok(view(row, Some(link_url(base_url, &token))))
}

/// A ticket's links, newest first, for whoever sees the ticket.
pub fn list_links(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<Vec<LinkView>> {
    let t = crate::app::tickets::visible(conn, actor, id)?;
    links_of(conn, t.id)
}

/// 撤销链接: the link stops working at once (its page answers as if it never existed).
pub fn revoke_link(conn: &mut DbConn, actor: &Actor, id: &ResidentLinkId, now: NaiveDateTime) -> AppResult<LinkView> {
    let row: LinkRow = resident_links::table
        .find(id)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "resident link" })?;
    acting_on(conn, actor, &row.ticket_id).map_err(|e| match e {
        AppError::NotFound { .. } => AppError::NotFound { what: "resident link" },
        e => e,
    })?;
    diesel::update(resident_links::table.find(id).filter(resident_links::revoked_at.is_null()))
        .set(resident_links::revoked_at.eq(Some(now)))
        .execute(conn)?;
    let row: LinkRow = resident_links::table.find(id).select(LinkRow::as_select()).first(conn)?;
    Ok(view(row, None))
}

/// One step of a request as its resident sees it.
#[derive(Clone, Debug, Serialize)]
pub struct PublicStep {
    /// The message key of the step's plain words.
    pub key: &'static str,
    pub at: NaiveDateTime,
}

/// A request as its resident sees it by his link: no staff names, no personal data.
#[derive(Clone, Debug, Serialize)]
pub struct PublicStatus {
    pub number: String,
    pub title: String,
    pub category_zh: String,
    pub category_en: String,
    pub state: TicketState,
    /// The message key of the stage in plain words.
    pub stage_key: &'static str,
    pub filed_at: NaiveDateTime,
    /// When it is expected to be done (the nearest running deadline), while it is open.
    pub expected_at: Option<NaiveDateTime>,
    pub steps: Vec<PublicStep>,
    /// Solved or closed, and not rated yet by this link.
    pub can_rate: bool,
    pub rating: Option<Satisfaction>,
    pub rated_at: Option<NaiveDateTime>,
}

fn live_link(conn: &mut DbConn, token: &str, now: NaiveDateTime) -> AppResult<LinkRow> {
    let gone = || AppError::NotFound { what: "resident link" };
    // A token is 22 base64url characters; anything else is not looked up.
    if token.len() != 22 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(gone());
    }
    let row: LinkRow = resident_links::table
        .filter(resident_links::token.eq(token))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(gone)?;
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(gone());
    }
    Ok(row)
}

/// The resident's page: his request's stage, steps and expected date.
pub fn public_status(conn: &mut DbConn, token: &str, now: NaiveDateTime) -> AppResult<PublicStatus> {
    let link = live_link(conn, token, now)?;
    type T = (String, String, TicketState, NaiveDateTime, Option<NaiveDateTime>, String, String);
    let t: T = tickets::table
        .inner_join(categories::table)
        .filter(tickets::id.eq(link.ticket_id))
        .select((
            tickets::number,
            tickets::title,
            tickets::state,
            tickets::created_at,
            tickets::due_at,
            categories::name_zh,
            categories::name_en,
        ))
        .first(conn)?;
    let steps = audit::events_since(conn, "ticket", &link.ticket_id.to_string(), t.3 - audit::BEFORE_CREATION)?
        .into_iter()
        .filter_map(|e| resident_step_key(&e.action).map(|key| PublicStep { key, at: e.at }))
        .collect();
    let open = !matches!(t.2, TicketState::Solved) && !t.2.is_final();
    Ok(PublicStatus {
        number: t.0,
        title: t.1,
        category_zh: t.5,
        category_en: t.6,
        state: t.2,
        stage_key: resident_stage_key(t.2),
        filed_at: t.3,
        expected_at: t.4.filter(|_| open),
        steps,
        can_rate: matches!(t.2, TicketState::Solved | TicketState::Closed) && link.rating.is_none(),
        rating: link.rating.as_deref().and_then(|s| s.parse().ok()),
        rated_at: link.rated_at,
    })
}

/// 居民评价: the resident rates the result through his link, once, after it is solved; the
/// rating goes into the ticket's history (`resident_rating`), where the grid worker's return
/// visit finds it.
pub fn rate(conn: &mut DbConn, token: &str, rating: &str, comment: Option<String>, now: NaiveDateTime) -> AppResult<PublicStatus> {
    let rating: Satisfaction = rating.trim().parse().map_err(|_| {
        AppError::validation("rating", crate::msg!("rule-one_of", values = "satisfied, basically_satisfied, not_satisfied"))
    })?;
    let comment = opt_text("comment", &comment, 500)?;
    crate::db::backend::immediate_transaction(conn, |conn| -> AppResult<()> {
        let link = live_link(conn, token, now)?;
        let state: TicketState = tickets::table.find(link.ticket_id).select(tickets::state).first(conn)?;
        if !matches!(state, TicketState::Solved | TicketState::Closed) {
            return Err(AppError::conflict("not_solved_yet", crate::msg!("why-rate_after_solved")));
        }
        let n = diesel::update(resident_links::table.find(link.id).filter(resident_links::rating.is_null()))
            .set((
                resident_links::rating.eq(Some(rating.as_str())),
                resident_links::rating_comment.eq(&comment),
                resident_links::rated_at.eq(Some(now)),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::conflict("already_rated", crate::msg!("why-already_rated")));
        }
        let id = link.ticket_id.to_string();
        let by = ActedBy::default();
        audit::append_all(
            conn,
            vec![Draft {
                entity_kind: "ticket",
                entity_id: &id,
                by: &by,
                action: "resident_rating",
                from_state: None,
                to_state: None,
                reason: comment.as_deref(),
                changes: json!({"rating": [null, rating.as_str()], "link_id": [null, link.id.to_string()]}),
            }],
            now,
        )?;
        Ok(())
    })?;
    public_status(conn, token, now)
}
