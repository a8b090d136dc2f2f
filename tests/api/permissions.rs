//! The permission matrix: roles × (in-scope, out-of-scope, missing) objects × operations → outcome.
//! It runs on both back ends and is the single source of docs/permissions.md (checked here;
//! regenerate with GRIDLOOP_UPDATE_DOCS=1 cargo test permission).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::domain::Access;
use gridloop::http::api::route_specs;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{project_dir, TestApp};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    In,
    Out,
    Missing,
}

/// The roles under test, each logged in as a person of the first district, with the unit it is
/// bound to ("home"), and the second-district mirror used as its out-of-scope object.
const ACTORS: &[(&str, &str, &str, &str)] = &[
    // (role, login, home unit, mirror unit)
    ("grid_worker", "gw1", "B1", "B2"),
    ("branch_secretary", "bs1", "Y1", "Y2"),
    ("community_staff", "cs1", "K1", "K2"),
    ("department_liaison", "dl1", "P1", "P2"),
    ("supervisor", "sup1", "D1", "D2"),
    ("admin", "admin1", "D1", "D2"),
    ("committee_representative", "yw1", "Y1", "Y2"),
    ("company_representative", "wy1", "Y1", "Y2"),
];

/// Expected status per operation and role, for (in-scope, out-of-scope, missing) objects.
/// The in-scope object is: for org units, the role's own unit; for people, a grid worker of
/// building B1 (a liaison of P1 for the department liaison); for residents, a resident of B1.
const MATRIX: &[(&str, &str, [u16; 3])] = &[
    ("org_unit.read", "grid_worker", [200, 404, 404]),
    ("org_unit.read", "branch_secretary", [200, 404, 404]),
    ("org_unit.read", "community_staff", [200, 404, 404]),
    ("org_unit.read", "department_liaison", [200, 404, 404]),
    ("org_unit.read", "supervisor", [200, 404, 404]),
    ("org_unit.read", "admin", [200, 404, 404]),
    ("org_unit.read", "committee_representative", [404, 404, 404]),
    ("org_unit.read", "company_representative", [404, 404, 404]),
    ("org_unit.update", "grid_worker", [403, 404, 404]),
    ("org_unit.update", "branch_secretary", [403, 404, 404]),
    ("org_unit.update", "community_staff", [403, 404, 404]),
    ("org_unit.update", "department_liaison", [403, 404, 404]),
    ("org_unit.update", "supervisor", [403, 404, 404]),
    ("org_unit.update", "admin", [200, 404, 404]),
    ("org_unit.update", "committee_representative", [404, 404, 404]),
    ("org_unit.update", "company_representative", [404, 404, 404]),
    ("person.read", "grid_worker", [404, 404, 404]),
    ("person.read", "branch_secretary", [200, 404, 404]),
    ("person.read", "community_staff", [200, 404, 404]),
    ("person.read", "department_liaison", [404, 404, 404]),
    ("person.read", "supervisor", [200, 404, 404]),
    ("person.read", "admin", [200, 404, 404]),
    ("person.read", "committee_representative", [404, 404, 404]),
    ("person.read", "company_representative", [404, 404, 404]),
    ("person.update", "grid_worker", [404, 404, 404]),
    ("person.update", "branch_secretary", [403, 404, 404]),
    ("person.update", "community_staff", [403, 404, 404]),
    ("person.update", "department_liaison", [404, 404, 404]),
    ("person.update", "supervisor", [403, 404, 404]),
    ("person.update", "admin", [200, 404, 404]),
    ("person.update", "committee_representative", [404, 404, 404]),
    ("person.update", "company_representative", [404, 404, 404]),
    ("person.disable", "grid_worker", [404, 404, 404]),
    ("person.disable", "branch_secretary", [403, 404, 404]),
    ("person.disable", "community_staff", [403, 404, 404]),
    ("person.disable", "department_liaison", [404, 404, 404]),
    ("person.disable", "supervisor", [403, 404, 404]),
    ("person.disable", "admin", [200, 404, 404]),
    ("person.disable", "committee_representative", [404, 404, 404]),
    ("person.disable", "company_representative", [404, 404, 404]),
    ("resident.read", "grid_worker", [200, 404, 404]),
    ("resident.read", "branch_secretary", [200, 404, 404]),
    ("resident.read", "community_staff", [200, 404, 404]),
    ("resident.read", "department_liaison", [404, 404, 404]),
    ("resident.read", "supervisor", [200, 404, 404]),
    ("resident.read", "admin", [404, 404, 404]),
    ("resident.read", "committee_representative", [404, 404, 404]),
    ("resident.read", "company_representative", [404, 404, 404]),
    ("resident.reveal", "grid_worker", [200, 404, 404]),
    ("resident.reveal", "branch_secretary", [200, 404, 404]),
    ("resident.reveal", "community_staff", [200, 404, 404]),
    ("resident.reveal", "department_liaison", [404, 404, 404]),
    ("resident.reveal", "supervisor", [403, 404, 404]),
    ("resident.reveal", "admin", [404, 404, 404]),
    ("resident.reveal", "committee_representative", [404, 404, 404]),
    ("resident.reveal", "company_representative", [404, 404, 404]),
    ("ticket.read", "grid_worker", [200, 404, 404]),
    ("ticket.read", "branch_secretary", [200, 404, 404]),
    ("ticket.read", "community_staff", [200, 404, 404]),
    ("ticket.read", "department_liaison", [200, 404, 404]),
    ("ticket.read", "supervisor", [200, 404, 404]),
    ("ticket.read", "admin", [404, 404, 404]),
    ("ticket.read", "committee_representative", [404, 404, 404]),
    ("ticket.read", "company_representative", [404, 404, 404]),
    ("ticket.comment", "grid_worker", [201, 404, 404]),
    ("ticket.comment", "branch_secretary", [201, 404, 404]),
    ("ticket.comment", "community_staff", [201, 404, 404]),
    ("ticket.comment", "department_liaison", [201, 404, 404]),
    ("ticket.comment", "supervisor", [201, 404, 404]),
    ("ticket.comment", "admin", [404, 404, 404]),
    ("ticket.comment", "committee_representative", [404, 404, 404]),
    ("ticket.comment", "company_representative", [404, 404, 404]),
    ("ticket.reveal", "grid_worker", [200, 404, 404]),
    ("ticket.reveal", "branch_secretary", [200, 404, 404]),
    ("ticket.reveal", "community_staff", [200, 404, 404]),
    ("ticket.reveal", "department_liaison", [200, 404, 404]),
    ("ticket.reveal", "supervisor", [403, 404, 404]),
    ("ticket.reveal", "admin", [404, 404, 404]),
    ("ticket.reveal", "committee_representative", [404, 404, 404]),
    ("ticket.reveal", "company_representative", [404, 404, 404]),
    ("visit_log.read", "grid_worker", [200, 404, 404]),
    ("visit_log.read", "branch_secretary", [200, 404, 404]),
    ("visit_log.read", "community_staff", [200, 404, 404]),
    ("visit_log.read", "department_liaison", [404, 404, 404]),
    ("visit_log.read", "supervisor", [200, 404, 404]),
    ("visit_log.read", "admin", [404, 404, 404]),
    ("visit_log.read", "committee_representative", [404, 404, 404]),
    ("visit_log.read", "company_representative", [404, 404, 404]),
    ("visit_log.amend", "grid_worker", [200, 404, 404]),
    ("visit_log.amend", "branch_secretary", [403, 404, 404]),
    ("visit_log.amend", "community_staff", [403, 404, 404]),
    ("visit_log.amend", "department_liaison", [404, 404, 404]),
    ("visit_log.amend", "supervisor", [403, 404, 404]),
    ("visit_log.amend", "admin", [404, 404, 404]),
    ("visit_log.amend", "committee_representative", [404, 404, 404]),
    ("visit_log.amend", "company_representative", [404, 404, 404]),
    ("household.read", "grid_worker", [200, 404, 404]),
    ("household.read", "branch_secretary", [200, 404, 404]),
    ("household.read", "community_staff", [200, 404, 404]),
    ("household.read", "department_liaison", [404, 404, 404]),
    ("household.read", "supervisor", [200, 404, 404]),
    ("household.read", "admin", [404, 404, 404]),
    ("household.read", "committee_representative", [404, 404, 404]),
    ("household.read", "company_representative", [404, 404, 404]),
    ("household.update", "grid_worker", [200, 404, 404]),
    ("household.update", "branch_secretary", [200, 404, 404]),
    ("household.update", "community_staff", [200, 404, 404]),
    ("household.update", "department_liaison", [404, 404, 404]),
    ("household.update", "supervisor", [403, 404, 404]),
    ("household.update", "admin", [404, 404, 404]),
    ("household.update", "committee_representative", [404, 404, 404]),
    ("household.update", "company_representative", [404, 404, 404]),
    ("board.read", "grid_worker", [404, 404, 404]),
    ("board.read", "branch_secretary", [200, 404, 404]),
    ("board.read", "community_staff", [200, 404, 404]),
    ("board.read", "department_liaison", [404, 404, 404]),
    ("board.read", "supervisor", [200, 404, 404]),
    ("board.read", "admin", [403, 404, 404]),
    ("board.read", "committee_representative", [404, 404, 404]),
    ("board.read", "company_representative", [404, 404, 404]),
    ("visit_log.file", "grid_worker", [201, 422, 422]),
    ("visit_log.file", "branch_secretary", [403, 422, 422]),
    ("visit_log.file", "community_staff", [403, 422, 422]),
    ("visit_log.file", "department_liaison", [422, 422, 422]),
    ("visit_log.file", "supervisor", [403, 422, 422]),
    ("visit_log.file", "admin", [422, 422, 422]),
    ("visit_log.file", "committee_representative", [422, 422, 422]),
    ("visit_log.file", "company_representative", [422, 422, 422]),
    ("org_unit.log_compliance", "grid_worker", [403, 404, 404]),
    ("org_unit.log_compliance", "branch_secretary", [200, 404, 404]),
    ("org_unit.log_compliance", "community_staff", [200, 404, 404]),
    ("org_unit.log_compliance", "department_liaison", [404, 404, 404]),
    ("org_unit.log_compliance", "supervisor", [200, 404, 404]),
    ("org_unit.log_compliance", "admin", [403, 404, 404]),
    // Rankings name their unit in the query: out of scope and missing answer 422 unknown_reference alike.
    ("org_unit.log_compliance", "committee_representative", [404, 404, 404]),
    ("org_unit.log_compliance", "company_representative", [404, 404, 404]),
    ("org_unit.ranking", "grid_worker", [403, 422, 422]),
    ("org_unit.ranking", "branch_secretary", [403, 422, 422]),
    ("org_unit.ranking", "community_staff", [200, 422, 422]),
    ("org_unit.ranking", "department_liaison", [403, 422, 422]),
    ("org_unit.ranking", "supervisor", [200, 422, 422]),
    ("org_unit.ranking", "admin", [403, 422, 422]),
    ("org_unit.ranking", "committee_representative", [422, 422, 422]),
    ("org_unit.ranking", "company_representative", [422, 422, 422]),
    // The consultation of a compound (三方协调议事): reading its items, and putting one on its agenda.
    ("consultation.read", "grid_worker", [404, 404, 404]),
    ("consultation.read", "branch_secretary", [200, 404, 404]),
    ("consultation.read", "community_staff", [200, 404, 404]),
    ("consultation.read", "department_liaison", [404, 404, 404]),
    ("consultation.read", "supervisor", [200, 404, 404]),
    ("consultation.read", "admin", [404, 404, 404]),
    ("consultation.read", "committee_representative", [200, 404, 404]),
    ("consultation.read", "company_representative", [200, 404, 404]),
    ("consultation.manage", "grid_worker", [404, 404, 404]),
    ("consultation.manage", "branch_secretary", [201, 404, 404]),
    ("consultation.manage", "community_staff", [403, 404, 404]),
    ("consultation.manage", "department_liaison", [404, 404, 404]),
    ("consultation.manage", "supervisor", [403, 404, 404]),
    ("consultation.manage", "admin", [404, 404, 404]),
    ("consultation.manage", "committee_representative", [403, 404, 404]),
    ("consultation.manage", "company_representative", [403, 404, 404]),
];

