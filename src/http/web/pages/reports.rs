//! The ranking pages (三率排名) of supervisors and community staff: a unit's children ranked per
//! peer group for a period, the red and yellow lists (红榜/黄榜) above the tables, every figure a
//! link to the items behind it (`/rankings/tickets`), and the ranking as an Excel download.
//! The same use cases as `GET /api/v1/rankings` and `/rankings/tickets`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::app::reports::{self, Count, DrillQuery, Figure, RankingQuery, Rankings, ReportContext, UnitRanking};
use crate::app::{self, utc_now, AppError};
use crate::domain::reports::{Measure, Period};
use crate::domain::Role;
use crate::http::context::AppState;
use crate::http::web::page::{self, html, Chrome, Clock, Flash, Page, PageError, Tr};

/// The ranking form as typed: every field text, so that a bad one is answered on the page with
/// the form kept (a blank field is no field).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RankingForm {
    pub(crate) unit: Option<String>,
    pub(crate) period: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    measure: Option<String>,
    /// The drill-down's page (items to skip).
    offset: Option<String>,
}

pub(crate) fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn date(field: &'static str, v: &Option<String>) -> Result<Option<NaiveDate>, AppError> {
    match given(v) {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d").map(Some).map_err(|_| AppError::validation(field, crate::msg!("rule-date"))),
    }
}

impl RankingForm {
    /// The use case's query; a typed date that is not one is refused here, with its message.
    /// The form sends the period field and both dates together: dates typed win over the period
    /// (the API, which takes one or the other, refuses both).
    pub(crate) fn query(&self, default_unit: Option<String>) -> Result<RankingQuery, AppError> {
        let dates = given(&self.from).is_some() || given(&self.to).is_some();
        Ok(RankingQuery {
            unit: given(&self.unit).or(default_unit),
            period: if dates { None } else { given(&self.period) },
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
        })
    }
}

fn context(state: &AppState) -> ReportContext<'_> {
    ReportContext { settings: &state.settings.reports, tz: state.visits.tz, calendars: &state.calendars }
}

/// The unit of the current role when it ranks (a supervisor's district, a community's staff's
/// community); otherwise the use case's default (the caller's highest unit that ranks).
fn default_unit(p: &Page) -> Option<String> {
    p.role.as_ref().filter(|g| matches!(g.role, Role::Supervisor | Role::CommunityStaff)).map(|g| g.org_unit_id.to_string())
}

/// Errors the page answers with the form kept and the message above it.
fn answered_on_the_form(e: &AppError) -> bool {
    matches!(e, AppError::Validation { .. } | AppError::UnknownReference { .. } | AppError::BadRequest { .. })
}

/// A ratio as the offices read it: "2/3 (66.67%)", "0/0 (—)".
fn ratio_text(f: &Figure) -> String {
    match f.rate {
        Some(r) => format!("{}/{} ({:.2}%)", f.numerator, f.denominator, r * 100.0),
        None => format!("{}/{} (—)", f.numerator, f.denominator),
    }
}

/// The page's address of a figure's items (the API's drill path, on the pages).
fn page_drill(api_path: &str) -> String {
    api_path.strip_prefix("/api/v1").unwrap_or(api_path).to_string()
}

/// One figure of a row: its words, the link to its items, and whether it is below the threshold.
pub struct Cell {
    pub text: String,
    pub href: String,
    pub flagged: bool,
}

impl Cell {
    fn ratio(f: &Figure, flagged: bool) -> Cell {
        Cell { text: ratio_text(f), href: page_drill(&f.drill), flagged }
    }
    fn count(c: &Count) -> Cell {
        Cell { text: c.count.to_string(), href: page_drill(&c.drill), flagged: false }
    }
}

/// A unit's line of a ranking table.
pub struct RowView {
    pub name: String,
    /// This page for the unit's own children.
    pub open_href: String,
    pub rank: String,
    pub score: String,
    pub cells: Vec<Cell>,
    pub overdue: Cell,
    pub overdue_hours: String,
    pub more: Vec<Cell>,
    /// 红榜 / 黄榜 / nothing.
    pub list: String,
    pub list_class: &'static str,
}

/// A listed unit: its name and its own ranking's address.
pub struct Listed {
    pub name: String,
    pub href: String,
}

