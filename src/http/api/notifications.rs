//! The in-app notification centre (站内通知): a person's own notifications, the unread count, and
//! marking them read. Nobody reads another's.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::app::notifications::NotificationPage;
use crate::app::{self, utc_now};
use crate::domain::{DeliveryId, EndpointId, OrgUnitId, TicketId};
use crate::http::context::{run, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only the unread ones.
    pub unread: Option<bool>,
    /// Page size, 1–100 (default 30).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor: the `next_before` of the previous page.
    #[param(max_length = 200)]
    pub before: Option<String>,
}

/// 我的通知: the caller's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_my_notifications", tag = "notifications", params(NotificationQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = NotificationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<NotificationQuery>) -> Result<HttpResponse, ApiError> {
    let (actor, lang, q) = (auth.who.actor, auth.lang, q.into_inner());
    let page = run(&state, lang, move |c| {
        app::notifications::my_notifications(c, &actor, q.unread.unwrap_or(false), q.limit, q.before.as_deref(), lang)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(page))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Unread {
    pub unread: i64,
}

/// How many of the caller's notifications are unread (for a badge).
#[utoipa::path(get, path = "/api/v1/notifications/unread", operation_id = "count_unread_notifications", tag = "notifications", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Unread), (status = 401, body = ErrorBody)))]
pub async fn unread(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let me = auth.who.actor.person_id;
    let unread = run(&state, auth.lang, move |c| app::notifications::unread_count(c, me)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(Unread { unread }))
}

/// Marks one of the caller's notifications read (again is the same); another's is 404.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", operation_id = "mark_notification_read", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(state: web::Data<AppState>, auth: Auth, id: IdPath<DeliveryId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    run_write(&state, auth.lang, move |c| app::notifications::mark_read(c, &actor, &id.found("notification")?, utc_now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Marks all of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", operation_id = "mark_all_notifications_read", tag = "notifications", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Unread), (status = 401, body = ErrorBody)))]
pub async fn read_all(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    run_write(&state, auth.lang, move |c| app::notifications::mark_all_read(c, &actor, utc_now())).await?;
    Ok(HttpResponse::Ok().json(Unread { unread: 0 }))
}

use crate::app::notifications::settings::{EndpointChange, EndpointInput, EndpointView, SettingsInput, SettingsView};
use crate::app::notifications::DeliveryView;
use crate::http::context::{etag, IfMatch};
use crate::http::input::{IdPath, Json};

/// The caller's notification settings: an email address, which kinds also go by mail, quiet hours.
#[utoipa::path(get, path = "/api/v1/me/notification-settings", operation_id = "get_my_notification_settings", tag = "notifications", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = ErrorBody)))]
pub async fn my_settings(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let s = run(&state, auth.lang, move |c| app::notifications::settings::my_settings(c, &actor)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(s.version)).insert_header(("Cache-Control", "no-store")).json(s))
}

/// Saves the caller's settings (send If-Match with the version read to refuse a stale change).
#[utoipa::path(put, path = "/api/v1/me/notification-settings", operation_id = "save_my_notification_settings", tag = "notifications", request_body = SettingsInput, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn save_my_settings(
    state: web::Data<AppState>,
    auth: Auth,
    version: IfMatch,
    body: Json<SettingsInput>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let s = run_write(&state, auth.lang, move |c| {
        app::notifications::settings::save_my_settings(c, &actor, body.0.clone(), version.0, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(s.version)).json(s))
}

/// A unit's group robots and webhooks (URLs and secrets masked), for an admin over the unit.
#[utoipa::path(get, path = "/api/v1/org-units/{id}/channels", operation_id = "list_unit_channels", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<EndpointView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_channels(state: web::Data<AppState>, auth: Auth, id: IdPath<OrgUnitId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::notifications::settings::list_endpoints(c, &actor, &id.found("org unit")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Adds a WeCom or DingTalk group robot, or a signed webhook, to a unit.
#[utoipa::path(post, path = "/api/v1/org-units/{id}/channels", operation_id = "add_unit_channel", tag = "notifications", params(("id" = uuid::Uuid, Path)), request_body = EndpointInput, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = EndpointView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_channel(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    body: Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| {
        app::notifications::settings::add_endpoint(c, &actor, &id.found("org unit")?, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Created().insert_header(etag(r.version)).json(r))
}

