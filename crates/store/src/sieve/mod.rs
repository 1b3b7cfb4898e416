//! A user's Sieve scripts in Dovecot Pigeonhole's file layout, so that a Dovecot migration keeps
//! them both ways:
//!
//! ```text
//!  <root>/<domain>/<user>/            the user's home
//!      Maildir/                       the mail (see crate docs)
//!      sieve/<name>.sieve             one file per script (ManageSieve PUTSCRIPT)
//!      sieve/tmp/                     uploads in progress (tmp + fsync + rename)
//!      .dovecot.sieve -> sieve/<name>.sieve    the active script: a relative symlink
//!      .mailstack-sieve-dupes         vacation / duplicate tracking (see [`DuplicateDb`])
//! ```
//!
//! This is what Pigeonhole's default `sieve = file:~/sieve;active=~/.dovecot.sieve` makes:
//! ManageSieve's SETACTIVE replaces the symlink atomically (a new link under a temporary name
//! renamed over the old one); a `.dovecot.sieve` that is a regular file (left by old
//! installations or written by hand) still runs at delivery, and is copied to
//! `sieve/dovecot.orig.sieve` before a SETACTIVE replaces it, as Pigeonhole's
//! `sieve_file_storage_active_rescue_regular` does. Files Pigeonhole leaves next to the scripts
//! (compiled `*.svbin`, `tmp/`) are ignored.
//!
//! Script names (RFC 5804 §1.6): UTF-8, 1 to [`MAX_NAME_CHARS`] characters, no control
//! characters (U+0000–U+001F, U+007F–U+009F), no U+2028/U+2029, and, because a name is a file
//! name here, no `/` and no leading `.`.
//!
//! Writes are atomic and durable: a script is written to `sieve/tmp/`, fsynced, renamed into
//! place, and the directory fsynced (unless fsync is off for the store). Limits per user
//! ([`SieveQuota`]): number of scripts, size of one script, total size.

mod dupes;

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use dupes::{DuplicateDb, MAX_DUPLICATE_ENTRIES};

/// The active-script symlink in the user's home (Pigeonhole's default).
pub const ACTIVE_LINK: &str = ".dovecot.sieve";
/// The script directory in the user's home.
pub const SCRIPT_DIR: &str = "sieve";
/// The file name extension of a script.
pub const SCRIPT_EXT: &str = ".sieve";
/// Longest script name in characters (RFC 5804 asks servers to take at least 128).
pub const MAX_NAME_CHARS: usize = 256;
/// Longest script name in bytes (the file name must fit in 255 bytes with `.sieve`).
const MAX_NAME_BYTES: usize = 240;
/// Name under which a regular-file `.dovecot.sieve` is kept before it is replaced.
const RESCUED_NAME: &str = "dovecot.orig";

/// Limits on one user's scripts; `0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SieveQuota {
    /// Most scripts.
    pub max_scripts: u64,
    /// Largest script in bytes.
    pub max_script_size: u64,
    /// Most bytes of all scripts together.
    pub max_storage: u64,
}

/// Which limit of [`SieveQuota`] a script would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Too many scripts (ManageSieve `QUOTA/MAXSCRIPTS`).
    MaxScripts,
    /// The script is too large (`QUOTA/MAXSIZE`).
    MaxSize,
    /// All scripts together would be too large (`QUOTA/MAXSIZE` as well: RFC 5804 has no
    /// code of its own for it; Pigeonhole says `QUOTA/MAXSIZE` too).
    MaxStorage,
}

