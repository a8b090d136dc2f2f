//! A ticket's page: what it is about, every running clock with its holder, the timeline, comments,
//! and the actions this person may take now, each a short form. The forms become the API's
//! action requests and go through the same intake and use cases.

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::audit::TimelineEvent;
use crate::app::idempotency::{request_hash, KeyRecord};
use crate::app::intake::Filed;
use crate::app::tickets::{ActRequest, DepartmentChoice, PhotoView, TicketFilter, TicketView};
use crate::app::{self, utc_now, AppError, AppResult};
use crate::db::DbConn;
use crate::domain::workflow::ActionKind;
use crate::domain::{Actor, PhotoId, TicketId};
use crate::http::context::AppState;
use crate::http::input::IdPath;
use crate::http::web::fields::{self, ActionForm, Extras, Field, Input};
use crate::http::web::page::{self, html, see_other, Chrome, Clock, Flash, Form, Page, PageError, Tr};

/// A running clock as a line of the page.
pub struct ClockLine {
    pub stage: String,
    pub holder: String,
    pub due: String,
    pub due_rel: String,
    /// `late`, `warn` or `ok`.
    pub mark: &'static str,
    pub yours: bool,
    pub paused: bool,
    pub provisional: bool,
}

/// A message about the ticket, as its delivery log shows it (a name, never an address).
pub struct DeliveryLine {
    pub what: String,
    pub to: String,
    pub state: String,
    pub mark: &'static str,
    pub error: Option<String>,
    pub when: String,
}

/// An event of the timeline as a line of the page.
pub struct EventLine {
    pub who: String,
    pub role: String,
    pub what: String,
    pub why: Option<String>,
    pub when: String,
    pub comment: bool,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    c: Chrome,
    flash: Option<Flash>,
    t: TicketView,
    urgency: String,
    created: String,
    due: String,
    due_rel: String,
    clocks: Vec<ClockLine>,
    events: Vec<EventLine>,
    forms: Vec<ActionForm>,
    revealed: Option<(String, String)>,
    comment: String,
    comment_error: Option<String>,
    key: String,
    parts: Vec<(String, String, String)>,
    photos: Vec<PhotoView>,
    deliveries: Vec<DeliveryLine>,
    photo_hint: String,
    links: Vec<LinkLine>,
    can_link: bool,
}

/// A resident link as the ticket page lists it.
struct LinkLine {
    id: String,
    what: String,
    state: String,
    live: bool,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
    dup_q: Option<String>,
}

/// Everything the page shows, loaded in one go on the pool.
struct Loaded {
    t: TicketView,
    events: Vec<TimelineEvent>,
    names: HashMap<String, String>,
    units: HashMap<String, String>,
    departments: Vec<DepartmentChoice>,
    duplicates: Vec<(String, String)>,
    photos: Vec<PhotoView>,
    deliveries: Vec<app::notifications::DeliveryView>,
    links: Vec<app::outside::links::LinkView>,
    can_link: bool,
}

fn load(conn: &mut DbConn, actor: &Actor, id: &TicketId, dup_q: Option<String>) -> AppResult<Loaded> {
    let now = utc_now();
    let t = app::tickets::get_ticket(conn, actor, id, now)?;
    let events = app::tickets::timeline(conn, actor, id)?;
    let people: Vec<String> = events.iter().filter_map(|e| e.actor_id.clone()).collect();
    let mut unit_ids: Vec<String> = events.iter().filter_map(|e| e.actor_unit_id.clone()).collect();
    unit_ids.extend(t.clocks.iter().map(|c| c.holder_unit_id.clone()));
    let names = app::people::names_of(conn, &people)?;
    let units = app::org::names_of(conn, &unit_ids)?;
    let allowed = |k| t.allowed_actions.contains(&k);
    let departments = if allowed(ActionKind::Whistle) || allowed(ActionKind::AddDepartment) || allowed(ActionKind::RuleOnReturn) {
        app::tickets::whistle_choices(conn, actor, id)?
    } else {
        vec![]
    };
    let duplicates = if allowed(ActionKind::MarkDuplicate) {
        // Likely duplicates: the same category at the same place in the last 30 days, or what
        // the person searched for by number or words.
        let filter = match dup_q.filter(|q| !q.trim().is_empty()) {
            Some(q) => TicketFilter { q: Some(q), limit: Some(20), ..Default::default() },
            None => TicketFilter {
                category_id: Some(t.category_id.clone()),
                within: Some(t.place_id.clone()),
                from: Some((now - chrono::Duration::days(30)).date()),
                limit: Some(20),
                ..Default::default()
            },
        };
        app::tickets::list_tickets(conn, actor, filter, now)?
            .items
            .into_iter()
            .filter(|s| s.id.to_string() != t.id)
            .map(|s| (s.id.to_string(), format!("{} · {} · {}", s.number, s.title, s.state_zh)))
            .collect()
    } else {
        vec![]
    };
    let photos = app::tickets::list_photos(conn, actor, id)?;
    let deliveries = app::notifications::deliveries_of_seen_ticket(conn, *id)?;
    let (links, can_link) = app::outside::links::for_page(conn, actor, id)?;
    Ok(Loaded { t, events, names, units, departments, duplicates, photos, deliveries, links, can_link })
}

