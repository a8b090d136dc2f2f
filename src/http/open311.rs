//! Open311 GeoReport v2 under `/open311/v2/` (decision 0032): discovery, services, service
//! definitions, service requests (POST with an app's `api_key`, GET public), one request, tokens —
//! each as `.json` or `.xml`, with the spec's field names, its error bodies (`[{code,
//! description}]`, `<errors>`) and status codes (400, 403, 404), and date-times in ISO 8601 with
//! the China offset. Not in the OpenAPI document (its own specification is the contract).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{FixedOffset, NaiveDateTime};
use serde_json::{json, Map, Value};

use crate::app::outside::clients;
use crate::app::outside::open311::{self as o311, PostedRequest, PublicRequest, RequestQuery, Service, JURISDICTION, WINDOW_DAYS};
use crate::app::{utc_now, AppError};
use crate::domain::outside::ClientKind;
use crate::http::context::{lang_of, AppState};
use crate::i18n::Lang;

/// Whether a path is Open311's.
pub fn is_open311_path(path: &str) -> bool {
    path.starts_with("/open311/")
}

/// Registers the Open311 routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/open311/v2/{file}", web::get().to(top))
        .route("/open311/v2/{file}", web::post().to(post))
        .route("/open311/v2/services/{file}", web::get().to(service_definition))
        .route("/open311/v2/requests/{file}", web::get().to(one_request))
        .route("/open311/v2/tokens/{file}", web::get().to(token));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// `name.json` / `name.xml` → (name, format).
fn split(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let f = match ext {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, f))
}

