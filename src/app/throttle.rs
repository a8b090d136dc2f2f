//! Login throttling (登录限流) kept in the database, so that every server counts alike: what an
//! admin lifts, and what the worker prunes. The counting itself is `domain::throttle`; the
//! login use case (`app::auth`) applies it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::config::AuthSettings;
use crate::db::schema::{login_throttle, login_usual_addresses};
use crate::db::DbConn;

use super::AppResult;

/// Lifts the login throttling of a person's account (an admin's password reset or enable): his
/// counter of unusual addresses and his counters per address. The addresses' own counters stay:
/// they belong to whoever is behind those addresses.
pub fn clear_throttle(conn: &mut DbConn, person_id: &crate::domain::PersonId) -> AppResult<()> {
    diesel::delete(login_throttle::table.filter(login_throttle::account.eq(person_id))).execute(conn)?;
    Ok(())
}

/// Deletes what throttling no longer needs: counters that hold nothing any more, and usual
/// addresses older than `auth.usual_address_days`. The scheduler runs it on each tick.
pub fn prune_throttle(conn: &mut DbConn, auth: &AuthSettings, now: NaiveDateTime) -> AppResult<usize> {
    let counters = diesel::delete(login_throttle::table.filter(login_throttle::expires_at.lt(now))).execute(conn)?;
    let usual = diesel::delete(
        login_usual_addresses::table.filter(login_usual_addresses::last_success_at.lt(now - Duration::days(auth.usual_address_days))),
    )
    .execute(conn)?;
    Ok(counters + usual)
}
