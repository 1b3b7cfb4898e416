//! The LDAP backend: users, aliases, groups and logins from OpenLDAP or Active Directory.
//!
//! (Admin documentation below; `docs/ldap.md` is a copy of it.)
//!
//! # What it does
//!
//! [`LdapDirectory`] answers the [`Directory`](crate::Directory) questions with searches on one
//! or more LDAP servers, as a service account:
//!
//! - **lookup(address)** — one subtree search under the base DN with
//!   `(|user-filter group-filter alias-filter)`, the address escaped (RFC 4515) in place of
//!   every `%s`. The object class of the match decides what it is: `groupOfNames`,
//!   `groupOfUniqueNames` or `group` → a group (its `member` / `uniqueMember` DNs are read one
//!   by one and turned into their addresses); `nisMailAlias` or `contact` → an alias
//!   (`rfc822MailMember`, or `targetAddress` without its `SMTP:` prefix); anything else → a
//!   user. Two or more matches for one address are a directory error (temporary, logged with
//!   the DNs), never a guess.
//! - **authenticate(login, password)** — the login is a full address or a uid. The user is
//!   searched with the user filter (as the service account); then, by default, the backend
//!   **binds as the user's DN** with the password (the server checks it and applies its own
//!   password policy). With `auth = compare` it instead reads `userPassword` and verifies it
//!   locally (`{ARGON2}`, `{SSHA}`, `{SSHA256}`, `{SSHA512}`). Disabled or locked accounts,
//!   unknown logins, ambiguous logins and empty passwords are refused; an unknown login still
//!   costs one bind (against a DN that does not exist) so timing does not tell which logins
//!   exist. Logins are never answered from a cache.
//! - **is_local_domain(domain)** — from the configured `local_domains`, or, when that list is
//!   empty, discovered: a domain is local when some entry has an address in it
//!   (`(|(mail=*@domain)(mailAlternateAddress=*@domain)…)`, size limit 1), cached.
//! - **catch_all(domain)** — the entry that has the address `@domain` (Postfix style) in
//!   `mail` or an alias attribute; its canonical address gets the domain's unknown addresses.
//!   Off unless such an entry exists.
//!
//! An unreachable server, a timeout, a refused service bind or a server error is
//! [`DirectoryError::Unavailable`](crate::DirectoryError::Unavailable): callers answer `451` /
//! `NO [UNAVAILABLE]` and mail waits in the queue. It is never "unknown user".
//!
//! # Presets
//!
//! ## OpenLDAP (`preset = "openldap"`, the default)
//!
//! | question | filter / attribute |
//! |---|---|
//! | user | `(&(objectClass=inetOrgPerson)(\|(mail=%s)(mailAlternateAddress=%s)(uid=%s)))` |
//! | group | `(&(\|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))(\|(mail=%s)(mailAlternateAddress=%s)))` |
//! | alias | `(&(objectClass=nisMailAlias)(cn=%s))` → `rfc822MailMember` |
//! | canonical address | first `mail` value |
//! | other addresses | further `mail` values, `mailAlternateAddress` |
//! | login name (`User.uid`) | `uid` |
//! | quota (bytes) | `mailQuota`, else `quota` (a number of bytes, or with `K`/`M`/`G`/`T`; 0 or negative = none) |
//! | delivery host (`User.host`) | `mailHost` |
//! | group members | `member` (groupOfNames) / `uniqueMember` DNs, each read for its `mail` |
//! | disabled | `pwdAccountLockedTime: 000001010000Z` (ppolicy: locked by an administrator; with `auth = compare`, any value), or `shadowExpire` (days since 1970) today or earlier |
//!
//! `inetOrgPerson`, `groupOfNames` and `shadowExpire` come with OpenLDAP's `core`, `cosine`,
//! `inetorgperson` and `nis` schemas; `mailHost`, `nisMailAlias` and `rfc822MailMember` with
//! `misc` (not loaded by Debian's default `cn=config`: add `/etc/ldap/schema/misc.ldif`).
//! `mailAlternateAddress` and `mailQuota` are in no standard OpenLDAP schema: load
//! `mailstack.schema` (in `crates/directory/tests/fixtures/ldap/`; `mailstack.ldif` is the same
//! for `cn=config`), which defines them with private OIDs (under `2.25.<UUID>`) and an
//! auxiliary class `mailstackRecipient` (`MAY mail $ mailAlternateAddress $ mailQuota $
//! mailHost`) to add to users and to `groupOfNames` groups (which otherwise cannot carry
//! `mail`). If your directory already has the Sun/Oracle messaging schema, do not load ours:
//! only the attribute *names* matter. `pwdAccountLockedTime` is defined by the `ppolicy`
//! overlay module (`moduleload ppolicy`). For `{ARGON2}` hashes with `auth = bind`, slapd needs
//! `moduleload argon2`.
//!
//! The `memberOf` overlay is not needed: groups are expanded from their `member` values.
//!
//! ## Active Directory (`preset = "active-directory"`)
//!
//! | question | filter / attribute |
//! |---|---|
//! | user | `(&(objectClass=user)(!(objectClass=computer))(\|(mail=%s)(proxyAddresses=smtp:%s)(userPrincipalName=%s)(sAMAccountName=%s)))` |
//! | group | `(&(objectClass=group)(\|(mail=%s)(proxyAddresses=smtp:%s)))` |
//! | alias | `(&(objectClass=contact)(\|(mail=%s)(proxyAddresses=smtp:%s)))` → `targetAddress` |
//! | canonical address | the `SMTP:` (upper-case, primary) `proxyAddresses` value, else `mail` |
//! | other addresses | `smtp:` (secondary) `proxyAddresses` values, `mail` if different |
//! | login name (`User.uid`) | `sAMAccountName`; logins also by `userPrincipalName` or any address |
//! | quota, delivery host | `mailQuota` / `quota`, `mailHost` if you added them (AD has no standard ones) |
//! | group members | `member` DNs, each read for its address |
//! | disabled | `userAccountControl` with ACCOUNTDISABLE (0x2) or LOCKOUT (0x10), or `accountExpires` in the past |
//!
//! AD matches `proxyAddresses=smtp:…` case-insensitively, so the filter finds primary (`SMTP:`)
//! and secondary (`smtp:`) addresses. Lockouts after failed logins are enforced by AD itself
//! on the bind. Only `auth = bind` works with AD (it does not expose password hashes). Groups
//! with more than 1500 members need AD's ranged retrieval, which is not implemented: large
//! lists are cut at what AD returns. Use the global catalog port (3268/3269) if users live in
//! several domains of a forest.
//!
//! ## Overrides
//!
//! `user_filter` and `group_filter` replace the preset's filters (every `%s` becomes the
//! escaped address or login; the user filter is used for both lookups and logins, so it should
//! match addresses *and* uids). `alias_attributes` replaces `mailAlternateAddress` /
//! `proxyAddresses` as the attributes holding a user's other addresses (the default filters
//! are built from it). Object classes still decide whether a match is a user, group or alias.
//!
//! # Connections
//!
//! - `urls`: one or more `ldap://host[:port]` or `ldaps://host[:port]`, in order of
//!   preference. A server that fails is skipped for 30 s (tried again first after that, or at
//!   once when all servers failed). Connections are pooled (`pool_size` per pool: one pool of
//!   service-account connections for searches, one for user binds), reused, dropped when the
//!   server closes them, retried once on a fresh connection when a reused one fails (server
//!   restart), and recycled after 5 minutes so traffic returns to the preferred server.
//! - `starttls = true` upgrades `ldap://` with StartTLS and fails if the server refuses.
//!   `ca_file` is a PEM file of CA certificates to trust (default: the system trust store).
//!   TLS is rustls with the aws-lc-rs provider; certificates are always verified.
//! - `timeout` bounds connecting (TCP, TLS, service bind) and each operation.
//! - `bind_dn` / `bind_password`: the service account (empty DN: anonymous searches). The
//!   password comes from a file or the environment, is never logged, and `Debug` hides it.
//!
//! # Cache
//!
//! Lookups, domain discovery and catch-alls are cached: found for `cache_ttl` (default 60 s),
//! not found for `negative_cache_ttl` (default 10 s); zero disables each. So a user added to
//! the directory receives mail at most `negative_cache_ttl` after the first attempt, and a
//! changed quota or alias is seen within `cache_ttl`. Errors are not cached. Passwords and
//! login results are never cached: every login asks the server.
//!
//! # Security
//!
//! Every value put into a filter is escaped with [`escape_filter_value`] (RFC 4515: `*`, `(`,
//! `)`, `\`, NUL and control characters), so `*)(uid=*` as an address or login matches
//! nothing. DNs the backend builds are escaped with [`escape_dn_value`] (RFC 4514); DNs read
//! from the server are used as received. Empty passwords are refused before any bind (an empty
//! password would be an unauthenticated bind, which servers accept).
//!
//! # Server setup (OpenLDAP)
//!
//! The service account needs read access to the attributes above under the base DN (and, for
//! `auth = compare`, to `userPassword`); users need `auth` access to their `userPassword` for
//! binds. For example, in `slapd.conf`:
//!
//! ```text
//! access to attrs=userPassword
//!     by dn.exact="cn=mailstack,ou=services,dc=example,dc=com" read
//!     by anonymous auth
//!     by self write
//!     by * none
//! access to *
//!     by dn.exact="cn=mailstack,ou=services,dc=example,dc=com" read
//!     by self read
//!     by * none
//! ```
//!
//! Index `mail`, `mailAlternateAddress`, `uid`, `cn` (eq) and `mail`, `mailAlternateAddress`
//! (sub, for domain discovery): `index mail,mailAlternateAddress eq,sub` / `index uid,cn eq`.
//! A complete example directory (users, an alternate address, a group, an alias, a disabled
//! user) is `crates/directory/tests/fixtures/ldap/example.ldif`; the tests run slapd with
//! `crates/directory/tests/fixtures/ldap/slapd.conf.in`.
//!
//! # Configuration (fields of [`LdapOptions`])
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `urls` | — (required) | server URLs, in order of preference |
//! | `bind_dn` | empty (anonymous) | service account |
//! | `bind_password` | empty | its password (from a file or env) |
//! | `base_dn` | — (required) | search base |
//! | `preset` | `openldap` | `openldap` or `active-directory` |
//! | `user_filter` | preset | user filter with `%s` |
//! | `group_filter` | preset | group filter with `%s` |
//! | `alias_attributes` | preset | attributes with a user's other addresses |
//! | `auth` | `bind` | `bind` or `compare` |
//! | `starttls` | false | StartTLS on `ldap://` URLs |
//! | `ca_file` | system store | PEM CA certificates |
//! | `timeout` | 5 s | connect and operation timeout |
//! | `pool_size` | 4 | connections per pool |
//! | `cache_ttl` | 60 s | positive cache TTL |
//! | `negative_cache_ttl` | 10 s | negative cache TTL |
//! | `local_domains` | empty (discover) | local domains |
//! | `subaddress_delimiters` | `+` | subaddress delimiters |

mod backend;
mod cache;
mod escape;
mod options;
mod pool;
mod schema;
mod userpassword;

pub use backend::LdapDirectory;
pub use escape::{escape_dn_value, escape_filter_value};
pub use options::{AuthMethod, LdapOptions, Preset};
pub use userpassword::ssha;

#[cfg(test)]
mod tests;
