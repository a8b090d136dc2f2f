//! Three-party consultation (三方协调议事): the compound's Party branch, its owners' committee
//! (业主委员会) and its property service company (物业服务企业) settle recurring matters. An item
//! of the agenda (议事清单) is decided at a meeting into an action (行动清单) with a responsible
//! party and a deadline, and ends done (业绩清单) or dropped. Pure rules: states, who may be
//! responsible, what an item's deadline means, and which of a compound's tickets recur enough to
//! be proposed as items.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::text::Msg;
use super::CategoryId;

/// One of the three parties at the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// 小区党支部
    Branch,
    /// 业主委员会
    OwnersCommittee,
    /// 物业服务企业
    PropertyCompany,
}

impl Party {
    pub const ALL: [Party; 3] = [Party::Branch, Party::OwnersCommittee, Party::PropertyCompany];

    pub fn as_str(self) -> &'static str {
        match self {
            Party::Branch => "branch",
            Party::OwnersCommittee => "owners_committee",
            Party::PropertyCompany => "property_company",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Its name for people: the catalogue's `Party-<code>` entry.
    pub fn label_key(self) -> &'static str {
        match self {
            Party::Branch => "Party-branch",
            Party::OwnersCommittee => "Party-owners_committee",
            Party::PropertyCompany => "Party-property_company",
        }
    }
}

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// On the agenda (议事清单), waiting for a meeting.
    Agenda,
    /// Decided at a meeting: an action (行动清单) with a responsible party and a deadline.
    Action,
    /// The action is done (业绩清单).
    Done,
    /// Taken off the agenda, or decided not to act on; with the reason.
    Dropped,
}

impl ItemState {
    pub const ALL: [ItemState; 4] = [ItemState::Agenda, ItemState::Action, ItemState::Done, ItemState::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Agenda => "agenda",
            ItemState::Action => "action",
            ItemState::Done => "done",
            ItemState::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn label_key(self) -> &'static str {
        match self {
            ItemState::Agenda => "ItemState-agenda",
            ItemState::Action => "ItemState-action",
            ItemState::Done => "ItemState-done",
            ItemState::Dropped => "ItemState-dropped",
        }
    }

    /// Tickets may still be attached, notes added.
    pub fn is_open(self) -> bool {
        matches!(self, ItemState::Agenda | ItemState::Action)
    }
}

/// How an action stands against its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Running, deadline not passed.
    Running,
    /// Running past its deadline.
    Overdue,
    /// Done by the deadline.
    OnTime,
    /// Done after it.
    Late,
}

impl Timeliness {
    pub const ALL: [Timeliness; 4] = [Timeliness::Running, Timeliness::Overdue, Timeliness::OnTime, Timeliness::Late];

    pub fn label_key(self) -> &'static str {
        match self {
            Timeliness::Running => "Timeliness-running",
            Timeliness::Overdue => "Timeliness-overdue",
            Timeliness::OnTime => "Timeliness-on_time",
            Timeliness::Late => "Timeliness-late",
        }
    }
}

/// An action due at `due_at` (UTC), done at `done_at` (if done), as of `now`.
pub fn timeliness(due_at: NaiveDateTime, done_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Timeliness {
    match done_at {
        Some(d) if d <= due_at => Timeliness::OnTime,
        Some(_) => Timeliness::Late,
        None if now > due_at => Timeliness::Overdue,
        None => Timeliness::Running,
    }
}

/// When an action decided at `from` and due at `due` warns (预警), on the compound's working
/// calendar as any stage's clock does: after `fraction` (the SLA's `warn_fraction`) of the working
/// time between the two; never after the deadline. An action with no working time left warns at
/// once.
pub fn action_warn_at(
    cal: &super::calendar::WorkCalendar,
    from: NaiveDateTime,
    due: NaiveDateTime,
    fraction: f64,
) -> Result<NaiveDateTime, super::calendar::CalendarError> {
    if due <= from {
        return Ok(due);
    }
    let span = cal.working_between(from, due)?;
    if span <= 0 {
        return Ok(from);
    }
    let warn = cal.add_working(from, ((span as f64) * fraction).round() as i64)?;
    Ok(warn.min(due))
}

/// The first and last China day of evaluation year `year` (两评价的年度) when the years start on
/// the first of `start_month` (1: the calendar year; 7: 1 July `year` to 30 June `year + 1`).
pub fn evaluation_year(year: i32, start_month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, start_month, 1)?;
    let next = NaiveDate::from_ymd_opt(year + 1, start_month, 1)?;
    Some((first, next.pred_opt()?))
}