/// A value of a field: the same data written as JSON or as XML.
enum V {
    S(String),
    N(f64),
    I(i64),
    B(bool),
    Null,
    /// A list of records: (XML item element, records).
    List(&'static str, Vec<Rec>),
    /// A list of plain strings: (XML item element, values).
    Strings(&'static str, Vec<String>),
}

type Rec = Vec<(&'static str, V)>;

fn s(v: impl Into<String>) -> V {
    V::S(v.into())
}

fn opt(v: Option<String>) -> V {
    v.filter(|x| !x.is_empty()).map(V::S).unwrap_or(V::Null)
}

fn to_json(r: &Rec) -> Value {
    let mut m = Map::new();
    for (k, v) in r {
        m.insert((*k).into(), json_of(v));
    }
    Value::Object(m)
}

fn json_of(v: &V) -> Value {
    match v {
        V::S(x) => json!(x),
        V::N(x) => json!(x),
        V::I(x) => json!(x),
        V::B(x) => json!(x),
        V::Null => Value::Null,
        V::List(_, items) => Value::Array(items.iter().map(to_json).collect()),
        V::Strings(_, items) => json!(items),
    }
}

/// Text as XML character data: the five specials escaped, characters XML 1.0 forbids dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn xml_rec(out: &mut String, r: &Rec) {
    for (k, v) in r {
        out.push('<');
        out.push_str(k);
        out.push('>');
        match v {
            V::S(x) => out.push_str(&esc(x)),
            V::N(x) => out.push_str(&x.to_string()),
            V::I(x) => out.push_str(&x.to_string()),
            V::B(x) => out.push_str(if *x { "true" } else { "false" }),
            V::Null => {}
            V::List(item, items) => {
                for i in items {
                    out.push_str(&format!("<{item}>"));
                    xml_rec(out, i);
                    out.push_str(&format!("</{item}>"));
                }
            }
            V::Strings(item, items) => {
                for i in items {
                    out.push_str(&format!("<{item}>{}</{item}>", esc(i)));
                }
            }
        }
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
}

/// A document: a list of records under `root`/`item` (JSON: an array), or one record as `root`
/// (JSON: an object) when `item` is empty.
fn respond(status: StatusCode, f: Format, root: &str, item: &str, recs: &[Rec]) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header(("Access-Control-Allow-Origin", "*"));
    match f {
        Format::Json => {
            let body = if item.is_empty() {
                recs.first().map(to_json).unwrap_or(Value::Null)
            } else {
                Value::Array(recs.iter().map(to_json).collect())
            };
            b.content_type("application/json; charset=utf-8").body(body.to_string())
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            out.push_str(&format!("<{root}>"));
            if item.is_empty() {
                if let Some(r) = recs.first() {
                    xml_rec(&mut out, r);
                }
            } else {
                for r in recs {
                    out.push_str(&format!("<{item}>"));
                    xml_rec(&mut out, r);
                    out.push_str(&format!("</{item}>"));
                }
            }
            out.push_str(&format!("</{root}>"));
            b.content_type("text/xml; charset=utf-8").body(out)
        }
    }
}

/// The spec's error answer: the status, and `[{code, description}]` / `<errors>`.
fn error(f: Format, e: &AppError, lang: Lang) -> HttpResponse {
    let status = match e {
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Unauthenticated | AppError::ClientRefused | AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) | AppError::Contention(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        log::error!("open311: {e:#}");
    }
    let description = match e {
        AppError::Unauthenticated | AppError::ClientRefused => {
            crate::i18n::render(lang, &crate::msg!("why-open311_api_key", field = "api_key"))
        }
        e => e.message(lang),
    };
    let rec: Rec = vec![("code", V::I(status.as_u16() as i64)), ("description", s(description))];
    respond(status, f, "errors", "error", &[rec])
}

/// The spec's error answer for a request refused before its handler (a NUL in its address), in
/// the format its path asks for (JSON unless it ends in `.xml`).
pub fn error_for(path: &str, e: &AppError, lang: Lang) -> HttpResponse {
    error(if path.ends_with(".xml") { Format::Xml } else { Format::Json }, e, lang)
}

/// The format a path asks for, when it names `want`.
fn format_of(file: &str, want: &str) -> Option<Format> {
    split(file).filter(|(name, _)| *name == want).map(|(_, f)| f)
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.trim().is_empty())
}

/// A `jurisdiction_id` other than ours (an empty one is absent) is not found.
fn check_jurisdiction(pairs: &[(String, String)]) -> Result<(), AppError> {
    match param(pairs, "jurisdiction_id") {
        None => Ok(()),
        Some(j) if j.trim() == JURISDICTION => Ok(()),
        Some(_) => Err(AppError::NotFound { what: "object" }),
    }
}

/// ISO 8601 with the China offset (UTC+8), to the second.
fn w3(t: &NaiveDateTime) -> String {
    let cn = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    t.and_utc().with_timezone(&cn).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A w3 date-time with its offset (seconds optional) as UTC; without an offset it is refused.
fn parse_w3(field: &str, v: &str) -> Result<NaiveDateTime, AppError> {
    let v = v.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|_| chrono::DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| chrono::DateTime::parse_from_str(&v.replace('Z', "+00:00"), "%Y-%m-%dT%H:%M%:z"));
    parsed
        .map(|d| d.naive_utc())
        .map_err(|_| AppError::validation(field, crate::msg!("rule-rfc3339", example = "2026-12-02T18:00:00+08:00")))
}

async fn blocking<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&mut crate::db::DbConn) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let pool = state.pool.clone();
    web::block(move || crate::db::with_pooled(&pool, f))
        .await
        .unwrap_or_else(|e| Err(AppError::internal_msg(format!("blocking task failed: {e}"))))
}

fn service_rec(sv: &Service) -> Rec {
    vec![
        ("service_code", s(&sv.code)),
        ("service_name", s(&sv.name)),
        ("description", s(&sv.description)),
        ("metadata", V::B(true)),
        ("type", s("realtime")),
        ("keywords", V::Null),
        ("group", V::Null),
    ]
}

