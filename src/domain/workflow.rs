//! The closed loop of a ticket (诉求): its states, the named actions, who may take each at which
//! level, and where each leads. The whole transition table is [`RULES`]; nothing else moves a ticket.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Actor, OrgPath, OrgUnitId, Role};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            /// Its name for people: the message catalogue's `<Type>-<code>` entry.
            pub fn label_key(self) -> &'static str {
                match self { $($name::$variant => concat!(stringify!($name), "-", $text)),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    format!("unknown {} `{s}`; expected one of: {}", stringify!($name),
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                })
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Where a ticket stands in the loop.
    TicketState {
        /// Filed; waiting for the compound branch to triage it (待小区处理).
        AtCompound = "at_compound",
        /// Taken on by the compound branch (小区办理中).
        CompoundHandling = "compound_handling",
        /// Reported up; waiting for the community to take it (待社区受理).
        AtCommunity = "at_community",
        /// Taken on by the community (社区办理中).
        CommunityHandling = "community_handling",
        /// Departments whistled (吹哨) and handling it (部门办理中).
        Whistled = "whistled",
        /// Marked solved; waiting for the grid worker's return visit (待回访).
        Solved = "solved",
        /// Return visit done, resident satisfied or basically satisfied (已办结).
        Closed = "closed",
        /// Closed as a duplicate of another ticket (重复件).
        Duplicate = "duplicate",
        /// Declined as not actionable, with a reason (不予受理).
        Declined = "declined",
    }
);

impl TicketState {
    /// No further work: only comments remain possible.
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Closed | TicketState::Duplicate | TicketState::Declined)
    }
}

string_enum!(
    /// The level that handles a ticket, and that a not-satisfied return visit reopens it at.
    Level {
        Compound = "compound",
        Community = "community",
        Department = "department",
    }
);

string_enum!(
    /// Every named action on a ticket.
    ActionKind {
        /// 小区受理
        AcceptAtCompound = "accept_at_compound",
        /// 上报社区
        ReportToCommunity = "report_to_community",
        /// 标记重复
        MarkDuplicate = "mark_duplicate",
        /// 不予受理
        Decline = "decline",
        /// 社区受理
        AcceptAtCommunity = "accept_at_community",
        /// 吹哨: dispatch a lead department and optional co-departments
        Whistle = "whistle",
        /// 追加部门
        AddDepartment = "add_department",
        /// 撤回部门
        RemoveDepartment = "remove_department",
        /// 签收 / 报到
        Acknowledge = "acknowledge",
        /// 退单: a department returns a misrouted case
        ReturnCase = "return_case",
        /// 申请延期
        RequestExtension = "request_extension",
        /// 办理进展
        AddProgress = "add_progress",
        /// 协办完成: a co-department marks its part done
        CompletePart = "complete_part",
        /// 办结: the handling level marks the case solved
        MarkSolved = "mark_solved",
        /// 退单裁定: accept the return (and re-dispatch) or overrule it
        RuleOnReturn = "rule_on_return",
        /// 延期审批
        RuleOnExtension = "rule_on_extension",
        /// 回访
        RecordReturnVisit = "record_return_visit",
        /// 等待居民: the resolution clock stops counting (with a reason, for a limited time)
        PauseForResident = "pause_for_resident",
        /// 恢复办理
        ResumeWork = "resume_work",
        /// 解除协办: the community releases a co-department whose part is no longer needed, so that
        /// the lead department can close the case
        ReleasePart = "release_part",
        /// 超时上报: the triage limit passed and the policy reports the ticket to the community
        EscalateToCommunity = "escalate_to_community",
    }
);

string_enum!(
    /// A whistled department's part of a ticket.
    AssignmentState {
        /// 已派单: waiting for the department to acknowledge (签收).
        Dispatched = "dispatched",
        Acknowledged = "acknowledged",
        /// 已退单: waiting for the whistling level to rule.
        Returned = "returned",
        /// A co-department's part is done.
        Done = "done",
        /// Taken off the case (return accepted, or removed by the community).
        Removed = "removed",
    }
);

string_enum!(
    /// Why a department returns a case (退单原因), a closed list.
    ReturnReason {
        NotOurTerritory = "not_our_territory",
        UnclearOwnership = "unclear_ownership",
        OverlappingDuties = "overlapping_duties",
        OutsideOurRemit = "outside_our_remit",
    }
);

string_enum!(
    /// Why the community whistles (吹哨类型).
    WhistleType {
        BeyondStreetPower = "beyond_street_power",
        EnforcementNeeded = "enforcement_needed",
        Emergency = "emergency",
    }
);

string_enum!(
    /// The resident's verdict at the return visit (回访满意度).
    Satisfaction {
        Satisfied = "satisfied",
        BasicallySatisfied = "basically_satisfied",
        NotSatisfied = "not_satisfied",
    }
);

string_enum!(
    /// How a request reached Gridloop.
    Channel {
        Visit = "visit",
        Hotline = "hotline",
        WalkIn = "walk_in",
        Online = "online",
    }
);

/// How pressing a request is: 急难愁盼 matters are urgent and run on shorter clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Normal,
    Urgent,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
        }
    }
}

impl FromStr for Urgency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(Urgency::Normal),
            "urgent" => Ok(Urgency::Urgent),
            _ => Err(format!("unknown urgency `{s}`")),
        }
    }
}

