//! What was wrong with a request that could not be parsed (malformed JSON, a wrong query or path
//! parameter), told in the person's language: the parsers' own English text goes to the debug
//! log, and the person reads which field or value is at fault.

use crate::domain::text::Msg;
use crate::msg;

/// The first `` `name` `` of a parser message, e.g. the field in "unknown field `x`, expected …".
fn quoted(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(text[start..start + len].to_string())
}

/// A serde message (JSON body or query string) as a message for a person.
fn from_serde_text(text: &str, whole: &'static str) -> Msg {
    let field = quoted(text);
    match field {
        Some(f) if text.starts_with("unknown field") => msg!("bad-unknown_field", field = f),
        Some(f) if text.starts_with("missing field") => msg!("bad-missing_field", field = f),
        Some(v) if text.starts_with("unknown variant") => msg!("bad-unknown_value", value = v),
        _ if text.starts_with("invalid type") || text.starts_with("invalid value") || text.starts_with("invalid length") => {
            msg!("bad-wrong_type", whole = crate::domain::text::Arg::Key(whole))
        }
        _ => msg!("bad-unreadable", whole = crate::domain::text::Arg::Key(whole)),
    }
}

/// A JSON body that could not be read.
pub fn json_problem(e: &actix_web::error::JsonPayloadError) -> Msg {
    use actix_web::error::JsonPayloadError as J;
    log::debug!("JSON body refused: {e}");
    match e {
        J::Deserialize(de) => match de.classify() {
            serde_json::error::Category::Data => {
                let at = from_serde_text(&de.to_string(), "bad-whole_body");
                at.with("line", de.line()).with("column", de.column())
            }
            _ => msg!("bad-json_syntax", line = de.line(), column = de.column()),
        },
        J::ContentType => msg!("bad-content_type"),
        _ => msg!("bad-unreadable", whole = crate::domain::text::Arg::Key("bad-whole_body")),
    }
}

/// A query string that could not be read.
pub fn query_problem(e: &actix_web::error::QueryPayloadError) -> Msg {
    log::debug!("query string refused: {e}");
    match e {
        actix_web::error::QueryPayloadError::Deserialize(de) => from_serde_text(&de.to_string(), "bad-whole_query"),
        _ => msg!("bad-unreadable", whole = crate::domain::text::Arg::Key("bad-whole_query")),
    }
}

/// A path parameter that could not be read.
pub fn path_problem(e: &actix_web::error::PathError) -> Msg {
    log::debug!("path refused: {e}");
    msg!("bad-path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_the_field_or_value_at_fault() {
        assert_eq!(
            from_serde_text("unknown field `titel`, expected one of `title`", "bad-whole_body"),
            msg!("bad-unknown_field", field = "titel")
        );
        assert_eq!(from_serde_text("missing field `title`", "bad-whole_body"), msg!("bad-missing_field", field = "title"));
        assert_eq!(
            from_serde_text("unknown variant `soon`, expected `normal`", "bad-whole_body"),
            msg!("bad-unknown_value", value = "soon")
        );
        assert_eq!(
            from_serde_text("invalid type: string \"x\", expected i64", "bad-whole_query"),
            msg!("bad-wrong_type", whole = crate::domain::text::Arg::Key("bad-whole_query"))
        );
    }
}
