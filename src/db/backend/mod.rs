//! The one place where SQLite and PostgreSQL differ: transactions (SQLite's single writer, taken
//! up front), which errors mean "unavailable" or "run it again", and, in [`statements`] and
//! [`introspect`], the SQL each spells its own way. Nothing outside `db` matches on the back end
//! (a test in `tests/api/layers.rs` holds this).

pub mod backup;
mod introspect;
pub mod partitions;
pub mod replica;
pub mod reports;
mod statements;

pub use introspect::{live_columns, live_tables};
pub use statements::{
    claim_due_clocks, claim_due_deliveries, load_tickets, lock_audit_heads, lock_keys, lock_tickets, read_audit_heads, refresh_statistics,
    take_ticket_numbers, update_tickets, upsert_throttle, upsert_usual_address, write_audit_heads,
};

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use diesel::prelude::*;

use super::DbConn;

/// What libpq and PostgreSQL say when the connection is gone or the server is not there:
/// libpq's own messages (untranslated: a Rust program runs in the C locale), the server's
/// FATAL messages for a terminated session and for a server shutting down or starting up.
const CONNECTION_LOST: &[&str] = &[
    "no connection to the server",
    "server closed the connection unexpectedly",
    "terminating connection",
    "could not receive data from server",
    "could not send data to server",
    "connection refused",
    "connection reset by peer",
    "broken pipe",
    "lost synchronization with server",
    "ssl connection has been closed unexpectedly",
    "ssl syscall error",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
];

/// What SQLite says when another process held the file's lock past the busy timeout.
const SQLITE_BUSY: &[&str] = &["database is locked", "database table is locked", "database schema is locked"];

/// Whether an error means the database cannot be reached now (a cut connection, a server
/// stopped or restarting, SQLite's file locked past the busy timeout), rather than a fault of
/// the request or of the code. Such a request may be sent again as it is: it answers 503.
pub fn is_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        // "no connection to the server" comes as UnableToSendCommand, a terminated session as
        // Unknown (with its connection already marked bad), a busy SQLite file as Unknown.
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            CONNECTION_LOST.iter().chain(SQLITE_BUSY).any(|p| m.contains(p))
        }
        // A rollback failed, which happens when the connection died inside the transaction: the
        // connection is unusable (the pool drops it), and the work may be sent again.
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => is_unavailable(commit_error),
        _ => false,
    }
}

/// Whether the database broke a transaction off to resolve a conflict with another: a deadlock
/// victim (SQLSTATE 40P01) or a serialization failure (40001). Run again, it normally goes
/// through. diesel reports 40001 by kind but 40P01 only by its message, so the server's messages
/// must be in English (`lc_messages` = `C` or `en_…`, see operations.md).
pub fn is_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => info.message().starts_with("deadlock detected"),
        Error::RollbackErrorOnCommit { commit_error, .. } => is_conflict(commit_error),
        _ => false,
    }
}

/// An error that says whether the transaction that met it may simply be run again, because the
/// database broke it off to resolve a conflict ([`is_conflict`]).
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for diesel::result::Error {
    fn is_transient(&self) -> bool {
        is_conflict(self)
    }
}

/// How many times a transaction the database broke off is run again before its error is answered.
pub const CONFLICT_RETRIES: u32 = 3;

/// Runs `f`, and runs it again, at most [`CONFLICT_RETRIES`] times after a short random pause,
/// while the database breaks it off to resolve a conflict (deadlock victims, serialization
/// failures); the last error is answered (503). The one place where transactions are retried:
/// [`write_transaction`] and [`immediate_transaction`], which wrap every command, the intake's
/// batches and rounds, and `run_write`, go through it. Only a whole transaction can be run again:
/// inside a transaction of the caller's, `f` runs once and its error goes up to whoever opened it.
pub fn retry_conflicts<T, E: Transient>(conn: &mut DbConn, mut f: impl FnMut(&mut DbConn) -> Result<T, E>) -> Result<T, E> {
    if in_transaction(conn) {
        return f(conn);
    }
    let mut retries = 0;
    loop {
        match f(conn) {
            Err(e) if e.is_transient() && retries < CONFLICT_RETRIES => {
                retries += 1;
                // Apart by a random pause, the two sides of a deadlock rarely meet again.
                let pause = std::time::Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), 5..=25) * u64::from(retries));
                log::warn!("the database broke a transaction off to resolve a conflict; running it again ({retries} of {CONFLICT_RETRIES}) in {pause:?}");
                std::thread::sleep(pause);
            }
            done => return done,
        }
    }
}

