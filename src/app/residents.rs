//! Residents (居民) in the buildings of a grid. Phone and ID numbers are masked for everyone;
//! those whose role needs them reveal a record explicitly, and every reveal is recorded.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::{HouseholdRow, OrgUnitRow, PiiRevealRow, ResidentRow};
use crate::db::schema::{households, org_units, pii_reveals, residents};
use crate::db::DbConn;
use crate::domain::org::validate_name;
use crate::domain::pii::{mask_id_number, mask_phone, validate_id_number, validate_mobile};
use crate::domain::text::Msg;
use crate::domain::{Actor, HouseholdId, Operation, OrgKind, OrgUnitId, ResidentId};

use super::org::{escape_like, find_unit};
use super::scope::{enforce, units_in_scope};
use super::{parse_id, AppError, AppResult};

pub use crate::domain::visits::HouseholdKind;

/// A resident as everyone in scope sees him: phone and ID number masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResidentView {
    pub id: String,
    pub building_id: String,
    pub building_name: String,
    pub name: String,
    /// e.g. 138****5678
    pub phone_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub unit_no: String,
    pub room: String,
    pub kind: HouseholdKind,
    /// The household (户) at this address.
    pub household_id: Option<String>,
    pub version: i64,
}

/// The unmasked fields, returned by a recorded reveal.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedResident {
    pub id: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    #[serde(with = "crate::app::rfc3339")]
    pub revealed_at: NaiveDateTime,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResident {
    #[schema(format = Uuid)]
    pub building_id: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(pattern = "^1[0-9]{10}$")]
    pub phone: Option<String>,
    #[schema(pattern = "^[0-9]{17}[0-9X]$")]
    pub id_number: Option<String>,
    pub unit_no: String,
    pub room: String,
    pub kind: HouseholdKind,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResidentFilter {
    /// Only residents of this building, compound or any unit's subtree.
    #[param(format = Uuid)]
    pub within: Option<String>,
    pub kind: Option<HouseholdKind>,
    /// Text to find in the name or room.
    pub q: Option<String>,
    /// Cursor: ids after this one.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn view(r: ResidentRow, building: &OrgUnitRow) -> ResidentView {
    ResidentView {
        kind: r.kind,
        phone_masked: r.phone.as_deref().map(mask_phone),
        id_number_masked: r.id_number.as_deref().map(mask_id_number),
        id: r.id.to_string(),
        building_id: r.building_id.to_string(),
        building_name: building.name.clone(),
        name: r.name,
        unit_no: r.unit_no,
        room: r.room,
        household_id: r.household_id.map(|h| h.to_string()),
        version: r.version,
    }
}

fn resident_for(conn: &mut DbConn, actor: &Actor, id: &ResidentId, op: Operation) -> AppResult<(ResidentRow, OrgUnitRow)> {
    let found: Option<(ResidentRow, OrgUnitRow)> = residents::table
        .inner_join(org_units::table)
        .filter(residents::id.eq(id))
        .filter(residents::active.eq(true))
        .select((ResidentRow::as_select(), OrgUnitRow::as_select()))
        .first(conn)
        .optional()?;
    let (r, b) = found.ok_or(AppError::NotFound { what: "resident" })?;
    enforce(actor.decide(op, &b.path), "resident", op)?;
    Ok((r, b))
}

pub fn get_resident(conn: &mut DbConn, actor: &Actor, id: &ResidentId) -> AppResult<ResidentView> {
    let (r, b) = resident_for(conn, actor, id, Operation::ResidentRead)?;
    Ok(view(r, &b))
}

/// 查看完整信息: returns the unmasked phone and ID number and records who looked, in which role,
/// when, and at which record.
pub fn reveal_resident(conn: &mut DbConn, actor: &Actor, id: &ResidentId, now: NaiveDateTime) -> AppResult<RevealedResident> {
    conn.transaction(|conn| {
        let (r, b) = resident_for(conn, actor, id, Operation::ResidentReveal)?;
        let path = b.path.clone();
        let grant = actor
            .grants_for(Operation::ResidentReveal)
            .find(|g| g.org_path.contains(&path))
            .ok_or_else(|| AppError::internal_msg("allowed without a grant".into()))?;
        let mut fields = vec![];
        if r.phone.is_some() {
            fields.push("phone");
        }
        if r.id_number.is_some() {
            fields.push("id_number");
        }
        diesel::insert_into(pii_reveals::table)
            .values(&PiiRevealRow::new(actor.person_id, grant, "resident", r.id, &fields.join(","), now))
            .execute(conn)?;
        Ok(RevealedResident { id: r.id.to_string(), phone: r.phone, id_number: r.id_number, revealed_at: now })
    })
}

