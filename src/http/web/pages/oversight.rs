//! The oversight desk (社区总览 / 督办台) of community staff and supervisors: the supervision queue
//! (督办: breached clocks still running, oldest breach first), overdue figures per holding unit,
//! every compound's open cases by state, and visit-log compliance per compound. Each number links
//! to the list behind it; each case to its (read-only for a supervisor) page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::app::board::BoardQuery;
use crate::app::{self, utc_now, AppError};
use crate::domain::sla::Stage;
use crate::domain::workflow::TicketState;
use crate::domain::Role;
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Clock, Page, PageError};

/// A case of the supervision queue.
pub struct SupervisedLine {
    pub id: String,
    pub number: String,
    pub title: String,
    pub stage: String,
    pub holder: String,
    pub breached: String,
    pub overdue: String,
    pub reminders: i32,
}

/// A holding unit's overdue figures.
pub struct OverdueLine {
    pub unit: String,
    pub now: i64,
    pub total: i64,
    pub hours: i64,
}

/// A compound's open cases: one cell per open state, each a link.
pub struct CompoundLine {
    pub name: String,
    pub cells: Vec<(i64, String)>,
    pub total: i64,
    pub total_href: String,
    pub overdue: i64,
    pub overdue_href: String,
}

/// A compound's log compliance.
pub struct ComplianceLine {
    pub name: String,
    pub workers: usize,
    pub rate: String,
    pub low: bool,
}

#[derive(Template)]
#[template(path = "oversight.html")]
struct OversightPage {
    c: Chrome,
    unit: String,
    generated: String,
    supervised: Vec<SupervisedLine>,
    supervised_more: usize,
    /// The consultation's action items past their deadline: (link, title, compound · party, due, days late).
    actions: Vec<(String, String, String, String, String)>,
    overdue: Vec<OverdueLine>,
    states: Vec<String>,
    compounds: Vec<CompoundLine>,
    /// When the compounds' figures were counted (they are shared a few seconds).
    counted: String,
    compliance: Vec<ComplianceLine>,
    compliance_range: String,
    compliance_rate: String,
}

/// The most cases of the supervision queue the page lists.
const SUPERVISED_SHOWN: usize = 100;

/// `GET /oversight`: the desk of the current role's unit (a community for its staff, a street or
/// district for a supervisor).
pub async fn oversight(state: web::Data<AppState>, p: Page) -> Result<HttpResponse, PageError> {
    let overseer = |r: Role| matches!(r, Role::CommunityStaff | Role::Supervisor);
    let grant = p
        .role
        .clone()
        .filter(|g| overseer(g.role))
        .or_else(|| p.who.actor.grants.iter().filter(|g| overseer(g.role)).min_by_key(|g| g.role).cloned());
    let Some(grant) = grant else {
        return Err(PageError { err: AppError::forbidden(crate::msg!("page-oversight_only")), lang: p.lang });
    };
    let (actor, st) = (p.who.actor.clone(), state.clone());
    let unit_id = grant.org_unit_id;
    let (unit, supervised, actions, overdue, compounds, compliance) = page::run_report(&state, actor.person_id, p.lang, move |c| {
        let now = utc_now();
        let unit = app::org::get_unit(c, &actor, &unit_id)?;
        let supervised = app::sla::supervision_queue(c, &actor, now)?;
        let actions = app::consult::overdue_actions(c, &actor, now)?;
        let overdue = app::sla::overdue_counts(c, &actor, now)?;
        let compounds = app::board::open_by_compound(c, &actor, &unit_id, now, &st.overview)?;
        let compliance =
            app::board::unit_compliance(c, st.visits(), &actor, &unit_id, BoardQuery { date: None, from: None, to: None }, now)?;
        Ok((unit, supervised, actions, overdue, compounds, compliance))
    })
    .await?;
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let holder_ids: Vec<String> = supervised.iter().map(|s| s.holder_unit_id.clone()).collect();
    let names = page::run(&state, p.lang, move |c| app::org::names_of(c, &holder_ids)).await?;
    let supervised_more = supervised.len().saturating_sub(SUPERVISED_SHOWN);
    let supervised = supervised
        .into_iter()
        .take(SUPERVISED_SHOWN)
        .map(|s| SupervisedLine {
            stage: Stage::parse(&s.stage).map(|x| tr.t(x.label_key())).unwrap_or(s.stage.clone()),
            holder: names.get(&s.holder_unit_id).cloned().unwrap_or_default(),
            breached: clock.at(&s.breached_at),
            overdue: clock.overdue_by(s.overdue_seconds),
            reminders: s.reminders,
            id: s.ticket_id,
            number: s.ticket_number,
            title: s.title,
        })
        .collect();
    let actions = actions
        .into_iter()
        .map(|a| {
            (
                format!("/consultation?compound={}#item-{}", a.compound_id, a.id),
                a.title,
                format!("{} · {}", a.compound_name, tr.t(a.responsible.label_key())),
                a.due_on.to_string(),
                tr.msg(&crate::msg!("oversight-days_late", days = a.days_overdue)),
            )
        })
        .collect();
    let overdue = overdue
        .into_iter()
        .filter(|o| o.breached_total > 0)
        .map(|o| OverdueLine { unit: o.unit_name, now: o.overdue_now, total: o.breached_total, hours: o.overdue_seconds / 3600 })
        .collect();
    let open: Vec<TicketState> = TicketState::ALL.iter().copied().filter(|s| !s.is_final()).collect();
    let open_list = open.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    let counted = clock.time_of(&compounds.counted_at);
    let compounds = compounds
        .compounds
        .iter()
        .map(|c| {
            let within = format!("/search?within={}", c.compound_id);
            CompoundLine {
                cells: c.by_state.iter().map(|(s, n)| (*n, format!("{within}&state={}", s.as_str()))).collect(),
                total: c.total,
                total_href: format!("{within}&state={open_list}"),
                overdue: c.overdue,
                overdue_href: format!("{within}&overdue=true"),
                name: c.compound_name.clone(),
            }
        })
        .collect();
    let compliance_rate = format!("{:.0}%", compliance.rate * 100.0);
    let compliance_range = format!("{} – {}", compliance.from, compliance.to);
    let compliance = compliance
        .compounds
        .into_iter()
        .map(|c| ComplianceLine { name: c.compound_name, workers: c.workers, rate: format!("{:.0}%", c.rate * 100.0), low: c.rate < 0.9 })
        .collect();
    let page = OversightPage {
        c: p.chrome("oversight-title"),
        unit: unit.name,
        generated: clock.at(&clock.now),
        supervised,
        supervised_more,
        actions,
        overdue,
        states: open.iter().map(|s| tr.t(s.label_key())).collect(),
        compounds,
        counted,
        compliance,
        compliance_range,
        compliance_rate,
    };
    Ok(html(StatusCode::OK, &page))
}
