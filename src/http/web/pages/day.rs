//! The grid worker's day (网格员的一天): the households due for a visit, most overdue first, and
//! today's visit log in one form (households ticked as visited, what he saw, and any requests
//! raised on the visit); and his tickets by stage with the return visits (回访) due.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::catalogue::{CategoryView, Urgency};
use crate::app::idempotency::{request_hash, KeyRecord};
use crate::app::org::OrgUnitFilter;
use crate::app::tickets::{NewTicket, TicketFilter, TicketSummary};
use crate::app::visits::{GridVisitList, NewVisitLog, VisitLogAmendment, VisitLogView};
use crate::app::{self, utc_now, AppError, AppResult};
use crate::domain::workflow::{Channel, Satisfaction, TicketState};
use crate::domain::{OrgKind, Role, VisitLogId};
use crate::http::context::AppState;
use crate::http::web::page::{self, html, see_other, Chrome, Clock, Flash, Form, Page, PageError, Tr};

/// How many request blocks the log form shows (more are added on the phone by the script).
const REQUEST_BLOCKS: usize = 3;

/// What was typed (after an error) or the form's defaults, for the template.
#[derive(Default)]
pub struct Values(HashMap<String, Vec<String>>);

impl Values {
    fn from_form(f: &Form) -> Values {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in &f.fields {
            m.entry(k.clone()).or_default().push(v.clone());
        }
        Values(m)
    }
    pub fn get(&self, name: &str) -> String {
        self.0.get(name).and_then(|v| v.first()).cloned().unwrap_or_default()
    }
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.0.get(name).is_some_and(|v| v.iter().any(|x| x == value))
    }
    pub fn is(&self, name: &str, value: &str, default: bool) -> bool {
        match self.0.get(name) {
            Some(v) => v.iter().any(|x| x == value),
            None => default,
        }
    }
}

fn household_key(k: crate::domain::visits::HouseholdKind) -> &'static str {
    use crate::domain::visits::HouseholdKind::*;
    match k {
        Ordinary => "household-ordinary",
        ElderlyAlone => "household-elderly_alone",
        PartyMemberHousehold => "household-party_member_household",
        Disabled => "household-disabled",
        LowIncome => "household-low_income",
    }
}

/// A household as a line of the visit list.
pub struct HouseholdLine {
    pub id: String,
    pub label: String,
    pub kind: String,
    pub due: String,
    pub overdue_days: i64,
    pub visited_today: bool,
}

/// One grid of the worker's, with its form.
pub struct GridDay {
    pub id: String,
    pub name: String,
    pub log_due: String,
    pub log_due_rel: String,
    pub expected: bool,
    /// Today's log when it was filed: then the form adds to it.
    pub log: Option<(String, i64, String)>,
    pub households: Vec<HouseholdLine>,
    pub buildings: Vec<(String, String)>,
    pub client_id: String,
}

#[derive(Template)]
#[template(path = "day.html")]
struct DayPage {
    c: Chrome,
    flash: Option<Flash>,
    grids: Vec<GridDay>,
    categories: Vec<(String, String)>,
    blocks: Vec<usize>,
    v: Values,
    today: String,
    photos_hint: String,
}

#[derive(Deserialize)]
pub struct DayQuery {
    done: Option<String>,
}

struct DayData {
    lists: Vec<GridVisitList>,
    logs: Vec<Option<VisitLogView>>,
    buildings: Vec<Vec<(String, String)>>,
    categories: Vec<CategoryView>,
}

fn load_day(conn: &mut crate::db::DbConn, state: &AppState, p_actor: &crate::domain::Actor) -> AppResult<DayData> {
    let now = utc_now();
    let lists = app::visits::my_visit_list(conn, state.visits(), p_actor, now)?;
    let mut logs = vec![];
    let mut buildings = vec![];
    for g in &lists {
        logs.push(match &g.todays_log_id {
            Some(id) => Some(app::visits::get_log(conn, &state.visits, p_actor, &app::stored_id(id)?, now)?),
            None => None,
        });
        let f = OrgUnitFilter { kind: Some(OrgKind::Building), within: Some(g.grid_id.clone()), ..Default::default() };
        let units = app::org::list_units(conn, p_actor, f)?;
        buildings.push(units.into_iter().map(|u| (u.id, u.name)).collect());
    }
    let categories = app::catalogue::categories_for_filer(conn, p_actor.person_id)?;
    Ok(DayData { lists, logs, buildings, categories })
}