string_enum!(
    /// A department's request for more time (延期申请).
    ExtensionState {
        /// Waiting for the whistling level's ruling.
        Pending = "pending",
        Granted = "granted",
        Refused = "refused",
    }
);

/// Who may take an action, relative to the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taker {
    /// A branch secretary whose compound holds the ticket.
    Compound,
    /// Community staff whose community (or street) holds the ticket.
    Community,
    /// A liaison of any department whistled on the ticket (with a live part).
    AnyDepartment,
    /// The level that handles the ticket now: the compound, the community, or the lead department.
    HandlingLevel,
    /// A grid worker whose grid holds the ticket.
    GridWorker,
    /// The service itself, by a time limit's own policy (`sla.breach_action`).
    System,
}

/// Where an action leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    To(TicketState),
    /// The ticket's state does not change (a department-level step).
    Stay,
    /// Solved, recording the level that solved it.
    Solve,
    /// Closed when satisfied; reopened at the level that solved it when not.
    ReturnVisit,
}

pub struct Rule {
    pub action: ActionKind,
    pub from: &'static [TicketState],
    pub taker: Taker,
    pub outcome: Outcome,
}

use ActionKind as A;
use TicketState as S;

/// The whole transition table.
pub const RULES: &[Rule] = &[
    Rule { action: A::AcceptAtCompound, from: &[S::AtCompound], taker: Taker::Compound, outcome: Outcome::To(S::CompoundHandling) },
    Rule {
        action: A::ReportToCommunity,
        from: &[S::AtCompound, S::CompoundHandling],
        taker: Taker::Compound,
        outcome: Outcome::To(S::AtCommunity),
    },
    Rule {
        action: A::MarkDuplicate,
        from: &[S::AtCompound, S::AtCommunity],
        taker: Taker::HandlingLevel,
        outcome: Outcome::To(S::Duplicate),
    },
    Rule { action: A::Decline, from: &[S::AtCompound, S::AtCommunity], taker: Taker::HandlingLevel, outcome: Outcome::To(S::Declined) },
    Rule { action: A::AcceptAtCommunity, from: &[S::AtCommunity], taker: Taker::Community, outcome: Outcome::To(S::CommunityHandling) },
    Rule { action: A::Whistle, from: &[S::AtCommunity, S::CommunityHandling], taker: Taker::Community, outcome: Outcome::To(S::Whistled) },
    Rule { action: A::AddDepartment, from: &[S::Whistled], taker: Taker::Community, outcome: Outcome::Stay },
    Rule { action: A::RemoveDepartment, from: &[S::Whistled], taker: Taker::Community, outcome: Outcome::Stay },
    Rule { action: A::Acknowledge, from: &[S::Whistled], taker: Taker::AnyDepartment, outcome: Outcome::Stay },
    Rule { action: A::ReturnCase, from: &[S::Whistled], taker: Taker::AnyDepartment, outcome: Outcome::Stay },
    Rule { action: A::RequestExtension, from: &[S::Whistled], taker: Taker::AnyDepartment, outcome: Outcome::Stay },
    Rule { action: A::AddProgress, from: &[S::Whistled], taker: Taker::AnyDepartment, outcome: Outcome::Stay },
    Rule { action: A::CompletePart, from: &[S::Whistled], taker: Taker::AnyDepartment, outcome: Outcome::Stay },
    Rule { action: A::RuleOnReturn, from: &[S::Whistled], taker: Taker::Community, outcome: Outcome::Stay },
    Rule { action: A::RuleOnExtension, from: &[S::Whistled], taker: Taker::Community, outcome: Outcome::Stay },
    Rule {
        action: A::MarkSolved,
        from: &[S::CompoundHandling, S::CommunityHandling, S::Whistled],
        taker: Taker::HandlingLevel,
        outcome: Outcome::Solve,
    },
    Rule { action: A::RecordReturnVisit, from: &[S::Solved], taker: Taker::GridWorker, outcome: Outcome::ReturnVisit },
    Rule {
        action: A::PauseForResident,
        from: &[S::CompoundHandling, S::CommunityHandling, S::Whistled],
        taker: Taker::HandlingLevel,
        outcome: Outcome::Stay,
    },
    Rule {
        action: A::ResumeWork,
        from: &[S::CompoundHandling, S::CommunityHandling, S::Whistled],
        taker: Taker::HandlingLevel,
        outcome: Outcome::Stay,
    },
    Rule { action: A::ReleasePart, from: &[S::Whistled], taker: Taker::Community, outcome: Outcome::Stay },
    Rule { action: A::EscalateToCommunity, from: &[S::AtCompound], taker: Taker::System, outcome: Outcome::To(S::AtCommunity) },
];

pub fn rule(action: ActionKind) -> &'static Rule {
    RULES.iter().find(|r| r.action == action).expect("every action has a rule")
}

/// The actions the table allows in a state (for anyone).
pub fn actions_in(state: TicketState) -> Vec<ActionKind> {
    RULES.iter().filter(|r| r.from.contains(&state)).map(|r| r.action).collect()
}

/// The level that handles a ticket in this state.
pub fn handling_level(state: TicketState) -> Option<Level> {
    match state {
        S::AtCompound | S::CompoundHandling => Some(Level::Compound),
        S::AtCommunity | S::CommunityHandling => Some(Level::Community),
        S::Whistled => Some(Level::Department),
        _ => None,
    }
}

