//! Roles bound to org units (角色), the operations they allow, and the scope rule: a grant reaches
//! its unit's whole subtree. One table here decides who may do what; the use cases ask it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{OrgKind, OrgPath, OrgUnitId, PersonId};

/// The roles of DOMAIN.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员: visits the households of his grid, files requests, does return visits.
    GridWorker,
    /// 小区党支部书记 / 网格长: triages the compound's requests.
    BranchSecretary,
    /// 社区工作人员: takes reported requests, whistles departments.
    CommunityStaff,
    /// 部门联络员: sees only what his department was whistled for.
    DepartmentLiaison,
    /// 指挥中心 / 督办: read access over a city or district, overdue supervision, rankings.
    Supervisor,
    /// 系统管理员: org tree, people, roles, catalogue.
    Admin,
    /// 业委会代表: the owners' committee's representative in his compound's consultation.
    CommitteeRepresentative,
    /// 物业代表: the property company's representative in the compound's consultation.
    CompanyRepresentative,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::GridWorker,
        Role::BranchSecretary,
        Role::CommunityStaff,
        Role::DepartmentLiaison,
        Role::Supervisor,
        Role::Admin,
        Role::CommitteeRepresentative,
        Role::CompanyRepresentative,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::BranchSecretary => "branch_secretary",
            Role::CommunityStaff => "community_staff",
            Role::DepartmentLiaison => "department_liaison",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::CommitteeRepresentative => "committee_representative",
            Role::CompanyRepresentative => "company_representative",
        }
    }

    /// The consultation's party a representative speaks for (none for the other roles).
    pub fn represents(self) -> Option<crate::domain::consult::Party> {
        match self {
            Role::CommitteeRepresentative => Some(crate::domain::consult::Party::OwnersCommittee),
            Role::CompanyRepresentative => Some(crate::domain::consult::Party::PropertyCompany),
            _ => None,
        }
    }

    /// Its name for people: the message catalogue's `Role-<code>` entry.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::GridWorker => "Role-grid_worker",
            Role::BranchSecretary => "Role-branch_secretary",
            Role::CommunityStaff => "Role-community_staff",
            Role::DepartmentLiaison => "Role-department_liaison",
            Role::Supervisor => "Role-supervisor",
            Role::Admin => "Role-admin",
            Role::CommitteeRepresentative => "Role-committee_representative",
            Role::CompanyRepresentative => "Role-company_representative",
        }
    }

    /// The kinds of org unit this role may be bound to.
    pub fn bindable_kinds(self) -> &'static [OrgKind] {
        use OrgKind::*;
        match self {
            Role::GridWorker => &[Building, Compound],
            Role::BranchSecretary => &[Compound],
            Role::CommunityStaff => &[Community, Street],
            Role::DepartmentLiaison => &[Department],
            Role::Supervisor => &[City, District, Street],
            Role::Admin => &[City, District, Street],
            Role::CommitteeRepresentative | Role::CompanyRepresentative => &[Compound],
        }
    }

    /// The operations this role allows, within the subtree of the unit it is bound to.
    /// This is the one table of who may do what.
    pub fn allows(self, op: Operation) -> bool {
        use Operation::*;
        match self {
            Role::GridWorker => matches!(
                op,
                OrgUnitRead
                    | ResidentRead
                    | ResidentReveal
                    | ResidentManage
                    | TicketRead
                    | TicketFile
                    | TicketAct
                    | TicketReveal
                    | VisitLogRead
                    | VisitLogFile
            ),
            // 社区: ranks the compounds (and departments) below its community or street.
            Role::CommunityStaff if op == RankingRead => true,
            // 三方协调议事 is the compound branch's: the secretary runs it, the community follows it.
            Role::BranchSecretary if matches!(op, ConsultRead | ConsultManage) => true,
            Role::CommunityStaff if op == ConsultRead => true,
            Role::BranchSecretary | Role::CommunityStaff => matches!(
                op,
                OrgUnitRead
                    | PersonRead
                    | ResidentRead
                    | ResidentReveal
                    | ResidentManage
                    | TicketRead
                    | TicketFile
                    | TicketAct
                    | TicketReveal
                    | VisitLogRead
                    | BoardRead
            ),
            // A liaison reaches tickets only through the departments whistled on them (workflow::can_see).
            Role::DepartmentLiaison => {
                matches!(op, OrgUnitRead | TicketRead | TicketAct | TicketReveal)
            }
            Role::Supervisor => {
                matches!(op, OrgUnitRead | PersonRead | ResidentRead | TicketRead | VisitLogRead | BoardRead | RankingRead | ConsultRead)
            }
            Role::Admin => matches!(op, OrgUnitRead | OrgUnitManage | PersonRead | PersonManage | CatalogueManage | PersonalDataRequest),
            // The parties' representatives: their compound's consultation, and progress and
            // completion of the actions their party is responsible for — nothing else.
            Role::CommitteeRepresentative | Role::CompanyRepresentative => matches!(op, ConsultRead | ConsultAct),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; expected one of: {}", Role::ALL.map(|r| r.as_str()).join(", ")))
    }
}

