//! Recipient expansion: from one address to the final users and remote addresses.
//!
//! For each address, in order:
//! 1. normalise it ([`normalize_address`]) and look it up exactly;
//! 2. if nothing is found and the local part contains one of the directory's
//!    [subaddress delimiters](Directory::subaddress_delimiters) (not as its first character), look
//!    up the part before the first delimiter (`alice+lists@` → `alice@`);
//! 3. if still nothing: an address in a non-local domain goes to [`Expansion::remote`]; in a local
//!    domain with a catch-all, the catch-all target is expanded (without applying catch-all
//!    again); otherwise it goes to [`Expansion::unknown`].
//!
//! Users go to [`Expansion::users`] once each (deduplicated by canonical address, first path
//! wins). Alias targets and group members are expanded recursively, depth first in file order.
//! An alias or group already expanded is skipped, so loops (`a → b → a`) end. Nesting deeper
//! than [`ExpandLimits::max_depth`] and output beyond [`ExpandLimits::max_recipients`] are cut
//! and set [`Expansion::truncated`].
//!
//! A directory error anywhere fails the whole expansion: a backend outage must never look like
//! "unknown user". A malformed address inside an alias or group (bad data, not an outage) goes
//! to `unknown` with a warning; a malformed top address is [`DirectoryError::BadAddress`].

use std::collections::HashSet;

use crate::{Directory, DirectoryError, Entry, User, normalize_address, split_address};

/// Bounds on one expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpandLimits {
    /// How many alias/group levels to follow below the top address (default 8).
    pub max_depth: usize,
    /// Most entries in `users` + `remote` + `unknown` together (default 1000).
    pub max_recipients: usize,
}

impl Default for ExpandLimits {
    fn default() -> Self {
        ExpandLimits {
            max_depth: 8,
            max_recipients: 1000,
        }
    }
}

/// The result of [`expand`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Local users to deliver to, each with the address that led to it: the address itself
    /// when it was looked up directly (the recipient as given, including a `+tag`, or one of
    /// the user's alias addresses), otherwise the alias or group that listed it (the innermost
    /// one), or the recipient caught by a catch-all.
    pub users: Vec<(User, String)>,
    /// Addresses in non-local domains (domain lower-cased, local part as written).
    pub remote: Vec<String>,
    /// Local-domain addresses that do not exist (normalised). When nothing at all was found,
    /// this is just the top address.
    pub unknown: Vec<String>,
    /// True if a depth or recipient limit cut the expansion short.
    pub truncated: bool,
}

/// One address waiting to be resolved.
struct Work {
    /// The address as written in the recipient or the alias (trimmed).
    written: String,
    /// Nesting level: 0 for the top address.
    depth: usize,
    /// The alias or group that listed this address (the address itself at the top).
    via: Option<String>,
    /// False for catch-all targets, so a missing target does not loop through catch-all.
    catch_all: bool,
}

/// What one address resolved to.
enum Resolved {
    Found(Entry),
    Remote,
    CatchAll(String),
    Unknown,
}

/// Expand `address` to final recipients (see the [module docs](self)).
pub async fn expand(
    dir: &dyn Directory,
    address: &str,
    limits: &ExpandLimits,
) -> Result<Expansion, DirectoryError> {
    let top = normalize_address(address)?;
    let mut out = Expansion::default();
    let mut seen_users = HashSet::new();
    let mut seen_other = HashSet::new();
    let mut expanded = HashSet::new();
    let mut stack = vec![Work {
        written: address.trim().to_string(),
        depth: 0,
        via: None,
        catch_all: true,
    }];

    while let Some(work) = stack.pop() {
        if out.users.len() + out.remote.len() + out.unknown.len() >= limits.max_recipients {
            out.truncated = true;
            break;
        }
        let key = match normalize_address(&work.written) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(address = %work.written, via = ?work.via, error = %e, "malformed address in alias or group");
                if seen_other.insert(work.written.clone()) {
                    out.unknown.push(work.written);
                }
                continue;
            }
        };
        let via = work.via.clone().unwrap_or_else(|| key.clone());
        match resolve(dir, &key, work.catch_all).await? {
            Resolved::Found(Entry::User(user)) => {
                if seen_users.insert(user.address.to_lowercase()) {
                    out.users.push((user, via));
                }
            }
            Resolved::Found(Entry::Alias(targets) | Entry::Group(targets)) => {
                if !expanded.insert(key.clone()) {
                    continue;
                }
                if work.depth >= limits.max_depth {
                    out.truncated = true;
                    continue;
                }
                for t in targets.into_iter().rev() {
                    stack.push(Work {
                        written: t,
                        depth: work.depth + 1,
                        via: Some(key.clone()),
                        catch_all: true,
                    });
                }
            }
            Resolved::CatchAll(target) => {
                if work.depth >= limits.max_depth {
                    out.truncated = true;
                    continue;
                }
                stack.push(Work {
                    written: target,
                    depth: work.depth + 1,
                    via: Some(via),
                    catch_all: false,
                });
            }
            Resolved::Remote => {
                if seen_other.insert(key) {
                    out.remote.push(remote_form(&work.written));
                }
            }
            Resolved::Unknown => {
                if seen_other.insert(key.clone()) {
                    out.unknown.push(key);
                }
            }
        }
    }

    if out.users.is_empty() && out.remote.is_empty() && out.unknown.is_empty() && !out.truncated {
        out.unknown.push(top);
    }
    Ok(out)
}

/// Steps 1–3 of the module docs for one normalised address.
async fn resolve(
    dir: &dyn Directory,
    key: &str,
    allow_catch_all: bool,
) -> Result<Resolved, DirectoryError> {
    if let Some(entry) = dir.lookup(key).await? {
        return Ok(Resolved::Found(entry));
    }
    let Some((local, domain)) = split_address(key) else {
        return Ok(Resolved::Unknown);
    };
    let delimiters = dir.subaddress_delimiters();
    if let Some(pos) = local.find(|c| delimiters.contains(c))
        && pos > 0
        && let Some(entry) = dir.lookup(&format!("{}@{domain}", &local[..pos])).await?
    {
        return Ok(Resolved::Found(entry));
    }
    if !dir.is_local_domain(domain).await? {
        return Ok(Resolved::Remote);
    }
    if allow_catch_all && let Some(target) = dir.catch_all(domain).await? {
        return Ok(Resolved::CatchAll(target));
    }
    Ok(Resolved::Unknown)
}

/// A remote address as written, with its domain lower-cased (remote local parts may be
/// case-sensitive).
fn remote_form(written: &str) -> String {
    match split_address(written) {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => written.to_string(),
    }
}
