//! Text UUID identifiers shared by every table, in one newtype so that a malformed id is refused
//! at the edge and never reaches a query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A UUID stored as lowercase hyphenated text (the common subset of SQLite and PostgreSQL).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(uuid::Uuid);

impl Id {
    /// A new time-ordered id (UUIDv7), so that inserts land at the end of indexes.
    // No `Default`: a default id would be a made-up one, and a parse failure must not turn into one.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Id(uuid::Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Id {
    /// The all-zero id: no entity has it (ids are UUIDv7); it stands for the service itself.
    pub const NIL: Id = Id(uuid::Uuid::nil());
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The id text was not a UUID.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a valid id (expected a UUID such as 0192f0c2-7a4e-7b8e-9d2a-3c4b5d6e7f80)")]
pub struct BadId(pub String);

impl BadId {
    /// What to tell a person who sent it.
    pub fn msg(&self) -> crate::domain::text::Msg {
        crate::msg!("rule-uuid", value = &self.0)
    }
}

impl FromStr for Id {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Id).map_err(|_| BadId(s.chars().take(64).collect()))
    }
}

impl From<uuid::Uuid> for Id {
    fn from(u: uuid::Uuid) -> Self {
        Id(u)
    }
}

/// Declares one id type per entity: a UUID like [`Id`] that only ever names that kind of
/// entity, so that a ticket id cannot be passed where a person id is expected. Each has the text
/// form of [`Id`] (lowercase hyphenated), refuses text that is not a UUID with [`BadId`], is
/// serialized as its text (serde transparent) and converts to and from the generic [`Id`] where
/// code handles ids of any kind (audit events, scopes).
macro_rules! entity_ids {
    ($( $(#[$m:meta])* $name:ident; )*) => { $(
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Id);

        impl $name {
            /// A new time-ordered id (UUIDv7).
            // No `Default`: a default id would be a made-up one.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(Id::new())
            }

            /// The same UUID as a generic id.
            pub fn id(self) -> Id {
                self.0
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0.as_uuid()
            }
        }

        impl From<Id> for $name {
            fn from(id: Id) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Id {
            fn from(id: $name) -> Id {
                id.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                $name(Id::from(u))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl PartialEq<Id> for $name {
            fn eq(&self, other: &Id) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for Id {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    )* };
}

impl PersonId {
    /// The all-zero id: nobody has it; it stands for the service itself (see `Actor::system`).
    pub const NIL: PersonId = PersonId(Id::NIL);
}

entity_ids! {
    /// An org unit (组织单元): district, street, community, compound, grid, building, department.
    OrgUnitId;
    /// A person who logs in (人员).
    PersonId;
    /// One role of a person in one org unit (任职).
    MembershipId;
    /// A category of the task catalogue (任务目录).
    CategoryId;
    /// A resident (居民).
    ResidentId;
    /// A household: one address of a building (户).
    HouseholdId;
    /// A login session.
    SessionId;
    /// One login attempt, as recorded.
    LoginAttemptId;
    /// One recorded look at unmasked personal data.
    PiiRevealId;
    /// A ticket (诉求).
    TicketId;
    /// A whistled department's part of a ticket.
    AssignmentId;
    /// A department's request for more time.
    ExtensionId;
    /// One event of the audit chain.
    AuditEventId;
    /// A time-limit clock of a ticket.
    ClockId;
    /// A supervision case (督办) opened by a breach.
    SupervisionId;
    /// A notification waiting to be sent or sent.
    NotificationId;
    /// A time limit set for a category, urgency and stage.
    SlaPolicyId;
    /// A visit log (走访日志).
    VisitLogId;
    /// A return visit recorded in a visit log.
    ReturnVisitId;
    /// A photo of a ticket (现场照片).
    PhotoId;
    /// One sending of a notification on one channel (投递).
    DeliveryId;
    /// A unit's channel for notifications: a mail address, a webhook, a WeCom robot (通知渠道).
    EndpointId;
    /// A property service company (物业服务企业).
    PropertyCompanyId;
    /// A three-party meeting (议事会).
    MeetingId;
    /// An item of a compound's consultation: agenda, action, result (议事清单项).
    ConsultItemId;
    /// A progress note on a consultation item (进展).
    ConsultNoteId;
    /// A photo as evidence of a consultation item's action.
    ConsultPhotoId;
    /// One of the two evaluations (两评价) of a party in a year.
    EvaluationId;
    /// A system outside the grid that files requests: the 12345 platform or an Open311 app.
    ExternalClientId;
    /// A resident's link to his request's status page.
    ResidentLinkId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_refuse_garbage() {
        let id = Id::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<Id>().unwrap(), id);
        assert!("not-a-uuid".parse::<Id>().is_err());
    }

    #[test]
    fn entity_ids_share_the_text_form_and_refuse_garbage() {
        let id = TicketId::new();
        assert_eq!(id.to_string().parse::<TicketId>().unwrap(), id);
        assert_eq!(Id::from(id).to_string(), id.to_string());
        assert!("not-a-uuid".parse::<TicketId>().is_err());
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let a = Id::new();
        let b = Id::new();
        assert!(a.to_string() < b.to_string());
    }
}
