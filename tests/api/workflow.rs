//! What a person is told is true: a return stops the department's clocks and starts the
//! community's ruling clock, an overrule gives the department its time back; the lead cannot close
//! while a co-department's part is open unless the community releases it; each viewer is shown his
//! own deadline; a department taken off a case reads what happened until then and nothing after;
//! the breach policy's escalation is a workflow action taken by the system.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::tickets::{act, file_ticket, ActionRequest, NewTicket, ReturnRuling, TicketView};
use gridloop::app::AppError;
use gridloop::db::schema::{audit_events, sla_clocks, supervision};
use gridloop::domain::workflow::{ActionKind, TicketState, WhistleType};
use gridloop::domain::Actor;

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, calendars, TestApp};
use crate::tickets::{act as http_act, file, new_ticket};

fn at(v: &Value) -> NaiveDateTime {
    crate::helpers::instant(v)
}

/// The app layer over the test server's database, with the clock in the test's hand.
struct Desk<'a> {
    app: &'a TestApp,
    fx: &'a Fixture,
    cals: gridloop::app::calendars::Calendars,
}

impl Desk<'_> {
    fn actor(&self, login: &str) -> Actor {
        crate::fixture::actor(&mut self.app.conn(), self.fx, login)
    }

    fn file(&self, now: NaiveDateTime) -> TicketView {
        let ctx = gridloop::app::sla::SlaContext { settings: &self.app.settings.sla, calendars: &self.cals };
        let body: NewTicket = serde_json::from_value(new_ticket(self.fx)).unwrap();
        file_ticket(&mut self.app.conn(), ctx, &self.actor("gw1"), body, now).unwrap()
    }

    fn act(&self, login: &str, t: &TicketView, req: ActionRequest, now: NaiveDateTime) -> Result<TicketView, AppError> {
        let ctx = gridloop::app::sla::SlaContext { settings: &self.app.settings.sla, calendars: &self.cals };
        act(&mut self.app.conn(), ctx, &self.actor(login), &t.id.parse().unwrap(), Some(t.version), req, now)
    }

    fn ok(&self, login: &str, t: &TicketView, req: ActionRequest, now: NaiveDateTime) -> TicketView {
        self.act(login, t, req, now).unwrap_or_else(|e| panic!("{login}: {e:?}"))
    }

    fn tick(&self, now: NaiveDateTime) -> gridloop::app::sla::TickReport {
        let ctx = gridloop::app::sla::SlaContext { settings: &self.app.settings.sla, calendars: &self.cals };
        gridloop::app::sla::tick(&mut self.app.conn(), ctx, now, "test").unwrap()
    }

    /// A ticket whistled to P1 (lead) and, when `co`, P3.
    fn whistled(&self, co: bool, now: NaiveDateTime) -> TicketView {
        let t = self.file(now);
        let t = self.ok("bs1", &t, ActionRequest::ReportToCommunity { reason: "上报".into() }, now);
        self.ok(
            "cs1",
            &t,
            ActionRequest::Whistle {
                lead_department_id: self.fx.unit("P1").into(),
                co_department_ids: if co { vec![self.fx.unit("P3").into()] } else { vec![] },
                whistle_type: WhistleType::EnforcementNeeded,
                reason: "吹哨".into(),
            },
            now,
        )
    }
}

type ClockRow =
    (String, Option<String>, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>, Option<String>, Option<NaiveDateTime>);

