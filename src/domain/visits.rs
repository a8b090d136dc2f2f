//! The rules of the daily visit (走访): household kinds and how often each must be visited, the
//! day a log belongs to, when a log is late, when it locks, and where a request raised on a visit
//! stands in the closed loop (走访—反馈—跟踪—回访办结).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::workflow::TicketState;

/// What kind of household this is; it sets how often the household must be visited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdKind {
    Ordinary,
    /// 独居老人
    ElderlyAlone,
    /// 党员中心户
    PartyMemberHousehold,
    /// 残疾人家庭
    Disabled,
    /// 低保户
    LowIncome,
}

impl HouseholdKind {
    pub const ALL: [HouseholdKind; 5] = [Self::Ordinary, Self::ElderlyAlone, Self::PartyMemberHousehold, Self::Disabled, Self::LowIncome];

    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdKind::Ordinary => "ordinary",
            HouseholdKind::ElderlyAlone => "elderly_alone",
            HouseholdKind::PartyMemberHousehold => "party_member_household",
            HouseholdKind::Disabled => "disabled",
            HouseholdKind::LowIncome => "low_income",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// When residents of different kinds share an address, the household takes the kind that
    /// needs the closest care: elderly alone, then disabled, low income, Party-member household, ordinary.
    pub fn care_rank(self) -> u8 {
        match self {
            HouseholdKind::ElderlyAlone => 4,
            HouseholdKind::Disabled => 3,
            HouseholdKind::LowIncome => 2,
            HouseholdKind::PartyMemberHousehold => 1,
            HouseholdKind::Ordinary => 0,
        }
    }
}

/// Which days a log is expected on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogDays {
    WorkingDays,
    EveryDay,
}

/// The visit rules of the configuration, checked.
#[derive(Clone, Debug)]
pub struct VisitRules {
    pub tz: Tz,
    /// Local time by which the day's log should be filed.
    pub deadline: NaiveTime,
    pub log_days: LogDays,
    pub backfill_days: i64,
    pub frequency: BTreeMap<HouseholdKind, i64>,
}

impl VisitRules {
    /// The local calendar day of an instant (stored times are UTC).
    pub fn local_date(&self, t: NaiveDateTime) -> NaiveDate {
        t.and_utc().with_timezone(&self.tz).date_naive()
    }

    /// The UTC instant of a local date and time; the earlier one if the wall time is ambiguous.
    pub fn utc_of(&self, date: NaiveDate, time: NaiveTime) -> NaiveDateTime {
        use chrono::offset::LocalResult;
        match self.tz.from_local_datetime(&date.and_time(time)) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.naive_utc(),
            // A wall time skipped by a clock change: an hour later exists.
            LocalResult::None => date.and_time(time).checked_add_signed(Duration::hours(1)).unwrap_or(date.and_time(time)),
        }
    }

    /// The instant the log of `date` is due.
    pub fn deadline_of(&self, date: NaiveDate) -> NaiveDateTime {
        self.utc_of(date, self.deadline)
    }

    /// A log filed at `filed_at` for `date` is late when filed after that day's deadline.
    pub fn is_late(&self, date: NaiveDate, filed_at: NaiveDateTime) -> bool {
        filed_at > self.deadline_of(date)
    }

    /// Whether a log for `date` may be submitted at `now`: today, or up to `backfill_days` back;
    /// never in the future.
    pub fn check_filing_date(&self, date: NaiveDate, now: NaiveDateTime) -> Result<(), crate::domain::text::Msg> {
        let today = self.local_date(now);
        if date > today {
            return Err(crate::msg!("rule-date_in_future", date = date.to_string(), today = today.to_string()));
        }
        if (today - date).num_days() > self.backfill_days {
            return Err(crate::msg!("rule-backfill", days = self.backfill_days, date = date.to_string()));
        }
        Ok(())
    }

    /// A log can be amended only on its own day (local time); after that it is locked.
    pub fn is_locked(&self, date: NaiveDate, now: NaiveDateTime) -> bool {
        self.local_date(now) > date
    }

    /// Days between visits for a household of `kind`.
    pub fn every(&self, kind: HouseholdKind) -> i64 {
        self.frequency.get(&kind).copied().unwrap_or(30)
    }

    /// The day a household must next be visited by: its last visit (or, never visited, the day it
    /// was registered) plus its kind's interval.
    pub fn next_due(&self, kind: HouseholdKind, last_visited: Option<NaiveDate>, registered: NaiveDate) -> NaiveDate {
        last_visited.unwrap_or(registered) + Duration::days(self.every(kind))
    }
}