fn render_day(
    state: &AppState,
    p: &Page,
    d: DayData,
    flash: Option<Flash>,
    v: Values,
    error_grid: String,
    status: StatusCode,
) -> HttpResponse {
    let tr: Tr = p.tr();
    let clock = Clock::new(state, tr);
    let grids = d
        .lists
        .into_iter()
        .zip(d.logs)
        .zip(d.buildings)
        .map(|((g, log), buildings)| {
            let visited: Vec<String> = log.as_ref().map(|l| l.households.iter().map(|h| h.id.clone()).collect()).unwrap_or_default();
            let mut households: Vec<HouseholdLine> = g
                .households_due
                .iter()
                .map(|h| HouseholdLine {
                    id: h.id.clone(),
                    label: format!("{} {}-{}", h.building_name, h.unit_no, h.room),
                    kind: tr.t(household_key(h.kind)),
                    due: h.next_visit_due.format("%m-%d").to_string(),
                    overdue_days: h.overdue_days,
                    visited_today: visited.contains(&h.id),
                })
                .collect();
            households.sort_by(|a, b| b.overdue_days.cmp(&a.overdue_days).then_with(|| a.label.cmp(&b.label)));
            GridDay {
                client_id: if error_grid == g.grid_id { v.get("client_id") } else { uuid::Uuid::new_v4().to_string() },
                id: g.grid_id,
                name: g.grid_name,
                log_due: clock.at(&g.log_due_at),
                log_due_rel: clock.due(&g.log_due_at),
                expected: g.log_expected_today,
                log: log.map(|l| (l.id, l.version, clock.at(&l.created_at))),
                households,
                buildings,
            }
        })
        .collect();
    let categories = d.categories.into_iter().map(|c| (c.id, if p.lang == crate::app::Lang::En { c.name_en } else { c.name_zh })).collect();
    let page = DayPage {
        c: p.chrome("day-title"),
        flash,
        grids,
        categories,
        blocks: (0..REQUEST_BLOCKS).collect(),
        v,
        today: clock.today().to_string(),
        photos_hint: tr.msg(&crate::msg!("day-photos_hint", max = page::FORM_FILES as i64)),
    };
    html(status, &page)
}

/// `GET /day`: the grid worker's home page.
pub async fn day(state: web::Data<AppState>, p: Page, q: web::Query<DayQuery>) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let st = state.clone();
    let d = page::run(&state, p.lang, move |c| load_day(c, &st, &actor)).await?;
    let flash = match q.done.as_deref() {
        Some("log") => Flash::ok(p.tr().t("day-log_sent")),
        _ => None,
    };
    Ok(render_day(&state, &p, d, flash, Values::default(), String::new(), StatusCode::OK))
}

/// The requests of the form, each with its block's index: each block with a title or a
/// description is one.
fn requests_of(form: &Form, tr: Tr) -> Result<Vec<(usize, NewTicket)>, AppError> {
    let mut out = vec![];
    for i in 0..50 {
        let f = |name: &str| form.get(&format!("r{i}_{name}"));
        let (title, description) = (f("title"), f("description"));
        let n = i + 1;
        let field = |key: &'static str| format!("{} {n} · {}", tr.t("day-request"), tr.t(key));
        if title.is_none() && description.is_none() {
            // Photos alone are not a request: say which block lacks its words.
            if form.files(&format!("r{i}_photos")).next().is_some() {
                return Err(AppError::validation(field("field-title"), crate::msg!("rule-not_empty")));
            }
            continue;
        }
        let category_id = f("category").ok_or_else(|| AppError::validation(field("field-category"), crate::msg!("rule-not_empty")))?;
        let anonymous = f("anonymous").is_some();
        // One line is enough: a title alone is also the description, a description alone gives
        // the title its first words.
        let description = description.or_else(|| title.clone()).unwrap_or_default();
        out.push((
            i,
            NewTicket {
                category_id,
                urgency: if f("urgency").as_deref() == Some("urgent") { Urgency::Urgent } else { Urgency::Normal },
                title: title.unwrap_or_else(|| description.chars().take(30).collect()),
                description,
                building_id: f("building"),
                compound_id: None,
                address: None,
                latitude: None,
                longitude: None,
                resident_name: if anonymous { None } else { f("resident_name") },
                resident_phone: if anonymous { None } else { f("resident_phone") },
                anonymous,
                channel: Channel::Visit,
                visit_log_id: None,
            },
        ));
    }
    Ok(out)
}

