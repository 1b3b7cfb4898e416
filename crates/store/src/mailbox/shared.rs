//! Mailbox snapshots shared by the whole process: opening a folder starts from the newest
//! snapshot any `Mailbox` of this process took of it and reads only the index rows changed
//! since (`modseq >` the snapshot's), instead of every row.
//!
//! This is what makes a warm SELECT cheap (Dovecot gets the same from its memory-mapped
//! `dovecot.index`), and what lets a thousand IDLE sessions of one INBOX hold one copy of its
//! messages ([`MessageMap`] chunks are shared until changed).
//!
//! A snapshot is used only for the index file it was taken from (device and inode, and the
//! random id written into every newly built index: a rebuilt or recreated index is another
//! file, even when it got the old inode number and, from `dovecot-uidlist`, the old
//! UIDVALIDITY and GUID) with the same UIDVALIDITY and mailbox GUID, and only when the index's
//! HIGHESTMODSEQ has not gone below it. Every change to a message row bumps its
//! MODSEQ (see the index module), so snapshot + rows above its MODSEQ is the index's content.
//!
//! Snapshots of folders nobody has open stay cached, least recently used first out, while all
//! cached snapshots together hold at most [`CACHED_MESSAGES`] messages (the newest one is kept
//! whatever its size).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use super::message_map::MessageMap;

/// Messages kept in cached snapshots (about 250 bytes each: ≈ 50 MB).
const CACHED_MESSAGES: usize = 200_000;

/// A mailbox's state as of `synced_modseq` (own changes with higher MODSEQs may be in it too;
/// they are read again, identically, from the index).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// (device, inode) of the index file.
    pub(crate) file: (u64, u64),
    /// The index's random id (`Meta::index_id`).
    pub(crate) index_id: i64,
    pub(crate) uidvalidity: u32,
    pub(crate) guid: String,
    pub(crate) uidnext: u32,
    pub(crate) highest_modseq: u64,
    pub(crate) synced_modseq: u64,
    pub(crate) messages: MessageMap,
}

struct Cached {
    snapshot: Snapshot,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    by_folder: HashMap<PathBuf, Cached>,
    messages: usize,
    clock: u64,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cached snapshot of the folder at `dir` whose index is `file`.
pub(crate) fn get(dir: &Path, file: (u64, u64)) -> Option<Snapshot> {
    let mut c = cache();
    c.clock += 1;
    let now = c.clock;
    let entry = c.by_folder.get_mut(dir)?;
    if entry.snapshot.file != file {
        return None;
    }
    entry.last_used = now;
    Some(entry.snapshot.clone())
}

/// Offer a snapshot of the folder at `dir`: kept when it is newer than the cached one (or of
/// another index file).
pub(crate) fn put(dir: &Path, snapshot: &Snapshot) {
    let mut c = cache();
    c.clock += 1;
    let now = c.clock;
    if let Some(old) = c.by_folder.get_mut(dir) {
        if old.snapshot.file == snapshot.file
            && old.snapshot.synced_modseq >= snapshot.synced_modseq
        {
            old.last_used = now;
            return;
        }
        let old_len = old.snapshot.messages.len();
        old.snapshot = snapshot.clone();
        old.last_used = now;
        c.messages = c.messages - old_len + snapshot.messages.len();
    } else {
        c.by_folder.insert(
            dir.to_path_buf(),
            Cached {
                snapshot: snapshot.clone(),
                last_used: now,
            },
        );
        c.messages += snapshot.messages.len();
    }
    while c.messages > CACHED_MESSAGES && c.by_folder.len() > 1 {
        let Some(oldest) = c
            .by_folder
            .iter()
            .filter(|(d, _)| d.as_path() != dir)
            .min_by_key(|(_, e)| e.last_used)
            .map(|(d, _)| d.clone())
        else {
            break;
        };
        if let Some(gone) = c.by_folder.remove(&oldest) {
            c.messages -= gone.snapshot.messages.len();
        }
    }
}

/// Forget the folder at `dir` (deleted or renamed).
pub(crate) fn forget(dir: &Path) {
    let mut c = cache();
    if let Some(gone) = c.by_folder.remove(dir) {
        c.messages -= gone.snapshot.messages.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(file: u64, modseq: u64, messages: u32) -> Snapshot {
        let mut map = MessageMap::default();
        for uid in 1..=messages {
            map.insert(super::super::MessageMeta {
                uid,
                flags: Vec::new(),
                keywords: Vec::new(),
                size: 1,
                vsize: 1,
                internal_date: 0,
                save_date: 0,
                modseq,
                path: PathBuf::from("x"),
                in_new: false,
            });
        }
        Snapshot {
            file: (1, file),
            index_id: 1,
            uidvalidity: 7,
            guid: "g".into(),
            uidnext: messages + 1,
            highest_modseq: modseq,
            synced_modseq: modseq,
            messages: map,
        }
    }

    #[test]
    fn newer_snapshots_replace_older_ones_of_the_same_file() {
        let dir = Path::new("/nonexistent/shared-test/a");
        put(dir, &snapshot(10, 5, 3));
        put(dir, &snapshot(10, 4, 1));
        assert_eq!(get(dir, (1, 10)).unwrap().synced_modseq, 5);
        put(dir, &snapshot(10, 6, 2));
        assert_eq!(get(dir, (1, 10)).unwrap().messages.len(), 2);
        // Another index file at the same place (rebuilt): its snapshot wins, the old is unusable.
        put(dir, &snapshot(11, 1, 1));
        assert!(get(dir, (1, 10)).is_none());
        assert_eq!(get(dir, (1, 11)).unwrap().synced_modseq, 1);
        forget(dir);
        assert!(get(dir, (1, 11)).is_none());
    }

    #[test]
    fn least_recently_used_go_first_over_the_budget() {
        let a = Path::new("/nonexistent/shared-test/lru-a");
        let b = Path::new("/nonexistent/shared-test/lru-b");
        let c = Path::new("/nonexistent/shared-test/lru-c");
        let third = (CACHED_MESSAGES / 3) as u32;
        put(a, &snapshot(1, 1, third));
        put(b, &snapshot(2, 1, third));
        assert!(get(a, (1, 1)).is_some()); // a is now more recent than b
        put(c, &snapshot(3, 1, third + 10));
        assert!(get(b, (1, 2)).is_none(), "b was the least recently used");
        assert!(get(a, (1, 1)).is_some());
        assert!(get(c, (1, 3)).is_some());
        forget(a);
        forget(c);
    }
}
