//! Residents' personal data: masked for everyone, revealed only on an explicit, recorded action,
//! and never written to the log.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::db::schema::pii_reveals;

use crate::fixture::{spawn_fixture, PASSWORD};
use crate::helpers::assert_error;

#[tokio::test]
async fn phones_and_id_numbers_are_masked_in_every_read() {
    let (app, fx) = spawn_fixture().await;
    for login in ["gw1", "bs1", "cs1", "sup1"] {
        let token = app.login(login, PASSWORD).await;
        let one = app.get_ok(&format!("/api/v1/residents/{}", fx.resident("r1")), &token).await;
        let list = app.get_ok("/api/v1/residents", &token).await;
        for r in [&one, &list[0]] {
            assert_eq!(r["phone_masked"], "137****5678", "{login}: {r}");
            assert_eq!(r["id_number_masked"], "1101**********002X", "{login}: {r}");
            assert!(
                !r.to_string().contains("13712345678") && !r.to_string().contains("11010519491231002X"),
                "{login} saw unmasked data: {r}"
            );
        }
    }
}

#[tokio::test]
async fn a_reveal_shows_the_data_and_records_who_looked_in_which_role() {
    let (app, fx) = spawn_fixture().await;
    let worker = app.login("gw1", PASSWORD).await;
    let path = format!("/api/v1/residents/{}/reveal", fx.resident("r1"));
    let r = app.post_json(&path, Some(&worker), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let revealed: Value = r.json().await.unwrap();
    assert_eq!(revealed["phone"], "13712345678");
    assert_eq!(revealed["id_number"], "11010519491231002X");

    let rows: Vec<(String, String, String, String, String)> = pii_reveals::table
        .select((pii_reveals::person_id, pii_reveals::role, pii_reveals::org_unit_id, pii_reveals::record_id, pii_reveals::fields))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        rows,
        vec![(fx.person("gw1").into(), "grid_worker".into(), fx.unit("B1").into(), fx.resident("r1").into(), "phone,id_number".into())]
    );
    // The secretary can read the record of reveals; a supervisor may look at it too but not reveal.
    let bs = app.login("bs1", PASSWORD).await;
    let log = app.get_ok(&format!("/api/v1/residents/{}/reveals", fx.resident("r1")), &bs).await;
    assert_eq!(log[0]["person_id"], fx.person("gw1"));
    let sup = app.login("sup1", PASSWORD).await;
    assert_error(app.post_json(&path, Some(&sup), &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    let count: i64 = pii_reveals::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1, "a refused reveal is not a reveal");
}

#[tokio::test]
async fn a_grid_worker_registers_residents_only_in_his_own_building() {
    let (app, fx) = spawn_fixture().await;
    let worker = app.login("gw1", PASSWORD).await;
    let body = |b: &str| json!({"building_id": b, "name": "新住户", "phone": "13700001111", "unit_no": "2", "room": "301", "kind": "party_member_household"});
    let r = app.post_json("/api/v1/residents", Some(&worker), &body(fx.unit("B1"))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["phone_masked"], "137****1111");
    let r = app.post_json("/api/v1/residents", Some(&worker), &body(fx.unit("B2"))).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    let mut bad = body(fx.unit("B1"));
    bad["id_number"] = json!("110105194912310021");
    let e =
        assert_error(app.post_json("/api/v1/residents", Some(&worker), &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    assert_eq!(e["field"], "id_number");
}

#[test]
fn the_server_log_never_carries_residents_data() {
    // Runs the real binary with logging at debug, reveals and searches, then reads its log.
    let db = crate::helpers::TestDb::new();
    let mut server = crate::cli::Server::start(&db, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = crate::helpers::Api::new(&server.base);
        let token = app.login("gw.wang", gridloop::app::demo::DEMO_PASSWORD).await;
        let list = app.get_ok("/api/v1/residents?q=%E6%9D%8E", &token).await;
        let id = list[0]["id"].as_str().unwrap().to_string();
        let r = app.post_json(&format!("/api/v1/residents/{id}/reveal"), Some(&token), &json!({})).await;
        let revealed: Value = r.json().await.unwrap();
        let phone = revealed["phone"].as_str().unwrap().to_string();
        let idn = revealed["id_number"].as_str().unwrap().to_string();
        let name = list[0]["name"].as_str().unwrap().to_string();
        // The resident's requests about his data, answered by the admin: the look-up and the
        // erasure carry his number in their bodies, never into the log.
        let admin = app.login("admin", gridloop::app::demo::DEMO_PASSWORD).await;
        let request = json!({"phone": phone, "reference": "PIPL-LOG-1"});
        let r = app.post_json("/api/v1/personal-data/access", Some(&admin), &request).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains(&phone), "the copy holds the number");
        let r = app.post_json("/api/v1/personal-data/erasure", Some(&admin), &request).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let log = server.stop_and_read_log();
        assert!(log.contains("/api/v1/personal-data/erasure"), "the request log is on: {log}");
        assert!(log.contains("/api/v1/residents"), "the request log is on: {log}");
        // The search went out as ?q=%E6%9D%8E: neither the query nor its value may be logged.
        for secret in [phone.as_str(), idn.as_str(), name.as_str(), token.as_str(), "%E6%9D%8E", "q="] {
            assert!(!log.contains(secret), "the log carries personal data, a query string or a token");
        }
    });
}

#[tokio::test]
async fn a_ledger_file_imports_whole_or_not_at_all_and_names_every_bad_row() {
    let (app, _) = spawn_fixture().await;
    let worker = app.login("gw1", PASSWORD).await;
    let post = |body: &'static str, key: Option<&'static str>| {
        let mut r = app.client.post(app.url("/api/v1/residents/import")).bearer_auth(&worker).header("content-type", "text/csv").body(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let count = || gridloop::db::schema::residents::table.count().get_result::<i64>(&mut app.conn()).unwrap();
    let before = count();
    let bad = "building_code,unit_no,room,name,phone,id_number,kind\n\
               T-B1,1,201,张大爷,13700002222,,独居老人\n\
               T-NOPE,1,202,李四,,,ordinary\n\
               T-B1,2,301,王阿姨,,11010519491231002X,党员中心户\n\
               T-B1,2,302,赵五,12345,,ordinary\n\
               T-B2,1,101,越权,,,ordinary\n\
               T-B1,3,101,钱六,,,vip\n";
    let r = post(bad, None).await.unwrap();
    let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    let lines: Vec<u64> = e["errors"].as_array().unwrap().iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 5, 6, 7], "{e}");
    assert!(e["errors"][1]["reason"].as_str().unwrap().starts_with("phone"), "{e}");
    assert!(e["errors"][2]["reason"].as_str().unwrap().contains("T-B2"), "outside his grid reads like missing: {e}");
    assert_eq!(count(), before, "a file with errors imports nothing");

    let good = "building_code,unit_no,room,name,phone,id_number,kind\n\
                T-B1,1,201,张大爷,13700002222,,独居老人\n\
                T-B1,2,301,王阿姨,,11010519491231002X,党员中心户\n";
    let r = post(good, Some("ledger-2026-11")).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["imported"], 2);
    assert_eq!(count(), before + 2);
    let listed = app.get_ok("/api/v1/residents?q=%E5%BC%A0", &worker).await;
    assert_eq!(listed[0]["kind"], "elderly_alone");
    assert_eq!(listed[0]["phone_masked"], "137****2222");
    // A retry of the same upload replays; without the key it meets the already registered rows.
    let r = post(good, Some("ledger-2026-11")).await.unwrap();
    assert_eq!((r.status(), r.headers().contains_key("idempotent-replayed")), (StatusCode::CREATED, true));
    let e = assert_error(post(good, None).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    assert!(e["errors"][0]["reason"].as_str().unwrap().contains("已登记"), "{e}");
    assert_eq!(count(), before + 2);
    let e = assert_error(post("name,room\n张,1\n", None).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(e["field"], "file");

    // Each address is one household (户); a second resident at 2-301 joins it, and a kind that
    // needs closer care (elderly living alone over a Party-member household) raises the household's.
    let more = "building_code,unit_no,room,name,phone,id_number,kind\n\
                T-B1,2,301,王大爷,,,独居老人\n";
    assert_eq!(post(more, None).await.unwrap().status(), StatusCode::CREATED);
    let at_301 = app.get_ok("/api/v1/residents?q=301", &worker).await;
    let homes: std::collections::BTreeSet<&str> = at_301.as_array().unwrap().iter().map(|r| r["household_id"].as_str().unwrap()).collect();
    assert_eq!((at_301.as_array().unwrap().len(), homes.len()), (2, 1), "{at_301}");
    let h = app.get_ok(&format!("/api/v1/households/{}", homes.iter().next().unwrap()), &worker).await;
    assert_eq!((h["kind"].as_str(), h["residents"].as_i64(), h["visit_every_days"].as_i64()), (Some("elderly_alone"), Some(2), Some(7)));
}
