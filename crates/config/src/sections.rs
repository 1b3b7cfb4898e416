//! Every section of the stack's config file, each key declared once with its doc and default,
//! and the bounds each section checks after loading.

use crate::config_section;
use crate::load::Problems;
use crate::units::{ByteSize, DurationSpec};

config_section! {
    /// Settings shared by every service.
    pub struct ServerConfig("server") {
        /// The host name this node announces in greetings (SMTP banner, LHLO reply, `Received:`
        /// headers). Empty means the machine's host name.
        pub hostname: String = String::new(),
    }
}

config_section! {
    /// TLS certificate and key for every TLS listener. The files are re-read when they change,
    /// so a renewed certificate needs no restart.
    pub struct TlsConfig("tls") {
        /// Certificate chain, PEM.
        pub cert_file: String = "/etc/mailstack/tls/cert.pem".into(),
        /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
        pub key_file: String = "/etc/mailstack/tls/key.pem".into(),
        /// Generate a self-signed certificate for `server.hostname` when the files are missing.
        /// Meant for `mailctl up` and tests; keep it off in production.
        pub generate_self_signed: bool = false,
        /// Traefik's `acme.json` (dcape: `var/traefik/acme.json`, mounted read-only and readable
        /// by the service's user). When set, every certificate in it is served, chosen by the
        /// name the client asks for (SNI), `server.hostname`'s for clients that name none; renewals
        /// are picked up within seconds. `cert_file` and `key_file` are then not used.
        pub acme_file: String = String::new(),
        /// Only the certificates of this Traefik certificate resolver (e.g. `letsEncrypt`); empty:
        /// every resolver's.
        pub acme_resolver: String = String::new(),
    }
}

config_section! {
    /// Where users, aliases and groups come from.
    pub struct DirectoryConfig("directory") {
        /// Backend: `static` (a TOML users file edited with `mailctl user` / `mailctl alias`)
        /// or `ldap` (OpenLDAP or Active Directory; see docs/ldap.md).
        pub backend: String = "static".into(),
        /// The static backend's users file. Re-read when it changes.
        pub users_file: String = "/etc/mailstack/users.toml".into(),
        /// Characters that start a subaddress (`user+tag@` delivers to `user@`). Empty disables
        /// subaddressing.
        pub subaddress_delimiter: String = "+".into(),
        /// How deep aliases and groups may nest before expansion stops (1–32).
        pub max_expansion_depth: usize = 8,
        /// LDAP: server URLs (`ldap://`, `ldaps://`), tried in order (failover).
        pub ldap_urls: Vec<String> = Vec::new(),
        /// LDAP: upgrade `ldap://` connections with StartTLS.
        pub ldap_starttls: bool = false,
        /// LDAP: CA certificates (PEM) for `ldaps://` and StartTLS; empty means the system's.
        pub ldap_ca_file: String = String::new(),
        /// LDAP: the service account's DN, used for searches.
        pub ldap_bind_dn: String = String::new(),
        /// LDAP: file holding the service account's password (one line). The environment
        /// variable `MAILSTACK_LDAP_BIND_PASSWORD` is used when this is empty. Never logged.
        pub ldap_bind_password_file: String = String::new(),
        /// LDAP: where users and groups are searched.
        pub ldap_base_dn: String = String::new(),
        /// LDAP: attribute set, `openldap` (inetOrgPerson, `mail`, `mailAlternateAddress`,
        /// `mailQuota`, `mailHost`, groupOfNames) or `active-directory` (`userPrincipalName`,
        /// `proxyAddresses`, `memberOf`, `userAccountControl`).
        pub ldap_preset: String = "openldap".into(),
        /// LDAP: user search filter replacing the preset's; `%s` is the escaped address or login.
        pub ldap_user_filter: String = String::new(),
        /// LDAP: group search filter replacing the preset's; `%s` is the escaped address.
        pub ldap_group_filter: String = String::new(),
        /// LDAP: attributes holding a user's other addresses, replacing the preset's
        /// (`mailAlternateAddress` for OpenLDAP, `proxyAddresses` for Active Directory).
        pub ldap_alias_attributes: Vec<String> = Vec::new(),
        /// LDAP: how logins are checked: `bind` (as the user's DN) or `compare` (an `{ARGON2}`
        /// or `{SSHA}` `userPassword` read by the service account).
        pub ldap_auth: String = "bind".into(),
        /// LDAP: time allowed for connecting and for each operation.
        pub ldap_timeout: DurationSpec = DurationSpec::secs(5),
        /// LDAP: connections kept open per server (1–64).
        pub ldap_pool_size: usize = 4,
        /// LDAP: how long a found address is remembered (passwords never are).
        pub ldap_cache_ttl: DurationSpec = DurationSpec::secs(60),
        /// LDAP: how long an unknown address is remembered.
        pub ldap_negative_cache_ttl: DurationSpec = DurationSpec::secs(10),
        /// LDAP: the local domains. Empty: a domain is local when some user or group in LDAP
        /// has an address in it.
        pub local_domains: Vec<String> = Vec::new(),
    }
}

config_section! {
    /// The mail store: Dovecot-compatible Maildir++ with a SQLite index per mailbox.
    pub struct StoreConfig("store") {
        /// Root of the store; a user's mail is in `<root>/<domain>/<local part>/Maildir/`.
        pub root: String = "/var/lib/mailstack/mail".into(),
        /// fsync message files and directories before acknowledging. Turning this off risks losing
        /// acknowledged mail on power loss; only for tests and benchmarks that say so.
        pub fsync: bool = true,
        /// Folders created for every new mailbox (IMAP SPECIAL-USE names).
        pub default_folders: Vec<String> =
            ["Sent", "Drafts", "Trash", "Junk", "Archive"].map(String::from).to_vec(),
        /// Quota for users whose directory entry has none. `0` means unlimited.
        pub default_quota: ByteSize = ByteSize(0),
    }
}

