//! The closed loop of a ticket (诉求): its states, the named actions, who may take each at which
//! level, and where each leads. The whole transition table is [`RULES`]; nothing else moves a ticket.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Actor, Id, OrgPath, Role};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal / $zh:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn name_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),* }
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

string_enum!(
    /// Where a ticket stands in the loop.
    TicketState {
        /// Filed; waiting for the compound branch to triage it (待小区处理).
        AtCompound = "at_compound" / "待小区处理",
        /// Taken on by the compound branch (小区办理中).
        CompoundHandling = "compound_handling" / "小区办理中",
        /// Reported up; waiting for the community to take it (待社区受理).
        AtCommunity = "at_community" / "待社区受理",
        /// Taken on by the community (社区办理中).
        CommunityHandling = "community_handling" / "社区办理中",
        /// Departments whistled (吹哨) and handling it (部门办理中).
        Whistled = "whistled" / "部门办理中",
        /// Marked solved; waiting for the grid worker's return visit (待回访).
        Solved = "solved" / "待回访",
        /// Return visit done, resident satisfied or basically satisfied (已办结).
        Closed = "closed" / "已办结",
        /// Closed as a duplicate of another ticket (重复件).
        Duplicate = "duplicate" / "重复件",
        /// Declined as not actionable, with a reason (不予受理).
        Declined = "declined" / "不予受理",
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
        Compound = "compound" / "小区",
        Community = "community" / "社区",
        Department = "department" / "职能部门",
    }
);

string_enum!(
    /// Every named action on a ticket.
    ActionKind {
        /// 小区受理
        AcceptAtCompound = "accept_at_compound" / "小区受理",
        /// 上报社区
        ReportToCommunity = "report_to_community" / "上报社区",
        /// 标记重复
        MarkDuplicate = "mark_duplicate" / "标记重复",
        /// 不予受理
        Decline = "decline" / "不予受理",
        /// 社区受理
        AcceptAtCommunity = "accept_at_community" / "社区受理",
        /// 吹哨: dispatch a lead department and optional co-departments
        Whistle = "whistle" / "吹哨派单",
        /// 追加部门
        AddDepartment = "add_department" / "追加部门",
        /// 撤回部门
        RemoveDepartment = "remove_department" / "撤回部门",
        /// 签收 / 报到
        Acknowledge = "acknowledge" / "签收报到",
        /// 退单: a department returns a misrouted case
        ReturnCase = "return_case" / "退单",
        /// 申请延期
        RequestExtension = "request_extension" / "申请延期",
        /// 办理进展
        AddProgress = "add_progress" / "办理进展",
        /// 协办完成: a co-department marks its part done
        CompletePart = "complete_part" / "协办完成",
        /// 办结: the handling level marks the case solved
        MarkSolved = "mark_solved" / "办结",
        /// 退单裁定: accept the return (and re-dispatch) or overrule it
        RuleOnReturn = "rule_on_return" / "退单裁定",
        /// 延期审批
        RuleOnExtension = "rule_on_extension" / "延期审批",
        /// 回访
        RecordReturnVisit = "record_return_visit" / "回访",
        /// 等待居民: the resolution clock stops counting (with a reason, for a limited time)
        PauseForResident = "pause_for_resident" / "等待居民",
        /// 恢复办理
        ResumeWork = "resume_work" / "恢复办理",
    }
);

string_enum!(
    /// A whistled department's part of a ticket.
    AssignmentState {
        /// 已派单: waiting for the department to acknowledge (签收).
        Dispatched = "dispatched" / "待签收",
        Acknowledged = "acknowledged" / "办理中",
        /// 已退单: waiting for the whistling level to rule.
        Returned = "returned" / "已退单",
        /// A co-department's part is done.
        Done = "done" / "协办完成",
        /// Taken off the case (return accepted, or removed by the community).
        Removed = "removed" / "已撤回",
    }
);

string_enum!(
    /// Why a department returns a case (退单原因), a closed list.
    ReturnReason {
        NotOurTerritory = "not_our_territory" / "不属于本辖区",
        UnclearOwnership = "unclear_ownership" / "权属不清",
        OverlappingDuties = "overlapping_duties" / "职责交叉",
        OutsideOurRemit = "outside_our_remit" / "不属于本部门职责",
    }
);

string_enum!(
    /// Why the community whistles (吹哨类型).
    WhistleType {
        BeyondStreetPower = "beyond_street_power" / "超出街道职权",
        EnforcementNeeded = "enforcement_needed" / "需要执法",
        Emergency = "emergency" / "应急处置",
    }
);

string_enum!(
    /// The resident's verdict at the return visit (回访满意度).
    Satisfaction {
        Satisfied = "satisfied" / "满意",
        BasicallySatisfied = "basically_satisfied" / "基本满意",
        NotSatisfied = "not_satisfied" / "不满意",
    }
);

