//! The visit-log and supervision ledgers (走访日志台账、督办台账), streamed page by page, and the
//! visit-work figures of the compounds below a unit (走访工作排名).

use actix_web::{web, HttpResponse};
use futures_util::stream;

use crate::app::exports::CsvPage;
use crate::app::ledgers::{csv_page, LedgerQuery, SupervisionExport, VisitLogExport};
use crate::app::reports::RankingQuery;
use crate::app::utc_now;
use crate::app::visit_report::VisitRankings;
use crate::domain::Actor;
use crate::http::context::{run_report, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::i18n::Lang;

use super::exports::{file_body, xlsx_response};

/// One CSV page of a ledger, through the pool like every read (a reveal is recorded: a write).
async fn page(
    state: &AppState,
    actor: Actor,
    q: LedgerQuery,
    cursor: Option<String>,
    lang: Lang,
    first: bool,
) -> Result<CsvPage, ApiError> {
    let tz = state.visits.tz;
    if q.writes() {
        run_write(state, lang, move |c| csv_page(c, &actor, &q, cursor.clone(), tz, lang, first, utc_now())).await
    } else {
        run_report(state, actor.person_id, lang, move |c| csv_page(c, &actor, &q, cursor, tz, lang, first, utc_now())).await
    }
}

/// A ledger as CSV, streamed a page at a time: a bad filter or a refused reveal is answered (JSON)
/// before the first byte; a database lost mid-way cuts the download short.
async fn csv(state: web::Data<AppState>, auth: Auth, q: LedgerQuery) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let name = q.file_name("csv");
    let first = page(&state, actor.clone(), q.clone(), None, lang, true).await?;
    struct Next {
        pending: Option<Vec<u8>>,
        cursor: Option<String>,
        state: web::Data<AppState>,
        actor: Actor,
        query: LedgerQuery,
        lang: Lang,
    }
    let start = Next { pending: Some(first.bytes), cursor: first.next_cursor, state, actor, query: q, lang };
    let body = stream::unfold(start, |mut s| async move {
        if let Some(bytes) = s.pending.take() {
            return Some((Ok::<_, std::io::Error>(web::Bytes::from(bytes)), s));
        }
        let cursor = s.cursor.take()?;
        match page(&s.state, s.actor.clone(), s.query.clone(), Some(cursor), s.lang, false).await {
            Ok(p) => {
                s.cursor = p.next_cursor;
                Some((Ok(web::Bytes::from(p.bytes)), s))
            }
            Err(e) => {
                log::warn!("ledger export cut short: {e}");
                Some((Err(std::io::Error::other("export cut short")), s))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .streaming(body))
}

/// A ledger's workbook as a file, for the API and the pages alike.
pub async fn ledger_xlsx_file(state: &AppState, actor: Actor, q: LedgerQuery, lang: Lang) -> Result<std::fs::File, ApiError> {
    let tz = state.visits.tz;
    if q.writes() {
        run_write(state, lang, move |c| crate::app::ledgers::workbook(c, &actor, &q, tz, lang, utc_now())).await
    } else {
        run_report(state, actor.person_id, lang, move |c| crate::app::ledgers::workbook(c, &actor, &q, tz, lang, utc_now())).await
    }
}

async fn xlsx(state: web::Data<AppState>, auth: Auth, q: LedgerQuery) -> Result<HttpResponse, ApiError> {
    let name = q.file_name("xlsx");
    let file = ledger_xlsx_file(&state, auth.who.actor, q, auth.lang).await?;
    Ok(xlsx_response(&name).streaming(file_body(file)))
}

/// 走访日志台账: the logs of `GET /api/v1/visit-logs` with the same filters and scope (all of them,
/// newest day first), as CSV in UTF-8 with a byte-order mark, headers in the caller's language:
/// visit date, grid worker, grid, compound, households visited and which, observations, notes,
/// requests collected (count and numbers), return visits, filed at, late, last changed. Phone and
/// identity numbers in the observations and notes are masked; `reveal=true` shows the text in
/// clear where the caller may reveal residents' data (403 for roles that may not), each log
/// recorded as a reveal. Streamed a page at a time.
#[utoipa::path(get, path = "/api/v1/exports/visit_logs.csv", operation_id = "export_visit_logs_csv", tag = "reports", params(VisitLogExport),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger, text/csv; charset=utf-8, with a BOM", content_type = "text/csv", body = String),
        (status = 403, description = "forbidden: reveal=true for a role that may not reveal residents' data", body = ErrorBody),
        (status = 422, description = "validation_failed: a bad filter", body = ErrorBody)))]