/// The label of a timeline event's action.
fn event_label(tr: Tr, action: &str) -> String {
    if let Ok(k) = ActionKind::from_str(action) {
        return tr.t(k.label_key());
    }
    crate::i18n::lookup(tr.0, &format!("event-{action}")).unwrap_or_else(|| action.to_string())
}

/// What the page shows after an action's form was refused: which form, what was typed, and why.
struct Refused {
    kind: ActionKind,
    form: Form,
    message: String,
}

/// What a page shows besides the ticket: a message, a revealed contact, a refused form or
/// comment given back.
#[derive(Default)]
struct Shown {
    flash: Option<Flash>,
    revealed: Option<(String, String)>,
    refused: Option<Refused>,
    comment: Option<(String, String)>,
}

fn render(state: &AppState, p: &Page, l: Loaded, shown: Shown, status: StatusCode) -> HttpResponse {
    let Shown { flash, revealed, refused, comment } = shown;
    let tr = p.tr();
    let clock = Clock::new(state, tr);
    let Loaded { t, events, names, units, departments, duplicates, photos, deliveries, links, can_link } = l;
    let links = links
        .into_iter()
        .map(|k| {
            let state = match (&k.revoked_at, &k.rating) {
                (Some(r), _) => format!("{} {}", tr.t("link-revoked"), clock.at(r)),
                (None, Some(r)) => format!("{}：{}", tr.t("link-rated"), tr.t(r.label_key())),
                (None, None) => tr.t("link-live"),
            };
            LinkLine {
                what: format!("{} · {}", tr.t(link_channel_key(&k.channel)), clock.at(&k.created_at)),
                live: k.revoked_at.is_none(),
                id: k.id,
                state,
            }
        })
        .collect();
    let deliveries = deliveries
        .into_iter()
        .map(|d| DeliveryLine {
            what: format!("{} · {}", tr.t(d.kind.label_key()), tr.t(d.channel.label_key())),
            to: d.recipient.unwrap_or_default(),
            state: tr.t(d.state.label_key()),
            mark: match d.state {
                crate::domain::notify::DeliveryState::Sent => "ok",
                crate::domain::notify::DeliveryState::Failed => "late",
                _ => "warn",
            },
            error: d.last_error,
            when: clock.at(&d.created_at),
        })
        .collect();
    let extras = Extras { departments: &departments, duplicates: &duplicates };
    let mut forms: Vec<ActionForm> = t
        .allowed_actions
        .iter()
        .map(|k| ActionForm {
            kind: k.as_str(),
            label: tr.t(k.label_key()),
            fields: fields::fields_of(*k, &t, &extras, tr, &clock),
            open: false,
            error: None,
        })
        .collect();
    if let Some(r) = &refused {
        if let Some(f) = forms.iter_mut().find(|f| f.kind == r.kind.as_str()) {
            fields::refill(&mut f.fields, &r.form);
            f.open = true;
            f.error = Some(r.message.clone());
        }
    }
    let clocks = t
        .clocks
        .iter()
        .map(|c| ClockLine {
            stage: tr.t(c.stage.label_key()),
            holder: if c.holder_name.is_empty() {
                units.get(&c.holder_unit_id).cloned().unwrap_or_default()
            } else {
                c.holder_name.clone()
            },
            due: clock.at(&c.due_at),
            due_rel: clock.due(&c.due_at),
            mark: if c.overdue {
                "late"
            } else if clock.now >= c.warn_at {
                "warn"
            } else {
                "ok"
            },
            yours: c.yours,
            paused: c.paused_for.is_some(),
            provisional: c.provisional,
        })
        .collect();
    let events = events
        .iter()
        .rev()
        .map(|e| EventLine {
            who: match e.actor_id.as_ref().and_then(|id| names.get(id).cloned()) {
                Some(name) => name,
                // A resident's rating through his link: no staff member, not the system either.
                None if e.action == "resident_rating" => tr.t("event-resident"),
                None => tr.t("event-system"),
            },
            role: [
                e.actor_role
                    .as_deref()
                    .and_then(|r| crate::domain::Role::from_str(r).ok())
                    .map(|r| tr.t(r.label_key()))
                    .unwrap_or_default(),
                e.actor_unit_id.as_ref().and_then(|u| units.get(u).cloned()).unwrap_or_default(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
            what: {
                // A return visit says how the resident found it (满意 / 基本满意 / 不满意).
                // So does a resident's own rating through his link (居民评价).
                let field = match e.action.as_str() {
                    "record_return_visit" => Some("satisfaction"),
                    "resident_rating" => Some("rating"),
                    _ => None,
                };
                let verdict = field
                    .and_then(|f| e.changes.get(f).and_then(|v| v.get(1)).and_then(|v| v.as_str()))
                    .and_then(|v| v.parse::<crate::domain::workflow::Satisfaction>().ok());
                match verdict {
                    Some(v) => format!("{} · {}", event_label(tr, &e.action), tr.t(v.label_key())),
                    None => event_label(tr, &e.action),
                }
            },
            why: e.reason.clone().filter(|r| !r.is_empty()),
            when: clock.at(&e.at),
            comment: e.action == "comment",
        })
        .collect();
    let parts = t
        .departments
        .iter()
        .map(|d| (d.department_name.clone(), tr.t(d.state.label_key()), format!("{} ({})", clock.at(&d.due_at), clock.due(&d.due_at))))
        .collect();
    let (comment, comment_error) = match comment {
        Some((text, err)) => (text, Some(err)),
        None => (String::new(), None),
    };
    let page = TicketPage {
        c: p.chrome("ticket-title"),
        flash,
        urgency: tr.t(match t.urgency {
            app::catalogue::Urgency::Normal => "urgency-normal",
            app::catalogue::Urgency::Urgent => "urgency-urgent",
        }),
        created: clock.at(&t.created_at),
        due: clock.at_opt(&t.due_at),
        due_rel: clock.due_opt(&t.due_at),
        clocks,
        events,
        forms,
        revealed,
        comment,
        comment_error,
        key: uuid::Uuid::new_v4().to_string(),
        parts,
        photos,
        deliveries,
        photo_hint: tr.msg(&crate::msg!("ticket-photo_hint", mb = (state.settings.photos.max_bytes / (1024 * 1024)) as i64)),
        t,
        links,
        can_link,
    };
    html(status, &page)
}

/// `GET /tickets/{id}`: the ticket as this person may see it; a ticket he may not see is the
/// same 404 as one that does not exist.
pub async fn show(state: web::Data<AppState>, p: Page, id: IdPath<TicketId>, q: web::Query<ShowQuery>) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let (id, dup_q) = (p.id(&id, "ticket")?, q.dup_q.clone());
    let l = page::run(&state, p.lang, move |c| load(c, &actor, &id, dup_q)).await?;
    let tr = p.tr();
    let flash = match q.done.as_deref() {
        Some("comment") => Flash::ok(tr.t("ticket-commented")),
        Some("photo") => Flash::ok(tr.t("ticket-photo_added")),
        Some("link_revoked") => Flash::ok(tr.t("link-revoked_done")),
        Some(kind) => ActionKind::from_str(kind)
            .ok()
            .and_then(|k| Flash::ok(tr.msg(&crate::msg!("ticket-done", action = crate::domain::text::Arg::Key(k.label_key()))))),
        None => None,
    };
    Ok(render(&state, &p, l, Shown { flash, ..Default::default() }, StatusCode::OK))
}

/// `POST /tickets/{id}/act`: one action from its form. Success: back to the ticket (303). A
/// stale form (someone acted first) or a refused one: the fresh page, the form opened again with
/// what was typed, and a plain message.
pub async fn act(state: web::Data<AppState>, p: Page, id: IdPath<TicketId>, form: Form) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "ticket")?;
    let lang = p.lang;
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let actor = p.who.actor.clone();
    let kind = form.get("_action").and_then(|a| ActionKind::from_str(&a).ok());
    let version = form.get("_version").and_then(|v| v.parse::<i64>().ok());
    let (Some(kind), Some(version)) = (kind, version) else {
        return Err(PageError { err: AppError::validation("_action", crate::msg!("page-bad_form", detail = "_action/_version")), lang });
    };
    // The fields the form had: built from the ticket as it is now.
    let a = actor.clone();
    let l = page::run(&state, lang, move |c| load(c, &a, &id, None)).await?;
    let extras = Extras { departments: &l.departments, duplicates: &l.duplicates };
    let mut specs: Vec<Field> = fields::fields_of(kind, &l.t, &extras, tr, &clock);
    // A radio choice that is not among today's candidates (the duplicate search) still counts.
    for f in specs.iter_mut() {
        if let (Input::Radios(o), Some(v)) = (&mut f.input, form.get(f.name)) {
            if !o.iter().any(|x| x.value == v) {
                o.push(fields::Opt { value: v, label: String::new(), selected: true });
            }
        }
    }
    let refuse = |l: Loaded, form: Form, err: &AppError, status| {
        let message = err.message(lang);
        let flash = match err {
            AppError::VersionConflict { .. } | AppError::IllegalAction { .. } => Flash::error(tr.t("ticket-stale")),
            _ => None,
        };
        render(&state, &p, l, Shown { flash, refused: Some(Refused { kind, form, message }), ..Default::default() }, status)
    };
    let request = match fields::to_request(kind, &specs, &form, &clock) {
        Ok(r) => r,
        Err(e) => return Ok(refuse(l, form, &e, StatusCode::UNPROCESSABLE_ENTITY)),
    };
    let key = form.get("_key").filter(|k| crate::app::idempotency::validate_key(k).is_ok()).map(|key| KeyRecord {
        person_id: actor.person_id,
        key,
        request_hash: request_hash(
            "POST",
            &format!("/tickets/{id}/act"),
            &format!("{version}|{}", serde_json::to_string(&request).unwrap_or_default()),
        ),
    });
    let outcome = state.intake.act(ActRequest { actor, ticket_id: id, version: Some(version), action: request }, key).await;
    match outcome {
        Ok(Filed::Fresh(_)) | Ok(Filed::Replay(_)) => Ok(see_other(&format!("/tickets/{id}?done={}", kind.as_str()))),
        Err(
            e @ (AppError::NotFound { .. }
            | AppError::Unauthenticated
            | AppError::Unavailable(_)
            | AppError::Internal(_)
            | AppError::Contention(_)),
        ) => Err(PageError { err: e, lang }),
        Err(e) => {
            // The page as it is now (someone may have acted first), with this form given back.
            let a = p.who.actor.clone();
            let fresh = page::run(&state, lang, move |c| load(c, &a, &id, None)).await?;
            let status = crate::http::error::status_of(&e);
            Ok(refuse(fresh, form, &e, status))
        }
    }
}