/// The writers' queue of each SQLite database file this process writes to (see
/// [`sqlite_immediate`]): one per file, so that writers of different databases (the test suite's,
/// side by side) never wait on each other.
static SQLITE_WRITERS: LazyLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = LazyLock::new(Default::default);

/// The queue of the database file `c` is open on; an in-memory database (no file) has a queue
/// of its own, since no other connection can reach it.
fn sqlite_writer(c: &mut diesel::SqliteConnection) -> QueryResult<Arc<Mutex<()>>> {
    #[derive(QueryableByName)]
    struct Db {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    let file = diesel::sql_query("PRAGMA database_list").load::<Db>(c)?.into_iter().find(|d| d.name == "main").map(|d| d.file);
    match file.filter(|f| !f.is_empty()) {
        Some(f) => Ok(SQLITE_WRITERS.lock().unwrap_or_else(|p| p.into_inner()).entry(f).or_default().clone()),
        None => Ok(Arc::default()),
    }
}

/// Runs a command that writes. On SQLite the whole command takes the write lock up front
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing with
/// "database is locked" when both try to upgrade a read lock. On PostgreSQL the command's own
/// transactions are used as they are (row locks do the queueing). A command the database broke
/// off (a deadlock victim) runs again ([`retry_conflicts`]), so `f` may run more than once:
/// what it commits before the transaction that was broken off is done again (a filing takes
/// another number, leaving a gap, as any failed filing does).
pub fn write_transaction<T, E>(conn: &mut DbConn, mut f: impl FnMut(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error> + Transient,
{
    retry_conflicts(conn, |conn| sqlite_immediate(conn, &mut f, false))
}

/// One transaction on both back ends, taking SQLite's write lock up front; run again when the
/// database breaks it off ([`retry_conflicts`]).
pub fn immediate_transaction<T, E>(conn: &mut DbConn, mut f: impl FnMut(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error> + Transient,
{
    retry_conflicts(conn, |conn| sqlite_immediate(conn, &mut f, true))
}

fn sqlite_immediate<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>, transaction_on_postgres: bool) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if !matches!(conn, DbConn::Sqlite(_)) {
        return if transaction_on_postgres { conn.transaction(f) } else { f(conn) };
    }
    // Writers of this process queue on their file's mutex, in order, instead of polling SQLite's
    // busy handler (which sleeps with back-off and gives long tail latencies); other processes on
    // the same file still meet the busy timeout.
    let DbConn::Sqlite(c) = conn else { unreachable!("checked above") };
    let writer = sqlite_writer(c)?;
    let _turn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else { unreachable!("checked above") };
    match result {
        Ok(v) => match <AnsiTransactionManager as TransactionManager<diesel::SqliteConnection>>::commit_transaction(c) {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = <AnsiTransactionManager as TransactionManager<diesel::SqliteConnection>>::rollback_transaction(c);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = <AnsiTransactionManager as TransactionManager<diesel::SqliteConnection>>::rollback_transaction(c);
            Err(e)
        }
    }
}

/// Runs `f` on one consistent snapshot of the database, reading only: PostgreSQL `REPEATABLE READ,
/// READ ONLY`; SQLite a deferred transaction (in WAL mode its first read fixes the snapshot).
/// For whole-database reads that must not see writes committed half-way through (the audit
/// verification reads the chains' heads and then every chain).
pub fn snapshot_read<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::RunQueryDsl;
    conn.transaction(|conn| {
        if matches!(conn, DbConn::Postgresql(_)) {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn)?;
        }
        f(conn)
    })
}

/// Whether `conn` is inside a transaction already.
pub fn in_transaction(conn: &mut DbConn) -> bool {
    use diesel::connection::TransactionManager;
    <<DbConn as Connection>::TransactionManager as TransactionManager<DbConn>>::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some()
}

/// Runs `f` in the caller's transaction when there is one, else in a transaction of its own: a
/// savepoint would cost two round trips for nothing when the outer transaction is all or nothing.
pub fn within_transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if in_transaction(conn) {
        f(conn)
    } else {
        conn.transaction(f)
    }
}

/// Inserts `rows` into `table`: one multi-row statement on PostgreSQL, one statement per row on
/// SQLite (an in-process call each, and diesel builds SQLite's multi-row inserts only for rows
/// without defaults).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl;
        match $conn {
            $crate::db::DbConn::Postgresql(c) => diesel::insert_into($table).values($rows).execute(c).map(|_| ()),
            $crate::db::DbConn::Sqlite(c) => $rows.iter().try_for_each(|r| diesel::insert_into($table).values(r).execute(c).map(|_| ())),
        }
    }};
}
pub(crate) use insert_all;
