//! Idempotency keys: a retried POST with the same key returns the first response and changes
//! nothing; the same key with a different body is refused.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::models::IdempotencyRow;
use crate::db::schema::idempotency_keys;
use crate::db::DbConn;
use crate::domain::PersonId;

use super::{AppError, AppResult};

/// An `Idempotency-Key` and the request it came with.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub person_id: PersonId,
    pub key: String,
    pub request_hash: String,
}

/// What a key already answered.
#[derive(Clone, Debug)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

pub fn request_hash(method: &str, path: &str, body: &str) -> String {
    hex::encode(Sha256::digest(format!("{method} {path}\n{body}").as_bytes()))
}

pub fn validate_key(key: &str) -> AppResult<()> {
    if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::validation("Idempotency-Key", crate::msg!("rule-idempotency_key")));
    }
    Ok(())
}

/// The stored answer for this key, or an error if the key was used for a different request.
pub fn lookup(conn: &mut DbConn, person_id: &PersonId, key: &str, hash: &str) -> AppResult<Option<Stored>> {
    let row: Option<IdempotencyRow> =
        idempotency_keys::table.find((person_id, key)).select(IdempotencyRow::as_select()).first(conn).optional()?;
    row.map(|r| answer(&r, hash)).transpose()
}

/// Records the answer, in the transaction that made the change.
pub fn store(conn: &mut DbConn, person_id: &PersonId, key: &str, hash: &str, status: u16, body: &str, now: NaiveDateTime) -> AppResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(&IdempotencyRow {
            person_id: *person_id,
            key: key.into(),
            request_hash: hash.into(),
            status: status as i32,
            body: body.into(),
            created_at: now,
        })
        .execute(conn)?;
    Ok(())
}

/// Records the answers of several requests (a batch of filings) in one statement.
pub fn store_all(conn: &mut DbConn, keys: &[(&KeyRecord, &str)], status: u16, now: NaiveDateTime) -> AppResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let rows: Vec<IdempotencyRow> = keys
        .iter()
        .map(|(k, body)| IdempotencyRow {
            person_id: k.person_id,
            key: k.key.clone(),
            request_hash: k.request_hash.clone(),
            status: status as i32,
            body: body.to_string(),
            created_at: now,
        })
        .collect();
    crate::db::backend::insert_all!(conn, idempotency_keys::table, &rows)?;
    Ok(())
}

/// The stored answers of several keys at once (a batch of filings), by (person, key). A key's
/// request hash is not compared here: see [`lookup`] for that rule.
pub fn lookup_all(conn: &mut DbConn, keys: &[&KeyRecord]) -> AppResult<std::collections::HashMap<(PersonId, String), IdempotencyRow>> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    let people: Vec<PersonId> = keys.iter().map(|k| k.person_id).collect();
    let rows: Vec<IdempotencyRow> = idempotency_keys::table
        .filter(idempotency_keys::key.eq_any(&names))
        .filter(idempotency_keys::person_id.eq_any(&people))
        .select(IdempotencyRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| ((r.person_id, r.key.clone()), r)).collect())
}

/// What a stored row answers for a request with `hash`.
pub fn answer(row: &IdempotencyRow, hash: &str) -> AppResult<Stored> {
    if row.request_hash == hash {
        Ok(Stored { status: row.status as u16, body: row.body.clone() })
    } else {
        Err(AppError::IdempotencyKeyReused)
    }
}
