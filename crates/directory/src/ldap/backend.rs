//! [`LdapDirectory`]: the [`Directory`] over an LDAP server (or several, with failover).

use std::sync::Arc;

use async_trait::async_trait;
use ldap3::{LdapConnSettings, Scope, SearchEntry};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::cache::TtlCache;
use super::escape::escape_dn_value;
use super::options::{AuthMethod, LdapOptions};
use super::pool::{BindOutcome, Pool, Servers};
use super::schema::{Kind, Mapping, password_values};
use super::userpassword;
use crate::password::verify_dummy_async;
use crate::{AuthOutcome, Directory, DirectoryError, Entry, User, normalize_address};

/// Matches per lookup read at most; more than one match for an address is a directory error.
const LOOKUP_LIMIT: i32 = 10;
/// Group members resolved at most (the rest are dropped with an error in the log).
const MAX_GROUP_MEMBERS: usize = 10_000;
/// Longest login accepted.
const MAX_LOGIN_LEN: usize = 256;

/// The LDAP backend. See the [module documentation](crate::ldap) for what it searches and how
/// to set up a server.
pub struct LdapDirectory {
    opts: LdapOptions,
    mapping: Mapping,
    servers: Arc<Servers>,
    /// Searches, bound as the service account.
    search: Pool,
    /// User binds ([`AuthMethod::Bind`]).
    auth: Pool,
    entries: TtlCache<Entry>,
    domains: TtlCache<bool>,
    catch_alls: TtlCache<String>,
    local_domains: Vec<String>,
    /// A DN under the base that names no entry, bound to when a login is unknown so that
    /// unknown and known logins take about the same time.
    dummy_dn: String,
}

impl LdapDirectory {
    /// Check `opts` and set up the pools. Tries one connection so that a misconfiguration is
    /// logged at start, but does not fail when no server is reachable: the directory then
    /// answers [`DirectoryError::Unavailable`] until one is. Fails with
    /// [`DirectoryError::Invalid`] for options that can never work (no URL, bad filter,
    /// unreadable CA file).
    pub async fn connect(opts: LdapOptions) -> Result<Self, DirectoryError> {
        opts.validate()?;
        let mut settings = LdapConnSettings::new().set_starttls(opts.starttls);
        if let Some(ca) = &opts.ca_file {
            settings = settings.set_config(Arc::new(tls_config(ca)?));
        }
        let servers = Arc::new(Servers::new(opts.urls.clone(), settings, opts.timeout));
        let service =
            (!opts.bind_dn.is_empty()).then(|| (opts.bind_dn.clone(), opts.bind_password.clone()));
        let dir = LdapDirectory {
            mapping: Mapping::new(&opts),
            search: Pool::new(Arc::clone(&servers), service, opts.pool_size),
            auth: Pool::new(Arc::clone(&servers), None, opts.pool_size),
            servers,
            entries: TtlCache::new(opts.cache_ttl, opts.negative_cache_ttl),
            domains: TtlCache::new(opts.cache_ttl, opts.negative_cache_ttl),
            catch_alls: TtlCache::new(opts.cache_ttl, opts.negative_cache_ttl),
            local_domains: opts
                .local_domains
                .iter()
                .map(|d| d.trim().to_lowercase())
                .collect(),
            dummy_dn: format!(
                "cn={},{}",
                escape_dn_value("mailstack login timing dummy"),
                opts.base_dn
            ),
            opts,
        };
        match dir.ping().await {
            Ok(()) => tracing::info!(directory = %dir.describe(), "LDAP directory reachable"),
            Err(e) => tracing::warn!(
                directory = %dir.describe(),
                error = %e,
                "LDAP directory not reachable at start; answering \"unavailable\" until it is"
            ),
        }
        Ok(dir)
    }

    /// The URL of the server that answered the last operation (for `mailctl directory test`).
    pub fn last_server(&self) -> Option<String> {
        self.servers.last()
    }

