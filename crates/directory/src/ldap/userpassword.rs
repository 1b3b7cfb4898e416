//! Local verification of `userPassword` values, for [`AuthMethod::Compare`](super::AuthMethod).
//!
//! Supported schemes (RFC 2307 style `{SCHEME}value`, as OpenLDAP's `slappasswd` writes them):
//! `{ARGON2}` (a PHC string, OpenLDAP's `argon2` module), `{SSHA}`, `{SSHA256}`, `{SSHA512}`
//! (base64 of digest + salt), `{SHA}` (unsalted, legacy). Anything else (`{CRYPT}`, cleartext)
//! never matches: cleartext passwords in the directory are refused on purpose.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::password::verify_password;

/// Whether `password` matches the stored `userPassword` value `stored`.
pub(super) fn verify(stored: &[u8], password: &str) -> bool {
    let Ok(stored) = std::str::from_utf8(stored) else {
        return false;
    };
    let Some(rest) = stored.strip_prefix('{') else {
        return false;
    };
    let Some((scheme, value)) = rest.split_once('}') else {
        return false;
    };
    let alg = match scheme.to_ascii_uppercase().as_str() {
        "ARGON2" => return verify_password(value, password),
        "SSHA" | "SHA" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "SSHA256" | "SHA256" => &digest::SHA256,
        "SSHA512" | "SHA512" => &digest::SHA512,
        _ => return false,
    };
    let Ok(raw) = STANDARD.decode(value.trim()) else {
        return false;
    };
    let len = alg.output_len();
    if raw.len() < len {
        return false;
    }
    let (hash, salt) = raw.split_at(len);
    if !scheme.to_ascii_uppercase().starts_with('S') && !salt.is_empty() {
        return false;
    }
    let mut ctx = digest::Context::new(alg);
    ctx.update(password.as_bytes());
    ctx.update(salt);
    verify_slices_are_equal(ctx.finish().as_ref(), hash).is_ok()
}

/// `{SSHA}` of `password` with `salt`, as `slappasswd -h {SSHA}` writes it (for tests and
/// tools that seed a directory).
pub fn ssha(password: &str, salt: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(password.as_bytes());
    ctx.update(salt);
    let mut raw = ctx.finish().as_ref().to_vec();
    raw.extend_from_slice(salt);
    format!("{{SSHA}}{}", STANDARD.encode(raw))
}