/// The objects of the first district (in scope) and of the second (out of scope), per kind.
struct Targets {
    tickets: (String, String),
    logs: (String, String),
    households: (String, String),
}

const MISSING_ID: &str = "00000000-0000-7000-8000-000000000000";

fn target(fx: &Fixture, t: &Targets, op: &str, role: &str, home: &str, mirror: &str, scope: Scope) -> String {
    if scope == Scope::Missing {
        return MISSING_ID.into();
    }
    let in_scope = scope == Scope::In;
    if op == "visit_log.file" {
        // Filing names its grid in the body: the in-scope grid is the worker's building.
        return fx.unit(if in_scope { "B1" } else { "B2" }).into();
    }
    match op.split('.').next().unwrap() {
        "org_unit" => fx.unit(if in_scope { home } else { mirror }).into(),
        "person" => {
            let key = match (role, in_scope) {
                ("department_liaison", true) => "dl1b",
                ("department_liaison", false) => "dl2",
                (_, true) => "gw1b",
                (_, false) => "gw2",
            };
            fx.person(key).into()
        }
        "resident" => fx.resident(if in_scope { "r1" } else { "r2" }).into(),
        "ticket" => pick(&t.tickets, in_scope),
        "visit_log" => pick(&t.logs, in_scope),
        "household" => pick(&t.households, in_scope),
        "board" | "consultation" => fx.unit(if in_scope { "Y1" } else { "Y2" }).into(),
        other => panic!("no target for {other}"),
    }
}

