//! Tickets (诉求) through the closed loop: filing, the named workflow actions, comments, the
//! timeline, lists and the per-role inbox. Each command is one transaction that changes the
//! ticket, bumps its version and appends its audit event together.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::models::{AssignmentRow, AuditEventRow, CategoryRow, ClockRow, ExtensionRow, OrgUnitRow, PiiRevealRow, TicketRow};
use crate::db::schema::{categories, org_units, pii_reveals, sla_clocks, ticket_assignments, ticket_extensions, tickets};
use crate::db::{backend, DbConn};
use crate::domain::pii::{mask_phone, validate_mobile};
use crate::domain::sla::Stage;
use crate::domain::workflow::{
    allowed_for, authorize, holds_clock, own_parts, reopened_state, sight, ActionKind, AssignmentState, Channel, DepartmentPart, Facts,
    Level, PartEnd, Refusal, ReturnReason, Satisfaction, Sight, TicketPlace, TicketState, WhistleType,
};
use crate::domain::{Actor, Grant, Id, Operation, OrgKind, OrgPath, Role};

use super::audit::{self, ActedBy, Draft};
use super::catalogue::Urgency;
use super::org::{escape_like, find_unit};
use super::scope::Db;
use super::sla::{self, SlaContext, Which};
use super::{check_version, parse_id, AppError, AppResult};

// ---------------------------------------------------------------- input and output

/// A request to file (登记) a ticket.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    #[schema(format = Uuid)]
    pub category_id: String,
    #[serde(default = "normal")]
    pub urgency: Urgency,
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: String,
    /// The building (small grid) the request is about; or give `compound_id` for a whole compound.
    #[schema(format = Uuid)]
    pub building_id: Option<String>,
    #[schema(format = Uuid)]
    pub compound_id: Option<String>,
    #[schema(max_length = 200)]
    pub address: Option<String>,
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// The resident; leave both out with `anonymous: true`.
    #[schema(max_length = 50)]
    pub resident_name: Option<String>,
    #[schema(max_length = 20)]
    pub resident_phone: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default = "visit")]
    pub channel: Channel,
    /// The visit log the request was raised in, when filed from a visit.
    #[schema(format = Uuid)]
    pub visit_log_id: Option<String>,
}

fn normal() -> Urgency {
    Urgency::Normal
}
fn visit() -> Channel {
    Channel::Visit
}

/// The community's decision on a returned case.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnRuling {
    /// The return stands: the department leaves the case (optionally replaced by another).
    Accept,
    /// The department must take the case after all.
    Overrule,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionRuling {
    Grant,
    Refuse,
}