/// (stage, assignment, due, stopped, paused, paused_for, breached) of every clock of a ticket.
fn clocks_of(app: &TestApp, id: &str) -> Vec<ClockRow> {
    sla_clocks::table
        .filter(sla_clocks::ticket_id.eq(id))
        .order(sla_clocks::started_at)
        .select((
            sla_clocks::stage,
            sla_clocks::assignment_id,
            sla_clocks::due_at,
            sla_clocks::stopped_at,
            sla_clocks::paused_at,
            sla_clocks::paused_for,
            sla_clocks::breached_at,
        ))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_return_pauses_the_departments_clocks_for_the_ruling_and_an_overrule_gives_their_time_back() {
    let (app, fx) = spawn_fixture().await;
    let desk = Desk { app: &app, fx: &fx, cals: calendars(&app.settings) };
    let t0 = gridloop::app::utc_now();
    let t = desk.whistled(false, t0);
    let part = t.departments[0].assignment_id.clone();
    let before: Vec<ClockRow> = clocks_of(&app, &t.id).into_iter().filter(|c| c.1.as_deref() == Some(part.as_str())).collect();
    assert_eq!(before.len(), 2, "acknowledgement and resolution");

    // One hour in, the department returns the case (退单).
    let t1 = t0 + Duration::hours(1);
    let t = desk.ok(
        "dl1",
        &t,
        ActionRequest::ReturnCase {
            department_id: None,
            reason_code: gridloop::domain::workflow::ReturnReason::OutsideOurRemit,
            note: "不属于本部门".into(),
        },
        t1,
    );
    let now_clocks = clocks_of(&app, &t.id);
    for c in now_clocks.iter().filter(|c| c.1.as_deref() == Some(part.as_str()) && c.0 != "return_ruling") {
        assert_eq!((c.4, c.5.as_deref(), c.3), (Some(t1), Some("return"), None), "the department's {} clock waits", c.0);
    }
    let ruling: Vec<&ClockRow> = now_clocks.iter().filter(|c| c.0 == "return_ruling").collect();
    assert_eq!(ruling.len(), 1, "the community's ruling has a clock of its own");
    assert_eq!(ruling[0].2 - t1, Duration::hours(24), "[sla.limits] return_ruling of the test configuration");
    // Who is shown what: the community's deadline is the ruling; the department has none running.
    let cs_view = gridloop::app::tickets::get_ticket(&mut app.conn(), &desk.actor("cs1"), &t.id.parse().unwrap(), t1).unwrap();
    assert_eq!(cs_view.due_at, Some(ruling[0].2));
    let dl_view = gridloop::app::tickets::get_ticket(&mut app.conn(), &desk.actor("dl1"), &t.id.parse().unwrap(), t1).unwrap();
    assert_eq!(dl_view.due_at, None, "the department's clocks wait for the ruling: no deadline runs against it");
    assert!(dl_view.clocks.iter().filter(|c| c.yours).all(|c| c.paused_for.as_deref() == Some("return")));

    // Ten hours in: the department's 4-hour acknowledgement would have breached; it does not.
    let t10 = t0 + Duration::hours(10);
    let r = desk.tick(t10);
    assert_eq!(r.breaches, 0, "{r:?}");
    let breached: i64 = supervision::table.filter(supervision::ticket_id.eq(&t.id)).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(breached, 0);

    // The community overrules at hour 10: the ruling clock stops, the department's clocks run
    // again with the time they had left (their deadlines move by the nine hours they waited).
    let t = desk.ok(
        "cs1",
        &t,
        ActionRequest::RuleOnReturn {
            department_id: fx.unit("P1").into(),
            decision: ReturnRuling::Overrule,
            new_department_id: None,
            reason: "属于本部门".into(),
        },
        t10,
    );
    let after = clocks_of(&app, &t.id);
    let ruling = after.iter().find(|c| c.0 == "return_ruling").unwrap();
    assert_eq!(ruling.3, Some(t10), "the ruling clock stopped at the ruling");
    for b in &before {
        let a = after.iter().find(|c| c.0 == b.0 && c.1 == b.1).unwrap();
        assert_eq!((a.3, a.4, a.5.as_deref()), (None, None, None), "{} runs again", a.0);
        assert_eq!(a.2 - b.2, Duration::hours(9), "{} got the nine hours it waited back", a.0);
    }
    assert_eq!(t.departments[0].state, gridloop::domain::workflow::AssignmentState::Dispatched);
    assert!(t.departments[0].overruled);
}

#[tokio::test]
async fn an_accepted_return_ends_the_part_and_its_clocks() {
    let (app, fx) = spawn_fixture().await;
    let desk = Desk { app: &app, fx: &fx, cals: calendars(&app.settings) };
    let t0 = gridloop::app::utc_now();
    let t = desk.whistled(false, t0);
    let old = t.departments[0].assignment_id.clone();
    let t = desk.ok(
        "dl1",
        &t,
        ActionRequest::ReturnCase {
            department_id: None,
            reason_code: gridloop::domain::workflow::ReturnReason::NotOurTerritory,
            note: "辖区外".into(),
        },
        t0,
    );
    let t = desk.ok(
        "cs1",
        &t,
        ActionRequest::RuleOnReturn {
            department_id: fx.unit("P1").into(),
            decision: ReturnRuling::Accept,
            new_department_id: Some(fx.unit("P3").into()),
            reason: "改派".into(),
        },
        t0 + Duration::hours(2),
    );
    let running: Vec<ClockRow> = clocks_of(&app, &t.id).into_iter().filter(|c| c.3.is_none()).collect();
    assert!(running.iter().all(|c| c.1.as_deref() != Some(old.as_str())), "nothing of the returned part runs: {running:?}");
    assert_eq!(running.len(), 2, "the new lead's two clocks");
    let ended = t.departments.iter().find(|p| p.assignment_id == old).unwrap();
    assert_eq!(ended.ended_as, Some(gridloop::domain::workflow::PartEnd::ReturnAccepted));
    assert_eq!(ended.ended_at, Some(t0 + Duration::hours(2)));
}

#[tokio::test]
async fn the_lead_cannot_close_while_a_co_department_is_open_unless_the_community_releases_it() {
    let (app, fx) = spawn_fixture().await;
    let (lead, co, cs) = (app.login("dl1", PASSWORD).await, app.login("dl3", PASSWORD).await, app.login("cs1", PASSWORD).await);
    let bs = app.login("bs1", PASSWORD).await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let t = ok(&app, &bs, &t, json!({"action": "report_to_community", "reason": "上报"})).await;
    let t = ok(
        &app,
        &cs,
        &t,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "co_department_ids": [fx.unit("P3")], "whistle_type": "emergency", "reason": "吹哨"}),
    )
    .await;
    let t = ok(&app, &lead, &t, json!({"action": "acknowledge"})).await;
    let path = format!("/api/v1/tickets/{}", t["id"].as_str().unwrap());
    // The co-department never reported (报到): the lead is not offered 办结, and is refused it.
    let mine = app.get_ok(&path, &lead).await;
    assert!(!allowed(&mine).contains(&"mark_solved"), "{mine}");
    let (status, e) = http_act(
        &app,
        &lead,
        t["id"].as_str().unwrap(),
        t["version"].as_i64().unwrap(),
        json!({"action": "mark_solved", "resolution": "办结"}),
    )
    .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("co_departments_open")));
    assert!(allowed(&app.get_ok(&path, &cs).await).contains(&"release_part"));
    // The community releases it, with a reason; audited.
    let t = ok(&app, &cs, &t, json!({"action": "release_part", "department_id": fx.unit("P3"), "reason": "无需协办"})).await;
    let p3 = t["departments"].as_array().unwrap().iter().find(|p| p["department_id"] == fx.unit("P3")).unwrap().clone();
    assert_eq!((p3["state"].as_str(), p3["ended_as"].as_str()), (Some("removed"), Some("released")));
    let event: (Option<String>, Option<String>) = audit_events::table
        .filter(audit_events::entity_id.eq(t["id"].as_str().unwrap()))
        .filter(audit_events::action.eq("release_part"))
        .select((audit_events::actor_role, audit_events::reason))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(event, (Some("community_staff".into()), Some("无需协办".into())));
    assert!(allowed(&app.get_ok(&path, &lead).await).contains(&"mark_solved"));
    let t = ok(&app, &lead, &t, json!({"action": "mark_solved", "resolution": "已办结"})).await;
    assert_eq!(t["state"], "solved");
    // The released department reads the case up to its release, and nothing of the solving.
    let seen = app.get_ok(&path, &co).await;
    assert_eq!((seen["state"].as_str(), seen["resolution"].as_str()), (Some("whistled"), None), "{seen}");
    assert!(seen["read_until"].is_string());
}