/// The evaluation year a China day falls in.
pub fn evaluation_year_of(d: NaiveDate, start_month: u32) -> i32 {
    use chrono::Datelike;
    if d.month() >= start_month {
        d.year()
    } else {
        d.year() - 1
    }
}

/// The longest title of an item; the longest decision, note or detail; the longest minutes.
pub const TITLE_MAX: usize = 100;
pub const TEXT_MAX: usize = 2000;
pub const MINUTES_MAX: usize = 20000;
/// At most this many names per party in a meeting's attendance.
pub const ATTENDEES_MAX: usize = 30;

/// A deadline given as a China day must not be before the meeting that set it, nor more than a
/// year after it.
pub fn check_deadline(held_on: NaiveDate, due_on: NaiveDate) -> Result<(), Msg> {
    if due_on < held_on {
        return Err(crate::msg!("why-consult_due_before_meeting"));
    }
    if due_on > held_on + chrono::Duration::days(366) {
        return Err(crate::msg!("why-consult_due_too_far"));
    }
    Ok(())
}

/// The characters of a unified social credit code (统一社会信用代码, GB 32100-2015), in the order
/// of their values (no I, O, Z, S, V).
const CREDIT_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The check character of a credit code's first 17 characters; `None` when one is not allowed.
pub fn credit_code_check(first17: &str) -> Option<char> {
    if first17.chars().count() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in first17.chars().zip(CREDIT_WEIGHTS) {
        sum += CREDIT_CHARS.find(c)? as u32 * w;
    }
    let check = (31 - sum % 31) % 31;
    CREDIT_CHARS.chars().nth(check as usize)
}

/// A unified social credit code: 18 characters (upper-cased, spaces removed) whose last is the
/// check character of the others.
pub fn validate_credit_code(code: &str) -> Result<String, Msg> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let (head, last) = match code.char_indices().nth(17) {
        Some((i, c)) if code.chars().count() == 18 => (&code[..i], c),
        _ => return Err(crate::msg!("rule-credit_code_form")),
    };
    match credit_code_check(head) {
        None => Err(crate::msg!("rule-credit_code_form")),
        Some(c) if c != last => Err(crate::msg!("rule-credit_code_check")),
        Some(_) => Ok(code),
    }
}

/// One of a compound's tickets, as the proposal of candidate items reads it.
#[derive(Clone, Debug)]
pub struct RecentTicket<T> {
    pub category_id: CategoryId,
    pub reopened: bool,
    pub dissatisfied: bool,
    pub ticket: T,
}

/// Why a category's tickets are proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateReason {
    /// Filed again and again in the window (反复出现).
    Recurring,
    /// A ticket of it was reopened (重办).
    Reopened,
    /// A return visit found the resident not satisfied (不满意).
    Dissatisfied,
}

impl CandidateReason {
    pub const ALL: [CandidateReason; 3] = [CandidateReason::Recurring, CandidateReason::Reopened, CandidateReason::Dissatisfied];

    pub fn label_key(self) -> &'static str {
        match self {
            CandidateReason::Recurring => "CandidateReason-recurring",
            CandidateReason::Reopened => "CandidateReason-reopened",
            CandidateReason::Dissatisfied => "CandidateReason-dissatisfied",
        }
    }
}

/// Candidate agenda items (候选议题): the window's tickets grouped by category; a group is proposed
/// when it holds at least `min_repeats` tickets, or any reopened or dissatisfied one. Groups come
/// largest first (then by category id, for a stable order); each with its reasons.
pub fn propose<T: Clone>(tickets: &[RecentTicket<T>], min_repeats: usize) -> Vec<(CategoryId, Vec<CandidateReason>, Vec<T>)> {
    let mut groups: BTreeMap<CategoryId, Vec<&RecentTicket<T>>> = BTreeMap::new();
    for t in tickets {
        groups.entry(t.category_id).or_default().push(t);
    }
    let mut out: Vec<_> = groups
        .into_iter()
        .filter_map(|(cat, ts)| {
            let mut why = vec![];
            if ts.len() >= min_repeats.max(2) {
                why.push(CandidateReason::Recurring);
            }
            if ts.iter().any(|t| t.reopened) {
                why.push(CandidateReason::Reopened);
            }
            if ts.iter().any(|t| t.dissatisfied) {
                why.push(CandidateReason::Dissatisfied);
            }
            (!why.is_empty()).then(|| (cat, why, ts.into_iter().map(|t| t.ticket.clone()).collect::<Vec<_>>()))
        })
        .collect();
    out.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(a.0.cmp(&b.0)));
    out
}

// ---------------------------------------------------------------------------------------------
// Two evaluations (两评价)

/// One criterion the branch rates a party on, with its weight (relative to the others).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub weight: f64,
}

