use base64::Engine;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{OrgUnitRow, PiiRevealRow, TicketListRow};
use crate::db::schema::{categories, org_units, pii_reveals, sla_clocks, tickets};
use crate::db::DbConn;
use crate::domain::workflow::{AssignmentState, TicketState};
use crate::domain::{Actor, OrgKind, OrgUnitId, Role, TicketId};

use crate::app::org::{escape_like, find_unit};
use crate::app::scope::Db;
use crate::app::{parse_id, AppError, AppResult};

use super::loaded::load_visible;
use super::requests::TicketFilter;
use super::scope::{place_within, tickets_in_scope, waiting_for_ruling, BoolExpr};
use super::views::{summaries, view, TicketPage, TicketSummary, TicketView};

pub fn get_ticket(conn: &mut DbConn, actor: &Actor, id: &TicketId, now: NaiveDateTime) -> AppResult<TicketView> {
    let t = load_visible(conn, actor, id)?;
    view(conn, actor, &t, now)
}
/// The unmasked phone, for those who must call the resident; recorded like every reveal.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedContact {
    pub id: String,
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub revealed_at: NaiveDateTime,
}

pub fn reveal_contact(conn: &mut DbConn, actor: &Actor, id: &TicketId, now: NaiveDateTime) -> AppResult<RevealedContact> {
    conn.transaction(|conn| {
        let t = load_visible(conn, actor, id)?;
        let live_depts: Vec<OrgUnitId> = t.parts.iter().filter(|p| p.state != AssignmentState::Removed).map(|p| p.department_id).collect();
        let grant = actor
            .grants
            .iter()
            .find(|g| match g.role {
                Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff => g.org_path.contains(&t.place.place),
                Role::DepartmentLiaison => live_depts.contains(&g.org_unit_id),
                _ => false,
            })
            .cloned()
            .ok_or_else(|| AppError::forbidden(crate::msg!("why-who_reveals")))?;
        diesel::insert_into(pii_reveals::table)
            .values(&PiiRevealRow::new(actor.person_id, &grant, "ticket", t.row.id, "resident_phone", now))
            .execute(conn)?;
        Ok(RevealedContact {
            id: t.row.id.to_string(),
            resident_name: t.row.resident_name.filter(|n| !crate::domain::pii::is_purged(Some(n))),
            resident_phone: t.row.resident_phone,
            revealed_at: now,
        })
    })
}

pub(crate) fn encode_cursor(at: NaiveDateTime, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{id}", crate::domain::audit::canonical_time(at)))
}

pub(crate) fn decode_cursor(c: &str) -> AppResult<(NaiveDateTime, String)> {
    let bad = || AppError::validation("cursor", crate::msg!("rule-cursor"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = s.split_once('|').ok_or_else(bad)?;
    let at = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

/// Start of a China-time day, as stored (UTC), `days` after `d`; a day at the ends of the date
/// type (year ±262143) has none and is refused as the filter `field`.
pub(super) fn day_start_utc(field: &str, d: NaiveDate, days: i64) -> AppResult<NaiveDateTime> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| t.checked_sub_signed(Duration::hours(8)))
        .and_then(|t| t.checked_add_signed(Duration::days(days)))
        .ok_or_else(|| AppError::validation(field, crate::msg!("rule-filing_day")))
}

/// The tickets in the caller's scope, newest first, filtered, one page at a time.
pub fn list_tickets(conn: &mut DbConn, actor: &Actor, f: TicketFilter, now: NaiveDateTime) -> AppResult<TicketPage> {
    let limit = crate::app::page_limit(f.limit, 50, 200)?;
    let states: Option<Vec<String>> = match f.state.as_deref().filter(|s| !s.is_empty()) {
        Some(states) => Some(
            states
                .split(',')
                .map(|s| s.trim().parse::<TicketState>().map(|s| s.as_str().to_string()))
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    let all: Vec<&str> = TicketState::ALL.iter().map(|s| s.as_str()).collect();
                    AppError::validation("state", crate::msg!("rule-one_of", values = all.join(", ")))
                })
                .map(|mut v: Vec<String>| {
                    v.sort();
                    v.dedup();
                    v
                })?,
        ),
        None => None,
    };
    if let Some(c) = &f.category_id {
        parse_id::<crate::domain::CategoryId>("category_id", c)?;
    }
    let within = match &f.within {
        Some(within) => {
            let within: crate::domain::OrgUnitId = parse_id("within", within)?;
            match find_unit(conn, &within)? {
                Some(u) => Some(u),
                None => return Ok(TicketPage { items: vec![], next_cursor: None }),
            }
        }
        None => None,
    };
    let cursor = f.cursor.as_deref().map(decode_cursor).transpose()?;
    let phone_grants = match f.resident_phone.as_ref().map(|p| p.expose().trim()).filter(|p| !p.is_empty()) {
        Some(p) => {
            if p.len() < 5 || p.len() > 20 || !p.chars().all(|c| c.is_ascii_digit() || c == '-') {
                return Err(AppError::validation("resident_phone", crate::msg!("rule-phone_search")));
            }
            let grants: Vec<crate::domain::Grant> = actor
                .grants
                .iter()
                .filter(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff))
                .cloned()
                .collect();
            if grants.is_empty() {
                return Err(AppError::forbidden(crate::msg!("why-who_reveals")));
            }
            Some(grants)
        }
        None => None,
    };
    // Several states are read one state at a time, each newest first from an index in that
    // order (a building's `(place_id, state, created_at)`), and merged: a page of index entries
    // per state, where one query for all of them sorts every match of the scope.
    let groups: Vec<Option<Vec<String>>> = match states {
        Some(v) if v.len() > 1 => v.into_iter().map(|s| Some(vec![s])).collect(),
        other => vec![other],
    };
    let mut rows: Vec<TicketListRow> = vec![];
    for states in groups {
        let mut q = list_query(actor, &f, states, within.as_ref(), cursor.as_ref(), now)?;
        if let Some(grants) = &phone_grants {
            // Only in the places of the roles that may reveal a phone.
            let mut here: Option<BoolExpr> = None;
            for g in grants {
                let p = place_within(g.org_kind, &g.org_unit_id.to_string(), &g.org_path);
                here = Some(match here {
                    None => p,
                    Some(h) => Box::new(h.or(p)),
                });
            }
            let phone = f.resident_phone.as_ref().map(|p| p.expose().trim().to_string()).unwrap_or_default();
            q = q.filter(tickets::resident_phone.eq(phone));
            if let Some(h) = here {
                q = q.filter(h);
            }
        }
        rows.extend(
            q.order((tickets::created_at.desc(), tickets::id.desc())).limit(limit + 1).select(TicketListRow::as_select()).load(conn)?,
        );
    }
    rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let more = rows.len() as i64 > limit;
    let items: Vec<TicketListRow> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if more { items.last().map(|r| encode_cursor(r.created_at, &r.id.to_string())) } else { None };
    if let Some(grants) = &phone_grants {
        // Finding a ticket by its resident's phone tells who he is: recorded as a reveal.
        let g = &grants[0];
        let reveals: Vec<PiiRevealRow> =
            items.iter().map(|t| PiiRevealRow::new(actor.person_id, g, "ticket", t.id, "resident_phone_search", now)).collect();
        crate::db::backend::insert_all!(conn, pii_reveals::table, &reveals)?;
    }
    Ok(TicketPage { items: summaries(conn, actor, items, now)?, next_cursor })
}

