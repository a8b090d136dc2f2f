//! The data layer: one diesel connection type serving SQLite and PostgreSQL, its r2d2 pool, the
//! embedded migrations of each back end, and the row structs. Back-end-specific SQL lives only in
//! [`backend`].

pub mod backend;
pub mod models;
pub mod schema;
pub mod text;

use std::time::{Duration, Instant};

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

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// A pooled connection and what the pool knows of its health.
pub struct Conn {
    conn: DbConn,
    /// When the database last answered on it: when it was opened, or its last ping.
    checked_at: Instant,
    /// Its user reported that the last use succeeded (see [`Conn::vouch`]).
    clean: bool,
}

impl Conn {
    /// Reports that this checkout's work succeeded, so that the connection may skip the ping at
    /// its next checkout within `database.connection_trust_ms` of its last check. Work that
    /// failed leaves it unvouched, and the next checkout asks the database first: a connection
    /// that died with a restarted server is found and replaced, never handed out again.
    pub fn vouch(&mut self) {
        self.clean = true;
    }
}

/// Runs `f` on a connection from `pool` and vouches for the connection when `f` succeeded (see
/// [`Conn::vouch`]): the way request work takes its connection.
pub fn with_pooled<T, E>(pool: &DbPool, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::r2d2::PoolError>,
{
    with_conn(pool.get()?, f)
}

/// Runs `f` on a connection already taken from a pool, vouching for it when `f` succeeded (see
/// [`with_pooled`]).
pub fn with_conn<T, E>(mut conn: PooledConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E> {
    let done = f(&mut conn);
    if done.is_ok() {
        conn.vouch();
    }
    done
}

impl std::ops::Deref for Conn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// diesel's r2d2 manager, with a cheaper checkout. The stock manager sends `SELECT 1` at every
/// checkout; under load that was one statement per request beside the request's own (the
/// guard's session lookup is one), and about a sixth of the state-change rate (measured in
/// docs/decisions/0003-pool-trust-window.md). This one sends it only when the connection's last use failed or was
/// never vouched for, or when the last check is older than `database.connection_trust_ms`, so a
/// connection idle across a database restart is still checked before use. The price: a
/// connection cut by the server within that time of its last check is handed out once, and the
/// request on it answers 503 `service_unavailable`; the next checkout checks it and replaces it.
pub struct Manager {
    inner: ConnectionManager<DbConn>,
    url: String,
    trust_for: Duration,
}

impl Manager {
    /// A manager for the diesel URL `url` (see [`connection_url`]).
    pub fn new(url: &str, trust_for: Duration) -> Manager {
        Manager { inner: ConnectionManager::new(url), url: url.to_string(), trust_for }
    }
}

/// Opens a connection to the back end the diesel URL names (see [`connection_url`]). diesel's
/// `MultiConnection::establish` tries each back end in turn and, when all fail, reports only
/// "Invalid connection url for multiconnection"; asking the one the URL names reports the real
/// cause (connection refused, password authentication failed, unable to open database file),
/// and that is what the pool logs while the database is away.
pub fn connect_url(url: &str) -> diesel::ConnectionResult<DbConn> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        diesel::PgConnection::establish(url).map(DbConn::Postgresql)
    } else {
        diesel::SqliteConnection::establish(url).map(DbConn::Sqlite)
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        let conn = connect_url(&self.url).map_err(diesel::r2d2::Error::ConnectionError)?;
        Ok(Conn { conn, checked_at: Instant::now(), clean: false })
    }

    fn is_valid(&self, c: &mut Conn) -> Result<(), Self::Error> {
        let trusted = std::mem::take(&mut c.clean) && c.checked_at.elapsed() < self.trust_for;
        if !trusted {
            self.inner.is_valid(&mut c.conn)?;
            c.checked_at = Instant::now();
        }
        Ok(())
    }

    fn has_broken(&self, c: &mut Conn) -> bool {
        self.inner.has_broken(&mut c.conn)
    }
}

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
/// The planner's statistics are `backend::refresh_statistics`' (at `serve`'s start and hourly).
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
}

impl SqlitePragmas {
    fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                self.busy_timeout_ms
            ))?;
        }
        Ok(())
    }
}

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        self.apply(&mut conn.conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// One connection outside the pool, set up as the pool's are (tests and tools that need a plain
/// `DbConn` to hand to diesel's generic methods).
pub fn establish(settings: &DatabaseSettings) -> Result<DbConn, DbSetupError> {
    let unreachable = |reason: String| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason };
    let target = DatabaseTarget::parse(&settings.url).map_err(unreachable)?;
    let mut conn = connect_url(&connection_url(&target)).map_err(|e| unreachable(e.to_string()))?;
    SqlitePragmas { busy_timeout_ms: settings.sqlite_busy_timeout_ms }.apply(&mut conn).map_err(|e| unreachable(e.to_string()))?;
    Ok(conn)
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
    let manager = Manager::new(&connection_url(&target), Duration::from_millis(settings.connection_trust_ms));
    // Check once by hand so that the error says why (r2d2 only reports a timeout).
    let mut probe = manager
        .connect()
        .map_err(|e| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason: e.to_string() })?;
    if let DbConn::Sqlite(c) = &mut probe.conn {
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
        .event_handler(Box::new(PoolWaits))
        .build(manager)
        .map_err(|e| DbSetupError::Unreachable { target: crate::config::redact_url(&settings.url), reason: e.to_string() })
}

/// A pool over `url` that connects on demand (none at build): a PostgreSQL replica that is down
/// when the server starts must not keep it from starting. Checkouts give up after two seconds.
pub fn build_lazy_pool(url: &str, size: u32, trust_ms: u64) -> Result<DbPool, DbSetupError> {
    let target =
        DatabaseTarget::parse(url).map_err(|reason| DbSetupError::Unreachable { target: crate::config::redact_url(url), reason })?;
    let manager = Manager::new(&connection_url(&target), Duration::from_millis(trust_ms));
    Ok(Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(2))
        .event_handler(Box::new(PoolWaits))
        .build_unchecked(manager))
}

/// Records how long each checkout waited for a connection, and the waits that timed out, in the
/// process's metrics (`gridloop_db_pool_wait_seconds`, `gridloop_db_pool_timeouts_total`).
#[derive(Debug)]
struct PoolWaits;

impl diesel::r2d2::HandleEvent for PoolWaits {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        crate::metrics::get().pool_wait_seconds.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, _event: diesel::r2d2::event::TimeoutEvent) {
        crate::metrics::get().pool_timeouts.inc();
    }
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
