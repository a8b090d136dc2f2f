//! The desk: the branch secretary's board (网格长工作台), the inbox of what waits on a person
//! ordered by deadline, and ticket search.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::app::board::{BoardQuery, LogStatus};
use crate::app::tickets::TicketFilter;
use crate::app::{self, utc_now, AppError};
use crate::domain::visits::LoopStage;
use crate::domain::workflow::TicketState;
use crate::domain::{OrgKind, Role};
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Clock, Form, Page, PageError, Tr};

use super::day::TicketLine;

/// A number on the board, with the list behind it.
pub struct Stat {
    pub label: String,
    pub value: i64,
    pub href: String,
    pub alert: bool,
}

/// A worker's log of the day, as a line of the board.
pub struct LogLine {
    pub name: String,
    pub grid: String,
    pub status: String,
    pub mark: &'static str,
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    c: Chrome,
    compound: String,
    generated: String,
    totals: Vec<Stat>,
    by_state: Vec<Stat>,
    nearest: Vec<TicketLine>,
    logs_summary: String,
    logs: Vec<LogLine>,
    loop_stages: Vec<Stat>,
    compliance: String,
}

fn loop_key(s: LoopStage) -> &'static str {
    match s {
        LoopStage::Visited => "loop-visited",
        LoopStage::FedBack => "loop-fed_back",
        LoopStage::FollowedUp => "loop-followed_up",
        LoopStage::Closed => "loop-closed",
        LoopStage::Ended => "loop-ended",
    }
}

fn loop_states(s: LoopStage) -> String {
    TicketState::ALL.iter().filter(|t| LoopStage::of(**t) == s).map(|t| t.as_str()).collect::<Vec<_>>().join(",")
}