/// What an evaluation's total means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 合格
    Satisfactory,
    /// 约谈整改: called in to rectify.
    Rectify,
    /// 建议解聘更换 (a company) or 建议改选 (a committee): replacement recommended.
    Replace,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Satisfactory, Verdict::Rectify, Verdict::Replace];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Satisfactory => "satisfactory",
            Verdict::Rectify => "rectify",
            Verdict::Replace => "replace",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Verdict::Satisfactory => "Verdict-satisfactory",
            Verdict::Rectify => "Verdict-rectify",
            Verdict::Replace => "Verdict-replace",
        }
    }
}

/// The thresholds of the verdicts and the weight of the residents' representatives' score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A total below this calls the party in to rectify (约谈整改).
    pub rectify_below: f64,
    /// A total below this recommends replacing it (解聘更换 / 改选); at most `rectify_below`.
    pub replace_below: f64,
    /// The share (0–1) of the total taken by the residents' representatives' score when given.
    pub resident_weight: f64,
}

/// The total of an evaluation (0–100, two decimals): the weighted mean of the criteria's scores
/// (each 0–100), merged with the residents' representatives' score, when there is one, by its
/// weight. `None` when the weights add up to nothing.
pub fn total(scores: &[(f64, f64)], resident: Option<f64>, resident_weight: f64) -> Option<f64> {
    let weights: f64 = scores.iter().map(|(w, _)| w).sum();
    if weights <= 0.0 {
        return None;
    }
    let branch = scores.iter().map(|(w, s)| w * s).sum::<f64>() / weights;
    let t = match resident {
        Some(r) => branch * (1.0 - resident_weight) + r * resident_weight,
        None => branch,
    };
    Some((t * 100.0).round() / 100.0)
}

/// The verdict of a total.
pub fn verdict(total: f64, t: &Thresholds) -> Verdict {
    if total < t.replace_below {
        Verdict::Replace
    } else if total < t.rectify_below {
        Verdict::Rectify
    } else {
        Verdict::Satisfactory
    }
}

