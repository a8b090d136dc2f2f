//! People and memberships.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::app::people::{NewMembership, NewPerson, PeopleFilter, PersonChanges, PersonView};
use crate::app::{self, utc_now};
use crate::domain::{MembershipId, PersonId};
use crate::http::context::{etag, run, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::{IdPath, Json};

/// People with a membership in the caller's scope (and the caller himself).
#[utoipa::path(get, path = "/api/v1/people", operation_id = "list_people", tag = "people", params(PeopleFilter), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<PersonView>), (status = 422, body = ErrorBody)))]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<PeopleFilter>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let people = run(&state, auth.lang, move |c| app::people::list_people(c, &actor, q.into_inner())).await?;
    Ok(HttpResponse::Ok().json(people))
}

/// 新增人员 with a first role at a unit in the admin's scope.
#[utoipa::path(post, path = "/api/v1/people", operation_id = "create_person", tag = "people", request_body = NewPerson, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = PersonView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Json<NewPerson>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let settings = state.settings.clone();
    let person =
        run_write(&state, auth.lang, move |c| app::people::create_person(c, &settings.auth, &actor, body.0.clone(), utc_now())).await?;
    Ok(HttpResponse::Created().insert_header(etag(person.version)).json(person))
}

/// One person.
#[utoipa::path(get, path = "/api/v1/people/{id}", operation_id = "get_person", tag = "people", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: IdPath<PersonId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let person = run(&state, auth.lang, move |c| app::people::get_person(c, &actor, &id.found("person")?)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(person.version)).json(person))
}

/// Changes a person's name, phone or language. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/people/{id}", operation_id = "update_person", tag = "people", params(("id" = uuid::Uuid, Path), ("If-Match" = String, Header)), request_body = PersonChanges,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody),
        (status = 409, description = "login_taken: the phone number is another person's", body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 428, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<PersonId>,
    version: IfMatch,
    body: Json<PersonChanges>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let person = run_write(&state, auth.lang, move |c| {
        app::people::update_person(c, &actor, &id.found("person")?, version.0, body.0.clone(), utc_now())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(person.version)).json(person))
}

/// 停用: the person's tokens stop working at once. Nobody disables himself (422).
#[utoipa::path(post, path = "/api/v1/people/{id}/disable", operation_id = "disable_person", tag = "people", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn disable(state: web::Data<AppState>, auth: Auth, id: IdPath<PersonId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let person =
        run_write(&state, auth.lang, move |c| app::people::set_person_active(c, &actor, &id.found("person")?, false, utc_now())).await?;
    Ok(HttpResponse::Ok().json(person))
}

/// 启用 a disabled person again; on any person, also lifts the login throttling of his account.
#[utoipa::path(post, path = "/api/v1/people/{id}/enable", operation_id = "enable_person", tag = "people", params(("id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody)))]
pub async fn enable(state: web::Data<AppState>, auth: Auth, id: IdPath<PersonId>) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let person =
        run_write(&state, auth.lang, move |c| app::people::set_person_active(c, &actor, &id.found("person")?, true, utc_now())).await?;
    Ok(HttpResponse::Ok().json(person))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    #[schema(value_type = String, min_length = 8, max_length = 200)]
    pub password: crate::domain::pii::Sensitive<String>,
}

/// 重置密码: also lifts the login throttling of the account and ends the person's sessions.
#[utoipa::path(post, path = "/api/v1/people/{id}/password", operation_id = "reset_password", tag = "people", params(("id" = uuid::Uuid, Path)), request_body = PasswordReset,
    security(("bearer" = []), ("cookie" = [])), responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<PersonId>,
    body: Json<PasswordReset>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let settings = state.settings.clone();
    run_write(&state, auth.lang, move |c| {
        app::people::reset_password(c, &settings.auth, &actor, &id.found("person")?, body.password.expose(), utc_now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grants a role at a unit in the admin's scope (granting an ended one again reactivates it).
#[utoipa::path(post, path = "/api/v1/people/{id}/memberships", operation_id = "add_membership", tag = "people", params(("id" = uuid::Uuid, Path)), request_body = NewMembership,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody),
        (status = 409, description = "already_exists: the same grant was made at the same moment", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_membership(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<PersonId>,
    body: Json<NewMembership>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    let person =
        run_write(&state, auth.lang, move |c| app::people::add_membership(c, &actor, &id.found("person")?, body.0.clone(), utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(person))
}

/// Ends a membership; the record is kept, inactive. An admin does not end his own admin membership (422).
#[utoipa::path(post, path = "/api/v1/people/{id}/memberships/{membership_id}/end", operation_id = "end_membership", tag = "people",
    params(("id" = uuid::Uuid, Path), ("membership_id" = uuid::Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn end_membership(
    state: web::Data<AppState>,
    auth: Auth,
    id: IdPath<PersonId>,
    membership: IdPath<MembershipId, 1>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor;
    // A membership segment that is no id names no membership: the person is looked up first.
    let membership = membership.into_option();
    let person =
        run_write(&state, auth.lang, move |c| app::people::end_membership(c, &actor, &id.found("person")?, membership.as_ref(), utc_now()))
            .await?;
    Ok(HttpResponse::Ok().json(person))
}