/// The state a not-satisfied return visit reopens the ticket in.
pub fn reopened_state(solved_at: Level) -> TicketState {
    match solved_at {
        Level::Compound => S::CompoundHandling,
        Level::Community => S::CommunityHandling,
        Level::Department => S::Whistled,
    }
}

/// How a department's part ended (its state is then `removed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartEnd {
    /// 撤回部门: the community took the department off the case.
    Removed,
    /// 解除协办: the community released a co-department whose part is no longer needed.
    Released,
    /// 退单成立: the community accepted the department's return.
    ReturnAccepted,
}

impl PartEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            PartEnd::Removed => "removed",
            PartEnd::Released => "released",
            PartEnd::ReturnAccepted => "return_accepted",
        }
    }

    pub fn parse(s: &str) -> Option<PartEnd> {
        [PartEnd::Removed, PartEnd::Released, PartEnd::ReturnAccepted].into_iter().find(|e| e.as_str() == s)
    }
}

/// One whistled department, as the rules need to see it.
#[derive(Clone, Debug)]
pub struct DepartmentPart {
    pub department_id: OrgUnitId,
    pub lead: bool,
    pub state: AssignmentState,
    /// The community overruled its return: it must take the case.
    pub overruled: bool,
    /// It asked for an extension that waits for a ruling.
    pub extension_pending: bool,
    /// When its part ended (taken off, released, return accepted).
    pub ended_at: Option<chrono::NaiveDateTime>,
}

impl DepartmentPart {
    pub fn is_live(&self) -> bool {
        !matches!(self.state, AssignmentState::Removed)
    }

    /// A co-department whose part still keeps the case open: not done, not ended.
    fn holds_the_case_open(&self) -> bool {
        !self.lead && matches!(self.state, AssignmentState::Dispatched | AssignmentState::Acknowledged | AssignmentState::Returned)
    }
}

/// What an action does to one department's part (部门环节). The ticket-level rules
/// ([`authorize`]) check that the actor has some part the action applies to; this is the
/// part-level table, applied to the very part acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartStep {
    /// 签收.
    Acknowledge,
    /// 退单.
    Return,
    /// 申请延期: the part stays where it is.
    RequestExtension,
    /// 进展: the part stays where it is.
    Progress,
    /// 协办完成: a co-department's part is done.
    Complete,
    /// 撤回部门 or 解除协办: a co-department whose part is open is taken off.
    TakeOff,
    /// 退单不成立: back to where the part was before the return.
    Overrule { acknowledged: bool },
    /// 退单成立: the part ends.
    AcceptReturn,
}

/// The state `step` leaves the part in, or why it cannot be taken on this part.
pub fn part_step(step: PartStep, p: &DepartmentPart) -> Result<AssignmentState, Blocked> {
    use AssignmentState as P;
    let need = |ok: bool, why: Blocked| if ok { Ok(()) } else { Err(why) };
    let working = matches!(p.state, P::Dispatched | P::Acknowledged);
    match step {
        PartStep::Acknowledge => need(p.state == P::Dispatched, Blocked::PartState).map(|_| P::Acknowledged),
        PartStep::Return => {
            need(working, Blocked::PartState)?;
            need(!p.overruled, Blocked::ReturnOverruled).map(|_| P::Returned)
        }
        PartStep::RequestExtension => {
            need(p.state == P::Acknowledged, Blocked::PartState)?;
            need(!p.extension_pending, Blocked::ExtensionPending).map(|_| p.state)
        }
        PartStep::Progress => need(working, Blocked::PartState).map(|_| p.state),
        PartStep::Complete => {
            need(!p.lead, Blocked::LeadClosesBySolving)?;
            need(p.state == P::Acknowledged, Blocked::PartState).map(|_| P::Done)
        }
        PartStep::TakeOff => {
            need(!p.lead, Blocked::LeadNotRemovable)?;
            need(p.holds_the_case_open(), Blocked::PartNotOpen).map(|_| P::Removed)
        }
        PartStep::Overrule { acknowledged } => {
            need(p.state == P::Returned, Blocked::NothingToRule).map(|_| if acknowledged { P::Acknowledged } else { P::Dispatched })
        }
        PartStep::AcceptReturn => need(p.state == P::Returned, Blocked::NothingToRule).map(|_| P::Removed),
    }
}

/// What the rules need to know about a ticket.
#[derive(Clone, Debug)]
pub struct TicketPlace {
    /// The building or compound the request is about.
    pub place: OrgPath,
    pub compound: OrgPath,
    pub community: OrgPath,
}

/// Everything the rules look at to decide what may happen to a ticket now.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub state: TicketState,
    pub place: &'a TicketPlace,
    pub parts: &'a [DepartmentPart],
    /// A resolution clock is running and not paused (等待居民 can stop it).
    pub resolution_running: bool,
    /// A clock is paused waiting for the resident (恢复办理 can restart it).
    pub waiting_for_resident: bool,
}

/// Why an action is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The actor cannot see the ticket at all (report as missing).
    Hidden,
    /// The actor sees the ticket but is not the right role at the right level.
    WrongRole(crate::domain::text::Msg),
    /// The table does not allow the action in the current state.
    WrongState,
    /// The state allows it, but something about the ticket now does not.
    Blocked(Blocked),
}