/// `POST /tickets/{id}/comment`: a comment; an empty or refused one comes back with its text.
pub async fn comment(state: web::Data<AppState>, p: Page, id: IdPath<TicketId>, form: Form) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "ticket")?;
    let text = form.raw("text");
    let (a, body) = (p.who.actor.clone(), text.clone());
    match page::run_write(&state, p.lang, move |c| app::tickets::comment(c, &a, &id, &body, utc_now())).await {
        Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=comment#comments"))),
        Err(PageError { err: err @ (AppError::Validation { .. } | AppError::Forbidden { .. }), lang }) => {
            let a = p.who.actor.clone();
            let l = page::run(&state, lang, move |c| load(c, &a, &id, None)).await?;
            let status = crate::http::error::status_of(&err);
            Ok(render(&state, &p, l, Shown { comment: Some((text, err.message(lang))), ..Default::default() }, status))
        }
        Err(e) => Err(e),
    }
}

/// The catalogue key of how a link was sent.
fn link_channel_key(channel: &str) -> &'static str {
    match channel {
        "sms" => "link-sms",
        "email" => "link-email",
        _ => "link-none",
    }
}

/// `POST /tickets/{id}/link`: gives the resident a link to his request's page (by SMS to the
/// ticket's phone, by mail, or shown here to hand over); the page shows its address this once.
pub async fn give_link(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    p: Page,
    id: IdPath<TicketId>,
    form: Form,
) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "ticket")?;
    let input = app::outside::links::LinkInput { channel: form.get("channel").unwrap_or_default(), phone: None, email: form.get("email") };
    let (a, base) = (p.who.actor.clone(), crate::http::context::public_base(&state, &req));
    let given = page::run_write(&state, p.lang, move |c| app::outside::links::give_link(c, &a, &id, input.clone(), &base, utc_now())).await;
    let tr = p.tr();
    let flash = match given {
        Ok(v) => Flash::ok(tr.msg(&crate::msg!("link-given", url = v.url.unwrap_or_default()))),
        Err(PageError { err: err @ (AppError::Validation { .. } | AppError::Forbidden { .. }), lang }) => Flash::error(err.message(lang)),
        Err(e) => return Err(e),
    };
    let a = p.who.actor.clone();
    let l = page::run(&state, p.lang, move |c| load(c, &a, &id, None)).await?;
    Ok(render(&state, &p, l, Shown { flash, ..Default::default() }, StatusCode::OK))
}

