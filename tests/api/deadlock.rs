//! Transactions the database breaks off to resolve a conflict (a deadlock victim, SQLSTATE 40P01;
//! a serialization failure, 40001) are taken again by the write helpers, a few times, before the
//! request is answered; if they keep failing the answer is 503, never 500. The deadlock here is a
//! real one on PostgreSQL: two connections locking two rows in opposite order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use gridloop::app::AppError;
use gridloop::db::{self, backend};
use gridloop::http::error::status_of;

use crate::helpers::{test_settings, TestDb, PG_ENV};

fn on_postgres() -> bool {
    std::env::var(PG_ENV).is_ok_and(|u| !u.is_empty())
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn two_transactions_locking_two_rows_in_opposite_order_both_commit() {
    if !on_postgres() {
        // SQLite takes its one write lock up front (BEGIN IMMEDIATE): two writers queue, they
        // never deadlock. The retry itself is tested on both back ends below.
        return;
    }
    let db = TestDb::new();
    let settings = test_settings(&db).database;
    db::establish(&settings)
        .unwrap()
        .batch_execute("CREATE TABLE pair (id INTEGER PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO pair VALUES (1, 0), (2, 0);")
        .unwrap();
    let both_hold_their_first_row = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let (settings, barrier, attempts) = (settings.clone(), both_hold_their_first_row.clone(), attempts.clone());
            std::thread::spawn(move || {
                let mut conn = db::establish(&settings).unwrap();
                let mut mine = 0;
                let done = backend::write_transaction(&mut conn, |c| -> Result<(), AppError> {
                    mine += 1;
                    attempts.fetch_add(1, Ordering::SeqCst);
                    c.transaction(|c| {
                        diesel::sql_query(format!("UPDATE pair SET n = n + 1 WHERE id = {first}")).execute(c)?;
                        if mine == 1 {
                            // Each holds its first row and then asks for the other's: PostgreSQL
                            // finds the cycle and aborts one of the two.
                            barrier.wait();
                        }
                        diesel::sql_query(format!("UPDATE pair SET n = n + 1 WHERE id = {second}")).execute(c)?;
                        Ok(())
                    })
                });
                (done, mine)
            })
        })
        .collect();
    let results: Vec<(Result<(), AppError>, usize)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    for (done, _) in &results {
        assert!(done.is_ok(), "the deadlock victim was taken again and committed: {:?}", done.as_ref().err());
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "one of the two ran twice: {:?}", results.iter().map(|r| r.1).collect::<Vec<_>>());
    let total = diesel::sql_query("SELECT sum(n)::bigint AS n FROM pair").get_result::<N>(&mut db::establish(&settings).unwrap()).unwrap();
    assert_eq!(total.n, 4, "each transaction's two updates committed once");
}

fn serialization_failure() -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::SerializationFailure,
        Box::new("could not serialize access due to concurrent update".to_string()),
    )
}

#[test]
fn a_transaction_broken_off_by_the_database_is_taken_again_a_few_times_then_answers_503() {
    let db = TestDb::new();
    let settings = test_settings(&db).database;
    let mut conn = db::establish(&settings).unwrap();

    // Fails twice, then goes through: the caller sees only the success.
    let mut calls = 0;
    let done = backend::write_transaction(&mut conn, |c| -> Result<i64, AppError> {
        calls += 1;
        c.transaction(|c| {
            diesel::sql_query("SELECT 1").execute(c)?;
            if calls <= 2 {
                return Err(serialization_failure().into());
            }
            Ok(7)
        })
    });
    assert_eq!((done.ok(), calls), (Some(7), 3));

    // Keeps failing: a bounded number of attempts, then 503 `service_unavailable`.
    let mut calls = 0;
    let done = backend::write_transaction(&mut conn, |_| -> Result<(), AppError> {
        calls += 1;
        Err(serialization_failure().into())
    });
    let err = done.unwrap_err();
    assert_eq!(calls, 4, "the first attempt and three more");
    assert_eq!(status_of(&err).as_u16(), 503, "{err:?}");
    assert_eq!(err.code(), "service_unavailable");

    // Any other failure is answered at once.
    let mut calls = 0;
    let done = backend::write_transaction(&mut conn, |_| -> Result<(), AppError> {
        calls += 1;
        Err(AppError::validation("title", gridloop::msg!("rule-max_chars", max = 100)))
    });
    assert!(matches!(done, Err(AppError::Validation { .. })));
    assert_eq!(calls, 1);

    // Inside a transaction of the caller's, the helper does not retry: only the whole
    // transaction can be taken again, by whoever opened it. (SQLite refuses to nest its
    // BEGIN IMMEDIATE at all.)
    if !on_postgres() {
        return;
    }
    let mut calls = 0;
    let done = conn.transaction(|c| {
        backend::write_transaction(c, |_| -> Result<(), AppError> {
            calls += 1;
            Err(serialization_failure().into())
        })
    });
    assert!(done.is_err());
    assert_eq!(calls, 1);
}
