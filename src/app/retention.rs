//! Personal-data retention (个人信息保存期限, PIPL 第十九条): residents' personal data is kept as
//! long as its purpose needs and then cleared, each clearing recorded in the audit trail. What is
//! cleared, when, and why the audit chain still verifies: docs/decisions/0033-personal-data-retention.md.
//!
//! - A closed ticket's contact (`retention.ticket_contact_months` after it closed): the name is
//!   replaced by [`PURGED`], the phone emptied, the filing event's personal values replaced by
//!   their digests, and the resident's delivery addresses (status links by SMS or mail) emptied.
//! - A closed ticket's photos (`photo_months`): the files deleted (unless another photo row holds
//!   the same bytes) and their rows removed.
//! - A visit log's notes and its return visits' notes (`visit_note_months` after the visit).
//! - Login attempts (`login_attempt_months`): deleted.
//!
//! Each ticket and visit log purged gets an audit event `purge_personal_data` by the system; the
//! login attempts one event per run. Work goes in batches of [`BATCH`], one transaction each, so a
//! first run over years of history does not hold locks for long.

use std::collections::HashMap;

use chrono::{Months, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::photos::PhotoStore;
use crate::app::{AppError, AppResult};
use crate::config::RetentionSettings;
use crate::db::backend;
use crate::db::schema::{audit_events, deliveries, login_attempts, photos, tickets, visit_log_return_visits, visit_logs};
use crate::db::DbConn;
use crate::domain::workflow::TicketState;
use crate::domain::TicketId;

pub use crate::domain::pii::PURGED;

/// Records per transaction.
pub const BATCH: i64 = 200;

/// What one purge cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    /// Closed tickets whose resident's name and phone were cleared.
    pub ticket_contacts: usize,
    /// Photo files deleted (rows removed: `photo_rows`).
    pub photo_files: usize,
    pub photo_rows: usize,
    /// Visit logs whose notes (or whose return visits' notes) were cleared.
    pub visit_logs: usize,
    pub return_visit_notes: usize,
    pub login_attempts: usize,
    /// Delivery addresses (a resident's phone or mail for his status link) emptied.
    pub delivery_addresses: usize,
    /// Audit events whose personal values were replaced by their digests.
    pub audit_events: usize,
    /// Audit events holding personal values written before hash version 3: their hash covers the
    /// values as written, so they are kept (a masked phone, a visit log's notes) and counted here.
    pub audit_events_kept: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.ticket_contacts + self.photo_rows + self.visit_logs + self.return_visit_notes + self.login_attempts + self.delivery_addresses
    }

    pub fn summary(&self) -> String {
        format!(
            "{} ticket contacts, {} photos ({} files), {} visit logs' notes, {} return-visit notes, {} login attempts, {} delivery addresses cleared; \
             {} audit events' personal values replaced by their digests ({} older events kept as written)",
            self.ticket_contacts,
            self.photo_rows,
            self.photo_files,
            self.visit_logs,
            self.return_visit_notes,
            self.login_attempts,
            self.delivery_addresses,
            self.audit_events,
            self.audit_events_kept
        )
    }
}

/// The moment `months` before `now` (`None`: keep for ever).
fn cutoff(now: NaiveDateTime, months: u32) -> Option<NaiveDateTime> {
    (months > 0).then(|| now.checked_sub_months(Months::new(months))).flatten()
}

const FINAL_STATES: [&str; 3] = ["closed", "duplicate", "declined"];

fn final_states() -> [&'static str; 3] {
    debug_assert!(FINAL_STATES.iter().all(|s| s.parse::<TicketState>().map(|t| t.is_final()).unwrap_or(false)));
    FINAL_STATES
}

