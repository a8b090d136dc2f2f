//! Three-party consultation (三方协调议事, issue #19): a compound's owners' committee and property
//! company, the agenda (议事清单) proposed from the compound's recurring tickets and added by hand,
//! the meetings (议事会) that decide items into actions (行动清单) with a responsible party and a
//! deadline, progress notes, and the results (业绩清单) — also as a public page without personal
//! data. The branch secretary runs it (`consultation.manage`); the community and supervisors follow
//! it (`consultation.read`). Every change is an audit event (entity kinds `compound_parties`,
//! `property_company`, `consult_item`, `consult_meeting`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::{
    CompoundPartiesRow, ConsultItemRow, ConsultItemTicketRow, ConsultNoteRow, ConsultPhotoRow, EvaluationRow, MeetingRow, OrgUnitRow,
    PropertyCompanyRow,
};
use crate::db::schema::{
    categories, compound_parties, consult_item_tickets, consult_items, consult_meetings, consult_notes, consult_photos, evaluations,
    people, property_companies, tickets,
};
use crate::db::{backend, DbConn};
use crate::domain::consult::{self, CandidateReason, ItemState, Party, Timeliness};
use crate::domain::pii::{mask_phone, validate_mobile};
use crate::domain::reports::Period;
use crate::domain::workflow::{Satisfaction, TicketState};
use crate::domain::{
    Actor, CategoryId, ConsultItemId, ConsultNoteId, Grant, MeetingId, Operation, OrgKind, OrgUnitId, PersonId, PropertyCompanyId, TicketId,
};

use super::audit::{self, ActedBy, Draft};
use super::ledgers::mask_numbers;
use super::org::find_unit;
use super::scope::enforce;
use super::{check_version, page_limit, text, AppError, AppResult, Lang};

// ---------------------------------------------------------------------------------------------
// The compound and who acts

/// The compound `id` where the actor may do `op`, with the grant he does it under. An unknown
/// unit and one outside his scope are the same 404; a unit that is no compound is 422.
fn compound_for(conn: &mut DbConn, actor: &Actor, id: &OrgUnitId, op: Operation) -> AppResult<(OrgUnitRow, Option<Grant>)> {
    let unit = find_unit(conn, id)?.ok_or(AppError::NotFound { what: "compound" })?;
    enforce(actor.decide(op, &unit.path), "compound", op)?;
    if unit.kind != OrgKind::Compound {
        return Err(AppError::validation("id", crate::msg!("why-consult_compound_only")));
    }
    let grant = actor.grants_for(op).find(|g| g.org_path.contains(&unit.path)).cloned();
    Ok((unit, grant))
}

/// The compound of an object (an item, a meeting) where the actor may do `op`: out of his scope
/// the object is a missing `what`, as any object outside scope is.
fn compound_of_object(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    op: Operation,
    what: &'static str,
) -> AppResult<(OrgUnitRow, Option<Grant>)> {
    match compound_for(conn, actor, compound, op) {
        Err(AppError::NotFound { .. }) => Err(AppError::NotFound { what }),
        other => other,
    }
}

/// The compound is visible to the actor (he follows its consultation); what needs its tickets
/// (candidates, the evaluations' evidence) is refused to who may not read them — a party's
/// representative — with 403 and the roles that may.
fn require_ticket_reader(actor: &Actor, unit: &OrgUnitRow) -> AppResult<()> {
    if actor.may(Operation::TicketRead, &unit.path) {
        Ok(())
    } else {
        enforce(crate::domain::roles::Decision::Forbidden, "compound", Operation::TicketRead)
    }
}

fn by(actor: &Actor, grant: &Option<Grant>) -> ActedBy {
    ActedBy::person(actor.person_id, grant.as_ref())
}

#[allow(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConn,
    by: &ActedBy,
    kind: &str,
    id: &str,
    action: &str,
    states: (Option<ItemState>, Option<ItemState>),
    reason: Option<&str>,
    changes: serde_json::Value,
    now: NaiveDateTime,
) -> AppResult<()> {
    audit::append(
        conn,
        Draft {
            entity_kind: kind,
            entity_id: id,
            by,
            action,
            from_state: states.0.map(|s| s.as_str()),
            to_state: states.1.map(|s| s.as_str()),
            reason,
            changes,
        },
        now,
    )?;
    Ok(())
}

/// Today in the calendars' zone.
fn today(tz: &chrono_tz::Tz, now: NaiveDateTime) -> NaiveDate {
    now.and_utc().with_timezone(tz).date_naive()
}

/// The end of China day `d` (the next local midnight) as stored (UTC): an action due on `d` is on
/// time all of that day.
pub fn end_of_day(tz: &chrono_tz::Tz, d: NaiveDate) -> NaiveDateTime {
    let local = (d + Duration::days(1)).and_time(NaiveTime::MIN);
    tz.from_local_datetime(&local).earliest().map(|t| t.naive_utc()).unwrap_or(local - Duration::hours(8))
}