fn request_rec(r: &PublicRequest) -> Rec {
    vec![
        ("service_request_id", s(&r.service_request_id)),
        ("status", s(r.status)),
        ("status_notes", s(&r.status_notes)),
        ("service_name", s(&r.service_name)),
        ("service_code", s(&r.service_code)),
        ("description", s(&r.description)),
        ("agency_responsible", s(&r.agency_responsible)),
        ("service_notice", V::Null),
        ("requested_datetime", s(w3(&r.requested_datetime))),
        ("updated_datetime", s(w3(&r.updated_datetime))),
        ("expected_datetime", opt(r.expected_datetime.as_ref().map(w3))),
        ("address", s(&r.address)),
        ("address_id", V::Null),
        ("zipcode", V::Null),
        ("lat", r.lat.map(V::N).unwrap_or(V::Null)),
        ("long", r.long.map(V::N).unwrap_or(V::Null)),
        ("media_url", V::Null),
    ]
}

/// `GET /open311/v2/{discovery|services|requests}.{json|xml}`.
async fn top(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let lang = lang_of(&req);
    let Some((name, f)) = split(&file) else {
        return error(Format::Json, &AppError::NotFound { what: "route" }, lang);
    };
    let pairs = query_pairs(&req);
    if let Err(e) = check_jurisdiction(&pairs) {
        return error(f, &e, lang);
    }
    match name {
        "discovery" => {
            let url = format!("{}/open311/v2/", crate::http::context::public_base(&state, &req));
            let endpoint: Rec = vec![
                ("specification", s("http://wiki.open311.org/GeoReport_v2")),
                ("url", s(url)),
                ("changeset", s("2026-12-02T00:00:00+08:00")),
                ("type", s("production")),
                ("formats", V::Strings("format", vec!["text/xml".into(), "application/json".into()])),
            ];
            let rec: Rec = vec![
                ("changeset", s("2026-12-02T00:00:00+08:00")),
                ("contact", s(crate::i18n::text(lang, "open311-contact"))),
                ("key_service", s(crate::i18n::text(lang, "open311-key_service"))),
                ("endpoints", V::List("endpoint", vec![endpoint])),
            ];
            respond(StatusCode::OK, f, "discovery", "", &[rec])
        }
        "services" => match blocking(&state, move |c| o311::services(c, lang)).await {
            Ok(list) => respond(StatusCode::OK, f, "services", "service", &list.iter().map(service_rec).collect::<Vec<_>>()),
            Err(e) => error(f, &e, lang),
        },
        "requests" => {
            let q = match request_query(&pairs) {
                Ok(q) => q,
                Err(e) => return error(f, &e, lang),
            };
            match blocking(&state, move |c| o311::requests(c, &q, lang, utc_now())).await {
                Ok(list) => respond(StatusCode::OK, f, "service_requests", "request", &list.iter().map(request_rec).collect::<Vec<_>>()),
                Err(e) => error(f, &e, lang),
            }
        }
        _ => error(f, &AppError::NotFound { what: "route" }, lang),
    }
}

fn list_of(v: Option<&str>) -> Vec<String> {
    v.map(|v| v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()).unwrap_or_default()
}

/// The GET filters, checked: statuses open/closed, dates with offsets, a range of at most 90 days.
fn request_query(pairs: &[(String, String)]) -> Result<RequestQuery, AppError> {
    let statuses = list_of(param(pairs, "status"));
    if let Some(bad) = statuses.iter().find(|s| *s != "open" && *s != "closed") {
        return Err(AppError::validation("status", crate::msg!("rule-one_of", values = format!("open, closed ({bad})"))));
    }
    let start = param(pairs, "start_date").map(|v| parse_w3("start_date", v)).transpose()?;
    let end = param(pairs, "end_date").map(|v| parse_w3("end_date", v)).transpose()?;
    if let (Some(a), Some(b)) = (start, end) {
        if b < a || (b - a).num_days() > WINDOW_DAYS {
            return Err(AppError::validation("end_date", crate::msg!("why-open311_window", days = WINDOW_DAYS)));
        }
    }
    // At most a page of ids (an answer holds no more than that anyway).
    let mut ids = list_of(param(pairs, "service_request_id"));
    ids.truncate(o311::MAX_REQUESTS as usize);
    Ok(RequestQuery { ids, service_codes: list_of(param(pairs, "service_code")), statuses, start, end })
}

