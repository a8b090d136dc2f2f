//! The tamper-evident audit trail (审计留痕): each event's hash covers the previous event's hash
//! and its own canonical content. Events are spread over [`SHARDS`] independent chains by entity,
//! so writers to different tickets rarely wait on each other and one ticket's history stays in
//! order within one chain.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Number of independent chains. A writer locks only its chain's head row, so with 64 chains two
/// concurrent writes collide with probability about 1/64 instead of always.
pub const SHARDS: i32 = 64;

/// The chain an entity's events go to: stable, from the entity id alone.
pub fn shard_of(entity_id: &str) -> i32 {
    let digest = Sha256::digest(entity_id.as_bytes());
    (u16::from_be_bytes([digest[0], digest[1]]) as i32) % SHARDS
}

/// The hash before the first event of a chain (the migration seeds every head with it). Chains
/// differ from the first event on, because each event's content names its chain.
pub fn genesis_hash(_shard: i32) -> String {
    "0".repeat(64)
}

/// Timestamps are hashed with microseconds, the precision both back ends store.
pub fn canonical_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The canonical form new events are hashed in. Version 1 (events written before migration
/// 2026-11-30-000012) left the event's id out, so an id could be changed unnoticed; version 2
/// covers every column of `audit_events` except the hash itself, the version included. Version-1
/// events keep their hashes and are covered by a [`Seal`] of their chain. Version 3 is version 2
/// with residents' personal data in `changes` ([`PERSONAL_FIELDS`]) hashed by a salted digest
/// instead of as written, so that the retention purge can replace those values with their digest
/// and the chain still verifies (decision 0033).
pub const HASH_VERSION: i32 = 3;

/// The fields of an event's `changes` that hold residents' personal data (个人信息): the contact on
/// a ticket's filing and a visit log's notes. Fixed for hash version 3: a
/// field added later needs a new version, since events already written hashed it as written.
pub const PERSONAL_FIELDS: &[&str] = &["resident_name", "resident_phone", "notes"];
/// The field of `changes` holding the event's random salt for the digests of its personal fields
/// (hex, 32 characters). Not hashed itself; deleted by the purge, so that a purged value cannot be
/// found again by trying every phone number against its digest.
pub const SALT_FIELD: &str = "_pii_salt";
/// A purged value: `{"purged_sha256": "<digest>"}`.
pub const PURGED_FIELD: &str = "purged_sha256";

/// The digest a version-3 event hashes in place of one personal value.
pub fn personal_digest(salt: &str, field: &str, value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(format!("{salt}\n{field}\n{value}").as_bytes()))
}

/// The digest of a value the purge already replaced.
fn purged_digest(value: &serde_json::Value) -> Option<&str> {
    let o = value.as_object()?;
    (o.len() == 1).then(|| o.get(PURGED_FIELD)?.as_str())?
}

/// Whether `changes` (an event's JSON) holds a personal field with a value not yet purged.
pub fn has_personal_values(changes: &serde_json::Value) -> bool {
    changes.as_object().is_some_and(|o| PERSONAL_FIELDS.iter().any(|f| o.get(*f).is_some_and(|v| purged_digest(v).is_none())))
}

