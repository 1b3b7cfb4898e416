//! A process-wide cache of the header fields searches looked at: once a `SEARCH HEADER Subject
//! x` (or FROM, TO, ...) parsed a message, the next search of that field in that folder answers
//! from memory instead of reading and parsing every file again.
//!
//! This is Dovecot's `dovecot.index.cache` "decision" idea (a field searched once is cached for
//! the messages that follow), kept in memory: what is cached per message and field is exactly
//! what the evaluator compares needles with (see `View::field_strings`: the decoded, folded
//! value of each occurrence and its address forms), so a cached answer is the answer a parse
//! gives. A Maildir message never changes once delivered, so an entry stays right as long as
//! the UID means the same message: entries are keyed by folder directory, mailbox GUID and
//! UIDVALIDITY. Entries of expunged messages are never asked for again and go when their folder
//! is evicted.
//!
//! Memory is bounded by [`FieldCache::new`]'s budget: whole folders are dropped, least recently
//! used first, when the cached strings exceed it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The searchable strings of one field of one message (empty: the message has no such field).
pub(crate) type FieldStrings = Arc<[Box<str>]>;

/// Which mailbox a search runs on, as the cache keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderKey {
    /// The folder directory.
    pub dir: PathBuf,
    /// The mailbox GUID (a recreated folder has another).
    pub guid: String,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
}

#[derive(Default)]
struct Folder {
    /// Field name (lower case) → UID → strings.
    fields: HashMap<String, HashMap<u32, FieldStrings>>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    folders: HashMap<FolderKey, Folder>,
    bytes: usize,
    clock: u64,
}

/// Header field strings by folder, field and UID, shared by all sessions (see the module doc).
pub struct FieldCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl std::fmt::Debug for FieldCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCache")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// What one cached entry costs besides its strings (map slot, `Arc`, string headers).
const ENTRY_OVERHEAD: usize = 64;

fn cost(strings: &[Box<str>]) -> usize {
    ENTRY_OVERHEAD + strings.iter().map(|s| s.len() + 16).sum::<usize>()
}

impl FieldCache {
    /// A cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> FieldCache {
        FieldCache {
            inner: Mutex::new(Inner::default()),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The strings of every field in `names` for `uid`, or `None` when one is not cached.
    pub(crate) fn get_all(
        &self,
        folder: &FolderKey,
        names: &[String],
        uid: u32,
    ) -> Option<Vec<(String, FieldStrings)>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let f = inner.folders.get_mut(folder)?;
        f.last_used = now;
        names
            .iter()
            .map(|n| Some((n.clone(), f.fields.get(n)?.get(&uid)?.clone())))
            .collect()
    }

    /// Remember the strings of fields of `uid`.
    pub(crate) fn put(&self, folder: &FolderKey, uid: u32, entries: &[(String, FieldStrings)]) {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let mut added = 0;
        {
            let f = inner.folders.entry(folder.clone()).or_default();
            f.last_used = now;
            for (name, strings) in entries {
                let by_uid = f.fields.entry(name.clone()).or_default();
                if by_uid.insert(uid, strings.clone()).is_none() {
                    added += cost(strings);
                }
            }
            f.bytes += added;
        }
        inner.bytes += added;
        while inner.bytes > self.budget && inner.folders.len() > 1 {
            let Some(oldest) = inner
                .folders
                .iter()
                .filter(|(k, _)| *k != folder)
                .min_by_key(|(_, f)| f.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = inner.folders.remove(&oldest) {
                inner.bytes -= gone.bytes;
            }
        }
        if inner.bytes > self.budget
            && let Some(gone) = inner.folders.remove(folder)
        {
            // One folder alone over the budget: start it again rather than grow without bound.
            inner.bytes -= gone.bytes;
        }
    }

    /// Forget the folder at `dir` (any GUID or UIDVALIDITY).
    pub fn forget(&self, dir: &Path) {
        let mut inner = self.lock();
        let keys: Vec<FolderKey> = inner
            .folders
            .keys()
            .filter(|k| k.dir == dir)
            .cloned()
            .collect();
        for k in keys {
            if let Some(gone) = inner.folders.remove(&k) {
                inner.bytes -= gone.bytes;
            }
        }
    }

    /// Bytes cached now (approximately).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// The cache and the folder a search uses it for.
#[derive(Debug, Clone, Copy)]
pub struct FieldSource<'a> {
    /// The shared cache.
    pub cache: &'a FieldCache,
    /// The searched mailbox.
    pub folder: &'a FolderKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &str) -> FolderKey {
        FolderKey {
            dir: PathBuf::from(dir),
            guid: "g".into(),
            uidvalidity: 1,
        }
    }

    fn strings(s: &str) -> FieldStrings {
        vec![s.to_string().into_boxed_str()].into()
    }

    #[test]
    fn answers_only_when_every_field_is_cached() {
        let c = FieldCache::new(1 << 20);
        let a = key("/a");
        c.put(&a, 7, &[("subject".into(), strings("hello"))]);
        let got = c.get_all(&a, &["subject".into()], 7).unwrap();
        assert_eq!(&*got[0].1[0], "hello");
        assert!(
            c.get_all(&a, &["subject".into(), "from".into()], 7)
                .is_none()
        );
        assert!(c.get_all(&a, &["subject".into()], 8).is_none());
        let other_validity = FolderKey {
            uidvalidity: 2,
            ..a.clone()
        };
        assert!(c.get_all(&other_validity, &["subject".into()], 7).is_none());
        c.forget(Path::new("/a"));
        assert!(c.get_all(&a, &["subject".into()], 7).is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn least_recently_used_folders_go_over_the_budget() {
        let per_entry = cost(&strings("x"));
        let c = FieldCache::new(per_entry * 3);
        let (a, b, d) = (key("/a"), key("/b"), key("/d"));
        c.put(&a, 1, &[("subject".into(), strings("x"))]);
        c.put(&b, 1, &[("subject".into(), strings("x"))]);
        assert!(c.get_all(&a, &["subject".into()], 1).is_some()); // a used after b
        c.put(&d, 1, &[("subject".into(), strings("x"))]);
        c.put(&d, 2, &[("subject".into(), strings("x"))]);
        assert!(
            c.get_all(&b, &["subject".into()], 1).is_none(),
            "b went first"
        );
        assert!(c.get_all(&a, &["subject".into()], 1).is_some());
        assert!(c.bytes() <= per_entry * 3);
    }
}
