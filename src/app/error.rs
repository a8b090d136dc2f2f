//! The one application error: a stable snake_case `code` per kind, a message for the person in
//! his language (rendered from the message catalogues, `crate::i18n`), and for 5xx a cause that is
//! logged but never sent.

use std::fmt;

pub use crate::domain::text::Msg;
pub use crate::i18n::Lang;

/// Every error a use case can return. `code()` values are part of the API and never change.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The object does not exist, or is outside the actor's scope: the two are indistinguishable.
    /// `what` names the kind of object (catalogue entry `entity-<what>`).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The actor sees the object but may not do this to it.
    #[error("forbidden: {}", detail.key)]
    Forbidden { detail: Msg },
    #[error("authentication required")]
    Unauthenticated,
    /// An outside system's key, signature or timestamp is missing or wrong (decision 0032); one
    /// answer whatever the reason.
    #[error("outside client refused")]
    ClientRefused,
    /// One generic message for every failed login, whatever the reason.
    #[error("login failed")]
    LoginFailed,
    /// Too many failed logins from this address or on this account: refused before the password
    /// was looked at; the next attempt may come after `retry_after_seconds` (登录限流).
    #[error("too many failed logins; retry after {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: i64 },
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    /// The request could not be parsed (malformed JSON, a wrong query parameter).
    #[error("bad request: {}", detail.key)]
    BadRequest { detail: Msg },
    /// The body is larger than the server accepts.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Input parsed but broke a rule; `field` names the input.
    #[error("invalid {field}: {}", detail.key)]
    Validation { field: String, detail: Msg },
    /// A body field refers to an object that does not exist or is out of scope.
    #[error("unknown {field}: {}", detail.key)]
    UnknownReference { field: String, detail: Msg },
    /// The request clashes with existing data or with the state of things (`code` says which).
    #[error("{code}: {}", detail.key)]
    Conflict { code: &'static str, detail: Msg },
    /// The action is not allowed in the ticket's current state (409 with what is allowed now).
    #[error("{action} is not allowed in state {state}")]
    IllegalAction { action: String, state: String, allowed: Vec<String> },
    /// An import file with bad rows: nothing was imported; each row's line and reason.
    #[error("import rejected: {} bad rows", errors.len())]
    ImportRejected { errors: Vec<(u64, Msg)> },
    /// A grid's log of that day was already filed under another client id: amend it instead.
    #[error("the log of {date} was already filed ({log_id})")]
    LogExists { date: chrono::NaiveDate, log_id: String },
    /// A visit log can be changed only on its own day.
    #[error("the log of {date} is locked")]
    LogLocked { date: chrono::NaiveDate },
    /// The same Idempotency-Key was sent with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// A state-changing request without `If-Match`.
    #[error("If-Match header required")]
    PreconditionRequired,
    /// The `If-Match` version is not the current one.
    #[error("version {given} is stale; the current version is {current}")]
    VersionConflict { given: i64, current: i64 },
    /// A deadline reaches beyond the years any calendar can compute (1902–2100).
    #[error("calendar {calendar} does not cover {year}")]
    CalendarMissing { calendar: String, year: i32 },
    /// A year's holiday schedule was refused: every date at fault with its problem.
    #[error("schedule of {year} rejected: {} problems", problems.len())]
    ScheduleRejected { year: i32, problems: Vec<(String, crate::domain::calendar::ProblemKind)> },
    /// A NUL character (U+0000) in text, which no column can store: refused at the edge.
    /// `field` is a JSON pointer, a parameter's name, or `file` with the `line` of an import.
    #[error("NUL character in {field}")]
    NulCharacter { field: String, line: Option<u64> },
    /// The path exists but does not declare this method; `allowed` are the ones it declares.
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String, allowed: Vec<&'static str> },
    /// The database cannot be reached: the server is down, a connection was cut, the pool had
    /// no connection in time, SQLite's file stayed locked past the busy timeout.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database broke the transaction off to resolve a conflict with another (a deadlock
    /// victim, a serialization failure), and it was broken off again on every retry.
    #[error("database conflict")]
    Contention(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Every `code()` an error can have, for the catalogue's completeness test (each has its message).
pub const CODES: &[&str] = &[
    "not_found",
    "forbidden",
    "unauthenticated",
    "login_failed",
    "too_many_attempts",
    "csrf_rejected",
    "bad_request",
    "payload_too_large",
    "validation_failed",
    "unknown_reference",
    "illegal_action",
    "log_exists",
    "log_locked",
    "idempotency_key_reused",
    "import_rejected",
    "precondition_required",
    "version_conflict",
    "calendar_missing",
    "schedule_invalid",
    "nul_character",
    "method_not_allowed",
    "service_unavailable",
    "internal_error",
];

impl AppError {
    pub fn validation(field: impl Into<String>, detail: Msg) -> Self {
        AppError::Validation { field: field.into(), detail }
    }

    pub fn forbidden(detail: Msg) -> Self {
        AppError::Forbidden { detail }
    }

    pub fn conflict(code: &'static str, detail: Msg) -> Self {
        AppError::Conflict { code, detail }
    }

    pub fn unknown(field: impl Into<String>, detail: Msg) -> Self {
        AppError::UnknownReference { field: field.into(), detail }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    pub fn internal_msg(msg: String) -> Self {
        AppError::Internal(anyhow::anyhow!(msg))
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound { .. } => "not_found",
            AppError::Forbidden { .. } => "forbidden",
            AppError::Unauthenticated => "unauthenticated",
            AppError::ClientRefused => "client_refused",
            AppError::LoginFailed => "login_failed",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::CsrfRejected => "csrf_rejected",
            AppError::BadRequest { .. } => "bad_request",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Validation { .. } => "validation_failed",
            AppError::UnknownReference { .. } => "unknown_reference",
            AppError::Conflict { code, .. } => code,
            AppError::IllegalAction { .. } => "illegal_action",
            AppError::LogExists { .. } => "log_exists",
            AppError::LogLocked { .. } => "log_locked",
            AppError::IdempotencyKeyReused => "idempotency_key_reused",
            AppError::ImportRejected { .. } => "import_rejected",
            AppError::PreconditionRequired => "precondition_required",
            AppError::VersionConflict { .. } => "version_conflict",
            AppError::CalendarMissing { .. } => "calendar_missing",
            AppError::ScheduleRejected { .. } => "schedule_invalid",
            AppError::NulCharacter { .. } => "nul_character",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Unavailable(_) | AppError::Contention(_) => "service_unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The field the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Validation { field, .. } | AppError::UnknownReference { field, .. } | AppError::NulCharacter { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// The message shown to a person, as a catalogue entry. Never carries a 5xx cause.
    pub fn msg(&self) -> Msg {
        use crate::msg;
        match self {
            AppError::NotFound { what } => msg!("error-not_found").with("what", crate::domain::text::Arg::Key(entity_key(what))),
            AppError::Forbidden { detail } => msg!("error-forbidden").with("detail", detail.clone()),
            AppError::Unauthenticated => msg!("error-unauthenticated"),
            AppError::ClientRefused => msg!("error-client_refused"),
            AppError::LoginFailed => msg!("error-login_failed"),
            AppError::TooManyAttempts { retry_after_seconds } => {
                let s = *retry_after_seconds;
                let wait = if s < 120 { msg!("wait-seconds", n = s) } else { msg!("wait-minutes", n = (s + 59) / 60) };
                msg!("error-too_many_attempts").with("wait", wait)
            }
            AppError::CsrfRejected => msg!("error-csrf_rejected"),
            AppError::BadRequest { detail } => msg!("error-bad_request").with("detail", detail.clone()),
            AppError::PayloadTooLarge { limit } => msg!("error-payload_too_large", limit = *limit),
            AppError::Validation { field, detail } => msg!("error-validation_failed", field = field).with("detail", detail.clone()),
            AppError::UnknownReference { field, detail } => msg!("error-unknown_reference", field = field).with("detail", detail.clone()),
            AppError::Conflict { detail, .. } => detail.clone(),
            AppError::IllegalAction { action, state, allowed } => msg!(
                "error-illegal_action",
                action = crate::domain::text::Arg::Key(action_key(action)),
                state = crate::domain::text::Arg::Key(state_key(state)),
                allowed = allowed.len()
            )
            .with("list", crate::domain::text::Arg::keys(allowed.iter().map(|a| action_key(a)))),
            AppError::LogExists { date, log_id } => msg!("error-log_exists", date = date.to_string(), log = log_id),
            AppError::LogLocked { date } => msg!("error-log_locked", date = date.to_string()),
            AppError::ImportRejected { errors } => msg!("error-import_rejected", rows = errors.len()),
            AppError::IdempotencyKeyReused => msg!("error-idempotency_key_reused"),
            AppError::PreconditionRequired => msg!("error-precondition_required"),
            AppError::VersionConflict { given, current } => msg!("error-version_conflict", given = *given, current = *current),
            AppError::CalendarMissing { calendar, year } => msg!("error-calendar_missing", calendar = calendar, year = *year),
            AppError::ScheduleRejected { year, problems } => msg!("error-schedule_invalid", year = *year, count = problems.len()),
            AppError::NulCharacter { line: Some(line), .. } => msg!("error-nul_character_line", line = *line),
            AppError::NulCharacter { field, line: None } => msg!("error-nul_character", field = field),
            AppError::MethodNotAllowed { method, allowed } => {
                msg!("error-method_not_allowed", method = method, allowed = allowed.join(", "))
            }
            AppError::Contention(_) => msg!("error-contention"),
            AppError::Unavailable(_) => msg!("error-service_unavailable"),
            AppError::Internal(_) => msg!("error-internal_error"),
        }
    }

    /// The message shown to a person, in his language. Never contains a 5xx cause.
    pub fn message(&self, lang: Lang) -> String {
        crate::i18n::render(lang, &self.msg())
    }
}

/// The catalogue entry naming a kind of object (`entity-ticket`, …).
pub fn entity_key(what: &str) -> &'static str {
    match what {
        "org unit" => "entity-org_unit",
        "person" => "entity-person",
        "membership" => "entity-membership",
        "category" => "entity-category",
        "resident" => "entity-resident",
        "route" => "entity-route",
        "ticket" => "entity-ticket",
        "extension" => "entity-extension",
        "department" => "entity-department",
        "visit log" => "entity-visit_log",
        "household" => "entity-household",
        "compound" => "entity-compound",
        "calendar" => "entity-calendar",
        "calendar year" => "entity-calendar_year",
        "property company" => "entity-property_company",
        "meeting" => "entity-meeting",
        "consultation item" => "entity-consult_item",
        "external client" => "entity-external_client",
        "work order" => "entity-work_order",
        "resident link" => "entity-resident_link",
        _ => "entity-object",
    }
}

/// Every kind of object `entity_key` names, for the catalogue's completeness test.
pub const ENTITIES: &[&str] = &[
    "org unit",
    "person",
    "membership",
    "category",
    "resident",
    "route",
    "ticket",
    "extension",
    "department",
    "visit log",
    "household",
    "compound",
    "calendar",
    "calendar year",
    "object",
    "property company",
    "meeting",
    "consultation item",
    "external client",
    "work order",
    "resident link",
];

fn action_key(action: &str) -> &'static str {
    crate::domain::workflow::ActionKind::ALL.iter().find(|a| a.as_str() == action).map(|a| a.label_key()).unwrap_or("entity-object")
}

fn state_key(state: &str) -> &'static str {
    crate::domain::workflow::TicketState::ALL.iter().find(|s| s.as_str() == state).map(|s| s.label_key()).unwrap_or("entity-object")
}

/// What is wrong with one date of a holiday schedule, in a person's language.
pub fn schedule_problem_message(date: &str, year: i32, p: crate::domain::calendar::ProblemKind, lang: Lang) -> String {
    crate::i18n::render(lang, &schedule_problem(date, year, p))
}

/// What is wrong with one date of a holiday schedule.
pub fn schedule_problem(date: &str, year: i32, p: crate::domain::calendar::ProblemKind) -> Msg {
    use crate::domain::calendar::ProblemKind as P;
    let key = match p {
        P::OutsideYear => "schedule-outside_year",
        P::ListedTwice => "schedule-listed_twice",
        P::HolidayAndWorkday => "schedule-holiday_and_workday",
        P::WorkdayNotWeekend => "schedule-workday_not_weekend",
        P::LoneWeekendHoliday => "schedule-lone_weekend_holiday",
        P::NoHolidays => "schedule-no_holidays",
        P::YearOutOfRange => "schedule-year_out_of_range",
        P::NotADate => "schedule-not_a_date",
    };
    Msg::new(key).with("date", date).with("year", year)
}

/// The one place a database error becomes an application error: a lost or unreachable database
/// is 503 (never 500), a transaction broken off by a conflict is 503 after its retries
/// (`backend::retry_conflicts` runs it again first). What tells them apart is in
/// `db::backend::is_unavailable` and `db::backend::is_conflict`.
impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if crate::db::backend::is_unavailable(&e) {
            return AppError::Unavailable(e.into());
        }
        if crate::db::backend::is_conflict(&e) {
            return AppError::Contention(e.into());
        }
        match e {
            Error::NotFound => AppError::NotFound { what: "object" },
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                log::info!("unique violation: {}", info.message());
                AppError::Conflict { code: "already_exists", detail: crate::msg!("why-already_exists") }
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => AppError::Unavailable(e.into()),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(e.into())
    }
}

impl crate::db::backend::Transient for AppError {
    fn is_transient(&self) -> bool {
        matches!(self, AppError::Contention(_))
    }
}

impl AppError {
    /// The database is away or broke the work off: the request may be sent again as it is.
    pub fn is_database_failure(&self) -> bool {
        matches!(self, AppError::Unavailable(_) | AppError::Contention(_))
    }
}

/// Makes `AppError` usable where a plain message is wanted (CLI output).
pub struct Plain<'a>(pub &'a AppError);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // The operator at the command line is told the cause (a tool that failed, a file).
            AppError::Internal(cause) => write!(f, "{cause:#} ({})", self.0.code()),
            e => write!(f, "{} ({})", e.message(Lang::En), e.code()),
        }
    }
}
