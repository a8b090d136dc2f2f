//! A route table as data: each route's method, path pattern and declared access rule, and
//! matching a request against a table the way actix's router does. The API's table is
//! `api::ROUTES`; the access guard, the NUL check of the path, the OpenAPI document and
//! docs/permissions.md read it through these functions.

use crate::domain::Access;

/// One declared route.
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Whether a declared pattern matches a request path as the router matches it: the same
/// segments, each `{name}` standing for one non-empty segment (the router's `[^/]+`).
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && a.ends_with('}') => {
                if b.is_empty() {
                    return false;
                }
            }
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The declared route the router picks for this path and method: the first of the table (the
/// router's order) whose method and pattern match, found by comparing segments instead of
/// running the router's regular expressions a second time for every request.
pub fn find_route(table: &'static [RouteSpec], path: &str, method: &str) -> Option<&'static RouteSpec> {
    table.iter().find(|s| s.method == method && pattern_matches(s.path, path))
}

/// The methods the table declares for a request path, as the router would serve them (the
/// `Allow` of a 405), in the table's order.
pub fn methods_of(table: &'static [RouteSpec], path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = vec![];
    for s in table {
        if pattern_matches(s.path, path) && !methods.contains(&s.method) {
            methods.push(s.method);
        }
    }
    methods
}
