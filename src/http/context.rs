//! Request extractors shared by every handler: the caller's language, the authenticated actor
//! (placed by the access guard), `If-Match` versions, and `run`, the one way a handler reaches the
//! database (a pooled connection inside `web::block`, never on the async worker).

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::app::auth::Authenticated;
use crate::app::{AppError, AppResult, Lang};
use crate::config::Settings;
use crate::db::{DbConn, DbPool};

use super::error::ApiError;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
}

pub fn lang_of(req: &HttpRequest) -> Lang {
    Lang::from_accept_language(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
    )
}

/// The language to answer in.
pub struct ReqLang(pub Lang);

impl FromRequest for ReqLang {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ReqLang(lang_of(req))))
    }
}

/// The logged-in caller. Only routes whose access rule needs a login have one; the access guard
/// resolved it before the handler ran.
pub struct Auth {
    pub who: Authenticated,
    pub lang: Lang,
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = lang_of(req);
        ready(match req.extensions().get::<Authenticated>() {
            Some(who) => Ok(Auth {
                who: who.clone(),
                lang,
            }),
            None => Err(ApiError::new(AppError::Unauthenticated, lang)),
        })
    }
}

/// The version in an `If-Match` header (`"3"`, `W/"3"` or `3`), if any.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = lang_of(req);
        let Some(raw) = req.headers().get("if-match") else {
            return ready(Ok(IfMatch(None)));
        };
        let text = raw.to_str().unwrap_or("").trim();
        let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        ready(text.parse::<i64>().map(|v| IfMatch(Some(v))).map_err(|_| {
            ApiError::new(
                AppError::validation(
                    "If-Match",
                    "must be the version number from the ETag, e.g. \"3\"",
                ),
                lang,
            )
        }))
    }
}

/// Runs a use case on a pooled connection off the async worker, rendering errors in `lang`.
pub async fn run<T, F>(state: &AppState, lang: Lang, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            AppError::internal_msg(format!("blocking task failed: {e}")),
            lang,
        )
    })?
    .map_err(|e| ApiError::new(e, lang))
}

/// An `ETag` value for a version.
pub fn etag(version: i64) -> (&'static str, String) {
    ("ETag", format!("\"{version}\""))
}
