//! Dovecot-compatible dot-lock files (`dovecot-uidlist.lock`): created with
//! `O_EXCL`, holding `<pid>:<host>` of their owner; considered stale when that process no
//! longer exists on this host (a crash or `kill -9` must not block deliveries), or after two
//! minutes otherwise (an owner on another host or in another container); removed on drop.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{IoContext, StoreError};
use crate::maildir::filename::hostname;

/// Age after which somebody else's lock file is considered stale.
const STALE_AFTER: Duration = Duration::from_secs(120);
/// How long to wait for a lock before giving up (temporary error).
const WAIT_AT_MOST: Duration = Duration::from_secs(150);

/// A held dot-lock; the lock file is removed on drop unless it was
/// committed with [`DotLock::commit_into`].
#[derive(Debug)]
pub(crate) struct DotLock {
    path: PathBuf,
    file: Option<fs::File>,
}

impl DotLock {
    /// Take the lock `path` (blocking, polls every few milliseconds).
    pub(crate) fn acquire(path: &Path) -> Result<DotLock, StoreError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    // Who holds it, for the stale check of the others.
                    let _ = write!(file, "{}:{}", std::process::id(), hostname());
                    return Ok(DotLock {
                        path: path.to_path_buf(),
                        file: Some(file),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match stale_lock(path) {
                    Staleness::Vanished => continue,
                    Staleness::Stale(ino) => {
                        // Remove it only if it is still the file judged stale: another waiter
                        // may have broken it and taken a fresh lock under the same name.
                        if fs::metadata(path).is_ok_and(|m| m.ino() == ino) {
                            tracing::warn!(lock = %path.display(), "removing stale lock file");
                            let _ = fs::remove_file(path);
                        }
                        continue;
                    }
                    Staleness::Held => {}
                },
                Err(e) => return Err(StoreError::io(path, e)),
            }
            if start.elapsed() > WAIT_AT_MOST {
                return Err(StoreError::LockTimeout(path.to_path_buf()));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Write `content` into the lock file, fsync it (when `fsync`) and
    /// rename it over `target`: Dovecot's way of replacing a file under
    /// its own lock.
    pub(crate) fn commit_into(
        mut self,
        content: &[u8],
        target: &Path,
        fsync: bool,
    ) -> Result<(), StoreError> {
        let mut file = self.file.take().expect("lock file is open until commit");
        // Replace the owner line with the content.
        file.set_len(0).at(&self.path)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).at(&self.path)?;
        file.write_all(content).at(&self.path)?;
        if fsync {
            file.sync_all().at(&self.path)?;
        }
        drop(file);
        fs::rename(&self.path, target).at(target)?;
        // The lock file no longer exists under its name; nothing to remove.
        self.path = PathBuf::new();
        Ok(())
    }
}

/// What another process's lock file is.
enum Staleness {
    /// Gone meanwhile: try to take it again at once.
    Vanished,
    /// Its owner is dead or it is too old; the inode that was judged.
    Stale(u64),
    /// Held by a live owner.
    Held,
}

fn stale_lock(path: &Path) -> Staleness {
    let Ok(meta) = fs::metadata(path) else {
        return Staleness::Vanished;
    };
    let too_old = meta
        .modified()
        .ok()
        .and_then(|mtime| SystemTime::now().duration_since(mtime).ok())
        .is_some_and(|age| age > STALE_AFTER);
    if too_old || owner_is_gone(path) {
        Staleness::Stale(meta.ino())
    } else {
        Staleness::Held
    }
}

#[cfg(test)]
fn is_stale(path: &Path) -> bool {
    matches!(stale_lock(path), Staleness::Stale(_))
}

/// The lock names a process on this host that does not exist any more.
fn owner_is_gone(path: &Path) -> bool {
    let Ok(content) = fs::read_to_string(path) else {
        return false;
    };
    let Some((pid, host)) = content.trim().split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname() && pid != 0 && !Path::new(&format!("/proc/{pid}")).exists()
}

impl Drop for DotLock {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_of_a_dead_process_is_broken_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // pid 0x7fffffff cannot exist; same host: stale immediately, however young.
        fs::write(&path, format!("{}:{}", i32::MAX, hostname())).unwrap();
        let start = Instant::now();
        let lock = DotLock::acquire(&path).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with(&format!("{}:", std::process::id()))
        );
        drop(lock);
        // A live owner on another host is respected until the age limit.
        fs::write(&path, "1:elsewhere").unwrap();
        assert!(!is_stale(&path));
    }

    #[test]
    fn exclusive_and_stale() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.lock");
        let l = DotLock::acquire(&p).unwrap();
        assert!(p.exists());
        drop(l);
        assert!(!p.exists());
        // A stale lock (mtime 10 minutes ago) is broken.
        fs::write(&p, b"").unwrap();
        let old = SystemTime::now() - Duration::from_secs(600);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let l = DotLock::acquire(&p).unwrap();
        let target = t.path().join("target");
        l.commit_into(b"hello", &target, true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"hello");
        assert!(!p.exists());
    }
}
