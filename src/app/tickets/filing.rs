use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use serde_json::json;

use crate::db::models::{CategoryRow, ClockRow, OrgUnitRow, TicketRow};
use crate::db::schema::{categories, org_units, sla_clocks, tickets};
use crate::db::{backend, DbConn};
use crate::domain::pii::{mask_phone, validate_mobile};
use crate::domain::sla::Stage;
use crate::domain::workflow::Urgency;
use crate::domain::workflow::{Channel, TicketState};
use crate::domain::{Actor, CategoryId, ClockId, Grant, Id, Operation, OrgKind, OrgPath, OrgUnitId, TicketId, VisitLogId};

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::sla::{self, SlaContext};
use crate::app::{opt_text, parse_id, text, AppError, AppResult};

use super::loaded::{ancestor_path, place_of, Loaded};
use super::requests::NewTicket;
use super::views::{render, Live, TicketView};

/// The grant an actor files under for a place: the narrowest residential grant that covers it.
pub(super) fn filing_grant<'a>(actor: &'a Actor, place: &OrgPath) -> Option<&'a Grant> {
    actor.grants.iter().filter(|g| g.role.allows(Operation::TicketFile) && g.org_path.contains(place)).max_by_key(|g| g.org_path.depth())
}

/// The day a ticket number belongs to, in China's time zone.
pub fn number_day(now: NaiveDateTime) -> String {
    now.and_utc().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y%m%d").to_string()
}

/// A checked filing with its number taken, ready to insert.
#[derive(Clone)]
pub struct PreparedFiling {
    pub(super) row: TicketRow,
    pub(super) grant: Grant,
    pub(super) category: CategoryRow,
    pub(super) place_name: String,
    /// The compound's name: its branch holds the triage clock.
    pub(super) compound_name: String,
}

impl PreparedFiling {
    /// The materialised path of the ticket's place.
    pub fn place_path(&self) -> &OrgPath {
        &self.row.place_path
    }
    /// Links the filing to the visit log it was raised in.
    pub fn link_visit_log(&mut self, log_id: VisitLogId) {
        self.row.visit_log_id = Some(log_id);
        self.row.channel = Channel::Visit;
    }
}

/// 登记: files a ticket at the compound of its place.
pub fn file_ticket(conn: &mut DbConn, ctx: SlaContext<'_>, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<TicketView> {
    let prepared = prepare_filing(conn, actor, input, now)?;
    insert_filing(conn, ctx, actor, prepared, now)
}

/// Checks a filing and takes its number. The number comes from its own short statement, outside
/// the filing's transaction, so that the per-day counter row is never held until a commit: a
/// filing that fails afterwards leaves a gap in the day's numbers, as any sequence would.
pub fn prepare_filing(conn: &mut DbConn, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let mut p = check_filing(conn, actor, input, now)?;
    p.take_number(conn, now)?;
    Ok(p)
}

/// Checks a filing: everything but its number, which [`prepare_filing`] or the intake's batch
/// ([`insert_filings`]) takes.
pub fn check_filing(conn: &mut DbConn, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let refs = FilingRefs::load(conn, [&input])?;
    check_filing_with(&refs, actor, input, now)
}

/// What filings refer to (places with their compounds, categories, visit logs), read for many
/// filings at once: three queries at most, however many filings.
#[derive(Default)]
pub struct FilingRefs {
    units: HashMap<String, OrgUnitRow>,
    categories: HashMap<String, CategoryRow>,
    /// visit log id → (author id, grid path)
    logs: HashMap<String, (String, String)>,
}

