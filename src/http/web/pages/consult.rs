//! Three-party consultation (三方协调议事) as pages: the compound's desk (parties, candidate items,
//! the agenda with the meeting form, the action list with progress, what was done, the meetings),
//! a meeting's record with its sign-off, and the results list (业绩清单) — public, printable, with
//! no personal data. The same use cases as the API (`app::consult`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::app::consult::{
    self as uc, Attendees, CompanyView, ItemDecision, ItemDrop, ItemView, MeetingLine, MeetingView, NewCompany, NewItem, NewMeeting,
    NewNote, Outcome, PartiesInput, PartiesView, ResultsQuery, ResultsView,
};
use crate::app::{self, utc_now, AppError};
use crate::domain::consult::{ItemState, Party, Timeliness};
use crate::domain::{ConsultItemId, MeetingId, OrgKind, OrgUnitId, Role};
use crate::http::context::AppState;
use crate::http::input::IdPath;
use crate::http::web::page::{self, anonymous_lang, html, see_other, Chrome, Clock, Flash, Form, Page, PageError, Tr};

/// A candidate item as the desk shows it.
pub struct CandidateLine {
    pub category_id: String,
    pub category_name: String,
    pub reasons: Vec<String>,
    pub tickets: Vec<(String, String, String)>,
    pub ticket_ids: String,
}

/// An item as a line of the desk, its words ready.
pub struct ItemLine {
    pub id: String,
    pub title: String,
    pub detail: String,
    pub state: String,
    /// On time, overdue…; the state for an item without a deadline.
    pub standing: String,
    pub late: bool,
    /// A running action past its warning time (临期), and when it warns or warned.
    pub soon: bool,
    pub warn_at: String,
    /// Late and under the community's supervision (督办).
    pub supervised: bool,
    pub responsible: String,
    pub due_on: String,
    pub meeting: Option<(String, String)>,
    pub decision: Option<String>,
    pub tickets: Vec<(String, String, String)>,
    /// (when, who, what)
    pub notes: Vec<(String, String, String)>,
    pub closed_at: String,
    pub outcome: Option<String>,
    pub version: i64,
    /// A done action (its tickets may be solved by it).
    pub done: bool,
    /// Its photos' ids (evidence of the action).
    pub photos: Vec<String>,
    /// The person may record progress and completion (the branch, or the responsible party's
    /// representative); set by the page.
    pub may_act: bool,
    /// The meeting form's fields for this item as last sent: choice, decision, responsible, due, reason.
    pub choice: String,
    pub decision_draft: String,
    pub responsible_draft: String,
    pub due_draft: String,
    pub reason_draft: String,
}

fn dash(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "—".into())
}

fn item_line(i: ItemView, tr: Tr, clock: &Clock, draft: &HashMap<String, String>) -> ItemLine {
    let get = |prefix: &str| draft.get(&format!("{prefix}-{}", i.id)).cloned().unwrap_or_default();
    let standing = match i.timeliness {
        Some(Timeliness::Running) if i.due_soon => tr.t("consult-due_soon"),
        Some(t) => tr.t(t.label_key()),
        None => tr.t(i.state.label_key()),
    };
    ItemLine {
        choice: match get("do").as_str() {
            c @ ("decide" | "drop") => c.to_string(),
            _ => "keep".into(),
        },
        decision_draft: get("decision"),
        responsible_draft: get("responsible"),
        due_draft: get("due"),
        reason_draft: get("reason"),
        state: tr.t(i.state.label_key()),
        late: matches!(i.timeliness, Some(Timeliness::Overdue | Timeliness::Late)),
        soon: i.due_soon,
        done: i.state == ItemState::Done,
        photos: i.photos.iter().map(|p| p.id.clone()).collect(),
        warn_at: if i.state == ItemState::Action { i.warn_at.map(|t| clock.at(&t)).unwrap_or_default() } else { String::new() },
        supervised: i.state == ItemState::Action && i.breached_at.is_some(),
        standing,
        responsible: i.responsible.map(|p| tr.t(p.label_key())).unwrap_or_default(),
        due_on: dash(i.due_on),
        meeting: i.meeting_id.map(|m| (m, dash(i.held_on))),
        tickets: i.tickets.into_iter().map(|t| (t.id, t.number, t.title)).collect(),
        notes: i.notes.into_iter().map(|n| (clock.at(&n.created_at), n.author_name, n.body)).collect(),
        closed_at: i.closed_at.map(|t| clock.at(&t)).unwrap_or_default(),
        id: i.id,
        title: i.title,
        detail: i.detail,
        decision: i.decision,
        outcome: i.outcome,
        version: i.version,
        may_act: false,
    }
}

