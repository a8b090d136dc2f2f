//! The guard of the pages: the same session as the API's cookie, but an anonymous visitor is sent
//! to the login page (303) instead of getting a 401, and a change sent from another site is
//! refused. The CSRF token itself is checked where the form is read ([`super::page::Form`]),
//! because it travels in the form's body.

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpResponse};

use crate::app::auth::{authenticate, Authenticated};
use crate::app::{utc_now, AppError};
use crate::domain::Access;
use crate::http::context::AppState;
use crate::http::routing::RouteSpec;

use super::page;

/// Where an anonymous visitor of `path_and_query` is sent: the login page, which brings him back.
pub fn login_redirect(path_and_query: &str) -> HttpResponse {
    let next = url::form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect::<String>();
    let to = if path_and_query == "/" { "/login".to_string() } else { format!("/login?next={next}") };
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// Checks a page request against its route's rule. `None`: let it through (the person, when there
/// is one, is in the request's extensions); `Some`: answer this instead.
pub async fn check(req: &ServiceRequest, spec: &RouteSpec) -> Option<HttpResponse> {
    let unsafe_method = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    // A browser says where a request comes from; a change started on another site is refused
    // before anything reads it (the CSRF token in the form is checked too).
    if unsafe_method && req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        let lang = page::anonymous_lang(req.request());
        return Some(page::error_page(&AppError::CsrfRejected, lang, None));
    }
    if spec.path.starts_with("/assets/") {
        return None;
    }
    let state = req.app_data::<web::Data<AppState>>()?.clone();
    let token = req.cookie(&state.settings.auth.cookie_name).map(|c| c.value().to_string());
    let who: Option<Authenticated> = match token {
        None => None,
        Some(token) => {
            let settings = state.settings.clone();
            let pool = state.pool.clone();
            let outcome = web::block(move || crate::db::with_pooled(&pool, |conn| authenticate(conn, &settings.auth, &token, utc_now())))
                .await
                .unwrap_or_else(|e| Err(AppError::internal_msg(format!("blocking task failed: {e}"))));
            match outcome {
                Ok(who) => Some(who),
                Err(AppError::Unauthenticated) => None,
                Err(e) => return Some(page::error_page(&e, page::anonymous_lang(req.request()), None)),
            }
        }
    };
    match (who, spec.access) {
        (Some(who), _) => {
            req.extensions_mut().insert(who);
            None
        }
        (None, Access::Public) => None,
        (None, _) => {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            // After a form sent with an expired session, come back to the page that showed it.
            let target = if unsafe_method { "/" } else { target };
            Some(login_redirect(target))
        }
    }
}
