//! The messages of a mailbox snapshot, by UID, shared copy-on-write between the sessions that
//! have the same folder open.
//!
//! A 100 000-message INBOX is about 25 MB of [`MessageMeta`]; every IMAP session that selects it
//! used to build and hold its own copy (and SELECT spent its time building it). A
//! [`MessageMap`] is a sorted list of chunks of at most [`CHUNK`] messages, each behind an
//! [`Arc`]: cloning the map clones one `Arc`, and changing a message copies the chunk list's
//! pointers and the one chunk it lies in. Sessions of one folder thus share all chunks nobody
//! changed since they took the snapshot.
//!
//! Our own rather than a persistent-collection crate (`im`, `imbl`, `rpds`): those are
//! MPL-2.0 licensed (the tree is permissive only), and the keys here are UIDs, which arrive in
//! ascending order almost always, so a chunked sorted vector is all it takes.

use std::sync::{Arc, OnceLock};

use super::MessageMeta;

/// Messages per chunk: a change copies at most this many entries.
const CHUNK: usize = 128;

/// Messages by ascending UID, cheap to clone and to share (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageMap {
    /// Non-empty chunks, each sorted by UID, every UID of a chunk below those of the next.
    chunks: Arc<Vec<Arc<Chunk>>>,
    len: usize,
    /// All UIDs in one list, made on first use and shared by the clones nobody changed since
    /// (a SELECT of 100 000 messages shares it instead of building its own).
    uid_list: Arc<OnceLock<Arc<Vec<u32>>>>,
}

/// Up to [`CHUNK`] messages and, beside them, their UIDs: searching and listing UIDs then
/// reads 4 bytes per message instead of a whole `MessageMeta` each.
#[derive(Debug, Clone, Default)]
struct Chunk {
    uids: Vec<u32>,
    metas: Vec<MessageMeta>,
}

impl Chunk {
    fn first(&self) -> u32 {
        self.uids[0]
    }

    fn find(&self, uid: u32) -> Result<usize, usize> {
        self.uids.binary_search(&uid)
    }
}

impl MessageMap {
    /// Number of messages.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The chunk that holds `uid` or would hold it: the last one whose first UID is not above.
    fn chunk_for(&self, uid: u32) -> usize {
        self.chunks
            .partition_point(|c| c.first() <= uid)
            .saturating_sub(1)
    }

    /// The message with `uid`.
    pub(crate) fn get(&self, uid: u32) -> Option<&MessageMeta> {
        let chunk = self.chunks.get(self.chunk_for(uid))?;
        chunk.find(uid).ok().map(|i| &chunk.metas[i])
    }

    /// All UIDs, ascending, as one shared list.
    pub(crate) fn uid_list(&self) -> Arc<Vec<u32>> {
        self.uid_list
            .get_or_init(|| {
                let mut out = Vec::with_capacity(self.len);
                for c in self.chunks.iter() {
                    out.extend_from_slice(&c.uids);
                }
                Arc::new(out)
            })
            .clone()
    }

    /// A change is coming: the shared UID list no longer fits this map.
    fn changing(&mut self) {
        if self.uid_list.get().is_some() || Arc::strong_count(&self.uid_list) > 1 {
            self.uid_list = Arc::default();
        }
    }

    /// Insert or replace the message with `meta.uid`; the replaced one is returned.
    pub(crate) fn insert(&mut self, meta: MessageMeta) -> Option<MessageMeta> {
        let uid = meta.uid;
        if self.get(uid).is_none() {
            self.changing();
        }
        let chunks = Arc::make_mut(&mut self.chunks);
        if chunks.is_empty() {
            chunks.push(Arc::new(Chunk {
                uids: vec![uid],
                metas: vec![meta],
            }));
            self.len = 1;
            return None;
        }
        let at = chunks
            .partition_point(|c| c.first() <= uid)
            .saturating_sub(1);
        let chunk = Arc::make_mut(&mut chunks[at]);
        match chunk.find(uid) {
            Ok(i) => Some(std::mem::replace(&mut chunk.metas[i], meta)),
            Err(i) => {
                chunk.uids.insert(i, uid);
                chunk.metas.insert(i, meta);
                if chunk.uids.len() > CHUNK {
                    // Appends (the usual case) leave full chunks behind; a split in the middle
                    // leaves two half-full ones.
                    let keep = if i == chunk.uids.len() - 1 {
                        CHUNK
                    } else {
                        chunk.uids.len() / 2
                    };
                    let rest = Chunk {
                        uids: chunk.uids.split_off(keep),
                        metas: chunk.metas.split_off(keep),
                    };
                    chunks.insert(at + 1, Arc::new(rest));
                }
                self.len += 1;
                None
            }
        }
    }

    /// Remove the message with `uid`.
    pub(crate) fn remove(&mut self, uid: u32) -> Option<MessageMeta> {
        let at = self.chunk_for(uid);
        let i = self.chunks.get(at)?.find(uid).ok()?;
        self.changing();
        let chunks = Arc::make_mut(&mut self.chunks);
        let chunk = Arc::make_mut(&mut chunks[at]);
        chunk.uids.remove(i);
        let gone = chunk.metas.remove(i);
        if chunk.uids.is_empty() {
            chunks.remove(at);
        }
        self.len -= 1;
        Some(gone)
    }

