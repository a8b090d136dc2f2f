//! Statements that each back end spells its own way: row locks (PostgreSQL's `FOR UPDATE`,
//! which SQLite's single writer makes needless), batch updates (PostgreSQL's `unnest`, a
//! statement per row on SQLite), upserts and advisory locks. The use cases call these and never
//! look at which back end they run on.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::models::{ClockRow, LoginThrottleRow, TicketRow};
use crate::db::schema::{audit_heads, deliveries, sla_clocks, tickets};
use crate::db::DbConn;
use crate::domain::TicketId;

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

/// The clocks due by `now`, at most `limit`, locked for this transaction. PostgreSQL skips rows
/// another scheduler has locked (`FOR UPDATE SKIP LOCKED`), so concurrent schedulers share the
/// work instead of queueing on it; SQLite has one writer at a time anyway. Either way each firing
/// is still claimed by a conditional update and guarded by a unique key.
pub fn claim_due_clocks(conn: &mut DbConn, now: chrono::NaiveDateTime, limit: i64) -> QueryResult<Vec<ClockRow>> {
    use ClockRow;

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

/// SQLite's planner statistics: `PRAGMA optimize`, sampling (`analysis_limit`), analyses the
/// tables whose statistics are missing or stale; `thorough` (at start) looks at every table.
/// Without statistics SQLite picked the full `tickets_compound` index over the board's covering
/// partial index (31 ms instead of 0.1 ms at a million tickets); the first analysis of such a
/// database takes about two seconds here. PostgreSQL's autovacuum does this on its own.
pub fn refresh_statistics(conn: &mut DbConn, thorough: bool) -> QueryResult<()> {
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute(if thorough {
            "PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;"
        } else {
            "PRAGMA analysis_limit = 400; PRAGMA optimize;"
        })?;
    }
    Ok(())
}

