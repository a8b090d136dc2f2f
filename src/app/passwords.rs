//! Passwords (密码): argon2id hashes, their check, and the rule a new password must meet.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;

use super::{AppError, AppResult};

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
        return Err(AppError::validation("password", crate::msg!("rule-min_chars", min = 8)));
    }
    if n > 200 {
        return Err(AppError::validation("password", crate::msg!("rule-max_chars", max = 200)));
    }
    Ok(())
}

/// A hash to verify against when the login is unknown, so that the answer takes as long as for a
/// known login and timing does not tell which logins exist.
pub(crate) fn dummy_hash(auth: &AuthSettings) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(auth, "dummy-password-for-timing").unwrap_or_default())
}

/// A temporary password an admin hands over (shown once): 12 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), from the operating system's random source.
pub fn temporary_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}