/// The list's filters as one query, for the given states (all when `None`).
pub(super) fn list_query(
    actor: &Actor,
    f: &TicketFilter,
    states: Option<Vec<String>>,
    within: Option<&OrgUnitRow>,
    cursor: Option<&(NaiveDateTime, String)>,
    now: NaiveDateTime,
) -> AppResult<tickets::BoxedQuery<'static, Db>> {
    let mut q = tickets::table.filter(tickets_in_scope(actor)).into_boxed();
    match states.as_deref() {
        // One state as an equality: `= ANY(array)` would keep the index from giving the order.
        Some([one]) => q = q.filter(tickets::state.eq(one.clone())),
        Some(several) => q = q.filter(tickets::state.eq_any(several.to_vec())),
        None => {}
    }
    if let Some(c) = &f.category_id {
        q = q.filter(tickets::category_id.eq(c.clone()));
    }
    if let Some(u) = f.urgency {
        q = q.filter(tickets::urgency.eq(u.as_str()));
    }
    if let Some(u) = within {
        let kind: OrgKind = u.kind;
        q = q.filter(place_within(kind, &u.id.to_string(), &u.path));
    }
    let finals: Vec<&str> = TicketState::ALL.iter().filter(|s| s.is_final()).map(|s| s.as_str()).collect();
    match f.overdue {
        Some(true) => {
            let open: Vec<&str> = TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect();
            q = q.filter(tickets::state.eq_any(open)).filter(tickets::due_at.lt(now))
        }
        Some(false) => q = q.filter(tickets::due_at.ge(now).or(tickets::due_at.is_null()).or(tickets::state.eq_any(finals))),
        None => {}
    }
    if let Some(from) = f.from {
        q = q.filter(tickets::created_at.ge(day_start_utc("from", from, 0)?));
    }
    if let Some(to) = f.to {
        q = q.filter(tickets::created_at.lt(day_start_utc("to", to, 1)?));
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(text.trim()));
        q = q.filter(
            tickets::number
                .like(pattern.clone())
                .escape('\\')
                .or(tickets::title.like(pattern.clone()).escape('\\'))
                .or(tickets::description.like(pattern).escape('\\')),
        );
    }
    if let Some((at, id)) = cursor {
        // `created_at <= at` first: an index condition, so that a page starts where the last one
        // ended; the OR alone is only a filter, and PostgreSQL then scanned every earlier page again
        // (a 100,000-ticket ledger: 47 ms a page on average instead of under 1 ms).
        q = q
            .filter(tickets::created_at.le(*at))
            .filter(tickets::created_at.lt(*at).or(tickets::created_at.eq(*at).and(tickets::id.lt(id.clone()))));
    }
    Ok(q)
}

