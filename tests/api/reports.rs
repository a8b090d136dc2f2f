//! Rankings (三率排名) from the clock and audit history: a crafted October 2026 whose every figure
//! is worked out by hand below (an extension granted, a pause, a department's return, a reopen,
//! a limit across the National Day holiday, a unit with no tickets, a tie), and the API returns
//! exactly those numbers; scope and bad periods are refused with a message.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use gridloop::app::audit::{self, ActedBy, Draft};
use gridloop::db::models::{AssignmentRow, ClockRow, ExtensionRow, TicketRow};
use gridloop::db::schema::{sla_clocks, ticket_assignments, ticket_extensions, tickets};
use gridloop::db::DbConn;
use gridloop::domain::sla::{Limit, Stage};
use gridloop::domain::workflow::{AssignmentState, ExtensionState, TicketState};
use gridloop::domain::{Id, OrgKind, OrgPath, OrgUnitId};

use crate::fixture::{spawn_fixture_configured, Fixture, PASSWORD};
use crate::helpers::{assert_error, calendars, TestApp};

/// A China wall time in 2026 as the stored UTC instant (China is UTC+8 all year).
pub(crate) fn cn(month: u32, day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap().and_hms_opt(hour, 0, 0).unwrap() - Duration::hours(8)
}

pub(crate) struct World {
    pub fx: Fixture,
    y3: String,
    y4: String,
    paths: std::collections::HashMap<String, String>,
}

impl World {
    pub(crate) fn unit(&self, key: &str) -> String {
        match key {
            "Y3" => self.y3.clone(),
            "Y4" => self.y4.clone(),
            k => self.fx.unit(k).to_string(),
        }
    }
}

fn path_of(conn: &mut DbConn, id: &str) -> String {
    gridloop::app::org::find_unit(conn, &id.parse::<OrgUnitId>().unwrap()).unwrap().unwrap().path.as_str().to_string()
}

pub(crate) fn ticket(conn: &mut DbConn, w: &World, number: &str, compound: &str, filed: NaiveDateTime, state: TicketState) -> String {
    let id = Id::new().to_string();
    let c = w.unit(compound);
    let row = TicketRow {
        id: id.parse().unwrap(),
        number: number.into(),
        category_id: w.fx.category.parse().unwrap(),
        urgency: gridloop::domain::workflow::Urgency::Normal,
        title: "楼道堆物".into(),
        description: "测试".into(),
        place_id: c.parse().unwrap(),
        place_path: OrgPath::from_db(w.paths[&c].clone()),
        compound_id: c.parse().unwrap(),
        community_id: w.fx.unit("K1").parse().unwrap(),
        address: None,
        latitude: None,
        longitude: None,
        resident_name: None,
        resident_phone: None,
        channel: gridloop::domain::workflow::Channel::Visit,
        filed_by: w.fx.person("gw1").parse().unwrap(),
        visit_log_id: None,
        state,
        solved_level: None,
        duplicate_of: None,
        whistle_type: None,
        reopen_count: 0,
        satisfaction: None,
        resolution: None,
        due_at: None,
        version: 1,
        created_at: filed,
        updated_at: filed,
        closed_at: None,
        warn_at: None,
        due_provisional: false,
    };
    diesel::insert_into(tickets::table).values(&row).execute(conn).unwrap();
    id
}

/// A clock as the engine leaves it.
struct Clock<'a> {
    ticket: &'a str,
    assignment: Option<&'a str>,
    stage: Stage,
    holder: &'a str,
    started: NaiveDateTime,
    due: NaiveDateTime,
    original_due: Option<NaiveDateTime>,
    acknowledged: Option<NaiveDateTime>,
    paused: Option<NaiveDateTime>,
    paused_seconds: i64,
    stopped: Option<NaiveDateTime>,
}

impl<'a> Clock<'a> {
    fn new(ticket: &'a str, stage: Stage, holder: &'a str, started: NaiveDateTime, due: NaiveDateTime) -> Self {
        Clock {
            ticket,
            assignment: None,
            stage,
            holder,
            started,
            due,
            original_due: None,
            acknowledged: None,
            paused: None,
            paused_seconds: 0,
            stopped: None,
        }
    }
    fn stopped(mut self, at: NaiveDateTime) -> Self {
        self.stopped = Some(at);
        self
    }
    fn insert(self, conn: &mut DbConn, w: &World) {
        let row = ClockRow {
            id: Id::new().into(),
            ticket_id: self.ticket.parse().unwrap(),
            assignment_id: self.assignment.map(|a| a.parse().unwrap()),
            stage: self.stage,
            holder_unit_id: self.holder.parse().unwrap(),
            holder_path: OrgPath::from_db(w.paths[self.holder].clone()),
            calendar: "cn".into(),
            limit_text: "24 hours".into(),
            started_at: self.started,
            acknowledged_at: self.acknowledged,
            warn_at: self.started,
            due_at: self.due,
            original_due_at: self.original_due.unwrap_or(self.due),
            warned_at: None,
            breached_at: None,
            reminders: 0,
            paused_at: self.paused,
            pause_reason: None,
            paused_seconds: self.paused_seconds,
            stopped_at: self.stopped,
            next_fire_at: None,
            fire_seq: 0,
            provisional: false,
            paused_for: self.paused.map(|_| "return".to_string()),
            resolved: false,
        };
        diesel::insert_into(sla_clocks::table).values(&row).execute(conn).unwrap();
    }
}

