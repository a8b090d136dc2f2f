//! Logging in and out (登录): argon2id passwords, opaque bearer tokens stored only as hashes,
//! idle and absolute expiry, throttling of repeated failures, and a record of every attempt.

use std::net::IpAddr;

use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::db::models::{LoginAttemptRow, LoginThrottleRow, PersonRow, SessionRow};
use crate::db::schema::{login_attempts, login_throttle, login_usual_addresses, memberships, org_units, people, sessions};
use crate::db::DbConn;
use crate::domain::net::address_key;
use crate::domain::throttle::{retry_after_seconds, Counter, Scope, ThrottleRules};
use crate::domain::{Actor, LoginAttemptId, OrgPath, PersonId, SessionId};

use super::passwords::{dummy_hash, verify_password};
use super::people::{find_person_by_login, grant_of, load_grants, PersonView};
use super::{AppError, AppResult};

/// Last-seen times are written at most this often, so that reads do not each cost a write.
const TOUCH_EVERY_SECONDS: i64 = 60;

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
    BadPassword,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownLogin => "unknown_login",
            Failure::Disabled => "disabled",
            Failure::BadPassword => "bad_password",
        }
    }
}

/// Why a login was not let in, as the caller learns it.
enum Refusal {
    /// 401: every failure reads the same.
    Failed,
    /// 429: refused before the password was looked at; try again after this many seconds.
    Throttled(i64),
}

fn record_attempt(
    conn: &mut DbConn,
    login: &str,
    person_id: Option<&PersonId>,
    reason: &str,
    remote: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let row = LoginAttemptRow {
        id: LoginAttemptId::new(),
        login: login.chars().take(64).collect(),
        person_id: person_id.copied(),
        succeeded: reason == "ok",
        reason: reason.into(),
        remote_addr: remote.map(Into::into),
        at: now,
    };
    diesel::insert_into(login_attempts::table).values(&row).execute(conn)?;
    Ok(())
}

/// A usual address is recorded again at most this often, so that logins do not each cost a write.
const USUAL_ADDRESS_REFRESH_HOURS: i64 = 1;

/// One counter that applies to an attempt: its scope, its key, its state and whether it is stored.
struct Applicable {
    scope: Scope,
    account: String,
    address: String,
    counter: Counter,
    stored: bool,
}

/// The counters an attempt against `account` from `address` answers to: the address's own, the
/// account's from this address and, unless the address is one of the account's usual ones, the
/// account's counter of unusual addresses.
fn applicable_counters(conn: &mut DbConn, account: &str, address: &str, usual: bool, now: NaiveDateTime) -> AppResult<Vec<Applicable>> {
    let mut keys = vec![(Scope::Address, String::new(), address.to_string()), (Scope::AccountAddress, account.into(), address.into())];
    if !usual {
        keys.push((Scope::UnusualAddresses, account.into(), String::new()));
    }
    let accounts: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let addresses: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows: Vec<LoginThrottleRow> = login_throttle::table
        .filter(login_throttle::account.eq_any(&accounts))
        .filter(login_throttle::address.eq_any(&addresses))
        .select(LoginThrottleRow::as_select())
        .load(conn)?;
    Ok(keys
        .into_iter()
        .map(|(scope, account, address)| {
            let row = rows.iter().find(|r| r.account == account && r.address == address);
            let counter = row.map_or(Counter::new(now), |r| Counter {
                failures: r.failures,
                decayed_at: r.decayed_at,
                blocked_until: r.blocked_until,
            });
            Applicable { scope, account, address, counter, stored: row.is_some() }
        })
        .collect())
}

/// The rows of `counters` after a failure at `now`. Says so in the log when an account's counter
/// of unusual addresses starts to impose waits: the account is being attacked from many places.
fn counters_after_failure(
    counters: &[Applicable],
    rules: &ThrottleRules,
    person_id: Option<&PersonId>,
    now: NaiveDateTime,
) -> Vec<LoginThrottleRow> {
    counters
        .iter()
        .map(|c| {
            let after = c.counter.after_failure(now, c.scope.free_failures(rules), rules);
            if c.scope == Scope::UnusualAddresses && after.failures == c.scope.free_failures(rules) {
                if let Some(id) = person_id {
                    log::warn!(
                        "account {id}: {} failed logins from addresses it does not usually use; such attempts now wait",
                        after.failures
                    );
                }
            }
            LoginThrottleRow {
                account: c.account.clone(),
                address: c.address.clone(),
                failures: after.failures,
                decayed_at: after.decayed_at,
                blocked_until: after.blocked_until,
                expires_at: after.expires_at(rules.decay),
            }
        })
        .collect()
}

/// Whether `address` is one of the person's usual addresses, and when he last logged in from it.
fn last_success_from(conn: &mut DbConn, person_id: &PersonId, address: &str) -> AppResult<Option<NaiveDateTime>> {
    Ok(login_usual_addresses::table.find((person_id, address)).select(login_usual_addresses::last_success_at).first(conn).optional()?)
}

