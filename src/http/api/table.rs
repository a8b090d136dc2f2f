//! The API's route table: each route once, with its method, path, handler and declared access
//! rule. Registration, the access guard, the OpenAPI document and docs/permissions.md all read it.

use actix_web::web;
use utoipa::OpenApi;

use crate::domain::{Access, Operation};
use crate::http::routing::RouteSpec;

use super::openapi::LayerResponses;
use super::{
    auth, calendars, catalogue, consult, exports, ledgers, notifications, org, outside, people, personal_data, photos, reports, residents,
    sla, system, tickets, visits,
};

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $access:expr; )*) => {
        /// Every route of the API, with its access rule, in the router's order.
        pub static ROUTES: &[RouteSpec] = &[$( RouteSpec { method: stringify!($method), path: $path, access: $access } ),*];

        /// The statuses the layers answer, for the document (see `openapi`).
        static API_LAYERS: LayerResponses = LayerResponses(ROUTES);

        /// Registers every route of the table; there is no other place where routes are added.
        pub fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::method(actix_web::http::Method::$method).to($handler)); )*
        }

        /// The OpenAPI 3 document, generated from the handlers' annotations.
        #[derive(OpenApi)]
        #[openapi(
            info(title = "Gridloop API", description = "Residents' requests through grid-based community governance (网格化治理). Errors are JSON {code, message, field?}; messages are zh-CN unless Accept-Language starts with en."),
            paths($($handler),*),
            modifiers(&SecurityAddon, &API_LAYERS),
            tags(
                (name = "system", description = "Health and the API document"),
                (name = "auth", description = "Login, logout and the current person"),
                (name = "notifications", description = "A person's in-app notifications (站内通知)"),
                (name = "org", description = "The org tree (组织架构)"),
                (name = "people", description = "People and their role memberships (人员与任职)"),
                (name = "catalogue", description = "The task catalogue (任务目录)"),
                (name = "residents", description = "Residents, with masked personal data (居民)"),
                (name = "tickets", description = "Tickets through the closed loop (诉求：走访—反馈—跟踪，吹哨报到)"),
                (name = "sla", description = "Time limits, supervision and overdue counts (时限与督办)"),
                (name = "calendars", description = "Working calendars: holidays and make-up working days per year (工作日历、放假调休安排)"),
                (name = "visits", description = "Visit logs, households' visit status and the secretary's board (走访日志、入户走访、网格长工作台)"),
                (name = "consultation", description = "Three-party consultation of a compound's branch, owners' committee and property company: agenda, meetings, actions, results (三方协调议事：议事清单、行动清单、业绩清单)"),
                (name = "outside", description = "Requests from outside the grid: 12345 work orders in and status back, outside clients, residents' status links (12345接诉即办、外部系统、居民查询链接)"),
                (name = "reports", description = "Rankings from the clock and audit history, with the tickets behind every figure, and ledger exports (三率排名、红黄榜、台账导出)"),
            )
        )]
        pub struct ApiDoc;
    };
}