/// `GET /open311/v2/services/{code}.{fmt}`: the service's attributes (urgency, building).
async fn service_definition(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let lang = lang_of(&req);
    let Some((code, f)) = split(&file) else {
        return error(Format::Json, &AppError::NotFound { what: "category" }, lang);
    };
    if let Err(e) = check_jurisdiction(&query_pairs(&req)) {
        return error(f, &e, lang);
    }
    let code = code.to_string();
    match blocking(&state, move |c| o311::service(c, &code, lang)).await {
        Ok((_, sv)) => {
            let values: Vec<Rec> = sv
                .urgencies
                .iter()
                .map(|u| {
                    vec![
                        ("key", s(u.as_str())),
                        (
                            "name",
                            s(crate::i18n::text(
                                lang,
                                if *u == crate::domain::workflow::Urgency::Urgent { "urgency-urgent" } else { "urgency-normal" },
                            )),
                        ),
                    ]
                })
                .collect();
            let urgency: Rec = vec![
                ("variable", V::B(true)),
                ("code", s("urgency")),
                ("datatype", s("singlevaluelist")),
                ("required", V::B(false)),
                ("datatype_description", V::Null),
                ("order", V::I(1)),
                ("description", s(crate::i18n::text(lang, "open311-attr_urgency"))),
                ("values", V::List("value", values)),
            ];
            let building: Rec = vec![
                ("variable", V::B(true)),
                ("code", s("building")),
                ("datatype", s("string")),
                ("required", V::B(false)),
                ("datatype_description", s(crate::i18n::text(lang, "open311-attr_building_form"))),
                ("order", V::I(2)),
                ("description", s(crate::i18n::text(lang, "open311-attr_building"))),
            ];
            let rec: Rec = vec![("service_code", s(&sv.code)), ("attributes", V::List("attribute", vec![urgency, building]))];
            respond(StatusCode::OK, f, "service_definition", "", &[rec])
        }
        Err(e) => error(f, &e, lang),
    }
}

/// `GET /open311/v2/requests/{id}.{fmt}`: one request, as a list of one.
async fn one_request(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let lang = lang_of(&req);
    let Some((id, f)) = split(&file) else {
        return error(Format::Json, &AppError::NotFound { what: "ticket" }, lang);
    };
    if let Err(e) = check_jurisdiction(&query_pairs(&req)) {
        return error(f, &e, lang);
    }
    let id = id.to_string();
    match blocking(&state, move |c| o311::request(c, &id, lang, utc_now())).await {
        Ok(r) => respond(StatusCode::OK, f, "service_requests", "request", &[request_rec(&r)]),
        Err(e) => error(f, &e, lang),
    }
}

/// `GET /open311/v2/tokens/{token}.{fmt}`.
async fn token(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let lang = lang_of(&req);
    let Some((token, f)) = split(&file) else {
        return error(Format::Json, &AppError::NotFound { what: "ticket" }, lang);
    };
    let token = token.to_string();
    match blocking(&state, move |c| o311::by_token(c, &token)).await {
        Ok((id, token)) => {
            respond(StatusCode::OK, f, "service_requests", "request", &[vec![("service_request_id", s(id)), ("token", s(token))]])
        }
        Err(e) => error(f, &e, lang),
    }
}