/// A rule of the moment that refuses an action the state table allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The caller's part is not in a state this action applies to (e.g. acknowledging twice).
    PartState,
    /// The community overruled this department's return: it cannot return the case again.
    ReturnOverruled,
    /// An extension request of this department already waits.
    ExtensionPending,
    /// Only a lead department's part: co-departments complete their part instead.
    LeadClosesBySolving,
    /// 办结 needs the lead's acknowledgement first.
    LeadNotAcknowledged,
    /// 办结 waits for every co-department to complete its part (or be released).
    CoDepartmentsOpen,
    /// Nothing of the kind waits for a ruling (a return, an extension request).
    NothingToRule,
    /// No co-department to take off or release.
    NoCoDepartment,
    /// No running resolution clock to pause (already paused?).
    NothingToPause,
    /// Nothing is paused.
    NotPaused,
    /// The lead department cannot be taken off or released (a return ruling replaces it).
    LeadNotRemovable,
    /// The part is no longer open (done or ended): it cannot be taken off or released.
    PartNotOpen,
}

impl Blocked {
    /// The stable error code of the refusal.
    pub fn code(self) -> &'static str {
        match self {
            Blocked::PartState | Blocked::LeadNotAcknowledged | Blocked::LeadClosesBySolving | Blocked::PartNotOpen => "illegal_part_state",
            Blocked::LeadNotRemovable => "lead_not_removable",
            Blocked::ReturnOverruled => "return_overruled",
            Blocked::ExtensionPending => "extension_pending",
            Blocked::CoDepartmentsOpen => "co_departments_open",
            Blocked::NothingToRule => "nothing_to_rule",
            Blocked::NoCoDepartment => "no_co_department",
            Blocked::NothingToPause => "nothing_to_pause",
            Blocked::NotPaused => "not_paused",
        }
    }
}

/// What a caller may see of a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sight {
    /// Everything, now and as it goes on.
    Full,
    /// A department whose every part ended (taken off, released, return accepted): what happened
    /// while it held the case, up to that moment, and nothing after.
    Until(chrono::NaiveDateTime),
    Hidden,
}

/// What the caller may see of this ticket. Residential roles and supervisors by place; a liaison
/// fully while his department holds a live part, and up to the end of its part afterwards.
pub fn sight(actor: &Actor, place: &TicketPlace, departments: &[DepartmentPart]) -> Sight {
    let by_place = actor.grants.iter().any(|g| {
        matches!(g.role, Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::Supervisor)
            && g.org_path.contains(&place.place)
    });
    let mine = |d: &&DepartmentPart| actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id == d.department_id);
    if by_place || departments.iter().filter(mine).any(|d| d.is_live()) {
        return Sight::Full;
    }
    match departments.iter().filter(mine).filter_map(|d| d.ended_at).max() {
        Some(until) => Sight::Until(until),
        None => Sight::Hidden,
    }
}

/// Can the actor see this ticket at all (fully or up to the end of his department's part)?
pub fn can_see(actor: &Actor, place: &TicketPlace, departments: &[DepartmentPart]) -> bool {
    sight(actor, place, departments) != Sight::Hidden
}

fn holds(actor: &Actor, role: Role, at: &OrgPath) -> bool {
    actor.grants.iter().any(|g| g.role == role && g.org_path.contains(at))
}

/// The departments among the live parts that the actor speaks for.
pub fn own_parts<'a>(actor: &Actor, departments: &'a [DepartmentPart]) -> Vec<&'a DepartmentPart> {
    departments
        .iter()
        .filter(|d| d.is_live() && actor.grants.iter().any(|g| g.role == Role::DepartmentLiaison && g.org_unit_id == d.department_id))
        .collect()
}

/// Whether the actor is the level the rule names.
fn is_taker(actor: &Actor, taker: Taker, state: TicketState, place: &TicketPlace, departments: &[DepartmentPart]) -> bool {
    match taker {
        Taker::Compound => holds(actor, Role::BranchSecretary, &place.compound),
        Taker::Community => holds(actor, Role::CommunityStaff, &place.community),
        Taker::AnyDepartment => !own_parts(actor, departments).is_empty(),
        Taker::GridWorker => holds(actor, Role::GridWorker, &place.place),
        Taker::System => actor.is_system(),
        Taker::HandlingLevel => match handling_level(state) {
            Some(Level::Compound) => holds(actor, Role::BranchSecretary, &place.compound),
            Some(Level::Community) => holds(actor, Role::CommunityStaff, &place.community),
            Some(Level::Department) => own_parts(actor, departments).iter().any(|d| d.lead),
            None => holds(actor, Role::BranchSecretary, &place.compound) || holds(actor, Role::CommunityStaff, &place.community),
        },
    }
}