impl FilingRefs {
    pub fn load<'a>(conn: &mut DbConn, inputs: impl IntoIterator<Item = &'a NewTicket>) -> AppResult<FilingRefs> {
        use crate::db::schema::visit_logs;
        let (mut places, mut cats, mut logs) = (vec![], vec![], vec![]);
        for i in inputs {
            places.extend(i.building_id.iter().chain(i.compound_id.iter()).filter(|id| id.parse::<Id>().is_ok()).cloned());
            cats.extend(Some(&i.category_id).filter(|id| id.parse::<Id>().is_ok()).cloned());
            logs.extend(i.visit_log_id.iter().filter(|id| id.parse::<Id>().is_ok()).cloned());
        }
        let mut refs = FilingRefs::default();
        places.sort();
        places.dedup();
        if !places.is_empty() {
            // The places, then the compounds of buildings.
            let units = |conn: &mut DbConn, ids: &[String]| -> AppResult<Vec<OrgUnitRow>> {
                Ok(org_units::table.filter(org_units::id.eq_any(ids)).select(OrgUnitRow::as_select()).load(conn)?)
            };
            refs.units = units(conn, &places)?.into_iter().map(|u| (u.id.to_string(), u)).collect();
            let mut parents: Vec<String> = refs
                .units
                .values()
                .filter(|u| u.kind == OrgKind::Building)
                .filter_map(|u| u.parent_id.map(|p| p.to_string()))
                .filter(|p| !refs.units.contains_key(p))
                .collect();
            parents.sort();
            parents.dedup();
            if !parents.is_empty() {
                refs.units.extend(units(conn, &parents)?.into_iter().map(|u| (u.id.to_string(), u)));
            }
        }
        if !cats.is_empty() {
            let rows: Vec<CategoryRow> =
                categories::table.filter(categories::id.eq_any(&cats)).select(CategoryRow::as_select()).load(conn)?;
            refs.categories = rows.into_iter().map(|c| (c.id.to_string(), c)).collect();
        }
        if !logs.is_empty() {
            let rows: Vec<(String, String, String)> = visit_logs::table
                .filter(visit_logs::id.eq_any(&logs))
                .select((visit_logs::id, visit_logs::author_id, visit_logs::grid_path))
                .load(conn)?;
            refs.logs = rows.into_iter().map(|(id, a, g)| (id, (a, g))).collect();
        }
        Ok(refs)
    }
}

