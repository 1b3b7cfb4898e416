//! Command-line syntax of mailctl (clap). Every subcommand's handler lives in its own module.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// The administrator's tool for mailstack.
#[derive(Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// The stack's config file [default: /etc/mailstack/mailstack.toml, or ./var/mailstack.toml
    /// when only that exists].
    #[arg(long, global = true, env = "MAILSTACK_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Log format on stderr (for `up`).
    #[arg(long, global = true, default_value = "text")]
    pub(crate) log_format: mailstack_telemetry::LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where `mailctl up` keeps its config (relative to the working directory).
pub(crate) const DEV_CONFIG: &str = "var/mailstack.toml";

impl Args {
    pub(crate) fn config_path(&self) -> PathBuf {
        if let Some(p) = &self.config {
            return p.clone();
        }
        let default = Path::new(mailstack_config::DEFAULT_PATH);
        if !default.exists() && Path::new(DEV_CONFIG).exists() {
            return PathBuf::from(DEV_CONFIG);
        }
        default.to_path_buf()
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run every service here with the embedded defaults (data, users and certificate in ./var).
    Up(UpArgs),
    /// Check the config file, or print the reference of every key.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Users of the static directory.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Aliases of the static directory (an address forwarding to one or more targets).
    Alias {
        #[command(subcommand)]
        action: AliasAction,
    },
    /// Groups (distribution lists) of the static directory.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Ask the configured directory (static or LDAP) how an address resolves.
    Directory {
        #[command(subcommand)]
        action: DirectoryAction,
    },
    /// Check logins against the configured directory (like `doveadm auth test`).
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Inspect a user's mailboxes in the store (like `doveadm mailbox status` / `fetch`).
    Mailbox {
        #[command(subcommand)]
        action: MailboxAction,
    },
    /// smtp-mta's queue (like `postqueue -p`, `postsuper -h/-H/-d`, `postqueue -f`); works on
    /// the spool while smtp-mta runs.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// DKIM signing keys of submission (`[submission] dkim_dir`): generate, activate, show the
    /// DNS record.
    Dkim {
        #[command(subcommand)]
        action: DkimAction,
    },
    /// Print every DNS record a mail domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV,
    /// autoconfig) in zone-file form.
    Dns(DnsArgs),
    /// Serve Thunderbird autoconfig, Outlook autodiscover and the MTA-STS policy over HTTP
    /// (`[web]`), behind Traefik or another HTTPS proxy; runs until SIGTERM.
    Web,
}

/// Key type of `mailctl dkim keygen`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DkimAlgo {
    /// RSA, 2048 bits: verified by every receiver.
    Rsa,
    /// Ed25519 (RFC 8463): short keys, not yet verified by every receiver.
    Ed25519,
}

#[derive(Subcommand)]
pub(crate) enum DkimAction {
    /// Generate a key for a domain and print its DNS TXT record. Never overwrites a key; makes
    /// it an active (signing) key only when the domain has none yet or with --activate.
    Keygen {
        /// The mail domain (the domain of the From: addresses), e.g. example.com.
        domain: String,
        /// Selector: the key's name in DNS (`<selector>._domainkey.<domain>`) [default:
        /// s<YYYYMM> for RSA, e<YYYYMM> for Ed25519, of the current month].
        #[arg(long)]
        selector: Option<String>,
        /// Key type.
        #[arg(long, value_enum, default_value = "rsa")]
        algo: DkimAlgo,
        /// Make the new key active right away, in place of the active key of the same type
        /// (publish its record first!).
        #[arg(long)]
        activate: bool,
    },
    /// Choose the keys that sign (usually one; or an RSA and an Ed25519 key): replaces the
    /// domain's active selectors, after checking in DNS that their records are published.
    /// submission picks the change up within 10 seconds.
    Activate {
        /// The mail domain.
        domain: String,
        /// Selectors of keys made by `keygen`.
        #[arg(required = true)]
        selectors: Vec<String>,
        /// Activate even when DNS does not (yet) show the keys' records.
        #[arg(long)]
        force: bool,
        /// DNS server to ask for the records (IP or IP:PORT) [default: /etc/resolv.conf].
        #[arg(long)]
        resolver: Option<String>,
    },
    /// Print the DNS TXT records of the active keys again (or of --selector).
    Show {
        /// The mail domain.
        domain: String,
        /// Show this selector's record instead of the active one.
        #[arg(long)]
        selector: Option<String>,
    },
}

