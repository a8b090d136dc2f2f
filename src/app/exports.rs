//! Ledger exports (台账导出): the ticket list as CSV and XLSX, read one page of rows at a time, so
//! that a large export holds one page in memory. Same filters and scope as `GET /api/v1/tickets`.
//! Both formats read their rows from [`ledger_page`]; the XLSX workbooks are in [`xlsx`].

pub mod consult_xlsx;
pub mod xlsx;

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use crate::db::models::PiiRevealRow;
use crate::db::schema::{categories, pii_reveals, ticket_assignments, tickets};
use crate::db::DbConn;
use crate::domain::pii::{mask_phone, Sensitive};
use crate::domain::workflow::{AssignmentState, Urgency};
use crate::domain::{Actor, CategoryId, Grant, OrgPath, OrgUnitId, Role, TicketId};
use crate::i18n::{text, Lang};

use super::tickets::{list_tickets, TicketFilter, TicketSummary};
use super::{AppError, AppResult};

/// `GET /exports/tickets.csv`: the ticket list's filters (without its paging), and whether to
/// reveal residents' phones.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportFilter {
    /// Comma-separated states, e.g. `at_compound,compound_handling`.
    #[param(value_type = Option<Vec<crate::domain::workflow::TicketState>>, style = Form, explode = false)]
    pub state: Option<String>,
    #[param(format = Uuid)]
    pub category_id: Option<String>,
    /// Only tickets whose place lies in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    pub urgency: Option<crate::app::catalogue::Urgency>,
    /// true: only open tickets past their stage deadline; false: only those not overdue.
    pub overdue: Option<bool>,
    /// Filed on or after this date (Asia/Shanghai), YYYY-MM-DD.
    pub from: Option<NaiveDate>,
    /// Filed on or before this date (Asia/Shanghai), YYYY-MM-DD.
    pub to: Option<NaiveDate>,
    /// Text in the number, title or description.
    pub q: Option<String>,
    /// The resident's phone, as in the list (those who may reveal it only; recorded).
    #[param(max_length = 20, value_type = Option<String>)]
    pub resident_phone: Option<Sensitive<String>>,
    /// true: the residents' phones in clear where the caller may reveal them (grid workers,
    /// branch secretaries and community staff in their places; liaisons on their departments'
    /// cases), each ticket recorded as a reveal; masked elsewhere. Default: masked.
    pub reveal: Option<bool>,
}

impl ExportFilter {
    /// The list's filter for one page.
    pub fn page(&self, cursor: Option<String>) -> TicketFilter {
        TicketFilter {
            state: self.state.clone(),
            category_id: self.category_id.clone(),
            within: self.within.clone(),
            urgency: self.urgency,
            overdue: self.overdue,
            from: self.from,
            to: self.to,
            q: self.q.clone(),
            resident_phone: self.resident_phone.clone(),
            cursor,
            limit: Some(EXPORT_PAGE),
        }
    }

    /// Whether a page writes (reveals recorded): the phone search or `reveal=true`.
    pub fn writes(&self) -> bool {
        self.resident_phone.is_some() || self.reveal == Some(true)
    }
}

/// Rows read per page: one page is all an export holds in memory.
pub const EXPORT_PAGE: i64 = 200;

/// The column headers, from the catalogue.
const HEADERS: [&str; 11] = [
    "field-export_number",
    "field-export_filed_at",
    "field-export_category",
    "field-export_urgency",
    "field-export_title",
    "field-export_state",
    "field-export_due_at",
    "field-export_overdue",
    "field-export_reopens",
    "field-export_resident_name",
    "field-export_resident_phone",
];

/// One page of an export: its CSV text and where the next page starts (none: the last).
pub struct CsvPage {
    pub bytes: Vec<u8>,
    pub next_cursor: Option<String>,
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break; a cell that a
/// spreadsheet would read as a formula (`=`, `+`, `-`, `@`) is prefixed with `'`, so that a title
/// typed by a resident never runs in the office's Excel (CSV injection).
pub(crate) fn cell(out: &mut String, value: &str) {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

pub(crate) fn row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, c);
    }
    out.push_str("\r\n");
}

