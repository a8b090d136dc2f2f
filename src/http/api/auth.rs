//! Login, logout, the session and the current person.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::app::auth::LoginOutcome;
use crate::app::people::PersonView;
use crate::app::{self, utc_now};
use crate::domain::{OrgKind, Role};
use crate::http::context::{run, run_write, AppState, Auth, ReqLang};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::Json;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name or mobile phone number.
    pub login: String,
    #[schema(value_type = String)]
    pub password: crate::domain::pii::Sensitive<String>,
}

/// 登录. Returns a bearer token and sets the session cookie (HttpOnly, SameSite=Lax, Secure when
/// configured). Every failure answers the same 401 `login_failed`; after repeated failures from the
/// client's address or on the account, attempts are refused with 429 `too_many_attempts` and a
/// `Retry-After` header until the wait passes (see the API guide, Authentication).
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginOutcome), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody),
    (status = 429, description = "too_many_attempts: too many failed logins from this address or on this account; retry after `Retry-After`", body = ErrorBody,
    headers(("Retry-After" = i64, description = "seconds to wait")))))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    lang: ReqLang,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings.clone();
    let client = client_of(&req, &state.trusted_proxies);
    let LoginRequest { login, password } = body.into_inner();
    let outcome = run(&state, lang.0, move |c| app::auth::login(c, &settings.auth, &login, password.expose(), client, utc_now())).await?;
    let cookie = session_cookie(&state.settings.auth, outcome.token.clone());
    Ok(HttpResponse::Ok().cookie(cookie).json(outcome))
}

/// The session cookie of a login (the API's and the pages'): HttpOnly, SameSite=Lax, Secure when
/// configured, living as long as the session may.
pub fn session_cookie(auth: &crate::config::AuthSettings, token: String) -> Cookie<'static> {
    Cookie::build(auth.cookie_name.clone(), token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(auth.cookie_secure)
        .max_age(CookieDuration::hours(auth.absolute_timeout_hours))
        .finish()
}

/// The client's address: the TCP peer, or what a trusted reverse proxy says in `X-Forwarded-For`.
pub fn client_of(req: &HttpRequest, trusted: &[crate::domain::net::IpRange]) -> Option<std::net::IpAddr> {
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    crate::domain::net::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trusted)
}

/// 退出: revokes the token (and the cookie) at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let session = auth.who.session_id;
    run_write(&state, auth.lang, move |c| app::auth::logout(c, &session, utc_now())).await?;
    let mut cookie = Cookie::build(state.settings.auth.cookie_name.clone(), "").path("/").http_only(true).finish();
    cookie.make_removal();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    #[serde(with = "crate::app::rfc3339")]
    pub expires_at: chrono::NaiveDateTime,
    /// Send in `X-CSRF-Token` with every change made through the session cookie.
    pub csrf_token: String,
}

/// The current session: its absolute expiry and CSRF token (for pages that use the cookie).
#[utoipa::path(get, path = "/api/v1/auth/session", operation_id = "get_session", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn session(auth: Auth) -> HttpResponse {
    HttpResponse::Ok().json(SessionInfo { expires_at: auth.who.expires_at, csrf_token: auth.who.csrf_token.clone() })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub role: Role,
    pub role_zh: String,
    pub org_unit_id: String,
    pub org_kind: OrgKind,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub person: PersonView,
    /// The active roles, each reaching its unit's subtree.
    pub grants: Vec<GrantView>,
}

/// The logged-in person and his active roles.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "get_me", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(state: web::Data<AppState>, auth: Auth, _lang: ReqLang) -> Result<HttpResponse, ApiError> {
    let actor = auth.who.actor.clone();
    let grants = actor
        .grants
        .iter()
        .map(|g| GrantView {
            role: g.role,
            role_zh: crate::i18n::text(crate::i18n::Lang::Zh, g.role.label_key()),
            org_unit_id: g.org_unit_id.to_string(),
            org_kind: g.org_kind,
        })
        .collect();
    let person = run(&state, auth.lang, move |c| app::people::me(c, &actor)).await?;
    Ok(HttpResponse::Ok().json(MeView { person, grants }))
}