/// A resident chosen from the register (the name field's suggestions, "李秀兰（1号楼 2-301）")
/// becomes his name and phone as the register holds them; any other text is a new resident's name.
fn from_register(c: &mut crate::db::DbConn, actor: &crate::domain::Actor, grid_id: &str, tickets: &mut [NewTicket]) -> AppResult<()> {
    for t in tickets.iter_mut() {
        let Some(label) = t.resident_name.clone().filter(|n| n.contains('（')) else { continue };
        if let Some((name, phone)) = app::residents::contact_from_register(c, actor, grid_id, &label)? {
            t.resident_name = Some(name);
            if t.resident_phone.is_none() {
                t.resident_phone = phone;
            }
        }
    }
    Ok(())
}

/// Attaches each request's photos to the ticket it became (`filed` in the order of `blocks`).
fn attach_photos(
    c: &mut crate::db::DbConn,
    state: &AppState,
    actor: &crate::domain::Actor,
    filed: &[String],
    photos: &[(usize, app::photos::Cleaned)],
    blocks: &[usize],
) -> AppResult<()> {
    for (block, photo) in photos {
        let ticket = blocks.iter().position(|b| b == block).and_then(|i| filed.get(i));
        let ticket = ticket.ok_or_else(|| AppError::internal_msg("a photo's request was not filed".into()))?;
        app::tickets::attach(
            c,
            state.photos.as_ref(),
            actor,
            &app::stored_id(ticket)?,
            app::tickets::PhotoKind::Request,
            photo,
            utc_now(),
        )?;
    }
    Ok(())
}

