//! Turns application errors into JSON responses (`ErrorBody`: `code`, `message`, and where they
//! apply `field`, the current version/state/allowed actions, row errors, `retry_after_seconds`,
//! calendar problems), the message in the caller's language. 5xx causes are logged here and never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::app::{AppError, Lang};

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// What was wrong and how to mend it, in zh-CN unless `Accept-Language` starts with `en`.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With 412 `version_conflict`: the object's current version, to reload and retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// With 409 `illegal_action`: the ticket's state now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    /// With 409 `illegal_action`: the actions the table allows in that state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    /// With 422 `import_rejected`: every bad row, by line of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
    /// With 429 `too_many_attempts`: seconds to wait before trying again (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i64>,
    /// With 422 `schedule_invalid`: every date of the schedule at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<DateProblem>>,
}

/// One date of a holiday schedule at fault.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DateProblem {
    /// The date as it was sent (empty when the problem is the whole year's).
    pub date: String,
    pub problem: crate::domain::calendar::ProblemKind,
    /// What is wrong, in the caller's language.
    pub reason: String,
}

/// One bad row of an import file.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// An application error with the language to render it in.
#[derive(Debug)]
pub struct ApiError {
    pub err: AppError,
    pub lang: Lang,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.err.code())
    }
}

impl ApiError {
    pub fn new(err: AppError, lang: Lang) -> Self {
        ApiError { err, lang }
    }
}

pub fn status_of(err: &AppError) -> StatusCode {
    match err {
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Forbidden { .. } | AppError::CsrfRejected => StatusCode::FORBIDDEN,
        AppError::Unauthenticated | AppError::LoginFailed | AppError::ClientRefused => StatusCode::UNAUTHORIZED,
        AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::BadRequest { .. } | AppError::NulCharacter { .. } => StatusCode::BAD_REQUEST,
        AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Validation { .. } | AppError::UnknownReference { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict { .. } | AppError::IllegalAction { .. } | AppError::LogExists { .. } | AppError::LogLocked { .. } => {
            StatusCode::CONFLICT
        }
        AppError::IdempotencyKeyReused | AppError::ImportRejected { .. } | AppError::ScheduleRejected { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
        AppError::VersionConflict { .. } => StatusCode::PRECONDITION_FAILED,
        AppError::Unavailable(_) | AppError::Contention(_) | AppError::CalendarMissing { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Seconds a client should wait before sending again a request answered 503 because the
/// database was away or broke the work off (`Retry-After`). A PostgreSQL restart takes 2–3 s
/// (operations.md, "Database restarts"); a cut connection is replaced at the next checkout.
pub const RETRY_AFTER_SECONDS: u32 = 2;

pub fn error_response(err: &AppError, lang: Lang) -> HttpResponse {
    match err {
        AppError::Internal(cause) | AppError::Unavailable(cause) | AppError::Contention(cause) => {
            log::error!("{}: {cause:#}", err.code())
        }
        AppError::CalendarMissing { calendar, year } => log::error!("calendar {calendar} does not cover {year}: add its schedule"),
        _ => {}
    }
    let body = ErrorBody {
        code: err.code().to_string(),
        message: err.message(lang),
        field: err.field().map(Into::into),
        current_version: match err {
            AppError::VersionConflict { current, .. } => Some(*current),
            _ => None,
        },
        current_state: match err {
            AppError::IllegalAction { state, .. } => Some(state.clone()),
            _ => None,
        },
        allowed_actions: match err {
            AppError::IllegalAction { allowed, .. } => Some(allowed.clone()),
            _ => None,
        },
        errors: match err {
            AppError::ImportRejected { errors } => {
                Some(errors.iter().map(|(line, reason)| RowError { line: *line, reason: crate::i18n::render(lang, reason) }).collect())
            }
            _ => None,
        },
        retry_after_seconds: match err {
            AppError::TooManyAttempts { retry_after_seconds } => Some(*retry_after_seconds),
            _ => None,
        },
        problems: match err {
            AppError::ScheduleRejected { year, problems } => Some(
                problems
                    .iter()
                    .map(|(date, p)| DateProblem {
                        date: date.clone(),
                        problem: *p,
                        reason: crate::app::error::schedule_problem_message(date, *year, *p, lang),
                    })
                    .collect(),
            ),
            _ => None,
        },
    };
    let mut resp = HttpResponse::build(status_of(err));
    match err {
        AppError::Unauthenticated => {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        AppError::Unavailable(_) | AppError::Contention(_) => {
            resp.insert_header(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
        }
        AppError::MethodNotAllowed { allowed, .. } => {
            resp.insert_header(("Allow", allowed.join(", ")));
        }
        _ => {}
    }
    if let AppError::TooManyAttempts { retry_after_seconds } = err {
        resp.insert_header(("Retry-After", retry_after_seconds.to_string()));
    }
    resp.json(body)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.err)
    }

    fn error_response(&self) -> HttpResponse {
        error_response(&self.err, self.lang)
    }
}
