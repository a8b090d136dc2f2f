//! Notifications (通知) as the domain sees them: the events that tell someone something, who in a
//! unit is told, which go at once and which wait for working time, the channels, and how a failed
//! delivery is retried. No I/O here: the outbox (`app::outbox`) writes, the worker sends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::workflow::{string_enum, ActionKind};
use super::Role;

string_enum!(
    /// What happened, that someone must be told.
    NoticeKind {
        /// 吹哨: a department was whistled to a case (lead or co-department).
        Whistled = "whistled",
        /// 退单: a department returned a case to the community.
        Returned = "returned",
        /// 申请延期: a department asks the community for more time.
        ExtensionRequested = "extension_requested",
        /// The community granted or refused an extension.
        ExtensionDecided = "extension_decided",
        /// The community ruled on a return (re-dispatched or overruled).
        ReturnRuled = "return_ruled",
        /// A deadline is near (预警).
        SlaWarning = "sla_warning",
        /// A deadline passed (超时); a supervision case (督办) is opened.
        SlaBreach = "sla_breach",
        /// Still late (催办).
        SlaReminder = "sla_reminder",
        /// 办结: the case is solved; the grid worker's return visit (回访) is due.
        Solved = "solved",
        /// 重办: a not-satisfied return visit reopened the case.
        Reopened = "reopened",
        /// A grid worker's visit log is missing after the day's deadline.
        VisitLogMissing = "visit_log_missing",
        /// Deadlines are computed on a provisional calendar year.
        CalendarProvisional = "calendar_provisional",
        /// An action item (行动清单) of a three-party consultation nears its deadline.
        ActionWarning = "action_warning",
        /// An action item passed its deadline: into the community's supervision (督办).
        ActionOverdue = "action_overdue",
        /// 测试消息: an admin's or a person's test of a channel; goes at once, to that channel only.
        Test = "test",
        /// A status change pushed back to the 12345 platform that sent the work order (签收, 退单,
        /// 延期, 办结, 回访): to the platform's client only, nobody in a unit.
        PlatformStatus = "platform_status",
        /// A resident's link to his request's status page, by SMS or mail: to the resident only.
        ResidentLink = "resident_link",
    }
);

string_enum!(
    /// How a notification reaches its recipient.
    DeliveryChannel {
        /// The in-app centre (站内通知): always, for every person told.
        InApp = "in_app",
        Email = "email",
        /// A WeCom (企业微信) group robot of the unit.
        Wecom = "wecom",
        /// A DingTalk (钉钉) group robot of the unit.
        Dingtalk = "dingtalk",
        /// A signed webhook of the unit (an SMS gateway, a city system).
        Webhook = "webhook",
    }
);

string_enum!(
    /// Where a delivery stands.
    DeliveryState {
        /// Waiting for its time (quiet hours, a retry's backoff) or for the worker.
        Pending = "pending",
        /// Claimed by a worker until `claimed_until`; a worker that died leaves it to be claimed again.
        Sending = "sending",
        Sent = "sent",
        /// Every try failed: shown on the ticket and to supervisors; an admin can retry it.
        Failed = "failed",
    }
);

impl NoticeKind {
    /// The event a workflow action tells of, if any.
    pub fn of_action(kind: ActionKind) -> Option<NoticeKind> {
        Some(match kind {
            ActionKind::Whistle | ActionKind::AddDepartment => NoticeKind::Whistled,
            ActionKind::ReturnCase => NoticeKind::Returned,
            ActionKind::RequestExtension => NoticeKind::ExtensionRequested,
            ActionKind::RuleOnExtension => NoticeKind::ExtensionDecided,
            ActionKind::RuleOnReturn => NoticeKind::ReturnRuled,
            ActionKind::MarkSolved => NoticeKind::Solved,
            _ => return None,
        })
    }

    /// Goes at once whatever the hour: a breach and its reminders (督办 is about lateness), and any
    /// event of an urgent ticket (急难愁盼). Everything else waits for working time when the
    /// person keeps quiet hours.
    pub fn urgent(self, ticket_urgent: bool) -> bool {
        ticket_urgent
            || matches!(
                self,
                NoticeKind::SlaBreach | NoticeKind::SlaReminder | NoticeKind::ActionOverdue | NoticeKind::Test | NoticeKind::PlatformStatus
            )
    }