/// The largest form accepted (the description's 4,000 characters and the rest, with room).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// `POST /open311/v2/requests.{fmt}`: form-encoded, with the app's `api_key`.
async fn post(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let lang = lang_of(&req);
    let Some(f) = format_of(&file, "requests") else {
        return error(Format::Json, &AppError::NotFound { what: "route" }, lang);
    };
    if body.len() > MAX_FORM_BYTES {
        return error(f, &AppError::PayloadTooLarge { limit: MAX_FORM_BYTES }, lang);
    }
    let form_type = actix_web::HttpMessage::content_type(&req).starts_with("application/x-www-form-urlencoded");
    if !form_type {
        return error(
            f,
            &AppError::BadRequest { detail: crate::msg!("why-open311_form", type = "application/x-www-form-urlencoded") },
            lang,
        );
    }
    if body.contains(&0) || std::str::from_utf8(&body).is_err() {
        return error(
            f,
            &AppError::BadRequest { detail: crate::msg!("why-open311_form", type = "application/x-www-form-urlencoded") },
            lang,
        );
    }
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    pairs.extend(query_pairs(&req).into_iter().filter(|(k, _)| k == "api_key" || k == "jurisdiction_id"));
    if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return error(f, &AppError::NulCharacter { field: "form".into(), line: None }, lang);
    }
    if let Err(e) = check_jurisdiction(&pairs) {
        return error(f, &e, lang);
    }
    let Some(key) = param(&pairs, "api_key").map(str::to_string) else {
        return error(f, &AppError::ClientRefused, lang);
    };
    let get = |k: &str| param(&pairs, k).map(str::to_string);
    let number = |k: &str| -> Result<Option<f64>, AppError> {
        get(k)
            .map(|v| {
                v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| AppError::validation(k, crate::msg!("rule-number")))
            })
            .transpose()
    };
    let (lat, long) = match (number("lat"), number("long")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error(f, &e, lang),
    };
    if lat.is_some_and(|x| x.abs() > 90.0) || long.is_some_and(|x| x.abs() > 180.0) {
        return error(f, &AppError::validation("lat", crate::msg!("rule-between", min = "-90/-180", max = "90/180")), lang);
    }
    let attributes = pairs
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("attribute[")
                .and_then(|r| r.strip_suffix(']').or_else(|| r.strip_suffix("][]")))
                .map(|a| (a.to_string(), v.clone()))
        })
        .collect();
    let Some(service_code) = get("service_code") else {
        return error(f, &AppError::validation("service_code", crate::msg!("rule-not_empty")), lang);
    };
    let posted = PostedRequest {
        service_code,
        lat,
        long,
        address_string: get("address_string"),
        address_id: get("address_id"),
        description: get("description"),
        email: get("email"),
        first_name: get("first_name"),
        last_name: get("last_name"),
        phone: get("phone"),
        attributes,
    };
    let (st, base) = (state.clone(), crate::http::context::public_base(&state, &req));
    let r = blocking(&state, move |c| {
        let client = clients::authenticate(c, &key, ClientKind::Open311)?;
        o311::post_request(c, st.sla(), &client, posted, &base, utc_now())
    })
    .await;
    match r {
        Ok(id) => respond(
            StatusCode::CREATED,
            f,
            "service_requests",
            "request",
            &[vec![("service_request_id", s(id)), ("service_notice", V::Null), ("account_id", V::Null)]],
        ),
        Err(e) => error(f, &e, lang),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_characters_xml_forbids() {
        assert_eq!(esc("a<b>&\"c'\u{1}d"), "a&lt;b&gt;&amp;&quot;c&apos;d");
    }

    #[test]
    fn date_times_carry_the_china_offset_and_inputs_need_one() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(1, 2, 3).unwrap();
        assert_eq!(w3(&t), "2026-12-02T09:02:03+08:00");
        assert_eq!(parse_w3("x", "2026-12-02T09:02:03+08:00").unwrap(), t);
        assert_eq!(parse_w3("x", "2026-12-02T01:02Z").unwrap(), t - chrono::Duration::seconds(3));
        assert!(parse_w3("x", "2026-12-02T09:02:03").is_err(), "no offset, no date");
    }
}
