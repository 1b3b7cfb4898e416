//! Validation of mailbox, domain and local-part names, and their mapping to
//! Maildir++ directory names.
//!
//! API names are UTF-8 with `.` as hierarchy separator (`"Work.Projects"`);
//! `INBOX` is case-insensitive and is the Maildir root itself. Every other
//! mailbox is the directory `"." + mUTF-7(name)` under the Maildir root.
//! Anything that could leave the root is refused before any path is built.

use crate::error::StoreError;
use crate::mutf7::{decode_mutf7, encode_mutf7};

/// The hierarchy separator of mailbox names (Maildir++).
pub const SEPARATOR: char = '.';

/// Longest encoded directory name we create (file systems allow 255 bytes).
const MAX_DIR_NAME: usize = 240;

/// A validated mailbox name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MailboxName {
    /// The INBOX (the Maildir root).
    Inbox,
    /// A folder; holds the UTF-8 name with `.` separators.
    Folder(String),
}

impl MailboxName {
    /// Validate an API mailbox name.
    pub(crate) fn parse(name: &str) -> Result<MailboxName, StoreError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(MailboxName::Inbox);
        }
        if name.is_empty() {
            return Err(StoreError::invalid(name, "empty mailbox name"));
        }
        for c in name.chars() {
            if c.is_control() {
                return Err(StoreError::invalid(name, "control character"));
            }
            match c {
                '/' | '\\' => return Err(StoreError::invalid(name, "path separator")),
                '*' | '%' => return Err(StoreError::invalid(name, "IMAP wildcard")),
                _ => {}
            }
        }
        if name.starts_with('~') {
            return Err(StoreError::invalid(name, "name starts with '~'"));
        }
        for component in name.split(SEPARATOR) {
            if component.is_empty() {
                return Err(StoreError::invalid(name, "empty hierarchy component"));
            }
            if component.starts_with('~') {
                return Err(StoreError::invalid(name, "component starts with '~'"));
            }
            if component.trim().is_empty() {
                return Err(StoreError::invalid(name, "blank hierarchy component"));
            }
        }
        let encoded = encode_mutf7(name);
        if encoded.len() + 1 > MAX_DIR_NAME {
            return Err(StoreError::invalid(name, "name too long"));
        }
        Ok(MailboxName::Folder(name.to_string()))
    }

    /// Decode a directory name found under the Maildir root (`.Sent`,
    /// `.&AMQ-rger`); `None` when it is not a valid folder directory.
    pub(crate) fn from_dir_name(dir: &str) -> Option<MailboxName> {
        let encoded = dir.strip_prefix('.')?;
        if encoded.is_empty() || encoded == "." {
            return None;
        }
        let name = decode_mutf7(encoded).ok()?;
        match MailboxName::parse(&name).ok()? {
            MailboxName::Inbox => Some(MailboxName::Folder(name)),
            folder => Some(folder),
        }
    }

    /// The directory name under the Maildir root (`None` for INBOX).
    pub(crate) fn dir_name(&self) -> Option<String> {
        match self {
            MailboxName::Inbox => None,
            MailboxName::Folder(n) => Some(format!(".{}", encode_mutf7(n))),
        }
    }

    /// The API name (`INBOX` or the folder name).
    pub(crate) fn as_str(&self) -> &str {
        match self {
            MailboxName::Inbox => "INBOX",
            MailboxName::Folder(n) => n,
        }
    }
}

/// Validate a domain or local part used as a directory name; returns it
/// (domains lower-cased).
pub(crate) fn validate_user_part(part: &str, is_domain: bool) -> Result<String, StoreError> {
    if part.is_empty() {
        return Err(StoreError::invalid(part, "empty name"));
    }
    if part.len() > 255 {
        return Err(StoreError::invalid(part, "name too long"));
    }
    if part == "." || part == ".." {
        return Err(StoreError::invalid(part, "dot directory"));
    }
    if part.starts_with('.') {
        return Err(StoreError::invalid(part, "name starts with '.'"));
    }
    if part.starts_with('~') {
        return Err(StoreError::invalid(part, "name starts with '~'"));
    }
    for c in part.chars() {
        if c.is_control() {
            return Err(StoreError::invalid(part, "control character"));
        }
        if c == '/' || c == '\\' {
            return Err(StoreError::invalid(part, "path separator"));
        }
    }
    if part.contains("..") {
        return Err(StoreError::invalid(part, "'..' in name"));
    }
    Ok(if is_domain {
        part.to_lowercase()
    } else {
        part.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(MailboxName::parse("inbox").unwrap(), MailboxName::Inbox);
        assert_eq!(MailboxName::parse("InBoX").unwrap(), MailboxName::Inbox);
        assert_eq!(MailboxName::Inbox.dir_name(), None);
    }

    #[test]
    fn folder_dir_names() {
        let n = MailboxName::parse("Work.Projects").unwrap();
        assert_eq!(n.dir_name().unwrap(), ".Work.Projects");
        let n = MailboxName::parse("Ärger").unwrap();
        assert_eq!(n.dir_name().unwrap(), ".&AMQ-rger");
        assert_eq!(
            MailboxName::from_dir_name(".&AMQ-rger").unwrap().as_str(),
            "Ärger"
        );
        assert!(MailboxName::from_dir_name(".").is_none());
        assert!(MailboxName::from_dir_name("..").is_none());
        assert!(MailboxName::from_dir_name("cur").is_none());
        assert!(MailboxName::from_dir_name(".a..b").is_none());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "", "..", "../x", "a/b", "/etc", "a\\b", "a\0b", "a\nb", "a..b", ".a", "a.", "~x",
            "a.~b", "*", "a%", "\u{7f}",
        ] {
            assert!(MailboxName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn user_parts() {
        assert_eq!(
            validate_user_part("Example.COM", true).unwrap(),
            "example.com"
        );
        assert_eq!(validate_user_part("John.Doe", false).unwrap(), "John.Doe");
        for bad in [
            "", ".", "..", "a/b", "a\\b", "a\0", "..x", ".x", "x..", "~x", "a\rb",
        ] {
            assert!(validate_user_part(bad, false).is_err(), "{bad:?} accepted");
        }
    }
}