pub async fn visit_logs_csv(state: web::Data<AppState>, auth: Auth, q: web::Query<VisitLogExport>) -> Result<HttpResponse, ApiError> {
    csv(state, auth, LedgerQuery::VisitLogs(q.into_inner())).await
}

/// 走访日志台账 (Excel): the same logs, filters, scope, masking and recorded reveals as
/// `visit_logs.csv`, as one sheet with a title row (units, filters, when), Chinese headers in a
/// frozen row, column widths, the visit date as an Excel date and times in China time. Written in
/// constant memory and sent from a temporary file.
#[utoipa::path(get, path = "/api/v1/exports/visit_logs.xlsx", operation_id = "export_visit_logs_xlsx", tag = "reports", params(VisitLogExport),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, description = "forbidden: reveal=true for a role that may not reveal residents' data", body = ErrorBody),
        (status = 422, description = "validation_failed: a bad filter", body = ErrorBody)))]
pub async fn visit_logs_xlsx(state: web::Data<AppState>, auth: Auth, q: web::Query<VisitLogExport>) -> Result<HttpResponse, ApiError> {
    xlsx(state, auth, LedgerQuery::VisitLogs(q.into_inner())).await
}

/// 督办台账: the entries of `GET /api/v1/supervision` (breached clocks held by units in the
/// caller's supervisor or community scope; `status=resolved|all` adds those whose supervision
/// ended), the earliest breach first, as CSV with a BOM: ticket number, title, category, urgency,
/// state, stage, holding unit, deadline, breached at, hours overdue, reminders, supervision
/// status, resolved at, the resident's name and phone. Names and phones masked; `reveal=true`
/// shows them where the caller may reveal them (403 for roles that may not), each ticket recorded.
#[utoipa::path(get, path = "/api/v1/exports/supervision.csv", operation_id = "export_supervision_csv", tag = "reports", params(SupervisionExport),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger, text/csv; charset=utf-8, with a BOM", content_type = "text/csv", body = String),
        (status = 403, description = "forbidden: reveal=true for a role that may not reveal residents' data", body = ErrorBody),
        (status = 422, description = "validation_failed: a bad filter", body = ErrorBody)))]
pub async fn supervision_csv(state: web::Data<AppState>, auth: Auth, q: web::Query<SupervisionExport>) -> Result<HttpResponse, ApiError> {
    csv(state, auth, LedgerQuery::Supervision(q.into_inner())).await
}

/// 督办台账 (Excel): the same entries, filters, scope, masking and recorded reveals as
/// `supervision.csv`, as one sheet: a title row, Chinese headers in a frozen row, times as Excel
/// dates (China time), hours overdue and reminders as numbers.
#[utoipa::path(get, path = "/api/v1/exports/supervision.xlsx", operation_id = "export_supervision_xlsx", tag = "reports", params(SupervisionExport),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, description = "forbidden: reveal=true for a role that may not reveal residents' data", body = ErrorBody),
        (status = 422, description = "validation_failed: a bad filter", body = ErrorBody)))]
pub async fn supervision_xlsx(state: web::Data<AppState>, auth: Auth, q: web::Query<SupervisionExport>) -> Result<HttpResponse, ApiError> {
    xlsx(state, auth, LedgerQuery::Supervision(q.into_inner())).await
}

/// 走访工作排名: for a unit (default: the caller's highest unit where he may see rankings) and a
/// period (same syntax and default as `GET /rankings`: last month), every compound below it with
/// its grid workers' log compliance (logs filed / days a log was expected, and filed by the
/// deadline) and its households visited on time (households due a visit in the period / visited
/// by their due day), each as numerator and denominator; compounds ranked on the mean of the two
/// rates (ties share a rank). Grid workers are listed per compound with their numbers, never ranked.
#[utoipa::path(get, path = "/api/v1/rankings/visits", operation_id = "get_visit_rankings", tag = "reports", params(RankingQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = VisitRankings), (status = 403, body = ErrorBody),
        (status = 422, description = "validation_failed: a period that does not parse, from after to, a range too long; unknown_reference: no such unit in scope", body = ErrorBody)))]
pub async fn visit_rankings(state: web::Data<AppState>, auth: Auth, q: web::Query<RankingQuery>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let r = run_report(&state, actor.person_id, auth.lang, move |c| {
        crate::app::visit_report::visit_rankings(c, super::reports::context(&st), st.visits(), &actor, q.into_inner(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(r))
}
