//! Logging in and out (登录): argon2id passwords, opaque bearer tokens stored only as hashes,
//! idle and absolute expiry, lockout after repeated failures, and a record of every attempt.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::db::models::{LoginAttemptRow, PersonRow, SessionRow};
use crate::db::schema::{login_attempts, memberships, org_units, people, sessions};
use crate::db::DbConn;
use crate::domain::{Actor, Id};

use super::people::{find_person_by_login, grant_of, load_grants, PersonView};
use super::{AppError, AppResult};

/// Last-seen times are written at most this often, so that reads do not each cost a write.
const TOUCH_EVERY_SECONDS: i64 = 60;

fn argon2(auth: &AuthSettings) -> AppResult<Argon2<'static>> {
    let params = Params::new(auth.argon2_memory_kib, auth.argon2_iterations, 1, None)
        .map_err(|e| AppError::internal_msg(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn hash_password(auth: &AuthSettings, password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2(auth)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal_msg(format!("hashing failed: {e}")))
}

/// Verifies with the parameters stored in the hash itself, so that changing the configured cost
/// does not lock anybody out.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

pub fn validate_password(password: &str) -> AppResult<()> {
    let n = password.chars().count();
    if n < 8 {
        return Err(AppError::validation("password", "must be at least 8 characters"));
    }
    if n > 200 {
        return Err(AppError::validation("password", "must be at most 200 characters"));
    }
    Ok(())
}

/// A hash to verify against when the login is unknown, so that the answer takes as long as for a
/// known login and timing does not tell which logins exist.
fn dummy_hash(auth: &AuthSettings) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(auth, "dummy-password-for-timing").unwrap_or_default())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a successful login hands back. The token is shown once and stored only as a hash.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct LoginOutcome {
    pub token: String,
    /// Send this in `X-CSRF-Token` with any change made through the session cookie.
    pub csrf_token: String,
    #[serde(with = "crate::app::rfc3339")]
    pub expires_at: NaiveDateTime,
    pub person: PersonView,
}

/// Why a login failed, as recorded (never told to the caller).
#[derive(Clone, Copy, Debug)]
enum Failure {
    UnknownLogin,
    Disabled,
    Locked,
    BadPassword,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownLogin => "unknown_login",
            Failure::Disabled => "disabled",
            Failure::Locked => "locked",
            Failure::BadPassword => "bad_password",
        }
    }
}

fn record_attempt(
    conn: &mut DbConn,
    login: &str,
    person_id: Option<&str>,
    reason: &str,
    remote: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let row = LoginAttemptRow {
        id: Id::new().to_string(),
        login: login.chars().take(64).collect(),
        person_id: person_id.map(Into::into),
        succeeded: reason == "ok",
        reason: reason.into(),
        remote_addr: remote.map(Into::into),
        at: now,
    };
    diesel::insert_into(login_attempts::table).values(&row).execute(conn)?;
    Ok(())
}