/// A peer group: its kind, its red and yellow lists, its table.
pub struct GroupView {
    pub kind: String,
    pub red: Vec<Listed>,
    pub yellow: Vec<Listed>,
    pub rows: Vec<RowView>,
}

#[derive(Template)]
#[template(path = "rankings.html")]
struct RankingsPage {
    c: Chrome,
    flash: Option<Flash>,
    /// The form as typed (or as answered).
    unit: String,
    period: String,
    from: String,
    to: String,
    period_hint: String,
    presets: Vec<Listed>,
    /// Set when the ranking was computed.
    heading: Option<Heading>,
    groups: Vec<GroupView>,
}

/// What the ranking is of: the unit, the period, when computed, the weights and the threshold.
pub struct Heading {
    pub unit: String,
    pub period: String,
    pub range: String,
    pub computed: String,
    pub weights: String,
    pub flag_hint: String,
    pub export_href: String,
    pub export_label: String,
    /// The bulletin (通报) of the same unit and period.
    pub bulletin_href: String,
}

fn quarter_of(d: NaiveDate) -> u32 {
    d.month0() / 3 + 1
}

/// Quick choices: the months, quarters and years an office reports on most, as links.
/// The quick periods (last/this month, quarter, year) as links to the page at `path`.
pub(crate) fn presets(path: &str, tr: Tr, today: NaiveDate, unit: &str) -> Vec<Listed> {
    let last_month = Period::month_before(today).label();
    let this_quarter = (today.year(), quarter_of(today));
    let last_quarter = if this_quarter.1 == 1 { (today.year() - 1, 4) } else { (today.year(), this_quarter.1 - 1) };
    let unit_part = if unit.is_empty() { String::new() } else { format!("unit={unit}&") };
    [
        ("rank-last_month", last_month),
        ("rank-this_month", format!("{}-{:02}", today.year(), today.month())),
        ("rank-last_quarter", format!("{}-Q{}", last_quarter.0, last_quarter.1)),
        ("rank-this_quarter", format!("{}-Q{}", this_quarter.0, this_quarter.1)),
        ("rank-last_year", format!("{}", today.year() - 1)),
        ("rank-this_year", format!("{}", today.year())),
    ]
    .into_iter()
    .map(|(key, period)| Listed { name: tr.t(key), href: format!("{path}?{unit_part}period={period}") })
    .collect()
}

fn row_view(u: &UnitRanking, period_query: &str, red: &[String], yellow: &[String], tr: Tr) -> RowView {
    let flagged = |m: Measure| u.flags.contains(&m);
    let (list, list_class) = if red.contains(&u.unit_id) {
        (tr.t("rank-red_list"), "red")
    } else if yellow.contains(&u.unit_id) {
        (tr.t("rank-yellow_list"), "yellow")
    } else {
        (String::new(), "")
    };
    RowView {
        name: u.unit_name.clone(),
        open_href: format!("/rankings?unit={}&{period_query}", u.unit_id),
        rank: u.rank.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
        score: u.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "—".into()),
        cells: vec![
            Cell::ratio(&u.response, flagged(Measure::Response)),
            Cell::ratio(&u.resolution, flagged(Measure::Resolution)),
            Cell::ratio(&u.satisfaction, flagged(Measure::Satisfaction)),
            Cell::count(&u.volume),
            Cell::ratio(&u.on_time, false),
        ],
        overdue: Cell { text: u.overdue.numerator.to_string(), href: page_drill(&u.overdue.drill), flagged: false },
        overdue_hours: format!(
            "{} · {}",
            tr.msg(&crate::msg!("rank-hours", hours = format!("{:.1}", u.overdue_hours))),
            tr.msg(&crate::msg!("rank-working_hours", hours = format!("{:.1}", u.overdue_working_hours)))
        ),
        more: vec![
            Cell::ratio(&u.returns, false),
            Cell::ratio(&u.reopens, false),
            Cell::ratio(&u.extensions, false),
            Cell::count(&u.open_at_end),
        ],
        list,
        list_class,
    }
}

