//! The page handlers, one file per area: logging in and the language ([`login`]), the home page
//! and the role switch ([`home`]), the grid worker's day ([`day`]), the desk's board, inbox and
//! search ([`desk`]), a ticket ([`ticket`]), the notification centre ([`notices`]), who is
//! told what ([`settings`]) and the compound's three-party consultation ([`consult`]).

pub mod admin;
pub mod clients;
pub mod consult;
pub mod day;
pub mod desk;
pub mod home;
pub mod login;
pub mod notices;
pub mod oversight;
pub mod personal_data;
pub mod reports;
pub mod settings;
pub mod status;
pub mod ticket;
pub mod visit_report;