/// `POST /day/log`: files today's log (or adds to it when it was filed already), with each
/// request's photos. Sent again with the same `client_id` (a retry, an offline draft sent twice),
/// it files nothing twice.
pub async fn submit_log(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    let tr = p.tr();
    let lang = p.lang;
    let clock = Clock::new(&state, tr);
    let grid_id = form.get("grid_id").unwrap_or_default();
    let households = form.all("household");
    let result: Result<(), PageError> = async {
        let requests = requests_of(&form, tr).map_err(|err| PageError { err, lang })?;
        let blocks: Vec<usize> = requests.iter().map(|(i, _)| *i).collect();
        let tickets: Vec<NewTicket> = requests.into_iter().map(|(_, t)| t).collect();
        let mut photos: Vec<(usize, app::photos::Cleaned)> = vec![];
        for &i in &blocks {
            let sent: Vec<Vec<u8>> = form.files(&format!("r{i}_photos")).map(|f| f.bytes.clone()).collect();
            let label = format!("{} {} · {}", tr.t("day-request"), i + 1, tr.t("field-photos"));
            let cleaned = page::clean_photos(&state, sent, lang).await.map_err(|e| PageError {
                err: match e.err {
                    AppError::Validation { detail, .. } => AppError::Validation { field: label.clone(), detail },
                    other => other,
                },
                lang,
            })?;
            photos.extend(cleaned.into_iter().map(|c| (i, c)));
        }
        let visited = match form.get("households_visited") {
            Some(n) => n.parse::<i32>().map_err(|_| PageError {
                err: AppError::validation(tr.t("day-households_visited"), crate::msg!("rule-between", min = 0, max = 500)),
                lang,
            })?,
            None => households.len() as i32,
        };
        let observations = form.get("observations").unwrap_or_default();
        let actor = p.who.actor.clone();
        let st = state.clone();
        let grid = grid_id.clone();
        match (form.get("log_id"), form.get("log_version").and_then(|v| v.parse::<i64>().ok())) {
            (Some(log_id), Some(version)) => {
                let input = VisitLogAmendment {
                    households_visited: Some(visited),
                    household_ids: Some(households.clone()),
                    observations: Some(observations).filter(|o| !o.is_empty()),
                    notes: None,
                    add_tickets: tickets,
                    add_return_visits: vec![],
                };
                // Sent again (a retry, a draft sent twice), the same form adds nothing twice: its
                // client id keys the change like an Idempotency-Key.
                let body: Vec<&(String, String)> = form.fields.iter().filter(|(k, _)| k != "_csrf").collect();
                let key = KeyRecord {
                    person_id: actor.person_id,
                    key: format!("page-log-{}", form.get("client_id").unwrap_or_default().chars().take(60).collect::<String>()),
                    request_hash: request_hash("POST", "/day/log", &serde_json::to_string(&body).unwrap_or_default()),
                };
                page::run(&state, lang, move |c| {
                    app::intake::keyed_write(
                        c,
                        Some(&key),
                        200,
                        utc_now(),
                        |_| Ok(()),
                        |c, ()| {
                            let mut input = input.clone();
                            from_register(c, &actor, &grid, &mut input.add_tickets)?;
                            let added = input.add_tickets.len();
                            let log_id: VisitLogId = app::named_id(&log_id, "visit log")?;
                            let log = app::visits::amend_log(c, st.visits(), &actor, &log_id, Some(version), input, utc_now())?;
                            // The log lists its tickets in filing order: the new ones are last.
                            let filed: Vec<String> =
                                log.tickets[log.tickets.len().saturating_sub(added)..].iter().map(|t| t.id.clone()).collect();
                            attach_photos(c, &st, &actor, &filed, &photos, &blocks)?;
                            app::intake::to_body(&log)
                        },
                    )
                })
                .await?;
            }
            _ => {
                let input = NewVisitLog {
                    client_id: form.get("client_id").unwrap_or_default(),
                    grid_id: grid_id.clone(),
                    visit_date: form.get("visit_date").and_then(|d| d.parse().ok()).unwrap_or_else(|| clock.today()),
                    households_visited: visited,
                    household_ids: households.clone(),
                    observations,
                    notes: form.get("notes"),
                    tickets,
                    return_visits: vec![],
                };
                page::run_write(&state, lang, move |c| {
                    let mut input = input.clone();
                    from_register(c, &actor, &grid, &mut input.tickets)?;
                    let filed = app::visits::submit_log(c, st.visits(), &actor, input, utc_now())?;
                    // A replay (the same draft again) found the log as it was filed, photos and all.
                    if !filed.replayed {
                        let ids: Vec<String> = filed.log.tickets.iter().map(|t| t.id.clone()).collect();
                        attach_photos(c, &st, &actor, &ids, &photos, &blocks)?;
                    }
                    Ok(())
                })
                .await?;
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(see_other("/day?done=log")),
        Err(PageError { err, lang })
            if crate::http::error::status_of(&err).is_client_error() && !matches!(err, AppError::NotFound { .. }) =>
        {
            let actor = p.who.actor.clone();
            let st = state.clone();
            let d = page::run(&state, lang, move |c| load_day(c, &st, &actor)).await?;
            let status = crate::http::error::status_of(&err);
            let mut message = match &err {
                AppError::VersionConflict { .. } => tr.t("day-log_changed"),
                AppError::Validation { field, detail } => match request_field(field, tr) {
                    Some(label) => format!("{label}{}{}", if lang == crate::app::Lang::Zh { "：" } else { ": " }, tr.msg(detail)),
                    None => err.message(lang),
                },
                _ => err.message(lang),
            };
            // A browser cannot put chosen files back into a form: say so.
            if !form.files.is_empty() {
                message = format!("{message} {}", tr.t("day-photos_again"));
            }
            Ok(render_day(&state, &p, d, Flash::error(message), Values::from_form(&form), grid_id, status))
        }
        Err(e) => Err(e),
    }
}

/// A request's field as the form labels it: `tickets[1].resident_name` is "诉求 2 · 居民姓名".
fn request_field(field: &str, tr: Tr) -> Option<String> {
    let rest = field.strip_prefix("tickets[").or_else(|| field.strip_prefix("add_tickets["))?;
    let (index, name) = rest.split_once("].")?;
    let n = index.parse::<usize>().ok()? + 1;
    let key = match name {
        "category_id" => "field-category",
        "building_id" => "field-building",
        "title" => "field-title",
        "description" => "field-description",
        "resident_name" | "anonymous" => "field-resident_name",
        "resident_phone" => "field-resident_phone",
        "urgency" => "field-urgency",
        _ => return Some(format!("{} {n}", tr.t("day-request"))),
    };
    Some(format!("{} {n} · {}", tr.t("day-request"), tr.t(key)))
}

/// A ticket as a line of a list.
pub struct TicketLine {
    pub id: String,
    pub number: String,
    pub title: String,
    pub state: String,
    pub due: String,
    pub overdue: bool,
    /// The viewer's own deadline is near (预警).
    pub warning: bool,
    pub version: i64,
}

impl TicketLine {
    /// The deadline badge's class: late, near (预警) or in time.
    pub fn badge(&self) -> &'static str {
        if self.overdue {
            "late"
        } else if self.warning {
            "warn"
        } else {
            "ok"
        }
    }

    pub fn of(s: &TicketSummary, tr: Tr, clock: &Clock) -> TicketLine {
        TicketLine {
            id: s.id.to_string(),
            number: s.number.clone(),
            title: s.title.clone(),
            state: tr.t(s.state.label_key()),
            due: clock.due_opt(&s.due_at),
            overdue: s.overdue,
            warning: s.warning,
            version: s.version,
        }
    }
}

#[derive(Template)]
#[template(path = "mine.html")]
struct MinePage {
    c: Chrome,
    return_visits: Vec<TicketLine>,
    stages: Vec<(String, Vec<TicketLine>)>,
    satisfactions: Vec<(&'static str, String)>,
}

/// `GET /mine`: the tickets of his grid by stage, and the return visits due first.
pub async fn mine(state: web::Data<AppState>, p: Page) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let filter = TicketFilter { limit: Some(200), ..Default::default() };
    let list = page::run(&state, p.lang, move |c| app::tickets::list_tickets(c, &actor, filter, utc_now())).await?;
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let worker = p.role_is(Role::GridWorker);
    let return_visits =
        list.items.iter().filter(|s| worker && s.state == TicketState::Solved).map(|s| TicketLine::of(s, tr, &clock)).collect();
    let stages = TicketState::ALL
        .iter()
        .filter(|st| !(worker && **st == TicketState::Solved))
        .map(|st| {
            (tr.t(st.label_key()), list.items.iter().filter(|s| s.state == *st).map(|s| TicketLine::of(s, tr, &clock)).collect::<Vec<_>>())
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let satisfactions = Satisfaction::ALL.iter().map(|s| (s.as_str(), tr.t(s.label_key()))).collect();
    Ok(html(StatusCode::OK, &MinePage { c: p.chrome("mine-title"), return_visits, stages, satisfactions }))
}

#[derive(Deserialize)]
pub struct RegisterQuery {
    grid: String,
}

/// `GET /day/residents?grid=…`: the residents register (居民台账) of a grid as suggestions for a
/// request's resident — each his [`app::residents::register_label`] and masked phone — read
/// through the same scope as the API's resident list, fetched by the log form's script when the
/// name field is first used (the page itself stays light).
pub async fn register(state: web::Data<AppState>, p: Page, q: web::Query<RegisterQuery>) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let filter = app::residents::ResidentFilter { within: Some(q.grid.clone()), limit: Some(500), ..Default::default() };
    let list = page::run(&state, p.lang, move |c| app::residents::list_residents(c, &actor, filter)).await?;
    let items: Vec<serde_json::Value> = list
        .iter()
        .map(|r| serde_json::json!({"value": app::residents::register_label(r), "label": r.phone_masked.clone().unwrap_or_default()}))
        .collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(items))
}
