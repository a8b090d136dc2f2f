//! Rankings (三率排名, 红黄榜) of the units below one, and the items behind each figure.

use actix_web::{web, HttpResponse};

use crate::app::reports::{Drill, DrillQuery, RankingQuery, Rankings, ReportContext};
use crate::app::{self, utc_now};
use crate::http::context::{run_report, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};

pub(crate) fn context(state: &AppState) -> ReportContext<'_> {
    ReportContext { settings: &state.settings.reports, tz: state.visits.tz, calendars: &state.calendars }
}

/// 三率排名: for a unit (default: the caller's highest unit where he may see rankings) and a period
/// (`period=2026-10`, `2026-Q4`, `2026`, or `from`/`to` China days; default: last month), the
/// units directly below it ranked within their kind by the weighted response (响应率), resolution
/// (解决率) and satisfaction (满意率) rates, with returns, reopens, extensions, overdue and open
/// tickets, each as numerator and denominator with its drill-down, and the red and yellow lists.
/// An unknown unit and one outside the caller's scope both answer 422 `unknown_reference`.
#[utoipa::path(get, path = "/api/v1/rankings", operation_id = "get_rankings", tag = "reports", params(RankingQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Rankings), (status = 403, body = ErrorBody),
        (status = 422, description = "validation_failed: a period that does not parse, from after to, a range too long; unknown_reference: no such unit in scope", body = ErrorBody)))]
pub async fn rankings(state: web::Data<AppState>, auth: Auth, q: web::Query<RankingQuery>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let r =
        run_report(&state, actor.person_id, auth.lang, move |c| app::reports::rankings(c, context(&st), &actor, q.into_inner(), utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The items behind one figure of one unit (`measure`), with the ticket numbers in its numerator,
/// so that a unit can contest its figure. Same `unit` and period parameters as the ranking.
#[utoipa::path(get, path = "/api/v1/rankings/tickets", operation_id = "get_ranking_tickets", tag = "reports", params(DrillQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Drill), (status = 403, body = ErrorBody),
        (status = 422, description = "validation_failed: a bad period; unknown_reference: no such unit in scope", body = ErrorBody)))]
pub async fn tickets(state: web::Data<AppState>, auth: Auth, q: web::Query<DrillQuery>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let r =
        run_report(&state, actor.person_id, auth.lang, move |c| app::reports::drill(c, context(&st), &actor, q.into_inner(), utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(r))
}