    /// All messages by ascending UID.
    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &MessageMeta> + '_ {
        self.chunks.iter().flat_map(|c| c.metas.iter())
    }

    /// Whether `self` and `other` share their chunk list (a clone nobody changed since).
    #[cfg(test)]
    fn shares_all_with(&self, other: &MessageMap) -> bool {
        Arc::ptr_eq(&self.chunks, &other.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta(uid: u32) -> MessageMeta {
        MessageMeta {
            uid,
            flags: Vec::new(),
            keywords: Vec::new(),
            size: u64::from(uid),
            vsize: u64::from(uid),
            internal_date: 0,
            save_date: 0,
            modseq: 1,
            path: std::path::PathBuf::from(format!("cur/{uid}")),
            in_new: false,
        }
    }

    fn check_invariants(m: &MessageMap) {
        assert!(
            m.chunks
                .iter()
                .all(|c| !c.uids.is_empty() && c.uids.len() <= CHUNK)
        );
        assert!(
            m.chunks
                .iter()
                .all(|c| c.uids.iter().eq(c.metas.iter().map(|x| &x.uid)))
        );
        let uids: Vec<u32> = m.values().map(|x| x.uid).collect();
        assert_eq!(*m.uid_list(), uids);
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert_eq!(uids.len(), m.len());
    }

    /// The map behaves like a BTreeMap under appends, inserts in the middle, replacements and
    /// removals (a deterministic pseudo-random sequence of operations).
    #[test]
    fn behaves_like_a_btreemap() {
        let mut ours = MessageMap::default();
        let mut model: BTreeMap<u32, MessageMeta> = BTreeMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for uid in 1..=1000 {
            assert_eq!(ours.insert(meta(uid)), model.insert(uid, meta(uid)));
        }
        for _ in 0..20_000 {
            let r = next();
            let uid = (r % 1500) as u32 + 1;
            match (r >> 32) % 3 {
                0 => {
                    let mut m = meta(uid);
                    m.modseq = r;
                    assert_eq!(ours.insert(m.clone()), model.insert(uid, m));
                }
                1 => assert_eq!(ours.remove(uid), model.remove(&uid)),
                _ => assert_eq!(ours.get(uid), model.get(&uid)),
            }
        }
        check_invariants(&ours);
        assert!(ours.values().eq(model.values()));
        for uid in 0..1600 {
            assert_eq!(ours.get(uid), model.get(&uid));
        }
        while let Some((&uid, _)) = model.iter().next() {
            assert_eq!(ours.remove(uid), model.remove(&uid));
        }
        assert_eq!(ours.len(), 0);
        assert_eq!(ours.get(1), None);
        assert_eq!(ours.remove(1), None);
    }

    /// Appending in UID order fills chunks to the brim.
    #[test]
    fn appends_fill_chunks() {
        let mut m = MessageMap::default();
        for uid in 1..=(CHUNK as u32 * 10) {
            m.insert(meta(uid));
        }
        assert_eq!(m.chunks.len(), 10);
        check_invariants(&m);
    }

    /// A clone shares everything; a change copies only the chunk it touches, and the other
    /// clone does not see it.
    #[test]
    fn clones_share_until_changed() {
        let mut a = MessageMap::default();
        for uid in 1..=(CHUNK as u32 * 4) {
            a.insert(meta(uid));
        }
        let list = a.uid_list();
        let mut b = a.clone();
        assert!(a.shares_all_with(&b));
        assert!(
            Arc::ptr_eq(&list, &b.uid_list()),
            "the UID list is shared too"
        );
        let mut changed = meta(5);
        changed.modseq = 99;
        b.insert(changed);
        assert!(!a.shares_all_with(&b));
        assert_eq!(a.get(5).unwrap().modseq, 1);
        assert_eq!(b.get(5).unwrap().modseq, 99);
        let shared = a
            .chunks
            .iter()
            .zip(b.chunks.iter())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(shared, 3, "only the changed chunk was copied");
        assert!(
            Arc::ptr_eq(&list, &b.uid_list()),
            "a flag change keeps the UIDs"
        );
        b.remove(CHUNK as u32 * 4);
        assert!(a.get(CHUNK as u32 * 4).is_some());
        assert!(b.get(CHUNK as u32 * 4).is_none());
        assert_eq!(a.uid_list().len(), CHUNK * 4);
        assert_eq!(b.uid_list().len(), CHUNK * 4 - 1);
        // A clone that computes its list later does not hand it to a changed sibling.
        let c = b.clone();
        let mut d = b.clone();
        d.insert(meta(100_000));
        assert_eq!(c.uid_list().len(), CHUNK * 4 - 1);
        assert_eq!(d.uid_list().len(), CHUNK * 4);
    }
}
