//! One small SQLite connection pool per index file, shared by every `Index` of the process.
//!
//! Each open SQLite connection of sqlx runs on a thread of its own. Giving every open mailbox
//! (every selected IMAP session) its own connection would mean a thread per session; instead
//! the mailboxes of one folder share at most [`MAX_CONNECTIONS`], taken for one statement or
//! one transaction at a time, and closed after [`IDLE_TIMEOUT`] without use. Writes are
//! serialised by SQLite (`BEGIN IMMEDIATE`) anyway, so a handful of connections loses nothing.
//!
//! A pool lives while some `Index` of its file is open (a [`Lease`]); when the last one goes,
//! the pool closes [`KEEP_UNUSED`] later unless the folder is opened again meanwhile. Opens
//! through a pool that is still open skip the checks, so a schema another process changed
//! meanwhile is noticed once the pool has closed. A kept pool whose file changed meanwhile
//! (inode, length, mtime or header: another process checkpointed into it, or wrote garbage) is
//! not taken up again: the next open makes a new pool and checks the file, as after a close.
//!
//! The integrity check (`PRAGMA quick_check`, which reads the whole file)
//! runs when a pool first opens its file, not at every open of an `Index`: later `Index`es
//! sharing the pool skip it, and so does a new pool when the file is unchanged (same inode,
//! length, mtime and SQLite header) since a checked pool closed it — lmtp-mda opens a folder
//! for every delivery, and a check of a 100 000-message index costs tens of milliseconds.
//! A pool belongs to one file: when the index at the path is another file (rebuilt, the
//! folder deleted and created again), a new pool is made and the old one closes.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// Connections open at once to one index.
pub(super) const MAX_CONNECTIONS: u32 = 2;
/// A connection unused this long is closed (and its thread ends).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Entry {
    pool: SqlitePool,
    /// Tells this pool from a later one for the same path.
    id: u64,
    /// (device, inode) of the file the pool's connections opened; `None` until known.
    file: Option<(u64, u64)>,
    /// Open `Index`es using the pool (leases).
    users: usize,
    /// `PRAGMA quick_check` and the schema version passed on this file through this pool.
    checked: bool,
    /// Counts the times the last lease went: a keep timer closes the pool only if no lease
    /// came and went since it started.
    released: u64,
    /// The file as it was when the last lease went: a kept pool is taken up again only while
    /// the file still looks so (else it is checked anew, as after a close).
    released_stamp: Option<Stamp>,
}

/// What a file looked like: inode, length, mtime and its SQLite header (the first 100 bytes;
/// mtime alone misses a change within one clock tick).
type Stamp = (u64, u64, i64, i64, Vec<u8>);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let m = f.metadata().ok()?;
    let mut header = Vec::with_capacity(100);
    (&mut f).take(100).read_to_end(&mut header).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec(), header))
}

/// Files a checked pool closed, as they were right after it closed them.
static VERIFIED: LazyLock<Mutex<HashMap<PathBuf, Stamp>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// An `Index`'s share of its file's pool; dropping the last one closes the pool.
#[derive(Debug)]
pub(super) struct Lease {
    path: PathBuf,
    id: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let released = {
            let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
            let Some(e) = pools.get_mut(&self.path).filter(|e| e.id == self.id) else {
                return;
            };
            e.users = e.users.saturating_sub(1);
            if e.users > 0 {
                return;
            }
            if tokio::runtime::Handle::try_current().is_err() {
                // Nothing could close it later.
                if let Some(e) = pools.remove(&self.path) {
                    close_later(e.pool, None);
                }
                return;
            }
            e.released += 1;
            // Not reusable until stamped below (a reuse in between makes a new pool).
            e.released_stamp = None;
            e.released
        };
        // The file is read outside the process-wide lock.
        let stamped = stamp(&self.path);
        {
            let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = pools
                .get_mut(&self.path)
                .filter(|e| e.id == self.id && e.users == 0 && e.released == released)
            {
                e.released_stamp = stamped;
            }
        }
        // Kept open for a while: the next open of the folder (the next SELECT, the next
        // delivery into it) reuses the pool and its connection instead of opening the file,
        // setting it up and checking its schema again.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (path, id) = (self.path.clone(), self.id);
            rt.spawn(async move {
                tokio::time::sleep(KEEP_UNUSED).await;
                close_if_unused(&path, id, released);
            });
        }
    }
}

