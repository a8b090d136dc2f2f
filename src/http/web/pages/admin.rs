//! The admin's desk (管理): people and their roles (人员), the org tree (组织架构), the working
//! calendars (工作日历); and the household register's CSV import (住户导入) of those who keep it. Same use cases and access rules as the API: an admin sees and
//! changes only what lies in his scope; another's is not found. A password an admin sets is
//! generated here and shown once, on the answer to his request, never stored in the clear.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::org::{NewOrgUnit, OrgUnitChanges, OrgUnitFilter, OrgUnitView};
use crate::app::people::{NewPerson, PeopleFilter, PersonView};
use crate::app::{self, parse_id, utc_now, AppError};
use crate::domain::{CategoryId, MembershipId, OrgKind, OrgUnitId, PersonId, Role};
use crate::http::context::AppState;
use crate::http::input::IdPath;
use crate::http::web::page::{self, html, see_other, Chrome, Flash, Form, Page, PageError, Tr};

/// The admin grants of the person, or 403: these pages are an admin's.
pub(crate) fn admin_only(p: &Page) -> Result<(), PageError> {
    if p.who.actor.grants.iter().any(|g| g.role == Role::Admin) {
        Ok(())
    } else {
        Err(PageError { err: AppError::forbidden(crate::msg!("page-admin_only")), lang: p.lang })
    }
}

fn bad_id(lang: crate::app::Lang) -> PageError {
    PageError { err: AppError::NotFound { what: "org unit" }, lang }
}

/// A unit to choose in a form: its id and "name · kind".
fn unit_choices(tr: Tr, units: &[OrgUnitView]) -> Vec<(String, String)> {
    units.iter().map(|u| (u.id.clone(), format!("{} · {}", u.name, tr.t(u.kind.label_key())))).collect()
}

