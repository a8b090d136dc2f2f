//! The resident's own page (居民查询页), opened by the link he was sent: no login, his request's
//! stage in plain words, its steps without staff names or personal data, the expected date and,
//! once solved, his rating. A wrong, expired or revoked link answers the same "not found"; each
//! address may open at most [`PER_MINUTE`] of these pages a minute (429 beyond).

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::app::outside::links::{self, PublicStatus};
use crate::app::{utc_now, AppError};
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Clock, Form, PageError, Visitor};

/// Pages (and ratings) one address may ask for in a minute, whatever the token: enough for a
/// family sharing a connection, far too few to try tokens.
pub const PER_MINUTE: u32 = 30;

/// Requests per address in the current minute (this process's; see docs/operations.md).
static SEEN: Mutex<Option<HashMap<String, (i64, u32)>>> = Mutex::new(None);

/// Counts a request of `address`; `false` when it is over the minute's budget.
fn admit(address: &str, minute: i64) -> bool {
    let mut guard = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = guard.get_or_insert_with(HashMap::new);
    if seen.len() > 50_000 {
        seen.retain(|_, (m, _)| *m == minute);
    }
    let e = seen.entry(address.to_string()).or_insert((minute, 0));
    if e.0 != minute {
        *e = (minute, 0);
    }
    e.1 += 1;
    e.1 <= PER_MINUTE
}

fn limited(state: &AppState, req: &HttpRequest) -> Option<AppError> {
    let address = crate::http::api::auth::client_of(req, &state.trusted_proxies).map(|a| a.to_string()).unwrap_or_default();
    let now = utc_now();
    let minute = now.and_utc().timestamp() / 60;
    (!admit(&address, minute)).then(|| AppError::TooManyAttempts { retry_after_seconds: 60 - now.and_utc().timestamp() % 60 })
}

struct Step {
    text: String,
    at: String,
}

#[derive(Template)]
#[template(path = "resident_status.html")]
struct StatusPage {
    c: Chrome,
    s: PublicStatus,
    token: String,
    stage: String,
    category: String,
    filed: String,
    expected: String,
    steps: Vec<Step>,
    rating: String,
    flash: String,
}

fn chrome(v: &Visitor, token: &str) -> Chrome {
    let mut c = Chrome::anonymous(v.lang, "resident-title", &format!("/s/{token}"));
    if let Some(who) = &v.who {
        c.csrf = who.csrf_token.clone();
    }
    c
}

fn render(state: &AppState, v: &Visitor, token: String, s: PublicStatus, flash: String) -> HttpResponse {
    let c = chrome(v, &token);
    let clock = Clock::new(state, c.tr);
    let steps = s.steps.iter().rev().map(|st| Step { text: c.tr.t(st.key), at: clock.at(&st.at) }).collect();
    let page = StatusPage {
        stage: c.tr.t(s.stage_key),
        category: if v.lang == crate::i18n::Lang::En { s.category_en.clone() } else { s.category_zh.clone() },
        filed: clock.at(&s.filed_at),
        expected: clock.at_opt(&s.expected_at),
        rating: s.rating.map(|r| c.tr.t(r.label_key())).unwrap_or_default(),
        steps,
        token,
        flash,
        s,
        c,
    };
    html(StatusCode::OK, &page)
}

/// `GET /s/{token}`: the page.
pub async fn show(state: web::Data<AppState>, req: HttpRequest, v: Visitor, token: web::Path<String>) -> Result<HttpResponse, PageError> {
    let lang = v.lang;
    if let Some(err) = limited(&state, &req) {
        return Err(PageError { err, lang });
    }
    let token = token.into_inner();
    let t = token.clone();
    let s = page::run(&state, lang, move |c| links::public_status(c, &t, utc_now())).await?;
    Ok(render(&state, &v, token, s, String::new()))
}

/// `POST /s/{token}/rating`: the resident's rating (满意 / 基本满意 / 不满意) and comment.
pub async fn rate(
    state: web::Data<AppState>,
    req: HttpRequest,
    v: Visitor,
    token: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, PageError> {
    let lang = v.lang;
    if let Some(err) = limited(&state, &req) {
        return Err(PageError { err, lang });
    }
    let token = token.into_inner();
    let t = token.clone();
    let rating = form.get("rating").unwrap_or_default();
    let comment = form.get("comment");
    let s = page::run(&state, lang, move |c| links::rate(c, &t, &rating, comment.clone(), utc_now())).await?;
    let thanks = crate::i18n::text(lang, "resident-thanks");
    Ok(render(&state, &v, token, s, thanks))
}