    /// One cheap search as the service account (the base entry itself): checks reachability,
    /// the service bind and the base DN.
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        self.search
            .search(
                &self.opts.base_dn,
                Scope::Base,
                "(objectClass=*)",
                &["1.1".to_string()],
                1,
            )
            .await
            .map(|_| ())
    }

    /// Uncached lookup of a normalised address.
    async fn resolve(&self, address: &str) -> Result<Option<Entry>, DirectoryError> {
        let filter = self.mapping.lookup_filter(address);
        let found = self
            .search
            .search(
                &self.opts.base_dn,
                Scope::Subtree,
                &filter,
                &self.mapping.attributes(false),
                LOOKUP_LIMIT,
            )
            .await?;
        let entry = match found.as_slice() {
            [] => return Ok(None),
            [one] => one,
            many => {
                let dns: Vec<&str> = many.iter().map(|e| e.dn.as_str()).collect();
                let msg = format!("{address} is on {} entries: {}", many.len(), dns.join("; "));
                tracing::error!(error = %msg, "ambiguous LDAP address");
                return Err(DirectoryError::Invalid(msg));
            }
        };
        Ok(match self.mapping.kind(entry) {
            Kind::User => self.mapping.user(entry).map(Entry::User),
            Kind::Alias => {
                let t = self.mapping.alias_targets(entry);
                (!t.is_empty()).then_some(Entry::Alias(t))
            }
            Kind::Group => Some(Entry::Group(self.members(entry).await?)),
        })
    }

    /// A group's member DNs, each read (base search) and turned into its address. Members that
    /// no longer exist or have no address are skipped (and logged).
    async fn members(&self, group: &SearchEntry) -> Result<Vec<String>, DirectoryError> {
        let mut dns = self.mapping.member_dns(group);
        if dns.len() > MAX_GROUP_MEMBERS {
            tracing::error!(
                group = %group.dn,
                members = dns.len(),
                limit = MAX_GROUP_MEMBERS,
                "LDAP group too large; extra members dropped"
            );
            dns.truncate(MAX_GROUP_MEMBERS);
        }
        let attrs = self.mapping.attributes(false);
        let mut out = Vec::with_capacity(dns.len());
        for dn in dns {
            let found = self
                .search
                .search(&dn, Scope::Base, "(objectClass=*)", &attrs, 1)
                .await?;
            match found.first().and_then(|e| self.mapping.primary_address(e)) {
                Some(a) if !out.contains(&a) => out.push(a),
                Some(_) => {}
                None => tracing::warn!(
                    group = %group.dn,
                    member = %dn,
                    "LDAP group member missing or without address; skipped"
                ),
            }
        }
        Ok(out)
    }

    async fn discover_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
        if let Some(hit) = self.domains.get(domain) {
            return Ok(hit.is_some());
        }
        let found = self
            .search
            .search(
                &self.opts.base_dn,
                Scope::Subtree,
                &self.mapping.domain_filter(domain),
                &["1.1".to_string()],
                1,
            )
            .await?;
        let local = !found.is_empty();
        self.domains.put(domain, local.then_some(true));
        Ok(local)
    }

    /// Find the one entry for a login; `None` if there is none, several, or no usable address.
    async fn find_login(&self, key: &str) -> Result<Option<(SearchEntry, User)>, DirectoryError> {
        let compare = self.opts.auth == AuthMethod::Compare;
        let found = self
            .search
            .search(
                &self.opts.base_dn,
                Scope::Subtree,
                &self.mapping.user_filter(key),
                &self.mapping.attributes(compare),
                LOOKUP_LIMIT,
            )
            .await?;
        let mut users = found
            .into_iter()
            .filter(|e| self.mapping.kind(e) == Kind::User);
        let (Some(entry), None) = (users.next(), users.next()) else {
            return Ok(None);
        };
        if self.mapping.disabled(&entry, self.opts.auth) {
            tracing::info!(dn = %entry.dn, "login refused: account disabled or locked");
            return Ok(None);
        }
        Ok(self.mapping.user(&entry).map(|u| (entry, u)))
    }

    /// Spend about the time of a real password check, for unknown or refused logins.
    async fn dummy_check(&self, password: &str) -> Result<(), DirectoryError> {
        match self.opts.auth {
            AuthMethod::Bind => {
                if !password.is_empty() {
                    self.auth.bind(&self.dummy_dn, password).await?;
                }
            }
            AuthMethod::Compare => {
                verify_dummy_async(password.to_string()).await?;
            }
        }
        Ok(())
    }
}