fn pick(pair: &(String, String), in_scope: bool) -> String {
    if in_scope {
        pair.0.clone()
    } else {
        pair.1.clone()
    }
}

/// The current version of an object, read with the root admin's or a worker's token.
async fn version_of(app: &TestApp, path: &str, token: &str) -> Option<i64> {
    let r = app.get(path, Some(token)).await;
    if r.status() != StatusCode::OK {
        return None;
    }
    r.json::<Value>().await.ok()?["version"].as_i64()
}

async fn perform(app: &TestApp, op: &str, token: &str, id: &str, root: &str) -> (u16, Value) {
    let (method, path, body, versioned) = match op {
        "org_unit.read" => (Method::GET, format!("/api/v1/org-units/{id}"), None, None),
        "org_unit.update" => {
            (Method::PATCH, format!("/api/v1/org-units/{id}"), Some(json!({"name": "改名测试"})), Some(format!("/api/v1/org-units/{id}")))
        }
        "person.read" => (Method::GET, format!("/api/v1/people/{id}"), None, None),
        "person.update" => {
            (Method::PATCH, format!("/api/v1/people/{id}"), Some(json!({"display_name": "改名测试"})), Some(format!("/api/v1/people/{id}")))
        }
        "person.disable" => (Method::POST, format!("/api/v1/people/{id}/disable"), None, None),
        "resident.read" => (Method::GET, format!("/api/v1/residents/{id}"), None, None),
        "resident.reveal" => (Method::POST, format!("/api/v1/residents/{id}/reveal"), None, None),
        "ticket.read" => (Method::GET, format!("/api/v1/tickets/{id}"), None, None),
        "ticket.comment" => (Method::POST, format!("/api/v1/tickets/{id}/comments"), Some(json!({"text": "跟进"})), None),
        "ticket.reveal" => (Method::POST, format!("/api/v1/tickets/{id}/reveal"), None, None),
        "visit_log.read" => (Method::GET, format!("/api/v1/visit-logs/{id}"), None, None),
        "visit_log.amend" => (
            Method::PATCH,
            format!("/api/v1/visit-logs/{id}"),
            Some(json!({"observations": format!("补充 {}", gridloop::domain::Id::new())})),
            Some(format!("/api/v1/visit-logs/{id}")),
        ),
        "household.read" => (Method::GET, format!("/api/v1/households/{id}"), None, None),
        "household.update" => {
            (Method::PATCH, format!("/api/v1/households/{id}"), Some(json!({"kind": "disabled"})), Some(format!("/api/v1/households/{id}")))
        }
        "board.read" => (Method::GET, format!("/api/v1/compounds/{id}/board"), None, None),
        "visit_log.file" => {
            let yesterday = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive() - chrono::Duration::days(1);
            let body = json!({"client_id": gridloop::domain::Id::new().to_string(), "grid_id": id, "visit_date": yesterday,
                "households_visited": 2, "observations": "走访"});
            (Method::POST, "/api/v1/visit-logs".to_string(), Some(body), None)
        }
        "org_unit.log_compliance" => (Method::GET, format!("/api/v1/org-units/{id}/log-compliance"), None, None),
        "org_unit.ranking" => (Method::GET, format!("/api/v1/rankings?unit={id}&period=2026-10"), None, None),
        "consultation.read" => (Method::GET, format!("/api/v1/org-units/{id}/consultation/items"), None, None),
        "consultation.manage" => {
            (Method::POST, format!("/api/v1/org-units/{id}/consultation/items"), Some(json!({"title": "矩阵测试议题"})), None)
        }
        other => panic!("unknown operation {other}"),
    };
    let version = match &versioned {
        // Read with the actor's own token where he can, else with the root admin's.
        Some(p) => Some(match version_of(app, p, token).await {
            Some(v) => v,
            None => version_of(app, p, root).await.unwrap_or(1),
        }),
        None => None,
    };
    let r = app.request(method, &path, Some(token), body.as_ref(), version).await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if op == "person.disable" && status == 200 {
        // Undo, so that later cells find the same world.
        let r = app.request(Method::POST, &format!("/api/v1/people/{id}/enable"), Some(root), None, None).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    (status, body)
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_role_scope_and_operation() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let mut tokens = std::collections::HashMap::new();
    for (role, login, _, _) in ACTORS {
        tokens.insert(*role, app.login(login, PASSWORD).await);
    }
    // A ticket in each district, whistled to that district's department.
    let mut tickets = vec![];
    for (gw, bs, cs, building, dept) in [("gw1", "bs1", "cs1", "B1", "P1"), ("gw2", "bs2", "cs2", "B2", "P2")] {
        let mut body = crate::tickets::new_ticket(&fx);
        body["building_id"] = json!(fx.unit(building));
        let t = crate::tickets::file(&app, &app.login(gw, PASSWORD).await, &body).await;
        let id = t["id"].as_str().unwrap().to_string();
        let (s1, _) =
            crate::tickets::act(&app, &app.login(bs, PASSWORD).await, &id, 1, json!({"action": "report_to_community", "reason": "上报"}))
                .await;
        let (s2, _) = crate::tickets::act(
            &app,
            &app.login(cs, PASSWORD).await,
            &id,
            2,
            json!({"action": "whistle", "lead_department_id": fx.unit(dept), "whistle_type": "enforcement_needed", "reason": "吹哨"}),
        )
        .await;
        assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
        tickets.push(id);
    }
    let tickets = (tickets[0].clone(), tickets[1].clone());
    // A visit log of today in each district, and the households of the two fixture residents.
    let mut logs = vec![];
    for (gw, building) in [("gw1", "B1"), ("gw2", "B2")] {
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        let body = json!({"client_id": gridloop::domain::Id::new().to_string(), "grid_id": fx.unit(building), "visit_date": today,
            "households_visited": 1, "observations": "走访"});
        let r = app.post_json("/api/v1/visit-logs", Some(&app.login(gw, PASSWORD).await), &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        logs.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let mut households = vec![];
    for (gw, r) in [("gw1", "r1"), ("gw2", "r2")] {
        let v = app.get_ok(&format!("/api/v1/residents/{}", fx.resident(r)), &app.login(gw, PASSWORD).await).await;
        households.push(v["household_id"].as_str().unwrap().to_string());
    }
    let targets = Targets { tickets, logs: (logs[0].clone(), logs[1].clone()), households: (households[0].clone(), households[1].clone()) };
    let mut failures = vec![];
    for (op, role, expected) in MATRIX {
        let (_, _, home, mirror) = ACTORS.iter().find(|a| a.0 == *role).unwrap();
        let mut not_found_bodies = vec![];
        for (i, scope) in [Scope::In, Scope::Out, Scope::Missing].into_iter().enumerate() {
            let id = target(&fx, &targets, op, role, home, mirror, scope);
            let (status, body) = perform(&app, op, &tokens[role], &id, &root).await;
            if status != expected[i] {
                failures.push(format!("{op} by {role} on {scope:?} object: expected {}, got {status} {body}", expected[i]));
            }
            if status == 404 {
                not_found_bodies.push(body);
            }
        }
        // Out of scope must be indistinguishable from missing: the same body, byte for byte.
        if not_found_bodies.windows(2).any(|w| w[0] != w[1]) {
            failures.push(format!("{op} by {role}: 404 bodies differ: {not_found_bodies:?}"));
        }
    }
    assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
}

/// Renders docs/permissions.md from the matrix and the route table.
fn render_permissions_doc() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         Generated from `tests/api/permissions.rs` (the permission matrix the test suite runs on SQLite and\n\
         PostgreSQL) and from the route table in `src/http/api/table.rs`. Do not edit by hand: run\n\
         `GRIDLOOP_UPDATE_DOCS=1 cargo test permission` to regenerate; the suite fails while this file differs.\n\n\
         ## Rules\n\n\
         - A role is bound to one org unit and reaches that unit's whole subtree.\n\
         - An object outside every scope of the caller answers **404 with exactly the body of a missing object**.\n\
         - An object the caller can see but may not change answers **403**.\n\
         - Lists return exactly the in-scope set.\n\
         - A department liaison sees a ticket while his department holds a part of it (dispatched,\n\
           acknowledged, returned or done). Once the part ended (taken off, released, or its return\n\
           accepted) he still opens the ticket, but reads it as it stood then: its own part, the\n\
           timeline up to that moment and its own part's clocks, nothing after (`read_until`); he can no\n\
           longer act, comment or reveal the resident's phone (403), and the ticket leaves his lists and inbox.\n\
         - `allowed_actions` on a ticket is exactly what the caller may do now (role, state, the departments'\n\
           parts, pauses, pending extensions): every action offered is accepted, every other refused.\n\n\
         ## Matrix\n\n\
         Each cell is the HTTP status for an object in the role's scope / outside it / missing.\n\
         In-scope objects: org unit = the role's own unit; person = a grid worker of a building in scope\n\
         (for the department liaison, another liaison of his department); resident = a resident of a building in scope;\n\
         ticket = a ticket of a building in scope, whistled to the liaison's department; visit log = today's log of\n\
         a grid worker of a building in scope; household = the household of a resident in scope; board = the\n\
         secretary's board of the compound in scope (`GET /api/v1/compounds/{id}/board`); `visit_log.file` files a log\n\
         for the grid named in the body (the worker's building in scope; grids one may not see answer 422\n\
         `unknown_reference`, as every body reference does); `org_unit.log_compliance` is\n\
         `GET /api/v1/org-units/{id}/log-compliance` on the role's own unit; consultation = the compound in scope\n\
         (`consultation.read`: `GET /api/v1/org-units/{id}/consultation/items`; `consultation.manage`: `POST` the same).\n\n",
    );
    let ops: Vec<&str> = {
        let mut v: Vec<&str> = MATRIX.iter().map(|m| m.0).collect();
        v.dedup();
        v
    };
    out.push_str("| operation |");
    for (role, ..) in ACTORS {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str("\n|---|");
    for _ in ACTORS {
        out.push_str("---|");
    }
    out.push('\n');
    for op in ops {
        out.push_str(&format!("| `{op}` |"));
        for (role, ..) in ACTORS {
            let (_, _, e) = MATRIX.iter().find(|m| m.0 == op && m.1 == *role).unwrap();
            out.push_str(&format!(" {} / {} / {} |", e[0], e[1], e[2]));
        }
        out.push('\n');
    }
    out.push_str("\n## Routes and their declared access rules\n\n| method | path | access |\n|---|---|---|\n");
    for r in route_specs() {
        let roles = match r.access {
            Access::Scoped(op) => format!(" — roles: {}", op.roles().iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")),
            _ => String::new(),
        };
        out.push_str(&format!("| {} | `{}` | {}{roles} |\n", r.method, r.path, r.access.describe()));
    }
    out
}

#[test]
fn docs_permissions_md_is_generated_from_the_matrix() {
    let path = project_dir().join("docs/permissions.md");
    let rendered = render_permissions_doc();
    if std::env::var("GRIDLOOP_UPDATE_DOCS").is_ok() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == rendered, "docs/permissions.md is stale; run GRIDLOOP_UPDATE_DOCS=1 cargo test permission");
}