fn event(conn: &mut DbConn, ticket: &str, by_unit: &str, action: &str, from: &str, to: &str, at: NaiveDateTime) {
    let by = ActedBy { person_id: None, role: None, unit_id: Some(by_unit.parse().unwrap()) };
    let d = Draft {
        entity_kind: "ticket",
        entity_id: ticket,
        by: &by,
        action,
        from_state: Some(from),
        to_state: Some(to),
        reason: None,
        changes: json!({}),
    };
    audit::append(conn, d, at).unwrap();
    // As the workflow does in the same transaction: the clock that stopped with a resolution records it.
    if matches!(action, "mark_solved" | "complete_part") {
        gridloop::app::sla::mark_resolved(conn, &[ticket.parse().unwrap()], at).unwrap();
    }
}

#[allow(clippy::too_many_arguments)]
fn part(
    conn: &mut DbConn,
    ticket: &str,
    dept: &str,
    lead: bool,
    state: AssignmentState,
    dispatched: NaiveDateTime,
    due: NaiveDateTime,
    returned: bool,
) -> String {
    let id = Id::new().to_string();
    let row = AssignmentRow {
        id: id.parse().unwrap(),
        ticket_id: ticket.parse().unwrap(),
        department_id: dept.parse().unwrap(),
        lead,
        state,
        overruled: false,
        dispatched_at: dispatched,
        ack_due_at: dispatched + Duration::hours(4),
        acknowledged_at: None,
        due_at: due,
        original_due_at: None,
        return_reason: returned.then_some(gridloop::domain::workflow::ReturnReason::NotOurTerritory),
        return_note: None,
        done_at: None,
        updated_at: dispatched,
        ended_at: None,
        end_reason: None,
    };
    diesel::insert_into(ticket_assignments::table).values(&row).execute(conn).unwrap();
    // A part comes with a whistle, which marks the ticket for good (the service reads a ticket's
    // parts only then).
    diesel::update(tickets::table.find(row.ticket_id).filter(tickets::whistle_type.is_null()))
        .set(tickets::whistle_type.eq(Some(gridloop::domain::workflow::WhistleType::BeyondStreetPower)))
        .execute(conn)
        .unwrap();
    id
}

/// The crafted October. Figures by unit (worked out in the tests that read them):
///
/// - T1 at Y1: triage on time; resolved on time; return visit satisfied.
/// - T2 at Y1: triage 3 h late; resolved on time only thanks to a 2-day pause for the resident
///   (its deadline moved from 10-18 to 10-20, resolved 10-19); the return visit not satisfied
///   reopens it; the second resolution is 48 h late; the second visit satisfied.
/// - T3 at Y1 → K1 → P1 (lead) and P3 (co): triage starts on 10-01, a holiday, with a limit of 1
///   working day, and ends on 10-08 11:00, on time on the calendar (a week in natural time);
///   K1 accepts on time; P1 acknowledges on time, is granted an extension (10-13 → 10-20) and
///   solves on 10-18, on time; P3 returns the case (退单) within its acknowledgement limit, the
///   return is accepted the next day; the visit is satisfied, counted against P1.
/// - T4 at Y3: triage on time, still being handled at the end of October (not yet due).
/// - T5 at Y1: filed on 09-30 23:00 China time, triaged on 10-01 and still being handled:
///   September's volume (it first reached Y1 then), open at October's end.
/// - Y4: no tickets at all.
fn craft(conn: &mut DbConn, w: &World, app: &TestApp) -> std::collections::HashMap<&'static str, String> {
    let (y1, y3, k1, p1, p3) = (w.unit("Y1"), w.unit("Y3"), w.unit("K1"), w.unit("P1"), w.unit("P3"));
    let mut t = std::collections::HashMap::new();

    let t1 = ticket(conn, w, "R-T1", "Y1", cn(10, 10, 9), TicketState::Closed);
    Clock::new(&t1, Stage::CompoundTriage, &y1, cn(10, 10, 9), cn(10, 11, 9)).stopped(cn(10, 10, 10)).insert(conn, w);
    Clock::new(&t1, Stage::Resolution, &y1, cn(10, 10, 10), cn(10, 15, 10)).stopped(cn(10, 12, 10)).insert(conn, w);
    event(conn, &t1, &y1, "mark_solved", "compound_handling", "solved", cn(10, 12, 10));
    event(conn, &t1, &w.unit("B1"), "record_return_visit", "solved", "closed", cn(10, 13, 10));
    t.insert("T1", t1);

    let t2 = ticket(conn, w, "R-T2", "Y1", cn(10, 12, 9), TicketState::Closed);
    Clock::new(&t2, Stage::CompoundTriage, &y1, cn(10, 12, 9), cn(10, 13, 9)).stopped(cn(10, 13, 12)).insert(conn, w);
    Clock {
        original_due: Some(cn(10, 18, 12)),
        paused_seconds: 2 * 86_400,
        ..Clock::new(&t2, Stage::Resolution, &y1, cn(10, 13, 12), cn(10, 20, 12))
    }
    .stopped(cn(10, 19, 12))
    .insert(conn, w);
    event(conn, &t2, &y1, "mark_solved", "compound_handling", "solved", cn(10, 19, 12));
    event(conn, &t2, &w.unit("B1"), "record_return_visit", "solved", "compound_handling", cn(10, 20, 10));
    Clock::new(&t2, Stage::Resolution, &y1, cn(10, 20, 10), cn(10, 25, 10)).stopped(cn(10, 27, 10)).insert(conn, w);
    event(conn, &t2, &y1, "mark_solved", "compound_handling", "solved", cn(10, 27, 10));
    event(conn, &t2, &w.unit("B1"), "record_return_visit", "solved", "closed", cn(10, 28, 10));
    t.insert("T2", t2);

    let t3 = ticket(conn, w, "R-T3", "Y1", cn(10, 1, 10), TicketState::Closed);
    let cal = calendars(&app.settings).default_calendar();
    let triage_due = gridloop::app::sla::deadline(&cal, cn(10, 1, 10), Limit::WorkingDays(1), 1.0).unwrap();
    assert!(triage_due > cn(10, 8, 11), "one working day from the holiday reaches past 10-08 11:00: {triage_due}");
    Clock::new(&t3, Stage::CompoundTriage, &y1, cn(10, 1, 10), triage_due).stopped(cn(10, 8, 11)).insert(conn, w);
    Clock::new(&t3, Stage::CommunityAcceptance, &k1, cn(10, 8, 11), cn(10, 9, 11)).stopped(cn(10, 8, 15)).insert(conn, w);
    let a1 = part(conn, &t3, &p1, true, AssignmentState::Acknowledged, cn(10, 8, 15), cn(10, 20, 15), false);
    let a2 = part(conn, &t3, &p3, false, AssignmentState::Removed, cn(10, 8, 15), cn(10, 13, 15), true);
    Clock {
        assignment: Some(&a1),
        acknowledged: Some(cn(10, 8, 16)),
        ..Clock::new(&t3, Stage::DepartmentAcknowledgement, &p1, cn(10, 8, 15), cn(10, 8, 19))
    }
    .stopped(cn(10, 8, 16))
    .insert(conn, w);
    Clock {
        assignment: Some(&a1),
        original_due: Some(cn(10, 13, 15)),
        ..Clock::new(&t3, Stage::Resolution, &p1, cn(10, 8, 15), cn(10, 20, 15))
    }
    .stopped(cn(10, 18, 15))
    .insert(conn, w);
    Clock {
        assignment: Some(&a2),
        paused: Some(cn(10, 8, 17)),
        ..Clock::new(&t3, Stage::DepartmentAcknowledgement, &p3, cn(10, 8, 15), cn(10, 8, 19))
    }
    .stopped(cn(10, 9, 18))
    .insert(conn, w);
    Clock { assignment: Some(&a2), paused: Some(cn(10, 8, 17)), ..Clock::new(&t3, Stage::Resolution, &p3, cn(10, 8, 15), cn(10, 13, 15)) }
        .stopped(cn(10, 9, 18))
        .insert(conn, w);
    event(conn, &t3, &k1, "rule_on_return", "whistled", "whistled", cn(10, 9, 18));
    let ext = ExtensionRow {
        id: Id::new().into(),
        ticket_id: t3.parse().unwrap(),
        assignment_id: a1.parse().unwrap(),
        requested_by: w.fx.person("dl1").parse().unwrap(),
        reason: "等材料".into(),
        proposed_due_at: cn(10, 20, 15),
        original_due_at: cn(10, 13, 15),
        state: ExtensionState::Granted,
        decided_by: Some(w.fx.person("cs1").parse().unwrap()),
        decided_at: Some(cn(10, 12, 15)),
        requested_at: cn(10, 12, 9),
    };
    diesel::insert_into(ticket_extensions::table).values(&ext).execute(conn).unwrap();
    event(conn, &t3, &p1, "mark_solved", "whistled", "solved", cn(10, 18, 15));
    event(conn, &t3, &w.unit("B1"), "record_return_visit", "solved", "closed", cn(10, 19, 10));
    t.insert("T3", t3);

    let t4 = ticket(conn, w, "R-T4", "Y3", cn(10, 30, 9), TicketState::CompoundHandling);
    Clock::new(&t4, Stage::CompoundTriage, &y3, cn(10, 30, 9), cn(10, 31, 9)).stopped(cn(10, 30, 10)).insert(conn, w);
    let far = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    Clock::new(&t4, Stage::Resolution, &y3, cn(10, 30, 10), far).insert(conn, w);
    t.insert("T4", t4);

    let t5 = ticket(conn, w, "R-T5", "Y1", cn(9, 30, 23), TicketState::CompoundHandling);
    Clock::new(&t5, Stage::CompoundTriage, &y1, cn(9, 30, 23), cn(10, 1, 23)).stopped(cn(10, 1, 9)).insert(conn, w);
    Clock::new(&t5, Stage::Resolution, &y1, cn(10, 1, 9), far).insert(conn, w);
    t.insert("T5", t5);
    t
}

