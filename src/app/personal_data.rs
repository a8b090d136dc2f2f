//! A resident's requests about his personal data (个人信息权益, PIPL 第四十五条 查阅复制、第四十七条
//! 删除): an admin over the units that hold it looks up everything held under the resident's
//! phone number, to hand him a copy, or erases it. Both are audit events of their own
//! (`personal_data_request`: `access` or `erasure`) naming the admin, the request's reference and
//! what was found or erased — never the phone itself, which the event holds only masked.
//!
//! What an erasure does: the register's entries (居民台账) with that phone are deleted; the
//! contact on the resident's closed tickets is cleared as the retention purge clears it (name
//! replaced by the marker, phone emptied, the filing events' personal values replaced by their
//! digests), each with its own `purge_personal_data` event; visit logs whose notes mention the
//! phone have their notes cleared. Open tickets keep the contact — the return visit needs it —
//! and are listed, so the admin can tell the resident when it will go (at closing, on request
//! again, or by the retention period).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::retention::{purge_event, Purged};
use crate::app::{AppError, AppResult};
use crate::db::backend;
use crate::db::schema::{org_units, residents, tickets, visit_logs};
use crate::db::DbConn;
use crate::domain::pii::{is_purged, mask_phone, validate_mobile, PURGED};
use crate::domain::workflow::TicketState;
use crate::domain::{Actor, Grant, Operation, OrgPath, TicketId};

/// Who the request is about and on what grounds.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SubjectRequest {
    /// The resident's mobile number (11 digits), as he gives it. Never in a log line.
    #[schema(value_type = String)]
    pub phone: crate::domain::pii::Sensitive<String>,
    /// The request's reference in the office's own register (申请编号), 1–100 characters.
    pub reference: String,
    /// A note on the request (how the resident was identified, say), up to 500 characters.
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RegisterEntry {
    pub id: String,
    pub building_name: String,
    pub unit_no: String,
    pub room: String,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub kind: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketEntry {
    pub id: String,
    pub number: String,
    pub title: String,
    pub state: TicketState,
    #[serde(with = "crate::app::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<NaiveDateTime>,
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    /// Still being handled: an erasure keeps its contact (the return visit needs it).
    pub open: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VisitNoteEntry {
    pub visit_log_id: String,
    pub visit_date: chrono::NaiveDate,
    pub notes: String,
}

/// Everything held under the phone in the admin's units (the copy for the resident).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PersonalDataReport {
    /// The audit event that records this look-up or erasure.
    pub request_id: String,
    pub phone_masked: String,
    pub reference: String,
    pub register: Vec<RegisterEntry>,
    pub tickets: Vec<TicketEntry>,
    pub visit_notes: Vec<VisitNoteEntry>,
}

/// What an erasure did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    pub request_id: String,
    pub phone_masked: String,
    pub reference: String,
    pub register_entries_deleted: usize,
    pub ticket_contacts_cleared: usize,
    pub visit_notes_cleared: usize,
    /// Audit events whose personal values were replaced by their digests.
    pub audit_events_cleared: usize,
    /// Older audit events holding a masked phone or notes, kept as written (their hash covers it).
    pub audit_events_kept: usize,
    /// Open tickets whose contact stays until they close (no contact shown here: this answer
    /// may be kept for a retry with the same `Idempotency-Key`).
    pub open_tickets_kept: Vec<KeptTicket>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KeptTicket {
    pub id: String,
    pub number: String,
    pub state: TicketState,
}

fn grant(actor: &Actor) -> AppResult<Grant> {
    actor
        .grants_for(Operation::PersonalDataRequest)
        .next()
        .cloned()
        .ok_or_else(|| AppError::forbidden(crate::msg!("why-who_personal_data")))
}

fn checked(input: &SubjectRequest) -> AppResult<(String, String, Option<String>)> {
    let phone = input.phone.expose().trim().to_string();
    validate_mobile(&phone).map_err(|e| AppError::validation("phone", e))?;
    let reference = input.reference.trim().to_string();
    if reference.is_empty() {
        return Err(AppError::validation("reference", crate::msg!("rule-not_empty")));
    }
    if reference.chars().count() > 100 {
        return Err(AppError::validation("reference", crate::msg!("rule-max_chars", max = 100)));
    }
    let note = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::validation("note", crate::msg!("rule-max_chars", max = 500)));
    }
    Ok((phone, reference, note))
}

