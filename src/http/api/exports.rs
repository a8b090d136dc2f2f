//! Ledger exports (台账导出), streamed page by page.

use actix_web::{web, HttpResponse};
use futures_util::stream;

use crate::app::exports::{tickets_csv_page, CsvPage};
use crate::app::tickets::TicketFilter;
use crate::app::utc_now;
use crate::domain::Actor;
use crate::http::context::{run, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::i18n::Lang;

/// One page of the export, through the pool like every read (a search by phone records reveals: a write).
async fn page(state: &AppState, actor: Actor, f: TicketFilter, lang: Lang, first: bool) -> Result<CsvPage, ApiError> {
    let tz = state.visits.tz;
    if f.resident_phone.is_some() {
        run_write(state, lang, move |c| tickets_csv_page(c, &actor, f.clone(), tz, lang, first, utc_now())).await
    } else {
        run(state, lang, move |c| tickets_csv_page(c, &actor, f, tz, lang, first, utc_now())).await
    }
}

/// 台账导出: the tickets of `GET /api/v1/tickets` with the same filters and scope (`limit` is the
/// export's own page size; `cursor` starts after a ticket), newest first, as CSV in UTF-8 with a
/// byte-order mark (Excel opens the Chinese headers as such), headers in the caller's language.
/// No personal data: residents' names and phones stay out of the ledger. Streamed a page at a
/// time: a bad filter is refused (JSON) before the first byte; a database lost mid-way cuts the
/// download short.
#[utoipa::path(get, path = "/api/v1/exports/tickets.csv", operation_id = "export_tickets_csv", tag = "reports", params(TicketFilter),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the ledger, text/csv; charset=utf-8, with a BOM", content_type = "text/csv", body = String),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tickets_csv(state: web::Data<AppState>, auth: Auth, q: web::Query<TicketFilter>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, f) = (auth.who.actor, auth.lang, q.into_inner());
    let first = page(&state, actor.clone(), f.clone(), lang, true).await?;
    struct Next {
        pending: Option<Vec<u8>>,
        cursor: Option<String>,
        state: web::Data<AppState>,
        actor: Actor,
        filter: TicketFilter,
        lang: Lang,
    }
    let start = Next { pending: Some(first.bytes), cursor: first.next_cursor, state, actor, filter: f, lang };
    let body = stream::unfold(start, |mut s| async move {
        if let Some(bytes) = s.pending.take() {
            return Some((Ok::<_, std::io::Error>(web::Bytes::from(bytes)), s));
        }
        let cursor = s.cursor.take()?;
        let f = TicketFilter { cursor: Some(cursor), ..s.filter.clone() };
        match page(&s.state, s.actor.clone(), f, s.lang, false).await {
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