/// The ids of deliveries due by `now` — pending and due, or claimed by a worker whose claim ran out
/// (it died between claiming and marking) — at most `limit`, oldest first, locked for this
/// transaction. As with the clocks, PostgreSQL skips rows another worker holds (`FOR UPDATE SKIP
/// LOCKED`), so that N instances share the queue and never claim one delivery twice; SQLite has
/// one writer at a time anyway.
pub fn claim_due_deliveries(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
    let due = deliveries::state
        .eq("pending")
        .and(deliveries::due_at.le(now))
        .or(deliveries::state.eq("sending").and(deliveries::claimed_until.assume_not_null().le(now)));
    match conn {
        DbConn::Postgresql(c) => deliveries::table
            .filter(due)
            .order(deliveries::due_at.asc())
            .limit(limit)
            .for_update()
            .skip_locked()
            .select(deliveries::id)
            .load(c),
        DbConn::Sqlite(c) => deliveries::table.filter(due).order(deliveries::due_at.asc()).limit(limit).select(deliveries::id).load(c),
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
pub fn upsert_throttle(conn: &mut DbConn, rows: &[LoginThrottleRow]) -> QueryResult<()> {
    use crate::db::schema::login_throttle::dsl::*;
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
pub fn upsert_usual_address(
    conn: &mut DbConn,
    person: &crate::domain::PersonId,
    address_key: &str,
    at: chrono::NaiveDateTime,
) -> QueryResult<()> {
    use crate::db::schema::login_usual_addresses::dsl::*;
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

/// Reads tickets by id, in id order; with `lock`, takes their rows for the rest of the
/// transaction on PostgreSQL (SQLite's writer holds the whole database already).
pub fn load_tickets(conn: &mut DbConn, ids: &[TicketId], lock: bool) -> QueryResult<Vec<TicketRow>> {
    let q = tickets::table.filter(tickets::id.eq_any(ids)).order(tickets::id.asc());
    match conn {
        DbConn::Postgresql(c) if lock => q.for_update().select(TicketRow::as_select()).load(c),
        _ => q.select(TicketRow::as_select()).load(conn),
    }
}

/// Locks existing tickets' rows, in id order, for the rest of the transaction (PostgreSQL); unknown
/// ids are skipped. SQLite needs nothing.
pub fn lock_tickets(conn: &mut DbConn, ids: &[TicketId]) -> QueryResult<()> {
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    if ids.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<TicketId> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    tickets::table.filter(tickets::id.eq_any(&ids)).order(tickets::id.asc()).for_update().select(tickets::id).load::<TicketId>(c)?;
    Ok(())
}

/// Writes acted-on ticket rows (state and outcome fields, deadline), each only if its stored
/// version is still `version`, which it bumps: one statement for all on PostgreSQL, one per row
/// on SQLite. Answers how many rows were written; fewer than given means a version moved.
pub fn update_tickets(conn: &mut DbConn, rows: &[&TicketRow], now: NaiveDateTime) -> QueryResult<usize> {
    use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
    match conn {
        DbConn::Postgresql(c) => diesel::sql_query(
            "UPDATE tickets SET state = v.state, solved_level = v.solved_level, satisfaction = v.satisfaction, \
                 resolution = v.resolution, duplicate_of = v.duplicate_of, whistle_type = v.whistle_type, \
                 reopen_count = v.reopen_count, closed_at = v.closed_at, due_at = v.due_at, warn_at = v.warn_at, \
                 due_provisional = v.due_provisional, version = v.version + 1, updated_at = $14 \
                 FROM (SELECT unnest($1::text[]) AS id, unnest($2::bigint[]) AS version, unnest($3::text[]) AS state, \
                 unnest($4::text[]) AS solved_level, unnest($5::text[]) AS satisfaction, unnest($6::text[]) AS resolution, \
                 unnest($7::text[]) AS duplicate_of, unnest($8::text[]) AS whistle_type, unnest($9::int[]) AS reopen_count, \
                 unnest($10::timestamp[]) AS closed_at, unnest($11::timestamp[]) AS due_at, unnest($12::timestamp[]) AS warn_at, \
                 unnest($13::boolean[]) AS due_provisional) AS v \
                 WHERE tickets.id = v.id AND tickets.version = v.version",
        )
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.state).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.solved_level).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.satisfaction).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.resolution.as_deref()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.duplicate_of).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.whistle_type).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.reopen_count).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.closed_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.warn_at).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(rows.iter().map(|r| r.due_provisional).collect::<Vec<_>>())
        .bind::<Timestamp, _>(now)
        .execute(c),
        DbConn::Sqlite(c) => {
            let mut n = 0;
            for r in rows {
                n += diesel::update(tickets::table.find(&r.id).filter(tickets::version.eq(r.version)))
                    .set((
                        tickets::state.eq(&r.state),
                        tickets::solved_level.eq(&r.solved_level),
                        tickets::satisfaction.eq(&r.satisfaction),
                        tickets::resolution.eq(&r.resolution),
                        tickets::duplicate_of.eq(&r.duplicate_of),
                        tickets::whistle_type.eq(&r.whistle_type),
                        tickets::reopen_count.eq(r.reopen_count),
                        tickets::closed_at.eq(r.closed_at),
                        tickets::due_at.eq(r.due_at),
                        tickets::warn_at.eq(r.warn_at),
                        tickets::due_provisional.eq(r.due_provisional),
                        tickets::version.eq(r.version + 1),
                        tickets::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok(n)
        }
    }
}

/// Locks audit chain heads, in shard order, for the rest of the transaction (PostgreSQL).
pub fn lock_audit_heads(conn: &mut DbConn, shards: &[i32]) -> QueryResult<()> {
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    audit_heads::table
        .filter(audit_heads::shard.eq_any(shards))
        .order(audit_heads::shard.asc())
        .for_update()
        .select(audit_heads::shard)
        .load::<i32>(c)?;
    Ok(())
}

/// Reads audit chain heads (shard → last seq and hash), locking them on PostgreSQL in shard order.
pub fn read_audit_heads(conn: &mut DbConn, shards: &[i32]) -> QueryResult<BTreeMap<i32, (i64, String)>> {
    let heads = audit_heads::table.filter(audit_heads::shard.eq_any(shards)).order(audit_heads::shard.asc());
    let rows: Vec<(i32, i64, String)> = match conn {
        DbConn::Postgresql(c) => heads.for_update().select((audit_heads::shard, audit_heads::seq, audit_heads::hash)).load(c)?,
        DbConn::Sqlite(c) => heads.select((audit_heads::shard, audit_heads::seq, audit_heads::hash)).load(c)?,
    };
    Ok(rows.into_iter().map(|(s, q, h)| (s, (q, h))).collect())
}

/// Writes audit chain heads back: one statement on PostgreSQL, one per head on SQLite.
pub fn write_audit_heads(conn: &mut DbConn, heads: BTreeMap<i32, (i64, String)>) -> QueryResult<()> {
    match conn {
        DbConn::Postgresql(c) => {
            let (s, (q, h)): (Vec<i32>, (Vec<i64>, Vec<String>)) = heads.into_iter().unzip();
            diesel::sql_query(
                "UPDATE audit_heads SET seq = v.seq, hash = v.hash \
                 FROM (SELECT unnest($1::int[]) AS shard, unnest($2::bigint[]) AS seq, unnest($3::text[]) AS hash) AS v \
                 WHERE audit_heads.shard = v.shard",
            )
            .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(s)
            .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(q)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(h)
            .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            for (shard, (seq, hash)) in heads {
                diesel::update(audit_heads::table.find(shard)).set((audit_heads::seq.eq(seq), audit_heads::hash.eq(hash))).execute(c)?;
            }
        }
    }
    Ok(())
}