#[derive(Template)]
#[template(path = "consult.html")]
struct DeskPage {
    c: Chrome,
    flash: Option<Flash>,
    compound_id: String,
    compound_name: String,
    may_manage: bool,
    /// A party's representative: no evaluations link.
    representative: bool,
    parties: PartiesView,
    /// Term and contract as words: "2024-01-01 – 2027-12-31", empty when neither end is known.
    term: String,
    contract: String,
    companies: Vec<CompanyView>,
    candidates: Vec<CandidateLine>,
    agenda: Vec<ItemLine>,
    actions: Vec<ItemLine>,
    closed: Vec<ItemLine>,
    meetings: Vec<MeetingLine>,
    today: String,
    /// The results ledger's default period (last month, `YYYY-MM`) and how a period is written.
    last_month: String,
    period_hint: String,
    /// (code, label, the attendees as last sent)
    parties_list: Vec<(&'static str, String, String)>,
    /// The meeting form as last sent (kept when it was refused).
    draft: HashMap<String, String>,
}

impl DeskPage {
    fn v(&self, name: &str) -> String {
        self.draft.get(name).cloned().unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct DeskQuery {
    compound: Option<String>,
    done: Option<String>,
}

/// The compound a page is about: the one named, else the compound of the role the person works
/// in now (a secretary's, a representative's), else (he follows several) none — he picks one.
fn compound_of(p: &Page, named: Option<&str>) -> Result<Option<OrgUnitId>, PageError> {
    if let Some(n) = named.filter(|n| !n.is_empty()) {
        return app::named_id(n, "compound").map(Some).map_err(|err| PageError { err, lang: p.lang });
    }
    Ok(p.role
        .as_ref()
        .filter(|g| g.org_kind == OrgKind::Compound && (g.role == Role::BranchSecretary || g.role.represents().is_some()))
        .map(|g| g.org_unit_id))
}

const DONE: &[(&str, &str)] = &[
    ("parties", "consult-done_parties"),
    ("company", "consult-done_company"),
    ("item", "consult-done_item"),
    ("meeting", "consult-done_meeting"),
    ("note", "consult-done_note"),
    ("complete", "consult-done_complete"),
    ("drop", "consult-done_drop"),
    ("photo", "consult-done_photo"),
];

/// `GET /consultation`: the compound's consultation desk, or the choice of a compound.
pub async fn desk(state: web::Data<AppState>, p: Page, q: web::Query<DeskQuery>) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let flash = page::done_flash(p.tr(), q.done.as_deref(), DONE);
    desk_page(&state, &p, q.compound.as_deref(), flash, HashMap::new(), StatusCode::OK).await
}

async fn desk_page(
    state: &AppState,
    p: &Page,
    compound: Option<&str>,
    flash: Option<Flash>,
    draft: HashMap<String, String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let Some(compound) = compound_of(p, compound)? else {
        let list = page::run(state, lang, move |c| uc::compounds(c, &actor)).await?;
        if list.is_empty() {
            return Err(PageError { err: AppError::forbidden(crate::msg!("consult-no_compound")), lang });
        }
        let page = PickPage { c: p.chrome("consult-title"), compounds: list.into_iter().map(|(id, n)| (id.to_string(), n)).collect() };
        return Ok(html(StatusCode::OK, &page));
    };
    let d = page::run(state, lang, move |c| uc::desk(c, &actor, &compound, lang, utc_now())).await?;
    let tr = p.tr();
    let clock = Clock::new(state, tr);
    let local_today = clock.now.and_utc().with_timezone(&clock.tz).date_naive();
    let today = local_today.to_string();
    // The results ledger's default period: last month, as the results list's own default.
    let first = local_today.with_day(1).unwrap_or(local_today);
    let last_month = (first - chrono::Duration::days(1)).format("%Y-%m").to_string();
    let candidates = d
        .candidates
        .into_iter()
        .map(|c| CandidateLine {
            ticket_ids: c.tickets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(","),
            category_id: c.category_id,
            category_name: c.category_name,
            reasons: c.reasons.iter().map(|r| tr.t(r.label_key())).collect(),
            tickets: c.tickets.into_iter().map(|t| (t.id, t.number, t.title)).collect(),
        })
        .collect();
    let (mut agenda, mut actions, mut closed) = (vec![], vec![], vec![]);
    let mut items = d.items;
    // The action list: the earliest deadline first.
    items.sort_by_key(|i| i.due_at);
    for i in items {
        let state = i.state;
        let may_act = d.may_manage || i.responsible.is_some_and(|p| d.acts_for.contains(&p));
        let mut line = item_line(i, tr, &clock, &draft);
        line.may_act = may_act;
        match state {
            ItemState::Agenda => agenda.push(line),
            ItemState::Action => actions.push(line),
            _ => closed.push(line),
        }
    }
    let span = |a: Option<NaiveDate>, b: Option<NaiveDate>| {
        if a.is_none() && b.is_none() {
            String::new()
        } else {
            format!("{} – {}", dash(a), dash(b))
        }
    };
    let page = DeskPage {
        c: p.chrome("consult-title"),
        flash,
        compound_id: d.compound.id.to_string(),
        compound_name: d.compound.name,
        may_manage: d.may_manage,
        representative: !d.acts_for.is_empty() && !d.may_manage,
        term: span(d.parties.term_start, d.parties.term_end),
        contract: span(d.parties.contract_start, d.parties.contract_end),
        parties: d.parties,
        companies: d.companies,
        candidates,
        agenda,
        actions,
        closed,
        meetings: d.meetings,
        today,
        period_hint: tr.msg(&crate::msg!(
            "consult-results_period_hint",
            quarter = format!("{}-Q{}", local_today.year(), local_today.month0() / 3 + 1)
        )),
        last_month,
        parties_list: Party::ALL
            .iter()
            .map(|p| (p.as_str(), tr.t(p.label_key()), draft.get(&format!("attend-{}", p.as_str())).cloned().unwrap_or_default()))
            .collect(),
        draft,
    };
    Ok(html(status, &page))
}

#[derive(Template)]
#[template(path = "consult_pick.html")]
struct PickPage {
    c: Chrome,
    compounds: Vec<(String, String)>,
}

/// Runs a page's change; a refusal the person can mend (bad input, a conflict, an unknown
/// reference) shows the desk again with the message and what he typed.
async fn change<T, F>(state: &AppState, p: &Page, compound: &str, form: &Form, done: &str, f: F) -> Result<HttpResponse, PageError>
where
    T: Send + 'static,
    F: FnMut(&mut crate::db::DbConn) -> app::AppResult<T> + Send + 'static,
{
    match page::run_write(state, p.lang, f).await {
        Ok(_) => Ok(see_other(&format!("/consultation?compound={compound}&done={done}"))),
        Err(PageError {
            err:
                err @ (AppError::Validation { .. }
                | AppError::Conflict { .. }
                | AppError::UnknownReference { .. }
                | AppError::VersionConflict { .. }
                | AppError::PreconditionRequired),
            ..
        }) => {
            let status = crate::http::error::status_of(&err);
            let draft = form.fields.iter().filter(|(k, _)| k != "_csrf").cloned().collect();
            desk_page(state, p, Some(compound), Flash::error(err.message(p.lang)), draft, status).await
        }
        Err(e) => Err(e),
    }
}

fn date(form: &Form, name: &str) -> Option<NaiveDate> {
    form.get(name).and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
}

fn lines(text: &str) -> Vec<String> {
    text.split(['\n', '、', ',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn version(form: &Form) -> Option<i64> {
    form.get("version").and_then(|v| v.trim().parse().ok())
}

/// `POST /consultation/{id}/parties`: the compound's committee and company.
pub async fn save_parties(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    let compound = p.id(&id, "compound")?;
    let actor = p.who.actor.clone();
    let input = PartiesInput {
        committee_name: form.raw("committee_name"),
        committee_chair: form.raw("committee_chair"),
        committee_members: lines(&form.raw("committee_members")),
        committee_phone: form.get("committee_phone"),
        term_start: date(&form, "term_start"),
        term_end: date(&form, "term_end"),
        company_id: form.get("company_id"),
        contract_start: date(&form, "contract_start"),
        contract_end: date(&form, "contract_end"),
    };
    let v = version(&form);
    change(&state, &p, &compound.to_string(), &form, "parties", move |c| uc::set_parties(c, &actor, &compound, v, input.clone(), utc_now()))
        .await
}

/// `POST /consultation/{id}/companies`: registers a property company, then back to the desk.
pub async fn add_company(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    let compound = p.id(&id, "compound")?;
    let actor = p.who.actor.clone();
    let input = NewCompany {
        name: form.raw("name"),
        credit_code: form.raw("credit_code"),
        manager_name: form.raw("manager_name"),
        manager_phone: form.get("manager_phone"),
    };
    change(&state, &p, &compound.to_string(), &form, "company", move |c| uc::create_company(c, &actor, input.clone(), utc_now())).await
}

/// `POST /consultation/{id}/items`: an item on the agenda (by hand, or a candidate with its tickets).
pub async fn add_item(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    let compound = p.id(&id, "compound")?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let input = NewItem {
        title: form.raw("title"),
        detail: form.raw("detail"),
        category_id: form.get("category_id"),
        ticket_ids: form.raw("ticket_ids").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
    };
    change(&state, &p, &compound.to_string(), &form, "item", move |c| uc::add_item(c, &actor, &compound, input.clone(), lang, utc_now()))
        .await
}

/// `POST /consultation/{id}/meetings`: a meeting held, with a choice per agenda item: decide
/// (`do-<item>=decide` with `decision-`, `responsible-`, `due-`), drop (`do-<item>=drop` with
/// `reason-`) or leave it on the agenda.
pub async fn hold_meeting(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    let compound = p.id(&id, "compound")?;
    let actor = p.who.actor.clone();
    let tz = state.visits.tz;
    let (mut decisions, mut dropped) = (vec![], vec![]);
    for item in form.all("item") {
        match form.get(&format!("do-{item}")).as_deref() {
            Some("decide") => decisions.push(ItemDecision {
                decision: form.raw(&format!("decision-{item}")),
                responsible: form.get(&format!("responsible-{item}")).and_then(|r| Party::parse(&r)).unwrap_or(Party::PropertyCompany),
                // A missing or malformed date is the meeting's day, which the deadline rule then reads.
                due_on: date(&form, &format!("due-{item}")).or_else(|| date(&form, "held_on")).unwrap_or_default(),
                item_id: item,
            }),
            Some("drop") => dropped.push(ItemDrop { reason: form.raw(&format!("reason-{item}")), item_id: item }),
            _ => {}
        }
    }
    let Some(held_on) = date(&form, "held_on") else {
        let draft = form.fields.iter().filter(|(k, _)| k != "_csrf").cloned().collect();
        let msg = p.tr().msg(&crate::msg!("rule-date_form"));
        return desk_page(&state, &p, Some(&compound.to_string()), Flash::error(msg), draft, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let input = NewMeeting {
        held_on,
        place: form.raw("place"),
        attendees: Attendees {
            branch: lines(&form.raw("attend-branch")),
            owners_committee: lines(&form.raw("attend-owners_committee")),
            property_company: lines(&form.raw("attend-property_company")),
        },
        minutes: form.raw("minutes"),
        decisions,
        dropped,
    };
    let st = state.clone();
    change(&state, &p, &compound.to_string(), &form, "meeting", move |c| {
        uc::hold_meeting(c, &actor, &compound, input.clone(), &tz, uc::ActionCalendar::Sla(st.sla()), utc_now())
    })
    .await
}

/// The compound of an item, for the way back to its desk.
async fn item_compound(state: &AppState, p: &Page, id: ConsultItemId) -> Result<String, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let item = page::run(state, lang, move |c| uc::get_item(c, &actor, &id, lang, utc_now())).await?;
    Ok(item.compound_id)
}

/// `POST /consultation/items/{id}/note`: a progress note.
pub async fn note(state: web::Data<AppState>, p: Page, id: IdPath<ConsultItemId>, form: Form) -> Result<HttpResponse, PageError> {
    let item = p.id(&id, "consultation item")?;
    let compound = item_compound(&state, &p, item).await?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let input = NewNote { body: form.raw("body") };
    change(&state, &p, &compound, &form, "note", move |c| uc::add_note(c, &actor, &item, input.clone(), lang, utc_now())).await
}

/// `POST /consultation/items/{id}/solve-tickets`: 据此办结, the tickets of a done action solved by
/// it; the page says which were and which were not, and why. Asking again solves nothing twice.
pub async fn solve_tickets(state: web::Data<AppState>, p: Page, id: IdPath<ConsultItemId>, _form: Form) -> Result<HttpResponse, PageError> {
    let item = p.id(&id, "consultation item")?;
    let compound = item_compound(&state, &p, item).await?;
    let (actor, lang, st) = (p.who.actor.clone(), p.lang, state.clone());
    match page::run(&state, lang, move |c| uc::solve_tickets(c, st.sla(), &actor, &item, lang, utc_now())).await {
        Ok(r) => {
            let tr = p.tr();
            let mut text = tr.msg(&crate::msg!("consult-solved_summary", solved = r.solved.len(), numbers = r.solved.join("、")));
            if !r.skipped.is_empty() {
                let why: Vec<String> = r.skipped.iter().map(|s| format!("{}（{}）", s.number, s.reason)).collect();
                // Chinese runs on without a space; English needs one between the sentences.
                if lang == crate::app::Lang::En {
                    text.push(' ');
                }
                text.push_str(&tr.msg(&crate::msg!("consult-solved_skipped", skipped = r.skipped.len(), reasons = why.join("；"))));
            }
            desk_page(&state, &p, Some(&compound), Flash::ok(text), HashMap::new(), StatusCode::OK).await
        }
        Err(PageError { err: err @ AppError::Conflict { .. }, .. }) => {
            let status = crate::http::error::status_of(&err);
            desk_page(&state, &p, Some(&compound), Flash::error(err.message(lang)), HashMap::new(), status).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /consultation/items/{id}/photos`: photos as evidence of the action (a multipart form).
pub async fn upload_photos(state: web::Data<AppState>, p: Page, id: IdPath<ConsultItemId>, form: Form) -> Result<HttpResponse, PageError> {
    let item = p.id(&id, "consultation item")?;
    let lang = p.lang;
    let photos: Vec<Vec<u8>> = form.files("photo").map(|f| f.bytes.clone()).collect();
    if photos.is_empty() {
        return Err(PageError { err: AppError::validation(p.tr().t("consult-photo"), crate::msg!("rule-not_empty")), lang });
    }
    let compound = item_compound(&state, &p, item).await?;
    let cleaned = page::clean_photos(&state, photos, lang).await?;
    let (actor, store) = (p.who.actor.clone(), state.photos.clone());
    change(&state, &p, &compound, &form, "photo", move |c| {
        for photo in &cleaned {
            uc::attach_photo(c, store.as_ref(), &actor, &item, photo, utc_now())?;
        }
        Ok(())
    })
    .await
}

/// `GET /consultation/photos/{id}/{thumb|full}`: an item's photo for someone who follows its
/// compound's consultation.
pub async fn photo(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<crate::domain::ConsultPhotoId>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "photo")?;
    let thumb = page::photo_size(&path.1, p.lang)?;
    let bytes = crate::http::api::consult::photo_image(&state, p.who.actor.clone(), id, thumb, p.lang)
        .await
        .map_err(|e| PageError { err: e.err, lang: p.lang })?;
    Ok(page::jpeg(bytes))
}

/// `POST /consultation/items/{id}/complete` and `/drop`: an item ended.
pub async fn complete(state: web::Data<AppState>, p: Page, id: IdPath<ConsultItemId>, form: Form) -> Result<HttpResponse, PageError> {
    close(state, p, id, form, ItemState::Done).await
}

pub async fn drop_item(state: web::Data<AppState>, p: Page, id: IdPath<ConsultItemId>, form: Form) -> Result<HttpResponse, PageError> {
    close(state, p, id, form, ItemState::Dropped).await
}

async fn close(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<ConsultItemId>,
    form: Form,
    to: ItemState,
) -> Result<HttpResponse, PageError> {
    let item = p.id(&id, "consultation item")?;
    let compound = item_compound(&state, &p, item).await?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let input = Outcome { outcome: form.raw("outcome") };
    let v = version(&form);
    let done = if to == ItemState::Done { "complete" } else { "drop" };
    change(&state, &p, &compound, &form, done, move |c| uc::close_item(c, &actor, &item, v, to, input.clone(), lang, utc_now())).await
}

#[derive(Template)]
#[template(path = "consult_meeting.html")]
struct MeetingPage {
    c: Chrome,
    flash: Option<Flash>,
    m: MeetingView,
    items: Vec<ItemLine>,
    parties_list: Vec<(String, String)>,
    recorded_at: String,
    signed_at: String,
    may_manage: bool,
}

/// `GET /consultation/meetings/{id}`: the meeting's record, printable; sign-off for the secretary.
pub async fn meeting(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<MeetingId>,
    q: web::Query<DeskQuery>,
) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "meeting")?;
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let (m, may_manage) = page::run(&state, lang, move |c| {
        let m = uc::get_meeting(c, &actor, &id, lang, utc_now())?;
        let may = uc::may_manage(c, &actor, &m.compound_id)?;
        Ok((m, may))
    })
    .await?;
    let tr = p.tr();
    let flash = page::done_flash(tr, q.done.as_deref(), &[("signed", "consult-done_signed")]);
    let clock = Clock::new(&state, tr);
    let no_draft = HashMap::new();
    let items = m.items.iter().cloned().map(|i| item_line(i, tr, &clock, &no_draft)).collect();
    let parties_list = vec![
        (tr.t(Party::Branch.label_key()), m.attendees.branch.join("、")),
        (tr.t(Party::OwnersCommittee.label_key()), m.attendees.owners_committee.join("、")),
        (tr.t(Party::PropertyCompany.label_key()), m.attendees.property_company.join("、")),
    ];
    let recorded_at = clock.at(&m.created_at);
    let signed_at = m.signed_at.map(|t| clock.at(&t)).unwrap_or_default();
    let page = MeetingPage { c: p.chrome("consult-meeting_title"), flash, m, items, parties_list, recorded_at, signed_at, may_manage };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /consultation/meetings/{id}/sign`: the minutes signed off.
pub async fn sign(state: web::Data<AppState>, p: Page, id: IdPath<MeetingId>, form: Form) -> Result<HttpResponse, PageError> {
    let id = p.id(&id, "meeting")?;
    let actor = p.who.actor.clone();
    let v = version(&form);
    page::run_write(&state, p.lang, move |c| uc::sign_meeting(c, &actor, &id, v, utc_now())).await?;
    Ok(see_other(&format!("/consultation/meetings/{id}?done=signed")))
}

/// A line of the results list, its words ready.
pub struct ResultLine {
    pub title: String,
    pub decision: String,
    pub responsible: String,
    pub held_on: String,
    pub due_on: String,
    pub done_on: String,
    pub standing: String,
    pub late: bool,
    pub outcome: String,
    pub tickets: i64,
    pub satisfied: i64,
    pub not_satisfied: i64,
    /// "现场照片 2 张", empty without photos.
    pub photos: String,
}

#[derive(Template)]
#[template(path = "consult_results.html")]
struct ResultsPage {
    c: Chrome,
    r: ResultsView,
    lines: Vec<ResultLine>,
    computed: String,
}

/// `GET /public/results/{compound}?period=`: the results list (业绩清单) of a compound for anyone
/// (the 居民之家 screen, a printed notice): no login, no names, no phone numbers, no ticket numbers.
pub async fn public_results(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: IdPath<OrgUnitId>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, PageError> {
    let lang = anonymous_lang(&req);
    let id = id.found("compound").map_err(|err| PageError { err, lang })?;
    let tz = state.visits.tz;
    let r = page::run(&state, lang, move |c| uc::public_results(c, &id, q.into_inner(), &tz, utc_now())).await?;
    let tr = Tr(lang);
    let computed = Clock::new(&state, tr).at(&r.computed_at);
    let lines = r
        .items
        .iter()
        .map(|i| ResultLine {
            title: i.title.clone(),
            decision: i.decision.clone(),
            responsible: tr.t(i.responsible.label_key()),
            held_on: dash(i.held_on),
            due_on: i.due_on.to_string(),
            done_on: dash(i.done_on),
            standing: tr.t(i.timeliness.label_key()),
            late: matches!(i.timeliness, Timeliness::Overdue | Timeliness::Late),
            outcome: i.outcome.clone().unwrap_or_default(),
            tickets: i.tickets,
            satisfied: i.satisfied,
            not_satisfied: i.not_satisfied,
            photos: if i.photos > 0 { tr.msg(&crate::msg!("consult-photos_count", count = i.photos)) } else { String::new() },
        })
        .collect();
    let path = format!("/public/results/{id}");
    Ok(html(StatusCode::OK, &ResultsPage { c: Chrome::anonymous(lang, "consult-results_title", &path), r, lines, computed }))
}

/// A saved evaluation as the page shows it: total, verdict, its badge class, and per criterion
/// (name, weight, score, comment).
pub struct SavedEvaluation {
    pub id: String,
    pub version: i64,
    pub total: String,
    pub verdict: String,
    pub badge: &'static str,
    /// (code, name, weight, score, comment), as made.
    pub scores: Vec<(String, String, String, String, String)>,
    pub resident_score: String,
    pub comment: String,
}

/// One party's part of the evaluations page.
pub struct PartyEvaluation {
    pub party: &'static str,
    pub label: String,
    /// The committee's or company's name; empty when the compound has none on record.
    pub subject: String,
    /// (label, value) rows of the evidence.
    pub evidence: Vec<(String, String)>,
    /// This year's evaluation, if done: total, verdict, its badge class, scores (name, weight, score, comment).
    pub done: Option<SavedEvaluation>,
    /// The form's rows when not done yet: (code, name, weight).
    pub criteria: Vec<(String, String, String)>,
}

/// A line of the evaluations' history.
pub struct HistoryLine {
    pub year: i32,
    pub party: String,
    pub subject: String,
    pub total: String,
    pub verdict: String,
    pub badge: &'static str,
    pub by: String,
}

#[derive(Template)]
#[template(path = "consult_evaluations.html")]
struct EvaluationsPage {
    c: Chrome,
    flash: Option<Flash>,
    compound_id: String,
    compound_name: String,
    year: i32,
    years: Vec<i32>,
    may_manage: bool,
    parties: Vec<PartyEvaluation>,
    history: Vec<HistoryLine>,
    /// The serving company's evaluations in every compound (`party` holds the compound's name).
    company_history: Vec<HistoryLine>,
    rule: String,
}

#[derive(Deserialize)]
pub struct EvaluationsQuery {
    compound: Option<String>,
    year: Option<i32>,
    done: Option<String>,
}

fn badge(v: crate::domain::consult::Verdict) -> &'static str {
    match v {
        crate::domain::consult::Verdict::Satisfactory => "",
        crate::domain::consult::Verdict::Rectify => "warn",
        crate::domain::consult::Verdict::Replace => "late",
    }
}

/// `GET /consultation/evaluations?compound=&year=`: 两评价 with the evidence in front.
pub async fn evaluations(state: web::Data<AppState>, p: Page, q: web::Query<EvaluationsQuery>) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let flash =
        page::done_flash(p.tr(), q.done.as_deref(), &[("evaluated", "consult-done_evaluated"), ("corrected", "consult-done_corrected")]);
    evaluations_page(&state, &p, q.compound.as_deref(), q.year, flash, StatusCode::OK).await
}

async fn evaluations_page(
    state: &AppState,
    p: &Page,
    compound: Option<&str>,
    year: Option<i32>,
    flash: Option<Flash>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (actor, lang) = (p.who.actor.clone(), p.lang);
    let Some(compound) = compound_of(p, compound)? else {
        return desk_page(state, p, None, flash, HashMap::new(), status).await;
    };
    let (tz, settings) = (state.visits.tz, state.settings.evaluation.clone());
    let (d, may_manage, company_record) = page::run(state, lang, move |c| {
        let d = uc::evaluation_desk(c, &actor, &compound, uc::EvaluationQuery { year }, &settings, &tz, utc_now())?;
        let may = uc::may_manage(c, &actor, &d.compound_id)?;
        // The company's record in every compound it served (the branch choosing or keeping it).
        let record = match d.company.as_ref().and_then(|co| co.id.parse::<crate::domain::PropertyCompanyId>().ok()) {
            Some(id) => uc::company_history(c, &actor, &id)?,
            None => vec![],
        };
        Ok((d, may, record))
    })
    .await?;
    let tr = p.tr();
    let name = |zh: &str, en: &str| if lang == app::Lang::En { en.to_string() } else { zh.to_string() };
    let num = |v: f64| format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_string();
    let mut parties = vec![];
    for (party, criteria) in [(Party::OwnersCommittee, &d.committee_criteria), (Party::PropertyCompany, &d.company_criteria)] {
        let subject = match party {
            Party::OwnersCommittee => d.committee_name.clone(),
            _ => d.company.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        };
        let e = d.evidence.iter().find(|e| e.party == party);
        let evidence = e
            .map(|e| {
                vec![
                    (
                        tr.t("consult-ev_complaints"),
                        format!("{} （{} {}）", e.property_complaints, tr.t("consult-ev_year_before"), e.property_complaints_year_before),
                    ),
                    (tr.t("consult-ev_overdue"), e.property_overdue.to_string()),
                    (tr.t("consult-ev_dissatisfied"), format!("{} / {}", e.property_dissatisfied, e.property_visited)),
                    (
                        tr.t("consult-ev_actions"),
                        format!(
                            "{} {} · {} {} · {} {} · {} {}",
                            tr.t("Timeliness-on_time"),
                            e.actions_on_time,
                            tr.t("Timeliness-late"),
                            e.actions_late,
                            tr.t("Timeliness-overdue"),
                            e.actions_overdue,
                            tr.t("Timeliness-running"),
                            e.actions_running
                        ),
                    ),
                ]
            })
            .unwrap_or_default();
        let done = d.history.iter().find(|h| h.year == d.year && h.party == party).map(|h| SavedEvaluation {
            id: h.id.clone(),
            version: h.version,
            total: num(h.total),
            verdict: tr.t(h.verdict.label_key()),
            badge: badge(h.verdict),
            scores: h
                .scores
                .iter()
                .map(|s| (s.code.clone(), name(&s.name_zh, &s.name_en), num(s.weight), num(s.score), s.comment.clone()))
                .collect(),
            resident_score: h.resident_score.map(num).unwrap_or_default(),
            comment: h.comment.clone(),
        });
        parties.push(PartyEvaluation {
            party: party.as_str(),
            label: tr.t(party.label_key()),
            subject,
            evidence,
            done,
            criteria: criteria.iter().map(|c| (c.code.clone(), name(&c.name_zh, &c.name_en), num(c.weight))).collect(),
        });
    }
    let company_history: Vec<HistoryLine> = company_record
        .iter()
        .map(|h| HistoryLine {
            year: h.year,
            party: h.compound_name.clone(),
            subject: h.subject_name.clone(),
            total: num(h.total),
            verdict: tr.t(h.verdict.label_key()),
            badge: badge(h.verdict),
            by: h.evaluated_by.clone(),
        })
        .collect();
    let history = d
        .history
        .iter()
        .map(|h| HistoryLine {
            year: h.year,
            party: tr.t(h.party.label_key()),
            subject: h.subject_name.clone(),
            total: num(h.total),
            verdict: tr.t(h.verdict.label_key()),
            badge: badge(h.verdict),
            by: h.evaluated_by.clone(),
        })
        .collect();
    let this = crate::domain::consult::evaluation_year_of(
        Clock::new(state, tr).now.and_utc().with_timezone(&tz).date_naive(),
        state.settings.evaluation.year_starts_month,
    );
    let rule = tr.msg(&crate::msg!(
        "consult-evaluation_rule",
        rectify = num(d.rectify_below),
        replace = num(d.replace_below),
        resident = num(d.resident_weight * 100.0)
    ));
    let page = EvaluationsPage {
        c: p.chrome("consult-evaluations_title"),
        flash,
        compound_id: d.compound_id,
        compound_name: d.compound_name,
        year: d.year,
        years: (this - 5..=this).rev().collect(),
        may_manage,
        parties,
        history,
        company_history,
        rule,
    };
    Ok(html(status, &page))
}

/// `POST /consultation/evaluations/{id}/correct`: 更正, a saved evaluation's scores given again
/// with a reason (`If-Match` as the form's `version`).
pub async fn correct_evaluation(
    state: web::Data<AppState>,
    p: Page,
    id: IdPath<crate::domain::EvaluationId>,
    form: Form,
) -> Result<HttpResponse, PageError> {
    let evaluation = p.id(&id, "evaluation")?;
    let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<f64>().ok());
    // The criteria it was made on are the form's own fields: every `score-<code>` sent.
    let mut codes: Vec<String> = form.keys_with_prefix("score-");
    codes.sort();
    let scores = codes
        .iter()
        .map(|code| uc::ScoreInput {
            code: code.clone(),
            score: number(form.get(&format!("score-{code}"))).unwrap_or(-1.0),
            comment: form.raw(&format!("comment-{code}")),
        })
        .collect();
    let input = uc::EvaluationCorrection {
        scores,
        resident_score: number(form.get("resident_score")),
        comment: form.raw("comment"),
        reason: form.raw("reason"),
    };
    let version = form.get("version").and_then(|v| v.parse().ok());
    let (actor, settings) = (p.who.actor.clone(), state.settings.evaluation.clone());
    let result = page::run_write(&state, p.lang, move |c| {
        uc::correct_evaluation(c, &actor, &evaluation, version, input.clone(), &settings, utc_now())
    })
    .await;
    match result {
        Ok(v) => Ok(see_other(&format!("/consultation/evaluations?compound={}&year={}&done=corrected", v.compound_id, v.year))),
        Err(PageError { err: err @ (AppError::Validation { .. } | AppError::VersionConflict { .. }), .. }) => {
            let status = crate::http::error::status_of(&err);
            let flash = Flash::error(err.message(p.lang));
            let (compound, year) = (form.get("compound"), form.get("year").and_then(|y| y.parse().ok()));
            evaluations_page(&state, &p, compound.as_deref(), year, flash, status).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /consultation/{id}/evaluations`: one party rated for a year.
pub async fn evaluate(state: web::Data<AppState>, p: Page, id: IdPath<OrgUnitId>, form: Form) -> Result<HttpResponse, PageError> {
    let compound = p.id(&id, "compound")?;
    let party = form.get("party").and_then(|v| Party::parse(&v)).unwrap_or(Party::Branch);
    let year = form.get("year").and_then(|y| y.parse().ok()).unwrap_or(0);
    let criteria = state.settings.evaluation.criteria(party).to_vec();
    let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<f64>().ok());
    let scores = criteria
        .iter()
        .map(|c| uc::ScoreInput {
            code: c.code.clone(),
            // A missing or malformed score is sent as -1, which the score rule then names.
            score: number(form.get(&format!("score-{}", c.code))).unwrap_or(-1.0),
            comment: form.raw(&format!("comment-{}", c.code)),
        })
        .collect();
    let input = uc::NewEvaluation { party, year, scores, resident_score: number(form.get("resident_score")), comment: form.raw("comment") };
    let (actor, tz, settings) = (p.who.actor.clone(), state.visits.tz, state.settings.evaluation.clone());
    let result =
        page::run_write(&state, p.lang, move |c| uc::evaluate(c, &actor, &compound, input.clone(), &settings, &tz, utc_now())).await;
    match result {
        Ok(_) => Ok(see_other(&format!("/consultation/evaluations?compound={compound}&year={year}&done=evaluated"))),
        Err(PageError { err: err @ (AppError::Validation { .. } | AppError::Conflict { .. }), .. }) => {
            let status = crate::http::error::status_of(&err);
            let flash = Flash::error(err.message(p.lang));
            evaluations_page(&state, &p, Some(&compound.to_string()), Some(year).filter(|y| *y > 0), flash, status).await
        }
        Err(e) => Err(e),
    }
}
