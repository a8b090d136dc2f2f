//! Pure rules of Gridloop: identifiers, the org tree and scopes, roles and permissions, the
//! workflow, working calendars and time limits, audit hashing, login throttling, visit rules,
//! masked personal data and message keys. No actix, no diesel, no I/O; anything time-dependent takes `now` as an argument.

pub mod audit;
pub mod calendar;
pub mod consult;
pub mod ids;
pub mod net;
pub mod notify;
pub mod org;
pub mod outside;
pub mod pii;
pub mod reports;
pub mod roles;
pub mod sla;
pub mod text;
pub mod throttle;
pub mod visits;
pub mod workflow;

pub use ids::{
    AssignmentId, AuditEventId, CategoryId, ClockId, ConsultItemId, ConsultNoteId, ConsultPhotoId, DeliveryId, EndpointId, EvaluationId,
    ExtensionId, ExternalClientId, HouseholdId, Id, LoginAttemptId, MeetingId, MembershipId, NotificationId, OrgUnitId, PersonId, PhotoId,
    PiiRevealId, PropertyCompanyId, ResidentId, ResidentLinkId, ReturnVisitId, SessionId, SlaPolicyId, SupervisionId, TicketId, VisitLogId,
};
pub use org::{OrgKind, OrgPath};
pub use roles::{Access, Actor, Grant, Operation, Role};
