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
    fn new_ids_sort_by_creation() {
        let a = Id::new();
        let b = Id::new();
        assert!(a.to_string() < b.to_string());
    }
}