/// "My work" (我的待办): what waits on the caller in each of his roles, soonest deadline first.
pub fn inbox(conn: &mut DbConn, actor: &Actor, limit: Option<i64>, now: NaiveDateTime) -> AppResult<Vec<TicketSummary>> {
    let limit = crate::app::page_limit(limit, 100, 500)?;
    let open: Vec<&str> = TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect();
    // One source per open state of each grant's scope (and one for each condition that is not a
    // plain state), each read in deadline order from an index that has that order, e.g.
    // (compound_id, state, due_at, id): at most one page of index entries per source however
    // large the backlog, merged here. Open tickets always carry a deadline.
    let mut sources: Vec<BoolExpr> = vec![];
    let mut own_heads: Vec<(Option<NaiveDateTime>, TicketId)> = vec![];
    for g in &actor.grants {
        let here = || place_within(g.org_kind, &g.org_unit_id.to_string(), &g.org_path);
        let in_state = |s: TicketState| -> BoolExpr { Box::new(here().and(tickets::state.eq(s.as_str()))) };
        match g.role {
            Role::GridWorker => sources.push(in_state(TicketState::Solved)),
            Role::BranchSecretary => sources.extend([TicketState::AtCompound, TicketState::CompoundHandling].map(in_state)),
            Role::CommunityStaff => {
                sources.extend([TicketState::AtCommunity, TicketState::CommunityHandling].map(in_state));
                sources.push(Box::new(here().and(tickets::state.eq(TicketState::Whistled.as_str())).and(waiting_for_ruling())));
            }
            // A department's work is its running clocks (acknowledge, resolve): read from the
            // holder's index in its own deadline order. A returned part's clocks wait for the
            // community, and wait outside this inbox.
            Role::DepartmentLiaison => {
                let page: Vec<(TicketId, NaiveDateTime)> = sla_clocks::table
                    .filter(sla_clocks::holder_unit_id.eq(g.org_unit_id))
                    .filter(sla_clocks::stopped_at.is_null())
                    .filter(sla_clocks::paused_at.is_null())
                    .order((sla_clocks::due_at.asc(), sla_clocks::id.asc()))
                    .limit(limit * 2)
                    .select((sla_clocks::ticket_id, sla_clocks::due_at))
                    .load(conn)?;
                own_heads.extend(page.into_iter().map(|(id, due)| (Some(due), id)));
            }
            // Open states spelled out, so that (state, due_at) serves the overdue range.
            Role::Supervisor => {
                sources.push(Box::new(tickets::state.eq_any(open.clone()).and(tickets::due_at.assume_not_null().lt(now)).and(here())))
            }
            Role::Admin | Role::CommitteeRepresentative | Role::CompanyRepresentative => {}
        }
    }
    let mut heads: Vec<(Option<NaiveDateTime>, TicketId)> = own_heads;
    for f in sources {
        let page: Vec<(Option<NaiveDateTime>, TicketId)> = tickets::table
            .filter(f)
            .order((tickets::due_at.asc(), tickets::id.asc()))
            .limit(limit)
            .select((tickets::due_at, tickets::id))
            .load(conn)?;
        heads.extend(page);
    }
    heads.sort();
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<TicketId> = heads.into_iter().map(|(_, id)| id).filter(|id| seen.insert(*id)).take(limit as usize).collect();
    let mut rows: Vec<TicketListRow> = tickets::table.filter(tickets::id.eq_any(&ids)).select(TicketListRow::as_select()).load(conn)?;
    rows.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    let mut items = summaries(conn, actor, rows, now)?;
    // Each entry shows the caller's own deadline: the list is in that order (none last).
    items.sort_by_key(|t| (t.due_at.is_none(), t.due_at));
    Ok(items)
}

/// The departments a ticket's community may whistle.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentChoice {
    pub id: String,
    pub code: String,
    pub name: String,
    /// Whether the ticket's category names this department as its usual handler.
    pub default_for_category: bool,
}

pub fn whistle_choices(conn: &mut DbConn, actor: &Actor, id: &TicketId) -> AppResult<Vec<DepartmentChoice>> {
    let t = load_visible(conn, actor, id)?;
    let ancestors: Vec<String> = t.place.community.ids().iter().map(|i| i.to_string()).collect();
    let default: Option<crate::domain::OrgUnitId> =
        categories::table.find(&t.row.category_id).select(categories::default_department_id).first(conn)?;
    let rows: Vec<OrgUnitRow> = org_units::table
        .filter(org_units::kind.eq(OrgKind::Department.as_str()))
        .filter(org_units::active.eq(true))
        .filter(org_units::parent_id.eq_any(ancestors))
        .order(org_units::code)
        .select(OrgUnitRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|d| DepartmentChoice { default_for_category: default == Some(d.id), id: d.id.to_string(), code: d.code, name: d.name })
        .collect())
}
