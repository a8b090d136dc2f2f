//! Ledger exports (台账导出), streamed page by page.

use actix_web::{web, HttpResponse};
use futures_util::stream;

use crate::app::exports::{tickets_csv_page, CsvPage, ExportFilter};
use crate::app::utc_now;
use crate::domain::Actor;
use crate::http::context::{run, run_write, AppState, Auth};
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
        run(state, lang, move |c| tickets_csv_page(c, &actor, &f, cursor, tz, lang, first, utc_now())).await
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
