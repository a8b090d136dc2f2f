//! The working calendars (工作日历) as the service keeps them: in the database, one row per calendar
//! and one per stored year, loaded into a snapshot that every server shares and reloads when the
//! calendar revision moves. The shipped TOML files are imported when a database is prepared; the
//! same format goes both ways through `gridloop calendar import/export`. Storing a year (the
//! State Council's notice, 放假调休安排) recomputes the open deadlines it touches.

//!
//! - [`files`]: the TOML files (shipped under `config/calendars`, and the CLI's import/export);
//! - [`snapshot`]: the shared snapshot every deadline is computed with ([`Calendars`]), loading it
//!   and keeping it fresh;
//! - [`publish`]: storing a year or a calendar, and recomputing the deadlines it touches;
//! - [`views`]: what the API and the CLI show;
//! - [`warnings`]: a year about to be needed without its official schedule.
//!
//! The clock engine (`app::sla`) reads the snapshot only; publishing sits above both.

pub mod files;
pub mod publish;
pub mod snapshot;
pub mod views;
pub mod warnings;

#[cfg(test)]
mod tests;

pub use files::{CalendarFile, YearFile};
pub use publish::{apply_change, heal_after_change, import_file, publish_year, store_year, sync_shipped, Problems, PublishYear, Published};
pub use snapshot::{calendar_entity, load_snapshot, Calendars, ChangedYear, Snapshot};
pub use views::{export_toml, list, year_history, year_view, CalendarView, YearSummary, YearView};
pub use warnings::{notify_warnings, CalendarWarning, WarningKind};
