//! The one application error: a stable snake_case `code` per kind, a human message in zh-CN and
//! English, and for 5xx a cause that is logged but never sent.

use std::fmt;

/// Every error a use case can return. `code()` values are part of the API and never change.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The object does not exist, or is outside the actor's scope: the two are indistinguishable.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The actor sees the object but may not do this to it.
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    #[error("authentication required")]
    Unauthenticated,
    /// One generic message for every failed login, whatever the reason.
    #[error("login failed")]
    LoginFailed,
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    /// The request could not be parsed (malformed JSON, a wrong query parameter).
    #[error("bad request: {detail}")]
    BadRequest { detail: String },
    /// The body is larger than the server accepts.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Input parsed but broke a rule; `field` names the input.
    #[error("invalid {field}: {detail}")]
    Validation { field: String, detail: String },
    /// A body field refers to an object that does not exist or is out of scope.
    #[error("unknown {field}: {detail}")]
    UnknownReference { field: String, detail: String },
    /// The request clashes with existing data (a taken code or login).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The action is not allowed in the ticket's current state (409 with what is allowed now).
    #[error("{action} is not allowed in state {state}")]
    IllegalAction { action: String, state: String, allowed: Vec<String> },
    /// An import file with bad rows: nothing was imported; each row's line and reason.
    #[error("import rejected: {} bad rows", errors.len())]
    ImportRejected { errors: Vec<(u64, String)> },
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

/// The languages user-facing text is offered in; zh-CN is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// Picks the language from an `Accept-Language` header: English only when it comes first.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        match header.map(|h| h.trim_start().to_ascii_lowercase()) {
            Some(h) if h.starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }
}

impl AppError {
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        AppError::Validation { field: field.into(), detail: detail.into() }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        AppError::Forbidden { detail: detail.into() }
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
            AppError::LoginFailed => "login_failed",
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

