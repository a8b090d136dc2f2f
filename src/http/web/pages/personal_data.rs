//! 个人信息申请 (admin): a resident's request to see or erase his personal data (PIPL 查阅复制、
//! 删除; decision 0033). The admin enters the resident's phone and the request's reference; a
//! look-up shows everything held under it in the admin's units (the copy to hand over), an
//! erasure clears it and lists the open requests whose contact stays until they close. Both are
//! recorded in the audit trail. The same use cases as `/api/v1/personal-data/{access,erasure}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::app::personal_data::{self, ErasureReport, PersonalDataReport, SubjectRequest};
use crate::app::{utc_now, AppError};
use crate::domain::pii::Sensitive;
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Flash, Form, Page, PageError};

use super::admin::admin_only;

#[derive(Template)]
#[template(path = "admin_personal_data.html")]
struct PersonalDataPage {
    c: Chrome,
    flash: Option<Flash>,
    /// The form's values, given back after a refusal (the phone too: it is the admin's own input).
    phone: String,
    reference: String,
    note: String,
    copy: Option<PersonalDataReport>,
    erased: Option<ErasureReport>,
    /// The erasure section stays open after an erasure was refused.
    erase_open: bool,
    /// A ticket's state in words, by ticket id.
    states: Vec<(String, String)>,
}

impl PersonalDataPage {
    fn state_of(&self, id: &str) -> String {
        self.states.iter().find(|(i, _)| i == id).map(|(_, s)| s.clone()).unwrap_or_default()
    }
}

fn empty(p: &Page, flash: Option<Flash>) -> PersonalDataPage {
    PersonalDataPage {
        c: p.chrome("pii-title"),
        flash,
        phone: String::new(),
        reference: String::new(),
        note: String::new(),
        copy: None,
        erased: None,
        erase_open: false,
        states: vec![],
    }
}

/// `GET /admin/personal-data`.
pub async fn form(p: Page) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    Ok(html(StatusCode::OK, &empty(&p, None)))
}

fn request_of(form: &Form) -> SubjectRequest {
    SubjectRequest {
        phone: Sensitive::new(form.get("phone").unwrap_or_default()),
        reference: form.get("reference").unwrap_or_default(),
        note: form.get("note"),
    }
}

/// A refusal the admin can mend comes back on the page with its reason and his input.
fn mended(p: &Page, form: &Form, e: PageError, erasing: bool) -> Result<HttpResponse, PageError> {
    match e.err {
        AppError::Validation { field, detail } => {
            // The field named as the form labels it, not by its name in the API.
            let tr = p.tr();
            let label = match field.as_str() {
                "phone" | "resident_phone" => tr.t("pii-phone"),
                "reference" => tr.t("pii-reference"),
                "note" => tr.t("pii-note"),
                "confirm" => tr.t("pii-confirm"),
                _ => field,
            };
            let err = AppError::Validation { field: label, detail };
            let status = crate::http::error::status_of(&err);
            let mut page = empty(p, Flash::error(err.message(e.lang)));
            (page.phone, page.reference, page.note) = (form.raw("phone"), form.raw("reference"), form.raw("note"));
            page.erase_open = erasing;
            Ok(html(status, &page))
        }
        _ => Err(e),
    }
}

/// `POST /admin/personal-data/access`: the copy.
pub async fn access(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let input = request_of(&form);
    let actor = p.who.actor.clone();
    match page::run_write(&state, p.lang, move |c| personal_data::access(c, &actor, input.clone(), utc_now())).await {
        Ok(copy) => {
            let tr = p.tr();
            let mut page = empty(&p, Flash::ok(tr.t("pii-recorded")));
            page.states = copy.tickets.iter().map(|t| (t.id.clone(), tr.t(t.state.label_key()))).collect();
            // The form keeps the request, so that an erasure can follow the look-up.
            (page.phone, page.reference, page.note) = (form.raw("phone"), copy.reference.clone(), form.raw("note"));
            page.copy = Some(copy);
            Ok(html(StatusCode::OK, &page))
        }
        Err(e) => mended(&p, &form, e, false),
    }
}

/// `POST /admin/personal-data/erasure`: only with the box ticked that the requester's identity
/// was checked and the erasure is meant.
pub async fn erasure(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    if form.get("confirm").is_none() {
        let err = AppError::validation("confirm", crate::msg!("pii-confirm_needed"));
        return mended(&p, &form, PageError { err, lang: p.lang }, true);
    }
    let input = request_of(&form);
    let actor = p.who.actor.clone();
    match page::run_write(&state, p.lang, move |c| personal_data::erase(c, &actor, input.clone(), utc_now())).await {
        Ok(done) => {
            let tr = p.tr();
            let mut page = empty(&p, Flash::ok(tr.t("pii-erased")));
            page.states = done.open_tickets_kept.iter().map(|t| (t.id.clone(), tr.t(t.state.label_key()))).collect();
            page.reference = done.reference.clone();
            page.erased = Some(done);
            Ok(html(StatusCode::OK, &page))
        }
        Err(e) => mended(&p, &form, e, true),
    }
}
