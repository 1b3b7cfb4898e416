//! [`LdapOptions`]: what the LDAP backend needs to know, with the defaults of each preset.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::DirectoryError;

/// Which kind of directory server the backend talks to. Chooses the default filters and the
/// attributes read; see the [module documentation](crate::ldap) for the exact lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// OpenLDAP (or 389 DS) with `inetOrgPerson` users, `mail` + `mailAlternateAddress`,
    /// `groupOfNames` groups, `nisMailAlias` aliases.
    #[default]
    OpenLdap,
    /// Microsoft Active Directory (or Samba AD): `userPrincipalName`, `sAMAccountName`,
    /// `proxyAddresses`, `group` objects, `userAccountControl`.
    ActiveDirectory,
}

/// How a login's password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// Bind to the server as the user's DN with the given password (the server checks it, and
    /// applies its own lockout policy). The default, and the only choice for Active Directory.
    #[default]
    Bind,
    /// Read the user's `userPassword` as the service account and verify it here
    /// (`{ARGON2}`, `{SSHA}`, `{SSHA256}`, `{SSHA512}`). The service account needs read access
    /// to `userPassword`.
    Compare,
}

/// Configuration of [`LdapDirectory`](super::LdapDirectory).
///
/// `Default` gives the OpenLDAP preset, bind authentication, 5 s timeout, pool of 4, positive
/// cache 60 s, negative cache 10 s, domain discovery, `+` as subaddress delimiter, and empty
/// URLs / DNs that the caller must fill in.
#[derive(Clone)]
pub struct LdapOptions {
    /// Server URLs in order of preference: `ldap://host:389`, `ldaps://host:636`. The first
    /// reachable one is used; a failed server is skipped for 30 s (then tried again first).
    pub urls: Vec<String>,
    /// DN of the service account used for searches (empty: anonymous searches).
    pub bind_dn: String,
    /// Password of the service account. The caller reads it from a file or the environment;
    /// it is never logged (`Debug` prints `"***"`).
    pub bind_password: String,
    /// Where users, groups and aliases are searched (subtree), e.g. `dc=example,dc=com`.
    pub base_dn: String,
    /// Default filters and attributes.
    pub preset: Preset,
    /// Filter that finds a user by address or login; every `%s` is replaced by the escaped
    /// address or login. `None`: the preset's filter.
    pub user_filter: Option<String>,
    /// Filter that finds a group (distribution list) by address; `%s` as above. `None`: the
    /// preset's filter.
    pub group_filter: Option<String>,
    /// Attributes of a user entry that hold further addresses of that user (besides the
    /// canonical one). `None`: `mailAlternateAddress` (OpenLDAP) or `proxyAddresses` (AD).
    pub alias_attributes: Option<Vec<String>>,
    /// How passwords are checked.
    pub auth: AuthMethod,
    /// Upgrade `ldap://` connections with StartTLS (refuse to continue if it fails).
    pub starttls: bool,
    /// PEM file with the CA certificate(s) that sign the servers' certificates, for `ldaps://`
    /// and StartTLS. `None`: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Timeout for connecting (TCP + TLS + service bind) and for each operation.
    pub timeout: Duration,
    /// Connections to keep per pool (there are two pools: searches as the service account, and
    /// user binds). Also the maximum number of concurrent operations per pool.
    pub pool_size: usize,
    /// How long a found address (user, alias, group, local domain) is remembered. Zero: no cache.
    pub cache_ttl: Duration,
    /// How long an unknown address (or non-local domain) is remembered. Zero: no cache.
    pub negative_cache_ttl: Duration,
    /// The local domains. Empty: a domain is local when some entry has an address in it
    /// (discovered with a search, cached with the TTLs above).
    pub local_domains: Vec<String>,
    /// Subaddress delimiter characters (`+` usually; empty disables subaddressing).
    pub subaddress_delimiters: String,
}

impl Default for LdapOptions {
    fn default() -> Self {
        LdapOptions {
            urls: Vec::new(),
            bind_dn: String::new(),
            bind_password: String::new(),
            base_dn: String::new(),
            preset: Preset::OpenLdap,
            user_filter: None,
            group_filter: None,
            alias_attributes: None,
            auth: AuthMethod::Bind,
            starttls: false,
            ca_file: None,
            timeout: Duration::from_secs(5),
            pool_size: 4,
            cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(10),
            local_domains: Vec::new(),
            subaddress_delimiters: "+".into(),
        }
    }
}

impl fmt::Debug for LdapOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapOptions")
            .field("urls", &self.urls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"***")
            .field("base_dn", &self.base_dn)
            .field("preset", &self.preset)
            .field("user_filter", &self.user_filter)
            .field("group_filter", &self.group_filter)
            .field("alias_attributes", &self.alias_attributes)
            .field("auth", &self.auth)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_cache_ttl", &self.negative_cache_ttl)
            .field("local_domains", &self.local_domains)
            .field("subaddress_delimiters", &self.subaddress_delimiters)
            .finish()
    }
}

impl LdapOptions {
    /// Check the options that can be checked without a server: at least one `ldap://` or
    /// `ldaps://` URL, a base DN, filters with a `%s` and balanced parentheses, a pool of at
    /// least one, a non-zero timeout, no `Compare` with Active Directory.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let bad = |m: String| Err(DirectoryError::Invalid(format!("ldap: {m}")));
        if self.urls.is_empty() {
            return bad("no server URL".into());
        }
        for u in &self.urls {
            let lower = u.to_ascii_lowercase();
            if !(lower.starts_with("ldap://") || lower.starts_with("ldaps://")) {
                return bad(format!("URL {u:?} is not ldap:// or ldaps://"));
            }
            if lower.starts_with("ldaps://") && self.starttls {
                return bad(format!("URL {u:?}: StartTLS on an ldaps:// URL"));
            }
        }
        if self.base_dn.trim().is_empty() {
            return bad("empty base DN".into());
        }
        for (name, f) in [
            ("user_filter", &self.user_filter),
            ("group_filter", &self.group_filter),
        ] {
            if let Some(f) = f {
                check_filter_template(f).or_else(|m| bad(format!("{name} {f:?}: {m}")))?;
            }
        }
        if let Some(attrs) = &self.alias_attributes
            && let Some(a) = attrs.iter().find(|a| !is_attribute_name(a))
        {
            return bad(format!("alias attribute {a:?} is not an attribute name"));
        }
        if self.pool_size == 0 {
            return bad("pool_size must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout must not be zero".into());
        }
        if self.auth == AuthMethod::Compare && self.preset == Preset::ActiveDirectory {
            return bad("Active Directory does not expose password hashes; use bind".into());
        }
        Ok(())
    }
}

/// A filter template: parenthesised, balanced, with at least one `%s`.
pub(super) fn check_filter_template(f: &str) -> Result<(), String> {
    let f = f.trim();
    if !f.starts_with('(') || !f.ends_with(')') {
        return Err("must be enclosed in parentheses".into());
    }
    let mut depth = 0i32;
    for c in f.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if !f.contains("%s") {
        return Err("has no %s placeholder".into());
    }
    Ok(())
}

/// An attribute description: a letter, then letters, digits and `-` (or a numeric OID).
pub(super) fn is_attribute_name(a: &str) -> bool {
    let mut chars = a.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some(c) if c.is_ascii_digit() => chars.all(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}
