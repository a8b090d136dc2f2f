//! `/metrics` (监控指标): the process's counters and histograms and the database's backlogs, in
//! the OpenMetrics text format a Prometheus server scrapes. Served on the service's address to a
//! bearer of `metrics.token`, or without a token on an address of its own (`metrics.bind`); off
//! when neither is set. The recording middleware for every request is here too.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::{lang_of, AppState};
use super::error::error_response;
use crate::app::AppError;

pub const PATH: &str = "/metrics";

/// Times every request and counts it by the route's pattern (never the path: no ids, no names),
/// its method and its status.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // Only the methods the service knows become label values: a client's made-up verbs would
    // otherwise make a series each.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    crate::metrics::get().request(&method, &route, status, started.elapsed());
    res
}

/// Whether this request came in on the metrics listener (`metrics.bind`).
pub fn on_metrics_listener(req: &HttpRequest, state: &AppState) -> bool {
    state.metrics_addr.is_some_and(|a| req.app_config().local_addr() == a)
}

/// `GET /metrics`.
pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = lang_of(&req);
    if !on_metrics_listener(&req, &state) {
        let token = &state.settings.metrics.token;
        if token.is_empty() {
            return error_response(&AppError::NotFound { what: "route" }, lang);
        }
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string())
            .unwrap_or_default();
        if !crate::app::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return error_response(&AppError::Unauthenticated, lang);
        }
    }
    let m = crate::metrics::get();
    let pool = state.pool.state();
    m.pool_connections.set(pool.connections as i64);
    m.pool_idle.set(pool.idle_connections as i64);
    let today = chrono::Utc::now().with_timezone(&state.calendars.default_calendar().tz).date_naive();
    let years: Vec<(String, i32)> = state.calendars.warnings(today).into_iter().map(|w| (w.calendar, w.year)).collect();
    m.set_provisional_years(&years);
    // The backlogs from the database, with a short wait: a scrape that hangs is worse than one
    // that says the database did not answer (`gridloop_db_up 0`).
    let p = state.pool.clone();
    let backlog = web::block(move || {
        let mut conn = p.get_timeout(std::time::Duration::from_secs(2)).map_err(|e| AppError::Unavailable(e.into()))?;
        crate::app::backlog::backlog(&mut conn, crate::app::utc_now())
    })
    .await;
    match backlog {
        Ok(Ok(b)) => {
            m.db_up.set(1);
            m.clocks_due.set(b.clocks_due);
            m.deliveries_waiting.set(b.deliveries_waiting);
        }
        _ => {
            m.db_up.set(0);
        }
    }
    HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).insert_header(("Cache-Control", "no-store")).body(m.encode())
}
