//! Logging in and out, and the language switch.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::{self, utc_now, AppError};
use crate::http::context::AppState;
use crate::http::web::page::{self, html, local_path, see_other, Chrome, Flash, Form, Page, PageError, Visitor, LANG_COOKIE};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    flash: Option<Flash>,
    next: String,
    login: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the form; someone logged in already goes home.
pub async fn form(v: Visitor, q: web::Query<NextQuery>) -> HttpResponse {
    let next = local_path(q.next.as_deref());
    if v.who.is_some() {
        return see_other(&next);
    }
    html(StatusCode::OK, &LoginPage { c: Chrome::anonymous(v.lang, "login-title", "/login"), flash: None, next, login: String::new() })
}

/// `POST /login`: the same login, throttling and answers as the API's; on success the session
/// cookie and a redirect to the page asked for.
pub async fn submit(state: web::Data<AppState>, req: HttpRequest, v: Visitor, form: Form) -> Result<HttpResponse, PageError> {
    let next = local_path(form.get("next").as_deref());
    let login = form.get("login").unwrap_or_default();
    let password = form.raw("password");
    let settings = state.settings.clone();
    let client = crate::http::api::auth::client_of(&req, &state.trusted_proxies);
    let l = login.clone();
    let outcome = page::run(&state, v.lang, move |c| app::auth::login(c, &settings.auth, &l, &password, client, utc_now())).await;
    match outcome {
        Ok(o) => {
            let cookie = crate::http::api::auth::session_cookie(&state.settings.auth, o.token);
            Ok(HttpResponse::SeeOther().cookie(cookie).insert_header(("Location", next)).finish())
        }
        Err(PageError { err, lang })
            if matches!(err, AppError::LoginFailed | AppError::TooManyAttempts { .. } | AppError::Validation { .. }) =>
        {
            let status = crate::http::error::status_of(&err);
            let mut resp = html(
                status,
                &LoginPage { c: Chrome::anonymous(lang, "login-title", "/login"), flash: Flash::error(err.message(lang)), next, login },
            );
            if let AppError::TooManyAttempts { retry_after_seconds, .. } = err {
                resp.headers_mut().insert(actix_web::http::header::RETRY_AFTER, retry_after_seconds.into());
            }
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// `POST /logout`: ends the session at once.
pub async fn logout(state: web::Data<AppState>, p: Page, _form: Form) -> Result<HttpResponse, PageError> {
    let session = p.who.session_id;
    page::run_write(&state, p.lang, move |c| app::auth::logout(c, &session, utc_now())).await?;
    let mut cookie = Cookie::build(state.settings.auth.cookie_name.clone(), "").path("/").http_only(true).finish();
    cookie.make_removal();
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header(("Location", "/login")).finish())
}

/// `POST /language`: zh-CN or English, remembered in the person's record when he is logged in
/// (his other devices follow), and in a cookie for the login page.
pub async fn language(state: web::Data<AppState>, v: Visitor, form: Form) -> Result<HttpResponse, PageError> {
    let locale = match form.get("lang").as_deref() {
        Some("en") => "en",
        _ => "zh-CN",
    };
    if let Some(who) = v.who {
        let actor = who.actor.clone();
        page::run_write(&state, v.lang, move |c| app::people::set_own_locale(c, &actor, locale, utc_now())).await?;
    }
    let cookie = Cookie::build(LANG_COOKIE, locale).path("/").same_site(SameSite::Lax).max_age(CookieDuration::days(365)).finish();
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header(("Location", local_path(form.get("back").as_deref()))).finish())
}
