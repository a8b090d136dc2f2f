//! A NUL character (U+0000) in any text the API takes — a JSON body's strings, a query
//! parameter, a path segment, a CSV import, the login — is refused at the edge with 400
//! `nul_character` naming the field, before anything reaches the database: PostgreSQL cannot
//! store it in TEXT (it answered 500 "invalid byte sequence"), SQLite stored it. The list of
//! fields is not written here: it is read from the served OpenAPI document, every operation's
//! path and query parameters and every string its request body can carry.

use std::collections::BTreeMap;

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use gridloop::db::backend;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::TestApp;

/// Rows and summed versions per table: what a refused request must leave as it was. Sessions and
/// login attempts are left out (a login and each request's session touch write there).
fn snapshot(app: &TestApp) -> BTreeMap<String, (i64, i64)> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.conn();
    let mut out = BTreeMap::new();
    for table in backend::live_tables(&mut conn).unwrap() {
        if matches!(table.as_str(), "sessions" | "login_attempts" | "login_usual_addresses" | "login_throttle") {
            continue;
        }
        let has_version = backend::live_columns(&mut conn, &table).unwrap().iter().any(|(c, _, _)| c == "version");
        let count = diesel::sql_query(format!("SELECT CAST(count(*) AS BIGINT) AS n FROM {table}")).get_result::<N>(&mut conn).unwrap().n;
        let versions = if has_version {
            diesel::sql_query(format!("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS n FROM {table}"))
                .get_result::<N>(&mut conn)
                .unwrap()
                .n
        } else {
            0
        };
        out.insert(table, (count, versions));
    }
    out
}

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(doc, doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {r}"))),
        None => schema,
    }
}

/// A plausible value for a string named `name`: real fixture ids where an id is expected, so that
/// without the edge check the request would reach the database.
fn sample_text(fx: &Fixture, name: &str) -> String {
    match name {
        "category_id" => fx.category.clone(),
        "lead_department_id" | "department_id" | "default_department_id" => fx.unit("P1").into(),
        "resident_id" => fx.resident("r1").into(),
        "org_unit_id" | "parent_id" | "within" | "compound_id" => fx.unit("Y1").into(),
        "client_id" | "duplicate_of" => uuid::Uuid::now_v7().to_string(),
        n if n.ends_with("_id") => fx.unit("B1").into(),
        "login" => "nul.tester".into(),
        "password" => "a-long-password-9".into(),
        n if n.contains("phone") => "13700001234".into(),
        "id_number" => "11010519491231002X".into(),
        "code" => "NUL-TEST".into(),
        "unit_no" => "1".into(),
        "room" => "101".into(),
        _ => "测试文字".into(),
    }
}

/// Example instances of a schema: one, or one per variant of a `oneOf`/`anyOf` (a tagged enum
/// such as the ticket actions), each with every property present.
fn instances(doc: &Value, fx: &Fixture, schema: &Value, name: &str) -> Vec<Value> {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema[key].as_array() {
            return variants.iter().filter(|v| resolve(doc, v)["type"] != "null").flat_map(|v| instances(doc, fx, v, name)).collect();
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for p in parts {
            if let Some(Value::Object(o)) = instances(doc, fx, p, name).into_iter().next() {
                merged.extend(o);
            }
        }
        return vec![Value::Object(merged)];
    }
    if let Some(values) = schema["enum"].as_array() {
        return vec![values.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null)];
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).find(|t| *t != "null").unwrap_or("null").to_string(),
        _ if schema["properties"].is_object() => "object".into(),
        _ => "null".into(),
    };
    let today = chrono::Utc::now().date_naive();
    vec![match ty.as_str() {
        "object" => {
            let mut o = Map::new();
            for (k, s) in schema["properties"].as_object().into_iter().flatten() {
                o.insert(k.clone(), instances(doc, fx, s, k).into_iter().next().unwrap_or(Value::Null));
            }
            if schema["additionalProperties"].is_object() {
                let v = instances(doc, fx, &schema["additionalProperties"], name).into_iter().next().unwrap_or(Value::Null);
                o.insert("key".into(), v);
            }
            Value::Object(o)
        }
        "array" => Value::Array(instances(doc, fx, &schema["items"], name).into_iter().take(1).collect()),
        "string" => match schema["format"].as_str() {
            Some("date") => json!(today.to_string()),
            Some("date-time") => json!(chrono::Utc::now().naive_utc()),
            _ => json!(sample_text(fx, name)),
        },
        "integer" | "number" => json!(if name == "year" { 2026 } else { 1 }),
        "boolean" => json!(false),
        _ => Value::Null,
    }]
}

