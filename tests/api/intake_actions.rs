//! State changes through the intake: actions taken together (one transaction for many tickets)
//! get exactly what each would get alone, a refused action changes nothing and fails none of the
//! others, a round that fails as a whole is taken one by one, and concurrent actions through HTTP
//! never overwrite each other. Runs on both back ends like every test here.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use gridloop::app::audit;
use gridloop::app::idempotency::request_hash;
use gridloop::app::intake::{act_batch, ActJob, Filed, KeyRecord};
use gridloop::app::sla::SlaContext;
use gridloop::app::tickets::{ActRequest, ActionRequest};
use gridloop::app::{utc_now, AppError};
use gridloop::db::schema::{audit_events, sla_clocks, sla_policies, tickets};

use crate::fixture::{actor, spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{calendars, TestApp};
use crate::tickets::{file, new_ticket};

async fn file_some(app: &TestApp, fx: &Fixture, n: usize) -> Vec<String> {
    let gw1 = app.login("gw1", PASSWORD).await;
    let mut ids = vec![];
    for i in 0..n {
        let mut b = new_ticket(fx);
        b["title"] = json!(format!("一并办理 {i}"));
        ids.push(file(app, &gw1, &b).await["id"].as_str().unwrap().to_string());
    }
    ids
}

fn job(app: &TestApp, fx: &Fixture, login: &str, id: &str, version: i64, action: Value, key: Option<&str>) -> ActJob {
    let a = actor(&mut app.conn(), fx, login);
    let action: ActionRequest = serde_json::from_value(action).unwrap();
    // The record `POST /api/v1/tickets/{id}/actions` makes of this key and body.
    let key = key.map(|k| KeyRecord {
        person_id: a.person_id,
        key: k.into(),
        request_hash: request_hash(
            "POST",
            &format!("/api/v1/tickets/{id}/actions"),
            &format!("{version}|{}", serde_json::to_string(&action).unwrap()),
        ),
    });
    ActJob { request: ActRequest { actor: a, ticket_id: id.parse().unwrap(), version: Some(version), action }, key }
}

fn run(app: &TestApp, jobs: Vec<ActJob>) -> Vec<Result<Filed, AppError>> {
    let cals = calendars(&app.settings);
    let ctx = SlaContext { settings: &app.settings.sla, calendars: &cals };
    act_batch(&mut app.conn(), ctx, jobs, utc_now())
}

fn fresh(a: &Result<Filed, AppError>) -> Value {
    match a {
        Ok(Filed::Fresh(body)) => serde_json::from_str(body).unwrap(),
        other => panic!("expected a fresh answer, got {:?}", other.as_ref().map(|_| "a replay")),
    }
}

/// (state, version) of a ticket.
fn row(app: &TestApp, id: &str) -> (String, i64) {
    tickets::table.find(id).select((tickets::state, tickets::version)).first(&mut app.conn()).unwrap()
}

fn events(app: &TestApp, id: &str) -> Vec<String> {
    audit_events::table
        .filter(audit_events::entity_id.eq(id))
        .order((audit_events::at, audit_events::seq))
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap()
}

fn running_stages(app: &TestApp, id: &str) -> Vec<String> {
    let mut s: Vec<String> = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq(id))
        .filter(sla_clocks::stopped_at.is_null())
        .select(sla_clocks::stage)
        .load(&mut app.conn())
        .unwrap();
    s.sort();
    s
}