fn names(field: &str, list: &[String], max_each: usize) -> AppResult<Vec<String>> {
    if list.len() > consult::ATTENDEES_MAX {
        return Err(AppError::validation(field, crate::msg!("rule-max_items", max = consult::ATTENDEES_MAX)));
    }
    let mut out: Vec<String> = vec![];
    for n in list {
        let n = text(field, n, max_each)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// An optional mobile number: absent is none; anything sent must be one.
fn phone(field: &str, p: &Option<String>) -> AppResult<Option<String>> {
    match p.as_deref().map(str::trim) {
        None => Ok(None),
        Some(p) => validate_mobile(p).map(|()| Some(p.to_string())).map_err(|m| AppError::validation(field, m)),
    }
}

fn span(field: &str, start: Option<NaiveDate>, end: Option<NaiveDate>) -> AppResult<()> {
    match (start, end) {
        (Some(s), Some(e)) if e < s => {
            Err(AppError::validation(field, crate::msg!("rule-not_after", other = field.replace("_end", "_start"))))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Property companies (物业服务企业)

/// A property company; its manager's phone masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyView {
    pub id: String,
    pub name: String,
    /// 统一社会信用代码
    pub credit_code: String,
    pub manager_name: String,
    /// e.g. 138****5678
    pub manager_phone_masked: Option<String>,
    pub version: i64,
}

fn company_view(c: PropertyCompanyRow) -> CompanyView {
    CompanyView {
        id: c.id.to_string(),
        manager_phone_masked: c.manager_phone.as_deref().map(mask_phone),
        name: c.name,
        credit_code: c.credit_code,
        manager_name: c.manager_name,
        version: c.version,
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 统一社会信用代码: 18 characters, the last the check character (GB 32100-2015).
    #[schema(min_length = 18, max_length = 18)]
    pub credit_code: String,
    #[schema(max_length = 50)]
    #[serde(default)]
    pub manager_name: String,
    #[schema(pattern = "^1[0-9]{10}$")]
    pub manager_phone: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompanyFilter {
    /// Text to find in the name, or a credit code.
    #[param(max_length = 100)]
    pub q: Option<String>,
}

fn may_anywhere(actor: &Actor, op: Operation) -> AppResult<()> {
    if actor.grants_for(op).next().is_some() {
        Ok(())
    } else {
        enforce(crate::domain::roles::Decision::Forbidden, "property company", op)
    }
}

/// Registers a company (a company serves compounds in many places, so it is no one unit's).
pub fn create_company(conn: &mut DbConn, actor: &Actor, input: NewCompany, now: NaiveDateTime) -> AppResult<CompanyView> {
    may_anywhere(actor, Operation::ConsultManage)?;
    let name = text("name", &input.name, 100)?;
    let code = consult::validate_credit_code(&input.credit_code).map_err(|m| AppError::validation("credit_code", m))?;
    let manager_name = match input.manager_name.trim() {
        "" => String::new(),
        m => text("manager_name", m, 50)?,
    };
    let manager_phone = phone("manager_phone", &input.manager_phone)?;
    conn.transaction(|conn| {
        let taken: Option<PropertyCompanyRow> = property_companies::table
            .filter(property_companies::credit_code.eq(&code))
            .select(PropertyCompanyRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(c) = taken {
            return Err(AppError::conflict("credit_code_taken", crate::msg!("why-credit_code_taken", code = &code, name = &c.name)));
        }
        let row = PropertyCompanyRow {
            id: PropertyCompanyId::new(),
            name,
            credit_code: code,
            manager_name,
            manager_phone,
            created_at: now,
            version: 1,
        };
        diesel::insert_into(property_companies::table).values(&row).execute(conn)?;
        let grant = actor.grants_for(Operation::ConsultManage).next().cloned();
        let changes = serde_json::json!({ "name": [null, row.name], "credit_code": [null, row.credit_code] });
        record(conn, &by(actor, &grant), "property_company", &row.id.to_string(), "register_company", (None, None), None, changes, now)?;
        Ok(company_view(row))
    })
}

/// The companies, by name; anyone who follows a consultation may look one up.
pub fn list_companies(conn: &mut DbConn, actor: &Actor, filter: CompanyFilter) -> AppResult<Vec<CompanyView>> {
    may_anywhere(actor, Operation::ConsultRead)?;
    if filter.q.as_deref().is_some_and(|q| q.chars().count() > 100) {
        return Err(AppError::validation("q", crate::msg!("rule-max_chars", max = 100)));
    }
    let mut q =
        property_companies::table.select(PropertyCompanyRow::as_select()).order(property_companies::name.asc()).limit(200).into_boxed();
    if let Some(t) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", super::org::escape_like(t));
        q = q.filter(property_companies::name.like(pattern.clone()).escape('\\').or(property_companies::credit_code.eq(t.to_uppercase())));
    }
    Ok(q.load(conn)?.into_iter().map(company_view).collect())
}

// ---------------------------------------------------------------------------------------------
// A compound's parties

/// A compound's owners' committee (业主委员会) and property company (物业服务企业).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PartiesView {
    pub compound_id: String,
    pub compound_name: String,
    /// Empty while the compound has no committee.
    pub committee_name: String,
    pub committee_chair: String,
    pub committee_members: Vec<String>,
    pub committee_phone_masked: Option<String>,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub company: Option<CompanyView>,
    pub contract_start: Option<NaiveDate>,
    pub contract_end: Option<NaiveDate>,
    /// 0 until they are first recorded (send `If-Match: 0` then).
    pub version: i64,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartiesInput {
    /// Empty when the compound has no owners' committee.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub committee_name: String,
    #[schema(max_length = 50)]
    #[serde(default)]
    pub committee_chair: String,
    #[serde(default)]
    pub committee_members: Vec<String>,
    #[schema(pattern = "^1[0-9]{10}$")]
    pub committee_phone: Option<String>,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    /// The company serving the compound now (see `GET /property-companies`).
    #[schema(format = Uuid)]
    pub company_id: Option<String>,
    pub contract_start: Option<NaiveDate>,
    pub contract_end: Option<NaiveDate>,
}

fn parties_view(conn: &mut DbConn, unit: &OrgUnitRow, row: Option<CompoundPartiesRow>) -> AppResult<PartiesView> {
    let company = match row.as_ref().and_then(|r| r.company_id) {
        Some(id) => property_companies::table.find(id).select(PropertyCompanyRow::as_select()).first(conn).optional()?.map(company_view),
        None => None,
    };
    Ok(match row {
        Some(r) => PartiesView {
            compound_id: unit.id.to_string(),
            compound_name: unit.name.clone(),
            committee_name: r.committee_name,
            committee_chair: r.committee_chair,
            committee_members: r.committee_members.split('\n').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            committee_phone_masked: r.committee_phone.as_deref().map(mask_phone),
            term_start: r.term_start,
            term_end: r.term_end,
            company,
            contract_start: r.contract_start,
            contract_end: r.contract_end,
            version: r.version,
        },
        None => PartiesView {
            compound_id: unit.id.to_string(),
            compound_name: unit.name.clone(),
            committee_name: String::new(),
            committee_chair: String::new(),
            committee_members: vec![],
            committee_phone_masked: None,
            term_start: None,
            term_end: None,
            company: None,
            contract_start: None,
            contract_end: None,
            version: 0,
        },
    })
}

fn parties_row(conn: &mut DbConn, compound: &OrgUnitId) -> AppResult<Option<CompoundPartiesRow>> {
    Ok(compound_parties::table.find(compound).select(CompoundPartiesRow::as_select()).first(conn).optional()?)
}

pub fn get_parties(conn: &mut DbConn, actor: &Actor, compound: &OrgUnitId) -> AppResult<PartiesView> {
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    let row = parties_row(conn, &unit.id)?;
    parties_view(conn, &unit, row)
}

/// Records the compound's parties (the whole record; `If-Match` with its version, 0 the first
/// time). The committee's phone is stored as given and shown masked; the audit event names the
/// fields that changed, the phone only as changed.
pub fn set_parties(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    version: Option<i64>,
    input: PartiesInput,
    now: NaiveDateTime,
) -> AppResult<PartiesView> {
    let optional = |field: &str, v: &str, max: usize| -> AppResult<String> {
        match v.trim() {
            "" => Ok(String::new()),
            t => text(field, t, max),
        }
    };
    let committee_name = optional("committee_name", &input.committee_name, 100)?;
    let committee_chair = optional("committee_chair", &input.committee_chair, 50)?;
    let members = names("committee_members", &input.committee_members, 50)?;
    let committee_phone = phone("committee_phone", &input.committee_phone)?;
    span("term_end", input.term_start, input.term_end)?;
    span("contract_end", input.contract_start, input.contract_end)?;
    let company_id = match input.company_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => {
            Some(t.parse::<PropertyCompanyId>().map_err(|e| AppError::UnknownReference { field: "company_id".into(), detail: e.msg() })?)
        }
    };
    conn.transaction(|conn| {
        let (unit, grant) = compound_for(conn, actor, compound, Operation::ConsultManage)?;
        if let Some(id) = company_id {
            let found: i64 = property_companies::table.find(id).count().get_result(conn)?;
            if found == 0 {
                return Err(AppError::UnknownReference { field: "company_id".into(), detail: crate::msg!("why-no_such_company") });
            }
        }
        let old = parties_row(conn, &unit.id)?;
        let current = old.as_ref().map_or(0, |r| r.version);
        check_version(version, current)?;
        let row = CompoundPartiesRow {
            compound_id: unit.id,
            committee_name,
            committee_chair,
            committee_members: members.join("\n"),
            committee_phone,
            term_start: input.term_start,
            term_end: input.term_end,
            company_id,
            contract_start: input.contract_start,
            contract_end: input.contract_end,
            updated_at: now,
            version: current + 1,
        };
        let written = match &old {
            // Two first recordings at once: the second finds the row taken, as a stale version would.
            None => match diesel::insert_into(compound_parties::table).values(&row).execute(conn) {
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => 0,
                other => other?,
            },
            Some(o) => diesel::update(compound_parties::table.find(&unit.id).filter(compound_parties::version.eq(o.version)))
                .set((
                    compound_parties::committee_name.eq(&row.committee_name),
                    compound_parties::committee_chair.eq(&row.committee_chair),
                    compound_parties::committee_members.eq(&row.committee_members),
                    compound_parties::committee_phone.eq(&row.committee_phone),
                    compound_parties::term_start.eq(row.term_start),
                    compound_parties::term_end.eq(row.term_end),
                    compound_parties::company_id.eq(row.company_id),
                    compound_parties::contract_start.eq(row.contract_start),
                    compound_parties::contract_end.eq(row.contract_end),
                    compound_parties::updated_at.eq(now),
                    compound_parties::version.eq(row.version),
                ))
                .execute(conn)?,
        };
        if written == 0 {
            // (After a refused insert PostgreSQL takes no further statement in this transaction.)
            return Err(AppError::VersionConflict { given: current, current: current + 1 });
        }
        let changes = parties_changes(old.as_ref(), &row);
        record(conn, &by(actor, &grant), "compound_parties", &unit.id.to_string(), "set_parties", (None, None), None, changes, now)?;
        parties_view(conn, &unit, Some(row))
    })
}

/// `{"field": [old, new]}` of what changed; a phone only as `"changed"`.
fn parties_changes(old: Option<&CompoundPartiesRow>, new: &CompoundPartiesRow) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let mut put = |field: &str, o: Option<String>, n: Option<String>| {
        if o != n {
            out.insert(field.into(), serde_json::json!([o, n]));
        }
    };
    let d = |d: Option<NaiveDate>| d.map(|d| d.to_string());
    put("committee_name", old.map(|o| o.committee_name.clone()), Some(new.committee_name.clone()));
    put("committee_chair", old.map(|o| o.committee_chair.clone()), Some(new.committee_chair.clone()));
    put("committee_members", old.map(|o| o.committee_members.clone()), Some(new.committee_members.clone()));
    put("term_start", old.and_then(|o| d(o.term_start)), d(new.term_start));
    put("term_end", old.and_then(|o| d(o.term_end)), d(new.term_end));
    put("company_id", old.and_then(|o| o.company_id.map(|c| c.to_string())), new.company_id.map(|c| c.to_string()));
    put("contract_start", old.and_then(|o| d(o.contract_start)), d(new.contract_start));
    put("contract_end", old.and_then(|o| d(o.contract_end)), d(new.contract_end));
    if old.and_then(|o| o.committee_phone.clone()) != new.committee_phone {
        out.insert("committee_phone".into(), serde_json::json!("changed"));
    }
    serde_json::Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Candidate items (候选议题)

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CandidateQuery {
    /// How many days back to look at the compound's tickets (7–366, default 90).
    #[param(minimum = 7, maximum = 366)]
    pub days: Option<i64>,
    /// How many tickets of one category make it recur (2–50, default 3).
    #[param(minimum = 2, maximum = 50)]
    pub repeats: Option<i64>,
}

/// A ticket behind a candidate item.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CandidateTicket {
    pub id: String,
    pub number: String,
    pub title: String,
    pub state: TicketState,
    pub reopen_count: i32,
    pub satisfaction: Option<Satisfaction>,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

/// A category whose tickets recur in the compound, were reopened or left a resident dissatisfied.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub category_id: String,
    pub category_name: String,
    pub reasons: Vec<CandidateReason>,
    /// Newest first.
    pub tickets: Vec<CandidateTicket>,
}

/// The most recent tickets one proposal reads (a compound files far fewer in a year).
const CANDIDATE_TICKETS_MAX: i64 = 5000;

/// Candidate agenda items from the compound's tickets of the last `days` days, not counting
/// tickets already raised to an open item or closed as duplicates.
pub fn candidates(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    q: CandidateQuery,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<Vec<Candidate>> {
    let days = q.days.unwrap_or(90);
    if !(7..=366).contains(&days) {
        return Err(AppError::validation("days", crate::msg!("rule-between", min = 7, max = 366)));
    }
    let repeats = q.repeats.unwrap_or(3);
    if !(2..=50).contains(&repeats) {
        return Err(AppError::validation("repeats", crate::msg!("rule-between", min = 2, max = 50)));
    }
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    // Candidates show the compound's tickets: for those who may read them, not the parties.
    require_ticket_reader(actor, &unit)?;
    let raised: HashSet<TicketId> = consult_item_tickets::table
        .inner_join(consult_items::table)
        .filter(consult_items::compound_id.eq(unit.id))
        .filter(consult_items::state.eq_any([ItemState::Agenda, ItemState::Action]))
        .select(consult_item_tickets::ticket_id)
        .load(conn)?
        .into_iter()
        .collect();
    type Found = (TicketId, String, String, TicketState, CategoryId, i32, Option<Satisfaction>, NaiveDateTime);
    let found: Vec<Found> = tickets::table
        .filter(tickets::place_path.ge(unit.path.as_str().to_string()))
        .filter(tickets::place_path.lt(unit.path.subtree_upper_bound()))
        .filter(tickets::created_at.ge(now - Duration::days(days)))
        .filter(tickets::state.ne(TicketState::Duplicate))
        .order(tickets::created_at.desc())
        .limit(CANDIDATE_TICKETS_MAX)
        .select((
            tickets::id,
            tickets::number,
            tickets::title,
            tickets::state,
            tickets::category_id,
            tickets::reopen_count,
            tickets::satisfaction,
            tickets::created_at,
        ))
        .load(conn)?;
    let recent: Vec<consult::RecentTicket<CandidateTicket>> = found
        .into_iter()
        .filter(|t| !raised.contains(&t.0))
        .map(|(id, number, title, state, category_id, reopen_count, satisfaction, created_at)| consult::RecentTicket {
            category_id,
            reopened: reopen_count > 0,
            dissatisfied: satisfaction == Some(Satisfaction::NotSatisfied),
            ticket: CandidateTicket { id: id.to_string(), number, title, state, reopen_count, satisfaction, created_at },
        })
        .collect();
    let groups = consult::propose(&recent, repeats as usize);
    let names = category_names(conn, groups.iter().map(|g| g.0).collect(), lang)?;
    Ok(groups
        .into_iter()
        .take(30)
        .map(|(cat, reasons, tickets)| Candidate {
            category_id: cat.to_string(),
            category_name: names.get(&cat).cloned().unwrap_or_default(),
            reasons,
            tickets,
        })
        .collect())
}

fn category_names(conn: &mut DbConn, ids: Vec<CategoryId>, lang: Lang) -> AppResult<HashMap<CategoryId, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(CategoryId, String, String)> = categories::table
        .filter(categories::id.eq_any(ids))
        .select((categories::id, categories::name_zh, categories::name_en))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, zh, en)| (id, if lang == Lang::En { en } else { zh })).collect())
}

// ---------------------------------------------------------------------------------------------
// Items (议事清单 → 行动清单 → 业绩清单)

/// A ticket raised to an item.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ItemTicket {
    pub id: String,
    pub number: String,
    pub title: String,
    pub state: TicketState,
    /// The last return visit's result.
    pub satisfaction: Option<Satisfaction>,
}

/// A progress note.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    pub id: String,
    pub body: String,
    pub author_name: String,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

/// An item of a compound's consultation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: String,
    pub compound_id: String,
    pub title: String,
    pub detail: String,
    pub category_id: Option<String>,
    pub category_name: Option<String>,
    pub state: ItemState,
    /// The meeting that decided it.
    pub meeting_id: Option<String>,
    pub held_on: Option<NaiveDate>,
    /// The path to solve it, as decided.
    pub decision: Option<String>,
    /// The party responsible for the action.
    pub responsible: Option<Party>,
    /// The deadline, a China day: the action is on time to the end of it (`due_at`).
    pub due_on: Option<NaiveDate>,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<NaiveDateTime>,
    /// How the action stands against its deadline (none before a decision, or when dropped).
    pub timeliness: Option<Timeliness>,
    /// When a running action warns (预警): after the SLA's warn fraction of the working time
    /// from the meeting's day to its deadline, on the compound's working calendar.
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warn_at: Option<NaiveDateTime>,
    /// A running action past its warning time, not yet overdue (临期).
    pub due_soon: bool,
    /// When its warning and its lateness were told (each once; late, it is under the community's
    /// supervision, 督办).
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warned_at: Option<NaiveDateTime>,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub breached_at: Option<NaiveDateTime>,
    /// When it was done or dropped.
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<NaiveDateTime>,
    /// What was done, or why it was dropped.
    pub outcome: Option<String>,
    pub tickets: Vec<ItemTicket>,
    /// Oldest first.
    pub notes: Vec<NoteView>,
    /// Photos as evidence of its action, oldest first.
    pub photos: Vec<ItemPhoto>,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub detail: String,
    #[schema(format = Uuid)]
    pub category_id: Option<String>,
    /// Tickets of the compound to raise to it.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub ticket_ids: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachTickets {
    #[schema(min_items = 1, max_items = 200)]
    pub ticket_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    #[schema(min_length = 1, max_length = 2000)]
    pub body: String,
}