/// `GET /board`: the board of the compound of the secretary's current role (or his first).
pub async fn board(state: web::Data<AppState>, p: Page) -> Result<HttpResponse, PageError> {
    let grant = p
        .role
        .clone()
        .filter(|g| g.org_kind == OrgKind::Compound)
        .or_else(|| p.who.actor.grants.iter().find(|g| g.role == Role::BranchSecretary && g.org_kind == OrgKind::Compound).cloned());
    let Some(grant) = grant else {
        return Err(PageError { err: AppError::forbidden(crate::msg!("page-board_compound_only")), lang: p.lang });
    };
    let compound_id = grant.org_unit_id.to_string();
    let cid = grant.org_unit_id;
    let actor = p.who.actor.clone();
    let st = state.clone();
    let b = page::run_report(&state, actor.person_id, p.lang, move |c| {
        app::board::board(c, st.visits(), &actor, &cid, BoardQuery { date: None, from: None, to: None }, utc_now())
    })
    .await?;
    let tr: Tr = p.tr();
    let clock = Clock::new(&state, tr);
    let within = format!("within={compound_id}");
    let totals = vec![
        Stat { label: tr.t("board-open"), value: b.open_tickets.total, href: format!("/search?{within}&open=1"), alert: false },
        Stat {
            label: tr.t("board-overdue"),
            value: b.open_tickets.overdue,
            href: format!("/search?{within}&overdue=true"),
            alert: b.open_tickets.overdue > 0,
        },
        Stat {
            label: tr.t("board-logs_missing"),
            value: b.logs.missing as i64,
            href: "#logs".into(),
            alert: b.logs.missing > 0 && b.logs.past_deadline,
        },
    ];
    let by_state = b
        .open_tickets
        .by_state
        .iter()
        .map(|s| Stat {
            label: format!(
                "{}{}",
                tr.t(s.state.label_key()),
                if s.overdue > 0 { format!(" · {} {}", tr.t("board-overdue"), s.overdue) } else { String::new() }
            ),
            value: s.count,
            href: format!("/search?{within}&state={}", s.state.as_str()),
            alert: s.overdue > 0,
        })
        .collect();
    let nearest = b.open_tickets.nearest_deadlines.iter().map(|s| TicketLine::of(s, tr, &clock)).collect();
    let logs = b
        .logs
        .entries
        .iter()
        .map(|w| {
            let (key, mark) = match w.status {
                LogStatus::Filed => ("log-filed", "ok"),
                LogStatus::FiledLate => ("log-filed_late", "warn"),
                LogStatus::Pending => ("log-pending", ""),
                LogStatus::Missing => ("log-missing", "late"),
                LogStatus::NotExpected => ("log-not_expected", ""),
            };
            LogLine { name: w.name.clone(), grid: w.grid_name.clone(), status: tr.t(key), mark, href: None }
        })
        .collect();
    let loop_stages = b
        .visit_requests
        .by_stage
        .iter()
        .map(|s| Stat {
            label: tr.t(loop_key(s.stage)),
            value: s.count,
            href: format!("/search?{within}&state={}", loop_states(s.stage)),
            alert: false,
        })
        .collect();
    let page = BoardPage {
        c: p.chrome("board-title"),
        compound: b.compound_name,
        generated: clock.at(&b.generated_at),
        totals,
        by_state,
        nearest,
        logs_summary: tr.msg(&crate::msg!("board-logs_summary", filed = b.logs.filed as i64, workers = b.logs.workers as i64)),
        logs,
        loop_stages,
        compliance: format!("{:.0}%", b.compliance.rate * 100.0),
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    c: Chrome,
    items: Vec<TicketLine>,
    search: bool,
    q: String,
    state: String,
    states: Vec<(&'static str, String)>,
    within: String,
    /// The buildings of the current role's unit to search within (none when too many to list).
    buildings: Vec<(String, String)>,
    /// `within` names a place that is not one of `buildings` (a link from the board).
    within_other: bool,
    category: String,
    categories: Vec<(String, String)>,
    from: String,
    to: String,
    overdue: bool,
    /// The person may look tickets up by a resident's phone (and this page is such a look-up).
    may_phone: bool,
    by_phone: bool,
    next: Option<String>,
    /// The ledger of this search's filters as CSV and as Excel (`/api/v1/exports/…`, which takes
    /// the session cookie): (address, words).
    exports: Vec<(String, String)>,
}

/// The most buildings the search form lists; a wider scope searches by words and state.
const SEARCH_BUILDINGS: usize = 300;

/// `GET /inbox`: what waits on the person in each of his roles, soonest deadline first (the
/// secretary's triage inbox).
pub async fn inbox(state: web::Data<AppState>, p: Page) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let items = page::run(&state, p.lang, move |c| app::tickets::inbox(c, &actor, Some(200), utc_now())).await?;
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let page = ListPage {
        c: p.chrome("inbox-title"),
        items: items.iter().map(|s| TicketLine::of(s, tr, &clock)).collect(),
        search: false,
        q: String::new(),
        state: String::new(),
        states: vec![],
        within: String::new(),
        buildings: vec![],
        within_other: false,
        category: String::new(),
        categories: vec![],
        from: String::new(),
        to: String::new(),
        overdue: false,
        may_phone: false,
        by_phone: false,
        next: None,
        exports: vec![],
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Clone, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    state: Option<String>,
    within: Option<String>,
    category: Option<String>,
    from: Option<String>,
    to: Option<String>,
    overdue: Option<bool>,
    open: Option<String>,
    cursor: Option<String>,
}

/// A date typed in a search form (YYYY-MM-DD), or the reason it is not one.
fn search_date(field: &'static str, v: &Option<String>, lang: crate::app::Lang) -> Result<Option<chrono::NaiveDate>, PageError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| PageError { err: AppError::validation(field, crate::msg!("rule-date")), lang }),
    }
}

/// Whether the person may look a ticket up by its resident's phone (those who may reveal it).
fn may_search_phone(p: &Page) -> bool {
    p.who.actor.grants.iter().any(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff))
}

/// `GET /search`: tickets in scope by number or words, state, building, category, filing dates,
/// overdue; cursor pages. The same filters as the API's list.
pub async fn search(state: web::Data<AppState>, p: Page, q: web::Query<SearchQuery>) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let states = match (q.state.clone().filter(|s| !s.is_empty()), q.open.is_some()) {
        (Some(s), _) => Some(s),
        (None, true) => Some(TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect::<Vec<_>>().join(",")),
        (None, false) => None,
    };
    let filter = TicketFilter {
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        state: states,
        within: q.within.clone().filter(|s| !s.is_empty()),
        category_id: q.category.clone().filter(|s| !s.is_empty()),
        from: search_date("from", &q.from, p.lang)?,
        to: search_date("to", &q.to, p.lang)?,
        overdue: q.overdue.filter(|o| *o),
        cursor: q.cursor.clone().filter(|s| !s.is_empty()),
        limit: Some(50),
        ..Default::default()
    };
    render_search(&state, &p, q, filter, false).await
}