/// One ticket of the ledger, as both formats write it: times in UTC (each format shows them in
/// China time), words in the caller's language, the phone masked or revealed.
#[derive(Clone, Debug)]
pub struct LedgerRow {
    pub number: String,
    pub filed_at: NaiveDateTime,
    pub category: String,
    pub urgency: String,
    pub title: String,
    pub state: String,
    pub due_at: Option<NaiveDateTime>,
    pub overdue: bool,
    pub reopens: i32,
    pub resident_name: String,
    /// Masked (`137****5678`) unless revealed; empty without a phone.
    pub resident_phone: String,
}

/// One page of the ledger's rows and where the next page starts (none: the last).
pub struct LedgerPage {
    pub rows: Vec<LedgerRow>,
    pub next_cursor: Option<String>,
}

/// The page of the ticket ledger after `cursor`. Residents' names as the ticket shows them;
/// phones masked unless `reveal=true` and the caller may reveal that ticket's phone, each such
/// ticket recorded in `pii_reveals` (`resident_phone_export`) in the page's transaction.
pub fn ledger_page(
    conn: &mut DbConn,
    actor: &Actor,
    f: &ExportFilter,
    cursor: Option<String>,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<LedgerPage> {
    let revealing: Vec<&Grant> = actor
        .grants
        .iter()
        .filter(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::DepartmentLiaison))
        .collect();
    let reveal = f.reveal == Some(true);
    if reveal && revealing.is_empty() {
        return Err(AppError::forbidden(crate::msg!("why-who_reveals")));
    }
    let page = list_tickets(conn, actor, f.page(cursor), now)?;
    let ids: Vec<TicketId> = page.items.iter().map(|t| t.id).collect();
    let mut category_ids: Vec<CategoryId> = page.items.iter().map(|t| t.category_id).collect();
    category_ids.sort_unstable();
    category_ids.dedup();
    let names: HashMap<CategoryId, (String, String)> = categories::table
        .filter(categories::id.eq_any(&category_ids))
        .select((categories::id, categories::name_zh, categories::name_en))
        .load::<(CategoryId, String, String)>(conn)?
        .into_iter()
        .map(|(id, zh, en)| (id, (zh, en)))
        .collect();
    let residents: HashMap<TicketId, Resident> = tickets::table
        .filter(tickets::id.eq_any(&ids))
        .select((tickets::id, tickets::resident_name, tickets::resident_phone, tickets::place_path))
        .load::<(TicketId, Option<String>, Option<String>, OrgPath)>(conn)?
        .into_iter()
        .map(|(id, name, phone, place)| (id, Resident { name, phone, place }))
        .collect();
    let revealed = if reveal { revealable(conn, &revealing, &residents)? } else { HashMap::new() };
    let reveals: Vec<PiiRevealRow> =
        revealed.iter().map(|(ticket, g)| PiiRevealRow::new(actor.person_id, g, "ticket", *ticket, "resident_phone_export", now)).collect();
    crate::db::backend::insert_all!(conn, pii_reveals::table, &reveals)?;
    let rows = page
        .items
        .iter()
        .map(|t| {
            let r = residents.get(&t.id);
            let resident_phone = match r.and_then(|r| r.phone.as_deref()) {
                Some(p) if revealed.contains_key(&t.id) => p.to_string(),
                Some(p) => mask_phone(p),
                None => String::new(),
            };
            let name = match r.and_then(|r| r.name.clone()) {
                Some(n) if crate::domain::pii::is_purged(Some(&n)) => crate::i18n::render(lang, &crate::msg!("ticket-contact_purged")),
                n => n.unwrap_or_default(),
            };
            line(t, &names, lang, now, name, resident_phone)
        })
        .collect();
    Ok(LedgerPage { rows, next_cursor: page.next_cursor })
}

