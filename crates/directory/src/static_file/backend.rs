//! [`StaticDirectory`]: the [`Directory`] over a users file, reloaded when the file changes.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::format::UsersFile;
use crate::password::{DUMMY_HASH, verify_password_async};
use crate::{AuthOutcome, Directory, DirectoryError, Entry, User, normalize_address};

/// How often, at most, [`StaticDirectory`] checks whether the file changed (default).
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The static backend: a users file held in memory.
///
/// Every call first checks, at most once per reload interval (1 s by default), whether the
/// file's inode, size, mtime or ctime changed (one `stat`), and if so reads it again. So
/// `mailctl user add` takes effect on running services within a second, without restart. A
/// reload that fails (missing or unreadable file, bad edit) is logged once at `error` level and
/// the last good version keeps serving until the file is fixed. The check runs on the calling
/// task: one `stat`, plus a read and parse of a small file when it changed.
///
/// - `lookup`: a user's canonical address and each address in its `aliases` list →
///   [`Entry::User`]; `[[alias]]` → [`Entry::Alias`]; `[[group]]` → [`Entry::Group`].
///   Case-insensitive ([`normalize_address`]). Disabled users are still returned (they receive
///   mail; they cannot log in).
/// - `authenticate`: the login is the canonical address (case-insensitive), not an alias. An
///   unknown, malformed or disabled login is checked against a dummy hash of the same cost
///   before [`AuthOutcome::Rejected`], so timing does not reveal which logins exist. argon2
///   runs on the password verifier threads.
pub struct StaticDirectory {
    path: PathBuf,
    delimiters: String,
    reload_interval: Duration,
    state: Mutex<State>,
}

struct State {
    snapshot: Arc<Snapshot>,
    /// The file version `snapshot` (or the last failed reload) came from.
    stamp: Option<Stamp>,
    checked: Instant,
    /// The last reload error logged, so a broken file is reported once, not every second.
    last_error: Option<String>,
}

/// What identifies a version of the file cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The file, indexed for lookups.
#[derive(Debug, Default)]
struct Snapshot {
    /// Every defined address (normalised) → what it is.
    entries: HashMap<String, Entry>,
    /// Canonical user address → login data.
    logins: HashMap<String, Login>,
    /// Local domain (lower-case) → its catch-all target.
    domains: HashMap<String, Option<String>>,
}

#[derive(Debug)]
struct Login {
    user: User,
    phc: String,
    disabled: bool,
}

impl Snapshot {
    /// Index a validated file. Addresses that fail to normalise cannot occur after validation;
    /// they are skipped rather than trusted.
    fn build(file: &UsersFile) -> Snapshot {
        let mut s = Snapshot::default();
        for d in file.domains() {
            let catch_all = d
                .catch_all
                .as_deref()
                .and_then(|c| normalize_address(c).ok());
            s.domains.insert(d.name.trim().to_lowercase(), catch_all);
        }
        for u in file.users() {
            let Ok(address) = normalize_address(&u.address) else {
                continue;
            };
            let aliases: Vec<String> = u
                .aliases
                .iter()
                .filter_map(|a| normalize_address(a).ok())
                .collect();
            let user = User {
                address: address.clone(),
                uid: None,
                aliases: aliases.clone(),
                quota_bytes: u.quota.map(|q| q.0),
                quota_messages: u.quota_messages,
                host: None,
            };
            for a in aliases {
                s.entries.insert(a, Entry::User(user.clone()));
            }
            s.entries.insert(address.clone(), Entry::User(user.clone()));
            s.logins.insert(
                address,
                Login {
                    user,
                    phc: u.password.clone(),
                    disabled: u.disabled,
                },
            );
        }
        for a in file.aliases() {
            let Ok(address) = normalize_address(&a.address) else {
                continue;
            };
            s.entries
                .insert(address, Entry::Alias(normalize_list(&a.targets)));
        }
        for g in file.groups() {
            let Ok(address) = normalize_address(&g.address) else {
                continue;
            };
            s.entries
                .insert(address, Entry::Group(normalize_list(&g.members)));
        }
        s
    }
}

/// Targets as written (trimmed): [`expand`](crate::expand()) normalises local ones, and remote
/// local parts keep their case.
fn normalize_list(list: &[String]) -> Vec<String> {
    list.iter().map(|t| t.trim().to_string()).collect()
}

