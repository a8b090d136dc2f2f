//! The stages of a ticket that carry a clock, and their default limits. The limits here are
//! natural time; the SLA clocks (issue 5) replace them with policies on the working-time calendar.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::workflow::TicketState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 小区分拨
    CompoundTriage,
    /// 社区受理
    CommunityAcceptance,
    /// 部门签收
    DepartmentAcknowledgement,
    /// 部门办理 / 小区、社区办理
    Resolution,
    /// 回访
    ReturnVisit,
}

/// The stage whose clock runs while a ticket is in `state`.
pub fn stage_of(state: TicketState) -> Option<Stage> {
    match state {
        TicketState::AtCompound => Some(Stage::CompoundTriage),
        TicketState::AtCommunity => Some(Stage::CommunityAcceptance),
        TicketState::CompoundHandling | TicketState::CommunityHandling | TicketState::Whistled => Some(Stage::Resolution),
        TicketState::Solved => Some(Stage::ReturnVisit),
        _ => None,
    }
}

/// Default limit of a stage: urgent (急难愁盼) matters get hours, ordinary ones days.
pub fn default_limit(stage: Stage, urgent: bool) -> Duration {
    match (stage, urgent) {
        (Stage::CompoundTriage, false) | (Stage::CommunityAcceptance, false) | (Stage::DepartmentAcknowledgement, false) => {
            Duration::hours(24)
        }
        (Stage::CompoundTriage, true) | (Stage::CommunityAcceptance, true) => Duration::hours(2),
        (Stage::DepartmentAcknowledgement, true) => Duration::hours(1),
        (Stage::Resolution, false) => Duration::days(5),
        (Stage::Resolution, true) => Duration::hours(24),
        (Stage::ReturnVisit, false) => Duration::hours(72),
        (Stage::ReturnVisit, true) => Duration::hours(24),
    }
}