/// What went wrong with a script operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SieveError {
    /// The script name is not acceptable (RFC 5804 §1.6 or a file-name rule). Permanent.
    #[error("invalid script name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// No script of this name. Permanent.
    #[error("script {0:?} does not exist")]
    NotFound(String),
    /// A script of this name exists already (RENAMESCRIPT target). Permanent.
    #[error("script {0:?} already exists")]
    AlreadyExists(String),
    /// The script is the active one and cannot be deleted. Permanent.
    #[error("script {0:?} is active")]
    Active(String),
    /// A [`SieveQuota`] limit. Permanent.
    #[error("{message}")]
    Quota {
        /// Which limit.
        kind: QuotaKind,
        /// A sentence for the user.
        message: String,
    },
    /// A file-system operation failed. Temporary.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl SieveError {
    /// `true` when trying again later may succeed (I/O trouble).
    pub fn is_temporary(&self) -> bool {
        matches!(self, SieveError::Io { .. })
    }

    fn io(path: impl AsRef<Path>, source: io::Error) -> SieveError {
        SieveError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    fn invalid(name: &str, reason: &'static str) -> SieveError {
        SieveError::InvalidName {
            name: name.to_string(),
            reason,
        }
    }
}

trait At<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, SieveError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, SieveError> {
        self.map_err(|e| SieveError::io(path, e))
    }
}

/// Check a script name (RFC 5804 §1.6 plus the file-name rules of the module doc).
pub fn validate_script_name(name: &str) -> Result<(), SieveError> {
    if name.is_empty() {
        return Err(SieveError::invalid(name, "empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.len() > MAX_NAME_BYTES {
        return Err(SieveError::invalid(name, "too long"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(SieveError::invalid(name, "control characters"));
    }
    if name.contains('/') {
        return Err(SieveError::invalid(name, "contains '/'"));
    }
    if name.starts_with('.') {
        return Err(SieveError::invalid(name, "starts with '.'"));
    }
    Ok(())
}

/// One script of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInfo {
    /// Its name.
    pub name: String,
    /// Whether `.dovecot.sieve` points at it.
    pub active: bool,
}

/// What `.dovecot.sieve` is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveScript {
    /// No active script.
    None,
    /// A symlink to `sieve/<name>.sieve` (the script may be missing: a dangling link).
    Script(String),
    /// A symlink somewhere else, or a regular file: it runs at delivery, but ManageSieve lists
    /// no script as active.
    Other(PathBuf),
}

/// One user's Sieve scripts (see the module doc). Cheap to clone; touches the disk only in
/// its methods, each of which runs on tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct SieveScripts {
    home: PathBuf,
    fsync: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}.{}.{}", std::process::id(), n, nanos)
}

async fn blocking<T, F>(f: F) -> Result<T, SieveError>
where
    F: FnOnce() -> Result<T, SieveError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(SieveError::io(
            "<blocking task>",
            io::Error::other(e.to_string()),
        )),
    }
}

fn fsync_dir(dir: &Path) -> Result<(), SieveError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

impl SieveScripts {
    /// The scripts of the user whose home is `home` (`<root>/<domain>/<user>`).
    pub fn new(home: impl Into<PathBuf>, fsync: bool) -> SieveScripts {
        SieveScripts {
            home: home.into(),
            fsync,
        }
    }

    /// The user's home.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `<home>/sieve`.
    pub fn dir(&self) -> PathBuf {
        self.home.join(SCRIPT_DIR)
    }

    /// `<home>/.dovecot.sieve`.
    pub fn active_link(&self) -> PathBuf {
        self.home.join(ACTIVE_LINK)
    }

    /// The vacation / duplicate tracking of this user.
    pub fn duplicates(&self) -> DuplicateDb {
        DuplicateDb::new(&self.home, self.fsync)
    }

    fn script_path(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{name}{SCRIPT_EXT}"))
    }

    /// The scripts, sorted by name, with the active one marked.
    pub async fn list(&self) -> Result<Vec<ScriptInfo>, SieveError> {
        let this = self.clone();
        blocking(move || this.list_blocking()).await
    }

