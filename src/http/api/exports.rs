//! Ledger exports (台账导出), streamed page by page.

use actix_web::{web, HttpResponse};
use futures_util::stream;

use crate::app::exports::{tickets_csv_page, CsvPage, ExportFilter};
use crate::app::reports::RankingQuery;
use crate::app::utc_now;
use crate::domain::Actor;
use crate::http::context::{run_report, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::i18n::Lang;

/// One page of the export, through the pool like every read (reveals and a search by phone are
/// recorded: a write).
async fn page(
    state: &AppState,
    actor: Actor,
    f: ExportFilter,
    cursor: Option<String>,
    lang: Lang,
    first: bool,
) -> Result<CsvPage, ApiError> {
    let tz = state.visits.tz;
    if f.writes() {
        run_write(state, lang, move |c| tickets_csv_page(c, &actor, &f, cursor.clone(), tz, lang, first, utc_now())).await
    } else {
        run_report(state, actor.person_id, lang, move |c| tickets_csv_page(c, &actor, &f, cursor, tz, lang, first, utc_now())).await
    }
}

/// 台账导出: the tickets of `GET /api/v1/tickets` with the same filters and scope (no paging: all
/// of them), newest first, as CSV in UTF-8 with a byte-order mark (Excel opens the Chinese headers
/// as such), headers in the caller's language. Residents' phones masked; `reveal=true` shows them
/// where the caller may reveal them (403 for roles that may not), each recorded as a reveal.
/// Streamed a page at a time: a bad filter is refused (JSON) before the first byte; a database
/// lost mid-way cuts the download short.
#[utoipa::path(get, path = "/api/v1/exports/tickets.csv", operation_id = "export_tickets_csv", tag = "reports", params(ExportFilter),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger, text/csv; charset=utf-8, with a BOM", content_type = "text/csv", body = String),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tickets_csv(state: web::Data<AppState>, auth: Auth, q: web::Query<ExportFilter>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, f) = (auth.who.actor, auth.lang, q.into_inner());
    let first = page(&state, actor.clone(), f.clone(), None, lang, true).await?;
    struct Next {
        pending: Option<Vec<u8>>,
        cursor: Option<String>,
        state: web::Data<AppState>,
        actor: Actor,
        filter: ExportFilter,
        lang: Lang,
    }
    let start = Next { pending: Some(first.bytes), cursor: first.next_cursor, state, actor, filter: f, lang };
    let body = stream::unfold(start, |mut s| async move {
        if let Some(bytes) = s.pending.take() {
            return Some((Ok::<_, std::io::Error>(web::Bytes::from(bytes)), s));
        }
        let cursor = s.cursor.take()?;
        match page(&s.state, s.actor.clone(), s.filter.clone(), Some(cursor), s.lang, false).await {
            Ok(p) => {
                s.cursor = p.next_cursor;
                Some((Ok(web::Bytes::from(p.bytes)), s))
            }
            Err(e) => {
                log::warn!("ticket export cut short: {e}");
                Some((Err(std::io::Error::other("export cut short")), s))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"tickets.csv\""))
        .streaming(body))
}

/// Sends a finished file a chunk at a time, each read off the async worker.
pub(crate) fn file_body(file: std::fs::File) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    use std::io::Read;
    const CHUNK: usize = 64 * 1024;
    stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buf = vec![0u8; CHUNK];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await;
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, file))) => Some((Ok(web::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    })
}

/// The MIME type of an .xlsx workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// 台账导出 (Excel): the same tickets, filters, scope, masking and recorded reveals as
/// `tickets.csv`, as one sheet: a title row with the unit and the filters, Chinese headers (the
/// caller's language) in a frozen row, column widths, times as Excel dates (China time). Written
/// in constant memory (a page of rows at a time, each sheet row flushed to a temporary file) and
/// sent from a temporary file.
#[utoipa::path(get, path = "/api/v1/exports/tickets.xlsx", operation_id = "export_tickets_xlsx", tag = "reports", params(ExportFilter),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, description = "forbidden: reveal=true for a role that may not reveal phones", body = ErrorBody),
        (status = 422, description = "validation_failed: a bad filter", body = ErrorBody)))]
