//! The web pages (网页): server-rendered HTML for grid workers, branch secretaries and desk staff,
//! served by the same binary as the API and calling the same use cases. Not in the OpenAPI
//! document.
//!
//! - [`ROUTES`]: every page route with its access rule, as data (the same [`RouteSpec`] as the
//!   API's table); the access guard sends page paths to [`guard::page_guard`], which redirects an
//!   anonymous visitor to the login page instead of answering 401.
//! - [`page`]: what a page handler gets (the person, his language, his CSRF token), forms checked
//!   against the CSRF token, and errors rendered as pages in the person's language.
//! - [`assets`]: the stylesheet and script, embedded in the binary under content-hashed names.
//! - [`pages`]: the handlers, one file per area; templates under `templates/` (askama, checked
//!   when the crate compiles; every text from the `pages.ftl` catalogue).

pub mod assets;
pub mod charts;
pub mod fields;
pub mod guard;
pub mod page;
pub mod pages;

use actix_web::web;

use crate::domain::Access;
use crate::http::routing::RouteSpec;

macro_rules! pages {
    ($($method:ident $path:literal => $handler:path, $access:expr;)*) => {
        /// Every page route, in the router's order, with its access rule.
        pub static ROUTES: &[RouteSpec] = &[$(RouteSpec { method: stringify!($method), path: $path, access: $access }),*];

        /// Registers the page routes.
        pub fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::method(actix_web::http::Method::$method).to($handler)); )*
        }
    };
}