/// How long a pool no `Index` uses stays open.
#[cfg(not(test))]
pub(super) const KEEP_UNUSED: Duration = Duration::from_secs(10);
/// How long a pool no `Index` uses stays open (short in tests, which wait for it).
#[cfg(test)]
pub(super) const KEEP_UNUSED: Duration = Duration::from_millis(50);

/// Close the pool `id` of `path` unless an `Index` took it up again since its last lease went
/// (the `released`-th time).
fn close_if_unused(path: &Path, id: u64, released: u64) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if pools
        .get(path)
        .is_some_and(|e| e.id == id && e.users == 0 && e.released == released)
        && let Some(e) = pools.remove(path)
    {
        close_later(e.pool, e.checked.then(|| path.to_path_buf()));
    }
}

static POOLS: LazyLock<Mutex<HashMap<PathBuf, Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What opening an `Index` must still check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Nothing: the pool is open and checked its file.
    Done,
    /// The schema version, not the integrity (the file is unchanged since a checked pool
    /// closed it).
    Schema,
    /// Integrity and schema.
    Full,
}

/// The pool for the index at `path` (connecting lazily with `options`), the lease that keeps
/// it open, and what is left to check (see the module doc). A pool whose file is not known
/// yet is being opened by another `Index` right now and is shared too.
pub(super) fn pool_for(path: &Path, options: SqliteConnectOptions) -> (SqlitePool, Lease, Check) {
    let current = file_id(path);
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = pools.get_mut(path)
        && !e.pool.is_closed()
        && (e.file.is_none() || e.file == current)
        && (e.users > 0 || e.released_stamp.is_some() && e.released_stamp == stamp(path))
    {
        e.users += 1;
        let lease = Lease {
            path: path.to_path_buf(),
            id: e.id,
        };
        let check = if e.checked { Check::Done } else { Check::Full };
        return (e.pool.clone(), lease, check);
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .test_before_acquire(false)
        .acquire_timeout(super::BUSY_TIMEOUT)
        .connect_lazy_with(options);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let entry = Entry {
        pool: pool.clone(),
        id,
        file: None,
        users: 1,
        checked: false,
        released: 0,
        released_stamp: None,
    };
    if let Some(old) = pools.insert(path.to_path_buf(), entry) {
        close_later(old.pool, None);
    }
    let lease = Lease {
        path: path.to_path_buf(),
        id,
    };
    let verified = VERIFIED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
    let unchanged = verified.is_some() && verified == stamp(path);
    (
        pool,
        lease,
        if unchanged {
            Check::Schema
        } else {
            Check::Full
        },
    )
}

/// The file of `lease`'s pool passed its integrity check (or is unchanged since the last one)
/// and has the current schema: later opens through the pool skip the checks.
pub(super) fn checked(lease: &Lease) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = pools.get_mut(&lease.path).filter(|e| e.id == lease.id) {
        e.checked = true;
    }
}

/// A connection of the pool opened the file: remember which file it is.
pub(super) fn opened(path: &Path) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = pools.get_mut(path)
        && e.file.is_none()
    {
        e.file = file_id(path);
    }
}

/// Close every pool no `Index` uses, and wait for it.
pub(crate) async fn close_unused() {
    let unused: Vec<(PathBuf, Entry)> = {
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        let paths: Vec<PathBuf> = pools
            .iter()
            .filter(|(_, e)| e.users == 0)
            .map(|(p, _)| p.clone())
            .collect();
        paths
            .into_iter()
            .filter_map(|p| pools.remove(&p).map(|e| (p, e)))
            .collect()
    };
    for (path, e) in unused {
        close_and_remember(e.pool, e.checked.then_some(path)).await;
    }
}

/// The index at `path` is being moved aside or replaced: no new connection to it.
pub(super) fn forget(path: &Path) {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    VERIFIED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
    if let Some(old) = pools.remove(path) {
        close_later(old.pool, None);
    }
}

/// Close `pool`; with `verified`, remember how its (checked) file looks once closed (closing
/// checkpoints the WAL into it).
fn close_later(pool: SqlitePool, verified: Option<PathBuf>) {
    // Connections in use finish their statement first; nothing waits for that here.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(close_and_remember(pool, verified));
    }
}

/// Close `pool` and wait for it; with `verified`, then remember how its (checked) file looks.
async fn close_and_remember(pool: SqlitePool, verified: Option<PathBuf>) {
    pool.close().await;
    if let Some(path) = verified
        && let Some(s) = stamp(&path)
    {
        let pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        // Not when a new pool opened the file meanwhile: it decides for itself.
        if !pools.contains_key(&path) {
            VERIFIED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path, s);
        }
    }
}
