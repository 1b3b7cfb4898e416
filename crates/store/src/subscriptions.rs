//! The user's mailbox subscriptions, in Dovecot's `subscriptions` file in the Maildir root, so
//! that subscriptions survive a migration from Dovecot and back.
//!
//! # The file, as Dovecot 2.3 writes and reads it (`lib-storage/list/subscription-file.c`)
//!
//! - One subscribed mailbox per line, as its *storage name*: modified UTF-7, hierarchy
//!   separated by the storage separator (`.` for Maildir++), `INBOX` for the INBOX. The
//!   names need not exist.
//! - Version 2 (written for a new file): the header `V<TAB>2<LF><LF>`, then each name with its
//!   hierarchy levels separated by TAB, each level tab-escaped (`\x01` → `\x01 1`, TAB →
//!   `\x01 t`, CR → `\x01 r`, LF → `\x01 n`).
//! - Version 1 (older Dovecot, other software): no header, the storage name as is. Dovecot
//!   keeps the version of an existing file when it rewrites it, and so do we.
//! - A trailing hierarchy separator is ignored when reading (old Dovecot wrote it).
//! - Writers hold the dot-lock `subscriptions.lock`, write the new content into the lock file
//!   and rename it over `subscriptions` (atomic for readers, who take no lock).
//!
//! Lines that do not decode to a valid mailbox name are kept in the file but not reported.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{StoreError, blocking};
use crate::mailbox_name::{MailboxName, SEPARATOR};
use crate::maildir::lock::DotLock;
use crate::mutf7::{decode_mutf7, encode_mutf7};
use crate::user::UserStore;

/// File name in the Maildir root.
pub(crate) const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// Its dot-lock.
const SUBSCRIPTIONS_LOCK: &str = "subscriptions.lock";
/// The version 2 header.
const V2_HEADER: &str = "V\t2\n\n";

/// The file's content: its format and its lines (escaped as on disk, without LF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionFile {
    /// Version 2 (header, TAB-separated levels).
    pub(crate) v2: bool,
    /// The entry lines as stored.
    lines: Vec<String>,
}

impl SubscriptionFile {
    /// A new, empty file: version 2, as Dovecot 2.3 creates it.
    pub(crate) fn new() -> SubscriptionFile {
        SubscriptionFile {
            v2: true,
            lines: Vec::new(),
        }
    }

    /// Parse a file's content (either version). Empty lines are dropped.
    pub(crate) fn parse(content: &str) -> SubscriptionFile {
        let (v2, body) = match content.strip_prefix(V2_HEADER) {
            Some(rest) => (true, rest),
            None => (false, content),
        };
        SubscriptionFile {
            v2,
            lines: body
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    /// The file content to write.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if self.v2 {
            out.push_str(V2_HEADER);
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The storage names (modified UTF-7, `.`-separated), in file order.
    pub(crate) fn storage_names(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| {
                let name = if self.v2 {
                    l.split('\t')
                        .map(tab_unescape)
                        .collect::<Vec<_>>()
                        .join(&SEPARATOR.to_string())
                } else {
                    l.clone()
                };
                match name.strip_suffix(SEPARATOR) {
                    Some(n) => n.to_string(),
                    None => name,
                }
            })
            .collect()
    }

    /// The subscribed mailboxes as API names (UTF-8), deduplicated, in file order; entries
    /// that are not valid names are skipped.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for storage in self.storage_names() {
            let Some(name) = api_name(&storage) else {
                continue;
            };
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// The line for an API name in this file's version.
    fn line_for(&self, name: &MailboxName) -> String {
        let storage = storage_name(name);
        if self.v2 {
            storage
                .split(SEPARATOR)
                .map(tab_escape)
                .collect::<Vec<_>>()
                .join("\t")
        } else {
            storage
        }
    }

    /// Add (`subscribe`) or remove a name; `true` when the content changed.
    pub(crate) fn set(&mut self, name: &MailboxName, subscribe: bool) -> bool {
        let key = name.as_str();
        let matching: Vec<usize> = self
            .storage_names()
            .iter()
            .enumerate()
            .filter(|(_, s)| api_name(s).is_some_and(|n| n == key))
            .map(|(i, _)| i)
            .collect();
        if subscribe {
            if !matching.is_empty() {
                return false;
            }
            let line = self.line_for(name);
            self.lines.push(line);
            true
        } else {
            if matching.is_empty() {
                return false;
            }
            let mut i = 0;
            self.lines.retain(|_| {
                let keep = !matching.contains(&i);
                i += 1;
                keep
            });
            true
        }
    }

    /// Rename the subscriptions of `from` and of its children to `to`; `true` when the content
    /// changed.
    pub(crate) fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> bool {
        let from = from.as_str();
        let child_prefix = format!("{from}{SEPARATOR}");
        let names = self.storage_names();
        let mut changed = false;
        for (i, storage) in names.iter().enumerate() {
            let Some(name) = api_name(storage) else {
                continue;
            };
            let renamed = if name == from {
                to.as_str().to_string()
            } else if let Some(rest) = name.strip_prefix(&child_prefix) {
                format!("{}{SEPARATOR}{rest}", to.as_str())
            } else {
                continue;
            };
            let Ok(parsed) = MailboxName::parse(&renamed) else {
                continue;
            };
            self.lines[i] = self.line_for(&parsed);
            changed = true;
        }
        if changed {
            // A rename onto an already subscribed name leaves one entry.
            let mut seen: Vec<String> = Vec::new();
            let names = self.storage_names();
            let mut i = 0;
            self.lines.retain(|_| {
                let keep = !seen.contains(&names[i]);
                seen.push(names[i].clone());
                i += 1;
                keep
            });
        }
        changed
    }
}

/// The storage name of an API name (modified UTF-7; `INBOX` as is).
fn storage_name(name: &MailboxName) -> String {
    match name {
        MailboxName::Inbox => "INBOX".to_string(),
        MailboxName::Folder(n) => encode_mutf7(n),
    }
}

/// The API name of a storage name, when it is a valid one.
fn api_name(storage: &str) -> Option<String> {
    if storage.eq_ignore_ascii_case("INBOX") {
        return Some("INBOX".to_string());
    }
    let decoded = decode_mutf7(storage).ok()?;
    MailboxName::parse(&decoded)
        .ok()
        .map(|n| n.as_str().to_string())
}

/// Dovecot's `str_append_tabescaped`.
pub(crate) fn tab_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{1}' => out.push_str("\u{1}1"),
            '\t' => out.push_str("\u{1}t"),
            '\r' => out.push_str("\u{1}r"),
            '\n' => out.push_str("\u{1}n"),
            '\0' => out.push_str("\u{1}0"),
            c => out.push(c),
        }
    }
    out
}

