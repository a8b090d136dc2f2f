//! The HTTP layer: the JSON API ([`api`]: its route table, handlers and OpenAPI document), the
//! guard in front of every handler ([`guard`]: each route's declared access rule, the headers
//! every response carries), and what handlers share: the request context and the way a use case
//! is run ([`context`]), extractors that refuse bad input with the API's error body ([`input`]),
//! and errors as responses ([`error`]). Route tables are data ([`routing`]).
//!
//! The web pages sit beside the API in [`web`] (their own route table, not in the OpenAPI
//! document), calling the same use cases through the same guard.

pub mod api;
pub mod context;
pub mod error;
pub mod guard;
pub mod input;
pub mod metrics;
pub mod open311;
pub mod routing;
pub mod web;

pub use context::AppState;
pub use guard::{access_guard, security_headers, CSRF_HEADER};