/// What an actor wants to do to an object. Each maps to the read operation that decides whether
/// the object is visible at all (an invisible object is reported as missing, never as forbidden).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    OrgUnitRead,
    OrgUnitManage,
    PersonRead,
    PersonManage,
    /// The task catalogue (任务目录) is city-wide: managing it needs an admin bound to a root unit.
    CatalogueManage,
    ResidentRead,
    /// Shows a resident's unmasked phone and ID number; every reveal is recorded.
    ResidentReveal,
    ResidentManage,
    /// Read tickets (诉求) in scope, their timeline and comment on them.
    TicketRead,
    /// File a ticket for a place in scope.
    TicketFile,
    /// Take a workflow action; who may take which is decided by the workflow table.
    TicketAct,
    /// Show a ticket's unmasked resident phone; recorded.
    TicketReveal,
    /// Read visit logs (走访日志) and the households' visit status.
    VisitLogRead,
    /// File and amend one's own visit logs for one's own grid (grid workers only).
    VisitLogFile,
    /// The secretary's board of a compound and log compliance (网格员日志督促).
    BoardRead,
    /// Rankings of the units below one (三率排名, 红黄榜) and the tickets behind each figure.
    RankingRead,
    /// A compound's three-party consultation (三方协调议事): its parties, agenda, meetings,
    /// actions and results.
    ConsultRead,
    /// Run it: record the parties, put items on the agenda, hold and sign off meetings, record
    /// progress and results.
    ConsultManage,
    /// Record progress on and complete the actions one's own party is responsible for.
    ConsultAct,
    /// A resident's request to see or erase his personal data (PIPL 第四十五条、第四十七条),
    /// answered by an admin over the units that hold it; recorded in the audit trail.
    PersonalDataRequest,
}

impl Operation {
    pub const ALL: [Operation; 20] = [
        Operation::OrgUnitRead,
        Operation::OrgUnitManage,
        Operation::PersonRead,
        Operation::PersonManage,
        Operation::CatalogueManage,
        Operation::ResidentRead,
        Operation::ResidentReveal,
        Operation::ResidentManage,
        Operation::TicketRead,
        Operation::TicketFile,
        Operation::TicketAct,
        Operation::TicketReveal,
        Operation::VisitLogRead,
        Operation::VisitLogFile,
        Operation::BoardRead,
        Operation::RankingRead,
        Operation::ConsultRead,
        Operation::ConsultManage,
        Operation::ConsultAct,
        Operation::PersonalDataRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::OrgUnitRead => "org_unit.read",
            Operation::OrgUnitManage => "org_unit.manage",
            Operation::PersonRead => "person.read",
            Operation::PersonManage => "person.manage",
            Operation::CatalogueManage => "catalogue.manage",
            Operation::ResidentRead => "resident.read",
            Operation::ResidentReveal => "resident.reveal",
            Operation::ResidentManage => "resident.manage",
            Operation::TicketRead => "ticket.read",
            Operation::TicketFile => "ticket.file",
            Operation::TicketAct => "ticket.act",
            Operation::TicketReveal => "ticket.reveal",
            Operation::VisitLogRead => "visit_log.read",
            Operation::VisitLogFile => "visit_log.file",
            Operation::BoardRead => "board.read",
            Operation::RankingRead => "ranking.read",
            Operation::ConsultRead => "consultation.read",
            Operation::ConsultManage => "consultation.manage",
            Operation::ConsultAct => "consultation.act",
            Operation::PersonalDataRequest => "personal_data.request",
        }
    }

    /// The operation whose grant makes the object visible.
    pub fn visibility(self) -> Operation {
        use Operation::*;
        match self {
            OrgUnitRead | OrgUnitManage => OrgUnitRead,
            PersonRead | PersonManage => PersonRead,
            CatalogueManage => CatalogueManage,
            ResidentRead | ResidentReveal | ResidentManage => ResidentRead,
            TicketRead | TicketFile | TicketAct | TicketReveal => TicketRead,
            VisitLogRead | VisitLogFile => VisitLogRead,
            BoardRead | RankingRead => OrgUnitRead,
            ConsultRead | ConsultManage | ConsultAct => ConsultRead,
            PersonalDataRequest => PersonalDataRequest,
        }
    }

    /// The roles that allow this operation somewhere.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.allows(self)).collect()
    }
}

/// The access rule a route declares. Every route declares one; a route without one is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No login needed (health, login, the API document).
    Public,
    /// Any logged-in person: his own profile and session, and city-wide reference data such as
    /// the task catalogue.
    Authenticated,
    /// A logged-in person whose grants allow this operation on the object's org unit.
    Scoped(Operation),
    /// An outside system with its key (the 12345 platform, signing its requests): the handler
    /// checks the key and the signature, which covers the body (decision 0032).
    Client,
}

impl Access {
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Authenticated => "any logged-in person".into(),
            Access::Scoped(op) => format!("scoped: {}", op.as_str()),
            Access::Client => "an outside system's key (12345 platform), its requests signed".into(),
        }
    }
}