/// `POST /search/phone`: tickets whose resident has this phone, for those who may reveal it; each
/// one found is recorded as a reveal. A form, not a link: the number never sits in an address
/// (nor in a log of addresses).
pub async fn search_phone(state: web::Data<AppState>, p: Page, form: Form) -> Result<HttpResponse, PageError> {
    if !may_search_phone(&p) {
        return Err(PageError { err: AppError::forbidden(crate::msg!("why-who_reveals")), lang: p.lang });
    }
    let phone = form.get("resident_phone").unwrap_or_default();
    let filter = TicketFilter { resident_phone: Some(crate::domain::pii::Sensitive::new(phone)), limit: Some(50), ..Default::default() };
    render_search(&state, &p, SearchQuery::default(), filter, true).await
}

/// The ledger downloads of a search: the export's filter names for the form's fields (the
/// category is `category_id` there, "open" the open states), CSV and XLSX.
fn export_links(q: &SearchQuery, tr: Tr) -> Vec<(String, String)> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    let open =
        q.open.is_some().then(|| TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect::<Vec<_>>().join(","));
    let state = q.state.clone().filter(|v| !v.trim().is_empty()).or(open);
    for (k, v) in [("q", &q.q), ("state", &state), ("within", &q.within), ("category_id", &q.category), ("from", &q.from), ("to", &q.to)] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    if q.overdue == Some(true) {
        s.append_pair("overdue", "true");
    }
    let query = s.finish();
    let sep = if query.is_empty() { "" } else { "?" };
    ["csv", "xlsx"]
        .into_iter()
        .map(|ext| {
            let label = tr.msg(&crate::msg!("xlsx-export", format = if ext == "csv" { "CSV" } else { "Excel" }));
            (format!("/api/v1/exports/tickets.{ext}{sep}{query}"), label)
        })
        .collect()
}

async fn render_search(
    state: &web::Data<AppState>,
    p: &Page,
    q: SearchQuery,
    filter: TicketFilter,
    by_phone: bool,
) -> Result<HttpResponse, PageError> {
    let actor = p.who.actor.clone();
    let person = actor.person_id;
    let unit = p.role.as_ref().map(|g| g.org_unit_id.to_string());
    let load = move |c: &mut crate::db::DbConn| {
        let list = app::tickets::list_tickets(c, &actor, filter.clone(), utc_now())?;
        let buildings = match &unit {
            Some(u) => {
                let f =
                    app::org::OrgUnitFilter { kind: Some(crate::domain::OrgKind::Building), within: Some(u.clone()), ..Default::default() };
                app::org::list_units(c, &actor, f)?
            }
            None => vec![],
        };
        let categories = app::catalogue::list_categories(c, false)?;
        Ok((list, buildings, categories))
    };
    // A look-up by phone records reveals: a write; any other search only reads.
    let (list, buildings, categories) =
        if by_phone { page::run_write(state, p.lang, load).await? } else { page::run_report(state, person, p.lang, load).await? };
    let buildings: Vec<(String, String)> =
        if buildings.len() > SEARCH_BUILDINGS { vec![] } else { buildings.into_iter().map(|u| (u.id, u.name)).collect() };
    let tr = p.tr();
    let clock = Clock::new(state, tr);
    let base = |cursor: &str| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", &q.q), ("state", &q.state), ("within", &q.within), ("category", &q.category), ("from", &q.from), ("to", &q.to)]
        {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        if q.overdue == Some(true) {
            s.append_pair("overdue", "true");
        }
        if q.open.is_some() {
            s.append_pair("open", "1");
        }
        s.append_pair("cursor", cursor);
        format!("/search?{}", s.finish())
    };
    let zh = p.lang == crate::app::Lang::Zh;
    let page = ListPage {
        c: p.chrome("search-title"),
        items: list.items.iter().map(|s| TicketLine::of(s, tr, &clock)).collect(),
        search: true,
        q: q.q.clone().unwrap_or_default(),
        state: q.state.clone().unwrap_or_default(),
        states: TicketState::ALL.iter().map(|s| (s.as_str(), tr.t(s.label_key()))).collect(),
        within: q.within.clone().unwrap_or_default(),
        within_other: q.within.as_deref().is_some_and(|w| !w.is_empty() && !buildings.iter().any(|(id, _)| id == w)),
        buildings,
        category: q.category.clone().unwrap_or_default(),
        categories: categories.into_iter().map(|c| (c.id, if zh { c.name_zh } else { c.name_en })).collect(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        overdue: q.overdue == Some(true),
        may_phone: may_search_phone(p),
        by_phone,
        next: if by_phone { None } else { list.next_cursor.as_deref().map(base) },
        // A look-up by phone is never a link (the number would sit in an address).
        exports: if by_phone { vec![] } else { export_links(&q, tr) },
    };
    Ok(html(StatusCode::OK, &page))
}
