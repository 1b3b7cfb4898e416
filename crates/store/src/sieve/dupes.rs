//! A user's record of what Sieve has seen: vacation replies sent (RFC 5230 "one reply per
//! sender per period") and the `duplicate` test (RFC 7352). Like Pigeonhole's
//! `~/.dovecot.lda-dupes`, one small file in the user's home: `.mailstack-sieve-dupes`.
//!
//! Format: one line per key, `<expiry as unix seconds> <key in hex>`. Every change rewrites
//! the file under an exclusive `flock` of `.mailstack-sieve-dupes.lock` (several lmtp-mda
//! processes may deliver to one user), as a temporary file fsynced and renamed over the old
//! one: a crash leaves the old or the new file, never a torn one. A damaged line is skipped.
//! Expired entries are dropped on every write; at most [`MAX_DUPLICATE_ENTRIES`] are kept
//! (the soonest to expire go first).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{At, SieveError, fsync_dir, unique_suffix};

/// The file in the user's home.
const FILE: &str = ".mailstack-sieve-dupes";
/// Most entries kept per user.
pub const MAX_DUPLICATE_ENTRIES: usize = 10_000;
/// Longest key kept (longer keys are cut; they are ids and addresses).
const MAX_KEY: usize = 2048;

/// One user's duplicate tracking. Synchronous: call it off the async runtime.
#[derive(Debug, Clone)]
pub struct DuplicateDb {
    path: PathBuf,
    fsync: bool,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hex(key: &str) -> String {
    let bytes = &key.as_bytes()[..key.len().min(MAX_KEY)];
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DuplicateDb {
    /// The tracking of the user whose home is `home`.
    pub fn new(home: &Path, fsync: bool) -> DuplicateDb {
        DuplicateDb {
            path: home.join(FILE),
            fsync,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<HashMap<String, u64>, SieveError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
            Err(e) => return Err(SieveError::io(&self.path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| {
                let (exp, key) = l.split_once(' ')?;
                Some((key.to_string(), exp.parse().ok()?))
            })
            .collect())
    }

    /// Whether `key` was recorded and has not expired at `now`.
    pub fn contains(&self, key: &str, now: SystemTime) -> Result<bool, SieveError> {
        let now = unix(now);
        Ok(self.read()?.get(&hex(key)).is_some_and(|&exp| exp > now))
    }

    /// Record `key` until `now + period` (a later expiry already recorded is kept).
    pub fn record(&self, key: &str, period: Duration, now: SystemTime) -> Result<(), SieveError> {
        let home = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(home).at(home)?;
        let lock_path = self.path.with_extension("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .at(&lock_path)?;
        lock.lock().at(&lock_path)?;
        let now_s = unix(now);
        let mut entries = self.read()?;
        entries.retain(|_, exp| *exp > now_s);
        let exp = now_s.saturating_add(period.as_secs().max(1));
        let e = entries.entry(hex(key)).or_insert(exp);
        *e = (*e).max(exp);
        let mut list: Vec<(String, u64)> = entries.into_iter().collect();
        if list.len() > MAX_DUPLICATE_ENTRIES {
            list.sort_by_key(|(_, exp)| std::cmp::Reverse(*exp));
            list.truncate(MAX_DUPLICATE_ENTRIES);
        }
        let mut text = String::with_capacity(list.len() * 64);
        for (key, exp) in &list {
            text.push_str(&format!("{exp} {key}\n"));
        }
        let tmp = self.path.with_extension(format!("{}.tmp", unique_suffix()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .at(&tmp)?;
            f.write_all(text.as_bytes()).at(&tmp)?;
            if self.fsync {
                f.sync_all().at(&tmp)?;
            }
            fs::rename(&tmp, &self.path).at(&self.path)?;
            if self.fsync {
                fsync_dir(home)?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        drop(lock);
        result
    }
}
