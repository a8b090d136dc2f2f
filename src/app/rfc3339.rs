//! Timestamps as the API writes them: RFC 3339 in UTC, with a `Z` and always six fractional digits
//! (`2026-11-26T08:15:02.123456Z`), so that a client's parser knows the instant and the text sorts
//! in time order.
//!
//! Stored times are UTC without a zone (`NaiveDateTime`, see `utc_now`), and the views keep them
//! so; each timestamp field of a view says `#[serde(with = "crate::app::rfc3339")]` (or
//! `rfc3339::option`). Reading takes any offset and converts it to UTC.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Deserializer, Serializer};

/// The API's text of a stored (UTC) time.
pub fn format(t: &NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses RFC 3339 with any offset into a stored (UTC) time.
pub fn parse(text: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    DateTime::<FixedOffset>::parse_from_rfc3339(text).map(|t| t.naive_utc())
}

pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for an optional timestamp (`null` when absent).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        Option::<String>::deserialize(d)?.map(|text| super::parse(&text).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_time_is_written_in_utc_with_its_offset_and_read_back_from_any_offset() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap().and_hms_micro_opt(20, 17, 48, 453_298).unwrap();
        assert_eq!(format(&t), "2026-11-30T20:17:48.453298Z");
        let whole = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap().and_hms_opt(20, 17, 48).unwrap();
        assert_eq!(format(&whole), "2026-11-30T20:17:48.000000Z", "the same width, so that text order is time order");
        assert_eq!(parse("2026-12-01T04:17:48.453298+08:00").unwrap(), t);
        assert_eq!(parse(&format(&t)).unwrap(), t);
        assert!(parse("2026-11-30T20:17:48.453298").is_err(), "a time without its offset names no instant");
    }
}
