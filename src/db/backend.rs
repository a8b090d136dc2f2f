//! The one place where SQLite and PostgreSQL need different SQL. Everything else is shared.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::DbConn;

/// Rows of `table` in the live database: (column, normalised type, nullable), for the schema check.
pub fn live_columns(conn: &mut DbConn, table: &str) -> QueryResult<Vec<(String, String, bool)>> {
    #[derive(QueryableByName)]
    struct SqliteCol {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        r#type: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        notnull: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pk: i32,
    }
    #[derive(QueryableByName)]
    struct PgCol {
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        is_nullable: String,
    }
    match conn {
        DbConn::Sqlite(c) => {
            if !table.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                return Ok(vec![]);
            }
            let cols: Vec<SqliteCol> = diesel::sql_query(format!("PRAGMA table_info({table})")).load(c)?;
            Ok(cols.into_iter().map(|c| (c.name, normalise_type(&c.r#type), c.notnull == 0 && c.pk == 0)).collect())
        }
        DbConn::Postgresql(c) => {
            let cols: Vec<PgCol> = diesel::sql_query(
                "SELECT column_name::text AS column_name, data_type::text AS data_type, is_nullable::text AS is_nullable \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind::<diesel::sql_types::Text, _>(table)
            .load(c)?;
            Ok(cols.into_iter().map(|c| (c.column_name, normalise_type(&c.data_type), c.is_nullable == "YES")).collect())
        }
    }
}

/// Maps each back end's spelling of a column type to the diesel type name used in schema.rs.
fn normalise_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "text" | "character varying" => "Text",
        "integer" | "int" | "int4" => "Integer",
        "bigint" | "int8" => "BigInt",
        "boolean" | "bool" => "Bool",
        "timestamp" | "timestamp without time zone" => "Timestamp",
        "double precision" | "double" | "real" => "Double",
        "date" => "Date",
        other => return format!("unknown({other})"),
    }
    .to_string()
}

/// Names of the application's tables in the live database (migration bookkeeping excluded).
pub fn live_tables(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let rows: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name",
        )
        .load(c)?,
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name <> '__diesel_schema_migrations' ORDER BY table_name",
        )
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Takes the next `n` ticket numbers of `day` and answers the last of them (the first is
/// `last - n + 1`): one upsert, in its own short statement so that the counter row is locked only
/// for that statement, not for a whole filing.
pub fn take_ticket_numbers(conn: &mut DbConn, day: &str, n: i64) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last: i64,
    }
    let sql = |p: &str, q: &str| {
        format!("INSERT INTO ticket_counters (day, last) VALUES ({p}, {q}) ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + excluded.last RETURNING last")
    };
    let row: Last = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql("?", "?"))
            .bind::<diesel::sql_types::Text, _>(day)
            .bind::<diesel::sql_types::BigInt, _>(n)
            .get_result(c)?,
        // The counter's own commit need not wait for its WAL flush: the filing that uses the number
        // commits synchronously afterwards, and WAL is flushed in order, so a filing that survives a
        // crash implies its number's increment survived too. That saves one disk flush per filing.
        DbConn::Postgresql(c) => c.transaction(|c| {
            c.batch_execute("SET LOCAL synchronous_commit TO OFF")?;
            diesel::sql_query(sql("$1", "$2")).bind::<diesel::sql_types::Text, _>(day).bind::<diesel::sql_types::BigInt, _>(n).get_result(c)
        })?,
    };
    Ok(row.last)
}

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

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    // Writers of this process queue on a mutex, in order, instead of polling SQLite's busy
    // handler (which sleeps with back-off and gives long tail latencies); other processes on the
    // same file still meet the busy timeout.
    let _turn = SQLITE_WRITER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    }
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

/// The clocks due by `now`, at most `limit`, locked for this transaction. PostgreSQL skips rows
/// another scheduler has locked (`FOR UPDATE SKIP LOCKED`), so concurrent schedulers share the
/// work instead of queueing on it; SQLite has one writer at a time anyway. Either way each firing
/// is still claimed by a conditional update and guarded by a unique key.
pub fn claim_due_clocks(conn: &mut DbConn, now: chrono::NaiveDateTime, limit: i64) -> QueryResult<Vec<super::models::ClockRow>> {
    use super::models::ClockRow;
    use super::schema::sla_clocks;
    match conn {
        DbConn::Postgresql(c) => sla_clocks::table
            .filter(sla_clocks::next_fire_at.le(now))
            .order(sla_clocks::next_fire_at.asc())
            .limit(limit)
            .for_update()
            .skip_locked()
            .select(ClockRow::as_select())
            .load(c),
        DbConn::Sqlite(c) => sla_clocks::table
            .filter(sla_clocks::next_fire_at.le(now))
            .order(sla_clocks::next_fire_at.asc())
            .limit(limit)
            .select(ClockRow::as_select())
            .load(c),
    }
}

/// Serialises, across every server on the database, the transactions that name the same `keys`
/// (login attempts sharing a client address or an account), until the caller's transaction ends.
/// PostgreSQL: transaction-level advisory locks on a 64-bit digest of `namespace` and each key,
/// taken in ascending order so that two transactions never wait on each other in a cycle; they
/// need no row to exist, so a first attempt locks as well as the hundredth. SQLite: the caller's
/// `BEGIN IMMEDIATE` holds the whole database already.
pub fn lock_keys(conn: &mut DbConn, namespace: &str, keys: &[&str]) -> QueryResult<()> {
    use sha2::{Digest, Sha256};
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    let mut ids: Vec<i64> = keys
        .iter()
        .map(|k| {
            let d = Sha256::new().chain_update(namespace.as_bytes()).chain_update([0]).chain_update(k.as_bytes()).finalize();
            i64::from_be_bytes(d[..8].try_into().expect("eight bytes"))
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)").bind::<diesel::sql_types::BigInt, _>(id).execute(c)?;
    }
    Ok(())
}

/// Writes login failure counters, inserting or replacing each by its key.
pub fn upsert_throttle(conn: &mut DbConn, rows: &[super::models::LoginThrottleRow]) -> QueryResult<()> {
    use super::schema::login_throttle::dsl::*;
    use diesel::upsert::excluded;
    macro_rules! upsert {
        ($c:expr, $values:expr) => {
            diesel::insert_into(login_throttle)
                .values($values)
                .on_conflict((account, address))
                .do_update()
                .set((
                    failures.eq(excluded(failures)),
                    decayed_at.eq(excluded(decayed_at)),
                    blocked_until.eq(excluded(blocked_until)),
                    expires_at.eq(excluded(expires_at)),
                ))
                .execute($c)
        };
    }
    match conn {
        DbConn::Postgresql(c) => upsert!(c, rows).map(|_| ()),
        DbConn::Sqlite(c) => rows.iter().try_for_each(|r| upsert!(c, r).map(|_| ())),
    }
}

/// Records that `person` logged in successfully from `address_key` at `at`.
pub fn upsert_usual_address(conn: &mut DbConn, person: &str, address_key: &str, at: chrono::NaiveDateTime) -> QueryResult<()> {
    use super::schema::login_usual_addresses::dsl::*;
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(login_usual_addresses)
                .values((person_id.eq(person), address.eq(address_key), last_success_at.eq(at)))
                .on_conflict((person_id, address))
                .do_update()
                .set(last_success_at.eq(at))
                .execute($c)
        };
    }
    match conn {
        DbConn::Postgresql(c) => upsert!(c).map(|_| ()),
        DbConn::Sqlite(c) => upsert!(c).map(|_| ()),
    }
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