config_section! {
    /// lmtp-mda: the LMTP delivery agent (RFC 2033) that writes into the store.
    pub struct LmtpMdaConfig("lmtp_mda") {
        /// Addresses to listen on: `host:port` (`[::]:24`) or `unix:/path/to/socket`.
        pub listen: Vec<String> = vec!["[::]:24".into()],
        /// Admin HTTP listener (`/healthz`, `/readyz`, `/metrics`).
        pub admin_listen: String = "127.0.0.1:9024".into(),
        /// Largest message accepted, including the headers lmtp-mda adds (1K–2G).
        pub max_message_size: ByteSize = ByteSize::mib(50),
        /// Recipients per transaction (1–100000).
        pub max_recipients: usize = 1000,
        /// Longest command line in bytes, CRLF included (512–65536). Message lines are not
        /// limited here; the message size is.
        pub max_line_length: usize = 4096,
        /// What to do with a bare LF or CR in message data: `reject` (answer 554 5.5.2 for every
        /// recipient) or `normalize` (turn it into CRLF). A bare line ending never ends DATA.
        pub bare_newlines: String = "reject".into(),
        /// File messages a content filter marked as spam (`spam_header`) into the user's
        /// `spam_folder` instead of the INBOX. See docs/filtering.md.
        pub spam_to_junk: bool = true,
        /// The spam mark, `Name: value` (both case-insensitive; the value is compared trimmed).
        /// rspamd's milter adds `X-Spam: Yes` from its `add_header` score on.
        pub spam_header: String = "X-Spam: Yes".into(),
        /// The folder spam is filed into; created when the user has none.
        pub spam_folder: String = "Junk".into(),
        /// Users (`alice@example.com`) or whole domains (`@example.com`) whose spam stays in
        /// the INBOX (still marked by the filter's headers).
        pub spam_opt_out: Vec<String> = Vec::new(),
        /// Idle time allowed while waiting for a command or data before the session is closed.
        pub timeout: DurationSpec = DurationSpec::secs(300),
        /// Concurrent connections in total (1–100000).
        pub max_connections: usize = 500,
        /// Concurrent connections from one IP address; `0` means no per-IP limit (the usual
        /// client is the local MTA).
        pub max_connections_per_ip: usize = 0,
        /// On SIGTERM, how long running transactions may take to finish before they are cut.
        pub shutdown_grace: DurationSpec = DurationSpec::secs(30),
        /// Run Sieve filters at delivery: the global `sieve_before` scripts, the user's active
        /// script (`<home>/.dovecot.sieve`, managed over ManageSieve), then `sieve_after`.
        pub sieve: bool = true,
        /// Global scripts run before the user's (e.g. spam to Junk): files, or directories
        /// whose `*.sieve` files run in name order (Pigeonhole's `sieve_before`). Compiled once
        /// and again when the file changes; a script that does not compile is logged and skipped.
        pub sieve_before: Vec<String> = Vec::new(),
        /// Global scripts run after the user's (Pigeonhole's `sieve_after`); same rules.
        pub sieve_after: Vec<String> = Vec::new(),
        /// Largest Sieve script run at delivery (1K–64M); larger ones are skipped and logged.
        pub sieve_max_script_size: ByteSize = ByteSize::mib(1),
        /// Redirects one message may cause, all scripts together (0–64; Pigeonhole's default).
        pub sieve_max_redirects: usize = 4,
        /// Actions one message may cause, all scripts together (1–1024).
        pub sieve_max_actions: usize = 32,
        /// Where redirected messages and vacation replies are sent: smtp-mta's relay listener
        /// (`host:port` or `unix:/path`; lmtp-mda must be in its `relay_networks`). Empty: such
        /// actions are not carried out and the message is kept in the INBOX instead.
        pub sieve_relay_address: String = "127.0.0.1:10025".into(),
        /// Shortest period between two vacation replies to one sender, whatever a script asks
        /// (Pigeonhole's `sieve_vacation_min_period`).
        pub sieve_vacation_min_period: DurationSpec = DurationSpec::secs(86400),
        /// Longest period a script may ask for (Pigeonhole's `sieve_vacation_max_period`).
        pub sieve_vacation_max_period: DurationSpec = DurationSpec::secs(60 * 86400),
    }
}

impl ServerConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self
            .hostname
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            p.add(
                "server.hostname",
                "must not contain spaces or control characters",
            );
        }
    }
}

impl TlsConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        p.non_empty("tls.cert_file", &self.cert_file);
        p.non_empty("tls.key_file", &self.key_file);
    }
}

impl DirectoryConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        p.one_of("directory.backend", &self.backend, &["static", "ldap"]);
        if self.backend == "static" {
            p.non_empty("directory.users_file", &self.users_file);
        }
        if self.backend == "ldap" {
            if self.ldap_urls.is_empty() {
                p.add(
                    "directory.ldap_urls",
                    "the ldap backend needs at least one server URL",
                );
            }
            for u in &self.ldap_urls {
                if !(u.starts_with("ldap://") || u.starts_with("ldaps://")) {
                    p.add(
                        "directory.ldap_urls",
                        format!("{u:?} is not an ldap:// or ldaps:// URL"),
                    );
                }
            }
            p.non_empty("directory.ldap_base_dn", &self.ldap_base_dn);
        }
        p.one_of(
            "directory.ldap_preset",
            &self.ldap_preset,
            &["openldap", "active-directory"],
        );
        p.one_of("directory.ldap_auth", &self.ldap_auth, &["bind", "compare"]);
        p.range("directory.ldap_pool_size", self.ldap_pool_size, 1, 64);
        p.range(
            "directory.ldap_timeout",
            self.ldap_timeout.0.as_millis() as u64,
            100,
            120_000,
        );
        if self
            .subaddress_delimiter
            .chars()
            .any(|c| c.is_alphanumeric() || c == '@' || c.is_whitespace())
        {
            p.add(
                "directory.subaddress_delimiter",
                "must be punctuation other than @",
            );
        }
        p.range(
            "directory.max_expansion_depth",
            self.max_expansion_depth,
            1,
            32,
        );
    }
}