/// The rules of the moment: what about the ticket now (its departments' parts, pauses, pending
/// extensions) allows the action, for this actor, beyond its state and role.
fn precondition(actor: &Actor, action: ActionKind, f: &Facts<'_>) -> Result<(), Blocked> {
    use AssignmentState as P;
    let mine = own_parts(actor, f.parts);
    let any_mine = |ok: &dyn Fn(&DepartmentPart) -> bool| mine.iter().any(|p| ok(p));
    let check = |ok: bool, why: Blocked| if ok { Ok(()) } else { Err(why) };
    match action {
        A::Acknowledge => check(any_mine(&|p| p.state == P::Dispatched), Blocked::PartState),
        A::AddProgress => check(any_mine(&|p| matches!(p.state, P::Dispatched | P::Acknowledged)), Blocked::PartState),
        A::ReturnCase => {
            check(any_mine(&|p| matches!(p.state, P::Dispatched | P::Acknowledged)), Blocked::PartState)?;
            check(any_mine(&|p| matches!(p.state, P::Dispatched | P::Acknowledged) && !p.overruled), Blocked::ReturnOverruled)
        }
        A::RequestExtension => {
            check(any_mine(&|p| p.state == P::Acknowledged), Blocked::PartState)?;
            check(any_mine(&|p| p.state == P::Acknowledged && !p.extension_pending), Blocked::ExtensionPending)
        }
        A::CompletePart => {
            check(any_mine(&|p| !p.lead), Blocked::LeadClosesBySolving)?;
            check(any_mine(&|p| !p.lead && p.state == P::Acknowledged), Blocked::PartState)
        }
        A::MarkSolved if f.state == TicketState::Whistled => {
            let lead = f.parts.iter().find(|p| p.lead && p.is_live());
            check(lead.is_some_and(|p| p.state == P::Acknowledged), Blocked::LeadNotAcknowledged)?;
            check(!f.parts.iter().any(DepartmentPart::holds_the_case_open), Blocked::CoDepartmentsOpen)
        }
        A::RuleOnReturn => check(f.parts.iter().any(|p| p.state == P::Returned), Blocked::NothingToRule),
        A::RuleOnExtension => check(f.parts.iter().any(|p| p.is_live() && p.extension_pending), Blocked::NothingToRule),
        A::RemoveDepartment => check(f.parts.iter().any(|p| !p.lead && p.is_live() && p.state != P::Done), Blocked::NoCoDepartment),
        A::ReleasePart => check(f.parts.iter().any(DepartmentPart::holds_the_case_open), Blocked::NoCoDepartment),
        A::PauseForResident => check(f.resolution_running, Blocked::NothingToPause),
        A::ResumeWork => check(f.waiting_for_resident, Blocked::NotPaused),
        _ => Ok(()),
    }
}

/// Decides whether `actor` may take `action` now: he must see the ticket fully, the state must
/// allow it, he must be the level the rule names, and the ticket now must let it happen. State
/// first for those who can see the ticket, so that a wrong-state action answers 409 with what is
/// possible instead of a role complaint.
pub fn authorize(actor: &Actor, action: ActionKind, f: &Facts<'_>) -> Result<(), Refusal> {
    let r = rule(action);
    match sight(actor, f.place, f.parts) {
        Sight::Hidden if !actor.is_system() => return Err(Refusal::Hidden),
        Sight::Until(_) => return Err(Refusal::WrongRole(crate::msg!("why-part_ended"))),
        _ => {}
    }
    if !r.from.contains(&f.state) {
        return Err(Refusal::WrongState);
    }
    if !is_taker(actor, r.taker, f.state, f.place, f.parts) {
        use crate::domain::text::Arg;
        let who = match r.taker {
            Taker::Compound => crate::msg!("taker-compound"),
            Taker::Community => crate::msg!("taker-community"),
            Taker::AnyDepartment => crate::msg!("taker-department"),
            Taker::GridWorker => crate::msg!("taker-grid_worker"),
            Taker::System => crate::msg!("taker-system"),
            Taker::HandlingLevel => match handling_level(f.state) {
                Some(l) => crate::msg!("taker-handling_level", level = Arg::Key(l.label_key())),
                None => crate::msg!("taker-compound_or_community"),
            },
        };
        return Err(Refusal::WrongRole(crate::msg!("why-taker", action = Arg::Key(action.label_key())).with("who", who)));
    }
    precondition(actor, action, f).map_err(Refusal::Blocked)
}

/// The actions this actor may take now: exactly those [`authorize`] lets through. Shown with every
/// ticket (`allowed_actions`), and with 409 answers.
pub fn allowed_for(actor: &Actor, f: &Facts<'_>) -> Vec<ActionKind> {
    ActionKind::ALL.iter().copied().filter(|a| authorize(actor, *a, f).is_ok()).collect()
}

/// Whether a running clock is the actor's own: held by a unit he acts for, at a stage his role
/// acts on. A supervisor watches them all. The deadline a person is shown is the nearest of his own.
pub fn holds_clock(actor: &Actor, stage: super::sla::Stage, holder_unit: OrgUnitId, holder_path: &OrgPath, place: &TicketPlace) -> bool {
    use super::sla::Stage as St;
    let at_compound = place.compound == *holder_path;
    let at_community = place.community == *holder_path;
    actor.grants.iter().any(|g| {
        let within = g.org_path.contains(holder_path);
        match g.role {
            Role::GridWorker => within && stage == St::ReturnVisit,
            Role::BranchSecretary => within && at_compound,
            Role::CommunityStaff => within && at_community,
            Role::DepartmentLiaison => g.org_unit_id == holder_unit,
            Role::Supervisor => within,
            Role::Admin | Role::CommitteeRepresentative | Role::CompanyRepresentative => false,
        }
    })
}

/// Who holds a ticket-level stage clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockHolder {
    Compound,
    Community,
    /// The ticket's place: a building, or a whole compound.
    Place,
}

impl ClockHolder {
    /// Which of a ticket's units holds the clock: its place, its compound or its community.
    pub fn unit(self, place: OrgUnitId, compound: OrgUnitId, community: OrgUnitId) -> OrgUnitId {
        match self {
            ClockHolder::Compound => compound,
            ClockHolder::Community => community,
            ClockHolder::Place => place,
        }
    }
}