/// One recorded look at a resident's personal data.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RevealRecord {
    pub person_id: String,
    pub role: String,
    pub org_unit_id: String,
    pub fields: String,
    #[serde(with = "crate::app::rfc3339")]
    pub at: NaiveDateTime,
}

/// Who has revealed this resident's data: visible to those who may see the resident.
pub fn list_reveals(conn: &mut DbConn, actor: &Actor, id: &ResidentId) -> AppResult<Vec<RevealRecord>> {
    let (r, _) = resident_for(conn, actor, id, Operation::ResidentRead)?;
    let rows: Vec<PiiRevealRow> = pii_reveals::table
        .filter(pii_reveals::record_kind.eq("resident"))
        .filter(pii_reveals::record_id.eq(&r.id))
        .order(pii_reveals::at.desc())
        .select(PiiRevealRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|x| RevealRecord {
            person_id: x.person_id.to_string(),
            role: x.role.as_str().to_string(),
            org_unit_id: x.org_unit_id.to_string(),
            fields: x.fields,
            at: x.at,
        })
        .collect())
}

/// Inserts a resident after checking his data. No scope check: callers decide.
pub fn insert_resident(conn: &mut DbConn, input: &NewResident, building: &OrgUnitRow, now: NaiveDateTime) -> AppResult<ResidentRow> {
    if building.kind != OrgKind::Building || !building.active {
        return Err(AppError::validation("building_id", crate::msg!("why-active_building")));
    }
    let name = validate_name(&input.name).map_err(|e| AppError::validation("name", e))?;
    if let Some(p) = &input.phone {
        validate_mobile(p).map_err(|e| AppError::validation("phone", e))?;
    }
    if let Some(n) = &input.id_number {
        validate_id_number(n).map_err(|e| AppError::validation("id_number", e))?;
    }
    let unit_no = input.unit_no.trim();
    let room = input.room.trim();
    if unit_no.is_empty() || unit_no.len() > 10 || room.is_empty() || room.len() > 10 {
        return Err(AppError::validation("room", crate::msg!("rule-unit_room")));
    }
    let household = household_at(conn, building, unit_no, room, input.kind, now)?;
    let row = ResidentRow {
        household_id: Some(household.id),
        id: ResidentId::new(),
        building_id: building.id,
        name,
        phone: input.phone.clone(),
        id_number: input.id_number.clone(),
        unit_no: unit_no.into(),
        room: room.into(),
        kind: input.kind,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(residents::table).values(&row).execute(conn)?;
    Ok(row)
}

/// The household at an address, registered on first use. A resident whose kind needs closer care
/// than the household's raises the household's kind (see `HouseholdKind::care_rank`).
pub fn household_at(
    conn: &mut DbConn,
    building: &OrgUnitRow,
    unit_no: &str,
    room: &str,
    kind: HouseholdKind,
    now: NaiveDateTime,
) -> AppResult<HouseholdRow> {
    let found: Option<HouseholdRow> = households::table
        .filter(households::building_id.eq(&building.id))
        .filter(households::unit_no.eq(unit_no))
        .filter(households::room.eq(room))
        .select(HouseholdRow::as_select())
        .first(conn)
        .optional()?;
    match found {
        Some(mut h) => {
            let current = h.kind;
            if kind.care_rank() > current.care_rank() || !h.active {
                let kind = if kind.care_rank() > current.care_rank() { kind } else { current };
                diesel::update(households::table.find(&h.id))
                    .set((
                        households::kind.eq(kind.as_str()),
                        households::active.eq(true),
                        households::version.eq(h.version + 1),
                        households::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                h.kind = kind;
                h.active = true;
                h.version += 1;
            }
            Ok(h)
        }
        None => {
            let h = HouseholdRow {
                id: HouseholdId::new(),
                building_id: building.id,
                unit_no: unit_no.into(),
                room: room.into(),
                kind,
                last_visited_on: None,
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(households::table).values(&h).execute(conn)?;
            Ok(h)
        }
    }
}

pub fn create_resident(conn: &mut DbConn, actor: &Actor, input: NewResident, now: NaiveDateTime) -> AppResult<ResidentView> {
    conn.transaction(|conn| {
        let building_id: OrgUnitId = parse_id("building_id", &input.building_id)?;
        let building = find_unit(conn, &building_id)?
            .filter(|b| actor.may(Operation::ResidentRead, &b.path))
            .ok_or_else(|| AppError::unknown("building_id", crate::msg!("why-no_building_in_scope")))?;
        enforce(actor.decide(Operation::ResidentManage, &building.path), "org unit", Operation::ResidentManage)?;
        let row = insert_resident(conn, &input, &building, now)?;
        Ok(view(row, &building))
    })
}

/// The residents in the actor's scope, masked.
pub fn list_residents(conn: &mut DbConn, actor: &Actor, f: ResidentFilter) -> AppResult<Vec<ResidentView>> {
    let limit = super::page_limit(f.limit, 100, 500)?;
    let mut q = residents::table
        .inner_join(org_units::table)
        .filter(units_in_scope(actor, Operation::ResidentRead))
        .filter(residents::active.eq(true))
        .into_boxed();
    if let Some(within) = f.within {
        let within: OrgUnitId = parse_id("within", &within)?;
        match find_unit(conn, &within)? {
            Some(u) => {
                let p = u.path;
                q = q.filter(org_units::path.ge(p.as_str().to_string())).filter(org_units::path.lt(p.subtree_upper_bound()));
            }
            None => return Ok(vec![]),
        }
    }
    if let Some(kind) = f.kind {
        q = q.filter(residents::kind.eq(kind.as_str()));
    }
    if let Some(text) = f.q.filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(text.trim()));
        q = q.filter(residents::name.like(pattern.clone()).escape('\\').or(residents::room.like(pattern).escape('\\')));
    }
    if let Some(after) = f.after {
        q = q.filter(residents::id.gt(after));
    }
    let rows: Vec<(ResidentRow, OrgUnitRow)> =
        q.order(residents::id).limit(limit).select((ResidentRow::as_select(), OrgUnitRow::as_select())).load(conn)?;
    Ok(rows.into_iter().map(|(r, b)| view(r, &b)).collect())
}

/// How the register (居民台账) names a resident to someone choosing him for a request: name, then
/// building, unit and room — "李秀兰（1号楼 2-301）". No phone: that is shown masked beside it.
pub fn register_label(v: &ResidentView) -> String {
    format!("{}（{} {}-{}）", v.name, v.building_name, v.unit_no, v.room)
}

/// A request's resident chosen from the register by his [`register_label`] among the residents of
/// `within` the actor may read: his name and phone as the register holds them, for the ticket's
/// contact; `None` when no single resident carries that label (then the text is a new
/// resident's name). The phone is copied into the ticket, never shown: the ticket masks it again,
/// and only those who may reveal a ticket's contact see it, recorded.
pub fn contact_from_register(conn: &mut DbConn, actor: &Actor, within: &str, label: &str) -> AppResult<Option<(String, Option<String>)>> {
    let Some((name, _)) = label.split_once('（') else { return Ok(None) };
    let f = ResidentFilter { within: Some(within.to_string()), q: Some(name.to_string()), limit: Some(500), ..Default::default() };
    let hits: Vec<ResidentView> = list_residents(conn, actor, f)?.into_iter().filter(|v| register_label(v) == label).collect();
    match hits.as_slice() {
        [one] => {
            let (r, _) = resident_for(conn, actor, &super::stored_id(&one.id)?, Operation::ResidentRead)?;
            Ok(Some((r.name, r.phone)))
        }
        _ => Ok(None),
    }
}

/// The result of an import.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub imported: usize,
}

/// The most rows one file may hold.
pub const MAX_IMPORT_ROWS: usize = 5_000;

fn kind_from(text: &str) -> Option<HouseholdKind> {
    HouseholdKind::parse(text).or(match text {
        "普通" | "普通户" => Some(HouseholdKind::Ordinary),
        "独居老人" => Some(HouseholdKind::ElderlyAlone),
        "党员中心户" => Some(HouseholdKind::PartyMemberHousehold),
        "残疾人" | "残疾" => Some(HouseholdKind::Disabled),
        "低保户" | "低保" => Some(HouseholdKind::LowIncome),
        _ => None,
    })
}

/// 台账导入: households from the CSV ledger an office keeps, with the header
/// `building_code,unit_no,room,name,phone,id_number,kind`. Every row is checked first; a file
/// with any bad row imports nothing and reports each bad row with its line and reason.
pub fn import_residents(conn: &mut DbConn, actor: &Actor, csv_text: &str, now: NaiveDateTime) -> AppResult<ImportResult> {
    const HEADER: [&str; 7] = ["building_code", "unit_no", "room", "name", "phone", "id_number", "kind"];
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            log::debug!("csv header: {e}");
            AppError::validation("file", crate::msg!("import-header_unreadable"))
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if header != HEADER {
        return Err(AppError::validation("file", crate::msg!("import-header", header = HEADER.join(","))));
    }
    let mut errors: Vec<(u64, Msg)> = vec![];
    let mut rows: Vec<(NewResident, OrgUnitRow)> = vec![];
    let mut buildings: std::collections::HashMap<String, Option<OrgUnitRow>> = Default::default();
    let mut seen: std::collections::HashSet<(String, String, String, String)> = Default::default();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_IMPORT_ROWS {
            return Err(AppError::validation("file", crate::msg!("import-too_many_rows", max = MAX_IMPORT_ROWS)));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
                log::debug!("csv line {line}: {e}");
                errors.push((line, crate::msg!("import-unreadable_row")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        let f = |k: usize| record.get(k).unwrap_or("").to_string();
        let (code, unit_no, room, name, phone, id_number, kind) = (f(0), f(1), f(2), f(3), f(4), f(5), f(6));
        let building = match buildings.get(&code) {
            Some(b) => b.clone(),
            None => {
                let b = super::org::find_unit_by_code(conn, &code)?
                    .filter(|u| u.kind == OrgKind::Building && u.active && actor.may(Operation::ResidentManage, &u.path));
                buildings.insert(code.clone(), b.clone());
                b
            }
        };
        let Some(building) = building else {
            errors.push((line, crate::msg!("import-no_building", code = &code)));
            continue;
        };
        let Some(kind) = kind_from(&kind) else {
            errors.push((line, crate::msg!("import-kind", kind = &kind)));
            continue;
        };
        if !seen.insert((building.id.to_string(), unit_no.clone(), room.clone(), name.clone())) {
            errors.push((line, crate::msg!("import-twice")));
            continue;
        }
        let input = NewResident {
            building_id: building.id.to_string(),
            name,
            phone: Some(phone).filter(|p| !p.is_empty()),
            id_number: Some(id_number).filter(|n| !n.is_empty()),
            unit_no,
            room,
            kind,
        };
        if let Err(e) = check_resident(&input) {
            errors.push((line, e));
            continue;
        }
        let exists: i64 = residents::table
            .filter(residents::building_id.eq(&building.id))
            .filter(residents::unit_no.eq(&input.unit_no))
            .filter(residents::room.eq(&input.room))
            .filter(residents::name.eq(input.name.trim()))
            .filter(residents::active.eq(true))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            errors.push((line, crate::msg!("import-registered")));
            continue;
        }
        rows.push((input, building));
    }
    if !errors.is_empty() {
        return Err(AppError::ImportRejected { errors });
    }
    if rows.is_empty() {
        return Err(AppError::validation("file", crate::msg!("import-empty")));
    }
    conn.transaction(|conn| {
        for (input, building) in &rows {
            insert_resident(conn, input, building, now)?;
        }
        Ok(ImportResult { imported: rows.len() })
    })
}

/// The checks of `insert_resident` that need no database, as one message for an import row.
fn check_resident(input: &NewResident) -> Result<(), Msg> {
    let field = |f: &'static str| move |e: Msg| crate::msg!("import-field", field = f).with("detail", e);
    validate_name(&input.name).map_err(field("name"))?;
    if let Some(p) = &input.phone {
        validate_mobile(p).map_err(field("phone"))?;
    }
    if let Some(n) = &input.id_number {
        validate_id_number(n).map_err(field("id_number"))?;
    }
    let (u, r) = (input.unit_no.trim(), input.room.trim());
    if u.is_empty() || u.len() > 10 || r.is_empty() || r.len() > 10 {
        return Err(crate::msg!("rule-unit_room"));
    }
    Ok(())
}
