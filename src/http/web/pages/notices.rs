//! The in-app notification centre (站内通知) as a page: the person's notifications, newest first,
//! unread ones marked, each linking to its ticket; "mark all read". Same use cases as the API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::{self, utc_now};
use crate::http::context::AppState;
use crate::http::web::page::{self, html, see_other, Chrome, Clock, Form, Page, PageError};

/// A notification as a line of the page.
pub struct NoticeLine {
    pub id: String,
    pub subject: String,
    pub body: String,
    pub when: String,
    pub ticket_id: Option<String>,
    pub unread: bool,
    pub urgent: bool,
}

#[derive(Template)]
#[template(path = "notices.html")]
struct NoticesPage {
    c: Chrome,
    unread: i64,
    items: Vec<NoticeLine>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticesQuery {
    before: Option<String>,
}

/// `GET /notifications`: the caller's notifications.
pub async fn list(state: web::Data<AppState>, p: Page, q: web::Query<NoticesQuery>) -> Result<HttpResponse, PageError> {
    let (actor, lang, before) = (p.who.actor.clone(), p.lang, q.into_inner().before);
    let page =
        page::run(&state, lang, move |c| app::notifications::my_notifications(c, &actor, false, Some(30), before.as_deref(), lang)).await?;
    let clock = Clock::new(&state, p.tr());
    let items = page
        .items
        .into_iter()
        .map(|n| NoticeLine {
            when: clock.at(&n.created_at),
            id: n.id,
            subject: n.subject,
            body: n.body,
            ticket_id: n.ticket_id,
            unread: !n.read,
            urgent: n.urgent,
        })
        .collect();
    let next = page
        .next_before
        .map(|b| format!("/notifications?before={}", url::form_urlencoded::byte_serialize(b.as_bytes()).collect::<String>()));
    Ok(html(StatusCode::OK, &NoticesPage { c: p.chrome("notices-title"), unread: page.unread, items, next }))
}

/// `POST /notifications/read`: one (`id`) or all of the caller's notifications read; a link's
/// form goes on to its ticket.
pub async fn read(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let id = form.get("id");
    let then = form.get("then").filter(|t| t.starts_with("/tickets/")).unwrap_or_else(|| "/notifications".into());
    page::run_write(&state, p.lang, move |c| match &id {
        Some(id) => app::notifications::mark_read(c, &actor, &app::named_id(id, "notification")?, utc_now()),
        None => app::notifications::mark_all_read(c, &actor, utc_now()).map(|_| ()),
    })
    .await?;
    Ok(see_other(&then))
}
