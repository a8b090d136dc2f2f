//! What the live database holds (tables, columns and their types), asked each back end its own way (the schema and NUL tests compare them with `db::schema`).

use diesel::prelude::*;

use crate::db::DbConn;

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
            // Partitioned tables count once: their partitions (`audit_events_y2026m12`, …) are not tables of their own.
            "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
             AND c.relname <> '__diesel_schema_migrations' ORDER BY c.relname",
        )
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.name).collect())
}
