//! The users file: its serde types, loading with `file:line:col` errors, validation and the
//! editing methods `mailctl` uses.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::{key_on_line, line_col, problems, render_located, render_plain};
use crate::password::check_phc;
use crate::{DirectoryError, normalize_address, split_address};

/// The comment written at the top of the users file on every rewrite.
pub const USERS_FILE_HEADER: &str = "\
# mailstack users file — edit with `mailctl user ...` / `mailctl alias ...`
# mailctl rewrites this file on every edit: comments other than this header are not kept.
";

/// A parsed users file. Addresses are kept as written; every lookup normalises them with
/// [`normalize_address`]. Change it through the methods below (they keep it valid), inside
/// [`edit_users_file`](super::edit_users_file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default, rename = "domain", skip_serializing_if = "Vec::is_empty")]
    domains: Vec<DomainEntry>,
    #[serde(default, rename = "user", skip_serializing_if = "Vec::is_empty")]
    users: Vec<UserEntry>,
    #[serde(default, rename = "alias", skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<AliasEntry>,
    #[serde(default, rename = "group", skip_serializing_if = "Vec::is_empty")]
    groups: Vec<GroupEntry>,
}

/// `[[domain]]`: a domain whose mail is delivered here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainEntry {
    /// The domain name (`example.com`), case-insensitive.
    pub name: String,
    /// Where mail for unknown local parts of this domain goes. Absent (the default): such mail
    /// is rejected as unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_all: Option<String>,
}

/// `[[user]]`: a mailbox owner who can log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Canonical address, also the login.
    pub address: String,
    /// argon2id PHC string (`mailctl user passwd` writes it).
    pub password: String,
    /// Other addresses in local domains that deliver to this user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Storage quota; absent means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Message-count quota; absent means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_messages: Option<u64>,
    /// A disabled user cannot log in; mail to the address is still accepted and delivered, so
    /// nothing is lost while an account is suspended (remove the user to stop mail).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `[[alias]]`: mail to `address` goes to every target (local or remote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasEntry {
    /// The alias address, in a local domain.
    pub address: String,
    /// Where mail goes: addresses in local or remote domains, at least one.
    pub targets: Vec<String>,
}

/// `[[group]]`: a distribution list; mail to `address` goes to every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// The group address, in a local domain.
    pub address: String,
    /// Member addresses (users, aliases, other groups or remote addresses), at least one.
    pub members: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A storage quota in bytes. Written in the file as an integer (bytes) or a string with a
/// `K`, `M`, `G` or `T` suffix (powers of 1024): `quota = "1G"`, `quota = 500000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quota(pub u64);

/// Parse a quota: bytes (`"1500"`), or a number with a `K`/`M`/`G`/`T` suffix (powers of 1024,
/// case-insensitive, optionally followed by `B`: `"1G"`, `"512mb"`).
pub fn parse_quota(text: &str) -> Result<u64, DirectoryError> {
    // One size syntax for the whole stack: the config file's.
    text.parse::<mailstack_config::ByteSize>()
        .map(|b| b.bytes())
        .map_err(|why| DirectoryError::Invalid(format!("bad quota {text:?}: {why}")))
}

impl FromStr for Quota {
    type Err = DirectoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quota(s).map(Quota)
    }
}

impl fmt::Display for Quota {
    /// The shortest exact form: `1G` for 2^30, `1536K` for 1.5 MiB, plain bytes otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        mailstack_config::ByteSize(self.0).fmt(f)
    }
}

