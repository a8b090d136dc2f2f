//! Writing, reading and verifying the audit trail. Every change to a ticket appends an event here
//! in the same transaction as the change itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::AuditEventRow;
use crate::db::schema::{audit_archives, audit_events, audit_heads};
use crate::db::DbConn;
use crate::domain::audit::{
    event_hash, seal_changes, shard_of, verify_segment, Break, EventContent, SealDigest, StoredEvent, HASH_VERSION, SEAL_ACTION,
    SEAL_ENTITY_KIND, SHARDS,
};
use crate::domain::Grant;

use super::{AppError, AppResult};

/// Who did it: the person and the grant (role at unit) he acted under; `None` for the system.
#[derive(Clone, Debug, Default)]
pub struct ActedBy {
    pub person_id: Option<crate::domain::PersonId>,
    pub role: Option<crate::domain::Role>,
    pub unit_id: Option<crate::domain::OrgUnitId>,
}

impl ActedBy {
    pub fn person(person_id: crate::domain::PersonId, grant: Option<&Grant>) -> Self {
        ActedBy { person_id: Some(person_id), role: grant.map(|g| g.role), unit_id: grant.map(|g| g.org_unit_id) }
    }
}

/// An event to append.
pub struct Draft<'a> {
    pub entity_kind: &'a str,
    pub entity_id: &'a str,
    pub by: &'a ActedBy,
    pub action: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// `{"field": [old, new], …}`
    pub changes: serde_json::Value,
}

/// Appends an event to its entity's chain. Locks only that chain's head row until the caller's
/// transaction ends: bump the head's seq first (taking the row lock), then read the previous hash.
pub fn append(conn: &mut DbConn, d: Draft<'_>, now: NaiveDateTime) -> AppResult<AuditEventRow> {
    append_to(conn, shard_of(d.entity_id), d, now)
}

/// Appends an event to the chain `shard`, whatever its entity (a chain's own seal).
fn append_to(conn: &mut DbConn, shard: i32, d: Draft<'_>, now: NaiveDateTime) -> AppResult<AuditEventRow> {
    let (seq, prev): (i64, String) = diesel::update(audit_heads::table.find(shard))
        .set(audit_heads::seq.eq(audit_heads::seq + 1))
        .returning((audit_heads::seq, audit_heads::hash))
        .get_result(conn)?;
    let row = sealed(d, shard, seq, prev, now)?;
    diesel::insert_into(audit_events::table).values(&row).execute(conn)?;
    diesel::update(audit_heads::table.find(shard)).set(audit_heads::hash.eq(&row.hash)).execute(conn)?;
    Ok(row)
}

/// Locks the chains the events of `entity_ids` will go to, in shard order, for the rest of the
/// caller's transaction. A transaction that appends to several chains (a visit log with its
/// requests and return visits) takes them this way, so that it never holds one chain while
/// waiting for another that a batch of filings ([`append_all`], which locks in the same order)
/// holds while waiting for the first. The order across the whole service is: existing ticket rows
/// first (an action updates its ticket, then appends), then chains in shard order; so a caller
/// that will also update existing tickets locks their rows before calling this. SQLite has one
/// writer at a time: nothing to do there.
pub fn lock_chains<'a>(conn: &mut DbConn, entity_ids: impl IntoIterator<Item = &'a str>) -> AppResult<()> {
    let shards: std::collections::BTreeSet<i32> = entity_ids.into_iter().map(shard_of).collect();
    if shards.len() > 1 {
        crate::db::backend::lock_audit_heads(conn, &shards.into_iter().collect::<Vec<_>>())?;
    }
    Ok(())
}

