//! The home page is the page of the role a person works in now, and the switch between roles.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::HttpResponse;

use crate::domain::Role;
use crate::http::web::page::{current_role, see_other, Form, Page, PageError, ROLE_COOKIE};

/// Where a role starts its day: the grid worker at his visit list, the branch secretary at his
/// board, a supervisor at the supervision desk, everyone else at what waits on him.
pub fn home_of(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::GridWorker) => "/day",
        Some(Role::BranchSecretary) => "/board",
        Some(Role::Supervisor) => "/oversight",
        Some(Role::Admin) => "/admin/org",
        Some(Role::CommitteeRepresentative | Role::CompanyRepresentative) => "/consultation",
        _ => "/inbox",
    }
}

/// `GET /`: to the home page of the current role.
pub async fn home(p: Page) -> HttpResponse {
    see_other(home_of(p.role.map(|g| g.role)))
}

/// `POST /role`: works in another of his roles from now on (his grants all stay in force; this
/// chooses his home page and tabs).
pub async fn switch_role(p: Page, form: Form) -> Result<HttpResponse, PageError> {
    let wanted = form.get("role").unwrap_or_default();
    let Some(grant) = current_role(&p.who, Some(&wanted)) else {
        return Ok(see_other("/"));
    };
    let cookie =
        Cookie::build(ROLE_COOKIE, wanted).path("/").same_site(SameSite::Lax).http_only(true).max_age(CookieDuration::days(365)).finish();
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header(("Location", home_of(Some(grant.role)))).finish())
}
