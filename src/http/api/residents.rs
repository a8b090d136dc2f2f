//! Residents, masked; reveals are recorded.

use actix_web::{web, HttpResponse};

use crate::app::residents::{NewResident, ResidentFilter, ResidentView, RevealRecord, RevealedResident};
use crate::app::{self, utc_now};
use crate::domain::ResidentId;
use crate::http::context::{etag, run, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::IdPath;
use crate::http::input::Json;

/// Residents in the caller's scope, with phone and ID number masked.
#[utoipa::path(get, path = "/api/v1/residents", operation_id = "list_residents", tag = "residents", params(ResidentFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ResidentView>), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<ResidentFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let rs = run(&state, auth.lang, move |c| app::residents::list_residents(c, &actor, q.into_inner())).await?;
    Ok(HttpResponse::Ok().json(rs))
}

/// Registers a resident in a building of the caller's grid.
#[utoipa::path(post, path = "/api/v1/residents", operation_id = "create_resident", tag = "residents", request_body = NewResident, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ResidentView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Json<NewResident>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| app::residents::create_resident(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(r.version)).json(r))
}

/// One resident, masked.
#[utoipa::path(get, path = "/api/v1/residents/{id}", operation_id = "get_resident", tag = "residents", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ResidentView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<ResidentId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::residents::get_resident(c, &actor, &id.found("resident")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(r.version)).json(r))
}

/// 查看完整信息: the unmasked phone and ID number; the look is recorded.
#[utoipa::path(post, path = "/api/v1/residents/{id}/reveal", operation_id = "reveal_resident", tag = "residents", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = RevealedResident), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reveal(state: web::Data<AppState>, auth: Auth, id: IdPath<ResidentId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run_write(&state, auth.lang, move |c| app::residents::reveal_resident(c, &actor, &id.found("resident")?, utc_now())).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(r))
}

/// Who revealed this resident's data, newest first.
#[utoipa::path(get, path = "/api/v1/residents/{id}/reveals", operation_id = "list_resident_reveals", tag = "residents", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<RevealRecord>), (status = 404, body = ErrorBody)))]
pub async fn reveals(state: web::Data<AppState>, auth: Auth, id: IdPath<ResidentId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let r = run(&state, auth.lang, move |c| app::residents::list_reveals(c, &actor, &id.found("resident")?)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// 台账导入: households from CSV (UTF-8, header `building_code,unit_no,room,name,phone,id_number,kind`,
/// at most 5,000 rows). Every row is checked first; with any bad row nothing is imported and the
/// answer lists each bad row's line and reason. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/residents/import", operation_id = "import_residents", tag = "residents", request_body(content = String, content_type = "text/csv"),
    params(("Idempotency-Key" = Option<String>, Header)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = crate::app::residents::ImportResult), (status = 422, body = ErrorBody)))]
pub async fn import(
    state: web::Data<AppState>,
    auth: Auth,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(body, MAX_IMPORT_BYTES, auth.lang).await?;
    let text = String::from_utf8(body)
        .map_err(|_| ApiError::new(crate::app::AppError::validation("file", crate::msg!("rule-utf8_csv")), auth.lang))?;
    if let Some(line) = crate::http::input::nul_line(&text) {
        return Err(ApiError::new(crate::app::AppError::NulCharacter { field: "file".into(), line: Some(line) }, auth.lang));
    }
    let actor = auth.who.actor.clone();
    let canon = text.clone();
    crate::http::context::run_idempotent(
        &state,
        &auth,
        &req,
        canon,
        actix_web::http::StatusCode::CREATED,
        |_| Ok(()),
        move |c, ()| app::residents::import_residents(c, &actor, &text, utc_now()),
    )
    .await
}

/// The largest import file (2 MiB).
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;

/// Reads a body of at most `limit` bytes. Over it the answer is 413 `payload_too_large` as every
/// error is written (the `Bytes` extractor's own refusal is plain text, which the API document
/// does not declare).
async fn read_limited(mut payload: web::Payload, limit: usize, lang: crate::app::Lang) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            log::debug!("import body unreadable: {e}");
            let whole = crate::domain::text::Arg::Key("bad-whole_body");
            ApiError::new(crate::app::AppError::BadRequest { detail: crate::msg!("bad-unreadable", whole = whole) }, lang)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(crate::app::AppError::PayloadTooLarge { limit }, lang));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
