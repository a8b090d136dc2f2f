//! The consultation's ledgers as XLSX workbooks (#19): a compound's results list (业绩清单) of a
//! period, and its evaluations (两评价) of every year. Both are small (a compound's actions and
//! yearly ratings), built from the same views as the pages and the API, in memory; headers and
//! words from the catalogue, a title row with the compound and period, the header row frozen,
//! days as real Excel dates, scores and rates as real numbers.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::app::consult::{EvaluationView, ResultsView};
use crate::app::AppResult;
use crate::i18n::{render, text, Lang};

use super::xlsx::{failed, formats, local};

const DATE: &str = "yyyy-mm-dd";

fn w(res: Result<&mut Worksheet, XlsxError>) -> AppResult<()> {
    res.map(|_| ()).map_err(failed)
}

/// Title, then the header row (bold, frozen), the columns as wide as given.
fn head(sheet: &mut Worksheet, title: &str, headers: &[(&'static str, f64)], lang: Lang, first_row: u32) -> AppResult<()> {
    let (bold, title_format, _, _) = formats();
    sheet.merge_range(0, 0, 0, (headers.len() - 1) as u16, title, &title_format).map_err(failed)?;
    for (col, (key, width)) in headers.iter().enumerate() {
        sheet.set_column_width(col as u16, *width).map_err(failed)?;
        w(sheet.write_string_with_format(first_row, col as u16, text(lang, key), &bold))?;
    }
    sheet.set_freeze_panes(first_row + 1, 1).map_err(failed)?;
    Ok(())
}

/// 业绩清单 of a compound and period: a summary line, then one row per action (as the results
/// page lists them, free text masked the same way).
pub fn results_workbook(r: &ResultsView, lang: Lang, tz: chrono_tz::Tz) -> AppResult<Vec<u8>> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(text(lang, "xlsx-results_sheet")).map_err(failed)?;
    let title = render(
        lang,
        &crate::msg!(
            "xlsx-results_title",
            compound = r.compound_name.clone(),
            period = r.period.clone(),
            from = r.first_day.to_string(),
            to = r.last_day.to_string(),
            at = local(tz, r.computed_at).format("%Y-%m-%d %H:%M").to_string()
        ),
    );
    let headers: [(&'static str, f64); 11] = [
        ("xlsx-results_item", 26.0),
        ("xlsx-results_decision", 36.0),
        ("consult-responsible", 12.0),
        ("xlsx-results_held_on", 12.0),
        ("consult-due_on", 12.0),
        ("xlsx-results_done_on", 12.0),
        ("xlsx-results_timeliness", 11.0),
        ("xlsx-results_outcome", 36.0),
        ("xlsx-results_tickets", 9.0),
        ("xlsx-results_satisfied", 9.0),
        ("xlsx-results_not_satisfied", 9.0),
    ];
    head(sheet, &title, &headers, lang, 2)?;
    let summary = render(
        lang,
        &crate::msg!("xlsx-results_summary", on_time = r.done_on_time, late = r.done_late, overdue = r.overdue, running = r.running),
    );
    sheet.merge_range(1, 0, 1, (headers.len() - 1) as u16, &summary, &Format::new()).map_err(failed)?;
    let date = Format::new().set_num_format(DATE);
    let wrap = Format::new().set_text_wrap();
    for (i, item) in r.items.iter().enumerate() {
        let row = 3 + i as u32;
        w(sheet.write_string_with_format(row, 0, &item.title, &wrap))?;
        w(sheet.write_string_with_format(row, 1, &item.decision, &wrap))?;
        w(sheet.write_string(row, 2, text(lang, item.responsible.label_key())))?;
        match item.held_on {
            Some(d) => w(sheet.write_date_with_format(row, 3, d, &date))?,
            None => w(sheet.write_string(row, 3, "—"))?,
        }
        w(sheet.write_date_with_format(row, 4, item.due_on, &date))?;
        match item.done_on {
            Some(d) => w(sheet.write_date_with_format(row, 5, d, &date))?,
            None => w(sheet.write_string(row, 5, "—"))?,
        }
        w(sheet.write_string(row, 6, text(lang, item.timeliness.label_key())))?;
        w(sheet.write_string_with_format(row, 7, item.outcome.as_deref().unwrap_or(""), &wrap))?;
        w(sheet.write_number(row, 8, item.tickets as f64))?;
        w(sheet.write_number(row, 9, item.satisfied as f64))?;
        w(sheet.write_number(row, 10, item.not_satisfied as f64))?;
    }
    workbook.save_to_buffer().map_err(failed)
}

/// 两评价 of a compound, every year on record (the latest first): one row per evaluation with its
/// total, verdict, each criterion's score, the residents' score and the evidence it was given with.
pub fn evaluations_workbook(
    compound_name: &str,
    history: &[EvaluationView],
    lang: Lang,
    tz: chrono_tz::Tz,
    now: chrono::NaiveDateTime,
) -> AppResult<Vec<u8>> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(text(lang, "xlsx-evaluations_sheet")).map_err(failed)?;
    let title = render(
        lang,
        &crate::msg!(
            "xlsx-evaluations_title",
            compound = compound_name.to_string(),
            at = local(tz, now).format("%Y-%m-%d %H:%M").to_string()
        ),
    );
    let headers: [(&'static str, f64); 15] = [
        ("xlsx-evaluations_year", 8.0),
        ("xlsx-evaluations_party", 12.0),
        ("xlsx-evaluations_subject", 24.0),
        ("xlsx-evaluations_total", 8.0),
        ("xlsx-evaluations_verdict", 10.0),
        ("xlsx-evaluations_scores", 44.0),
        ("xlsx-evaluations_resident", 10.0),
        ("xlsx-evaluations_comment", 30.0),
        ("xlsx-evaluations_complaints", 10.0),
        ("xlsx-evaluations_complaints_before", 10.0),
        ("xlsx-evaluations_overdue", 10.0),
        ("xlsx-evaluations_dissatisfied", 12.0),
        ("xlsx-evaluations_actions", 22.0),
        ("xlsx-evaluations_by", 10.0),
        ("xlsx-evaluations_at", 17.0),
    ];
    head(sheet, &title, &headers, lang, 1)?;
    let (_, _, date_time, wrap) = formats();
    let decimal = Format::new().set_num_format("0.0");
    for (i, e) in history.iter().enumerate() {
        let row = 2 + i as u32;
        let ev = &e.evidence;
        w(sheet.write_number(row, 0, e.year as f64))?;
        w(sheet.write_string(row, 1, text(lang, e.party.label_key())))?;
        w(sheet.write_string(row, 2, &e.subject_name))?;
        w(sheet.write_number_with_format(row, 3, e.total, &decimal))?;
        w(sheet.write_string(row, 4, text(lang, e.verdict.label_key())))?;
        let scores: Vec<String> = e
            .scores
            .iter()
            .map(|s| {
                let name = if lang == Lang::En { &s.name_en } else { &s.name_zh };
                let cell = crate::msg!(
                    "xlsx-evaluations_score_cell",
                    name = name.clone(),
                    weight = s.weight.to_string(),
                    score = s.score.to_string()
                );
                match s.comment.trim() {
                    "" => render(lang, &cell),
                    c => format!("{}（{c}）", render(lang, &cell)),
                }
            })
            .collect();
        w(sheet.write_string_with_format(row, 5, scores.join("；"), &wrap))?;
        match e.resident_score {
            Some(s) => w(sheet.write_number_with_format(row, 6, s, &decimal))?,
            None => w(sheet.write_string(row, 6, "—"))?,
        }
        w(sheet.write_string_with_format(row, 7, &e.comment, &wrap))?;
        w(sheet.write_number(row, 8, ev.property_complaints as f64))?;
        w(sheet.write_number(row, 9, ev.property_complaints_year_before as f64))?;
        w(sheet.write_number(row, 10, ev.property_overdue as f64))?;
        w(sheet.write_string(row, 11, format!("{}/{}", ev.property_dissatisfied, ev.property_visited)))?;
        let actions = render(
            lang,
            &crate::msg!(
                "xlsx-evaluations_actions_cell",
                on_time = ev.actions_on_time,
                late = ev.actions_late,
                overdue = ev.actions_overdue,
                running = ev.actions_running
            ),
        );
        w(sheet.write_string(row, 12, actions))?;
        w(sheet.write_string(row, 13, &e.evaluated_by))?;
        w(sheet.write_datetime_with_format(row, 14, local(tz, e.evaluated_at), &date_time))?;
    }
    workbook.save_to_buffer().map_err(failed)
}
