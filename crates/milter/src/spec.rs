//! Which milters to talk to and how: addresses in Postfix syntax (`inet:host:port`,
//! `inet:[ipv6]:port`, `unix:/path`), the per-milter settings of Postfix 3's
//! `{ address, name = value, ... }` form, and the default action when a milter fails.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::proto::{self, Stage};

/// Where a milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterAddress {
    /// TCP: a host name or IP address and a port.
    Inet {
        /// Host name or IP address (without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix-domain socket.
    Unix(PathBuf),
}

impl FromStr for MilterAddress {
    type Err = String;

    /// `inet:host:port`, `inet:[2001:db8::1]:port`, Sendmail's `inet:port@host`, `unix:/path`
    /// or `local:/path`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: the socket path must be absolute"));
            }
            return Ok(MilterAddress::Unix(PathBuf::from(path)));
        }
        let Some(rest) = s.strip_prefix("inet:").or_else(|| s.strip_prefix("inet6:")) else {
            return Err(format!(
                "{s:?}: a milter address is inet:host:port or unix:/path"
            ));
        };
        let bad = || format!("{s:?}: a milter address is inet:host:port or unix:/path");
        let (host, port) = if let Some((port, host)) = rest.split_once('@') {
            (host, port)
        } else if let Some(v6) = rest.strip_prefix('[') {
            let (host, port) = v6.split_once("]:").ok_or_else(bad)?;
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(bad)?
        };
        let host = host.trim_matches(['[', ']']);
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(MilterAddress::Inet {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for MilterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MilterAddress::Inet { host, port } if host.contains(':') => {
                write!(f, "inet:[{host}]:{port}")
            }
            MilterAddress::Inet { host, port } => write!(f, "inet:{host}:{port}"),
            MilterAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// What happens when a milter cannot be reached, times out or breaks the protocol (Postfix's
/// `milter_default_action`). The milter is then left out for the rest of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Go on as if the milter had accepted.
    Accept,
    /// Refuse with `550 5.5.0 Service unavailable`.
    Reject,
    /// Refuse with `451 4.7.1 Service unavailable - try again later` (Postfix's default).
    Tempfail,
    /// Accept, but hold the message in the queue.
    Quarantine,
}

impl FromStr for DefaultAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "accept" => Ok(DefaultAction::Accept),
            "reject" => Ok(DefaultAction::Reject),
            "tempfail" => Ok(DefaultAction::Tempfail),
            "quarantine" => Ok(DefaultAction::Quarantine),
            other => Err(format!(
                "{other:?} is not a milter default action (accept, reject, tempfail, quarantine)"
            )),
        }
    }
}

impl fmt::Display for DefaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultAction::Accept => "accept",
            DefaultAction::Reject => "reject",
            DefaultAction::Tempfail => "tempfail",
            DefaultAction::Quarantine => "quarantine",
        })
    }
}

/// Settings every milter gets unless its own entry overrides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilterDefaults {
    /// Time allowed to connect and negotiate (Postfix `milter_connect_timeout`, 30 s).
    pub connect_timeout: Duration,
    /// Time allowed for each reply to a command (Postfix `milter_command_timeout`, 30 s).
    pub command_timeout: Duration,
    /// Time allowed for each reply while the message content is sent (Postfix
    /// `milter_content_timeout`, 300 s).
    pub content_timeout: Duration,
    /// When the milter fails.
    pub default_action: DefaultAction,
    /// Protocol version offered (2–6; Postfix `milter_protocol`, 6).
    pub protocol: u32,
}

impl Default for MilterDefaults {
    fn default() -> Self {
        MilterDefaults {
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(30),
            content_timeout: Duration::from_secs(300),
            default_action: DefaultAction::Tempfail,
            protocol: proto::PROTOCOL_VERSION,
        }
    }
}

/// One milter as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilterSpec {
    /// Where it listens.
    pub address: MilterAddress,
    /// Its name in logs and metrics (the address as written).
    pub name: String,
    /// Time allowed to connect and negotiate.
    pub connect_timeout: Duration,
    /// Time allowed for each reply to a command.
    pub command_timeout: Duration,
    /// Time allowed for each reply while the content is sent.
    pub content_timeout: Duration,
    /// When it fails.
    pub default_action: DefaultAction,
    /// Protocol version offered (2–6).
    pub protocol: u32,
}