    /// Low priority: what asks nothing of the recipient today (a decision already taken, a case
    /// solved, a log to make up, the calendar). A person who asks for the daily digest (每日摘要)
    /// gets these by mail once a day, the next working morning, in one message; whatever asks
    /// for action (a whistle, a return, a deadline) still goes on its own.
    pub fn low_priority(self) -> bool {
        matches!(self, NoticeKind::ExtensionDecided | NoticeKind::Solved | NoticeKind::VisitLogMissing | NoticeKind::CalendarProvisional)
    }

    /// Every kind a person or a unit's channel may choose (the test is no choice: it always goes).
    pub fn choosable() -> impl Iterator<Item = NoticeKind> {
        NoticeKind::ALL.iter().copied().filter(|k| !k.addressed())
    }

    /// Addressed to one recipient outside any unit's choice (a channel's test, a platform, a
    /// resident): no person or endpoint chooses it, and a unit's channels never get it.
    pub fn addressed(self) -> bool {
        matches!(self, NoticeKind::Test | NoticeKind::PlatformStatus | NoticeKind::ResidentLink)
    }

    /// The message catalogue's key of its body text.
    pub fn body_key(self) -> &'static str {
        match self {
            NoticeKind::Whistled => "notice-body-whistled",
            NoticeKind::Returned => "notice-body-returned",
            NoticeKind::ExtensionRequested => "notice-body-extension_requested",
            NoticeKind::ExtensionDecided => "notice-body-extension_decided",
            NoticeKind::ReturnRuled => "notice-body-return_ruled",
            NoticeKind::SlaWarning => "notice-body-sla_warning",
            NoticeKind::SlaBreach => "notice-body-sla_breach",
            NoticeKind::SlaReminder => "notice-body-sla_reminder",
            NoticeKind::Solved => "notice-body-solved",
            NoticeKind::Reopened => "notice-body-reopened",
            NoticeKind::VisitLogMissing => "notice-body-visit_log_missing",
            NoticeKind::CalendarProvisional => "notice-body-calendar_provisional",
            NoticeKind::ActionWarning => "notice-body-action_warning",
            NoticeKind::ActionOverdue => "notice-body-action_overdue",
            NoticeKind::Test => "notice-body-test",
            NoticeKind::PlatformStatus => "notice-body-platform_status",
            NoticeKind::ResidentLink => "notice-body-resident_link",
        }
    }

    /// Who in a unit is told of an event addressed to the unit (rather than to one person).
    pub fn audience(self) -> &'static [Role] {
        match self {
            NoticeKind::Whistled | NoticeKind::ExtensionDecided | NoticeKind::ReturnRuled => &[Role::DepartmentLiaison],
            NoticeKind::Returned | NoticeKind::ExtensionRequested => &[Role::CommunityStaff],
            NoticeKind::Solved | NoticeKind::Reopened | NoticeKind::VisitLogMissing => &[Role::GridWorker],
            NoticeKind::SlaWarning | NoticeKind::SlaBreach | NoticeKind::SlaReminder => {
                &[Role::BranchSecretary, Role::CommunityStaff, Role::DepartmentLiaison, Role::GridWorker]
            }
            NoticeKind::CalendarProvisional => &[Role::Admin],
            NoticeKind::ActionWarning => &[Role::BranchSecretary, Role::CommitteeRepresentative, Role::CompanyRepresentative],
            NoticeKind::ActionOverdue => {
                &[Role::BranchSecretary, Role::CommitteeRepresentative, Role::CompanyRepresentative, Role::CommunityStaff]
            }
            // A test names its one channel, a status push its platform, a link its resident:
            // nobody else is told.
            NoticeKind::Test | NoticeKind::PlatformStatus | NoticeKind::ResidentLink => &[],
        }
    }
}