/// `GET /rankings`: the ranking of a unit's children for a period (default: the current role's
/// unit, last month in China time). A bad query is answered here (400/422) with the form kept.
pub async fn rankings(state: web::Data<AppState>, p: Page, q: web::Query<RankingForm>) -> Result<HttpResponse, PageError> {
    let form = q.into_inner();
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let today = clock.today();
    let typed_unit = given(&form.unit).unwrap_or_default();
    let mut page = RankingsPage {
        c: p.chrome("rank-title"),
        flash: None,
        unit: typed_unit.clone(),
        period: form.period.clone().unwrap_or_default(),
        from: form.from.clone().unwrap_or_default(),
        to: form.to.clone().unwrap_or_default(),
        period_hint: tr.msg(&crate::msg!("rank-period_hint", quarter = format!("{}-Q4", today.year()))),
        presets: presets("/rankings", tr, today, &typed_unit),
        heading: None,
        groups: vec![],
    };
    let (actor, st) = (p.who.actor.clone(), state.clone());
    let outcome = match form.query(default_unit(&p)) {
        Ok(query) => {
            page::run_report(&state, actor.person_id, p.lang, move |c| reports::rankings(c, context(&st), &actor, query, utc_now())).await
        }
        Err(err) => Err(PageError { err, lang: p.lang }),
    };
    let r = match outcome {
        Ok(r) => r,
        Err(e) if answered_on_the_form(&e.err) => {
            let status = crate::http::error::status_of(&e.err);
            page.flash = Flash::error(e.err.message(p.lang));
            return Ok(html(status, &page));
        }
        Err(e) => return Err(e),
    };
    let period = Period { first: r.from, last: r.to, kind: r.period_kind };
    let period_query = period.query();
    page.unit = r.unit_id.clone();
    if page.period.trim().is_empty() && page.from.trim().is_empty() {
        page.period = r.period.clone();
    }
    page.presets = presets("/rankings", tr, today, &r.unit_id);
    let percent = |w: f64| format!("{w}");
    page.heading = Some(Heading {
        unit: r.unit_name.clone(),
        period: r.period.clone(),
        range: tr.msg(&crate::msg!("rank-range", from = r.from.to_string(), to = r.to.to_string())),
        computed: clock.at(&r.computed_at),
        weights: tr.msg(&crate::msg!(
            "rank-weights",
            response = percent(r.weights.response),
            resolution = percent(r.weights.resolution),
            satisfaction = percent(r.weights.satisfaction)
        )),
        flag_hint: tr.msg(&crate::msg!("rank-flag_hint", threshold = format!("{:.0}%", r.threshold * 100.0))),
        export_href: format!("/api/v1/exports/rankings.xlsx?unit={}&{period_query}", r.unit_id),
        export_label: tr.msg(&crate::msg!("rank-export", format = "Excel")),
        bulletin_href: format!("/rankings/bulletin?unit={}&{period_query}", r.unit_id),
    });
    page.groups = group_views(&r, &period_query, tr);
    Ok(html(StatusCode::OK, &page))
}

/// The peer groups of a ranking as the ranking page and the bulletin show them: the red and
/// yellow lists and a row per unit.
fn group_views(r: &Rankings, period_query: &str, tr: Tr) -> Vec<GroupView> {
    let names = |ids: &[String], units: &[UnitRanking]| -> Vec<Listed> {
        ids.iter()
            .filter_map(|id| units.iter().find(|u| &u.unit_id == id))
            .map(|u| Listed { name: u.unit_name.clone(), href: format!("/rankings?unit={}&{period_query}", u.unit_id) })
            .collect()
    };
    r.groups
        .iter()
        .map(|g| GroupView {
            kind: tr.t(g.kind.label_key()),
            red: names(&g.red_list, &g.units),
            yellow: names(&g.yellow_list, &g.units),
            rows: g.units.iter().map(|u| row_view(u, period_query, &g.red_list, &g.yellow_list, tr)).collect(),
        })
        .collect()
}

/// One item behind a figure.
pub struct ItemView {
    pub number: String,
    /// The ticket's page, when the viewer may open it.
    pub href: Option<String>,
    pub holder: String,
    pub stage: String,
    pub start: String,
    pub deadline: String,
    pub end: String,
    pub counted: bool,
}

#[derive(Template)]
#[template(path = "ranking_tickets.html")]
struct DrillPage {
    c: Chrome,
    summary: String,
    back: String,
    items: Vec<ItemView>,
    /// The next page of items, when there is one.
    next: Option<String>,
}

/// Items per page of the drill-down page.
const DRILL_PAGE_ITEMS: usize = 200;