#[derive(clap::Args)]
pub(crate) struct DnsArgs {
    /// The mail domain, e.g. example.com.
    pub(crate) domain: String,
    /// The mail host (MX target, SRV target) [default: `[server] hostname`, or this machine's
    /// host name].
    #[arg(long)]
    pub(crate) mx: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum QueueAction {
    /// Every queued message: id, size, arrival, sender, pending recipients and last reply.
    List,
    /// One message: its envelope and content.
    Show {
        /// Queue id.
        id: String,
    },
    /// Deliver everything now (deferred messages become due).
    Flush,
    /// Keep a message in the queue without delivering it.
    Hold {
        /// Queue id.
        id: String,
    },
    /// Let a held message be delivered again.
    Release {
        /// Queue id.
        id: String,
    },
    /// Remove a message from the queue without delivering it or notifying the sender.
    Delete {
        /// Queue id.
        id: String,
    },
}

#[derive(clap::Args)]
pub(crate) struct UpArgs {
    /// Directory for config, users, mail and certificate.
    #[arg(long, default_value = "var")]
    pub(crate) dir: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum ConfigAction {
    /// Load and validate the config; print every problem with file:line and key.
    Check,
    /// Print every key with its default, as a commented TOML file.
    Defaults,
    /// Print the Markdown reference (docs/config.md).
    Reference,
}

#[derive(clap::Args)]
pub(crate) struct PasswordInput {
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Subcommand)]
pub(crate) enum UserAction {
    /// Add a user (the domain is added when new).
    Add {
        /// Full address, e.g. alice@example.com.
        address: String,
        /// Storage quota: bytes or with K/M/G/T suffix. Unlimited when absent.
        #[arg(long)]
        quota: Option<String>,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Remove a user (their mail stays in the store).
    Del {
        /// Full address.
        address: String,
    },
    /// Set a user's password.
    Passwd {
        /// Full address.
        address: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// List users with quota and aliases.
    List,
}

#[derive(Subcommand)]
pub(crate) enum AliasAction {
    /// Add an alias forwarding to one or more targets.
    Add {
        /// The alias address.
        address: String,
        /// Target addresses (local or remote).
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Remove an alias.
    Del {
        /// The alias address.
        address: String,
    },
    /// List aliases.
    List,
}

#[derive(Subcommand)]
pub(crate) enum GroupAction {
    /// Add a group with its members.
    Add {
        /// The group address.
        address: String,
        /// Member addresses.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove a group.
    Del {
        /// The group address.
        address: String,
    },
    /// List groups.
    List,
}

#[derive(Subcommand)]
pub(crate) enum DirectoryAction {
    /// Show what an address is (user, alias, group), where it delivers (users with quota, host,
    /// aliases; remote targets) and which server answered. Exit 0 if it delivers somewhere, 1 if
    /// unknown, 2 if the directory failed.
    Test {
        /// The address.
        address: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuthAction {
    /// Check a login and password; exit 0 if accepted, 1 if rejected, 2 if the directory failed.
    Test {
        /// Login (full address).
        login: String,
        #[command(flatten)]
        password: PasswordInput,
    },
}

#[derive(Subcommand)]
pub(crate) enum MailboxAction {
    /// Folders of a user with messages, UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ.
    Status {
        /// The user's address.
        address: String,
    },
    /// Messages of one folder: UID, flags, size and file (syncs the index with the Maildir).
    Messages {
        /// The user's address.
        address: String,
        /// Folder name.
        #[arg(long, default_value = "INBOX")]
        folder: String,
    },
}
