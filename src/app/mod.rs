//! Use cases: one function per command or query: load → apply a domain rule → write rows →
//! return a view. Commands run in the caller's write transaction (`http::context::run_write`, the
//! intake's writers, the worker's tasks); queries open none.

pub mod action_clocks;
pub mod audit;
pub mod auth;
pub mod backlog;
pub mod backup;
pub mod board;
pub mod calendars;
pub mod catalogue;
pub mod consult;
pub mod demo;
pub mod error;
pub mod exports;
pub mod idempotency;
pub mod intake;
pub mod ledgers;
pub mod notifications;
pub mod org;
pub mod outside;
pub mod partitions;
pub mod passwords;
pub mod people;
pub mod personal_data;
pub mod photos;
pub mod replica;
pub mod reports;
pub mod residents;
pub mod retention;
pub mod rfc3339;
pub mod scope;
pub mod sla;
pub mod throttle;
pub mod tickets;
pub mod visit_report;
pub mod visits;

pub use error::{AppError, Lang};

use chrono::NaiveDateTime;

pub type AppResult<T> = Result<T, AppError>;

/// Parses an id that arrived in a body field, naming the field when it is malformed.
pub fn parse_id<T: std::str::FromStr<Err = crate::domain::ids::BadId>>(field: &str, text: &str) -> AppResult<T> {
    text.parse().map_err(|e: crate::domain::ids::BadId| AppError::validation(field, e.msg()))
}

/// An id read from a stored text column that is not typed yet: a malformed one is an internal
/// error (the data is damaged), never a made-up id.
pub fn stored_id<T: std::str::FromStr<Err = crate::domain::ids::BadId>>(text: &str) -> AppResult<T> {
    text.parse().map_err(|e: crate::domain::ids::BadId| AppError::internal_msg(e.to_string()))
}

/// An id that a page's link or form names an object by: text that is no id names no object, so
/// it is the 404 of a missing `what`, as an unknown id is.
pub fn named_id<T: std::str::FromStr<Err = crate::domain::ids::BadId>>(text: &str, what: &'static str) -> AppResult<T> {
    text.parse().map_err(|_| AppError::NotFound { what })
}

/// A required text field, trimmed, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::validation(field, crate::msg!("rule-not_empty")));
    }
    if v.chars().count() > max {
        return Err(AppError::validation(field, crate::msg!("rule-max_chars", max = max)));
    }
    Ok(v.to_string())
}

/// An optional text field: blank counts as absent.
pub fn opt_text(field: &str, value: &Option<String>, max: usize) -> AppResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// The current time as stored (UTC, no zone). Only the outermost layer calls this; everything
/// below takes `now` as an argument.
/// Compares secrets (CSRF tokens, key hashes, signatures) in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn utc_now() -> NaiveDateTime {
    truncate_to_micros(chrono::Utc::now().naive_utc())
}

/// Both back ends store microseconds; anything finer would not survive a round trip (and would
/// break the audit hash of a timestamp read back).
pub fn truncate_to_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// A list's page size: `default` when absent, refused outside 1..=`max`.
pub fn page_limit(given: Option<i64>, default: i64, max: i64) -> AppResult<i64> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::validation("limit", crate::msg!("rule-page_limit", max = max)))
    }
}

/// Checks an `If-Match` version against the stored one.
pub fn check_version(given: Option<i64>, current: i64) -> AppResult<()> {
    match given {
        None => Err(AppError::PreconditionRequired),
        Some(v) if v != current => Err(AppError::VersionConflict { given: v, current }),
        Some(_) => Ok(()),
    }
}