/// JSON pointers of every string in `v`.
fn strings(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::String(_) => out.push(at.to_string()),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| strings(x, &format!("{at}/{i}"), out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)),
        _ => {}
    }
}

/// A parameter's schema carries text (a string, or an array of strings).
fn is_text(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => vec![],
    };
    types.contains(&"string")
        || (types.contains(&"array") && is_text(doc, &s["items"]))
        || s["oneOf"].as_array().is_some_and(|v| v.iter().any(|x| is_text(doc, x)))
        || s["enum"].is_array()
}

/// A request path for an OpenAPI path: each parameter filled in, the one named `nul` (if any)
/// carrying a percent-encoded NUL.
fn fill_path(path: &str, nul: Option<&str>) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if Some(name) == nul => "x%00y".to_string(),
            Some("year") => "2026".to_string(),
            Some("name") => "cn".to_string(),
            Some(_) => "01a2183a-4e2e-7018-bccf-fe7848ae3a3e".to_string(),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Alternates the language, so that both messages are seen on every kind of input.
fn lang(n: usize) -> &'static str {
    if n % 2 == 0 {
        "zh-CN"
    } else {
        "en"
    }
}

/// Asserts 400 `nul_character` with `field`, and a message naming it in the caller's language.
async fn assert_refused(what: &str, r: reqwest::Response, field: &str, lang: &str) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["code"], "nul_character", "{what}: {body}");
    assert_eq!(body["field"], field, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(message.contains(field), "{what}: the message names the field: {body}");
    let expected = if lang == "en" { "NUL character" } else { "空字符" };
    assert!(message.contains(expected), "{what}: the message is in {lang}: {body}");
}

#[tokio::test]
async fn a_nul_character_in_any_text_of_any_route_is_refused_naming_the_field_and_nothing_is_stored() {
    let (app, fx) = spawn_fixture().await;
    let root = app.login("root", PASSWORD).await;
    let doc: Value = app.get("/api/v1/openapi.json", None).await.json().await.unwrap();
    let before = snapshot(&app);
    let mut tried = BTreeMap::<&str, usize>::new();
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // An outside system's route checks its key and signature before it reads the body (a
            // stranger's body is never parsed): its NUL refusal is tried signed, in outside.rs.
            if op["security"].to_string().contains("client_key") {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let send = |path: String, body: Option<Value>, lang: &'static str| {
                let mut req = app.client.request(m.clone(), app.url(&path)).bearer_auth(&root).header("Accept-Language", lang);
                if let Some(b) = body {
                    req = req.json(&b);
                }
                req.send()
            };
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                // A parameter the document places in the path although the path has no such
                // segment can only be read from the query.
                let place = match p["in"].as_str() {
                    Some("path") if !path.contains(&format!("{{{name}}}")) => Some("query"),
                    other => other,
                };
                match place {
                    Some("path") => {
                        let l = lang(n);
                        let r = send(fill_path(path, Some(name)), None, l).await.unwrap();
                        assert_refused(&format!("{method} {path}, path parameter {name}"), r, name, l).await;
                        *tried.entry("path parameters").or_default() += 1;
                        n += 1;
                    }
                    Some("query") if is_text(&doc, &p["schema"]) => {
                        let l = lang(n);
                        let r = send(format!("{}?{name}=a%00b", fill_path(path, None)), None, l).await.unwrap();
                        assert_refused(&format!("{method} {path}, query parameter {name}"), r, name, l).await;
                        *tried.entry("query parameters").or_default() += 1;
                        n += 1;
                    }
                    _ => {}
                }
            }
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() else { continue };
            for instance in instances(&doc, &fx, &Value::Object(schema.clone()), "") {
                let mut pointers = vec![];
                strings(&instance, "", &mut pointers);
                for pointer in pointers {
                    let mut body = instance.clone();
                    let v = body.pointer_mut(&pointer).unwrap();
                    *v = json!(format!("{}\u{0}", v.as_str().unwrap()));
                    let l = lang(n);
                    let r = send(fill_path(path, None), Some(body), l).await.unwrap();
                    assert_refused(&format!("{method} {path}, body field {pointer}"), r, &pointer, l).await;
                    *tried.entry("body fields").or_default() += 1;
                    n += 1;
                }
            }
        }
    }
    eprintln!("refused NUL in: {tried:?}");
    assert!(tried["path parameters"] >= 20 && tried["query parameters"] >= 10 && tried["body fields"] >= 50, "{tried:?}");
    assert_eq!(snapshot(&app), before, "nothing was stored");
}