/// `changes` as version 3 hashes it: each personal field's value replaced by its digest (or the
/// digest the purge left), the salt left out. Anything that is not a JSON object is hashed as is.
pub fn hashed_changes(changes: &str) -> String {
    let Ok(serde_json::Value::Object(mut o)) = serde_json::from_str::<serde_json::Value>(changes) else {
        return changes.to_string();
    };
    let salt = match o.remove(SALT_FIELD) {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    for f in PERSONAL_FIELDS {
        if let Some(v) = o.get_mut(*f) {
            let digest = match purged_digest(v) {
                Some(d) => d.to_string(),
                None => personal_digest(&salt, f, v),
            };
            *v = serde_json::json!({ "sha256": digest });
        }
    }
    serde_json::Value::Object(o).to_string()
}

/// `changes` with its personal values purged: each replaced by `{"purged_sha256": digest}` and the
/// salt deleted. The version-3 hash is the same before and after. `None` when there was nothing
/// to purge (or `changes` is not an object).
pub fn purge_changes(changes: &str) -> Option<String> {
    let Ok(serde_json::Value::Object(mut o)) = serde_json::from_str::<serde_json::Value>(changes) else {
        return None;
    };
    if !has_personal_values(&serde_json::Value::Object(o.clone())) {
        return None;
    }
    let salt = match o.remove(SALT_FIELD) {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    for f in PERSONAL_FIELDS {
        if let Some(v) = o.get_mut(*f) {
            if purged_digest(v).is_none() {
                let digest = personal_digest(&salt, f, v);
                *v = serde_json::json!({ PURGED_FIELD: digest });
            }
        }
    }
    Some(serde_json::Value::Object(o).to_string())
}

/// The content of one event, in the order it is hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventContent {
    /// Which canonical form the hash uses (1 or 2): itself hashed, so flipping it shows.
    pub hash_version: i32,
    /// The event's id: hashed from version 2 on.
    pub id: String,
    pub shard: i32,
    pub seq: i64,
    pub entity_kind: String,
    pub entity_id: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_unit_id: Option<String>,
    pub at: NaiveDateTime,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    /// JSON object of changed fields: {"field": [old, new]} (keys sorted).
    pub changes: String,
}

/// Version 1, byte for byte as it was: no id.
#[derive(Serialize)]
struct CanonicalV1<'a> {
    v: u8,
    prev: &'a str,
    shard: i32,
    seq: i64,
    entity_kind: &'a str,
    entity_id: &'a str,
    actor_id: Option<&'a str>,
    actor_role: Option<&'a str>,
    actor_unit_id: Option<&'a str>,
    at: String,
    action: &'a str,
    from_state: Option<&'a str>,
    to_state: Option<&'a str>,
    reason: Option<&'a str>,
    changes: &'a str,
}

/// Version 2: every column but the hash. `v` is the `hash_version` column, `prev` the `prev_hash`
/// column; the other names are the columns' own.
#[derive(Serialize)]
struct CanonicalV2<'a> {
    v: i32,
    prev: &'a str,
    id: &'a str,
    shard: i32,
    seq: i64,
    entity_kind: &'a str,
    entity_id: &'a str,
    actor_id: Option<&'a str>,
    actor_role: Option<&'a str>,
    actor_unit_id: Option<&'a str>,
    at: String,
    action: &'a str,
    from_state: Option<&'a str>,
    to_state: Option<&'a str>,
    reason: Option<&'a str>,
    changes: &'a str,
}

/// The canonical JSON an event is hashed over, in the form its `hash_version` names (any version
/// but 1 takes the version-2 form with its own number, so an unknown version never verifies).
pub fn canonical_json(prev: &str, e: &EventContent) -> String {
    let at = canonical_time(e.at);
    let json = if e.hash_version == 1 {
        serde_json::to_string(&CanonicalV1 {
            v: 1,
            prev,
            shard: e.shard,
            seq: e.seq,
            entity_kind: &e.entity_kind,
            entity_id: &e.entity_id,
            actor_id: e.actor_id.as_deref(),
            actor_role: e.actor_role.as_deref(),
            actor_unit_id: e.actor_unit_id.as_deref(),
            at,
            action: &e.action,
            from_state: e.from_state.as_deref(),
            to_state: e.to_state.as_deref(),
            reason: e.reason.as_deref(),
            changes: &e.changes,
        })
    } else {
        let hashed;
        let changes = if e.hash_version >= 3 {
            hashed = hashed_changes(&e.changes);
            &hashed
        } else {
            &e.changes
        };
        serde_json::to_string(&CanonicalV2 {
            v: e.hash_version,
            prev,
            id: &e.id,
            shard: e.shard,
            seq: e.seq,
            entity_kind: &e.entity_kind,
            entity_id: &e.entity_id,
            actor_id: e.actor_id.as_deref(),
            actor_role: e.actor_role.as_deref(),
            actor_unit_id: e.actor_unit_id.as_deref(),
            at,
            action: &e.action,
            from_state: e.from_state.as_deref(),
            to_state: e.to_state.as_deref(),
            reason: e.reason.as_deref(),
            changes,
        })
    };
    json.expect("canonical event serializes")
}

