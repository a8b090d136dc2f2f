//! The demo city (演示数据): a fictitious district shaped like the Lu'an practice, embedded in the
//! binary from `config/demo/city.toml`, loaded only into an empty database.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use figment::providers::{Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::config::AuthSettings;
use crate::db::models::{OrgUnitRow, PersonRow};
use crate::db::schema::{org_units, people};
use crate::db::DbConn;
use crate::domain::outside::ClientKind;
use crate::domain::{Id, OrgKind, PersonId, Role, VisitLogId};

use super::catalogue::{insert_category, NewCategory, Urgency};
use super::org::insert_unit;
use super::passwords::hash_password;
use super::people::{insert_membership, validate_login};
use super::residents::{insert_resident, HouseholdKind, NewResident};
use super::{AppError, AppResult};

/// The password of every demo login. Demo data only: never load it into production.
pub const DEMO_PASSWORD: &str = "gridloop-demo";

const CITY: &str = include_str!("../../config/demo/city.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoCity {
    units: Vec<DemoUnit>,
    categories: Vec<DemoCategory>,
    people: Vec<DemoPerson>,
    residents: Vec<DemoResident>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoUnit {
    code: String,
    kind: OrgKind,
    name: String,
    parent: Option<String>,
    /// A compound's gate (WGS-84), for requests from outside located by coordinates.
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoCategory {
    code: String,
    name_zh: String,
    name_en: String,
    department: String,
    urgencies: Vec<Urgency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPerson {
    login: String,
    name: String,
    phone: String,
    #[serde(default)]
    email: Option<String>,
    roles: Vec<DemoRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoRole {
    role: Role,
    unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoResident {
    name: String,
    phone: String,
    id_number: String,
    building: String,
    unit_no: String,
    room: String,
    kind: HouseholdKind,
}

/// One demo login, as printed at start.
#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub login: String,
    pub name: String,
    pub roles: Vec<(Role, String)>,
}

/// What the demo loader created.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    pub units: usize,
    pub categories: usize,
    pub residents: usize,
    /// Visit logs of the last two weeks.
    pub visit_logs: usize,
    pub logins: Vec<DemoLogin>,
    /// The outside systems, with their keys (shown at the demo's first start only).
    pub clients: Vec<DemoClient>,
}

/// A demo outside system and its key.
#[derive(Clone, Debug)]
pub struct DemoClient {
    pub kind: ClientKind,
    pub name: String,
    pub key: String,
    pub secret: Option<String>,
}

/// True when the database holds no org unit and no person.
pub fn database_is_empty(conn: &mut DbConn) -> AppResult<bool> {
    let units: i64 = org_units::table.count().get_result(conn)?;
    let persons: i64 = people::table.count().get_result(conn)?;
    Ok(units == 0 && persons == 0)
}

/// Loads the demo city in one transaction; refuses a database that already holds data.
pub fn load_demo(conn: &mut DbConn, auth: &AuthSettings, now: NaiveDateTime) -> AppResult<DemoSummary> {
    let city: DemoCity = Figment::from(Toml::string(CITY))
        .extract()
        .map_err(|e| AppError::internal_msg(format!("config/demo/city.toml is malformed: {e}")))?;
    conn.transaction(|conn| {
        if !database_is_empty(conn)? {
            return Err(AppError::Conflict { code: "database_not_empty", detail: crate::msg!("why-demo_needs_empty_db") });
        }
        let mut units: HashMap<String, OrgUnitRow> = HashMap::new();
        for u in &city.units {
            let parent = match &u.parent {
                Some(code) => Some(
                    units
                        .get(code)
                        .ok_or_else(|| AppError::internal_msg(format!("demo unit {} names unknown parent {code}", u.code)))?
                        .clone(),
                ),
                None => None,
            };
            let mut row = insert_unit(conn, parent.as_ref(), u.kind, &u.code, &u.name, now)?;
            if let (Some(lat), Some(lon)) = (u.latitude, u.longitude) {
                diesel::update(org_units::table.find(row.id))
                    .set((org_units::latitude.eq(lat), org_units::longitude.eq(lon)))
                    .execute(conn)?;
                (row.latitude, row.longitude) = (Some(lat), Some(lon));
            }
            units.insert(u.code.clone(), row);
        }
        let unit =
            |code: &str| units.get(code).cloned().ok_or_else(|| AppError::internal_msg(format!("demo data names unknown unit {code}")));
        for c in &city.categories {
            let dept = unit(&c.department)?;
            insert_category(
                conn,
                &NewCategory {
                    code: c.code.clone(),
                    name_zh: c.name_zh.clone(),
                    name_en: c.name_en.clone(),
                    default_department_id: Some(dept.id.to_string()),
                    urgencies: c.urgencies.clone(),
                },
                now,
            )?;
        }
        // One hash for the shared demo password: hashing each of dozens of logins would slow
        // the first start for nothing.
        let hash = hash_password(auth, DEMO_PASSWORD)?;
        let mut logins = vec![];
        for p in &city.people {
            validate_login(&p.login)?;
            let row = PersonRow {
                id: crate::domain::PersonId::new(),
                login: p.login.clone(),
                display_name: p.name.clone(),
                phone: Some(p.phone.clone()),
                password_hash: hash.clone(),
                locale: "zh-CN".into(),
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(people::table).values(&row).execute(conn)?;
            if let Some(email) = &p.email {
                crate::app::notifications::settings::insert_default(conn, row.id, Some(email), false, now)?;
            }
            let mut roles = vec![];
            for r in &p.roles {
                let u = unit(&r.unit)?;
                let kind: OrgKind = u.kind;
                if !r.role.bindable_kinds().contains(&kind) {
                    return Err(AppError::internal_msg(format!("demo person {} has {} at a {kind}", p.login, r.role)));
                }
                insert_membership(conn, &row.id, r.role, &u.id, now)?;
                roles.push((r.role, format!("{} ({})", u.name, u.code)));
            }
            logins.push(DemoLogin { login: p.login.clone(), name: p.name.clone(), roles });
        }
        for r in &city.residents {
            let b = unit(&r.building)?;
            insert_resident(
                conn,
                &NewResident {
                    building_id: b.id.to_string(),
                    name: r.name.clone(),
                    phone: Some(r.phone.clone()),
                    id_number: Some(r.id_number.clone()),
                    unit_no: r.unit_no.clone(),
                    room: r.room.clone(),
                    kind: r.kind,
                },
                &b,
                now,
            )?;
        }
        let logs = seed_visit_history(conn, now)?;
        let compound = unit(DEMO_CONSULT_COMPOUND)?;
        seed_consultation(conn, &compound, now)?;
        // The street's doors from outside: the 12345 platform and an Open311 app, each mapping
        // the platform's codes to ours one to one (decision 0032).
        let (street, triage) = (unit("LA-JA-XF")?, unit("LA-JA-XF-C1-TRIAGE")?);
        let mut clients = vec![];
        for (kind, name) in [(ClientKind::Hotline, "12345市民服务热线（演示）"), (ClientKind::Open311, "随手拍（开放311演示应用）")]
        {
            let (id, key, secret) = super::outside::clients::insert_client(conn, kind, name, &street, &triage, None, now)?;
            let cats: Vec<(crate::domain::CategoryId, String)> = crate::db::schema::categories::table
                .select((crate::db::schema::categories::id, crate::db::schema::categories::code))
                .load(conn)?;
            for (cat, code) in cats {
                super::outside::clients::map_category(conn, id, &code, cat)?;
            }
            clients.push(DemoClient { kind, name: name.into(), key, secret });
        }
        Ok(DemoSummary {
            units: city.units.len(),
            categories: city.categories.len(),
            residents: city.residents.len(),
            visit_logs: logs,
            logins,
            clients,
        })
    })
}

/// Two weeks of visit logs (走访日志) for every grid worker, so that the secretaries' boards and the
/// compliance reports have something to show: about one day in six missed, one in five filed the
/// next morning (late), today's logs filed by every other worker (not the first, gw.wang, who files his in the README tour). Each log lists up to two
/// households of its building.
fn seed_visit_history(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    use crate::db::models::VisitLogRow;
    use crate::db::schema::{households, memberships, visit_logs};
    let tz = chrono_tz::Asia::Shanghai;
    let today = now.and_utc().with_timezone(&tz).date_naive();
    let local = |d: chrono::NaiveDate, h: u32| {
        use chrono::TimeZone;
        tz.from_local_datetime(&d.and_hms_opt(h, 30, 0).unwrap_or_default()).earliest().map(|t| t.naive_utc()).unwrap_or(now)
    };
    let since = now - chrono::Duration::days(14);
    let workers: Vec<(String, PersonId, OrgUnitRow)> = memberships::table
        .inner_join(org_units::table)
        .filter(memberships::role.eq(Role::GridWorker.as_str()))
        .order(org_units::code)
        .select((memberships::id, memberships::person_id, OrgUnitRow::as_select()))
        .load(conn)?;
    let mut n = 0;
    for (k, (membership, person, grid)) in workers.iter().enumerate() {
        diesel::update(memberships::table.find(membership)).set(memberships::created_at.eq(since)).execute(conn)?;
        let compound_id = if grid.kind == OrgKind::Compound { Some(grid.id) } else { grid.parent_id };
        // A grid always hangs under a compound; one that does not gets no demo logs.
        let Some(compound_id) = compound_id else { continue };
        let homes: Vec<String> = households::table
            .filter(households::building_id.eq(&grid.id))
            .order(households::room)
            .select(households::id)
            .limit(2)
            .load(conn)?;
        for back in 0..14i64 {
            let date = today - chrono::Duration::days(back);
            let skip = if back == 0 { k % 2 == 0 } else { (back as usize + k) % 6 == 0 };
            if skip {
                continue;
            }
            let late = back > 0 && (back as usize + k) % 5 == 0;
            let at = if late { local(date + chrono::Duration::days(1), 8) } else { local(date, 9) }.min(now);
            let log = VisitLogRow {
                id: VisitLogId::new(),
                client_id: Id::new().to_string(),
                author_id: *person,
                grid_id: grid.id,
                grid_path: grid.path.clone(),
                compound_id,
                visit_date: date,
                households_visited: 8 + (back as i32 % 5),
                observations: ["楼道整洁，消防通道畅通。", "2单元楼道灯不亮，已记录。", "走访独居老人，身体状况良好。"]
                    [(back as usize + k) % 3]
                    .into(),
                notes: None,
                submission_hash: "demo".into(),
                late,
                version: 1,
                created_at: at,
                updated_at: at,
            };
            diesel::insert_into(visit_logs::table).values(&log).execute(conn)?;
            super::visits::link_households(conn, &log.id, &homes)?;
            super::visits::mark_visited(conn, &homes, date)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The compound whose three-party consultation the demo shows (翠竹园小区, bs.yang's).
const DEMO_CONSULT_COMPOUND: &str = "LA-JA-XF-C1-Y1";

/// 翠竹园's three-party consultation (三方协调议事): its owners' committee and property company, a
/// meeting twelve days ago that made two actions — one done on time, one running with a progress
/// note — and dropped one item, its minutes signed; one item still waits on the agenda.
fn seed_consultation(conn: &mut DbConn, compound: &OrgUnitRow, now: NaiveDateTime) -> AppResult<()> {
    use super::consult::{self as c, Attendees, ItemDecision, ItemDrop, NewCompany, NewItem, NewMeeting, NewNote, Outcome, PartiesInput};
    use crate::domain::consult::{credit_code_check, ItemState, Party};
    let secretary: PersonRow = people::table.filter(people::login.eq("bs.yang")).select(PersonRow::as_select()).first(conn)?;
    let grants = super::people::load_grants(conn, &secretary.id)?;
    let actor = crate::domain::Actor { person_id: secretary.id, login: secretary.login, grants };
    let tz = chrono_tz::Asia::Shanghai;
    let today = now.and_utc().with_timezone(&tz).date_naive();
    let days = chrono::Duration::days;
    let stem = "91341502MA2T8K7Q1";
    let company = c::create_company(
        conn,
        &actor,
        NewCompany {
            name: "六安翠竹物业服务有限公司".into(),
            credit_code: format!("{stem}{}", credit_code_check(stem).unwrap_or('0')),
            manager_name: "周建国".into(),
            manager_phone: Some("13600000001".into()),
        },
        now,
    )?;
    let parties = PartiesInput {
        committee_name: "翠竹园小区第二届业主委员会".into(),
        committee_chair: "钱立新".into(),
        committee_members: vec!["钱立新".into(), "孙海燕".into(), "李国强".into(), "陈玉梅".into(), "刘志伟".into()],
        committee_phone: Some("13500000001".into()),
        term_start: chrono::NaiveDate::from_ymd_opt(2024, 6, 1),
        term_end: chrono::NaiveDate::from_ymd_opt(2029, 5, 31),
        company_id: Some(company.id),
        contract_start: chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
        contract_end: chrono::NaiveDate::from_ymd_opt(2027, 12, 31),
    };
    c::set_parties(conn, &actor, &compound.id, Some(0), parties, now)?;
    let mut item = |title: &str, detail: &str| -> AppResult<crate::domain::ConsultItemId> {
        let input = NewItem { title: title.into(), detail: detail.into(), category_id: None, ticket_ids: vec![] };
        let v = c::add_item(conn, &actor, &compound.id, input, super::Lang::Zh, now - days(14))?;
        v.id.parse().map_err(|_| AppError::internal_msg("demo item id".into()))
    };
    let charging = item("电动车楼道充电", "3号楼、5号楼楼道内飞线充电，存在火灾隐患")?;
    let parking = item("夜间地面停车占用消防通道", "晚高峰车辆停放在消防通道上")?;
    let pets = item("宠物粪便无人清理", "中心绿地宠物粪便较多")?;
    let clutter = item("楼道堆物清理", "1号楼、4号楼楼道堆放杂物，影响消防通道")?;
    item("垃圾分类投放点异味", "2号楼旁投放点夏季异味大，居民多次反映")?;
    let held_on = today - days(12);
    let meeting = NewMeeting {
        held_on,
        place: "翠竹园居民之家".into(),
        attendees: Attendees {
            branch: vec!["杨德明".into(), "王芳".into()],
            owners_committee: vec!["钱立新".into(), "孙海燕".into()],
            property_company: vec!["周建国".into()],
        },
        minutes: "三方议定：物业在3号楼、5号楼旁建设电动车集中充电棚，一周内完工；业委会牵头制定夜间停车公约，物业配合划线；物业五日内清理楼道堆物。宠物粪便问题纳入文明养犬宣传，不单独立项。".into(),
        decisions: vec![
            ItemDecision {
                item_id: charging.to_string(),
                decision: "物业建设电动车集中充电棚，清理楼道飞线".into(),
                responsible: Party::PropertyCompany,
                due_on: held_on + days(7),
            },
            ItemDecision {
                item_id: parking.to_string(),
                decision: "业委会牵头制定夜间停车公约，物业配合施划停车线".into(),
                responsible: Party::OwnersCommittee,
                due_on: today + days(10),
            },
            // Past its deadline and not done: the community supervises it (督办).
            ItemDecision {
                item_id: clutter.to_string(),
                decision: "物业五日内清理楼道堆物，业委会张贴告知".into(),
                responsible: Party::PropertyCompany,
                due_on: held_on + days(5),
            },
        ],
        dropped: vec![ItemDrop { item_id: pets.to_string(), reason: "纳入社区文明养犬宣传，不单独立项".into() }],
    };
    // The demo city is loaded before the shipped calendars are: its actions' clocks run on the
    // standing rule (weekdays and the statutory holidays) with the default warn fraction.
    let standing = crate::domain::calendar::WorkCalendar::new("cn", tz, &crate::domain::calendar::standard_hours(), &Default::default())?;
    let meeting_id = c::hold_meeting(conn, &actor, &compound.id, meeting, &tz, c::ActionCalendar::Fixed(&standing, 0.8), now - days(12))?;
    c::sign_meeting(conn, &actor, &meeting_id, Some(1), now - days(12))?;
    let done = c::get_item(conn, &actor, &charging, super::Lang::Zh, now)?;
    c::close_item(
        conn,
        &actor,
        &charging,
        Some(done.version),
        ItemState::Done,
        Outcome { outcome: "充电棚已建成投用（20个充电位），楼道飞线已清理".into() },
        super::Lang::Zh,
        now - days(6),
    )?;
    c::add_note(conn, &actor, &parking, NewNote { body: "停车公约草案已在业主群征求意见".into() }, super::Lang::Zh, now - days(3))?;
    // Last year's two evaluations (两评价): the committee satisfactory, the company called in.
    let settings = crate::config::EvaluationSettings::default();
    let last_year = chrono::Datelike::year(&today) - 1;
    for (party, marks, resident) in
        [(Party::OwnersCommittee, [88.0, 80.0, 85.0, 90.0], None), (Party::PropertyCompany, [65.0, 75.0, 60.0, 80.0], Some(62.0))]
    {
        let scores = settings
            .criteria(party)
            .iter()
            .zip(marks)
            .map(|(k, score)| c::ScoreInput { code: k.code.clone(), score, comment: String::new() })
            .collect();
        let comment = match party {
            Party::PropertyCompany => "保洁和电梯维保投诉较多，约谈项目经理，限期三个月整改".into(),
            _ => String::new(),
        };
        c::evaluate(
            conn,
            &actor,
            &compound.id,
            c::NewEvaluation { party, year: last_year, scores, resident_score: resident, comment },
            &settings,
            &tz,
            now,
        )?;
    }
    Ok(())
}
