//! Spam filing for lmtp-mda: which mailbox a message a content filter marked as spam goes to.
//!
//! smtp-mta's milters (rspamd) add a mark to messages scoring between rspamd's `add_header`
//! and `reject` thresholds, `X-Spam: Yes` by default. lmtp-mda files such a message into the
//! user's `Junk` folder instead of the INBOX, unless filing is off (`[lmtp_mda] spam_to_junk`)
//! or the user opted out (`spam_opt_out`, by address or `@domain`). This is what a Dovecot site
//! does with a global Sieve script (`if header :is "X-Spam" "Yes" { fileinto "Junk"; }`).
//!
//! Only the message's own header block counts (not headers of attached messages or MIME
//! parts), and folded headers are unfolded. Trusting the mark is safe only because the filter
//! removes marks that arrived with the message (rspamd's `milter_headers` `remove-headers`
//! routine, see docs/filtering.md); a forged mark could at worst put the forger's own message
//! into Junk.

use std::collections::HashSet;

use mailstack_config::LmtpMdaConfig;

/// How many bytes of a message are read to find the header block.
pub const HEADER_SCAN_LIMIT: usize = 256 * 1024;

/// The spam-filing settings of `[lmtp_mda]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunkPolicy {
    enabled: bool,
    header_name: String,
    header_value: String,
    folder: String,
    /// Lower-case addresses and `@domain` entries.
    opt_out: HashSet<String>,
}

impl JunkPolicy {
    /// The policy `[lmtp_mda]` describes. Errors name the key.
    pub fn from_config(section: &LmtpMdaConfig) -> Result<Self, String> {
        let (name, value) = parse_marker(&section.spam_header).ok_or_else(|| {
            format!(
                "lmtp_mda.spam_header: {:?} is not `Name: value`",
                section.spam_header
            )
        })?;
        if !valid_folder(&section.spam_folder) {
            return Err(format!(
                "lmtp_mda.spam_folder: {:?} is not a folder name",
                section.spam_folder
            ));
        }
        Ok(JunkPolicy {
            enabled: section.spam_to_junk,
            header_name: name,
            header_value: value,
            folder: section.spam_folder.clone(),
            opt_out: section
                .spam_opt_out
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
        })
    }

    /// A policy that never files anything (for callers without a config).
    pub fn disabled() -> Self {
        JunkPolicy {
            enabled: false,
            header_name: "X-Spam".into(),
            header_value: "yes".into(),
            folder: "Junk".into(),
            opt_out: HashSet::new(),
        }
    }

    /// Whether the message starting with `head` carries the spam mark (ignores the switch and
    /// the opt-outs).
    pub fn is_marked(&self, head: &[u8]) -> bool {
        header_values(head, &self.header_name)
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case(&self.header_value))
    }

    /// Whether `address` (a canonical user address) keeps its spam in the INBOX.
    pub fn opted_out(&self, address: &str) -> bool {
        let address = address.to_lowercase();
        if self.opt_out.contains(&address) {
            return true;
        }
        address
            .rfind('@')
            .is_some_and(|at| self.opt_out.contains(&address[at..]))
    }

    /// The mailbox for `address`'s copy of a message whose mark is `marked`: the spam folder
    /// when filing is on, the message is marked and the user has not opted out; else `None`
    /// (the INBOX, or whatever else the caller decides).
    pub fn mailbox_for(&self, address: &str, marked: bool) -> Option<&str> {
        (self.enabled && marked && !self.opted_out(address)).then_some(self.folder.as_str())
    }
}

/// `"X-Spam: Yes"` → `("x-spam", "yes")`: a header name (printable ASCII without `:`) and a
/// non-empty value.
fn parse_marker(marker: &str) -> Option<(String, String)> {
    let (name, value) = marker.split_once(':')?;
    let name = name.trim();
    let value = value.trim();
    let name_ok = !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    (name_ok && !value.is_empty()).then(|| (name.to_ascii_lowercase(), value.to_string()))
}

/// A folder name the store will accept: not the INBOX, no path separators, control characters
/// or wildcards, no empty or `~`/`.`-leading hierarchy components (the store checks again).
fn valid_folder(name: &str) -> bool {
    !name.eq_ignore_ascii_case("INBOX")
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '*' | '%'))
        && name
            .split('.')
            .all(|c| !c.trim().is_empty() && !c.starts_with('~'))
}

