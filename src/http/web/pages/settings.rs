//! Who is told what, as pages: a person's own notification settings (通知设置: his mail address,
//! the events he also wants by mail, quiet hours, the daily digest, a test mail), and an admin's
//! robots and webhooks of the units he manages (通知渠道: add, switch on or off, choose events,
//! send a test). Same use cases as the API; a test's outcome is read back from its delivery, so
//! what the page says is what happened.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::notifications::settings::{EndpointChange, EndpointInput, EndpointView, SettingsInput, SettingsView};
use crate::app::notifications::DeliveryView;
use crate::app::{self, utc_now, AppError};
use crate::domain::notify::{DeliveryChannel, DeliveryState, NoticeKind};
use crate::domain::{DeliveryId, EndpointId};
use crate::http::context::AppState;
use crate::http::input::IdPath;
use crate::http::web::page::{self, html, see_other, Chrome, Flash, Form, Page, PageError, Tr};

/// A kind of event as a checkbox.
pub struct KindBox {
    pub value: &'static str,
    pub label: String,
    pub checked: bool,
}

fn kind_boxes(tr: Tr, all: bool, chosen: &[NoticeKind]) -> Vec<KindBox> {
    NoticeKind::choosable()
        .map(|k| KindBox { value: k.as_str(), label: tr.t(k.label_key()), checked: all || chosen.contains(&k) })
        .collect()
}

/// How a test message went, as the page says it.
pub struct TestLine {
    pub text: String,
    /// `ok`, `error` or `info`.
    pub kind: &'static str,
}

