//! Maildir++ quota: the `maildirsize` file in the user's Maildir root.
//!
//! First line: the limits, `<bytes>S,<count>C` (either part may be
//! missing). Every following line is a delta `<bytes> <count>` (negative on
//! expunge); the usage is their sum. The file is recalculated by scanning
//! every folder (Trash included, as Dovecot does) when it is missing, when
//! it grew past 5120 bytes, when a line is malformed, or when the caller's
//! limits differ from the header. Deltas are appended with `O_APPEND` in one
//! `write(2)`, so concurrent writers do not interleave lines.
//!
//! Limits come from the caller (the directory). A limit of 0 means "no
//! limit", as in Maildir++ and Dovecot. Without any limit the file is not
//! created, but an existing file is still kept up to date.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::error::{IoContext, StoreError};
use crate::maildir::{filename, layout};

/// File name of the quota file in the Maildir root.
pub(crate) const MAILDIRSIZE: &str = "maildirsize";

/// Recalculate when the file is at least this large (Maildir++ spec).
const RECALC_SIZE: u64 = 5120;

/// A user's quota limits, as returned by the directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Maximum total size in bytes of all messages (`None` or 0: no limit).
    pub bytes: Option<u64>,
    /// Maximum number of messages (`None` or 0: no limit).
    pub messages: Option<u64>,
}

impl Quota {
    /// No limits.
    pub const UNLIMITED: Quota = Quota {
        bytes: None,
        messages: None,
    };

    fn bytes_limit(&self) -> Option<u64> {
        self.bytes.filter(|&b| b > 0)
    }

    fn messages_limit(&self) -> Option<u64> {
        self.messages.filter(|&m| m > 0)
    }

    fn is_limited(&self) -> bool {
        self.bytes_limit().is_some() || self.messages_limit().is_some()
    }

    /// The `maildirsize` header line for these limits (without newline).
    pub(crate) fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes_limit() {
            parts.push(format!("{b}S"));
        }
        if let Some(c) = self.messages_limit() {
            parts.push(format!("{c}C"));
        }
        if parts.is_empty() {
            "0S".to_string()
        } else {
            parts.join(",")
        }
    }
}

/// The parsed content of a `maildirsize` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaildirSize {
    /// Limits from the header.
    pub(crate) limits: Quota,
    /// Sum of the byte deltas.
    pub(crate) bytes: i64,
    /// Sum of the message deltas.
    pub(crate) messages: i64,
}

/// Parse the header line (`<bytes>S,<count>C`).
fn parse_limits(header: &str) -> Option<Quota> {
    let mut limits = Quota::default();
    for part in header
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (num, kind) = part.split_at(part.len() - 1);
        let n: u64 = num.parse().ok()?;
        match kind {
            "S" => limits.bytes = Some(n),
            "C" => limits.messages = Some(n),
            _ => return None,
        }
    }
    Some(limits)
}

/// Parse `maildirsize`; `None` when any line is malformed.
pub(crate) fn parse(content: &str) -> Option<MaildirSize> {
    let mut lines = content.split('\n');
    let limits = parse_limits(lines.next()?)?;
    let (mut bytes, mut messages) = (0i64, 0i64);
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut f = line.split_ascii_whitespace();
        let b: i64 = f.next()?.parse().ok()?;
        let c: i64 = f.next()?.parse().ok()?;
        if f.next().is_some() {
            return None;
        }
        bytes = bytes.checked_add(b)?;
        messages = messages.checked_add(c)?;
    }
    Some(MaildirSize {
        limits,
        bytes,
        messages,
    })
}

/// Sum the sizes (`S=` or the file size) and count of every message in
/// every folder of `maildir`.
pub(crate) fn scan_usage(maildir: &Path) -> Result<(u64, u64), StoreError> {
    let mut dirs = vec![maildir.to_path_buf()];
    for (_, dir) in layout::list_folders(maildir)? {
        dirs.push(maildir.join(dir));
    }
    let (mut bytes, mut count) = (0u64, 0u64);
    for dir in dirs {
        for sub in ["new", "cur"] {
            let d = dir.join(sub);
            let rd = match fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&d, e)),
            };
            for entry in rd {
                let entry = entry.at(&d)?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let size = match filename::parse(&name).size {
                    Some(s) => s,
                    None => match entry.metadata() {
                        Ok(m) => m.len(),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(StoreError::io(entry.path(), e)),
                    },
                };
                bytes += size;
                count += 1;
            }
        }
    }
    Ok((bytes, count))
}

