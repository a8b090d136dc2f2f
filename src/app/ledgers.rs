//! The visit-log and supervision ledgers (走访日志台账、督办台账) as CSV and XLSX, in the house style
//! of the ticket ledger ([`super::exports`]): the list's filters and scope, read a page of rows at
//! a time (one page in memory), Chinese headers from the catalogue, CSV in UTF-8 with a BOM, XLSX
//! in rust_xlsxwriter's constant-memory mode with a title row, a frozen header row, widths, real
//! dates and numbers.
//!
//! Personal data: the visit log's free text (走访情况, 备注) has the phone and identity numbers it
//! holds masked, the supervision ledger the resident's name and phone, unless the caller asks
//! `reveal=true` and may reveal them there (grid workers, branch secretaries and community staff
//! in their places); then each record shown in clear is recorded in `pii_reveals`, as the ticket
//! ledger does.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde::{Deserialize, Serialize};

use crate::db::models::{PiiRevealRow, SupervisionRow, VisitLogRow};
use crate::db::schema::{
    categories, households, org_units, people, pii_reveals, sla_clocks, supervision, tickets, visit_log_households,
    visit_log_return_visits, visit_logs,
};
use crate::db::DbConn;
use crate::domain::pii::{mask_id_number, mask_phone};
use crate::domain::workflow::{TicketState, Urgency};
use crate::domain::{Actor, CategoryId, ClockId, Grant, Id, OrgPath, Role, TicketId};
use crate::i18n::{render, text, Lang};

use super::exports::xlsx::{failed, formats, local};
use super::exports::{row as csv_row, CsvPage, EXPORT_PAGE};
use super::visits::{list_logs, VisitLogFilter};
use super::{AppError, AppResult};

// ---------------------------------------------------------------- filters

/// `GET /exports/visit_logs.csv|xlsx`: the visit-log list's filters (without its paging), and
/// whether to show the logs' free text in clear.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VisitLogExport {
    /// Only logs of grids in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    /// Only logs of this grid worker.
    #[param(format = Uuid)]
    pub author_id: Option<String>,
    /// First visit date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last visit date (inclusive).
    pub to: Option<NaiveDate>,
    /// true: the observations and notes in clear where the caller may reveal residents' data
    /// (grid workers, branch secretaries, community staff in their places), each log recorded as
    /// a reveal; elsewhere the phone and identity numbers in them stay masked. Default: masked.
    pub reveal: Option<bool>,
}

/// Which supervision entries a ledger lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupervisionStatus {
    /// Still under supervision (the list's entries).
    #[default]
    Open,
    /// Supervision ended (the clock stopped or its deadline moved).
    Resolved,
    All,
}

/// `GET /exports/supervision.csv|xlsx`: the supervision list's entries (by default exactly those
/// of `GET /supervision`, in its order), optionally the resolved ones too, and whether to show
/// residents' names and phones in clear.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SupervisionExport {
    /// open (default: the list), resolved, or all.
    #[param(inline)]
    pub status: Option<SupervisionStatus>,
    /// Only entries held by units in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    /// Breached on or after this China day, YYYY-MM-DD.
    pub from: Option<NaiveDate>,
    /// Breached on or before this China day, YYYY-MM-DD.
    pub to: Option<NaiveDate>,
    /// true: residents' names and phones in clear where the caller may reveal them (community
    /// staff and the compound's people in their places), each ticket recorded as a reveal;
    /// masked elsewhere. Default: masked.
    pub reveal: Option<bool>,
}

/// Which ledger, with its filter.
#[derive(Clone, Debug)]
pub enum LedgerQuery {
    VisitLogs(VisitLogExport),
    Supervision(SupervisionExport),
}

impl LedgerQuery {
    /// Whether reading a page writes (reveals recorded).
    pub fn writes(&self) -> bool {
        self.reveal()
    }

    fn reveal(&self) -> bool {
        match self {
            LedgerQuery::VisitLogs(f) => f.reveal == Some(true),
            LedgerQuery::Supervision(f) => f.reveal == Some(true),
        }
    }

