//! Notification records (通知): what a person or a unit must be told. Today they are recorded for
//! the delivery work to come; a record with a dedupe key is written at most once, however many
//! servers try.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::notifications;
use crate::db::DbConn;
use crate::domain::Id;

use super::AppResult;

/// A notification to record once.
pub struct Once<'a> {
    /// The unit it concerns (the holder of a clock, the grid of a missing log, the recipient's unit).
    pub unit_id: &'a str,
    pub person_id: Option<&'a str>,
    pub ticket_id: Option<&'a str>,
    pub kind: &'a str,
    pub payload: serde_json::Value,
    /// Names the event: a second record with the same key is never written.
    pub dedupe_key: &'a str,
}

/// Writes the record unless one with its dedupe key exists; `true` when this call wrote it. The
/// insert runs in a savepoint of its own, so that losing the race to another server (a unique
/// violation) leaves the caller's transaction usable.
pub fn record_once(conn: &mut DbConn, n: Once<'_>, now: NaiveDateTime) -> AppResult<bool> {
    let inserted = conn.transaction(|c| {
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(Id::new().to_string()),
                notifications::unit_id.eq(n.unit_id),
                notifications::ticket_id.eq(n.ticket_id),
                notifications::kind.eq(n.kind),
                notifications::payload.eq(n.payload.to_string()),
                notifications::created_at.eq(now),
                notifications::person_id.eq(n.person_id),
                notifications::dedupe_key.eq(Some(n.dedupe_key)),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Which of these dedupe keys are recorded already (one query), to skip them before trying.
pub fn recorded(conn: &mut DbConn, keys: &[String]) -> AppResult<std::collections::HashSet<String>> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    Ok(notifications::table
        .filter(notifications::dedupe_key.eq_any(keys))
        .select(notifications::dedupe_key)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}