/// SHA-256 over the previous hash and the event's canonical JSON.
pub fn event_hash(prev: &str, e: &EventContent) -> String {
    hex::encode(Sha256::digest(canonical_json(prev, e).as_bytes()))
}

/// The action of a seal event (封存), the one event per chain, appended when a database is
/// upgraded to hash version 2, that covers the ids of the chain's version-1 events before it.
pub const SEAL_ACTION: &str = "audit_sealed";
/// The entity kind of a seal; its entity id is the chain's number.
pub const SEAL_ENTITY_KIND: &str = "audit_chain";
/// The field of a seal's `changes` (`{"sealed_v1_ids": [null, Seal]}`) that carries the seal.
pub const SEAL_FIELD: &str = "sealed_v1_ids";

/// What a seal says about the version-1 events of its chain since the previous seal (or the
/// chain's start): how many, their first and last seq, and a SHA-256 over "seq:id\n" of each in
/// seq order. The seal is itself a version-2 event, hashed into the chain, so none of this can be
/// changed unnoticed; changing a covered event's id changes the digest the verifier computes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub count: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub ids_sha256: String,
}

/// Builds a [`Seal`] from the version-1 events it covers, one at a time in seq order.
#[derive(Clone, Default)]
pub struct SealDigest {
    hasher: Sha256,
    count: i64,
    first_seq: i64,
    last_seq: i64,
}