/// The unfolded values of every `name` field (case-insensitive) in the header block at the
/// start of `message` (up to the first empty line, or the end of `message`).
pub fn header_values(message: &[u8], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let bare = trim_eol(line);
        if bare.is_empty() {
            break;
        }
        if matches!(bare[0], b' ' | b'\t') {
            if let Some(v) = current.as_mut() {
                v.extend_from_slice(bare);
            }
            continue;
        }
        if let Some(v) = current.take() {
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
        if let Some(colon) = bare.iter().position(|&b| b == b':') {
            let field = &bare[..colon];
            if field.trim_ascii_end().eq_ignore_ascii_case(name.as_bytes()) {
                current = Some(bare[colon + 1..].to_vec());
            }
        }
    }
    if let Some(v) = current.take() {
        out.push(String::from_utf8_lossy(&v).into_owned());
    }
    out
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(opt_out: &[&str]) -> JunkPolicy {
        let section = LmtpMdaConfig {
            spam_opt_out: opt_out.iter().map(|s| s.to_string()).collect(),
            ..LmtpMdaConfig::default()
        };
        JunkPolicy::from_config(&section).unwrap()
    }

    #[test]
    fn the_mark_is_found_in_the_top_header_block_only() {
        let p = policy(&[]);
        assert!(p.is_marked(b"From: a@b\r\nX-Spam: Yes\r\n\r\nbody\r\n"));
        assert!(p.is_marked(b"x-spam:yes\n\n"));
        assert!(p.is_marked(b"Subject: s\r\nX-SPAM:   YES  \r\n"));
        assert!(p.is_marked(b"X-Spam:\r\n Yes\r\n\r\n"), "folded");
        assert!(!p.is_marked(b"X-Spam: No\r\n\r\n"));
        assert!(!p.is_marked(b"X-Spam-Status: Yes\r\n\r\n"));
        assert!(
            !p.is_marked(b"From: a@b\r\n\r\nX-Spam: Yes\r\n"),
            "in the body"
        );
        assert!(
            !p.is_marked(b"Content-Type: message/rfc822\r\n\r\nX-Spam: Yes\r\n\r\n"),
            "in an attached message"
        );
        assert!(!p.is_marked(b""));
    }

    #[test]
    fn filing_honours_the_switch_and_the_opt_outs() {
        let p = policy(&["Bob@Example.com", "@lists.example.com"]);
        assert_eq!(p.mailbox_for("alice@example.com", true), Some("Junk"));
        assert_eq!(p.mailbox_for("alice@example.com", false), None);
        assert_eq!(p.mailbox_for("bob@example.com", true), None);
        assert_eq!(p.mailbox_for("any@lists.example.com", true), None);
        assert_eq!(p.mailbox_for("any@example.com", true), Some("Junk"));
        let off = JunkPolicy::from_config(&LmtpMdaConfig {
            spam_to_junk: false,
            ..LmtpMdaConfig::default()
        })
        .unwrap();
        assert_eq!(off.mailbox_for("alice@example.com", true), None);
        assert_eq!(JunkPolicy::disabled().mailbox_for("a@b", true), None);
    }

    #[test]
    fn markers_and_folders_are_checked() {
        let bad = |header: &str, folder: &str| {
            JunkPolicy::from_config(&LmtpMdaConfig {
                spam_header: header.into(),
                spam_folder: folder.into(),
                ..LmtpMdaConfig::default()
            })
        };
        assert!(bad("X-Spam", "Junk").is_err());
        assert!(bad(": Yes", "Junk").is_err());
        assert!(bad("X Spam: Yes", "Junk").is_err());
        assert!(bad("X-Spam:", "Junk").is_err());
        assert!(bad("X-Spam: Yes", "../etc").is_err());
        let custom = bad("X-Spam-Flag: YES", "Spam").unwrap();
        assert!(custom.is_marked(b"X-Spam-Flag: yes\r\n\r\n"));
        assert_eq!(custom.mailbox_for("a@b.c", true), Some("Spam"));
    }
}
