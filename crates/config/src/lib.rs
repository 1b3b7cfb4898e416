//! # mailstack-config
//!
//! The stack's one configuration file: typed sections (`[server]`, `[tls]`, `[directory]`,
//! `[store]`, `[lmtp_mda]`, and more as services arrive), overrides from `MAILSTACK_<SECTION>__<KEY>`
//! environment variables, and validation whose errors name the file, line, column and key.
//!
//! Every key is declared exactly once, with [`config_section!`], next to its doc and default;
//! the reference printed by `mailctl config defaults` and docs/config.md are generated from
//! those declarations ([`reference_markdown`], [`reference_toml`]), so they cannot drift.
//!
//! What this crate must not do: open sockets or files other than the config file, or know how a
//! service uses its settings. Defaults never depend on a cargo feature.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

// Lets `config_section!` name this crate the same way inside it and outside.
extern crate self as mailstack_config;

mod cidr;
pub(crate) mod declare;
mod load;
mod sections;
mod units;

pub use cidr::Cidr;
pub use declare::{KeyDoc, Section};
pub use load::{ConfigError, ENV_PREFIX, Origin, Problem, Problems, load, load_str};
pub use sections::{
    DirectoryConfig, ImapConfig, LmtpMdaConfig, ManageSieveConfig, QueueConfig, ServerConfig,
    SmtpMtaConfig, StoreConfig, SubmissionConfig, TlsConfig, WebConfig,
};
pub use units::{ByteSize, DurationSpec};

/// Helpers the [`config_section!`] macro expands to. Not for direct use.
#[doc(hidden)]
pub mod declare_support {
    pub use crate::declare::{join_doc, render_default};
    pub use serde;
}

/// Default path of the config file.
pub const DEFAULT_PATH: &str = "/etc/mailstack/mailstack.toml";

/// The whole stack's configuration: one field per section.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[tls]`
    pub tls: TlsConfig,
    /// `[directory]`
    pub directory: DirectoryConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[lmtp_mda]`
    pub lmtp_mda: LmtpMdaConfig,
    /// `[smtp_mta]`
    pub smtp_mta: SmtpMtaConfig,
    /// `[queue]`
    pub queue: QueueConfig,
    /// `[imap]`
    pub imap: ImapConfig,
    /// `[managesieve]`
    pub managesieve: ManageSieveConfig,
    /// `[submission]`
    pub submission: SubmissionConfig,
    /// `[web]`
    pub web: WebConfig,
}

/// Every section's name, doc and keys, in file order.
pub fn sections() -> Vec<(&'static str, String, Vec<KeyDoc>)> {
    fn one<S: Section>() -> (&'static str, String, Vec<KeyDoc>) {
        (S::NAME, S::doc(), S::keys())
    }
    vec![
        one::<ServerConfig>(),
        one::<TlsConfig>(),
        one::<DirectoryConfig>(),
        one::<StoreConfig>(),
        one::<LmtpMdaConfig>(),
        one::<SmtpMtaConfig>(),
        one::<QueueConfig>(),
        one::<ImapConfig>(),
        one::<ManageSieveConfig>(),
        one::<SubmissionConfig>(),
        one::<WebConfig>(),
    ]
}

pub(crate) fn find_key(section: &str, key: &str) -> Option<KeyDoc> {
    sections()
        .into_iter()
        .find(|(name, _, _)| *name == section)?
        .2
        .into_iter()
        .find(|k| k.name == key)
}

impl Config {
    pub(crate) fn validate(&self, p: &mut Problems) {
        self.server.validate(p);
        self.tls.validate(p);
        self.directory.validate(p);
        self.store.validate(p);
        self.lmtp_mda.validate(p);
        self.smtp_mta.validate(p);
        self.queue.validate(p);
        self.imap.validate(p);
        self.managesieve.validate(p);
        self.submission.validate(p);
        self.web.validate(p);
    }

    /// The host name to announce: `server.hostname`, or the machine's host name.
    pub fn hostname(&self) -> String {
        if !self.server.hostname.is_empty() {
            return self.server.hostname.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    }
}

/// The full reference as a commented TOML file: every section and key with its default.
pub fn reference_toml() -> String {
    let mut out = String::from("# mailstack configuration: every key with its default.\n");
    out.push_str("# Override any key with MAILSTACK_<SECTION>__<KEY>=value in the environment.\n");
    for (name, doc, keys) in sections() {
        out.push('\n');
        for l in doc.lines() {
            out.push_str(&format!("# {l}\n").replace("# \n", "#\n"));
        }
        out.push_str(&format!("[{name}]\n"));
        for k in keys {
            for l in k.doc.lines() {
                out.push_str(&format!("# {l}\n").replace("# \n", "#\n"));
            }
            out.push_str(&format!("{} = {}\n", k.name, k.default));
        }
    }
    out
}

/// The full reference as Markdown (docs/config.md is this text).
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated by `mailctl config reference > docs/config.md`; do not edit by hand. -->\n\n\
         mailstack reads one TOML file (`--config PATH`, default `/etc/mailstack/mailstack.toml`).\n\
         Unknown keys and bad values are errors naming the file, line and key; \
         `mailctl config check` prints them.\n\n\
         Any key can be overridden from the environment as `MAILSTACK_<SECTION>__<KEY>` \
         (double underscore between section and key), e.g. `MAILSTACK_LMTP_MDA__MAX_RECIPIENTS=50`. \
         Values are TOML (`50`, `true`, `[\"a\", \"b\"]`) or plain text; list keys also take \
         comma-separated text.\n\n\
         Sizes are bytes or `K`/`M`/`G`/`T` (powers of 1024): `25M`. Durations are seconds or \
         `ms`/`s`/`m`/`h`/`d`: `5m`.\n",
    );
    for (name, doc, keys) in sections() {
        out.push_str(&format!(
            "\n## `[{name}]`\n\n{doc}\n\n| key | type | default | meaning |\n|---|---|---|---|\n"
        ));
        for k in keys {
            let ty = match k.ty {
                "ByteSize" => "size",
                "DurationSpec" => "duration",
                "Vec<String>" => "list of strings",
                "String" => "string",
                "bool" => "boolean",
                "usize" | "u64" | "u32" => "integer",
                other => other,
            };
            out.push_str(&format!(
                "| `{}` | {ty} | `{}` | {} |\n",
                k.name,
                k.default.replace('|', "\\|"),
                k.doc.replace('\n', " ").replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
