//! Gridloop: residents' requests through grid-based community governance (网格化治理).
//! Layers point one way: `http → app → {domain, db}`, `worker → app`, and `db → config`; `http`
//! also reaches the pool and write transactions of `db`. See docs/ARCHITECTURE.md.

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod metrics;
pub mod startup;
pub mod worker;
