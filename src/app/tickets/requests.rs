use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::workflow::{ActionKind, Channel, ReturnReason, Satisfaction, TicketState, WhistleType};

use crate::app::catalogue::Urgency;

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

/// A request's urgency when none is given.
pub fn normal() -> Urgency {
    Urgency::Normal
}
pub(super) fn visit() -> Channel {
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
    /// The resident's phone, exactly as recorded (digits). Only for those who may reveal it —
    /// grid workers, branch secretaries and community staff, in their own places — and every
    /// ticket it finds is recorded as a reveal of its phone (查询居民电话).
    #[param(max_length = 20, value_type = Option<String>)]
    pub resident_phone: Option<crate::domain::pii::Sensitive<String>>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}
