//! Request extractors shared by every handler: the caller's language, the authenticated actor
//! (placed by the access guard), `If-Match` versions, and `run`/`run_write`/`run_idempotent`, the
//! ways a handler reaches the database (a pooled connection inside `web::block`, never on the
//! async worker) besides the intake, which filings and workflow actions go through.

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
    /// The working calendars: a shared handle that a calendar change replaces under every thread.
    pub calendars: crate::app::calendars::Calendars,
    pub visits: Arc<crate::domain::visits::VisitRules>,
    /// Where `POST /tickets` hands its checked filings to be written together.
    pub intake: crate::app::intake::Intake,
    /// `server.trusted_proxies`, parsed: the peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<crate::domain::net::IpRange>>,
    /// Where photos are kept (`photos.dir`).
    pub photos: Arc<dyn crate::app::photos::PhotoStore>,
    /// The oversight desks' shared open counts (`server.overview_refresh_s`).
    pub overview: Arc<crate::app::board::OverviewCache>,
    /// The address of the metrics listener (`metrics.bind`), once bound.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The streaming replica heavy reads go to (`database.replica_url`), if any.
    pub replica: Option<Arc<crate::app::replica::Replica>>,
}

impl AppState {
    /// What the SLA code needs: the limits and the calendars.
    pub fn sla(&self) -> crate::app::sla::SlaContext<'_> {
        crate::app::sla::SlaContext { settings: &self.settings.sla, calendars: &self.calendars }
    }

    /// What the visit-log code needs: the visit rules and the SLA context.
    pub fn visits(&self) -> crate::app::visits::VisitContext<'_> {
        crate::app::visits::VisitContext { rules: &self.visits, sla: self.sla() }
    }
}

pub fn lang_of(req: &HttpRequest) -> Lang {
    Lang::from_accept_language(req.headers().get("accept-language").and_then(|v| v.to_str().ok()))
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
            Some(who) => Ok(Auth { who: who.clone(), lang }),
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
        ready(
            text.parse::<i64>()
                .map(|v| IfMatch(Some(v)))
                .map_err(|_| ApiError::new(AppError::validation("If-Match", crate::msg!("rule-if_match")), lang)),
        )
    }
}

/// Runs a use case on a pooled connection off the async worker, rendering errors in `lang`.
pub async fn run<T, F>(state: &AppState, lang: Lang, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || crate::db::with_pooled(&pool, f))
        .await
        .map_err(|e| ApiError::new(AppError::internal_msg(format!("blocking task failed: {e}")), lang))?
        .map_err(|e| ApiError::new(e, lang))
}

/// Like [`run`], for a heavy read of `person`'s (rankings, exports, boards, searches) that must
/// not write: on the streaming replica when there is one and the rule of bounded staleness allows
/// it (`app::replica`), else on the primary. Without `database.replica_url`, exactly [`run`].
pub async fn run_report<T, F>(state: &AppState, person: crate::domain::PersonId, lang: Lang, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    let Some(replica) = state.replica.clone() else { return run(state, lang, f).await };
    let pool = state.pool.clone();
    web::block(move || crate::app::replica::read(&replica, &pool, &person, f))
        .await
        .map_err(|e| ApiError::new(AppError::internal_msg(format!("blocking task failed: {e}")), lang))?
        .map_err(|e| ApiError::new(e, lang))
}

/// Like [`run`], for commands that write (see `backend::write_transaction`). `f` runs again if
/// the database breaks its transaction off to resolve a conflict (a deadlock victim).
pub async fn run_write<T, F>(state: &AppState, lang: Lang, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnMut(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    run(state, lang, move |conn| crate::db::backend::write_transaction(conn, f)).await
}

/// The address the pages are opened at, for links sent out (a resident's link): `notify.base_url`,
/// or, when it is not set, the scheme and host this request came to.
pub fn public_base(state: &AppState, req: &HttpRequest) -> String {
    let configured = state.settings.notify.base_url.trim().trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// An `ETag` value for a version.
pub fn etag(version: i64) -> (&'static str, String) {
    ("ETag", format!("\"{version}\""))
}

use crate::app::intake::Filed as Outcome;

/// The request's `Idempotency-Key`, checked, if it has one.
pub fn idempotency_key(req: &HttpRequest, lang: Lang) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().unwrap_or("").to_string();
            crate::app::idempotency::validate_key(&k).map_err(|e| ApiError::new(e, lang))?;
            Ok(Some(k))
        }
    }
}

/// The response of a creating POST: the fresh body with `status`, or the first answer replayed.
pub fn filed_response(status: actix_web::http::StatusCode, outcome: Outcome) -> actix_web::HttpResponse {
    match outcome {
        Outcome::Fresh(body) => actix_web::HttpResponse::build(status).content_type("application/json").body(body),
        Outcome::Replay(s) => actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(s.status).unwrap_or(status))
            .content_type("application/json")
            .insert_header(("Idempotent-Replayed", "true"))
            .body(s.body),
    }
}

/// Runs a creating POST so that a retry with the same `Idempotency-Key` returns the first
/// response and changes nothing. The key and the response are stored in the transaction that
/// made the change; a concurrent twin loses on the key's primary key and replays the winner.
///
/// `prepare` runs outside that transaction, after the key was found fresh: work that must not
/// hold locks until commit (taking a ticket number) goes there.
pub async fn run_idempotent<T, P, Prep, F>(
    state: &AppState,
    auth: &Auth,
    req: &HttpRequest,
    canonical_body: String,
    status: actix_web::http::StatusCode,
    prepare: Prep,
    f: F,
) -> Result<actix_web::HttpResponse, ApiError>
where
    T: serde::Serialize + Send + 'static,
    P: Send + 'static,
    Prep: FnMut(&mut DbConn) -> AppResult<P> + Send + 'static,
    F: FnMut(&mut DbConn, P) -> AppResult<T> + Send + 'static,
{
    use crate::app::idempotency;
    let lang = auth.lang;
    let key = idempotency_key(req, lang)?;
    let (mut prepare, mut f) = (prepare, f);
    let Some(key) = key else {
        let v = run_write(state, lang, move |conn| {
            let p = prepare(conn)?;
            f(conn, p)
        })
        .await?;
        return Ok(actix_web::HttpResponse::build(status).json(v));
    };
    let hash = idempotency::request_hash(req.method().as_str(), req.path(), &canonical_body);
    let key = crate::app::intake::KeyRecord { person_id: auth.who.actor.person_id, key, request_hash: hash };
    let outcome = run(state, lang, move |conn| {
        crate::app::intake::keyed_write(conn, Some(&key), status.as_u16(), crate::app::utc_now(), prepare, |conn, p| {
            crate::app::intake::to_body(&f(conn, p)?)
        })
    })
    .await?;
    Ok(filed_response(status, outcome))
}