/// The crafted October on a fresh server (`reports.list_size` = 1), for the API and page tests.
pub(crate) async fn crafted_world() -> (TestApp, World) {
    let (app, fx) = spawn_fixture_configured(|s| s.reports.list_size = 1).await;
    let mut conn = app.conn();
    let k1 = gridloop::app::org::find_unit(&mut conn, &fx.unit("K1").parse().unwrap()).unwrap().unwrap();
    let now = gridloop::app::utc_now();
    let y3 = gridloop::app::org::insert_unit(&mut conn, Some(&k1), OrgKind::Compound, "T-Y3", "测试Y3", now).unwrap().id.to_string();
    let y4 = gridloop::app::org::insert_unit(&mut conn, Some(&k1), OrgKind::Compound, "T-Y4", "测试Y4", now).unwrap().id.to_string();
    let mut w = World { fx, y3, y4, paths: Default::default() };
    for key in ["Y1", "Y3", "Y4", "K1", "S1", "D1", "P1", "P3", "B1"] {
        let id = w.unit(key);
        let p = path_of(&mut conn, &id);
        w.paths.insert(id, p);
    }
    craft(&mut conn, &w, &app);
    (app, w)
}

fn ratio(v: &Value) -> (i64, i64) {
    (v["numerator"].as_i64().unwrap(), v["denominator"].as_i64().unwrap())
}

fn line<'a>(r: &'a Value, unit: &str) -> &'a Value {
    r["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()).find(|u| u["unit_id"] == unit).unwrap()
}

fn group<'a>(r: &'a Value, kind: &str) -> &'a Value {
    r["groups"].as_array().unwrap().iter().find(|g| g["kind"] == kind).unwrap()
}