struct Found {
    register: Vec<RegisterEntry>,
    tickets: Vec<TicketEntry>,
    visit_notes: Vec<VisitNoteEntry>,
}

fn find(conn: &mut DbConn, actor: &Actor, phone: &str) -> AppResult<Found> {
    let may = |path: &OrgPath| actor.may(Operation::PersonalDataRequest, path);
    let register = residents::table
        .inner_join(org_units::table.on(org_units::id.eq(residents::building_id)))
        .filter(residents::phone.eq(phone))
        .select((
            residents::id,
            org_units::name,
            org_units::path,
            residents::unit_no,
            residents::room,
            residents::name,
            residents::phone,
            residents::id_number,
            residents::kind,
        ))
        .load::<(String, String, OrgPath, String, String, String, Option<String>, Option<String>, String)>(conn)?
        .into_iter()
        .filter(|r| may(&r.2))
        .map(|r| RegisterEntry { id: r.0, building_name: r.1, unit_no: r.3, room: r.4, name: r.5, phone: r.6, id_number: r.7, kind: r.8 })
        .collect();
    let tickets = tickets::table
        .filter(tickets::resident_phone.eq(phone))
        .order(tickets::created_at.asc())
        .select((
            tickets::id,
            tickets::number,
            tickets::title,
            tickets::state,
            tickets::created_at,
            tickets::closed_at,
            tickets::resident_name,
            tickets::resident_phone,
            tickets::place_path,
        ))
        .load::<(TicketId, String, String, TicketState, NaiveDateTime, Option<NaiveDateTime>, Option<String>, Option<String>, OrgPath)>(
            conn,
        )?
        .into_iter()
        .filter(|t| may(&t.8))
        .map(|t| TicketEntry {
            id: t.0.to_string(),
            number: t.1,
            title: t.2,
            state: t.3,
            created_at: t.4,
            closed_at: t.5,
            resident_name: t.6.filter(|n| !is_purged(Some(n))),
            resident_phone: t.7,
            open: !t.3.is_final(),
        })
        .collect();
    // Free text that mentions the number (a grid worker's notes on a household).
    let pattern = format!("%{phone}%");
    let visit_notes = visit_logs::table
        .filter(visit_logs::notes.like(&pattern))
        .order(visit_logs::visit_date.asc())
        .select((visit_logs::id, visit_logs::visit_date, visit_logs::notes, visit_logs::grid_path))
        .load::<(String, chrono::NaiveDate, Option<String>, OrgPath)>(conn)?
        .into_iter()
        .filter(|l| may(&l.3))
        .map(|l| VisitNoteEntry { visit_log_id: l.0, visit_date: l.1, notes: l.2.unwrap_or_default() })
        .collect();
    Ok(Found { register, tickets, visit_notes })
}

fn request_event<'a>(id: &'a str, by: &'a ActedBy, action: &'a str, changes: serde_json::Value) -> Draft<'a> {
    Draft { entity_kind: "personal_data_request", entity_id: id, by, action, from_state: None, to_state: None, reason: None, changes }
}

/// Looks up everything held under the phone in the admin's units, for the resident's copy;
/// recorded as an `access` event.
pub fn access(conn: &mut DbConn, actor: &Actor, input: SubjectRequest, now: NaiveDateTime) -> AppResult<PersonalDataReport> {
    let g = grant(actor)?;
    let (phone, reference, note) = checked(&input)?;
    backend::within_transaction(conn, |conn| {
        let found = find(conn, actor, &phone)?;
        let id = uuid::Uuid::now_v7().to_string();
        let by = ActedBy::person(actor.person_id, Some(&g));
        audit::append(
            conn,
            request_event(
                &id,
                &by,
                "access",
                json!({
                    "phone_masked": mask_phone(&phone),
                    "reference": reference,
                    "note": note,
                    "register_entries": found.register.len(),
                    "tickets": found.tickets.iter().map(|t| &t.number).collect::<Vec<_>>(),
                    "visit_logs": found.visit_notes.iter().map(|v| &v.visit_log_id).collect::<Vec<_>>(),
                }),
            ),
            now,
        )?;
        Ok::<_, AppError>(PersonalDataReport {
            request_id: id,
            phone_masked: mask_phone(&phone),
            reference: reference.clone(),
            register: found.register,
            tickets: found.tickets,
            visit_notes: found.visit_notes,
        })
    })
}

