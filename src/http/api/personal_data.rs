//! A resident's requests about his personal data (PIPL 查阅复制、删除), answered by an admin over
//! the units that hold it: a look-up for the resident's copy and an erasure, each recorded in the
//! audit trail (`app::personal_data`).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::personal_data::{self, ErasureReport, PersonalDataReport, SubjectRequest};
use crate::app::utc_now;
use crate::http::context::{run_idempotent, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::Json;

/// 查阅个人信息: everything held under a resident's phone in the admin's units — the register's
/// entries, his tickets with their contact, visit-log notes that mention the number — unmasked,
/// for the copy the resident is owed. Recorded as an audit event (`personal_data_request` ·
/// `access`) with the request's reference; each call is a new look, recorded again.
#[utoipa::path(post, path = "/api/v1/personal-data/access", operation_id = "personal_data_access", tag = "residents", request_body = SubjectRequest, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonalDataReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn access(state: web::Data<AppState>, auth: Auth, body: Json<SubjectRequest>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| personal_data::access(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(r))
}

/// 删除个人信息: erases what is held under a resident's phone in the admin's units — register
/// entries deleted; the contact on his closed tickets and visit-log notes that mention the number
/// cleared (audit values replaced by their digests); open tickets keep the contact until they
/// close and are listed. Recorded as `personal_data_request` · `erasure`, each cleared record
/// with its own `purge_personal_data` event. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/personal-data/erasure", operation_id = "personal_data_erasure", tag = "residents",
    params(("Idempotency-Key" = Option<String>, Header)), request_body = SubjectRequest, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ErasureReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn erasure(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    body: Json<SubjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor.clone();
    let input = body.into_inner();
    let canon = serde_json::to_string(&(input.phone.expose(), &input.reference, &input.note)).unwrap_or_default();
    run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::OK,
        |_| Ok(()),
        move |c, ()| personal_data::erase(c, &actor, input.clone(), utc_now()),
    )
    .await
}
