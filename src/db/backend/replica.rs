//! What reading from a PostgreSQL streaming replica needs to ask (#21, decision 0035): WAL
//! positions, as bytes since the start of WAL. SQLite has no replica: every call answers as if
//! the primary were the only database.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;

#[derive(QueryableByName)]
struct Lsn {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    lsn: Option<i64>,
}

/// The primary's current WAL position (everything committed before the call lies before it).
pub fn primary_position(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    let DbConn::Postgresql(c) = conn else { return Ok(None) };
    Ok(diesel::sql_query("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn").get_result::<Lsn>(c)?.lsn)
}

/// A standby's replayed WAL position; `None` when the server is not a standby in recovery (a
/// promoted or mistaken `replica_url`), whose data cannot be trusted to follow the primary.
pub fn replayed_position(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    let DbConn::Postgresql(c) = conn else { return Ok(None) };
    Ok(diesel::sql_query("SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END AS lsn")
        .get_result::<Lsn>(c)?
        .lsn)
}

/// Records that `person` wrote: his position is the primary's WAL position now, after his write
/// committed.
pub fn note_write(conn: &mut DbConn, person: &str, now: NaiveDateTime) -> QueryResult<()> {
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    diesel::sql_query(
        "INSERT INTO person_writes (person_id, wrote_lsn, wrote_at) VALUES ($1, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, $2) \
         ON CONFLICT (person_id) DO UPDATE SET wrote_lsn = GREATEST(person_writes.wrote_lsn, excluded.wrote_lsn), wrote_at = excluded.wrote_at",
    )
    .bind::<diesel::sql_types::Text, _>(person)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(c)?;
    Ok(())
}

/// The position of `person`'s latest write, if he wrote since records began.
pub fn written_position(conn: &mut DbConn, person: &str) -> QueryResult<Option<i64>> {
    use crate::db::schema::person_writes;
    person_writes::table.find(person).select(person_writes::wrote_lsn).first(conn).optional()
}
