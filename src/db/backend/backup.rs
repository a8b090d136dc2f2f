//! The back-end-specific steps of a backup (#22): SQLite's `VACUUM INTO` (a consistent copy of the
//! live file, taken while the service writes), and on PostgreSQL a repeatable-read transaction
//! whose snapshot is exported, so that `pg_dump --snapshot` and the audit heads recorded beside
//! the dump see the same moment.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::db::DbConn;

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// SQLite: writes a consistent copy of the database to `dest` (which must not exist).
pub fn sqlite_vacuum_into(conn: &mut DbConn, dest: &str) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(dest).execute(c).map(|_| ()),
        DbConn::Postgresql(_) => Err(diesel::result::Error::QueryBuilderError("VACUUM INTO is SQLite's".into())),
    }
}

/// PostgreSQL: runs `f` inside a repeatable-read, read-only transaction with the snapshot's name
/// (`pg_export_snapshot()`): whatever `f` reads, and any `pg_dump --snapshot=<name>` it starts,
/// sees the same moment. SQLite: `f` runs with no snapshot name.
pub fn with_exported_snapshot<T, E: From<diesel::result::Error>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn, Option<&str>) -> Result<T, E>,
) -> Result<T, E> {
    if matches!(conn, DbConn::Sqlite(_)) {
        return f(conn, None);
    }
    let snapshot = match conn {
        DbConn::Postgresql(c) => {
            diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(c)?;
            let one: One = diesel::sql_query("SELECT pg_export_snapshot() AS value").get_result(c)?;
            one.value.unwrap_or_default()
        }
        DbConn::Sqlite(_) => unreachable!(),
    };
    let out = f(conn, Some(&snapshot));
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("COMMIT").execute(c)?;
    }
    out
}

/// The schema the connection's tables live in (PostgreSQL's `current_schema()`; `None` when its
/// search path names no existing schema, and on SQLite).
pub fn current_schema(conn: &mut DbConn) -> QueryResult<Option<String>> {
    match conn {
        DbConn::Postgresql(c) => Ok(diesel::sql_query("SELECT current_schema()::text AS value").get_result::<One>(c)?.value),
        DbConn::Sqlite(_) => Ok(None),
    }
}

/// Whether the database holds any of Gridloop's data: an org unit or a person (a database that
/// has no tables yet holds none).
pub fn holds_data(conn: &mut DbConn) -> QueryResult<bool> {
    let tables = super::introspect::live_tables(conn)?;
    if !tables.iter().any(|t| t == "org_units") {
        return Ok(false);
    }
    let sql = "SELECT CASE WHEN EXISTS (SELECT 1 FROM org_units) OR EXISTS (SELECT 1 FROM people) THEN 'y' ELSE 'n' END AS value";
    let one: One = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c)?,
        DbConn::Postgresql(c) => diesel::sql_query(sql).get_result(c)?,
    };
    Ok(one.value.as_deref() == Some("y"))
}
