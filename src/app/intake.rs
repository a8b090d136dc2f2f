//! The intake (受理) of new tickets: a group commit for filings.
//!
//! A request hands its filing to the intake's writers, who take whatever filings are waiting and
//! handle them together: one query finds which idempotency keys were answered before, one or two
//! read the places, compounds and categories all filings name, each filing is checked (scope,
//! place, category, text) against those, and the good ones are written: one counter update
//! numbers them all, and one transaction inserts all their tickets, triage clocks, audit events
//! and idempotency keys with a handful of multi-row statements. Under load a batch holds many
//! filings, so the database does a few statements per batch instead of a dozen per filing; a lone
//! filing is handled at once, with no waiting. Each request gets its own answer: its ticket, the
//! replay of its key, or the error of its own check.
//!
//! Nothing changes for the caller: every filing gets its own number, clock, audit event and
//! stored answer, from the same [`tickets::insert_filings`] a lone filing goes through. A batch is all or nothing;
//! if it fails (a twin request's key won the race, say), each of its filings is written again on
//! its own, so one bad filing never fails the others.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::config::Settings;
use crate::db::{backend, DbConn, DbPool};
use crate::domain::Actor;

use super::calendars::Calendars;
use super::idempotency::{self, Stored};
use super::sla::SlaContext;
use super::tickets::{self, FilingRefs, NewTicket, PreparedFiling};
use super::{AppError, AppResult};

/// An `Idempotency-Key` and the request it came with.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub person_id: String,
    pub key: String,
    pub request_hash: String,
}

/// How a filing ended: written now (the response body), or replayed from its key's first use.
#[derive(Debug)]
pub enum Filed {
    Fresh(String),
    Replay(Stored),
}

/// One checked filing waiting to be written, with its idempotency key if the request had one.
pub struct Filing {
    pub actor: Actor,
    pub filing: PreparedFiling,
    pub key: Option<KeyRecord>,
}

/// A filing as the request sent it.
pub struct Request {
    pub actor: Actor,
    pub input: NewTicket,
    pub key: Option<KeyRecord>,
}

struct Job {
    request: Request,
    reply: tokio::sync::oneshot::Sender<AppResult<Filed>>,
}

/// The handle requests hand their filings to. Cloning it shares the same writers.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Job>,
}

impl Intake {
    /// Starts `writers` writer threads, each writing up to `max_batch` filings per transaction.
    /// They stop when the last handle is dropped.
    pub fn start(pool: DbPool, settings: Arc<Settings>, calendars: Arc<Calendars>, writers: usize, max_batch: usize) -> Intake {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..writers.max(1) {
            let (pool, settings, calendars, rx) = (pool.clone(), settings.clone(), calendars.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("intake-{i}"))
                .spawn(move || writer(pool, settings, calendars, rx, max_batch.max(1)))
                .expect("start an intake writer thread");
        }
        Intake { tx }
    }

    /// Files a ticket and waits for its answer.
    pub async fn file(&self, actor: Actor, input: NewTicket, key: Option<KeyRecord>) -> AppResult<Filed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job { request: Request { actor, input, key }, reply })
            .map_err(|_| AppError::internal_msg("the intake has stopped".into()))?;
        answer.await.map_err(|_| AppError::internal_msg("an intake writer failed while writing this filing".into()))?
    }
}

fn writer(pool: DbPool, settings: Arc<Settings>, calendars: Arc<Calendars>, rx: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    loop {
        // Wait for one filing, then take whatever else is already waiting.
        let jobs = {
            let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let Ok(first) = rx.recv() else { return };
            let mut jobs = vec![first];
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            jobs
        };
        let ctx = SlaContext { settings: &settings.sla, calendars: &calendars };
        // A panic fails this batch's requests (their reply channels drop), not the writer.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| match pool.get() {
            Ok(mut conn) => {
                let (requests, replies): (Vec<Request>, Vec<_>) = jobs.into_iter().map(|j| (j.request, j.reply)).unzip();
                for (answer, reply) in file_batch(&mut conn, ctx, requests, super::utc_now()).into_iter().zip(replies) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                let why = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(AppError::Unavailable(anyhow::anyhow!("no database connection: {why}"))));
                }
            }
        }));
    }
}