/// A person as a line of the people page, with his active roles (membership id, "role · unit").
pub struct PersonLine {
    pub p: PersonView,
    pub roles: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct PeoplePage {
    c: Chrome,
    flash: Option<Flash>,
    q: String,
    inactive: bool,
    people: Vec<PersonLine>,
    roles: Vec<(&'static str, String)>,
    units: Vec<(String, String)>,
    /// A password just set, shown this once: (login, password).
    shown: Option<(String, String)>,
    /// The add form's values given back after an error.
    login: String,
    name: String,
    phone: String,
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    q: Option<String>,
    inactive: Option<String>,
    done: Option<String>,
}

async fn people_page(
    state: &web::Data<AppState>,
    p: &Page,
    q: String,
    inactive: bool,
    flash: Option<Flash>,
    shown: Option<(String, String)>,
    form: Option<&Form>,
) -> Result<PeoplePage, PageError> {
    let actor = p.who.actor.clone();
    let text = q.clone();
    let (people, units) = page::run(state, p.lang, move |c| {
        let f = PeopleFilter {
            q: Some(text).filter(|t| !t.trim().is_empty()),
            include_inactive: Some(inactive),
            limit: Some(200),
            ..Default::default()
        };
        let people = app::people::list_people(c, &actor, f)?;
        let units = app::org::list_units(c, &actor, OrgUnitFilter { limit: Some(500), ..Default::default() })?;
        Ok((people, units))
    })
    .await?;
    let tr = p.tr();
    let people = people
        .into_iter()
        .map(|p| PersonLine {
            roles: p
                .memberships
                .iter()
                .filter(|m| m.active)
                .map(|m| (m.id.clone(), format!("{} · {}", tr.t(m.role.label_key()), m.org_unit_name)))
                .collect(),
            p,
        })
        .collect();
    let raw = |k: &str| form.map(|f| f.raw(k)).unwrap_or_default();
    Ok(PeoplePage {
        c: p.chrome("admin-people_title"),
        flash,
        q,
        inactive,
        people,
        roles: Role::ALL.iter().map(|r| (r.as_str(), tr.t(r.label_key()))).collect(),
        units: unit_choices(tr, &units),
        shown,
        login: raw("login"),
        name: raw("display_name"),
        phone: raw("phone"),
    })
}

/// `GET /admin/people`: the people in his scope (search by login or name), each with his roles;
/// disable or enable, reset a password; add a person.
pub async fn people(state: web::Data<AppState>, p: Page, q: web::Query<PeopleQuery>) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let q = q.into_inner();
    let done = [
        ("disabled", "admin-disabled"),
        ("enabled", "admin-enabled"),
        ("role_added", "admin-role_added"),
        ("role_ended", "admin-role_ended"),
    ];
    let flash = page::done_flash(p.tr(), q.done.as_deref(), &done);
    let page = people_page(&state, &p, q.q.unwrap_or_default(), q.inactive.is_some(), flash, None, None).await?;
    Ok(html(StatusCode::OK, &page))
}

/// `POST /admin/people/add`: a person with a first role and a generated password, shown once.
pub async fn add_person(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang, auth) = (p.who.actor.clone(), p.lang, state.settings.auth.clone());
    let password = app::passwords::temporary_password();
    let role = form.get("role").and_then(|r| r.parse::<Role>().ok());
    let Some(role) = role else {
        let page = people_page(&state, &p, String::new(), false, Flash::error(p.tr().t("admin-choose_role")), None, Some(&form)).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let input = NewPerson {
        login: form.get("login").unwrap_or_default(),
        display_name: form.get("display_name").unwrap_or_default(),
        phone: form.get("phone"),
        password: password.clone(),
        role,
        org_unit_id: form.get("org_unit_id").unwrap_or_default(),
        locale: None,
    };
    let done = page::run_write(&state, lang, move |c| app::people::create_person(c, &auth, &actor, input.clone(), utc_now())).await;
    match done {
        Ok(person) => {
            let flash = Flash::ok(p.tr().msg(&crate::msg!("admin-added", name = person.display_name.clone())));
            let page = people_page(&state, &p, person.login.clone(), false, flash, Some((person.login, password)), None).await?;
            Ok(html(StatusCode::OK, &page))
        }
        Err(PageError {
            err: err @ (AppError::Validation { .. } | AppError::Conflict { .. } | AppError::UnknownReference { .. }), ..
        }) => {
            let status = crate::http::error::status_of(&err);
            let page = people_page(&state, &p, String::new(), false, Flash::error(err.message(lang)), None, Some(&form)).await?;
            Ok(html(status, &page))
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/people/{id}/active`: disabled (his sessions end at once) or enabled again.
pub async fn set_active(state: web::Data<AppState>, p: Page, id: IdPath<PersonId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let id = p.id(&id, "person")?;
    let active = form.get("active").as_deref() == Some("true");
    page::run_write(&state, lang, move |c| app::people::set_person_active(c, &actor, &id, active, utc_now())).await?;
    Ok(see_other(if active { "/admin/people?done=enabled" } else { "/admin/people?done=disabled&inactive=1" }))
}

/// `POST /admin/people/{id}/roles`: another role for the person, at a unit in the admin's scope.
pub async fn add_role(state: web::Data<AppState>, p: Page, id: IdPath<PersonId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let id = p.id(&id, "person")?;
    let Some(role) = form.get("role").and_then(|r| r.parse::<Role>().ok()) else {
        let page = people_page(&state, &p, String::new(), false, Flash::error(p.tr().t("admin-choose_role")), None, None).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let input = app::people::NewMembership { role, org_unit_id: form.get("org_unit_id").unwrap_or_default() };
    match page::run_write(&state, lang, move |c| app::people::add_membership(c, &actor, &id, input.clone(), utc_now())).await {
        Ok(person) => Ok(see_other(&format!("/admin/people?done=role_added&q={}", person.login))),
        Err(PageError {
            err: err @ (AppError::Validation { .. } | AppError::Conflict { .. } | AppError::UnknownReference { .. }), ..
        }) => {
            let status = crate::http::error::status_of(&err);
            let page = people_page(&state, &p, String::new(), false, Flash::error(err.message(lang)), None, None).await?;
            Ok(html(status, &page))
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/people/{id}/roles/{membership}/end`: a role ended (kept for the record).
pub async fn end_role(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<PersonId>,
    membership: IdPath<MembershipId, 1>,
    _form: Form,
) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let (id, m) = (p.id(&id, "membership")?, p.id(&membership, "membership")?);
    match page::run_write(&state, lang, move |c| app::people::end_membership(c, &actor, &id, Some(&m), utc_now())).await {
        Ok(person) => Ok(see_other(&format!("/admin/people?done=role_ended&q={}", person.login))),
        Err(PageError { err: err @ AppError::Validation { .. }, .. }) => {
            let page = people_page(&state, &p, String::new(), false, Flash::error(err.message(lang)), None, None).await?;
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/people/{id}/password`: a new generated password, shown once; his sessions end.
pub async fn reset_password(state: web::Data<AppState>, p: Page, id: IdPath<PersonId>, _form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang, auth) = (p.who.actor.clone(), p.lang, state.settings.auth.clone());
    let id = p.id(&id, "person")?;
    let password = app::passwords::temporary_password();
    let pw = password.clone();
    let person = page::run_write(&state, lang, move |c| {
        app::people::reset_password(c, &auth, &actor, &id, &pw, utc_now())?;
        app::people::get_person(c, &actor, &id)
    })
    .await?;
    let flash = Flash::ok(p.tr().msg(&crate::msg!("admin-password_reset", name = person.display_name.clone())));
    let page = people_page(&state, &p, person.login.clone(), true, flash, Some((person.login, password)), None).await?;
    Ok(html(StatusCode::OK, &page))
}

/// A unit of the tree as a line.
pub struct UnitLine {
    pub id: String,
    pub name: String,
    pub code: String,
    pub kind: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin_org.html")]
struct OrgPage {
    c: Chrome,
    flash: Option<Flash>,
    unit: OrgUnitView,
    kind: String,
    /// The unit's kind's code (`compound`…): which fields its form has.
    kind_code: &'static str,
    trail: Vec<(String, String)>,
    children: Vec<UnitLine>,
    child_kinds: Vec<(&'static str, String)>,
    /// Before deactivating: how many units and role memberships close with it.
    confirm: Option<(i64, i64)>,
}

#[derive(Deserialize)]
pub struct OrgQuery {
    unit: Option<String>,
    done: Option<String>,
}

async fn org_page(
    state: &web::Data<AppState>,
    p: &Page,
    unit: Option<String>,
    flash: Option<Flash>,
    confirm: bool,
) -> Result<OrgPage, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    // His own top unit unless one is named.
    let start = unit.or_else(|| {
        p.who.actor.grants.iter().filter(|g| g.role == Role::Admin).min_by_key(|g| g.org_path.depth()).map(|g| g.org_unit_id.to_string())
    });
    let Some(start) = start else { return Err(bad_id(lang)) };
    let id: OrgUnitId = parse_id("unit", &start).map_err(|_| bad_id(lang))?;
    let (unit, trail, children, preview) = page::run(state, lang, move |c| {
        let unit = app::org::get_unit(c, &actor, &id)?;
        let row = app::org::find_unit(c, &id)?.ok_or(AppError::NotFound { what: "org unit" })?;
        // The way down from the top of his scope: the ancestors he may see.
        let mut trail_ids: Vec<String> = vec![];
        let mut prefix: Option<crate::domain::OrgPath> = None;
        for a in row.path.ids() {
            let path = match &prefix {
                None => crate::domain::OrgPath::root(a),
                Some(p) => p.child(a),
            };
            if a.to_string() != unit.id && actor.may(crate::domain::Operation::OrgUnitRead, &path) {
                trail_ids.push(a.to_string());
            }
            prefix = Some(path);
        }
        let names = app::org::names_of(c, &trail_ids)?;
        let trail: Vec<(String, String)> = trail_ids.iter().filter_map(|a| names.get(a).map(|n| (a.clone(), n.clone()))).collect();
        let children = app::org::list_units(
            c,
            &actor,
            OrgUnitFilter { parent_id: Some(unit.id.clone()), include_inactive: Some(true), limit: Some(500), ..Default::default() },
        )?;
        let preview = if confirm { Some(app::org::deactivation_preview(c, &actor, &id)?) } else { None };
        Ok((unit, trail, children, preview))
    })
    .await?;
    let tr = p.tr();
    let child_kinds =
        OrgKind::ALL.iter().filter(|k| k.may_hang_under(Some(unit.kind))).map(|k| (k.as_str(), tr.t(k.label_key()))).collect();
    Ok(OrgPage {
        c: p.chrome("admin-org_title"),
        flash,
        kind: tr.t(unit.kind.label_key()),
        kind_code: unit.kind.as_str(),
        trail,
        children: children
            .into_iter()
            .map(|u| UnitLine { kind: tr.t(u.kind.label_key()), id: u.id, name: u.name, code: u.code, active: u.active })
            .collect(),
        child_kinds,
        confirm: preview,
        unit,
    })
}

/// `GET /admin/org?unit=…`: a unit of the tree (his own top unit by default), the way down to it,
/// its children; rename or recode it, add a child, deactivate it (after seeing what closes with it).
pub async fn org(state: web::Data<AppState>, p: Page, q: web::Query<OrgQuery>) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let q = q.into_inner();
    let done = [("saved", "admin-saved"), ("added", "admin-unit_added"), ("deactivated", "admin-deactivated")];
    let flash = page::done_flash(p.tr(), q.done.as_deref(), &done);
    let page = org_page(&state, &p, q.unit, flash, false).await?;
    Ok(html(StatusCode::OK, &page))
}

fn org_back(id: &str, done: &str) -> String {
    format!("/admin/org?unit={id}&done={done}")
}

/// An error the person can mend, shown on the unit's page with the status the API would give.
async fn org_error(state: &web::Data<AppState>, p: &Page, unit: String, err: AppError) -> Result<HttpResponse, PageError> {
    let status = crate::http::error::status_of(&err);
    let page = org_page(state, p, Some(unit), Flash::error(err.message(p.lang)), false).await?;
    Ok(html(status, &page))
}

fn mendable(e: &AppError) -> bool {
    matches!(e, AppError::Validation { .. } | AppError::Conflict { .. } | AppError::VersionConflict { .. })
}

/// `POST /admin/org/{id}`: renamed, recoded (If-Match: the version the form was made from).
pub async fn save_unit(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let id = p.id(&id, "org unit")?;
    let raw = id.to_string();
    // A compound's location: two numbers or neither (a number that does not parse is refused).
    let number = |field: &str| -> Result<Option<f64>, PageError> {
        form.get(field)
            .map(|v| v.parse::<f64>().map_err(|_| PageError { err: AppError::validation(field, crate::msg!("rule-number")), lang: p.lang }))
            .transpose()
    };
    let changes = OrgUnitChanges {
        name: form.get("name"),
        code: form.get("code"),
        active: None,
        latitude: number("latitude")?,
        longitude: number("longitude")?,
    };
    change_unit(&state, &p, raw, id, &form, changes, |u| org_back(&u.id, "saved")).await
}

/// Applies a change to a unit (the form's version guards it) and goes on to `then`; a change the
/// admin can mend comes back on the unit's page with the reason.
async fn change_unit(
    state: &web::Data<AppState>,
    p: &Page,
    raw: String,
    id: OrgUnitId,
    form: &Form,
    changes: OrgUnitChanges,
    then: impl FnOnce(OrgUnitView) -> String,
) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    match page::run_write(state, lang, move |c| app::org::update_unit(c, &actor, &id, version, changes.clone(), utc_now())).await {
        Ok(u) => Ok(see_other(&then(u))),
        Err(PageError { err, .. }) if mendable(&err) => org_error(state, p, raw, err).await,
        Err(e) => Err(e),
    }
}

/// `POST /admin/org/{id}/deactivate`: without `confirm`, the page says what would close with it;
/// with it, the unit and everything below are deactivated (never deleted).
pub async fn deactivate(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let id = p.id(&id, "org unit")?;
    let raw = id.to_string();
    if form.get("confirm").is_none() {
        let page = org_page(&state, &p, Some(raw), None, true).await?;
        return Ok(html(StatusCode::OK, &page));
    }
    let changes = OrgUnitChanges { active: Some(false), ..Default::default() };
    change_unit(&state, &p, raw, id, &form, changes, |u| org_back(&u.parent_id.unwrap_or(u.id), "deactivated")).await
}

/// `POST /admin/org/{id}/add`: a child unit of a kind that may hang there.
pub async fn add_unit(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let parent = p.id(&id, "org unit")?.to_string();
    let Some(kind) = form.get("kind").and_then(|k| k.parse::<OrgKind>().ok()) else {
        return org_error(&state, &p, parent, AppError::validation("kind", crate::msg!("rule-one_of", values = "…"))).await;
    };
    let input = NewOrgUnit {
        parent_id: Some(parent.clone()),
        kind,
        code: form.get("code").unwrap_or_default(),
        name: form.get("name").unwrap_or_default(),
    };
    match page::run_write(&state, lang, move |c| app::org::create_unit(c, &actor, input.clone(), utc_now())).await {
        Ok(_) => Ok(see_other(&org_back(&parent, "added"))),
        Err(PageError { err, .. }) if mendable(&err) => org_error(&state, &p, parent, err).await,
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "admin_import.html")]
struct ImportPage {
    c: Chrome,
    flash: Option<Flash>,
    /// Each refused line: its number and why.
    errors: Vec<(String, String)>,
    key: String,
    header: String,
}

fn import_page(p: &Page, flash: Option<Flash>, errors: Vec<(String, String)>) -> ImportPage {
    ImportPage {
        c: p.chrome("admin-import_title"),
        flash,
        errors,
        key: crate::domain::Id::new().to_string(),
        header: "building_code,unit_no,room,name,phone,id_number,kind".into(),
    }
}

/// The register is kept by those who keep residents' data (grid workers, branch secretaries,
/// community staff) — not by admins, whose role holds no resident's personal data.
fn register_keeper(p: &Page) -> Result<(), PageError> {
    if p.who.actor.grants.iter().any(|g| g.role.allows(crate::domain::Operation::ResidentManage)) {
        Ok(())
    } else {
        Err(PageError { err: AppError::forbidden(crate::msg!("page-register_keepers")), lang: p.lang })
    }
}

/// `GET /residents/import`: the household register's CSV import.
pub async fn import_form(p: Page) -> Result<HttpResponse, PageError> {
    register_keeper(&p)?;
    Ok(html(StatusCode::OK, &import_page(&p, None, vec![])))
}

/// `POST /residents/import`: the uploaded CSV imported whole (the buildings in his scope), or
/// nothing imported and every bad line named. The form's key makes a second send of the same form
/// answer as the first did.
pub async fn import(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    register_keeper(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let tr = p.tr();
    let Some(file) = form.files("file").next() else {
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &import_page(&p, Flash::error(tr.t("admin-import_no_file")), vec![])));
    };
    let Ok(text) = String::from_utf8(file.bytes.clone()) else {
        let err = AppError::validation("file", crate::msg!("rule-utf8_csv"));
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &import_page(&p, Flash::error(err.message(lang)), vec![])));
    };
    if let Some(line) = crate::http::input::nul_line(&text) {
        let err = AppError::NulCharacter { field: "file".into(), line: Some(line) };
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &import_page(&p, Flash::error(err.message(lang)), vec![])));
    }
    let key = form.get("_key").filter(|k| app::idempotency::validate_key(k).is_ok());
    let hash = app::idempotency::request_hash("POST", "/residents/import", &text);
    let done = page::run_write(&state, lang, move |c| {
        if let Some(k) = &key {
            if let Some(stored) = app::idempotency::lookup(c, &actor.person_id, k, &hash)? {
                return Ok(stored.body.parse::<usize>().unwrap_or(0));
            }
        }
        let r = app::residents::import_residents(c, &actor, &text, utc_now())?;
        if let Some(k) = &key {
            app::idempotency::store(c, &actor.person_id, k, &hash, 201, &r.imported.to_string(), utc_now())?;
        }
        Ok(r.imported)
    })
    .await;
    match done {
        Ok(n) => Ok(html(StatusCode::OK, &import_page(&p, Flash::ok(tr.msg(&crate::msg!("admin-imported", count = n as i64))), vec![]))),
        Err(PageError { err: AppError::ImportRejected { errors }, .. }) => {
            let lines = errors.into_iter().map(|(line, m)| (tr.msg(&crate::msg!("admin-line", n = line as i64)), tr.msg(&m))).collect();
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &import_page(&p, Flash::error(tr.t("admin-import_rejected")), lines)))
        }
        Err(PageError { err: err @ AppError::Validation { .. }, .. }) => {
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &import_page(&p, Flash::error(err.message(lang)), vec![])))
        }
        Err(e) => Err(e),
    }
}

/// A year of a calendar as a line of the calendars page.
pub struct YearLine {
    pub calendar: String,
    pub year: i32,
    pub status: String,
    pub provisional: bool,
    pub stored: bool,
    /// "249 个工作日".
    pub working_days: String,
}

#[derive(Template)]
#[template(path = "admin_calendars.html")]
struct CalendarsPage {
    c: Chrome,
    years: Vec<YearLine>,
}

fn status_text(tr: Tr, status: crate::domain::calendar::YearStatus, stored: bool) -> String {
    let s = match status {
        crate::domain::calendar::YearStatus::Published => "YearStatus-published",
        crate::domain::calendar::YearStatus::Provisional => "YearStatus-provisional",
    };
    if stored {
        tr.t(s)
    } else {
        format!("{} · {}", tr.t(s), tr.t("admin-standing_rule"))
    }
}

/// `GET /admin/calendars`: every working calendar with its stored years and the current and next
/// year, provisional ones marked.
pub async fn calendars(state: web::Data<AppState>, p: Page) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let tr = p.tr();
    let today = crate::http::web::page::Clock::new(&state, tr).today();
    let list = app::calendars::list(&state.calendars, today).map_err(|err| PageError { err, lang: p.lang })?;
    let years = list
        .into_iter()
        .flat_map(|cal| {
            cal.years.into_iter().map(move |y| YearLine {
                status: status_text(tr, y.status, y.stored),
                provisional: y.status == crate::domain::calendar::YearStatus::Provisional,
                calendar: cal.name.clone(),
                year: y.year,
                stored: y.stored,
                working_days: tr
                    .msg(&crate::domain::text::Msg { key: "limit-working_days", args: vec![("n", i64::from(y.working_days).into())] }),
            })
        })
        .collect();
    Ok(html(StatusCode::OK, &CalendarsPage { c: p.chrome("admin-calendars_title"), years }))
}

#[derive(Template)]
#[template(path = "admin_year.html")]
struct YearPage {
    c: Chrome,
    flash: Option<Flash>,
    v: app::calendars::YearView,
    status: String,
    provisional: bool,
    holidays: String,
    workdays: String,
    source: String,
    problems: Vec<String>,
    may_publish: bool,
}

#[derive(Deserialize)]
pub struct YearQuery {
    done: Option<String>,
}

fn dates_text(d: &[chrono::NaiveDate]) -> String {
    d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
}

fn year_page(p: &Page, v: app::calendars::YearView, flash: Option<Flash>, form: Option<&Form>, problems: Vec<String>) -> YearPage {
    let tr = p.tr();
    let top = p.who.actor.grants.iter().any(|g| g.role == Role::Admin && g.org_path.depth() == 0);
    YearPage {
        c: p.chrome("admin-calendars_title"),
        flash,
        status: status_text(tr, v.status, v.stored),
        provisional: v.status == crate::domain::calendar::YearStatus::Provisional,
        holidays: form.map(|f| f.raw("holidays")).unwrap_or_else(|| dates_text(&v.holidays)),
        workdays: form.map(|f| f.raw("workdays")).unwrap_or_else(|| dates_text(&v.workdays)),
        source: form.map(|f| f.raw("source")).unwrap_or_else(|| v.source.clone().unwrap_or_default()),
        problems,
        may_publish: top,
        v,
    }
}

/// `GET /admin/calendars/{name}/{year}`: a year's days off and make-up working days, its status
/// and source; the city's top admin publishes or replaces it here.
pub async fn calendar_year(
    state: web::Data<AppState>,
    p: Page,
    path: web::Path<(String, i32)>,
    q: web::Query<YearQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (name, year) = path.into_inner();
    let st = state.clone();
    let v = page::run(&state, p.lang, move |c| app::calendars::year_view(c, &st.calendars, &name, year)).await?;
    let flash = (q.done.as_deref() == Some("published")).then(|| Flash::ok(p.tr().t("admin-year_published"))).flatten();
    Ok(html(StatusCode::OK, &year_page(&p, v, flash, None, vec![])))
}

/// Dates typed one a line, or separated by commas, spaces or Chinese commas.
fn typed_dates(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == '，' || c == '、' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `POST /admin/calendars/{name}/{year}`: publishes the year as typed (the version the form was
/// made from guards against a change meanwhile); every wrong date is named, nothing stored.
pub async fn publish_year(
    state: web::Data<AppState>,
    p: Page,
    path: web::Path<(String, i32)>,
    form: Form,
) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (name, year) = path.into_inner();
    let lang = p.lang;
    let input = app::calendars::PublishYear {
        holidays: typed_dates(&form.raw("holidays")),
        workdays: typed_dates(&form.raw("workdays")),
        status: form.get("status").and_then(|s| crate::domain::calendar::YearStatus::parse(&s)),
        source: form.get("source"),
    };
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let done =
        crate::http::api::calendars::publish_and_install(&state, lang, p.who.actor.clone(), name.clone(), year, input, version).await;
    match done {
        Ok(_) => Ok(see_other(&format!("/admin/calendars/{name}/{year}?done=published"))),
        Err(e) => {
            let err = e.err;
            let problems = match &err {
                AppError::ScheduleRejected { year, problems } => {
                    problems.iter().map(|(d, k)| app::error::schedule_problem_message(d, *year, *k, lang)).collect()
                }
                _ => vec![],
            };
            if !matches!(err, AppError::ScheduleRejected { .. } | AppError::Validation { .. } | AppError::VersionConflict { .. }) {
                return Err(PageError { err, lang });
            }
            let st = state.clone();
            let n = name.clone();
            let v = page::run(&state, lang, move |c| app::calendars::year_view(c, &st.calendars, &n, year)).await?;
            let status = crate::http::error::status_of(&err);
            Ok(html(status, &year_page(&p, v, Flash::error(err.message(lang)), Some(&form), problems)))
        }
    }
}

/// A category as the catalogue page shows it: its fields, and its limit per stage and urgency
/// (its own, or the configured default).
pub struct CategoryLine {
    pub c: app::catalogue::CategoryView,
    pub department: String,
    pub normal: bool,
    pub urgent: bool,
    /// (stage, normal limit, urgent limit, whether each is the category's own)
    pub limits: Vec<(String, String, bool, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin_catalogue.html")]
struct CataloguePage {
    c: Chrome,
    flash: Option<Flash>,
    lines: Vec<CategoryLine>,
    departments: Vec<(String, String)>,
    stages: Vec<(&'static str, String)>,
    may_change: bool,
}

#[derive(Deserialize)]
pub struct CatalogueQuery {
    done: Option<String>,
}

/// A limit as people read it ("3 working_days" → "3 个工作日"); an unknown form stays as written.
fn limit_words(tr: Tr, text: &str) -> String {
    let mut parts = text.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else { return text.to_string() };
    let Ok(n) = n.parse::<i64>() else { return text.to_string() };
    let key = match unit.trim_end_matches('s') {
        "working_day" => "limit-working_days",
        "working_hour" => "limit-working_hours",
        "working_minute" => "limit-working_minutes",
        "working_second" => "limit-working_seconds",
        "day" => "limit-days",
        "hour" => "limit-hours",
        "minute" => "limit-minutes",
        "second" => "limit-seconds",
        _ => return text.to_string(),
    };
    tr.msg(&crate::domain::text::Msg { key, args: vec![("n", n.into())] })
}

async fn catalogue_page(state: &web::Data<AppState>, p: &Page, flash: Option<Flash>) -> Result<CataloguePage, PageError> {
    use crate::domain::sla::Stage;
    let (actor, st) = (p.who.actor.clone(), state.clone());
    let (cats, departments, policies) = page::run(state, p.lang, move |c| {
        let cats = app::catalogue::list_categories(c, true)?;
        let departments =
            app::org::list_units(c, &actor, OrgUnitFilter { kind: Some(OrgKind::Department), limit: Some(500), ..Default::default() })?;
        let ids: Vec<crate::domain::CategoryId> =
            cats.iter().map(|c| c.id.parse()).collect::<Result<_, _>>().map_err(AppError::internal)?;
        let policies = app::sla::clocks::Policies::load(c, &ids)?;
        Ok((cats, departments, policies))
    })
    .await?;
    let tr = p.tr();
    let names: std::collections::HashMap<&str, &str> = departments.iter().map(|d| (d.id.as_str(), d.name.as_str())).collect();
    let mut lines = vec![];
    for c in cats {
        let mut limits = vec![];
        for stage in Stage::ALL {
            let mut cells = vec![];
            for urgent in [false, true] {
                let id = c.id.parse().map_err(|e| PageError { err: AppError::internal(e), lang: p.lang })?;
                let (_, text) = policies.limit(st.sla(), id, urgent, stage).map_err(|err| PageError { err, lang: p.lang })?;
                let default =
                    st.settings.sla.limits.get(&stage).map(|l| if urgent { l.urgent.text.clone() } else { l.normal.text.clone() });
                let own = default.as_deref() != Some(text.as_str());
                cells.push((limit_words(tr, &text), own));
            }
            let (u, n) = (cells.pop().unwrap_or_default(), cells.pop().unwrap_or_default());
            limits.push((tr.t(stage.label_key()), n.0, n.1, u.0, u.1));
        }
        lines.push(CategoryLine {
            department: c.default_department_id.as_deref().and_then(|d| names.get(d)).map(|n| n.to_string()).unwrap_or_default(),
            normal: c.urgencies.contains(&app::catalogue::Urgency::Normal),
            urgent: c.urgencies.contains(&app::catalogue::Urgency::Urgent),
            limits,
            c,
        });
    }
    Ok(CataloguePage {
        c: p.chrome("admin-catalogue_title"),
        flash,
        lines,
        departments: departments.into_iter().map(|d| (d.id, d.name)).collect(),
        stages: Stage::ALL.iter().map(|s| (s.as_str(), tr.t(s.label_key()))).collect(),
        may_change: p.who.actor.grants.iter().any(|g| g.role == Role::Admin && g.org_path.depth() == 0),
    })
}

/// `GET /admin/catalogue`: the task catalogue (任务目录): categories with their usual department,
/// urgencies and time limits per stage; the city's admin changes them.
pub async fn catalogue(state: web::Data<AppState>, p: Page, q: web::Query<CatalogueQuery>) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let done = [("saved", "admin-saved"), ("added", "admin-category_added"), ("limit", "admin-limit_set")];
    let flash = page::done_flash(p.tr(), q.done.as_deref(), &done);
    Ok(html(StatusCode::OK, &catalogue_page(&state, &p, flash).await?))
}

async fn catalogue_error(state: &web::Data<AppState>, p: &Page, err: AppError) -> Result<HttpResponse, PageError> {
    let status = crate::http::error::status_of(&err);
    Ok(html(status, &catalogue_page(state, p, Flash::error(err.message(p.lang))).await?))
}

fn urgencies_of(form: &Form) -> Vec<app::catalogue::Urgency> {
    form.all("urgency")
        .iter()
        .filter_map(|u| match u.as_str() {
            "normal" => Some(app::catalogue::Urgency::Normal),
            "urgent" => Some(app::catalogue::Urgency::Urgent),
            _ => None,
        })
        .collect()
}

fn catalogue_mendable(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Validation { .. }
            | AppError::Conflict { .. }
            | AppError::VersionConflict { .. }
            | AppError::UnknownReference { .. }
            | AppError::Forbidden { .. }
    )
}

/// `POST /admin/catalogue/add`: a new category.
pub async fn add_category(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let input = app::catalogue::NewCategory {
        code: form.get("code").unwrap_or_default(),
        name_zh: form.get("name_zh").unwrap_or_default(),
        name_en: form.get("name_en").unwrap_or_default(),
        default_department_id: form.get("default_department_id"),
        urgencies: urgencies_of(&form),
    };
    match page::run_write(&state, lang, move |c| app::catalogue::create_category(c, &actor, input.clone(), utc_now())).await {
        Ok(_) => Ok(see_other("/admin/catalogue?done=added")),
        Err(PageError { err, .. }) if catalogue_mendable(&err) => catalogue_error(&state, &p, err).await,
        Err(e) => Err(e),
    }
}

/// `POST /admin/catalogue/{id}`: names, usual department, urgencies, in use or not (the version
/// the form was made from guards against a change meanwhile).
pub async fn save_category(state: web::Data<AppState>, p: Page, id: IdPath<CategoryId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let id = p.id(&id, "category")?;
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let changes = app::catalogue::CategoryChanges {
        name_zh: form.get("name_zh"),
        name_en: form.get("name_en"),
        default_department_id: Some(form.get("default_department_id").unwrap_or_default()),
        urgencies: Some(urgencies_of(&form)),
        active: Some(form.get("active").is_some()),
    };
    match page::run_write(&state, lang, move |c| app::catalogue::update_category(c, &actor, &id, version, changes.clone(), utc_now())).await
    {
        Ok(_) => Ok(see_other("/admin/catalogue?done=saved")),
        Err(PageError { err, .. }) if catalogue_mendable(&err) => catalogue_error(&state, &p, err).await,
        Err(e) => Err(e),
    }
}

/// `POST /admin/catalogue/{id}/limit`: the category's own limit for a stage and urgency; the
/// open deadlines it governs are recomputed from now on.
pub async fn set_limit(state: web::Data<AppState>, p: Page, id: IdPath<CategoryId>, form: Form) -> Result<HttpResponse, PageError> {
    admin_only(&p)?;
    let (actor, lang, st) = (p.who.actor.clone(), p.lang, state.clone());
    // A segment that is no id is the missing category, answered where the use case answers it.
    let id = id.into_option();
    let stage = form.get("stage").and_then(|s| crate::domain::sla::Stage::parse(&s));
    let Some(stage) = stage else {
        return catalogue_error(&state, &p, AppError::validation("stage", crate::msg!("rule-one_of", values = "…"))).await;
    };
    let change = app::sla::LimitChange {
        stage,
        urgency: if form.get("urgency").as_deref() == Some("urgent") {
            app::catalogue::Urgency::Urgent
        } else {
            app::catalogue::Urgency::Normal
        },
        limit: form.get("limit").unwrap_or_default(),
    };
    match page::run_write(&state, lang, move |c| app::sla::set_category_limit(c, st.sla(), &actor, id.as_ref(), &change, utc_now())).await {
        Ok(_) => Ok(see_other("/admin/catalogue?done=limit")),
        Err(PageError { err, .. }) if catalogue_mendable(&err) => catalogue_error(&state, &p, err).await,
        Err(e) => Err(e),
    }
}
