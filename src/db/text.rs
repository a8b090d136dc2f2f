//! Typed values in TEXT columns: entity ids ([`crate::domain::ids`]), org unit paths and the domain's enums with
//! a text form (ticket state, part state, org unit kind, role…). The domain knows no database, so
//! their diesel support lives here, all of it made by one macro, [`text_columns!`]: a value is
//! written as its text form and read back by parsing it. A stored text that does not parse is a
//! deserialization error (the query fails), never a made-up or default value.

use std::borrow::Cow;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use super::MultiBackend;

/// A value stored as text: its text form, and the value a stored text stands for.
pub trait TextColumn: Sized {
    fn to_text(&self) -> Cow<'_, str>;
    fn from_text(text: &str) -> Result<Self, String>;
}

/// Reads a stored text as `T`, refusing text that is not one (the query then fails). The text
/// is read where the driver holds it, not copied first.
fn read<T: TextColumn>(text: &str) -> deserialize::Result<T> {
    T::from_text(text).map_err(|e| format!("stored value refused: {e}").into())
}

/// The diesel support of each listed type: `AsExpression<Text>` (and `Nullable<Text>`) and
/// `FromSqlRow` through a proxy (diesel's `foreign_derive`), and `ToSql`/`FromSql` for the
/// multi-connection back end and each real one. Ids are written in their `Display` form and
/// parsed with `FromStr`; enums are written with `as_str` and parsed with the parser given.
macro_rules! text_columns {
    (@diesel $ty:ty, $proxy:ident) => {
        #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(foreign_derive)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[allow(dead_code)]
        struct $proxy($ty);

        impl ToSql<Text, MultiBackend> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                use std::io::Write;
                out.write_all(self.to_text().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.to_text().into_owned());
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, MultiBackend> for $ty {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, Text>()
            }
        }

        impl FromSql<Text, Pg> for $ty {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                read(std::str::from_utf8(bytes.as_bytes())?)
            }
        }

        impl FromSql<Text, Sqlite> for $ty {
            fn from_sql(mut bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                read(bytes.read_text())
            }
        }
    };
    (@text $ty:ty, [id]) => {
        impl TextColumn for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse().map_err(|e: crate::domain::ids::BadId| e.to_string())
            }
        }
    };
    (@text $ty:ty, [path]) => {
        impl TextColumn for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Borrowed(self.as_str())
            }
            fn from_text(text: &str) -> Result<Self, String> {
                Ok(<$ty>::from_db(text.to_string()))
            }
        }
    };
    (@text $ty:ty, [enum $parse:expr]) => {
        impl TextColumn for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Borrowed(self.as_str())
            }
            fn from_text(text: &str) -> Result<Self, String> {
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(text)
            }
        }
    };
    ($( $proxy:ident: $ty:ty => $how:tt; )*) => {
        $(
            text_columns!(@text $ty, $how);
            text_columns!(@diesel $ty, $proxy);
        )*
    };
}

/// Parses with the type's `FromStr` (whose error is a message).
fn from_str<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// Parses with the type's `parse` that answers `None` for an unknown text.
macro_rules! by_parse {
    ($ty:ty, $what:literal) => {
        |s| <$ty>::parse(s).ok_or_else(|| format!("unknown {} `{s}`", $what))
    };
}

use crate::domain::ids::*;
use crate::domain::workflow;

text_columns! {
    OrgUnitIdColumn: OrgUnitId => [id];
    PersonIdColumn: PersonId => [id];
    MembershipIdColumn: MembershipId => [id];
    CategoryIdColumn: CategoryId => [id];
    ResidentIdColumn: ResidentId => [id];
    HouseholdIdColumn: HouseholdId => [id];
    SessionIdColumn: SessionId => [id];
    LoginAttemptIdColumn: LoginAttemptId => [id];
    PiiRevealIdColumn: PiiRevealId => [id];
    TicketIdColumn: TicketId => [id];
    AssignmentIdColumn: AssignmentId => [id];
    ExtensionIdColumn: ExtensionId => [id];
    AuditEventIdColumn: AuditEventId => [id];
    ClockIdColumn: ClockId => [id];
    SupervisionIdColumn: SupervisionId => [id];
    NotificationIdColumn: NotificationId => [id];
    SlaPolicyIdColumn: SlaPolicyId => [id];
    VisitLogIdColumn: VisitLogId => [id];
    ReturnVisitIdColumn: ReturnVisitId => [id];
    PhotoIdColumn: PhotoId => [id];
    DeliveryIdColumn: DeliveryId => [id];
    EndpointIdColumn: EndpointId => [id];
    PropertyCompanyIdColumn: PropertyCompanyId => [id];
    MeetingIdColumn: MeetingId => [id];
    ConsultItemIdColumn: ConsultItemId => [id];
    ConsultNoteIdColumn: ConsultNoteId => [id];
    ConsultPhotoIdColumn: ConsultPhotoId => [id];
    EvaluationIdColumn: EvaluationId => [id];
    ExternalClientIdColumn: ExternalClientId => [id];
    ResidentLinkIdColumn: ResidentLinkId => [id];
    GenericIdColumn: Id => [id];
    OrgPathColumn: crate::domain::OrgPath => [path];
    OrgKindColumn: crate::domain::OrgKind => [enum from_str];
    RoleColumn: crate::domain::Role => [enum from_str];
    TicketStateColumn: workflow::TicketState => [enum from_str];
    LevelColumn: workflow::Level => [enum from_str];
    AssignmentStateColumn: workflow::AssignmentState => [enum from_str];
    ReturnReasonColumn: workflow::ReturnReason => [enum from_str];
    WhistleTypeColumn: workflow::WhistleType => [enum from_str];
    SatisfactionColumn: workflow::Satisfaction => [enum from_str];
    ChannelColumn: workflow::Channel => [enum from_str];
    UrgencyColumn: workflow::Urgency => [enum from_str];
    ExtensionStateColumn: workflow::ExtensionState => [enum from_str];
    PartEndColumn: workflow::PartEnd => [enum by_parse!(workflow::PartEnd, "part end")];
    StageColumn: crate::domain::sla::Stage => [enum by_parse!(crate::domain::sla::Stage, "stage")];
    NoticeKindColumn: crate::domain::notify::NoticeKind => [enum from_str];
    DeliveryChannelColumn: crate::domain::notify::DeliveryChannel => [enum from_str];
    DeliveryStateColumn: crate::domain::notify::DeliveryState => [enum from_str];
    YearStatusColumn: crate::domain::calendar::YearStatus => [enum by_parse!(crate::domain::calendar::YearStatus, "year status")];
    PartyColumn: crate::domain::consult::Party => [enum by_parse!(crate::domain::consult::Party, "party")];
    VerdictColumn: crate::domain::consult::Verdict => [enum by_parse!(crate::domain::consult::Verdict, "verdict")];
    ItemStateColumn: crate::domain::consult::ItemState => [enum by_parse!(crate::domain::consult::ItemState, "item state")];
    HouseholdKindColumn: crate::domain::visits::HouseholdKind => [enum by_parse!(crate::domain::visits::HouseholdKind, "household kind")];
}
