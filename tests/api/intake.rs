//! The filing intake's group commit: filings written together get exactly what each would get
//! alone, a failing batch falls back to one-by-one, and concurrent filings through HTTP stay
//! whole. Runs on both back ends like every test here.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::audit;
use gridloop::app::idempotency::request_hash;
use gridloop::app::intake::{write_batch, Filed, Filing, KeyRecord};
use gridloop::app::sla::SlaContext;
use gridloop::app::tickets::{check_filing, number_day, NewTicket};
use gridloop::app::utc_now;
use gridloop::db::schema::{audit_events, idempotency_keys, sla_clocks, tickets};

use crate::fixture::{actor, spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{calendars, TestApp};
use crate::tickets::new_ticket;

fn body_titled(fx: &Fixture, title: &str) -> Value {
    let mut b = new_ticket(fx);
    b["title"] = json!(title);
    b
}

/// The key record `POST /api/v1/tickets` makes of this body and key.
fn key_of(app: &TestApp, login: &str, fx: &Fixture, body: &Value, key: &str) -> KeyRecord {
    let input: NewTicket = serde_json::from_value(body.clone()).unwrap();
    KeyRecord {
        person_id: actor(&mut app.conn(), fx, login).person_id,
        key: key.into(),
        request_hash: request_hash("POST", "/api/v1/tickets", &serde_json::to_string(&input).unwrap()),
    }
}

fn checked(app: &TestApp, fx: &Fixture, login: &str, body: &Value, key: Option<KeyRecord>) -> Filing {
    let mut conn = app.conn();
    let a = actor(&mut conn, fx, login);
    let filing = check_filing(&mut conn, &a, serde_json::from_value(body.clone()).unwrap(), utc_now()).unwrap();
    Filing { actor: a, filing, key }
}

fn write(app: &TestApp, filings: Vec<Filing>) -> Vec<Filed> {
    let cals = calendars(&app.settings);
    let ctx = SlaContext { settings: &app.settings.sla, calendars: &cals };
    write_batch(&mut app.conn(), ctx, filings, utc_now()).into_iter().map(|r| r.unwrap()).collect()
}

fn fresh(f: &Filed) -> Value {
    match f {
        Filed::Fresh(body) => serde_json::from_str(body).unwrap(),
        Filed::Replay(_) => panic!("expected a fresh filing, got a replay"),
    }
}

fn count(app: &TestApp) -> (i64, i64, i64, i64) {
    let mut c = app.conn();
    (
        tickets::table.count().get_result(&mut c).unwrap(),
        sla_clocks::table.count().get_result(&mut c).unwrap(),
        audit_events::table.filter(audit_events::entity_kind.eq("ticket")).count().get_result(&mut c).unwrap(),
        idempotency_keys::table.count().get_result(&mut c).unwrap(),
    )
}

#[tokio::test]
async fn filings_written_together_get_what_each_would_get_alone() {
    let (app, fx) = spawn_fixture().await;
    let gw1 = app.login("gw1", PASSWORD).await;
    let bodies: Vec<Value> = (0..5).map(|i| body_titled(&fx, &format!("批量登记 {i}"))).collect();
    let mut filings = vec![];
    for (i, b) in bodies.iter().enumerate() {
        let login = if i % 2 == 0 { "gw1" } else { "gw1b" };
        let key = (i < 3).then(|| key_of(&app, login, &fx, b, &format!("batch-{i}")));
        filings.push(checked(&app, &fx, login, b, key));
    }
    let filed = write(&app, filings);
    let views: Vec<Value> = filed.iter().map(fresh).collect();

    let day = number_day(utc_now());
    let numbers: Vec<&str> = views.iter().map(|v| v["number"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=5).map(|n| format!("GL-{day}-{n:04}")).collect();
    assert_eq!(numbers, expected, "one counter update numbers the batch in order");
    assert_eq!(count(&app), (5, 5, 5, 3), "a ticket, a triage clock and a filing event each; a stored answer per key");
    let all: i64 = audit_events::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(audit::verify(&mut app.conn(), None).unwrap().unwrap().events, all, "the chain verifies, every event");

    for (i, v) in views.iter().enumerate() {
        assert_eq!(v["title"], format!("批量登记 {i}"));
        assert_eq!(v["state"], "at_compound");
        assert!(v["ticket_due_at"].is_string(), "the triage clock's deadline is on the ticket");
        assert!(v["due_at"].is_null(), "the filer holds no clock: no deadline of his own");
        let id = v["id"].as_str().unwrap();
        // What the batch answered is what the ticket reads as afterwards.
        if i % 2 == 0 {
            assert_eq!(&app.get_ok(&format!("/api/v1/tickets/{id}"), &gw1).await, v);
        }
        let timeline = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &gw1).await;
        let events = timeline.as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["action"], "file");
        assert_eq!(events[0]["actor_id"], actor(&mut app.conn(), &fx, if i % 2 == 0 { "gw1" } else { "gw1b" }).person_id.to_string());
        let clock_due: Vec<chrono::NaiveDateTime> =
            sla_clocks::table.filter(sla_clocks::ticket_id.eq(id)).select(sla_clocks::due_at).load(&mut app.conn()).unwrap();
        assert_eq!(clock_due.len(), 1);
        assert_eq!(crate::helpers::instant(&v["ticket_due_at"]), clock_due[0]);
    }

    // A retry through HTTP of a request the batch wrote replays the batch's answer.
    let r = app
        .client
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&gw1)
        .header("Idempotency-Key", "batch-0")
        .json(&bodies[0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.json::<Value>().await.unwrap(), views[0]);
    assert_eq!(count(&app).0, 5);
}