impl StoreConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        p.non_empty("store.root", &self.root);
        for f in &self.default_folders {
            if f.is_empty() || f.starts_with('.') || f.contains(['/', '\\']) || f.contains("..") {
                p.add(
                    "store.default_folders",
                    format!("invalid folder name {f:?}"),
                );
            }
        }
    }
}

impl LmtpMdaConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.listen.is_empty() {
            p.add("lmtp_mda.listen", "needs at least one address");
        }
        for l in &self.listen {
            p.listen_addr("lmtp_mda.listen", l);
        }
        p.listen_addr("lmtp_mda.admin_listen", &self.admin_listen);
        p.range(
            "lmtp_mda.max_message_size",
            self.max_message_size.0,
            1 << 10,
            2 << 30,
        );
        p.range("lmtp_mda.max_recipients", self.max_recipients, 1, 100_000);
        p.range("lmtp_mda.max_line_length", self.max_line_length, 512, 65536);
        p.one_of(
            "lmtp_mda.bare_newlines",
            &self.bare_newlines,
            &["reject", "normalize"],
        );
        p.non_empty("lmtp_mda.spam_header", &self.spam_header);
        p.non_empty("lmtp_mda.spam_folder", &self.spam_folder);
        p.range("lmtp_mda.timeout", self.timeout.0.as_secs(), 1, 3600);
        p.range("lmtp_mda.max_connections", self.max_connections, 1, 100_000);
        p.range(
            "lmtp_mda.shutdown_grace",
            self.shutdown_grace.0.as_secs(),
            0,
            3600,
        );
        p.range(
            "lmtp_mda.sieve_max_script_size",
            self.sieve_max_script_size.0,
            1 << 10,
            64 << 20,
        );
        p.range(
            "lmtp_mda.sieve_max_redirects",
            self.sieve_max_redirects,
            0,
            64,
        );
        p.range(
            "lmtp_mda.sieve_max_actions",
            self.sieve_max_actions,
            1,
            1024,
        );
        if !self.sieve_relay_address.is_empty() {
            p.listen_addr("lmtp_mda.sieve_relay_address", &self.sieve_relay_address);
        }
        if self.sieve_vacation_max_period < self.sieve_vacation_min_period {
            p.add(
                "lmtp_mda.sieve_vacation_max_period",
                "must not be shorter than sieve_vacation_min_period",
            );
        }
        for (key, paths) in [
            ("lmtp_mda.sieve_before", &self.sieve_before),
            ("lmtp_mda.sieve_after", &self.sieve_after),
        ] {
            for path in paths {
                p.non_empty(key, path);
            }
        }
    }
}

config_section! {
    /// ManageSieve (RFC 5804), served by imap-server: users upload and activate their Sieve
    /// filters (Roundcube's managesieve plugin, Thunderbird's Sieve add-on, `sieve-connect`).
    /// Scripts are stored in Dovecot Pigeonhole's layout in the user's home
    /// (`<store root>/<domain>/<user>/sieve/<name>.sieve`, the active one linked from
    /// `.dovecot.sieve`). Logins use the directory; failed ones are slowed together with IMAP's
    /// (`imap.auth_failure_delay`).
    pub struct ManageSieveConfig("managesieve") {
        /// Listeners with STARTTLS (port 4190). Empty: no ManageSieve.
        pub listen: Vec<String> = vec!["[::]:4190".into()],
        /// Listeners speaking TLS from the first byte (no standard port; rarely used).
        pub tls_listen: Vec<String> = Vec::new(),
        /// Offer STARTTLS on `listen` (with the `[tls]` certificate).
        pub starttls: bool = true,
        /// Allow AUTHENTICATE without TLS. For tests and trusted networks only: by default the
        /// SASL capability is empty before STARTTLS and logins get `NO (ENCRYPT-NEEDED)`.
        pub allow_plaintext_auth: bool = false,
        /// Longest command line in bytes, literals excluded (1K–1M).
        pub max_line_length: usize = 8192,
        /// Largest script a user may store (1K–64M; Pigeonhole's `sieve_max_script_size`).
        pub max_script_size: ByteSize = ByteSize::mib(1),
        /// Most scripts per user (`0` = no limit; Pigeonhole's `sieve_quota_max_scripts`).
        pub max_scripts: usize = 100,
        /// Most bytes of all of a user's scripts together (`0` = no limit; Pigeonhole's
        /// `sieve_quota_max_storage`).
        pub max_storage: ByteSize = ByteSize::mib(10),
        /// Failed logins after which the connection is closed (1–100).
        pub max_auth_failures: usize = 3,
        /// Inactivity after which the connection is closed.
        pub timeout: DurationSpec = DurationSpec::secs(600),
        /// Concurrent connections in total.
        pub max_connections: usize = 1000,
        /// Concurrent connections from one IP address (`0` = no limit).
        pub max_connections_per_ip: usize = 50,
    }
}

impl ManageSieveConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for l in &self.listen {
            p.listen_addr("managesieve.listen", l);
        }
        for l in &self.tls_listen {
            p.listen_addr("managesieve.tls_listen", l);
        }
        p.range(
            "managesieve.max_line_length",
            self.max_line_length,
            1024,
            1 << 20,
        );
        p.range(
            "managesieve.max_script_size",
            self.max_script_size.0,
            1 << 10,
            64 << 20,
        );
        p.range(
            "managesieve.max_auth_failures",
            self.max_auth_failures,
            1,
            100,
        );
        p.range("managesieve.timeout", self.timeout.0.as_secs(), 10, 86_400);
        p.range(
            "managesieve.max_connections",
            self.max_connections,
            1,
            1_000_000,
        );
    }
}

