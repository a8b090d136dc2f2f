//! Random sequences of workflow actions by random actors, on a real database: no state outside the
//! table is ever reached, nobody acts outside his scope, and the audit chain always verifies.

use std::collections::HashSet;

use proptest::prelude::*;

use gridloop::app::tickets::{act, file_ticket, ActionRequest, ExtensionRuling, NewTicket, ReturnRuling, TicketView};
use gridloop::app::{audit, AppError};
use gridloop::domain::workflow::{reopened_state, rule, ActionKind, Level, Outcome, ReturnReason, Satisfaction, TicketState, WhistleType};
use gridloop::domain::Actor;

use crate::fixture::{seed, Fixture};
use crate::helpers::{project_dir, test_settings, TestDb};

/// People who may try anything: in scope, out of scope, departments and onlookers.
const ACTORS: &[&str] = &["gw1", "gw2", "bs1", "bs2", "cs1", "cs2", "dl1", "dl3", "dl2", "sup1", "admin1"];

/// Builds an action of kind `k` with arguments drawn from `seed`, using what the ticket holds now.
fn request(k: usize, seed: u32, fx: &Fixture, view: &gridloop::app::tickets::TicketView) -> ActionRequest {
    // P2 serves another district and may never be whistled here: named now and then.
    let depts = [fx.unit("P1"), fx.unit("P3"), fx.unit("P1"), fx.unit("P3"), fx.unit("P2")];
    let d = |s: u32| depts[(s % 5) as usize].to_string();
    let pending_ext = view
        .extensions
        .iter()
        .find(|e| e.state == "pending")
        .map(|e| e.id.clone())
        .unwrap_or_else(|| "00000000-0000-7000-8000-000000000000".into());
    let due = view.departments.iter().map(|p| p.due_at).max().unwrap_or(view.created_at);
    match ActionKind::ALL[k % ActionKind::ALL.len()] {
        ActionKind::AcceptAtCompound => ActionRequest::AcceptAtCompound { note: None },
        ActionKind::ReportToCommunity => ActionRequest::ReportToCommunity { reason: "上报".into() },
        ActionKind::MarkDuplicate => ActionRequest::MarkDuplicate { duplicate_of: view.id.clone(), reason: None },
        ActionKind::Decline => ActionRequest::Decline { reason: "不予受理".into() },
        ActionKind::AcceptAtCommunity => ActionRequest::AcceptAtCommunity { note: None },
        ActionKind::Whistle => ActionRequest::Whistle {
            lead_department_id: d(seed),
            co_department_ids: if seed % 2 == 0 { vec![d(seed + 1)] } else { vec![] },
            whistle_type: WhistleType::ALL[(seed % 3) as usize],
            reason: "吹哨".into(),
        },
        ActionKind::AddDepartment => ActionRequest::AddDepartment { department_id: d(seed), reason: None },
        ActionKind::RemoveDepartment => ActionRequest::RemoveDepartment { department_id: d(seed), reason: "撤回".into() },
        ActionKind::Acknowledge => ActionRequest::Acknowledge { department_id: None },
        ActionKind::ReturnCase => {
            ActionRequest::ReturnCase { department_id: None, reason_code: ReturnReason::ALL[(seed % 4) as usize], note: "退单".into() }
        }
        ActionKind::RequestExtension => ActionRequest::RequestExtension {
            department_id: None,
            reason: "延期".into(),
            proposed_due_at: (due + chrono::Duration::days(1 + (seed % 5) as i64)).and_utc(),
        },
        ActionKind::AddProgress => ActionRequest::AddProgress { department_id: None, note: "进展".into() },
        ActionKind::CompletePart => ActionRequest::CompletePart { department_id: None, note: "完成".into() },
        ActionKind::MarkSolved => ActionRequest::MarkSolved { resolution: "已解决".into() },
        ActionKind::RuleOnReturn => ActionRequest::RuleOnReturn {
            department_id: d(seed),
            decision: if seed % 2 == 0 { ReturnRuling::Overrule } else { ReturnRuling::Accept },
            new_department_id: if seed % 3 == 0 { None } else { Some(d(seed + 1)) },
            reason: "裁定".into(),
        },
        ActionKind::RuleOnExtension => ActionRequest::RuleOnExtension {
            extension_id: pending_ext,
            decision: if seed % 2 == 0 { ExtensionRuling::Grant } else { ExtensionRuling::Refuse },
            reason: None,
        },
        ActionKind::RecordReturnVisit => {
            ActionRequest::RecordReturnVisit { satisfaction: Satisfaction::ALL[(seed % 3) as usize], note: None }
        }
        ActionKind::PauseForResident => ActionRequest::PauseForResident { reason: "等居民回家".into() },
        ActionKind::ResumeWork => ActionRequest::ResumeWork { note: None },
        ActionKind::ReleasePart => ActionRequest::ReleasePart { department_id: d(seed), reason: "不再需要".into() },
        ActionKind::EscalateToCommunity => ActionRequest::EscalateToCommunity {},
    }
}

