//! Row structs, one per table, exactly as stored. Conversion into domain values happens in `app`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;
use crate::domain::ids::*;

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = org_units)]
pub struct OrgUnitRow {
    pub id: OrgUnitId,
    pub parent_id: Option<OrgUnitId>,
    pub kind: crate::domain::OrgKind,
    pub code: String,
    pub name: String,
    pub path: crate::domain::OrgPath,
    pub depth: i32,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Where it is (a compound's gate, WGS-84), when the admin gave it.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = people)]
pub struct PersonRow {
    pub id: PersonId,
    pub login: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub locale: String,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRow").field("id", &self.id).field("login", &self.login).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub id: MembershipId,
    pub person_id: PersonId,
    pub org_unit_id: OrgUnitId,
    pub role: crate::domain::Role,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = categories)]
pub struct CategoryRow {
    pub id: CategoryId,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub default_department_id: Option<OrgUnitId>,
    pub urgencies: String,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = residents)]
pub struct ResidentRow {
    pub id: ResidentId,
    pub building_id: OrgUnitId,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub unit_no: String,
    pub room: String,
    pub kind: crate::domain::visits::HouseholdKind,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub household_id: Option<HouseholdId>,
}

impl std::fmt::Debug for ResidentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentRow").field("id", &self.id).finish_non_exhaustive()
    }
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: SessionId,
    pub person_id: PersonId,
    pub token_hash: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow").field("id", &self.id).field("person_id", &self.person_id).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_attempts)]
pub struct LoginAttemptRow {
    pub id: LoginAttemptId,
    pub login: String,
    pub person_id: Option<PersonId>,
    pub succeeded: bool,
    pub reason: String,
    pub remote_addr: Option<String>,
    pub at: NaiveDateTime,
}

/// One login failure counter (see `domain::throttle`): `account` empty for a client address's
/// own counter, `address` empty for an account's counter of unusual addresses.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct LoginThrottleRow {
    pub account: String,
    pub address: String,
    pub failures: i32,
    pub decayed_at: NaiveDateTime,
    pub blocked_until: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = pii_reveals)]
pub struct PiiRevealRow {
    pub id: PiiRevealId,
    pub person_id: PersonId,
    pub role: crate::domain::Role,
    pub org_unit_id: OrgUnitId,
    pub record_kind: String,
    pub record_id: Id,
    pub fields: String,
    pub at: NaiveDateTime,
}

impl PiiRevealRow {
    /// A look by `person`, under `grant`, at the `fields` of one record.
    pub fn new(
        person: PersonId,
        grant: &crate::domain::Grant,
        record_kind: &str,
        record_id: impl Into<Id>,
        fields: &str,
        at: NaiveDateTime,
    ) -> Self {
        PiiRevealRow {
            id: PiiRevealId::new(),
            person_id: person,
            role: grant.role,
            org_unit_id: grant.org_unit_id,
            record_kind: record_kind.into(),
            record_id: record_id.into(),
            fields: fields.into(),
            at,
        }
    }
}

#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = tickets)]
pub struct TicketRow {
    pub id: TicketId,
    pub number: String,
    pub category_id: CategoryId,
    pub urgency: crate::domain::workflow::Urgency,
    pub title: String,
    pub description: String,
    pub place_id: OrgUnitId,
    pub place_path: crate::domain::OrgPath,
    pub compound_id: OrgUnitId,
    pub community_id: OrgUnitId,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    pub channel: crate::domain::workflow::Channel,
    pub filed_by: PersonId,
    pub visit_log_id: Option<VisitLogId>,
    pub state: crate::domain::workflow::TicketState,
    pub solved_level: Option<crate::domain::workflow::Level>,
    pub duplicate_of: Option<TicketId>,
    pub whistle_type: Option<crate::domain::workflow::WhistleType>,
    pub reopen_count: i32,
    pub satisfaction: Option<crate::domain::workflow::Satisfaction>,
    pub resolution: Option<String>,
    pub due_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    /// When the clock that sets `due_at` warns (预警), kept with it (decision 0029).
    pub warn_at: Option<NaiveDateTime>,
    /// That clock's deadline reaches into a year whose schedule is not published yet.
    pub due_provisional: bool,
}

impl std::fmt::Debug for TicketRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketRow").field("id", &self.id).field("number", &self.number).field("state", &self.state).finish_non_exhaustive()
    }
}

/// The columns of a ticket a list entry needs (its summary and the caller's own deadline): a
/// list reads neither the description nor the resident's contact.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = tickets)]
pub struct TicketListRow {
    pub id: TicketId,
    pub number: String,
    pub category_id: CategoryId,
    pub urgency: crate::domain::workflow::Urgency,
    pub title: String,
    pub place_id: OrgUnitId,
    pub place_path: crate::domain::OrgPath,
    pub compound_id: OrgUnitId,
    pub community_id: OrgUnitId,
    pub state: crate::domain::workflow::TicketState,
    pub whistle_type: Option<crate::domain::workflow::WhistleType>,
    pub reopen_count: i32,
    pub due_at: Option<NaiveDateTime>,
    pub warn_at: Option<NaiveDateTime>,
    pub due_provisional: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = ticket_assignments)]
