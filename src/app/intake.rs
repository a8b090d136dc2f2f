//! The intake (受理): a group commit for filings and for workflow actions (state changes).
//!
//! A request hands its filing to the intake's writers, who take whatever filings are waiting and
//! handle them together: one query finds which idempotency keys were answered before, up to three
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
//!
//! Workflow actions go the same way ([`act_batch`]): the waiting actions, one per ticket, are
//! taken in one transaction by [`tickets::act_together`] (tickets read and locked together, each
//! action checked on its own, clocks, rows, audit events and views written together), with their
//! idempotency keys; an action refused gets its own error and the others go on. A second action on
//! the same ticket waits for the next round, so it sees the first one's version.

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
use super::tickets::{self, ActRequest, FilingRefs, NewTicket, PreparedFiling};
use super::{AppError, AppResult};

pub use super::idempotency::KeyRecord;

/// How a write ended: done now (the response body), or replayed from its key's first use.
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

/// A workflow action as the request sent it.
pub struct ActJob {
    pub request: ActRequest,
    pub key: Option<KeyRecord>,
}

type Reply = tokio::sync::oneshot::Sender<AppResult<Filed>>;

enum Job {
    File(Request, Reply),
    Act(ActJob, Reply),
}

/// The handle requests hand their filings to. Cloning it shares the same writers.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Job>,
}

impl Intake {
    /// Starts `writers` writer threads, each writing up to `max_batch` filings (or actions) per transaction.
    /// They stop when the last handle is dropped.
    pub fn start(pool: DbPool, settings: Arc<Settings>, calendars: Calendars, writers: usize, max_batch: usize) -> Intake {
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
        self.send(Job::File(Request { actor, input, key }, reply))?;
        answer.await.map_err(|_| AppError::internal_msg("an intake writer failed while writing this filing".into()))?
    }

    /// Takes a workflow action and waits for its answer (the ticket's view as a body).
    pub async fn act(&self, request: ActRequest, key: Option<KeyRecord>) -> AppResult<Filed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Act(ActJob { request, key }, reply))?;
        answer.await.map_err(|_| AppError::internal_msg("an intake writer failed while taking this action".into()))?
    }

    fn send(&self, job: Job) -> AppResult<()> {
        self.tx.send(job).map_err(|_| AppError::internal_msg("the intake has stopped".into()))
    }
}

fn writer(pool: DbPool, settings: Arc<Settings>, calendars: Calendars, rx: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    loop {
        // Wait for one job, then take whatever else is already waiting.
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
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let (mut filings, mut filing_replies, mut actions, mut action_replies) = (vec![], vec![], vec![], vec![]);
            for j in jobs {
                match j {
                    Job::File(r, reply) => {
                        filings.push(r);
                        filing_replies.push(reply);
                    }
                    Job::Act(a, reply) => {
                        actions.push(a);
                        action_replies.push(reply);
                    }
                }
            }
            // Filings and actions each on a connection of their own checkout: when the filings
            // found their connection gone, the actions do not try it again (the pool checks an
            // unvouched connection and replaces it if dead).
            let m = crate::metrics::get();
            if !filings.is_empty() {
                m.intake_batch.observe(filings.len() as f64);
                write_on_pooled(&pool, filing_replies, |conn| file_batch(conn, ctx, filings, super::utc_now()));
            }
            if !actions.is_empty() {
                m.intake_batch.observe(actions.len() as f64);
                write_on_pooled(&pool, action_replies, |conn| act_batch(conn, ctx, actions, super::utc_now()));
            }
        }));
    }
}

/// Answers `replies` with what `work` answers on a pooled connection, or 503 for all when no
/// connection comes in time. The connection is vouched for only when every request succeeded:
/// after any failure the next checkout asks the database whether it is still there.
fn write_on_pooled(pool: &DbPool, replies: Vec<Reply>, work: impl FnOnce(&mut DbConn) -> Vec<AppResult<Filed>>) {
    match pool.get() {
        Ok(mut conn) => {
            let mut all_ok = true;
            for (answer, reply) in work(&mut conn).into_iter().zip(replies) {
                all_ok &= answer.is_ok();
                let _ = reply.send(answer);
            }
            if all_ok {
                conn.vouch();
            }
        }
        Err(e) => {
            let why = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(AppError::Unavailable(anyhow::anyhow!("no database connection: {why}"))));
            }
        }
    }
}

