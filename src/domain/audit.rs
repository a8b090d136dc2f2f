//! The tamper-evident audit trail (审计留痕): each event's hash covers the previous event's hash
//! and its own canonical content. Events are spread over [`SHARDS`] independent chains by entity,
//! so writers to different tickets rarely wait on each other and one ticket's history stays in
//! order within one chain.

use chrono::NaiveDateTime;
use serde::Serialize;
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

/// The content of one event, in the order it is hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventContent {
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

#[derive(Serialize)]
struct Canonical<'a> {
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

/// SHA-256 over the previous hash and the event's canonical JSON.
pub fn event_hash(prev: &str, e: &EventContent) -> String {
    let c = Canonical {
        v: 1,
        prev,
        shard: e.shard,
        seq: e.seq,
        entity_kind: &e.entity_kind,
        entity_id: &e.entity_id,
        actor_id: e.actor_id.as_deref(),
        actor_role: e.actor_role.as_deref(),
        actor_unit_id: e.actor_unit_id.as_deref(),
        at: canonical_time(e.at),
        action: &e.action,
        from_state: e.from_state.as_deref(),
        to_state: e.to_state.as_deref(),
        reason: e.reason.as_deref(),
        changes: &e.changes,
    };
    let json = serde_json::to_string(&c).expect("canonical event serializes");
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// A stored event as the verifier reads it.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: String,
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

/// Walks one chain in seq order. Returns the last (seq, hash), or the first break.
pub fn verify_chain(shard: i32, events: impl IntoIterator<Item = StoredEvent>) -> Result<(i64, String), Break> {
    let mut prev = genesis_hash(shard);
    let mut expected_seq = 1;
    for e in events {
        let brk = |reason: String| Break { shard, seq: e.content.seq, event_id: Some(e.id.clone()), reason };
        if e.content.shard != shard {
            return Err(brk(format!("event claims chain {} but is stored in chain {shard}", e.content.shard)));
        }
        if e.content.seq != expected_seq {
            return Err(brk(format!("sequence jumps from {} to {} (an event is missing or moved)", expected_seq - 1, e.content.seq)));
        }
        if e.prev_hash != prev {
            return Err(brk("its previous-hash does not match the event before it (reordered, inserted or deleted)".into()));
        }
        let recomputed = event_hash(&prev, &e.content);
        if recomputed != e.hash {
            return Err(brk("its content does not match its hash (edited)".into()));
        }
        prev = e.hash.clone();
        expected_seq += 1;
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
                let e = StoredEvent { id: format!("e{seq}"), content, prev_hash: prev.clone(), hash: hash.clone() };
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

    #[test]
    fn shards_spread_and_stay_stable() {
        assert_eq!(shard_of("abc"), shard_of("abc"));
        let used: std::collections::HashSet<i32> = (0..1000).map(|i| shard_of(&format!("t{i}"))).collect();
        assert!(used.len() > 50);
    }
}
