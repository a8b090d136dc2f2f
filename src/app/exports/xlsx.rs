//! The ledgers as XLSX workbooks (台账, Excel): the ticket ledger (one sheet, its rows from the
//! same [`super::ledger_page`] as the CSV) and a ranking (one sheet per peer group). Chinese
//! headers from the catalogue, a title row with the unit and period or filters, a frozen header
//! row, column widths, times as real Excel dates and rates as real numbers with a percentage format.
//!
//! Memory: the ticket ledger's sheet is written in rust_xlsxwriter's constant-memory mode (each
//! row goes to a temporary file once the next one starts, strings inline), the rows read a page
//! at a time, and the finished workbook is written to a temporary file that the handler streams.
//! So a large ledger holds one page of rows and one row of cells in memory, not the sheet.

use std::io::{Seek, SeekFrom};

use chrono::{NaiveDateTime, TimeZone};
use rust_xlsxwriter::{Format, FormatAlign, Workbook, Worksheet, XlsxError};

use crate::app::reports::{self, Figure, RankingQuery, ReportContext, UnitRanking};
use crate::db::DbConn;
use crate::domain::workflow::TicketState;
use crate::domain::Actor;
use crate::i18n::{render, text, Lang};

use super::{ledger_page, ExportFilter, HEADERS};
use crate::app::{AppError, AppResult};

pub(crate) fn failed(e: XlsxError) -> AppError {
    AppError::internal_msg(format!("xlsx: {e}"))
}

/// The Excel format of a time: the date and the minute, as the offices write them.
pub(crate) const DATE_TIME: &str = "yyyy-mm-dd hh:mm";
/// Rates: two decimals of a percent.
pub(crate) const PERCENT: &str = "0.00%";

/// The widths of the ticket ledger's columns (in characters), in [`HEADERS`] order.
const TICKET_WIDTHS: [f64; 11] = [18.0, 17.0, 14.0, 9.0, 40.0, 16.0, 17.0, 9.0, 9.0, 12.0, 15.0];

/// A China wall time for an instant stored in UTC.
pub(crate) fn local(tz: chrono_tz::Tz, t: NaiveDateTime) -> NaiveDateTime {
    tz.from_utc_datetime(&t).naive_local()
}