/// The index in ACTORS of the person whose job `kind` is in `state`.
fn right_person(kind: ActionKind, state: TicketState, seed: u32, view: &gridloop::app::tickets::TicketView, fx: &Fixture) -> usize {
    use gridloop::domain::workflow::{handling_level, AssignmentState, Taker};
    let idx = |l: &str| ACTORS.iter().position(|a| *a == l).unwrap();
    // A liaison of a department with a live part, when there is one.
    let live: Vec<&str> = view
        .departments
        .iter()
        .filter(|p| p.state != AssignmentState::Removed)
        .filter_map(|p| {
            if p.department_id == fx.unit("P1") {
                Some("dl1")
            } else if p.department_id == fx.unit("P3") {
                Some("dl3")
            } else {
                None
            }
        })
        .collect();
    let department = if live.is_empty() {
        if seed % 2 == 0 {
            idx("dl1")
        } else {
            idx("dl3")
        }
    } else {
        idx(live[seed as usize % live.len()])
    };
    match rule(kind).taker {
        Taker::Compound => idx("bs1"),
        Taker::Community => idx("cs1"),
        Taker::AnyDepartment => department,
        Taker::GridWorker => idx("gw1"),
        // Nobody here is the system: the step is refused, as it must be.
        Taker::System => idx("bs1"),
        Taker::HandlingLevel => match handling_level(state) {
            Some(Level::Compound) | None => idx("bs1"),
            Some(Level::Community) => idx("cs1"),
            Some(Level::Department) => department,
        },
    }
}

/// Who can see a ticket of building B1, decided from the fixture alone, not from the code under test.
fn may_see(login: &str, whistled: &HashSet<String>, fx: &Fixture) -> bool {
    match login {
        "gw1" | "bs1" | "cs1" | "sup1" => true,
        "dl1" => whistled.contains(fx.unit("P1")),
        "dl3" => whistled.contains(fx.unit("P3")),
        _ => false,
    }
}