/// A list of kinds as stored (a person's kinds by mail, an endpoint's events): `*` for every
/// kind, or kinds separated by commas (empty: none). Does it take this kind?
pub fn chosen(events: &str, kind: NoticeKind) -> bool {
    kind == NoticeKind::Test || !kind.addressed() && events.split(',').map(str::trim).any(|e| e == "*" || e == kind.as_str())
}

/// The stored form of a choice: `*` for all, else the kinds sorted, once each.
pub fn choice_text(all: bool, kinds: &[NoticeKind]) -> String {
    if all {
        return "*".into();
    }
    let mut k: Vec<&str> = kinds.iter().filter(|k| !k.addressed()).map(|k| k.as_str()).collect();
    k.sort_unstable();
    k.dedup();
    k.join(",")
}

/// The kinds a stored choice names (`*` → every choosable kind).
pub fn choice_kinds(events: &str) -> (bool, Vec<NoticeKind>) {
    if events.split(',').any(|e| e.trim() == "*") {
        return (true, NoticeKind::choosable().collect());
    }
    (false, events.split(',').filter_map(|e| e.trim().parse().ok()).collect())
}

/// The most tries of a delivery before it is failed.
pub const MAX_ATTEMPTS: i32 = 8;
/// The longest wait between two tries.
pub const BACKOFF_CAP_SECONDS: i64 = 3600;

/// How long to wait after the `attempt`-th failed try (1-based): 30 s doubling up to the cap, with
/// `jitter` (0.0–1.0, random in use) taking up to a quarter off, so that many failures at once do
/// not come back at once.
pub fn backoff_seconds(attempt: i32, jitter: f64) -> i64 {
    let base = 30i64.saturating_mul(1i64 << (attempt.clamp(1, 20) - 1)).min(BACKOFF_CAP_SECONDS);
    let off = (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as i64;
    (base - off).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_jitter_only_shortens_it() {
        assert_eq!(backoff_seconds(1, 0.0), 30);
        assert_eq!(backoff_seconds(2, 0.0), 60);
        assert_eq!(backoff_seconds(5, 0.0), 480);
        assert_eq!(backoff_seconds(12, 0.0), BACKOFF_CAP_SECONDS);
        assert_eq!(backoff_seconds(12, 1.0), BACKOFF_CAP_SECONDS * 3 / 4);
        for a in 1..=MAX_ATTEMPTS {
            assert!(backoff_seconds(a, 0.5) <= backoff_seconds(a, 0.0));
        }
    }

    #[test]
    fn breaches_and_urgent_tickets_go_at_once_the_rest_waits() {
        assert!(NoticeKind::SlaBreach.urgent(false));
        assert!(NoticeKind::Whistled.urgent(true));
        assert!(!NoticeKind::Whistled.urgent(false));
        assert!(!NoticeKind::SlaWarning.urgent(false));
        assert_eq!(NoticeKind::of_action(ActionKind::Whistle), Some(NoticeKind::Whistled));
        assert_eq!(NoticeKind::of_action(ActionKind::Acknowledge), None);
    }

    #[test]
    fn a_choice_of_kinds_is_all_or_the_named_ones_and_a_test_always_goes() {
        assert!(chosen("*", NoticeKind::Solved));
        assert!(chosen("returned,whistled", NoticeKind::Whistled));
        assert!(!chosen("returned,whistled", NoticeKind::Solved));
        assert!(!chosen("", NoticeKind::Solved));
        assert!(chosen("", NoticeKind::Test));
        assert_eq!(choice_text(false, &[NoticeKind::Whistled, NoticeKind::Returned, NoticeKind::Whistled]), "returned,whistled");
        assert_eq!(choice_text(true, &[]), "*");
        assert_eq!(choice_kinds("returned,whistled"), (false, vec![NoticeKind::Returned, NoticeKind::Whistled]));
        let (all, kinds) = choice_kinds("*");
        assert!(all && !kinds.contains(&NoticeKind::Test) && kinds.contains(&NoticeKind::Solved));
        assert!(NoticeKind::Test.urgent(false), "a test goes at once");
        assert!(NoticeKind::Solved.low_priority() && !NoticeKind::Whistled.low_priority() && !NoticeKind::SlaBreach.low_priority());
    }
}
