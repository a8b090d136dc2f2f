//! Handlers: parse input into use-case arguments, call one use case through `run`, shape the response.

pub mod auth;
pub mod calendars;
pub mod catalogue;
pub mod org;
pub mod people;
pub mod residents;
pub mod sla;
pub mod system;
pub mod tickets;
pub mod visits;
