//! Change notification for Maildir folders, shared by every session of the process.
//!
//! The kernel allows 128 inotify instances per user by default, and Dovecot falls back to
//! polling past that. imap-server therefore holds exactly **one** inotify instance
//! ([`MaildirWatcher`]); each folder with at least one interested session is watched once
//! (`new/` and `cur/`), and every [`Subscription`] to it is woken when a file appears, is
//! renamed or disappears there (a delivery by lmtp-mda, a flag change or expunge by another
//! session or by Dovecot). The last subscription to a folder removes its watches.
//!
//! A wake-up only says "look again": the session then syncs its mailbox through the store,
//! which finds out what actually changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;

/// Why watching failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// inotify could not be set up or a folder could not be watched (e.g. the per-user watch
    /// limit `fs.inotify.max_user_watches` is reached). Sessions then fall back to syncing on
    /// every command and on a timer.
    #[error("cannot watch {path}: {source}")]
    Notify {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: notify::Error,
    },
}

struct Folder {
    /// Bumped on every change; subscribers wait for it to move.
    tx: watch::Sender<u64>,
    subscribers: usize,
}

struct Shared {
    folders: Mutex<HashMap<PathBuf, Folder>>,
}

/// The process's one inotify instance. Cheap to clone.
#[derive(Clone)]
pub struct MaildirWatcher {
    shared: Arc<Shared>,
    watcher: Arc<Mutex<RecommendedWatcher>>,
}

impl MaildirWatcher {
    /// Create the watcher (one inotify instance).
    pub fn new() -> Result<MaildirWatcher, WatchError> {
        let shared = Arc::new(Shared {
            folders: Mutex::new(HashMap::new()),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let Some(shared) = weak.upgrade() else { return };
            match res {
                Ok(event) => dispatch(&shared, &event),
                // Overflow or another failure: wake everyone, they resync.
                Err(e) => {
                    tracing::warn!(error = %e, "inotify error; waking every watcher");
                    if let Ok(folders) = shared.folders.lock() {
                        for f in folders.values() {
                            f.tx.send_modify(|n| *n += 1);
                        }
                    }
                }
            }
        })
        .map_err(|source| WatchError::Notify {
            path: PathBuf::new(),
            source,
        })?;
        Ok(MaildirWatcher {
            shared,
            watcher: Arc::new(Mutex::new(watcher)),
        })
    }

    /// Be woken when the folder at `dir` (a Maildir folder: the directory holding `new/` and
    /// `cur/`) changes. Watches are shared: the folder is watched once however many sessions
    /// subscribe.
    ///
    /// Locking: the folder table's lock is never held while calling into inotify, because the
    /// inotify thread takes that lock to dispatch events and `watch`/`unwatch` wait for that
    /// thread. Calls into inotify are serialised by the watcher's own lock instead.
    pub fn subscribe(&self, dir: &Path) -> Result<Subscription, WatchError> {
        let dir = dir.to_path_buf();
        let (rx, first) = {
            let mut folders = self.folders();
            match folders.get_mut(&dir) {
                Some(f) => {
                    f.subscribers += 1;
                    (f.tx.subscribe(), false)
                }
                None => {
                    let (tx, rx) = watch::channel(0);
                    folders.insert(dir.clone(), Folder { tx, subscribers: 1 });
                    (rx, true)
                }
            }
        };
        let sub = Subscription {
            rx,
            dir: dir.clone(),
            owner: self.clone(),
        };
        if first {
            let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
            for part in ["new", "cur"] {
                let path = dir.join(part);
                if let Err(source) = w.watch(&path, RecursiveMode::NonRecursive) {
                    drop(w);
                    // Dropping `sub` releases the entry (and any half-made watch).
                    drop(sub);
                    return Err(WatchError::Notify { path, source });
                }
            }
        }
        Ok(sub)
    }

    /// Folders watched now (for metrics and tests).
    pub fn watched_folders(&self) -> usize {
        self.folders().len()
    }

    fn folders(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Folder>> {
        self.shared
            .folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, dir: &Path) {
        let last = {
            let mut folders = self.folders();
            match folders.get_mut(dir) {
                Some(f) if f.subscribers > 1 => {
                    f.subscribers -= 1;
                    false
                }
                Some(_) => {
                    folders.remove(dir);
                    true
                }
                None => false,
            }
        };
        if last {
            let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
            // Someone may have subscribed again meanwhile: then the watch stays.
            if !self.folders().contains_key(dir) {
                for part in ["new", "cur"] {
                    let _ = w.unwatch(&dir.join(part));
                }
            }
        }
    }
}

/// Wake the subscribers of the folder an event happened in.
fn dispatch(shared: &Shared, event: &Event) {
    if matches!(event.kind, EventKind::Access(_)) {
        return;
    }
    let Ok(folders) = shared.folders.lock() else {
        return;
    };
    for path in &event.paths {
        // <folder>/new/<file> or <folder>/cur/<file> (or the directory itself).
        let folder = path
            .ancestors()
            .find(|a| matches!(a.file_name().and_then(|n| n.to_str()), Some("new" | "cur")))
            .and_then(Path::parent);
        if let Some(f) = folder.and_then(|dir| folders.get(dir)) {
            f.tx.send_modify(|n| *n += 1);
        }
    }
}

/// One session's interest in one folder; dropping it ends the interest.
pub struct Subscription {
    rx: watch::Receiver<u64>,
    dir: PathBuf,
    owner: MaildirWatcher,
}

impl Subscription {
    /// Wait until the folder changes after the last call (returns at once if it already did).
    /// Several changes between two calls wake once. Cancel-safe.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The folder entry is gone (cannot happen while we hold it); never wake.
            std::future::pending::<()>().await;
        }
    }

    /// The folder watched.
    pub fn folder(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.owner.release(&self.dir);
    }
}