impl Serialize for Quota {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // "1G" when a unit fits exactly, else plain bytes.
        let text = self.to_string();
        if text.ends_with(|c: char| c.is_ascii_alphabetic()) {
            s.serialize_str(&text)
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quota;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes or a string like \"1G\" (K, M, G, T suffixes)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quota, E> {
                Ok(Quota(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quota, E> {
                u64::try_from(v)
                    .map(Quota)
                    .map_err(|_| E::custom("quota must not be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quota, E> {
                parse_quota(v).map(Quota).map_err(|e| match e {
                    DirectoryError::Invalid(m) => E::custom(m),
                    other => E::custom(other),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl UsersFile {
    /// Read and parse `path`, then validate it. Errors name the file, the line and column, and
    /// the key: `users.toml:12:11: user[1].address: duplicate address "bob@example.com" (first
    /// at line 7)`. An unreadable file is [`DirectoryError::Unavailable`]; a malformed one
    /// [`DirectoryError::Invalid`].
    pub fn load(path: impl AsRef<Path>) -> Result<UsersFile, DirectoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            DirectoryError::Unavailable(format!("cannot read {}: {e}", path.display()))
        })?;
        UsersFile::parse(&text, &path.display().to_string())
    }

    /// Parse and validate users-file text. `origin` names the source in errors (a path).
    pub fn parse(text: &str, origin: &str) -> Result<UsersFile, DirectoryError> {
        let file = UsersFile::parse_unvalidated(text, origin)?;
        let problems = problems(&file);
        if problems.is_empty() {
            return Ok(file);
        }
        Err(DirectoryError::Invalid(render_located(
            &problems, text, origin,
        )))
    }

    /// Parse without the validation pass (TOML syntax and field types only), so `mailctl` can
    /// load a file with problems and fix them.
    pub fn parse_unvalidated(text: &str, origin: &str) -> Result<UsersFile, DirectoryError> {
        toml::from_str::<UsersFile>(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            let key = e
                .span()
                .and_then(|s| key_on_line(text, s.start))
                .map(|k| format!("key `{k}`: "))
                .unwrap_or_default();
            DirectoryError::Invalid(format!(
                "{origin}:{line}:{col}: {key}{}",
                e.message().trim()
            ))
        })
    }

    /// The file as TOML text, starting with [`USERS_FILE_HEADER`].
    pub fn to_toml(&self) -> Result<String, DirectoryError> {
        let body = toml::to_string(self)
            .map_err(|e| DirectoryError::Invalid(format!("cannot serialise users file: {e}")))?;
        Ok(format!("{USERS_FILE_HEADER}\n{body}"))
    }

    /// Check the whole file: well-formed addresses and domains, every address in a listed
    /// domain (alias and group targets may be remote), no address defined twice (as user, user
    /// alias, alias or group), well-formed argon2 PHC hashes, non-empty target and member lists.
    /// Alias loops are allowed here; [`expand`](crate::expand()) stops them. All problems are
    /// reported in one [`DirectoryError::Invalid`], one per line.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let problems = problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DirectoryError::Invalid(render_plain(&problems)))
        }
    }

    /// The `[[domain]]` entries.
    pub fn domains(&self) -> &[DomainEntry] {
        &self.domains
    }

    /// The `[[user]]` entries.
    pub fn users(&self) -> &[UserEntry] {
        &self.users
    }

    /// The `[[alias]]` entries (not the `aliases` lists of users).
    pub fn aliases(&self) -> &[AliasEntry] {
        &self.aliases
    }

    /// The `[[group]]` entries.
    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }

    /// The user whose canonical address is `address` (case-insensitive).
    pub fn user(&self, address: &str) -> Option<&UserEntry> {
        let key = normalize_address(address).ok()?;
        self.users.iter().find(|u| same(&u.address, &key))
    }

    /// The user whose canonical address is `address`, to change quota, aliases or `disabled`.
    /// [`edit_users_file`](super::edit_users_file) validates the result before writing.
    pub fn user_mut(&mut self, address: &str) -> Option<&mut UserEntry> {
        let key = normalize_address(address).ok()?;
        self.users.iter_mut().find(|u| same(&u.address, &key))
    }

    /// Add a local domain. [`DirectoryError::AlreadyExists`] if it is listed already.
    pub fn add_domain(&mut self, name: &str) -> Result<(), DirectoryError> {
        let name = normalize_domain(name)?;
        if self.has_domain(&name) {
            return Err(DirectoryError::AlreadyExists(format!(
                "domain {name} exists"
            )));
        }
        self.domains.push(DomainEntry {
            name,
            catch_all: None,
        });
        Ok(())
    }

    /// Remove a local domain. Refused while any user, alias or group still uses it.
    pub fn remove_domain(&mut self, name: &str) -> Result<(), DirectoryError> {
        let name = normalize_domain(name)?;
        let pos = self
            .domains
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(&name))
            .ok_or_else(|| DirectoryError::NotFound(format!("no domain {name}")))?;
        if let Some(a) = self
            .defined_addresses()
            .find(|a| domain_of(a).is_some_and(|d| d == name))
        {
            return Err(DirectoryError::Invalid(format!(
                "domain {name} is still used by {a}; remove its users, aliases and groups first"
            )));
        }
        self.domains.remove(pos);
        Ok(())
    }

    /// Set (`Some`) or clear (`None`) the catch-all target of a listed domain.
    pub fn set_catch_all(
        &mut self,
        domain: &str,
        target: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let name = normalize_domain(domain)?;
        let target = target.map(normalize_address).transpose()?;
        let d = self
            .domains
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(&name))
            .ok_or_else(|| DirectoryError::NotFound(format!("no domain {name}")))?;
        d.catch_all = target;
        Ok(())
    }

