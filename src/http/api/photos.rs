//! Photos of a ticket: upload (the raw image as the body), list, and the image itself.

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::app::photos::Cleaned;
use crate::app::tickets::{PhotoKind, PhotoView};
use crate::app::{self, utc_now, AppError, Lang};
use crate::domain::{PhotoId, TicketId};
use crate::http::context::{run, run_write, AppState, Auth};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::IdPath;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// `request` (the request's photo, the default) or `solution` (the solved report's, 办结照片).
    #[param(inline)]
    pub kind: Option<PhotoKind>,
}

/// Reads a body up to `limit` bytes, refusing a larger one with 413 as soon as it passes.
pub async fn read_limited(mut payload: web::Payload, limit: usize, lang: Lang) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(AppError::BadRequest { detail: crate::msg!("rule-photo_format") }, lang))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(AppError::PayloadTooLarge { limit }, lang));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Cleans a photo off the async worker (decoding is CPU work).
pub async fn clean(state: &AppState, bytes: Vec<u8>, lang: Lang) -> Result<Cleaned, ApiError> {
    let settings = state.settings.photos.clone();
    web::block(move || app::photos::clean(&bytes, &settings))
        .await
        .map_err(|e| ApiError::new(AppError::internal_msg(format!("blocking task failed: {e}")), lang))?
        .map_err(|e| ApiError::new(e, lang))
}

/// 上传照片: the photo as the body (JPEG, PNG or WebP, up to `photos.max_bytes`). It is turned
/// upright, scaled down and stripped of its metadata (EXIF: place, device); the same photo sent
/// again is the one already there (200 instead of 201), so a retry on a bad network adds nothing.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/photos", operation_id = "upload_ticket_photo", tag = "tickets",
    params(("id" = uuid::Uuid, Path), UploadParams),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "the photo: image/jpeg, image/png or image/webp"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = PhotoView), (status = 200, description = "the same photo was already there", body = PhotoView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<TicketId>,
    q: web::Query<UploadParams>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let lang = auth.lang;
    let bytes = read_limited(payload, state.settings.photos.max_bytes, lang).await?;
    let cleaned = clean(&state, bytes, lang).await?;
    let (actor, store) = (auth.who.actor, state.photos.clone());
    let kind = q.kind.unwrap_or(PhotoKind::Request);
    let (view, fresh) =
        run_write(&state, lang, move |c| app::tickets::attach(c, store.as_ref(), &actor, &id.found("ticket")?, kind, &cleaned, utc_now()))
            .await?;
    Ok(if fresh { HttpResponse::Created() } else { HttpResponse::Ok() }.json(view))
}

/// The photos of a ticket, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/photos", operation_id = "list_ticket_photos", tag = "tickets", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = Vec<PhotoView>), (status = 404, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, id: IdPath<TicketId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let photos = run(&state, auth.lang, move |c| app::tickets::list_photos(c, &actor, &id.found("ticket")?)).await?;
    Ok(HttpResponse::Ok().json(photos))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PhotoParams {
    /// `thumb` for the thumbnail; the photo otherwise.
    pub size: Option<String>,
}

/// Whether `size` asks for the thumbnail (`thumb`) or the photo (`full`, the default).
pub fn wants_thumb(size: Option<&str>) -> Result<bool, AppError> {
    match size {
        None | Some("full") => Ok(false),
        Some("thumb") => Ok(true),
        Some(_) => Err(AppError::validation("size", crate::msg!("rule-one_of", values = "thumb, full"))),
    }
}

/// Reads a photo's file for someone who may see its ticket.
pub async fn image(state: &AppState, actor: crate::domain::Actor, id: PhotoId, thumb: bool, lang: Lang) -> Result<Vec<u8>, ApiError> {
    let row = run(state, lang, move |c| app::tickets::photo_for(c, &actor, &id)).await?;
    stored(state, if thumb { row.thumb_sha256 } else { row.sha256 }, lang).await
}

/// The bytes the photo store keeps under a SHA-256 (a ticket's photo or a consultation item's).
pub async fn stored(state: &AppState, sha: String, lang: Lang) -> Result<Vec<u8>, ApiError> {
    let store = state.photos.clone();
    web::block(move || store.get(&sha))
        .await
        .map_err(|e| ApiError::new(AppError::internal_msg(format!("blocking task failed: {e}")), lang))?
        .map_err(|e| ApiError::new(e, lang))
}

/// A photo (JPEG), or its thumbnail with `size=thumb`; 404 for a photo of a ticket out of scope.
#[utoipa::path(get, path = "/api/v1/photos/{id}", operation_id = "get_photo", tag = "tickets", params(("id" = uuid::Uuid, Path), PhotoParams),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<PhotoId>,
    q: web::Query<PhotoParams>,
) -> Result<HttpResponse, ApiError> {
    let thumb = wants_thumb(q.size.as_deref()).map_err(|e| ApiError::new(e, auth.lang))?;
    let id = id.found("photo").map_err(|e| ApiError::new(e, auth.lang))?;
    let bytes = image(&state, auth.who.actor, id, thumb, auth.lang).await?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").body(bytes))
}
