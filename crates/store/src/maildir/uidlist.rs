//! `dovecot-uidlist`: Dovecot's per-folder UID table, kept up to date so a
//! Maildir written by mailstack can be handed back to Dovecot with its UIDs,
//! and read when our index has to be rebuilt.
//!
//! Version 3: header `3 V<uidvalidity> N<nextuid> G<guid>`, then one
//! `<uid> [<ext fields>] :<basename>` line per message in UID order.
//! Version 1: header `1 <uidvalidity> <nextuid>`, lines `<uid> <basename>`.
//!
//! Writers hold `dovecot-uidlist.lock` (see [`crate::maildir::lock`]): new
//! UIDs are appended; a full rewrite goes into the lock file which is then
//! renamed over `dovecot-uidlist`, exactly as Dovecot does.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, StoreError};
use crate::maildir::lock::DotLock;

/// File name of the UID list inside a folder directory.
pub(crate) const UIDLIST_FILE: &str = "dovecot-uidlist";
/// Its lock file.
pub(crate) const UIDLIST_LOCK: &str = "dovecot-uidlist.lock";

/// A parsed `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UidList {
    /// UIDVALIDITY of the folder.
    pub(crate) uidvalidity: u32,
    /// The next UID to assign (at least one more than the highest listed).
    pub(crate) next_uid: u32,
    /// The mailbox GUID (hex) when the file has one.
    pub(crate) guid: Option<String>,
    /// `(uid, basename)` in file order.
    pub(crate) entries: Vec<(u32, String)>,
}