/// One workflow action with its arguments; `action` names it.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionRequest {
    AcceptAtCompound {
        #[schema(max_length = 2000)]
        note: Option<String>,
    },
    ReportToCommunity {
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    MarkDuplicate {
        #[schema(format = Uuid)]
        duplicate_of: String,
        #[schema(max_length = 2000)]
        reason: Option<String>,
    },
    Decline {
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    AcceptAtCommunity {
        #[schema(max_length = 2000)]
        note: Option<String>,
    },
    Whistle {
        #[schema(format = Uuid)]
        lead_department_id: String,
        #[serde(default)]
        #[schema(inline, value_type = Vec<uuid::Uuid>)]
        co_department_ids: Vec<String>,
        whistle_type: WhistleType,
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    AddDepartment {
        #[schema(format = Uuid)]
        department_id: String,
        #[schema(max_length = 2000)]
        reason: Option<String>,
    },
    RemoveDepartment {
        #[schema(format = Uuid)]
        department_id: String,
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    Acknowledge {
        /// Which of the caller's departments, when he speaks for several on this ticket.
        #[schema(format = Uuid)]
        department_id: Option<String>,
    },
    ReturnCase {
        #[schema(format = Uuid)]
        department_id: Option<String>,
        reason_code: ReturnReason,
        #[schema(min_length = 1, max_length = 2000)]
        note: String,
    },
    RequestExtension {
        #[schema(format = Uuid)]
        department_id: Option<String>,
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
        proposed_due_at: DateTime<Utc>,
    },
    AddProgress {
        #[schema(format = Uuid)]
        department_id: Option<String>,
        #[schema(min_length = 1, max_length = 2000)]
        note: String,
    },
    CompletePart {
        #[schema(format = Uuid)]
        department_id: Option<String>,
        #[schema(min_length = 1, max_length = 2000)]
        note: String,
    },
    MarkSolved {
        #[schema(min_length = 1, max_length = 2000)]
        resolution: String,
    },
    RuleOnReturn {
        #[schema(format = Uuid)]
        department_id: String,
        decision: ReturnRuling,
        /// With `accept`: the department that takes over (required when the lead returned it).
        #[schema(format = Uuid)]
        new_department_id: Option<String>,
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    RuleOnExtension {
        #[schema(format = Uuid)]
        extension_id: String,
        decision: ExtensionRuling,
        #[schema(max_length = 2000)]
        reason: Option<String>,
    },
    RecordReturnVisit {
        satisfaction: Satisfaction,
        #[schema(max_length = 2000)]
        note: Option<String>,
    },
    /// 等待居民: stops the resolution clock until resumed (or until its maximum runs out).
    PauseForResident {
        #[schema(min_length = 1, max_length = 2000)]
        reason: String,
    },
    ResumeWork {
        #[schema(max_length = 2000)]
        note: Option<String>,
    },
    /// 解除协办: the community releases a co-department whose part is no longer needed.
    ReleasePart { department_id: String, reason: String },
    /// 超时上报社区: taken only by the service itself, when `sla.breach_action = "escalate"` and the
    /// compound's triage limit passed.
    EscalateToCommunity {},
}

impl ActionRequest {
    pub fn kind(&self) -> ActionKind {
        use ActionRequest as R;
        match self {
            R::AcceptAtCompound { .. } => ActionKind::AcceptAtCompound,
            R::ReportToCommunity { .. } => ActionKind::ReportToCommunity,
            R::MarkDuplicate { .. } => ActionKind::MarkDuplicate,
            R::Decline { .. } => ActionKind::Decline,
            R::AcceptAtCommunity { .. } => ActionKind::AcceptAtCommunity,
            R::Whistle { .. } => ActionKind::Whistle,
            R::AddDepartment { .. } => ActionKind::AddDepartment,
            R::RemoveDepartment { .. } => ActionKind::RemoveDepartment,
            R::Acknowledge { .. } => ActionKind::Acknowledge,
            R::ReturnCase { .. } => ActionKind::ReturnCase,
            R::RequestExtension { .. } => ActionKind::RequestExtension,
            R::AddProgress { .. } => ActionKind::AddProgress,
            R::CompletePart { .. } => ActionKind::CompletePart,
            R::MarkSolved { .. } => ActionKind::MarkSolved,
            R::RuleOnReturn { .. } => ActionKind::RuleOnReturn,
            R::RuleOnExtension { .. } => ActionKind::RuleOnExtension,
            R::RecordReturnVisit { .. } => ActionKind::RecordReturnVisit,
            R::PauseForResident { .. } => ActionKind::PauseForResident,
            R::ResumeWork { .. } => ActionKind::ResumeWork,
            R::ReleasePart { .. } => ActionKind::ReleasePart,
            R::EscalateToCommunity {} => ActionKind::EscalateToCommunity,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentPartView {
    pub assignment_id: String,
    pub department_id: String,
    pub department_name: String,
    pub lead: bool,
    pub state: AssignmentState,
    pub overruled: bool,
    #[serde(with = "crate::app::rfc3339")]
    pub dispatched_at: NaiveDateTime,
    /// 签收时限
    #[serde(with = "crate::app::rfc3339")]
    pub ack_due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub acknowledged_at: Option<NaiveDateTime>,
    /// A late acknowledgement stays recorded as late.
    pub acknowledged_late: bool,
    #[serde(with = "crate::app::rfc3339")]
    pub due_at: NaiveDateTime,
    /// The deadline before a granted extension.
    #[serde(with = "crate::app::rfc3339::option")]
    pub original_due_at: Option<NaiveDateTime>,
    pub return_reason: Option<ReturnReason>,
    pub return_note: Option<String>,
    /// How the part ended, when its state is `removed`: taken off, released (解除协办) or its
    /// return accepted.
    pub ended_as: Option<PartEnd>,
    #[serde(with = "crate::app::rfc3339::option")]
    pub ended_at: Option<NaiveDateTime>,
}

/// A running clock of a ticket, with the unit that holds it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunningClockView {
    pub id: String,
    pub stage: Stage,
    pub holder_unit_id: String,
    pub holder_name: String,
    /// The department part the clock belongs to, for a department's (and a return's ruling) clocks.
    pub assignment_id: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub started_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub warn_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub due_at: NaiveDateTime,
    pub overdue: bool,
    /// Waiting: for the resident (`resident`) or for the ruling on a return (`return`); the
    /// deadline moves on by the time it waits.
    pub paused_for: Option<String>,
    pub provisional: bool,
    /// Held by a unit the caller acts for: this deadline is his.
    pub yours: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    pub id: String,
    pub assignment_id: String,
    pub reason: String,
    #[serde(with = "crate::app::rfc3339")]
    pub proposed_due_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub original_due_at: NaiveDateTime,
    pub state: String,
    #[serde(with = "crate::app::rfc3339")]
    pub requested_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub decided_at: Option<NaiveDateTime>,
}

/// A ticket as the API shows it. The resident's phone is masked; reveal it with the recorded action.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub id: String,
    /// e.g. GL-20261126-0042
    pub number: String,
    pub category_id: String,
    pub category_code: String,
    pub category_name_zh: String,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub place_id: String,
    pub place_name: String,
    pub compound_id: String,
    pub community_id: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub anonymous: bool,
    pub resident_name: Option<String>,
    pub resident_phone_masked: Option<String>,
    pub channel: Channel,
    pub filed_by: String,
    pub visit_log_id: Option<String>,
    pub state: TicketState,
    pub state_zh: String,
    pub solved_level: Option<Level>,
    pub duplicate_of: Option<String>,
    pub whistle_type: Option<WhistleType>,
    pub reopen_count: i32,
    pub satisfaction: Option<Satisfaction>,
    pub resolution: Option<String>,
    /// The caller's own next deadline: the nearest of the running clocks held by a unit he acts
    /// for (a supervisor: of them all); absent when none is his.
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
    /// The caller's own deadline has passed.
    pub overdue: bool,
    /// The nearest deadline of any running clock, whoever holds it.
    #[serde(with = "crate::app::rfc3339::option")]
    pub ticket_due_at: Option<NaiveDateTime>,
    /// A running clock's deadline reaches into a year whose official holiday schedule is not
    /// published yet: it follows the standing rule and moves when the year is published.
    pub provisional: bool,
    /// Every running clock, with its holder.
    pub clocks: Vec<RunningClockView>,
    /// Present when the caller's department no longer holds a part of the case: what is shown is
    /// what happened until this moment, and nothing after.
    #[serde(with = "crate::app::rfc3339::option")]
    pub read_until: Option<NaiveDateTime>,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339")]
    pub updated_at: NaiveDateTime,
    #[serde(with = "crate::app::rfc3339::option")]
    pub closed_at: Option<NaiveDateTime>,
    pub departments: Vec<DepartmentPartView>,
    pub extensions: Vec<ExtensionView>,
    /// What the caller may do now.
    pub allowed_actions: Vec<ActionKind>,
}

/// A ticket in a list: the fields a list shows, nothing personal beyond the masked phone.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketSummary {
    pub id: String,
    pub number: String,
    pub category_id: String,
    pub urgency: Urgency,
    pub title: String,
    pub place_id: String,
    pub state: TicketState,
    pub state_zh: String,
    /// The caller's own next deadline (see `TicketView::due_at`).
    #[serde(with = "crate::app::rfc3339::option")]
    pub due_at: Option<NaiveDateTime>,
    /// The caller's own deadline has passed.
    pub overdue: bool,
    /// The nearest deadline of any running clock, whoever holds it.
    #[serde(with = "crate::app::rfc3339::option")]
    pub ticket_due_at: Option<NaiveDateTime>,
    /// The caller's deadline is provisional (see `TicketView::provisional`).
    pub provisional: bool,
    pub reopen_count: i32,
    pub version: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One event of a ticket's timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    pub id: String,
    pub seq: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_unit_id: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub changes: Value,
    pub hash: String,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketFilter {
    /// Comma-separated states, e.g. `at_compound,compound_handling`.
    #[param(value_type = Option<Vec<TicketState>>, style = Form, explode = false)]
    pub state: Option<String>,
    #[param(format = Uuid)]
    pub category_id: Option<String>,
    /// Only tickets whose place lies in this unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    pub urgency: Option<Urgency>,
    /// true: only open tickets past their stage deadline; false: only those not overdue.
    pub overdue: Option<bool>,
    /// Filed on or after this date (Asia/Shanghai), YYYY-MM-DD.
    pub from: Option<NaiveDate>,
    /// Filed on or before this date (Asia/Shanghai), YYYY-MM-DD.
    pub to: Option<NaiveDate>,
    /// Text in the number, title or description.
    pub q: Option<String>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

// ---------------------------------------------------------------- loading and scope

/// A ticket with everything the rules need: its row, its department parts, its running clocks
/// and the parts with an extension request waiting.
struct Loaded {
    row: TicketRow,
    place: TicketPlace,
    parts: Vec<AssignmentRow>,
    clocks: Vec<ClockRow>,
    /// Assignment ids with a pending extension request.
    pending_extensions: Vec<String>,
}

impl Loaded {
    fn state(&self) -> AppResult<TicketState> {
        self.row.state.parse().map_err(AppError::internal_msg)
    }

    /// The parts as the rules see them. A stored value the domain does not know is a corrupt row:
    /// an error, never a guess.
    fn domain_parts(&self) -> AppResult<Vec<DepartmentPart>> {
        self.parts
            .iter()
            .map(|p| {
                Ok(DepartmentPart {
                    department_id: p.department_id.parse().map_err(|e| AppError::internal_msg(format!("part {}: {e}", p.id)))?,
                    lead: p.lead,
                    state: p.state.parse().map_err(AppError::internal_msg)?,
                    overruled: p.overruled,
                    extension_pending: self.pending_extensions.contains(&p.id),
                    ended_at: p.ended_at,
                })
            })
            .collect()
    }

    /// What the rules look at, over `parts` (from [`Loaded::domain_parts`]).
    fn facts<'a>(&'a self, parts: &'a [DepartmentPart]) -> AppResult<Facts<'a>> {
        let resolution = Stage::Resolution.as_str();
        Ok(Facts {
            state: self.state()?,
            place: &self.place,
            parts,
            resolution_running: self.clocks.iter().any(|c| c.stage == resolution && c.paused_at.is_none()),
            waiting_for_resident: self.clocks.iter().any(|c| c.paused_for.as_deref() == Some(sla::PAUSED_FOR_RESIDENT)),
        })
    }

    fn sight(&self, actor: &Actor) -> AppResult<Sight> {
        Ok(sight(actor, &self.place, &self.domain_parts()?))
    }
}

/// The path of `unit_id` on `path`, cut after it: the ancestor's own path.
fn ancestor_path(path: &str, unit_id: &str) -> OrgPath {
    match path.find(unit_id) {
        Some(i) => OrgPath::from_db(path[..i + unit_id.len() + 1].to_string()),
        None => OrgPath::from_db(path.to_string()),
    }
}

fn place_of(row: &TicketRow) -> TicketPlace {
    TicketPlace {
        place: OrgPath::from_db(row.place_path.clone()),
        compound: ancestor_path(&row.place_path, &row.compound_id),
        community: ancestor_path(&row.place_path, &row.community_id),
    }
}

fn load(conn: &mut DbConn, id: &str) -> AppResult<Option<Loaded>> {
    if id.parse::<Id>().is_err() {
        return Ok(None);
    }
    Ok(load_all(conn, &[id], false)?.remove(id))
}

/// Loads a ticket the actor can see (fully, or up to the end of his department's part), or
/// reports it missing (the same answer either way).
fn load_visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Loaded> {
    let t = load(conn, id)?.ok_or(AppError::NotFound { what: "ticket" })?;
    if t.sight(actor)? == Sight::Hidden {
        return Err(AppError::NotFound { what: "ticket" });
    }
    Ok(t)
}

type BoolExpr = Box<dyn BoxableExpression<tickets::table, Db, SqlType = diesel::sql_types::Bool>>;

/// ORs the terms together; no term matches nothing. (No constant-false seed: a leading `1 = 0 OR`
/// keeps SQLite from using an index for the terms.)
fn any_of(terms: Vec<BoolExpr>) -> BoolExpr {
    let mut it = terms.into_iter();
    match it.next() {
        None => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
        Some(first) => it.fold(first, |acc, t| Box::new(acc.or(t))),
    }
}

/// Tickets the actor can see: by place for residential roles and supervisors, and by whistle for
/// department liaisons. One filter, evaluated in the database.
fn tickets_in_scope(actor: &Actor) -> BoolExpr {
    let mut residential = actor.clone();
    residential.grants.retain(|g| matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::Supervisor));
    let roots = residential.scope_roots(Operation::TicketRead);
    let mut terms: Vec<BoolExpr> = roots
        .iter()
        .filter_map(|root| residential.grants.iter().find(|g| &g.org_path == root))
        .map(|g| place_within(g.org_kind, &g.org_unit_id.to_string(), &g.org_path))
        .collect();
    let departments: Vec<String> =
        actor.grants.iter().filter(|g| g.role == Role::DepartmentLiaison).map(|g| g.org_unit_id.to_string()).collect();
    if !departments.is_empty() {
        // A department lists the cases it holds a part of (done included); once its part ended it
        // may still open the ticket (up to that end) but no longer lists it.
        let held = [AssignmentState::Dispatched, AssignmentState::Acknowledged, AssignmentState::Returned, AssignmentState::Done];
        terms.push(assigned_to(&departments, Some(&held)));
    }
    any_of(terms)
}

/// Tickets whose place lies in the subtree of a unit. A building, compound or community is an
/// equality on its own column, so that "the latest tickets here" is an ordered index scan that stops
/// after one page; wider units (street and up) match most tickets anyway and use the path range.
fn place_within(kind: OrgKind, id: &str, path: &OrgPath) -> BoolExpr {
    match kind {
        OrgKind::Building => Box::new(tickets::place_id.eq(id.to_string())),
        OrgKind::Compound => Box::new(tickets::compound_id.eq(id.to_string())),
        OrgKind::Community => Box::new(tickets::community_id.eq(id.to_string())),
        _ => Box::new(tickets::place_path.ge(path.as_str().to_string()).and(tickets::place_path.lt(path.subtree_upper_bound()))),
    }
}

/// `tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE department_id = ? [AND state IN (…)])`
/// per department, OR-ed: written as SQL because diesel's multi-backend connection cannot box a
/// sub-select. The states are our own constants; the department ids are bound, never spliced.
fn assigned_to(departments: &[String], states: Option<&[AssignmentState]>) -> BoolExpr {
    let state_sql = match states {
        Some(states) => format!(" AND state IN ({}))", states.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")),
        None => ")".to_string(),
    };
    any_of(
        departments
            .iter()
            .map(|d| -> BoolExpr {
                Box::new(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE department_id = ",
                    )
                    .bind::<diesel::sql_types::Text, _>(d.clone())
                    .sql(&state_sql),
                )
            })
            .collect(),
    )
}

/// Tickets with a part waiting for the whistling level: a return or an extension request.
fn waiting_for_ruling() -> BoolExpr {
    Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(tickets.id IN (SELECT ticket_id FROM ticket_assignments WHERE state = 'returned') \
         OR tickets.id IN (SELECT ticket_id FROM ticket_extensions WHERE state = 'pending'))",
    ))
}

// ---------------------------------------------------------------- views

fn part_view(p: &AssignmentRow, names: &HashMap<String, String>) -> AppResult<DepartmentPartView> {
    Ok(DepartmentPartView {
        assignment_id: p.id.clone(),
        department_id: p.department_id.clone(),
        department_name: names.get(&p.department_id).cloned().unwrap_or_default(),
        lead: p.lead,
        state: part_state(p)?,
        overruled: p.overruled,
        dispatched_at: p.dispatched_at,
        ack_due_at: p.ack_due_at,
        acknowledged_at: p.acknowledged_at,
        acknowledged_late: p.acknowledged_at.is_some_and(|a| a > p.ack_due_at),
        due_at: p.due_at,
        original_due_at: p.original_due_at,
        return_reason: p.return_reason.as_deref().map(str::parse).transpose().map_err(AppError::internal_msg)?,
        return_note: p.return_note.clone(),
        ended_as: p.end_reason.as_deref().and_then(PartEnd::parse),
        ended_at: p.ended_at,
    })
}

/// A caller's view of a ticket's running clocks: his own next deadline (not paused), whether it is
/// provisional, and the nearest deadline of any holder.
struct Deadlines {
    mine: Option<NaiveDateTime>,
    mine_provisional: bool,
    any: Option<NaiveDateTime>,
    any_provisional: bool,
}

fn stage_of(c: &ClockRow) -> AppResult<Stage> {
    Stage::parse(&c.stage).ok_or_else(|| AppError::internal_msg(format!("unknown stage {}", c.stage)))
}

fn is_yours(actor: &Actor, c: &ClockRow, place: &TicketPlace) -> AppResult<bool> {
    let holder: Id = c.holder_unit_id.parse().map_err(|e| AppError::internal_msg(format!("clock {}: {e}", c.id)))?;
    Ok(holds_clock(actor, stage_of(c)?, holder, &OrgPath::from_db(c.holder_path.clone()), place))
}

fn deadlines(actor: &Actor, clocks: &[ClockRow], place: &TicketPlace) -> AppResult<Deadlines> {
    let mut d = Deadlines { mine: None, mine_provisional: false, any: None, any_provisional: false };
    for c in clocks.iter().filter(|c| c.stopped_at.is_none()) {
        d.any_provisional |= c.provisional;
        if c.paused_at.is_some() {
            continue;
        }
        if d.any.is_none_or(|a| c.due_at < a) {
            d.any = Some(c.due_at);
        }
        if is_yours(actor, c, place)? && d.mine.is_none_or(|m| c.due_at < m) {
            d.mine = Some(c.due_at);
            d.mine_provisional = c.provisional;
        }
    }
    Ok(d)
}

fn view(conn: &mut DbConn, actor: &Actor, t: &Loaded, now: NaiveDateTime) -> AppResult<TicketView> {
    views(conn, &[(actor, t)], now)?.pop().ok_or_else(|| AppError::internal_msg("a view went missing".into()))
}

/// The views of several tickets, each for its actor: their categories, unit names, extensions and
/// running clocks read with one query each (as they are now, after any change of the batch).
fn views(conn: &mut DbConn, items: &[(&Actor, &Loaded)], now: NaiveDateTime) -> AppResult<Vec<TicketView>> {
    let mut cat_ids: Vec<&str> = items.iter().map(|(_, t)| t.row.category_id.as_str()).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let cats: HashMap<String, CategoryRow> = categories::table
        .filter(categories::id.eq_any(&cat_ids))
        .select(CategoryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c: CategoryRow| (c.id.clone(), c))
        .collect();
    let ids: Vec<&str> = items.iter().map(|(_, t)| t.row.id.as_str()).collect();
    let mut clocks = sla::running_clocks(conn, &ids)?;
    let mut unit_ids: Vec<&str> = items
        .iter()
        .flat_map(|(_, t)| t.parts.iter().map(|p| p.department_id.as_str()).chain([t.row.place_id.as_str()]))
        .chain(clocks.values().flatten().map(|c| c.holder_unit_id.as_str()))
        .collect();
    unit_ids.sort_unstable();
    unit_ids.dedup();
    let names: HashMap<String, String> =
        org_units::table.filter(org_units::id.eq_any(&unit_ids)).select((org_units::id, org_units::name)).load(conn)?.into_iter().collect();
    // Extensions belong to department parts: a ticket never whistled has none.
    let whistled: Vec<&str> = items.iter().filter(|(_, t)| !t.parts.is_empty()).map(|(_, t)| t.row.id.as_str()).collect();
    let mut extensions: HashMap<String, Vec<ExtensionRow>> = HashMap::new();
    if !whistled.is_empty() {
        let rows: Vec<ExtensionRow> = ticket_extensions::table
            .filter(ticket_extensions::ticket_id.eq_any(&whistled))
            .order(ticket_extensions::requested_at)
            .select(ExtensionRow::as_select())
            .load(conn)?;
        for e in rows {
            extensions.entry(e.ticket_id.clone()).or_default().push(e);
        }
    }
    items
        .iter()
        .map(|(actor, t)| {
            let cat = cats.get(&t.row.category_id).ok_or_else(|| AppError::internal_msg(format!("category {} gone", t.row.category_id)))?;
            let ext = extensions.remove(&t.row.id).unwrap_or_default();
            let live = Live { clocks: clocks.remove(&t.row.id).unwrap_or_default(), extensions: ext };
            render(actor, t, cat, &names, live, now)
        })
        .collect()
}

/// What changes as a ticket is worked on, as read for its view.
struct Live {
    clocks: Vec<ClockRow>,
    extensions: Vec<ExtensionRow>,
}

/// The view of a ticket just filed, from what its filing already read: no query needed.
fn filed_view(actor: &Actor, row: TicketRow, p: &PreparedFiling, clock: ClockRow, now: NaiveDateTime) -> AppResult<TicketView> {
    let names = HashMap::from([(row.place_id.clone(), p.place_name.clone()), (row.compound_id.clone(), p.compound_name.clone())]);
    let t = Loaded { place: place_of(&row), row, parts: vec![], clocks: vec![], pending_extensions: vec![] };
    render(actor, &t, &p.category, &names, Live { clocks: vec![clock], extensions: vec![] }, now)
}

fn render(
    actor: &Actor,
    t: &Loaded,
    cat: &CategoryRow,
    names: &HashMap<String, String>,
    live: Live,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let r = &t.row;
    let parts = t.domain_parts()?;
    let seen = sight(actor, &t.place, &parts);
    let pending_extensions: Vec<String> =
        live.extensions.iter().filter(|e| e.state == "pending").map(|e| e.assignment_id.clone()).collect();
    let fresh = Loaded { row: t.row.clone(), place: t.place.clone(), parts: t.parts.clone(), clocks: live.clocks, pending_extensions };
    let parts = fresh.domain_parts()?;
    let facts = fresh.facts(&parts)?;
    let d = deadlines(actor, &fresh.clocks, &t.place)?;
    let clocks = fresh
        .clocks
        .iter()
        .map(|c| {
            Ok(RunningClockView {
                id: c.id.clone(),
                stage: stage_of(c)?,
                holder_unit_id: c.holder_unit_id.clone(),
                holder_name: names.get(&c.holder_unit_id).cloned().unwrap_or_default(),
                assignment_id: c.assignment_id.clone(),
                started_at: c.started_at,
                warn_at: c.warn_at,
                due_at: c.due_at,
                overdue: c.paused_at.is_none() && c.due_at < now,
                paused_for: c.paused_for.clone(),
                provisional: c.provisional,
                yours: is_yours(actor, c, &t.place)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let mut v = TicketView {
        id: r.id.clone(),
        number: r.number.clone(),
        category_id: cat.id.clone(),
        category_code: cat.code.clone(),
        category_name_zh: cat.name_zh.clone(),
        urgency: r.urgency.parse().map_err(AppError::internal_msg)?,
        title: r.title.clone(),
        description: r.description.clone(),
        place_id: r.place_id.clone(),
        place_name: names.get(&r.place_id).cloned().unwrap_or_default(),
        compound_id: r.compound_id.clone(),
        community_id: r.community_id.clone(),
        address: r.address.clone(),
        latitude: r.latitude,
        longitude: r.longitude,
        anonymous: r.resident_name.is_none() && r.resident_phone.is_none(),
        resident_name: r.resident_name.clone(),
        resident_phone_masked: r.resident_phone.as_deref().map(mask_phone),
        channel: r.channel.parse().map_err(AppError::internal_msg)?,
        filed_by: r.filed_by.clone(),
        visit_log_id: r.visit_log_id.clone(),
        state: facts.state,
        state_zh: crate::i18n::text(crate::i18n::Lang::Zh, facts.state.label_key()),
        solved_level: r.solved_level.as_deref().map(str::parse).transpose().map_err(AppError::internal_msg)?,
        duplicate_of: r.duplicate_of.clone(),
        whistle_type: r.whistle_type.as_deref().map(str::parse).transpose().map_err(AppError::internal_msg)?,
        reopen_count: r.reopen_count,
        satisfaction: r.satisfaction.as_deref().map(str::parse).transpose().map_err(AppError::internal_msg)?,
        resolution: r.resolution.clone(),
        due_at: d.mine,
        overdue: !facts.state.is_final() && d.mine.is_some_and(|m| m < now),
        ticket_due_at: d.any,
        provisional: d.any_provisional,
        clocks,
        read_until: None,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        closed_at: r.closed_at,
        departments: t.parts.iter().map(|p| part_view(p, names)).collect::<AppResult<_>>()?,
        extensions: vec![],
        allowed_actions: allowed_for(actor, &facts),
    };
    if let Sight::Until(until) = seen {
        // A department whose part ended reads the case as it was when its part ended (always
        // while whistled), its own part and nothing that came after.
        let own: Vec<&AssignmentRow> = t
            .parts
            .iter()
            .filter(|p| actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id.to_string() == p.department_id))
            .collect();
        let own_ids: Vec<&str> = own.iter().map(|p| p.id.as_str()).collect();
        v.state = TicketState::Whistled;
        v.state_zh = crate::i18n::text(crate::i18n::Lang::Zh, TicketState::Whistled.label_key());
        v.departments = own.into_iter().map(|p| part_view(p, names)).collect::<AppResult<_>>()?;
        v.extensions = extension_views(live.extensions.into_iter().filter(|e| own_ids.contains(&e.assignment_id.as_str())));
        (v.solved_level, v.satisfaction, v.resolution, v.closed_at, v.duplicate_of) = (None, None, None, None, None);
        (v.due_at, v.overdue, v.ticket_due_at, v.provisional) = (None, false, None, false);
        v.clocks = vec![];
        v.allowed_actions = vec![];
        v.updated_at = until;
        v.read_until = Some(until);
    } else {
        v.extensions = extension_views(live.extensions.into_iter());
    }
    Ok(v)
}

fn extension_views(rows: impl Iterator<Item = ExtensionRow>) -> Vec<ExtensionView> {
    rows.map(|e| ExtensionView {
        id: e.id,
        assignment_id: e.assignment_id,
        reason: e.reason,
        proposed_due_at: e.proposed_due_at,
        original_due_at: e.original_due_at,
        state: e.state,
        requested_at: e.requested_at,
        decided_at: e.decided_at,
    })
    .collect()
}

/// List entries of ticket rows for a caller: each with his own deadline, read from the running
/// clocks of the page in one query.
pub fn summaries(conn: &mut DbConn, actor: &Actor, rows: Vec<TicketRow>, now: NaiveDateTime) -> AppResult<Vec<TicketSummary>> {
    let mut clocks = sla::running_clocks(conn, &rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())?;
    rows.into_iter()
        .map(|r| {
            let d = deadlines(actor, &clocks.remove(&r.id).unwrap_or_default(), &place_of(&r))?;
            summary(r, d, now)
        })
        .collect()
}

fn summary(r: TicketRow, d: Deadlines, now: NaiveDateTime) -> AppResult<TicketSummary> {
    let state: TicketState = r.state.parse().map_err(AppError::internal_msg)?;
    Ok(TicketSummary {
        overdue: !state.is_final() && d.mine.is_some_and(|m| m < now),
        due_at: d.mine,
        ticket_due_at: d.any,
        provisional: d.mine_provisional,
        id: r.id,
        number: r.number,
        category_id: r.category_id,
        urgency: r.urgency.parse().map_err(AppError::internal_msg)?,
        title: r.title,
        place_id: r.place_id,
        state,
        state_zh: crate::i18n::text(crate::i18n::Lang::Zh, state.label_key()),
        reopen_count: r.reopen_count,
        version: r.version,
        created_at: r.created_at,
    })
}

// ---------------------------------------------------------------- filing

/// A required text field, trimmed, at most `max` characters.
pub(crate) fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::validation(field, crate::msg!("rule-not_empty")));
    }
    if v.chars().count() > max {
        return Err(AppError::validation(field, crate::msg!("rule-max_chars", max = max)));
    }
    Ok(v.to_string())
}

/// An optional text field: blank counts as absent.
pub(crate) fn opt_text(field: &str, value: &Option<String>, max: usize) -> AppResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// The grant an actor files under for a place: the narrowest residential grant that covers it.
fn filing_grant<'a>(actor: &'a Actor, place: &OrgPath) -> Option<&'a Grant> {
    actor.grants.iter().filter(|g| g.role.allows(Operation::TicketFile) && g.org_path.contains(place)).max_by_key(|g| g.org_path.depth())
}

/// The day a ticket number belongs to, in China's time zone.
pub fn number_day(now: NaiveDateTime) -> String {
    now.and_utc().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y%m%d").to_string()
}

/// A checked filing with its number taken, ready to insert.
#[derive(Clone)]
pub struct PreparedFiling {
    row: TicketRow,
    grant: Grant,
    category: CategoryRow,
    place_name: String,
    /// The compound's name: its branch holds the triage clock.
    compound_name: String,
}

impl PreparedFiling {
    /// The materialised path of the ticket's place.
    pub fn place_path(&self) -> &str {
        &self.row.place_path
    }
    /// Links the filing to the visit log it was raised in.
    pub fn link_visit_log(&mut self, log_id: &str) {
        self.row.visit_log_id = Some(log_id.to_string());
        self.row.channel = Channel::Visit.as_str().into();
    }
}

/// 登记: files a ticket at the compound of its place.
pub fn file_ticket(conn: &mut DbConn, ctx: SlaContext<'_>, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<TicketView> {
    let prepared = prepare_filing(conn, actor, input, now)?;
    insert_filing(conn, ctx, actor, prepared, now)
}

/// Checks a filing and takes its number. The number comes from its own short statement, outside
/// the filing's transaction, so that the per-day counter row is never held until a commit: a
/// filing that fails afterwards leaves a gap in the day's numbers, as any sequence would.
pub fn prepare_filing(conn: &mut DbConn, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let mut p = check_filing(conn, actor, input, now)?;
    p.take_number(conn, now)?;
    Ok(p)
}

/// Checks a filing: everything but its number, which [`prepare_filing`] or the intake's batch
/// ([`insert_filings`]) takes.
pub fn check_filing(conn: &mut DbConn, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let refs = FilingRefs::load(conn, [&input])?;
    check_filing_with(&refs, actor, input, now)
}

/// What filings refer to (places with their compounds, categories, visit logs), read for many
/// filings at once: three queries at most, however many filings.
#[derive(Default)]
pub struct FilingRefs {
    units: HashMap<String, OrgUnitRow>,
    categories: HashMap<String, CategoryRow>,
    /// visit log id → (author id, grid path)
    logs: HashMap<String, (String, String)>,
}

impl FilingRefs {
    pub fn load<'a>(conn: &mut DbConn, inputs: impl IntoIterator<Item = &'a NewTicket>) -> AppResult<FilingRefs> {
        use crate::db::schema::visit_logs;
        let (mut places, mut cats, mut logs) = (vec![], vec![], vec![]);
        for i in inputs {
            places.extend(i.building_id.iter().chain(i.compound_id.iter()).filter(|id| id.parse::<Id>().is_ok()).cloned());
            cats.extend(Some(&i.category_id).filter(|id| id.parse::<Id>().is_ok()).cloned());
            logs.extend(i.visit_log_id.iter().filter(|id| id.parse::<Id>().is_ok()).cloned());
        }
        let mut refs = FilingRefs::default();
        places.sort();
        places.dedup();
        if !places.is_empty() {
            // The places, then the compounds of buildings.
            let units = |conn: &mut DbConn, ids: &[String]| -> AppResult<Vec<OrgUnitRow>> {
                Ok(org_units::table.filter(org_units::id.eq_any(ids)).select(OrgUnitRow::as_select()).load(conn)?)
            };
            refs.units = units(conn, &places)?.into_iter().map(|u| (u.id.clone(), u)).collect();
            let mut parents: Vec<String> = refs
                .units
                .values()
                .filter(|u| u.kind == OrgKind::Building.as_str())
                .filter_map(|u| u.parent_id.clone())
                .filter(|p| !refs.units.contains_key(p))
                .collect();
            parents.sort();
            parents.dedup();
            if !parents.is_empty() {
                refs.units.extend(units(conn, &parents)?.into_iter().map(|u| (u.id.clone(), u)));
            }
        }
        if !cats.is_empty() {
            let rows: Vec<CategoryRow> =
                categories::table.filter(categories::id.eq_any(&cats)).select(CategoryRow::as_select()).load(conn)?;
            refs.categories = rows.into_iter().map(|c| (c.id.clone(), c)).collect();
        }
        if !logs.is_empty() {
            let rows: Vec<(String, String, String)> = visit_logs::table
                .filter(visit_logs::id.eq_any(&logs))
                .select((visit_logs::id, visit_logs::author_id, visit_logs::grid_path))
                .load(conn)?;
            refs.logs = rows.into_iter().map(|(id, a, g)| (id, (a, g))).collect();
        }
        Ok(refs)
    }
}

