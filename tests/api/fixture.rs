//! A small org tree with two mirror districts, one person per role on the first side, and the
//! same on the second side as "out of scope" objects. Built through the app layer, served over HTTP.

use std::collections::HashMap;

use chrono::Utc;
use diesel::Connection;
use gridloop::app::catalogue::{insert_category, NewCategory, Urgency};
use gridloop::app::org::insert_unit;
use gridloop::app::people::{insert_person, NewPerson};
use gridloop::app::residents::{insert_resident, HouseholdKind, NewResident};
use gridloop::config::AuthSettings;
use gridloop::db::models::OrgUnitRow;
use gridloop::db::DbConn;
use gridloop::domain::{OrgKind, Role};

use crate::helpers::TestApp;

pub const PASSWORD: &str = "correct-horse-7";

#[derive(Default, Clone)]
pub struct Fixture {
    pub units: HashMap<&'static str, String>,
    pub people: HashMap<&'static str, String>,
    pub residents: HashMap<&'static str, String>,
    pub category: String,
}

impl Fixture {
    pub fn unit(&self, k: &str) -> &str {
        &self.units[k]
    }
    pub fn person(&self, k: &str) -> &str {
        &self.people[k]
    }
    pub fn resident(&self, k: &str) -> &str {
        &self.residents[k]
    }
}

/// (key, kind, parent key, code)
const UNITS: &[(&str, OrgKind, Option<&str>)] = &[
    ("C", OrgKind::City, None),
    ("D1", OrgKind::District, Some("C")),
    ("S1", OrgKind::Street, Some("D1")),
    ("K1", OrgKind::Community, Some("S1")),
    ("Y1", OrgKind::Compound, Some("K1")),
    ("B1", OrgKind::Building, Some("Y1")),
    ("P1", OrgKind::Department, Some("D1")),
    ("P3", OrgKind::Department, Some("D1")),
    ("D2", OrgKind::District, Some("C")),
    ("S2", OrgKind::Street, Some("D2")),
    ("K2", OrgKind::Community, Some("S2")),
    ("Y2", OrgKind::Compound, Some("K2")),
    ("B2", OrgKind::Building, Some("Y2")),
    ("P2", OrgKind::Department, Some("D2")),
];

/// (login, role, unit key)
pub const PEOPLE: &[(&str, Role, &str)] = &[
    ("root", Role::Admin, "C"),
    ("admin1", Role::Admin, "D1"),
    ("admin2", Role::Admin, "D2"),
    ("sup1", Role::Supervisor, "D1"),
    ("sup2", Role::Supervisor, "D2"),
    ("cs1", Role::CommunityStaff, "K1"),
    ("cs2", Role::CommunityStaff, "K2"),
    ("bs1", Role::BranchSecretary, "Y1"),
    ("bs2", Role::BranchSecretary, "Y2"),
    ("gw1", Role::GridWorker, "B1"),
    ("gw1b", Role::GridWorker, "B1"),
    ("gw2", Role::GridWorker, "B2"),
    ("dl1", Role::DepartmentLiaison, "P1"),
    ("dl1b", Role::DepartmentLiaison, "P1"),
    ("dl2", Role::DepartmentLiaison, "P2"),
    ("dl3", Role::DepartmentLiaison, "P3"),
    ("yw1", Role::CommitteeRepresentative, "Y1"),
    ("yw2", Role::CommitteeRepresentative, "Y2"),
    ("wy1", Role::CompanyRepresentative, "Y1"),
];

pub fn seed(conn: &mut DbConn, auth: &AuthSettings) -> Fixture {
    let now = Utc::now().naive_utc();
    conn.transaction::<_, gridloop::app::AppError, _>(|conn| {
        let mut fx = Fixture::default();
        let mut rows: HashMap<&str, OrgUnitRow> = HashMap::new();
        for (key, kind, parent) in UNITS {
            let parent = parent.map(|p| rows[p].clone());
            let row = insert_unit(conn, parent.as_ref(), *kind, &format!("T-{key}"), &format!("测试{key}"), now)?;
            fx.units.insert(key, row.id.to_string());
            rows.insert(key, row);
        }
        for (i, (login, role, unit)) in PEOPLE.iter().enumerate() {
            let p = insert_person(
                conn,
                auth,
                &NewPerson {
                    login: login.to_string(),
                    display_name: format!("测试{login}"),
                    phone: Some(format!("1390000{:04}", 100 + i)),
                    password: PASSWORD.into(),
                    role: *role,
                    org_unit_id: rows[unit].id.to_string(),
                    locale: None,
                },
                &rows[unit],
                now,
            )?;
            fx.people.insert(login, p.id.to_string());
        }
        for (key, building, phone, idn) in
            [("r1", "B1", "13712345678", "11010519491231002X"), ("r2", "B2", "13787654321", "110105195001010039")]
        {
            let r = insert_resident(
                conn,
                &NewResident {
                    building_id: rows[building].id.to_string(),
                    name: format!("居民{key}"),
                    phone: Some(phone.into()),
                    id_number: Some(idn.into()),
                    unit_no: "1".into(),
                    room: "101".into(),
                    kind: HouseholdKind::ElderlyAlone,
                },
                &rows[building],
                now,
            )?;
            fx.residents.insert(key, r.id.to_string());
        }
        let cat = insert_category(
            conn,
            &NewCategory {
                code: "noise".into(),
                name_zh: "噪音扰民".into(),
                name_en: "Noise".into(),
                default_department_id: Some(rows["P1"].id.to_string()),
                urgencies: vec![Urgency::Normal, Urgency::Urgent],
            },
            now,
        )?;
        fx.category = cat.id.to_string();
        Ok(fx)
    })
    .expect("seed fixture")
}

/// A server over the fixture.
pub async fn spawn_fixture() -> (TestApp, Fixture) {
    spawn_fixture_on(crate::helpers::TestDb::new(), |_| {}).await
}

/// The fixture on a server whose test settings `configure` changed first.
pub async fn spawn_fixture_configured(configure: impl FnOnce(&mut gridloop::config::Settings)) -> (TestApp, Fixture) {
    spawn_fixture_on(crate::helpers::TestDb::new(), configure).await
}

/// A server over the fixture in `db`, with the test settings changed by `configure`.
pub async fn spawn_fixture_on(db: crate::helpers::TestDb, configure: impl FnOnce(&mut gridloop::config::Settings)) -> (TestApp, Fixture) {
    let mut fx = None;
    let auth = gridloop::config::Settings::load(&crate::helpers::project_dir().join("config"), "test").unwrap().auth;
    let app = TestApp::spawn_on(db, configure, |c| fx = Some(seed(c, &auth))).await;
    (app, fx.unwrap())
}

/// A fixture person as the app layer sees him: id, login and active grants.
pub fn actor(conn: &mut DbConn, fx: &Fixture, login: &str) -> gridloop::domain::Actor {
    gridloop::domain::Actor {
        person_id: fx.person(login).parse().unwrap(),
        login: login.into(),
        grants: gridloop::app::people::load_grants(conn, &fx.person(login).parse().unwrap()).unwrap(),
    }
}
