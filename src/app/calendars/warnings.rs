use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::db::schema::{memberships, org_units, people};
use crate::db::DbConn;
use crate::domain::{OrgPath, OrgUnitId, PersonId, Role};

use crate::app::AppResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// This year's official schedule is not in: deadlines use the standing rule.
    CurrentYearProvisional,
    /// From 1 November: next year's schedule is not in yet.
    NextYearProvisional,
}

/// Something about the calendars an operator must act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CalendarWarning {
    pub calendar: String,
    pub year: i32,
    #[serde(rename = "code")]
    pub which: WarningKind,
}

impl CalendarWarning {
    /// What an operator reads in the log and in `check-config` (English, like the log).
    pub fn log_line(&self) -> String {
        format!(
            "calendar `{}` has no published schedule for {}: deadlines reaching into {} use the standing rule (weekdays and the statutory holidays) and are flagged provisional; publish the State Council's {} schedule (PUT /api/v1/calendars/{}/years/{} or `gridloop calendar import`) to recompute them",
            self.calendar, self.year, self.year, self.year, self.calendar, self.year
        )
    }

    /// The message in a person's language.
    pub fn message(&self, lang: crate::app::Lang) -> String {
        crate::i18n::render(lang, &crate::msg!("calendar-year_provisional", calendar = &self.calendar, year = self.year))
    }

    /// The dedupe key of the one notification a recipient gets for this warning.
    pub(super) fn dedupe_key(&self, person_id: &PersonId) -> String {
        format!("calendar_provisional:{}:{}:{person_id}", self.calendar, self.year)
    }
}

/// Writes one notification (`calendar_provisional`) per warning to every top admin and every
/// supervisor: once per person, calendar and year, however often it runs and on however many
/// servers. Returns how many were written.
pub fn notify_warnings(conn: &mut DbConn, warnings: &[CalendarWarning], now: NaiveDateTime) -> AppResult<usize> {
    if warnings.is_empty() {
        return Ok(0);
    }
    let grants: Vec<(PersonId, Role, OrgUnitId, OrgPath)> = memberships::table
        .inner_join(people::table)
        .inner_join(org_units::table)
        .filter(memberships::active.eq(true))
        .filter(people::active.eq(true))
        .filter(memberships::role.eq_any([Role::Admin.as_str(), Role::Supervisor.as_str()]))
        .select((memberships::person_id, memberships::role, memberships::org_unit_id, org_units::path))
        .load(conn)?;
    let mut recipients: BTreeMap<PersonId, OrgUnitId> = BTreeMap::new();
    for (person, role, unit, path) in grants {
        let top = path.depth() == 0;
        if role == Role::Supervisor || top {
            recipients.entry(person).or_insert(unit);
        }
    }
    let keys: Vec<String> = warnings.iter().flat_map(|w| recipients.keys().map(move |p| w.dedupe_key(p))).collect();
    let done = crate::app::notifications::recorded(conn, &keys)?;
    let mut written = 0;
    for w in warnings {
        for (person, unit) in &recipients {
            let key = w.dedupe_key(person);
            if done.contains(&key) {
                continue;
            }
            let once = crate::app::notifications::Once {
                unit_id: *unit,
                person_id: Some(*person),
                ticket_id: None,
                kind: crate::domain::notify::NoticeKind::CalendarProvisional,
                roles: None,
                urgent: false,
                payload: json!({"calendar": w.calendar, "year": w.year, "code": w.which}),
                dedupe_key: &key,
            };
            if crate::app::notifications::record_once(conn, once, now)? {
                written += 1;
            }
        }
    }
    Ok(written)
}