/// [`check_filing`] over references read beforehand.
pub fn check_filing_with(refs: &FilingRefs, actor: &Actor, input: NewTicket, now: NaiveDateTime) -> AppResult<PreparedFiling> {
    let title = text("title", &input.title, 100)?;
    let description = text("description", &input.description, 4000)?;
    let address = opt_text("address", &input.address, 200)?;
    let resident_name = opt_text("resident_name", &input.resident_name, 50)?;
    let resident_phone = opt_text("resident_phone", &input.resident_phone, 20)?;
    if let Some(p) = &resident_phone {
        validate_mobile(p).map_err(|e| AppError::validation("resident_phone", e))?;
    }
    if input.anonymous && (resident_name.is_some() || resident_phone.is_some()) {
        return Err(AppError::validation("anonymous", crate::msg!("why-anonymous_no_contact")));
    }
    if !input.anonymous && resident_name.is_none() && resident_phone.is_none() {
        return Err(AppError::validation("resident_name", crate::msg!("why-resident_or_anonymous")));
    }
    for (field, v, lim) in [("latitude", input.latitude, 90.0), ("longitude", input.longitude, 180.0)] {
        if v.is_some_and(|x| !x.is_finite() || x.abs() > lim) {
            return Err(AppError::validation(field, crate::msg!("rule-between", min = format!("-{lim}"), max = lim.to_string())));
        }
    }
    let place_id = match (&input.building_id, &input.compound_id) {
        (Some(b), None) => parse_id("building_id", b).map(|_| b.clone())?,
        (None, Some(c)) => parse_id("compound_id", c).map(|_| c.clone())?,
        _ => return Err(AppError::validation("building_id", crate::msg!("why-one_place"))),
    };
    let place_field = if input.building_id.is_some() { "building_id" } else { "compound_id" };
    let unknown_place = || AppError::UnknownReference { field: place_field.into(), detail: crate::msg!("why-no_place_in_scope") };
    let place: OrgUnitRow = refs.units.get(&place_id).cloned().ok_or_else(unknown_place)?;
    let place_path = OrgPath::from_db(place.path.clone());
    if !actor.may(Operation::TicketRead, &place_path) {
        return Err(unknown_place());
    }
    let want_kind = if input.building_id.is_some() { OrgKind::Building } else { OrgKind::Compound };
    if place.kind != want_kind.as_str() || !place.active {
        return Err(AppError::validation(
            place_field,
            crate::msg!("why-active_place", kind = crate::domain::text::Arg::Key(want_kind.label_key())),
        ));
    }
    let Some(grant) = filing_grant(actor, &place_path).cloned() else {
        return Err(AppError::forbidden(crate::msg!("why-who_files")));
    };
    let compound = if want_kind == OrgKind::Building {
        refs.units
            .get(place.parent_id.as_deref().unwrap_or_default())
            .cloned()
            .ok_or_else(|| AppError::internal_msg("building without compound".into()))?
    } else {
        place.clone()
    };
    let community_id = compound.parent_id.clone().ok_or_else(|| AppError::internal_msg("compound without community".into()))?;
    parse_id("category_id", &input.category_id)?;
    let cat: CategoryRow = refs
        .categories
        .get(&input.category_id)
        .filter(|c| c.active)
        .cloned()
        .ok_or_else(|| AppError::UnknownReference { field: "category_id".into(), detail: crate::msg!("why-no_category") })?;
    if !cat.urgencies.split(',').any(|u| u == input.urgency.as_str()) {
        return Err(AppError::validation("urgency", crate::msg!("why-category_urgencies", code = &cat.code, allowed = &cat.urgencies)));
    }
    if let Some(v) = &input.visit_log_id {
        // A request linked to a visit log comes from the filer's own log, for a place in its grid.
        parse_id("visit_log_id", v)?;
        match refs.logs.get(v).cloned() {
            Some((author, grid_path)) if author == actor.person_id.to_string() => {
                if !OrgPath::from_db(grid_path).contains(&place_path) {
                    return Err(AppError::validation("visit_log_id", crate::msg!("why-place_in_log_grid")));
                }
                if input.channel != Channel::Visit {
                    return Err(AppError::validation("channel", crate::msg!("why-visit_channel")));
                }
            }
            _ => {
                return Err(AppError::UnknownReference { field: "visit_log_id".into(), detail: crate::msg!("why-no_own_log") });
            }
        }
    }
    let row = TicketRow {
        id: Id::new().to_string(),
        number: String::new(),
        category_id: cat.id.clone(),
        urgency: input.urgency.as_str().into(),
        title,
        description,
        place_id: place.id.clone(),
        place_path: place.path.clone(),
        compound_id: compound.id.clone(),
        community_id,
        address,
        latitude: input.latitude,
        longitude: input.longitude,
        resident_name,
        resident_phone,
        channel: input.channel.as_str().into(),
        filed_by: actor.person_id.to_string(),
        visit_log_id: input.visit_log_id.clone(),
        state: TicketState::AtCompound.as_str().into(),
        solved_level: None,
        duplicate_of: None,
        whistle_type: None,
        reopen_count: 0,
        satisfaction: None,
        resolution: None,
        // Set by the triage clock when the filing is inserted.
        due_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    Ok(PreparedFiling { row, grant, category: cat, place_name: place.name, compound_name: compound.name })
}

/// Inserts a prepared filing with its triage clock and audit event, in one transaction (the
/// caller's, if it has one).
pub fn insert_filing(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    p: PreparedFiling,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let mut views = backend::within_transaction(conn, |conn| insert_filings(conn, ctx, vec![(actor, p)], now))?;
    views.pop().ok_or_else(|| AppError::internal_msg("a filing was inserted without a view".into()))
}

/// Locks existing tickets' rows, in id order, for the rest of the caller's transaction: the first
/// step of a transaction that will act on several tickets and append to several audit chains (see
/// [`audit::lock_chains`] for the order). Unknown ids are skipped; SQLite needs nothing.
pub fn lock_rows(conn: &mut DbConn, ids: &[&str]) -> AppResult<()> {
    let DbConn::Postgresql(c) = conn else { return Ok(()) };
    if ids.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    tickets::table.filter(tickets::id.eq_any(&ids)).order(tickets::id.asc()).for_update().select(tickets::id).load::<String>(c)?;
    Ok(())
}

/// The audit event of a filing.
fn filing_event<'a>(row: &'a TicketRow, category: &CategoryRow, by: &'a ActedBy) -> Draft<'a> {
    Draft {
        entity_kind: "ticket",
        entity_id: &row.id,
        by,
        action: "file",
        from_state: None,
        to_state: Some(&row.state),
        reason: None,
        changes: json!({
            "number": [null, row.number],
            "category": [null, category.code],
            "urgency": [null, row.urgency],
            "title": [null, row.title],
            "place_id": [null, row.place_id],
            "channel": [null, row.channel],
            "resident_phone": [null, row.resident_phone.as_deref().map(mask_phone)],
            "due_at": [null, row.due_at],
        }),
    }
}

/// Inserts numbered filings in the caller's transaction: all tickets in one insert, all triage
/// clocks in one, all audit events appended together (the intake's group commit, a visit log's
/// requests, or one filing). All or none are stored.
pub fn insert_filings(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    filings: Vec<(&Actor, PreparedFiling)>,
    now: NaiveDateTime,
) -> AppResult<Vec<TicketView>> {
    if filings.is_empty() {
        return Ok(vec![]);
    }
    let mut rows = Vec::with_capacity(filings.len());
    let mut clocks = Vec::with_capacity(filings.len());
    // The categories' own limits, read once; filings of one category, urgency and compound share
    // their clock's limit and calendar.
    let mut categories: Vec<&str> = filings.iter().map(|(_, p)| p.row.category_id.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = sla::Policies::load(conn, &categories)?;
    let mut planned: HashMap<(String, String, String), ClockRow> = HashMap::new();
    for (_, p) in &filings {
        let mut row = p.row.clone();
        row.created_at = now;
        row.updated_at = now;
        let key = (row.category_id.clone(), row.urgency.clone(), row.compound_id.clone());
        let clock = match planned.get(&key) {
            Some(c) => ClockRow { id: Id::new().to_string(), ticket_id: row.id.clone(), ..c.clone() },
            None => {
                let compound_path = ancestor_path(&row.place_path, &row.compound_id);
                let holder = (row.compound_id.as_str(), compound_path.as_str());
                let c = sla::plan_clock(conn, ctx, &policies, &row, None, Stage::CompoundTriage, holder, now)?;
                planned.insert(key, c.clone());
                c
            }
        };
        row.due_at = Some(clock.due_at);
        rows.push(row);
        clocks.push(clock);
    }
    backend::insert_all!(conn, tickets::table, &rows)?;
    backend::insert_all!(conn, sla_clocks::table, &clocks)?;
    let by: Vec<ActedBy> = filings.iter().map(|(a, p)| ActedBy::person(a.person_id, Some(&p.grant))).collect();
    let drafts = rows.iter().zip(&filings).zip(&by).map(|((r, (_, p)), by)| filing_event(r, &p.category, by)).collect();
    audit::append_all(conn, drafts, now)?;
    rows.into_iter().zip(filings).zip(&clocks).map(|((row, (actor, p)), clock)| filed_view(actor, row, &p, clock.clone(), now)).collect()
}

impl PreparedFiling {
    /// The id the ticket will have.
    pub fn ticket_id(&self) -> &str {
        &self.row.id
    }

    /// Gives the filing its number (see [`backend::take_ticket_numbers`]).
    pub fn set_number(&mut self, day: &str, n: i64) {
        self.row.number = format!("GL-{day}-{n:04}");
    }

    /// Takes the next number of the day for this filing alone.
    pub fn take_number(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<()> {
        let day = number_day(now);
        let n = backend::take_ticket_numbers(conn, &day, 1)?;
        self.set_number(&day, n);
        Ok(())
    }
}

// ---------------------------------------------------------------- actions

fn refusal(e: Refusal, actor: &Actor, action: ActionKind, f: &Facts<'_>) -> AppError {
    match e {
        Refusal::Hidden => AppError::NotFound { what: "ticket" },
        Refusal::WrongRole(why) => AppError::forbidden(why),
        Refusal::WrongState => AppError::IllegalAction {
            action: action.as_str().into(),
            state: f.state.as_str().into(),
            allowed: allowed_for(actor, f).iter().map(|a| a.as_str().to_string()).collect(),
        },
        Refusal::Blocked(b) => AppError::conflict(b.code(), blocked_detail(b, action)),
    }
}

fn blocked_detail(b: crate::domain::workflow::Blocked, action: ActionKind) -> crate::domain::text::Msg {
    use crate::domain::text::Arg;
    use crate::domain::workflow::Blocked as B;
    let a = Arg::Key(action.label_key());
    match b {
        B::PartState => crate::msg!("why-illegal_part_state", action = a),
        B::ReturnOverruled => crate::msg!("why-return_overruled"),
        B::ExtensionPending => crate::msg!("why-extension_pending"),
        B::LeadClosesBySolving => crate::msg!("why-lead_closes_by_solving"),
        B::LeadNotAcknowledged => crate::msg!("why-lead_not_acknowledged"),
        B::CoDepartmentsOpen => crate::msg!("why-co_departments_open"),
        B::NothingToRule => crate::msg!("why-nothing_to_rule", action = a),
        B::NoCoDepartment => crate::msg!("why-no_co_department"),
        B::NothingToPause => crate::msg!("why-nothing_to_pause"),
        B::NotPaused => crate::msg!("why-not_paused"),
    }
}

/// The grant the actor acts under for this action, for the audit event.
fn acting_grant<'a>(actor: &'a Actor, kind: ActionKind, state: TicketState, t: &Loaded) -> Option<&'a Grant> {
    use crate::domain::workflow::{rule, Taker};
    let role_at = |role: Role, at: &OrgPath| actor.grants.iter().find(|g| g.role == role && g.org_path.contains(at));
    let dept = || {
        actor.grants.iter().find(|g| {
            g.role == Role::DepartmentLiaison
                && t.parts.iter().any(|p| p.department_id == g.org_unit_id.to_string() && p.state != AssignmentState::Removed.as_str())
        })
    };
    match rule(kind).taker {
        Taker::Compound => role_at(Role::BranchSecretary, &t.place.compound),
        Taker::Community => role_at(Role::CommunityStaff, &t.place.community),
        Taker::AnyDepartment => dept(),
        Taker::GridWorker => role_at(Role::GridWorker, &t.place.place),
        Taker::System => None,
        Taker::HandlingLevel => match crate::domain::workflow::handling_level(state) {
            Some(Level::Compound) => role_at(Role::BranchSecretary, &t.place.compound),
            Some(Level::Community) => role_at(Role::CommunityStaff, &t.place.community),
            Some(Level::Department) => dept(),
            None => role_at(Role::BranchSecretary, &t.place.compound).or_else(|| role_at(Role::CommunityStaff, &t.place.community)),
        },
    }
}

/// Who did it, for the audit event: a person under a grant, or the system.
fn acted_by(actor: &Actor, grant: Option<&Grant>) -> ActedBy {
    if actor.is_system() {
        ActedBy::default()
    } else {
        ActedBy::person(actor.person_id, grant)
    }
}

/// The caller's own live part on the ticket, chosen by `department_id` when he speaks for several.
fn own_part<'a>(actor: &Actor, t: &'a Loaded, department_id: &Option<String>) -> AppResult<&'a AssignmentRow> {
    let parts = t.domain_parts()?;
    let mine: Vec<String> = own_parts(actor, &parts).iter().map(|p| p.department_id.to_string()).collect();
    let candidates: Vec<&AssignmentRow> = t
        .parts
        .iter()
        .filter(|p| p.state != AssignmentState::Removed.as_str() && mine.contains(&p.department_id))
        .filter(|p| department_id.as_ref().is_none_or(|d| &p.department_id == d))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(AppError::validation("department_id", crate::msg!("why-no_own_part"))),
        _ => Err(AppError::validation("department_id", crate::msg!("why-name_department"))),
    }
}