/// One role membership (任职): a role bound to an org unit, reaching its whole subtree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub role: Role,
    pub org_unit_id: OrgUnitId,
    pub org_kind: OrgKind,
    pub org_path: OrgPath,
}

/// The verdict on one action against one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The actor can see the object but his roles do not allow this action on it (403).
    Forbidden,
    /// The object is outside every scope of the actor: answer exactly as if it did not exist (404).
    Hidden,
}

/// The logged-in person with his active grants.
#[derive(Clone, Debug)]
pub struct Actor {
    pub person_id: PersonId,
    pub login: String,
    pub grants: Vec<Grant>,
}

impl Actor {
    /// The service itself, acting by a policy (a time limit's breach action): no person, no
    /// grants; only rules whose taker is the system accept it.
    pub fn system() -> Actor {
        Actor { person_id: PersonId::NIL, login: "system".into(), grants: vec![] }
    }

    pub fn is_system(&self) -> bool {
        self.person_id == PersonId::NIL && self.grants.is_empty()
    }

    /// The grants whose role allows `op` (each reaches its unit's subtree).
    pub fn grants_for(&self, op: Operation) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.role.allows(op))
    }

    /// The subtree roots where `op` is allowed, with nested ones folded into their ancestors, so
    /// that a scoped query has as few ranges as possible.
    pub fn scope_roots(&self, op: Operation) -> Vec<OrgPath> {
        let mut paths: Vec<OrgPath> = self.grants_for(op).map(|g| g.org_path.clone()).collect();
        paths.sort_by_key(|p| p.as_str().len());
        let mut roots: Vec<OrgPath> = Vec::new();
        for p in paths {
            if !roots.iter().any(|r| r.contains(&p)) {
                roots.push(p);
            }
        }
        roots
    }

    pub fn may(&self, op: Operation, target: &OrgPath) -> bool {
        self.grants_for(op).any(|g| g.org_path.contains(target))
    }

    /// Decides `op` on an object that lives at `target`.
    pub fn decide(&self, op: Operation, target: &OrgPath) -> Decision {
        if self.may(op, target) {
            Decision::Allowed
        } else if self.may(op.visibility(), target) {
            Decision::Forbidden
        } else {
            Decision::Hidden
        }
    }

    /// Decides `op` on an object that lives at several places at once (a person with memberships
    /// in several units): visible if any place is visible, allowed only if every place is allowed,
    /// so that an admin of one compound cannot disable a district supervisor who also sits there.
    pub fn decide_all(&self, op: Operation, targets: &[OrgPath]) -> Decision {
        if !targets.is_empty() && targets.iter().all(|t| self.may(op, t)) {
            Decision::Allowed
        } else if targets.iter().any(|t| self.may(op.visibility(), t)) {
            Decision::Forbidden
        } else {
            Decision::Hidden
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, path: &OrgPath) -> Grant {
        Grant { role, org_unit_id: *path.ids().last().unwrap(), org_kind: OrgKind::Compound, org_path: path.clone() }
    }

    #[test]
    fn a_grant_reaches_its_subtree_and_nothing_beside_it() {
        let city = OrgPath::root(OrgUnitId::new());
        let y1 = city.child(OrgUnitId::new());
        let b1 = y1.child(OrgUnitId::new());
        let y2 = city.child(OrgUnitId::new());
        let actor = Actor { person_id: PersonId::new(), login: "bs".into(), grants: vec![grant(Role::BranchSecretary, &y1)] };
        assert_eq!(actor.decide(Operation::ResidentRead, &b1), Decision::Allowed);
        assert_eq!(actor.decide(Operation::ResidentRead, &y2), Decision::Hidden);
        assert_eq!(actor.decide(Operation::OrgUnitManage, &b1), Decision::Forbidden);
        assert_eq!(actor.decide(Operation::OrgUnitManage, &city), Decision::Hidden);
    }

    #[test]
    fn managing_a_person_needs_every_membership_in_scope() {
        let city = OrgPath::root(OrgUnitId::new());
        let y1 = city.child(OrgUnitId::new());
        let admin = Actor { person_id: PersonId::new(), login: "a".into(), grants: vec![grant(Role::Admin, &y1)] };
        let inside = y1.child(OrgUnitId::new());
        assert_eq!(admin.decide_all(Operation::PersonManage, std::slice::from_ref(&inside)), Decision::Allowed);
        assert_eq!(admin.decide_all(Operation::PersonManage, &[inside, city.clone()]), Decision::Forbidden);
        assert_eq!(admin.decide_all(Operation::PersonManage, &[city]), Decision::Hidden);
    }

    #[test]
    fn scope_roots_fold_nested_grants() {
        let city = OrgPath::root(OrgUnitId::new());
        let y1 = city.child(OrgUnitId::new());
        let actor = Actor {
            person_id: PersonId::new(),
            login: "x".into(),
            grants: vec![grant(Role::GridWorker, &y1), grant(Role::CommunityStaff, &city)],
        };
        assert_eq!(actor.scope_roots(Operation::ResidentRead), vec![city]);
    }

    #[test]
    fn every_role_names_parse_back() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("mayor".parse::<Role>().is_err());
    }
}