#[tokio::test]
async fn actions_taken_together_get_what_each_would_get_alone() {
    let (app, fx) = spawn_fixture().await;
    let t = file_some(&app, &fx, 5).await;
    let jobs = vec![
        job(&app, &fx, "bs1", &t[0], 1, json!({"action": "accept_at_compound"}), Some("a-0")),
        job(&app, &fx, "bs1", &t[1], 1, json!({"action": "report_to_community", "reason": "需社区协调"}), None),
        job(&app, &fx, "bs1", &t[2], 9, json!({"action": "accept_at_compound"}), None),
        job(&app, &fx, "bs1", &t[3], 1, json!({"action": "decline", "reason": " "}), None),
        // A second action on t0 follows the first, in a later round, and sees its version.
        job(&app, &fx, "bs1", &t[0], 2, json!({"action": "mark_solved", "resolution": "已清理"}), None),
        job(&app, &fx, "gw1", &t[4], 1, json!({"action": "accept_at_compound"}), None),
        job(&app, &fx, "bs2", &t[4], 1, json!({"action": "accept_at_compound"}), None),
    ];
    let answers = run(&app, jobs);

    let first = fresh(&answers[0]);
    assert_eq!((first["state"].as_str(), first["version"].as_i64()), (Some("compound_handling"), Some(2)));
    let reported = fresh(&answers[1]);
    assert_eq!(reported["state"], "at_community");
    // The answer is the ticket as a GET shows it afterwards to the same person.
    let bs1 = app.login("bs1", PASSWORD).await;
    assert_eq!(app.get_ok(&format!("/api/v1/tickets/{}", t[1]), &bs1).await, reported);
    assert!(matches!(answers[2], Err(AppError::VersionConflict { given: 9, current: 1 })), "{:?}", answers[2].as_ref().err());
    assert!(matches!(&answers[3], Err(AppError::Validation { field, .. }) if field == "reason"), "{:?}", answers[3].as_ref().err());
    let solved = fresh(&answers[4]);
    assert_eq!((solved["state"].as_str(), solved["version"].as_i64()), (Some("solved"), Some(3)));
    assert!(matches!(answers[5], Err(AppError::Forbidden { .. })), "a grid worker cannot accept: {:?}", answers[5].as_ref().err());
    assert!(
        matches!(answers[6], Err(AppError::NotFound { .. })),
        "another compound's secretary sees nothing: {:?}",
        answers[6].as_ref().err()
    );

    // What was written: the done actions in full, nothing of the refused ones.
    assert_eq!(row(&app, &t[0]), ("solved".into(), 3));
    assert_eq!(events(&app, &t[0]), ["file", "accept_at_compound", "mark_solved"]);
    assert_eq!(running_stages(&app, &t[0]), ["return_visit"]);
    assert_eq!(row(&app, &t[1]), ("at_community".into(), 2));
    assert_eq!(events(&app, &t[1]), ["file", "report_to_community"]);
    assert_eq!(running_stages(&app, &t[1]), ["community_acceptance"]);
    for id in &t[2..] {
        assert_eq!(row(&app, id), ("at_compound".into(), 1));
        assert_eq!(events(&app, id), ["file"]);
        assert_eq!(running_stages(&app, id), ["compound_triage"]);
    }
    // The ticket rows' deadlines are their running clocks'.
    let due: Option<chrono::NaiveDateTime> = tickets::table.find(&t[1]).select(tickets::due_at).first(&mut app.conn()).unwrap();
    let clock_due: chrono::NaiveDateTime = sla_clocks::table
        .filter(sla_clocks::ticket_id.eq(&t[1]))
        .filter(sla_clocks::stopped_at.is_null())
        .select(sla_clocks::due_at)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(due, Some(clock_due));

    // A retry of the keyed action replays its first answer and changes nothing.
    let again = run(&app, vec![job(&app, &fx, "bs1", &t[0], 1, json!({"action": "accept_at_compound"}), Some("a-0"))]);
    match &again[0] {
        Ok(Filed::Replay(s)) => assert_eq!(serde_json::from_str::<Value>(&s.body).unwrap(), first),
        other => panic!("expected a replay, got {:?}", other.as_ref().err()),
    }
    assert_eq!(row(&app, &t[0]), ("solved".into(), 3));
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn a_round_that_fails_as_a_whole_is_taken_one_by_one() {
    let (app, fx) = spawn_fixture().await;
    let t = file_some(&app, &fx, 2).await;
    let gw1 = app.login("gw1", PASSWORD).await;
    let mut urgent = new_ticket(&fx);
    urgent["urgency"] = json!("urgent");
    let u = file(&app, &gw1, &urgent).await["id"].as_str().unwrap().to_string();
    // A broken limit for urgent matters handled at the compound: accepting the urgent ticket
    // fails where the batch writes its clocks, after every action of the round was checked.
    diesel::insert_into(sla_policies::table)
        .values((
            sla_policies::id.eq(gridloop::domain::Id::new().to_string()),
            sla_policies::category_id.eq(&fx.category),
            sla_policies::urgency.eq("urgent"),
            sla_policies::stage.eq("resolution"),
            sla_policies::limit_text.eq("soon"),
            sla_policies::updated_at.eq(utc_now()),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let accept = json!({"action": "accept_at_compound"});
    let answers = run(
        &app,
        vec![
            job(&app, &fx, "bs1", &t[0], 1, accept.clone(), Some("r-0")),
            job(&app, &fx, "bs1", &u, 1, accept.clone(), Some("r-u")),
            job(&app, &fx, "bs1", &t[1], 1, accept.clone(), None),
        ],
    );
    assert_eq!(fresh(&answers[0])["state"], "compound_handling");
    assert!(matches!(answers[1], Err(AppError::Internal(_))), "{:?}", answers[1].as_ref().err());
    assert_eq!(fresh(&answers[2])["state"], "compound_handling");
    assert_eq!(row(&app, &u), ("at_compound".into(), 1), "the failed action left its ticket as it was");
    assert_eq!(events(&app, &u), ["file"]);
    assert_eq!(running_stages(&app, &u), ["compound_triage"]);
    for id in &t {
        assert_eq!(row(&app, id), ("compound_handling".into(), 2));
        assert_eq!(events(&app, id), ["file", "accept_at_compound"]);
    }
    // The key of the done action was stored with it; the failed one's was not.
    let keys: Vec<String> = gridloop::db::schema::idempotency_keys::table
        .filter(gridloop::db::schema::idempotency_keys::key.like("r-%"))
        .select(gridloop::db::schema::idempotency_keys::key)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(keys, ["r-0"]);
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

#[tokio::test]
async fn concurrent_actions_through_http_never_overwrite_each_other() {
    let (app, fx) = spawn_fixture().await;
    let t = file_some(&app, &fx, 12).await;
    let bs1 = app.login("bs1", PASSWORD).await;
    // Two people's worth of clicks on each ticket at once, both on version 1: one accepts, the
    // other reports it up. Exactly one may win; the other must learn the version moved.
    let send = |id: &str, body: Value| {
        let path = format!("/api/v1/tickets/{id}/actions");
        let (app, bs1) = (&app, &bs1);
        async move {
            let r = app.request(Method::POST, &path, Some(bs1), Some(&body), Some(1)).await;
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut futures = vec![];
    for id in &t {
        futures.push(send(id, json!({"action": "accept_at_compound"})));
        futures.push(send(id, json!({"action": "report_to_community", "reason": "并发上报"})));
    }
    let answers = futures_util::future::join_all(futures).await;
    for (id, pair) in t.iter().zip(answers.chunks(2)) {
        let won: Vec<&(StatusCode, Value)> = pair.iter().filter(|(s, _)| *s == StatusCode::OK).collect();
        assert_eq!(won.len(), 1, "{pair:?}");
        let lost = pair.iter().find(|(s, _)| *s != StatusCode::OK).unwrap();
        assert_eq!(lost.0, StatusCode::PRECONDITION_FAILED, "{lost:?}");
        let (state, version) = row(&app, id);
        assert_eq!(version, 2);
        assert_eq!(won[0].1["state"].as_str(), Some(state.as_str()));
        assert_eq!(events(&app, id).len(), 2, "one filing, one action");
    }
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}

/// Sends one action with an `Idempotency-Key`; returns (status, replayed, body).
async fn send_keyed(app: &TestApp, token: &str, id: &str, version: i64, key: &str, body: &Value) -> (StatusCode, bool, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{id}/actions")))
        .bearer_auth(token)
        .header("If-Match", format!("\"{version}\""))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let replayed = r.headers().get("Idempotent-Replayed").is_some_and(|v| v == "true");
    (status, replayed, r.json::<Value>().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_action_sent_twice_at_once_with_one_key_gets_the_same_success_twice() {
    let (app, fx) = spawn_fixture().await;
    let t = file_some(&app, &fx, 100).await;
    let bs1 = app.login("bs1", PASSWORD).await;
    let accept = json!({"action": "accept_at_compound", "note": "马上处理"});
    // A phone on a flaky network sends the same click twice at once: same key, same body, same
    // If-Match. Ten tickets at a time, so that twins meet in one writer's batch, in two writers'
    // batches, and in rounds with other tickets' actions.
    for wave in t.chunks(10) {
        let sends = wave.iter().flat_map(|id| {
            let key = format!("twin-{id}");
            let (app, bs1, accept) = (&app, &bs1, &accept);
            [0, 1].map(move |_| {
                let (id, key) = (id.clone(), key.clone());
                async move { send_keyed(app, bs1, &id, 1, &key, accept).await }
            })
        });
        let answers = futures_util::future::join_all(sends).await;
        for (id, pair) in wave.iter().zip(answers.chunks(2)) {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "both twins succeed: {pair:?}");
            assert_eq!(a.2, b.2, "the twins get the same answer");
            assert!(a.1 ^ b.1, "exactly one of the twins is the replay: {pair:?}");
            assert_eq!((a.2["state"].as_str(), a.2["version"].as_i64()), (Some("compound_handling"), Some(2)));
            assert_eq!(row(&app, id), ("compound_handling".into(), 2), "the version moved by exactly one");
            assert_eq!(events(&app, id), ["file", "accept_at_compound"]);
        }
    }
    assert!(audit::verify(&mut app.conn(), None).unwrap().is_ok());
}
