//! How entries are found and read: the filters and attributes of each [`Preset`], and the
//! translation of a search result into [`User`], alias targets, group member DNs and account
//! state.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ldap3::SearchEntry;

use super::escape::escape_filter_value;
use super::options::{AuthMethod, LdapOptions, Preset};
use crate::static_file::parse_quota;
use crate::{User, normalize_address};

/// `pwdAccountLockedTime` value that means "locked by an administrator" (OpenLDAP ppolicy).
const LOCKED_FOREVER: &str = "000001010000Z";
/// `userAccountControl` bits: ACCOUNTDISABLE and LOCKOUT.
const UAC_DISABLED: i64 = 0x2;
const UAC_LOCKOUT: i64 = 0x10;
/// Seconds from 1601-01-01 (Windows FILETIME epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;

/// What kind of object an entry is, by its object classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    User,
    Group,
    Alias,
}

/// The filters and attribute names in effect (preset + overrides).
#[derive(Debug, Clone)]
pub(super) struct Mapping {
    preset: Preset,
    user_filter: String,
    group_filter: String,
    alias_filter: Option<String>,
    alias_attrs: Vec<String>,
}

impl Mapping {
    pub(super) fn new(opts: &LdapOptions) -> Mapping {
        let preset = opts.preset;
        let alias_attrs = opts
            .alias_attributes
            .clone()
            .unwrap_or_else(|| match preset {
                Preset::OpenLdap => vec!["mailAlternateAddress".into()],
                Preset::ActiveDirectory => vec!["proxyAddresses".into()],
            });
        let alias_terms: String = alias_attrs
            .iter()
            .map(|a| format!("({a}={}%s)", address_prefix(a)))
            .collect();
        let user_filter = opts.user_filter.clone().unwrap_or_else(|| match preset {
            Preset::OpenLdap => {
                format!("(&(objectClass=inetOrgPerson)(|(mail=%s){alias_terms}(uid=%s)))")
            }
            Preset::ActiveDirectory => format!(
                "(&(objectClass=user)(!(objectClass=computer))\
                 (|(mail=%s){alias_terms}(userPrincipalName=%s)(sAMAccountName=%s)))"
            ),
        });
        let group_filter = opts.group_filter.clone().unwrap_or_else(|| match preset {
            Preset::OpenLdap => format!(
                "(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))\
                 (|(mail=%s){alias_terms}))"
            ),
            Preset::ActiveDirectory => format!("(&(objectClass=group)(|(mail=%s){alias_terms}))"),
        });
        let alias_filter = Some(match preset {
            Preset::OpenLdap => "(&(objectClass=nisMailAlias)(cn=%s))".to_string(),
            Preset::ActiveDirectory => {
                format!("(&(objectClass=contact)(|(mail=%s){alias_terms}))")
            }
        });
        Mapping {
            preset,
            user_filter,
            group_filter,
            alias_filter,
            alias_attrs,
        }
    }

    /// The user filter with `value` (escaped) in place of each `%s`.
    pub(super) fn user_filter(&self, value: &str) -> String {
        fill(&self.user_filter, value)
    }

    /// One filter that finds users, groups and aliases with the address `value`.
    pub(super) fn lookup_filter(&self, value: &str) -> String {
        let mut f = format!(
            "(|{}{}",
            fill(&self.user_filter, value),
            fill(&self.group_filter, value)
        );
        if let Some(a) = &self.alias_filter {
            f.push_str(&fill(a, value));
        }
        f.push(')');
        f
    }

    /// A filter matching any entry with an address in `domain` (substring `*@domain`).
    pub(super) fn domain_filter(&self, domain: &str) -> String {
        let d = escape_filter_value(domain);
        let mut f = format!("(|(mail=*@{d})");
        for a in &self.alias_attrs {
            f.push_str(&format!("({a}={}*@{d})", address_prefix(a)));
        }
        f.push(')');
        f
    }