    /// The column headers' catalogue keys, in the ledger's order.
    pub fn headers(&self) -> &'static [&'static str] {
        match self {
            LedgerQuery::VisitLogs(_) => &VISIT_HEADERS,
            LedgerQuery::Supervision(_) => &SUPERVISION_HEADERS,
        }
    }

    fn widths(&self) -> &'static [f64] {
        match self {
            LedgerQuery::VisitLogs(_) => &VISIT_WIDTHS,
            LedgerQuery::Supervision(_) => &SUPERVISION_WIDTHS,
        }
    }

    /// The file name of the download.
    pub fn file_name(&self, ext: &str) -> String {
        match self {
            LedgerQuery::VisitLogs(_) => format!("visit_logs.{ext}"),
            LedgerQuery::Supervision(_) => format!("supervision.{ext}"),
        }
    }

    /// One page of rows after `cursor`.
    pub fn page(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        cursor: Option<String>,
        tz: chrono_tz::Tz,
        lang: Lang,
        now: NaiveDateTime,
    ) -> AppResult<RowsPage> {
        match self {
            LedgerQuery::VisitLogs(f) => visit_log_page(conn, actor, f, cursor, lang, now),
            LedgerQuery::Supervision(f) => supervision_page(conn, actor, f, cursor, tz, lang, now),
        }
    }
}

const VISIT_HEADERS: [&str; 14] = [
    "ledger-visit_date",
    "ledger-worker",
    "ledger-grid",
    "ledger-compound",
    "ledger-households_visited",
    "ledger-households",
    "ledger-observations",
    "ledger-notes",
    "ledger-requests",
    "ledger-request_numbers",
    "ledger-return_visits",
    "ledger-filed_at",
    "ledger-late",
    "ledger-updated_at",
];
const VISIT_WIDTHS: [f64; 14] = [12.0, 12.0, 14.0, 14.0, 9.0, 30.0, 40.0, 24.0, 9.0, 22.0, 9.0, 17.0, 9.0, 17.0];

const SUPERVISION_HEADERS: [&str; 15] = [
    "ledger-number",
    "ledger-title",
    "ledger-category",
    "ledger-urgency",
    "ledger-state",
    "ledger-stage",
    "ledger-holder",
    "ledger-due_at",
    "ledger-breached_at",
    "ledger-overdue_hours",
    "ledger-reminders",
    "ledger-status",
    "ledger-resolved_at",
    "ledger-resident_name",
    "ledger-resident_phone",
];
const SUPERVISION_WIDTHS: [f64; 15] = [18.0, 36.0, 14.0, 9.0, 16.0, 14.0, 16.0, 17.0, 17.0, 10.0, 9.0, 10.0, 17.0, 12.0, 15.0];

// ---------------------------------------------------------------- rows

/// A cell of a ledger row, typed: each format writes it its own way (the XLSX as a real date or
/// number, the CSV as text in China time).
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    /// Long text (wrapped in the sheet).
    Long(String),
    Int(i64),
    /// Hours with one decimal.
    Hours(f64),
    /// An instant stored in UTC, shown in China time.
    Time(Option<NaiveDateTime>),
    Date(NaiveDate),
}

/// One page of a ledger's rows and where the next page starts (none: the last).
pub struct RowsPage {
    pub rows: Vec<Vec<Cell>>,
    pub next_cursor: Option<String>,
}

fn yes_no(lang: Lang, b: bool) -> Cell {
    Cell::Text(text(lang, if b { "field-export_yes" } else { "field-export_no" }))
}

/// The roles that may see residents' data in clear in their places.
fn revealing(actor: &Actor) -> Vec<&Grant> {
    actor.grants.iter().filter(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff)).collect()
}

/// Free text with the phone and identity numbers in it masked: every run of seven or more digits
/// (an identity number's closing X included) is masked as a phone (`138****5678`), or as an
/// identity number when it has fifteen or more characters.
pub fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j < chars.len() && j - i == 17 && matches!(chars[j], 'X' | 'x') {
                j += 1;
            }
            let run: String = chars[i..j].iter().collect();
            match j - i {
                n if n >= 15 => out.push_str(&mask_id_number(&run)),
                n if n >= 7 => out.push_str(&mask_phone(&run)),
                _ => out.push_str(&run),
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A resident's name as a ledger shows it to whoever has not revealed it: the surname only, "李**".
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count();
            if rest == 0 {
                "*".into()
            } else {
                format!("{first}{}", "*".repeat(rest))
            }
        }
    }
}

// ---------------------------------------------------------------- visit logs

