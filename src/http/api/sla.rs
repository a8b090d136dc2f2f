//! Time limits: a ticket's clocks, the supervision queue, overdue counts, per-category limits.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::app::sla::{ClockView, LimitChange, OverdueCount, SupervisionItem};
use crate::app::{self, utc_now};
use crate::domain::{CategoryId, TicketId};
use crate::http::context::{run, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// A ticket's clocks, one per stage entered: started (dispatch), acknowledged, warned, breached,
/// paused, stopped, and the original deadline next to the current one.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/clocks", operation_id = "list_ticket_clocks", tag = "sla", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ClockView>), (status = 404, body = ErrorBody)))]
pub async fn clocks(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let v = run(&state, auth.lang, move |c| app::tickets::clocks_of(c, &actor, &id.found("ticket")?, utc_now())).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// 督办: breached clocks still running, held by units in the caller's supervisor or community scope.
#[utoipa::path(get, path = "/api/v1/supervision", operation_id = "list_supervision", tag = "sla", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<SupervisionItem>)))]
pub async fn supervision(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let v =
        crate::http::context::run_report(&state, actor.person_id, auth.lang, move |c| app::sla::supervision_queue(c, &actor, utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Overdue counts per holding unit in the caller's supervisor or community scope, worst first.
#[utoipa::path(get, path = "/api/v1/overdue-counts", operation_id = "list_overdue_counts", tag = "sla", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<OverdueCount>)))]
pub async fn overdue_counts(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let v = crate::http::context::run_report(&state, actor.person_id, auth.lang, move |c| app::sla::overdue_counts(c, &actor, utc_now()))
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LimitChanged {
    /// Open clocks whose deadlines were recomputed from now on.
    pub recomputed_clocks: usize,
}

/// Sets a category's own limit for one stage and urgency (admin of the top unit). Open clocks of
/// that category get new deadlines from now on; what already fired stays.
#[utoipa::path(put, path = "/api/v1/categories/{id}/limits", operation_id = "set_category_limit", tag = "sla", params(("id" = uuid::Uuid, Path)), request_body = LimitChange,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = LimitChanged), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_limit(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<CategoryId>,
    body: Json<LimitChange>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    // The category is looked up after the limit is checked: a malformed id is a missing category there.
    let id = id.into_option();
    let n = run_write(&state, auth.lang, move |c| app::sla::set_category_limit(c, st.sla(), &actor, id.as_ref(), &body, utc_now())).await?;
    Ok(HttpResponse::Ok().json(LimitChanged { recomputed_clocks: n }))
}
