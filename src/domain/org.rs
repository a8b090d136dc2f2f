//! The organisation tree (组织架构): kinds of org unit, which kind may hang under which, and the
//! materialised path that turns "everything under this unit" into one indexed range query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::OrgUnitId;

/// The kind of an org unit, from the city down to the building (small grid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// 市
    City,
    /// 区县
    District,
    /// 街道 / 乡镇
    Street,
    /// 社区
    Community,
    /// 小区, the big grid (大网格)
    Compound,
    /// 楼栋, the small grid (小网格)
    Building,
    /// 职能部门: hangs off the city, district or street it serves
    Department,
}

impl OrgKind {
    pub const ALL: [OrgKind; 7] =
        [OrgKind::City, OrgKind::District, OrgKind::Street, OrgKind::Community, OrgKind::Compound, OrgKind::Building, OrgKind::Department];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::City => "city",
            OrgKind::District => "district",
            OrgKind::Street => "street",
            OrgKind::Community => "community",
            OrgKind::Compound => "compound",
            OrgKind::Building => "building",
            OrgKind::Department => "department",
        }
    }

    /// Its name for people: the message catalogue's `OrgKind-<code>` entry.
    pub fn label_key(self) -> &'static str {
        match self {
            OrgKind::City => "OrgKind-city",
            OrgKind::District => "OrgKind-district",
            OrgKind::Street => "OrgKind-street",
            OrgKind::Community => "OrgKind-community",
            OrgKind::Compound => "OrgKind-compound",
            OrgKind::Building => "OrgKind-building",
            OrgKind::Department => "OrgKind-department",
        }
    }

    /// Which kinds may be the parent of this kind. `None` in the list means "may be a root".
    pub fn allowed_parents(self) -> &'static [Option<OrgKind>] {
        use OrgKind::*;
        match self {
            City => &[None],
            District => &[Some(City), None],
            Street => &[Some(District), Some(City)],
            Community => &[Some(Street)],
            Compound => &[Some(Community)],
            Building => &[Some(Compound)],
            Department => &[Some(City), Some(District), Some(Street)],
        }
    }

    pub fn may_hang_under(self, parent: Option<OrgKind>) -> bool {
        self.allowed_parents().contains(&parent)
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown org unit kind `{s}`; expected one of: {}", OrgKind::ALL.map(|k| k.as_str()).join(", ")))
    }
}

/// The materialised path of an org unit: `/<root id>/<child id>/…/<own id>/`.
///
/// Every unit's path starts with its ancestors' paths, so "the subtree of X" is the half-open
/// text range `[X.path, X.path with its final '/' replaced by '0')`: one range scan on a plain
/// B-tree index on both back ends (PostgreSQL stores the column with the "C" collation).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgPath(String);

impl OrgPath {
    pub fn root(id: OrgUnitId) -> Self {
        OrgPath(format!("/{id}/"))
    }

    pub fn child(&self, id: OrgUnitId) -> Self {
        OrgPath(format!("{}{id}/", self.0))
    }

    /// Wraps a path read back from the database.
    pub fn from_db(s: String) -> Self {
        OrgPath(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exclusive upper bound of this unit's subtree range (see the type's doc).
    pub fn subtree_upper_bound(&self) -> String {
        let mut s = self.0.clone();
        s.pop();
        s.push('0');
        s
    }

    /// True when `other` is this unit or lies below it.
    pub fn contains(&self, other: &OrgPath) -> bool {
        other.0.starts_with(&self.0)
    }

    /// Depth in the tree: 0 for a root.
    pub fn depth(&self) -> usize {
        self.0.matches('/').count().saturating_sub(2)
    }

    /// The ids on the path, root first.
    pub fn ids(&self) -> Vec<OrgUnitId> {
        self.0.split('/').filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect()
    }
}

/// A short, stable code that people type (e.g. `LA-JA-XF-C1`).
pub fn validate_code(code: &str) -> Result<(), crate::domain::text::Msg> {
    if code.is_empty() || code.len() > 32 {
        return Err(crate::msg!("rule-code_length", max = 32));
    }
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(crate::msg!("rule-code_chars", code = code));
    }
    Ok(())
}

/// A display name: trimmed, not empty, at most 100 characters.
pub fn validate_name(name: &str) -> Result<String, crate::domain::text::Msg> {
    let name = name.trim();
    if name.is_empty() {
        return Err(crate::msg!("rule-not_empty"));
    }
    if name.chars().count() > 100 {
        return Err(crate::msg!("rule-max_chars", max = 100));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtree_range_holds_descendants_and_nothing_else() {
        let root = OrgPath::root(OrgUnitId::new());
        let a = root.child(OrgUnitId::new());
        let a1 = a.child(OrgUnitId::new());
        let b = root.child(OrgUnitId::new());
        let upper = a.subtree_upper_bound();
        for (p, inside) in [(&a, true), (&a1, true), (&b, false), (&root, false)] {
            let in_range = p.as_str() >= a.as_str() && p.as_str() < upper.as_str();
            assert_eq!(in_range, inside, "{p:?}");
            assert_eq!(a.contains(p), inside, "{p:?}");
        }
        assert_eq!(root.depth(), 0);
        assert_eq!(a1.depth(), 2);
        assert_eq!(a1.ids().len(), 3);
    }

    #[test]
    fn the_tree_shape_follows_the_practice() {
        assert!(OrgKind::Building.may_hang_under(Some(OrgKind::Compound)));
        assert!(!OrgKind::Building.may_hang_under(Some(OrgKind::Community)));
        assert!(OrgKind::Department.may_hang_under(Some(OrgKind::District)));
        assert!(!OrgKind::Department.may_hang_under(Some(OrgKind::Compound)));
        assert!(OrgKind::City.may_hang_under(None));
        assert!(!OrgKind::Compound.may_hang_under(None));
    }

    #[test]
    fn codes_are_short_and_ascii() {
        assert!(validate_code("LA-JA-XF-C1").is_ok());
        assert!(validate_code("").is_err());
        assert!(validate_code("翠竹园").is_err());
        assert!(validate_code(&"x".repeat(33)).is_err());
    }
}