fn allowed(v: &Value) -> Vec<&str> {
    v["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect()
}

async fn ok(app: &TestApp, token: &str, t: &Value, body: Value) -> Value {
    let (status, v) = http_act(app, token, t["id"].as_str().unwrap(), t["version"].as_i64().unwrap(), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} -> {v}");
    v
}

#[tokio::test]
async fn each_viewer_is_shown_his_own_deadline_and_the_ticket_shows_every_clock_with_its_holder() {
    let (app, fx) = spawn_fixture().await;
    let (lead, co, cs, bs, gw) = (
        app.login("dl1", PASSWORD).await,
        app.login("dl3", PASSWORD).await,
        app.login("cs1", PASSWORD).await,
        app.login("bs1", PASSWORD).await,
        app.login("gw1", PASSWORD).await,
    );
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let t = ok(&app, &bs, &t, json!({"action": "report_to_community", "reason": "上报"})).await;
    let t = ok(
        &app,
        &cs,
        &t,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "co_department_ids": [fx.unit("P3")], "whistle_type": "emergency", "reason": "吹哨"}),
    )
    .await;
    // The lead acknowledges: his next deadline is his resolution (5 days), while the
    // co-department's acknowledgement (4 hours) is the ticket's nearest.
    ok(&app, &lead, &t, json!({"action": "acknowledge"})).await;
    let id = t["id"].as_str().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let mine = app.get_ok(&path, &lead).await;
    let theirs = app.get_ok(&path, &co).await;
    let ack_of_co = theirs["due_at"].clone();
    assert!(at(&mine["due_at"]) - at(&ack_of_co) > Duration::days(4), "lead {} vs co {}", mine["due_at"], ack_of_co);
    assert_eq!(mine["ticket_due_at"], ack_of_co, "the ticket's nearest deadline is the co-department's");
    let clocks = mine["clocks"].as_array().unwrap();
    assert_eq!(clocks.len(), 3, "lead resolution, co acknowledgement and co resolution: {clocks:?}");
    for c in clocks {
        let held_by_lead = c["holder_unit_id"] == fx.unit("P1");
        assert_eq!(c["yours"], held_by_lead, "{c}");
        assert!(!c["holder_name"].as_str().unwrap().is_empty());
    }
    // The same in lists and the inbox.
    let listed = app.get_ok("/api/v1/tickets", &lead).await;
    assert_eq!(listed["items"][0]["due_at"], mine["due_at"]);
    let inbox = app.get_ok("/api/v1/inbox", &lead).await;
    assert_eq!(inbox[0]["due_at"], mine["due_at"]);
    let inbox = app.get_ok("/api/v1/inbox", &co).await;
    assert_eq!(inbox[0]["due_at"], ack_of_co);
    // A supervisor watches every clock: the nearest.
    let sup = app.login("sup1", PASSWORD).await;
    assert_eq!(app.get_ok(&path, &sup).await["due_at"], ack_of_co);
}