pub struct AssignmentRow {
    pub id: AssignmentId,
    pub ticket_id: TicketId,
    pub department_id: OrgUnitId,
    pub lead: bool,
    pub state: crate::domain::workflow::AssignmentState,
    pub overruled: bool,
    pub dispatched_at: NaiveDateTime,
    pub ack_due_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub due_at: NaiveDateTime,
    pub original_due_at: Option<NaiveDateTime>,
    pub return_reason: Option<crate::domain::workflow::ReturnReason>,
    pub return_note: Option<String>,
    pub done_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    /// When the part ended (state `removed`), and how (`removed`, `released`, `return_accepted`).
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<crate::domain::workflow::PartEnd>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = ticket_extensions)]
pub struct ExtensionRow {
    pub id: ExtensionId,
    pub ticket_id: TicketId,
    pub assignment_id: AssignmentId,
    pub requested_by: PersonId,
    pub reason: String,
    pub proposed_due_at: NaiveDateTime,
    pub original_due_at: NaiveDateTime,
    pub state: crate::domain::workflow::ExtensionState,
    pub decided_by: Option<PersonId>,
    pub decided_at: Option<NaiveDateTime>,
    pub requested_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = audit_events)]
/// Its columns stay text: the chain's verifier must read whatever is stored, a forged id or
/// state included, and hash it as stored.
pub struct AuditEventRow {
    pub id: String,
    pub shard: i32,
    pub seq: i64,
    pub entity_kind: String,
    pub entity_id: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_unit_id: Option<String>,
    pub at: NaiveDateTime,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
    /// The canonical form `hash` was computed in (`domain::audit::HASH_VERSION` for new events).
    pub hash_version: i32,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub person_id: PersonId,
    pub key: String,
    pub request_hash: String,
    pub status: i32,
    pub body: String,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = sla_clocks)]
pub struct ClockRow {
    pub id: ClockId,
    pub ticket_id: TicketId,
    pub assignment_id: Option<AssignmentId>,
    pub stage: crate::domain::sla::Stage,
    pub holder_unit_id: OrgUnitId,
    pub holder_path: crate::domain::OrgPath,
    pub calendar: String,
    pub limit_text: String,
    pub started_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub warn_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub original_due_at: NaiveDateTime,
    pub warned_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
    pub reminders: i32,
    pub paused_at: Option<NaiveDateTime>,
    pub pause_reason: Option<String>,
    pub paused_seconds: i64,
    pub stopped_at: Option<NaiveDateTime>,
    pub next_fire_at: Option<NaiveDateTime>,
    pub fire_seq: i64,
    /// The deadline reaches into a year whose official schedule is not published yet.
    pub provisional: bool,
    /// `resident` (等待居民) or `return` (waiting for the ruling on the department's return).
    pub paused_for: Option<String>,
    /// A resolution clock that ended by a resolution (办结, 协办完成), set with its stop.
    pub resolved: bool,
}

/// What a list needs of a running clock to show each viewer his own deadline: read by itself
/// (`Selectable`) or folded into the ticket's own row (`backend::running_clocks`).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sla_clocks)]
pub struct RunningClock {
    pub id: ClockId,
    pub ticket_id: TicketId,
    pub stage: crate::domain::sla::Stage,
    pub holder_unit_id: OrgUnitId,
    pub holder_path: crate::domain::OrgPath,
    pub warn_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub paused_at: Option<NaiveDateTime>,
    pub provisional: bool,
}

impl From<&ClockRow> for RunningClock {
    fn from(c: &ClockRow) -> Self {
        RunningClock {
            id: c.id,
            ticket_id: c.ticket_id,
            stage: c.stage,
            holder_unit_id: c.holder_unit_id,
            holder_path: c.holder_path.clone(),
            warn_at: c.warn_at,
            due_at: c.due_at,
            paused_at: c.paused_at,
            provisional: c.provisional,
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = supervision)]
pub struct SupervisionRow {
    pub id: SupervisionId,
    pub ticket_id: TicketId,
    pub clock_id: ClockId,
    pub stage: crate::domain::sla::Stage,
    pub holder_unit_id: OrgUnitId,
    pub holder_path: crate::domain::OrgPath,
    pub breached_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = households)]
pub struct HouseholdRow {
    pub id: HouseholdId,
    pub building_id: OrgUnitId,
    pub unit_no: String,
    pub room: String,
    pub kind: crate::domain::visits::HouseholdKind,
    pub last_visited_on: Option<chrono::NaiveDate>,
    pub active: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = visit_logs)]
pub struct VisitLogRow {
    pub id: VisitLogId,
    pub client_id: String,
    pub author_id: PersonId,
    pub grid_id: OrgUnitId,
    pub grid_path: crate::domain::OrgPath,
    pub compound_id: OrgUnitId,
    pub visit_date: chrono::NaiveDate,
    pub households_visited: i32,
    pub observations: String,
    pub notes: Option<String>,
    pub submission_hash: String,
    pub late: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = visit_log_return_visits)]