    /// Add a user with an argon2 PHC hash (from [`hash_password`](crate::password::hash_password))
    /// and an optional quota in bytes. The address is stored normalised; its domain is added
    /// if missing. Refused if the address is taken by a user, a user's alias, an alias or a group.
    pub fn add_user(
        &mut self,
        address: &str,
        phc_hash: &str,
        quota: Option<u64>,
    ) -> Result<(), DirectoryError> {
        let address = normalize_address(address)?;
        check_phc(phc_hash)
            .map_err(|why| DirectoryError::Invalid(format!("password hash: {why}")))?;
        self.ensure_free(&address)?;
        let domain = domain_of(&address).unwrap_or_default();
        if !self.has_domain(&domain) {
            self.domains.push(DomainEntry {
                name: domain,
                catch_all: None,
            });
        }
        self.users.push(UserEntry {
            address,
            password: phc_hash.to_string(),
            aliases: Vec::new(),
            quota: quota.map(Quota),
            quota_messages: None,
            disabled: false,
        });
        Ok(())
    }

    /// Remove a user (by canonical address) and return its entry. Its mailbox is not touched.
    pub fn remove_user(&mut self, address: &str) -> Result<UserEntry, DirectoryError> {
        let key = normalize_address(address)?;
        let pos = self
            .users
            .iter()
            .position(|u| same(&u.address, &key))
            .ok_or_else(|| DirectoryError::NotFound(format!("no user {key}")))?;
        Ok(self.users.remove(pos))
    }

    /// Replace a user's password hash.
    pub fn set_password(&mut self, address: &str, phc_hash: &str) -> Result<(), DirectoryError> {
        check_phc(phc_hash)
            .map_err(|why| DirectoryError::Invalid(format!("password hash: {why}")))?;
        let key = normalize_address(address)?;
        let user = self
            .user_mut(&key)
            .ok_or_else(|| DirectoryError::NotFound(format!("no user {key}")))?;
        user.password = phc_hash.to_string();
        Ok(())
    }

    /// Add an `[[alias]]` whose mail goes to `targets` (local or remote, at least one). The
    /// alias's domain must be listed; the address must be free.
    pub fn add_alias(
        &mut self,
        address: &str,
        targets: &[impl AsRef<str>],
    ) -> Result<(), DirectoryError> {
        let (address, targets) = self.new_list(address, targets, "alias")?;
        self.aliases.push(AliasEntry { address, targets });
        Ok(())
    }

    /// Add an extra address to a user's `aliases` list. The address must be free and in a
    /// listed domain.
    pub fn add_user_alias(&mut self, user: &str, alias: &str) -> Result<(), DirectoryError> {
        let alias = normalize_address(alias)?;
        self.ensure_free(&alias)?;
        self.ensure_listed_domain(&alias)?;
        let key = normalize_address(user)?;
        let u = self
            .user_mut(&key)
            .ok_or_else(|| DirectoryError::NotFound(format!("no user {key}")))?;
        u.aliases.push(alias);
        Ok(())
    }