/// Dovecot's `str_append_tabunescaped`.
pub(crate) fn tab_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('1') => out.push('\u{1}'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Read the file; a missing file is an empty version-2 file.
pub(crate) fn read(maildir: &Path) -> Result<SubscriptionFile, StoreError> {
    let path = maildir.join(SUBSCRIPTIONS_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(SubscriptionFile::parse(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SubscriptionFile::new()),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// Change the file under its lock: `change` edits the content and says whether it changed;
/// only then is the file rewritten (into the lock file, renamed over the file). Returns what
/// `change` returned.
pub(crate) fn update(
    maildir: &Path,
    fsync: bool,
    change: impl FnOnce(&mut SubscriptionFile) -> bool,
) -> Result<bool, StoreError> {
    let lock = DotLock::acquire(&maildir.join(SUBSCRIPTIONS_LOCK))?;
    let path = maildir.join(SUBSCRIPTIONS_FILE);
    let mut file = match fs::read(&path) {
        Ok(bytes) => SubscriptionFile::parse(&String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => SubscriptionFile::new(),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    if !change(&mut file) {
        return Ok(false); // the lock is removed on drop
    }
    lock.commit_into(file.render().as_bytes(), &path, fsync)?;
    if fsync {
        crate::maildir::layout::fsync_dir(maildir)?;
    }
    Ok(true)
}

impl UserStore {
    /// The subscribed mailbox names (UTF-8, `.`-separated), in the order of the
    /// `subscriptions` file; they need not exist. No file: none.
    pub async fn subscriptions(&self) -> Result<Vec<String>, StoreError> {
        let maildir = self.maildir_path();
        blocking(move || Ok(read(&maildir)?.names())).await
    }

    /// Whether the `subscriptions` file exists (Dovecot creates it at the first subscription;
    /// a user who never logged in has none).
    pub async fn has_subscriptions_file(&self) -> Result<bool, StoreError> {
        let path = self.maildir_path().join(SUBSCRIPTIONS_FILE);
        blocking(move || match fs::metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&path, e)),
        })
        .await
    }

    /// Subscribe (`true`) or unsubscribe these mailboxes, in one rewrite of the file. Names are
    /// validated ([`StoreError::InvalidName`]) but need not exist. Creates the user's Maildir
    /// root when missing. Returns whether the file changed.
    pub async fn set_subscribed(
        &self,
        names: &[&str],
        subscribe: bool,
    ) -> Result<bool, StoreError> {
        let parsed = names
            .iter()
            .map(|n| MailboxName::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || {
            if !maildir.is_dir() {
                crate::maildir::layout::create_parents(&maildir)?;
            }
            update(&maildir, fsync, |file| {
                let mut changed = false;
                for n in &parsed {
                    changed |= file.set(n, subscribe);
                }
                changed
            })
        })
        .await
    }

    /// Move the subscriptions of `from` and its children to `to` (after a RENAME).
    pub async fn rename_subscriptions(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let from = MailboxName::parse(from)?;
        let to = MailboxName::parse(to)?;
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || {
            if !maildir.join(SUBSCRIPTIONS_FILE).exists() {
                return Ok(false);
            }
            update(&maildir, fsync, |file| file.rename(&from, &to))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> MailboxName {
        MailboxName::parse(n).unwrap()
    }

    #[test]
    fn reads_version_2() {
        let f = SubscriptionFile::parse("V\t2\n\nINBOX\nWork\tProjects\n&AMQ-rger\nA\u{1}tB\n");
        assert!(f.v2);
        assert_eq!(
            f.storage_names(),
            vec!["INBOX", "Work.Projects", "&AMQ-rger", "A\tB"]
        );
        // "A<TAB>B" is not a valid mailbox name: kept in the file, not reported.
        assert_eq!(f.names(), vec!["INBOX", "Work.Projects", "Ärger"]);
        assert_eq!(
            f.render(),
            "V\t2\n\nINBOX\nWork\tProjects\n&AMQ-rger\nA\u{1}tB\n"
        );
    }

    #[test]
    fn reads_version_1_with_trailing_separators() {
        let f = SubscriptionFile::parse("INBOX\nSent\nWork.Projects.\n\n&AMQ-rger\nSent\n");
        assert!(!f.v2);
        assert_eq!(f.names(), vec!["INBOX", "Sent", "Work.Projects", "Ärger"]);
    }

    #[test]
    fn writes_version_2_for_a_new_file() {
        let mut f = SubscriptionFile::new();
        assert!(f.set(&name("Sent"), true));
        assert!(f.set(&name("Work.Projects"), true));
        assert!(f.set(&name("Ärger"), true));
        assert!(f.set(&name("inbox"), true));
        assert!(!f.set(&name("Sent"), true));
        assert_eq!(
            f.render(),
            "V\t2\n\nSent\nWork\tProjects\n&AMQ-rger\nINBOX\n"
        );
        assert!(f.set(&name("Work.Projects"), false));
        assert!(!f.set(&name("Nope"), false));
        assert_eq!(f.render(), "V\t2\n\nSent\n&AMQ-rger\nINBOX\n");
        assert!(f.set(&name("Sent"), false));
        assert!(f.set(&name("Ärger"), false));
        assert!(f.set(&name("INBOX"), false));
        assert_eq!(f.render(), "V\t2\n\n");
    }

    #[test]
    fn keeps_version_1_of_an_existing_file() {
        let mut f = SubscriptionFile::parse("Sent\nWork.Projects.\n");
        assert!(f.set(&name("Work.Projects"), false));
        assert!(f.set(&name("Büro.2024"), true));
        assert_eq!(f.render(), "Sent\nB&APw-ro.2024\n");
    }

    #[test]
    fn rename_moves_children() {
        let mut f = SubscriptionFile::parse("V\t2\n\nWork\nWork\tA\nWorkshop\nNew\n");
        assert!(f.rename(&name("Work"), &name("New")));
        assert_eq!(f.render(), "V\t2\n\nNew\nNew\tA\nWorkshop\n");
        assert!(!f.rename(&name("Nothing"), &name("Other")));
    }

    #[test]
    fn tab_escaping_round_trips() {
        for s in ["plain", "a\tb", "\u{1}x\r\n", "\0"] {
            assert_eq!(tab_unescape(&tab_escape(s)), s);
        }
        assert_eq!(tab_escape("a\tb\u{1}"), "a\u{1}tb\u{1}1");
    }

    #[test]
    fn update_is_atomic_and_locked() {
        let t = tempfile::tempdir().unwrap();
        let md = t.path();
        assert!(update(md, false, |f| f.set(&name("Sent"), true)).unwrap());
        assert_eq!(
            fs::read_to_string(md.join(SUBSCRIPTIONS_FILE)).unwrap(),
            "V\t2\n\nSent\n"
        );
        assert!(!md.join(SUBSCRIPTIONS_LOCK).exists());
        // No change: the file is not rewritten and the lock is released.
        assert!(!update(md, false, |f| f.set(&name("Sent"), true)).unwrap());
        assert!(!md.join(SUBSCRIPTIONS_LOCK).exists());
        assert_eq!(read(md).unwrap().names(), vec!["Sent"]);
    }
}