/// The page of the visit-log ledger after `cursor`: the logs of `GET /visit-logs` with the same
/// filters and scope, newest day first, with their households, requests and return visits.
fn visit_log_page(
    conn: &mut DbConn,
    actor: &Actor,
    f: &VisitLogExport,
    cursor: Option<String>,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<RowsPage> {
    let grants = revealing(actor);
    let reveal = f.reveal == Some(true);
    if reveal && grants.is_empty() {
        return Err(AppError::forbidden(crate::msg!("why-who_reveals")));
    }
    let page = list_logs(
        conn,
        actor,
        VisitLogFilter {
            within: f.within.clone(),
            author_id: f.author_id.clone(),
            from: f.from,
            to: f.to,
            cursor,
            limit: Some(EXPORT_PAGE),
        },
    )?;
    let ids: Vec<&str> = page.items.iter().map(|l| l.id.as_str()).collect();
    let logs: HashMap<String, VisitLogRow> = visit_logs::table
        .filter(visit_logs::id.eq_any(&ids))
        .select(VisitLogRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|l: VisitLogRow| (l.id.to_string(), l))
        .collect();
    let mut authors: Vec<String> = logs.values().map(|l| l.author_id.to_string()).collect();
    authors.sort_unstable();
    authors.dedup();
    let author_names: HashMap<String, String> =
        people::table.filter(people::id.eq_any(&authors)).select((people::id, people::display_name)).load(conn)?.into_iter().collect();
    let mut units: Vec<String> = logs.values().flat_map(|l| [l.grid_id.to_string(), l.compound_id.to_string()]).collect();
    units.sort_unstable();
    units.dedup();
    let unit_names = super::org::names_of(conn, &units)?;
    let mut visited: HashMap<String, Vec<String>> = HashMap::new();
    for (log, building, unit_no, room) in visit_log_households::table
        .inner_join(households::table.inner_join(org_units::table))
        .filter(visit_log_households::log_id.eq_any(&ids))
        .order((visit_log_households::log_id, org_units::name, households::unit_no, households::room))
        .select((visit_log_households::log_id, org_units::name, households::unit_no, households::room))
        .load::<(String, String, String, String)>(conn)?
    {
        visited.entry(log).or_default().push(format!("{building} {unit_no}-{room}"));
    }
    let mut requests: HashMap<String, Vec<(NaiveDateTime, String)>> = HashMap::new();
    for (log, at, number) in tickets::table
        .filter(tickets::visit_log_id.eq_any(&ids))
        .select((tickets::visit_log_id.assume_not_null(), tickets::created_at, tickets::number))
        .load::<(String, NaiveDateTime, String)>(conn)?
    {
        requests.entry(log).or_default().push((at, number));
    }
    let return_visits: HashMap<String, i64> = visit_log_return_visits::table
        .filter(visit_log_return_visits::log_id.eq_any(&ids))
        .group_by(visit_log_return_visits::log_id)
        .select((visit_log_return_visits::log_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    // The logs shown in clear, each with the grant it is revealed under.
    let revealed: HashMap<crate::domain::VisitLogId, &Grant> = if reveal {
        logs.values()
            .filter_map(|l| {
                let grid = l.grid_path.clone();
                grants.iter().find(|g| g.org_path.contains(&grid)).map(|g| (l.id, *g))
            })
            .collect()
    } else {
        HashMap::new()
    };
    let reveals: Vec<PiiRevealRow> =
        revealed.iter().map(|(id, g)| PiiRevealRow::new(actor.person_id, g, "visit_log", *id, "visit_log_text_export", now)).collect();
    crate::db::backend::insert_all!(conn, pii_reveals::table, &reveals)?;
    let mut rows = vec![];
    for s in &page.items {
        let Some(l) = logs.get(&s.id) else { continue };
        let id = l.id.to_string();
        let clear = revealed.contains_key(&l.id);
        let shown = |t: &str| if clear { t.to_string() } else { mask_numbers(t) };
        let mut numbers = requests.remove(&id).unwrap_or_default();
        numbers.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
        let name = |id: &str| unit_names.get(id).cloned().unwrap_or_default();
        rows.push(vec![
            Cell::Date(l.visit_date),
            Cell::Text(author_names.get(&l.author_id.to_string()).cloned().unwrap_or_default()),
            Cell::Text(name(&l.grid_id.to_string())),
            Cell::Text(name(&l.compound_id.to_string())),
            Cell::Int(l.households_visited as i64),
            Cell::Long(visited.remove(&id).unwrap_or_default().join("、")),
            Cell::Long(shown(&l.observations)),
            Cell::Long(
                l.notes
                    .as_deref()
                    .map(|n| if crate::domain::pii::is_purged(Some(n)) { text(lang, "ticket-contact_purged") } else { shown(n) })
                    .unwrap_or_default(),
            ),
            Cell::Int(numbers.len() as i64),
            Cell::Text(numbers.into_iter().map(|(_, n)| n).collect::<Vec<_>>().join("、")),
            Cell::Int(return_visits.get(&id).copied().unwrap_or(0)),
            Cell::Time(Some(l.created_at)),
            yes_no(lang, l.late),
            Cell::Time(Some(l.updated_at)),
        ]);
    }
    Ok(RowsPage { rows, next_cursor: page.next_cursor })
}

// ---------------------------------------------------------------- supervision

fn encode_cursor(at: NaiveDateTime, id: &str) -> String {
    format!("{}_{id}", at.and_utc().timestamp_micros())
}

fn decode_cursor(c: &str) -> AppResult<(NaiveDateTime, String)> {
    let bad = || AppError::validation("cursor", crate::msg!("rule-cursor"));
    let (t, id) = c.split_once('_').ok_or_else(bad)?;
    let micros: i64 = t.parse().map_err(|_| bad())?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?.naive_utc();
    id.parse::<Id>().map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

/// The page of the supervision ledger after `cursor`: the entries held by units in the caller's
/// supervisor or community scope (as `GET /supervision`), the earliest breach first.
fn supervision_page(
    conn: &mut DbConn,
    actor: &Actor,
    f: &SupervisionExport,
    cursor: Option<String>,
    tz: chrono_tz::Tz,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<RowsPage> {
    let grants = revealing(actor);
    let reveal = f.reveal == Some(true);
    if reveal && grants.is_empty() {
        return Err(AppError::forbidden(crate::msg!("why-who_reveals")));
    }
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from > to {
            return Err(AppError::validation("from", crate::msg!("rule-not_after", other = "to")));
        }
    }
    let after = cursor.as_deref().map(decode_cursor).transpose()?;
    let Some(roots) = super::scope::narrowed_to(conn, super::sla::queries::supervised_paths(actor), f.within.as_deref())? else {
        return Ok(RowsPage { rows: vec![], next_cursor: None });
    };
    let day_start = |d: NaiveDate| {
        use chrono::TimeZone;
        tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.naive_utc())
            .unwrap_or(d.and_time(chrono::NaiveTime::MIN))
    };
    let mut q = supervision::table.into_boxed();
    q = q.filter(super::scope::column_in_subtrees(supervision::holder_path, roots));
    match f.status.unwrap_or_default() {
        SupervisionStatus::Open => q = q.filter(supervision::resolved_at.is_null()),
        SupervisionStatus::Resolved => q = q.filter(supervision::resolved_at.is_not_null()),
        SupervisionStatus::All => {}
    }
    if let Some(from) = f.from {
        q = q.filter(supervision::breached_at.ge(day_start(from)));
    }
    if let Some(to) = f.to {
        q = q.filter(supervision::breached_at.lt(day_start(to + chrono::Duration::days(1))));
    }
    if let Some((at, id)) = after {
        // The bound first, as an index condition (see `tickets::list_query`).
        q = q
            .filter(supervision::breached_at.ge(at))
            .filter(supervision::breached_at.gt(at).or(supervision::breached_at.eq(at).and(supervision::id.gt(id))));
    }
    let mut entries: Vec<SupervisionRow> = q
        .order((supervision::breached_at.asc(), supervision::id.asc()))
        .limit(EXPORT_PAGE + 1)
        .select(SupervisionRow::as_select())
        .load(conn)?;
    let more = entries.len() as i64 > EXPORT_PAGE;
    entries.truncate(EXPORT_PAGE as usize);
    let next_cursor = if more { entries.last().map(|s| encode_cursor(s.breached_at, &s.id.to_string())) } else { None };
    let ticket_ids: Vec<TicketId> = entries.iter().map(|s| s.ticket_id).collect();
    let clock_ids: Vec<ClockId> = entries.iter().map(|s| s.clock_id).collect();
    type TicketCols = (TicketId, String, String, CategoryId, Urgency, TicketState, Option<String>, Option<String>, OrgPath);
    let ts: HashMap<TicketId, TicketCols> = tickets::table
        .filter(tickets::id.eq_any(&ticket_ids))
        .select((
            tickets::id,
            tickets::number,
            tickets::title,
            tickets::category_id,
            tickets::urgency,
            tickets::state,
            tickets::resident_name,
            tickets::resident_phone,
            tickets::place_path,
        ))
        .load::<TicketCols>(conn)?
        .into_iter()
        .map(|t| (t.0, t))
        .collect();
    let clocks: HashMap<ClockId, (NaiveDateTime, Option<NaiveDateTime>, i32)> = sla_clocks::table
        .filter(sla_clocks::id.eq_any(&clock_ids))
        .select((sla_clocks::id, sla_clocks::due_at, sla_clocks::stopped_at, sla_clocks::reminders))
        .load::<(ClockId, NaiveDateTime, Option<NaiveDateTime>, i32)>(conn)?
        .into_iter()
        .map(|(id, due, stopped, n)| (id, (due, stopped, n)))
        .collect();
    let mut cats: Vec<CategoryId> = ts.values().map(|t| t.3).collect();
    cats.sort_unstable();
    cats.dedup();
    let cat_names: HashMap<CategoryId, String> = categories::table
        .filter(categories::id.eq_any(&cats))
        .select((categories::id, categories::name_zh, categories::name_en))
        .load::<(CategoryId, String, String)>(conn)?
        .into_iter()
        .map(|(id, zh, en)| (id, if lang == Lang::En { en } else { zh }))
        .collect();
    let mut holders: Vec<String> = entries.iter().map(|s| s.holder_unit_id.to_string()).collect();
    holders.sort_unstable();
    holders.dedup();
    let holder_names = super::org::names_of(conn, &holders)?;
    // The tickets shown in clear (those with a name or phone, in a place the caller may reveal).
    let revealed: HashMap<TicketId, &Grant> = if reveal {
        ts.values()
            .filter(|t| t.6.is_some() || t.7.is_some())
            .filter_map(|t| grants.iter().find(|g| g.org_path.contains(&t.8)).map(|g| (t.0, *g)))
            .collect()
    } else {
        HashMap::new()
    };
    let reveals: Vec<PiiRevealRow> =
        revealed.iter().map(|(id, g)| PiiRevealRow::new(actor.person_id, g, "ticket", *id, "resident_supervision_export", now)).collect();
    crate::db::backend::insert_all!(conn, pii_reveals::table, &reveals)?;
    let mut rows = vec![];
    for s in &entries {
        let Some(t) = ts.get(&s.ticket_id) else { continue };
        let clear = revealed.contains_key(&t.0);
        let (due, stopped, reminders) = clocks.get(&s.clock_id).copied().unwrap_or((s.breached_at, None, 0));
        let end = s.resolved_at.or(stopped).unwrap_or(now);
        let overdue_hours = ((end - due).num_seconds().max(0) as f64 / 360.0).round() / 10.0;
        let urgency = if t.4 == Urgency::Urgent { "urgency-urgent" } else { "urgency-normal" };
        let stage = text(lang, s.stage.label_key());
        rows.push(vec![
            Cell::Text(t.1.clone()),
            Cell::Long(t.2.clone()),
            Cell::Text(cat_names.get(&t.3).cloned().unwrap_or_default()),
            Cell::Text(text(lang, urgency)),
            Cell::Text(text(lang, t.5.label_key())),
            Cell::Text(stage),
            Cell::Text(holder_names.get(&s.holder_unit_id.to_string()).cloned().unwrap_or_default()),
            Cell::Time(Some(due)),
            Cell::Time(Some(s.breached_at)),
            Cell::Hours(overdue_hours),
            Cell::Int(reminders as i64),
            Cell::Text(text(lang, if s.resolved_at.is_some() { "ledger-status_resolved" } else { "ledger-status_open" })),
            Cell::Time(s.resolved_at),
            Cell::Text(
                t.6.as_deref()
                    .map(|n| match n {
                        crate::domain::pii::PURGED => text(lang, "ticket-contact_purged"),
                        n if clear => n.to_string(),
                        n => mask_name(n),
                    })
                    .unwrap_or_default(),
            ),
            Cell::Text(t.7.as_deref().map(|p| if clear { p.to_string() } else { mask_phone(p) }).unwrap_or_default()),
        ]);
    }
    Ok(RowsPage { rows, next_cursor })
}

// ---------------------------------------------------------------- CSV

/// The page of a ledger after `cursor` as CSV (the first page with the byte-order mark and the
/// header row).
#[allow(clippy::too_many_arguments)]
pub fn csv_page(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    cursor: Option<String>,
    tz: chrono_tz::Tz,
    lang: Lang,
    first: bool,
    now: NaiveDateTime,
) -> AppResult<CsvPage> {
    let page = q.page(conn, actor, cursor, tz, lang, now)?;
    let mut out = String::new();
    if first {
        out.push('\u{feff}');
        csv_row(&mut out, &q.headers().iter().map(|k| text(lang, k)).collect::<Vec<_>>());
    }
    for r in page.rows {
        let cells: Vec<String> = r
            .into_iter()
            .map(|c| match c {
                Cell::Text(s) | Cell::Long(s) => s,
                Cell::Int(n) => n.to_string(),
                Cell::Hours(h) => format!("{h:.1}"),
                Cell::Time(t) => t.map(|t| local(tz, t).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
                Cell::Date(d) => d.to_string(),
            })
            .collect();
        csv_row(&mut out, &cells);
    }
    Ok(CsvPage { bytes: out.into_bytes(), next_cursor: page.next_cursor })
}

// ---------------------------------------------------------------- XLSX

/// The title row: which ledger, of which units, with which filters, when.
fn title(conn: &mut DbConn, actor: &Actor, q: &LedgerQuery, lang: Lang, tz: chrono_tz::Tz, now: NaiveDateTime) -> AppResult<String> {
    let within = match q {
        LedgerQuery::VisitLogs(f) => &f.within,
        LedgerQuery::Supervision(f) => &f.within,
    };
    // `within` is named only when the caller may see that unit.
    let named = match within.as_deref().map(str::parse::<crate::domain::OrgUnitId>) {
        Some(Ok(id)) => super::org::get_unit(conn, actor, &id).ok().map(|u| u.name),
        _ => None,
    };
    let units = match named {
        Some(n) => n,
        None => {
            let ids: Vec<String> = actor.grants.iter().map(|g| g.org_unit_id.to_string()).collect();
            let names = super::org::names_of(conn, &ids)?;
            let mut v: Vec<String> = ids.iter().filter_map(|id| names.get(id).cloned()).collect();
            v.dedup();
            v.join("、")
        }
    };
    let mut filters: Vec<String> = vec![];
    let range = |from: Option<NaiveDate>, to: Option<NaiveDate>| {
        let d = |x: Option<NaiveDate>| x.map(|d| d.to_string()).unwrap_or_default();
        format!("{} – {}", d(from), d(to))
    };
    let key = match q {
        LedgerQuery::VisitLogs(f) => {
            if f.from.is_some() || f.to.is_some() {
                filters.push(format!("{}：{}", text(lang, "ledger-visit_date"), range(f.from, f.to)));
            }
            if let Some(a) = &f.author_id {
                let name: Option<String> = people::table.find(a).select(people::display_name).first(conn).optional()?;
                filters.push(format!("{}：{}", text(lang, "ledger-worker"), name.unwrap_or_else(|| a.clone())));
            }
            "ledger-visit_title"
        }
        LedgerQuery::Supervision(f) => {
            let status = match f.status.unwrap_or_default() {
                SupervisionStatus::Open => "ledger-status_open",
                SupervisionStatus::Resolved => "ledger-status_resolved",
                SupervisionStatus::All => "ledger-status_all",
            };
            filters.push(format!("{}：{}", text(lang, "ledger-status"), text(lang, status)));
            if f.from.is_some() || f.to.is_some() {
                filters.push(format!("{}：{}", text(lang, "ledger-breached_at"), range(f.from, f.to)));
            }
            "ledger-supervision_title"
        }
    };
    if q.reveal() {
        filters.push(text(lang, "ledger-revealed"));
    }
    let filters = if filters.is_empty() { text(lang, "xlsx-no_filters") } else { filters.join("；") };
    let at = local(tz, now).format("%Y-%m-%d %H:%M").to_string();
    let m = match key {
        "ledger-visit_title" => crate::msg!("ledger-visit_title", unit = units, filters = filters, at = at),
        _ => crate::msg!("ledger-supervision_title", unit = units, filters = filters, at = at),
    };
    Ok(render(lang, &m))
}

fn sheet_name(q: &LedgerQuery) -> &'static str {
    match q {
        LedgerQuery::VisitLogs(_) => "ledger-visit_sheet",
        LedgerQuery::Supervision(_) => "ledger-supervision_sheet",
    }
}

fn write_row(sheet: &mut Worksheet, row: u32, cells: &[Cell], tz: chrono_tz::Tz, f: &RowFormats) -> Result<(), XlsxError> {
    for (col, c) in cells.iter().enumerate() {
        let col = col as u16;
        match c {
            // A string cell, never a formula, whatever was typed.
            Cell::Text(s) => {
                sheet.write_string(row, col, s)?;
            }
            Cell::Long(s) => {
                sheet.write_string_with_format(row, col, s, &f.wrap)?;
            }
            Cell::Int(n) => {
                sheet.write_number(row, col, *n as f64)?;
            }
            Cell::Hours(h) => {
                sheet.write_number_with_format(row, col, *h, &f.hours)?;
            }
            Cell::Time(Some(t)) => {
                sheet.write_datetime_with_format(row, col, local(tz, *t), &f.time)?;
            }
            Cell::Time(None) => {}
            Cell::Date(d) => {
                sheet.write_date_with_format(row, col, d, &f.date)?;
            }
        }
    }
    Ok(())
}

struct RowFormats {
    time: Format,
    date: Format,
    wrap: Format,
    hours: Format,
}

/// A ledger as one sheet, written in constant memory to a temporary file (rewound) for the
/// handler to send: every page of the filter's rows, reveals recorded as in the CSV.
pub fn workbook(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    tz: chrono_tz::Tz,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<std::fs::File> {
    // The first page before anything else: a bad filter or a refused reveal is answered as such.
    let mut page = q.page(conn, actor, None, tz, lang, now)?;
    let title = title(conn, actor, q, lang, tz, now)?;
    let mut workbook = Workbook::new();
    let (bold, title_format, time, wrap) = formats();
    let f = RowFormats { time, date: Format::new().set_num_format("yyyy-mm-dd"), wrap, hours: Format::new().set_num_format("0.0") };
    let headers = q.headers();
    let sheet = workbook.add_worksheet_with_constant_memory();
    sheet.set_name(text(lang, sheet_name(q))).map_err(failed)?;
    for (col, w) in q.widths().iter().enumerate() {
        sheet.set_column_width(col as u16, *w).map_err(failed)?;
    }
    sheet.merge_range(0, 0, 0, (headers.len() - 1) as u16, &title, &title_format).map_err(failed)?;
    for (col, key) in headers.iter().enumerate() {
        sheet.write_string_with_format(1, col as u16, text(lang, key), &bold).map_err(failed)?;
    }
    sheet.set_freeze_panes(2, 0).map_err(failed)?;
    let mut row: u32 = 2;
    loop {
        for cells in &page.rows {
            write_row(sheet, row, cells, tz, &f).map_err(failed)?;
            row += 1;
        }
        match page.next_cursor.take() {
            Some(cursor) => page = q.page(conn, actor, Some(cursor), tz, lang, now)?,
            None => break,
        }
    }
    let mut file = tempfile::tempfile().map_err(|e| AppError::internal_msg(format!("xlsx temporary file: {e}")))?;
    workbook.save_to_writer(&mut file).map_err(failed)?;
    file.seek(SeekFrom::Start(0)).map_err(|e| AppError::internal_msg(format!("xlsx temporary file: {e}")))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_free_text_are_masked() {
        assert_eq!(
            mask_numbers("李阿姨13812345678反映，身份证11010519491231002X，3楼"),
            "李阿姨138****5678反映，身份证1101**********002X，3楼"
        );
        assert_eq!(mask_numbers("座机 5551234"), "座机 *****34");
        assert_eq!(mask_numbers("2026年走访12户"), "2026年走访12户");
    }

    #[test]
    fn names_keep_the_surname() {
        assert_eq!(mask_name("李秀兰"), "李**");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name(""), "");
    }
}
