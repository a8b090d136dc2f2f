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

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a command that writes. On SQLite the whole command takes the write lock up front
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing with
/// "database is locked" when both try to upgrade a read lock. On PostgreSQL the command's own
/// transactions are used as they are (row locks do the queueing).
pub fn write_transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    sqlite_immediate(conn, f, false)
}

/// One transaction on both back ends, taking SQLite's write lock up front.
pub fn immediate_transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    sqlite_immediate(conn, f, true)
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