/// Changes a robot or webhook: name, URL, secret, on or off (If-Match required).
#[utoipa::path(patch, path = "/api/v1/channels/{id}", operation_id = "change_channel", tag = "notifications", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = EndpointChange, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = EndpointView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn change_channel(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<EndpointId>,
    version: IfMatch,
    body: Json<EndpointChange>,
) -> Result<HttpResponse, ApiError> {
    let (actor, lang) = (auth.who.actor, auth.lang);
    let Some(v) = version.0 else {
        return Err(ApiError::new(crate::app::AppError::PreconditionRequired, lang));
    };
    let r = run_write(&state, lang, move |c| {
        app::notifications::settings::change_endpoint(c, &actor, &id.found("channel")?, body.0.clone(), v, utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// Every message about a ticket, on every channel, and how each went (no addresses).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/deliveries", operation_id = "list_ticket_deliveries", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<DeliveryView>), (status = 404, body = ErrorBody)))]
pub async fn ticket_deliveries(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::notifications::ticket_deliveries(c, &actor, &id.found("ticket")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FailedQuery {
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Deliveries that failed after every try, about units in the caller's scope (supervisors, admins).
#[utoipa::path(get, path = "/api/v1/deliveries/failed", operation_id = "list_failed_deliveries", tag = "notifications", params(FailedQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn failed(state: web::Data<AppState>, auth: Auth, q: web::Query<FailedQuery>) -> Result<HttpResponse, ApiError> {
    let (actor, limit) = (auth.who.actor, q.limit);
    let r = run(&state, auth.lang, move |c| app::notifications::failed_deliveries(c, &actor, limit)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// An admin over the unit sends a failed delivery again.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", operation_id = "retry_delivery", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retry(state: web::Data<AppState>, auth: Auth, id: IdPath<DeliveryId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    run_write(&state, auth.lang, move |c| app::notifications::retry_delivery(c, &actor, &id.found("delivery")?, utc_now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A test message (测试消息) queued for the delivery worker: where to follow it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TestQueued {
    /// The delivery's id: `GET /api/v1/deliveries/{id}` says how it went.
    pub delivery_id: String,
}

/// Sends a robot or webhook a test message now, through the delivery worker (at most one per
/// channel every 30 s).
#[utoipa::path(post, path = "/api/v1/channels/{id}/test", operation_id = "test_channel", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 202, body = TestQueued), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_channel(state: web::Data<AppState>, auth: Auth, id: IdPath<EndpointId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let delivery_id =
        run_write(&state, auth.lang, move |c| app::notifications::settings::test_endpoint(c, &actor, &id.found("channel")?, utc_now()))
            .await?;
    Ok(HttpResponse::Accepted().json(TestQueued { delivery_id: delivery_id.to_string() }))
}

/// Sends the caller a test mail at his saved address (at most one every 30 s).
#[utoipa::path(post, path = "/api/v1/me/notification-settings/test", operation_id = "test_my_mail", tag = "notifications", security(("bearer" = []), ("cookie" = [])),
    responses((status = 202, body = TestQueued), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn test_my_mail(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let delivery_id = run_write(&state, auth.lang, move |c| app::notifications::settings::test_my_mail(c, &actor, utc_now())).await?;
    Ok(HttpResponse::Accepted().json(TestQueued { delivery_id: delivery_id.to_string() }))
}

/// One delivery and how it went, for its recipient or an admin over its unit.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", operation_id = "get_delivery", tag = "notifications", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DeliveryView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delivery(state: web::Data<AppState>, auth: Auth, id: IdPath<DeliveryId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::notifications::delivery(c, &actor, &id.found("delivery")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}