impl TicketPlace {
    /// The path of the unit that holds a ticket-level clock.
    pub fn holder(&self, h: ClockHolder) -> &OrgPath {
        match h {
            ClockHolder::Compound => &self.compound,
            ClockHolder::Community => &self.community,
            ClockHolder::Place => &self.place,
        }
    }
}

/// The ticket-level stage clock that starts when a ticket enters `state`, and who holds it: the
/// compound's triage (`at_compound`, started by the filing), the community's acceptance, the
/// handling at a level (resolution), the return visit at the place. None in the other states: a
/// department's clocks belong to its part (`whistled`), final states run none. A state change
/// stops every ticket-level clock before it starts the next, so a ticket never whistled runs at
/// most this one clock (paused or not): its deadline is the row's (decision 0029).
pub fn ticket_clock(state: TicketState) -> Option<(super::sla::Stage, ClockHolder)> {
    use super::sla::Stage as St;
    match state {
        TicketState::AtCompound => Some((St::CompoundTriage, ClockHolder::Compound)),
        TicketState::AtCommunity => Some((St::CommunityAcceptance, ClockHolder::Community)),
        TicketState::CompoundHandling => Some((St::Resolution, ClockHolder::Compound)),
        TicketState::CommunityHandling => Some((St::Resolution, ClockHolder::Community)),
        TicketState::Solved => Some((St::ReturnVisit, ClockHolder::Place)),
        _ => None,
    }
}

