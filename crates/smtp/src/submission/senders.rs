//! Which addresses an authenticated user may send as (Postfix's
//! `reject_sender_login_mismatch` with `smtpd_sender_login_maps` taken from the directory):
//!
//! - the user's own address, with or without a subaddress (`alice+news@`);
//! - any address the directory resolves to this user (LDAP `mailAlternateAddress`);
//! - an alias whose targets include the user (`sales@` → `alice@`);
//! - a group the user is a member of, when `allow_send_as_group` is set.
//!
//! Everything else, the null sender included, is someone else's.

use mailstack_directory::{Directory, DirectoryError, Entry, normalize_address, split_address};

/// Whether `user` (a canonical address) may use `address` as envelope sender or in `From:`.
pub async fn may_send_as(
    directory: &dyn Directory,
    user: &str,
    address: &str,
    allow_groups: bool,
) -> Result<bool, DirectoryError> {
    let Ok(address) = normalize_address(address) else {
        return Ok(false);
    };
    let user = user.to_lowercase();
    let same = |a: &str| a.to_lowercase() == user;
    let mut candidates = vec![address.clone()];
    if let Some((local, domain)) = split_address(&address) {
        let delimiters = directory.subaddress_delimiters();
        if let Some(i) = local.find(|c| delimiters.contains(c))
            && i > 0
        {
            candidates.push(format!("{}@{domain}", &local[..i]));
        }
    }
    for candidate in &candidates {
        if same(candidate) {
            return Ok(true);
        }
        let allowed = match directory.lookup(candidate).await? {
            Some(Entry::User(u)) => same(&u.address),
            Some(Entry::Alias(targets)) => targets.iter().any(|t| same(t)),
            Some(Entry::Group(members)) => allow_groups && members.iter().any(|m| same(m)),
            None => false,
        };
        if allowed {
            return Ok(true);
        }
    }
    Ok(false)
}