impl MilterSpec {
    /// Parse `inet:host:port` / `unix:/path`, or Postfix 3's per-milter form
    /// `{ inet:host:port, connect_timeout=10s, command_timeout=10s, content_timeout=5m,
    /// default_action=accept, protocol=6 }`; unset settings come from `defaults`.
    pub fn parse(s: &str, defaults: &MilterDefaults) -> Result<MilterSpec, String> {
        let s = s.trim();
        let (address, settings) = match s.strip_prefix('{') {
            Some(inner) => {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| format!("{s:?}: missing closing brace"))?;
                let mut parts = inner.split(',').map(str::trim);
                let address = parts.next().unwrap_or_default();
                (address, parts.filter(|p| !p.is_empty()).collect::<Vec<_>>())
            }
            None => (s, Vec::new()),
        };
        let mut spec = MilterSpec {
            address: address.parse()?,
            name: address.to_string(),
            connect_timeout: defaults.connect_timeout,
            command_timeout: defaults.command_timeout,
            content_timeout: defaults.content_timeout,
            default_action: defaults.default_action,
            protocol: defaults.protocol,
        };
        for setting in settings {
            let (key, value) = setting
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("{s:?}: {setting:?} is not name=value"))?;
            let duration = || parse_duration(value).map_err(|e| format!("{s:?}: {key}: {e}"));
            match key {
                "connect_timeout" => spec.connect_timeout = duration()?,
                "command_timeout" => spec.command_timeout = duration()?,
                "content_timeout" => spec.content_timeout = duration()?,
                "default_action" => {
                    spec.default_action = value.parse().map_err(|e| format!("{s:?}: {e}"))?
                }
                "protocol" => {
                    spec.protocol = value
                        .parse()
                        .map_err(|_| format!("{s:?}: protocol {value:?} is not a number"))?
                }
                other => {
                    return Err(format!(
                        "{s:?}: unknown milter setting {other:?} (connect_timeout, command_timeout, content_timeout, default_action, protocol)"
                    ));
                }
            }
        }
        if !(2..=proto::PROTOCOL_VERSION).contains(&spec.protocol) {
            return Err(format!(
                "{s:?}: milter protocol {} is not supported (2–6)",
                spec.protocol
            ));
        }
        for t in [
            spec.connect_timeout,
            spec.command_timeout,
            spec.content_timeout,
        ] {
            if t.is_zero() {
                return Err(format!("{s:?}: timeouts must be longer than zero"));
            }
        }
        Ok(spec)
    }
}

/// `10s`, `5m`, `1h`, `250ms` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?} is not a duration (10s, 5m, 1h, 250ms)")),
    })
}

/// The macros sent to milters at each stage (Postfix's `milter_*_macros`), names as Postfix
/// writes them: one letter (`j`, `i`, `_`) or in braces (`{daemon_name}`). A milter may ask
/// for other lists during negotiation (`SMFIF_SETSYMLIST`); its lists then replace these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroNames {
    /// Per stage.
    pub lists: Vec<(Stage, Vec<String>)>,
}

impl MacroNames {
    /// From space-separated lists per stage.
    pub fn from_lists(lists: &[(Stage, &str)]) -> MacroNames {
        MacroNames {
            lists: lists
                .iter()
                .map(|(stage, names)| (*stage, split_names(names)))
                .collect(),
        }
    }

    /// The names of `stage`.
    pub fn of(&self, stage: Stage) -> &[String] {
        self.lists
            .iter()
            .find(|(s, _)| *s == stage)
            .map_or(&[][..], |(_, n)| n.as_slice())
    }
}

impl Default for MacroNames {
    /// Postfix's defaults.
    fn default() -> Self {
        MacroNames::from_lists(&[
            (Stage::Connect, "j {daemon_name} {daemon_addr} v _"),
            (
                Stage::Helo,
                "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
            ),
            (
                Stage::Mail,
                "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
            ),
            (Stage::Rcpt, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}"),
            (Stage::Data, "i"),
            (Stage::Eoh, "i"),
            (Stage::Eom, "i"),
        ])
    }
}

/// Split a macro list (spaces or commas) into names.
pub fn split_names(names: &str) -> Vec<String> {
    names
        .split([' ', ',', '\t'])
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}
