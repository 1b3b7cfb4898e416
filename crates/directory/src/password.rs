//! Password hashing for the static backend: argon2id PHC strings.
//!
//! - [`hash_password`] makes a new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
//!   with argon2's default parameters (OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane)
//!   and a random 16-byte salt from the operating system.
//! - [`verify_password`] checks a password against a PHC string. It uses the parameters written
//!   in the string, so hashes made with other (stronger or weaker) parameters keep working, and
//!   the comparison of the outputs is constant-time.
//! - [`verify_dummy`] burns the same time as a real check against a fixed hash, for logins that
//!   do not exist or are disabled, so response times do not reveal which logins exist.
//!
//! All three are CPU-bound (tens of milliseconds in release builds). Async callers use
//! [`verify_password_async`] / [`verify_dummy_async`], which run on a few dedicated threads that
//! keep their argon2 work area (see `pool`): a burst of logins neither takes hundreds of
//! blocking threads nor leaves the process gigabytes larger.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, PasswordHasher};

mod pool;

use crate::DirectoryError;

/// A fixed argon2id hash with the default parameters (the same cost as [`hash_password`]),
/// of a password nobody knows. [`verify_dummy`] checks against it.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bWFpbHN0YWNrLWR1bW15$rm/fj2MPygwccI+qFOBQfOplQ6uTuSS1x6+dqyX/5s8";

/// Hash `password` into an argon2id PHC string with a fresh random salt.
///
/// Fails only if the operating system's random generator fails (reported as
/// [`DirectoryError::Unavailable`]).
pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::Unavailable(format!("cannot hash password: {e}")))
}

/// Whether `password` matches the PHC string `phc`. False when it does not match and when `phc`
/// is malformed or not an argon2 hash. The output comparison is constant-time.
pub fn verify_password(phc: &str, password: &str) -> bool {
    pool::verify_with(phc, password, &mut Vec::new())
}

/// [`verify_password`] on one of the password verifier threads (at most one verification per
/// CPU at a time, each reusing its thread's argon2 work area). `Unavailable` only when the
/// process could not start a verifier thread.
pub async fn verify_password_async(phc: String, password: String) -> Result<bool, DirectoryError> {
    pool::verify(phc, password).await
}

/// [`verify_dummy`] on a verifier thread: always `Ok(false)` unless no verifier thread runs.
pub async fn verify_dummy_async(password: String) -> Result<bool, DirectoryError> {
    pool::verify(DUMMY_HASH.to_string(), password)
        .await
        .map(|_| false)
}

/// Spend the time of one [`verify_password`] call against [`DUMMY_HASH`]. Always returns
/// `false`; call it for unknown or disabled logins before rejecting them.
pub fn verify_dummy(password: &str) -> bool {
    // The result is ignored on purpose: nobody knows the dummy password, and even if someone
    // found it, the caller rejects the login anyway.
    let _ = verify_password(DUMMY_HASH, password);
    false
}

/// Check that `phc` is a well-formed argon2 PHC string (argon2id, argon2i or argon2d, with salt
/// and hash). Used by the users-file validation; explains what is wrong on failure.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string ({e})"))?;
    Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| {
        format!(
            "unsupported algorithm {:?}, want argon2id",
            parsed.algorithm.as_str()
        )
    })?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("PHC string lacks salt or hash".into());
    }
    argon2::Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters ({e})"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