/// What the ticket ledger was asked for, in words: the unit and each filter set.
fn ticket_title(
    conn: &mut DbConn,
    actor: &Actor,
    f: &ExportFilter,
    lang: Lang,
    tz: chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<String> {
    // `within` is named only when the caller may see that unit (the list answers nothing for
    // another one, and the title should not name it either).
    let within = match f.within.as_deref().map(str::parse::<crate::domain::OrgUnitId>) {
        Some(Ok(id)) => crate::app::org::get_unit(conn, actor, &id).ok().map(|u| u.name),
        _ => None,
    };
    let units: Vec<String> = match within {
        Some(name) => vec![name],
        None => {
            let unit_ids: Vec<String> = actor.grants.iter().map(|g| g.org_unit_id.to_string()).collect();
            let names = crate::app::org::names_of(conn, &unit_ids)?;
            let mut units: Vec<String> = unit_ids.iter().filter_map(|id| names.get(id).cloned()).collect();
            units.dedup();
            units
        }
    };
    let mut filters: Vec<String> = vec![];
    let mut add = |key: &'static str, value: String| filters.push(format!("{}：{value}", text(lang, key)));
    if let Some(states) = &f.state {
        let words: Vec<String> = states
            .split(',')
            .map(|s| TicketState::ALL.iter().find(|x| x.as_str() == s.trim()).map(|x| text(lang, x.label_key())).unwrap_or(s.to_string()))
            .collect();
        add("field-export_state", words.join("、"));
    }
    if let Some(c) = &f.category_id {
        let name = crate::app::catalogue::list_categories(conn, true)?
            .into_iter()
            .find(|x| &x.id == c)
            .map(|x| if lang == Lang::En { x.name_en } else { x.name_zh })
            .unwrap_or_else(|| c.clone());
        add("field-export_category", name);
    }
    if let Some(u) = f.urgency {
        add(
            "field-export_urgency",
            text(lang, if matches!(u, crate::app::catalogue::Urgency::Urgent) { "urgency-urgent" } else { "urgency-normal" }),
        );
    }
    if let Some(o) = f.overdue {
        add("field-export_overdue", text(lang, if o { "field-export_yes" } else { "field-export_no" }));
    }
    if f.from.is_some() || f.to.is_some() {
        let d = |x: Option<chrono::NaiveDate>| x.map(|d| d.to_string()).unwrap_or_default();
        add("field-export_filed_at", format!("{} – {}", d(f.from), d(f.to)));
    }
    if let Some(q) = &f.q {
        add("xlsx-filter_words", q.clone());
    }
    if f.resident_phone.is_some() {
        // Never the number itself: the title is read by whoever gets the file.
        add("xlsx-filter_phone", text(lang, "field-export_yes"));
    }
    if f.reveal == Some(true) {
        add("xlsx-filter_revealed", text(lang, "field-export_yes"));
    }
    let filters = if filters.is_empty() { text(lang, "xlsx-no_filters") } else { filters.join("；") };
    let at = local(tz, now).format("%Y-%m-%d %H:%M").to_string();
    Ok(render(lang, &crate::msg!("xlsx-tickets_title", unit = units.join("、"), filters = filters, at = at)))
}

/// The ticket ledger as one sheet, written to a temporary file (rewound) for the handler to send.
/// The rows of every page of the list's filter, in the list's order; reveals recorded as in the CSV.
pub fn tickets_workbook(
    conn: &mut DbConn,
    actor: &Actor,
    f: &ExportFilter,
    tz: chrono_tz::Tz,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<std::fs::File> {
    // The first page before anything else: a bad filter or a refused reveal is answered as such.
    let mut page = ledger_page(conn, actor, f, None, lang, now)?;
    let title = ticket_title(conn, actor, f, lang, tz, now)?;
    let mut workbook = Workbook::new();
    let (bold, title_format, date, wrap) = formats();
    let sheet = workbook.add_worksheet_with_constant_memory();
    sheet.set_name(text(lang, "xlsx-tickets_sheet")).map_err(failed)?;
    for (col, w) in TICKET_WIDTHS.iter().enumerate() {
        sheet.set_column_width(col as u16, *w).map_err(failed)?;
    }
    sheet.merge_range(0, 0, 0, (HEADERS.len() - 1) as u16, &title, &title_format).map_err(failed)?;
    for (col, key) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(1, col as u16, text(lang, key), &bold).map_err(failed)?;
    }
    sheet.set_freeze_panes(2, 0).map_err(failed)?;
    let mut row: u32 = 2;
    loop {
        for r in &page.rows {
            write_ticket(sheet, row, r, tz, lang, &date, &wrap).map_err(failed)?;
            row += 1;
        }
        match page.next_cursor.take() {
            Some(cursor) => page = ledger_page(conn, actor, f, Some(cursor), lang, now)?,
            None => break,
        }
    }
    let mut file = tempfile::tempfile().map_err(|e| AppError::internal_msg(format!("xlsx temporary file: {e}")))?;
    workbook.save_to_writer(&mut file).map_err(failed)?;
    file.seek(SeekFrom::Start(0)).map_err(|e| AppError::internal_msg(format!("xlsx temporary file: {e}")))?;
    Ok(file)
}

pub(crate) fn formats() -> (Format, Format, Format, Format) {
    let bold = Format::new().set_bold().set_background_color("#E7EEF7");
    let title = Format::new().set_bold().set_font_size(13).set_align(FormatAlign::Left);
    let date = Format::new().set_num_format(DATE_TIME);
    let wrap = Format::new().set_text_wrap();
    (bold, title, date, wrap)
}

fn write_ticket(
    sheet: &mut Worksheet,
    row: u32,
    r: &super::LedgerRow,
    tz: chrono_tz::Tz,
    lang: Lang,
    date: &Format,
    wrap: &Format,
) -> Result<(), XlsxError> {
    sheet.write_string(row, 0, &r.number)?;
    sheet.write_datetime_with_format(row, 1, local(tz, r.filed_at), date)?;
    sheet.write_string(row, 2, &r.category)?;
    sheet.write_string(row, 3, &r.urgency)?;
    // A string cell, never a formula, whatever the resident typed.
    sheet.write_string_with_format(row, 4, &r.title, wrap)?;
    sheet.write_string(row, 5, &r.state)?;
    if let Some(due) = r.due_at {
        sheet.write_datetime_with_format(row, 6, local(tz, due), date)?;
    }
    sheet.write_string(row, 7, text(lang, if r.overdue { "field-export_yes" } else { "field-export_no" }))?;
    sheet.write_number(row, 8, r.reopens)?;
    sheet.write_string(row, 9, &r.resident_name)?;
    sheet.write_string(row, 10, &r.resident_phone)?;
    Ok(())
}

/// Which figure of a unit's line a column shows.
type FigureOf = fn(&UnitRanking) -> &Figure;

/// The ratios of a ranking's sheet, each as numerator, denominator and rate columns.
const RATIOS: [(&str, FigureOf); 7] = [
    ("rank-response", |u| &u.response),
    ("rank-resolution", |u| &u.resolution),
    ("rank-satisfaction", |u| &u.satisfaction),
    ("rank-on_time", |u| &u.on_time),
    ("rank-returns", |u| &u.returns),
    ("rank-reopens", |u| &u.reopens),
    ("rank-extensions", |u| &u.extensions),
];

/// The ranking of `q` as a workbook (bytes): one sheet per peer group, a title row with the unit,
/// the period and when it was computed, the header row frozen; every ratio as numerator,
/// denominator and rate (a number formatted as a percentage); rank and score as numbers, "—"
/// for a unit not ranked.
pub fn rankings_workbook(
    conn: &mut DbConn,
    ctx: ReportContext<'_>,
    actor: &Actor,
    q: RankingQuery,
    lang: Lang,
    now: NaiveDateTime,
) -> AppResult<Vec<u8>> {
    let r = reports::rankings(conn, ctx, actor, q, now)?;
    let mut workbook = Workbook::new();
    let (bold, title_format, _, _) = formats();
    let percent = Format::new().set_num_format(PERCENT);
    let decimal = Format::new().set_num_format("0.00");
    let title = render(
        lang,
        &crate::msg!(
            "xlsx-rankings_title",
            unit = r.unit_name.clone(),
            period = r.period.clone(),
            from = r.from.to_string(),
            to = r.to.to_string(),
            at = local(ctx.tz, r.computed_at).format("%Y-%m-%d %H:%M").to_string()
        ),
    );
    let mut headers: Vec<String> = vec![text(lang, "rank-unit"), text(lang, "rank-rank"), text(lang, "rank-score")];
    for (key, _) in RATIOS {
        let name = text(lang, key);
        headers.push(render(lang, &crate::msg!("xlsx-numerator", measure = name.clone())));
        headers.push(render(lang, &crate::msg!("xlsx-denominator", measure = name.clone())));
        headers.push(name);
    }
    for key in
        ["rank-volume", "rank-overdue", "rank-overdue_hours", "rank-overdue_working_hours", "rank-open_at_end", "rank-flags", "rank-list"]
    {
        headers.push(text(lang, key));
    }
    for g in &r.groups {
        let sheet = workbook.add_worksheet();
        sheet.set_name(text(lang, g.kind.label_key())).map_err(failed)?;
        sheet.set_column_width(0, 20).map_err(failed)?;
        for col in 1..headers.len() as u16 {
            sheet.set_column_width(col, 11).map_err(failed)?;
        }
        sheet.merge_range(0, 0, 0, (headers.len() - 1) as u16, &title, &title_format).map_err(failed)?;
        for (col, h) in headers.iter().enumerate() {
            sheet.write_string_with_format(1, col as u16, h, &bold).map_err(failed)?;
        }
        sheet.set_freeze_panes(2, 1).map_err(failed)?;
        for (i, u) in g.units.iter().enumerate() {
            let row = 2 + i as u32;
            let w = |res: Result<&mut Worksheet, XlsxError>| res.map(|_| ()).map_err(failed);
            w(sheet.write_string(row, 0, &u.unit_name))?;
            match (u.rank, u.score) {
                (Some(rank), Some(score)) => {
                    w(sheet.write_number(row, 1, rank as f64))?;
                    w(sheet.write_number_with_format(row, 2, score, &decimal))?;
                }
                _ => {
                    w(sheet.write_string(row, 1, "—"))?;
                    w(sheet.write_string(row, 2, "—"))?;
                }
            }
            let mut col: u16 = 3;
            for (_, figure) in RATIOS {
                let f = figure(u);
                w(sheet.write_number(row, col, f.numerator as f64))?;
                w(sheet.write_number(row, col + 1, f.denominator as f64))?;
                match f.rate {
                    Some(rate) => w(sheet.write_number_with_format(row, col + 2, rate, &percent))?,
                    None => w(sheet.write_string(row, col + 2, "—"))?,
                }
                col += 3;
            }
            w(sheet.write_number(row, col, u.volume.count as f64))?;
            w(sheet.write_number(row, col + 1, u.overdue.numerator as f64))?;
            w(sheet.write_number_with_format(row, col + 2, u.overdue_hours, &decimal))?;
            w(sheet.write_number_with_format(row, col + 3, u.overdue_working_hours, &decimal))?;
            w(sheet.write_number(row, col + 4, u.open_at_end.count as f64))?;
            let flags: Vec<String> = u.flags.iter().map(|m| text(lang, measure_key(*m))).collect();
            w(sheet.write_string(row, col + 5, flags.join("、")))?;
            let list = if g.red_list.contains(&u.unit_id) {
                text(lang, "rank-red_list")
            } else if g.yellow_list.contains(&u.unit_id) {
                text(lang, "rank-yellow_list")
            } else {
                String::new()
            };
            w(sheet.write_string(row, col + 6, list))?;
        }
    }
    if r.groups.is_empty() {
        // A unit with nothing below it: one sheet with the title, so the file still opens.
        let sheet = workbook.add_worksheet();
        sheet.merge_range(0, 0, 0, (headers.len() - 1) as u16, &title, &title_format).map_err(failed)?;
        for (col, h) in headers.iter().enumerate() {
            sheet.write_string_with_format(1, col as u16, h, &bold).map_err(failed)?;
        }
        sheet.set_freeze_panes(2, 1).map_err(failed)?;
    }
    workbook.save_to_buffer().map_err(failed)
}

/// The catalogue key of a measure's name (the rankings' column headers).
pub fn measure_key(m: crate::domain::reports::Measure) -> &'static str {
    use crate::domain::reports::Measure;
    match m {
        Measure::Response => "rank-response",
        Measure::Resolution => "rank-resolution",
        Measure::Satisfaction => "rank-satisfaction",
        Measure::Volume => "rank-volume",
        Measure::OnTime => "rank-on_time",
        Measure::Overdue => "rank-overdue",
        Measure::Returns => "rank-returns",
        Measure::Reopens => "rank-reopens",
        Measure::Extensions => "rank-extensions",
        Measure::OpenAtEnd => "rank-open_at_end",
    }
}