/// Runs every kind's purge that is due at `now`, batch after batch until nothing is left.
pub fn purge(conn: &mut DbConn, store: &dyn PhotoStore, policy: &RetentionSettings, now: NaiveDateTime) -> AppResult<Purged> {
    let mut p = Purged::default();
    if let Some(before) = cutoff(now, policy.ticket_contact_months) {
        while purge_ticket_contacts(conn, before, policy.ticket_contact_months, now, &mut p)? > 0 {}
        p.delivery_addresses += clear_delivery_addresses(conn, before)?;
    }
    if let Some(before) = cutoff(now, policy.photo_months) {
        while purge_photos(conn, store, before, policy.photo_months, now, &mut p)? > 0 {}
    }
    if let Some(before) = cutoff(now, policy.visit_note_months) {
        while purge_visit_notes(conn, before, policy.visit_note_months, now, &mut p)? > 0 {}
    }
    if let Some(before) = cutoff(now, policy.login_attempt_months) {
        purge_login_attempts(conn, before, policy.login_attempt_months, now, &mut p)?;
    }
    let m = crate::metrics::get();
    m.purge("ticket_contact", p.ticket_contacts);
    m.purge("photo", p.photo_rows);
    m.purge("visit_note", p.visit_logs + p.return_visit_notes);
    m.purge("login_attempt", p.login_attempts);
    m.purge("delivery_address", p.delivery_addresses);
    m.purge("audit_event", p.audit_events);
    Ok(p)
}

/// Replaces the personal values of the entities' version-3 events by their digests; counts the
/// older events that hold personal values and must stay as written.
pub(crate) fn purge_events(conn: &mut DbConn, entity_kind: &str, ids: &[String], p: &mut Purged) -> AppResult<()> {
    let events: Vec<(String, chrono::NaiveDateTime, String, i32)> = audit_events::table
        .filter(audit_events::entity_kind.eq(entity_kind))
        .filter(audit_events::entity_id.eq_any(ids))
        .select((audit_events::id, audit_events::at, audit_events::changes, audit_events::hash_version))
        .load(conn)?;
    for (id, at, changes, version) in events {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&changes) else { continue };
        if !crate::domain::audit::has_personal_values(&v) {
            continue;
        }
        if version < 3 {
            p.audit_events_kept += 1;
            continue;
        }
        if let Some(purged) = crate::domain::audit::purge_changes(&changes) {
            // By its time too: PostgreSQL then looks in the event's month only (partitions, decision 0034).
            diesel::update(audit_events::table.find(&id).filter(audit_events::at.eq(at)))
                .set(audit_events::changes.eq(purged))
                .execute(conn)?;
            p.audit_events += 1;
        }
    }
    Ok(())
}

fn system() -> ActedBy {
    ActedBy::default()
}

/// The audit event of one clearing (`purge_personal_data`) on a ticket, a visit log or the
/// login attempts; `changes` says what, by which rule or request.
pub(crate) fn purge_event<'a>(entity_kind: &'a str, entity_id: &'a str, by: &'a ActedBy, changes: serde_json::Value) -> Draft<'a> {
    Draft { entity_kind, entity_id, by, action: "purge_personal_data", from_state: None, to_state: None, reason: None, changes }
}

fn purge_ticket_contacts(conn: &mut DbConn, before: NaiveDateTime, months: u32, now: NaiveDateTime, p: &mut Purged) -> AppResult<usize> {
    backend::immediate_transaction(conn, |conn| {
        let ids: Vec<TicketId> = tickets::table
            .filter(tickets::closed_at.lt(before))
            .filter(tickets::state.eq_any(final_states()))
            .filter(tickets::resident_phone.is_not_null().or(tickets::resident_name.is_not_null().and(tickets::resident_name.ne(PURGED))))
            .select(tickets::id)
            .order(tickets::closed_at.asc())
            .limit(BATCH)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        crate::app::tickets::lock_rows(conn, &ids)?;
        diesel::update(tickets::table.filter(tickets::id.eq_any(&ids)))
            .set((tickets::resident_name.eq(PURGED), tickets::resident_phone.eq(None::<String>), tickets::version.eq(tickets::version + 1)))
            .execute(conn)?;
        let keys: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let mut local = Purged::default();
        purge_events(conn, "ticket", &keys, &mut local)?;
        let by = system();
        let changes = json!({
            "kind": "ticket_contact",
            "fields": ["resident_name", "resident_phone"],
            "rule": format!("retention.ticket_contact_months = {months}"),
            "closed_before": before,
        });
        let drafts = keys.iter().map(|k| purge_event("ticket", k, &by, changes.clone())).collect();
        audit::append_all(conn, drafts, now)?;
        p.ticket_contacts += ids.len();
        p.audit_events += local.audit_events;
        p.audit_events_kept += local.audit_events_kept;
        Ok::<_, AppError>(ids.len())
    })
}