config_section! {
    /// smtp-mta: the MX. Inbound SMTP for the local domains on `listen`, an internal relay
    /// listener for submission and trusted hosts, and the durable queue in front of lmtp-mda.
    pub struct SmtpMtaConfig("smtp_mta") {
        /// Public SMTP listeners (port 25).
        pub listen: Vec<String> = vec!["[::]:25".into()],
        /// Internal relay listeners: no recipient-domain restriction for clients from
        /// `relay_networks` (submission hands mail in here). Keep them off the public network.
        pub relay_listen: Vec<String> = vec!["127.0.0.1:10025".into()],
        /// Client networks allowed on the relay listener (CIDR). Others are refused at connect.
        pub relay_networks: Vec<String> = vec!["127.0.0.0/8".into(), "::1/128".into()],
        /// Admin HTTP listener (`/healthz`, `/readyz`, `/metrics`).
        pub admin_listen: String = "127.0.0.1:9025".into(),
        /// Where local mail is delivered: lmtp-mda's address, `host:port` or `unix:/path`.
        pub lmtp_address: String = "127.0.0.1:24".into(),
        /// Offer STARTTLS (with the `[tls]` certificate). Mail is still accepted without TLS,
        /// as on any public MX.
        pub starttls: bool = true,
        /// Largest message accepted (1K–2G); announced with SIZE.
        pub max_message_size: ByteSize = ByteSize::mib(25),
        /// Recipients per message (1–10000); more get `452 4.5.3`.
        pub max_recipients: usize = 100,
        /// Longest command line in bytes, CRLF included (512–65536).
        pub max_line_length: usize = 2048,
        /// Errors (4xx/5xx replies) before the session is closed with `421` (1–1000).
        pub max_errors: usize = 20,
        /// Commands that do not move a transaction forward (NOOP, RSET, VRFY, HELP, EHLO...)
        /// allowed per session (1–10000), like Postfix's `smtpd_junk_command_limit`.
        pub max_junk_commands: usize = 100,
        /// More `Received:` headers than this means a mail loop: refused with `554 5.4.6`.
        pub max_received_headers: usize = 50,
        /// Bare CR or LF in message data: `reject` (554 5.5.2) or `normalize` (to CRLF). Only
        /// `<CRLF>.<CRLF>` ever ends the data.
        pub bare_newlines: String = "reject".into(),
        /// Idle time allowed while waiting for a command.
        pub timeout: DurationSpec = DurationSpec::secs(300),
        /// Idle time allowed between two pieces of message data.
        pub data_timeout: DurationSpec = DurationSpec::secs(600),
        /// Concurrent connections in total.
        pub max_connections: usize = 500,
        /// Concurrent connections from one IP address (`0` = no limit).
        pub max_connections_per_ip: usize = 20,
        /// On SIGTERM, how long transactions in progress may take to finish.
        pub shutdown_grace: DurationSpec = DurationSpec::secs(30),
        /// Check SPF, DKIM, DMARC and ARC and add an `Authentication-Results:` header.
        pub verify: bool = true,
        /// DNS server for those checks (`ip:port`); empty means the system resolver.
        pub dns_resolver: String = String::new(),
        /// Time allowed for the DNS queries of one message's checks.
        pub dns_timeout: DurationSpec = DurationSpec::secs(10),
        /// Refuse (`550 5.7.1`) mail whose DMARC policy is `reject` and which fails DMARC.
        pub reject_dmarc_reject: bool = false,
        /// Refuse (`550 5.7.1`) mail whose SPF result is `fail` (`-all`).
        pub reject_spf_fail: bool = false,
        /// Outbound: TCP port of the remote MX hosts. Always 25 in production; only tests
        /// point it elsewhere (1–65535).
        pub outbound_port: u16 = 25,
        /// Outbound: time allowed to connect to a remote MX (1 s – 10 min).
        pub outbound_connect_timeout: DurationSpec = DurationSpec::secs(30),
        /// Outbound: time allowed for each reply and write of a remote SMTP session (1 s – 1 h).
        pub outbound_timeout: DurationSpec = DurationSpec::secs(300),
        /// Outbound: deliveries in progress at once to one recipient domain (1–1000), like
        /// Postfix's `default_destination_concurrency_limit`.
        pub outbound_max_per_domain: usize = 10,
        /// Outbound: messages sent over one connection before it is closed (1–10000). An idle
        /// connection is kept for the next message to the same host (RSET between messages).
        pub outbound_max_messages_per_connection: usize = 100,
        /// Outbound: how long an idle connection to a remote MX is kept for reuse (0 s – 5 min;
        /// `0` closes it after each message).
        pub outbound_idle_timeout: DurationSpec = DurationSpec::secs(5),
        /// Outbound: look up DANE TLSA records (RFC 7672) for MX hosts whose MX and TLSA answers
        /// are DNSSEC-authenticated. The AD bit of the resolver is trusted, as Postfix does with
        /// `smtp_dns_support_level = dnssec`: `dns_resolver` (or the system resolver) must be a
        /// validating resolver on this host or a trusted network (e.g. unbound on 127.0.0.1).
        pub dane: bool = true,
        /// Outbound: apply the recipient domain's MTA-STS policy (RFC 8461).
        pub mta_sts: bool = true,
        /// Outbound: TCP port of the MTA-STS policy host (`https://mta-sts.DOMAIN/...`). Always
        /// 443 in production; only tests point it elsewhere (1–65535).
        pub mta_sts_port: u16 = 443,
        /// Outbound: file caching fetched MTA-STS policies across restarts (JSON); empty keeps
        /// them in memory only.
        pub mta_sts_cache_file: String = String::new(),
        /// Outbound: trusted roots (PEM) for the certificates that are verified by name: the
        /// MTA-STS policy host, MX hosts under an MTA-STS `enforce` policy, and the smarthost
        /// with `smarthost_tls = "required"`. Empty means the system's roots.
        pub outbound_ca_file: String = String::new(),
        /// Outbound: send all remote mail to this host (`host:port` or `[ipv6]:port`) instead
        /// of the recipients' MX hosts. Empty: MX delivery.
        pub smarthost: String = String::new(),
        /// Outbound: TLS to the smarthost: `none`, `opportunistic` (STARTTLS when offered) or
        /// `required` (STARTTLS with a certificate valid for the smarthost's name, checked
        /// against `outbound_ca_file` or the system's roots).
        pub smarthost_tls: String = "required".into(),
        /// Outbound: user name for AUTH at the smarthost; empty: no AUTH.
        pub smarthost_user: String = String::new(),
        /// Outbound: file holding the smarthost password (one line). Never logged.
        pub smarthost_password_file: String = String::new(),
        /// Milters (content filters such as rspamd, clamav-milter, OpenDKIM) for the public
        /// listener, consulted in this order like Postfix's `smtpd_milters`; each sees the message
        /// as the ones before it modified it. An entry is `inet:host:port`, `inet:[ipv6]:port` or
        /// `unix:/path`, or Postfix 3's `{ inet:host:port, default_action = accept,
        /// connect_timeout = 10s, command_timeout = 10s, content_timeout = 5m, protocol = 6 }` to
        /// override the `milter_*` settings below for that milter. Empty: no milters.
        /// See docs/admin.md, "Milters".
        pub milters: Vec<String> = Vec::new(),
        /// Milters for the relay listener (mail from submission and `relay_networks`), same
        /// syntax; configured separately because outgoing mail usually wants other filters
        /// (e.g. virus scanning only). Empty: no milters.
        pub relay_milters: Vec<String> = Vec::new(),
        /// What happens when a milter cannot be reached, times out or breaks the protocol
        /// (Postfix `milter_default_action`): `tempfail` (`451 4.7.1 Service unavailable - try
        /// again later`), `accept` (go on without it), `reject` (`550 5.5.0`) or `quarantine`
        /// (accept and hold the message in the queue).
        pub milter_default_action: String = "tempfail".into(),
        /// Time allowed to connect to a milter and negotiate (1 s – 10 min; Postfix
        /// `milter_connect_timeout`).
        pub milter_connect_timeout: DurationSpec = DurationSpec::secs(30),
        /// Time allowed for a milter's reply to each SMTP event (1 s – 1 h; Postfix
        /// `milter_command_timeout`). A milter's "progress" reply restarts it.
        pub milter_command_timeout: DurationSpec = DurationSpec::secs(30),
        /// Time allowed for a milter's reply while it is sent the message content and at end
        /// of message (1 s – 1 h; Postfix `milter_content_timeout`).
        pub milter_content_timeout: DurationSpec = DurationSpec::secs(300),
        /// Milter protocol version offered (2–6; Postfix `milter_protocol`).
        pub milter_protocol: u32 = 6,
        /// Macros sent with the connect event (Postfix `milter_connect_macros`). Known: `j`
        /// (our host name), `{daemon_name}`, `{daemon_addr}`, `v`, `_` (client), `{client_addr}`,
        /// `{client_port}`, `{client_name}`, `{client_ptr}`, `{if_name}`, `{if_addr}`.
        pub milter_connect_macros: String = "j {daemon_name} {daemon_addr} v _".into(),
        /// Macros sent with HELO/EHLO (Postfix `milter_helo_macros`): `{tls_version}`,
        /// `{cipher}`, `{cipher_bits}`, `{cert_subject}`, `{cert_issuer}` (the TLS ones only
        /// after STARTTLS; we never ask for client certificates).
        pub milter_helo_macros: String =
            "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}".into(),
        /// Macros sent with MAIL FROM (Postfix `milter_mail_macros`): `i` is the queue id;
        /// `{auth_type}`, `{auth_authen}` for authenticated clients.
        pub milter_mail_macros: String =
            "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}"
                .into(),
        /// Macros sent with RCPT TO (Postfix `milter_rcpt_macros`).
        pub milter_rcpt_macros: String = "i {rcpt_addr} {rcpt_host} {rcpt_mailer}".into(),
        /// Macros sent with DATA (Postfix `milter_data_macros`).
        pub milter_data_macros: String = "i".into(),
        /// Macros sent at the end of the header (Postfix `milter_end_of_header_macros`).
        pub milter_end_of_header_macros: String = "i".into(),
        /// Macros sent at the end of the message (Postfix `milter_end_of_data_macros`).
        pub milter_end_of_data_macros: String = "i".into(),
    }
}