fn part_state(p: &AssignmentRow) -> AppResult<AssignmentState> {
    p.state.parse().map_err(AppError::internal_msg)
}

fn wrong_part_state(p: &AssignmentRow, action: ActionKind, _needs: &str) -> AppError {
    log::debug!("{} refused for part {} in state {}", action.as_str(), p.id, p.state);
    AppError::conflict(
        "illegal_part_state",
        crate::msg!("why-illegal_part_state", action = crate::domain::text::Arg::Key(action.label_key())),
    )
}

/// A department that this ticket's community may whistle: an active department hanging off one
/// of the community's ancestors (the street, district or city it belongs to).
fn whistleable_department(conn: &mut DbConn, t: &Loaded, field: &str, id: &str) -> AppResult<OrgUnitRow> {
    parse_id(field, id)?;
    let unknown = || AppError::UnknownReference { field: field.into(), detail: crate::msg!("why-no_department_for_community") };
    let d = find_unit(conn, id)?.ok_or_else(unknown)?;
    if d.kind != OrgKind::Department.as_str() || !d.active {
        return Err(unknown());
    }
    let parent = d.parent_id.as_deref().and_then(|p| find_unit(conn, p).transpose()).transpose()?.ok_or_else(unknown)?;
    if !OrgPath::from_db(parent.path).contains(&t.place.community) {
        return Err(unknown());
    }
    Ok(d)
}