    /// The message shown to a person, in his language. Never contains a 5xx cause.
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (AppError::NotFound { what }, Lang::Zh) => format!("未找到{}", what_zh(what)),
            (AppError::NotFound { what }, Lang::En) => format!("{what} not found"),
            (AppError::Forbidden { detail }, Lang::Zh) => format!("无权执行此操作：{detail}"),
            (AppError::Forbidden { detail }, Lang::En) => format!("You may not do this: {detail}"),
            (AppError::Unauthenticated, Lang::Zh) => "请先登录（缺少有效的令牌或会话，或会话已过期）".into(),
            (AppError::Unauthenticated, Lang::En) => "Log in first: the token or session is missing, expired or revoked".into(),
            (AppError::LoginFailed, Lang::Zh) => "登录失败：账号或密码错误，或账号暂不可用".into(),
            (AppError::LoginFailed, Lang::En) => "Login failed: wrong login or password, or the account is not available now".into(),
            (AppError::CsrfRejected, Lang::Zh) => "请求缺少正确的 X-CSRF-Token 请求头（使用会话 Cookie 修改数据时必需）".into(),
            (AppError::CsrfRejected, Lang::En) => {
                "Missing or wrong X-CSRF-Token header, required for changes made with the session cookie".into()
            }
            (AppError::BadRequest { detail }, Lang::Zh) => format!("请求格式有误：{detail}"),
            (AppError::BadRequest { detail }, Lang::En) => format!("Malformed request: {detail}"),
            (AppError::PayloadTooLarge { limit }, Lang::Zh) => format!("请求体过大：最多 {limit} 字节"),
            (AppError::PayloadTooLarge { limit }, Lang::En) => format!("The body is too large: at most {limit} bytes"),
            (AppError::Validation { field, detail }, Lang::Zh) => format!("输入有误（{field}）：{detail}"),
            (AppError::Validation { field, detail }, Lang::En) => format!("Invalid {field}: {detail}"),
            (AppError::UnknownReference { field, detail }, Lang::Zh) => format!("引用的对象不存在（{field}）：{detail}"),
            (AppError::UnknownReference { field, detail }, Lang::En) => format!("Unknown {field}: {detail}"),
            (AppError::Conflict { detail, .. }, Lang::Zh) => format!("与现有数据冲突：{detail}"),
            (AppError::Conflict { detail, .. }, Lang::En) => format!("Conflicts with existing data: {detail}"),
            (AppError::IllegalAction { action, state, allowed }, Lang::Zh) => {
                format!("当前状态（{state}）不允许执行 {action}；现在可执行：{}", list_or_none(allowed, "无"))
            }
            (AppError::IllegalAction { action, state, allowed }, Lang::En) => {
                format!("{action} is not allowed in state {state}; allowed now: {}", list_or_none(allowed, "none"))
            }
            (AppError::LogExists { date, log_id }, Lang::Zh) => {
                format!("该网格 {date} 的走访日志已提交（{log_id}），请修改已有日志，不要重复提交")
            }
            (AppError::LogExists { date, log_id }, Lang::En) => {
                format!("The log of {date} for this grid was already filed ({log_id}); amend it instead of filing another")
            }
            (AppError::LogLocked { date }, Lang::Zh) => format!("{date} 的走访日志已在当日结束时锁定，不能再修改"),
            (AppError::LogLocked { date }, Lang::En) => {
                format!("The log of {date} was locked when its day ended; it can no longer be changed")
            }
            (AppError::ImportRejected { errors }, Lang::Zh) => {
                format!("导入未执行：{} 行有误，请改正后重新导入整个文件（见 errors）", errors.len())
            }
            (AppError::ImportRejected { errors }, Lang::En) => {
                format!("Nothing was imported: {} rows are wrong; fix them and import the whole file again (see errors)", errors.len())
            }
            (AppError::IdempotencyKeyReused, Lang::Zh) => "该 Idempotency-Key 已用于另一个不同的请求，请为新请求生成新的键".into(),
            (AppError::IdempotencyKeyReused, Lang::En) => {
                "This Idempotency-Key was already used for a different request; use a new key for a new request".into()
            }
            (AppError::PreconditionRequired, Lang::Zh) => "修改需要 If-Match 请求头，值为对象当前的版本号（见 ETag）".into(),
            (AppError::PreconditionRequired, Lang::En) => {
                "Changes need an If-Match header carrying the object's current version (see its ETag)".into()
            }
            (AppError::VersionConflict { given, current }, Lang::Zh) => {
                format!("数据已被他人修改：您提交的版本为 {given}，当前版本为 {current}，请刷新后重试")
            }
            (AppError::VersionConflict { given, current }, Lang::En) => {
                format!("Someone else changed this first: you sent version {given}, the current version is {current}; reload and try again")
            }
            (AppError::CalendarMissing { calendar, year }, Lang::Zh) => {
                format!("工作日历 {calendar} 无法计算 {year} 年的时限（仅支持 1902–2100 年）")
            }
            (AppError::CalendarMissing { calendar, year }, Lang::En) => {
                format!("The working calendar {calendar} cannot compute deadlines in {year} (1902–2100 only)")
            }
            (AppError::ScheduleRejected { year, problems }, Lang::Zh) => {
                format!("{year} 年的放假安排未保存：{} 处有误，请改正后重新提交（见 problems）", problems.len())
            }
            (AppError::ScheduleRejected { year, problems }, Lang::En) => {
                format!("The {year} schedule was not stored: {} problems; correct them and send it again (see problems)", problems.len())
            }
            (AppError::NulCharacter { line: Some(line), .. }, Lang::Zh) => {
                format!("导入文件第 {line} 行含有空字符（U+0000），无法保存；请删除该字符后重新导入整个文件")
            }
            (AppError::NulCharacter { line: Some(line), .. }, Lang::En) => {
                format!("The file contains a NUL character (U+0000) on line {line}, which cannot be stored; remove it and import the file again")
            }
            (AppError::NulCharacter { field, line: None }, Lang::Zh) => {
                format!("输入含有空字符（U+0000）：{field}；该字符无法保存，请删除后重新提交")
            }
            (AppError::NulCharacter { field, line: None }, Lang::En) => {
                format!("{field} contains a NUL character (U+0000), which cannot be stored; remove it and send again")
            }
            (AppError::MethodNotAllowed { method, allowed }, Lang::Zh) => {
                format!("此路径不支持 {method} 方法；支持的方法：{}", allowed.join(", "))
            }
            (AppError::MethodNotAllowed { method, allowed }, Lang::En) => {
                format!("{method} is not allowed on this path; allowed: {}", allowed.join(", "))
            }
            (AppError::Contention(_), Lang::Zh) => "数据库为解决与其他操作的冲突中止了本次修改，重试后仍未成功，请稍后重试".into(),
            (AppError::Contention(_), Lang::En) => {
                "The database broke this change off to resolve a conflict with another one, and retrying did not help; try again shortly"
                    .into()
            }
            (AppError::Unavailable(_), Lang::Zh) => "数据库暂时不可用，请稍后重试".into(),
            (AppError::Unavailable(_), Lang::En) => "The database is unavailable; try again shortly".into(),
            (AppError::Internal(_), Lang::Zh) => "服务器内部错误，已记录，请稍后重试".into(),
            (AppError::Internal(_), Lang::En) => "Internal error; it has been logged, try again shortly".into(),
        }
    }
}