    /// A filter matching an entry that holds the catch-all address `@domain`.
    pub(super) fn catch_all_filter(&self, domain: &str) -> String {
        let d = escape_filter_value(domain);
        let mut f = format!("(|(mail=@{d})");
        for a in &self.alias_attrs {
            f.push_str(&format!("({a}={}@{d})", address_prefix(a)));
        }
        f.push(')');
        f
    }

    /// Attributes to request for lookups (and, with `password`, for logins with
    /// [`AuthMethod::Compare`]).
    pub(super) fn attributes(&self, password: bool) -> Vec<String> {
        let mut a: Vec<String> = [
            "objectClass",
            "mail",
            "uid",
            "sAMAccountName",
            "mailQuota",
            "quota",
            "mailHost",
            "member",
            "uniqueMember",
            "rfc822MailMember",
            "targetAddress",
            "pwdAccountLockedTime",
            "shadowExpire",
            "userAccountControl",
            "accountExpires",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for x in &self.alias_attrs {
            if !a.iter().any(|y| y.eq_ignore_ascii_case(x)) {
                a.push(x.clone());
            }
        }
        if password {
            a.push("userPassword".into());
        }
        a
    }

    /// Users, groups and aliases told apart by object class.
    pub(super) fn kind(&self, e: &SearchEntry) -> Kind {
        let classes = values(e, "objectClass");
        let has = |c: &str| classes.iter().any(|x| x.eq_ignore_ascii_case(c));
        if has("groupOfNames") || has("groupOfUniqueNames") || has("group") {
            Kind::Group
        } else if has("nisMailAlias") || has("contact") {
            Kind::Alias
        } else {
            Kind::User
        }
    }

    /// The entry's canonical address: the primary `SMTP:` proxy address (AD), else the first
    /// `mail` value; normalised. `None` if the entry has none.
    pub(super) fn primary_address(&self, e: &SearchEntry) -> Option<String> {
        if self.preset == Preset::ActiveDirectory
            && let Some(p) = values(e, "proxyAddresses")
                .iter()
                .find_map(|v| v.strip_prefix("SMTP:"))
            && let Ok(a) = normalize_address(p)
        {
            return Some(a);
        }
        values(e, "mail")
            .iter()
            .find_map(|m| normalize_address(m).ok())
    }

    /// Every other address of the entry: further `mail` values and the alias attributes
    /// (`smtp:` values of `proxyAddresses`), normalised, without duplicates and without
    /// catch-all markers (`@domain`).
    pub(super) fn other_addresses(&self, e: &SearchEntry, primary: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut raw: Vec<&str> = values(e, "mail");
        for attr in &self.alias_attrs {
            let vals = values(e, attr);
            if address_prefix(attr).is_empty() {
                raw.extend(vals);
            } else {
                raw.extend(vals.into_iter().filter_map(strip_smtp));
            }
        }
        for r in raw {
            if r.starts_with('@') {
                continue;
            }
            if let Ok(a) = normalize_address(r)
                && a != primary
                && !out.contains(&a)
            {
                out.push(a);
            }
        }
        out
    }

    /// The entry as a [`User`], if it has an address.
    pub(super) fn user(&self, e: &SearchEntry) -> Option<User> {
        let address = self.primary_address(e)?;
        let uid_attr = match self.preset {
            Preset::OpenLdap => "uid",
            Preset::ActiveDirectory => "sAMAccountName",
        };
        Some(User {
            aliases: self.other_addresses(e, &address),
            address,
            uid: values(e, uid_attr).first().map(|s| s.to_string()),
            quota_bytes: ["mailQuota", "quota"]
                .iter()
                .find_map(|a| values(e, a).first().map(|v| parse_quota_value(v)))
                .flatten(),
            quota_messages: None,
            host: values(e, "mailHost")
                .first()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        })
    }

    /// DNs of a group's members (`member`, `uniqueMember` without its `#'…'B` uid suffix).
    pub(super) fn member_dns(&self, e: &SearchEntry) -> Vec<String> {
        let mut out: Vec<String> = values(e, "member").iter().map(|s| s.to_string()).collect();
        for u in values(e, "uniqueMember") {
            let dn = match u.rfind("#'") {
                Some(i) if u.ends_with("'B") => &u[..i],
                _ => u,
            };
            out.push(dn.to_string());
        }
        out
    }

    /// The targets of an alias entry: `rfc822MailMember` (nisMailAlias) or `targetAddress`
    /// (AD contact, `SMTP:` prefix removed).
    pub(super) fn alias_targets(&self, e: &SearchEntry) -> Vec<String> {
        let mut t: Vec<String> = values(e, "rfc822MailMember")
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        t.extend(
            values(e, "targetAddress")
                .into_iter()
                .filter_map(strip_smtp)
                .map(|s| s.trim().to_string()),
        );
        t.retain(|x| !x.is_empty());
        t
    }

    /// Whether the account may not log in.
    ///
    /// - OpenLDAP: `pwdAccountLockedTime` is `000001010000Z` (locked by an administrator), or
    ///   has any value with [`AuthMethod::Compare`] (with bind, the server's ppolicy decides
    ///   whether a lockout after failures has expired); `shadowExpire` (days since 1970) is
    ///   today or earlier.
    /// - Active Directory: `userAccountControl` has ACCOUNTDISABLE (0x2) or LOCKOUT (0x10);
    ///   `accountExpires` is in the past.
    pub(super) fn disabled(&self, e: &SearchEntry, auth: AuthMethod) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match self.preset {
            Preset::OpenLdap => {
                let locked = values(e, "pwdAccountLockedTime")
                    .iter()
                    .any(|v| v.trim() == LOCKED_FOREVER || auth == AuthMethod::Compare);
                let expired = values(e, "shadowExpire")
                    .first()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .is_some_and(|days| days >= 0 && days <= now / 86_400);
                locked || expired
            }
            Preset::ActiveDirectory => {
                let uac = values(e, "userAccountControl")
                    .first()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .unwrap_or(0);
                let expires = values(e, "accountExpires")
                    .first()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .unwrap_or(0);
                let now_ft = (now + FILETIME_UNIX_OFFSET) * 10_000_000;
                let expired = expires != 0 && expires != i64::MAX && expires <= now_ft;
                uac & (UAC_DISABLED | UAC_LOCKOUT) != 0 || expired
            }
        }
    }
}