/// Done (what was done) or dropped (why).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    #[schema(min_length = 1, max_length = 2000)]
    pub outcome: String,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemFilter {
    pub state: Option<ItemState>,
    /// At most this many, newest first (1–500, default 200).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn item_for(conn: &mut DbConn, actor: &Actor, id: &ConsultItemId, op: Operation) -> AppResult<(ConsultItemRow, OrgUnitRow, Option<Grant>)> {
    let row: ConsultItemRow = consult_items::table
        .find(id)
        .select(ConsultItemRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "consultation item" })?;
    let (unit, grant) = compound_of_object(conn, actor, &row.compound_id, op, "consultation item")?;
    Ok((row, unit, grant))
}

/// The tickets named by `ids`, which must lie in the compound (else 422 on `field`).
fn compound_tickets(conn: &mut DbConn, unit: &OrgUnitRow, field: &str, ids: &[String]) -> AppResult<Vec<TicketId>> {
    if ids.len() > 200 {
        return Err(AppError::validation(field, crate::msg!("rule-max_items", max = 200)));
    }
    let mut parsed: Vec<TicketId> = vec![];
    for t in ids {
        let id: TicketId =
            t.trim().parse().map_err(|e: crate::domain::ids::BadId| AppError::UnknownReference { field: field.into(), detail: e.msg() })?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    if parsed.is_empty() {
        return Ok(parsed);
    }
    let known: HashSet<TicketId> = tickets::table
        .filter(tickets::id.eq_any(parsed.clone()))
        .filter(tickets::place_path.ge(unit.path.as_str().to_string()))
        .filter(tickets::place_path.lt(unit.path.subtree_upper_bound()))
        .select(tickets::id)
        .load(conn)?
        .into_iter()
        .collect();
    if let Some(missing) = parsed.iter().find(|t| !known.contains(t)) {
        return Err(AppError::UnknownReference {
            field: field.into(),
            detail: crate::msg!("why-ticket_not_in_compound", ticket = &missing.to_string()),
        });
    }
    Ok(parsed)
}

fn attach(conn: &mut DbConn, item: ConsultItemId, ids: &[TicketId], actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<TicketId>> {
    let present: HashSet<TicketId> = consult_item_tickets::table
        .filter(consult_item_tickets::item_id.eq(item))
        .select(consult_item_tickets::ticket_id)
        .load(conn)?
        .into_iter()
        .collect();
    let new: Vec<ConsultItemTicketRow> = ids
        .iter()
        .filter(|t| !present.contains(t))
        .map(|t| ConsultItemTicketRow { item_id: item, ticket_id: *t, attached_by: actor.person_id, attached_at: now })
        .collect();
    for row in &new {
        diesel::insert_into(consult_item_tickets::table).values(row).execute(conn)?;
    }
    Ok(new.into_iter().map(|r| r.ticket_id).collect())
}

/// Puts an item on the compound's agenda (议事清单), with the tickets raised to it.
pub fn add_item(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    input: NewItem,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<ItemView> {
    let title = text("title", &input.title, consult::TITLE_MAX)?;
    let detail = match input.detail.trim() {
        "" => String::new(),
        d => text("detail", d, consult::TEXT_MAX)?,
    };
    let item_id = conn.transaction(|conn| {
        let (unit, grant) = compound_for(conn, actor, compound, Operation::ConsultManage)?;
        let category_id = match input.category_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(t) => {
                let id: CategoryId = t
                    .parse()
                    .map_err(|e: crate::domain::ids::BadId| AppError::UnknownReference { field: "category_id".into(), detail: e.msg() })?;
                let n: i64 = categories::table.find(id).count().get_result(conn)?;
                if n == 0 {
                    return Err(AppError::UnknownReference {
                        field: "category_id".into(),
                        detail: crate::msg!("why-consult_no_such_category"),
                    });
                }
                Some(id)
            }
        };
        let ticket_ids = compound_tickets(conn, &unit, "ticket_ids", &input.ticket_ids)?;
        let row = ConsultItemRow {
            id: ConsultItemId::new(),
            compound_id: unit.id,
            title,
            detail,
            category_id,
            state: ItemState::Agenda,
            created_by: actor.person_id,
            created_at: now,
            meeting_id: None,
            decision: None,
            responsible: None,
            due_on: None,
            due_at: None,
            closed_at: None,
            outcome: None,
            version: 1,
            warn_at: None,
            warned_at: None,
            breached_at: None,
        };
        diesel::insert_into(consult_items::table).values(&row).execute(conn)?;
        attach(conn, row.id, &ticket_ids, actor, now)?;
        let changes = serde_json::json!({
            "title": [null, row.title],
            "tickets": ticket_ids.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        });
        record(
            conn,
            &by(actor, &grant),
            "consult_item",
            &row.id.to_string(),
            "put_on_agenda",
            (None, Some(ItemState::Agenda)),
            None,
            changes,
            now,
        )?;
        Ok::<_, AppError>(row.id)
    })?;
    get_item(conn, actor, &item_id, lang, now)
}

/// Raises more of the compound's tickets to an open item; a ticket already raised is left as it is.
pub fn attach_tickets(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ConsultItemId,
    input: AttachTickets,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<ItemView> {
    if input.ticket_ids.is_empty() {
        return Err(AppError::validation("ticket_ids", crate::msg!("rule-not_empty")));
    }
    conn.transaction(|conn| {
        let (row, unit, grant) = item_for(conn, actor, id, Operation::ConsultManage)?;
        if !row.state.is_open() {
            return Err(closed_item(row.state));
        }
        let ids = compound_tickets(conn, &unit, "ticket_ids", &input.ticket_ids)?;
        let added = attach(conn, row.id, &ids, actor, now)?;
        if !added.is_empty() {
            let changes = serde_json::json!({ "tickets": added.iter().map(|t| t.to_string()).collect::<Vec<_>>() });
            record(conn, &by(actor, &grant), "consult_item", &row.id.to_string(), "attach_tickets", (None, None), None, changes, now)?;
        }
        Ok::<_, AppError>(())
    })?;
    get_item(conn, actor, id, lang, now)
}

/// The grant under which the actor acts on an item: the branch's (`consultation.manage`), or —
/// for progress and completion (`by_party`) — a representative's of the party responsible for it.
fn acting_grant(actor: &Actor, unit: &OrgUnitRow, row: &ConsultItemRow, by_party: bool) -> AppResult<Option<Grant>> {
    if actor.may(Operation::ConsultManage, &unit.path) {
        return Ok(actor.grants_for(Operation::ConsultManage).find(|g| g.org_path.contains(&unit.path)).cloned());
    }
    if by_party {
        if let Some(g) = actor
            .grants_for(Operation::ConsultAct)
            .find(|g| g.org_path.contains(&unit.path) && row.responsible.is_some() && g.role.represents() == row.responsible)
        {
            return Ok(Some(g.clone()));
        }
    }
    let op = if by_party { Operation::ConsultAct } else { Operation::ConsultManage };
    enforce(crate::domain::roles::Decision::Forbidden, "consultation item", op).map(|()| None)
}

/// The parties the actor speaks for in this compound (a representative's).
fn represented(actor: &Actor, unit: &OrgUnitRow) -> Vec<Party> {
    actor.grants_for(Operation::ConsultAct).filter(|g| g.org_path.contains(&unit.path)).filter_map(|g| g.role.represents()).collect()
}

/// Who may not read the compound's tickets (a representative) sees the tickets raised to an item
/// only where his party is responsible for it.
fn redact(actor: &Actor, unit: &OrgUnitRow, views: &mut [ItemView]) {
    if actor.may(Operation::TicketRead, &unit.path) {
        return;
    }
    let mine = represented(actor, unit);
    for v in views.iter_mut() {
        if !v.responsible.is_some_and(|p| mine.contains(&p)) {
            v.tickets.clear();
        }
    }
}

fn closed_item(state: ItemState) -> AppError {
    AppError::conflict("item_closed", crate::msg!("why-consult_item_closed", state = crate::domain::text::Arg::Key(state.label_key())))
}

/// A progress note (进展) on an open item.
pub fn add_note(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ConsultItemId,
    input: NewNote,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<ItemView> {
    let body = text("body", &input.body, consult::TEXT_MAX)?;
    conn.transaction(|conn| {
        let (row, unit, _) = item_for(conn, actor, id, Operation::ConsultRead)?;
        let grant = acting_grant(actor, &unit, &row, true)?;
        if !row.state.is_open() {
            return Err(closed_item(row.state));
        }
        let note = ConsultNoteRow { id: ConsultNoteId::new(), item_id: row.id, body, author_id: actor.person_id, created_at: now };
        diesel::insert_into(consult_notes::table).values(&note).execute(conn)?;
        let changes = serde_json::json!({ "note": [null, note.body] });
        record(conn, &by(actor, &grant), "consult_item", &row.id.to_string(), "note", (None, None), None, changes, now)?;
        Ok::<_, AppError>(())
    })?;
    get_item(conn, actor, id, lang, now)
}

/// Ends an item: an action done (`Done`, with what was done), or an item dropped (`Dropped`,
/// with why) from the agenda or the action list. `If-Match` with the item's version.
#[allow(clippy::too_many_arguments)]
pub fn close_item(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ConsultItemId,
    version: Option<i64>,
    to: ItemState,
    input: Outcome,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<ItemView> {
    let outcome = text("outcome", &input.outcome, consult::TEXT_MAX)?;
    conn.transaction(|conn| {
        let (row, unit, _) = item_for(conn, actor, id, Operation::ConsultRead)?;
        // A party completes its own action; only the branch drops an item.
        let grant = acting_grant(actor, &unit, &row, to == ItemState::Done)?;
        check_version(version, row.version)?;
        match (to, row.state) {
            (_, ItemState::Done | ItemState::Dropped) => return Err(closed_item(row.state)),
            (ItemState::Done, ItemState::Agenda) => {
                return Err(AppError::conflict("not_decided", crate::msg!("why-consult_not_decided")));
            }
            _ => {}
        }
        let n = diesel::update(consult_items::table.find(row.id).filter(consult_items::version.eq(row.version)))
            .set((
                consult_items::state.eq(to),
                consult_items::closed_at.eq(now),
                consult_items::outcome.eq(&outcome),
                consult_items::version.eq(row.version + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: row.version, current: row.version + 1 });
        }
        let action = if to == ItemState::Done { "complete_action" } else { "drop_item" };
        let changes = serde_json::json!({ "outcome": [null, outcome] });
        record(conn, &by(actor, &grant), "consult_item", &row.id.to_string(), action, (Some(row.state), Some(to)), None, changes, now)?;
        Ok::<_, AppError>(())
    })?;
    get_item(conn, actor, id, lang, now)
}

/// A photo of an item (evidence of its action); the image is `GET /consultation/photos/{id}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ItemPhoto {
    pub id: String,
    pub width: i32,
    pub height: i32,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

fn item_photo(r: &ConsultPhotoRow) -> ItemPhoto {
    ItemPhoto { id: r.id.to_string(), width: r.width, height: r.height, created_at: r.created_at }
}

/// 现场照片: a photo (cleaned: upright, scaled, no metadata) as evidence of a decided item's action
/// — during it or once done — by whoever may act on it (the branch, or the responsible party's
/// representative). The same photo again is the one already there (`false`).
pub fn attach_photo(
    conn: &mut DbConn,
    store: &dyn crate::app::photos::PhotoStore,
    actor: &Actor,
    id: &ConsultItemId,
    photo: &crate::app::photos::Cleaned,
    now: NaiveDateTime,
) -> AppResult<(ItemPhoto, bool)> {
    let (row, unit, _) = item_for(conn, actor, id, Operation::ConsultRead)?;
    let grant = acting_grant(actor, &unit, &row, true)?;
    if !matches!(row.state, ItemState::Action | ItemState::Done) {
        return Err(AppError::conflict("not_decided", crate::msg!("why-consult_photo_not_decided")));
    }
    // The files first: a row never points at a file that is not there.
    let sha256 = store.put(&photo.jpeg)?;
    let thumb_sha256 = store.put(&photo.thumb)?;
    let existing: Option<ConsultPhotoRow> = consult_photos::table
        .filter(consult_photos::item_id.eq(row.id))
        .filter(consult_photos::sha256.eq(&sha256))
        .select(ConsultPhotoRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(r) = existing {
        return Ok((item_photo(&r), false));
    }
    let p = ConsultPhotoRow {
        id: crate::domain::ConsultPhotoId::new(),
        item_id: row.id,
        sha256,
        thumb_sha256,
        width: photo.width as i32,
        height: photo.height as i32,
        bytes: photo.jpeg.len() as i64,
        uploaded_by: actor.person_id,
        created_at: now,
    };
    diesel::insert_into(consult_photos::table).values(&p).execute(conn)?;
    let changes = serde_json::json!({ "photo_id": [null, p.id.to_string()] });
    record(conn, &by(actor, &grant), "consult_item", &row.id.to_string(), "photo", (Some(row.state), Some(row.state)), None, changes, now)?;
    Ok((item_photo(&p), true))
}

/// A photo of an item, for someone who may follow that compound's consultation; else the 404 of
/// a missing photo.
pub fn photo_of_item(conn: &mut DbConn, actor: &Actor, id: &crate::domain::ConsultPhotoId) -> AppResult<ConsultPhotoRow> {
    let missing = || AppError::NotFound { what: "photo" };
    let row: ConsultPhotoRow =
        consult_photos::table.find(id).select(ConsultPhotoRow::as_select()).first(conn).optional()?.ok_or_else(missing)?;
    match item_for(conn, actor, &row.item_id, Operation::ConsultRead) {
        Ok(_) => Ok(row),
        Err(AppError::NotFound { .. } | AppError::Forbidden { .. }) => Err(missing()),
        Err(e) => Err(e),
    }
}

/// A ticket an action's completion did not solve, and why (the workflow's refusal, in the
/// caller's language).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SkippedTicket {
    pub number: String,
    pub reason: String,
}

/// What solving a done action's tickets did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SolvedTickets {
    /// The numbers of the tickets solved now (办结: each goes to its grid worker's return visit).
    pub solved: Vec<String>,
    pub skipped: Vec<SkippedTicket>,
}

/// 据此办结: the tickets raised to a done action are solved by it — each through the workflow's
/// `mark_solved` as the caller (a branch secretary solves what his compound handles), with what
/// was done as its resolution, in its own transaction; each solved ticket still gets its return
/// visit (回访). A ticket the caller may not solve now (not yet accepted, at the community or a
/// department, solved or closed already) is left as it is and named with the workflow's reason.
/// Asking again solves nothing twice.
pub fn solve_tickets(
    conn: &mut DbConn,
    ctx: crate::app::sla::SlaContext<'_>,
    actor: &Actor,
    id: &ConsultItemId,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<SolvedTickets> {
    let (row, _, grant) = item_for(conn, actor, id, Operation::ConsultManage)?;
    if row.state != ItemState::Done {
        return Err(AppError::conflict("not_done", crate::msg!("why-consult_not_done")));
    }
    let linked: Vec<(TicketId, String)> = consult_item_tickets::table
        .inner_join(tickets::table)
        .filter(consult_item_tickets::item_id.eq(row.id))
        .order((consult_item_tickets::attached_at.asc(), tickets::number.asc()))
        .select((tickets::id, tickets::number))
        .load(conn)?;
    let resolution: String = crate::i18n::render(
        lang,
        &crate::msg!("consult-solved_by_action", title = row.title.clone(), outcome = row.outcome.clone().unwrap_or_default()),
    )
    .chars()
    .take(consult::TEXT_MAX)
    .collect();
    let (mut solved, mut skipped) = (vec![], vec![]);
    for (ticket, number) in linked {
        let request = crate::app::tickets::ActionRequest::MarkSolved { resolution: resolution.clone() };
        // On the version as it is now: the decision to solve is this request's, not an old page's.
        let taken = backend::write_transaction(conn, |c| {
            let version: i64 = tickets::table.find(ticket).select(tickets::version).first(c)?;
            crate::app::tickets::act(c, ctx, actor, &ticket, Some(version), request.clone(), now)
        });
        match taken {
            Ok(_) => solved.push(number),
            Err(e) if e.is_database_failure() => return Err(e),
            Err(e) => skipped.push(SkippedTicket { number, reason: e.message(lang) }),
        }
    }
    if !solved.is_empty() {
        let changes = serde_json::json!({ "solved_tickets": [null, solved] });
        backend::write_transaction(conn, |c| {
            record(
                c,
                &by(actor, &grant),
                "consult_item",
                &row.id.to_string(),
                "solve_tickets",
                (Some(row.state), Some(row.state)),
                None,
                changes.clone(),
                now,
            )
        })?;
    }
    Ok(SolvedTickets { solved, skipped })
}

pub fn get_item(conn: &mut DbConn, actor: &Actor, id: &ConsultItemId, lang: Lang, now: NaiveDateTime) -> AppResult<ItemView> {
    let (row, unit, _) = item_for(conn, actor, id, Operation::ConsultRead)?;
    let mut views = item_views(conn, vec![row], lang, now)?;
    redact(actor, &unit, &mut views);
    views.pop().ok_or(AppError::NotFound { what: "consultation item" })
}

/// The compound's items, newest first.
pub fn list_items(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    filter: ItemFilter,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<Vec<ItemView>> {
    let limit = page_limit(filter.limit, 200, 500)?;
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    let mut q = consult_items::table
        .filter(consult_items::compound_id.eq(unit.id))
        .select(ConsultItemRow::as_select())
        .order((consult_items::created_at.desc(), consult_items::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = filter.state {
        q = q.filter(consult_items::state.eq(s));
    }
    let rows = q.load(conn)?;
    let mut views = item_views(conn, rows, lang, now)?;
    redact(actor, &unit, &mut views);
    Ok(views)
}

/// Views of items with their tickets, notes, meetings and category names: four queries whatever
/// the number of items.
fn item_views(conn: &mut DbConn, rows: Vec<ConsultItemRow>, lang: Lang, now: NaiveDateTime) -> AppResult<Vec<ItemView>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<ConsultItemId> = rows.iter().map(|r| r.id).collect();
    type Linked = (ConsultItemId, TicketId, String, String, TicketState, Option<Satisfaction>);
    let linked: Vec<Linked> = consult_item_tickets::table
        .inner_join(tickets::table)
        .filter(consult_item_tickets::item_id.eq_any(ids.clone()))
        .order((consult_item_tickets::attached_at.asc(), tickets::number.asc()))
        .select((consult_item_tickets::item_id, tickets::id, tickets::number, tickets::title, tickets::state, tickets::satisfaction))
        .load(conn)?;
    let mut tickets_of: HashMap<ConsultItemId, Vec<ItemTicket>> = HashMap::new();
    for (item, id, number, title, state, satisfaction) in linked {
        tickets_of.entry(item).or_default().push(ItemTicket { id: id.to_string(), number, title, state, satisfaction });
    }
    let notes: Vec<(ConsultNoteRow, String)> = consult_notes::table
        .inner_join(people::table.on(people::id.eq(consult_notes::author_id)))
        .filter(consult_notes::item_id.eq_any(ids))
        .order((consult_notes::created_at.asc(), consult_notes::id.asc()))
        .select((ConsultNoteRow::as_select(), people::display_name))
        .load(conn)?;
    let mut notes_of: HashMap<ConsultItemId, Vec<NoteView>> = HashMap::new();
    for (n, author) in notes {
        notes_of.entry(n.item_id).or_default().push(NoteView {
            id: n.id.to_string(),
            body: n.body,
            author_name: author,
            created_at: n.created_at,
        });
    }
    let mut photos_of: HashMap<ConsultItemId, Vec<ItemPhoto>> = HashMap::new();
    for p in consult_photos::table
        .filter(consult_photos::item_id.eq_any(rows.iter().map(|r| r.id).collect::<Vec<_>>()))
        .order((consult_photos::created_at.asc(), consult_photos::id.asc()))
        .select(ConsultPhotoRow::as_select())
        .load::<ConsultPhotoRow>(conn)?
    {
        photos_of.entry(p.item_id).or_default().push(item_photo(&p));
    }
    let meeting_ids: Vec<MeetingId> = rows.iter().filter_map(|r| r.meeting_id).collect();
    let held: HashMap<MeetingId, NaiveDate> = if meeting_ids.is_empty() {
        HashMap::new()
    } else {
        consult_meetings::table
            .filter(consult_meetings::id.eq_any(meeting_ids))
            .select((consult_meetings::id, consult_meetings::held_on))
            .load::<(MeetingId, NaiveDate)>(conn)?
            .into_iter()
            .collect()
    };
    let names = category_names(conn, rows.iter().filter_map(|r| r.category_id).collect(), lang)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let timeliness = match (r.state, r.due_at) {
                (ItemState::Action | ItemState::Done, Some(due)) => {
                    Some(consult::timeliness(due, if r.state == ItemState::Done { r.closed_at } else { None }, now))
                }
                _ => None,
            };
            ItemView {
                id: r.id.to_string(),
                compound_id: r.compound_id.to_string(),
                title: r.title,
                detail: r.detail,
                category_id: r.category_id.map(|c| c.to_string()),
                category_name: r.category_id.and_then(|c| names.get(&c).cloned()),
                state: r.state,
                meeting_id: r.meeting_id.map(|m| m.to_string()),
                held_on: r.meeting_id.and_then(|m| held.get(&m).copied()),
                decision: r.decision,
                responsible: r.responsible,
                due_on: r.due_on,
                due_at: r.due_at,
                timeliness,
                warn_at: r.warn_at,
                due_soon: r.state == ItemState::Action && r.warn_at.is_some_and(|w| w <= now) && r.due_at.is_some_and(|d| now <= d),
                warned_at: r.warned_at,
                breached_at: r.breached_at,
                closed_at: r.closed_at,
                outcome: r.outcome,
                tickets: tickets_of.remove(&r.id).unwrap_or_default(),
                notes: notes_of.remove(&r.id).unwrap_or_default(),
                photos: photos_of.remove(&r.id).unwrap_or_default(),
                created_at: r.created_at,
                version: r.version,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Meetings (议事会)

/// Who attended, per party (names).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendees {
    /// 党支部
    #[serde(default)]
    #[schema(max_items = 30)]
    pub branch: Vec<String>,
    /// 业主委员会 (or the owners' representatives where the compound has no committee)
    #[serde(default)]
    #[schema(max_items = 30)]
    pub owners_committee: Vec<String>,
    /// 物业服务企业
    #[serde(default)]
    #[schema(max_items = 30)]
    pub property_company: Vec<String>,
}

impl Attendees {
    /// Each party present, names trimmed, at most 30 a party.
    fn checked(&self) -> AppResult<Attendees> {
        let a = Attendees {
            branch: names("attendees.branch", &self.branch, 50)?,
            owners_committee: names("attendees.owners_committee", &self.owners_committee, 50)?,
            property_company: names("attendees.property_company", &self.property_company, 50)?,
        };
        for (field, list) in [
            ("attendees.branch", &a.branch),
            ("attendees.owners_committee", &a.owners_committee),
            ("attendees.property_company", &a.property_company),
        ] {
            if list.is_empty() {
                return Err(AppError::validation(field, crate::msg!("why-consult_three_parties")));
            }
        }
        Ok(a)
    }
}

/// The decision on one agenda item: how to solve it, who, by when.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemDecision {
    #[schema(format = Uuid)]
    pub item_id: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub decision: String,
    pub responsible: Party,
    /// The deadline (a China day, from the meeting's day to a year after it).
    pub due_on: NaiveDate,
}

/// An agenda item the meeting decided not to act on.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemDrop {
    #[schema(format = Uuid)]
    pub item_id: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    /// The China day it was held (today or in the past year).
    pub held_on: NaiveDate,
    #[schema(min_length = 1, max_length = 100)]
    pub place: String,
    pub attendees: Attendees,
    #[schema(max_length = 20000)]
    #[serde(default)]
    pub minutes: String,
    /// Agenda items decided into actions.
    #[serde(default)]
    pub decisions: Vec<ItemDecision>,
    /// Agenda items dropped.
    #[serde(default)]
    pub dropped: Vec<ItemDrop>,
}

/// Changes to a meeting's record; each is an audit event with the old and new text.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub place: Option<String>,
    #[schema(max_length = 20000)]
    pub minutes: Option<String>,
    pub attendees: Option<Attendees>,
}

/// A meeting and the items it decided.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MeetingView {
    pub id: String,
    pub compound_id: String,
    pub compound_name: String,
    pub held_on: NaiveDate,
    pub place: String,
    pub attendees: Attendees,
    pub minutes: String,
    pub recorded_by: String,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    /// The secretary who signed the minutes off; later changes are audited.
    pub signed_by: Option<String>,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub signed_at: Option<NaiveDateTime>,
    pub items: Vec<ItemView>,
    pub version: i64,
}

/// A meeting as a line of a list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MeetingLine {
    pub id: String,
    pub held_on: NaiveDate,
    pub place: String,
    pub items: i64,
    pub signed: bool,
}

/// Records a meeting held: who came, the minutes, and per agenda item its decision (an action
/// with a responsible party and a deadline) or its dropping. All in one transaction; every item
/// must be on this compound's agenda, each named once.
/// The working calendar an action's clock runs on, and the share of its time after which it warns.
#[derive(Clone, Copy)]
pub enum ActionCalendar<'a> {
    /// The compound's calendar and the SLA's warn fraction, as any stage's clock (the service).
    Sla(crate::app::sla::SlaContext<'a>),
    /// A given calendar and fraction (the demo city, loaded before the calendars are).
    Fixed(&'a crate::domain::calendar::WorkCalendar, f64),
}

impl ActionCalendar<'_> {
    fn of(
        self,
        conn: &mut DbConn,
        path: &crate::domain::OrgPath,
    ) -> AppResult<(std::sync::Arc<crate::domain::calendar::WorkCalendar>, f64)> {
        match self {
            ActionCalendar::Sla(ctx) => Ok((crate::app::sla::calendar_of(conn, ctx, path)?, ctx.settings.warn_fraction)),
            ActionCalendar::Fixed(cal, fraction) => Ok((std::sync::Arc::new(cal.clone()), fraction)),
        }
    }
}

pub fn hold_meeting(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    input: NewMeeting,
    tz: &chrono_tz::Tz,
    clocks: ActionCalendar<'_>,
    now: NaiveDateTime,
) -> AppResult<MeetingId> {
    let today = today(tz, now);
    if input.held_on > today {
        return Err(AppError::validation("held_on", crate::msg!("rule-future_date", date = &input.held_on.to_string())));
    }
    if input.held_on < today - Duration::days(366) {
        return Err(AppError::validation("held_on", crate::msg!("why-consult_meeting_too_old")));
    }
    let place = text("place", &input.place, 100)?;
    let minutes = match input.minutes.trim() {
        "" => String::new(),
        m => text("minutes", m, consult::MINUTES_MAX)?,
    };
    let attendees = input.attendees.checked()?;
    if input.decisions.is_empty() && input.dropped.is_empty() {
        return Err(AppError::validation("decisions", crate::msg!("why-consult_meeting_needs_items")));
    }
    let mut seen: BTreeMap<ConsultItemId, ()> = BTreeMap::new();
    let mut parse_item = |field: String, t: &str| -> AppResult<ConsultItemId> {
        let id: ConsultItemId = t
            .trim()
            .parse()
            .map_err(|e: crate::domain::ids::BadId| AppError::UnknownReference { field: field.clone(), detail: e.msg() })?;
        if seen.insert(id, ()).is_some() {
            return Err(AppError::validation(field, crate::msg!("rule-listed_twice")));
        }
        Ok(id)
    };
    let mut decisions = vec![];
    for (i, d) in input.decisions.iter().enumerate() {
        let id = parse_item(format!("decisions[{i}].item_id"), &d.item_id)?;
        let text_ = text(&format!("decisions[{i}].decision"), &d.decision, consult::TEXT_MAX)?;
        consult::check_deadline(input.held_on, d.due_on).map_err(|m| AppError::validation(format!("decisions[{i}].due_on"), m))?;
        decisions.push((i, id, text_, d.responsible, d.due_on));
    }
    let mut drops = vec![];
    for (i, d) in input.dropped.iter().enumerate() {
        let id = parse_item(format!("dropped[{i}].item_id"), &d.item_id)?;
        drops.push((i, id, text(&format!("dropped[{i}].reason"), &d.reason, consult::TEXT_MAX)?));
    }
    conn.transaction(|conn| {
        let (unit, grant) = compound_for(conn, actor, compound, Operation::ConsultManage)?;
        let by = by(actor, &grant);
        // Each action's clock runs on the compound's working calendar from the meeting's day.
        let (cal, warn_fraction) = clocks.of(conn, &unit.path)?;
        let decided_from = end_of_day(tz, input.held_on - Duration::days(1));
        let meeting = MeetingRow {
            id: MeetingId::new(),
            compound_id: unit.id,
            held_on: input.held_on,
            place,
            attendees: serde_json::to_string(&attendees).map_err(|e| AppError::internal_msg(e.to_string()))?,
            minutes,
            created_by: actor.person_id,
            created_at: now,
            signed_by: None,
            signed_at: None,
            version: 1,
        };
        diesel::insert_into(consult_meetings::table).values(&meeting).execute(conn)?;
        let wanted: Vec<ConsultItemId> = seen.keys().copied().collect();
        let items: HashMap<ConsultItemId, ConsultItemRow> = consult_items::table
            .filter(consult_items::id.eq_any(wanted))
            .filter(consult_items::compound_id.eq(unit.id))
            .select(ConsultItemRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let on_agenda = |field: String, id: &ConsultItemId| -> AppResult<ConsultItemRow> {
            match items.get(id) {
                None => Err(AppError::UnknownReference { field, detail: crate::msg!("why-consult_no_such_item") }),
                Some(r) if r.state != ItemState::Agenda => Err(AppError::validation(
                    field,
                    crate::msg!("why-consult_not_on_agenda", state = crate::domain::text::Arg::Key(r.state.label_key())),
                )),
                Some(r) => Ok(r.clone()),
            }
        };
        let mut decided = vec![];
        for (i, id, decision, responsible, due_on) in decisions {
            let row = on_agenda(format!("decisions[{i}].item_id"), &id)?;
            let due_at = end_of_day(tz, due_on);
            let warn_at = consult::action_warn_at(&cal, decided_from, due_at, warn_fraction)?;
            let n = diesel::update(consult_items::table.find(id).filter(consult_items::version.eq(row.version)))
                .set((
                    consult_items::state.eq(ItemState::Action),
                    consult_items::warn_at.eq(warn_at),
                    consult_items::warned_at.eq(None::<NaiveDateTime>),
                    consult_items::breached_at.eq(None::<NaiveDateTime>),
                    consult_items::meeting_id.eq(meeting.id),
                    consult_items::decision.eq(&decision),
                    consult_items::responsible.eq(responsible),
                    consult_items::due_on.eq(due_on),
                    consult_items::due_at.eq(due_at),
                    consult_items::version.eq(row.version + 1),
                ))
                .execute(conn)?;
            if n == 0 {
                return Err(AppError::VersionConflict { given: row.version, current: row.version + 1 });
            }
            let changes = serde_json::json!({
                "meeting_id": [null, meeting.id.to_string()],
                "decision": [null, decision],
                "responsible": [null, responsible.as_str()],
                "due_on": [null, due_on.to_string()],
            });
            record(
                conn,
                &by,
                "consult_item",
                &id.to_string(),
                "decide",
                (Some(ItemState::Agenda), Some(ItemState::Action)),
                None,
                changes,
                now,
            )?;
            decided.push(id.to_string());
        }
        let mut dropped = vec![];
        for (i, id, reason) in drops {
            let row = on_agenda(format!("dropped[{i}].item_id"), &id)?;
            let n = diesel::update(consult_items::table.find(id).filter(consult_items::version.eq(row.version)))
                .set((
                    consult_items::state.eq(ItemState::Dropped),
                    consult_items::meeting_id.eq(meeting.id),
                    consult_items::closed_at.eq(now),
                    consult_items::outcome.eq(&reason),
                    consult_items::version.eq(row.version + 1),
                ))
                .execute(conn)?;
            if n == 0 {
                return Err(AppError::VersionConflict { given: row.version, current: row.version + 1 });
            }
            let changes = serde_json::json!({ "meeting_id": [null, meeting.id.to_string()] });
            record(
                conn,
                &by,
                "consult_item",
                &id.to_string(),
                "drop_item",
                (Some(ItemState::Agenda), Some(ItemState::Dropped)),
                Some(&reason),
                changes,
                now,
            )?;
            dropped.push(id.to_string());
        }
        let changes = serde_json::json!({
            "held_on": [null, meeting.held_on.to_string()],
            "place": [null, meeting.place],
            "decided": decided,
            "dropped": dropped,
        });
        record(conn, &by, "consult_meeting", &meeting.id.to_string(), "hold_meeting", (None, None), None, changes, now)?;
        Ok(meeting.id)
    })
}

fn meeting_for(conn: &mut DbConn, actor: &Actor, id: &MeetingId, op: Operation) -> AppResult<(MeetingRow, OrgUnitRow, Option<Grant>)> {
    let row: MeetingRow = consult_meetings::table
        .find(id)
        .select(MeetingRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "meeting" })?;
    let (unit, grant) = compound_of_object(conn, actor, &row.compound_id, op, "meeting")?;
    Ok((row, unit, grant))
}

fn person_name(conn: &mut DbConn, id: PersonId) -> AppResult<String> {
    Ok(people::table.find(id).select(people::display_name).first::<String>(conn).optional()?.unwrap_or_default())
}

pub fn get_meeting(conn: &mut DbConn, actor: &Actor, id: &MeetingId, lang: Lang, now: NaiveDateTime) -> AppResult<MeetingView> {
    let (m, unit, _) = meeting_for(conn, actor, id, Operation::ConsultRead)?;
    let items: Vec<ConsultItemRow> = consult_items::table
        .filter(consult_items::meeting_id.eq(m.id))
        .order((consult_items::created_at.asc(), consult_items::id.asc()))
        .select(ConsultItemRow::as_select())
        .load(conn)?;
    let mut items = item_views(conn, items, lang, now)?;
    redact(actor, &unit, &mut items);
    let recorded_by = person_name(conn, m.created_by)?;
    let signed_by = m.signed_by.map(|p| person_name(conn, p)).transpose()?;
    Ok(MeetingView {
        id: m.id.to_string(),
        compound_id: unit.id.to_string(),
        compound_name: unit.name,
        held_on: m.held_on,
        place: m.place,
        attendees: serde_json::from_str(&m.attendees).map_err(|e| AppError::internal_msg(format!("stored attendees: {e}")))?,
        minutes: m.minutes,
        recorded_by,
        created_at: m.created_at,
        signed_by,
        signed_at: m.signed_at,
        items,
        version: m.version,
    })
}

/// The compound's meetings, latest first.
pub fn list_meetings(conn: &mut DbConn, actor: &Actor, compound: &OrgUnitId) -> AppResult<Vec<MeetingLine>> {
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    let rows: Vec<MeetingRow> = consult_meetings::table
        .filter(consult_meetings::compound_id.eq(unit.id))
        .order((consult_meetings::held_on.desc(), consult_meetings::created_at.desc()))
        .limit(500)
        .select(MeetingRow::as_select())
        .load(conn)?;
    let ids: Vec<MeetingId> = rows.iter().map(|m| m.id).collect();
    let counts: HashMap<MeetingId, i64> = consult_items::table
        .filter(consult_items::meeting_id.eq_any(ids))
        .group_by(consult_items::meeting_id)
        .select((consult_items::meeting_id, diesel::dsl::count_star()))
        .load::<(Option<MeetingId>, i64)>(conn)?
        .into_iter()
        .filter_map(|(m, n)| m.map(|m| (m, n)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|m| MeetingLine {
            items: counts.get(&m.id).copied().unwrap_or(0),
            id: m.id.to_string(),
            held_on: m.held_on,
            place: m.place,
            signed: m.signed_at.is_some(),
        })
        .collect())
}

/// The secretary signs the minutes off (签字确认); once.
pub fn sign_meeting(conn: &mut DbConn, actor: &Actor, id: &MeetingId, version: Option<i64>, now: NaiveDateTime) -> AppResult<()> {
    conn.transaction(|conn| {
        let (m, _, grant) = meeting_for(conn, actor, id, Operation::ConsultManage)?;
        check_version(version, m.version)?;
        if m.signed_at.is_some() {
            return Err(AppError::conflict("already_signed", crate::msg!("why-consult_already_signed")));
        }
        let n = diesel::update(consult_meetings::table.find(m.id).filter(consult_meetings::version.eq(m.version)))
            .set((
                consult_meetings::signed_by.eq(actor.person_id),
                consult_meetings::signed_at.eq(now),
                consult_meetings::version.eq(m.version + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: m.version, current: m.version + 1 });
        }
        record(
            conn,
            &by(actor, &grant),
            "consult_meeting",
            &m.id.to_string(),
            "sign_minutes",
            (None, None),
            None,
            serde_json::json!({}),
            now,
        )
    })
}

/// Amends a meeting's record; the old and new text go into the audit trail (signed minutes too).
pub fn amend_meeting(
    conn: &mut DbConn,
    actor: &Actor,
    id: &MeetingId,
    version: Option<i64>,
    changes: MeetingChanges,
    now: NaiveDateTime,
) -> AppResult<()> {
    let place = changes.place.as_deref().map(|p| text("place", p, 100)).transpose()?;
    let minutes = changes
        .minutes
        .as_deref()
        .map(|m| match m.trim() {
            "" => Ok(String::new()),
            m => text("minutes", m, consult::MINUTES_MAX),
        })
        .transpose()?;
    let attendees = changes.attendees.as_ref().map(Attendees::checked).transpose()?;
    conn.transaction(|conn| {
        let (mut m, _, grant) = meeting_for(conn, actor, id, Operation::ConsultManage)?;
        check_version(version, m.version)?;
        let mut diff = serde_json::Map::new();
        if let Some(p) = place.filter(|p| *p != m.place) {
            diff.insert("place".into(), serde_json::json!([m.place, p]));
            m.place = p;
        }
        if let Some(t) = minutes.filter(|t| *t != m.minutes) {
            diff.insert("minutes".into(), serde_json::json!([m.minutes, t]));
            m.minutes = t;
        }
        if let Some(a) = attendees {
            let text = serde_json::to_string(&a).map_err(|e| AppError::internal_msg(e.to_string()))?;
            if text != m.attendees {
                diff.insert("attendees".into(), serde_json::json!([m.attendees, text]));
                m.attendees = text;
            }
        }
        if diff.is_empty() {
            return Ok(());
        }
        let n = diesel::update(consult_meetings::table.find(m.id).filter(consult_meetings::version.eq(m.version)))
            .set((
                consult_meetings::place.eq(&m.place),
                consult_meetings::minutes.eq(&m.minutes),
                consult_meetings::attendees.eq(&m.attendees),
                consult_meetings::version.eq(m.version + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: m.version, current: m.version + 1 });
        }
        let action = if m.signed_at.is_some() { "amend_signed_minutes" } else { "amend_minutes" };
        record(
            conn,
            &by(actor, &grant),
            "consult_meeting",
            &m.id.to_string(),
            action,
            (None, None),
            None,
            serde_json::Value::Object(diff),
            now,
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Results (业绩清单)

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `2026-10` (month), `2026-Q4`, `2026`; default: last month.
    #[param(max_length = 30)]
    pub period: Option<String>,
}

/// An action of the results list. Free text has its long digit runs (phones, ID numbers) masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResultItem {
    pub title: String,
    pub decision: String,
    pub responsible: Party,
    pub held_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    /// The China day it was done.
    pub done_on: Option<NaiveDate>,
    pub timeliness: Timeliness,
    pub outcome: Option<String>,
    /// Tickets raised to it, and of those the residents satisfied or not at the last return visit.
    pub tickets: i64,
    pub satisfied: i64,
    pub not_satisfied: i64,
    /// How many photos show what was done (the images to those who follow the compound's
    /// consultation, on its item; the public list gives the count only: a photo may show people).
    pub photos: i64,
}

/// 业绩清单: the compound's actions done in the period, due in it, or overdue at its end.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResultsView {
    pub compound_id: String,
    pub compound_name: String,
    pub period: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub done_on_time: i64,
    pub done_late: i64,
    /// Past the deadline and not done at the period's end (or now, for a running period).
    pub overdue: i64,
    /// Not done, deadline still ahead.
    pub running: i64,
    pub items: Vec<ResultItem>,
    #[serde(with = "crate::app::rfc3339")]
    pub computed_at: NaiveDateTime,
}

/// The period asked for: the query's text, else last month.
pub fn results_period(q: &ResultsQuery, tz: &chrono_tz::Tz, now: NaiveDateTime) -> AppResult<Period> {
    match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Period::parse(p)
            .map_err(|(field, msg)| AppError::validation(if field == "to" || field == "from" { "period" } else { field }, msg)),
        None => Ok(Period::month_before(today(tz, now))),
    }
}

/// The results of the compound for those who follow its consultation.
pub fn results(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    q: ResultsQuery,
    tz: &chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<ResultsView> {
    let period = results_period(&q, tz, now)?;
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    results_of(conn, &unit, &period, tz, now)
}

/// The results as the public page shows them (no login): any active compound; no names, no
/// ticket numbers, digit runs masked.
pub fn public_results(
    conn: &mut DbConn,
    compound: &OrgUnitId,
    q: ResultsQuery,
    tz: &chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<ResultsView> {
    let period = results_period(&q, tz, now)?;
    let unit =
        find_unit(conn, compound)?.filter(|u| u.active && u.kind == OrgKind::Compound).ok_or(AppError::NotFound { what: "compound" })?;
    results_of(conn, &unit, &period, tz, now)
}

fn results_of(conn: &mut DbConn, unit: &OrgUnitRow, period: &Period, tz: &chrono_tz::Tz, now: NaiveDateTime) -> AppResult<ResultsView> {
    let (start, end) = period.window(tz);
    let as_of = now.min(end);
    // Done in the period, due in it, or due before it and not done by its start: the period's list.
    let rows: Vec<ConsultItemRow> = consult_items::table
        .filter(consult_items::compound_id.eq(unit.id))
        .filter(consult_items::state.eq_any([ItemState::Action, ItemState::Done]))
        .filter(
            consult_items::closed_at
                .ge(start)
                .and(consult_items::closed_at.lt(end))
                .and(consult_items::state.eq(ItemState::Done))
                .or(consult_items::due_at.ge(start).and(consult_items::due_at.lt(end)))
                // Due before the period and not done by its start: overdue through it.
                .or(consult_items::due_at.lt(start).and(consult_items::state.eq(ItemState::Action).or(consult_items::closed_at.ge(end)))),
        )
        .order((consult_items::due_at.asc(), consult_items::id.asc()))
        .limit(1000)
        .select(ConsultItemRow::as_select())
        .load(conn)?;
    let ids: Vec<ConsultItemId> = rows.iter().map(|r| r.id).collect();
    let mut photos: HashMap<ConsultItemId, i64> = HashMap::new();
    for item in consult_photos::table
        .filter(consult_photos::item_id.eq_any(ids.clone()))
        .select(consult_photos::item_id)
        .load::<ConsultItemId>(conn)?
    {
        *photos.entry(item).or_default() += 1;
    }
    let sats: Vec<(ConsultItemId, Option<Satisfaction>)> = consult_item_tickets::table
        .inner_join(tickets::table)
        .filter(consult_item_tickets::item_id.eq_any(ids))
        .select((consult_item_tickets::item_id, tickets::satisfaction))
        .load(conn)?;
    let mut counts: HashMap<ConsultItemId, (i64, i64, i64)> = HashMap::new();
    for (item, s) in sats {
        let c = counts.entry(item).or_default();
        c.0 += 1;
        match s {
            Some(Satisfaction::Satisfied | Satisfaction::BasicallySatisfied) => c.1 += 1,
            Some(Satisfaction::NotSatisfied) => c.2 += 1,
            None => {}
        }
    }
    let meeting_ids: Vec<MeetingId> = rows.iter().filter_map(|r| r.meeting_id).collect();
    let held: HashMap<MeetingId, NaiveDate> = consult_meetings::table
        .filter(consult_meetings::id.eq_any(meeting_ids))
        .select((consult_meetings::id, consult_meetings::held_on))
        .load::<(MeetingId, NaiveDate)>(conn)?
        .into_iter()
        .collect();
    let mut view = ResultsView {
        compound_id: unit.id.to_string(),
        compound_name: unit.name.clone(),
        period: period.label(),
        first_day: period.first,
        last_day: period.last,
        done_on_time: 0,
        done_late: 0,
        overdue: 0,
        running: 0,
        items: vec![],
        computed_at: now,
    };
    for r in rows {
        let (Some(due_at), Some(due_on), Some(responsible)) = (r.due_at, r.due_on, r.responsible) else { continue };
        // Done after the period's end counts as not done at its end.
        let done_at = r.closed_at.filter(|d| r.state == ItemState::Done && *d < end);
        if r.state == ItemState::Done && done_at.is_none() && due_at >= end {
            continue; // due after the period and done after it: next period's
        }
        let t = consult::timeliness(due_at, done_at, as_of);
        match t {
            Timeliness::OnTime => view.done_on_time += 1,
            Timeliness::Late => view.done_late += 1,
            Timeliness::Overdue => view.overdue += 1,
            Timeliness::Running => view.running += 1,
        }
        let (tickets, satisfied, not_satisfied) = counts.get(&r.id).copied().unwrap_or_default();
        view.items.push(ResultItem {
            title: mask_numbers(&r.title),
            decision: mask_numbers(r.decision.as_deref().unwrap_or_default()),
            responsible,
            held_on: r.meeting_id.and_then(|m| held.get(&m).copied()),
            due_on,
            done_on: done_at.map(|d| today(tz, d)),
            timeliness: t,
            outcome: done_at.and(r.outcome.as_deref()).map(mask_numbers),
            tickets,
            satisfied,
            not_satisfied,
            photos: photos.get(&r.id).copied().unwrap_or_default(),
        });
    }
    Ok(view)
}

// ---------------------------------------------------------------------------------------------
// The desk page's data

/// The compounds whose consultation the actor follows, by name (at most 500).
pub fn compounds(conn: &mut DbConn, actor: &Actor) -> AppResult<Vec<(OrgUnitId, String)>> {
    use crate::db::schema::org_units;
    Ok(org_units::table
        .filter(super::scope::units_in_scope(actor, Operation::ConsultRead))
        .filter(org_units::kind.eq(OrgKind::Compound))
        .filter(org_units::active.eq(true))
        .order((org_units::name.asc(), org_units::id.asc()))
        .limit(500)
        .select((org_units::id, org_units::name))
        .load(conn)?)
}

/// An action item past its deadline, under the community's supervision (督办).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OverdueAction {
    pub id: String,
    pub compound_id: String,
    pub compound_name: String,
    pub title: String,
    pub responsible: Party,
    pub due_on: NaiveDate,
    /// When its lateness was told (the clock's breach).
    #[serde(with = "crate::app::rfc3339")]
    pub breached_at: NaiveDateTime,
    /// Days past its deadline, a started day counted (the first day after it is 1).
    pub days_overdue: i64,
}

/// The running action items past their deadline in the compounds the person may read the
/// consultation of (a community's staff, a supervisor's street or district), the longest overdue
/// first (at most 500).
pub fn overdue_actions(conn: &mut DbConn, actor: &Actor, now: NaiveDateTime) -> AppResult<Vec<OverdueAction>> {
    use crate::db::schema::org_units;
    let rows: Vec<(ConsultItemRow, String)> = consult_items::table
        .inner_join(org_units::table.on(org_units::id.eq(consult_items::compound_id)))
        .filter(super::scope::units_in_scope(actor, Operation::ConsultRead))
        .filter(consult_items::state.eq(ItemState::Action))
        .filter(consult_items::breached_at.is_not_null())
        .order((consult_items::due_at.asc(), consult_items::id.asc()))
        .limit(500)
        .select((ConsultItemRow::as_select(), org_units::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, compound_name)| {
            let (Some(responsible), Some(due_on), Some(due_at), Some(breached_at)) = (r.responsible, r.due_on, r.due_at, r.breached_at)
            else {
                return None;
            };
            Some(OverdueAction {
                id: r.id.to_string(),
                compound_id: r.compound_id.to_string(),
                compound_name,
                title: r.title,
                responsible,
                due_on,
                breached_at,
                days_overdue: ((now - due_at).num_seconds() + 86_399).div_euclid(86_400).max(1),
            })
        })
        .collect())
}

/// Everything the consultation page of one compound shows.
pub struct Desk {
    pub compound: OrgUnitRow,
    /// The actor may run it (record parties, items, meetings, progress).
    pub may_manage: bool,
    /// The parties the actor represents here: he records progress on and completes their actions.
    pub acts_for: Vec<Party>,
    pub parties: PartiesView,
    pub companies: Vec<CompanyView>,
    pub candidates: Vec<Candidate>,
    pub items: Vec<ItemView>,
    pub meetings: Vec<MeetingLine>,
}

pub fn desk(conn: &mut DbConn, actor: &Actor, compound: &OrgUnitId, lang: Lang, now: NaiveDateTime) -> AppResult<Desk> {
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    let may_manage = actor.may(Operation::ConsultManage, &unit.path);
    let parties = get_parties(conn, actor, compound)?;
    let companies = if may_manage { list_companies(conn, actor, CompanyFilter::default())? } else { vec![] };
    let candidates = if may_manage { candidates(conn, actor, compound, CandidateQuery::default(), lang, now)? } else { vec![] };
    let acts_for = represented(actor, &unit);
    let items = list_items(conn, actor, compound, ItemFilter { state: None, limit: Some(500) }, lang, now)?;
    let meetings = list_meetings(conn, actor, compound)?;
    Ok(Desk { compound: unit, may_manage, acts_for, parties, companies, candidates, items, meetings })
}

/// Whether the actor may run the consultation of the compound `compound` (an id as a view holds it).
pub fn may_manage(conn: &mut DbConn, actor: &Actor, compound: &str) -> AppResult<bool> {
    let id: OrgUnitId = super::stored_id(compound)?;
    Ok(find_unit(conn, &id)?.is_some_and(|u| actor.may(Operation::ConsultManage, &u.path)))
}

// ---------------------------------------------------------------------------------------------
// Two evaluations (两评价)

/// The year an evaluation is about (default: last year, China time).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EvaluationQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
}

/// What the branch has in front of it when it rates a party for a year: the compound's
/// property-service complaints (物业服务) and how they went, and the actions of the consultation
/// this party was responsible for. Kept with the evaluation as it stood.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub party: Party,
    pub year: i32,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Property-service tickets filed in the compound in the year, and in the year before.
    pub property_complaints: i64,
    pub property_complaints_year_before: i64,
    /// Of the year's: still open past their deadline when counted.
    pub property_overdue: i64,
    /// Of the year's: return-visited, and of those not satisfied (or reopened).
    pub property_visited: i64,
    pub property_dissatisfied: i64,
    /// Actions this party was responsible for, due in the year: done on time, done late, not done
    /// past the deadline, not yet due.
    pub actions_on_time: i64,
    pub actions_late: i64,
    pub actions_overdue: i64,
    pub actions_running: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub counted_at: NaiveDateTime,
}

/// One criterion's score as given.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreInput {
    pub code: String,
    /// 0–100.
    pub score: f64,
    #[schema(max_length = 500)]
    #[serde(default)]
    pub comment: String,
}