/// Whistles a department onto the ticket: its part, and its two clocks started now (签收 and 办理),
/// held by the department. The part's deadlines are the clocks'.
fn dispatch_part(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    ticket: &TicketRow,
    dept: &OrgUnitRow,
    lead: bool,
    now: NaiveDateTime,
) -> AppResult<AssignmentRow> {
    let mut p = AssignmentRow {
        id: Id::new().to_string(),
        ticket_id: ticket.id.clone(),
        department_id: dept.id.clone(),
        lead,
        state: AssignmentState::Dispatched.as_str().into(),
        overruled: false,
        dispatched_at: now,
        ack_due_at: now,
        acknowledged_at: None,
        due_at: now,
        original_due_at: None,
        return_reason: None,
        return_note: None,
        done_at: None,
        updated_at: now,
        ended_at: None,
        end_reason: None,
    };
    diesel::insert_into(ticket_assignments::table).values(&p).execute(conn)?;
    let holder = (dept.id.as_str(), dept.path.as_str());
    let ack = sla::start_clock(conn, ctx, ticket, Some(&p.id), Stage::DepartmentAcknowledgement, holder, now)?;
    let resolve = sla::start_clock(conn, ctx, ticket, Some(&p.id), Stage::Resolution, holder, now)?;
    p.ack_due_at = ack.due_at;
    p.due_at = resolve.due_at;
    diesel::update(ticket_assignments::table.find(&p.id))
        .set((ticket_assignments::ack_due_at.eq(p.ack_due_at), ticket_assignments::due_at.eq(p.due_at)))
        .execute(conn)?;
    Ok(p)
}