/// The values of `userPassword`, text or binary.
pub(super) fn password_values(e: &SearchEntry) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = values(e, "userPassword")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    for (k, v) in &e.bin_attrs {
        if k.eq_ignore_ascii_case("userPassword") {
            out.extend(v.iter().cloned());
        }
    }
    out
}

/// The values of `attr` (attribute names compare case-insensitively).
pub(super) fn values<'a>(e: &'a SearchEntry, attr: &str) -> Vec<&'a str> {
    attr_values(&e.attrs, attr)
}

fn attr_values<'a>(attrs: &'a HashMap<String, Vec<String>>, attr: &str) -> Vec<&'a str> {
    attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

/// The prefix an address has in `attr`: `smtp:` in `proxyAddresses` (AD matches it
/// case-insensitively, so it finds `SMTP:` primaries too), nothing elsewhere.
fn address_prefix(attr: &str) -> &'static str {
    if attr.eq_ignore_ascii_case("proxyAddresses") {
        "smtp:"
    } else {
        ""
    }
}

/// `smtp:x` or `SMTP:x` → `x`; other address types (`X500:`, `SIP:`) → `None`.
fn strip_smtp(v: &str) -> Option<&str> {
    let (p, rest) = v.split_at_checked(5)?;
    p.eq_ignore_ascii_case("smtp:").then_some(rest)
}

/// Replace each `%s` in `template` with the escaped `value`.
fn fill(template: &str, value: &str) -> String {
    template.replace("%s", &escape_filter_value(value))
}

/// A quota value: bytes, or a number with a K/M/G/T suffix. Zero, negative or unparsable
/// values mean "no quota" (an unparsable one is logged).
fn parse_quota_value(v: &str) -> Option<u64> {
    let t = v.trim();
    if t.starts_with('-') {
        return None;
    }
    match parse_quota(t) {
        Ok(0) => None,
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(value = t, error = %e, "ignoring unparsable LDAP quota");
            None
        }
    }
}