#[tokio::test]
async fn a_failing_batch_is_written_one_by_one_and_twins_replay() {
    let (app, fx) = spawn_fixture().await;
    let gw1 = app.login("gw1", PASSWORD).await;
    // A key answered before: writing the batch hits its stored answer and fails as a whole.
    let old = body_titled(&fx, "早先登记");
    let r =
        app.client.post(app.url("/api/v1/tickets")).bearer_auth(&gw1).header("Idempotency-Key", "k-old").json(&old).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    let before = count(&app);

    let a = body_titled(&fx, "甲");
    let d = body_titled(&fx, "丁");
    let filings = vec![
        checked(&app, &fx, "gw1", &a, Some(key_of(&app, "gw1", &fx, &a, "k-a"))),
        // The same request twice in one batch (a retry that overtook its original).
        checked(&app, &fx, "gw1", &a, Some(key_of(&app, "gw1", &fx, &a, "k-a"))),
        // A retry of the earlier request, checked before its key was seen.
        checked(&app, &fx, "gw1", &old, Some(key_of(&app, "gw1", &fx, &old, "k-old"))),
        checked(&app, &fx, "gw1b", &d, None),
    ];
    let filed = write(&app, filings);
    let va = fresh(&filed[0]);
    match &filed[1] {
        Filed::Replay(s) => assert_eq!(serde_json::from_str::<Value>(&s.body).unwrap(), va, "the twin replays the first"),
        Filed::Fresh(_) => panic!("the twin was filed twice"),
    }
    match &filed[2] {
        Filed::Replay(s) => assert_eq!(serde_json::from_str::<Value>(&s.body).unwrap(), first),
        Filed::Fresh(_) => panic!("a stored key was filed again"),
    }
    let vd = fresh(&filed[3]);
    assert_eq!(vd["title"], "丁");
    assert_ne!(va["number"], vd["number"]);
    assert_eq!(
        count(&app),
        (before.0 + 2, before.1 + 2, before.2 + 2, before.3 + 1),
        "two new tickets, each whole; nothing of the failed batch left"
    );
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn many_concurrent_filings_each_get_one_ticket_and_a_number_of_their_own() {
    let (app, fx) = spawn_fixture().await;
    let (gw1, gw2) = (app.login("gw1", PASSWORD).await, app.login("gw2", PASSWORD).await);
    let before = count(&app);
    let send = |i: usize| {
        let (token, mut body) =
            if i % 2 == 0 { (&gw1, body_titled(&fx, &format!("并发 {i}"))) } else { (&gw2, body_titled(&fx, &format!("并发 {i}"))) };
        if i % 2 == 1 {
            body["building_id"] = json!(fx.unit("B2"));
            body["resident_name"] = json!("居民r2");
        }
        // Every third request is sent twice under one key, as a retry racing its original.
        let key = format!("c-{}", if i % 3 == 0 { i / 3 * 3 } else { i });
        let req = app.client.post(app.url("/api/v1/tickets")).bearer_auth(token).header("Idempotency-Key", key).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    // Requests 0..24, plus a second copy of 0, 3, 6, … under the same key and body.
    let mut futures: Vec<_> = (0..24).map(send).collect();
    futures.extend((0..24).step_by(3).map(send));
    let answers = futures_util::future::join_all(futures).await;
    for (status, v) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{v}");
    }
    let ids: std::collections::BTreeSet<&str> = answers.iter().map(|(_, v)| v["id"].as_str().unwrap()).collect();
    let numbers: std::collections::BTreeSet<&str> = answers.iter().map(|(_, v)| v["number"].as_str().unwrap()).collect();
    assert_eq!((ids.len(), numbers.len()), (24, 24), "24 requests, 24 tickets with numbers of their own; the retries replayed");
    assert_eq!(count(&app), (before.0 + 24, before.1 + 24, before.2 + 24, before.3 + 24));
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn each_request_of_a_batch_gets_its_own_answer_replay_or_error() {
    use gridloop::app::intake::{file_batch, Request};
    use gridloop::app::AppError;
    let (app, fx) = spawn_fixture().await;
    let gw1 = app.login("gw1", PASSWORD).await;
    let old = body_titled(&fx, "早先登记");
    let r =
        app.client.post(app.url("/api/v1/tickets")).bearer_auth(&gw1).header("Idempotency-Key", "k-old").json(&old).send().await.unwrap();
    let first: Value = r.json().await.unwrap();
    let before = count(&app);

    let request = |login: &str, body: &Value, key: Option<&str>| Request {
        actor: actor(&mut app.conn(), &fx, login),
        input: serde_json::from_value(body.clone()).unwrap(),
        key: key.map(|k| key_of(&app, login, &fx, body, k)),
    };
    let mut bad_category = body_titled(&fx, "类别不存在");
    bad_category["category_id"] = json!(gridloop::domain::Id::new().to_string());
    let mut other_grid = body_titled(&fx, "别人的网格");
    other_grid["building_id"] = json!(fx.unit("B2"));
    let requests = vec![
        request("gw1", &body_titled(&fx, "甲"), Some("k-a")),
        request("gw1", &old, Some("k-old")),
        request("gw1", &bad_category, None),
        request("gw1", &body_titled(&fx, "换了内容"), Some("k-old")),
        request("gw1", &other_grid, None),
        request("gw2", &other_grid, Some("k-b")),
    ];
    let cals = calendars(&app.settings);
    let ctx = SlaContext { settings: &app.settings.sla, calendars: &cals };
    let answers = file_batch(&mut app.conn(), ctx, requests, utc_now());
    assert_eq!(fresh(answers[0].as_ref().unwrap())["title"], "甲");
    match answers[1].as_ref().unwrap() {
        Filed::Replay(s) => assert_eq!(serde_json::from_str::<Value>(&s.body).unwrap(), first),
        Filed::Fresh(_) => panic!("a stored key was filed again"),
    }
    assert!(
        matches!(&answers[2], Err(AppError::UnknownReference { field, .. }) if field == "category_id"),
        "{:?}",
        answers[2].as_ref().err()
    );
    assert!(matches!(&answers[3], Err(AppError::IdempotencyKeyReused)), "{:?}", answers[3].as_ref().err());
    assert!(matches!(&answers[4], Err(AppError::UnknownReference { field, .. }) if field == "building_id"), "gw1 cannot file for B2");
    let b = fresh(answers[5].as_ref().unwrap());
    assert_eq!(b["place_id"], json!(fx.unit("B2")));
    assert_eq!(count(&app), (before.0 + 2, before.1 + 2, before.2 + 2, before.3 + 2), "the two good filings, nothing of the rest");
}

#[tokio::test]
async fn a_transaction_over_several_chains_locks_its_tickets_then_all_its_chains_up_front() {
    use diesel::connection::SimpleConnection;
    use gridloop::db::DbConn;
    use gridloop::domain::audit::shard_of;
    let (app, fx) = spawn_fixture().await;
    let gw1 = app.login("gw1", PASSWORD).await;
    let revisited = crate::tickets::file(&app, &gw1, &new_ticket(&fx)).await["id"].as_str().unwrap().to_string();
    let ids = ["visit-log-a", "ticket-b", "ticket-c"];
    let mut holder = app.conn();
    let mut other = app.conn();
    let postgres = matches!(&holder, DbConn::Postgresql(_));
    holder
        .transaction(|c| {
            // The service's lock order: existing ticket rows first, then the chains.
            gridloop::app::tickets::lock_rows(c, &[revisited.parse().unwrap()]).unwrap();
            audit::lock_chains(c, ids).unwrap();
            if postgres {
                let r = other.batch_execute(&format!("SELECT id FROM tickets WHERE id = '{revisited}' FOR UPDATE NOWAIT"));
                assert!(r.is_err(), "the revisited ticket's row is not locked");
                // Every chain involved is held: another writer cannot take any of them now.
                for id in ids {
                    let r = other.batch_execute(&format!("SELECT shard FROM audit_heads WHERE shard = {} FOR UPDATE NOWAIT", shard_of(id)));
                    assert!(r.is_err(), "chain of {id} is not locked");
                }
                let free = (0..64).find(|s| !ids.iter().any(|id| shard_of(id) == *s)).unwrap();
                other.batch_execute(&format!("SELECT shard FROM audit_heads WHERE shard = {free} FOR UPDATE NOWAIT")).unwrap();
            }
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();
}