fn test_line(tr: Tr, d: &DeliveryView) -> TestLine {
    let error = d.last_error.clone().unwrap_or_default();
    match d.state {
        DeliveryState::Sent => TestLine { text: tr.t("settings-test_sent"), kind: "ok" },
        DeliveryState::Failed => TestLine { text: tr.msg(&crate::msg!("settings-test_failed", error = error)), kind: "error" },
        _ if !error.is_empty() => TestLine { text: tr.msg(&crate::msg!("settings-test_retrying", error = error)), kind: "error" },
        _ => TestLine { text: tr.t("settings-test_pending"), kind: "info" },
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    flash: Option<Flash>,
    email: String,
    email_all: bool,
    kinds: Vec<KindBox>,
    quiet_hours: bool,
    digest: bool,
    version: i64,
    has_email: bool,
    test: Option<TestLine>,
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
    test: Option<String>,
}

fn settings_page(p: &Page, s: &SettingsView, email: String, flash: Option<Flash>, test: Option<TestLine>) -> SettingsPage {
    SettingsPage {
        c: p.chrome("settings-title"),
        flash,
        kinds: kind_boxes(p.tr(), s.email_all, &s.email_events),
        email,
        email_all: s.email_all,
        quiet_hours: s.quiet_hours,
        digest: s.digest,
        version: s.version,
        has_email: s.email.is_some(),
        test,
    }
}

/// `GET /settings`: the person's notification settings, and how his last test mail went.
pub async fn show(state: web::Data<AppState>, p: Page, q: web::Query<SettingsQuery>) -> Result<HttpResponse, PageError> {
    let (actor, lang, q) = (p.who.actor.clone(), p.lang, q.into_inner());
    let test_id = q.test.clone();
    let (s, test) = page::run(&state, lang, move |c| {
        let s = app::notifications::settings::my_settings(c, &actor)?;
        let test = test_delivery(c, &actor, test_id.as_deref());
        Ok((s, test))
    })
    .await?;
    let flash = q.saved.is_some().then(|| Flash::ok(p.tr().t("settings-saved"))).flatten();
    let test = test.map(|d| test_line(p.tr(), &d));
    Ok(html(StatusCode::OK, &settings_page(&p, &s, s.email.clone().unwrap_or_default(), flash, test)))
}

/// `POST /settings`: saves them (the version read guards against a change made meanwhile).
pub async fn save(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let email_all = form.get("email_all").is_some();
    let input = SettingsInput {
        email: form.get("email"),
        email_all,
        email_events: form.all("kind").iter().filter_map(|k| k.parse().ok()).collect(),
        quiet_hours: form.get("quiet_hours").is_some(),
        digest: form.get("digest").is_some(),
    };
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let keep = input.clone();
    let saved = page::run_write(&state, lang, move |c| {
        app::notifications::settings::save_my_settings(c, &actor, input.clone(), version, utc_now())
    })
    .await;
    match saved {
        Ok(_) => Ok(see_other("/settings?saved=1")),
        Err(PageError { err: err @ (AppError::Validation { .. } | AppError::VersionConflict { .. }), .. }) => {
            // What he typed comes back with the reason; a stale form shows the current version.
            let actor = p.who.actor.clone();
            let current = page::run(&state, lang, move |c| app::notifications::settings::my_settings(c, &actor)).await?;
            let shown = SettingsView {
                email: keep.email.clone(),
                email_all: keep.email_all,
                email_events: keep.email_events.clone(),
                quiet_hours: keep.quiet_hours,
                digest: keep.digest,
                version: current.version,
            };
            let status = crate::http::error::status_of(&err);
            let mut page = settings_page(&p, &shown, form.raw("email"), Flash::error(err.message(lang)), None);
            page.has_email = current.email.is_some();
            Ok(html(status, &page))
        }
        Err(e) => Err(e),
    }
}

/// `POST /settings/test`: a test mail to his saved address; the page then follows it.
pub async fn test(state: web::Data<AppState>, p: Page, _form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let id = page::run_write(&state, lang, move |c| app::notifications::settings::test_my_mail(c, &actor, utc_now())).await?;
    Ok(see_other(&format!("/settings?test={id}")))
}

/// A unit an admin may choose on the channels page.
pub struct UnitChoice {
    pub id: String,
    pub label: String,
    pub current: bool,
}

/// A robot or webhook as a line of the channels page.
pub struct EndpointLine {
    pub e: EndpointView,
    pub kind: String,
    pub events: String,
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    c: Chrome,
    flash: Option<Flash>,
    units: Vec<UnitChoice>,
    unit: Option<String>,
    lines: Vec<EndpointLine>,
    kinds: Vec<KindBox>,
    channel_kinds: Vec<(&'static str, String)>,
    test: Option<TestLine>,
    failed: Vec<FailedLine>,
}

/// A failed delivery about the admin's units, with the error it ended on.
pub struct FailedLine {
    pub id: String,
    pub what: String,
    pub to: String,
    pub error: String,
}

#[derive(Deserialize)]
pub struct ChannelsQuery {
    unit: Option<String>,
    test: Option<String>,
    done: Option<String>,
}

/// `GET /channels`: the robots and webhooks of a unit the admin manages (his first by default),
/// and the failed deliveries about his units.
pub async fn channels(state: web::Data<AppState>, p: Page, q: web::Query<ChannelsQuery>) -> Result<HttpResponse, PageError> {
    let (actor, lang, q) = (p.who.actor.clone(), p.lang, q.into_inner());
    let tr = p.tr();
    let (chosen, test_id) = (q.unit.clone(), q.test.clone());
    let (units, unit, endpoints, test, failed) = page::run(&state, lang, move |c| {
        let units = app::notifications::settings::channel_units(c, &actor)?;
        if units.is_empty() {
            return Err(AppError::Forbidden { detail: crate::msg!("why-channels_admin") });
        }
        let unit = chosen.filter(|u| units.iter().any(|(id, ..)| id == u)).unwrap_or_else(|| units[0].0.clone());
        let endpoints = app::notifications::settings::list_endpoints(c, &actor, &app::stored_id(&unit)?)?;
        let test = test_delivery(c, &actor, test_id.as_deref());
        let failed = app::notifications::failed_deliveries(c, &actor, Some(20))?;
        Ok((units, unit, endpoints, test, failed))
    })
    .await?;
    let units = units
        .into_iter()
        .map(|(id, name, kind)| UnitChoice { current: id == unit, label: format!("{name} · {}", tr.t(kind.label_key())), id })
        .collect();
    let lines = endpoints
        .into_iter()
        .map(|e| EndpointLine {
            kind: tr.t(e.kind.label_key()),
            events: if e.events_all {
                tr.t("channels-all_events")
            } else {
                e.events.iter().map(|k| tr.t(k.label_key())).collect::<Vec<_>>().join("、")
            },
            e,
        })
        .collect();
    let failed = failed
        .into_iter()
        .map(|d| FailedLine {
            what: format!("{} · {}", tr.t(d.kind.label_key()), tr.t(d.channel.label_key())),
            to: d.recipient.unwrap_or_default(),
            error: d.last_error.unwrap_or_default(),
            id: d.id,
        })
        .collect();
    let done = [("added", "channels-added"), ("changed", "channels-changed"), ("retried", "channels-retried")];
    let flash = page::done_flash(tr, q.done.as_deref(), &done);
    Ok(html(
        StatusCode::OK,
        &ChannelsPage {
            c: p.chrome("channels-title"),
            flash,
            units,
            unit: Some(unit),
            lines,
            kinds: kind_boxes(tr, true, &[]),
            channel_kinds: [DeliveryChannel::Wecom, DeliveryChannel::Dingtalk, DeliveryChannel::Webhook]
                .into_iter()
                .map(|k| (k.as_str(), tr.t(k.label_key())))
                .collect(),
            test: test.map(|d| test_line(tr, &d)),
            failed,
        },
    ))
}

/// How the test message named in the link went, if the link names one the person may see.
fn test_delivery(c: &mut crate::db::DbConn, actor: &crate::domain::Actor, id: Option<&str>) -> Option<DeliveryView> {
    app::named_id(id?, "delivery").and_then(|id| app::notifications::delivery(c, actor, &id)).ok()
}

fn back_to(unit: &str, done: &str) -> String {
    format!("/channels?unit={}&{done}", url::form_urlencoded::byte_serialize(unit.as_bytes()).collect::<String>())
}

/// `POST /channels/add`: a robot or webhook for the chosen unit.
pub async fn add(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let unit = form.get("unit").unwrap_or_default();
    let kind = form.get("kind").and_then(|k| k.parse::<DeliveryChannel>().ok()).ok_or_else(|| PageError {
        err: AppError::validation("kind", crate::msg!("rule-one_of", values = "wecom, dingtalk, webhook")),
        lang,
    })?;
    let kinds: Vec<NoticeKind> = form.all("kind_event").iter().filter_map(|k| k.parse().ok()).collect();
    let input = EndpointInput {
        kind,
        name: form.get("name").unwrap_or_default(),
        url: form.get("url").unwrap_or_default(),
        secret: form.get("secret"),
        events_all: form.get("events_all").is_some(),
        events: kinds,
    };
    let u = unit.clone();
    page::run_write(&state, lang, move |c| {
        app::notifications::settings::add_endpoint(c, &actor, &app::named_id(&u, "org unit")?, input.clone(), utc_now())
    })
    .await?;
    Ok(see_other(&back_to(&unit, "done=added")))
}

/// `POST /channels/{id}/change`: switched on or off, or its events chosen again.
pub async fn change(state: web::Data<AppState>, p: Page, id: IdPath<EndpointId>, form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let id = p.id(&id, "channel")?;
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok()).ok_or(PageError { err: AppError::PreconditionRequired, lang })?;
    let change = EndpointChange { active: form.get("active").map(|a| a == "true"), ..Default::default() };
    let view = page::run_write(&state, lang, move |c| {
        app::notifications::settings::change_endpoint(c, &actor, &id, change.clone(), version, utc_now())
    })
    .await?;
    Ok(see_other(&back_to(&view.org_unit_id, "done=changed")))
}

/// `POST /channels/{id}/test`: a test message now; the page then follows it.
pub async fn test_channel(state: web::Data<AppState>, p: Page, id: IdPath<EndpointId>, form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let unit = form.get("unit").unwrap_or_default();
    let id = p.id(&id, "channel")?;
    let delivery = page::run_write(&state, lang, move |c| app::notifications::settings::test_endpoint(c, &actor, &id, utc_now())).await?;
    Ok(see_other(&back_to(&unit, &format!("test={delivery}"))))
}

/// `POST /deliveries/{id}/retry`: a failed delivery sent again.
pub async fn retry(state: web::Data<AppState>, p: Page, id: IdPath<DeliveryId>, form: Form) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let unit = form.get("unit").unwrap_or_default();
    let id = p.id(&id, "delivery")?;
    page::run_write(&state, lang, move |c| app::notifications::retry_delivery(c, &actor, &id, utc_now())).await?;
    Ok(see_other(&back_to(&unit, "done=retried")))
}
