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
    }
}

config_section! {
    /// Where users, aliases and groups come from.
    pub struct DirectoryConfig("directory") {
        /// Backend: `static` (a TOML users file edited with `mailctl user` / `mailctl alias`).
        pub backend: String = "static".into(),
        /// The static backend's users file. Re-read when it changes.
        pub users_file: String = "/etc/mailstack/users.toml".into(),
        /// Characters that start a subaddress (`user+tag@` delivers to `user@`). Empty disables
        /// subaddressing.
        pub subaddress_delimiter: String = "+".into(),
        /// How deep aliases and groups may nest before expansion stops (1–32).
        pub max_expansion_depth: usize = 8,
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
        /// Idle time allowed while waiting for a command or data before the session is closed.
        pub timeout: DurationSpec = DurationSpec::secs(300),
        /// Concurrent connections in total (1–100000).
        pub max_connections: usize = 500,
        /// Concurrent connections from one IP address; `0` means no per-IP limit (the usual
        /// client is the local MTA).
        pub max_connections_per_ip: usize = 0,
        /// On SIGTERM, how long running transactions may take to finish before they are cut.
        pub shutdown_grace: DurationSpec = DurationSpec::secs(30),
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
        if self.backend != "static" {
            p.add(
                "directory.backend",
                format!("unknown backend {:?} (known: \"static\")", self.backend),
            );
        }
        p.non_empty("directory.users_file", &self.users_file);
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
        p.range("lmtp_mda.timeout", self.timeout.0.as_secs(), 1, 3600);
        p.range("lmtp_mda.max_connections", self.max_connections, 1, 100_000);
        p.range(
            "lmtp_mda.shutdown_grace",
            self.shutdown_grace.0.as_secs(),
            0,
            3600,
        );
    }
}