config_section! {
    /// imap-server: IMAP4rev1/IMAP4rev2 over the store, for Thunderbird, mutt, Evolution and
    /// Roundcube. Port 143 offers STARTTLS, port 993 is TLS from the first byte (RFC 8314);
    /// both use the `[tls]` certificate.
    pub struct ImapConfig("imap") {
        /// Listeners for IMAP with STARTTLS (port 143).
        pub listen: Vec<String> = vec!["[::]:143".into()],
        /// Listeners for IMAP over implicit TLS (port 993).
        pub tls_listen: Vec<String> = vec!["[::]:993".into()],
        /// Admin HTTP listener (`/healthz`, `/readyz`, `/metrics`).
        pub admin_listen: String = "127.0.0.1:9143".into(),
        /// Offer STARTTLS on `listen`.
        pub starttls: bool = true,
        /// Allow LOGIN and AUTHENTICATE without TLS. For tests and trusted networks only: the
        /// default advertises `LOGINDISABLED` and refuses passwords in clear text.
        pub allow_plaintext_auth: bool = false,
        /// Longest command line in bytes, literals excluded (1K–1M).
        pub max_line_length: usize = 65536,
        /// Largest message APPEND accepts (1K–2G); announced as `APPENDLIMIT`.
        pub max_message_size: ByteSize = ByteSize::mib(50),
        /// Delay before answering a failed login; it grows with the failures of the same client
        /// address and of the same login name (up to 15 times).
        pub auth_failure_delay: DurationSpec = DurationSpec::secs(2),
        /// Failed logins after which the connection is closed (1–100).
        pub max_auth_failures: usize = 3,
        /// Inactivity after which a client is logged out, IDLE included (RFC 9051: 30 minutes at
        /// least).
        pub autologout: DurationSpec = DurationSpec::secs(30 * 60),
        /// How often an idling session looks at its folder when inotify cannot watch it.
        pub idle_poll: DurationSpec = DurationSpec::secs(5),
        /// Concurrent connections in total.
        pub max_connections: usize = 10000,
        /// Concurrent connections from one IP address (`0` = no limit). Offices behind one NAT
        /// address need a high value: each Thunderbird opens up to five.
        pub max_connections_per_ip: usize = 200,
        /// On SIGTERM, how long commands in progress may take before sessions are closed.
        pub shutdown_grace: DurationSpec = DurationSpec::secs(10),
        /// Report messages users COPY or MOVE into `learn_spam_folder` to rspamd as spam
        /// (`/learnspam`), and out of it (not into `learn_ignore_folders`) as ham
        /// (`/learnham`). In the background: IMAP commands never wait for rspamd.
        pub learn_spam: bool = false,
        /// rspamd's controller, `http://host:port` (plain HTTP: keep it on the internal network).
        pub learn_url: String = "http://127.0.0.1:11334".into(),
        /// File holding the controller password (one line), sent as rspamd's `Password:` header;
        /// empty: the environment variable `MAILSTACK_RSPAMD_PASSWORD`, else no password (the
        /// controller's `secure_ip`). Never logged.
        pub learn_password_file: String = String::new(),
        /// Time allowed for one report (connect, send, answer).
        pub learn_timeout: DurationSpec = DurationSpec::secs(10),
        /// Reports waiting to be sent at most (1–100000); more are dropped and logged.
        pub learn_queue: usize = 1000,
        /// The spam folder whose moves are reported.
        pub learn_spam_folder: String = "Junk".into(),
        /// Moving a message out of the spam folder into one of these is not ham (deleting spam).
        pub learn_ignore_folders: Vec<String> = vec!["Trash".into()],
        /// Larger messages are not reported (rspamd does not learn huge ones usefully).
        pub learn_max_size: ByteSize = ByteSize::mib(20),
    }
}