/// [`check_filing`] over references read beforehand.
pub fn check_filing_with(refs: &FilingRefs, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let title = text("title", &input.title, 100)?;
    let description = text("description", &input.description, 4000)?;
    let address = opt_text("address", &input.address, 200)?;
    let resident_name = opt_text("resident_name", &input.resident_name, 50)?;
    let resident_phone = opt_text("resident_phone", &input.resident_phone, 20)?;
    if let Some(p) = &resident_phone {
        validate_mobile(p).map_err(|e| AppError::validation("resident_phone", e))?;
    }
    if input.anonymous && (resident_name.is_some() || resident_phone.is_some()) {
        return Err(AppError::validation("anonymous", crate::msg!("why-anonymous_no_contact")));
    }
    if !input.anonymous && resident_name.is_none() && resident_phone.is_none() {
        return Err(AppError::validation("resident_name", crate::msg!("why-resident_or_anonymous")));
    }
    for (field, v, lim) in [("latitude", input.latitude, 90.0), ("longitude", input.longitude, 180.0)] {
        if v.is_some_and(|x| !x.is_finite() || x.abs() > lim) {
            return Err(AppError::validation(field, crate::msg!("rule-between", min = format!("-{lim}"), max = lim.to_string())));
        }
    }
    let place_id = match (&input.building_id, &input.compound_id) {
        (Some(b), None) => parse_id::<crate::domain::OrgUnitId>("building_id", b).map(|_| b.clone())?,
        (None, Some(c)) => parse_id::<crate::domain::OrgUnitId>("compound_id", c).map(|_| c.clone())?,
        _ => return Err(AppError::validation("building_id", crate::msg!("why-one_place"))),
    };
    let place_field = if input.building_id.is_some() { "building_id" } else { "compound_id" };
    let unknown_place = || AppError::UnknownReference { field: place_field.into(), detail: crate::msg!("why-no_place_in_scope") };
    let place: OrgUnitRow = refs.units.get(&place_id).cloned().ok_or_else(unknown_place)?;
    let place_path = place.path.clone();
    if !actor.may(Operation::TicketRead, &place_path) {
        return Err(unknown_place());
    }
    let want_kind = if input.building_id.is_some() { OrgKind::Building } else { OrgKind::Compound };
    if place.kind != want_kind || !place.active {
        return Err(AppError::validation(
            place_field,
            crate::msg!("why-active_place", kind = crate::domain::text::Arg::Key(want_kind.label_key())),
        ));
    }
    let Some(grant) = filing_grant(actor, &place_path).cloned() else {
        return Err(AppError::forbidden(crate::msg!("why-who_files")));
    };
    let place_id = place.id;
    let compound = if want_kind == OrgKind::Building {
        place
            .parent_id
            .and_then(|p| refs.units.get(&p.to_string()))
            .cloned()
            .ok_or_else(|| AppError::internal_msg("building without compound".into()))?
    } else {
        place.clone()
    };
    let community_id = compound.parent_id.ok_or_else(|| AppError::internal_msg("compound without community".into()))?;
    parse_id::<crate::domain::CategoryId>("category_id", &input.category_id)?;
    let cat: CategoryRow = refs
        .categories
        .get(&input.category_id)
        .filter(|c| c.active)
        .cloned()
        .ok_or_else(|| AppError::UnknownReference { field: "category_id".into(), detail: crate::msg!("why-no_category") })?;
    if !cat.urgencies.split(',').any(|u| u == input.urgency.as_str()) {
        return Err(AppError::validation("urgency", crate::msg!("why-category_urgencies", code = &cat.code, allowed = &cat.urgencies)));
    }
    let mut visit_log_id = None;
    if let Some(v) = &input.visit_log_id {
        // A request linked to a visit log comes from the filer's own log, for a place in its grid.
        visit_log_id = Some(parse_id::<VisitLogId>("visit_log_id", v)?);
        match refs.logs.get(v).cloned() {
            Some((author, grid_path)) if author == actor.person_id.to_string() => {
                if !OrgPath::from_db(grid_path).contains(&place_path) {
                    return Err(AppError::validation("visit_log_id", crate::msg!("why-place_in_log_grid")));
                }
                if input.channel != Channel::Visit {
                    return Err(AppError::validation("channel", crate::msg!("why-visit_channel")));
                }
            }
            _ => {
                return Err(AppError::UnknownReference { field: "visit_log_id".into(), detail: crate::msg!("why-no_own_log") });
            }
        }
    }
    let row = TicketRow {
        id: TicketId::new(),
        number: String::new(),
        category_id: cat.id,
        urgency: input.urgency,
        title,
        description,
        place_id,
        place_path,
        compound_id: compound.id,
        community_id,
        address,
        latitude: input.latitude,
        longitude: input.longitude,
        resident_name,
        resident_phone,
        channel: input.channel,
        filed_by: actor.person_id,
        visit_log_id,
        state: TicketState::AtCompound,
        solved_level: None,
        duplicate_of: None,
        whistle_type: None,
        reopen_count: 0,
        satisfaction: None,
        resolution: None,
        // Set by the triage clock when the filing is inserted.
        due_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        closed_at: None,
        warn_at: None,
        due_provisional: false,
    };
    Ok(PreparedFiling { row, grant, category: cat, place_name: place.name, compound_name: compound.name })
}

/// Inserts a prepared filing with its triage clock and audit event, in one transaction (the
/// caller's, if it has one).
pub fn insert_filing(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    p: PreparedFiling,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let mut views = backend::within_transaction(conn, |conn| insert_filings(conn, ctx, vec![(actor, p)], now))?;
    views.pop().ok_or_else(|| AppError::internal_msg("a filing was inserted without a view".into()))
}

/// Locks existing tickets' rows, in id order, for the rest of the caller's transaction: the first
/// step of a transaction that will act on several tickets and append to several audit chains (see
/// [`audit::lock_chains`] for the order). Unknown ids are skipped; SQLite needs nothing.
pub fn lock_rows(conn: &mut DbConn, ids: &[TicketId]) -> AppResult<()> {
    Ok(backend::lock_tickets(conn, ids)?)
}

/// The audit event of a filing.
pub(super) fn filing_event<'a>(row: &'a TicketRow, entity_id: &'a str, category: &CategoryRow, by: &'a ActedBy) -> Draft<'a> {
    Draft {
        entity_kind: "ticket",
        entity_id,
        by,
        action: "file",
        from_state: None,
        to_state: Some(row.state.as_str()),
        reason: None,
        changes: json!({
            "number": [null, row.number],
            "category": [null, category.code],
            "urgency": [null, row.urgency],
            "title": [null, row.title],
            "place_id": [null, row.place_id],
            "channel": [null, row.channel],
            "resident_phone": [null, row.resident_phone.as_deref().map(mask_phone)],
            "due_at": [null, row.due_at],
        }),
    }
}