/// 登录 with a login name or phone number. Every failure gives the same error; the attempt and
/// its real reason are recorded, and the failure counter is kept even though the call fails.
pub fn login(
    conn: &mut DbConn,
    auth: &AuthSettings,
    login: &str,
    password: &str,
    remote: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<LoginOutcome> {
    let login = login.trim();
    // The bookkeeping of a failure commits although the call fails: the outcome leaves the
    // transaction as a value and becomes an error only after the commit.
    let result: Result<PersonRow, Failure> =
        crate::db::backend::immediate_transaction(conn, |conn| -> AppResult<Result<PersonRow, Failure>> {
            let Some(person) = find_person_by_login(conn, login)? else {
                verify_password(dummy_hash(auth), password);
                record_attempt(conn, login, None, Failure::UnknownLogin.as_str(), remote, now)?;
                return Ok(Err(Failure::UnknownLogin));
            };
            let password_ok = verify_password(&person.password_hash, password);
            let failure = if !person.active {
                Some(Failure::Disabled)
            } else if person.locked_until.is_some_and(|t| t > now) {
                Some(Failure::Locked)
            } else if !password_ok {
                Some(Failure::BadPassword)
            } else {
                None
            };
            if let Some(f) = failure {
                if matches!(f, Failure::BadPassword) {
                    diesel::update(people::table.find(&person.id))
                        .set(people::failed_logins.eq(people::failed_logins + 1))
                        .execute(conn)?;
                    let failures: i32 = people::table.find(&person.id).select(people::failed_logins).first(conn)?;
                    if failures >= auth.max_failed_logins {
                        diesel::update(people::table.find(&person.id))
                            .set((
                                people::failed_logins.eq(0),
                                people::locked_until.eq(Some(now + Duration::minutes(auth.lockout_minutes))),
                            ))
                            .execute(conn)?;
                        log::warn!("account {} locked after {failures} failed logins", person.id);
                    }
                }
                record_attempt(conn, login, Some(&person.id), f.as_str(), remote, now)?;
                return Ok(Err(f));
            }
            diesel::update(people::table.find(&person.id))
                .set((people::failed_logins.eq(0), people::locked_until.eq(None::<NaiveDateTime>)))
                .execute(conn)?;
            record_attempt(conn, login, Some(&person.id), "ok", remote, now)?;
            Ok(Ok(person))
        })?;
    let person = result.map_err(|_| AppError::LoginFailed)?;
    crate::db::backend::immediate_transaction(conn, |conn| {
        let token = random_token();
        let csrf_token = random_token();
        let expires_at = now + Duration::hours(auth.absolute_timeout_hours);
        let row = SessionRow {
            id: Id::new().to_string(),
            person_id: person.id.clone(),
            token_hash: token_hash(&token),
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
        };
        diesel::insert_into(sessions::table).values(&row).execute(conn)?;
        let grants = load_grants(conn, &person.id)?;
        let actor = Actor {
            person_id: person.id.parse().map_err(|_| AppError::internal_msg("bad person id".into()))?,
            login: person.login.clone(),
            grants,
        };
        let view = super::people::me(conn, &actor)?;
        Ok(LoginOutcome { token, csrf_token, expires_at, person: view })
    })
}

/// The session behind a token, if it is still valid. `Debug` omits the CSRF token.
#[derive(Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub session_id: String,
    pub csrf_token: String,
    pub expires_at: NaiveDateTime,
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated").field("actor", &self.actor.login).field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

/// Resolves a bearer token or session cookie to an actor, or `Unauthenticated` for a token that
/// is unknown, revoked, idle too long, past its absolute limit, or whose person was disabled.
pub fn authenticate(conn: &mut DbConn, auth: &AuthSettings, token: &str, now: NaiveDateTime) -> AppResult<Authenticated> {
    let idle_cutoff = now - Duration::minutes(auth.idle_timeout_minutes);
    // The session, its person and his active grants in one round trip (every request pays it).
    type GrantCols = (Option<String>, Option<String>, Option<String>, Option<String>);
    let rows: Vec<(SessionRow, PersonRow, GrantCols)> = sessions::table
        .inner_join(people::table)
        .left_join(memberships::table.on(memberships::person_id.eq(people::id).and(memberships::active.eq(true))))
        .left_join(org_units::table.on(org_units::id.eq(memberships::org_unit_id).and(org_units::active.eq(true))))
        .filter(sessions::token_hash.eq(token_hash(token)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(idle_cutoff))
        .filter(people::active.eq(true))
        .select((
            SessionRow::as_select(),
            PersonRow::as_select(),
            (memberships::role.nullable(), org_units::id.nullable(), org_units::kind.nullable(), org_units::path.nullable()),
        ))
        .load(conn)?;
    let Some((session, person, _)) = rows.first().cloned() else {
        return Err(AppError::Unauthenticated);
    };
    if now - session.last_seen_at > Duration::seconds(TOUCH_EVERY_SECONDS) {
        diesel::update(sessions::table.find(&session.id)).set(sessions::last_seen_at.eq(now)).execute(conn)?;
    }
    // A membership of an inactive unit comes without its unit: no grant.
    let grants = rows
        .into_iter()
        .filter_map(|(_, _, (role, unit, kind, path))| Some((role?, unit?, kind?, path?)))
        .map(|(role, unit, kind, path)| grant_of(&role, &unit, &kind, path))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Authenticated {
        actor: Actor {
            person_id: person.id.parse().map_err(|_| AppError::internal_msg("bad person id".into()))?,
            login: person.login,
            grants,
        },
        session_id: session.id,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    })
}

/// 退出: revokes the session; the token stops working at once.
pub fn logout(conn: &mut DbConn, session_id: &str, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(sessions::table.find(session_id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}