    fn names_blocking(&self) -> Result<Vec<(String, u64)>, SieveError> {
        let dir = self.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SieveError::io(&dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.at(&dir)?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(SCRIPT_EXT)) else {
                continue;
            };
            if validate_script_name(name).is_err() {
                continue;
            }
            // Regular files only (a symlink inside sieve/ is not followed).
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_file() {
                names.push((name.to_string(), meta.len()));
            }
        }
        names.sort();
        Ok(names)
    }

    fn list_blocking(&self) -> Result<Vec<ScriptInfo>, SieveError> {
        let active = match self.active_blocking()? {
            ActiveScript::Script(n) => Some(n),
            _ => None,
        };
        Ok(self
            .names_blocking()?
            .into_iter()
            .map(|(name, _)| ScriptInfo {
                active: active.as_deref() == Some(name.as_str()),
                name,
            })
            .collect())
    }

    /// The content of a script.
    pub async fn get(&self, name: &str) -> Result<Vec<u8>, SieveError> {
        validate_script_name(name)?;
        let path = self.script_path(name);
        let name = name.to_string();
        blocking(move || match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(SieveError::NotFound(name)),
            Err(e) => Err(SieveError::io(&path, e)),
        })
        .await
    }

    /// Whether a script `name` of `size` bytes would fit (ManageSieve HAVESPACE; PUTSCRIPT
    /// checks the same before writing). Replacing a script counts its old size out.
    pub async fn check_space(
        &self,
        name: &str,
        size: u64,
        quota: &SieveQuota,
    ) -> Result<(), SieveError> {
        validate_script_name(name)?;
        let this = self.clone();
        let name = name.to_string();
        let quota = *quota;
        blocking(move || this.check_space_blocking(&name, size, &quota)).await
    }

    fn check_space_blocking(
        &self,
        name: &str,
        size: u64,
        quota: &SieveQuota,
    ) -> Result<(), SieveError> {
        if quota.max_script_size > 0 && size > quota.max_script_size {
            return Err(SieveError::Quota {
                kind: QuotaKind::MaxSize,
                message: format!(
                    "Script is too large ({size} bytes; at most {} allowed)",
                    quota.max_script_size
                ),
            });
        }
        if quota.max_scripts == 0 && quota.max_storage == 0 {
            return Ok(());
        }
        let scripts = self.names_blocking()?;
        let replaced = scripts.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        let count = scripts.len() as u64 + u64::from(replaced.is_none());
        if quota.max_scripts > 0 && count > quota.max_scripts {
            return Err(SieveError::Quota {
                kind: QuotaKind::MaxScripts,
                message: format!("Too many scripts (at most {} allowed)", quota.max_scripts),
            });
        }
        let total: u64 = scripts.iter().map(|(_, s)| s).sum::<u64>() - replaced.unwrap_or(0) + size;
        if quota.max_storage > 0 && total > quota.max_storage {
            return Err(SieveError::Quota {
                kind: QuotaKind::MaxStorage,
                message: format!(
                    "Scripts would take {total} bytes; at most {} allowed",
                    quota.max_storage
                ),
            });
        }
        Ok(())
    }

    /// Store a script (new or replacing one of the same name), atomically and durably, after
    /// the quota check. The caller checks the syntax first.
    pub async fn put(
        &self,
        name: &str,
        content: Vec<u8>,
        quota: &SieveQuota,
    ) -> Result<(), SieveError> {
        validate_script_name(name)?;
        let this = self.clone();
        let name = name.to_string();
        let quota = *quota;
        blocking(move || {
            this.check_space_blocking(&name, content.len() as u64, &quota)?;
            this.write_blocking(&name, &content)
        })
        .await
    }

    fn ensure_dirs(&self) -> Result<PathBuf, SieveError> {
        let dir = self.dir();
        let tmp = dir.join("tmp");
        if !tmp.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&tmp)
                .at(&tmp)?;
            if self.fsync {
                fsync_dir(&self.home)?;
            }
        }
        Ok(tmp)
    }

    fn write_blocking(&self, name: &str, content: &[u8]) -> Result<(), SieveError> {
        let tmp_dir = self.ensure_dirs()?;
        let tmp = tmp_dir.join(format!("{}.{}", unique_suffix(), "upload"));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .at(&tmp)?;
            f.write_all(content).at(&tmp)?;
            if self.fsync {
                f.sync_all().at(&tmp)?;
            }
            let path = self.script_path(name);
            fs::rename(&tmp, &path).at(&path)?;
            if self.fsync {
                fsync_dir(&self.dir())?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// What `.dovecot.sieve` is.
    pub async fn active(&self) -> Result<ActiveScript, SieveError> {
        let this = self.clone();
        blocking(move || this.active_blocking()).await
    }

    fn active_blocking(&self) -> Result<ActiveScript, SieveError> {
        let link = self.active_link();
        let meta = match fs::symlink_metadata(&link) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ActiveScript::None),
            Err(e) => return Err(SieveError::io(&link, e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(ActiveScript::Other(link));
        }
        let target = fs::read_link(&link).at(&link)?;
        Ok(script_of_link(&self.home, &target)
            .map(ActiveScript::Script)
            .unwrap_or(ActiveScript::Other(target)))
    }

    /// The file delivery runs for this user: what `.dovecot.sieve` resolves to, when it is a
    /// regular file or a symlink to one; `None` when there is none (one `lstat`, nothing more,
    /// for a user without scripts). Synchronous: call it off the async runtime.
    pub fn active_path_blocking(&self) -> Option<PathBuf> {
        let link = self.active_link();
        let meta = fs::symlink_metadata(&link).ok()?;
        if meta.is_file() {
            return Some(link);
        }
        if !meta.file_type().is_symlink() {
            return None;
        }
        let target = fs::read_link(&link).ok()?;
        let path = if target.is_absolute() {
            target
        } else {
            self.home.join(target)
        };
        fs::metadata(&path).ok()?.is_file().then_some(path)
    }

    /// Make `name` the active script (`Some`), or deactivate (`None`). Returns whether
    /// something changed.
    pub async fn set_active(&self, name: Option<&str>) -> Result<bool, SieveError> {
        if let Some(n) = name {
            validate_script_name(n)?;
        }
        let this = self.clone();
        let name = name.map(str::to_string);
        blocking(move || match name {
            Some(n) => this.activate_blocking(&n),
            None => this.deactivate_blocking(),
        })
        .await
    }

    fn activate_blocking(&self, name: &str) -> Result<bool, SieveError> {
        let path = self.script_path(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(SieveError::NotFound(name.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SieveError::NotFound(name.to_string()));
            }
            Err(e) => return Err(SieveError::io(&path, e)),
        }
        let current = self.active_blocking()?;
        if current == ActiveScript::Script(name.to_string()) {
            return Ok(false);
        }
        if let ActiveScript::Other(_) = current {
            self.rescue_regular()?;
        }
        self.replace_link(Some(name))?;
        Ok(true)
    }

    /// A `.dovecot.sieve` that is a regular file is copied to `sieve/dovecot.orig.sieve`
    /// before a symlink replaces it (Pigeonhole does the same).
    fn rescue_regular(&self) -> Result<(), SieveError> {
        let link = self.active_link();
        let meta = fs::symlink_metadata(&link).at(&link)?;
        if !meta.is_file() {
            return Ok(());
        }
        let content = fs::read(&link).at(&link)?;
        self.write_blocking(RESCUED_NAME, &content)?;
        tracing::info!(path = %link.display(), "regular .dovecot.sieve kept as sieve/dovecot.orig.sieve");
        Ok(())
    }

    /// Point `.dovecot.sieve` at `sieve/<name>.sieve` with a new symlink renamed over the old
    /// one (atomic), or remove it.
    fn replace_link(&self, name: Option<&str>) -> Result<(), SieveError> {
        let link = self.active_link();
        match name {
            Some(name) => {
                let target = PathBuf::from(SCRIPT_DIR).join(format!("{name}{SCRIPT_EXT}"));
                let tmp = self
                    .home
                    .join(format!("{ACTIVE_LINK}.{}.tmp", unique_suffix()));
                std::os::unix::fs::symlink(&target, &tmp).at(&tmp)?;
                if let Err(e) = fs::rename(&tmp, &link) {
                    let _ = fs::remove_file(&tmp);
                    return Err(SieveError::io(&link, e));
                }
            }
            None => match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SieveError::io(&link, e)),
            },
        }
        if self.fsync {
            fsync_dir(&self.home)?;
        }
        Ok(())
    }

    fn deactivate_blocking(&self) -> Result<bool, SieveError> {
        match self.active_blocking()? {
            ActiveScript::None => Ok(false),
            ActiveScript::Other(_) => {
                self.rescue_regular()?;
                self.replace_link(None)?;
                Ok(true)
            }
            ActiveScript::Script(_) => {
                self.replace_link(None)?;
                Ok(true)
            }
        }
    }

    /// Delete a script; the active one is refused ([`SieveError::Active`]).
    pub async fn delete(&self, name: &str) -> Result<(), SieveError> {
        validate_script_name(name)?;
        let this = self.clone();
        let name = name.to_string();
        blocking(move || {
            if this.active_blocking()? == ActiveScript::Script(name.clone()) {
                return Err(SieveError::Active(name));
            }
            let path = this.script_path(&name);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(SieveError::NotFound(name)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(SieveError::NotFound(name));
                }
                Err(e) => return Err(SieveError::io(&path, e)),
            }
            fs::remove_file(&path).at(&path)?;
            // A compiled copy Pigeonhole may have left.
            let _ = fs::remove_file(this.dir().join(format!("{name}.svbin")));
            if this.fsync {
                fsync_dir(&this.dir())?;
            }
            Ok(())
        })
        .await
    }

    /// Rename a script; when it is the active one, the link follows.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), SieveError> {
        validate_script_name(from)?;
        validate_script_name(to)?;
        let this = self.clone();
        let (from, to) = (from.to_string(), to.to_string());
        blocking(move || {
            let old = this.script_path(&from);
            let new = this.script_path(&to);
            if fs::symlink_metadata(&old)
                .map(|m| !m.is_file())
                .unwrap_or(true)
            {
                return Err(SieveError::NotFound(from));
            }
            if from == to {
                return Ok(());
            }
            if fs::symlink_metadata(&new).is_ok() {
                return Err(SieveError::AlreadyExists(to));
            }
            let was_active = this.active_blocking()? == ActiveScript::Script(from.clone());
            // A hard link then unlink: the new name never replaces a script that appeared
            // meanwhile (rename(2) would).
            match fs::hard_link(&old, &new) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(SieveError::AlreadyExists(to));
                }
                Err(e) => return Err(SieveError::io(&new, e)),
            }
            if was_active {
                this.replace_link(Some(&to))?;
            }
            fs::remove_file(&old).at(&old)?;
            let _ = fs::remove_file(this.dir().join(format!("{from}.svbin")));
            if this.fsync {
                fsync_dir(&this.dir())?;
            }
            Ok(())
        })
        .await
    }
}

/// `sieve/<name>.sieve` (or `./sieve/...`, or an absolute path into `<home>/sieve`) → `name`.
fn script_of_link(home: &Path, target: &Path) -> Option<String> {
    let rel = if target.is_absolute() {
        target.strip_prefix(home).ok()?
    } else {
        target.strip_prefix(".").unwrap_or(target)
    };
    let mut parts = rel.components();
    if parts.next()?.as_os_str() != OsStr::new(SCRIPT_DIR) {
        return None;
    }
    let file = parts.next()?.as_os_str();
    if parts.next().is_some() {
        return None;
    }
    let name = std::str::from_utf8(file.as_bytes())
        .ok()?
        .strip_suffix(SCRIPT_EXT)?;
    validate_script_name(name).ok()?;
    Some(name.to_string())
}

#[cfg(test)]
mod tests;
