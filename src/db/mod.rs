//! The data layer: one diesel connection type serving SQLite and PostgreSQL, its r2d2 pool, the
//! embedded migrations of each back end, and the row structs. Back-end-specific SQL lives only in
//! [`backend`].

pub mod backend;
pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{DatabaseSettings, DatabaseTarget};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either back end; diesel dispatches each query to the right one.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager<DbConn>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConn>>;

/// The database could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot open the database {target}: {reason}")]
    Unreachable { target: String, reason: String },
    #[error("migrations failed: {0}")]
    Migration(String),
}

/// Sets the per-connection options SQLite needs: WAL so readers never wait for the writer,
/// foreign keys (off by default in SQLite), and a busy timeout instead of immediate SQLITE_BUSY.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                self.busy_timeout_ms
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// The URL diesel is given for a target: SQLite takes a bare path.
pub fn connection_url(target: &DatabaseTarget) -> String {
    match target {
        DatabaseTarget::Sqlite(path) => path.to_string_lossy().into_owned(),
        DatabaseTarget::Postgres(url) => url.clone(),
    }
}

/// Builds the pool, failing fast (within the connect timeout) when the database is unreachable.
pub fn build_pool(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    let target = DatabaseTarget::parse(&settings.url)
        .map_err(|reason| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason })?;
    if let DatabaseTarget::Sqlite(path) = &target {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbSetupError::Unreachable {
                target: path.display().to_string(),
                reason: format!("cannot create folder {}: {e}", dir.display()),
            })?;
        }
    }
    let manager = ConnectionManager::<DbConn>::new(connection_url(&target));
    // Check once by hand so that the error says why (r2d2 only reports a timeout).
    let mut probe = manager
        .connect()
        .map_err(|e| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason: e.to_string() })?;
    if let DbConn::Sqlite(c) = &mut probe {
        // WAL is a property of the file; set it once before the pool opens more connections.
        c.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| DbSetupError::Unreachable { target: connection_url(&target), reason: e.to_string() })?;
    }
    drop(probe);
    Pool::builder()
        .max_size(settings.pool_size)
        // No idle minimum: a minimum makes r2d2 open replacement connections on background threads,
        // and one still connecting when a one-shot command exits can crash in the TLS library's
        // exit handlers. Connections are made on demand and kept once made.
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(settings.connect_timeout_s.max(1)))
        .connection_customizer(Box::new(SqlitePragmas { busy_timeout_ms: settings.sqlite_busy_timeout_ms }))
        .build(manager)
        .map_err(|e| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason: e.to_string() })
}

/// Applies pending migrations; returns the versions applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbSetupError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(versions),
        DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(versions),
    };
    applied.map_err(|e| DbSetupError::Migration(e.to_string()))
}

/// Reverts every migration (used by the up-down-up check).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbSetupError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(versions),
        DbConn::Postgresql(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS).map(versions),
    };
    reverted.map_err(|e| DbSetupError::Migration(e.to_string()))
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.into_iter().map(|v| v.to_string()).collect()
}

/// True when the database answers a trivial query.
pub fn ping(conn: &mut DbConn) -> bool {
    diesel::sql_query("SELECT 1").execute(conn).is_ok()
}

pub fn is_sqlite(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Sqlite(_))
}