#[tokio::test]
async fn every_route_declares_an_access_rule_and_the_guard_enforces_it() {
    let app = TestApp::spawn().await;
    // The OpenAPI document is generated from the handlers; the route table is what is registered.
    // They must list the same routes, so that nothing is served that the table does not declare.
    let doc = app.get_ok_public("/api/v1/openapi.json").await;
    let mut documented: Vec<String> = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut declared: Vec<String> = route_specs().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    documented.sort();
    declared.sort();
    assert_eq!(documented, declared, "routes in the OpenAPI document and the route table differ");

    // Without credentials, every route that is not public answers 401 before its handler runs.
    for r in route_specs() {
        let path = r.path.replace("{id}", MISSING_ID).replace("{membership_id}", MISSING_ID);
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let resp = app.request(method, &path, None, Some(&json!({})), None).await;
        let status = resp.status();
        match r.access {
            Access::Public => assert_ne!(status, StatusCode::UNAUTHORIZED, "{} {} is public", r.method, r.path),
            _ => assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {} must need a login", r.method, r.path),
        }
        // The guard finds routes by comparing segments; a spelling the router may read the same
        // way (a percent-encoded letter) goes by the router's matching and is guarded all the same.
        if r.access != Access::Public && r.path.starts_with("/api/v1/") {
            let encoded = format!("/api/v1/%{:02X}{}", path.as_bytes()[8], &path[9..]);
            let method = Method::from_bytes(r.method.as_bytes()).unwrap();
            let status = app.request(method, &encoded, None, Some(&json!({})), None).await.status();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND,
                "{} {encoded}: {status}, must never reach its handler without a login",
                r.method
            );
        }
    }
}

