//! Builds and runs the HTTP server: binds the listener, wires state, middleware and routes.
//! Tests start the same `Application` on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpRequest, HttpServer};

use crate::app::AppError;
use crate::config::Settings;
use crate::db::DbPool;
use crate::http::api::system::ApiDocument;
use crate::http::context::lang_of;
use crate::http::error::{error_response, ApiError};
use crate::http::{access_guard, api, security_headers, AppState};

pub struct Application {
    server: Server,
    port: u16,
    calendars: crate::app::calendars::Calendars,
    metrics_port: Option<u16>,
}

fn bad_request(detail: crate::domain::text::Msg, req: &HttpRequest) -> actix_web::Error {
    ApiError::new(AppError::BadRequest { detail }, lang_of(req)).into()
}

impl Application {
    /// Binds the configured address (port 0 picks a free one) and prepares the server.
    pub fn build(settings: Settings, pool: DbPool) -> std::io::Result<Application> {
        let listener = TcpListener::bind(&settings.server.bind)?;
        let port = listener.local_addr()?.port();
        // `/metrics` on an address of its own (`metrics.bind`): the same server, a second listener
        // that answers nothing else (see `http::metrics`).
        let metrics_listener = match settings.metrics.bind.trim() {
            "" => None,
            addr => Some(TcpListener::bind(addr)?),
        };
        let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let workers = settings.server.workers;
        let shutdown = settings.server.shutdown_timeout_s;
        let pool_size = settings.database.pool_size as usize;
        // The calendars of the database, with the shipped ones it lacks imported first, and the
        // audit chains sealed after an upgrade. A database that does not answer now does not keep
        // the server from starting (it answers 503 until the database is back): the shipped files
        // serve, the scheduler's reload takes the database's calendars once it answers, and the
        // next start (or `gridloop migrate`) seals.
        let calendars = match pool.get() {
            Ok(mut conn) => {
                // Completes an upgrade to audit hash version 2 (a database written by an older
                // Gridloop). Not fatal: `audit verify` names any version-1 event left unsealed.
                if let Err(e) = crate::app::audit::seal_version_1_events(&mut conn, crate::app::utc_now()) {
                    log::error!("sealing the audit chains failed: {}", crate::app::error::Plain(&e));
                }
                crate::app::calendars::Calendars::prepare(&mut conn, &settings.config_dir, &settings.sla, crate::app::utc_now())
                    .map_err(std::io::Error::other)?
            }
            Err(e) => {
                log::warn!("the database does not answer ({e}); using the shipped calendars until it does");
                crate::app::calendars::Calendars::from_files(&settings.config_dir.join("calendars"), &settings.sla)
                    .map_err(std::io::Error::other)?
            }
        };
        let visits = settings.visits.rules(calendars.default_calendar().tz);
        let trusted_proxies = Arc::new(settings.server.trusted_proxy_ranges().map_err(std::io::Error::other)?);
        let settings = Arc::new(settings);
        let intake = crate::app::intake::Intake::start(
            pool.clone(),
            settings.clone(),
            calendars.clone(),
            settings.database.intake_writers,
            settings.database.intake_batch_max,
        );
        // Heavy reads from a streaming replica (`database.replica_url`), connected on demand.
        let replica = crate::app::replica::Replica::from_settings(&settings.database).map_err(std::io::Error::other)?.map(Arc::new);
        let state = web::Data::new(AppState {
            replica,
            overview: Arc::new(crate::app::board::OverviewCache::new(settings.server.overview_refresh_s)),
            photos: Arc::new(crate::app::photos::FileStore { dir: settings.photos.dir.clone() }),
            pool,
            settings,
            calendars: calendars.clone(),
            visits: Arc::new(visits),
            intake,
            trusted_proxies,
            metrics_addr,
        });
        let document = web::Data::new(ApiDocument(serde_json::to_string(&<api::ApiDoc as utoipa::OpenApi>::openapi())?));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(document.clone())
                // JSON bodies are read by `http::input::Json` (its own limit and errors).
                // CSV imports of the household ledger.
                .app_data(web::PayloadConfig::new(2 * 1024 * 1024))
                .app_data(web::QueryConfig::default().error_handler(|e, req| bad_request(crate::http::input::query_problem(&e), req)))
                .app_data(web::PathConfig::default().error_handler(|e, req| bad_request(crate::http::input::path_problem(&e), req)))
                .wrap(from_fn(access_guard))
                .wrap(from_fn(security_headers))
                .wrap(from_fn(crate::http::metrics::record))
                // Path only, never the query string: searches may carry residents' names.
                .wrap(Logger::new("%{method}xi %U %s %b %Dms").custom_request_replace("method", |req| req.method().to_string()))
                .route(crate::http::metrics::PATH, web::get().to(crate::http::metrics::scrape))
                .configure(api::register)
                .configure(crate::http::open311::register)
                .configure(crate::http::web::register)
                .default_service(web::to(|req: HttpRequest| async move {
                    let missing = AppError::NotFound { what: "route" };
                    if crate::http::web::is_page_path(req.path()) {
                        crate::http::web::page::error_page(&missing, crate::http::web::page::anonymous_lang(&req), None)
                    } else {
                        error_response(&missing, lang_of(&req))
                    }
                }))
        })
        .listen(listener)?
        .shutdown_timeout(shutdown)
        // Database work runs on blocking threads; more of them than pooled connections would only
        // wait for a connection while holding memory.
        .worker_max_blocking_threads(pool_size);
        if let Some(l) = metrics_listener {
            server = server.listen(l)?;
        }
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application { server: server.run(), port, calendars, metrics_port: metrics_addr.map(|a| a.port()) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener (`metrics.bind`), if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The calendars the server uses: the background work shares this handle, so that a change
    /// one of them installs is the other's too.
    pub fn calendars(&self) -> crate::app::calendars::Calendars {
        self.calendars.clone()
    }

    /// Serves until a signal: SIGTERM drains in-flight requests for up to `server.shutdown_timeout_s`
    /// (graceful); SIGINT and SIGQUIT stop at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
