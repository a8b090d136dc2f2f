//! One integration binary: each test starts the real server over a database of its own.
//! SQLite by default; PostgreSQL when GRIDLOOP_TEST_DATABASE_URL names a database.

mod admin;
mod auth;
mod browser;
mod bulletin;
mod calendars;
mod cli;
mod consult;
mod contract;
mod deadlock;
mod demo;
mod exports;
pub mod fixture;
mod helpers;
mod intake;
mod intake_actions;
mod layers;
mod ledgers;
mod notifications;
mod nul;
mod outage;
pub mod pages;
mod permissions;
mod photos;
mod pool;
mod property;
mod protocol;
mod report_pages;
mod reports;
mod residents;
mod schema;
mod sla;
pub mod tickets;
mod visits;
mod webdriver;
mod workflow;