/// Erases what is held under the phone in the admin's units (see the module's comment); recorded
/// as an `erasure` event, each cleared ticket and visit log with its own `purge_personal_data`.
pub fn erase(conn: &mut DbConn, actor: &Actor, input: SubjectRequest, now: NaiveDateTime) -> AppResult<ErasureReport> {
    let g = grant(actor)?;
    let (phone, reference, note) = checked(&input)?;
    backend::within_transaction(conn, |conn| {
        let found = find(conn, actor, &phone)?;
        let (open, closed): (Vec<TicketEntry>, Vec<TicketEntry>) = found.tickets.into_iter().partition(|t| t.open);
        let closed_ids: Vec<TicketId> = closed.iter().filter_map(|t| t.id.parse().ok()).collect();
        crate::app::tickets::lock_rows(conn, &closed_ids)?;
        let register_ids: Vec<&str> = found.register.iter().map(|r| r.id.as_str()).collect();
        let deleted = diesel::delete(residents::table.filter(residents::id.eq_any(&register_ids))).execute(conn)?;
        diesel::update(tickets::table.filter(tickets::id.eq_any(&closed_ids)))
            .set((tickets::resident_name.eq(PURGED), tickets::resident_phone.eq(None::<String>), tickets::version.eq(tickets::version + 1)))
            .execute(conn)?;
        let log_ids: Vec<String> = found.visit_notes.iter().map(|v| v.visit_log_id.clone()).collect();
        diesel::update(visit_logs::table.filter(visit_logs::id.eq_any(&log_ids)))
            .set((visit_logs::notes.eq(PURGED), visit_logs::version.eq(visit_logs::version + 1)))
            .execute(conn)?;
        let ticket_keys: Vec<String> = closed_ids.iter().map(|t| t.to_string()).collect();
        let mut p = Purged::default();
        crate::app::retention::purge_events(conn, "ticket", &ticket_keys, &mut p)?;
        crate::app::retention::purge_events(conn, "visit_log", &log_ids, &mut p)?;
        let id = uuid::Uuid::now_v7().to_string();
        let by = ActedBy::person(actor.person_id, Some(&g));
        let why = json!({ "kind": "erasure_request", "request_id": id, "reference": reference });
        let mut drafts = vec![request_event(
            &id,
            &by,
            "erasure",
            json!({
                "phone_masked": mask_phone(&phone),
                "reference": reference,
                "note": note,
                "register_entries_deleted": deleted,
                "tickets_cleared": closed.iter().map(|t| &t.number).collect::<Vec<_>>(),
                "open_tickets_kept": open.iter().map(|t| &t.number).collect::<Vec<_>>(),
                "visit_logs_cleared": log_ids,
            }),
        )];
        for k in &ticket_keys {
            drafts.push(purge_event("ticket", k, &by, why.clone()));
        }
        for k in &log_ids {
            drafts.push(purge_event("visit_log", k, &by, why.clone()));
        }
        audit::append_all(conn, drafts, now)?;
        Ok::<_, AppError>(ErasureReport {
            request_id: id.clone(),
            phone_masked: mask_phone(&phone),
            reference: reference.clone(),
            register_entries_deleted: deleted,
            ticket_contacts_cleared: closed_ids.len(),
            visit_notes_cleared: log_ids.len(),
            audit_events_cleared: p.audit_events,
            audit_events_kept: p.audit_events_kept,
            open_tickets_kept: open.iter().map(|t| KeptTicket { id: t.id.clone(), number: t.number.clone(), state: t.state }).collect(),
        })
    })
}