routes! {
    GET "/healthz" => system::healthz, Access::Public;
    GET "/api/v1/openapi.json" => system::openapi, Access::Public;
    POST "/api/v1/auth/login" => auth::login, Access::Public;
    POST "/api/v1/auth/logout" => auth::logout, Access::Authenticated;
    GET "/api/v1/auth/session" => auth::session, Access::Authenticated;
    GET "/api/v1/me" => auth::me, Access::Authenticated;
    GET "/api/v1/notifications" => notifications::list, Access::Authenticated;
    GET "/api/v1/notifications/unread" => notifications::unread, Access::Authenticated;
    POST "/api/v1/notifications/read-all" => notifications::read_all, Access::Authenticated;
    POST "/api/v1/notifications/{id}/read" => notifications::read, Access::Authenticated;
    GET "/api/v1/me/notification-settings" => notifications::my_settings, Access::Authenticated;
    PUT "/api/v1/me/notification-settings" => notifications::save_my_settings, Access::Authenticated;
    POST "/api/v1/me/notification-settings/test" => notifications::test_my_mail, Access::Authenticated;
    GET "/api/v1/org-units/{id}/channels" => notifications::list_channels, Access::Scoped(Operation::OrgUnitManage);
    POST "/api/v1/org-units/{id}/channels" => notifications::add_channel, Access::Scoped(Operation::OrgUnitManage);
    PATCH "/api/v1/channels/{id}" => notifications::change_channel, Access::Scoped(Operation::OrgUnitManage);
    POST "/api/v1/channels/{id}/test" => notifications::test_channel, Access::Scoped(Operation::OrgUnitManage);
    GET "/api/v1/deliveries/failed" => notifications::failed, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/deliveries/{id}" => notifications::delivery, Access::Authenticated;
    POST "/api/v1/deliveries/{id}/retry" => notifications::retry, Access::Scoped(Operation::OrgUnitManage);
    GET "/api/v1/org-units" => org::list, Access::Scoped(Operation::OrgUnitRead);
    POST "/api/v1/org-units" => org::create, Access::Scoped(Operation::OrgUnitManage);
    GET "/api/v1/org-units/{id}" => org::get, Access::Scoped(Operation::OrgUnitRead);
    PATCH "/api/v1/org-units/{id}" => org::update, Access::Scoped(Operation::OrgUnitManage);
    GET "/api/v1/people" => people::list, Access::Scoped(Operation::PersonRead);
    POST "/api/v1/people" => people::create, Access::Scoped(Operation::PersonManage);
    GET "/api/v1/people/{id}" => people::get, Access::Scoped(Operation::PersonRead);
    PATCH "/api/v1/people/{id}" => people::update, Access::Scoped(Operation::PersonManage);
    POST "/api/v1/people/{id}/disable" => people::disable, Access::Scoped(Operation::PersonManage);
    POST "/api/v1/people/{id}/enable" => people::enable, Access::Scoped(Operation::PersonManage);
    POST "/api/v1/people/{id}/password" => people::reset_password, Access::Scoped(Operation::PersonManage);
    POST "/api/v1/people/{id}/memberships" => people::add_membership, Access::Scoped(Operation::PersonManage);
    POST "/api/v1/people/{id}/memberships/{membership_id}/end" => people::end_membership, Access::Scoped(Operation::PersonManage);
    GET "/api/v1/categories" => catalogue::list, Access::Authenticated;
    POST "/api/v1/categories" => catalogue::create, Access::Scoped(Operation::CatalogueManage);
    GET "/api/v1/categories/{id}" => catalogue::get, Access::Authenticated;
    PATCH "/api/v1/categories/{id}" => catalogue::update, Access::Scoped(Operation::CatalogueManage);
    GET "/api/v1/residents" => residents::list, Access::Scoped(Operation::ResidentRead);
    POST "/api/v1/residents" => residents::create, Access::Scoped(Operation::ResidentManage);
    POST "/api/v1/residents/import" => residents::import, Access::Scoped(Operation::ResidentManage);
    GET "/api/v1/residents/{id}" => residents::get, Access::Scoped(Operation::ResidentRead);
    POST "/api/v1/residents/{id}/reveal" => residents::reveal, Access::Scoped(Operation::ResidentReveal);
    GET "/api/v1/residents/{id}/reveals" => residents::reveals, Access::Scoped(Operation::ResidentRead);
    POST "/api/v1/tickets" => tickets::file, Access::Scoped(Operation::TicketFile);
    GET "/api/v1/tickets" => tickets::list, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/tickets/{id}" => tickets::get, Access::Scoped(Operation::TicketRead);
    POST "/api/v1/tickets/{id}/actions" => tickets::act, Access::Scoped(Operation::TicketAct);
    POST "/api/v1/tickets/{id}/comments" => tickets::comment, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/tickets/{id}/timeline" => tickets::timeline, Access::Scoped(Operation::TicketRead);
    POST "/api/v1/tickets/{id}/reveal" => tickets::reveal, Access::Scoped(Operation::TicketReveal);
    GET "/api/v1/tickets/{id}/deliveries" => notifications::ticket_deliveries, Access::Scoped(Operation::TicketRead);
    POST "/api/v1/tickets/{id}/resident-links" => outside::give_link, Access::Scoped(Operation::TicketAct);
    GET "/api/v1/tickets/{id}/resident-links" => outside::list_links, Access::Scoped(Operation::TicketRead);
    POST "/api/v1/resident-links/{id}/revoke" => outside::revoke_link, Access::Scoped(Operation::TicketAct);
    GET "/api/v1/external-clients" => outside::list_clients, Access::Scoped(Operation::OrgUnitManage);
    POST "/api/v1/external-clients" => outside::create_client, Access::Scoped(Operation::OrgUnitManage);
    GET "/api/v1/external-clients/{id}" => outside::get_client, Access::Scoped(Operation::OrgUnitManage);
    PATCH "/api/v1/external-clients/{id}" => outside::change_client, Access::Scoped(Operation::OrgUnitManage);
    PUT "/api/v1/external-clients/{id}/categories" => outside::set_categories, Access::Scoped(Operation::OrgUnitManage);
    POST "/api/v1/external/work-orders" => outside::receive_order, Access::Client;
    GET "/api/v1/external/work-orders/{order_no}" => outside::order_status, Access::Client;
    GET "/api/v1/tickets/{id}/departments" => tickets::departments, Access::Scoped(Operation::TicketRead);
    POST "/api/v1/tickets/{id}/photos" => photos::upload, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/tickets/{id}/photos" => photos::list, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/photos/{id}" => photos::get, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/inbox" => tickets::inbox, Access::Authenticated;
    GET "/api/v1/tickets/{id}/clocks" => sla::clocks, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/supervision" => sla::supervision, Access::Authenticated;
    GET "/api/v1/overdue-counts" => sla::overdue_counts, Access::Authenticated;
    PUT "/api/v1/categories/{id}/limits" => sla::set_limit, Access::Scoped(Operation::CatalogueManage);
    GET "/api/v1/calendars" => calendars::list, Access::Authenticated;
    GET "/api/v1/calendars/{name}/years/{year}" => calendars::year, Access::Authenticated;
    PUT "/api/v1/calendars/{name}/years/{year}" => calendars::publish, Access::Scoped(Operation::CatalogueManage);
    GET "/api/v1/calendars/{name}/years/{year}/history" => calendars::history, Access::Scoped(Operation::CatalogueManage);
    POST "/api/v1/visit-logs" => visits::submit, Access::Scoped(Operation::VisitLogFile);
    GET "/api/v1/visit-logs" => visits::list, Access::Scoped(Operation::VisitLogRead);
    GET "/api/v1/visit-logs/{id}" => visits::get, Access::Scoped(Operation::VisitLogRead);
    PATCH "/api/v1/visit-logs/{id}" => visits::amend, Access::Scoped(Operation::VisitLogFile);
    GET "/api/v1/visit-logs/{id}/history" => visits::history, Access::Scoped(Operation::VisitLogRead);
    GET "/api/v1/my/visit-list" => visits::my_visit_list, Access::Scoped(Operation::VisitLogFile);
    POST "/api/v1/personal-data/access" => personal_data::access, Access::Scoped(Operation::PersonalDataRequest);
    POST "/api/v1/personal-data/erasure" => personal_data::erasure, Access::Scoped(Operation::PersonalDataRequest);
    GET "/api/v1/households" => visits::households, Access::Scoped(Operation::ResidentRead);
    GET "/api/v1/households/{id}" => visits::household, Access::Scoped(Operation::ResidentRead);
    PATCH "/api/v1/households/{id}" => visits::change_household, Access::Scoped(Operation::ResidentManage);
    GET "/api/v1/compounds/{id}/board" => visits::board, Access::Scoped(Operation::BoardRead);
    GET "/api/v1/compounds/{id}/log-compliance" => visits::compliance, Access::Scoped(Operation::BoardRead);
    GET "/api/v1/org-units/{id}/log-compliance" => visits::unit_compliance, Access::Scoped(Operation::BoardRead);
    GET "/api/v1/rankings" => reports::rankings, Access::Scoped(Operation::RankingRead);
    GET "/api/v1/rankings/tickets" => reports::tickets, Access::Scoped(Operation::RankingRead);
    GET "/api/v1/rankings/visits" => ledgers::visit_rankings, Access::Scoped(Operation::RankingRead);
    GET "/api/v1/exports/tickets.csv" => exports::tickets_csv, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/exports/tickets.xlsx" => exports::tickets_xlsx, Access::Scoped(Operation::TicketRead);
    GET "/api/v1/exports/rankings.xlsx" => exports::rankings_xlsx, Access::Scoped(Operation::RankingRead);
    GET "/api/v1/exports/bulletin.xlsx" => exports::bulletin_xlsx, Access::Scoped(Operation::RankingRead);
    GET "/api/v1/exports/visit_logs.csv" => ledgers::visit_logs_csv, Access::Scoped(Operation::VisitLogRead);
    GET "/api/v1/exports/visit_logs.xlsx" => ledgers::visit_logs_xlsx, Access::Scoped(Operation::VisitLogRead);
    GET "/api/v1/exports/supervision.csv" => ledgers::supervision_csv, Access::Authenticated;
    GET "/api/v1/exports/supervision.xlsx" => ledgers::supervision_xlsx, Access::Authenticated;
    GET "/api/v1/property-companies" => consult::list_companies, Access::Scoped(Operation::ConsultRead);
    POST "/api/v1/property-companies" => consult::create_company, Access::Scoped(Operation::ConsultManage);
    GET "/api/v1/property-companies/{id}/evaluations" => consult::company_evaluations, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/org-units/{id}/parties" => consult::get_parties, Access::Scoped(Operation::ConsultRead);
    PUT "/api/v1/org-units/{id}/parties" => consult::set_parties, Access::Scoped(Operation::ConsultManage);
    GET "/api/v1/org-units/{id}/consultation/candidates" => consult::candidates, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/org-units/{id}/consultation/items" => consult::list_items, Access::Scoped(Operation::ConsultRead);
    POST "/api/v1/org-units/{id}/consultation/items" => consult::create_item, Access::Scoped(Operation::ConsultManage);
    GET "/api/v1/org-units/{id}/consultation/meetings" => consult::list_meetings, Access::Scoped(Operation::ConsultRead);
    POST "/api/v1/org-units/{id}/consultation/meetings" => consult::hold_meeting, Access::Scoped(Operation::ConsultManage);
    GET "/api/v1/org-units/{id}/consultation/results" => consult::results, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/org-units/{id}/consultation/results.xlsx" => consult::results_xlsx, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/org-units/{id}/evaluations" => consult::evaluations, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/org-units/{id}/evaluations.xlsx" => consult::evaluations_xlsx, Access::Scoped(Operation::ConsultRead);
    POST "/api/v1/org-units/{id}/evaluations" => consult::evaluate, Access::Scoped(Operation::ConsultManage);
    PUT "/api/v1/evaluations/{id}" => consult::correct_evaluation, Access::Scoped(Operation::ConsultManage);
    GET "/api/v1/consultation/overdue-actions" => consult::overdue_actions, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/consultation/items/{id}" => consult::get_item, Access::Scoped(Operation::ConsultRead);
    POST "/api/v1/consultation/items/{id}/tickets" => consult::attach_tickets, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/items/{id}/notes" => consult::add_note, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/items/{id}/complete" => consult::complete_item, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/items/{id}/drop" => consult::drop_item, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/items/{id}/solve-tickets" => consult::solve_tickets, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/items/{id}/photos" => consult::upload_photo, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/consultation/photos/{id}" => consult::get_photo, Access::Scoped(Operation::ConsultRead);
    GET "/api/v1/consultation/meetings/{id}" => consult::get_meeting, Access::Scoped(Operation::ConsultRead);
    PATCH "/api/v1/consultation/meetings/{id}" => consult::amend_meeting, Access::Scoped(Operation::ConsultManage);
    POST "/api/v1/consultation/meetings/{id}/sign" => consult::sign_meeting, Access::Scoped(Operation::ConsultManage);
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("gridloop_session"))));
        components.add_security_scheme(
            "client_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An outside system's key `glk_…`; a 12345 platform also signs: `X-Gridloop-Timestamp` (Unix seconds) and \
                         `X-Gridloop-Signature: sha256=<hex HMAC-SHA256 of \"timestamp.body\">`",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::find_route;

    #[test]
    fn a_route_is_found_as_the_router_finds_it() {
        let id = "01a2183a-4e2e-7018-bccf-fe7848ae3a3e";
        let f = |path: &str, method: &str| find_route(path, method).map(|s| s.path);
        assert_eq!(f(&format!("/api/v1/tickets/{id}/actions"), "POST"), Some("/api/v1/tickets/{id}/actions"));
        assert_eq!(f(&format!("/api/v1/tickets/{id}"), "GET"), Some("/api/v1/tickets/{id}"));
        assert_eq!(f("/api/v1/tickets", "POST"), Some("/api/v1/tickets"));
        // A static segment declared before a parameter wins, as in the router.
        assert_eq!(f("/api/v1/residents/import", "POST"), Some("/api/v1/residents/import"));
        // No empty parameter, no trailing slash, no extra segment, no undeclared method.
        assert_eq!(f("/api/v1/tickets//actions", "POST"), None);
        assert_eq!(f("/api/v1/tickets/", "GET"), None);
        assert_eq!(f(&format!("/api/v1/tickets/{id}/actions/x"), "POST"), None);
        assert_eq!(f(&format!("/api/v1/tickets/{id}/actions"), "DELETE"), None);
        assert_eq!(f("/api/v1/ticket", "GET"), None);
    }
}