config_section! {
    /// The durable queue of smtp-mta: spool directory and retry schedule.
    pub struct QueueConfig("queue") {
        /// Spool directory (messages, envelopes). smtp-mta owns it; `mailctl queue` works on it.
        pub dir: String = "/var/lib/mailstack/queue".into(),
        /// fsync spool files before acknowledging (`250`). Off only for throwaway test data.
        pub fsync: bool = true,
        /// First retry after a temporary failure; each further retry waits twice as long.
        pub min_backoff: DurationSpec = DurationSpec::secs(300),
        /// Longest wait between two attempts.
        pub max_backoff: DurationSpec = DurationSpec::secs(3600),
        /// After this long in the queue a message is returned to its sender (bounce).
        pub max_lifetime: DurationSpec = DurationSpec::secs(5 * 86400),
        /// Tell the sender once that a message is delayed after this long; `0` turns it off.
        pub warn_after: DurationSpec = DurationSpec::secs(4 * 3600),
        /// Deliveries in progress at once (1–1000).
        pub max_concurrent_deliveries: usize = 20,
    }
}

impl SmtpMtaConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.listen.is_empty() && self.relay_listen.is_empty() {
            p.add(
                "smtp_mta.listen",
                "smtp-mta needs `listen` or `relay_listen`",
            );
        }
        for l in &self.listen {
            p.listen_addr("smtp_mta.listen", l);
        }
        for l in &self.relay_listen {
            p.listen_addr("smtp_mta.relay_listen", l);
        }
        for n in &self.relay_networks {
            if crate::Cidr::parse(n).is_none() {
                p.add(
                    "smtp_mta.relay_networks",
                    format!("{n:?} is not a network (e.g. \"10.0.0.0/8\", \"::1/128\")"),
                );
            }
        }
        p.listen_addr("smtp_mta.admin_listen", &self.admin_listen);
        p.listen_addr("smtp_mta.lmtp_address", &self.lmtp_address);
        p.range(
            "smtp_mta.max_message_size",
            self.max_message_size.0,
            1 << 10,
            2 << 30,
        );
        p.range("smtp_mta.max_recipients", self.max_recipients, 1, 10_000);
        p.range("smtp_mta.max_line_length", self.max_line_length, 512, 65536);
        p.range("smtp_mta.max_errors", self.max_errors, 1, 1000);
        p.range(
            "smtp_mta.max_junk_commands",
            self.max_junk_commands,
            1,
            10_000,
        );
        p.range(
            "smtp_mta.max_received_headers",
            self.max_received_headers,
            5,
            500,
        );
        p.one_of(
            "smtp_mta.bare_newlines",
            &self.bare_newlines,
            &["reject", "normalize"],
        );
        p.range("smtp_mta.timeout", self.timeout.0.as_secs(), 1, 3600);
        p.range(
            "smtp_mta.data_timeout",
            self.data_timeout.0.as_secs(),
            1,
            3600,
        );
        p.range("smtp_mta.max_connections", self.max_connections, 1, 100_000);
        if !self.dns_resolver.is_empty()
            && self.dns_resolver.parse::<std::net::SocketAddr>().is_err()
        {
            p.add(
                "smtp_mta.dns_resolver",
                format!("{:?} is not ip:port", self.dns_resolver),
            );
        }
        p.range(
            "smtp_mta.dns_timeout",
            self.dns_timeout.0.as_millis() as u64,
            100,
            60_000,
        );
        for (key, list) in [
            ("smtp_mta.milters", &self.milters),
            ("smtp_mta.relay_milters", &self.relay_milters),
        ] {
            for m in list {
                let m = m.trim();
                let address = m.trim_start_matches('{').trim_start();
                let known = ["inet:", "inet6:", "unix:", "local:"]
                    .iter()
                    .any(|p| address.starts_with(p));
                if !known || (m.starts_with('{') && !m.ends_with('}')) {
                    p.add(
                        key,
                        format!(
                            "{m:?} is not a milter (inet:host:port, unix:/path or {{ inet:host:port, name = value, ... }})"
                        ),
                    );
                }
            }
        }
        p.one_of(
            "smtp_mta.milter_default_action",
            &self.milter_default_action,
            &["tempfail", "accept", "reject", "quarantine"],
        );
        p.range(
            "smtp_mta.milter_connect_timeout",
            self.milter_connect_timeout.0.as_secs(),
            1,
            600,
        );
        p.range(
            "smtp_mta.milter_command_timeout",
            self.milter_command_timeout.0.as_secs(),
            1,
            3600,
        );
        p.range(
            "smtp_mta.milter_content_timeout",
            self.milter_content_timeout.0.as_secs(),
            1,
            3600,
        );
        p.range("smtp_mta.milter_protocol", self.milter_protocol, 2, 6);
        p.range("smtp_mta.outbound_port", self.outbound_port, 1, 65535);
        p.range("smtp_mta.mta_sts_port", self.mta_sts_port, 1, 65535);
        p.range(
            "smtp_mta.outbound_connect_timeout",
            self.outbound_connect_timeout.0.as_secs(),
            1,
            600,
        );
        p.range(
            "smtp_mta.outbound_timeout",
            self.outbound_timeout.0.as_secs(),
            1,
            3600,
        );
        p.range(
            "smtp_mta.outbound_max_per_domain",
            self.outbound_max_per_domain,
            1,
            1000,
        );
        p.range(
            "smtp_mta.outbound_max_messages_per_connection",
            self.outbound_max_messages_per_connection,
            1,
            10_000,
        );
        p.range(
            "smtp_mta.outbound_idle_timeout",
            self.outbound_idle_timeout.0.as_secs(),
            0,
            300,
        );
        p.one_of(
            "smtp_mta.smarthost_tls",
            &self.smarthost_tls,
            &["none", "opportunistic", "required"],
        );
        // `host:port` or `[v6]:port`, port 1–65535.
        let host_port_ok = |v: &str| {
            let (host, port) = match v.strip_prefix('[') {
                Some(rest) => match rest.split_once("]:") {
                    Some(hp) => hp,
                    None => return false,
                },
                None => match v.rsplit_once(':') {
                    Some((h, _)) if h.contains(':') => return false,
                    Some(hp) => hp,
                    None => return false,
                },
            };
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        };
        if !self.smarthost.is_empty() && !host_port_ok(&self.smarthost) {
            p.add(
                "smtp_mta.smarthost",
                format!(
                    "{:?} is not host:port (e.g. \"relay.example.net:587\", \"[2001:db8::1]:25\")",
                    self.smarthost
                ),
            );
        }
        if !self.smarthost_user.is_empty() && self.smarthost_password_file.is_empty() {
            p.add(
                "smtp_mta.smarthost_password_file",
                "`smarthost_user` is set: the password file is needed too",
            );
        }
    }
}