/// Handles a batch of requests and answers each, in order: replays of keys answered before,
/// check errors, and the checked filings written by [`write_batch`].
pub fn file_batch(conn: &mut DbConn, ctx: SlaContext<'_>, requests: Vec<Request>, now: NaiveDateTime) -> Vec<AppResult<Filed>> {
    let mut answers: Vec<Option<AppResult<Filed>>> = requests.iter().map(|_| None).collect();
    let keys: Vec<&KeyRecord> = requests.iter().filter_map(|r| r.key.as_ref()).collect();
    let stored = match idempotency::lookup_all(conn, &keys) {
        Ok(s) => s,
        Err(e) => return requests.iter().map(|_| Err(copy_of(&e))).collect(),
    };
    let mut pending = vec![];
    for (i, r) in requests.into_iter().enumerate() {
        match r.key.as_ref().and_then(|k| stored.get(&(k.person_id.clone(), k.key.clone())).map(|row| (k, row))) {
            Some((k, row)) => answers[i] = Some(idempotency::answer(row, &k.request_hash).map(Filed::Replay)),
            None => pending.push((i, r)),
        }
    }
    let refs = match FilingRefs::load(conn, pending.iter().map(|(_, r)| &r.input)) {
        Ok(refs) => refs,
        Err(e) => {
            for (i, _) in &pending {
                answers[*i] = Some(Err(copy_of(&e)));
            }
            return answers.into_iter().map(|a| a.unwrap_or_else(|| Err(unanswered()))).collect();
        }
    };
    let (mut index, mut filings) = (vec![], vec![]);
    for (i, r) in pending {
        match tickets::check_filing_with(&refs, &r.actor, r.input, now) {
            Ok(filing) => {
                index.push(i);
                filings.push(Filing { actor: r.actor, filing, key: r.key });
            }
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    for (i, a) in index.into_iter().zip(write_batch(conn, ctx, filings, now)) {
        answers[i] = Some(a);
    }
    answers.into_iter().map(|a| a.unwrap_or_else(|| Err(unanswered()))).collect()
}

fn unanswered() -> AppError {
    AppError::internal_msg("a filing was left unanswered".into())
}

/// A database failure for each request it failed: unavailable stays unavailable, anything else
/// is internal.
fn copy_of(e: &AppError) -> AppError {
    match e {
        AppError::Unavailable(why) => AppError::Unavailable(anyhow::anyhow!("{why}")),
        other => AppError::internal_msg(other.to_string()),
    }
}

/// Writes a batch of checked filings and answers each, in order. Two or more are written together; if
/// that fails, or for a lone filing, each is written on its own ([`write_one`]).
pub fn write_batch(conn: &mut DbConn, ctx: SlaContext<'_>, filings: Vec<Filing>, now: NaiveDateTime) -> Vec<AppResult<Filed>> {
    // A key twice in one batch: the first is written with the batch, the second replays it after.
    let mut seen = HashSet::new();
    let (mut together, mut alone) = (vec![], vec![]);
    for (i, f) in filings.into_iter().enumerate() {
        match &f.key {
            Some(k) if !seen.insert((k.person_id.clone(), k.key.clone())) => alone.push((i, f)),
            _ => together.push((i, f)),
        }
    }
    let mut answers: Vec<Option<AppResult<Filed>>> = (0..together.len() + alone.len()).map(|_| None).collect();
    if together.len() > 1 {
        match write_together(conn, ctx, &together, now) {
            Ok(bodies) => {
                for ((i, _), body) in together.drain(..).zip(bodies) {
                    answers[i] = Some(Ok(Filed::Fresh(body)));
                }
            }
            Err(e) => log::info!("a batch of {} filings failed ({}); writing them one by one", together.len(), e.code()),
        }
    }
    together.append(&mut alone);
    for (i, f) in together {
        answers[i] = Some(write_one(conn, ctx, &f.actor, f.filing, f.key.as_ref(), now));
    }
    answers.into_iter().map(|a| a.unwrap_or_else(|| Err(unanswered()))).collect()
}

/// All filings of a batch in one transaction; answers their response bodies in order.
fn write_together(conn: &mut DbConn, ctx: SlaContext<'_>, batch: &[(usize, Filing)], now: NaiveDateTime) -> AppResult<Vec<String>> {
    backend::write_transaction(conn, |conn| {
        let day = tickets::number_day(now);
        let n = batch.len() as i64;
        let last = backend::take_ticket_numbers(conn, &day, n)?;
        let filings = batch
            .iter()
            .enumerate()
            .map(|(i, (_, j))| {
                let mut f = j.filing.clone();
                f.set_number(&day, last - n + 1 + i as i64);
                (&j.actor, f)
            })
            .collect();
        // Inside SQLite's write transaction this is a savepoint: a failed batch leaves only its
        // numbers taken, a gap as any sequence leaves.
        conn.transaction(|conn| {
            let views = tickets::insert_filings(conn, ctx, filings, now)?;
            let bodies = views.iter().map(|v| serde_json::to_string(v).map_err(AppError::internal)).collect::<AppResult<Vec<_>>>()?;
            let keys: Vec<_> = batch.iter().zip(&bodies).filter_map(|((_, j), b)| j.key.as_ref().map(|k| (k, b.as_str()))).collect();
            idempotency::store_all(conn, &keys, 201, now)?;
            Ok(bodies)
        })
    })
}

/// One filing on its own, as `POST /tickets` always did: a stored key replays; a twin that
/// commits first wins the key and this one replays it.
pub fn write_one(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    mut filing: PreparedFiling,
    key: Option<&KeyRecord>,
    now: NaiveDateTime,
) -> AppResult<Filed> {
    backend::write_transaction(conn, |conn| {
        if let Some(k) = key {
            if let Some(stored) = idempotency::lookup(conn, &k.person_id, &k.key, &k.request_hash)? {
                return Ok(Filed::Replay(stored));
            }
        }
        filing.take_number(conn, now)?;
        let done = conn.transaction(|conn| {
            let v = tickets::insert_filing(conn, ctx, actor, filing, now)?;
            let body = serde_json::to_string(&v).map_err(AppError::internal)?;
            if let Some(k) = key {
                idempotency::store_all(conn, &[(k, body.as_str())], 201, now)?;
            }
            Ok(body)
        });
        match (done, key) {
            (Ok(body), _) => Ok(Filed::Fresh(body)),
            (Err(AppError::Conflict { code: "already_exists", .. }), Some(k)) => {
                idempotency::twin_answer(conn, &k.person_id, &k.key, &k.request_hash).map(Filed::Replay)
            }
            (Err(e), _) => Err(e),
        }
    })
}