pub struct ReturnVisitRow {
    pub id: ReturnVisitId,
    pub log_id: VisitLogId,
    pub ticket_id: TicketId,
    pub satisfaction: crate::domain::workflow::Satisfaction,
    pub note: Option<String>,
    pub recorded_at: NaiveDateTime,
}

/// A stored year of a working calendar (dates as JSON arrays).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = calendar_years)]
pub struct CalendarYearRow {
    pub calendar: String,
    pub year: i32,
    pub status: crate::domain::calendar::YearStatus,
    pub holidays: String,
    pub workdays: String,
    pub source: Option<String>,
    pub version: i64,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<PersonId>,
}

/// A working calendar: time zone and office hours (JSON pairs of "HH:MM").
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = work_calendars)]
pub struct WorkCalendarRow {
    pub name: String,
    pub time_zone: String,
    pub office_hours: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = photos)]
pub struct PhotoRow {
    pub id: PhotoId,
    pub ticket_id: TicketId,
    pub kind: String,
    pub sha256: String,
    pub thumb_sha256: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub uploaded_by: PersonId,
    pub created_at: NaiveDateTime,
}

/// A property service company (物业服务企业); its manager's phone is a person's, shown masked.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = property_companies)]
pub struct PropertyCompanyRow {
    pub id: PropertyCompanyId,
    pub name: String,
    pub credit_code: String,
    pub manager_name: String,
    pub manager_phone: Option<String>,
    pub created_at: NaiveDateTime,
    pub version: i64,
}

/// A compound's owners' committee (业主委员会) and the company that serves it.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = compound_parties)]
pub struct CompoundPartiesRow {
    pub compound_id: OrgUnitId,
    pub committee_name: String,
    pub committee_chair: String,
    pub committee_members: String,
    pub committee_phone: Option<String>,
    pub term_start: Option<chrono::NaiveDate>,
    pub term_end: Option<chrono::NaiveDate>,
    pub company_id: Option<PropertyCompanyId>,
    pub contract_start: Option<chrono::NaiveDate>,
    pub contract_end: Option<chrono::NaiveDate>,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A three-party meeting (议事会); `attendees` is JSON `{party: [names]}`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consult_meetings)]
pub struct MeetingRow {
    pub id: MeetingId,
    pub compound_id: OrgUnitId,
    pub held_on: chrono::NaiveDate,
    pub place: String,
    pub attendees: String,
    pub minutes: String,
    pub created_by: PersonId,
    pub created_at: NaiveDateTime,
    pub signed_by: Option<PersonId>,
    pub signed_at: Option<NaiveDateTime>,
    pub version: i64,
}

/// An item of a compound's consultation: agenda, action, done or dropped.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consult_items)]
pub struct ConsultItemRow {
    pub id: ConsultItemId,
    pub compound_id: OrgUnitId,
    pub title: String,
    pub detail: String,
    pub category_id: Option<CategoryId>,
    pub state: crate::domain::consult::ItemState,
    pub created_by: PersonId,
    pub created_at: NaiveDateTime,
    pub meeting_id: Option<MeetingId>,
    pub decision: Option<String>,
    pub responsible: Option<crate::domain::consult::Party>,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub version: i64,
    /// An action's clock: when it warns (预警), when it warned, when it passed its deadline (督办).
    pub warn_at: Option<NaiveDateTime>,
    pub warned_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
}

/// A photo as evidence of a consultation item's action (its files are the photo store's).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consult_photos)]
pub struct ConsultPhotoRow {
    pub id: crate::domain::ConsultPhotoId,
    pub item_id: ConsultItemId,
    pub sha256: String,
    pub thumb_sha256: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub uploaded_by: PersonId,
    pub created_at: NaiveDateTime,
}

/// A ticket raised to a consultation item.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consult_item_tickets)]
pub struct ConsultItemTicketRow {
    pub item_id: ConsultItemId,
    pub ticket_id: TicketId,
    pub attached_by: PersonId,
    pub attached_at: NaiveDateTime,
}

/// A progress note on a consultation item.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consult_notes)]
pub struct ConsultNoteRow {
    pub id: ConsultNoteId,
    pub item_id: ConsultItemId,
    pub body: String,
    pub author_id: PersonId,
    pub created_at: NaiveDateTime,
}

/// One of the two evaluations (两评价) of a compound's party in a year.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = evaluations)]
pub struct EvaluationRow {
    pub id: EvaluationId,
    pub compound_id: OrgUnitId,
    pub party: crate::domain::consult::Party,
    pub year: i32,
    pub subject_name: String,
    pub company_id: Option<PropertyCompanyId>,
    /// JSON: the scores per criterion.
    pub scores: String,
    pub resident_score: Option<f64>,
    pub resident_weight: f64,
    pub total: f64,
    pub verdict: crate::domain::consult::Verdict,
    pub comment: String,
    /// JSON: the evidence as it stood.
    pub evidence: String,
    pub evaluated_by: PersonId,
    pub evaluated_at: NaiveDateTime,
    pub version: i64,
}