/// `POST /tickets/{id}/links/{link}/revoke`: the link stops working at once.
pub async fn revoke_link(
    state: web::Data<AppState>,
    p: Page,
    path: web::Path<(String, String)>,
    _form: Form,
) -> Result<HttpResponse, PageError> {
    let (id, link) = path.into_inner();
    let id: TicketId = id.parse().map_err(|_| PageError { err: AppError::NotFound { what: "ticket" }, lang: p.lang })?;
    let link: crate::domain::ResidentLinkId =
        link.parse().map_err(|_| PageError { err: AppError::NotFound { what: "resident link" }, lang: p.lang })?;
    let a = p.who.actor.clone();
    page::run_write(&state, p.lang, move |c| app::outside::links::revoke_link(c, &a, &link, utc_now())).await?;
    Ok(see_other(&format!("/tickets/{id}?done=link_revoked#links")))
}

/// `POST /tickets/{id}/reveal`: the resident's full phone number, for those who must call; the
/// look is recorded in the ticket's trail. Shown on this answer only, never in a URL.
pub async fn reveal(state: web::Data<AppState>, p: Page, id: IdPath<TicketId>, _form: Form) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "ticket")?;
    let a = p.who.actor.clone();
    let r = page::run_write(&state, p.lang, move |c| app::tickets::reveal_contact(c, &a, &id, utc_now())).await?;
    let a = p.who.actor.clone();
    let l = page::run(&state, p.lang, move |c| load(c, &a, &id, None)).await?;
    let revealed = Some((r.resident_name.unwrap_or_default(), r.resident_phone.unwrap_or_default()));
    Ok(render(&state, &p, l, Shown { revealed, ..Default::default() }, StatusCode::OK))
}

