//! Requests from outside the grid (decision 0032): the admin's outside clients and category maps;
//! the 12345 platform's work orders in and their status read back; a ticket's resident links.
//! Open311 has its own door (`http::open311`), the resident's page is a page (`web`).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::outside::clients::{self, CategoryMapEntry, ClientChange, ClientInput, ClientIssued, ClientRow, ClientView};
use crate::app::outside::links::{self, LinkInput, LinkView};
use crate::app::outside::orders::{self, OrderStatus, Received, WorkOrder};
use crate::app::{utc_now, AppError};
use crate::domain::outside::ClientKind;
use crate::domain::{ExternalClientId, ResidentLinkId, TicketId};
use crate::http::context::{etag, lang_of, public_base, run, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// The outside clients an admin's scope holds (keys and secrets never shown again).
#[utoipa::path(get, path = "/api/v1/external-clients", operation_id = "list_external_clients", tag = "outside", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ClientView>), (status = 401, body = ErrorBody)))]
pub async fn list_clients(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    Ok(HttpResponse::Ok().json(run(&state, auth.lang, move |c| clients::list_clients(c, &actor)).await?))
}

/// 接入外部系统: registers a 12345 platform or an Open311 app for a subtree; its key (and a
/// platform's signing secret) are in this answer only.
#[utoipa::path(post, path = "/api/v1/external-clients", operation_id = "create_external_client", tag = "outside", request_body = ClientInput, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ClientIssued), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_client(state: web::Data<AppState>, auth: Auth, body: Json<ClientInput>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| clients::create_client(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(r.client.version)).json(r))
}

/// One outside client.
#[utoipa::path(get, path = "/api/v1/external-clients/{id}", operation_id = "get_external_client", tag = "outside", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn get_client(state: web::Data<AppState>, auth: Auth, id: IdPath<ExternalClientId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| clients::client_view(c, &actor, &id.found("external client")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Changes a client: name, receiver, triage compound, on or off, or a new key (If-Match).
#[utoipa::path(patch, path = "/api/v1/external-clients/{id}", operation_id = "change_external_client", tag = "outside", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = ClientChange, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ClientIssued), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn change_client(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ExternalClientId>,
    version: IfMatch,
    body: Json<ClientChange>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| {
        clients::change_client(c, &actor, &id.found("external client")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.client.version)).json(r))
}

/// Replaces a client's category map: the platform's codes → our categories.
#[utoipa::path(put, path = "/api/v1/external-clients/{id}/categories", operation_id = "set_external_categories", tag = "outside", params(("id" = uuid::Uuid, Path)), request_body = Vec<CategoryMapEntry>, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_categories(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<ExternalClientId>,
    body: Json<Vec<CategoryMapEntry>>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r =
        run_write(&state, auth.lang, move |c| clients::set_categories(c, &actor, &id.found("external client")?, body.0.clone(), utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(r))
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let (scheme, token) = header(req, "authorization")?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// The platform a request comes from: its key checked, then its signature of `body`.
async fn platform(state: &web::Data<AppState>, req: &HttpRequest, body: &[u8]) -> Result<ClientRow, ApiError> {
    let lang = lang_of(req);
    let key = bearer(req).ok_or_else(|| ApiError::new(AppError::ClientRefused, lang))?;
    let (ts, sig) = (header(req, "x-gridloop-timestamp").map(str::to_string), header(req, "x-gridloop-signature").map(str::to_string));
    let body = body.to_vec();
    run(state, lang, move |c| {
        let client = clients::authenticate(c, &key, ClientKind::Hotline)?;
        clients::verify_signature(&client, ts.as_deref(), sig.as_deref(), &body, utc_now())?;
        Ok(client)
    })
    .await
}

/// 派单: the 12345 platform sends a work order. A new external id files a ticket (201); the same
/// order again answers the same ticket (200, `received: unchanged`); a changed one updates it
/// (200, `received: updated`, audited). Signed: `X-Gridloop-Timestamp` and
/// `X-Gridloop-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">`. The key and the
/// signature are checked before the body is read as an order.
#[utoipa::path(post, path = "/api/v1/external/work-orders", operation_id = "receive_work_order", tag = "outside", request_body = WorkOrder,
    params(("X-Gridloop-Timestamp" = String, Header, description = "Unix seconds, within five minutes"), ("X-Gridloop-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of \"timestamp.body\">")),
    responses((status = 201, body = OrderStatus), (status = 200, body = OrderStatus), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn receive_order(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let lang = lang_of(&req);
    if body.len() > crate::http::input::MAX_JSON_BYTES {
        return Err(ApiError::new(AppError::PayloadTooLarge { limit: crate::http::input::MAX_JSON_BYTES }, lang));
    }
    let client = platform(&state, &req, &body).await?;
    if !crate::http::input::is_json(&req) {
        return Err(ApiError::new(AppError::BadRequest { detail: crate::msg!("bad-content_type") }, lang));
    }
    let order: WorkOrder = crate::http::input::parse_json(&body).map_err(|e| ApiError::new(e, lang))?;
    let (st, base) = (state.clone(), public_base(&state, &req));
    let r = run(&state, lang, move |c| orders::receive(c, st.sla(), &client, order.clone(), &base, utc_now())).await?;
    let mut status = if r.received == Received::Created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(status.json(r))
}

/// A work order's status by its external id, for the platform that sent it: the ticket's stage,
/// where it landed, the deadline, what was done and every status pushed. Signed (empty body).
#[utoipa::path(get, path = "/api/v1/external/work-orders/{order_no}", operation_id = "work_order_status", tag = "outside", params(("order_no" = String, Path, description = "the order's external id")),
    responses((status = 200, body = OrderStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn order_status(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let client = platform(&state, &req, b"").await?;
    let external_id = path.into_inner();
    let r = run(&state, lang_of(&req), move |c| orders::order_status(c, &client, &external_id, Received::Unchanged)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// 发送查询链接: a link for the ticket's resident to his status page, sent by SMS or mail (or
/// returned to hand over); its address is in this answer only.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resident-links", operation_id = "give_resident_link", tag = "outside", params(("id" = uuid::Uuid, Path)), request_body = LinkInput, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = LinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn give_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    id: IdPath<TicketId>,
    body: Json<LinkInput>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let base = public_base(&state, &req);
    let r =
        run_write(&state, auth.lang, move |c| links::give_link(c, &actor, &id.found("ticket")?, body.0.clone(), &base, utc_now())).await?;
    Ok(HttpResponse::Created().json(r))
}

/// A ticket's resident links: how each was sent, whether revoked, the resident's rating.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/resident-links", operation_id = "list_resident_links", tag = "outside", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<LinkView>), (status = 404, body = ErrorBody)))]
pub async fn list_links(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    Ok(HttpResponse::Ok().json(run(&state, auth.lang, move |c| links::list_links(c, &actor, &id.found("ticket")?)).await?))
}

/// 撤销链接: the link stops working at once.
#[utoipa::path(post, path = "/api/v1/resident-links/{id}/revoke", operation_id = "revoke_resident_link", tag = "outside", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = LinkView), (status = 404, body = ErrorBody)))]
pub async fn revoke_link(state: web::Data<AppState>, auth: Auth, id: IdPath<ResidentLinkId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| links::revoke_link(c, &actor, &id.found("resident link")?, utc_now())).await?;
    Ok(HttpResponse::Ok().json(r))
}