/// Appends several events at once (a batch of filings): each goes to its entity's chain exactly
/// as [`append`] would put it, with one lock-and-read of the chain heads involved, one insert of
/// all events and one update of the heads. The heads are locked in shard order, so two batches
/// never deadlock on each other.
pub fn append_all(conn: &mut DbConn, drafts: Vec<Draft<'_>>, now: NaiveDateTime) -> AppResult<Vec<AuditEventRow>> {
    if drafts.is_empty() {
        return Ok(vec![]);
    }
    let shards: Vec<i32> = drafts.iter().map(|d| shard_of(d.entity_id)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut head = crate::db::backend::read_audit_heads(conn, &shards)?;
    let mut rows = Vec::with_capacity(drafts.len());
    for d in drafts {
        let shard = shard_of(d.entity_id);
        let (seq, prev) = head.get_mut(&shard).ok_or_else(|| AppError::internal_msg(format!("no audit chain head {shard}")))?;
        *seq += 1;
        let row = sealed(d, shard, *seq, std::mem::take(prev), now)?;
        prev.clone_from(&row.hash);
        rows.push(row);
    }
    crate::db::backend::insert_all!(conn, audit_events::table, &rows)?;
    crate::db::backend::write_audit_heads(conn, head)?;
    Ok(rows)
}

/// An event's row, hashed onto `prev` in the current canonical form (its id included).
fn sealed(d: Draft<'_>, shard: i32, seq: i64, prev: String, now: NaiveDateTime) -> AppResult<AuditEventRow> {
    let id = crate::domain::AuditEventId::new().to_string();
    let mut changes = d.changes;
    // Personal values get a random salt for their digests (hash version 3, decision 0033).
    if crate::domain::audit::has_personal_values(&changes) {
        if let serde_json::Value::Object(o) = &mut changes {
            o.insert(crate::domain::audit::SALT_FIELD.into(), hex::encode(rand::random::<[u8; 16]>()).into());
        }
    }
    let content = EventContent {
        hash_version: HASH_VERSION,
        id: id.clone(),
        shard,
        seq,
        entity_kind: d.entity_kind.into(),
        entity_id: d.entity_id.into(),
        actor_id: d.by.person_id.map(|p| p.to_string()),
        actor_role: d.by.role.map(|r| r.as_str().to_string()),
        actor_unit_id: d.by.unit_id.map(|u| u.to_string()),
        at: now,
        action: d.action.into(),
        from_state: d.from_state.map(Into::into),
        to_state: d.to_state.map(Into::into),
        reason: d.reason.map(Into::into),
        changes: serde_json::to_string(&changes).map_err(AppError::internal)?,
    };
    let hash = event_hash(&prev, &content);
    Ok(AuditEventRow {
        id,
        shard,
        seq,
        entity_kind: content.entity_kind,
        entity_id: content.entity_id,
        actor_id: content.actor_id,
        actor_role: content.actor_role,
        actor_unit_id: content.actor_unit_id,
        at: now,
        action: content.action,
        from_state: content.from_state,
        to_state: content.to_state,
        reason: content.reason,
        changes: content.changes,
        prev_hash: prev,
        hash,
        hash_version: content.hash_version,
    })
}

/// Completes the upgrade to hash version 2 (migration 2026-11-30-000012): every chain holding
/// version-1 events that no seal covers yet gets one seal event, which carries a digest of those
/// events' ids (`domain::audit::Seal`), so that `verify` notices a changed id there too. Normally
/// that is once per chain, at the first start after the upgrade; again only for version-1 events
/// an older Gridloop wrote during a rolling upgrade. Answers the number of chains sealed.
///
/// Cheap when there is nothing to do: one indexed query on a database without version-1 events,
/// two per chain on one whose events are all sealed. A chain is sealed in a transaction of its
/// own that holds only its head row, so appends to other chains go on meanwhile, and two servers
/// starting together seal each chain once.
pub fn seal_version_1_events(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    let any: Option<i64> = audit_events::table.filter(version_1()).select(audit_events::seq).first(conn).optional()?;
    if any.is_none() {
        return Ok(0);
    }
    let mut sealed = 0;
    for shard in 0..SHARDS {
        if unsealed_since(conn, shard)?.is_none() {
            continue;
        }
        if crate::db::backend::immediate_transaction(conn, |c| seal_chain(c, shard, now))? {
            sealed += 1;
        }
    }
    if sealed > 0 {
        log::info!("audit: sealed the version-1 events of {sealed} chains (their ids are now covered by `audit verify`)");
    }
    Ok(sealed)
}

/// `hash_version = 1` with the 1 written into the SQL, so that the planner can always tell that
/// the partial index `audit_events_v1` serves it (PostgreSQL may plan a bound parameter
/// generically, and then walk a chain's newer events instead).
fn version_1() -> diesel::dsl::Eq<audit_events::hash_version, diesel::expression::SqlLiteral<diesel::sql_types::Integer>> {
    audit_events::hash_version.eq(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
}

/// The seq after which the chain's version-1 events are not sealed yet, when some are not.
fn unsealed_since(conn: &mut DbConn, shard: i32) -> AppResult<Option<i64>> {
    let last_v1: Option<i64> = audit_events::table
        .filter(audit_events::shard.eq(shard))
        .filter(version_1())
        .select(diesel::dsl::max(audit_events::seq))
        .first(conn)?;
    let Some(last_v1) = last_v1 else { return Ok(None) };
    let last_seal: i64 = audit_events::table
        .filter(audit_events::entity_kind.eq(SEAL_ENTITY_KIND))
        .filter(audit_events::entity_id.eq(shard.to_string()))
        .filter(audit_events::action.eq(SEAL_ACTION))
        .select(diesel::dsl::max(audit_events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    Ok((last_v1 > last_seal).then_some(last_seal))
}

/// Seals one chain, holding its head: false when another server sealed it first.
fn seal_chain(conn: &mut DbConn, shard: i32, now: NaiveDateTime) -> AppResult<bool> {
    crate::db::backend::lock_audit_heads(conn, &[shard])?;
    let Some(since) = unsealed_since(conn, shard)? else { return Ok(false) };
    let ids: Vec<(i64, String)> = audit_events::table
        .filter(audit_events::shard.eq(shard))
        .filter(version_1())
        .filter(audit_events::seq.gt(since))
        .order(audit_events::seq.asc())
        .select((audit_events::seq, audit_events::id))
        .load(conn)?;
    let mut digest = SealDigest::default();
    for (seq, id) in &ids {
        digest.add(*seq, id);
    }
    let Some(seal) = digest.finish() else { return Ok(false) };
    let chain = shard.to_string();
    let draft = Draft {
        entity_kind: SEAL_ENTITY_KIND,
        entity_id: &chain,
        by: &ActedBy::default(),
        action: SEAL_ACTION,
        from_state: None,
        to_state: None,
        reason: Some("hash version 2: the ids of the chain's earlier version-1 events are sealed"),
        changes: seal_changes(&seal),
    };
    append_to(conn, shard, draft, now)?;
    Ok(true)
}

/// An entity's events, oldest first (one entity's events share a chain, so seq orders them).
pub fn events_of(conn: &mut DbConn, entity_kind: &str, entity_id: &str) -> AppResult<Vec<AuditEventRow>> {
    let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
    events_since(conn, entity_kind, entity_id, epoch)
}

/// An entity's events written from `since` on, oldest first: for an entity whose start is known
/// (a ticket's creation), so that PostgreSQL reads only the months from then on (decision 0034).
pub fn events_since(conn: &mut DbConn, entity_kind: &str, entity_id: &str, since: NaiveDateTime) -> AppResult<Vec<AuditEventRow>> {
    Ok(audit_events::table
        .filter(audit_events::entity_kind.eq(entity_kind))
        .filter(audit_events::entity_id.eq(entity_id))
        .filter(audit_events::at.ge(since))
        .order(audit_events::seq.asc())
        .select(AuditEventRow::as_select())
        .load(conn)?)
}

/// How far before a ticket's creation its events are looked for: none is earlier (they are
/// written with or after it), the margin only spares a server whose clock stepped back.
pub const BEFORE_CREATION: chrono::Duration = chrono::Duration::days(31);

/// The head of every chain, to be kept outside the database.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub created_at: NaiveDateTime,
    pub events: i64,
    pub heads: Vec<Head>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Head {
    pub shard: i32,
    pub seq: i64,
    pub hash: String,
}

pub fn checkpoint(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Checkpoint> {
    let heads: Vec<(i32, i64, String)> =
        audit_heads::table.order(audit_heads::shard).select((audit_heads::shard, audit_heads::seq, audit_heads::hash)).load(conn)?;
    Ok(Checkpoint {
        created_at: now,
        events: heads.iter().map(|h| h.1).sum(),
        heads: heads.into_iter().map(|(shard, seq, hash)| Head { shard, seq, hash }).collect(),
    })
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Events in the chains, archived ones included.
    pub events: i64,
    pub chains: i32,
    /// Events in months detached for the archive (verified when they were detached, by their
    /// chains' anchors; `audit verify --from/--to` on a restored archive checks them again).
    pub archived: i64,
}

fn stored(r: AuditEventRow) -> StoredEvent {
    StoredEvent {
        prev_hash: r.prev_hash,
        hash: r.hash,
        content: EventContent {
            hash_version: r.hash_version,
            id: r.id,
            shard: r.shard,
            seq: r.seq,
            entity_kind: r.entity_kind,
            entity_id: r.entity_id,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            actor_unit_id: r.actor_unit_id,
            at: r.at,
            action: r.action,
            from_state: r.from_state,
            to_state: r.to_state,
            reason: r.reason,
            changes: r.changes,
        },
    }
}

/// Walks every chain: contiguous sequence, each previous-hash equal to the hash before it, each
/// hash recomputed from content, the recorded head equal to the last event, and (given a
/// checkpoint) every checkpointed head still present with the same hash. Reports the first break.
pub fn verify(conn: &mut DbConn, checkpoint: Option<&Checkpoint>) -> AppResult<Result<Verified, Break>> {
    // One snapshot: servers appending meanwhile must not make a chain look longer than its head.
    crate::db::backend::snapshot_read(conn, |conn| verify_in(conn, checkpoint))
}

fn verify_in(conn: &mut DbConn, checkpoint: Option<&Checkpoint>) -> AppResult<Result<Verified, Break>> {
    let heads: Vec<(i32, i64, String)> =
        audit_heads::table.order(audit_heads::shard).select((audit_heads::shard, audit_heads::seq, audit_heads::hash)).load(conn)?;
    if heads.len() as i32 != SHARDS {
        return Ok(Err(Break {
            shard: -1,
            seq: 0,
            event_id: None,
            reason: format!("expected {SHARDS} chain heads, found {}", heads.len()),
        }));
    }
    let stray: i64 = audit_events::table.filter(audit_events::shard.lt(0).or(audit_events::shard.ge(SHARDS))).count().get_result(conn)?;
    if stray > 0 {
        return Ok(Err(Break { shard: -1, seq: 0, event_id: None, reason: format!("{stray} events sit outside every chain") }));
    }
    // Months detached for the archive (PostgreSQL, `gridloop partitions detach`): each chain
    // starts after the last event archived, from the hash recorded for it when it was detached.
    let anchors = crate::app::partitions::archive_anchors(conn)?;
    let archived: i64 = audit_archives::table.select(audit_archives::events).load::<i64>(conn)?.into_iter().sum();
    let mut total = 0;
    for (shard, head_seq, head_hash) in heads {
        let anchor = anchors.get(&shard);
        let (first_seq, prev) = match anchor {
            Some((seq, hash)) => (seq + 1, hash.clone()),
            None => (1, crate::domain::audit::genesis_hash(shard)),
        };
        let rows: Vec<AuditEventRow> = audit_events::table
            .filter(audit_events::shard.eq(shard))
            .filter(audit_events::seq.ge(first_seq))
            .order(audit_events::seq.asc())
            .select(AuditEventRow::as_select())
            .load(conn)?;
        let (last_seq, last_hash) = match verify_segment(shard, first_seq, prev, rows.into_iter().map(stored), true) {
            Ok(v) => v,
            Err(b) => return Ok(Err(b)),
        };
        if last_seq != head_seq || last_hash != head_hash {
            return Ok(Err(Break {
                shard,
                seq: last_seq,
                event_id: None,
                reason: format!("the chain's head records event {head_seq} but the chain ends at event {last_seq} (events removed from the end, or the head edited)"),
            }));
        }
        if let Some(cp) = checkpoint {
            // A checkpointed head inside an archived month: the archive holds it (checked only
            // where the archive's anchor is that very event).
            let archived_head = |h: &&Head| anchor.is_some_and(|(seq, hash)| h.seq < *seq || (h.seq == *seq && h.hash == *hash));
            if let Some(h) = cp.heads.iter().find(|h| h.shard == shard).filter(|h| !archived_head(h)) {
                let at: Option<(String, String)> = audit_events::table
                    .filter(audit_events::shard.eq(shard))
                    .filter(audit_events::seq.eq(h.seq))
                    .select((audit_events::id, audit_events::hash))
                    .first(conn)
                    .optional()?;
                let ok = match &at {
                    Some((_, hash)) => *hash == h.hash,
                    None => h.seq == 0,
                };
                if !ok {
                    return Ok(Err(Break {
                        shard,
                        seq: h.seq,
                        event_id: at.map(|a| a.0),
                        reason: "differs from the exported checkpoint (the chain was rewritten)".into(),
                    }));
                }
            }
        }
        total += last_seq;
    }
    Ok(Ok(Verified { events: total, chains: SHARDS, archived }))
}

/// What a period's verification covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPeriod {
    pub events: i64,
    /// Chains with events in the period.
    pub chains: i32,
    /// Chains whose run starts after an event that is no longer stored (archived or detached):
    /// the run is anchored on its first event's previous-hash as stored.
    pub anchored: i32,
}

/// Verifies the events written in `[from, to)` (UTC), chain by chain, without reading the rest:
/// in each chain, the contiguous run from the first event at or after `from` to the last before
/// `to` (by sequence, so an event whose clock ran a little behind is not skipped), each hash
/// recomputed, each link checked; the run's first previous-hash must be the hash of the event
/// before it (when that is still stored), and the event after the run (or the chain's head) must
/// link to its last. A month can be checked on its own — a partition, an archive — and a rewrite
/// inside it is found unless every later event of the chain was rewritten too, which the full
/// `verify` against a checkpoint finds.
pub fn verify_period(conn: &mut DbConn, from: NaiveDateTime, to: NaiveDateTime) -> AppResult<Result<VerifiedPeriod, Break>> {
    crate::db::backend::snapshot_read(conn, |conn| verify_period_in(conn, from, to))
}

fn verify_period_in(conn: &mut DbConn, from: NaiveDateTime, to: NaiveDateTime) -> AppResult<Result<VerifiedPeriod, Break>> {
    let mut out = VerifiedPeriod { events: 0, chains: 0, anchored: 0 };
    for shard in 0..SHARDS {
        let in_chain = audit_events::table.filter(audit_events::shard.eq(shard));
        let first: Option<i64> = in_chain.filter(audit_events::at.ge(from)).select(diesel::dsl::min(audit_events::seq)).first(conn)?;
        let last: Option<i64> = in_chain.filter(audit_events::at.lt(to)).select(diesel::dsl::max(audit_events::seq)).first(conn)?;
        let (Some(first), Some(last)) = (first, last) else { continue };
        if first > last {
            // No event of the chain in the period: the last before it must be followed by the
            // first after it (every event is before `to` or from `from` on, so a gap is missing).
            if first != last + 1 {
                return Ok(Err(Break {
                    shard,
                    seq: last + 1,
                    event_id: None,
                    reason: format!("events {}–{} are missing", last + 1, first - 1),
                }));
            }
            continue;
        }
        let rows: Vec<AuditEventRow> = in_chain
            .filter(audit_events::seq.between(first, last))
            .order(audit_events::seq.asc())
            .select(AuditEventRow::as_select())
            .load(conn)?;
        let Some(start) = rows.first() else { continue };
        let brk = |seq: i64, id: Option<String>, reason: String| Ok(Err(Break { shard, seq, event_id: id, reason }));
        let anchor = start.prev_hash.clone();
        if first > 1 {
            let before: Option<String> =
                in_chain.filter(audit_events::seq.eq(first - 1)).select(audit_events::hash).first(conn).optional()?;
            match before {
                Some(h) if h != anchor => {
                    return brk(first, Some(start.id.clone()), "its previous-hash does not match the event before the period".into())
                }
                Some(_) => {}
                None => out.anchored += 1,
            }
        } else if anchor != crate::domain::audit::genesis_hash(shard) {
            return brk(first, Some(start.id.clone()), "the chain's first event does not start from the genesis hash".into());
        }
        let n = rows.len() as i64;
        let (end_seq, end_hash) = match verify_segment(shard, first, anchor, rows.into_iter().map(stored), false) {
            Ok(v) => v,
            Err(b) => return Ok(Err(b)),
        };
        let after: Option<(String, String)> = in_chain
            .filter(audit_events::seq.eq(end_seq + 1))
            .select((audit_events::id, audit_events::prev_hash))
            .first(conn)
            .optional()?;
        match after {
            Some((id, prev)) if prev != end_hash => {
                return brk(end_seq + 1, Some(id), "the event after the period does not link to the period's last event".into())
            }
            Some(_) => {}
            None => {
                let head: (i64, String) = audit_heads::table.find(shard).select((audit_heads::seq, audit_heads::hash)).first(conn)?;
                if head != (end_seq, end_hash) {
                    return brk(end_seq, None, format!("the chain's head records event {} but the chain ends at event {end_seq}", head.0));
                }
            }
        }
        out.events += n;
        out.chains += 1;
    }
    Ok(Ok(out))
}

/// One event of a record's history as callers see it (a ticket's timeline, a calendar year's
/// history): who, under which role and unit, did what, why, and what changed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    pub id: String,
    pub seq: i64,
    #[serde(with = "crate::app::rfc3339")]
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_unit_id: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub hash: String,
}

/// An event's `changes` as shown: without the salt of its personal values' digests.
fn shown_changes(changes: &str) -> serde_json::Value {
    let mut v = serde_json::from_str(changes).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(o) = &mut v {
        o.remove(crate::domain::audit::SALT_FIELD);
    }
    v
}

/// An audit event as shown in a timeline.
pub fn timeline_event(e: AuditEventRow) -> TimelineEvent {
    TimelineEvent {
        changes: shown_changes(&e.changes),
        id: e.id,
        seq: e.seq,
        at: e.at,
        actor_id: e.actor_id,
        actor_role: e.actor_role,
        actor_unit_id: e.actor_unit_id,
        action: e.action,
        from_state: e.from_state,
        to_state: e.to_state,
        reason: e.reason,
        hash: e.hash,
    }
}
