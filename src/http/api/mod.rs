//! The JSON API under `/api/v1` (and `/healthz`), described by its OpenAPI document: the route
//! table ([`table`]), the document's shared parts ([`openapi`]) and the handlers, one file per
//! resource. A handler parses input into use-case arguments, calls one use case (through
//! `context::run`, `run_write`, `run_idempotent`, or the intake), and shapes the response; it
//! never builds a query.

pub mod auth;
pub mod calendars;
pub mod catalogue;
pub mod consult;
pub mod exports;
pub mod ledgers;
pub mod notifications;
pub mod openapi;
pub mod org;
pub mod outside;
pub mod people;
pub mod personal_data;
pub mod photos;
pub mod reports;
pub mod residents;
pub mod sla;
pub mod system;
mod table;
pub mod tickets;
pub mod visits;

pub use table::{register, ApiDoc, ROUTES};

use crate::http::routing::{self, RouteSpec};

/// Every route of the API, with its access rule, in the router's order.
pub fn route_specs() -> &'static [RouteSpec] {
    ROUTES
}

/// The API route the router picks for this path and method.
pub fn find_route(path: &str, method: &str) -> Option<&'static RouteSpec> {
    routing::find_route(ROUTES, path, method)
}
