//! Ledger exports (台账导出): the ticket list as CSV, one page of rows at a time, so that a large
//! export streams in constant memory. Same filters and scope as `GET /api/v1/tickets`.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::categories;
use crate::db::DbConn;
use crate::domain::workflow::Urgency;
use crate::domain::Actor;
use crate::i18n::{text, Lang};

use super::tickets::{list_tickets, TicketFilter, TicketSummary};
use super::AppResult;

/// Rows read per page: one page is all an export holds in memory.
pub const EXPORT_PAGE: i64 = 200;

/// The column headers, from the catalogue.
const HEADERS: [&str; 9] = [
    "field-export_number",
    "field-export_filed_at",
    "field-export_category",
    "field-export_urgency",
    "field-export_title",
    "field-export_state",
    "field-export_due_at",
    "field-export_overdue",
    "field-export_reopens",
];

/// One page of an export: its CSV text and where the next page starts (none: the last).
pub struct CsvPage {
    pub bytes: Vec<u8>,
    pub next_cursor: Option<String>,
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break; a cell that a
/// spreadsheet would read as a formula (`=`, `+`, `-`, `@`) is prefixed with `'`, so that a title
/// typed by a resident never runs in the office's Excel (CSV injection).
fn cell(out: &mut String, value: &str) {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

fn row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, c);
    }
    out.push_str("\r\n");
}

/// The page of the ticket ledger after `f.cursor` (the first page with the byte-order mark and
/// the header row, so that Excel opens the Chinese text as UTF-8). Personal data is not in the
/// ledger: no resident's name or phone leaves through an export.
pub fn tickets_csv_page(
    conn: &mut DbConn,
    actor: &Actor,
    mut f: TicketFilter,
    tz: chrono_tz::Tz,
    lang: Lang,
    first: bool,
    now: NaiveDateTime,
) -> AppResult<CsvPage> {
    f.limit = Some(EXPORT_PAGE);
    let page = list_tickets(conn, actor, f, now)?;
    let mut ids: Vec<&str> = page.items.iter().map(|t| t.category_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<String, (String, String)> = categories::table
        .filter(categories::id.eq_any(&ids))
        .select((categories::id, categories::name_zh, categories::name_en))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, zh, en)| (id, (zh, en)))
        .collect();
    let mut out = String::new();
    if first {
        out.push('\u{feff}');
        row(&mut out, &HEADERS.iter().map(|k| text(lang, k)).collect::<Vec<_>>());
    }
    let local = |t: NaiveDateTime| t.and_utc().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    for t in &page.items {
        row(&mut out, &line(t, &names, lang, &local, now));
    }
    Ok(CsvPage { bytes: out.into_bytes(), next_cursor: page.next_cursor })
}

fn line(
    t: &TicketSummary,
    names: &HashMap<String, (String, String)>,
    lang: Lang,
    local: &dyn Fn(NaiveDateTime) -> String,
    now: NaiveDateTime,
) -> Vec<String> {
    // Overdue for anyone: an open ticket past its nearest running deadline.
    let overdue = !t.state.is_final() && t.ticket_due_at.is_some_and(|d| d < now);
    let category = names.get(&t.category_id).map(|(zh, en)| if lang == Lang::En { en.clone() } else { zh.clone() }).unwrap_or_default();
    let urgency = match t.urgency {
        Urgency::Normal => "urgency-normal",
        Urgency::Urgent => "urgency-urgent",
    };
    vec![
        t.number.clone(),
        local(t.created_at),
        category,
        text(lang, urgency),
        t.title.clone(),
        text(lang, t.state.label_key()),
        t.ticket_due_at.map(local).unwrap_or_default(),
        text(lang, if overdue { "field-export_yes" } else { "field-export_no" }),
        t.reopen_count.to_string(),
    ]
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