fn set_part(conn: &mut DbConn, p: &AssignmentRow) -> AppResult<()> {
    diesel::update(ticket_assignments::table.find(&p.id))
        .set((
            ticket_assignments::state.eq(&p.state),
            ticket_assignments::lead.eq(p.lead),
            ticket_assignments::overruled.eq(p.overruled),
            ticket_assignments::acknowledged_at.eq(p.acknowledged_at),
            ticket_assignments::due_at.eq(p.due_at),
            ticket_assignments::original_due_at.eq(p.original_due_at),
            ticket_assignments::return_reason.eq(&p.return_reason),
            ticket_assignments::return_note.eq(&p.return_note),
            ticket_assignments::done_at.eq(p.done_at),
            ticket_assignments::updated_at.eq(p.updated_at),
            ticket_assignments::ended_at.eq(p.ended_at),
            ticket_assignments::end_reason.eq(&p.end_reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// What an action changes, collected for the ticket row and the audit event.
struct Change {
    to: TicketState,
    reason: Option<String>,
    changes: serde_json::Map<String, Value>,
}

impl Change {
    fn note(&mut self, field: &str, old: impl Serialize, new: impl Serialize) {
        self.changes.insert(field.into(), json!([old, new]));
    }
}

fn required(field: &str, v: &str) -> AppResult<String> {
    text(field, v, 2000)
}

/// One workflow action as a request asked for it.
pub struct ActRequest {
    pub actor: Actor,
    pub ticket_id: String,
    /// The version the caller last saw (`If-Match`).
    pub version: Option<i64>,
    pub action: ActionRequest,
}

/// An action checked, with the writes of its own kind done (parts, extensions, department
/// clocks). The ticket row, the stage clocks and the audit event are written afterwards, for all
/// actions of a batch together ([`finish`]).
struct Decided {
    t: Loaded,
    from: TicketState,
    kind: ActionKind,
    grant: Option<Grant>,
    c: Change,
}

/// 办理: takes one workflow action, in the caller's transaction if there is one (else in its own).
pub fn act(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    id: &str,
    version: Option<i64>,
    req: ActionRequest,
    now: NaiveDateTime,
) -> AppResult<TicketView> {
    let r = ActRequest { actor: actor.clone(), ticket_id: id.to_string(), version, action: req };
    act_together(conn, ctx, &[&r], now)?.pop().unwrap_or_else(|| Err(AppError::internal_msg("an action was left unanswered".into())))
}

/// 超时上报: the time limit's own policy (`sla.breach_action = "escalate"`) takes the workflow's
/// `escalate_to_community` on tickets whose triage breached, as the system, each in its own
/// transaction and through the same path as every action: a ticket someone acted on meanwhile
/// (it left `at_compound`) is refused by the rules and left alone. Returns how many went up.
pub fn escalate_breached(conn: &mut DbConn, ctx: SlaContext<'_>, ticket_ids: &[String], now: NaiveDateTime) -> AppResult<usize> {
    let system = Actor::system();
    let mut done = 0;
    for id in ticket_ids {
        let Some(version) = tickets::table.find(id).select(tickets::version).first::<i64>(conn).optional()? else { continue };
        let taken =
            backend::write_transaction(conn, |c| act(c, ctx, &system, id, Some(version), ActionRequest::EscalateToCommunity {}, now));
        match taken {
            Ok(_) => done += 1,
            // Moved on since the breach (a secretary acted): nothing to escalate.
            Err(AppError::IllegalAction { .. } | AppError::VersionConflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Takes several actions, on distinct tickets, in one transaction: the intake's group commit for
/// state changes. The tickets are read and locked together (in id order, before any audit chain:
/// the service's lock order), each action is checked and its own writes done, then the stage
/// clocks, the ticket rows, the audit events and the answers are written and read for all of them
/// with a few statements. An action refused (its version stale, its state or scope wrong) gets its
/// own error and changes nothing; the others go on. The outer error means the whole transaction
/// failed and nothing was written. Runs in the caller's transaction, or in one of its own.
pub fn act_together(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    requests: &[&ActRequest],
    now: NaiveDateTime,
) -> AppResult<Vec<AppResult<TicketView>>> {
    backend::within_transaction(conn, |conn| {
        let ids: Vec<&str> = requests.iter().map(|r| r.ticket_id.as_str()).filter(|id| id.parse::<Id>().is_ok()).collect();
        let mut loaded = load_all(conn, &ids, true)?;
        let mut answers: Vec<Option<AppResult<TicketView>>> = requests.iter().map(|_| None).collect();
        let mut decided = vec![];
        for (i, r) in requests.iter().enumerate() {
            let t = match loaded.remove(&r.ticket_id) {
                Some(t) if r.actor.is_system() || t.sight(&r.actor)? != Sight::Hidden => t,
                _ => {
                    answers[i] = Some(Err(AppError::NotFound { what: "ticket" }));
                    continue;
                }
            };
            let kind = r.action.kind();
            // An action that writes while it is checked does so in a savepoint, so that its
            // refusal undoes its writes and leaves the batch's others alone.
            let d = if writes_while_deciding(kind) {
                conn.transaction(|conn| decide(conn, ctx, &r.actor, t, r.version, r.action.clone(), now))
            } else {
                decide(conn, ctx, &r.actor, t, r.version, r.action.clone(), now)
            };
            match d {
                Ok(d) => decided.push((i, d)),
                // The database is away or broke the transaction off: not this action's refusal,
                // but the whole round's failure (run again, or answered 503).
                Err(e) if e.is_database_failure() => return Err(e),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let (index, decided): (Vec<usize>, Vec<Decided>) = decided.into_iter().unzip();
        let actors: Vec<&Actor> = index.iter().map(|&i| &requests[i].actor).collect();
        let views = finish(conn, ctx, &actors, decided, now)?;
        for (i, v) in index.into_iter().zip(views) {
            answers[i] = Some(Ok(v));
        }
        Ok(answers.into_iter().map(|a| a.unwrap_or_else(|| Err(AppError::internal_msg("an action was left unanswered".into())))).collect())
    })
}

/// Whether checking an action of this kind writes (departments dispatched, parts changed, clocks
/// of a part stopped, extensions recorded). The others only read until [`finish`].
fn writes_while_deciding(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::AcceptAtCompound
            | ActionKind::AcceptAtCommunity
            | ActionKind::ReportToCommunity
            | ActionKind::MarkDuplicate
            | ActionKind::Decline
            | ActionKind::AddProgress
            | ActionKind::MarkSolved
            | ActionKind::RecordReturnVisit
            | ActionKind::EscalateToCommunity
    )
}

/// Reads tickets with their department parts; on PostgreSQL `lock` takes their rows, in id order.
fn load_all(conn: &mut DbConn, ids: &[&str], lock: bool) -> AppResult<HashMap<String, Loaded>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let q = tickets::table.filter(tickets::id.eq_any(ids)).order(tickets::id.asc());
    let rows: Vec<TicketRow> = match conn {
        DbConn::Postgresql(c) if lock => q.for_update().select(TicketRow::as_select()).load(c)?,
        _ => q.select(TicketRow::as_select()).load(conn)?,
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut parts = parts_of(conn, &ids)?;
    let mut clocks = sla::running_clocks(conn, &ids)?;
    // Extension requests belong to department parts: only whistled tickets can have one.
    let whistled: Vec<&str> = ids.iter().copied().filter(|id| parts.contains_key(*id)).collect();
    let mut pending: HashMap<String, Vec<String>> = HashMap::new();
    if !whistled.is_empty() {
        let rows: Vec<(String, String)> = ticket_extensions::table
            .filter(ticket_extensions::ticket_id.eq_any(&whistled))
            .filter(ticket_extensions::state.eq("pending"))
            .select((ticket_extensions::ticket_id, ticket_extensions::assignment_id))
            .load(conn)?;
        for (t, a) in rows {
            pending.entry(t).or_default().push(a);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let parts = parts.remove(&row.id).unwrap_or_default();
            let clocks = clocks.remove(&row.id).unwrap_or_default();
            let pending_extensions = pending.remove(&row.id).unwrap_or_default();
            (row.id.clone(), Loaded { place: place_of(&row), row, parts, clocks, pending_extensions })
        })
        .collect())
}

/// The department parts of tickets, each ticket's in dispatch order.
fn parts_of(conn: &mut DbConn, ids: &[&str]) -> AppResult<HashMap<String, Vec<AssignmentRow>>> {
    let mut by_ticket: HashMap<String, Vec<AssignmentRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_ticket);
    }
    let rows: Vec<AssignmentRow> = ticket_assignments::table
        .filter(ticket_assignments::ticket_id.eq_any(ids))
        .order((ticket_assignments::ticket_id, ticket_assignments::dispatched_at))
        .select(AssignmentRow::as_select())
        .load(conn)?;
    for p in rows {
        by_ticket.entry(p.ticket_id.clone()).or_default().push(p);
    }
    Ok(by_ticket)
}

/// Checks one action against its ticket and does the writes of its own kind. The rules (who, in
/// which state, given the parts, pauses and pending extensions) are the domain's
/// (`workflow::authorize`, the same rules that list `allowed_actions`); the target state comes
/// from the rule table; what is left here is the action's arguments and its writes.
fn decide(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actor: &Actor,
    mut t: Loaded,
    version: Option<i64>,
    req: ActionRequest,
    now: NaiveDateTime,
) -> AppResult<Decided> {
    use crate::domain::workflow::{rule, Outcome};
    check_version(version, t.row.version)?;
    let kind = req.kind();
    let state = t.state()?;
    {
        let parts = t.domain_parts()?;
        let facts = t.facts(&parts)?;
        authorize(actor, kind, &facts).map_err(|e| refusal(e, actor, kind, &facts))?;
    }
    let grant = acting_grant(actor, kind, state, &t).cloned();
    let to = match rule(kind).outcome {
        Outcome::To(s) => s,
        Outcome::Stay => state,
        Outcome::Solve => TicketState::Solved,
        // Decided by the verdict below.
        Outcome::ReturnVisit => state,
    };
    let mut c = Change { to, reason: None, changes: serde_json::Map::new() };
    let mut solved_level = t.row.solved_level.clone();
    let mut satisfaction = t.row.satisfaction.clone();
    let mut resolution = t.row.resolution.clone();
    let mut duplicate_of = t.row.duplicate_of.clone();
    let mut whistle_type = t.row.whistle_type.clone();
    let mut reopen_count = t.row.reopen_count;
    let mut closed_at = t.row.closed_at;
    if c.to.is_final() {
        closed_at = Some(now);
    }
    use ActionRequest as R;
    match req {
        R::AcceptAtCompound { note } | R::AcceptAtCommunity { note } => {
            c.reason = opt_text("note", &note, 2000)?;
        }
        R::ReportToCommunity { reason } | R::Decline { reason } => {
            c.reason = Some(required("reason", &reason)?);
        }
        R::EscalateToCommunity {} => {}
        R::MarkDuplicate { duplicate_of: original, reason } => {
            parse_id("duplicate_of", &original)?;
            if original == t.row.id {
                return Err(AppError::validation("duplicate_of", crate::msg!("why-duplicate_self")));
            }
            let visible = match load(conn, &original)? {
                Some(o) => Some(o.sight(actor)? == Sight::Full).filter(|v| *v).map(|_| o),
                None => None,
            };
            let o = visible.ok_or_else(|| AppError::UnknownReference {
                field: "duplicate_of".into(),
                detail: crate::msg!("why-no_ticket_in_scope"),
            })?;
            // Point at the original, never at another duplicate.
            let target = o.row.duplicate_of.clone().unwrap_or(o.row.id.clone());
            c.reason = opt_text("reason", &reason, 2000)?;
            c.note("duplicate_of", &duplicate_of, &target);
            duplicate_of = Some(target);
        }
        R::Whistle { lead_department_id, co_department_ids, whistle_type: wt, reason } => {
            c.reason = Some(required("reason", &reason)?);
            let mut all = vec![lead_department_id.clone()];
            for d in &co_department_ids {
                if all.contains(d) {
                    return Err(AppError::validation("co_department_ids", crate::msg!("why-department_once")));
                }
                all.push(d.clone());
            }
            let mut created = vec![];
            for (i, d) in all.iter().enumerate() {
                let field = if i == 0 { "lead_department_id" } else { "co_department_ids" };
                let dept = whistleable_department(conn, &t, field, d)?;
                if t.parts.iter().any(|p| p.department_id == dept.id && p.state != AssignmentState::Removed.as_str()) {
                    return Err(AppError::Conflict { code: "already_whistled", detail: crate::msg!("why-already_whistled") });
                }
                let p = dispatch_part(conn, ctx, &t.row, &dept, i == 0, now)?;
                created.push(json!({"department_id": dept.id, "lead": i == 0}));
                t.parts.push(p);
            }
            c.note("departments", Value::Null, created);
            c.note("whistle_type", &whistle_type, wt.as_str());
            whistle_type = Some(wt.as_str().into());
        }
        R::AddDepartment { department_id, reason } => {
            let dept = whistleable_department(conn, &t, "department_id", &department_id)?;
            if t.parts.iter().any(|p| p.department_id == dept.id && p.state != AssignmentState::Removed.as_str()) {
                return Err(AppError::Conflict { code: "already_whistled", detail: crate::msg!("why-already_whistled") });
            }
            let p = dispatch_part(conn, ctx, &t.row, &dept, false, now)?;
            c.reason = opt_text("reason", &reason, 2000)?;
            c.note("department_added", Value::Null, &dept.id);
            t.parts.push(p);
        }
        R::RemoveDepartment { department_id, reason } | R::ReleasePart { department_id, reason } => {
            c.reason = Some(required("reason", &reason)?);
            let end = if kind == ActionKind::ReleasePart { PartEnd::Released } else { PartEnd::Removed };
            let p = t
                .parts
                .iter_mut()
                .find(|p| p.department_id == department_id && p.state != AssignmentState::Removed.as_str())
                .ok_or_else(|| AppError::UnknownReference { field: "department_id".into(), detail: crate::msg!("why-no_live_part") })?;
            if p.lead {
                return Err(AppError::validation("department_id", crate::msg!("why-lead_not_removable")));
            }
            let ps = part_state(p)?;
            let open = matches!(ps, AssignmentState::Dispatched | AssignmentState::Acknowledged | AssignmentState::Returned);
            if !open {
                return Err(AppError::conflict(
                    "illegal_part_state",
                    crate::msg!("why-part_not_open", action = crate::domain::text::Arg::Key(kind.label_key())),
                ));
            }
            c.note("department", Value::Null, &p.department_id);
            c.note("part_state", &p.state, AssignmentState::Removed.as_str());
            c.note("part_end", Value::Null, end.as_str());
            p.state = AssignmentState::Removed.as_str().into();
            p.ended_at = Some(now);
            p.end_reason = Some(end.as_str().into());
            p.updated_at = now;
            set_part(conn, p)?;
            sla::stop_clocks(conn, &t.row.id, Which::Assignment(&p.id), false, now)?;
        }
        R::Acknowledge { department_id } => {
            let mut p = own_part(actor, &t, &department_id)?.clone();
            if part_state(&p)? != AssignmentState::Dispatched {
                return Err(wrong_part_state(&p, kind, "dispatched"));
            }
            p.state = AssignmentState::Acknowledged.as_str().into();
            p.acknowledged_at = Some(now);
            p.updated_at = now;
            c.note("department", Value::Null, &p.department_id);
            c.note("acknowledged_late", Value::Null, now > p.ack_due_at);
            set_part(conn, &p)?;
            // Both times stay on the clock: dispatched (started) and acknowledged.
            sla::stop_clocks(conn, &t.row.id, Which::AssignmentStage(&p.id, Stage::DepartmentAcknowledgement), true, now)?;
        }
        R::ReturnCase { department_id, reason_code, note } => {
            let mut p = own_part(actor, &t, &department_id)?.clone();
            if !matches!(part_state(&p)?, AssignmentState::Dispatched | AssignmentState::Acknowledged) {
                return Err(wrong_part_state(&p, kind, "dispatched or acknowledged"));
            }
            if p.overruled {
                return Err(AppError::Conflict { code: "return_overruled", detail: crate::msg!("why-return_overruled") });
            }
            c.reason = Some(required("note", &note)?);
            c.note("department", Value::Null, &p.department_id);
            c.note("part_state", &p.state, AssignmentState::Returned.as_str());
            c.note("reason_code", Value::Null, reason_code.as_str());
            p.state = AssignmentState::Returned.as_str().into();
            p.return_reason = Some(reason_code.as_str().into());
            p.return_note = c.reason.clone();
            p.updated_at = now;
            set_part(conn, &p)?;
            // The department's clocks wait for the ruling (its time is not counted meanwhile);
            // the community's ruling has a clock of its own.
            sla::pause_for_return(conn, &p.id, now)?;
            let community = (t.row.community_id.as_str(), t.place.community.as_str());
            sla::start_clock(conn, ctx, &t.row, Some(&p.id), Stage::ReturnRuling, community, now)?;
        }
        R::RequestExtension { department_id, reason, proposed_due_at } => {
            let p = own_part(actor, &t, &department_id)?.clone();
            if part_state(&p)? != AssignmentState::Acknowledged {
                return Err(wrong_part_state(&p, kind, "acknowledged"));
            }
            if t.pending_extensions.contains(&p.id) {
                return Err(AppError::Conflict { code: "extension_pending", detail: crate::msg!("why-extension_pending") });
            }
            let proposed = super::truncate_to_micros(proposed_due_at.naive_utc());
            if proposed <= p.due_at {
                return Err(AppError::validation("proposed_due_at", crate::msg!("rule-later_than_deadline")));
            }
            c.reason = Some(required("reason", &reason)?);
            let e = ExtensionRow {
                id: Id::new().to_string(),
                ticket_id: t.row.id.clone(),
                assignment_id: p.id.clone(),
                requested_by: actor.person_id.to_string(),
                reason: c.reason.clone().unwrap_or_default(),
                proposed_due_at: proposed,
                original_due_at: p.due_at,
                state: "pending".into(),
                decided_by: None,
                decided_at: None,
                requested_at: now,
            };
            diesel::insert_into(ticket_extensions::table).values(&e).execute(conn)?;
            c.note(
                "extension_requested",
                Value::Null,
                json!({"extension_id": e.id, "department": p.department_id, "proposed_due_at": proposed}),
            );
        }
        R::AddProgress { department_id, note } => {
            let p = own_part(actor, &t, &department_id)?;
            if !matches!(part_state(p)?, AssignmentState::Dispatched | AssignmentState::Acknowledged) {
                return Err(wrong_part_state(p, kind, "dispatched or acknowledged"));
            }
            c.note("department", Value::Null, &p.department_id);
            c.reason = Some(required("note", &note)?);
        }
        R::CompletePart { department_id, note } => {
            let mut p = own_part(actor, &t, &department_id)?.clone();
            if p.lead {
                return Err(AppError::validation("department_id", crate::msg!("why-lead_closes_by_solving")));
            }
            if part_state(&p)? != AssignmentState::Acknowledged {
                return Err(wrong_part_state(&p, kind, "acknowledged"));
            }
            c.reason = Some(required("note", &note)?);
            c.note("department", Value::Null, &p.department_id);
            c.note("part_state", &p.state, AssignmentState::Done.as_str());
            p.state = AssignmentState::Done.as_str().into();
            p.done_at = Some(now);
            p.updated_at = now;
            set_part(conn, &p)?;
            sla::stop_clocks(conn, &t.row.id, Which::Assignment(&p.id), false, now)?;
        }
        R::MarkSolved { resolution: how } => {
            let level =
                crate::domain::workflow::handling_level(state).ok_or_else(|| AppError::internal_msg("solving without a level".into()))?;
            let how = required("resolution", &how)?;
            c.note("solved_level", &solved_level, level.as_str());
            c.note("resolution", &resolution, &how);
            solved_level = Some(level.as_str().into());
            resolution = Some(how);
        }
        R::RuleOnReturn { department_id, decision, new_department_id, reason } => {
            c.reason = Some(required("reason", &reason)?);
            let idx =
                t.parts.iter().position(|p| p.department_id == department_id && p.state == AssignmentState::Returned.as_str()).ok_or_else(
                    || AppError::UnknownReference { field: "department_id".into(), detail: crate::msg!("why-no_return_waiting") },
                )?;
            let mut p = t.parts[idx].clone();
            c.note("department", Value::Null, &p.department_id);
            c.note("ruling", Value::Null, json!(decision));
            match decision {
                ReturnRuling::Overrule => {
                    let back = if p.acknowledged_at.is_some() { AssignmentState::Acknowledged } else { AssignmentState::Dispatched };
                    c.note("part_state", &p.state, back.as_str());
                    p.state = back.as_str().into();
                    p.overruled = true;
                    p.updated_at = now;
                    set_part(conn, &p)?;
                    // The ruling's clock stops; the department's clocks run again from now with
                    // the time they had left.
                    sla::stop_clocks(conn, &t.row.id, Which::AssignmentStage(&p.id, Stage::ReturnRuling), false, now)?;
                    sla::resume_after_return(conn, ctx, &p.id, now)?;
                }
                ReturnRuling::Accept => {
                    let was_lead = p.lead;
                    if was_lead && new_department_id.is_none() {
                        return Err(AppError::validation("new_department_id", crate::msg!("why-name_new_lead")));
                    }
                    c.note("part_state", &p.state, AssignmentState::Removed.as_str());
                    c.note("part_end", Value::Null, PartEnd::ReturnAccepted.as_str());
                    p.state = AssignmentState::Removed.as_str().into();
                    p.lead = false;
                    p.ended_at = Some(now);
                    p.end_reason = Some(PartEnd::ReturnAccepted.as_str().into());
                    p.updated_at = now;
                    set_part(conn, &p)?;
                    sla::stop_clocks(conn, &t.row.id, Which::Assignment(&p.id), false, now)?;
                    if let Some(new_id) = new_department_id {
                        let dept = whistleable_department(conn, &t, "new_department_id", &new_id)?;
                        if t.parts.iter().any(|q| q.department_id == dept.id && q.state != AssignmentState::Removed.as_str()) {
                            return Err(AppError::Conflict { code: "already_whistled", detail: crate::msg!("why-already_whistled") });
                        }
                        dispatch_part(conn, ctx, &t.row, &dept, was_lead, now)?;
                        c.note("redispatched_to", Value::Null, json!({"department_id": dept.id, "lead": was_lead}));
                    }
                }
            }
        }
        R::RuleOnExtension { extension_id, decision, reason } => {
            c.reason = opt_text("reason", &reason, 2000)?;
            let e: ExtensionRow = ticket_extensions::table
                .find(&extension_id)
                .filter(ticket_extensions::ticket_id.eq(&t.row.id))
                .filter(ticket_extensions::state.eq("pending"))
                .select(ExtensionRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| AppError::UnknownReference {
                    field: "extension_id".into(),
                    detail: crate::msg!("why-no_pending_extension"),
                })?;
            let new_state = if decision == ExtensionRuling::Grant { "granted" } else { "refused" };
            diesel::update(ticket_extensions::table.find(&e.id))
                .set((
                    ticket_extensions::state.eq(new_state),
                    ticket_extensions::decided_by.eq(Some(actor.person_id.to_string())),
                    ticket_extensions::decided_at.eq(Some(now)),
                ))
                .execute(conn)?;
            c.note("extension", "pending", json!({"extension_id": e.id, "decision": new_state}));
            if decision == ExtensionRuling::Grant {
                if let Some(p) = t.parts.iter_mut().find(|p| p.id == e.assignment_id) {
                    c.note("department_due_at", p.due_at, e.proposed_due_at);
                    // The first deadline is kept, however many extensions follow.
                    p.original_due_at = Some(p.original_due_at.unwrap_or(p.due_at));
                    p.due_at = e.proposed_due_at;
                    p.updated_at = now;
                    set_part(conn, p)?;
                    let running: Option<ClockRow> = sla_clocks::table
                        .filter(sla_clocks::assignment_id.eq(&p.id))
                        .filter(sla_clocks::stage.eq(Stage::Resolution.as_str()))
                        .filter(sla_clocks::stopped_at.is_null())
                        .select(ClockRow::as_select())
                        .first(conn)
                        .optional()?;
                    if let Some(clock) = running {
                        sla::move_deadline(conn, ctx, &clock, e.proposed_due_at, now)?;
                    }
                }
            }
        }
        R::PauseForResident { reason } => {
            c.reason = Some(required("reason", &reason)?);
            if sla::pause(conn, ctx, &t.row.id, c.reason.as_deref().unwrap_or_default(), now)? == 0 {
                return Err(AppError::Conflict { code: "nothing_to_pause", detail: crate::msg!("why-nothing_to_pause") });
            }
            c.note("paused_until_at_most", Value::Null, now + chrono::Duration::hours(ctx.settings.max_pause_hours));
        }
        R::ResumeWork { note } => {
            c.reason = opt_text("note", &note, 2000)?;
            if sla::resume(conn, ctx, &t.row.id, now)? == 0 {
                return Err(AppError::Conflict { code: "not_paused", detail: crate::msg!("why-not_paused") });
            }
        }
        R::RecordReturnVisit { satisfaction: verdict, note } => {
            c.reason = opt_text("note", &note, 2000)?;
            c.note("satisfaction", &satisfaction, verdict.as_str());
            satisfaction = Some(verdict.as_str().into());
            if verdict == Satisfaction::NotSatisfied {
                let level: Level = match solved_level.as_deref() {
                    Some(l) => l.parse().map_err(AppError::internal_msg)?,
                    None => Level::Compound,
                };
                c.to = reopened_state(level);
                c.note("reopen_count", reopen_count, reopen_count + 1);
                reopen_count += 1;
            } else {
                c.to = TicketState::Closed;
                closed_at = Some(now);
            }
        }
    }
    t.row.solved_level = solved_level;
    t.row.satisfaction = satisfaction;
    t.row.resolution = resolution;
    t.row.duplicate_of = duplicate_of;
    t.row.whistle_type = whistle_type;
    t.row.reopen_count = reopen_count;
    t.row.closed_at = closed_at;
    Ok(Decided { t, from: state, kind, grant, c })
}

/// Writes what the decided actions of a batch share: each ticket's stage clocks (a new stage
/// starts its own clock now; a finished stage stops its clocks), its deadline, its row (the
/// version checked and bumped), its audit event; then reads their views.
fn finish(
    conn: &mut DbConn,
    ctx: SlaContext<'_>,
    actors: &[&Actor],
    mut items: Vec<Decided>,
    now: NaiveDateTime,
) -> AppResult<Vec<TicketView>> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    let moving: Vec<&Decided> = items.iter().filter(|d| d.c.to != d.from).collect();
    let moving_ids: Vec<&str> = moving.iter().map(|d| d.t.row.id.as_str()).collect();
    sla::stop_ticket_clocks(conn, &moving_ids, false, now)?;
    let ending: Vec<&str> =
        moving.iter().filter(|d| d.c.to == TicketState::Solved || d.c.to.is_final()).map(|d| d.t.row.id.as_str()).collect();
    sla::stop_ticket_clocks(conn, &ending, true, now)?;
    let mut categories: Vec<&str> = moving.iter().map(|d| d.t.row.category_id.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let policies = sla::Policies::load(conn, &categories)?;
    let mut clocks = vec![];
    for d in &moving {
        let (t, now) = (&d.t, now);
        let mut plan = |conn: &mut DbConn, stage: Stage, holder: (&str, &str)| -> AppResult<()> {
            clocks.push(sla::plan_clock(conn, ctx, &policies, &t.row, None, stage, holder, now)?);
            Ok(())
        };
        match d.c.to {
            TicketState::AtCommunity => plan(conn, Stage::CommunityAcceptance, (&t.row.community_id, t.place.community.as_str()))?,
            TicketState::CompoundHandling => plan(conn, Stage::Resolution, (&t.row.compound_id, t.place.compound.as_str()))?,
            TicketState::CommunityHandling => plan(conn, Stage::Resolution, (&t.row.community_id, t.place.community.as_str()))?,
            TicketState::Solved => plan(conn, Stage::ReturnVisit, (&t.row.place_id, &t.row.place_path))?,
            TicketState::Whistled if d.from == TicketState::Solved => {
                // Reopened at the department level: the lead department's resolution clock runs again.
                let lead = t.parts.iter().find(|p| p.lead && p.state != AssignmentState::Removed.as_str());
                if let Some(lead) = lead {
                    if let Some(dept) = find_unit(conn, &lead.department_id)? {
                        let holder = (dept.id.as_str(), dept.path.as_str());
                        clocks.push(sla::plan_clock(conn, ctx, &policies, &t.row, Some(&lead.id), Stage::Resolution, holder, now)?);
                    }
                }
            }
            _ => {}
        }
    }
    backend::insert_all!(conn, sla_clocks::table, &clocks)?;
    let dues = sla::tickets_due(conn, &items.iter().map(|d| d.t.row.id.as_str()).collect::<Vec<_>>())?;
    for d in &mut items {
        let due_at = dues.get(&d.t.row.id).copied();
        if due_at != d.t.row.due_at {
            d.c.note("due_at", d.t.row.due_at, due_at);
        }
        if d.c.to != d.from {
            d.c.note("state", d.from.as_str(), d.c.to.as_str());
        }
        d.t.row.due_at = due_at;
        d.t.row.state = d.c.to.as_str().into();
    }
    update_rows(conn, &items.iter().map(|d| &d.t.row).collect::<Vec<_>>(), now)?;
    let by: Vec<ActedBy> = actors.iter().zip(&items).map(|(a, d)| acted_by(a, d.grant.as_ref())).collect();
    let changes: Vec<Value> = items.iter_mut().map(|d| Value::Object(std::mem::take(&mut d.c.changes))).collect();
    let drafts = items
        .iter()
        .zip(&by)
        .zip(changes)
        .map(|((d, by), changes)| Draft {
            entity_kind: "ticket",
            entity_id: &d.t.row.id,
            by,
            action: d.kind.as_str(),
            from_state: Some(d.from.as_str()),
            to_state: Some(d.c.to.as_str()),
            reason: d.c.reason.as_deref(),
            changes,
        })
        .collect();
    audit::append_all(conn, drafts, now)?;
    // The rows as just written, without reading them back; the parts only where they may have changed.
    let reread: Vec<&str> = items
        .iter()
        .filter(|d| !d.t.parts.is_empty() || matches!(d.kind, ActionKind::Whistle | ActionKind::AddDepartment))
        .map(|d| d.t.row.id.as_str())
        .collect();
    let mut parts = parts_of(conn, &reread)?;
    for d in &mut items {
        d.t.row.version += 1;
        d.t.row.updated_at = now;
        if let Some(p) = parts.remove(&d.t.row.id) {
            d.t.parts = p;
        }
    }
    views(conn, &actors.iter().copied().zip(items.iter().map(|d| &d.t)).collect::<Vec<_>>(), now)
}

/// Writes the acted-on ticket rows, each only if its version is still the one read (and bumps
/// it): one statement for all on PostgreSQL, one per row on SQLite (whose writer holds the
/// database). A version that moved is a conflict.
fn update_rows(conn: &mut DbConn, rows: &[&TicketRow], now: NaiveDateTime) -> AppResult<()> {
    use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
    let updated = match conn {
        DbConn::Postgresql(c) => {
            let texts = |f: fn(&TicketRow) -> Option<String>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
            diesel::sql_query(
                "UPDATE tickets SET state = v.state, solved_level = v.solved_level, satisfaction = v.satisfaction, \
                 resolution = v.resolution, duplicate_of = v.duplicate_of, whistle_type = v.whistle_type, \
                 reopen_count = v.reopen_count, closed_at = v.closed_at, due_at = v.due_at, version = v.version + 1, updated_at = $12 \
                 FROM (SELECT unnest($1::text[]) AS id, unnest($2::bigint[]) AS version, unnest($3::text[]) AS state, \
                 unnest($4::text[]) AS solved_level, unnest($5::text[]) AS satisfaction, unnest($6::text[]) AS resolution, \
                 unnest($7::text[]) AS duplicate_of, unnest($8::text[]) AS whistle_type, unnest($9::int[]) AS reopen_count, \
                 unnest($10::timestamp[]) AS closed_at, unnest($11::timestamp[]) AS due_at) AS v \
                 WHERE tickets.id = v.id AND tickets.version = v.version",
            )
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.state.clone()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(texts(|r| r.solved_level.clone()))
            .bind::<Array<Nullable<Text>>, _>(texts(|r| r.satisfaction.clone()))
            .bind::<Array<Nullable<Text>>, _>(texts(|r| r.resolution.clone()))
            .bind::<Array<Nullable<Text>>, _>(texts(|r| r.duplicate_of.clone()))
            .bind::<Array<Nullable<Text>>, _>(texts(|r| r.whistle_type.clone()))
            .bind::<Array<Integer>, _>(rows.iter().map(|r| r.reopen_count).collect::<Vec<_>>())
            .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.closed_at).collect::<Vec<_>>())
            .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
            .bind::<Timestamp, _>(now)
            .execute(c)?
        }
        DbConn::Sqlite(c) => {
            let mut n = 0;
            for r in rows {
                n += diesel::update(tickets::table.find(&r.id).filter(tickets::version.eq(r.version)))
                    .set((
                        tickets::state.eq(&r.state),
                        tickets::solved_level.eq(&r.solved_level),
                        tickets::satisfaction.eq(&r.satisfaction),
                        tickets::resolution.eq(&r.resolution),
                        tickets::duplicate_of.eq(&r.duplicate_of),
                        tickets::whistle_type.eq(&r.whistle_type),
                        tickets::reopen_count.eq(r.reopen_count),
                        tickets::closed_at.eq(r.closed_at),
                        tickets::due_at.eq(r.due_at),
                        tickets::version.eq(r.version + 1),
                        tickets::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            n
        }
    };
    if updated != rows.len() {
        // Only possible without the row locks (SQLite's single writer, or PostgreSQL's locks
        // taken by `load_all`, rule it out): answer the first moved version.
        let given: HashMap<&str, i64> = rows.iter().map(|r| (r.id.as_str(), r.version)).collect();
        let current: Vec<(String, i64)> = tickets::table
            .filter(tickets::id.eq_any(given.keys().copied().collect::<Vec<_>>()))
            .select((tickets::id, tickets::version))
            .load(conn)?;
        let moved = current.into_iter().find(|(id, v)| given.get(id.as_str()) != Some(v));
        let (id, current) = moved.unwrap_or_default();
        return Err(AppError::VersionConflict { given: given.get(id.as_str()).copied().unwrap_or_default(), current });
    }
    Ok(())
}

/// 留言: anyone who can see the ticket may comment; the ticket itself does not change.
pub fn comment(conn: &mut DbConn, actor: &Actor, id: &str, body: &str, now: NaiveDateTime) -> AppResult<TimelineEvent> {
    conn.transaction(|conn| {
        let t = load_visible(conn, actor, id)?;
        if t.sight(actor)? != Sight::Full {
            return Err(AppError::forbidden(crate::msg!("why-part_ended_no_comment")));
        }
        let body = required("text", body)?;
        let grant = actor
            .grants
            .iter()
            .filter(|g| g.org_path.contains(&t.place.place) || t.parts.iter().any(|p| p.department_id == g.org_unit_id.to_string()))
            .max_by_key(|g| g.org_path.depth())
            .cloned();
        let by = ActedBy::person(actor.person_id, grant.as_ref());
        let e = audit::append(
            conn,
            Draft {
                entity_kind: "ticket",
                entity_id: &t.row.id,
                by: &by,
                action: "comment",
                from_state: None,
                to_state: None,
                reason: Some(&body),
                changes: json!({}),
            },
            now,
        )?;
        Ok(timeline_event(e))
    })
}

pub fn timeline_event(e: AuditEventRow) -> TimelineEvent {
    TimelineEvent {
        changes: serde_json::from_str(&e.changes).unwrap_or(Value::Null),
        id: e.id,
        seq: e.seq,
        at: e.at,
        actor_id: e.actor_id,
        actor_role: e.actor_role,
        actor_unit_id: e.actor_unit_id,
        action: e.action,
        from_state: e.from_state,
        to_state: e.to_state,
        reason: e.reason,
        hash: e.hash,
    }
}

// ---------------------------------------------------------------- queries

pub fn get_ticket(conn: &mut DbConn, actor: &Actor, id: &str, now: NaiveDateTime) -> AppResult<TicketView> {
    let t = load_visible(conn, actor, id)?;
    view(conn, actor, &t, now)
}

/// A ticket's whole history in one call; a department whose part ended reads it up to that end.
pub fn timeline(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Vec<TimelineEvent>> {
    let t = load_visible(conn, actor, id)?;
    let until = match t.sight(actor)? {
        Sight::Until(at) => Some(at),
        _ => None,
    };
    Ok(audit::events_of(conn, "ticket", &t.row.id)?.into_iter().filter(|e| until.is_none_or(|u| e.at <= u)).map(timeline_event).collect())
}

/// Which clocks of a ticket the caller may read: all of them, or (a department whose part ended)
/// only its own parts' clocks. Hidden tickets answer as missing.
pub fn readable_clocks(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Option<Vec<String>>> {
    let t = load_visible(conn, actor, id)?;
    Ok(match t.sight(actor)? {
        Sight::Until(_) => Some(
            t.parts
                .iter()
                .filter(|p| actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id.to_string() == p.department_id))
                .map(|p| p.id.clone())
                .collect(),
        ),
        _ => None,
    })
}

/// The unmasked phone, for those who must call the resident; recorded like every reveal.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedContact {
    pub id: String,
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub revealed_at: NaiveDateTime,
}

pub fn reveal_contact(conn: &mut DbConn, actor: &Actor, id: &str, now: NaiveDateTime) -> AppResult<RevealedContact> {
    conn.transaction(|conn| {
        let t = load_visible(conn, actor, id)?;
        let live_depts: Vec<String> =
            t.parts.iter().filter(|p| p.state != AssignmentState::Removed.as_str()).map(|p| p.department_id.clone()).collect();
        let grant = actor
            .grants
            .iter()
            .find(|g| match g.role {
                Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff => g.org_path.contains(&t.place.place),
                Role::DepartmentLiaison => live_depts.contains(&g.org_unit_id.to_string()),
                _ => false,
            })
            .cloned()
            .ok_or_else(|| AppError::forbidden(crate::msg!("why-who_reveals")))?;
        diesel::insert_into(pii_reveals::table)
            .values(&PiiRevealRow {
                id: Id::new().to_string(),
                person_id: actor.person_id.to_string(),
                role: grant.role.as_str().into(),
                org_unit_id: grant.org_unit_id.to_string(),
                record_kind: "ticket".into(),
                record_id: t.row.id.clone(),
                fields: "resident_phone".into(),
                at: now,
            })
            .execute(conn)?;
        Ok(RevealedContact { id: t.row.id, resident_name: t.row.resident_name, resident_phone: t.row.resident_phone, revealed_at: now })
    })
}

fn encode_cursor(at: NaiveDateTime, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{id}", crate::domain::audit::canonical_time(at)))
}

fn decode_cursor(c: &str) -> AppResult<(NaiveDateTime, String)> {
    let bad = || AppError::validation("cursor", crate::msg!("rule-cursor"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = s.split_once('|').ok_or_else(bad)?;
    let at = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

/// Start of a China-time day, as stored (UTC), `days` after `d`; a day at the ends of the date
/// type (year ±262143) has none and is refused as the filter `field`.
fn day_start_utc(field: &str, d: NaiveDate, days: i64) -> AppResult<NaiveDateTime> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| t.checked_sub_signed(Duration::hours(8)))
        .and_then(|t| t.checked_add_signed(Duration::days(days)))
        .ok_or_else(|| AppError::validation(field, crate::msg!("rule-filing_day")))
}

/// The tickets in the caller's scope, newest first, filtered, one page at a time.
pub fn list_tickets(conn: &mut DbConn, actor: &Actor, f: TicketFilter, now: NaiveDateTime) -> AppResult<TicketPage> {
    let limit = super::page_limit(f.limit, 50, 200)?;
    let states: Option<Vec<String>> = match f.state.as_deref().filter(|s| !s.is_empty()) {
        Some(states) => Some(
            states
                .split(',')
                .map(|s| s.trim().parse::<TicketState>().map(|s| s.as_str().to_string()))
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    let all: Vec<&str> = TicketState::ALL.iter().map(|s| s.as_str()).collect();
                    AppError::validation("state", crate::msg!("rule-one_of", values = all.join(", ")))
                })
                .map(|mut v: Vec<String>| {
                    v.sort();
                    v.dedup();
                    v
                })?,
        ),
        None => None,
    };
    if let Some(c) = &f.category_id {
        parse_id("category_id", c)?;
    }
    let within = match &f.within {
        Some(within) => {
            parse_id("within", within)?;
            match find_unit(conn, within)? {
                Some(u) => Some(u),
                None => return Ok(TicketPage { items: vec![], next_cursor: None }),
            }
        }
        None => None,
    };
    let cursor = f.cursor.as_deref().map(decode_cursor).transpose()?;
    // Several states are read one state at a time, each newest first from an index in that
    // order (a building's `(place_id, state, created_at)`), and merged: a page of index entries
    // per state, where one query for all of them sorts every match of the scope.
    let groups: Vec<Option<Vec<String>>> = match states {
        Some(v) if v.len() > 1 => v.into_iter().map(|s| Some(vec![s])).collect(),
        other => vec![other],
    };
    let mut rows: Vec<TicketRow> = vec![];
    for states in groups {
        let q = list_query(actor, &f, states, within.as_ref(), cursor.as_ref(), now)?;
        rows.extend(q.order((tickets::created_at.desc(), tickets::id.desc())).limit(limit + 1).select(TicketRow::as_select()).load(conn)?);
    }
    rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let more = rows.len() as i64 > limit;
    let items: Vec<TicketRow> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if more { items.last().map(|r| encode_cursor(r.created_at, &r.id)) } else { None };
    Ok(TicketPage { items: summaries(conn, actor, items, now)?, next_cursor })
}

/// The list's filters as one query, for the given states (all when `None`).
fn list_query(
    actor: &Actor,
    f: &TicketFilter,
    states: Option<Vec<String>>,
    within: Option<&OrgUnitRow>,
    cursor: Option<&(NaiveDateTime, String)>,
    now: NaiveDateTime,
) -> AppResult<tickets::BoxedQuery<'static, Db>> {
    let mut q = tickets::table.filter(tickets_in_scope(actor)).into_boxed();
    match states.as_deref() {
        // One state as an equality: `= ANY(array)` would keep the index from giving the order.
        Some([one]) => q = q.filter(tickets::state.eq(one.clone())),
        Some(several) => q = q.filter(tickets::state.eq_any(several.to_vec())),
        None => {}
    }
    if let Some(c) = &f.category_id {
        q = q.filter(tickets::category_id.eq(c.clone()));
    }
    if let Some(u) = f.urgency {
        q = q.filter(tickets::urgency.eq(u.as_str()));
    }
    if let Some(u) = within {
        let kind: OrgKind = u.kind.parse().map_err(AppError::internal_msg)?;
        q = q.filter(place_within(kind, &u.id, &OrgPath::from_db(u.path.clone())));
    }
    let finals: Vec<&str> = TicketState::ALL.iter().filter(|s| s.is_final()).map(|s| s.as_str()).collect();
    match f.overdue {
        Some(true) => {
            let open: Vec<&str> = TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect();
            q = q.filter(tickets::state.eq_any(open)).filter(tickets::due_at.lt(now))
        }
        Some(false) => q = q.filter(tickets::due_at.ge(now).or(tickets::due_at.is_null()).or(tickets::state.eq_any(finals))),
        None => {}
    }
    if let Some(from) = f.from {
        q = q.filter(tickets::created_at.ge(day_start_utc("from", from, 0)?));
    }
    if let Some(to) = f.to {
        q = q.filter(tickets::created_at.lt(day_start_utc("to", to, 1)?));
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(text.trim()));
        q = q.filter(
            tickets::number
                .like(pattern.clone())
                .escape('\\')
                .or(tickets::title.like(pattern.clone()).escape('\\'))
                .or(tickets::description.like(pattern).escape('\\')),
        );
    }
    if let Some((at, id)) = cursor {
        q = q.filter(tickets::created_at.lt(*at).or(tickets::created_at.eq(*at).and(tickets::id.lt(id.clone()))));
    }
    Ok(q)
}

/// "My work" (我的待办): what waits on the caller in each of his roles, soonest deadline first.
pub fn inbox(conn: &mut DbConn, actor: &Actor, limit: Option<i64>, now: NaiveDateTime) -> AppResult<Vec<TicketSummary>> {
    let limit = super::page_limit(limit, 100, 500)?;
    let open: Vec<&str> = TicketState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect();
    // One source per open state of each grant's scope (and one for each condition that is not a
    // plain state), each read in deadline order from an index that has that order, e.g.
    // (compound_id, state, due_at, id): at most one page of index entries per source however
    // large the backlog, merged here. Open tickets always carry a deadline.
    let mut sources: Vec<BoolExpr> = vec![];
    let mut own_heads: Vec<(Option<NaiveDateTime>, String)> = vec![];
    for g in &actor.grants {
        let here = || place_within(g.org_kind, &g.org_unit_id.to_string(), &g.org_path);
        let in_state = |s: TicketState| -> BoolExpr { Box::new(here().and(tickets::state.eq(s.as_str()))) };
        match g.role {
            Role::GridWorker => sources.push(in_state(TicketState::Solved)),
            Role::BranchSecretary => sources.extend([TicketState::AtCompound, TicketState::CompoundHandling].map(in_state)),
            Role::CommunityStaff => {
                sources.extend([TicketState::AtCommunity, TicketState::CommunityHandling].map(in_state));
                sources.push(Box::new(here().and(tickets::state.eq(TicketState::Whistled.as_str())).and(waiting_for_ruling())));
            }
            // A department's work is its running clocks (acknowledge, resolve): read from the
            // holder's index in its own deadline order. A returned part's clocks wait for the
            // community, and wait outside this inbox.
            Role::DepartmentLiaison => {
                let page: Vec<(String, NaiveDateTime)> = sla_clocks::table
                    .filter(sla_clocks::holder_unit_id.eq(g.org_unit_id.to_string()))
                    .filter(sla_clocks::stopped_at.is_null())
                    .filter(sla_clocks::paused_at.is_null())
                    .order((sla_clocks::due_at.asc(), sla_clocks::id.asc()))
                    .limit(limit * 2)
                    .select((sla_clocks::ticket_id, sla_clocks::due_at))
                    .load(conn)?;
                own_heads.extend(page.into_iter().map(|(id, due)| (Some(due), id)));
            }
            // Open states spelled out, so that (state, due_at) serves the overdue range.
            Role::Supervisor => {
                sources.push(Box::new(tickets::state.eq_any(open.clone()).and(tickets::due_at.assume_not_null().lt(now)).and(here())))
            }
            Role::Admin => {}
        }
    }
    let mut heads: Vec<(Option<NaiveDateTime>, String)> = own_heads;
    for f in sources {
        let page: Vec<(Option<NaiveDateTime>, String)> = tickets::table
            .filter(f)
            .order((tickets::due_at.asc(), tickets::id.asc()))
            .limit(limit)
            .select((tickets::due_at, tickets::id))
            .load(conn)?;
        heads.extend(page);
    }
    heads.sort();
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = heads.into_iter().map(|(_, id)| id).filter(|id| seen.insert(id.clone())).take(limit as usize).collect();
    let mut rows: Vec<TicketRow> = tickets::table.filter(tickets::id.eq_any(&ids)).select(TicketRow::as_select()).load(conn)?;
    rows.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    let mut items = summaries(conn, actor, rows, now)?;
    // Each entry shows the caller's own deadline: the list is in that order (none last).
    items.sort_by_key(|t| (t.due_at.is_none(), t.due_at));
    Ok(items)
}

/// The departments a ticket's community may whistle.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentChoice {
    pub id: String,
    pub code: String,
    pub name: String,
    /// Whether the ticket's category names this department as its usual handler.
    pub default_for_category: bool,
}

pub fn whistle_choices(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Vec<DepartmentChoice>> {
    let t = load_visible(conn, actor, id)?;
    let ancestors: Vec<String> = t.place.community.ids().iter().map(|i| i.to_string()).collect();
    let default: Option<String> = categories::table.find(&t.row.category_id).select(categories::default_department_id).first(conn)?;
    let rows: Vec<OrgUnitRow> = org_units::table
        .filter(org_units::kind.eq(OrgKind::Department.as_str()))
        .filter(org_units::active.eq(true))
        .filter(org_units::parent_id.eq_any(ancestors))
        .order(org_units::code)
        .select(OrgUnitRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|d| DepartmentChoice { default_for_category: default.as_deref() == Some(d.id.as_str()), id: d.id, code: d.code, name: d.name })
        .collect())
}