/// Read the file through one descriptor, so the stamp belongs to the text read.
fn read_file(path: &Path) -> Result<(UsersFile, Stamp), DirectoryError> {
    let unavailable = |e: std::io::Error| {
        DirectoryError::Unavailable(format!("cannot read {}: {e}", path.display()))
    };
    let mut f = File::open(path).map_err(unavailable)?;
    let stamp = Stamp::of(&f.metadata().map_err(unavailable)?);
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(unavailable)?;
    let file = UsersFile::parse(&text, &path.display().to_string())?;
    Ok((file, stamp))
}

impl StaticDirectory {
    /// Load the users file at `path`. `subaddress_delimiters` lists the characters that start a
    /// subaddress (`"+"` usually; empty turns subaddressing off). Fails if the file cannot be
    /// read or is invalid.
    pub fn open(path: PathBuf, subaddress_delimiters: String) -> Result<Self, DirectoryError> {
        let (file, stamp) = read_file(&path)?;
        Ok(StaticDirectory {
            path,
            delimiters: subaddress_delimiters,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            state: Mutex::new(State {
                snapshot: Arc::new(Snapshot::build(&file)),
                stamp: Some(stamp),
                checked: Instant::now(),
                last_error: None,
            }),
        })
    }

    /// Check for changes at most once per `interval` instead of once per second
    /// ([`Duration::ZERO`]: on every call).
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// The users file this directory serves.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Check the file now (for SIGHUP or `mailctl directory test`). `Ok(true)` if a new
    /// version was loaded, `Ok(false)` if the file did not change since the last check, an
    /// error if the file is missing, unreadable or invalid (the last good version keeps
    /// serving; an invalid version is reported once, then counts as checked).
    pub fn reload(&self) -> Result<bool, DirectoryError> {
        let mut state = self.lock_state();
        state.checked = Instant::now();
        self.check(&mut state)
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent state (fields are replaced
        // whole), so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, state: &mut State) -> Result<bool, DirectoryError> {
        let now = std::fs::metadata(&self.path)
            .map(|m| Stamp::of(&m))
            .map_err(|e| {
                DirectoryError::Unavailable(format!("cannot stat {}: {e}", self.path.display()))
            })?;
        if state.stamp == Some(now) {
            return Ok(false);
        }
        match read_file(&self.path) {
            Ok((file, stamp)) => {
                state.snapshot = Arc::new(Snapshot::build(&file));
                state.stamp = Some(stamp);
                state.last_error = None;
                tracing::info!(path = %self.path.display(), "users file reloaded");
                Ok(true)
            }
            Err(e) => {
                // Remember the bad version so it is not parsed again every second.
                state.stamp = Some(now);
                Err(e)
            }
        }
    }

    /// The current snapshot, after a change check if one is due.
    fn snapshot(&self) -> Arc<Snapshot> {
        let mut state = self.lock_state();
        if state.checked.elapsed() >= self.reload_interval {
            state.checked = Instant::now();
            if let Err(e) = self.check(&mut state) {
                let msg = e.to_string();
                if state.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        path = %self.path.display(),
                        error = %msg,
                        "users file reload failed; still serving the last good version"
                    );
                    state.last_error = Some(msg);
                }
            }
        }
        Arc::clone(&state.snapshot)
    }
}

#[async_trait]
impl Directory for StaticDirectory {
    async fn lookup(&self, address: &str) -> Result<Option<Entry>, DirectoryError> {
        let key = normalize_address(address)?;
        Ok(self.snapshot().entries.get(&key).cloned())
    }

    async fn is_local_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
        Ok(self
            .snapshot()
            .domains
            .contains_key(&domain.trim().to_lowercase()))
    }

    async fn catch_all(&self, domain: &str) -> Result<Option<String>, DirectoryError> {
        Ok(self
            .snapshot()
            .domains
            .get(&domain.trim().to_lowercase())
            .cloned()
            .flatten())
    }

    fn subaddress_delimiters(&self) -> &str {
        &self.delimiters
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<AuthOutcome, DirectoryError> {
        let snapshot = self.snapshot();
        let found = normalize_address(login)
            .ok()
            .and_then(|key| snapshot.logins.get(&key))
            .filter(|l| !l.disabled);
        let (phc, user) = match found {
            Some(l) => (l.phc.clone(), Some(l.user.clone())),
            None => (DUMMY_HASH.to_string(), None),
        };
        let matched = verify_password_async(phc, password.to_string()).await?;
        Ok(match user {
            Some(user) if matched => AuthOutcome::Accepted(user),
            _ => AuthOutcome::Rejected,
        })
    }

    fn describe(&self) -> String {
        format!("static:{}", self.path.display())
    }
}