/// The page of the ticket ledger after `cursor` as CSV (the first page with the byte-order mark
/// and the header row, so that Excel opens the Chinese text as UTF-8). Rows from [`ledger_page`].
#[allow(clippy::too_many_arguments)]
pub fn tickets_csv_page(
    conn: &mut DbConn,
    actor: &Actor,
    f: &ExportFilter,
    cursor: Option<String>,
    tz: chrono_tz::Tz,
    lang: Lang,
    first: bool,
    now: NaiveDateTime,
) -> AppResult<CsvPage> {
    let page = ledger_page(conn, actor, f, cursor, lang, now)?;
    let mut out = String::new();
    if first {
        out.push('\u{feff}');
        row(&mut out, &HEADERS.iter().map(|k| text(lang, k)).collect::<Vec<_>>());
    }
    let local = |t: NaiveDateTime| t.and_utc().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    for r in page.rows {
        let cells = vec![
            r.number,
            local(r.filed_at),
            r.category,
            r.urgency,
            r.title,
            r.state,
            r.due_at.map(local).unwrap_or_default(),
            text(lang, if r.overdue { "field-export_yes" } else { "field-export_no" }),
            r.reopens.to_string(),
            r.resident_name,
            r.resident_phone,
        ];
        row(&mut out, &cells);
    }
    Ok(CsvPage { bytes: out.into_bytes(), next_cursor: page.next_cursor })
}

struct Resident {
    name: Option<String>,
    phone: Option<String>,
    place: OrgPath,
}

/// The tickets of the page whose phone the caller may reveal, with the grant he reveals it
/// under: the same rule as `POST /tickets/{id}/reveal` (the grid, the compound, the community by
/// place; a liaison whose department holds a live part).
fn revealable(conn: &mut DbConn, grants: &[&Grant], residents: &HashMap<TicketId, Resident>) -> AppResult<HashMap<TicketId, Grant>> {
    let with_phone: Vec<TicketId> = residents.iter().filter(|(_, r)| r.phone.is_some()).map(|(id, _)| *id).collect();
    let live: HashSet<(TicketId, OrgUnitId)> = if grants.iter().any(|g| g.role == Role::DepartmentLiaison) {
        ticket_assignments::table
            .filter(ticket_assignments::ticket_id.eq_any(&with_phone))
            .filter(ticket_assignments::state.ne(AssignmentState::Removed.as_str()))
            .select((ticket_assignments::ticket_id, ticket_assignments::department_id))
            .load::<(TicketId, OrgUnitId)>(conn)?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let mut out = HashMap::new();
    for id in with_phone {
        let place = &residents[&id].place;
        let grant = grants.iter().find(|g| match g.role {
            Role::DepartmentLiaison => live.contains(&(id, g.org_unit_id)),
            _ => g.org_path.contains(place),
        });
        if let Some(g) = grant {
            out.insert(id, (*g).clone());
        }
    }
    Ok(out)
}

fn line(
    t: &TicketSummary,
    names: &HashMap<CategoryId, (String, String)>,
    lang: Lang,
    now: NaiveDateTime,
    resident_name: String,
    resident_phone: String,
) -> LedgerRow {
    // Overdue for anyone: an open ticket past its nearest running deadline.
    let overdue = !t.state.is_final() && t.ticket_due_at.is_some_and(|d| d < now);
    let category = names.get(&t.category_id).map(|(zh, en)| if lang == Lang::En { en.clone() } else { zh.clone() }).unwrap_or_default();
    let urgency = match t.urgency {
        Urgency::Normal => "urgency-normal",
        Urgency::Urgent => "urgency-urgent",
    };
    LedgerRow {
        number: t.number.clone(),
        filed_at: t.created_at,
        category,
        urgency: text(lang, urgency),
        title: t.title.clone(),
        state: text(lang, t.state.label_key()),
        due_at: t.ticket_due_at,
        overdue,
        reopens: t.reopen_count,
        resident_name,
        resident_phone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_disarmed() {
        let mut out = String::new();
        row(&mut out, &["a,b".into(), "say \"hi\"".into(), "=1+1".into(), "-3".into(), "普通".into()]);
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",'=1+1,'-3,普通\r\n");
    }
}
