//! Residents' personal data that expires (decision 0033): the retention purge clears a closed
//! ticket's contact, its photos, visit-log notes and login attempts once their months are up,
//! each clearing an audit event, and the audit chain still verifies; a resident's access and
//! erasure requests are an admin's recorded actions. On both back ends.

use chrono::{Months, NaiveDateTime};
use diesel::prelude::*;
use gridloop::app::audit;
use gridloop::app::photos::FileStore;
use gridloop::app::retention;
use gridloop::db::schema::{audit_events, login_attempts, residents, tickets, visit_logs};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fixture::{spawn_fixture, Fixture, PASSWORD};
use crate::helpers::{assert_error, TestApp};
use crate::tickets::{act, file, new_ticket};

const PHONE: &str = "13712345678";

/// A ticket of B1 filed by gw1 with the resident's contact, taken to closed (accepted and solved
/// at the compound, satisfied at the return visit).
async fn closed_ticket(app: &TestApp, fx: &Fixture, gw: &str, bs: &str) -> String {
    let t = file(app, gw, &new_ticket(fx)).await;
    let id = t["id"].as_str().unwrap().to_string();
    for (who, v, body) in [
        (bs, 1, json!({"action": "accept_at_compound"})),
        (bs, 2, json!({"action": "mark_solved", "resolution": "已协调物业清理"})),
        (gw, 3, json!({"action": "record_return_visit", "satisfaction": "satisfied"})),
    ] {
        let (s, t) = act(app, who, &id, v, body).await;
        assert_eq!(s, StatusCode::OK, "{t}");
    }
    id
}

fn months_later(months: u32) -> NaiveDateTime {
    gridloop::app::utc_now().checked_add_months(Months::new(months)).unwrap()
}

fn purge(app: &TestApp, now: NaiveDateTime) -> retention::Purged {
    let store = FileStore { dir: app.settings.photos.dir.clone() };
    retention::purge(&mut app.conn(), &store, &app.settings.retention, now).expect("purge")
}

fn verified(app: &TestApp) -> audit::Verified {
    audit::verify(&mut app.conn(), None).unwrap().unwrap_or_else(|b| panic!("the chain breaks: {b:?}"))
}

/// The stored `changes` of the ticket's events, by action.
fn stored_changes(app: &TestApp, entity: &str) -> Vec<(String, String)> {
    audit_events::table
        .filter(audit_events::entity_id.eq(entity))
        .order((audit_events::at, audit_events::seq))
        .select((audit_events::action, audit_events::changes))
        .load(&mut app.conn())
        .unwrap()
}

