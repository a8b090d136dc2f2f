//! The task catalogue.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::app::catalogue::{CategoryChanges, CategoryView, NewCategory};
use crate::app::{self, utc_now};
use crate::domain::CategoryId;
use crate::http::context::{etag, run, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CategoryFilter {
    /// Include deactivated categories (default false).
    pub include_inactive: Option<bool>,
}

/// The request categories, city-wide.
#[utoipa::path(get, path = "/api/v1/categories", operation_id = "list_categories", tag = "catalogue", params(CategoryFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<CategoryView>)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<CategoryFilter>) -> Result<HttpResponse, ApiError> {
    let all = q.include_inactive.unwrap_or(false);
    let cats = run(&state, auth.lang, move |c| app::catalogue::list_categories(c, all)).await?;
    Ok(HttpResponse::Ok().json(cats))
}

/// Adds a category (admin of the top unit only).
#[utoipa::path(post, path = "/api/v1/categories", operation_id = "create_category", tag = "catalogue", request_body = NewCategory, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CategoryView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Json<NewCategory>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let cat = run_write(&state, auth.lang, move |c| app::catalogue::create_category(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(cat.version)).json(cat))
}

/// One category.
#[utoipa::path(get, path = "/api/v1/categories/{id}", operation_id = "get_category", tag = "catalogue", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CategoryView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<CategoryId>) -> Result<HttpResponse, ApiError> {
    let cat = run(&state, auth.lang, move |c| app::catalogue::get_category(c, &id.found("category")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(cat.version)).json(cat))
}

/// Changes or deactivates a category. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/categories/{id}", operation_id = "update_category", tag = "catalogue", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = CategoryChanges,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CategoryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<CategoryId>,
    version: IfMatch,
    body: Json<CategoryChanges>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let cat = run_write(&state, auth.lang, move |c| {
        app::catalogue::update_category(c, &actor, &id.found("category")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(cat.version)).json(cat))
}
