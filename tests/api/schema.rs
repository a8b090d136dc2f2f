//! Migrations go up, down and up again on both back ends, and schema.rs matches the live schema.

use std::collections::BTreeMap;

use gridloop::db::{self, backend};

use crate::helpers::{project_dir, test_settings, TestDb};

/// Tables of schema.rs as text: table → [(column, type, nullable)].
fn schema_rs_tables() -> BTreeMap<String, Vec<(String, String, bool)>> {
    let text = std::fs::read_to_string(project_dir().join("src/db/schema.rs")).unwrap();
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_suffix('{').map(str::trim) {
            if let Some((name, _)) = rest.split_once(" (") {
                current = Some(name.trim().to_string());
                tables.insert(name.trim().to_string(), vec![]);
                continue;
            }
        }
        if line == "}" {
            current = None;
            continue;
        }
        if let (Some(t), Some((col, ty))) = (&current, line.trim_end_matches(',').split_once(" -> ")) {
            let (ty, nullable) = match ty.strip_prefix("Nullable<").and_then(|s| s.strip_suffix('>')) {
                Some(inner) => (inner.to_string(), true),
                None => (ty.to_string(), false),
            };
            tables.get_mut(t).unwrap().push((col.to_string(), ty, nullable));
        }
    }
    tables
}

#[test]
fn schema_rs_matches_the_live_database() {
    let db = TestDb::new();
    let pool = db::build_pool(&test_settings(&db).database).unwrap();
    let mut conn = pool.get().unwrap();
    db::run_migrations(&mut conn).unwrap();
    let expected = schema_rs_tables();
    assert!(expected.len() >= 8, "parsed {} tables from schema.rs", expected.len());
    let live_tables = backend::live_tables(&mut conn).unwrap();
    assert_eq!(live_tables, expected.keys().cloned().collect::<Vec<_>>(), "tables differ");
    for (table, columns) in &expected {
        let live = backend::live_columns(&mut conn, table).unwrap();
        assert_eq!(&live, columns, "columns of {table} differ between schema.rs and the migrated database");
    }
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let db = TestDb::new();
    let pool = db::build_pool(&test_settings(&db).database).unwrap();
    let mut conn = pool.get().unwrap();
    let up = db::run_migrations(&mut conn).unwrap();
    assert!(up.len() >= 2);
    let down = db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(down.len(), up.len());
    assert!(backend::live_tables(&mut conn).unwrap().is_empty(), "down migrations leave tables behind");
    assert_eq!(db::run_migrations(&mut conn).unwrap(), up);
}

#[test]
fn both_back_ends_have_the_same_migrations() {
    let list = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(project_dir().join("migrations").join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("sqlite"), list("postgres"));
}

#[test]
fn nested_work_joins_the_callers_transaction_on_both_back_ends() {
    use diesel::Connection;
    let db = TestDb::new();
    let settings = test_settings(&db);
    let pool = db::build_pool(&settings.database).unwrap();
    let mut conn = pool.get().unwrap();
    db::run_migrations(&mut conn).unwrap();
    assert!(!backend::in_transaction(&mut conn));
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        assert!(backend::in_transaction(c));
        Ok(())
    })
    .unwrap();
    // The write lock SQLite takes up front (BEGIN IMMEDIATE) counts as a transaction too.
    backend::write_transaction::<_, diesel::result::Error>(&mut conn, |c| {
        let inside = backend::in_transaction(c);
        assert_eq!(inside, matches!(c, db::DbConn::Sqlite(_)), "PostgreSQL writers open their own transactions");
        backend::within_transaction::<_, diesel::result::Error>(c, |c| {
            assert!(backend::in_transaction(c));
            Ok(())
        })
    })
    .unwrap();
    assert!(!backend::in_transaction(&mut conn));
}

#[derive(diesel::QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// SQLite keeps no planner statistics: the reads that must stay one page of an index whatever
/// the size of the city (migration 8) are checked against its plans. PostgreSQL plans them from
/// its statistics, checked by `bench/workflow.sh` at a million tickets.
#[test]
fn sqlite_reads_the_inbox_and_state_lists_from_an_index_in_their_order() {
    use diesel::RunQueryDsl;
    let db = TestDb::new();
    let settings = test_settings(&db);
    let mut conn = db::establish(&settings.database).unwrap();
    db::run_migrations(&mut conn).unwrap();
    if !matches!(conn, db::DbConn::Sqlite(_)) {
        return;
    }
    let plan = |conn: &mut db::DbConn, sql: &str| -> String {
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<PlanRow>(conn)
            .unwrap()
            .into_iter()
            .map(|r| r.detail)
            .collect::<Vec<_>>()
            .join("; ")
    };
    for (sql, index) in [
        // A grid worker's inbox source.
        (
            "SELECT due_at, id FROM tickets WHERE place_id = 'b' AND state = 'solved' ORDER BY due_at, id LIMIT 50",
            "tickets_place_state_due",
        ),
        // A secretary's inbox source.
        (
            "SELECT due_at, id FROM tickets WHERE compound_id = 'c' AND state = 'at_compound' ORDER BY due_at, id LIMIT 50",
            "tickets_compound_state",
        ),
        // Lists filtered by state, newest first.
        (
            "SELECT id FROM tickets WHERE place_id = 'b' AND state = 'solved' ORDER BY created_at DESC, id DESC LIMIT 51",
            "tickets_place_state",
        ),
        (
            "SELECT id FROM tickets WHERE compound_id = 'c' AND state = 'at_compound' ORDER BY created_at DESC, id DESC LIMIT 51",
            "tickets_compound_state_created",
        ),
    ] {
        let p = plan(&mut conn, sql);
        assert!(p.contains(&format!("INDEX {index} (")), "{sql}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{sql} sorts: {p}");
    }
}

/// A stored text that is no value of its type (a ticket state) is an error when read, never a
/// made-up value (a ticket "at the compound").
#[tokio::test]
async fn a_stored_text_that_is_no_value_of_its_type_is_refused_not_replaced() {
    use diesel::{QueryDsl, RunQueryDsl};
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let gw = app.login("gw1", crate::fixture::PASSWORD).await;
    let t = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    let mut conn = app.conn();
    diesel::sql_query(format!("UPDATE tickets SET state = 'bogus' WHERE id = '{id}'")).execute(&mut conn).unwrap();
    let r = app.client.get(app.url(&format!("/api/v1/tickets/{id}"))).bearer_auth(&gw).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR, "not shown as some other state");
    let row = gridloop::db::schema::tickets::table
        .find(&id)
        .select(<gridloop::db::models::TicketRow as diesel::SelectableHelper<gridloop::db::MultiBackend>>::as_select())
        .first::<gridloop::db::models::TicketRow>(&mut conn);
    let err = format!("{:?}", row.expect_err("the row is refused"));
    assert!(err.contains("state") && err.contains("bogus"), "{err}");
    // Where the schema has a CHECK (a unit's kind), the database refuses the text in the first place.
    let refused = diesel::sql_query(format!("UPDATE org_units SET kind = 'palace' WHERE id = '{}'", fx.unit("B1"))).execute(&mut conn);
    assert!(refused.is_err());
}