/// One criterion's score as stored: the criterion as it was configured then.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CriterionScore {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub weight: f64,
    pub score: f64,
    pub comment: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluation {
    /// `owners_committee` or `property_company`.
    pub party: Party,
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// A score for every configured criterion of the party, each once.
    pub scores: Vec<ScoreInput>,
    /// The residents' representatives' score (0–100), merged by `evaluation.resident_weight`.
    pub resident_score: Option<f64>,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub comment: String,
}

/// An evaluation as stored.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationView {
    pub id: String,
    pub compound_id: String,
    pub compound_name: String,
    pub party: Party,
    pub year: i32,
    /// The committee's or the company's name at the time.
    pub subject_name: String,
    pub company_id: Option<String>,
    pub scores: Vec<CriterionScore>,
    pub resident_score: Option<f64>,
    pub resident_weight: f64,
    /// 0–100.
    pub total: f64,
    pub verdict: crate::domain::consult::Verdict,
    pub comment: String,
    pub evidence: Evidence,
    pub evaluated_by: String,
    #[serde(with = "crate::app::rfc3339")]
    pub evaluated_at: NaiveDateTime,
    pub version: i64,
}

/// The evaluations page of a compound for a year.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationDesk {
    pub compound_id: String,
    pub compound_name: String,
    pub year: i32,
    /// The committee's name (empty: the compound has none) and the company serving it.
    pub committee_name: String,
    pub company: Option<CompanyView>,
    pub committee_criteria: Vec<crate::domain::consult::Criterion>,
    pub company_criteria: Vec<crate::domain::consult::Criterion>,
    pub resident_weight: f64,
    pub rectify_below: f64,
    pub replace_below: f64,
    /// The evidence of the year for the committee and for the company.
    pub evidence: Vec<Evidence>,
    /// Every evaluation of the compound, the latest year first.
    pub history: Vec<EvaluationView>,
}