string_enum!(
    /// How a request reached Gridloop.
    Channel {
        Visit = "visit" / "入户走访",
        Hotline = "hotline" / "热线",
        WalkIn = "walk_in" / "来访",
        Online = "online" / "网上",
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

/// One whistled department, as the rules need to see it.
#[derive(Clone, Debug)]
pub struct DepartmentPart {
    pub department_id: Id,
    pub lead: bool,
    pub state: AssignmentState,
}

impl DepartmentPart {
    pub fn is_live(&self) -> bool {
        !matches!(self.state, AssignmentState::Removed)
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

/// Why an action is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The actor cannot see the ticket at all (report as missing).
    Hidden,
    /// The actor sees the ticket but is not the right role at the right level.
    WrongRole(String),
    /// The table does not allow the action in the current state.
    WrongState,
}

/// Can the actor see this ticket? Residential roles by place; a liaison when his department was
/// ever whistled on it.
pub fn can_see(actor: &Actor, place: &TicketPlace, departments: &[DepartmentPart]) -> bool {
    actor.grants.iter().any(|g| match g.role {
        Role::GridWorker | Role::BranchSecretary | Role::CommunityStaff | Role::Supervisor => g.org_path.contains(&place.place),
        Role::DepartmentLiaison => departments.iter().any(|d| d.department_id == g.org_unit_id),
        Role::Admin => false,
    })
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

/// Decides whether `actor` may take `action` now. State first for those who can see the ticket,
/// so that a wrong-state action answers 409 with what is possible instead of a role complaint.
pub fn authorize(
    actor: &Actor,
    action: ActionKind,
    state: TicketState,
    place: &TicketPlace,
    departments: &[DepartmentPart],
) -> Result<(), Refusal> {
    if !can_see(actor, place, departments) {
        return Err(Refusal::Hidden);
    }
    let r = rule(action);
    let taker_ok = match r.taker {
        Taker::Compound => holds(actor, Role::BranchSecretary, &place.compound),
        Taker::Community => holds(actor, Role::CommunityStaff, &place.community),
        Taker::AnyDepartment => !own_parts(actor, departments).is_empty(),
        Taker::GridWorker => holds(actor, Role::GridWorker, &place.place),
        Taker::HandlingLevel => match handling_level(state) {
            Some(Level::Compound) => holds(actor, Role::BranchSecretary, &place.compound),
            Some(Level::Community) => holds(actor, Role::CommunityStaff, &place.community),
            Some(Level::Department) => own_parts(actor, departments).iter().any(|d| d.lead),
            None => holds(actor, Role::BranchSecretary, &place.compound) || holds(actor, Role::CommunityStaff, &place.community),
        },
    };
    if !r.from.contains(&state) {
        return Err(Refusal::WrongState);
    }
    if !taker_ok {
        let who = match r.taker {
            Taker::Compound => "the branch secretary of the ticket's compound".to_string(),
            Taker::Community => "community staff of the ticket's community".to_string(),
            Taker::AnyDepartment => "a liaison of a department whistled on this ticket".to_string(),
            Taker::GridWorker => "a grid worker of the ticket's grid".to_string(),
            Taker::HandlingLevel => format!(
                "the level handling the ticket now ({})",
                handling_level(state).map(|l| l.as_str()).unwrap_or("compound or community")
            ),
        };
        return Err(Refusal::WrongRole(format!("{} may be taken only by {who}", action.as_str())));
    }
    Ok(())
}

/// The actions this actor may take now, for the UI and for 409 answers.
pub fn allowed_for(actor: &Actor, state: TicketState, place: &TicketPlace, departments: &[DepartmentPart]) -> Vec<ActionKind> {
    ActionKind::ALL.iter().copied().filter(|a| authorize(actor, *a, state, place, departments).is_ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Grant, OrgKind};

    fn place() -> (TicketPlace, OrgPath, OrgPath) {
        let city = OrgPath::root(Id::new());
        let community = city.child(Id::new());
        let compound = community.child(Id::new());
        let building = compound.child(Id::new());
        (TicketPlace { place: building, compound: compound.clone(), community: community.clone() }, compound, community)
    }

    fn actor(role: Role, at: &OrgPath) -> Actor {
        Actor {
            person_id: Id::new(),
            login: "x".into(),
            grants: vec![Grant { role, org_unit_id: *at.ids().last().unwrap(), org_kind: OrgKind::Compound, org_path: at.clone() }],
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

    #[test]
    fn the_secretary_triages_and_the_community_whistles() {
        let (p, compound, community) = place();
        let bs = actor(Role::BranchSecretary, &compound);
        let cs = actor(Role::CommunityStaff, &community);
        assert_eq!(authorize(&bs, A::AcceptAtCompound, S::AtCompound, &p, &[]), Ok(()));
        assert!(matches!(authorize(&cs, A::AcceptAtCompound, S::AtCompound, &p, &[]), Err(Refusal::WrongRole(_))));
        assert_eq!(authorize(&bs, A::Whistle, S::AtCompound, &p, &[]), Err(Refusal::WrongState));
        assert_eq!(authorize(&cs, A::Whistle, S::AtCommunity, &p, &[]), Ok(()));
        assert!(matches!(authorize(&bs, A::Whistle, S::AtCommunity, &p, &[]), Err(Refusal::WrongRole(_))));
    }

    #[test]
    fn a_department_acts_only_on_what_it_was_whistled_for() {
        let (p, _, _) = place();
        let dept = OrgPath::root(Id::new());
        let other = OrgPath::root(Id::new());
        let dl = actor(Role::DepartmentLiaison, &dept);
        let parts = vec![DepartmentPart { department_id: *other.ids().last().unwrap(), lead: true, state: AssignmentState::Dispatched }];
        assert_eq!(authorize(&dl, A::Acknowledge, S::Whistled, &p, &parts), Err(Refusal::Hidden));
        let parts = vec![DepartmentPart { department_id: *dept.ids().last().unwrap(), lead: false, state: AssignmentState::Acknowledged }];
        assert_eq!(authorize(&dl, A::Acknowledge, S::Whistled, &p, &parts), Ok(()));
        // Only the lead department marks the case solved.
        assert!(matches!(authorize(&dl, A::MarkSolved, S::Whistled, &p, &parts), Err(Refusal::WrongRole(_))));
    }

    #[test]
    fn a_not_satisfied_visit_reopens_where_it_was_solved() {
        assert_eq!(reopened_state(Level::Compound), S::CompoundHandling);
        assert_eq!(reopened_state(Level::Department), S::Whistled);
    }
}