/// Handles a batch of requests and answers each, in order: replays of keys answered before,
/// check errors, and the checked filings written by [`write_batch`].
pub fn file_batch(conn: &mut DbConn, ctx: SlaContext<'_>, requests: Vec<Request>, now: NaiveDateTime) -> Vec<AppResult<Filed>> {
    let keys: Vec<Option<&KeyRecord>> = requests.iter().map(|r| r.key.as_ref()).collect();
    let mut answers = match replays(conn, &keys) {
        Ok(a) => a,
        Err(e) => return requests.iter().map(|_| Err(copy_of(&e))).collect(),
    };
    let pending: Vec<(usize, Request)> = requests.into_iter().enumerate().filter(|(i, _)| answers[*i].is_none()).collect();
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

/// The answers of the requests whose keys were answered before (a replay, or 422 for another
/// body), `None` for the others: one query for all.
fn replays(conn: &mut DbConn, keys: &[Option<&KeyRecord>]) -> AppResult<Vec<Option<AppResult<Filed>>>> {
    let present: Vec<&KeyRecord> = keys.iter().flatten().copied().collect();
    let stored = idempotency::lookup_all(conn, &present)?;
    Ok(keys
        .iter()
        .map(|k| {
            k.and_then(|k| {
                stored.get(&(k.person_id, k.key.clone())).map(|row| idempotency::answer(row, &k.request_hash).map(Filed::Replay))
            })
        })
        .collect())
}

fn unanswered() -> AppError {
    AppError::internal_msg("a filing was left unanswered".into())
}

/// A database failure for each request it failed: unavailable stays unavailable, a conflict
/// stays a conflict, anything else is internal.
fn copy_of(e: &AppError) -> AppError {
    match e {
        AppError::Unavailable(why) => AppError::Unavailable(anyhow::anyhow!("{why:#}")),
        AppError::Contention(why) => AppError::Contention(anyhow::anyhow!("{why:#}")),
        other => AppError::internal_msg(other.to_string()),
    }
}

/// Whether the connection is known to be gone: every later request on it would fail the same
/// way (or, before the error was classified, with a 500), so they are answered 503 at once.
fn connection_lost(answer: &AppResult<Filed>) -> Option<AppError> {
    match answer {
        Err(e @ AppError::Unavailable(_)) => Some(copy_of(e)),
        _ => None,
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
            Some(k) if !seen.insert((k.person_id, k.key.clone())) => alone.push((i, f)),
            _ => together.push((i, f)),
        }
    }
    let mut answers: Vec<Option<AppResult<Filed>>> = (0..together.len() + alone.len()).map(|_| None).collect();
    let mut lost = None;
    if together.len() > 1 {
        match write_together(conn, ctx, &together, now) {
            Ok(bodies) => {
                for ((i, _), body) in together.drain(..).zip(bodies) {
                    answers[i] = Some(Ok(Filed::Fresh(body)));
                }
            }
            Err(e @ AppError::Unavailable(_)) => lost = Some(e),
            Err(e) => log::info!("a batch of {} filings failed ({}); writing them one by one", together.len(), e.code()),
        }
    }
    together.append(&mut alone);
    for (i, f) in together {
        let answer = match &lost {
            Some(e) => Err(copy_of(e)),
            None => write_one(conn, ctx, &f.actor, f.filing, f.key.as_ref(), now),
        };
        lost = lost.or_else(|| connection_lost(&answer));
        answers[i] = Some(answer);
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
    filing: PreparedFiling,
    key: Option<&KeyRecord>,
    now: NaiveDateTime,
) -> AppResult<Filed> {
    keyed_write(
        conn,
        key,
        201,
        now,
        |conn| {
            let mut filing = filing.clone();
            filing.take_number(conn, now)?;
            Ok(filing)
        },
        |conn, filing| to_body(&tickets::insert_filing(conn, ctx, actor, filing, now)?),
    )
}

/// A response body.
pub fn to_body<T: serde::Serialize>(v: &T) -> AppResult<String> {
    serde_json::to_string(v).map_err(AppError::internal)
}

/// A write with an optional idempotency key, in one write transaction: a key answered before
/// replays its answer; otherwise `prepare` runs (outside the inner transaction: a filing's number
/// is taken there), then `write` and the key's record commit together. A twin request that
/// commits the same key first wins, and this one replays its answer: whether it lost on the
/// key itself or was refused because of what the twin did (the version it moved, the state it
/// left), the key is looked up again after any refusal.
pub fn keyed_write<P>(
    conn: &mut DbConn,
    key: Option<&KeyRecord>,
    status: u16,
    now: NaiveDateTime,
    mut prepare: impl FnMut(&mut DbConn) -> AppResult<P>,
    mut write: impl FnMut(&mut DbConn, P) -> AppResult<String>,
) -> AppResult<Filed> {
    backend::write_transaction(conn, |conn| {
        if let Some(k) = key {
            if let Some(stored) = idempotency::lookup(conn, &k.person_id, &k.key, &k.request_hash)? {
                return Ok(Filed::Replay(stored));
            }
        }
        let prepared = prepare(conn)?;
        let done: AppResult<String> = conn.transaction(|conn| {
            let body = write(conn, prepared)?;
            if let Some(k) = key {
                idempotency::store_all(conn, &[(k, body.as_str())], status, now)?;
            }
            Ok(body)
        });
        match (done, key) {
            (Ok(body), _) => Ok(Filed::Fresh(body)),
            (Err(e), Some(k)) if !e.is_database_failure() => match idempotency::lookup(conn, &k.person_id, &k.key, &k.request_hash)? {
                Some(stored) => Ok(Filed::Replay(stored)),
                None => Err(e),
            },
            (Err(e), _) => Err(e),
        }
    })
}

/// Takes a batch of actions and answers each, in order: replays of keys answered before, then
/// rounds of actions on distinct tickets (and distinct keys), each round in one transaction
/// ([`tickets::act_together`]) with its keys stored. If a round fails as a whole (a twin's key
/// won the race, say), each of its actions is taken again on its own.
pub fn act_batch(conn: &mut DbConn, ctx: SlaContext<'_>, jobs: Vec<ActJob>, now: NaiveDateTime) -> Vec<AppResult<Filed>> {
    let keys: Vec<Option<&KeyRecord>> = jobs.iter().map(|j| j.key.as_ref()).collect();
    let mut answers = match replays(conn, &keys) {
        Ok(a) => a,
        Err(e) => return jobs.iter().map(|_| Err(copy_of(&e))).collect(),
    };
    let mut pending: Vec<usize> = (0..jobs.len()).filter(|&i| answers[i].is_none()).collect();
    let mut lost = None;
    while !pending.is_empty() {
        let (mut tickets_seen, mut keys_seen) = (HashSet::new(), HashSet::new());
        let (round, later): (Vec<usize>, Vec<usize>) = pending.into_iter().partition(|&i| {
            let j = &jobs[i];
            let key_free = j.key.as_ref().is_none_or(|k| !keys_seen.contains(&(k.person_id, k.key.as_str())));
            let first = key_free && !tickets_seen.contains(&j.request.ticket_id);
            if first {
                tickets_seen.insert(j.request.ticket_id);
                if let Some(k) = &j.key {
                    keys_seen.insert((k.person_id, k.key.as_str()));
                }
            }
            first
        });
        let mut alone = round.clone();
        if round.len() > 1 && lost.is_none() {
            match act_round(conn, ctx, &round.iter().map(|&i| &jobs[i]).collect::<Vec<_>>(), now) {
                Ok(done) => {
                    for (&i, a) in round.iter().zip(done) {
                        answers[i] = Some(a);
                    }
                    answer_twins(conn, &jobs, &round, &mut answers);
                    alone.clear();
                }
                Err(e @ AppError::Unavailable(_)) => lost = Some(e),
                Err(e) => log::info!("a batch of {} actions failed ({}); taking them one by one", round.len(), e.code()),
            }
        }
        for i in alone {
            let j = &jobs[i];
            let r = &j.request;
            let answer = match &lost {
                Some(e) => Err(copy_of(e)),
                None => keyed_write(
                    conn,
                    j.key.as_ref(),
                    200,
                    now,
                    |_| Ok(()),
                    |conn, ()| to_body(&tickets::act(conn, ctx, &r.actor, &r.ticket_id, r.version, r.action.clone(), now)?),
                ),
            };
            lost = lost.or_else(|| connection_lost(&answer));
            answers[i] = Some(answer);
        }
        pending = later;
    }
    answers.into_iter().map(|a| a.unwrap_or_else(|| Err(unanswered()))).collect()
}

/// Keyed actions a round refused although their key is stored now: a twin (the same request
/// sent twice at once) committed first, and what it did (the version it moved, the state it
/// left) refused this one. They answer what the twin answered, as a replay. One query for all.
fn answer_twins(conn: &mut DbConn, jobs: &[ActJob], round: &[usize], answers: &mut [Option<AppResult<Filed>>]) {
    let refused: Vec<usize> = round
        .iter()
        .copied()
        .filter(|&i| jobs[i].key.is_some() && matches!(&answers[i], Some(Err(e)) if !e.is_database_failure()))
        .collect();
    if refused.is_empty() {
        return;
    }
    let keys: Vec<Option<&KeyRecord>> = refused.iter().map(|&i| jobs[i].key.as_ref()).collect();
    // If the lookup fails, the refusals stand: they are true, if less helpful.
    if let Ok(found) = replays(conn, &keys) {
        for (i, replay) in refused.into_iter().zip(found) {
            if replay.is_some() {
                answers[i] = replay;
            }
        }
    }
}

/// One round of actions on distinct tickets in one transaction, with the keys of those done.
fn act_round(conn: &mut DbConn, ctx: SlaContext<'_>, round: &[&ActJob], now: NaiveDateTime) -> AppResult<Vec<AppResult<Filed>>> {
    backend::write_transaction(conn, |conn| {
        conn.transaction(|conn| {
            let requests: Vec<&ActRequest> = round.iter().map(|j| &j.request).collect();
            let done = tickets::act_together(conn, ctx, &requests, now)?;
            let mut answers = Vec::with_capacity(round.len());
            let mut bodies = vec![];
            for (j, a) in round.iter().zip(done) {
                match a.and_then(|v| to_body(&v)) {
                    Ok(body) => {
                        if let Some(k) = &j.key {
                            bodies.push((k, body.clone()));
                        }
                        answers.push(Ok(Filed::Fresh(body)));
                    }
                    Err(e) => answers.push(Err(e)),
                }
            }
            let keys: Vec<(&KeyRecord, &str)> = bodies.iter().map(|(k, b)| (*k, b.as_str())).collect();
            idempotency::store_all(conn, &keys, 200, now)?;
            Ok(answers)
        })
    })
}
