//! The stages of a ticket that carry a clock, and the time limits set on them: in working time on
//! a calendar, or in natural time, down to seconds.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// 退单裁定: the community rules on a department's return while that department's clocks wait.
    ReturnRuling,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::CompoundTriage,
        Stage::CommunityAcceptance,
        Stage::DepartmentAcknowledgement,
        Stage::Resolution,
        Stage::ReturnVisit,
        Stage::ReturnRuling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::CompoundTriage => "compound_triage",
            Stage::CommunityAcceptance => "community_acceptance",
            Stage::DepartmentAcknowledgement => "department_acknowledgement",
            Stage::Resolution => "resolution",
            Stage::ReturnVisit => "return_visit",
            Stage::ReturnRuling => "return_ruling",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Its name for people: the message catalogue's `Stage-<code>` entry.
    pub fn label_key(self) -> &'static str {
        match self {
            Stage::CompoundTriage => "Stage-compound_triage",
            Stage::CommunityAcceptance => "Stage-community_acceptance",
            Stage::DepartmentAcknowledgement => "Stage-department_acknowledgement",
            Stage::Resolution => "Stage-resolution",
            Stage::ReturnVisit => "Stage-return_visit",
            Stage::ReturnRuling => "Stage-return_ruling",
        }
    }
}

/// A time limit: in working time on a calendar, or in natural time (24/7), down to seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Whole working days: a day's office hours each.
    WorkingDays(i64),
    /// Working seconds.
    WorkingSeconds(i64),
    /// Natural seconds.
    Natural(i64),
}

impl Limit {
    /// Parses `"3 working_days"`, `"4 working_hours"`, `"30 working_minutes"`, `"24 hours"`,
    /// `"2 days"`, `"15 minutes"`, `"90 seconds"`.
    pub fn parse(text: &str) -> Result<Limit, crate::domain::text::Msg> {
        let mut parts = text.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(crate::msg!("rule-limit_form", text = text));
        };
        let n: i64 = n.parse().map_err(|_| crate::msg!("rule-limit_number", text = text))?;
        if n <= 0 {
            return Err(crate::msg!("rule-limit_positive", text = text));
        }
        Ok(match unit.trim_end_matches('s') {
            "working_day" => Limit::WorkingDays(n),
            "working_hour" => Limit::WorkingSeconds(n * 3600),
            "working_minute" => Limit::WorkingSeconds(n * 60),
            "working_second" => Limit::WorkingSeconds(n),
            "day" => Limit::Natural(n * 86_400),
            "hour" => Limit::Natural(n * 3600),
            "minute" => Limit::Natural(n * 60),
            "second" => Limit::Natural(n),
            _ => return Err(crate::msg!("rule-limit_unit", unit = unit, text = text)),
        })
    }

    pub fn is_working(self) -> bool {
        !matches!(self, Limit::Natural(_))
    }

    /// The limit as people write it (what [`Limit::parse`] reads back).
    pub fn to_text(self) -> String {
        let (n, unit) = match self {
            Limit::WorkingDays(d) => (d, "working_days"),
            Limit::WorkingSeconds(s) if s % 3600 == 0 => (s / 3600, "working_hours"),
            Limit::WorkingSeconds(s) if s % 60 == 0 => (s / 60, "working_minutes"),
            Limit::WorkingSeconds(s) => (s, "working_seconds"),
            Limit::Natural(s) if s % 86_400 == 0 => (s / 86_400, "days"),
            Limit::Natural(s) if s % 3600 == 0 => (s / 3600, "hours"),
            Limit::Natural(s) if s % 60 == 0 => (s / 60, "minutes"),
            Limit::Natural(s) => (s, "seconds"),
        };
        format!("{n} {unit}")
    }
}

/// What the scheduler does on its own when a limit passes (`sla.breach_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    /// Warn and supervise only.
    None,
    /// A ticket still waiting at the compound goes up to the community (超时上报社区).
    Escalate,
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(Limit::parse("3 working_days"), Ok(Limit::WorkingDays(3)));
        assert_eq!(Limit::parse("1 working_day"), Ok(Limit::WorkingDays(1)));
        assert_eq!(Limit::parse("4 working_hours"), Ok(Limit::WorkingSeconds(14_400)));
        assert_eq!(Limit::parse("24 hours"), Ok(Limit::Natural(86_400)));
        assert_eq!(Limit::parse("90 seconds"), Ok(Limit::Natural(90)));
        assert!(Limit::parse("soon").is_err());
        assert!(Limit::parse("0 hours").is_err());
        assert!(Limit::parse("3 fortnights").is_err());
        for text in ["3 working_days", "4 working_hours", "30 working_minutes", "24 hours", "2 days", "90 seconds", "7 minutes"] {
            assert_eq!(Limit::parse(&Limit::parse(text).unwrap().to_text()), Limit::parse(text), "{text}");
        }
    }
}