/// 登录 with a login name or phone number, from the client address `client`.
///
/// Throttling (登录限流) comes first: while a counter that applies to this attempt still imposes a
/// wait, the attempt is refused at once with 429 and the password is not looked at. Otherwise the
/// password is checked; a failure counts on every counter that applies (and may impose a wait on
/// the next attempt), a success clears the account's counter for this address and marks the
/// address as one of the account's usual ones. Every failure gives the same 401; the attempt and
/// its real reason are recorded, and the counters are kept even though the call fails.
pub fn login(
    conn: &mut DbConn,
    auth: &AuthSettings,
    login: &str,
    password: &str,
    client: Option<IpAddr>,
    now: NaiveDateTime,
) -> AppResult<LoginOutcome> {
    let login = login.trim();
    let rules = auth.throttle_rules();
    let address = address_key(client);
    let remote = client.map(|ip| ip.to_string());
    let remote = remote.as_deref();
    // The bookkeeping of a failure commits although the call fails: the outcome leaves the
    // transaction as a value and becomes an error only after the commit.
    let result: Result<PersonRow, Refusal> =
        crate::db::backend::immediate_transaction(conn, |conn| -> AppResult<Result<PersonRow, Refusal>> {
            let person = find_person_by_login(conn, login)?;
            // A login that names nobody is throttled as an account of its own, exactly like a
            // known one without usual addresses, so that the answers do not tell which logins exist.
            let account = match &person {
                Some(p) => p.id.to_string(),
                None => format!("login:{}", login.chars().take(64).collect::<String>()),
            };
            // Attempts on the same address or account wait for each other, on every server, so
            // that parallel guesses each see the failures before them.
            crate::db::backend::lock_keys(conn, "login_throttle", &[&account, &address])?;
            let last_success = match &person {
                Some(p) => last_success_from(conn, &p.id, &address)?,
                None => None,
            };
            let usual = last_success.is_some_and(|t| t > now - Duration::days(auth.usual_address_days));
            let counters = applicable_counters(conn, &account, &address, usual, now)?;
            let person_id = person.as_ref().map(|p| p.id);
            let person_id = person_id.as_ref();
            if let Some((scope, wait)) = counters.iter().filter_map(|c| Some((c.scope, c.counter.wait(now)?))).max_by_key(|(_, w)| *w) {
                record_attempt(conn, login, person_id, scope.refusal_reason(), remote, now)?;
                return Ok(Err(Refusal::Throttled(retry_after_seconds(wait))));
            }
            let verdict = match person {
                None => {
                    verify_password(dummy_hash(auth), password);
                    Err(Failure::UnknownLogin)
                }
                Some(p) => {
                    let password_ok = verify_password(&p.password_hash, password);
                    if !p.active {
                        Err(Failure::Disabled)
                    } else if !password_ok {
                        Err(Failure::BadPassword)
                    } else {
                        Ok(p)
                    }
                }
            };
            let person = match verdict {
                Ok(person) => person,
                Err(f) => {
                    let rows = counters_after_failure(&counters, &rules, person_id, now);
                    crate::db::backend::upsert_throttle(conn, &rows)?;
                    record_attempt(conn, login, person_id, f.as_str(), remote, now)?;
                    return Ok(Err(Refusal::Failed));
                }
            };
            // The right password from this address: its guesses on this account are over. The
            // address's own counter and the account's counter of unusual addresses stay: a
            // success must not wipe out the failures of an attack still going on.
            if counters.iter().any(|c| c.scope == Scope::AccountAddress && c.stored) {
                diesel::delete(login_throttle::table.find((person.id.to_string(), &address))).execute(conn)?;
            }
            if last_success.is_none_or(|t| t <= now - Duration::hours(USUAL_ADDRESS_REFRESH_HOURS)) {
                crate::db::backend::upsert_usual_address(conn, &person.id, &address, now)?;
            }
            record_attempt(conn, login, Some(&person.id), "ok", remote, now)?;
            Ok(Ok(person))
        })?;
    let person = result.map_err(|r| match r {
        Refusal::Failed => AppError::LoginFailed,
        Refusal::Throttled(seconds) => AppError::TooManyAttempts { retry_after_seconds: seconds },
    })?;
    crate::db::backend::immediate_transaction(conn, |conn| {
        let token = random_token();
        let csrf_token = random_token();
        let expires_at = now + Duration::hours(auth.absolute_timeout_hours);
        let row = SessionRow {
            id: SessionId::new(),
            person_id: person.id,
            token_hash: token_hash(&token),
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
        };
        diesel::insert_into(sessions::table).values(&row).execute(conn)?;
        let grants = load_grants(conn, &person.id)?;
        let actor = Actor { person_id: person.id, login: person.login.clone(), grants };
        let view = super::people::me(conn, &actor)?;
        Ok(LoginOutcome { token, csrf_token, expires_at, person: view })
    })
}

/// The session behind a token, if it is still valid. `Debug` omits the CSRF token.
#[derive(Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub session_id: SessionId,
    pub csrf_token: String,
    pub expires_at: NaiveDateTime,
    /// The person's name and chosen language (`zh-CN`, `en`), for the pages.
    pub display_name: String,
    pub locale: String,
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
    type GrantCols = (Option<crate::domain::Role>, Option<crate::domain::OrgUnitId>, Option<crate::domain::OrgKind>, Option<OrgPath>);
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
        .map(|(role, unit, kind, path)| grant_of(role, unit, kind, path))
        .collect::<Vec<_>>();
    Ok(Authenticated {
        actor: Actor { person_id: person.id, login: person.login, grants },
        display_name: person.display_name,
        locale: person.locale,
        session_id: session.id,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    })
}

/// 退出: revokes the session; the token stops working at once.
pub fn logout(conn: &mut DbConn, session_id: &SessionId, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(sessions::table.find(session_id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}