/// Write a fresh `maildirsize` (tmp file in `tmp/`, then rename).
fn write_fresh(maildir: &Path, limits: &Quota, usage: (u64, u64)) -> Result<(), StoreError> {
    let tmp = maildir
        .join("tmp")
        .join(format!("{}.maildirsize", filename::unique_base()));
    let target = maildir.join(MAILDIRSIZE);
    let content = format!("{}\n{} {}\n", limits.header(), usage.0, usage.1);
    let res = (|| {
        let mut f = fs::File::create(&tmp).at(&tmp)?;
        f.write_all(content.as_bytes()).at(&tmp)?;
        fs::rename(&tmp, &target).at(&target)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Current usage `(bytes, messages)`. With `limits` that set any limit, a
/// missing, oversized, malformed or outdated file is recalculated and
/// rewritten; without limits an existing file is still recalculated when
/// needed but a missing one is not created.
pub(crate) fn usage(maildir: &Path, limits: &Quota) -> Result<(u64, u64), StoreError> {
    let path = maildir.join(MAILDIRSIZE);
    let (content, len) = match fs::read(&path) {
        Ok(b) => {
            let len = b.len() as u64;
            (Some(String::from_utf8_lossy(&b).into_owned()), len)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, 0),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let parsed = content.as_deref().and_then(parse);
    if let Some(p) = &parsed {
        let limits_match = !limits.is_limited()
            || (p.limits.bytes_limit() == limits.bytes_limit()
                && p.limits.messages_limit() == limits.messages_limit());
        if len < RECALC_SIZE && limits_match && p.bytes >= 0 && p.messages >= 0 {
            return Ok((p.bytes as u64, p.messages as u64));
        }
    }
    let usage = scan_usage(maildir)?;
    if limits.is_limited() {
        write_fresh(maildir, limits, usage)?;
    } else if let Some(l) = content
        .as_deref()
        .and_then(|c| c.split('\n').next())
        .and_then(parse_limits)
    {
        write_fresh(maildir, &l, usage)?;
    } else if content.is_some() {
        // Malformed file and no limits to rewrite it with: drop it, the next
        // delivery with limits recreates it.
        let _ = fs::remove_file(&path);
    }
    Ok(usage)
}

/// Refuse a message of `size` bytes when it would exceed `limits`.
pub(crate) fn check(maildir: &Path, limits: &Quota, size: u64) -> Result<(), StoreError> {
    check_many(maildir, limits, size, 1)
}

/// Refuse `count` messages of `size` bytes in total when they would exceed
/// `limits`.
pub(crate) fn check_many(
    maildir: &Path,
    limits: &Quota,
    size: u64,
    count: u64,
) -> Result<(), StoreError> {
    if !limits.is_limited() {
        return Ok(());
    }
    let (bytes, messages) = usage(maildir, limits)?;
    let over_bytes = limits.bytes_limit().is_some_and(|l| bytes + size > l);
    let over_count = limits
        .messages_limit()
        .is_some_and(|l| messages + count > l);
    if over_bytes || over_count {
        return Err(StoreError::QuotaExceeded {
            used_bytes: bytes,
            used_messages: messages,
            needed_bytes: size,
            limit_bytes: limits.bytes_limit(),
            limit_messages: limits.messages_limit(),
        });
    }
    Ok(())
}

/// Recalculate an existing `maildirsize` from disk, keeping its limits
/// (after a folder was deleted).
pub(crate) fn recalculate(maildir: &Path) -> Result<(), StoreError> {
    let path = maildir.join(MAILDIRSIZE);
    let content = match fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let limits = parse_limits(content.split('\n').next().unwrap_or("")).unwrap_or_default();
    let usage = scan_usage(maildir)?;
    write_fresh(maildir, &limits, usage)
}

/// Append a `<bytes> <count>` delta line when `maildirsize` exists.
pub(crate) fn add_delta(maildir: &Path, bytes: i64, count: i64) -> Result<(), StoreError> {
    if bytes == 0 && count == 0 {
        return Ok(());
    }
    let path = maildir.join(MAILDIRSIZE);
    let mut f = match fs::OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    f.write_all(format!("{bytes} {count}\n").as_bytes())
        .at(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_dovecot_format() {
        let p = parse("1000000S,1000C\n1234 3\n  -100   -1\n50 1\n").unwrap();
        assert_eq!(p.limits.bytes, Some(1_000_000));
        assert_eq!(p.limits.messages, Some(1000));
        assert_eq!((p.bytes, p.messages), (1184, 3));
        let p = parse("500S\n10 1").unwrap();
        assert_eq!(p.limits.messages, None);
        assert_eq!((p.bytes, p.messages), (10, 1));
        let p = parse("\n").unwrap();
        assert_eq!(p.limits, Quota::default());
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!(parse("100X\n").is_none());
        assert!(parse("100S\n12\n").is_none());
        assert!(parse("100S\n12 a\n").is_none());
        assert!(parse("100S\n1 2 3\n").is_none());
        assert!(parse("S\n").is_none());
    }

    #[test]
    fn headers() {
        let q = Quota {
            bytes: Some(100),
            messages: Some(5),
        };
        assert_eq!(q.header(), "100S,5C");
        assert_eq!(
            Quota {
                bytes: None,
                messages: Some(5)
            }
            .header(),
            "5C"
        );
    }

    #[test]
    fn recalc_and_delta() {
        let t = tempfile::tempdir().unwrap();
        let md = t.path();
        layout::create_maildir(md, false, false).unwrap();
        fs::write(md.join("cur/1.M1P1Q1.h,S=100,W=104:2,S"), b"x").unwrap();
        fs::write(md.join("new/2.M1P1Q1.h"), b"12345").unwrap();
        let q = Quota {
            bytes: Some(1000),
            messages: None,
        };
        assert_eq!(usage(md, &q).unwrap(), (105, 2));
        assert_eq!(
            fs::read_to_string(md.join(MAILDIRSIZE)).unwrap(),
            "1000S\n105 2\n"
        );
        add_delta(md, 10, 1).unwrap();
        assert_eq!(usage(md, &q).unwrap(), (115, 3));
        assert!(check(md, &q, 885).is_ok());
        assert!(matches!(
            check(md, &q, 886),
            Err(StoreError::QuotaExceeded { .. })
        ));
        // Limits changed: recalculated from disk, header rewritten.
        let q2 = Quota {
            bytes: Some(2000),
            messages: Some(10),
        };
        assert_eq!(usage(md, &q2).unwrap(), (105, 2));
        assert!(
            fs::read_to_string(md.join(MAILDIRSIZE))
                .unwrap()
                .starts_with("2000S,10C\n")
        );
    }
}