#[tokio::test]
async fn a_department_taken_off_a_case_reads_until_then_and_nothing_after() {
    let (app, fx) = spawn_fixture().await;
    let (co, cs, bs, gw) = (
        app.login("dl3", PASSWORD).await,
        app.login("cs1", PASSWORD).await,
        app.login("bs1", PASSWORD).await,
        app.login("gw1", PASSWORD).await,
    );
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let t = ok(&app, &bs, &t, json!({"action": "report_to_community", "reason": "上报"})).await;
    let t = ok(
        &app,
        &cs,
        &t,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "co_department_ids": [fx.unit("P3")], "whistle_type": "emergency", "reason": "吹哨"}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tickets/{id}");
    let r = app.post_json(&format!("{path}/comments"), Some(&co), &json!({"text": "协办中"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t = ok(&app, &cs, &t, json!({"action": "remove_department", "department_id": fx.unit("P3"), "reason": "派错部门"})).await;
    // What happens afterwards is not for the removed department.
    let r = app.post_json(&format!("{path}/comments"), Some(&cs), &json!({"text": "撤回后的内部留言"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    ok(&app, &app.login("dl1", PASSWORD).await, &t, json!({"action": "acknowledge"})).await;

    let seen = app.get_ok(&path, &co).await;
    assert!(seen["read_until"].is_string(), "{seen}");
    assert_eq!(seen["allowed_actions"], json!([]));
    let depts = seen["departments"].as_array().unwrap();
    assert_eq!(depts.len(), 1, "only its own part: {depts:?}");
    assert_eq!(depts[0]["ended_as"], "removed");
    let timeline = app.get_ok(&format!("{path}/timeline"), &co).await;
    let actions: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["file", "report_to_community", "whistle", "comment", "remove_department"]);
    assert!(!timeline.to_string().contains("撤回后的内部留言"));
    let full = app.get_ok(&format!("{path}/timeline"), &cs).await;
    assert_eq!(full.as_array().unwrap().len(), 7, "the community sees everything");
    let clocks = app.get_ok(&format!("{path}/clocks"), &co).await;
    assert!(clocks.as_array().unwrap().iter().all(|c| c["holder_unit_id"] == fx.unit("P3")), "only its own part's clocks: {clocks}");
    // It can no longer comment, act, or reveal; and it no longer lists the case.
    let r = app.post_json(&format!("{path}/comments"), Some(&co), &json!({"text": "还想留言"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let (status, _) = http_act(&app, &co, &id, seen["version"].as_i64().unwrap(), json!({"action": "add_progress", "note": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(app.post_json(&format!("{path}/reveal"), Some(&co), &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    let listed = app.get_ok("/api/v1/tickets", &co).await;
    assert_eq!(listed["items"], json!([]));
    assert_eq!(app.get_ok("/api/v1/inbox", &co).await, json!([]));
}

#[tokio::test]
async fn a_breached_triage_escalates_through_the_workflow_as_the_system_and_never_over_a_secretarys_action() {
    let (mut app, fx) = spawn_fixture().await;
    app.settings.sla.breach_action = gridloop::domain::sla::BreachAction::Escalate;
    let desk = Desk { app: &app, fx: &fx, cals: calendars(&app.settings) };
    let t0 = gridloop::app::utc_now();
    let waiting = desk.file(t0);
    let handled = desk.file(t0);
    let due = waiting.ticket_due_at.unwrap();
    let report = desk.tick(due + Duration::minutes(1));
    assert_eq!(report.breaches, 2);
    assert_eq!(report.escalate.len(), 2);
    // Meanwhile the secretary took one of them on.
    let handled = desk.ok("bs1", &handled, ActionRequest::AcceptAtCompound { note: None }, due + Duration::minutes(2));
    let ctx = gridloop::app::sla::SlaContext { settings: &app.settings.sla, calendars: &desk.cals };
    let n = gridloop::app::tickets::escalate_breached(&mut app.conn(), ctx, &report.escalate, due + Duration::minutes(3)).unwrap();
    assert_eq!(n, 1);
    let cs = desk.actor("cs1");
    let up = gridloop::app::tickets::get_ticket(&mut app.conn(), &cs, &waiting.id.parse().unwrap(), due).unwrap();
    assert_eq!(up.state, TicketState::AtCommunity);
    assert!(up.clocks.iter().any(|c| c.stage == gridloop::domain::sla::Stage::CommunityAcceptance && c.yours));
    let stays = gridloop::app::tickets::get_ticket(&mut app.conn(), &cs, &handled.id.parse().unwrap(), due).unwrap();
    assert_eq!(stays.state, TicketState::CompoundHandling, "the secretary's action stands");
    assert!(stays.clocks.iter().all(|c| c.stage != gridloop::domain::sla::Stage::CommunityAcceptance));
    let event: (Option<String>, Option<String>, Option<String>) = audit_events::table
        .filter(audit_events::entity_id.eq(&waiting.id))
        .filter(audit_events::action.eq(ActionKind::EscalateToCommunity.as_str()))
        .select((audit_events::actor_id, audit_events::from_state, audit_events::to_state))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(event, (None, Some("at_compound".into()), Some("at_community".into())), "taken by the system, through the workflow");
    // Nobody else may take it.
    let err = desk.act("bs1", &desk.file(t0), ActionRequest::EscalateToCommunity {}, t0).unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
    assert!(gridloop::app::audit::verify(&mut app.conn(), None).unwrap().is_ok());
}