impl SealDigest {
    pub fn add(&mut self, seq: i64, id: &str) {
        if self.count == 0 {
            self.first_seq = seq;
        }
        self.last_seq = seq;
        self.count += 1;
        self.hasher.update(format!("{seq}:{id}\n").as_bytes());
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The seal of what was added, or `None` when nothing was.
    pub fn finish(self) -> Option<Seal> {
        (self.count > 0).then(|| Seal {
            count: self.count,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            ids_sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// The `changes` of a seal event.
pub fn seal_changes(seal: &Seal) -> serde_json::Value {
    serde_json::json!({ SEAL_FIELD: [serde_json::Value::Null, seal] })
}

fn seal_of(changes: &str) -> Option<Seal> {
    let v: serde_json::Value = serde_json::from_str(changes).ok()?;
    serde_json::from_value(v.get(SEAL_FIELD)?.get(1)?.clone()).ok()
}

fn is_seal(c: &EventContent) -> bool {
    c.action == SEAL_ACTION && c.entity_kind == SEAL_ENTITY_KIND
}

/// A stored event as the verifier reads it.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Everything hashed, the event's id included.
    pub content: EventContent,
    pub prev_hash: String,
    pub hash: String,
}

/// The first place a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    pub shard: i32,
    pub seq: i64,
    pub event_id: Option<String>,
    pub reason: String,
}

/// Walks one chain in seq order. Returns the last (seq, hash), or the first break. Besides the
/// links and hashes it checks the seals: every version-1 event must be covered by a later seal of
/// its chain whose digest matches the version-1 events' ids as they are now.
pub fn verify_chain(shard: i32, events: impl IntoIterator<Item = StoredEvent>) -> Result<(i64, String), Break> {
    verify_segment(shard, 1, genesis_hash(shard), events, true)
}

/// Walks a contiguous run of one chain that starts at `first_seq`, whose event before has the
/// hash `prev` (the genesis hash for the whole chain): the same checks as [`verify_chain`].
/// `whole` says the run ends at the chain's end, so every version-1 event in it must be covered
/// by a seal in it; a run that stops earlier may find its seal later, after the run. Returns the
/// last (seq, hash) — (first_seq − 1, prev) for an empty run — or the first break.
pub fn verify_segment(
    shard: i32,
    first_seq: i64,
    prev: String,
    events: impl IntoIterator<Item = StoredEvent>,
    whole: bool,
) -> Result<(i64, String), Break> {
    let mut prev = prev;
    let mut expected_seq = first_seq;
    let mut unsealed = SealDigest::default();
    let mut first_unsealed: Option<(i64, String)> = None;
    for e in events {
        let brk = |reason: String| Break { shard, seq: e.content.seq, event_id: Some(e.content.id.clone()), reason };
        if e.content.shard != shard {
            return Err(brk(format!("event claims chain {} but is stored in chain {shard}", e.content.shard)));
        }
        if e.content.seq != expected_seq {
            return Err(brk(format!("sequence jumps from {} to {} (an event is missing or moved)", expected_seq - 1, e.content.seq)));
        }
        if e.prev_hash != prev {
            return Err(brk("its previous-hash does not match the event before it (reordered, inserted or deleted)".into()));
        }
        if !(1..=HASH_VERSION).contains(&e.content.hash_version) {
            return Err(brk(format!("unknown hash version {} (edited)", e.content.hash_version)));
        }
        let recomputed = event_hash(&prev, &e.content);
        if recomputed != e.hash {
            return Err(brk(format!(
                "its content does not match its hash (edited: a column, its id or its hash version {} was changed)",
                e.content.hash_version
            )));
        }
        if e.content.hash_version == 1 {
            unsealed.add(e.content.seq, &e.content.id);
            first_unsealed.get_or_insert_with(|| (e.content.seq, e.content.id.clone()));
        } else if is_seal(&e.content) {
            let Some(claimed) = seal_of(&e.content.changes) else {
                return Err(brk("a seal whose content cannot be read".into()));
            };
            let found = std::mem::take(&mut unsealed).finish();
            // A seal covering events before the run cannot be checked from inside it (its own
            // hash still is); the whole chain's verification checks it.
            let before_run = claimed.first_seq < first_seq;
            if !before_run && found.as_ref() != Some(&claimed) {
                return Err(brk(format!(
                    "the seal does not match the version-1 events it covers (seq {}–{}, {} events): an id was changed, or such an event added, removed or moved",
                    claimed.first_seq, claimed.last_seq, claimed.count
                )));
            }
            first_unsealed = None;
        }
        prev = e.hash.clone();
        expected_seq += 1;
    }
    if let Some((seq, id)) = first_unsealed.filter(|_| whole) {
        return Err(Break {
            shard,
            seq,
            event_id: Some(id),
            reason: "a version-1 event that no seal covers, so its id is unprotected: written by an older Gridloop after the upgrade (run `gridloop migrate` to seal it), or its hash version was changed".into(),
        });
    }
    Ok((expected_seq - 1, prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let shard = 3;
        let mut prev = genesis_hash(shard);
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 123_456_000).unwrap().naive_utc();
        (1..=n)
            .map(|seq| {
                let content = EventContent {
                    hash_version: HASH_VERSION,
                    id: format!("e{seq}"),
                    shard,
                    seq,
                    entity_kind: "ticket".into(),
                    entity_id: "t".into(),
                    actor_id: Some("p".into()),
                    actor_role: Some("grid_worker".into()),
                    actor_unit_id: None,
                    at,
                    action: format!("a{seq}"),
                    from_state: None,
                    to_state: None,
                    reason: None,
                    changes: "{}".into(),
                };
                let hash = event_hash(&prev, &content);
                let e = StoredEvent { content, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_delete_or_swap_breaks_it() {
        let c = chain(5);
        assert_eq!(verify_chain(3, c.clone()).unwrap().0, 5);
        let mut edited = c.clone();
        edited[2].content.reason = Some("rewritten".into());
        assert_eq!(verify_chain(3, edited).unwrap_err().seq, 3);
        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(3, deleted).unwrap_err().seq, 3);
        let mut swapped = c.clone();
        swapped.swap(1, 2);
        assert!(verify_chain(3, swapped).is_err());
    }

    /// Re-hashes `c` from `from` on, as someone rewriting the chain consistently would.
    fn rehash(c: &mut [StoredEvent], from: usize) {
        for i in from..c.len() {
            let prev = if i == 0 { genesis_hash(3) } else { c[i - 1].hash.clone() };
            c[i].prev_hash = prev.clone();
            c[i].hash = event_hash(&prev, &c[i].content);
        }
    }

    #[test]
    fn a_changed_id_breaks_a_version_2_event() {
        let mut c = chain(3);
        c[1].content.id = "someone-else".into();
        let b = verify_chain(3, c).unwrap_err();
        assert_eq!((b.seq, b.event_id.as_deref()), (2, Some("someone-else")));
        assert!(b.reason.contains("edited"), "{}", b.reason);
    }

    /// A chain of `n` version-1 events followed by a seal covering them and one version-2 event.
    fn sealed_chain(n: i64) -> Vec<StoredEvent> {
        let mut c = chain(n + 2);
        let mut digest = SealDigest::default();
        for e in c.iter_mut().take(n as usize) {
            e.content.hash_version = 1;
            digest.add(e.content.seq, &e.content.id);
        }
        let seal = &mut c[n as usize].content;
        (seal.action, seal.entity_kind, seal.entity_id) = (SEAL_ACTION.into(), SEAL_ENTITY_KIND.into(), "3".into());
        seal.changes = seal_changes(&digest.finish().unwrap()).to_string();
        rehash(&mut c, 0);
        c
    }

    #[test]
    fn version_1_events_verify_under_their_seal_and_a_changed_id_breaks_the_seal() {
        let c = sealed_chain(3);
        assert_eq!(verify_chain(3, c.clone()).unwrap().0, 5);
        // The version-1 hash leaves the id out: only the seal notices.
        let mut changed = c.clone();
        changed[1].content.id = "someone-else".into();
        let b = verify_chain(3, changed).unwrap_err();
        assert_eq!((b.seq, b.event_id.as_deref()), (4, Some("e4")), "the seal is named");
        assert!(b.reason.contains("seq 1–3"), "{}", b.reason);
    }

    #[test]
    fn a_run_of_a_chain_verifies_from_its_anchor_and_a_seal_before_it_is_not_held_against_it() {
        let c = sealed_chain(3);
        // From the seal on (seq 4), anchored on the hash of seq 3.
        let tail = c[3..].to_vec();
        assert_eq!(verify_segment(3, 4, c[2].hash.clone(), tail.clone(), true).unwrap().0, 5);
        // From seq 2: version-1 events whose seal claims seq 1–3, partly before the run.
        assert_eq!(verify_segment(3, 2, c[0].hash.clone(), c[1..].to_vec(), true).unwrap().0, 5);
        // A wrong anchor, or a run that does not start where it says, breaks.
        assert!(verify_segment(3, 4, "f".repeat(64), tail.clone(), true).is_err());
        assert!(verify_segment(3, 5, c[2].hash.clone(), tail, true).is_err());
        // A run that stops before its seal does not ask for it; the whole chain would.
        assert!(verify_segment(3, 1, genesis_hash(3), c[..2].to_vec(), false).is_ok());
        assert!(verify_segment(3, 1, genesis_hash(3), c[..2].to_vec(), true).is_err());
    }

    #[test]
    fn flipping_a_hash_version_breaks_the_event_either_way() {
        let c = sealed_chain(2);
        let mut up = c.clone();
        up[0].content.hash_version = 2;
        assert_eq!(verify_chain(3, up).unwrap_err().seq, 1);
        let mut down = c.clone();
        down[3].content.hash_version = 1;
        assert_eq!(verify_chain(3, down).unwrap_err().seq, 4);
        let mut unknown = c;
        unknown[3].content.hash_version = 7;
        assert!(verify_chain(3, unknown).unwrap_err().reason.contains("unknown hash version 7"));
    }

    #[test]
    fn purging_personal_values_keeps_the_chain_and_editing_them_breaks_it() {
        let mut c = chain(3);
        c[1].content.changes = serde_json::json!({
            "notes": [null, "王大爷 13812345678 腿脚不便"],
            "resident_phone": [null, "138****5678"],
            "title": [null, "楼道灯坏了"],
            SALT_FIELD: "00112233445566778899aabbccddeeff",
        })
        .to_string();
        rehash(&mut c, 1);
        assert_eq!(verify_chain(3, c.clone()).unwrap().0, 3);
        // The purge: the values and the salt are gone, the chain still verifies.
        let mut purged = c.clone();
        purged[1].content.changes = purge_changes(&c[1].content.changes).unwrap();
        let stored = &purged[1].content.changes;
        assert!(!stored.contains("13812345678") && !stored.contains("5678") && !stored.contains(SALT_FIELD), "{stored}");
        assert!(stored.contains("楼道灯坏了"), "what is not personal stays: {stored}");
        assert_eq!(verify_chain(3, purged.clone()).unwrap().0, 3);
        assert_eq!(purge_changes(&purged[1].content.changes), None, "nothing left to purge");
        // Editing a personal value (or a digest the purge left, or what is not personal) breaks it.
        let mut edited = c.clone();
        edited[1].content.changes = edited[1].content.changes.replace("腿脚不便", "一切正常");
        assert_eq!(verify_chain(3, edited).unwrap_err().seq, 2);
        let mut forged = purged.clone();
        let d = serde_json::from_str::<serde_json::Value>(&purged[1].content.changes).unwrap()["notes"][PURGED_FIELD]
            .as_str()
            .unwrap()
            .to_string();
        forged[1].content.changes = forged[1].content.changes.replace(&d, &"0".repeat(64));
        assert_eq!(verify_chain(3, forged).unwrap_err().seq, 2);
        let mut other = purged;
        other[1].content.changes = other[1].content.changes.replace("楼道灯坏了", "楼道灯好了");
        assert_eq!(verify_chain(3, other).unwrap_err().seq, 2);
    }

    #[test]
    fn a_personal_digest_depends_on_the_salt_so_a_phone_cannot_be_looked_up() {
        let v = serde_json::json!([null, "13812345678"]);
        assert_ne!(personal_digest("a", "resident_phone", &v), personal_digest("b", "resident_phone", &v));
        assert_ne!(personal_digest("a", "resident_phone", &v), personal_digest("a", "notes", &v));
    }

    #[test]
    fn a_version_1_event_without_a_seal_after_it_is_reported() {
        let mut c = chain(3);
        c[2].content.hash_version = 1;
        rehash(&mut c, 2);
        let b = verify_chain(3, c).unwrap_err();
        assert_eq!((b.seq, b.event_id.as_deref()), (3, Some("e3")));
        assert!(b.reason.contains("no seal covers"), "{}", b.reason);
    }

    #[test]
    fn the_version_1_form_is_the_one_old_databases_were_hashed_with() {
        let mut e = chain(1).remove(0).content;
        e.hash_version = 1;
        let json = canonical_json(&genesis_hash(3), &e);
        assert!(json.starts_with(r#"{"v":1,"prev":"0000"#) && !json.contains(r#""id""#), "{json}");
        e.hash_version = 2;
        assert!(canonical_json(&genesis_hash(3), &e).contains(r#""id":"e1""#));
    }

    #[test]
    fn shards_spread_and_stay_stable() {
        assert_eq!(shard_of("abc"), shard_of("abc"));
        let used: std::collections::HashSet<i32> = (0..1000).map(|i| shard_of(&format!("t{i}"))).collect();
        assert!(used.len() > 50);
    }
}
