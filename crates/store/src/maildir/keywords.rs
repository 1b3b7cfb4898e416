//! `dovecot-keywords`: the per-folder table mapping Maildir letters `a`–`z`
//! to IMAP keywords. Format: one `<index> <name>` line per keyword, index 0
//! is letter `a`.

use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, StoreError};

/// File name of the keyword table inside a folder directory.
pub(crate) const KEYWORDS_FILE: &str = "dovecot-keywords";

/// Number of keyword letters available (`a`–`z`).
pub(crate) const MAX_KEYWORDS: usize = 26;

/// The keyword table of one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Keywords {
    slots: Vec<Option<String>>,
}

impl Keywords {
    /// A table with `names` at indexes 0, 1, ...
    #[cfg(test)]
    pub(crate) fn from_names(names: &[&str]) -> Keywords {
        Keywords {
            slots: names.iter().map(|n| Some(n.to_string())).collect(),
        }
    }

    /// Parse the file content. Malformed lines and indexes ≥ 26 are skipped.
    pub(crate) fn parse(content: &str) -> Keywords {
        let mut slots: Vec<Option<String>> = Vec::new();
        for line in content.lines() {
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            let Ok(idx) = idx.trim().parse::<usize>() else {
                continue;
            };
            let name = name.trim();
            if idx >= MAX_KEYWORDS || name.is_empty() {
                continue;
            }
            if slots.len() <= idx {
                slots.resize(idx + 1, None);
            }
            slots[idx] = Some(name.to_string());
        }
        Keywords { slots }
    }

    /// Read `dir/dovecot-keywords`; a missing file is an empty table.
    pub(crate) fn load(dir: &Path) -> Result<Keywords, StoreError> {
        let path = dir.join(KEYWORDS_FILE);
        match std::fs::read(&path) {
            Ok(b) => Ok(Keywords::parse(&String::from_utf8_lossy(&b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keywords::default()),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// The keyword at `idx`.
    pub(crate) fn name(&self, idx: usize) -> Option<&str> {
        self.slots.get(idx).and_then(|s| s.as_deref())
    }

    /// The index of `name` (keywords are case-insensitive in IMAP).
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Give `name` a letter if it has none and one is free. Returns `true`
    /// when the table changed.
    pub(crate) fn add(&mut self, name: &str) -> bool {
        if self.index(name).is_some() {
            return false;
        }
        if let Some(free) = self.slots.iter().position(Option::is_none) {
            self.slots[free] = Some(name.to_string());
            return true;
        }
        if self.slots.len() < MAX_KEYWORDS {
            self.slots.push(Some(name.to_string()));
            return true;
        }
        false
    }

    /// Serialize in Dovecot's format.
    pub(crate) fn to_file_content(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(n) = s {
                out.push_str(&format!("{i} {n}\n"));
            }
        }
        out
    }

    /// Write `dir/dovecot-keywords` atomically (tmp file + rename).
    pub(crate) fn store(&self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(KEYWORDS_FILE);
        let tmp = dir.join(format!(
            "{KEYWORDS_FILE}.tmp.{}",
            crate::maildir::filename::unique_base()
        ));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp).at(&tmp)?;
            f.write_all(self.to_file_content().as_bytes()).at(&tmp)?;
            f.sync_all().at(&tmp)?;
            std::fs::rename(&tmp, &path).at(&path)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_serialize() {
        let k = Keywords::parse("0 $Forwarded\n1 Work\nbad line\n30 TooFar\n3 Later\n");
        assert_eq!(k.name(0), Some("$Forwarded"));
        assert_eq!(k.name(1), Some("Work"));
        assert_eq!(k.name(2), None);
        assert_eq!(k.name(3), Some("Later"));
        assert_eq!(k.index("work"), Some(1));
        assert_eq!(k.to_file_content(), "0 $Forwarded\n1 Work\n3 Later\n");
    }

    #[test]
    fn add_fills_gaps_and_limits() {
        let mut k = Keywords::parse("0 A\n2 C\n");
        assert!(k.add("B"));
        assert_eq!(k.index("B"), Some(1));
        assert!(!k.add("b"));
        for i in 0..30 {
            k.add(&format!("k{i}"));
        }
        assert_eq!(k.slots.len(), MAX_KEYWORDS);
        assert!(!k.add("overflow"));
    }
}