/// `GET /rankings/tickets?unit=&period=&measure=`: the items behind one figure of one unit
/// (clock, visit, dispatch or request), each with its ticket, holder, stage, times and whether
/// it is in the numerator.
pub async fn drill(state: web::Data<AppState>, p: Page, q: web::Query<RankingForm>) -> Result<HttpResponse, PageError> {
    let form = q.into_inner();
    let lang = p.lang;
    let refuse = |err: AppError| PageError { err, lang };
    let measure = match given(&form.measure) {
        None => None,
        Some(m) => match Measure::ALL.iter().find(|x| x.as_str() == m) {
            Some(x) => Some(*x),
            None => {
                let all = Measure::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
                return Err(refuse(AppError::validation("measure", crate::msg!("rule-report_measure_needed", measures = all))));
            }
        },
    };
    let query = form.query(default_unit(&p)).map_err(refuse)?;
    let offset = match given(&form.offset) {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| refuse(AppError::validation("offset", crate::msg!("rule-whole_number"))))?,
    };
    let q = DrillQuery {
        unit: query.unit,
        period: query.period,
        from: query.from,
        to: query.to,
        measure,
        offset: Some(offset),
        limit: Some(DRILL_PAGE_ITEMS),
    };
    let (actor, st) = (p.who.actor.clone(), state.clone());
    let (d, openable, names) = page::run_report(&state, actor.person_id, lang, move |c| {
        let d = reports::drill(c, context(&st), &actor, q, utc_now())?;
        let ids: Vec<String> = d.items.iter().map(|i| i.fact.ticket_id.clone()).collect();
        let openable = reports::openable_tickets(c, &actor, &ids)?;
        let mut holders: Vec<String> = d.items.iter().map(|i| i.fact.holder_unit_id.clone()).collect();
        holders.sort_unstable();
        holders.dedup();
        let names = app::org::names_of(c, &holders)?;
        Ok((d, openable, names))
    })
    .await?;
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let items = d
        .items
        .iter()
        .map(|i| ItemView {
            number: i.number.clone(),
            href: openable.contains(&i.fact.ticket_id).then(|| format!("/tickets/{}", i.fact.ticket_id)),
            holder: names.get(&i.fact.holder_unit_id).cloned().unwrap_or_default(),
            stage: i.fact.stage.map(|s| tr.t(s.label_key())).unwrap_or_default(),
            start: clock.at(&i.fact.at),
            deadline: clock.at_opt(&i.fact.due_at),
            end: clock.at_opt(&i.fact.ended_at),
            counted: i.fact.counted,
        })
        .collect();
    let period_query = match (&form.from, &form.to, &d.period) {
        (Some(f), Some(t), _) if !f.trim().is_empty() => format!("from={}&to={}", f.trim(), t.trim()),
        (_, _, p) => format!("period={p}"),
    };
    let page = DrillPage {
        c: p.chrome("rank-drill_title"),
        summary: tr.msg(&crate::msg!(
            "rank-drill_summary",
            unit = d.unit_name.clone(),
            measure = tr.t(crate::app::exports::xlsx::measure_key(d.measure)),
            period = d.period.clone(),
            numerator = d.numerator,
            denominator = d.denominator
        )),
        next: d
            .next_offset
            .map(|o| format!("/rankings/tickets?unit={}&{period_query}&measure={}&offset={o}", d.unit_id, d.measure.as_str())),
        back: format!("/rankings?{period_query}"),
        items,
    };
    Ok(html(StatusCode::OK, &page))
}

/// A chart of the bulletin with its data table beside it.
pub struct ChartView {
    pub id: &'static str,
    pub title: String,
    /// The SVG markup (every text in it escaped by `charts`); empty for a table alone.
    pub svg: String,
    pub headers: Vec<String>,
    /// Each row: its heading cell, then its values.
    pub rows: Vec<(String, Vec<String>)>,
}

/// What the bulletin shows once computed.
pub struct BulletinView {
    pub range: String,
    pub computed: String,
    pub weights: String,
    /// The unit's own 三率 for the period (label, value).
    pub totals: Vec<(String, String)>,
    pub groups: Vec<GroupView>,
    pub charts: Vec<ChartView>,
    /// Why a chart is not there (no grid workers' logs to count under a department).
    pub missing: Option<String>,
    pub property: ChartView,
    pub export_href: String,
    pub export_label: String,
    pub rankings_href: String,
}

