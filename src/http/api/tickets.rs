//! Tickets: filing, workflow actions, comments, timeline, lists and the inbox.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::app::audit::TimelineEvent;
use crate::app::tickets::{
    ActionRequest, DepartmentChoice, NewTicket, RevealedContact, TicketFilter, TicketPage, TicketSummary, TicketView,
};
use crate::app::{self, utc_now};
use crate::domain::TicketId;
use crate::http::context::{etag, filed_response, idempotency_key, run, run_idempotent, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

fn canonical<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// 登记诉求. Send an `Idempotency-Key` so that a retry on a bad network files nothing twice.
#[utoipa::path(post, path = "/api/v1/tickets", operation_id = "file_ticket", tag = "tickets", request_body = NewTicket,
    params(("Idempotency-Key" = Option<String>, Header)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = TicketView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn file(state: web::Data<AppState>, auth: Auth, req: HttpRequest, body: Json<NewTicket>) -> Result<HttpResponse, ApiError> {
    use crate::app::intake::KeyRecord;
    let (actor, lang) = (auth.who.actor.clone(), auth.lang);
    let input = body.into_inner();
    let key = idempotency_key(&req, lang)?.map(|key| KeyRecord {
        person_id: actor.person_id,
        key,
        request_hash: app::idempotency::request_hash(req.method().as_str(), req.path(), &canonical(&input)),
    });
    let filed = state.intake.file(actor, input, key).await.map_err(|e| ApiError::new(e, lang))?;
    Ok(filed_response(StatusCode::CREATED, filed))
}

/// Tickets in the caller's scope, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/tickets", operation_id = "list_tickets", tag = "tickets", params(TicketFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TicketPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<TicketFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let f = q.into_inner();
    // A search by the resident's phone records reveals: a write.
    let page = if f.resident_phone.is_some() {
        crate::http::context::run_write(&state, auth.lang, move |c| app::tickets::list_tickets(c, &actor, f.clone(), utc_now())).await?
    } else {
        crate::http::context::run_report(&state, actor.person_id, auth.lang, move |c| app::tickets::list_tickets(c, &actor, f, utc_now()))
            .await?
    };
    Ok(HttpResponse::Ok().json(page))
}

/// One ticket, with its departments, extensions and the actions the caller may take now.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", operation_id = "get_ticket", tag = "tickets", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let t = run(&state, auth.lang, move |c| app::tickets::get_ticket(c, &actor, &id.found("ticket")?, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(etag(t.version)).json(t))
}

/// Takes one workflow action. Needs `If-Match` with the version last seen; an action the state
/// does not allow answers 409 with the current state and the allowed actions.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/actions", operation_id = "act_on_ticket", tag = "tickets", request_body = ActionRequest,
    params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TicketView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn act(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<TicketId>,
    version: IfMatch,
    body: Json<ActionRequest>,
) -> Result<HttpResponse, ApiError> {
    use crate::app::intake::KeyRecord;
    use crate::app::tickets::ActRequest;
    let (actor, lang) = (auth.who.actor.clone(), auth.lang);
    let input = body.into_inner();
    let key = idempotency_key(&req, lang)?.map(|key| KeyRecord {
        person_id: actor.person_id,
        key,
        request_hash: app::idempotency::request_hash(
            req.method().as_str(),
            req.path(),
            &format!("{}|{}", version.0.unwrap_or(-1), canonical(&input)),
        ),
    });
    // Through the intake: actions waiting together are taken in one transaction.
    let ticket_id = id.found("ticket").map_err(|e| ApiError::new(e, lang))?;
    let request = ActRequest { actor, ticket_id, version: version.0, action: input };
    let done = state.intake.act(request, key).await.map_err(|e| ApiError::new(e, lang))?;
    Ok(filed_response(StatusCode::OK, done))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[schema(min_length = 1, max_length = 2000)]
    pub text: String,
}

/// 留言 on a ticket in scope.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", operation_id = "comment_on_ticket", tag = "tickets", request_body = NewComment,
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = TimelineEvent), (status = 404, body = ErrorBody)))]
pub async fn comment(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: IdPath<TicketId>,
    body: Json<NewComment>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor.clone();
    let input = body.into_inner();
    let canon = canonical(&input);
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| app::tickets::comment(c, &actor, &id.found("ticket")?, &input.text, utc_now()),
    )
    .await
}

/// The ticket's whole history, oldest first: who, in which role and unit, when, what, why.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/timeline", operation_id = "get_ticket_timeline", tag = "tickets", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<TimelineEvent>), (status = 404, body = ErrorBody)))]
pub async fn timeline(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let events = run(&state, auth.lang, move |c| app::tickets::timeline(c, &actor, &id.found("ticket")?)).await?;
    Ok(HttpResponse::Ok().json(events))
}

/// The resident's unmasked phone, for those who must call; the look is recorded.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reveal", operation_id = "reveal_ticket_contact", tag = "tickets", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = RevealedContact), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reveal(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| app::tickets::reveal_contact(c, &actor, &id.found("ticket")?, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(r))
}

/// The departments this ticket's community may whistle, the category's usual one marked.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/departments", operation_id = "list_whistle_departments", tag = "tickets", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<DepartmentChoice>), (status = 404, body = ErrorBody)))]
pub async fn departments(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::tickets::whistle_choices(c, &actor, &id.found("ticket")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// At most this many, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// 我的待办: what waits on the caller in each of his roles, soonest deadline first.
#[utoipa::path(get, path = "/api/v1/inbox", operation_id = "get_inbox", tag = "tickets", params(InboxParams), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<TicketSummary>), (status = 422, body = ErrorBody)))]
pub async fn inbox(state: web::Data<AppState>, auth: Auth, q: web::Query<InboxParams>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let limit = q.limit;
    let items = run(&state, auth.lang, move |c| app::tickets::inbox(c, &actor, limit, utc_now())).await?;
    Ok(HttpResponse::Ok().json(items))
}