/// The evaluation year asked for (default: the last whole one), up to the one running now.
fn year_of(q: Option<i32>, tz: &chrono_tz::Tz, start_month: u32, now: NaiveDateTime) -> AppResult<i32> {
    let this = consult::evaluation_year_of(today(tz, now), start_month);
    let year = q.unwrap_or(this - 1);
    if !(2000..=this).contains(&year) {
        return Err(AppError::validation("year", crate::msg!("rule-between", min = 2000, max = this)));
    }
    Ok(year)
}

/// Evaluation year `year` (starting in `start_month`): its first and last China day, and its
/// bounds as UTC instants.
fn year_window(tz: &chrono_tz::Tz, year: i32, start_month: u32) -> AppResult<(NaiveDate, NaiveDate, NaiveDateTime, NaiveDateTime)> {
    let (first, last) = consult::evaluation_year(year, start_month)
        .ok_or_else(|| AppError::validation("year", crate::msg!("rule-between", min = 2000, max = 2100)))?;
    Ok((first, last, end_of_day(tz, first - Duration::days(1)), end_of_day(tz, last)))
}

/// The evidence of a party's year in a compound, counted now.
pub fn evidence(
    conn: &mut DbConn,
    unit: &OrgUnitRow,
    party: Party,
    year: i32,
    start_month: u32,
    tz: &chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<Evidence> {
    let (first_day, last_day, start, end) = year_window(tz, year, start_month)?;
    let (_, _, before_start, before_end) = year_window(tz, year - 1, start_month)?;
    let property: Vec<CategoryId> = categories::table
        .select((categories::id, categories::code))
        .load::<(CategoryId, String)>(conn)?
        .into_iter()
        .filter(|(_, code)| super::reports::trend::is_property_code(code))
        .map(|(id, _)| id)
        .collect();
    type Row = (TicketState, Option<NaiveDateTime>, i32, Option<Satisfaction>);
    let in_compound = |from: NaiveDateTime, to: NaiveDateTime| {
        tickets::table
            .filter(tickets::place_path.ge(unit.path.as_str().to_string()))
            .filter(tickets::place_path.lt(unit.path.subtree_upper_bound()))
            .filter(tickets::category_id.eq_any(property.clone()))
            .filter(tickets::created_at.ge(from))
            .filter(tickets::created_at.lt(to))
    };
    let year_tickets: Vec<Row> =
        in_compound(start, end).select((tickets::state, tickets::due_at, tickets::reopen_count, tickets::satisfaction)).load(conn)?;
    let before: i64 = in_compound(before_start, before_end).count().get_result(conn)?;
    let mut e = Evidence {
        party,
        year,
        first_day,
        last_day,
        property_complaints: year_tickets.len() as i64,
        property_complaints_year_before: before,
        property_overdue: 0,
        property_visited: 0,
        property_dissatisfied: 0,
        actions_on_time: 0,
        actions_late: 0,
        actions_overdue: 0,
        actions_running: 0,
        counted_at: now,
    };
    for (state, due_at, reopened, satisfaction) in year_tickets {
        if !state.is_final() && due_at.is_some_and(|d| d < now) {
            e.property_overdue += 1;
        }
        if satisfaction.is_some() || reopened > 0 {
            e.property_visited += 1;
        }
        if satisfaction == Some(Satisfaction::NotSatisfied) || reopened > 0 {
            e.property_dissatisfied += 1;
        }
    }
    let actions: Vec<(NaiveDateTime, Option<NaiveDateTime>, ItemState)> = consult_items::table
        .filter(consult_items::compound_id.eq(unit.id))
        .filter(consult_items::responsible.eq(party))
        .filter(consult_items::state.eq_any([ItemState::Action, ItemState::Done]))
        .filter(consult_items::due_at.ge(start))
        .filter(consult_items::due_at.lt(end))
        .select((consult_items::due_at.assume_not_null(), consult_items::closed_at, consult_items::state))
        .load(conn)?;
    let as_of = now.min(end);
    for (due_at, closed_at, state) in actions {
        let done = closed_at.filter(|_| state == ItemState::Done);
        match consult::timeliness(due_at, done, as_of) {
            Timeliness::OnTime => e.actions_on_time += 1,
            Timeliness::Late => e.actions_late += 1,
            Timeliness::Overdue => e.actions_overdue += 1,
            Timeliness::Running => e.actions_running += 1,
        }
    }
    Ok(e)
}

fn evaluation_view(conn: &mut DbConn, row: EvaluationRow, compound_name: Option<String>) -> AppResult<EvaluationView> {
    let broken = |what: &str, e: serde_json::Error| AppError::internal_msg(format!("stored evaluation {what}: {e}"));
    let compound_name = match compound_name {
        Some(n) => n,
        None => find_unit(conn, &row.compound_id)?.map(|u| u.name).unwrap_or_default(),
    };
    Ok(EvaluationView {
        id: row.id.to_string(),
        compound_id: row.compound_id.to_string(),
        compound_name,
        party: row.party,
        year: row.year,
        subject_name: row.subject_name,
        company_id: row.company_id.map(|c| c.to_string()),
        scores: serde_json::from_str(&row.scores).map_err(|e| broken("scores", e))?,
        resident_score: row.resident_score,
        resident_weight: row.resident_weight,
        total: row.total,
        verdict: row.verdict,
        comment: row.comment,
        evidence: serde_json::from_str(&row.evidence).map_err(|e| broken("evidence", e))?,
        evaluated_by: person_name(conn, row.evaluated_by)?,
        evaluated_at: row.evaluated_at,
        version: row.version,
    })
}

/// The evaluations page's data: the parties, the criteria, the year's evidence for both, and the
/// compound's evaluations of every year.
pub fn evaluation_desk(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    q: EvaluationQuery,
    settings: &crate::config::EvaluationSettings,
    tz: &chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<EvaluationDesk> {
    let year = year_of(q.year, tz, settings.year_starts_month, now)?;
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    // The evaluations are the branch's and its superiors' record, not the rated parties'.
    require_ticket_reader(actor, &unit)?;
    let parties = get_parties(conn, actor, compound)?;
    let evidence = vec![
        evidence(conn, &unit, Party::OwnersCommittee, year, settings.year_starts_month, tz, now)?,
        evidence(conn, &unit, Party::PropertyCompany, year, settings.year_starts_month, tz, now)?,
    ];
    let history = history_of(conn, &unit)?;
    Ok(EvaluationDesk {
        compound_id: unit.id.to_string(),
        compound_name: unit.name.clone(),
        year,
        committee_name: parties.committee_name,
        company: parties.company,
        committee_criteria: settings.committee_criteria.clone(),
        company_criteria: settings.company_criteria.clone(),
        resident_weight: settings.resident_weight,
        rectify_below: settings.rectify_below,
        replace_below: settings.replace_below,
        evidence,
        history,
    })
}

/// Every evaluation of a compound, the latest year first (at most 200: a century of both parties).
fn history_of(conn: &mut DbConn, unit: &OrgUnitRow) -> AppResult<Vec<EvaluationView>> {
    let rows: Vec<EvaluationRow> = evaluations::table
        .filter(evaluations::compound_id.eq(unit.id))
        .order((evaluations::year.desc(), evaluations::party.asc()))
        .limit(200)
        .select(EvaluationRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|r| evaluation_view(conn, r, Some(unit.name.clone()))).collect()
}

/// The compound's name and its evaluations of every year (the ledger's rows), for the branch and
/// those above it (not the rated parties).
pub fn evaluation_history(conn: &mut DbConn, actor: &Actor, compound: &OrgUnitId) -> AppResult<(String, Vec<EvaluationView>)> {
    let (unit, _) = compound_for(conn, actor, compound, Operation::ConsultRead)?;
    require_ticket_reader(actor, &unit)?;
    let history = history_of(conn, &unit)?;
    Ok((unit.name, history))
}

/// The scores given, one for every criterion (each once, each known, 0–100, comments of 500
/// characters at most), with the criterion's names and weight.
fn scored(criteria: &[consult::Criterion], given: &[ScoreInput]) -> AppResult<Vec<CriterionScore>> {
    let mut scores: Vec<CriterionScore> = vec![];
    for (i, s) in given.iter().enumerate() {
        let Some(c) = criteria.iter().find(|c| c.code == s.code) else {
            let known = criteria.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(", ");
            return Err(AppError::validation(format!("scores[{i}].code"), crate::msg!("rule-one_of", values = &known)));
        };
        if scores.iter().any(|x| x.code == s.code) {
            return Err(AppError::validation(format!("scores[{i}].code"), crate::msg!("rule-listed_twice")));
        }
        consult::check_score(s.score).map_err(|m| AppError::validation(format!("scores[{i}].score"), m))?;
        let comment = match s.comment.trim() {
            "" => String::new(),
            t => text(&format!("scores[{i}].comment"), t, 500)?,
        };
        scores.push(CriterionScore {
            code: c.code.clone(),
            name_zh: c.name_zh.clone(),
            name_en: c.name_en.clone(),
            weight: c.weight,
            score: s.score,
            comment,
        });
    }
    if let Some(missing) = criteria.iter().find(|c| !scores.iter().any(|s| s.code == c.code)) {
        return Err(AppError::validation("scores", crate::msg!("why-evaluate_every_criterion", criterion = &missing.name_zh)));
    }
    Ok(scores)
}

/// What a correction of a saved evaluation sends: every score again, the residents' score, the
/// comment, and why it is corrected.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationCorrection {
    /// A score for every criterion the evaluation was made on, each once.
    pub scores: Vec<ScoreInput>,
    pub resident_score: Option<f64>,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub comment: String,
    /// Why it is corrected (更正原因): kept in the audit trail with the old and new scores.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// 更正: corrects a saved evaluation (`If-Match` with its version): the scores on the criteria it
/// was made on (names and weights as they were then), the residents' score merged by the weight of
/// then, the comment; the total and verdict computed again (today's thresholds); the evidence kept
/// as it stood. The branch of the compound; audited with the old and new values and the reason.
#[allow(clippy::too_many_arguments)]
pub fn correct_evaluation(
    conn: &mut DbConn,
    actor: &Actor,
    id: &crate::domain::EvaluationId,
    version: Option<i64>,
    input: EvaluationCorrection,
    settings: &crate::config::EvaluationSettings,
    now: NaiveDateTime,
) -> AppResult<EvaluationView> {
    let reason = text("reason", &input.reason, 500)?;
    if let Some(r) = input.resident_score {
        consult::check_score(r).map_err(|m| AppError::validation("resident_score", m))?;
    }
    let comment = match input.comment.trim() {
        "" => String::new(),
        t => text("comment", t, consult::TEXT_MAX)?,
    };
    conn.transaction(|conn| {
        let row: EvaluationRow = evaluations::table
            .find(id)
            .select(EvaluationRow::as_select())
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound { what: "evaluation" })?;
        let (unit, grant) = compound_for(conn, actor, &row.compound_id, Operation::ConsultManage)?;
        check_version(version, row.version)?;
        let old: Vec<CriterionScore> =
            serde_json::from_str(&row.scores).map_err(|e| AppError::internal_msg(format!("stored evaluation scores: {e}")))?;
        let criteria: Vec<consult::Criterion> = old
            .iter()
            .map(|s| consult::Criterion { code: s.code.clone(), name_zh: s.name_zh.clone(), name_en: s.name_en.clone(), weight: s.weight })
            .collect();
        let scores = scored(&criteria, &input.scores)?;
        let weighted: Vec<(f64, f64)> = scores.iter().map(|s| (s.weight, s.score)).collect();
        let total = consult::total(&weighted, input.resident_score, row.resident_weight)
            .ok_or_else(|| AppError::internal_msg("evaluation criteria without weight".into()))?;
        let verdict = consult::verdict(total, &settings.thresholds());
        let stored = serde_json::to_string(&scores).map_err(|e| AppError::internal_msg(e.to_string()))?;
        let n = diesel::update(evaluations::table.find(row.id).filter(evaluations::version.eq(row.version)))
            .set((
                evaluations::scores.eq(&stored),
                evaluations::resident_score.eq(input.resident_score),
                evaluations::total.eq(total),
                evaluations::verdict.eq(verdict),
                evaluations::comment.eq(&comment),
                evaluations::version.eq(row.version + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::VersionConflict { given: row.version, current: row.version + 1 });
        }
        let pairs = |v: &[CriterionScore]| v.iter().map(|s| serde_json::json!([s.code, s.score])).collect::<Vec<_>>();
        let changes = serde_json::json!({
            "scores": [pairs(&old), pairs(&scores)],
            "resident_score": [row.resident_score, input.resident_score],
            "total": [row.total, total],
            "verdict": [row.verdict.as_str(), verdict.as_str()],
            "comment": [row.comment, comment],
        });
        record(
            conn,
            &by(actor, &grant),
            "evaluation",
            &row.id.to_string(),
            "correct_evaluation",
            (None, None),
            Some(&reason),
            changes,
            now,
        )?;
        let fresh: EvaluationRow = evaluations::table.find(row.id).select(EvaluationRow::as_select()).first(conn)?;
        evaluation_view(conn, fresh, Some(unit.name))
    })
}

/// Rates a party for a year (两评价): a score for every configured criterion, the residents'
/// representatives' score if any; the total and its verdict; the evidence kept as it stood. Once
/// per compound, party and year (409 `already_evaluated`).
pub fn evaluate(
    conn: &mut DbConn,
    actor: &Actor,
    compound: &OrgUnitId,
    input: NewEvaluation,
    settings: &crate::config::EvaluationSettings,
    tz: &chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<EvaluationView> {
    if input.party == Party::Branch {
        return Err(AppError::validation("party", crate::msg!("why-evaluate_branch")));
    }
    let year = year_of(Some(input.year), tz, settings.year_starts_month, now)?;
    let scores = scored(settings.criteria(input.party), &input.scores)?;
    if let Some(r) = input.resident_score {
        consult::check_score(r).map_err(|m| AppError::validation("resident_score", m))?;
    }
    let comment = match input.comment.trim() {
        "" => String::new(),
        t => text("comment", t, consult::TEXT_MAX)?,
    };
    let weighted: Vec<(f64, f64)> = scores.iter().map(|s| (s.weight, s.score)).collect();
    let total = consult::total(&weighted, input.resident_score, settings.resident_weight)
        .ok_or_else(|| AppError::internal_msg("evaluation criteria without weight".into()))?;
    let verdict = consult::verdict(total, &settings.thresholds());
    conn.transaction(|conn| {
        let (unit, grant) = compound_for(conn, actor, compound, Operation::ConsultManage)?;
        let parties = parties_row(conn, &unit.id)?;
        let (subject_name, company_id) = match input.party {
            Party::OwnersCommittee => match parties.as_ref().filter(|p| !p.committee_name.is_empty()) {
                Some(p) => (p.committee_name.clone(), None),
                None => return Err(AppError::validation("party", crate::msg!("why-evaluate_no_committee"))),
            },
            _ => {
                let company = match parties.as_ref().and_then(|p| p.company_id) {
                    Some(id) => property_companies::table.find(id).select(PropertyCompanyRow::as_select()).first(conn).optional()?,
                    None => None,
                };
                match company {
                    Some(c) => (c.name, Some(c.id)),
                    None => return Err(AppError::validation("party", crate::msg!("why-evaluate_no_company"))),
                }
            }
        };
        let taken: i64 = evaluations::table
            .filter(evaluations::compound_id.eq(unit.id))
            .filter(evaluations::party.eq(input.party))
            .filter(evaluations::year.eq(year))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(already_evaluated(year));
        }
        let ev = evidence(conn, &unit, input.party, year, settings.year_starts_month, tz, now)?;
        let row = EvaluationRow {
            id: crate::domain::EvaluationId::new(),
            compound_id: unit.id,
            party: input.party,
            year,
            subject_name,
            company_id,
            scores: serde_json::to_string(&scores).map_err(|e| AppError::internal_msg(e.to_string()))?,
            resident_score: input.resident_score,
            resident_weight: settings.resident_weight,
            total,
            verdict,
            comment,
            evidence: serde_json::to_string(&ev).map_err(|e| AppError::internal_msg(e.to_string()))?,
            evaluated_by: actor.person_id,
            evaluated_at: now,
            version: 1,
        };
        match diesel::insert_into(evaluations::table).values(&row).execute(conn) {
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(already_evaluated(year));
            }
            other => other?,
        };
        let changes = serde_json::json!({
            "party": [null, row.party.as_str()],
            "year": [null, row.year],
            "subject": [null, row.subject_name],
            "scores": [null, scores.iter().map(|s| serde_json::json!([s.code, s.score])).collect::<Vec<_>>()],
            "resident_score": [null, row.resident_score],
            "total": [null, row.total],
            "verdict": [null, row.verdict.as_str()],
        });
        record(conn, &by(actor, &grant), "evaluation", &row.id.to_string(), "evaluate", (None, None), None, changes, now)?;
        evaluation_view(conn, row, Some(unit.name))
    })
}

fn already_evaluated(year: i32) -> AppError {
    AppError::conflict("already_evaluated", crate::msg!("why-already_evaluated", year = year as i64))
}

/// A company's evaluations in every compound it served, the latest year first (for a branch
/// choosing or keeping a company).
pub fn company_history(conn: &mut DbConn, actor: &Actor, company: &PropertyCompanyId) -> AppResult<Vec<EvaluationView>> {
    // An id that names no company is missing for anyone (as a malformed one is), before the role.
    let found: i64 = property_companies::table.find(company).count().get_result(conn)?;
    if found == 0 {
        return Err(AppError::NotFound { what: "property company" });
    }
    may_anywhere(actor, Operation::ConsultRead)?;
    may_anywhere(actor, Operation::TicketRead)?;
    let rows: Vec<EvaluationRow> = evaluations::table
        .filter(evaluations::company_id.eq(company))
        .order((evaluations::year.desc(), evaluations::compound_id.asc()))
        .limit(500)
        .select(EvaluationRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|r| evaluation_view(conn, r, None)).collect()
}