#[test]
fn random_action_sequences_stay_in_the_table_in_scope_and_on_a_verifiable_chain() {
    let db = TestDb::new();
    let settings = test_settings(&db);
    let pool = gridloop::db::build_pool(&settings.database).unwrap();
    let mut conn = pool.get().unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let auth = gridloop::config::Settings::load(&project_dir().join("config"), "test").unwrap().auth;
    let fx = seed(&mut conn, &auth);
    let cals = crate::helpers::calendars(&settings);
    let ctx = gridloop::app::sla::SlaContext { settings: &settings.sla, calendars: &cals };
    let actors: Vec<Actor> = ACTORS.iter().map(|l| crate::fixture::actor(&mut conn, &fx, l)).collect();
    let cases = 64;
    // A fixed seed: every run walks the same sequences on both back ends, so a failure is
    // reproducible and the coverage check below cannot flake.
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        ProptestConfig { cases, ..ProptestConfig::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let succeeded = std::cell::RefCell::new(std::collections::BTreeMap::<&'static str, usize>::new());
    // (anyone at all?, which actor, which action, argument seed). Three steps in four go to the
    // person whose job the action is, so that runs get deep into the loop; the rest to anyone.
    let kinds: Vec<(u32, usize)> = (0..ActionKind::ALL.len())
        .map(|k| (if matches!(ActionKind::ALL[k], ActionKind::Decline | ActionKind::MarkDuplicate) { 1 } else { 6 }, k))
        .collect();
    let kind = proptest::strategy::Union::new_weighted(kinds.into_iter().map(|(w, k)| (w, Just(k).boxed())).collect());
    let steps = proptest::collection::vec((0..4u8, 0..ACTORS.len(), kind, any::<u32>()), 1..40);
    runner
        .run(&steps, |steps| {
            let mut conn = pool.get().unwrap();
            let now = gridloop::app::utc_now();
            let filer = &actors[0];
            let mut view = file_ticket(
                &mut conn,
                ctx,
                filer,
                NewTicket {
                    category_id: fx.category.clone(),
                    urgency: gridloop::app::catalogue::Urgency::Normal,
                    title: "随机".into(),
                    description: "性质测试".into(),
                    building_id: Some(fx.unit("B1").into()),
                    compound_id: None,
                    address: None,
                    latitude: None,
                    longitude: None,
                    resident_name: Some("某居民".into()),
                    resident_phone: None,
                    anonymous: false,
                    channel: gridloop::domain::workflow::Channel::Visit,
                    visit_log_id: None,
                },
                now,
            )
            .unwrap();
            let mut whistled: HashSet<String> = HashSet::new();
            for (anyone, random_who, k, seed) in steps {
                // Mostly an action the state allows, taken by the person whose job it is; now and
                // then anything at all, by anyone.
                let open = gridloop::domain::workflow::actions_in(view.state);
                // Ending a ticket early (decline, duplicate) is kept rare so that runs go deep.
                let open: Vec<ActionKind> =
                    open.into_iter().filter(|a| seed % 8 == 0 || !matches!(a, ActionKind::Decline | ActionKind::MarkDuplicate)).collect();
                let k = if anyone != 0 && !open.is_empty() {
                    let chosen = open[(seed as usize / 7) % open.len()];
                    ActionKind::ALL.iter().position(|x| *x == chosen).unwrap()
                } else {
                    k
                };
                let who = if anyone == 0 { random_who } else { right_person(ActionKind::ALL[k], view.state, seed, &view, &fx) };
                let a = &actors[who];
                let login = ACTORS[who];
                let req = request(k, seed, &fx, &view);
                let kind = req.kind();
                let before = view.state;
                match act(&mut conn, ctx, a, &view.id.parse().unwrap(), Some(view.version), req, gridloop::app::utc_now()) {
                    Ok(after) => {
                        prop_assert!(may_see(login, &whistled, &fx), "{login} acted ({kind}) on a ticket outside his scope");
                        let r = rule(kind);
                        prop_assert!(r.from.contains(&before), "{kind} succeeded from {before}, which the table does not allow");
                        let expected_ok = match r.outcome {
                            Outcome::To(s) => after.state == s,
                            Outcome::Stay => after.state == before,
                            Outcome::Solve => after.state == TicketState::Solved,
                            Outcome::ReturnVisit => {
                                after.state == TicketState::Closed
                                    || after.state == reopened_state(view.solved_level.unwrap_or(Level::Compound))
                            }
                        };
                        prop_assert!(expected_ok, "{kind} led from {before} to {}, not where the table says", after.state);
                        prop_assert_eq!(after.version, view.version + 1);
                        *succeeded.borrow_mut().entry(kind.as_str()).or_default() += 1;
                        for p in &after.departments {
                            whistled.insert(p.department_id.clone());
                        }
                        view = after;
                        deadlines_kept_true(&mut conn, &actors, &view)?;
                    }
                    Err(AppError::NotFound { .. }) => {
                        prop_assert!(!may_see(login, &whistled, &fx), "{login} was told a ticket he can see does not exist");
                    }
                    Err(AppError::Internal(e)) | Err(AppError::Unavailable(e)) => {
                        prop_assert!(false, "{kind} by {login} in {before} failed inside: {e:#}");
                    }
                    Err(_) => {
                        // Refused (403, 409, 422): nothing may have changed.
                        let again =
                            gridloop::app::tickets::get_ticket(&mut conn, &actors[0], &view.id.parse().unwrap(), gridloop::app::utc_now())
                                .unwrap();
                        prop_assert_eq!(again.version, view.version);
                        prop_assert_eq!(again.state, view.state);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let verified = audit::verify(&mut conn, None).unwrap().expect("the chain verifies after every random run");
    // The runs must really walk the loop, not just bounce off refusals.
    let succeeded = succeeded.into_inner();
    eprintln!("actions that succeeded: {succeeded:?}");
    assert!(succeeded.len() >= 12, "too few kinds of action ever succeeded: {succeeded:?}");
    assert!(verified.events >= cases as i64);
}

/// The ticket row's kept deadline (`due_at`, `warn_at`, `due_provisional`) is its nearest running
/// clock's, and a list entry shows each person who sees the ticket the same deadline, warning and
/// flag as the ticket's own page, which reads every clock (decision 0029: a list of never-whistled
/// tickets reads the row instead of the clocks).
fn deadlines_kept_true(conn: &mut gridloop::db::DbConn, actors: &[Actor], view: &TicketView) -> Result<(), TestCaseError> {
    use diesel::prelude::*;
    use gridloop::db::models::TicketListRow;
    use gridloop::db::schema::tickets;
    let row: TicketListRow = tickets::table.find(&view.id).select(TicketListRow::as_select()).first(conn).unwrap();
    let nearest = gridloop::app::sla::ticket_due(conn, view.id.parse().unwrap()).unwrap();
    prop_assert_eq!((row.due_at, row.warn_at, row.due_provisional), gridloop::app::sla::Nearest::columns(nearest));
    let now = gridloop::app::utc_now();
    for a in actors {
        // Those who read it only up to the end of their part (removed) do not list it.
        let Ok(page) = gridloop::app::tickets::get_ticket(conn, a, &view.id.parse().unwrap(), now) else { continue };
        if page.read_until.is_some() {
            continue;
        }
        let listed = gridloop::app::tickets::summaries(conn, a, vec![row.clone()], now).unwrap().pop().unwrap();
        prop_assert_eq!(
            (listed.due_at, listed.warning, listed.overdue, listed.provisional, listed.ticket_due_at),
            (page.due_at, page.warning, page.overdue, page.provisional, page.ticket_due_at),
            "{} in {}",
            a.login,
            view.state
        );
    }
    Ok(())
}

/// A request for `kind` that is valid for this ticket as it stands (arguments drawn from what the
/// view shows), or `None` when no valid one exists (e.g. adding a department when every department
/// that may be whistled already holds a part).
fn valid_request(kind: ActionKind, pick: u64, fx: &Fixture, view: &TicketView, original: &str) -> Option<ActionRequest> {
    use gridloop::domain::workflow::AssignmentState as P;
    let whistleable = [fx.unit("P1").to_string(), fx.unit("P3").to_string()];
    let live = |d: &str| view.departments.iter().any(|p| p.department_id == d && p.state != P::Removed);
    let free: Vec<String> = whistleable.iter().filter(|d| !live(d)).cloned().collect();
    let choose = |v: &[String]| (!v.is_empty()).then(|| v[(pick as usize) % v.len()].clone());
    let co_open: Vec<String> = view
        .departments
        .iter()
        .filter(|p| !p.lead && matches!(p.state, P::Dispatched | P::Acknowledged | P::Returned))
        .map(|p| p.department_id.clone())
        .collect();
    Some(match kind {
        ActionKind::AcceptAtCompound => ActionRequest::AcceptAtCompound { note: None },
        ActionKind::AcceptAtCommunity => ActionRequest::AcceptAtCommunity { note: Some("受理".into()) },
        ActionKind::ReportToCommunity => ActionRequest::ReportToCommunity { reason: "上报".into() },
        ActionKind::Decline => ActionRequest::Decline { reason: "不予受理".into() },
        ActionKind::MarkDuplicate => ActionRequest::MarkDuplicate { duplicate_of: original.into(), reason: None },
        ActionKind::Whistle => {
            let lead = choose(&free)?;
            let co: Vec<String> = free.iter().filter(|d| **d != lead && pick % 2 == 0).cloned().collect();
            ActionRequest::Whistle {
                lead_department_id: lead,
                co_department_ids: co,
                whistle_type: WhistleType::ALL[(pick % 3) as usize],
                reason: "吹哨".into(),
            }
        }
        ActionKind::AddDepartment => ActionRequest::AddDepartment { department_id: choose(&free)?, reason: None },
        ActionKind::RemoveDepartment => {
            let removable: Vec<String> = view
                .departments
                .iter()
                .filter(|p| !p.lead && matches!(p.state, P::Dispatched | P::Acknowledged | P::Returned))
                .map(|p| p.department_id.clone())
                .collect();
            ActionRequest::RemoveDepartment { department_id: choose(&removable)?, reason: "撤回".into() }
        }
        ActionKind::ReleasePart => ActionRequest::ReleasePart { department_id: choose(&co_open)?, reason: "不再需要协办".into() },
        ActionKind::Acknowledge => ActionRequest::Acknowledge { department_id: None },
        ActionKind::ReturnCase => {
            ActionRequest::ReturnCase { department_id: None, reason_code: ReturnReason::ALL[(pick % 4) as usize], note: "退单".into() }
        }
        ActionKind::RequestExtension => {
            let due = view.departments.iter().filter(|p| p.state != P::Removed).map(|p| p.due_at).max()?;
            ActionRequest::RequestExtension {
                department_id: None,
                reason: "延期".into(),
                proposed_due_at: (due + chrono::Duration::days(2)).and_utc(),
            }
        }
        ActionKind::AddProgress => ActionRequest::AddProgress { department_id: None, note: "进展".into() },
        ActionKind::CompletePart => ActionRequest::CompletePart { department_id: None, note: "完成".into() },
        ActionKind::MarkSolved => ActionRequest::MarkSolved { resolution: "已解决".into() },
        ActionKind::RuleOnReturn => {
            let returned = view.departments.iter().find(|p| p.state == P::Returned)?;
            let others: Vec<String> = free.iter().filter(|d| **d != returned.department_id).cloned().collect();
            let accept = pick % 2 == 1 && (!returned.lead || !others.is_empty());
            ActionRequest::RuleOnReturn {
                department_id: returned.department_id.clone(),
                decision: if accept { ReturnRuling::Accept } else { ReturnRuling::Overrule },
                new_department_id: if accept && returned.lead { choose(&others) } else { None },
                reason: "裁定".into(),
            }
        }
        ActionKind::RuleOnExtension => ActionRequest::RuleOnExtension {
            extension_id: view.extensions.iter().find(|e| e.state == "pending")?.id.clone(),
            decision: if pick % 2 == 0 { ExtensionRuling::Grant } else { ExtensionRuling::Refuse },
            reason: None,
        },
        ActionKind::RecordReturnVisit => {
            ActionRequest::RecordReturnVisit { satisfaction: Satisfaction::ALL[(pick % 3) as usize], note: None }
        }
        ActionKind::PauseForResident => ActionRequest::PauseForResident { reason: "等居民回家".into() },
        ActionKind::ResumeWork => ActionRequest::ResumeWork { note: None },
        ActionKind::EscalateToCommunity => ActionRequest::EscalateToCommunity {},
    })
}

/// `allowed_actions` tells the truth: every action a person is offered, taken with valid
/// arguments, succeeds (nothing else changes the ticket in between), and every action he is not
/// offered is refused and changes nothing. Walks many tickets through random offered actions by
/// everyone who can see them, on a real database.
#[test]
fn every_offered_action_succeeds_and_every_other_is_refused() {
    use rand::{Rng, SeedableRng};
    let db = TestDb::new();
    let settings = test_settings(&db);
    let pool = gridloop::db::build_pool(&settings.database).unwrap();
    let mut conn = pool.get().unwrap();
    gridloop::db::run_migrations(&mut conn).unwrap();
    let auth = gridloop::config::Settings::load(&project_dir().join("config"), "test").unwrap().auth;
    let fx = seed(&mut conn, &auth);
    let cals = crate::helpers::calendars(&settings);
    let ctx = gridloop::app::sla::SlaContext { settings: &settings.sla, calendars: &cals };
    let actors: Vec<Actor> = ACTORS.iter().map(|l| crate::fixture::actor(&mut conn, &fx, l)).collect();
    let new = || NewTicket {
        category_id: fx.category.clone(),
        urgency: gridloop::app::catalogue::Urgency::Normal,
        title: "诚实".into(),
        description: "可执行的动作都能执行".into(),
        building_id: Some(fx.unit("B1").into()),
        compound_id: None,
        address: None,
        latitude: None,
        longitude: None,
        resident_name: Some("某居民".into()),
        resident_phone: None,
        anonymous: false,
        channel: gridloop::domain::workflow::Channel::Visit,
        visit_log_id: None,
    };
    let now = gridloop::app::utc_now;
    let original = file_ticket(&mut conn, ctx, &actors[0], new(), now()).unwrap().id;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261130);
    let mut taken = std::collections::BTreeMap::<&'static str, usize>::new();
    let mut refused_checks = 0;
    for _walk in 0..16 {
        let id = file_ticket(&mut conn, ctx, &actors[0], new(), now()).unwrap().id;
        for _step in 0..40 {
            // Everyone's view of the ticket as it stands.
            let mut offered: Vec<(usize, ActionKind, TicketView)> = vec![];
            let mut not_offered: Vec<(usize, ActionKind, TicketView)> = vec![];
            for (i, a) in actors.iter().enumerate() {
                let Ok(v) = gridloop::app::tickets::get_ticket(&mut conn, a, &id.parse().unwrap(), now()) else { continue };
                for k in ActionKind::ALL {
                    if v.allowed_actions.contains(k) {
                        offered.push((i, *k, v.clone()));
                    } else {
                        not_offered.push((i, *k, v.clone()));
                    }
                }
            }
            // A few actions nobody was offered: each is refused and changes nothing.
            for _ in 0..4 {
                if not_offered.is_empty() {
                    break;
                }
                let (i, k, v) = not_offered.swap_remove(rng.gen_range(0..not_offered.len()));
                let req = valid_request(k, rng.gen(), &fx, &v, &original).unwrap_or_else(|| request(k as usize, rng.gen(), &fx, &v));
                let r = act(&mut conn, ctx, &actors[i], &id.parse().unwrap(), Some(v.version), req, now());
                assert!(r.is_err(), "{} was not offered {k} in {} but took it", ACTORS[i], v.state);
                let again = gridloop::app::tickets::get_ticket(&mut conn, &actors[i], &id.parse().unwrap(), now()).unwrap();
                assert_eq!((again.version, again.state), (v.version, v.state), "a refused {k} changed the ticket");
                refused_checks += 1;
            }
            // One offered action, with valid arguments: it must be taken.
            // Ending a ticket at once (decline, duplicate) or a department's part (remove, release)
            // is kept rare once done, so that walks go deep.
            let end_early = rng.gen_ratio(1, 8);
            let drop_part = rng.gen_ratio(1, 4);
            let picks: Vec<u64> = (0..offered.len()).map(|_| rng.gen()).collect();
            let candidates: Vec<(usize, ActionKind, TicketView, ActionRequest)> = offered
                .into_iter()
                .zip(picks)
                .filter(|((_, k, _), _)| {
                    let fresh = !taken.contains_key(k.as_str());
                    match k {
                        ActionKind::Decline | ActionKind::MarkDuplicate => end_early || fresh,
                        ActionKind::RemoveDepartment | ActionKind::ReleasePart => drop_part || fresh,
                        _ => true,
                    }
                })
                .filter_map(|((i, k, v), pick)| valid_request(k, pick, &fx, &v, &original).map(|r| (i, k, v, r)))
                .collect();
            if candidates.is_empty() {
                break;
            }
            // Mostly a kind taken least so far (so that every kind gets exercised), now and then any.
            let least = candidates.iter().map(|c| taken.get(c.1.as_str()).copied().unwrap_or(0)).min().unwrap_or(0);
            let rare: Vec<&(usize, ActionKind, TicketView, ActionRequest)> =
                candidates.iter().filter(|c| taken.get(c.1.as_str()).copied().unwrap_or(0) == least).collect();
            let (i, k, v, req) = if rng.gen_ratio(2, 3) {
                rare[rng.gen_range(0..rare.len())].clone()
            } else {
                candidates[rng.gen_range(0..candidates.len())].clone()
            };
            match act(&mut conn, ctx, &actors[i], &id.parse().unwrap(), Some(v.version), req, now()) {
                Ok(after) => {
                    assert_eq!(after.version, v.version + 1);
                    *taken.entry(k.as_str()).or_default() += 1;
                }
                Err(e) => panic!("{} was offered {k} in {} and it was refused: {} ({e:?})", ACTORS[i], v.state, e.code()),
            }
        }
    }
    eprintln!("offered actions taken: {taken:?}; refusals checked: {refused_checks}");
    // The walks must reach deep into the loop: nearly every kind of action was offered and taken.
    for k in ActionKind::ALL.iter().filter(|k| **k != ActionKind::EscalateToCommunity) {
        assert!(taken.contains_key(k.as_str()), "{k} was never offered and taken: {taken:?}");
    }
}