async fn upload_photo(app: &TestApp, token: &str, ticket: &str) -> Value {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{ticket}/photos")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(crate::photos::phone_photo())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

fn photo_files(app: &TestApp) -> usize {
    fn walk(d: &std::path::Path) -> usize {
        std::fs::read_dir(d).map(|rd| rd.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()).unwrap_or(0)
    }
    walk(std::path::Path::new(&app.settings.photos.dir))
}

#[tokio::test]
async fn the_purge_clears_what_is_due_records_it_and_the_chain_still_verifies() {
    let (app, fx) = spawn_fixture().await;
    let (gw, bs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await);
    let closed = closed_ticket(&app, &fx, &gw, &bs).await;
    let photo = upload_photo(&app, &gw, &closed).await;
    let open = file(&app, &gw, &new_ticket(&fx)).await["id"].as_str().unwrap().to_string();
    let log_body = json!({
        "client_id": uuid::Uuid::new_v4().to_string(),
        "grid_id": fx.unit("B1"),
        "visit_date": app.settings.visits.rules(crate::helpers::calendars(&app.settings).default_calendar().tz).local_date(gridloop::app::utc_now()),
        "households_visited": 2,
        "observations": "楼道堆放杂物。",
        "notes": format!("王大爷 {PHONE} 腿脚不便，需上门"),
    });
    let r = app.post_json("/api/v1/visit-logs", Some(&gw), &log_body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let log: Value = r.json().await.unwrap();
    let log_id = log["id"].as_str().unwrap().to_string();
    let _ = app.post_json("/api/v1/auth/login", None, &json!({"login": "gw1", "password": "wrong-password-1"})).await;
    let attempts = || login_attempts::table.count().get_result::<i64>(&mut app.conn()).unwrap();
    assert!(attempts() >= 3);
    assert!(photo_files(&app) >= 2, "the photo and its thumbnail are on disk");
    // The filing event holds the (masked) phone with a salt for its digest; the log's its notes.
    let filing = &stored_changes(&app, &closed)[0];
    assert_eq!(filing.0, "file");
    assert!(filing.1.contains("5678") && filing.1.contains("_pii_salt"), "{}", filing.1);
    assert!(stored_changes(&app, &log_id)[0].1.contains(PHONE));
    let before = verified(&app);

    // Nothing is due a month from now: the defaults keep contacts, photos and notes 36 months.
    assert_eq!(purge(&app, months_later(1)), retention::Purged::default());

    // 37 months on: the closed ticket's contact and photos, the log's notes and the attempts go.
    let purged_metric =
        || crate::metrics::value(&gridloop::metrics::get().encode(), r#"gridloop_retention_purged_total{kind="ticket_contact"}"#);
    let counted = purged_metric();
    let p = purge(&app, months_later(37));
    assert!(purged_metric() >= counted + 1.0, "the metrics count the purge");
    assert_eq!((p.ticket_contacts, p.photo_rows, p.visit_logs, p.login_attempts as i64 >= 3), (1, 1, 1, true), "{p:?}");
    assert!(p.photo_files >= 2 && p.audit_events >= 2, "{p:?}");
    assert_eq!(p.audit_events_kept, 0);
    assert_eq!(attempts(), 0);
    assert_eq!(photo_files(&app), 0, "the files are deleted");

    let t = app.get_ok(&format!("/api/v1/tickets/{closed}"), &bs).await;
    assert_eq!((t["contact_purged"].as_bool(), t["resident_name"].as_str(), t["resident_phone_masked"].as_str()), (Some(true), None, None));
    assert_eq!(t["anonymous"], false, "a purged contact is not an anonymous filing");
    let (name, phone): (Option<String>, Option<String>) =
        tickets::table.find(&closed).select((tickets::resident_name, tickets::resident_phone)).first(&mut app.conn()).unwrap();
    assert_eq!((name.as_deref(), phone), (Some(retention::PURGED), None));
    // The open ticket keeps its contact: its time has not begun.
    let o = app.get_ok(&format!("/api/v1/tickets/{open}"), &bs).await;
    assert_eq!((o["contact_purged"].as_bool(), o["resident_phone_masked"].as_str()), (Some(false), Some("137****5678")));
    // The photo is gone for everyone.
    let r = app.get(&format!("/api/v1/photos/{}", photo["id"].as_str().unwrap()), Some(&gw)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The events keep only digests, no salt; the purge is an event of its own.
    let events = stored_changes(&app, &closed);
    let filing = &events[0].1;
    assert!(!filing.contains("5678") && !filing.contains("_pii_salt") && filing.contains("purged_sha256"), "{filing}");
    let purges: Vec<&(String, String)> = events.iter().filter(|(a, _)| a == "purge_personal_data").collect();
    assert_eq!(purges.len(), 2, "one for the contact, one for the photos: {events:?}");
    assert!(purges[0].1.contains("retention.ticket_contact_months = 36"));
    let timeline = app.get_ok(&format!("/api/v1/tickets/{closed}/timeline"), &bs).await;
    let shown = timeline.as_array().unwrap()[0]["changes"].to_string();
    assert!(!shown.contains("_pii_salt") && shown.contains("purged_sha256"), "{shown}");
    let l = app.get_ok(&format!("/api/v1/visit-logs/{log_id}"), &gw).await;
    assert_eq!((l["notes"].as_str(), l["notes_purged"].as_bool()), (None, Some(true)));
    assert!(!stored_changes(&app, &log_id).iter().any(|(_, c)| c.contains(PHONE)), "the log's events keep no number");
    let notes: Option<String> = visit_logs::table.find(&log_id).select(visit_logs::notes).first(&mut app.conn()).unwrap();
    assert_eq!(notes.as_deref(), Some(retention::PURGED));

    // The chain verifies, with the purge's own events on it.
    let after = verified(&app);
    assert!(after.events > before.events, "{before:?} -> {after:?}");
    // A second run finds nothing left.
    assert_eq!(purge(&app, months_later(37)).total(), 0);
}

#[tokio::test]
async fn the_audit_trail_stays_append_only_but_for_the_purge_and_a_forged_purge_shows() {
    let (app, fx) = spawn_fixture().await;
    let (gw, bs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await);
    let id = closed_ticket(&app, &fx, &gw, &bs).await;
    let mut conn = app.conn();
    let first: String = audit_events::table
        .filter(audit_events::entity_id.eq(&id))
        .order(audit_events::seq)
        .select(audit_events::id)
        .first(&mut conn)
        .unwrap();
    // Any column but `changes` is refused by the database.
    let r = diesel::update(audit_events::table.find(&first)).set(audit_events::reason.eq(Some("rewritten"))).execute(&mut conn);
    assert!(r.is_err_and(|e| e.to_string().contains("append-only")));
    let r = diesel::delete(audit_events::table.find(&first)).execute(&mut conn);
    assert!(r.is_err_and(|e| e.to_string().contains("append-only")));
    // `changes` may be rewritten (that is the purge), but anything but a purge breaks the chain.
    let changes: String = audit_events::table.find(&first).select(audit_events::changes).first(&mut conn).unwrap();
    let forged = changes.replace("楼下烧烤店夜间噪音", "一切正常");
    assert_ne!(forged, changes);
    diesel::update(audit_events::table.find(&first)).set(audit_events::changes.eq(&forged)).execute(&mut conn).unwrap();
    let b = audit::verify(&mut conn, None).unwrap().unwrap_err();
    assert_eq!(b.event_id.as_deref(), Some(first.as_str()), "{b:?}");
    // The real purge of the same values verifies.
    let purged = gridloop::domain::audit::purge_changes(&changes).unwrap();
    diesel::update(audit_events::table.find(&first)).set(audit_events::changes.eq(&purged)).execute(&mut conn).unwrap();
    verified(&app);
}

#[tokio::test]
async fn a_residents_access_and_erasure_requests_are_an_admins_recorded_actions() {
    let (app, fx) = spawn_fixture().await;
    let (gw, bs) = (app.login("gw1", PASSWORD).await, app.login("bs1", PASSWORD).await);
    let (admin1, admin2) = (app.login("admin1", PASSWORD).await, app.login("admin2", PASSWORD).await);
    let closed = closed_ticket(&app, &fx, &gw, &bs).await;
    let open = file(&app, &gw, &new_ticket(&fx)).await["id"].as_str().unwrap().to_string();
    let request = json!({"phone": PHONE, "reference": "PIPL-2026-007", "note": "本人持身份证到社区申请"});

    // Only an admin over the units: a grid worker is refused, in the user's language.
    let e =
        assert_error(app.post_json("/api/v1/personal-data/access", Some(&gw), &request).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(e["message"].as_str().unwrap().contains("管理员"), "{e}");
    let e = assert_error(
        app.post_json("/api/v1/personal-data/access", Some(&admin1), &json!({"phone": "12345", "reference": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(e["field"], "phone");
    // The other district's admin finds nothing of it.
    let other: Value = app.post_json("/api/v1/personal-data/access", Some(&admin2), &request).await.json().await.unwrap();
    assert_eq!((other["register"].as_array().unwrap().len(), other["tickets"].as_array().unwrap().len()), (0, 0), "{other}");

    // The copy: the register's entry and both tickets, in clear.
    let r = app.post_json("/api/v1/personal-data/access", Some(&admin1), &request).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let copy: Value = r.json().await.unwrap();
    assert_eq!(copy["register"][0]["phone"], PHONE);
    assert_eq!(copy["register"][0]["id_number"], "11010519491231002X");
    let numbers: Vec<&str> = copy["tickets"].as_array().unwrap().iter().map(|t| t["resident_phone"].as_str().unwrap()).collect();
    assert_eq!(numbers, [PHONE, PHONE]);
    let access_id = copy["request_id"].as_str().unwrap().to_string();
    let recorded = stored_changes(&app, &access_id);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "access");
    assert!(
        recorded[0].1.contains("137****5678") && !recorded[0].1.contains(PHONE) && recorded[0].1.contains("PIPL-2026-007"),
        "{recorded:?}"
    );

    // The erasure, retried with the same key: done once.
    let erase = |key: &'static str| {
        let app = &app;
        let (admin1, request) = (admin1.clone(), request.clone());
        async move {
            app.client
                .request(Method::POST, app.url("/api/v1/personal-data/erasure"))
                .bearer_auth(admin1)
                .header("Idempotency-Key", key)
                .json(&request)
                .send()
                .await
                .unwrap()
        }
    };
    let r = erase("erase-007").await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.unwrap();
    assert_eq!((done["register_entries_deleted"].as_i64(), done["ticket_contacts_cleared"].as_i64()), (Some(1), Some(1)), "{done}");
    assert_eq!(done["open_tickets_kept"][0]["id"], open.as_str());
    assert!(!done.to_string().contains(PHONE), "the answer (kept for retries) holds no number: {done}");
    let events = || audit_events::table.count().get_result::<i64>(&mut app.conn()).unwrap();
    let n = events();
    let again = erase("erase-007").await;
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), done);
    assert_eq!(events(), n, "a retry records nothing twice");

    let left = residents::table.filter(residents::phone.eq(PHONE)).count().get_result::<i64>(&mut app.conn()).unwrap();
    assert_eq!(left, 0, "the register's entry is deleted");
    let t = app.get_ok(&format!("/api/v1/tickets/{closed}"), &bs).await;
    assert_eq!(t["contact_purged"], true);
    let o = app.get_ok(&format!("/api/v1/tickets/{open}"), &bs).await;
    assert_eq!(o["resident_phone_masked"], "137****5678", "the open ticket keeps its contact for the return visit");
    let trail = stored_changes(&app, done["request_id"].as_str().unwrap());
    assert_eq!(trail[0].0, "erasure");
    assert!(!trail[0].1.contains(PHONE));
    assert!(stored_changes(&app, &closed).iter().any(|(a, c)| a == "purge_personal_data" && c.contains("erasure_request")));
    verified(&app);
}