/// The ids a list returns.
async fn listed_ids(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let body = app.get_ok(path, token).await;
    let mut ids: Vec<String> = body.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn lists_return_exactly_the_in_scope_set() {
    let (app, fx) = spawn_fixture().await;
    let units = |keys: &[&str]| {
        let mut v: Vec<String> = keys.iter().map(|k| fx.unit(k).to_string()).collect();
        v.sort();
        v
    };
    let people = |keys: &[&str]| {
        let mut v: Vec<String> = keys.iter().map(|k| fx.person(k).to_string()).collect();
        v.sort();
        v
    };
    let residents = |keys: &[&str]| {
        let mut v: Vec<String> = keys.iter().map(|k| fx.resident(k).to_string()).collect();
        v.sort();
        v
    };
    // (login, org units, people, residents)
    type Case<'a> = (&'a str, Vec<String>, Vec<String>, Vec<String>);
    let cases: &[Case] = &[
        ("gw1", units(&["B1"]), people(&["gw1"]), residents(&["r1"])),
        ("bs1", units(&["Y1", "B1"]), people(&["bs1", "gw1", "gw1b", "yw1", "wy1"]), residents(&["r1"])),
        ("cs1", units(&["K1", "Y1", "B1"]), people(&["cs1", "bs1", "gw1", "gw1b", "yw1", "wy1"]), residents(&["r1"])),
        ("dl1", units(&["P1"]), people(&["dl1"]), residents(&[])),
        (
            "sup1",
            units(&["D1", "S1", "K1", "Y1", "B1", "P1", "P3"]),
            people(&["admin1", "sup1", "cs1", "bs1", "gw1", "gw1b", "dl1", "dl1b", "dl3", "yw1", "wy1"]),
            residents(&["r1"]),
        ),
        (
            "admin1",
            units(&["D1", "S1", "K1", "Y1", "B1", "P1", "P3"]),
            people(&["admin1", "sup1", "cs1", "bs1", "gw1", "gw1b", "dl1", "dl1b", "dl3", "yw1", "wy1"]),
            residents(&[]),
        ),
    ];
    for (login, want_units, want_people, want_residents) in cases {
        let token = app.login(login, PASSWORD).await;
        assert_eq!(&listed_ids(&app, "/api/v1/org-units", &token).await, want_units, "org units of {login}");
        assert_eq!(&listed_ids(&app, "/api/v1/people", &token).await, want_people, "people of {login}");
        assert_eq!(&listed_ids(&app, "/api/v1/residents", &token).await, want_residents, "residents of {login}");
    }
}

impl TestApp {
    async fn get_ok_public(&self, path: &str) -> Value {
        let r = self.get(path, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}