/// One table of the bulletin's workbook: its sheet name, headers and column widths.
fn bulletin_sheet<'w>(
    workbook: &'w mut Workbook,
    lang: Lang,
    name_key: &'static str,
    title: &str,
    headers: &[String],
    first_width: f64,
) -> AppResult<&'w mut Worksheet> {
    let (bold, title_format, _, _) = formats();
    let sheet = workbook.add_worksheet();
    sheet.set_name(text(lang, name_key)).map_err(failed)?;
    sheet.set_column_width(0, first_width).map_err(failed)?;
    for col in 1..headers.len().max(2) as u16 {
        sheet.set_column_width(col, 12).map_err(failed)?;
    }
    let sheet_title = format!("{title} · {}", text(lang, name_key));
    if headers.len() > 1 {
        sheet.merge_range(0, 0, 0, (headers.len() - 1) as u16, &sheet_title, &title_format).map_err(failed)?;
    } else {
        sheet.write_string_with_format(0, 0, &sheet_title, &title_format).map_err(failed)?;
    }
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(1, col as u16, h, &bold).map_err(failed)?;
    }
    sheet.set_freeze_panes(2, 1).map_err(failed)?;
    Ok(sheet)
}

/// A rate as a number with a percentage format, or "—" without one.
fn write_rate(sheet: &mut Worksheet, row: u32, col: u16, rate: Option<f64>, percent: &Format) -> AppResult<()> {
    match rate {
        Some(r) => sheet.write_number_with_format(row, col, r, percent).map(|_| ()).map_err(failed),
        None => sheet.write_string(row, col, "—").map(|_| ()).map_err(failed),
    }
}