impl ImapConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for l in &self.listen {
            p.listen_addr("imap.listen", l);
        }
        for l in &self.tls_listen {
            p.listen_addr("imap.tls_listen", l);
        }
        p.listen_addr("imap.admin_listen", &self.admin_listen);
        p.range("imap.max_line_length", self.max_line_length, 1024, 1 << 20);
        p.range(
            "imap.max_message_size",
            self.max_message_size.0,
            1 << 10,
            2 << 30,
        );
        p.range(
            "imap.auth_failure_delay",
            self.auth_failure_delay.0.as_millis() as u64,
            0,
            60_000,
        );
        p.range("imap.max_auth_failures", self.max_auth_failures, 1, 100);
        p.range("imap.autologout", self.autologout.0.as_secs(), 60, 86_400);
        p.range(
            "imap.idle_poll",
            self.idle_poll.0.as_millis() as u64,
            100,
            600_000,
        );
        p.range("imap.max_connections", self.max_connections, 1, 1_000_000);
        if self.learn_spam {
            if !self.learn_url.starts_with("http://") {
                p.add(
                    "imap.learn_url",
                    format!("{:?}: use http://host:port", self.learn_url),
                );
            }
            p.non_empty("imap.learn_spam_folder", &self.learn_spam_folder);
        }
        p.range("imap.learn_queue", self.learn_queue, 1, 100_000);
        p.range(
            "imap.learn_timeout",
            self.learn_timeout.0.as_millis() as u64,
            100,
            600_000,
        );
    }
}

impl QueueConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        p.non_empty("queue.dir", &self.dir);
        if self.min_backoff.0.is_zero() {
            p.add("queue.min_backoff", "must be more than 0");
        }
        if self.max_backoff < self.min_backoff {
            p.add(
                "queue.max_backoff",
                "must not be less than queue.min_backoff",
            );
        }
        if self.max_lifetime.0.is_zero() {
            p.add("queue.max_lifetime", "must be more than 0");
        }
        p.range(
            "queue.max_concurrent_deliveries",
            self.max_concurrent_deliveries,
            1,
            1000,
        );
    }
}

