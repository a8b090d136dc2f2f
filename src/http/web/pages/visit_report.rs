//! The visit-work ranking page (走访工作排名) of supervisors and community staff: the compounds
//! below a unit ranked on their grid workers' log compliance and their households visited on
//! time, each compound's grid workers listed with their logs (never ranked), and the visit-log
//! and supervision ledgers as downloads. The same use case as `GET /api/v1/rankings/visits`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Datelike;

use super::reports::{given, presets, Listed, RankingForm};
use crate::app::reports::ReportContext;
use crate::app::visit_report::visit_rankings;
use crate::app::{utc_now, AppError};
use crate::domain::reports::Ratio;
use crate::domain::Role;
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Clock, Flash, Page, PageError};

/// A ratio as the offices read it: "2/3 (66.67%)", "0/0 (—)".
fn ratio_text(r: &Ratio) -> String {
    match r.rate {
        Some(v) => format!("{}/{} ({:.2}%)", r.numerator, r.denominator, v * 100.0),
        None => format!("{}/{} (—)", r.numerator, r.denominator),
    }
}

/// A link with its words.
pub struct Link {
    pub name: String,
    pub href: String,
}

/// A grid worker's line: his logs, no rank.
pub struct WorkerView {
    pub name: String,
    pub grid: String,
    pub expected: i64,
    pub on_time: i64,
    pub late: i64,
    pub missing: i64,
    pub compliance: String,
}

/// A compound's line.
pub struct CompoundView {
    pub id: String,
    pub name: String,
    pub community: String,
    pub rank: String,
    pub score: String,
    pub log_compliance: String,
    pub logs_on_time: String,
    pub households: String,
    pub workers: Vec<WorkerView>,
}

/// What the figures are of, and the downloads.
pub struct Heading {
    pub unit: String,
    pub period: String,
    pub range: String,
    pub computed: String,
    pub log_compliance: String,
    pub logs_on_time: String,
    pub households: String,
    pub exports: Vec<Link>,
}

#[derive(Template)]
#[template(path = "visit_report.html")]
struct VisitReportPage {
    c: Chrome,
    flash: Option<Flash>,
    unit: String,
    period: String,
    from: String,
    to: String,
    period_hint: String,
    presets: Vec<Listed>,
    heading: Option<Heading>,
    compounds: Vec<CompoundView>,
}

fn context(state: &AppState) -> ReportContext<'_> {
    ReportContext { settings: &state.settings.reports, tz: state.visits.tz, calendars: &state.calendars }
}

/// The unit of the current role when it ranks; otherwise the use case's default.
fn default_unit(p: &Page) -> Option<String> {
    p.role.as_ref().filter(|g| matches!(g.role, Role::Supervisor | Role::CommunityStaff)).map(|g| g.org_unit_id.to_string())
}

/// `GET /rankings/visits`: the visit work of the compounds below a unit for a period (default:
/// the current role's unit, last month in China time). A bad query is answered here (400/422)
/// with the form kept.
pub async fn visit_report(state: web::Data<AppState>, p: Page, q: web::Query<RankingForm>) -> Result<HttpResponse, PageError> {
    let form = q.into_inner();
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let today = clock.today();
    let typed_unit = given(&form.unit).unwrap_or_default();
    let mut page = VisitReportPage {
        c: p.chrome("ledger-page_title"),
        flash: None,
        unit: typed_unit.clone(),
        period: form.period.clone().unwrap_or_default(),
        from: form.from.clone().unwrap_or_default(),
        to: form.to.clone().unwrap_or_default(),
        period_hint: tr.msg(&crate::msg!("rank-period_hint", quarter = format!("{}-Q4", today.year()))),
        presets: presets("/rankings/visits", tr, today, &typed_unit),
        heading: None,
        compounds: vec![],
    };
    let (actor, st) = (p.who.actor.clone(), state.clone());
    let outcome = match form.query(default_unit(&p)) {
        Ok(query) => page::run(&state, p.lang, move |c| visit_rankings(c, context(&st), st.visits(), &actor, query, utc_now())).await,
        Err(err) => Err(PageError { err, lang: p.lang }),
    };
    let r = match outcome {
        Ok(r) => r,
        Err(e) if matches!(e.err, AppError::Validation { .. } | AppError::UnknownReference { .. } | AppError::BadRequest { .. }) => {
            let status = crate::http::error::status_of(&e.err);
            page.flash = Flash::error(e.err.message(p.lang));
            return Ok(html(status, &page));
        }
        Err(e) => return Err(e),
    };
    page.unit = r.unit_id.clone();
    if page.period.trim().is_empty() && page.from.trim().is_empty() {
        page.period = r.period.clone();
    }
    page.presets = presets("/rankings/visits", tr, today, &r.unit_id);
    let visit_query = format!("within={}&from={}&to={}", r.unit_id, r.from, r.to);
    let export = |key: &'static str, path: &str, format: &str| Link {
        name: tr.msg(&match key {
            "ledger-export_visit_logs" => crate::msg!("ledger-export_visit_logs", format = format.to_string()),
            _ => crate::msg!("ledger-export_supervision", format = format.to_string()),
        }),
        href: path.to_string(),
    };
    page.heading = Some(Heading {
        unit: r.unit_name.clone(),
        period: r.period.clone(),
        range: tr.msg(&crate::msg!("rank-range", from = r.from.to_string(), to = r.to.to_string())),
        computed: clock.at(&r.computed_at),
        log_compliance: ratio_text(&r.log_compliance),
        logs_on_time: ratio_text(&r.logs_on_time),
        households: ratio_text(&r.households_on_time),
        exports: vec![
            export("ledger-export_visit_logs", &format!("/api/v1/exports/visit_logs.xlsx?{visit_query}"), "Excel"),
            export("ledger-export_visit_logs", &format!("/api/v1/exports/visit_logs.csv?{visit_query}"), "CSV"),
            export("ledger-export_supervision", &format!("/api/v1/exports/supervision.xlsx?within={}", r.unit_id), "Excel"),
            export("ledger-export_supervision", &format!("/api/v1/exports/supervision.csv?within={}", r.unit_id), "CSV"),
        ],
    });
    page.compounds = r
        .compounds
        .iter()
        .map(|c| CompoundView {
            id: c.compound_id.clone(),
            name: c.compound_name.clone(),
            community: c.community_name.clone(),
            rank: c.rank.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
            score: c.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "—".into()),
            log_compliance: ratio_text(&c.log_compliance),
            logs_on_time: ratio_text(&c.logs_on_time),
            households: ratio_text(&c.households_on_time),
            workers: c
                .workers
                .iter()
                .map(|w| WorkerView {
                    name: w.name.clone(),
                    grid: w.grid_name.clone(),
                    expected: w.expected,
                    on_time: w.on_time,
                    late: w.late,
                    missing: w.missing,
                    compliance: ratio_text(&w.log_compliance),
                })
                .collect(),
        })
        .collect();
    Ok(html(StatusCode::OK, &page))
}