/// The key a login is searched by: a normalised address, or a uid as typed (trimmed). `None`
/// for logins that cannot be valid (empty, too long, control characters or spaces).
fn login_key(login: &str) -> Option<String> {
    let l = login.trim();
    if l.is_empty() || l.len() > MAX_LOGIN_LEN || l.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    if l.contains('@') {
        normalize_address(l).ok()
    } else {
        Some(l.to_string())
    }
}

/// A rustls client configuration trusting the CA certificates in the PEM file `path`, with
/// the tree's one crypto provider (aws-lc-rs).
fn tls_config(path: &std::path::Path) -> Result<rustls::ClientConfig, DirectoryError> {
    let bad = |m: String| DirectoryError::Invalid(format!("ldap CA file {}: {m}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in file".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[async_trait]
impl Directory for LdapDirectory {
    fn last_server(&self) -> Option<String> {
        LdapDirectory::last_server(self)
    }

    async fn lookup(&self, address: &str) -> Result<Option<Entry>, DirectoryError> {
        let key = normalize_address(address)?;
        if let Some(hit) = self.entries.get(&key) {
            return Ok(hit);
        }
        let found = self.resolve(&key).await?;
        self.entries.put(&key, found.clone());
        Ok(found)
    }

    async fn is_local_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
        let d = domain.trim().trim_end_matches('.').to_lowercase();
        if d.is_empty() {
            return Ok(false);
        }
        if !self.local_domains.is_empty() {
            return Ok(self.local_domains.contains(&d));
        }
        self.discover_domain(&d).await
    }

    async fn catch_all(&self, domain: &str) -> Result<Option<String>, DirectoryError> {
        let d = domain.trim().trim_end_matches('.').to_lowercase();
        if d.is_empty() || !self.is_local_domain(&d).await? {
            return Ok(None);
        }
        if let Some(hit) = self.catch_alls.get(&d) {
            return Ok(hit);
        }
        let found = self
            .search
            .search(
                &self.opts.base_dn,
                Scope::Subtree,
                &self.mapping.catch_all_filter(&d),
                &self.mapping.attributes(false),
                1,
            )
            .await?;
        let target = found.first().and_then(|e| self.mapping.primary_address(e));
        self.catch_alls.put(&d, target.clone());
        Ok(target)
    }

    fn subaddress_delimiters(&self) -> &str {
        &self.opts.subaddress_delimiters
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<AuthOutcome, DirectoryError> {
        // Never from a cache: every login asks the server.
        let found = match login_key(login) {
            Some(key) if !password.is_empty() => self.find_login(&key).await?,
            _ => None,
        };
        let Some((entry, user)) = found else {
            self.dummy_check(password).await?;
            return Ok(AuthOutcome::Rejected);
        };
        let accepted = match self.opts.auth {
            AuthMethod::Bind => matches!(
                self.auth.bind(&entry.dn, password).await?,
                BindOutcome::Accepted
            ),
            AuthMethod::Compare => {
                let stored = password_values(&entry);
                if stored.is_empty() {
                    tracing::warn!(dn = %entry.dn, "no readable userPassword; check the service account's access");
                }
                let password = password.to_string();
                tokio::task::spawn_blocking(move || {
                    stored.iter().any(|s| userpassword::verify(s, &password))
                })
                .await
                .map_err(|e| DirectoryError::Unavailable(format!("password check: {e}")))?
            }
        };
        Ok(if accepted {
            AuthOutcome::Accepted(user)
        } else {
            AuthOutcome::Rejected
        })
    }

    fn describe(&self) -> String {
        format!(
            "ldap:{} base={}",
            self.opts.urls.join(","),
            self.opts.base_dn
        )
    }
}
