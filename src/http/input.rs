//! Input at the edge. What cannot be parsed (malformed JSON, a wrong query or path parameter) is
//! told in the person's language: the parsers' own English goes to the debug log, and the person
//! reads which field or value is at fault. Input the database cannot store is refused here too: a
//! NUL character (U+0000) in a JSON body (the [`Json`] extractor), a query string or a path
//! ([`nul_in_url`], from the access guard).
//! PostgreSQL refuses NUL in TEXT ("invalid byte sequence", a 500 deep in a use case) and SQLite
//! stores it; either way it is never text a person meant to send, so it answers 400 here.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::AppError;
use crate::domain::text::Msg;
use crate::msg;

use super::context::lang_of;
use super::error::ApiError;
use super::routing::{find_route, pattern_matches, RouteSpec};

/// Bodies larger than this are refused with 413 `payload_too_large`.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// A JSON body, as `actix_web::web::Json` reads it (`application/json` or `…+json`, at most
/// [`MAX_JSON_BYTES`], deserialized into `T`), except that a NUL character anywhere in it answers
/// 400 `nul_character` naming its JSON pointer. The bytes are scanned for the escape `\u0000`
/// (JSON cannot carry a raw NUL in a string) and parsed a second time only when it is there.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_json::<T>(req, payload);
        Box::pin(async move { read.await.map(|(v, _)| Json(v)) })
    }
}

/// A JSON body being read: the value and its bytes.
type JsonRead<T> = Pin<Box<dyn Future<Output = Result<(T, actix_web::web::Bytes), ApiError>>>>;

/// Reads and parses a JSON body (see [`Json`]), keeping its bytes.
fn read_json<T: DeserializeOwned + 'static>(req: &HttpRequest, payload: &mut Payload) -> JsonRead<T> {
    let lang = lang_of(req);
    let fail = move |e: AppError| ApiError::new(e, lang);
    let json_type =
        matches!(req.mime_type(), Ok(Some(m)) if m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON));
    let announced = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if !json_type {
            return Err(fail(AppError::BadRequest { detail: msg!("bad-content_type") }));
        }
        if announced.is_some_and(|n| n > MAX_JSON_BYTES) {
            return Err(fail(AppError::PayloadTooLarge { limit: MAX_JSON_BYTES }));
        }
        let mut body = BytesMut::with_capacity(announced.unwrap_or(1024).min(MAX_JSON_BYTES));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                log::debug!("JSON body unreadable: {e}");
                fail(AppError::BadRequest { detail: msg!("bad-unreadable", whole = crate::domain::text::Arg::Key("bad-whole_body")) })
            })?;
            if body.len() + chunk.len() > MAX_JSON_BYTES {
                return Err(fail(AppError::PayloadTooLarge { limit: MAX_JSON_BYTES }));
            }
            body.extend_from_slice(&chunk);
        }
        let v = parse_json::<T>(&body).map_err(fail)?;
        Ok((v, body.freeze()))
    })
}

/// Parses a JSON body already read (the checks of [`Json`] after reading: a NUL anywhere is
/// `nul_character` with its pointer, anything else unreadable a 400 saying where).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if has_nul_escape(body) {
        if let Some(field) = serde_json::from_slice::<Value>(body).ok().as_ref().and_then(|v| nul_pointer(v, "")) {
            return Err(AppError::NulCharacter { field, line: None });
        }
    }
    serde_json::from_slice::<T>(body).map_err(|e| AppError::BadRequest { detail: serde_problem(&e) })
}

/// Whether a request says its body is JSON (`application/json` or `…+json`).
pub fn is_json(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(m)) if m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON))
}

/// An entity id in the request path: the `AT`-th path parameter (from 0), read as `T`. It never
/// fails to extract: a segment that is not a UUID names no object, and the handler answers it as
/// the 404 of a missing one ([`IdPath::found`]), exactly where the use case answers an unknown
/// id, after every other extractor (body, `If-Match`…) has had its say. Nothing invents an id.
#[derive(Debug)]
pub struct IdPath<T, const AT: usize = 0>(Option<T>);

impl<T: Copy, const AT: usize> IdPath<T, AT> {
    /// The id, or the 404 of the missing `what` when the segment was no id.
    pub fn found(&self, what: &'static str) -> Result<T, AppError> {
        self.0.ok_or(AppError::NotFound { what })
    }