    /// Remove an alias: an `[[alias]]` entry, or an address from a user's `aliases` list.
    pub fn remove_alias(&mut self, address: &str) -> Result<(), DirectoryError> {
        let key = normalize_address(address)?;
        if let Some(pos) = self.aliases.iter().position(|a| same(&a.address, &key)) {
            self.aliases.remove(pos);
            return Ok(());
        }
        for u in &mut self.users {
            if let Some(pos) = u.aliases.iter().position(|a| same(a, &key)) {
                u.aliases.remove(pos);
                return Ok(());
            }
        }
        Err(DirectoryError::NotFound(format!("no alias {key}")))
    }

    /// Add a `[[group]]` with `members` (at least one). The group's domain must be listed; the
    /// address must be free.
    pub fn add_group(
        &mut self,
        address: &str,
        members: &[impl AsRef<str>],
    ) -> Result<(), DirectoryError> {
        let (address, members) = self.new_list(address, members, "group")?;
        self.groups.push(GroupEntry { address, members });
        Ok(())
    }

    /// Remove a `[[group]]` and return it.
    pub fn remove_group(&mut self, address: &str) -> Result<GroupEntry, DirectoryError> {
        let key = normalize_address(address)?;
        let pos = self
            .groups
            .iter()
            .position(|g| same(&g.address, &key))
            .ok_or_else(|| DirectoryError::NotFound(format!("no group {key}")))?;
        Ok(self.groups.remove(pos))
    }

    /// The group at `address`, to change its members.
    pub fn group_mut(&mut self, address: &str) -> Option<&mut GroupEntry> {
        let key = normalize_address(address).ok()?;
        self.groups.iter_mut().find(|g| same(&g.address, &key))
    }

    fn new_list(
        &self,
        address: &str,
        targets: &[impl AsRef<str>],
        what: &str,
    ) -> Result<(String, Vec<String>), DirectoryError> {
        let address = normalize_address(address)?;
        if targets.is_empty() {
            return Err(DirectoryError::Invalid(format!(
                "{what} {address} needs at least one target"
            )));
        }
        let targets = targets
            .iter()
            .map(|t| normalize_address(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.ensure_free(&address)?;
        self.ensure_listed_domain(&address)?;
        Ok((address, targets))
    }

    fn has_domain(&self, name: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(name))
    }

    fn ensure_listed_domain(&self, address: &str) -> Result<(), DirectoryError> {
        let domain = domain_of(address).unwrap_or_default();
        if self.has_domain(&domain) {
            Ok(())
        } else {
            Err(DirectoryError::NotFound(format!(
                "domain {domain} is not local; add it (mailctl domain add) or a user in it first"
            )))
        }
    }

    /// Every address the file defines (users, user aliases, aliases, groups), as written.
    fn defined_addresses(&self) -> impl Iterator<Item = &str> {
        let users = self.users.iter().flat_map(|u| {
            std::iter::once(u.address.as_str()).chain(u.aliases.iter().map(String::as_str))
        });
        users
            .chain(self.aliases.iter().map(|a| a.address.as_str()))
            .chain(self.groups.iter().map(|g| g.address.as_str()))
    }

    fn ensure_free(&self, normalized: &str) -> Result<(), DirectoryError> {
        if self.defined_addresses().any(|a| same(a, normalized)) {
            Err(DirectoryError::AlreadyExists(format!(
                "address {normalized} is already defined"
            )))
        } else {
            Ok(())
        }
    }
}

/// Whether `written` normalises to `normalized`.
fn same(written: &str, normalized: &str) -> bool {
    normalize_address(written).is_ok_and(|n| n == normalized)
}

pub(crate) fn domain_of(address: &str) -> Option<String> {
    split_address(address).map(|(_, d)| d.to_ascii_lowercase())
}

pub(crate) fn normalize_domain(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.contains('@') {
        return Err(DirectoryError::BadAddress(format!(
            "not a domain name: {name:?}"
        )));
    }
    let n = normalize_address(&format!("x@{name}"))?;
    Ok(n[2..].to_string())
}
