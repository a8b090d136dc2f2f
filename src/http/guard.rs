//! What stands in front of every handler: the access guard, which enforces each route's declared
//! rule before its handler runs, and the headers every response carries.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};

use crate::app::auth::{authenticate, Authenticated};
use crate::app::{utc_now, AppError};
use crate::domain::Access;

use super::api;
use super::context::{lang_of, AppState};
use super::error::{self, error_response};
use super::input;
use super::routing;

/// The header carrying the CSRF token for changes made through the session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn bearer_token(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

pub(crate) use crate::app::constant_time_eq;

/// Enforces each route's declared access rule before its handler runs: public routes pass;
/// every other route needs a valid token (bearer header or session cookie), and a change made
/// with the cookie needs the CSRF header. A route missing from the table is refused outright, so
/// a handler registered by some other path can never be reached unguarded.
pub async fn access_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let lang = lang_of(req.request());
    // A NUL in the query or the path is refused before anything looks it up (see `input`).
    if let Some(e) = input::nul_in_url(&req, api::ROUTES) {
        let resp = if super::open311::is_open311_path(req.path()) {
            super::open311::error_for(req.path(), &e, lang)
        } else {
            error_response(&e, lang)
        };
        return Ok(req.into_response(resp).map_into_boxed_body());
    }
    // `/metrics` checks its own token (or the listener it came in on); the metrics listener
    // serves nothing else.
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        if super::metrics::on_metrics_listener(req.request(), state) && req.path() != super::metrics::PATH {
            let resp = error_response(&AppError::NotFound { what: "route" }, lang);
            return Ok(req.into_response(resp).map_into_boxed_body());
        }
    }
    if req.path() == super::metrics::PATH {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let method = req.method().as_str().to_string();
    // The pages have their own table and rule: an anonymous visitor goes to the login page.
    if super::web::is_page_path(req.path()) {
        if let Some(spec) = routing::find_route(super::web::ROUTES, req.match_info().as_str(), &method) {
            if let Some(resp) = super::web::guard::check(&req, spec).await {
                return Ok(req.into_response(resp).map_into_boxed_body());
            }
        }
        // An unknown page or method: the router answers (404 page, 405), no handler runs.
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // Open311 is public by its specification (a POST names its app by `api_key`, which its
    // handler checks); its errors take the spec's form.
    if super::open311::is_open311_path(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // The route the router will pick, found by comparing segments with the table; anything else
    // (an unknown path or method, a percent-encoded segment) goes by the router's own matching.
    let spec = match routing::find_route(api::ROUTES, req.match_info().as_str(), &method) {
        Some(spec) => spec,
        None => {
            let Some(pattern) = req.match_pattern() else {
                return Ok(next.call(req).await?.map_into_boxed_body());
            };
            let specs = api::ROUTES;
            match specs.iter().find(|s| s.path == pattern && s.method == method) {
                Some(spec) => spec,
                None => {
                    if specs.iter().any(|s| s.path == pattern) {
                        // Known path, undeclared method: 405 with the methods the path declares.
                        let mut allowed = routing::methods_of(api::ROUTES, req.match_info().as_str());
                        if allowed.is_empty() {
                            allowed = specs.iter().filter(|s| s.path == pattern).map(|s| s.method).collect();
                        }
                        let resp = error_response(&AppError::MethodNotAllowed { method, allowed }, lang);
                        return Ok(req.into_response(resp).map_into_boxed_body());
                    }
                    log::error!("route {method} {pattern} has no declared access rule; refusing");
                    let resp = HttpResponse::Forbidden().json(error::ErrorBody {
                        code: "no_access_rule".into(),
                        message: "this route has no declared access rule and is refused".into(),
                        field: None,
                        current_version: None,
                        current_state: None,
                        allowed_actions: None,
                        errors: None,
                        retry_after_seconds: None,
                        problems: None,
                    });
                    return Ok(req.into_response(resp).map_into_boxed_body());
                }
            }
        }
    };
    // Public routes pass; an outside system's route is checked by its handler, because its
    // signature covers the body.
    if matches!(spec.access, Access::Public | Access::Client) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("state missing"));
    };
    let cookie_name = state.settings.auth.cookie_name.clone();
    let (token, via_cookie) = match bearer_token(&req) {
        Some(t) => (Some(t), false),
        None => (req.cookie(&cookie_name).map(|c| c.value().to_string()), true),
    };
    let Some(token) = token else {
        let resp = error_response(&AppError::Unauthenticated, lang);
        return Ok(req.into_response(resp).map_into_boxed_body());
    };
    let settings = state.settings.clone();
    let pool = state.pool.clone();
    let outcome: Result<Authenticated, AppError> =
        web::block(move || crate::db::with_pooled(&pool, |conn| authenticate(conn, &settings.auth, &token, utc_now())))
            .await
            .unwrap_or_else(|e| Err(AppError::internal_msg(format!("blocking task failed: {e}"))));
    let who = match outcome {
        Ok(who) => who,
        Err(e) => {
            let resp = error_response(&e, lang);
            return Ok(req.into_response(resp).map_into_boxed_body());
        }
    };
    let unsafe_method = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if via_cookie && unsafe_method {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), who.csrf_token.as_bytes()) {
            let resp = error_response(&AppError::CsrfRejected, lang);
            return Ok(req.into_response(resp).map_into_boxed_body());
        }
    }
    let person = who.actor.person_id;
    req.extensions_mut().insert(who);
    let res = next.call(req).await?;
    // With a replica, a person's heavy reads stay on the primary until it has replayed his
    // latest write (app::replica): recorded after the write committed, before he is answered.
    if state.replica.is_some() && unsafe_method && res.status().is_success() {
        let pool = state.pool.clone();
        let noted =
            web::block(move || crate::db::with_pooled(&pool, |conn| crate::app::replica::Replica::note_write(conn, &person, utc_now())))
                .await;
        match noted {
            Ok(Ok(())) => {}
            // The write stands; only his next heavy reads may miss it until the replica catches up.
            Ok(Err(e)) => log::error!("recording a write for the replica's rule failed: {}", crate::app::error::Plain(&e)),
            Err(e) => log::error!("recording a write for the replica's rule failed: {e}"),
        }
    }
    Ok(res.map_into_boxed_body())
}

/// The pages' Content-Security-Policy: no inline script or style, nothing from another host.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every response carries, errors included:
/// - `X-Content-Type-Options: nosniff`: a browser never guesses another type than the one sent;
/// - `Referrer-Policy: no-referrer`: URLs carry ticket and resident ids, and nothing the service
///   serves needs to tell another site where a visitor came from;
/// - `Content-Security-Policy` ([`PAGE_CSP`] on pages) and `X-Frame-Options: DENY`;
/// - `Cache-Control: no-store` on every response of the API except the OpenAPI document (one
///   rule, because almost every answer of the API carries personal data or a scope's view of
///   it, and a shared or browser cache must keep none of it); a handler's own `Cache-Control`
///   stays.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::{
        HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    let api_data = req.path().starts_with("/api/") && req.path() != "/api/v1/openapi.json";
    let page = super::web::is_page_path(req.path());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages run only our own script and style, load nothing from another host, send forms only
    // here and are never framed; the API's answers are data, never a document to render.
    let csp = if page { PAGE_CSP } else { "default-src 'none'; frame-ancestors 'none'" };
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api_data && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
