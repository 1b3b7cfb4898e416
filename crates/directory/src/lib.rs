//! # mailstack-directory
//!
//! Who exists, where their mail goes and who may log in: the [`Directory`] trait and its
//! backends. Every service asks the directory, never a backend directly.
//!
//! - [`Directory::lookup`] answers what an address *is*: a user (with quota and delivery host),
//!   an alias (a list of target addresses), a group (a list of members), or nothing.
//! - [`Directory::authenticate`] checks a login (full address, or a uid where the backend knows
//!   uids) and a password, in constant time.
//! - [`expand()`] follows aliases and groups (with loop and depth limits) down to the final
//!   recipients, applying subaddressing (`user+tag@` → `user@`) and per-domain catch-all.
//!
//! Backends: [`static_file`] (a TOML users file with argon2id hashes, edited by `mailctl`) and
//! [`ldap`] (OpenLDAP or Active Directory through ldap3, pooled, with failover and a cache).
//!
//! What this crate must not do: speak a mail protocol or map its errors to reply codes (that is
//! the protocol crates' job); log passwords; answer "unknown user" when the backend is merely
//! unreachable (that is [`DirectoryError::Unavailable`], a temporary failure).
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod expand;
pub mod ldap;
mod open;
pub mod password;
pub mod sasl;
pub mod static_file;
pub mod throttle;

pub use open::open;
pub use throttle::AuthThrottle;

pub use expand::{ExpandLimits, Expansion, expand};

use async_trait::async_trait;

/// A mailbox owner known to the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Canonical address, lower-case domain (`alice@example.com`). The store path is derived
    /// from it: `<root>/<domain>/<local part>/Maildir`.
    pub address: String,
    /// Login name other than the address, if the backend has one (LDAP `uid`).
    pub uid: Option<String>,
    /// Other addresses that deliver to this user (not counting subaddresses).
    pub aliases: Vec<String>,
    /// Storage quota in bytes; `None` means unlimited.
    pub quota_bytes: Option<u64>,
    /// Message-count quota; `None` means unlimited.
    pub quota_messages: Option<u64>,
    /// The node that holds this user's mailbox (LDAP `mailHost`); `None` means this node.
    pub host: Option<String>,
}

impl User {
    /// The local part of the canonical address.
    pub fn local_part(&self) -> &str {
        split_address(&self.address).map_or(self.address.as_str(), |(l, _)| l)
    }
    /// The domain of the canonical address.
    pub fn domain(&self) -> &str {
        split_address(&self.address).map_or("", |(_, d)| d)
    }
}

/// What an address is, as the directory knows it (one level, not expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A user with a mailbox.
    User(User),
    /// An alias: mail to it goes to each target address (local or remote).
    Alias(Vec<String>),
    /// A group (distribution list): mail to it goes to each member address.
    Group(Vec<String>),
}

/// The result of a successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The password matched; here is the user.
    Accepted(User),
    /// Wrong password, unknown login or disabled account. Deliberately one case: callers must
    /// not tell them apart in replies.
    Rejected,
}

/// Directory failures. Every case says whether it is temporary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The backend cannot answer now (server down, file unreadable). Temporary: callers answer
    /// `4xx` / `NO [UNAVAILABLE]`, never "unknown user".
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The backend's data is invalid (a malformed users file). Temporary for mail flow: an admin
    /// must fix it, mail waits in the queue meanwhile.
    #[error("directory data invalid: {0}")]
    Invalid(String),
    /// The address itself is malformed (no `@`, empty parts, control characters).
    #[error("malformed address: {0}")]
    BadAddress(String),
    /// An edit names something that does not exist (`mailctl user del` of an unknown user).
    /// Only the users-file editing API returns it; lookups answer `Ok(None)` instead. Permanent.
    #[error("not found: {0}")]
    NotFound(String),
    /// An edit would define an address or domain that already exists. Only the users-file
    /// editing API returns it. Permanent.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The configuration cannot be used (unknown backend, unreadable bind password file).
    /// Permanent: an admin must fix it.
    #[error("{0}")]
    Setting(String),
}

impl DirectoryError {
    /// True when retrying later may succeed: [`DirectoryError::Unavailable`] and
    /// [`DirectoryError::Invalid`]; the others are permanent.
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self,
            DirectoryError::BadAddress(_)
                | DirectoryError::NotFound(_)
                | DirectoryError::AlreadyExists(_)
                | DirectoryError::Setting(_)
        )
    }
}

/// The directory every service asks. Implementations must be cheap to call concurrently.
#[async_trait]
pub trait Directory: Send + Sync {
    /// What `address` is, exactly as written (after lower-casing the domain). No subaddress
    /// stripping, no catch-all: [`expand()`] does those. `Ok(None)` means "no such address".
    async fn lookup(&self, address: &str) -> Result<Option<Entry>, DirectoryError>;

    /// Whether mail for `domain` is ours to deliver.
    async fn is_local_domain(&self, domain: &str) -> Result<bool, DirectoryError>;

    /// The catch-all target for `domain`, if the domain has one (off by default).
    async fn catch_all(&self, domain: &str) -> Result<Option<String>, DirectoryError>;

    /// The subaddress delimiter(s) (`+` by default; empty disables subaddressing).
    fn subaddress_delimiters(&self) -> &str;

    /// Check a login (full address, or uid where supported) and password. Must take about the
    /// same time whether or not the login exists. Disabled accounts are [`AuthOutcome::Rejected`].
    async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<AuthOutcome, DirectoryError>;

    /// A short name for logs and `mailctl directory test` ("static:/etc/mailstack/users.toml").
    fn describe(&self) -> String;

    /// The server that answered the last request, for backends with several (LDAP failover).
    fn last_server(&self) -> Option<String> {
        None
    }
}

/// Split `local@domain` at the last `@`. `None` if either side is empty.
pub fn split_address(address: &str) -> Option<(&str, &str)> {
    let at = address.rfind('@')?;
    let (local, domain) = (&address[..at], &address[at + 1..]);
    if local.is_empty() || domain.is_empty() {
        None
    } else {
        Some((local, domain))
    }
}

/// Normalise an address for lookups: trim, lower-case the domain, and (for this directory's
/// purposes) the local part too, since corporate directories treat local parts case-insensitively
/// (as Postfix virtual maps and Dovecot do by default). Rejects control characters, spaces and
/// path separators.
pub fn normalize_address(address: &str) -> Result<String, DirectoryError> {
    let a = address.trim();
    let bad = |why: &str| DirectoryError::BadAddress(format!("{why}: {a:?}"));
    if a.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/' || c == '\\')
    {
        return Err(bad("invalid character"));
    }
    let (local, domain) = split_address(a).ok_or_else(|| bad("not local@domain"))?;
    if local.contains('@') {
        return Err(bad("more than one @"));
    }
    if local.starts_with('.') || local == ".." || domain.starts_with('.') || domain.contains("..") {
        return Err(bad("invalid dots"));
    }
    Ok(format!(
        "{}@{}",
        local.to_lowercase(),
        domain.to_lowercase()
    ))
}
