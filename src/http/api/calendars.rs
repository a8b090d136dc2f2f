//! Working calendars (工作日历): every calendar with its years, one year, and publishing a year's
//! holiday schedule (the top admin), which recomputes the open deadlines it touches.

use actix_web::{web, HttpResponse};

use crate::app::calendars::{CalendarView, PublishYear, YearView};
use crate::app::{self, utc_now};
use crate::http::context::{etag, run, run_write, AppState, Auth, IfMatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::input::Json;

fn local_today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

/// Every working calendar with its office hours and its years (stored ones, this year and next),
/// each published or provisional.
#[utoipa::path(get, path = "/api/v1/calendars", operation_id = "list_calendars", tag = "calendars", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<CalendarView>)))]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let v = app::calendars::list(&state.calendars, local_today()).map_err(|e| ApiError::new(e, auth.lang))?;
    Ok(HttpResponse::Ok().json(v))
}

/// One year of a calendar: its holidays, make-up working days and status; a year without a
/// stored schedule shows the standing rule's (provisional).
#[utoipa::path(get, path = "/api/v1/calendars/{name}/years/{year}", operation_id = "get_calendar_year", tag = "calendars",
    params(("name" = String, Path), ("year" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = YearView), (status = 404, body = ErrorBody)))]
pub async fn year(state: web::Data<AppState>, auth: Auth, path: web::Path<(String, i32)>) -> Result<HttpResponse, ApiError> {
    let (name, year) = path.into_inner();
    let cals = state.calendars.clone();
    let v = run(&state, auth.lang, move |c| app::calendars::year_view(c, &cals, &name, year)).await?;
    let mut resp = HttpResponse::Ok();
    if let Some(version) = v.version {
        resp.insert_header(etag(version));
    }
    Ok(resp.json(v))
}

/// Every change of a year's stored schedule, oldest first, from the audit trail (admins).
#[utoipa::path(get, path = "/api/v1/calendars/{name}/years/{year}/history", operation_id = "get_calendar_year_history", tag = "calendars",
    params(("name" = String, Path), ("year" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<crate::app::audit::TimelineEvent>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(state: web::Data<AppState>, auth: Auth, path: web::Path<(String, i32)>) -> Result<HttpResponse, ApiError> {
    let (name, year) = path.into_inner();
    let (cals, actor) = (state.calendars.clone(), auth.who.actor);
    let v = run(&state, auth.lang, move |c| app::calendars::year_history(c, &cals, &actor, &name, year)).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Publishes a year's holiday schedule (国务院放假调休安排), or replaces a stored one (then
/// `If-Match` with its version is required). Only an admin bound to the top unit. Every date is
/// checked and each one at fault is named; the change is audited; every open deadline that
/// touches the year is recomputed at once (what already fired stays) and loses its
/// `provisional` flag.
#[utoipa::path(put, path = "/api/v1/calendars/{name}/years/{year}", operation_id = "publish_calendar_year", tag = "calendars", request_body = PublishYear,
    params(("name" = String, Path), ("year" = i32, Path), ("If-Match" = Option<String>, Header, description = "The stored version, to replace a stored year")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = YearView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
pub async fn publish(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, i32)>,
    version: IfMatch,
    body: Json<PublishYear>,
) -> Result<HttpResponse, ApiError> {
    let (name, year) = path.into_inner();
    let view = publish_and_install(&state, auth.lang, auth.who.actor, name, year, body.0, version.0).await?;
    let mut resp = HttpResponse::Ok();
    if let Some(v) = view.version {
        resp.insert_header(etag(v));
    }
    Ok(resp.json(view))
}

/// Publishes a year (the use case), then installs the new calendars in this server and recomputes
/// the deadlines its own requests computed meanwhile with the old ones: what the API's `PUT` and
/// the admin's calendar page both do.
pub async fn publish_and_install(
    state: &web::Data<AppState>,
    lang: crate::app::Lang,
    actor: crate::domain::Actor,
    name: String,
    year: i32,
    input: app::calendars::PublishYear,
    version: Option<i64>,
) -> Result<app::calendars::YearView, ApiError> {
    let st = state.clone();
    let published = run_write(state, lang, move |c| {
        app::calendars::publish_year(c, &st.calendars, &st.settings.sla, &actor, &name, year, input.clone(), version, utc_now())
    })
    .await?;
    let stored_at = published.view.updated_at.unwrap_or_else(utc_now);
    let changed = vec![app::calendars::ChangedYear { calendar: published.view.calendar.clone(), year, stored_at }];
    state.calendars.install(published.snapshot);
    // Deadlines computed by this server's requests still holding the old calendars.
    let st = state.clone();
    let healed =
        run_write(state, lang, move |c| app::calendars::heal_after_change(c, &st.calendars, &st.settings.sla, &changed, utc_now())).await;
    if let Err(e) = healed {
        log::error!("recomputing after a calendar change failed: {}", e.err.code());
    }
    log::info!("calendar {} {year} stored; {} open deadlines recomputed", published.view.calendar, published.recomputed);
    Ok(published.view)
}