pub async fn tickets_xlsx(state: web::Data<AppState>, auth: Auth, q: web::Query<ExportFilter>) -> Result<HttpResponse, ApiError> {
    let file = tickets_xlsx_file(&state, auth.who.actor, q.into_inner(), auth.lang).await?;
    Ok(xlsx_response("tickets.xlsx").streaming(file_body(file)))
}

/// The ticket ledger's workbook as a file, for the API and the pages alike.
pub async fn tickets_xlsx_file(state: &AppState, actor: Actor, f: ExportFilter, lang: Lang) -> Result<std::fs::File, ApiError> {
    let tz = state.visits.tz;
    if f.writes() {
        run_write(state, lang, move |c| crate::app::exports::xlsx::tickets_workbook(c, &actor, &f, tz, lang, utc_now())).await
    } else {
        run_report(state, actor.person_id, lang, move |c| crate::app::exports::xlsx::tickets_workbook(c, &actor, &f, tz, lang, utc_now()))
            .await
    }
}

pub(crate) fn xlsx_response(name: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.content_type(XLSX).insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")));
    b
}

/// 排名导出 (Excel): the ranking of `GET /api/v1/rankings` (same unit and period parameters and
/// defaults, same scope) as a workbook: one sheet per peer group, a title row with the unit, the
/// period and when it was computed, every ratio as numerator, denominator and rate (a number
/// formatted as a percentage), rank and score as numbers (— for a unit not ranked), the red and
/// yellow lists marked.
#[utoipa::path(get, path = "/api/v1/exports/rankings.xlsx", operation_id = "export_rankings_xlsx", tag = "reports", params(RankingQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ranking as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, body = ErrorBody),
        (status = 422, description = "validation_failed: a period that does not parse, from after to, a range too long; unknown_reference: no such unit in scope", body = ErrorBody)))]
pub async fn rankings_xlsx(state: web::Data<AppState>, auth: Auth, q: web::Query<RankingQuery>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, st) = (auth.who.actor, auth.lang, state.clone());
    let bytes = run_report(&state, actor.person_id, lang, move |c| {
        crate::app::exports::xlsx::rankings_workbook(c, super::reports::context(&st), &actor, q.into_inner(), lang, utc_now())
    })
    .await?;
    Ok(xlsx_response("rankings.xlsx").body(bytes))
}

/// 通报导出 (Excel): the monthly bulletin of `GET /rankings/bulletin` (same `unit`, `period`,
/// `from`, `to`, defaults and scope as `GET /api/v1/rankings`) as a workbook, one sheet per table:
/// the ranking (every peer group), the 三率 trend over the twelve months ending with the period,
/// the volume by category per month, the overdue count of each unit below, the property-service
/// complaints per compound year on year, and visit-log compliance per compound when the unit has
/// grid workers. A title row with the unit and the period, the header row frozen, rates as numbers
/// formatted as percentages.
#[utoipa::path(get, path = "/api/v1/exports/bulletin.xlsx", operation_id = "export_bulletin_xlsx", tag = "reports", params(RankingQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the bulletin as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, body = ErrorBody),
        (status = 422, description = "validation_failed: a period that does not parse, from after to, a range too long; unknown_reference: no such unit in scope", body = ErrorBody)))]
pub async fn bulletin_xlsx(state: web::Data<AppState>, auth: Auth, q: web::Query<RankingQuery>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, st) = (auth.who.actor, auth.lang, state.clone());
    let tz = state.visits.tz;
    let bytes = run_report(&state, actor.person_id, lang, move |c| {
        let b =
            crate::app::reports::trend::bulletin(c, super::reports::context(&st), st.visits(), &actor, q.into_inner(), lang, utc_now())?;
        crate::app::exports::xlsx::bulletin_workbook(&b, lang, tz)
    })
    .await?;
    Ok(xlsx_response("bulletin.xlsx").body(bytes))
}