/// A score must be a number from 0 to 100.
pub fn check_score(score: f64) -> Result<(), Msg> {
    if score.is_finite() && (0.0..=100.0).contains(&score) {
        Ok(())
    } else {
        Err(crate::msg!("rule-between", min = 0, max = 100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn an_action_warns_after_the_warn_fraction_of_its_working_time() {
        use crate::domain::calendar::{standard_hours, WorkCalendar};
        // 2027 by the standing rule: 1–5 March are Monday to Friday, seven office hours each.
        let cal = WorkCalendar::new("cn", chrono_tz::Asia::Shanghai, &standard_hours(), &BTreeMap::new()).unwrap();
        // Decided at the start of Monday (China), due at the end of Friday: 35 working hours;
        // four fifths of them end at 17:30 on Thursday (China), 09:30 UTC.
        let (from, due) = (at("2027-02-28 16:00"), at("2027-03-05 16:00"));
        assert_eq!(action_warn_at(&cal, from, due, 0.8).unwrap(), at("2027-03-04 09:30"));
        // A fraction of one warns at the last working instant before the deadline, never after it.
        assert_eq!(action_warn_at(&cal, from, due, 1.0).unwrap(), at("2027-03-05 09:30"));
        // Over a weekend: decided on Friday evening, due at the end of Monday: seven working hours,
        // all on Monday; 5.6 of them end at 16:06 (China): 3.5 h in the morning, 2.1 h from 14:00.
        assert_eq!(action_warn_at(&cal, at("2027-03-05 12:00"), at("2027-03-08 16:00"), 0.8).unwrap(), at("2027-03-08 08:06"));
        // No working time left (decided on Saturday, due at the end of Sunday): it warns at once;
        // a deadline already passed warns at the deadline.
        assert_eq!(action_warn_at(&cal, at("2027-03-06 02:00"), at("2027-03-07 16:00"), 0.8).unwrap(), at("2027-03-06 02:00"));
        assert_eq!(action_warn_at(&cal, at("2027-03-09 02:00"), at("2027-03-07 16:00"), 0.8).unwrap(), at("2027-03-07 16:00"));
    }

    #[test]
    fn an_evaluation_year_may_start_in_any_month() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(evaluation_year(2026, 1), Some((d(2026, 1, 1), d(2026, 12, 31))));
        assert_eq!(evaluation_year(2026, 7), Some((d(2026, 7, 1), d(2027, 6, 30))));
        assert_eq!(evaluation_year(2027, 3), Some((d(2027, 3, 1), d(2028, 2, 29))), "a leap February ends it");
        assert_eq!(evaluation_year(2026, 13), None);
        assert_eq!((evaluation_year_of(d(2026, 12, 2), 1), evaluation_year_of(d(2026, 12, 2), 7)), (2026, 2026));
        assert_eq!((evaluation_year_of(d(2027, 6, 30), 7), evaluation_year_of(d(2027, 7, 1), 7)), (2026, 2027));
    }

    #[test]
    fn an_evaluation_totals_by_weight_merges_residents_and_has_its_verdict() {
        // (30·90 + 70·80) / 100 = 83
        assert_eq!(total(&[(30.0, 90.0), (70.0, 80.0)], None, 0.2), Some(83.0));
        // 83 · 0.8 + 50 · 0.2 = 76.4
        assert_eq!(total(&[(30.0, 90.0), (70.0, 80.0)], Some(50.0), 0.2), Some(76.4));
        assert_eq!(total(&[(0.0, 90.0)], None, 0.2), None);
        let t = Thresholds { rectify_below: 70.0, replace_below: 60.0, resident_weight: 0.2 };
        assert_eq!(verdict(70.0, &t), Verdict::Satisfactory);
        assert_eq!(verdict(69.99, &t), Verdict::Rectify);
        assert_eq!(verdict(60.0, &t), Verdict::Rectify);
        assert_eq!(verdict(59.5, &t), Verdict::Replace);
        assert!(check_score(100.0).is_ok() && check_score(0.0).is_ok());
        assert!(check_score(100.5).is_err() && check_score(-1.0).is_err() && check_score(f64::NAN).is_err());
    }

    #[test]
    fn timeliness_follows_the_deadline() {
        let due = at("2026-12-10 16:00");
        assert_eq!(timeliness(due, None, at("2026-12-10 15:59")), Timeliness::Running);
        assert_eq!(timeliness(due, None, at("2026-12-10 16:01")), Timeliness::Overdue);
        assert_eq!(timeliness(due, Some(at("2026-12-10 16:00")), at("2027-01-01 00:00")), Timeliness::OnTime);
        assert_eq!(timeliness(due, Some(at("2026-12-10 16:01")), at("2026-12-10 16:02")), Timeliness::Late);
    }

    #[test]
    fn deadlines_lie_between_the_meeting_and_a_year_after() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(check_deadline(d("2026-12-01"), d("2026-12-01")).is_ok());
        assert!(check_deadline(d("2026-12-01"), d("2026-11-30")).is_err());
        assert!(check_deadline(d("2026-12-01"), d("2027-12-02")).is_ok());
        assert!(check_deadline(d("2026-12-01"), d("2027-12-03")).is_err());
    }

    #[test]
    fn credit_codes_carry_their_check_character() {
        assert_eq!(validate_credit_code("91110105MA01ABCD13").unwrap(), "91110105MA01ABCD13");
        assert_eq!(validate_credit_code(" 91110105ma01abcd13 ").unwrap(), "91110105MA01ABCD13");
        assert!(validate_credit_code("91110105MA01ABCD12").is_err(), "wrong check character");
        assert!(validate_credit_code("91110105MA01ABCD1").is_err(), "17 characters");
        assert!(validate_credit_code("91110105MA01ABCZ13").is_err(), "Z is no credit code character");
        assert_eq!(credit_code_check("91110105MA01ABCD1"), Some('3'));
    }

    #[test]
    fn recurring_reopened_or_dissatisfied_categories_are_proposed() {
        let (a, b, c, d) = (CategoryId::new(), CategoryId::new(), CategoryId::new(), CategoryId::new());
        let t = |cat, reopened, dissatisfied, n: u32| RecentTicket { category_id: cat, reopened, dissatisfied, ticket: n };
        let tickets = vec![
            t(a, false, false, 1),
            t(a, false, false, 2),
            t(a, false, false, 3),
            t(b, false, false, 4),
            t(c, true, false, 5),
            t(d, false, true, 6),
            t(d, false, false, 7),
        ];
        let got = propose(&tickets, 3);
        assert_eq!(got.len(), 3, "b has one plain ticket: not proposed");
        assert_eq!((got[0].0, got[0].1.clone(), got[0].2.clone()), (a, vec![CandidateReason::Recurring], vec![1, 2, 3]));
        assert_eq!(got[1].2, vec![6, 7]);
        assert_eq!(got[1].1, vec![CandidateReason::Dissatisfied], "two tickets are fewer than three repeats");
        assert_eq!((got[2].0, got[2].1.clone()), (c, vec![CandidateReason::Reopened]));
        // Two repeats are the least that can recur, whatever is configured.
        assert_eq!(propose(&tickets, 1).iter().filter(|g| g.1.contains(&CandidateReason::Recurring)).count(), 2);
    }
}