#[tokio::test]
async fn compounds_are_ranked_on_the_figures_worked_out_by_hand() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-10", w.unit("K1")), &sup).await;
    assert_eq!((r["period"].as_str(), r["from"].as_str(), r["to"].as_str()), (Some("2026-10"), Some("2026-10-01"), Some("2026-10-31")));
    let compounds = group(&r, "compound");
    assert_eq!(r["groups"].as_array().unwrap().len(), 1, "only compounds hang below K1: {r}");

    let y1 = line(&r, &w.unit("Y1"));
    // Response: T1 on time, T2 3 h late, T3 on time across the holiday (T5 is September's).
    assert_eq!(ratio(&y1["response"]), (2, 3));
    // Resolution: T1 on time, T2 on time after its pause, T2's second 48 h late.
    assert_eq!(ratio(&y1["resolution"]), (2, 3));
    // Return visits: T1 satisfied, T2 not, T2 again satisfied (T3 was solved by P1, outside K1).
    assert_eq!(ratio(&y1["satisfaction"]), (2, 3));
    assert_eq!(y1["satisfaction"]["rate"], 0.6667);
    assert_eq!(ratio(&y1["on_time"]), (4, 6));
    assert_eq!(ratio(&y1["overdue"]), (2, 6));
    assert_eq!(y1["overdue_hours"], 51.0, "3 h + 48 h");
    // Office hours 08:30–12:00 and 14:00–17:30: Tue 10-13 09:00–12:00 is 3 h; from Sun 10-25
    // 10:00 (a rest day) to Tue 10-27 10:00 is Monday's 7 h and Tuesday's 1.5 h.
    assert_eq!(y1["overdue_working_hours"], 11.5);
    assert_eq!(ratio(&y1["reopens"]), (1, 3), "one of three resolutions reopened");
    assert_eq!(ratio(&y1["returns"]), (0, 0));
    assert_eq!(y1["returns"]["rate"], Value::Null);
    // T1–T3 first reached Y1 in October; T5 in September (its October resolution clock does not
    // make it October's too), and it is still open at the end.
    assert_eq!((y1["volume"]["count"].as_i64(), y1["open_at_end"]["count"].as_i64()), (Some(3), Some(1)));
    // (30 + 35 + 35) × 2/3.
    assert_eq!(y1["score"], 66.67);
    assert_eq!(y1["flags"], json!(["response", "resolution", "satisfaction"]));

    let y3 = line(&r, &w.unit("Y3"));
    assert_eq!((ratio(&y3["response"]), ratio(&y3["resolution"]), ratio(&y3["satisfaction"])), ((1, 1), (0, 0), (0, 0)));
    assert_eq!((y3["volume"]["count"].as_i64(), y3["open_at_end"]["count"].as_i64()), (Some(1), Some(1)));
    assert_eq!((y3["score"].as_f64(), y3["rank"].as_i64()), (Some(100.0), Some(1)));
    assert_eq!(y3["flags"], json!([]));

    // Y4 had no tickets: listed, not ranked.
    let y4 = line(&r, &w.unit("Y4"));
    assert_eq!((y4["score"].clone(), y4["rank"].clone(), y4["volume"]["count"].as_i64()), (Value::Null, Value::Null, Some(0)));
    assert_eq!(y1["rank"], 2);
    let order: Vec<&str> = compounds["units"].as_array().unwrap().iter().map(|u| u["unit_name"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["测试Y3", "测试Y1", "测试Y4"]);
    // reports.list_size = 1 in this test.
    assert_eq!((compounds["red_list"].clone(), compounds["yellow_list"].clone()), (json!([w.unit("Y3")]), json!([w.unit("Y1")])));

    // Each figure names the exact tickets behind it.
    let d = app.get_ok(y1["response"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!((d["numerator"].as_i64(), d["denominator"].as_i64()), (Some(2), Some(3)));
    assert_eq!(d["tickets"], json!(["R-T1", "R-T3"]));
    let late: Vec<&str> =
        d["items"].as_array().unwrap().iter().filter(|i| i["counted"] == false).map(|i| i["number"].as_str().unwrap()).collect();
    assert_eq!(late, vec!["R-T2"]);
    let d = app.get_ok(y1["reopens"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!((d["tickets"].clone(), d["denominator"].as_i64()), (json!(["R-T2"]), Some(3)));
    let d = app.get_ok(y1["overdue"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!(d["tickets"], json!(["R-T2"]));
    let d = app.get_ok(y3["open_at_end"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!(d["tickets"], json!(["R-T4"]));
    let d = app.get_ok(y1["volume"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!(d["tickets"], json!(["R-T1", "R-T2", "R-T3"]));

    // The community's own staff see the same figures for their community (by default: K1).
    let cs = app.login("cs1", PASSWORD).await;
    let mine = app.get_ok("/api/v1/rankings?period=2026-10", &cs).await;
    assert_eq!(mine["unit_id"], w.unit("K1"));
    assert_eq!(ratio(&line(&mine, &w.unit("Y1"))["resolution"]), (2, 3));
}

#[tokio::test]
async fn departments_are_ranked_with_their_peers_and_ties_share_a_rank() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    // The caller's top unit by default (D1); a from–to range covering October.
    let r = app.get_ok("/api/v1/rankings?from=2026-10-01&to=2026-10-31", &sup).await;
    assert_eq!((r["unit_id"].as_str(), r["period"].as_str()), (Some(w.unit("D1").as_str()), Some("2026-10-01..2026-10-31")));

    let s1 = line(&r, &w.unit("S1"));
    // Y1's three responses (two on time), Y3's one, K1's acceptance: 4 of 5.
    assert_eq!(ratio(&s1["response"]), (4, 5));
    assert_eq!(ratio(&s1["resolution"]), (2, 3));
    assert_eq!(ratio(&s1["satisfaction"]), (2, 3));
    // T1–T4 (T5 is September's); T4 and T5 still open.
    assert_eq!((s1["volume"]["count"].as_i64(), s1["open_at_end"]["count"].as_i64()), (Some(4), Some(2)));
    // 30 × 4/5 + 35 × 2/3 + 35 × 2/3 = 70.666…
    assert_eq!(s1["score"], 70.67);
    assert_eq!(s1["flags"], json!(["resolution", "satisfaction"]));
    assert_eq!(group(&r, "street")["units"].as_array().unwrap().len(), 1);

    let p1 = line(&r, &w.unit("P1"));
    assert_eq!(ratio(&p1["response"]), (1, 1));
    // Solved on 10-18 after the original deadline of 10-13: the granted extension makes it on time.
    assert_eq!(ratio(&p1["resolution"]), (1, 1));
    assert_eq!(ratio(&p1["satisfaction"]), (1, 1), "T3's visit counts against the lead that solved it");
    assert_eq!(ratio(&p1["extensions"]), (1, 1));
    assert_eq!(ratio(&p1["returns"]), (0, 1));
    let p3 = line(&r, &w.unit("P3"));
    // Returned within the acknowledgement limit: a response on time; its resolution clock ended
    // with the accepted return, so it is not judged.
    assert_eq!((ratio(&p3["response"]), ratio(&p3["resolution"])), ((1, 1), (0, 0)));
    assert_eq!(ratio(&p3["returns"]), (1, 1));
    assert_eq!((p1["score"].as_f64(), p3["score"].as_f64()), (Some(100.0), Some(100.0)));
    assert_eq!((p1["rank"].as_i64(), p3["rank"].as_i64()), (Some(1), Some(1)), "a tie shares the rank");
    let departments = group(&r, "department");
    assert_eq!(departments["red_list"], json!([w.unit("P1"), w.unit("P3")]));
    assert_eq!(departments["yellow_list"], json!([]));

    let d = app.get_ok(p3["returns"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!((d["tickets"].clone(), d["numerator"].as_i64()), (json!(["R-T3"]), Some(1)));
    let d = app.get_ok(p1["extensions"]["drill"].as_str().unwrap(), &sup).await;
    assert_eq!(d["tickets"], json!(["R-T3"]));

    // A quarter and a year hold the same October (nothing else happened).
    let q = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-Q4", w.unit("D1")), &sup).await;
    assert_eq!(ratio(&line(&q, &w.unit("S1"))["response"]), (4, 5));
    // September holds T5 only: its triage, on time.
    let sept = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-09", w.unit("K1")), &sup).await;
    assert_eq!(ratio(&line(&sept, &w.unit("Y1"))["response"]), (1, 1));
}

#[tokio::test]
async fn rankings_outside_the_callers_scope_are_refused_like_unknown_units() {
    let (app, w) = crafted_world().await;
    let q = |unit: &str| format!("/api/v1/rankings?unit={unit}&period=2026-10");
    let sup2 = app.login("sup2", PASSWORD).await;
    let out = assert_error(app.get(&q(&w.unit("K1")), Some(&sup2)).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    let missing =
        assert_error(app.get(&q(&Id::new().to_string()), Some(&sup2)).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    assert_eq!(out, missing, "out of scope reads exactly as unknown");
    assert_error(app.get(&q("not-a-unit"), Some(&sup2)).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    // Above one's own unit is out of scope too; the drill-down is guarded alike.
    let cs = app.login("cs1", PASSWORD).await;
    assert_error(app.get(&q(&w.unit("D1")), Some(&cs)).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    let drill = format!("/api/v1/rankings/tickets?unit={}&period=2026-10&measure=response", w.unit("Y1"));
    assert_error(app.get(&drill, Some(&sup2)).await, StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference").await;
    // Roles that do not rank: an admin sees the unit but may not rank it; a grid worker has no unit to rank.
    let admin = app.login("admin1", PASSWORD).await;
    assert_error(app.get(&q(&w.unit("D1")), Some(&admin)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let gw = app.login("gw1", PASSWORD).await;
    assert_error(app.get("/api/v1/rankings", Some(&gw)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get("/api/v1/rankings", None).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_bad_period_is_refused_with_a_message_in_the_callers_language() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let unit = w.unit("D1");
    let body = assert_error(
        app.get(&format!("/api/v1/rankings?unit={unit}&period=2026-13"), Some(&sup)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["field"], "period");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("2026-13") && message.contains("统计期"), "{message}");
    let r = app
        .client
        .get(app.url(&format!("/api/v1/rankings?unit={unit}&period=2026-13")))
        .bearer_auth(&sup)
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["message"].as_str().unwrap().contains("is not a period"), "{body}");

    for (query, field) in [
        ("from=2026-10-31&to=2026-10-01", "from"),
        ("from=2026-01-01&to=2027-06-30", "to"),
        ("from=2026-10-01", "to"),
        ("period=2026-10&from=2026-10-01&to=2026-10-02", "period"),
        ("period=2026-Q5", "period"),
        ("period=3000", "period"),
    ] {
        let r = app.get(&format!("/api/v1/rankings?unit={unit}&{query}"), Some(&sup)).await;
        let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let r = app.get(&format!("/api/v1/rankings/tickets?unit={unit}&period=2026-10"), Some(&sup)).await;
    assert_eq!(assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await["field"], "measure");
    // A malformed date or an unknown figure does not parse at all.
    assert_error(
        app.get(&format!("/api/v1/rankings?unit={unit}&from=2026-10-xx&to=2026-10-31"), Some(&sup)).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        app.get(&format!("/api/v1/rankings/tickets?unit={unit}&period=2026-10&measure=popularity"), Some(&sup)).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
}

#[tokio::test]
async fn the_default_period_is_last_month_in_china_time() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let r = app.get_ok("/api/v1/rankings", &sup).await;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let expected = gridloop::domain::reports::Period::month_before(today).label();
    assert_eq!((r["unit_id"].as_str(), r["period"].as_str()), (Some(w.unit("D1").as_str()), Some(expected.as_str())));
    assert_eq!(r["weights"], json!({"response": 30.0, "resolution": 35.0, "satisfaction": 35.0}));
    assert_eq!(r["threshold"], 0.7);
}

/// Rolls up every final fact not rolled up yet (the server's `rollup` task, run to the end).
pub(crate) fn roll_up(app: &TestApp) -> gridloop::app::reports::rollup::Rolled {
    let cals = calendars(&app.settings);
    let tz = cals.default_calendar().tz;
    gridloop::app::reports::rollup::roll_all(&mut app.conn(), &cals, tz).unwrap()
}

/// The figures without the instant they were computed at.
fn figures(mut v: Value) -> Value {
    v["computed_at"] = Value::Null;
    v
}

/// Acts as `token` on ticket `t`, asserting success, and returns the ticket after.
async fn step(app: &TestApp, token: &str, t: &Value, body: Value) -> Value {
    let (status, v) = crate::tickets::act(app, token, t["id"].as_str().unwrap(), t["version"].as_i64().unwrap(), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}: {v}");
    v
}

/// The crafted data above assumes how the engine leaves its rows: a resolution's audit event at
/// the instant its clock stops, a return visit's `to_state`. Here the real workflow writes them.
#[tokio::test]
async fn figures_follow_the_real_workflow_through_the_api() {
    let (app, fx) = crate::fixture::spawn_fixture().await;
    let (gw, bs, cs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await, app.login("cs1", PASSWORD).await);
    let (lead, co) = (app.login("dl1", PASSWORD).await, app.login("dl3", PASSWORD).await);
    // Solved at the compound, the resident satisfied.
    let a = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let a = step(&app, &bs, &a, json!({"action": "accept_at_compound"})).await;
    let a = step(&app, &bs, &a, json!({"action": "mark_solved", "resolution": "已清理"})).await;
    step(&app, &gw, &a, json!({"action": "record_return_visit", "satisfaction": "satisfied"})).await;
    // Ticket a's facts are final and rolled up; b's below are counted live beside them.
    let first = roll_up(&app);
    assert_eq!((first.clocks, first.visits), (3, 1), "a's triage, acceptance and resolution clocks and its visit");
    // Whistled to P1 with P3; P3 completes its part; P1 solves; not satisfied: reopened; solved again.
    let b = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let b = step(&app, &bs, &b, json!({"action": "report_to_community", "reason": "上报"})).await;
    let b = step(
        &app,
        &cs,
        &b,
        json!({"action": "whistle", "lead_department_id": fx.unit("P1"), "co_department_ids": [fx.unit("P3")], "whistle_type": "emergency", "reason": "吹哨"}),
    )
    .await;
    let b = step(&app, &lead, &b, json!({"action": "acknowledge"})).await;
    let b = step(&app, &co, &b, json!({"action": "acknowledge"})).await;
    let b = step(&app, &co, &b, json!({"action": "complete_part", "note": "已配合"})).await;
    let b = step(&app, &lead, &b, json!({"action": "mark_solved", "resolution": "已处理"})).await;
    let b = step(&app, &gw, &b, json!({"action": "record_return_visit", "satisfaction": "not_satisfied"})).await;
    assert_eq!(b["state"], "whistled", "reopened at the department level");
    let b = step(&app, &lead, &b, json!({"action": "mark_solved", "resolution": "再次处理"})).await;
    step(&app, &gw, &b, json!({"action": "record_return_visit", "satisfaction": "basically_satisfied"})).await;

    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let sup = app.login("sup1", PASSWORD).await;
    // Yesterday to tomorrow: the same figures whenever around midnight the test runs.
    let (from, to) = (today - Duration::days(1), today + Duration::days(1));
    let r = app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await;
    let (s1, p1, p3) = (line(&r, fx.unit("S1")), line(&r, fx.unit("P1")), line(&r, fx.unit("P3")));
    // Y1's two triages and K1's acceptance (the whistle ended it), all at once.
    assert_eq!(ratio(&s1["response"]), (3, 3));
    assert_eq!((ratio(&s1["resolution"]), ratio(&s1["satisfaction"])), ((1, 1), (1, 1)));
    assert_eq!((ratio(&p1["response"]), ratio(&p1["resolution"])), ((1, 1), (2, 2)));
    assert_eq!((ratio(&p1["satisfaction"]), ratio(&p1["reopens"])), ((1, 2), (1, 2)));
    assert_eq!((ratio(&p3["response"]), ratio(&p3["resolution"]), ratio(&p3["satisfaction"])), ((1, 1), (1, 1), (0, 0)));
    assert_eq!((ratio(&p1["returns"]), ratio(&p3["returns"])), ((0, 1), (0, 1)));
    // Rolled up to the end, the figures are the same.
    let rest = roll_up(&app);
    assert!(rest.clocks >= 8 && rest.visits == 2, "{rest:?}");
    let again = app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await;
    assert_eq!(figures(again), figures(r.clone()));
    // A clock rolled up while it ran (its volume) and again when it stops (its verdict): counted once.
    let c = crate::tickets::file(&app, &gw, &crate::tickets::new_ticket(&fx)).await;
    let with_c = app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await;
    assert_eq!(roll_up(&app).started, 1, "c's triage clock, running");
    assert_eq!(figures(app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await), figures(with_c.clone()));
    step(&app, &bs, &c, json!({"action": "accept_at_compound"})).await;
    let accepted = app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await;
    let r2 = roll_up(&app);
    assert_eq!((r2.started, r2.clocks), (1, 1), "c's resolution clock started; its triage stopped");
    assert_eq!(figures(app.get_ok(&format!("/api/v1/rankings?from={from}&to={to}"), &sup).await), figures(accepted.clone()));
    assert_eq!(
        line(&accepted, fx.unit("S1"))["volume"]["count"].as_i64(),
        line(&r, fx.unit("S1"))["volume"]["count"].as_i64().map(|v| v + 1)
    );
    assert_eq!(roll_up(&app), Default::default(), "nothing is rolled up twice");
}

/// The figures are counted by the database and the drill-down lists items one by one: for every
/// unit of every ranking of the crafted data, each figure equals the items of its drill-down.
#[tokio::test]
async fn every_figure_equals_the_items_its_drill_down_lists() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let mut live = vec![];
    // First everything counted live, then everything from the roll-up (decision 0027).
    for rolled in [false, true] {
        if rolled {
            let r = roll_up(&app);
            assert!(r.clocks >= 10 && r.visits >= 3, "the crafted clocks and visits rolled up: {r:?}");
        }
        let mut checked = 0;
        let mut n = 0;
        for unit in ["K1", "S1", "D1"] {
            for period in ["2026-10", "2026-Q4", "2026"] {
                let r = app.get_ok(&format!("/api/v1/rankings?unit={}&period={period}", w.unit(unit)), &sup).await;
                if rolled {
                    assert_eq!(figures(r.clone()), live[n], "{unit} {period}: the same figures rolled up as counted live");
                } else {
                    live.push(figures(r.clone()));
                }
                n += 1;
                for u in r["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()) {
                    for f in ["response", "resolution", "satisfaction", "on_time", "overdue", "returns", "reopens", "extensions"] {
                        let d = app.get_ok(u[f]["drill"].as_str().unwrap(), &sup).await;
                        assert_eq!(ratio(&d), ratio(&u[f]), "{unit} {period} {} {f}", u["unit_name"]);
                        let counted = d["items"].as_array().unwrap().iter().filter(|i| i["counted"] == true).count() as i64;
                        assert_eq!(counted, d["numerator"].as_i64().unwrap(), "{unit} {period} {f}: the items marked counted");
                        checked += 1;
                    }
                    for f in ["volume", "open_at_end"] {
                        let d = app.get_ok(u[f]["drill"].as_str().unwrap(), &sup).await;
                        assert_eq!(d["denominator"], u[f]["count"], "{unit} {period} {} {f}", u["unit_name"]);
                    }
                    if u["unit_id"] == w.unit("Y1") && period == "2026-10" {
                        assert_eq!(ratio(&u["on_time"]), (4, 6));
                        let d = app.get_ok(u["on_time"]["drill"].as_str().unwrap(), &sup).await;
                        assert_eq!(d["measure"], "on_time");
                    }
                }
            }
        }
        assert!(checked > 50, "{checked} figures checked");
        // A ticket counts in the volume of the period it first reached a unit: the months add up
        // to the year (T5, triaged in September and worked on in October, counts once).
        let year = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026", w.unit("K1")), &sup).await;
        let mut months: std::collections::HashMap<String, i64> = Default::default();
        for m in 1..=12 {
            let r = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026-{m:02}", w.unit("K1")), &sup).await;
            for u in r["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()) {
                *months.entry(u["unit_id"].as_str().unwrap().to_string()).or_default() += u["volume"]["count"].as_i64().unwrap();
            }
        }
        for u in year["groups"].as_array().unwrap().iter().flat_map(|g| g["units"].as_array().unwrap()) {
            assert_eq!(Some(months[u["unit_id"].as_str().unwrap()]), u["volume"]["count"].as_i64(), "{}: months vs year", u["unit_name"]);
        }
        assert_eq!(line(&year, &w.unit("Y1"))["volume"]["count"], 4, "T1–T4 and T5 in Y1…");
        // The crafted figures are not all zero at the top: the district's year counts K1's work.
        let r = app.get_ok(&format!("/api/v1/rankings?unit={}&period=2026", w.unit("S1")), &sup).await;
        let k1 = line(&r, &w.unit("K1"));
        assert_eq!(
            ratio(&k1["response"]).1,
            6,
            "the triage of T1–T5 in K1's compounds (T5's in September) and T3's acceptance by K1 itself: {k1}"
        );
    }
}

/// Several servers' roll-up rounds at once (PostgreSQL: clocks claimed with `SKIP LOCKED`, the
/// chains' marks locked; SQLite: one writer): every fact is added once, the figures unchanged.
#[tokio::test]
async fn concurrent_roll_ups_add_each_fact_once() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let urls: Vec<String> = ["2026-10", "2026"].iter().map(|p| format!("/api/v1/rankings?unit={}&period={p}", w.unit("S1"))).collect();
    let mut live = vec![];
    for u in &urls {
        live.push(figures(app.get_ok(u, &sup).await));
    }
    let cals = calendars(&app.settings);
    let rounds: Vec<_> = (0..4)
        .map(|_| {
            let (mut conn, cals) = (app.conn(), cals.clone());
            std::thread::spawn(move || {
                let tz = cals.default_calendar().tz;
                gridloop::app::reports::rollup::roll_all(&mut conn, &cals, tz).unwrap()
            })
        })
        .collect();
    let (mut started, mut clocks, mut visits) = (0, 0, 0);
    for r in rounds {
        let r = r.join().unwrap();
        started += r.started;
        clocks += r.clocks;
        visits += r.visits;
    }
    let stopped: i64 = sla_clocks::table.filter(sla_clocks::stopped_at.is_not_null()).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(clocks as i64, stopped, "each stopped clock rolled up by exactly one round");
    let running: i64 = sla_clocks::table.filter(sla_clocks::stopped_at.is_null()).count().get_result(&mut app.conn()).unwrap();
    assert_eq!((started as i64, running), (2, 2), "T4's and T5's running resolutions: their volume, once");
    assert_eq!(visits, 4, "each crafted return visit once");
    for (u, before) in urls.iter().zip(live) {
        assert_eq!(figures(app.get_ok(u, &sup).await), before, "{u}");
    }
}

/// A drill-down answers in pages: `limit` items from `offset`, and where the next page starts.
#[tokio::test]
async fn a_drill_down_pages_through_its_items() {
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let base = format!("/api/v1/rankings/tickets?unit={}&period=2026-10&measure=overdue", w.unit("Y1"));
    let all = app.get_ok(&base, &sup).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next_offset"], Value::Null);
    let first = app.get_ok(&format!("{base}&limit=4"), &sup).await;
    assert_eq!((first["items"].as_array().unwrap().len(), first["next_offset"].as_i64()), (4, Some(4)));
    assert_eq!(ratio(&first), (2, 6), "the figure is the whole one on every page");
    let second = app.get_ok(&format!("{base}&limit=4&offset=4"), &sup).await;
    assert_eq!((second["items"].as_array().unwrap().len(), second["next_offset"].clone()), (2, Value::Null));
    let numbers = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let mut joined = numbers(&first);
    joined.extend(numbers(&second));
    assert_eq!(joined, numbers(&all), "the pages are the whole list, in order");
    assert_error(app.get(&format!("{base}&limit=0"), Some(&sup)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

/// Migration 000021 on a database with history: the `resolved` flag it sets from the audit trail
/// (an 办结 or 协办完成 event at the instant the clock stopped) gives the same figures as the flags
/// the workflow writes. The crafted October is reverted to before the migration and migrated again.
#[tokio::test]
async fn the_migration_marks_past_resolutions_from_the_audit_trail() {
    use diesel_migrations::MigrationHarness;
    let (app, w) = crafted_world().await;
    let sup = app.login("sup1", PASSWORD).await;
    let url = format!("/api/v1/rankings?unit={}&period=2026-10", w.unit("K1"));
    let mut before = app.get_ok(&url, &sup).await;
    let resolved = |conn: &mut DbConn| -> i64 { sla_clocks::table.filter(sla_clocks::resolved.eq(true)).count().get_result(conn).unwrap() };
    let mut conn = app.conn();
    let flagged = resolved(&mut conn);
    assert!(flagged >= 3, "the crafted resolutions: {flagged}");
    // 000022 keeps on each ticket row its nearest running clock's warning time and flag.
    let kept = |conn: &mut DbConn| -> Vec<(String, Option<NaiveDateTime>, bool)> {
        tickets::table.order(tickets::id).select((tickets::id, tickets::warn_at, tickets::due_provisional)).load(conn).unwrap()
    };
    // Back to before 000021 (the migrations after it first), then forward again.
    let mut reverted = vec![];
    while !reverted.last().is_some_and(|v: &String| v.ends_with("000021")) {
        let version = match &mut conn {
            DbConn::Sqlite(c) => c.revert_last_migration(gridloop::db::SQLITE_MIGRATIONS).unwrap().to_string(),
            DbConn::Postgresql(c) => c.revert_last_migration(gridloop::db::POSTGRES_MIGRATIONS).unwrap().to_string(),
        };
        assert!(version.as_str() >= "20261201000021", "reverted past the flag's migration: {version}");
        reverted.push(version);
    }
    let applied = gridloop::db::run_migrations(&mut conn).unwrap();
    reverted.reverse();
    assert_eq!(applied, reverted);
    assert_eq!(resolved(&mut conn), flagged, "the same clocks flagged as the workflow flagged them");
    let rows = kept(&mut conn);
    let ids: Vec<gridloop::domain::TicketId> = rows.iter().map(|r| r.0.parse().unwrap()).collect();
    let nearest = gridloop::app::sla::tickets_due(&mut conn, &ids).unwrap();
    let expected: Vec<(String, Option<NaiveDateTime>, bool)> = rows
        .iter()
        .zip(&ids)
        .map(|(r, id)| (r.0.clone(), nearest.get(id).map(|n| n.warn_at), nearest.get(id).is_some_and(|n| n.provisional)))
        .collect();
    assert!(expected.iter().any(|e| e.1.is_some()), "some crafted ticket has a running clock");
    assert_eq!(rows, expected, "000022 keeps each ticket's nearest running clock on its row");
    let mut after = app.get_ok(&url, &sup).await;
    for r in [&mut before, &mut after] {
        r["computed_at"] = Value::Null;
    }
    assert_eq!(after, before);
}

/// A running clock another server's round listed meanwhile is not listed — nor counted — again:
/// on PostgreSQL a round's claim can see such a clock as unlisted (its `NOT EXISTS` reads the
/// statement's snapshot), and the list's key then decides (found by the kill drill,
/// bench/drill.py: three servers' rounds failed on the duplicate key again and again).
#[tokio::test]
async fn a_running_clock_listed_by_another_round_is_listed_once() {
    let (app, _w) = crafted_world().await;
    let rolled = roll_up(&app);
    assert_eq!(rolled.started, 2);
    let running: Vec<String> =
        sla_clocks::table.filter(sla_clocks::stopped_at.is_null()).select(sla_clocks::id).load(&mut app.conn()).unwrap();
    let ids: Vec<&str> = running.iter().map(String::as_str).collect();
    let days = || -> (i64, i64) {
        use gridloop::db::schema::report_days;
        let rows: Vec<(i64, i64)> = report_days::table.select((report_days::counted, report_days::total)).load(&mut app.conn()).unwrap();
        rows.iter().fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1))
    };
    let before = days();
    // A second listing of the same clocks, as the losing round would try: nothing is listed.
    let listed = gridloop::db::backend::reports::list_started(&mut app.conn(), &ids).unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(roll_up(&app).started, 0);
    assert_eq!(days(), before, "the volume is not counted twice");
}