use chrono::TimeZone;

/// Where a request raised on a visit stands in the closed loop (走访 → 反馈 → 跟踪 → 回访办结).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoopStage {
    /// 已走访: raised on the visit, waiting for the branch to triage it.
    Visited,
    /// 已反馈: triaged and being handled (compound, community or departments).
    FedBack,
    /// 跟踪回访: marked solved, waiting for the grid worker's return visit.
    FollowedUp,
    /// 回访办结: closed after a return visit with the resident satisfied or basically satisfied.
    Closed,
    /// Ended without a return visit: declined as not actionable, or a duplicate.
    Ended,
}

impl LoopStage {
    pub const ALL: [LoopStage; 5] = [LoopStage::Visited, LoopStage::FedBack, LoopStage::FollowedUp, LoopStage::Closed, LoopStage::Ended];

    pub fn of(state: TicketState) -> LoopStage {
        match state {
            TicketState::AtCompound => LoopStage::Visited,
            TicketState::CompoundHandling | TicketState::AtCommunity | TicketState::CommunityHandling | TicketState::Whistled => {
                LoopStage::FedBack
            }
            TicketState::Solved => LoopStage::FollowedUp,
            TicketState::Closed => LoopStage::Closed,
            TicketState::Duplicate | TicketState::Declined => LoopStage::Ended,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoopStage::Visited => "visited",
            LoopStage::FedBack => "fed_back",
            LoopStage::FollowedUp => "followed_up",
            LoopStage::Closed => "closed",
            LoopStage::Ended => "ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> VisitRules {
        let frequency = HouseholdKind::ALL.into_iter().map(|k| (k, if k == HouseholdKind::ElderlyAlone { 7 } else { 30 })).collect();
        VisitRules {
            tz: chrono_tz::Asia::Shanghai,
            deadline: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            log_days: LogDays::WorkingDays,
            backfill_days: 2,
            frequency,
        }
    }

    fn utc(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_day_and_the_deadline_are_local_to_china() {
        let r = rules();
        // 17:30 UTC on the 26th is 01:30 on the 27th in Shanghai.
        assert_eq!(r.local_date(utc("2026-11-26 17:30")), d("2026-11-27"));
        // 18:00 in Shanghai is 10:00 UTC.
        assert_eq!(r.deadline_of(d("2026-11-26")), utc("2026-11-26 10:00"));
        assert!(!r.is_late(d("2026-11-26"), utc("2026-11-26 09:59")));
        assert!(r.is_late(d("2026-11-26"), utc("2026-11-26 10:01")));
        assert!(r.is_late(d("2026-11-25"), utc("2026-11-26 01:00")));
    }

    #[test]
    fn logs_lock_after_their_day_and_backfill_is_bounded() {
        let r = rules();
        let date = d("2026-11-26");
        assert!(!r.is_locked(date, utc("2026-11-26 15:59")), "23:59 local is still the same day");
        assert!(r.is_locked(date, utc("2026-11-26 16:00")), "midnight local locks it");
        assert!(r.check_filing_date(date, utc("2026-11-26 03:00")).is_ok());
        assert!(r.check_filing_date(d("2026-11-24"), utc("2026-11-26 03:00")).is_ok());
        assert!(r.check_filing_date(d("2026-11-23"), utc("2026-11-26 03:00")).is_err());
        assert!(r.check_filing_date(d("2026-11-27"), utc("2026-11-26 03:00")).is_err());
    }

    #[test]
    fn the_next_visit_follows_the_kind() {
        let r = rules();
        assert_eq!(r.next_due(HouseholdKind::ElderlyAlone, Some(d("2026-11-20")), d("2026-01-01")), d("2026-11-27"));
        assert_eq!(r.next_due(HouseholdKind::Ordinary, None, d("2026-11-01")), d("2026-12-01"));
    }

    #[test]
    fn every_state_has_a_loop_stage() {
        assert_eq!(LoopStage::of(TicketState::AtCompound), LoopStage::Visited);
        assert_eq!(LoopStage::of(TicketState::Whistled), LoopStage::FedBack);
        assert_eq!(LoopStage::of(TicketState::Solved), LoopStage::FollowedUp);
        assert_eq!(LoopStage::of(TicketState::Closed), LoopStage::Closed);
        assert_eq!(LoopStage::of(TicketState::Declined), LoopStage::Ended);
    }
}
