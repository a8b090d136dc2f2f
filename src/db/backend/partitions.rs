//! Monthly partitions of the history tables (PostgreSQL only; #21, decision 0034): creating a
//! month, listing them, detaching one. SQLite keeps each table whole, and every call here answers
//! as if there were nothing to do.

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::db::DbConn;

/// The tables partitioned by month, each with its partition key.
pub const PARTITIONED: &[(&str, &str)] = &[("audit_events", "at"), ("sla_fires", "clock_started_at"), ("deliveries", "created_at")];

/// True when the database partitions its history (PostgreSQL).
pub fn partitioned(conn: &mut DbConn) -> bool {
    matches!(conn, DbConn::Postgresql(_))
}

/// Creates `table`'s partition of the month holding `month` unless it exists (moving the rows its
/// default partition holds for that month into it); `true` when this call created it.
pub fn ensure_month(conn: &mut DbConn, table: &str, month: NaiveDate) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        created: bool,
    }
    let DbConn::Postgresql(c) = conn else { return Ok(false) };
    let r: Created = diesel::sql_query("SELECT gridloop_ensure_month($1, $2) AS created")
        .bind::<diesel::sql_types::Text, _>(table)
        .bind::<diesel::sql_types::Date, _>(month)
        .get_result(c)?;
    Ok(r.created)
}

/// One partition as the catalogue has it.
#[derive(Clone, Debug, QueryableByName)]
pub struct PartitionRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub parent: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    /// `FOR VALUES FROM (…) TO (…)`, or `DEFAULT`.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub bound: String,
    /// The planner's estimate (`reltuples`), −1 before the table was first analysed.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub rows_estimate: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub bytes: i64,
}

/// The partitions of the history tables in the current schema, by parent and name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<PartitionRow>> {
    let DbConn::Postgresql(c) = conn else { return Ok(vec![]) };
    diesel::sql_query(
        "SELECT p.relname::text AS parent, c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid)::text AS bound, \
                c.reltuples::bigint AS rows_estimate, pg_total_relation_size(c.oid)::bigint AS bytes \
         FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent \
         JOIN pg_namespace n ON n.oid = p.relnamespace \
         WHERE n.nspname = current_schema() AND p.relname IN ('audit_events', 'sla_fires', 'deliveries') \
         ORDER BY p.relname, c.relname",
    )
    .load(c)
}

/// Rows in `partition` (an exact count).
pub fn count(conn: &mut DbConn, partition: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let DbConn::Postgresql(c) = conn else { return Ok(0) };
    let r: N = diesel::sql_query(format!("SELECT count(*) AS n FROM {}", quoted(partition))).get_result(c)?;
    Ok(r.n)
}

/// Deliveries in `partition` not sent or given up yet (a partition holding any stays attached).
pub fn unsent_deliveries(conn: &mut DbConn, partition: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let DbConn::Postgresql(c) = conn else { return Ok(0) };
    let r: N = diesel::sql_query(format!("SELECT count(*) AS n FROM {} WHERE state IN ('pending', 'sending')", quoted(partition)))
        .get_result(c)?;
    Ok(r.n)
}

/// Where each chain stands at the end of an audit partition: (shard, last seq, its hash, events).
pub fn chain_ends(conn: &mut DbConn, partition: &str) -> QueryResult<Vec<(i32, i64, String, i64)>> {
    #[derive(QueryableByName)]
    struct End {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        shard: i32,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        hash: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        events: i64,
    }
    let DbConn::Postgresql(c) = conn else { return Ok(vec![]) };
    let p = quoted(partition);
    let rows: Vec<End> = diesel::sql_query(format!(
        "SELECT e.shard, e.seq, e.hash, n.events FROM \
           (SELECT DISTINCT ON (shard) shard, seq, hash FROM {p} ORDER BY shard, seq DESC) e \
           JOIN (SELECT shard, count(*) AS events FROM {p} GROUP BY shard) n ON n.shard = e.shard \
         ORDER BY e.shard"
    ))
    .load(c)?;
    Ok(rows.into_iter().map(|r| (r.shard, r.seq, r.hash, r.events)).collect())
}

/// Detaches `partition` from `parent`: it stays in the database as a table of its own, to be
/// dumped and dropped by the operator. Takes the parent's lock until the caller's transaction ends.
pub fn detach(conn: &mut DbConn, parent: &str, partition: &str) -> QueryResult<()> {
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    diesel::sql_query(format!("ALTER TABLE {} DETACH PARTITION {}", quoted(parent), quoted(partition))).execute(c)?;
    Ok(())
}

/// An identifier quoted for SQL (names come from the catalogue, but are quoted all the same).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
