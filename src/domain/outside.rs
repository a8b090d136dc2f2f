//! Requests from outside the grid (decision 0032), as the domain sees them: the kinds of outside
//! client, where an address lands in the org tree, which of our actions the 12345 platform is told
//! of (状态回传), and what a resident is shown of his own request (plain words, no names).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::workflow::{string_enum, ActionKind, TicketState};

string_enum!(
    /// A system outside the grid that files requests.
    ClientKind {
        /// The city's 12345 hotline platform (接诉即办): work orders in, status back.
        Hotline = "hotline",
        /// An Open311 GeoReport v2 app (a resident's app, FixMyStreet…).
        Open311 = "open311",
    }
);

string_enum!(
    /// Where a work order landed.
    Landing {
        /// At the unit the platform named.
        Unit = "unit",
        /// At the compound (or building) its address names.
        Address = "address",
        /// At the compound nearest its coordinates (within [`NEAR_METRES`]).
        Location = "location",
        /// Matched nothing: at the client's triage compound (待分拨), for the community to place.
        Triage = "triage",
    }
);

string_enum!(
    /// A status the 12345 platform is told of (状态回传).
    PlatformStatus {
        /// 签收: the order is taken on (the first acceptance, by the compound or the community).
        Accepted = "accepted",
        /// 退单: sent back to the platform as not ours to handle (declined, or a duplicate).
        Rejected = "rejected",
        /// 延期申请: a handler asks for more time.
        ExtensionRequested = "extension_requested",
        /// 办结: solved, with what was done.
        Solved = "solved",
        /// 回访: the return visit's result (closed, or reopened when not satisfied).
        ReturnVisit = "return_visit",
    }
);

impl PlatformStatus {
    /// The status an action sends back, if any: `from` and `to` are the ticket's states around it.
    pub fn of_action(kind: ActionKind, from: TicketState, to: TicketState) -> Option<PlatformStatus> {
        Some(match kind {
            ActionKind::AcceptAtCompound | ActionKind::AcceptAtCommunity if from != to => PlatformStatus::Accepted,
            ActionKind::Decline | ActionKind::MarkDuplicate => PlatformStatus::Rejected,
            ActionKind::RequestExtension => PlatformStatus::ExtensionRequested,
            ActionKind::MarkSolved => PlatformStatus::Solved,
            ActionKind::RecordReturnVisit if from == TicketState::Solved => PlatformStatus::ReturnVisit,
            _ => return None,
        })
    }

    /// Sent once per ticket (签收), or once per version of it (the others may repeat: a second
    /// extension request, a reopened case solved again).
    pub fn once_per_ticket(self) -> bool {
        self == PlatformStatus::Accepted
    }
}

/// The reason code a 退单 carries to the platform: `not_actionable` (不予受理) or `duplicate` (重复件).
pub fn rejection_code(kind: ActionKind) -> Option<&'static str> {
    match kind {
        ActionKind::Decline => Some("not_actionable"),
        ActionKind::MarkDuplicate => Some("duplicate"),
        _ => None,
    }
}

/// A place an address may name: a compound, or a building of one.
#[derive(Clone, Debug)]
pub struct NamedPlace<'a> {
    pub id: &'a str,
    /// A building's compound; `None` for a compound.
    pub compound: Option<&'a str>,
    pub name: &'a str,
}

