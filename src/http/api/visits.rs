//! Visit logs (走访日志), households and their visit status, and the secretary's board.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::audit::TimelineEvent;
use crate::app::board::{Board, BoardQuery, Compliance, UnitCompliance};
use crate::app::visits::{
    GridVisitList, HouseholdChange, HouseholdFilter, HouseholdView, NewVisitLog, VisitLogAmendment, VisitLogFilter, VisitLogPage,
    VisitLogView,
};
use crate::app::{self, utc_now};
use crate::domain::{HouseholdId, OrgUnitId, VisitLogId};
use crate::http::context::{etag, run, run_idempotent, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// 提交走访日志: the day's log for one of the caller's grids, with the requests collected (filed as
/// tickets linked to the log) and the return visits made, in one step. Safe to retry offline: the
/// same `client_id` returns the first log (200, `Idempotent-Replayed: true`) and files nothing twice.
#[utoipa::path(post, path = "/api/v1/visit-logs", operation_id = "submit_visit_log", tag = "visits", request_body = NewVisitLog, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = VisitLogView), (status = 200, description = "a retry: the log filed the first time", body = VisitLogView),
        (status = 403, body = ErrorBody), (status = 409, description = "log_exists: this grid's log of that day was filed under another client_id", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn submit(state: web::Data<AppState>, auth: Auth, body: Json<NewVisitLog>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let filed = run_write(&state, auth.lang, move |c| app::visits::submit_log(c, st.visits(), &actor, body.0.clone(), utc_now())).await?;
    let mut resp = if filed.replayed { HttpResponse::Ok() } else { HttpResponse::Created() };
    if filed.replayed {
        resp.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(resp.insert_header(etag(filed.log.version)).json(filed.log))
}

/// Visit logs in the caller's scope, newest day first.
#[utoipa::path(get, path = "/api/v1/visit-logs", operation_id = "list_visit_logs", tag = "visits", params(VisitLogFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = VisitLogPage), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<VisitLogFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let page = run(&state, auth.lang, move |c| app::visits::list_logs(c, &actor, q.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One log with its households, requests (and where each stands) and return visits.
#[utoipa::path(get, path = "/api/v1/visit-logs/{id}", operation_id = "get_visit_log", tag = "visits", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = VisitLogView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<VisitLogId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let log = run(&state, auth.lang, move |c| app::visits::get_log(c, &st.visits, &actor, &id.found("visit log")?, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(etag(log.version)).json(log))
}

/// 修改走访日志: the author amends his log on its own day (needs `If-Match`); each amendment is
/// audited with the fields it changed. After the day the log is locked (409 `log_locked`).
#[utoipa::path(patch, path = "/api/v1/visit-logs/{id}", operation_id = "amend_visit_log", tag = "visits", request_body = VisitLogAmendment,
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = VisitLogView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn amend(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<VisitLogId>,
    version: IfMatch,
    body: Json<VisitLogAmendment>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor.clone();
    let input = body.into_inner();
    let canon = format!("{}|{}", version.0.unwrap_or(-1), serde_json::to_string(&input).unwrap_or_default());
    let st = state.clone();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        StatusCode::OK,
        |_| Ok(()),
        move |c, ()| app::visits::amend_log(c, st.visits(), &actor, &id.found("visit log")?, version.0, input.clone(), utc_now()),
    )
    .await
}

/// The log's filing and every amendment, from the audit trail.
#[utoipa::path(get, path = "/api/v1/visit-logs/{id}/history", operation_id = "get_visit_log_history", tag = "visits", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<TimelineEvent>), (status = 404, body = ErrorBody)))]
pub async fn history(state: web::Data<AppState>, auth: Auth, id: IdPath<VisitLogId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let events = run(&state, auth.lang, move |c| app::visits::history(c, &actor, &id.found("visit log")?)).await?;
    Ok(HttpResponse::Ok().json(events))
}

/// 我的走访清单: for each of the caller's grids, whether today's log is filed and the households due
/// or overdue for a visit, the most overdue first.
#[utoipa::path(get, path = "/api/v1/my/visit-list", operation_id = "get_my_visit_list", tag = "visits", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<GridVisitList>)))]
pub async fn my_visit_list(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let list = run(&state, auth.lang, move |c| app::visits::my_visit_list(c, st.visits(), &actor, utc_now())).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Households (户) in scope with their kind and visit status; `overdue=true` lists those overdue.
#[utoipa::path(get, path = "/api/v1/households", operation_id = "list_households", tag = "visits", params(HouseholdFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<HouseholdView>), (status = 422, body = ErrorBody)))]
pub async fn households(state: web::Data<AppState>, auth: Auth, q: web::Query<HouseholdFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let list = run(&state, auth.lang, move |c| app::visits::list_households(c, &st.visits, &actor, q.into_inner(), utc_now())).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One household with its visit status.
#[utoipa::path(get, path = "/api/v1/households/{id}", operation_id = "get_household", tag = "visits", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = HouseholdView), (status = 404, body = ErrorBody)))]
pub async fn household(state: web::Data<AppState>, auth: Auth, id: IdPath<HouseholdId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let h = run(&state, auth.lang, move |c| app::visits::get_household(c, &st.visits, &actor, &id.found("household")?, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(etag(h.version)).json(h))
}

/// Sets a household's kind, and with it how often it must be visited. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/households/{id}", operation_id = "change_household", tag = "visits", request_body = HouseholdChange,
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = HouseholdView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 428, body = ErrorBody)))]
pub async fn change_household(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<HouseholdId>,
    version: IfMatch,
    body: Json<HouseholdChange>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let h = run_write(&state, auth.lang, move |c| {
        app::visits::change_household(c, &st.visits, &actor, &id.found("household")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(h.version)).json(h))
}

/// 网格长工作台: the compound's board — today's log compliance (who filed, who did not by the
/// deadline), open tickets by stage and deadline, the closed-loop status of requests raised on
/// visits, and log compliance per worker over `from`–`to` (default the last 30 days).
#[utoipa::path(get, path = "/api/v1/compounds/{id}/board", operation_id = "get_compound_board", tag = "visits", params(("id" = uuid::Uuid, Path), BoardQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Board), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn board(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<BoardQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let b = crate::http::context::run_report(&state, actor.person_id, auth.lang, move |c| {
        app::board::board(c, st.visits(), &actor, &id.found("compound")?, q.into_inner(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(b))
}

/// Log compliance (日志填报率) per grid worker of the compound over `from`–`to` (at most 366 days).
#[utoipa::path(get, path = "/api/v1/compounds/{id}/log-compliance", operation_id = "get_compound_log_compliance", tag = "visits", params(("id" = uuid::Uuid, Path), BoardQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Compliance), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn compliance(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<BoardQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let b = crate::http::context::run_report(&state, actor.person_id, auth.lang, move |c| {
        app::board::compliance(c, st.visits(), &actor, &id.found("compound")?, q.into_inner(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(b))
}

/// 日志填报率 of every grid worker under any unit (community, street, district…), rolled up per
/// compound, lowest rate first, with each worker's line; over `from`–`to` (default the last 30 days).
#[utoipa::path(get, path = "/api/v1/org-units/{id}/log-compliance", operation_id = "get_unit_log_compliance", tag = "visits", params(("id" = uuid::Uuid, Path), BoardQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UnitCompliance), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unit_compliance(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    q: web::Query<BoardQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let st = state.clone();
    let c = run(&state, auth.lang, move |c| {
        app::board::unit_compliance(c, st.visits(), &actor, &id.found("org unit")?, q.into_inner(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(c))
}
