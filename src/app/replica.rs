//! Reads that can go elsewhere (#21, decision 0035): with `database.replica_url`, rankings,
//! exports, boards and searches read from a PostgreSQL streaming replica, under one rule of
//! bounded staleness:
//!
//! - the replica is read from only while what it shows is at most `replica_max_lag_s` old: every
//!   second (at most) a server notes the primary's WAL position and the replica's replayed one;
//!   the replica holds everything committed before the latest noted instant whose primary
//!   position it has replayed, and it is as old as that instant;
//! - a person's own writes are read from the primary until the replica has replayed them: each
//!   write of a logged-in person records the primary's WAL position after it (`person_writes`),
//!   and his heavy reads go to the replica only once its replayed position is past that;
//! - a replica that does not answer, or is not a standby, is not read from for a while; the
//!   primary answers instead.
//!
//! Without `replica_url` nothing of this runs: every read goes to the primary as before.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::DatabaseSettings;
use crate::db::backend::replica as db;
use crate::db::{DbConn, DbPool};
use crate::domain::PersonId;

use super::AppResult;

/// How often a server asks the two databases where they stand (at most).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a replica that failed to answer is left alone.
const BACK_OFF: Duration = Duration::from_secs(10);

/// Where a read went, and why not to the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Replica,
    /// The replica has not replayed the person's own latest write yet.
    PrimaryOwnWrite,
    /// The replica is further behind than `replica_max_lag_s`.
    PrimaryLagging,
    /// The replica does not answer, or is not a standby.
    PrimaryUnavailable,
}

impl Source {
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Source::Replica => ("replica", ""),
            Source::PrimaryOwnWrite => ("primary", "own_write"),
            Source::PrimaryLagging => ("primary", "lagging"),
            Source::PrimaryUnavailable => ("primary", "unavailable"),
        }
    }
}

/// What a server knows of the replica.
#[derive(Default)]
struct Watch {
    checked: Option<Instant>,
    /// The primary's positions, as noted at each check (oldest first).
    samples: VecDeque<(Instant, i64)>,
    /// The replica's replayed position at the last check.
    replayed: Option<i64>,
    /// The replica holds everything committed on the primary before this instant.
    fresh_as_of: Option<Instant>,
    down_until: Option<Instant>,
}

/// The replica of one server: its pool and what the server knows of it.
pub struct Replica {
    pool: DbPool,
    max_lag: Duration,
    watch: Mutex<Watch>,
}

impl Replica {
    /// The replica of `settings`, when `replica_url` is set. Its pool connects on demand, so a
    /// replica down at start keeps no server from starting.
    pub fn from_settings(settings: &DatabaseSettings) -> Result<Option<Replica>, crate::db::DbSetupError> {
        if settings.replica_url.trim().is_empty() {
            return Ok(None);
        }
        let pool = crate::db::build_lazy_pool(&settings.replica_url, settings.replica_pool_size, settings.connection_trust_ms)?;
        Ok(Some(Replica { pool, max_lag: Duration::from_secs(settings.replica_max_lag_s), watch: Mutex::default() }))
    }

    /// Records that `person` wrote (after his write committed), on the primary.
    pub fn note_write(conn: &mut DbConn, person: &PersonId, now: chrono::NaiveDateTime) -> AppResult<()> {
        Ok(db::note_write(conn, &person.to_string(), now)?)
    }

    /// Where `person`'s heavy read goes now; `primary` is a connection to the primary.
    pub fn choose(&self, primary: &mut DbConn, person: &PersonId) -> AppResult<Source> {
        let (replayed, fresh_as_of, down) = {
            let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if w.checked.is_none_or(|c| now.duration_since(c) >= CHECK_EVERY) && w.down_until.is_none_or(|d| now >= d) {
                self.check(&mut w, primary, now)?;
            }
            (w.replayed, w.fresh_as_of, w.down_until.is_some_and(|d| now < d))
        };
        let Some(replayed) = replayed.filter(|_| !down) else { return Ok(Source::PrimaryUnavailable) };
        if fresh_as_of.is_none_or(|f| f.elapsed() > self.max_lag) {
            return Ok(Source::PrimaryLagging);
        }
        match db::written_position(primary, &person.to_string())? {
            Some(wrote) if wrote > replayed => Ok(Source::PrimaryOwnWrite),
            _ => Ok(Source::Replica),
        }
    }

    /// Notes the primary's position, asks the replica its replayed one, and works out how fresh it is.
    fn check(&self, w: &mut Watch, primary: &mut DbConn, now: Instant) -> AppResult<()> {
        w.checked = Some(now);
        if let Some(p) = db::primary_position(primary)? {
            w.samples.push_back((now, p));
        }
        let replayed =
            self.pool.get().map_err(|e| e.to_string()).and_then(|mut c| db::replayed_position(&mut c).map_err(|e| e.to_string()));
        match replayed {
            Ok(Some(r)) => {
                w.replayed = Some(r);
                w.down_until = None;
                // The latest instant whose position the replica has replayed.
                if let Some((t, _)) = w.samples.iter().rev().find(|(_, p)| *p <= r) {
                    w.fresh_as_of = Some(w.fresh_as_of.map_or(*t, |f| f.max(*t)));
                }
            }
            Ok(None) => {
                log::warn!("database.replica_url is not a standby in recovery: reading from the primary");
                w.replayed = None;
                w.down_until = Some(now + BACK_OFF);
            }
            Err(e) => {
                log::warn!("the replica does not answer ({e}): reading from the primary for {} s", BACK_OFF.as_secs());
                w.replayed = None;
                w.down_until = Some(now + BACK_OFF);
            }
        }
        // Keep what can still matter: samples newer than the freshest replayed one, and that one.
        while w.samples.len() > 1 && w.samples.get(1).is_some_and(|(_, p)| Some(*p) <= w.replayed) {
            w.samples.pop_front();
        }
        while w.samples.len() > 600 {
            w.samples.pop_front();
        }
        Ok(())
    }

    /// Marks the replica as not answering (a checkout failed).
    fn down(&self) {
        let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        w.down_until = Some(Instant::now() + BACK_OFF);
    }
}

/// Runs a heavy read (`f`, read-only) for `person` where [`Replica::choose`] says, on the primary
/// when the replica's connection cannot be had; counted in `gridloop_heavy_reads_total`.
pub fn read<T>(replica: &Replica, primary: &DbPool, person: &PersonId, f: impl FnOnce(&mut DbConn) -> AppResult<T>) -> AppResult<T> {
    let mut p = primary.get()?;
    let mut source = replica.choose(&mut p, person)?;
    if source == Source::Replica {
        match replica.pool.get() {
            Ok(r) => {
                drop(p);
                count(source);
                return crate::db::with_conn(r, f);
            }
            Err(e) => {
                log::warn!("no connection to the replica ({e}): reading from the primary for {} s", BACK_OFF.as_secs());
                replica.down();
                source = Source::PrimaryUnavailable;
            }
        }
    }
    count(source);
    crate::db::with_conn(p, f)
}

fn count(source: Source) {
    let (source, reason) = source.label();
    crate::metrics::get().replica_reads.get_or_create(&crate::metrics::ReadLabels { source: source.into(), reason: reason.into() }).inc();
}
