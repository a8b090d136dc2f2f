//! 外部系统 (admin): the outside systems of the admin's scope — the 12345 platform and Open311
//! apps (decision 0032). Register one (its key, and a platform's signing secret, shown on the
//! answer only), switch it off or on, give it a new key, change its receiver, and map the
//! platform's category codes to ours. The same use cases as `/api/v1/external-clients`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::outside::clients::{self, CategoryMapEntry, ClientChange, ClientInput, ClientIssued, ClientView};
use crate::app::{self, utc_now, AppError};
use crate::domain::outside::ClientKind;
use crate::domain::{ExternalClientId, OrgKind};
use crate::http::context::AppState;
use crate::http::input::IdPath;
use crate::http::web::page::{self, html, see_other, Chrome, Flash, Form, Page, PageError};

use super::admin::admin_only;

/// A client as the page lists it.
struct ClientLine {
    c: ClientView,
    kind: String,
    /// The category map as the form's text: `platform code = our code`, one a line.
    map_text: String,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage {
    c: Chrome,
    flash: Option<Flash>,
    /// A key (and secret) just issued: shown this once.
    issued: Option<(String, String, Option<String>)>,
    lines: Vec<ClientLine>,
    /// The units a client may be scoped to, and the compounds that may take what matches nothing.
    scopes: Vec<(String, String)>,
    compounds: Vec<(String, String)>,
    kinds: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
pub struct ClientsQuery {
    done: Option<String>,
}

async fn page_of(
    state: &web::Data<AppState>,
    p: &Page,
    flash: Option<Flash>,
    issued: Option<ClientIssued>,
) -> Result<ClientsPage, PageError> {
    admin_only(p)?;
    let actor = p.who.actor.clone();
    let (list, units, cats) = page::run(state, p.lang, move |c| {
        let units = app::notifications::settings::channel_units(c, &actor)?;
        Ok((clients::list_clients(c, &actor)?, units, app::catalogue::list_categories(c, true)?))
    })
    .await?;
    let tr = p.tr();
    let code_of = |id: &str| cats.iter().find(|c| c.id == id).map(|c| c.code.clone()).unwrap_or_default();
    let lines = list
        .into_iter()
        .map(|c| ClientLine {
            kind: tr.t(c.kind.label_key()),
            map_text: c.categories.iter().map(|m| format!("{} = {}", m.code, code_of(&m.category_id))).collect::<Vec<_>>().join("\n"),
            c,
        })
        .collect();
    let scopes = units
        .iter()
        .filter(|(_, _, k)| *k != OrgKind::Department)
        .map(|(id, name, k)| (id.clone(), format!("{name} · {}", tr.t(k.label_key()))))
        .collect();
    let compounds = units.iter().filter(|(_, _, k)| *k == OrgKind::Compound).map(|(id, name, _)| (id.clone(), name.clone())).collect();
    Ok(ClientsPage {
        c: p.chrome("clients-title"),
        flash,
        issued: issued.map(|i| (i.client.name, i.api_key, i.secret)),
        lines,
        scopes,
        compounds,
        kinds: ClientKind::ALL.iter().map(|k| (k.as_str(), tr.t(k.label_key()))).collect(),
    })
}

/// `GET /admin/clients`.
pub async fn list(state: web::Data<AppState>, p: Page, q: web::Query<ClientsQuery>) -> Result<HttpResponse, PageError> {
    let done = [("changed", "clients-changed"), ("mapped", "clients-mapped")];
    let flash = page::done_flash(p.tr(), q.done.as_deref(), &done);
    Ok(html(StatusCode::OK, &page_of(&state, &p, flash, None).await?))
}

/// A refusal the admin can mend comes back on the page with its reason; anything else is an error page.
async fn mended(state: &web::Data<AppState>, p: &Page, e: PageError) -> Result<HttpResponse, PageError> {
    match e.err {
        AppError::Validation { .. } | AppError::UnknownReference { .. } | AppError::Conflict { .. } | AppError::VersionConflict { .. } => {
            let status = crate::http::error::status_of(&e.err);
            Ok(html(status, &page_of(state, p, Flash::error(e.err.message(e.lang)), None).await?))
        }
        _ => Err(e),
    }
}

/// `POST /admin/clients/add`: registers one; the page shows its key (and secret) once.
pub async fn add(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let kind = match form.get("kind").and_then(|k| k.parse::<ClientKind>().ok()) {
        Some(k) => k,
        None => {
            let err = AppError::validation("kind", crate::msg!("rule-one_of", values = "hotline, open311"));
            return mended(&state, &p, PageError { err, lang: p.lang }).await;
        }
    };
    let input = ClientInput {
        kind,
        name: form.get("name").unwrap_or_default(),
        scope_unit_id: form.get("scope_unit_id").unwrap_or_default(),
        triage_compound_id: form.get("triage_compound_id").unwrap_or_default(),
        webhook_url: form.get("webhook_url"),
    };
    let actor = p.who.actor.clone();
    match page::run_write(&state, p.lang, move |c| clients::create_client(c, &actor, input.clone(), utc_now())).await {
        Ok(issued) => {
            let flash = Flash::ok(p.tr().t("clients-added"));
            Ok(html(StatusCode::CREATED, &page_of(&state, &p, flash, Some(issued)).await?))
        }
        Err(e) => mended(&state, &p, e).await,
    }
}

/// `POST /admin/clients/{id}/change`: on or off, a new receiver, or a new key (shown once).
pub async fn change(state: web::Data<AppState>, p: Page, id: IdPath<ExternalClientId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let id = p.id(&id, "external client")?;
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let change = ClientChange {
        active: form.get("active").map(|a| a == "true"),
        webhook_url: form.fields.iter().any(|(k, _)| k == "webhook_url").then(|| form.get("webhook_url").unwrap_or_default()),
        rotate_key: form.get("rotate_key").is_some(),
        ..Default::default()
    };
    let rotate = change.rotate_key;
    let actor = p.who.actor.clone();
    match page::run_write(&state, p.lang, move |c| clients::change_client(c, &actor, &id, version, change.clone(), utc_now())).await {
        Ok(issued) if rotate => {
            let flash = Flash::ok(p.tr().t("clients-rotated"));
            Ok(html(StatusCode::OK, &page_of(&state, &p, flash, Some(issued)).await?))
        }
        Ok(_) => Ok(see_other("/admin/clients?done=changed")),
        Err(e) => mended(&state, &p, e).await,
    }
}

/// `POST /admin/clients/{id}/categories`: the category map from its text, `code = our code` a line.
pub async fn categories(state: web::Data<AppState>, p: Page, id: IdPath<ExternalClientId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let id = p.id(&id, "external client")?;
    let text = form.raw("map");
    let actor = p.who.actor.clone();
    let r = page::run_write(&state, p.lang, move |c| {
        let cats = app::catalogue::list_categories(c, false)?;
        let mut entries = vec![];
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (code, ours) =
                line.split_once('=').ok_or_else(|| AppError::validation("map", crate::msg!("why-map_line", line = (n + 1) as i64)))?;
            let ours = ours.trim();
            let cat = cats
                .iter()
                .find(|c| c.code == ours)
                .ok_or_else(|| AppError::validation("map", crate::msg!("why-map_category", code = ours)))?;
            entries.push(CategoryMapEntry { code: code.trim().to_string(), category_id: cat.id.clone() });
        }
        clients::set_categories(c, &actor, &id, entries, utc_now())
    })
    .await;
    match r {
        Ok(_) => Ok(see_other("/admin/clients?done=mapped")),
        Err(e) => mended(&state, &p, e).await,
    }
}