#[tokio::test]
async fn a_nul_character_in_the_login_the_csv_import_or_a_key_is_refused_and_an_escaped_backslash_is_not() {
    let (app, fx) = spawn_fixture().await;
    let before = snapshot(&app);
    // The public login: no token needed to reach it, and no attempt is recorded.
    let attempts = |app: &TestApp| -> i64 { gridloop::db::schema::login_attempts::table.count().get_result(&mut app.conn()).unwrap() };
    let tried_before = attempts(&app);
    let r = app.post_json("/api/v1/auth/login", None, &json!({"login": "gw1\u{0}", "password": PASSWORD})).await;
    assert_refused("login", r, "/login", "zh-CN").await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("Accept-Language", "en")
        .json(&json!({"login": "gw1", "password": format!("{PASSWORD}\u{0}")}))
        .send()
        .await
        .unwrap();
    assert_refused("password", r, "/password", "en").await;
    assert_eq!(attempts(&app), tried_before, "no login attempt was recorded");

    // A CSV import: the message names the line.
    let bs1 = app.login("bs1", PASSWORD).await;
    let csv = "building_code,unit_no,room,name,phone,id_number,kind\n\
               T-B1,1,201,张三,13700000201,,ordinary\n\
               T-B1,1,202,李\u{0}四,13700000202,,ordinary\n";
    for (lang, line) in [("zh-CN", "第 3 行"), ("en", "line 3")] {
        let r = app
            .client
            .post(app.url("/api/v1/residents/import"))
            .bearer_auth(&bs1)
            .header("Content-Type", "text/csv")
            .header("Accept-Language", lang)
            .body(csv)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("nul_character")), "{body}");
        assert!(body["message"].as_str().unwrap().contains(line), "{body}");
    }

    // A NUL in a key of the body is refused too, not only in values.
    let mut t = crate::tickets::new_ticket(&fx);
    t.as_object_mut().unwrap().insert("ti\u{0}tle".into(), json!("x"));
    let gw1 = app.login("gw1", PASSWORD).await;
    let r = app.post_json("/api/v1/tickets", Some(&gw1), &t).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "nul_character", "{body}");
    assert_eq!(snapshot(&app), before, "nothing was stored");

    // `\\u0000` in JSON is a backslash followed by "u0000": text like any other.
    let mut t = crate::tickets::new_ticket(&fx);
    t["title"] = json!("路径 C:\\u0000 与反斜杠");
    let filed = crate::tickets::file(&app, &gw1, &t).await;
    assert_eq!(filed["title"], "路径 C:\\u0000 与反斜杠");
}

#[tokio::test]
async fn json_bodies_keep_their_size_limit_and_content_type_rule() {
    let (app, fx) = spawn_fixture().await;
    let gw1 = app.login("gw1", PASSWORD).await;
    let mut t = crate::tickets::new_ticket(&fx);
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client.post(app.url("/api/v1/tickets")).bearer_auth(&gw1).header("Content-Type", content_type).body(body).send()
    };
    // Over 256 KiB: 413.
    t["description"] = json!("噪".repeat(100_000));
    let r = post(serde_json::to_vec(&t).unwrap(), "application/json").await.unwrap();
    crate::helpers::assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Not JSON by its type, malformed, or missing a field: 400 bad_request.
    let ok = serde_json::to_vec(&crate::tickets::new_ticket(&fx)).unwrap();
    let r = post(ok.clone(), "text/plain").await.unwrap();
    crate::helpers::assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = post(b"{\"title\": ".to_vec(), "application/json").await.unwrap();
    crate::helpers::assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = post(b"{}".to_vec(), "application/json").await.unwrap();
    crate::helpers::assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    // A `+json` type is JSON, as with actix's own extractor.
    let r = post(ok, "application/merged-patch+json; charset=utf-8").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}