config_section! {
    /// submission: authenticated sending for mail clients (RFC 6409) on 587 (STARTTLS) and 465
    /// (implicit TLS, RFC 8314). Messages are checked, completed, DKIM-signed and handed to
    /// smtp-mta's relay listener; the client hears `250` only after smtp-mta queued them.
    pub struct SubmissionConfig("submission") {
        /// Listeners for submission with STARTTLS (port 587).
        pub listen: Vec<String> = vec!["[::]:587".into()],
        /// Listeners for submission over implicit TLS (port 465).
        pub tls_listen: Vec<String> = vec!["[::]:465".into()],
        /// Admin HTTP listener (`/healthz`, `/readyz`, `/metrics`).
        pub admin_listen: String = "127.0.0.1:9587".into(),
        /// smtp-mta's relay listener (`host:port` or `unix:/path`), which queues what
        /// submission accepted.
        pub relay_address: String = "127.0.0.1:10025".into(),
        /// Allow AUTH without TLS. For tests and trusted networks only: the default advertises
        /// no AUTH before STARTTLS and refuses it with `538 5.7.11`.
        pub allow_plaintext_auth: bool = false,
        /// Largest message in bytes (announced as `SIZE`).
        pub max_message_size: ByteSize = ByteSize::mib(25),
        /// Recipients per message.
        pub max_recipients: usize = 100,
        /// Longest command line in bytes.
        pub max_line_length: usize = 2048,
        /// Errors before the connection is closed.
        pub max_errors: usize = 20,
        /// NOOP/RSET/VRFY/HELP/EHLO per connection before it is closed.
        pub max_junk_commands: usize = 100,
        /// Idle timeout while waiting for a command.
        pub timeout: DurationSpec = DurationSpec::secs(300),
        /// Idle timeout while waiting for message data.
        pub data_timeout: DurationSpec = DurationSpec::secs(600),
        /// Delay before answering a failed AUTH; it grows with the failures of the same client
        /// address and of the same login name (up to 15 times).
        pub auth_failure_delay: DurationSpec = DurationSpec::secs(2),
        /// Failed AUTH attempts after which the connection is closed (1–100).
        pub max_auth_failures: usize = 3,
        /// Members of a group (distribution list) may use the group's address as sender.
        pub allow_send_as_group: bool = false,
        /// Messages one user may send per `rate_window` (`0` = no limit).
        pub max_messages_per_window: usize = 200,
        /// Recipients one user may send to per `rate_window`, all messages together (`0` = no
        /// limit).
        pub max_recipients_per_window: usize = 1000,
        /// The window of the two rate limits.
        pub rate_window: DurationSpec = DurationSpec::secs(3600),
        /// Leave the client's IP address and host name out of the `Received:` header that
        /// submission adds (recipients then do not learn the sender's home address).
        pub hide_client_ip: bool = false,
        /// Sign with DKIM (RFC 6376) when the `From:` domain has an active key in `dkim_dir`;
        /// mail from a domain without a key goes out unsigned.
        pub dkim_sign: bool = true,
        /// DKIM keys: `<dkim_dir>/<domain>/<selector>.key` (PKCS#8 PEM, RSA or Ed25519, mode
        /// 0600, readable by submission; made by `mailctl dkim keygen`). The selector(s) named
        /// in `<dkim_dir>/<domain>/selector` sign; changes are picked up within 10 seconds.
        pub dkim_dir: String = "/etc/mailstack/dkim".into(),
        /// Concurrent connections in total.
        pub max_connections: usize = 1000,
        /// Concurrent connections from one IP address (`0` = no limit).
        pub max_connections_per_ip: usize = 50,
        /// On SIGTERM, how long messages in progress may take before sessions are closed.
        pub shutdown_grace: DurationSpec = DurationSpec::secs(30),
    }
}

impl SubmissionConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for l in &self.listen {
            p.listen_addr("submission.listen", l);
        }
        for l in &self.tls_listen {
            p.listen_addr("submission.tls_listen", l);
        }
        p.listen_addr("submission.admin_listen", &self.admin_listen);
        p.listen_addr("submission.relay_address", &self.relay_address);
        p.range(
            "submission.max_message_size",
            self.max_message_size.0,
            1 << 10,
            2 << 30,
        );
        p.range("submission.max_recipients", self.max_recipients, 1, 100_000);
        p.range(
            "submission.max_line_length",
            self.max_line_length,
            512,
            1 << 20,
        );
        p.range("submission.max_errors", self.max_errors, 1, 1000);
        p.range(
            "submission.auth_failure_delay",
            self.auth_failure_delay.0.as_millis() as u64,
            0,
            60_000,
        );
        p.range(
            "submission.max_auth_failures",
            self.max_auth_failures,
            1,
            100,
        );
        p.range(
            "submission.rate_window",
            self.rate_window.0.as_secs(),
            1,
            7 * 86_400,
        );
        p.range(
            "submission.max_connections",
            self.max_connections,
            1,
            1_000_000,
        );
    }
}

config_section! {
    /// `mailctl web`: Thunderbird autoconfig, Outlook autodiscover and the MTA-STS policy over
    /// HTTP, behind Traefik or another proxy that terminates HTTPS (route `autoconfig.DOMAIN`,
    /// `mta-sts.DOMAIN`, `/.well-known/autoconfig/` and `/autodiscover/` of the mail host here).
    pub struct WebConfig("web") {
        /// HTTP listeners (plain HTTP: the proxy in front speaks HTTPS).
        pub listen: Vec<String> = vec!["[::]:8080".into()],
        /// The host name clients are told to use for IMAP (993/143) and submission (465/587);
        /// empty: `server.hostname`.
        pub mail_host: String = String::new(),
        /// MTA-STS mode (RFC 8461): `enforce`, `testing` (report only) or `none` (withdraw).
        pub mta_sts_mode: String = "enforce".into(),
        /// MX host names (or `*.example.com` patterns) the policy allows; empty: `mail_host`.
        pub mta_sts_mx: Vec<String> = Vec::new(),
        /// How long senders may cache the policy (RFC 8461 suggests weeks; at most a year).
        pub mta_sts_max_age: DurationSpec = DurationSpec::secs(7 * 86400),
    }
}

impl WebConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for l in &self.listen {
            p.listen_addr("web.listen", l);
        }
        if !["enforce", "testing", "none"].contains(&self.mta_sts_mode.as_str()) {
            p.add(
                "web.mta_sts_mode",
                format!("{:?}: use enforce, testing or none", self.mta_sts_mode),
            );
        }
        p.range(
            "web.mta_sts_max_age",
            self.mta_sts_max_age.0.as_secs(),
            86_400,
            31_557_600,
        );
    }
}