/// Whether any clock the actor could hold ([`holds_clock`]) runs while a ticket is in `state`: a
/// list need not read the clocks of the others to know the viewer's own deadline (there is none).
/// Clocks run in these states: triage at the compound (`at_compound`), the community's acceptance
/// (`at_community`), handling at a level (`compound_handling`, `community_handling`), a department's
/// acknowledgement and resolution and the community's ruling on a return (`whistled`), the return
/// visit at the place — a building or a whole compound — (`solved`).
pub fn may_hold_clock_in(actor: &Actor, state: TicketState) -> bool {
    use TicketState as S;
    actor.grants.iter().any(|g| match g.role {
        Role::GridWorker => state == S::Solved,
        Role::BranchSecretary => matches!(state, S::AtCompound | S::CompoundHandling | S::Solved),
        Role::CommunityStaff => matches!(state, S::AtCommunity | S::CommunityHandling | S::Whistled),
        Role::DepartmentLiaison => state == S::Whistled,
        Role::Supervisor => !state.is_final(),
        Role::Admin | Role::CommitteeRepresentative | Role::CompanyRepresentative => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Grant, OrgKind, PersonId};

    fn place() -> (TicketPlace, OrgPath, OrgPath) {
        let city = OrgPath::root(OrgUnitId::new());
        let community = city.child(OrgUnitId::new());
        let compound = community.child(OrgUnitId::new());
        let building = compound.child(OrgUnitId::new());
        (TicketPlace { place: building, compound: compound.clone(), community: community.clone() }, compound, community)
    }

    fn actor(role: Role, at: &OrgPath) -> Actor {
        Actor {
            person_id: PersonId::new(),
            login: "x".into(),
            grants: vec![Grant { role, org_unit_id: *at.ids().last().unwrap(), org_kind: OrgKind::Compound, org_path: at.clone() }],
        }
    }

    /// Where each stage's clock runs, and who can hold it there: `may_hold_clock_in` must say yes
    /// wherever `holds_clock` can (a list that skipped the lookup would hide a deadline).
    #[test]
    fn a_viewer_who_may_hold_a_clock_is_never_skipped() {
        use crate::domain::sla::Stage as St;
        use TicketState as S;
        let (p, compound, community) = place();
        let dept = OrgPath::root(OrgUnitId::new());
        let runs: &[(St, &[S], &OrgPath)] = &[
            (St::CompoundTriage, &[S::AtCompound], &compound),
            (St::Resolution, &[S::CompoundHandling], &compound),
            (St::CommunityAcceptance, &[S::AtCommunity], &community),
            (St::Resolution, &[S::CommunityHandling], &community),
            (St::DepartmentAcknowledgement, &[S::Whistled], &dept),
            (St::Resolution, &[S::Whistled], &dept),
            (St::ReturnRuling, &[S::Whistled], &community),
            (St::ReturnVisit, &[S::Solved], &p.place),
            (St::ReturnVisit, &[S::Solved], &compound),
        ];
        for role in Role::ALL {
            for at in [&p.place, &compound, &community, &dept] {
                // A liaison belongs to a department, everyone else to the residential tree.
                if (role == Role::DepartmentLiaison) != (at == &dept) {
                    continue;
                }
                let a = actor(role, at);
                for (stage, states, holder) in runs {
                    let held = holds_clock(&a, *stage, *holder.ids().last().unwrap(), holder, &p);
                    for state in *states {
                        assert!(!held || may_hold_clock_in(&a, *state), "{role} at {at:?} holds {stage:?} in {state:?}");
                    }
                }
                for state in TicketState::ALL.iter().filter(|s| s.is_final()) {
                    assert!(!may_hold_clock_in(&a, *state), "no clock runs in {state:?}");
                }
            }
        }
    }

    #[test]
    fn every_action_has_exactly_one_rule_and_final_states_allow_nothing() {
        for a in ActionKind::ALL {
            assert_eq!(RULES.iter().filter(|r| r.action == *a).count(), 1, "{a}");
        }
        for s in TicketState::ALL.iter().filter(|s| s.is_final()) {
            assert!(actions_in(*s).is_empty(), "{s}");
        }
    }

    fn facts<'a>(state: TicketState, p: &'a TicketPlace, parts: &'a [DepartmentPart]) -> Facts<'a> {
        Facts { state, place: p, parts, resolution_running: true, waiting_for_resident: false }
    }

    fn part(dept: &OrgPath, lead: bool, state: AssignmentState) -> DepartmentPart {
        DepartmentPart {
            department_id: *dept.ids().last().unwrap(),
            lead,
            state,
            overruled: false,
            extension_pending: false,
            ended_at: None,
        }
    }

    #[test]
    fn the_secretary_triages_and_the_community_whistles() {
        let (p, compound, community) = place();
        let bs = actor(Role::BranchSecretary, &compound);
        let cs = actor(Role::CommunityStaff, &community);
        assert_eq!(authorize(&bs, A::AcceptAtCompound, &facts(S::AtCompound, &p, &[])), Ok(()));
        assert!(matches!(authorize(&cs, A::AcceptAtCompound, &facts(S::AtCompound, &p, &[])), Err(Refusal::WrongRole(_))));
        assert_eq!(authorize(&bs, A::Whistle, &facts(S::AtCompound, &p, &[])), Err(Refusal::WrongState));
        assert_eq!(authorize(&cs, A::Whistle, &facts(S::AtCommunity, &p, &[])), Ok(()));
        assert!(matches!(authorize(&bs, A::Whistle, &facts(S::AtCommunity, &p, &[])), Err(Refusal::WrongRole(_))));
    }

    #[test]
    fn a_department_acts_only_on_what_it_was_whistled_for_and_as_its_part_stands() {
        let (p, _, _) = place();
        let dept = OrgPath::root(OrgUnitId::new());
        let other = OrgPath::root(OrgUnitId::new());
        let dl = actor(Role::DepartmentLiaison, &dept);
        let parts = vec![part(&other, true, AssignmentState::Dispatched)];
        assert_eq!(authorize(&dl, A::Acknowledge, &facts(S::Whistled, &p, &parts)), Err(Refusal::Hidden));
        // Acknowledging twice is not offered, nor complete_part to the lead.
        let parts = vec![part(&dept, true, AssignmentState::Acknowledged)];
        let f = facts(S::Whistled, &p, &parts);
        assert_eq!(authorize(&dl, A::Acknowledge, &f), Err(Refusal::Blocked(Blocked::PartState)));
        assert_eq!(authorize(&dl, A::CompletePart, &f), Err(Refusal::Blocked(Blocked::LeadClosesBySolving)));
        assert_eq!(allowed_for(&dl, &f), vec![A::ReturnCase, A::RequestExtension, A::AddProgress, A::MarkSolved, A::PauseForResident]);
        // Before it acknowledged: no solving, no extension.
        let parts = vec![part(&dept, true, AssignmentState::Dispatched)];
        let f = facts(S::Whistled, &p, &parts);
        assert_eq!(authorize(&dl, A::MarkSolved, &f), Err(Refusal::Blocked(Blocked::LeadNotAcknowledged)));
        assert_eq!(allowed_for(&dl, &f), vec![A::Acknowledge, A::ReturnCase, A::AddProgress, A::PauseForResident]);
        // Only the lead department marks the case solved.
        let parts = vec![part(&dept, false, AssignmentState::Acknowledged)];
        assert!(matches!(authorize(&dl, A::MarkSolved, &facts(S::Whistled, &p, &parts)), Err(Refusal::WrongRole(_))));
    }

    #[test]
    fn the_lead_closes_only_when_every_co_department_completed_or_was_released() {
        let (p, _, community) = place();
        let lead = OrgPath::root(OrgUnitId::new());
        let co = OrgPath::root(OrgUnitId::new());
        let dl = actor(Role::DepartmentLiaison, &lead);
        let cs = actor(Role::CommunityStaff, &community);
        for (co_state, blocked) in [
            (AssignmentState::Dispatched, true),
            (AssignmentState::Acknowledged, true),
            (AssignmentState::Returned, true),
            (AssignmentState::Done, false),
            (AssignmentState::Removed, false),
        ] {
            let parts = vec![part(&lead, true, AssignmentState::Acknowledged), part(&co, false, co_state)];
            let f = facts(S::Whistled, &p, &parts);
            let expected = if blocked { Err(Refusal::Blocked(Blocked::CoDepartmentsOpen)) } else { Ok(()) };
            assert_eq!(authorize(&dl, A::MarkSolved, &f), expected, "co-department {co_state}");
            assert_eq!(authorize(&cs, A::ReleasePart, &f).is_ok(), blocked, "release offered only while the part keeps the case open");
        }
    }

    #[test]
    fn rulings_pauses_and_the_system_are_offered_only_when_there_is_something_to_do() {
        let (p, compound, community) = place();
        let cs = actor(Role::CommunityStaff, &community);
        let bs = actor(Role::BranchSecretary, &compound);
        let dept = OrgPath::root(OrgUnitId::new());
        let mut parts = vec![part(&dept, true, AssignmentState::Acknowledged)];
        let f = facts(S::Whistled, &p, &parts);
        assert_eq!(authorize(&cs, A::RuleOnReturn, &f), Err(Refusal::Blocked(Blocked::NothingToRule)));
        assert_eq!(authorize(&cs, A::RuleOnExtension, &f), Err(Refusal::Blocked(Blocked::NothingToRule)));
        parts[0].extension_pending = true;
        parts[0].state = AssignmentState::Returned;
        let f = facts(S::Whistled, &p, &parts);
        assert_eq!(authorize(&cs, A::RuleOnReturn, &f), Ok(()));
        assert_eq!(authorize(&cs, A::RuleOnExtension, &f), Ok(()));
        // Pause and resume as the clocks stand.
        let mut f = facts(S::CompoundHandling, &p, &[]);
        assert_eq!(allowed_for(&bs, &f), vec![A::ReportToCommunity, A::MarkSolved, A::PauseForResident]);
        f.resolution_running = false;
        f.waiting_for_resident = true;
        assert_eq!(allowed_for(&bs, &f), vec![A::ReportToCommunity, A::MarkSolved, A::ResumeWork]);
        // The breach policy's escalation is the system's alone.
        let f = facts(S::AtCompound, &p, &[]);
        assert!(matches!(authorize(&bs, A::EscalateToCommunity, &f), Err(Refusal::WrongRole(_))));
        assert_eq!(authorize(&Actor::system(), A::EscalateToCommunity, &f), Ok(()));
        assert!(!allowed_for(&bs, &f).contains(&A::EscalateToCommunity));
    }

    #[test]
    fn a_department_whose_part_ended_reads_until_then_and_acts_no_more() {
        let (p, _, _) = place();
        let dept = OrgPath::root(OrgUnitId::new());
        let dl = actor(Role::DepartmentLiaison, &dept);
        let ended = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap().naive_utc();
        let mut gone = part(&dept, false, AssignmentState::Removed);
        gone.ended_at = Some(ended);
        let parts = vec![gone.clone()];
        assert_eq!(sight(&dl, &p, &parts), Sight::Until(ended));
        assert!(matches!(authorize(&dl, A::AddProgress, &facts(S::Whistled, &p, &parts)), Err(Refusal::WrongRole(_))));
        assert!(allowed_for(&dl, &facts(S::Whistled, &p, &parts)).is_empty());
        // Whistled again later: a live part gives full sight back.
        let parts = vec![gone, part(&dept, false, AssignmentState::Dispatched)];
        assert_eq!(sight(&dl, &p, &parts), Sight::Full);
    }

    #[test]
    fn a_not_satisfied_visit_reopens_where_it_was_solved() {
        assert_eq!(reopened_state(Level::Compound), S::CompoundHandling);
        assert_eq!(reopened_state(Level::Department), S::Whistled);
    }

    #[test]
    fn each_part_step_moves_a_part_from_the_states_it_applies_to_and_refuses_the_rest() {
        use AssignmentState as P;
        let dept = OrgPath::root(OrgUnitId::new());
        let at = |state: P, lead: bool| part(&dept, lead, state);
        let all = [P::Dispatched, P::Acknowledged, P::Returned, P::Done, P::Removed];
        // (step, lead, the states it applies to and where each leads)
        type Moves = &'static [(P, P)];
        let table: &[(PartStep, bool, Moves)] = &[
            (PartStep::Acknowledge, false, &[(P::Dispatched, P::Acknowledged)]),
            (PartStep::Return, true, &[(P::Dispatched, P::Returned), (P::Acknowledged, P::Returned)]),
            (PartStep::RequestExtension, true, &[(P::Acknowledged, P::Acknowledged)]),
            (PartStep::Progress, true, &[(P::Dispatched, P::Dispatched), (P::Acknowledged, P::Acknowledged)]),
            (PartStep::Complete, false, &[(P::Acknowledged, P::Done)]),
            (PartStep::TakeOff, false, &[(P::Dispatched, P::Removed), (P::Acknowledged, P::Removed), (P::Returned, P::Removed)]),
            (PartStep::Overrule { acknowledged: true }, true, &[(P::Returned, P::Acknowledged)]),
            (PartStep::Overrule { acknowledged: false }, true, &[(P::Returned, P::Dispatched)]),
            (PartStep::AcceptReturn, true, &[(P::Returned, P::Removed)]),
        ];
        for (step, lead, moves) in table {
            for from in all {
                let got = part_step(*step, &at(from, *lead));
                match moves.iter().find(|(f, _)| *f == from) {
                    Some((_, to)) => assert_eq!(got, Ok(*to), "{step:?} from {from:?}"),
                    None => assert!(got.is_err(), "{step:?} from {from:?} should be refused, got {got:?}"),
                }
            }
        }
        // The lead closes by solving and cannot be taken off; an overruled return is final; one
        // extension request at a time.
        assert_eq!(part_step(PartStep::Complete, &at(P::Acknowledged, true)), Err(Blocked::LeadClosesBySolving));
        assert_eq!(part_step(PartStep::TakeOff, &at(P::Acknowledged, true)), Err(Blocked::LeadNotRemovable));
        assert_eq!(part_step(PartStep::TakeOff, &at(P::Done, false)), Err(Blocked::PartNotOpen));
        let mut overruled = at(P::Acknowledged, false);
        overruled.overruled = true;
        assert_eq!(part_step(PartStep::Return, &overruled), Err(Blocked::ReturnOverruled));
        let mut asked = at(P::Acknowledged, false);
        asked.extension_pending = true;
        assert_eq!(part_step(PartStep::RequestExtension, &asked), Err(Blocked::ExtensionPending));
    }
}