/// Full-width letters and digits as ASCII, spaces dropped: "３号楼" and "3 号楼" read as "3号楼".
pub fn normalize_address(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Where an address lands among the compounds and buildings of a subtree: the compound whose name
/// it contains (the longest name, when one holds another), then, in what follows that name, one
/// of that compound's buildings (again the longest). Two different compounds matched equally, or
/// none: `None` (the order waits for triage). Returns (compound id, building id).
pub fn match_address<'a>(address: &str, places: &[NamedPlace<'a>]) -> Option<(&'a str, Option<&'a str>)> {
    let address = normalize_address(address);
    let mut best: Option<(usize, usize, &NamedPlace<'a>)> = None;
    let mut tie = false;
    for p in places.iter().filter(|p| p.compound.is_none()) {
        let name = normalize_address(p.name);
        if name.chars().count() < 2 {
            continue;
        }
        if let Some(at) = address.find(&name) {
            let len = name.len();
            match best {
                Some((l, _, _)) if l > len => {}
                Some((l, _, b)) if l == len => tie |= b.id != p.id,
                _ => {
                    best = Some((len, at + len, p));
                    tie = false;
                }
            }
        }
    }
    let (_, after, compound) = best.filter(|_| !tie)?;
    let rest = &address[after..];
    let building = places
        .iter()
        .filter(|p| p.compound == Some(compound.id))
        .filter_map(|p| {
            let name = normalize_address(p.name);
            (!name.is_empty() && rest.contains(&name)).then_some((name.len(), p.id))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, id)| id);
    Some((compound.id, building))
}

/// How far from a compound's gate a request's coordinates may be to land there.
pub const NEAR_METRES: f64 = 500.0;

/// The distance between two WGS-84 points in metres (haversine, on a sphere of the Earth's mean
/// radius: a few metres off at these distances, which is what a gate's position is worth).
pub fn distance_metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let (dlat, dlon) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().asin()
}

/// The compound nearest a point among `(id, latitude, longitude)`, if within [`NEAR_METRES`].
pub fn nearest<'a>(point: (f64, f64), compounds: &[(&'a str, f64, f64)]) -> Option<&'a str> {
    compounds
        .iter()
        .map(|(id, lat, lon)| (*id, distance_metres(point, (*lat, *lon))))
        .filter(|(_, d)| *d <= NEAR_METRES)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

/// The plain-words stage a resident is shown (the `resident-stage-<state>` message).
pub fn resident_stage_key(state: TicketState) -> &'static str {
    match state {
        TicketState::AtCompound => "resident-stage-at_compound",
        TicketState::CompoundHandling => "resident-stage-compound_handling",
        TicketState::AtCommunity => "resident-stage-at_community",
        TicketState::CommunityHandling => "resident-stage-community_handling",
        TicketState::Whistled => "resident-stage-whistled",
        TicketState::Solved => "resident-stage-solved",
        TicketState::Closed => "resident-stage-closed",
        TicketState::Duplicate => "resident-stage-duplicate",
        TicketState::Declined => "resident-stage-declined",
    }
}

/// A step of the resident's timeline, for an audit event's action: only the steps that move his
/// request (no comments, no internal rulings, no names), each in plain words.
pub fn resident_step_key(action: &str) -> Option<&'static str> {
    Some(match action {
        "file" => "resident-step-file",
        "external_update" => "resident-step-external_update",
        "accept_at_compound" | "accept_at_community" => "resident-step-accept",
        "report_to_community" | "escalate_to_community" => "resident-step-report_to_community",
        "whistle" | "add_department" => "resident-step-whistle",
        "acknowledge" => "resident-step-acknowledge",
        "pause_for_resident" => "resident-step-pause_for_resident",
        "resume_work" => "resident-step-resume_work",
        "mark_solved" => "resident-step-mark_solved",
        "record_return_visit" => "resident-step-record_return_visit",
        "decline" => "resident-step-decline",
        "mark_duplicate" => "resident-step-mark_duplicate",
        "resident_rating" => "resident-step-resident_rating",
        _ => return None,
    })
}

