//! The org tree.

use actix_web::{web, HttpResponse};

use crate::app::org::{NewOrgUnit, OrgUnitChanges, OrgUnitFilter, OrgUnitView};
use crate::app::{self, utc_now};
use crate::domain::OrgUnitId;
use crate::http::context::{etag, run, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// The org units in the caller's scope, in code order.
#[utoipa::path(get, path = "/api/v1/org-units", operation_id = "list_org_units", tag = "org", params(OrgUnitFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<OrgUnitView>), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<OrgUnitFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let units = run(&state, auth.lang, move |c| app::org::list_units(c, &actor, q.into_inner())).await?;
    Ok(HttpResponse::Ok().json(units))
}

/// 新建组织单元 under a parent in the admin's scope.
#[utoipa::path(post, path = "/api/v1/org-units", operation_id = "create_org_unit", tag = "org", request_body = NewOrgUnit, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = OrgUnitView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Json<NewOrgUnit>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let unit = run_write(&state, auth.lang, move |c| app::org::create_unit(c, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(unit.version)).json(unit))
}

/// One org unit.
#[utoipa::path(get, path = "/api/v1/org-units/{id}", operation_id = "get_org_unit", tag = "org", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = OrgUnitView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<OrgUnitId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let unit = run(&state, auth.lang, move |c| app::org::get_unit(c, &actor, &id.found("org unit")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(unit.version)).json(unit))
}

/// Renames, recodes, deactivates (with its subtree) or reactivates a unit. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/org-units/{id}", operation_id = "update_org_unit", tag = "org", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = OrgUnitChanges,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = OrgUnitView), (status = 404, body = ErrorBody),
        (status = 409, description = "code_taken: the new code is another unit's", body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 428, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<OrgUnitId>,
    version: IfMatch,
    body: Json<OrgUnitChanges>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let unit = run_write(&state, auth.lang, move |c| {
        app::org::update_unit(c, &actor, &id.found("org unit")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(unit.version)).json(unit))
}