    /// The id, or `None` when the segment was no id (it names no object).
    pub fn into_option(self) -> Option<T> {
        self.0
    }
}

impl<T: std::str::FromStr<Err = crate::domain::ids::BadId> + 'static, const AT: usize> FromRequest for IdPath<T, AT> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The segments as `web::Path` decodes them.
        let segments = actix_web::web::Path::<Vec<String>>::extract(req).into_inner().ok().map(|p| p.into_inner());
        let id = segments.as_ref().and_then(|s| s.get(AT)).and_then(|s| s.parse::<T>().ok());
        std::future::ready(Ok(IdPath(id)))
    }
}

/// Whether JSON text holds the escape `\u0000` (a `\\` before it is an escaped backslash
/// followed by plain text, and does not count).
fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = json[i..].iter().position(|&b| b == b'\\') {
        let at = i + at;
        if json.get(at + 1) == Some(&b'u') && json.get(at + 2..at + 6) == Some(b"0000".as_slice()) {
            return true;
        }
        // Skip the escaped character, whatever it is.
        i = at + 2;
        if i >= json.len() {
            return false;
        }
    }
    false
}

/// The JSON pointer of the first member name or string holding a NUL, if any.
fn nul_pointer(v: &Value, at: &str) -> Option<String> {
    match v {
        Value::String(s) => s.contains('\0').then(|| at.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| nul_pointer(x, &format!("{at}/{i}"))),
        Value::Object(members) => members.iter().find_map(|(k, x)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            if k.contains('\0') {
                // Shown, not sent back raw.
                Some(here.replace('\0', "\\u0000"))
            } else {
                nul_pointer(x, &here)
            }
        }),
        _ => None,
    }
}

/// A NUL in the request's query string (`%00`: the parameter's name) or path (the `{param}` of
/// the route of `routes` whose segment carries it, or `path`).
pub fn nul_in_url(req: &ServiceRequest, routes: &'static [RouteSpec]) -> Option<AppError> {
    let query = req.query_string();
    if query.contains("%00") {
        let field = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map(|(k, _)| k.replace('\0', "\\u0000"))
            .unwrap_or_else(|| "query".into());
        return Some(AppError::NulCharacter { field, line: None });
    }
    let path = req.path();
    if path.contains("%00") || req.match_info().as_str().contains('\0') {
        // The route the router would take (any method, for a 405 as well), and its parameter
        // whose segment carries the NUL.
        let route = find_route(routes, path, req.method().as_str()).or_else(|| routes.iter().find(|s| pattern_matches(s.path, path)));
        let field = route
            .and_then(|s| {
                s.path.split('/').zip(path.split('/')).find_map(|(p, seg)| {
                    (seg.contains("%00") && p.starts_with('{')).then(|| p.trim_matches(|c| c == '{' || c == '}').to_string())
                })
            })
            .unwrap_or_else(|| "path".into());
        return Some(AppError::NulCharacter { field, line: None });
    }
    None
}

/// The line (from 1) of the first NUL in a text file, if any.
pub fn nul_line(text: &str) -> Option<u64> {
    text.split('\n').position(|l| l.contains('\0')).map(|i| i as u64 + 1)
}

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

/// A JSON body that could not be parsed into what the handler takes.
pub fn serde_problem(de: &serde_json::Error) -> Msg {
    log::debug!("JSON body refused: {de}");
    match de.classify() {
        serde_json::error::Category::Data => {
            from_serde_text(&de.to_string(), "bad-whole_body").with("line", de.line()).with("column", de.column())
        }
        _ => msg!("bad-json_syntax", line = de.line(), column = de.column()),
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
    fn the_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(has_nul_escape(br#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"\u00000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001 \n \\"}"#));
        assert!(!has_nul_escape(br#"\"#));
    }

    #[test]
    fn the_pointer_names_the_first_string_with_a_nul() {
        let v: Value = serde_json::from_str(r#"{"a": "ok", "b": [{"c": "x"}, {"d/e": "y\u0000"}]}"#).unwrap();
        assert_eq!(nul_pointer(&v, "").as_deref(), Some("/b/1/d~1e"));
        let v: Value = serde_json::from_str(r#"{"k\u0000": 1}"#).unwrap();
        assert_eq!(nul_pointer(&v, "").as_deref(), Some("/k\\u0000"));
        assert_eq!(nul_line("a\nb\nc\0\n"), Some(3));
    }

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