/// The resident's phone or mail that a status link (`resident_link`) was sent to, once the
/// contact's time is up: the delivery's record stays, without the address.
fn clear_delivery_addresses(conn: &mut DbConn, before: NaiveDateTime) -> AppResult<usize> {
    let pending = crate::domain::notify::DeliveryState::Pending.as_str();
    let sending = crate::domain::notify::DeliveryState::Sending.as_str();
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::address.is_not_null())
            .filter(deliveries::created_at.lt(before))
            .filter(deliveries::state.ne_all([pending, sending])),
    )
    .set(deliveries::address.eq(None::<String>))
    .execute(conn)?)
}

fn purge_photos(
    conn: &mut DbConn,
    store: &dyn PhotoStore,
    before: NaiveDateTime,
    months: u32,
    now: NaiveDateTime,
    p: &mut Purged,
) -> AppResult<usize> {
    let (rows, gone) = backend::immediate_transaction(conn, |conn| {
        let rows: Vec<(String, TicketId, String, String)> = photos::table
            .inner_join(tickets::table.on(tickets::id.eq(photos::ticket_id)))
            .filter(tickets::closed_at.lt(before))
            .filter(tickets::state.eq_any(final_states()))
            .select((photos::id, photos::ticket_id, photos::sha256, photos::thumb_sha256))
            .order(photos::created_at.asc())
            .limit(BATCH)
            .load(conn)?;
        if rows.is_empty() {
            return Ok((0, vec![]));
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        diesel::delete(photos::table.filter(photos::id.eq_any(&ids))).execute(conn)?;
        let mut per_ticket: HashMap<TicketId, usize> = HashMap::new();
        for r in &rows {
            *per_ticket.entry(r.1).or_default() += 1;
        }
        let mut tickets: Vec<TicketId> = per_ticket.keys().copied().collect();
        tickets.sort();
        crate::app::tickets::lock_rows(conn, &tickets)?;
        let keys: Vec<String> = tickets.iter().map(|t| t.to_string()).collect();
        let by = system();
        let drafts = tickets
            .iter()
            .zip(&keys)
            .map(|(t, k)| {
                purge_event(
                    "ticket",
                    k,
                    &by,
                    json!({
                        "kind": "photos",
                        "photos_deleted": per_ticket[t],
                        "rule": format!("retention.photo_months = {months}"),
                        "closed_before": before,
                    }),
                )
            })
            .collect();
        audit::append_all(conn, drafts, now)?;
        // The files whose bytes no remaining photo holds (the store keeps each content once).
        let mut shas: Vec<String> = rows.iter().flat_map(|r| [r.2.clone(), r.3.clone()]).collect();
        shas.sort();
        shas.dedup();
        let mut still: Vec<String> = photos::table.filter(photos::sha256.eq_any(&shas)).select(photos::sha256).load(conn)?;
        still.extend(photos::table.filter(photos::thumb_sha256.eq_any(&shas)).select(photos::thumb_sha256).load::<String>(conn)?);
        let gone: Vec<String> = shas.into_iter().filter(|s| !still.contains(s)).collect();
        Ok::<_, AppError>((rows.len(), gone))
    })?;
    // After the commit, so that a failed transaction never leaves a row without its file; a file
    // that cannot be deleted is logged (by its digest, nothing personal) for the operator.
    for sha in &gone {
        match store.delete(sha) {
            Ok(true) => p.photo_files += 1,
            Ok(false) => {}
            Err(e) => log::error!("retention: deleting photo file {sha} failed: {}", crate::app::error::Plain(&e)),
        }
    }
    p.photo_rows += rows;
    Ok(rows)
}

fn purge_visit_notes(conn: &mut DbConn, before: NaiveDateTime, months: u32, now: NaiveDateTime, p: &mut Purged) -> AppResult<usize> {
    let before_day = before.date();
    backend::immediate_transaction(conn, |conn| {
        let logs: Vec<String> = visit_logs::table
            .filter(visit_logs::visit_date.lt(before_day))
            .filter(visit_logs::notes.is_not_null().and(visit_logs::notes.ne(PURGED)))
            .select(visit_logs::id)
            .order(visit_logs::visit_date.asc())
            .limit(BATCH)
            .load(conn)?;
        let visits: Vec<(String, String)> = visit_log_return_visits::table
            .filter(visit_log_return_visits::recorded_at.lt(before))
            .filter(visit_log_return_visits::note.is_not_null().and(visit_log_return_visits::note.ne(PURGED)))
            .select((visit_log_return_visits::id, visit_log_return_visits::log_id))
            .limit(BATCH)
            .load(conn)?;
        if logs.is_empty() && visits.is_empty() {
            return Ok(0);
        }
        diesel::update(visit_logs::table.filter(visit_logs::id.eq_any(&logs)))
            .set((visit_logs::notes.eq(PURGED), visit_logs::version.eq(visit_logs::version + 1)))
            .execute(conn)?;
        let visit_ids: Vec<&str> = visits.iter().map(|v| v.0.as_str()).collect();
        diesel::update(visit_log_return_visits::table.filter(visit_log_return_visits::id.eq_any(&visit_ids)))
            .set(visit_log_return_visits::note.eq(PURGED))
            .execute(conn)?;
        let mut all: Vec<String> = logs.iter().cloned().chain(visits.iter().map(|v| v.1.clone())).collect();
        all.sort();
        all.dedup();
        let mut local = Purged::default();
        purge_events(conn, "visit_log", &all, &mut local)?;
        let by = system();
        let drafts = all
            .iter()
            .map(|k| {
                purge_event(
                    "visit_log",
                    k,
                    &by,
                    json!({
                        "kind": "visit_notes",
                        "notes": logs.contains(k),
                        "return_visit_notes": visits.iter().filter(|v| &v.1 == k).count(),
                        "rule": format!("retention.visit_note_months = {months}"),
                        "visited_before": before_day,
                    }),
                )
            })
            .collect();
        audit::append_all(conn, drafts, now)?;
        p.visit_logs += logs.len();
        p.return_visit_notes += visits.len();
        p.audit_events += local.audit_events;
        p.audit_events_kept += local.audit_events_kept;
        Ok::<_, AppError>(logs.len() + visits.len())
    })
}

fn purge_login_attempts(conn: &mut DbConn, before: NaiveDateTime, months: u32, now: NaiveDateTime, p: &mut Purged) -> AppResult<()> {
    let n = backend::immediate_transaction(conn, |conn| {
        let n = diesel::delete(login_attempts::table.filter(login_attempts::at.lt(before))).execute(conn)?;
        if n > 0 {
            let by = system();
            audit::append(
                conn,
                purge_event(
                    "retention",
                    "login_attempts",
                    &by,
                    json!({
                        "kind": "login_attempts",
                        "deleted": n,
                        "rule": format!("retention.login_attempt_months = {months}"),
                        "before": before,
                    }),
                ),
                now,
            )?;
        }
        Ok::<_, AppError>(n)
    })?;
    p.login_attempts += n;
    Ok(())
}