/// `POST /tickets/{id}/photos`: photos from the phone's camera or album (a multipart form:
/// `_csrf` first, then `kind` and one or more `photo`). Cleaned like the API's upload; the same
/// photo twice is one photo.
pub async fn upload_photo(state: web::Data<AppState>, p: Page, id: IdPath<TicketId>, form: Form) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "ticket")?;
    let lang = p.lang;
    let kind =
        if form.get("kind").as_deref() == Some("solution") { app::tickets::PhotoKind::Solution } else { app::tickets::PhotoKind::Request };
    let photos: Vec<Vec<u8>> = form.files("photo").map(|f| f.bytes.clone()).collect();
    if photos.is_empty() {
        return Err(PageError { err: AppError::validation(p.tr().t("ticket-photo"), crate::msg!("rule-not_empty")), lang });
    }
    let cleaned = page::clean_photos(&state, photos, lang).await?;
    let (actor, store) = (p.who.actor.clone(), state.photos.clone());
    page::run_write(&state, lang, move |c| {
        for photo in &cleaned {
            app::tickets::attach(c, store.as_ref(), &actor, &id, kind, photo, utc_now())?;
        }
        Ok(())
    })
    .await?;
    Ok(see_other(&format!("/tickets/{id}?done=photo#photos")))
}

/// `GET /photos/{id}` and `/photos/{id}/thumb`: a photo for someone who may see its ticket.
pub async fn photo(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<PhotoId>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "photo")?;
    let thumb = page::photo_size(&path.1, p.lang)?;
    let bytes = crate::http::api::photos::image(&state, p.who.actor.clone(), id, thumb, p.lang)
        .await
        .map_err(|e| PageError { err: e.err, lang: p.lang })?;
    Ok(page::jpeg(bytes))
}