/// Strip the `:2,...` info part from a file name.
fn strip_info(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

impl UidList {
    /// Parse the file content; `None` when the header is unusable.
    /// Malformed record lines are skipped.
    pub(crate) fn parse(content: &str) -> Option<UidList> {
        let mut lines = content.lines();
        let header = lines.next()?;
        let mut fields = header.split_ascii_whitespace();
        let version = fields.next()?;
        let (uidvalidity, mut next_uid, guid) = match version {
            "1" => {
                let v: u32 = fields.next()?.parse().ok()?;
                let n: u32 = fields.next()?.parse().ok()?;
                (v, n, None)
            }
            "3" => {
                let (mut v, mut n, mut g) = (None, None, None);
                for f in fields {
                    let (key, val) = f.split_at(f.chars().next()?.len_utf8());
                    match key {
                        "V" => v = val.parse::<u32>().ok(),
                        "N" => n = val.parse::<u32>().ok(),
                        "G" => g = Some(val.to_string()),
                        _ => {}
                    }
                }
                (v?, n.unwrap_or(1), g)
            }
            _ => return None,
        };
        if uidvalidity == 0 {
            return None;
        }
        let mut entries = Vec::new();
        for line in lines {
            let line = line.trim_end();
            let Some((uid, rest)) = line.split_once(' ') else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                continue;
            };
            if uid == 0 {
                continue;
            }
            let name = if version == "1" {
                rest.trim()
            } else if let Some(p) = rest.find(':') {
                // `:` starts the file name; ext fields come before it.
                // Fields never contain ':' themselves.
                if rest[..p].is_empty() || rest[..p].ends_with(' ') {
                    &rest[p + 1..]
                } else {
                    rest.split_ascii_whitespace().last().unwrap_or("")
                }
            } else {
                rest.split_ascii_whitespace().last().unwrap_or("")
            };
            let name = strip_info(name.trim());
            if name.is_empty() || name.contains('/') {
                continue;
            }
            entries.push((uid, name.to_string()));
        }
        if let Some(max) = entries.iter().map(|e| e.0).max() {
            next_uid = next_uid.max(max.saturating_add(1));
        }
        Some(UidList {
            uidvalidity,
            next_uid: next_uid.max(1),
            guid,
            entries,
        })
    }

    /// Read `dir/dovecot-uidlist`; `Ok(None)` when missing or unusable.
    pub(crate) fn load(dir: &Path) -> Result<Option<UidList>, StoreError> {
        let path = dir.join(UIDLIST_FILE);
        match fs::read(&path) {
            Ok(b) => {
                let parsed = UidList::parse(&String::from_utf8_lossy(&b));
                if parsed.is_none() {
                    tracing::warn!(path = %path.display(), "ignoring unparsable dovecot-uidlist");
                }
                Ok(parsed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Serialize as version 3.
    pub(crate) fn to_v3(&self) -> String {
        let mut out = format!("3 V{} N{}", self.uidvalidity, self.next_uid);
        if let Some(g) = &self.guid {
            out.push_str(&format!(" G{g}"));
        }
        out.push('\n');
        for (uid, name) in &self.entries {
            out.push_str(&record(*uid, name));
        }
        out
    }
}

/// The highest UID recorded in `dir/dovecot-uidlist`, read from the end of the file (records
/// are appended in UID order), or `N - 1` from the header when the file has no records.
/// `Ok(None)` when there is no file. Cheap: reads at most the last 8 KiB.
pub(crate) fn last_uid(dir: &Path) -> Result<Option<u32>, StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let path = dir.join(UIDLIST_FILE);
    let mut file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let len = file.metadata().at(&path)?.len();
    let start = len.saturating_sub(8192);
    file.seek(SeekFrom::Start(start)).at(&path)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).at(&path)?;
    let text = String::from_utf8_lossy(&tail);
    let mut lines: Vec<&str> = text.lines().collect();
    let header = if start == 0 && !lines.is_empty() {
        Some(lines.remove(0))
    } else {
        // The first line may be cut in the middle.
        if !lines.is_empty() {
            lines.remove(0);
        }
        None
    };
    let record_uid = |line: &str| -> Option<u32> {
        let (uid, rest) = line.split_once(' ')?;
        rest.contains(':').then_some(())?;
        uid.parse().ok()
    };
    if let Some(uid) = lines.iter().rev().find_map(|l| record_uid(l)) {
        return Ok(Some(uid));
    }
    Ok(header
        .and_then(|h| {
            h.split_whitespace()
                .find_map(|t| t.strip_prefix('N')?.parse::<u32>().ok())
        })
        .map(|n| n.saturating_sub(1)))
}

fn record(uid: u32, basename: &str) -> String {
    format!("{uid} :{basename}\n")
}

/// Take `dir/dovecot-uidlist.lock`. Every writer of a folder's index takes it *before* its
/// SQLite transaction and keeps it until the uidlist is updated, so the index and the uidlist
/// change together and in one order.
pub(crate) fn lock(dir: &Path) -> Result<DotLock, StoreError> {
    DotLock::acquire(&dir.join(UIDLIST_LOCK))
}

/// Replace `dir/dovecot-uidlist` with `list`, releasing `lock`.
pub(crate) fn rewrite(
    lock: DotLock,
    dir: &Path,
    list: &UidList,
    fsync: bool,
) -> Result<(), StoreError> {
    lock.commit_into(list.to_v3().as_bytes(), &dir.join(UIDLIST_FILE), fsync)
}

/// Append records for newly assigned UIDs (under the lock). When the file
/// does not exist, `full()` is called to produce a complete list instead.
pub(crate) fn append(
    lock: DotLock,
    dir: &Path,
    records: &[(u32, String)],
    fsync: bool,
    full: impl FnOnce() -> UidList,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let path = dir.join(UIDLIST_FILE);
    let mut file = match fs::OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return lock.commit_into(full().to_v3().as_bytes(), &path, fsync);
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let text: String = records.iter().map(|(u, n)| record(*u, n)).collect();
    file.write_all(text.as_bytes()).at(&path)?;
    if fsync {
        file.sync_data().at(&path)?;
    }
    drop(lock);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_uid_reads_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_uid(dir.path()).unwrap(), None);
        fs::write(dir.path().join(UIDLIST_FILE), "3 V1 N5 Gabc\n").unwrap();
        assert_eq!(last_uid(dir.path()).unwrap(), Some(4));
        let mut big = String::from("3 V1 N2 Gabc\n");
        for uid in 1..2000u32 {
            big.push_str(&format!("{uid} :1700000000.M{uid}P1Q1.host,S=10,W=12\n"));
        }
        fs::write(dir.path().join(UIDLIST_FILE), big).unwrap();
        assert_eq!(last_uid(dir.path()).unwrap(), Some(1999));
    }

    #[test]
    fn parse_v3() {
        let content = "3 V1700000000 N12 G0123456789abcdef0123456789abcdef\n\
                       1 :1700000001.M1P1Q1.host,S=10,W=12\n\
                       4 W120 S118 :1700000002.M1P1Q2.host\n\
                       7 GXYZ :1700000003.M1P1Q3.host:2,S\n\
                       garbage\n\
                       x :bad\n";
        let l = UidList::parse(content).unwrap();
        assert_eq!(l.uidvalidity, 1_700_000_000);
        assert_eq!(l.next_uid, 12);
        assert_eq!(l.guid.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            l.entries,
            vec![
                (1, "1700000001.M1P1Q1.host,S=10,W=12".to_string()),
                (4, "1700000002.M1P1Q2.host".to_string()),
                (7, "1700000003.M1P1Q3.host".to_string()),
            ]
        );
        let again = UidList::parse(&l.to_v3()).unwrap();
        assert_eq!(again, l);
    }

    #[test]
    fn parse_v1_and_next_uid_fixup() {
        let l = UidList::parse("1 1234 3\n1 a.host\n5 b.host:2,RS\n").unwrap();
        assert_eq!(l.uidvalidity, 1234);
        assert_eq!(l.next_uid, 6);
        assert_eq!(l.entries[1], (5, "b.host".to_string()));
    }

    #[test]
    fn refuse_bad_headers() {
        assert!(UidList::parse("").is_none());
        assert!(UidList::parse("2 V1 N1\n").is_none());
        assert!(UidList::parse("3 N5\n").is_none());
        assert!(UidList::parse("3 V0 N5\n").is_none());
        assert!(UidList::parse("1 abc 5\n").is_none());
    }

    #[test]
    fn append_and_rewrite() {
        let t = tempfile::tempdir().unwrap();
        let full = || UidList {
            uidvalidity: 99,
            next_uid: 2,
            guid: None,
            entries: vec![(1, "a".into())],
        };
        append(
            lock(t.path()).unwrap(),
            t.path(),
            &[(1, "a".into())],
            true,
            full,
        )
        .unwrap();
        append(
            lock(t.path()).unwrap(),
            t.path(),
            &[(2, "b".into())],
            false,
            full,
        )
        .unwrap();
        let l = UidList::load(t.path()).unwrap().unwrap();
        assert_eq!(l.entries, vec![(1, "a".into()), (2, "b".into())]);
        assert_eq!(l.next_uid, 3);
        rewrite(lock(t.path()).unwrap(), t.path(), &full(), true).unwrap();
        assert_eq!(
            fs::read_to_string(t.path().join(UIDLIST_FILE)).unwrap(),
            "3 V99 N2\n1 :a\n"
        );
        assert!(!t.path().join(UIDLIST_LOCK).exists());
    }
}