/// Inserts numbered filings in the caller's transaction: all tickets in one insert, all triage
/// clocks in one, all audit events appended together (the intake's group commit, a visit log's
/// requests, or one filing). All or none are stored.
pub fn insert_filings(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    filings: Vec<(&Actor, PreparedFiling)>,
    now: NaiveDateTime,
) -> AppResult<Vec<TicketView>> {
    if filings.is_empty() {
        return Ok(vec![]);
    }
    let mut rows = Vec::with_capacity(filings.len());
    let mut clocks = Vec::with_capacity(filings.len());
    // The categories' own limits, read once; filings of one category, urgency and compound share
    // their clock's limit and calendar.
    let mut categories: Vec<CategoryId> = filings.iter().map(|(_, p)| p.row.category_id).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = sla::Policies::load(conn, &categories)?;
    let mut planned: HashMap<(CategoryId, Urgency, OrgUnitId), ClockRow> = HashMap::new();
    for (_, p) in &filings {
        let mut row = p.row.clone();
        row.created_at = now;
        row.updated_at = now;
        let key = (row.category_id, row.urgency, row.compound_id);
        let clock = match planned.get(&key) {
            Some(c) => ClockRow { id: ClockId::new(), ticket_id: row.id, ..c.clone() },
            None => {
                let compound_path = ancestor_path(&row.place_path, row.compound_id);
                let holder = (row.compound_id, &compound_path);
                let c = sla::plan_clock(conn, ctx, &policies, &row, None, Stage::CompoundTriage, holder, now)?;
                planned.insert(key, c.clone());
                c
            }
        };
        (row.due_at, row.warn_at, row.due_provisional) = (Some(clock.due_at), Some(clock.warn_at), clock.provisional);
        rows.push(row);
        clocks.push(clock);
    }
    backend::insert_all!(conn, tickets::table, &rows)?;
    backend::insert_all!(conn, sla_clocks::table, &clocks)?;
    let by: Vec<ActedBy> = filings.iter().map(|(a, p)| ActedBy::person(a.person_id, Some(&p.grant))).collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let drafts = rows.iter().zip(&ids).zip(&filings).zip(&by).map(|(((r, id), (_, p)), by)| filing_event(r, id, &p.category, by)).collect();
    audit::append_all(conn, drafts, now)?;
    rows.into_iter().zip(filings).zip(&clocks).map(|((row, (actor, p)), clock)| filed_view(actor, row, &p, clock.clone(), now)).collect()
}

impl PreparedFiling {
    /// The id the ticket will have.
    pub fn ticket_id(&self) -> TicketId {
        self.row.id
    }

    /// Its number (once taken).
    pub fn number(&self) -> &str {
        &self.row.number
    }

    /// The community it belongs to.
    pub fn community_id(&self) -> OrgUnitId {
        self.row.community_id
    }

    /// Gives the filing its number (see [`backend::take_ticket_numbers`]).
    pub fn set_number(&mut self, day: &str, n: i64) {
        self.row.number = format!("GL-{day}-{n:04}");
    }

    /// Takes the next number of the day for this filing alone.
    pub fn take_number(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<()> {
        let day = number_day(now);
        let n = backend::take_ticket_numbers(conn, &day, 1)?;
        self.set_number(&day, n);
        Ok(())
    }
}

/// The view of a ticket just filed, from what its filing already read: no query needed.
pub(super) fn filed_view(actor: &Actor, row: TicketRow, p: &PreparedFiling, clock: ClockRow, now: NaiveDateTime) -> AppResult<TicketView> {
    let names = HashMap::from([(row.place_id, p.place_name.clone()), (row.compound_id, p.compound_name.clone())]);
    let t = Loaded { place: place_of(&row), row, parts: vec![], clocks: vec![], pending_extensions: vec![] };
    render(actor, &t, &p.category, &names, Live { clocks: vec![clock], extensions: vec![] }, now)
}