#[derive(Template)]
#[template(path = "bulletin.html")]
struct BulletinPage {
    c: Chrome,
    flash: Option<Flash>,
    unit: String,
    period: String,
    period_hint: String,
    b: Option<BulletinView>,
}

fn rate_text(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

/// `GET /rankings/bulletin?unit=&period=`: the monthly bulletin (通报) of a unit — its ranking per
/// peer group, the red and yellow lists, charts each with its data table (volume by category per
/// month, the 三率 trend, overdue by unit, visit-log compliance per compound) and the
/// property-service complaints year on year; printable on A4. Same access and defaults as
/// `/rankings`; a bad query is answered on the page (400/422).
pub async fn bulletin(state: web::Data<AppState>, p: Page, q: web::Query<RankingForm>) -> Result<HttpResponse, PageError> {
    use crate::http::web::charts;
    let form = q.into_inner();
    let tr = p.tr();
    let clock = Clock::new(&state, tr);
    let today = clock.today();
    let mut page = BulletinPage {
        c: p.chrome("bulletin-title"),
        flash: None,
        unit: given(&form.unit).unwrap_or_default(),
        period: form.period.clone().unwrap_or_default(),
        period_hint: tr.msg(&crate::msg!("rank-period_hint", quarter = format!("{}-Q4", today.year()))),
        b: None,
    };
    let (actor, st, lang) = (p.who.actor.clone(), state.clone(), p.lang);
    let outcome = match form.query(default_unit(&p)) {
        Ok(query) => {
            page::run_report(&state, actor.person_id, p.lang, move |c| {
                reports::trend::bulletin(c, context(&st), st.visits(), &actor, query, lang, utc_now())
            })
            .await
        }
        Err(err) => Err(PageError { err, lang: p.lang }),
    };
    let b = match outcome {
        Ok(b) => b,
        Err(e) if answered_on_the_form(&e.err) => {
            let status = crate::http::error::status_of(&e.err);
            page.flash = Flash::error(e.err.message(p.lang));
            return Ok(html(status, &page));
        }
        Err(e) => return Err(e),
    };
    let r = &b.rankings;
    let period_query = b.period.query();
    page.unit = r.unit_id.clone();
    page.period = r.period.clone();
    page.c.title = tr.msg(&crate::msg!("bulletin-heading", unit = r.unit_name.clone(), period = r.period.clone()));

    let mut charts_out = vec![];
    // Volume by category per month.
    let v = &b.volume;
    let series: Vec<(String, Vec<f64>)> =
        v.categories.iter().zip(&v.counts).map(|(n, c)| (n.clone(), c.iter().map(|x| *x as f64).collect())).collect();
    let title = tr.t("bulletin-chart_volume");
    let mut headers = vec![tr.t("bulletin-month")];
    headers.extend(v.categories.iter().cloned());
    headers.push(tr.t("bulletin-total"));
    charts_out.push(ChartView {
        id: "chart-volume",
        svg: charts::stacked_columns("chart-volume", &title, &v.months, &series),
        title,
        headers,
        rows: v
            .months
            .iter()
            .enumerate()
            .map(|(m, month)| {
                let mut cells: Vec<String> = v.counts.iter().map(|c| c[m].to_string()).collect();
                cells.push(v.month_total(m).to_string());
                (month.clone(), cells)
            })
            .collect(),
    });
    // The 三率 trend.
    let months: Vec<String> = b.trend.iter().map(|m| m.month.clone()).collect();
    let series: Vec<(String, Vec<Option<f64>>)> = vec![
        (tr.t("rank-response"), b.trend.iter().map(|m| m.line.response.rate).collect()),
        (tr.t("rank-resolution"), b.trend.iter().map(|m| m.line.resolution.rate).collect()),
        (tr.t("rank-satisfaction"), b.trend.iter().map(|m| m.line.satisfaction.rate).collect()),
    ];
    let title = tr.t("bulletin-chart_trend");
    charts_out.push(ChartView {
        id: "chart-trend",
        svg: charts::rate_lines("chart-trend", &title, &months, &series),
        title,
        headers: vec![tr.t("bulletin-month"), tr.t("rank-response"), tr.t("rank-resolution"), tr.t("rank-satisfaction")],
        rows: b
            .trend
            .iter()
            .map(|m| {
                (m.month.clone(), vec![ratio_text(&m.line.response), ratio_text(&m.line.resolution), ratio_text(&m.line.satisfaction)])
            })
            .collect(),
    });
    // Overdue by unit.
    let title = tr.t("bulletin-chart_overdue");
    let rows: Vec<(String, f64)> = b.overdue.iter().map(|o| (o.unit_name.clone(), o.overdue as f64)).collect();
    charts_out.push(ChartView {
        id: "chart-overdue",
        svg: charts::bar_chart("chart-overdue", &title, &rows, ""),
        title,
        headers: vec![tr.t("rank-unit"), tr.t("bulletin-overdue_count")],
        rows: b.overdue.iter().map(|o| (o.unit_name.clone(), vec![o.overdue.to_string()])).collect(),
    });
    // Visit-log compliance per compound.
    let mut missing = None;
    match &b.compliance {
        Some(c) if !c.compounds.is_empty() => {
            let title = tr.msg(&crate::msg!("bulletin-chart_compliance", from = c.from.to_string(), to = c.to.to_string()));
            let rows: Vec<(String, f64)> =
                c.compounds.iter().map(|x| (x.compound_name.clone(), (x.rate * 1000.0).round() / 10.0)).collect();
            charts_out.push(ChartView {
                id: "chart-compliance",
                svg: charts::bar_chart("chart-compliance", &title, &rows, "%"),
                title,
                headers: vec![
                    tr.t("bulletin-compound"),
                    tr.t("bulletin-logs_expected"),
                    tr.t("bulletin-logs_filed"),
                    tr.t("bulletin-compliance_rate"),
                ],
                rows: c
                    .compounds
                    .iter()
                    .map(|x| (x.compound_name.clone(), vec![x.expected.to_string(), x.filed.to_string(), rate_text(Some(x.rate))]))
                    .collect(),
            });
        }
        _ => missing = Some(tr.t("bulletin-no_compliance")),
    }
    let property = ChartView {
        id: "table-property",
        title: tr.msg(&crate::msg!("bulletin-property_title", period = r.period.clone(), prior = b.prior_period.clone())),
        svg: String::new(),
        headers: vec![
            tr.t("bulletin-compound"),
            tr.msg(&crate::msg!("bulletin-this_period", period = r.period.clone())),
            tr.msg(&crate::msg!("bulletin-prior_period", period = b.prior_period.clone())),
            tr.t("bulletin-yoy"),
        ],
        rows: b
            .property
            .iter()
            .map(|x| {
                let change = x.change().map(|c| format!("{:+.1}%", c * 100.0)).unwrap_or_else(|| "—".into());
                (x.compound_name.clone(), vec![x.this_year.to_string(), x.last_year.to_string(), change])
            })
            .collect(),
    };
    let t = &b.totals;
    page.b = Some(BulletinView {
        range: tr.msg(&crate::msg!("rank-range", from = r.from.to_string(), to = r.to.to_string())),
        computed: clock.at(&r.computed_at),
        weights: tr.msg(&crate::msg!(
            "rank-weights",
            response = format!("{}", r.weights.response),
            resolution = format!("{}", r.weights.resolution),
            satisfaction = format!("{}", r.weights.satisfaction)
        )),
        totals: vec![
            (tr.t("rank-response"), ratio_text(&t.response)),
            (tr.t("rank-resolution"), ratio_text(&t.resolution)),
            (tr.t("rank-satisfaction"), ratio_text(&t.satisfaction)),
            (tr.t("rank-score"), t.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "—".into())),
            (tr.t("rank-volume"), t.volume.count.to_string()),
            (tr.t("rank-overdue"), t.overdue.numerator.to_string()),
        ],
        groups: group_views(r, &period_query, tr),
        charts: charts_out,
        missing,
        property,
        export_href: format!("/api/v1/exports/bulletin.xlsx?unit={}&{period_query}", r.unit_id),
        export_label: tr.msg(&crate::msg!("bulletin-export", format = "Excel")),
        rankings_href: format!("/rankings?unit={}&{period_query}", r.unit_id),
    });
    Ok(html(StatusCode::OK, &page))
}