fn list_or_none(v: &[String], none: &str) -> String {
    if v.is_empty() {
        none.to_string()
    } else {
        v.join(", ")
    }
}

fn what_zh(what: &str) -> &'static str {
    match what {
        "org unit" => "组织单元",
        "person" => "人员",
        "membership" => "任职",
        "category" => "诉求类别",
        "resident" => "居民",
        "route" => "该接口",
        "ticket" => "诉求",
        "extension" => "延期申请",
        "department" => "部门",
        "visit log" => "走访日志",
        "household" => "住户",
        "compound" => "小区",
        "calendar" => "工作日历",
        "calendar year" => "工作日历年份",
        _ => "对象",
    }
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
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => AppError::Conflict {
                code: "already_exists",
                detail: format!("a record with the same unique value already exists ({})", info.message()),
            },
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
        write!(f, "{} ({})", self.0.message(Lang::En), self.0.code())
    }
}

/// What is wrong with one date of a holiday schedule, in a person's language.
pub fn schedule_problem_message(date: &str, year: i32, p: crate::domain::calendar::ProblemKind, lang: Lang) -> String {
    use crate::domain::calendar::ProblemKind as P;
    match (p, lang) {
        (P::OutsideYear, Lang::Zh) => format!("{date} 不在 {year} 年内"),
        (P::OutsideYear, Lang::En) => format!("{date} is not in {year}"),
        (P::ListedTwice, Lang::Zh) => format!("{date} 重复列出"),
        (P::ListedTwice, Lang::En) => format!("{date} is listed twice"),
        (P::HolidayAndWorkday, Lang::Zh) => format!("{date} 同时列为放假日和调休上班日"),
        (P::HolidayAndWorkday, Lang::En) => format!("{date} is listed both as a holiday and as a make-up working day"),
        (P::WorkdayNotWeekend, Lang::Zh) => format!("{date} 不是周六或周日，不能作为调休上班日"),
        (P::WorkdayNotWeekend, Lang::En) => format!("{date} is not a Saturday or Sunday, so it cannot be a make-up working day"),
        (P::LoneWeekendHoliday, Lang::Zh) => format!("{date} 是周末且不在任何放假区间内，本就休息，可能是日期写错了"),
        (P::LoneWeekendHoliday, Lang::En) => {
            format!("{date} is a weekend day outside any holiday span: it is off anyway, so it is probably a wrong date")
        }
        (P::NoHolidays, Lang::Zh) => "未列出任何放假日期".to_string(),
        (P::NoHolidays, Lang::En) => "no holidays are listed".to_string(),
        (P::YearOutOfRange, Lang::Zh) => format!("年份 {year} 超出范围：须在 1902 至 2100 年之间"),
        (P::YearOutOfRange, Lang::En) => format!("the year {year} is out of range: it must lie between 1902 and 2100"),
        (P::NotADate, Lang::Zh) => format!("“{date}”不是 YYYY-MM-DD 格式的日期"),
        (P::NotADate, Lang::En) => format!("\"{date}\" is not a date written YYYY-MM-DD"),
    }
}