/// The bulletin (通报) as a workbook: one sheet per table of the page — the ranking (every peer
/// group, its kind in the first column), the 三率 trend, the volume by category per month, the
/// overdue count per unit, the property-service complaints year on year and, when the page has
/// it, visit-log compliance per compound. A title row with the unit and the period, Chinese
/// headers (the caller's language) in a frozen row, rates as numbers formatted as percentages.
pub fn bulletin_workbook(b: &reports::trend::Bulletin, lang: Lang, tz: chrono_tz::Tz) -> AppResult<Vec<u8>> {
    let r = &b.rankings;
    let title = render(
        lang,
        &crate::msg!(
            "bulletin-xlsx_title",
            unit = r.unit_name.clone(),
            period = r.period.clone(),
            at = local(tz, r.computed_at).format("%Y-%m-%d %H:%M").to_string()
        ),
    );
    let percent = Format::new().set_num_format(PERCENT);
    let decimal = Format::new().set_num_format("0.00");
    let t = |key: &'static str| text(lang, key);
    let mut workbook = Workbook::new();
    let w = |res: Result<&mut Worksheet, XlsxError>| res.map(|_| ()).map_err(failed);

    // The ranking.
    let headers: Vec<String> = [
        "bulletin-peer_group",
        "rank-unit",
        "rank-rank",
        "rank-score",
        "rank-response",
        "rank-resolution",
        "rank-satisfaction",
        "rank-volume",
        "rank-overdue",
        "rank-list",
    ]
    .into_iter()
    .map(t)
    .collect();
    let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_ranking", &title, &headers, 10.0)?;
    sheet.set_column_width(1, 20).map_err(failed)?;
    let mut row = 2u32;
    for g in &r.groups {
        for u in &g.units {
            w(sheet.write_string(row, 0, t(g.kind.label_key())))?;
            w(sheet.write_string(row, 1, &u.unit_name))?;
            match (u.rank, u.score) {
                (Some(rank), Some(score)) => {
                    w(sheet.write_number(row, 2, rank as f64))?;
                    w(sheet.write_number_with_format(row, 3, score, &decimal))?;
                }
                _ => {
                    w(sheet.write_string(row, 2, "—"))?;
                    w(sheet.write_string(row, 3, "—"))?;
                }
            }
            write_rate(sheet, row, 4, u.response.rate, &percent)?;
            write_rate(sheet, row, 5, u.resolution.rate, &percent)?;
            write_rate(sheet, row, 6, u.satisfaction.rate, &percent)?;
            w(sheet.write_number(row, 7, u.volume.count as f64))?;
            w(sheet.write_number(row, 8, u.overdue.numerator as f64))?;
            let list = if g.red_list.contains(&u.unit_id) {
                t("rank-red_list")
            } else if g.yellow_list.contains(&u.unit_id) {
                t("rank-yellow_list")
            } else {
                String::new()
            };
            w(sheet.write_string(row, 9, list))?;
            row += 1;
        }
    }

    // The trend.
    let headers: Vec<String> =
        ["bulletin-month", "rank-response", "rank-resolution", "rank-satisfaction", "rank-score", "rank-volume", "rank-overdue"]
            .into_iter()
            .map(t)
            .collect();
    let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_trend", &title, &headers, 10.0)?;
    for (i, m) in b.trend.iter().enumerate() {
        let row = 2 + i as u32;
        w(sheet.write_string(row, 0, &m.month))?;
        write_rate(sheet, row, 1, m.line.response.rate, &percent)?;
        write_rate(sheet, row, 2, m.line.resolution.rate, &percent)?;
        write_rate(sheet, row, 3, m.line.satisfaction.rate, &percent)?;
        match m.line.score {
            Some(s) => w(sheet.write_number_with_format(row, 4, s, &decimal))?,
            None => w(sheet.write_string(row, 4, "—"))?,
        }
        w(sheet.write_number(row, 5, m.line.volume.count as f64))?;
        w(sheet.write_number(row, 6, m.line.overdue.numerator as f64))?;
    }

    // The volume by category.
    let mut headers: Vec<String> = vec![t("bulletin-month")];
    headers.extend(b.volume.categories.iter().cloned());
    headers.push(t("bulletin-total"));
    let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_volume", &title, &headers, 10.0)?;
    for (m, month) in b.volume.months.iter().enumerate() {
        let row = 2 + m as u32;
        w(sheet.write_string(row, 0, month))?;
        for (c, counts) in b.volume.counts.iter().enumerate() {
            w(sheet.write_number(row, 1 + c as u16, counts[m] as f64))?;
        }
        w(sheet.write_number(row, 1 + b.volume.counts.len() as u16, b.volume.month_total(m) as f64))?;
    }

    // The overdue count per unit.
    let headers: Vec<String> = ["rank-unit", "bulletin-overdue_count"].into_iter().map(t).collect();
    let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_overdue", &title, &headers, 20.0)?;
    for (i, o) in b.overdue.iter().enumerate() {
        w(sheet.write_string(2 + i as u32, 0, &o.unit_name))?;
        w(sheet.write_number(2 + i as u32, 1, o.overdue as f64))?;
    }

    // Property-service complaints year on year.
    let headers: Vec<String> = vec![
        t("bulletin-compound"),
        render(lang, &crate::msg!("bulletin-this_period", period = r.period.clone())),
        render(lang, &crate::msg!("bulletin-prior_period", period = b.prior_period.clone())),
        t("bulletin-yoy"),
    ];
    let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_property", &title, &headers, 20.0)?;
    for (i, p) in b.property.iter().enumerate() {
        let row = 2 + i as u32;
        w(sheet.write_string(row, 0, &p.compound_name))?;
        w(sheet.write_number(row, 1, p.this_year as f64))?;
        w(sheet.write_number(row, 2, p.last_year as f64))?;
        write_rate(sheet, row, 3, p.change(), &percent)?;
    }

    // Visit-log compliance per compound, when the bulletin has it.
    if let Some(c) = &b.compliance {
        let headers: Vec<String> =
            ["bulletin-compound", "bulletin-logs_expected", "bulletin-logs_filed", "bulletin-compliance_rate"].into_iter().map(t).collect();
        let sheet = bulletin_sheet(&mut workbook, lang, "bulletin-sheet_compliance", &title, &headers, 20.0)?;
        for (i, x) in c.compounds.iter().enumerate() {
            let row = 2 + i as u32;
            w(sheet.write_string(row, 0, &x.compound_name))?;
            w(sheet.write_number(row, 1, x.expected as f64))?;
            w(sheet.write_number(row, 2, x.filed as f64))?;
            write_rate(sheet, row, 3, Some(x.rate), &percent)?;
        }
    }
    workbook.save_to_buffer().map_err(failed)
}