/// Every key [`resident_step_key`] may give, for the catalogue's completeness test.
pub const RESIDENT_STEP_KEYS: &[&str] = &[
    "resident-step-file",
    "resident-step-external_update",
    "resident-step-accept",
    "resident-step-report_to_community",
    "resident-step-whistle",
    "resident-step-acknowledge",
    "resident-step-pause_for_resident",
    "resident-step-resume_work",
    "resident-step-mark_solved",
    "resident-step-record_return_visit",
    "resident-step-decline",
    "resident-step-mark_duplicate",
    "resident-step-resident_rating",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Vec<NamedPlace<'static>> {
        vec![
            NamedPlace { id: "y1", compound: None, name: "幸福里小区" },
            NamedPlace { id: "y2", compound: None, name: "幸福里" },
            NamedPlace { id: "y3", compound: None, name: "光明花园" },
            NamedPlace { id: "b1", compound: Some("y1"), name: "1号楼" },
            NamedPlace { id: "b11", compound: Some("y1"), name: "11号楼" },
            NamedPlace { id: "b3", compound: Some("y3"), name: "1号楼" },
        ]
    }

    #[test]
    fn an_address_lands_at_the_longest_compound_name_then_its_longest_building() {
        let p = places();
        assert_eq!(match_address("朝阳区三里屯街道幸福里小区11号楼2单元302", &p), Some(("y1", Some("b11"))));
        assert_eq!(match_address("幸福里小区 １号楼", &p), Some(("y1", Some("b1"))), "full-width digits and spaces");
        assert_eq!(match_address("幸福里东门", &p), Some(("y2", None)), "the shorter name alone");
        assert_eq!(match_address("光明花园1号楼", &p), Some(("y3", Some("b3"))), "a building of that compound, not another's");
        assert_eq!(match_address("建国路88号", &p), None);
        // A building named before the compound is not taken as the compound's.
        assert_eq!(match_address("1号楼旁光明花园", &p), Some(("y3", None)));
    }

    #[test]
    fn coordinates_land_at_the_nearest_compound_within_500_metres() {
        // Tian'anmen to the Forbidden City's Meridian Gate: about 1 km north.
        let d = distance_metres((39.9087, 116.3975), (39.9175, 116.3972));
        assert!((950.0..1_010.0).contains(&d), "{d}");
        let compounds = [("a", 31.7500, 116.5000), ("b", 31.7530, 116.5000), ("far", 31.8000, 116.5000)];
        assert_eq!(nearest((31.7510, 116.5000), &compounds), Some("a"), "111 m against 222 m");
        assert_eq!(nearest((31.7528, 116.5001), &compounds), Some("b"));
        assert_eq!(nearest((31.7700, 116.5000), &compounds), None, "over 2 km from any");
    }

    #[test]
    fn two_compounds_named_alike_are_left_for_triage() {
        let p = vec![NamedPlace { id: "a", compound: None, name: "和平小区" }, NamedPlace { id: "b", compound: None, name: "和平小区" }];
        assert_eq!(match_address("和平小区3号楼", &p), None);
    }

    #[test]
    fn the_platform_is_told_of_acceptance_rejection_extension_solution_and_return_visit_only() {
        use TicketState::*;
        assert_eq!(PlatformStatus::of_action(ActionKind::AcceptAtCompound, AtCompound, CompoundHandling), Some(PlatformStatus::Accepted));
        assert_eq!(PlatformStatus::of_action(ActionKind::Decline, AtCompound, Declined), Some(PlatformStatus::Rejected));
        assert_eq!(PlatformStatus::of_action(ActionKind::MarkSolved, Whistled, Solved), Some(PlatformStatus::Solved));
        assert_eq!(PlatformStatus::of_action(ActionKind::RecordReturnVisit, Solved, Closed), Some(PlatformStatus::ReturnVisit));
        assert_eq!(PlatformStatus::of_action(ActionKind::AddProgress, Whistled, Whistled), None);
        assert_eq!(PlatformStatus::of_action(ActionKind::Whistle, CommunityHandling, Whistled), None);
        assert_eq!(rejection_code(ActionKind::MarkDuplicate), Some("duplicate"));
        assert!(resident_step_key("comment").is_none(), "comments stay inside");
        assert!(RESIDENT_STEP_KEYS.contains(&resident_step_key("whistle").unwrap()));
    }
}
