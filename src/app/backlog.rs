//! The backlogs an operator watches (积压): clocks whose firing is due and deliveries whose time has
//! come, counted from the database at each scrape of `/metrics`, so that every instance reports
//! the same figures.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::app::AppResult;
use crate::db::schema::{deliveries, sla_clocks};
use crate::db::DbConn;
use crate::domain::notify::DeliveryState;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Clocks with `next_fire_at` at or before now: the scheduler has not fired them yet.
    pub clocks_due: i64,
    /// Deliveries still pending whose `due_at` has come.
    pub deliveries_waiting: i64,
}

pub fn backlog(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Backlog> {
    let clocks_due = sla_clocks::table.filter(sla_clocks::next_fire_at.le(now)).count().get_result(conn)?;
    let deliveries_waiting = deliveries::table
        .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
        .filter(deliveries::due_at.le(now))
        .count()
        .get_result(conn)?;
    Ok(Backlog { clocks_due, deliveries_waiting })
}
