//! Background work (后台任务): calendar reloads, the clocks' scheduler, visit-log reminders,
//! calendar warnings and pruning the login throttle — and next the notification outbox. Each task
//! is one `run_once` that reports what it did; a thread runs them in turn every interval, survives
//! a task's panic, and stops cleanly when the server does. `gridloop sla tick` runs the SLA task
//! once and `gridloop visits remind` the reminders, through the same code.

pub mod deliveries;
pub mod tasks;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::app::AppResult;
use crate::db::{DbConn, DbPool};

/// What one run of a task did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// How many things it did (clocks fired, reminders written, deadlines recomputed…).
    pub done: usize,
    /// What it did, in a line (logged when it did something).
    pub summary: String,
}

impl Outcome {
    pub fn nothing() -> Outcome {
        Outcome::default()
    }

    pub fn did(done: usize, summary: impl Into<String>) -> Outcome {
        Outcome { done, summary: summary.into() }
    }
}

/// One kind of background work.
pub trait Task: Send {
    fn name(&self) -> &'static str;
    /// Does the work that is due at `now`, on `conn`, and says what it did.
    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome>;
}

/// How one run of a task ended.
#[derive(Debug)]
pub enum Ran {
    Done(Outcome),
    Failed(crate::app::AppError),
    /// The task panicked: logged, and the worker goes on with the next.
    Panicked(String),
}

/// Runs a task once, containing a panic.
pub fn run_guarded(task: &mut dyn Task, conn: &mut DbConn, now: NaiveDateTime) -> Ran {
    match std::panic::catch_unwind(AssertUnwindSafe(|| task.run_once(conn, now))) {
        Ok(Ok(o)) => Ran::Done(o),
        Ok(Err(e)) => Ran::Failed(e),
        Err(panic) => Ran::Panicked(
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default(),
        ),
    }
}

/// Runs every task once, in order, each on a connection of its own from the pool, and logs what
/// each did. Returns the runs, in the tasks' order.
pub fn run_all_once(pool: &DbPool, tasks: &mut [Box<dyn Task>], now: NaiveDateTime) -> Vec<(&'static str, Ran)> {
    let mut out = vec![];
    for task in tasks.iter_mut() {
        let name = task.name();
        let ran = match pool.get() {
            Ok(mut conn) => run_guarded(task.as_mut(), &mut conn, now),
            Err(e) => Ran::Failed(e.into()),
        };
        match &ran {
            Ran::Done(o) if o.done > 0 => log::info!("{name}: {}", o.summary),
            Ran::Done(_) => {}
            Ran::Failed(e) => log::error!("{name} failed: {}", crate::app::error::Plain(e)),
            Ran::Panicked(why) => log::error!("{name} panicked (the worker goes on): {why}"),
        }
        out.push((name, ran));
    }
    out
}

/// The background thread of a server.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `tasks` now (clocks that came due while the service was down fire at once), then every
    /// `interval`, until [`Worker::stop`].
    pub fn start(pool: DbPool, mut tasks: Vec<Box<dyn Task>>, interval: Duration) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    run_all_once(&pool, &mut tasks, crate::app::utc_now());
                    // Sleep in short steps, so that a stop is quick.
                    let mut slept = Duration::ZERO;
                    while slept < interval && !flag.load(Ordering::Relaxed) {
                        let step = Duration::from_millis(100).min(interval - slept);
                        std::thread::sleep(step);
                        slept += step;
                    }
                }
            })
            .expect("the worker thread starts");
        Worker { stop, thread: Some(thread) }
    }

    /// Asks the worker to stop and waits until the task it is running has finished.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Boom;
    impl Task for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn run_once(&mut self, _: &mut DbConn, _: NaiveDateTime) -> AppResult<Outcome> {
            panic!("a bug in a task")
        }
    }

    struct Count(usize);
    impl Task for Count {
        fn name(&self) -> &'static str {
            "count"
        }
        fn run_once(&mut self, _: &mut DbConn, _: NaiveDateTime) -> AppResult<Outcome> {
            self.0 += 1;
            Ok(Outcome::did(1, format!("run {}", self.0)))
        }
    }

    #[test]
    fn a_panicking_task_is_contained_and_the_others_still_run() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::DatabaseSettings {
            url: dir.path().join("w.db").to_string_lossy().into_owned(),
            pool_size: 2,
            connect_timeout_s: 5,
            sqlite_busy_timeout_ms: 1000,
            intake_writers: 1,
            intake_batch_max: 1,
            connection_trust_ms: 0,
            replica_url: String::new(),
            replica_pool_size: 1,
            replica_max_lag_s: 10,
        };
        let pool = crate::db::build_pool(&settings).unwrap();
        let mut tasks: Vec<Box<dyn Task>> = vec![Box::new(Boom), Box::new(Count(0))];
        let now = crate::app::utc_now();
        for round in 1..=2 {
            let runs = run_all_once(&pool, &mut tasks, now);
            assert!(matches!(&runs[0].1, Ran::Panicked(why) if why == "a bug in a task"));
            assert!(matches!(&runs[1].1, Ran::Done(o) if o.summary == format!("run {round}")));
        }
    }

    #[test]
    fn a_stopped_worker_ends_promptly_after_its_current_round() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::DatabaseSettings {
            url: dir.path().join("w.db").to_string_lossy().into_owned(),
            pool_size: 2,
            connect_timeout_s: 5,
            sqlite_busy_timeout_ms: 1000,
            intake_writers: 1,
            intake_batch_max: 1,
            connection_trust_ms: 0,
            replica_url: String::new(),
            replica_pool_size: 1,
            replica_max_lag_s: 10,
        };
        let pool = crate::db::build_pool(&settings).unwrap();
        let w = Worker::start(pool, vec![Box::new(Count(0))], Duration::from_secs(3600));
        let t = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        w.stop();
        assert!(t.elapsed() < Duration::from_secs(2), "stop waited for the hour-long interval");
    }
}