pages! {
    GET "/" => pages::home::home, Access::Authenticated;
    GET "/login" => pages::login::form, Access::Public;
    POST "/login" => pages::login::submit, Access::Public;
    POST "/logout" => pages::login::logout, Access::Authenticated;
    POST "/language" => pages::login::language, Access::Public;
    POST "/role" => pages::home::switch_role, Access::Authenticated;
    GET "/assets/{name}" => assets::serve, Access::Public;
    GET "/day" => pages::day::day, Access::Authenticated;
    POST "/day/log" => pages::day::submit_log, Access::Authenticated;
    GET "/day/residents" => pages::day::register, Access::Authenticated;
    GET "/mine" => pages::day::mine, Access::Authenticated;
    GET "/board" => pages::desk::board, Access::Authenticated;
    GET "/oversight" => pages::oversight::oversight, Access::Authenticated;
    GET "/rankings" => pages::reports::rankings, Access::Authenticated;
    GET "/rankings/tickets" => pages::reports::drill, Access::Authenticated;
    GET "/rankings/bulletin" => pages::reports::bulletin, Access::Authenticated;
    GET "/rankings/visits" => pages::visit_report::visit_report, Access::Authenticated;
    GET "/inbox" => pages::desk::inbox, Access::Authenticated;
    GET "/search" => pages::desk::search, Access::Authenticated;
    POST "/search/phone" => pages::desk::search_phone, Access::Authenticated;
    GET "/notifications" => pages::notices::list, Access::Authenticated;
    POST "/notifications/read" => pages::notices::read, Access::Authenticated;
    GET "/settings" => pages::settings::show, Access::Authenticated;
    POST "/settings" => pages::settings::save, Access::Authenticated;
    POST "/settings/test" => pages::settings::test, Access::Authenticated;
    GET "/admin/people" => pages::admin::people, Access::Authenticated;
    POST "/admin/people/add" => pages::admin::add_person, Access::Authenticated;
    POST "/admin/people/{id}/active" => pages::admin::set_active, Access::Authenticated;
    POST "/admin/people/{id}/password" => pages::admin::reset_password, Access::Authenticated;
    POST "/admin/people/{id}/roles" => pages::admin::add_role, Access::Authenticated;
    POST "/admin/people/{id}/roles/{membership}/end" => pages::admin::end_role, Access::Authenticated;
    GET "/admin/org" => pages::admin::org, Access::Authenticated;
    POST "/admin/org/{id}" => pages::admin::save_unit, Access::Authenticated;
    POST "/admin/org/{id}/deactivate" => pages::admin::deactivate, Access::Authenticated;
    POST "/admin/org/{id}/add" => pages::admin::add_unit, Access::Authenticated;
    GET "/admin/catalogue" => pages::admin::catalogue, Access::Authenticated;
    POST "/admin/catalogue/add" => pages::admin::add_category, Access::Authenticated;
    POST "/admin/catalogue/{id}" => pages::admin::save_category, Access::Authenticated;
    POST "/admin/catalogue/{id}/limit" => pages::admin::set_limit, Access::Authenticated;
    GET "/admin/calendars" => pages::admin::calendars, Access::Authenticated;
    GET "/admin/calendars/{name}/{year}" => pages::admin::calendar_year, Access::Authenticated;
    POST "/admin/calendars/{name}/{year}" => pages::admin::publish_year, Access::Authenticated;
    GET "/admin/personal-data" => pages::personal_data::form, Access::Authenticated;
    POST "/admin/personal-data/access" => pages::personal_data::access, Access::Authenticated;
    POST "/admin/personal-data/erasure" => pages::personal_data::erasure, Access::Authenticated;
    GET "/admin/clients" => pages::clients::list, Access::Authenticated;
    POST "/admin/clients/add" => pages::clients::add, Access::Authenticated;
    POST "/admin/clients/{id}/change" => pages::clients::change, Access::Authenticated;
    POST "/admin/clients/{id}/categories" => pages::clients::categories, Access::Authenticated;
    GET "/residents/import" => pages::admin::import_form, Access::Authenticated;
    POST "/residents/import" => pages::admin::import, Access::Authenticated;
    GET "/channels" => pages::settings::channels, Access::Authenticated;
    POST "/channels/add" => pages::settings::add, Access::Authenticated;
    POST "/channels/{id}/change" => pages::settings::change, Access::Authenticated;
    POST "/channels/{id}/test" => pages::settings::test_channel, Access::Authenticated;
    POST "/deliveries/{id}/retry" => pages::settings::retry, Access::Authenticated;
    GET "/consultation" => pages::consult::desk, Access::Authenticated;
    GET "/consultation/evaluations" => pages::consult::evaluations, Access::Authenticated;
    POST "/consultation/items/{id}/note" => pages::consult::note, Access::Authenticated;
    POST "/consultation/items/{id}/complete" => pages::consult::complete, Access::Authenticated;
    POST "/consultation/items/{id}/drop" => pages::consult::drop_item, Access::Authenticated;
    POST "/consultation/items/{id}/solve-tickets" => pages::consult::solve_tickets, Access::Authenticated;
    POST "/consultation/items/{id}/photos" => pages::consult::upload_photos, Access::Authenticated;
    GET "/consultation/photos/{id}/{size}" => pages::consult::photo, Access::Authenticated;
    GET "/consultation/meetings/{id}" => pages::consult::meeting, Access::Authenticated;
    POST "/consultation/meetings/{id}/sign" => pages::consult::sign, Access::Authenticated;
    POST "/consultation/{id}/parties" => pages::consult::save_parties, Access::Authenticated;
    POST "/consultation/{id}/companies" => pages::consult::add_company, Access::Authenticated;
    POST "/consultation/{id}/items" => pages::consult::add_item, Access::Authenticated;
    POST "/consultation/{id}/meetings" => pages::consult::hold_meeting, Access::Authenticated;
    POST "/consultation/{id}/evaluations" => pages::consult::evaluate, Access::Authenticated;
    POST "/consultation/evaluations/{id}/correct" => pages::consult::correct_evaluation, Access::Authenticated;
    GET "/public/results/{id}" => pages::consult::public_results, Access::Public;
    GET "/s/{token}" => pages::status::show, Access::Public;
    POST "/s/{token}/rating" => pages::status::rate, Access::Public;
    GET "/tickets/{id}" => pages::ticket::show, Access::Authenticated;
    POST "/tickets/{id}/act" => pages::ticket::act, Access::Authenticated;
    POST "/tickets/{id}/comment" => pages::ticket::comment, Access::Authenticated;
    POST "/tickets/{id}/reveal" => pages::ticket::reveal, Access::Authenticated;
    POST "/tickets/{id}/link" => pages::ticket::give_link, Access::Authenticated;
    POST "/tickets/{id}/links/{link}/revoke" => pages::ticket::revoke_link, Access::Authenticated;
    POST "/tickets/{id}/photos" => pages::ticket::upload_photo, Access::Authenticated;
    GET "/photos/{id}/{size}" => pages::ticket::photo, Access::Authenticated;
}

/// Whether a path belongs to the pages (not the API, not the health check).
pub fn is_page_path(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/api" || path == "/healthz" || crate::http::open311::is_open311_path(path))
}
