//! Health and the API document.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::http::context::{AppState, ReqLang};
use crate::http::error::error_response;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
    /// What an operator must act on while the service goes on, e.g. a calendar year whose
    /// official schedule is not published (`current_year_provisional`, `next_year_provisional`
    /// from 1 November).
    pub warnings: Vec<HealthWarning>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthWarning {
    #[serde(flatten)]
    pub warning: crate::app::calendars::CalendarWarning,
    /// The warning in the caller's language.
    pub message: String,
}

/// Reports whether the database answers: 200 (with warnings an operator must act on, such as an
/// unpublished calendar year), or 503 when it does not.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "system", responses(
    (status = 200, description = "The service and its database are up", body = Health),
    (status = 503, description = "The database does not answer", body = crate::http::error::ErrorBody)))]
pub async fn healthz(state: web::Data<AppState>, lang: ReqLang) -> HttpResponse {
    let pool = state.pool.clone();
    let ok = web::block(move || {
        // A short wait: a health check that hangs is worse than one that says no.
        match pool.get_timeout(std::time::Duration::from_secs(2)) {
            Ok(mut c) => crate::db::ping(&mut c),
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false);
    if ok {
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        let warnings =
            state.calendars.warnings(today).into_iter().map(|w| HealthWarning { message: w.message(lang.0), warning: w }).collect();
        HttpResponse::Ok().json(Health { status: "ok", database: "ok", warnings })
    } else {
        error_response(&crate::app::AppError::Unavailable(anyhow::anyhow!("health check: database did not answer")), lang.0)
    }
}

/// This document (rendered once, when the server starts).
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "get_openapi_document", tag = "system", responses((status = 200, description = "The OpenAPI 3 document")))]
pub async fn openapi(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}

/// The OpenAPI document as served, rendered once when the server starts.
pub struct ApiDocument(pub String);
