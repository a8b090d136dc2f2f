//! The OpenAPI document's share of the contract that no handler annotation owns: the security of
//! each operation and the error statuses the layers in front of every handler answer.
//!
//! The access guard, the extractors and the pool answer the same statuses for every route they
//! stand in front of (401 and the CSRF 403 from the guard, 400 and 413 from the JSON, query and
//! path extractors, 412/422/428 from `If-Match`, 422 from `Idempotency-Key`, 503 from the
//! database). They are declared here, from the route table and each operation's declared inputs,
//! so that an annotation cannot forget one; each handler's annotation declares what its use case
//! answers (404, 409, 422 for rules, …). Every error status carries the `ErrorBody` schema.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, Ref, RefOr};

use crate::domain::Access;

use crate::http::routing::RouteSpec;

/// The standard description of an error status, with the codes it carries.
fn describe(status: u16) -> &'static str {
    match status {
        400 => "bad_request: malformed JSON, an unknown body field or query parameter, a wrong query or path parameter",
        401 => "unauthenticated: no token, or an unknown, revoked, idle or expired one (with `WWW-Authenticate: Bearer`)",
        403 => {
            "forbidden: the object is visible but the caller's roles do not allow this; csrf_rejected: a change made \
                through the session cookie without the right `X-CSRF-Token`"
        }
        404 => "not_found: no such object, or one outside the caller's scope (the same answer)",
        409 => "a conflict with the object's state (code names which)",
        412 => "version_conflict: `If-Match` names a version that is no longer current (`current_version` tells the current one)",
        413 => "payload_too_large: the body is over the limit",
        422 => "validation_failed, unknown_reference, idempotency_key_reused: the input parsed but broke a rule (`field` names it)",
        428 => "precondition_required: `If-Match` is missing",
        429 => "too_many_requests: too many attempts; retry after the time in `Retry-After`",
        503 => {
            "service_unavailable: the database cannot be reached or no pooled connection became free in time \
                (calendar_missing: a deadline no calendar computes)"
        }
        _ => "an error",
    }
}

/// Declares the statuses the layers answer and the security the access guard enforces, for the
/// routes of a table.
pub struct LayerResponses(pub &'static [RouteSpec]);

impl utoipa::Modify for LayerResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, op) in operations {
                let Some(op) = op.as_mut() else { continue };
                let access = self.0.iter().find(|s| s.path == path && s.method == method).map(|s| s.access);
                declare_layers(path, method, access, op);
                for p in op.parameters.iter_mut().flatten() {
                    describe_header(p);
                }
            }
        }
        // `ActionRequest` is an internally tagged enum with `deny_unknown_fields`: each variant
        // takes exactly its own fields (utoipa leaves the variants open).
        if let Some(RefOr::T(Schema::OneOf(one_of))) = openapi.components.as_mut().and_then(|c| c.schemas.get_mut("ActionRequest")) {
            for variant in &mut one_of.items {
                if let RefOr::T(Schema::Object(o)) = variant {
                    o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// The two request headers the extractors read, described once: `If-Match` (a version) and
/// `Idempotency-Key` (checked by `idempotency::validate_key`).
fn describe_header(p: &mut Parameter) {
    if p.parameter_in != ParameterIn::Header {
        return;
    }
    let (description, schema) = match p.name.as_str() {
        "If-Match" => (
            "The version from the ETag, e.g. `\"3\"` (also `W/\"3\"` or `3`)",
            ObjectBuilder::new().schema_type(Type::String).pattern(Some(r#"^(W/)?"?[0-9]+"?$"#)).build(),
        ),
        "Idempotency-Key" => (
            "Makes retries safe: a retry with the same key and body gets the first response, and changes nothing \
             (1–100 visible ASCII characters, e.g. a UUID)",
            ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(100)).pattern(Some("^[!-~]+$")).build(),
        ),
        _ => return,
    };
    p.description.get_or_insert_with(|| description.to_string());
    p.schema = Some(RefOr::T(Schema::Object(schema)));
}

fn declare_layers(path: &str, method: &str, access: Option<Access>, op: &mut Operation) {
    let public = matches!(access, Some(Access::Public));
    let mut statuses: Vec<u16> = Vec::new();
    if public {
        op.security = None;
    } else if access == Some(Access::Client) {
        // The client's key as a bearer token; its signature headers are described on the operation.
        op.security = Some(vec![SecurityRequirement::new("client_key", Vec::<String>::new())]);
        statuses.push(401);
    } else {
        // The guard takes the bearer header first, then the session cookie.
        op.security =
            Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new()), SecurityRequirement::new("cookie", Vec::<String>::new())]);
        statuses.push(401);
        if method != "GET" {
            statuses.push(403);
        }
    }
    let params = op.parameters.as_deref().unwrap_or(&[]);
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let header = |name: &str| params.iter().any(|p| p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case(name));
    if has(ParameterIn::Query) || has(ParameterIn::Path) || op.request_body.is_some() {
        statuses.push(400);
    }
    if has(ParameterIn::Path) {
        statuses.push(404);
    }
    if op.request_body.is_some() {
        statuses.push(413);
    }
    if header("If-Match") {
        statuses.extend([412, 422, 428]);
    }
    if header("Idempotency-Key") {
        statuses.push(422);
    }
    // Everything but the document itself reads the database (the guard reads the session).
    if path != "/api/v1/openapi.json" {
        statuses.push(503);
    }
    for status in statuses {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new("")));
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else { continue };
        if code < 400 {
            continue;
        }
        if let RefOr::T(r) = response {
            if r.description.is_empty() {
                r.description = describe(code).to_string();
            }
            if r.content.is_empty() {
                *r = ResponseBuilder::from(r.clone())
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                    .build();
            }
        }
    }
}
