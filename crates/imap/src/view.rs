//! A session's view of its selected mailbox (RFC 9051 §7.5.1, §2.3.1.2).
//!
//! Message sequence numbers are per session: they change only when this session is told
//! (an `EXPUNGE`/`VANISHED` response), never behind the client's back. The view keeps the UID
//! list the client knows, queues what other sessions and lmtp-mda changed (from the store's
//! [`SyncChanges`]), and releases those changes only when the protocol allows: new messages
//! (`EXISTS`) and flag changes (`FETCH`) after any command, expunges never during FETCH, STORE
//! or SEARCH by sequence number (the client would mis-number what it is reading).

use std::collections::BTreeSet;
use std::sync::Arc;

use mailstack_store::SyncChanges;

use crate::search::key::{SeqBound, SequenceSet};

/// What to tell the client now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Updates {
    /// `* n EXPUNGE` lines, in sending order (each number valid after the previous ones).
    pub expunged: Vec<u32>,
    /// UIDs of expunged messages, for `VANISHED` (QRESYNC enabled) instead of `EXPUNGE`.
    pub vanished: Vec<u32>,
    /// `* n EXISTS` when the count changed.
    pub exists: Option<u32>,
    /// UIDs whose flags changed (send `* n FETCH (FLAGS ...)`), in UID order.
    pub flags_changed: Vec<u32>,
}

impl Updates {
    /// Nothing to say.
    pub fn is_empty(&self) -> bool {
        self.expunged.is_empty()
            && self.vanished.is_empty()
            && self.exists.is_none()
            && self.flags_changed.is_empty()
    }
}

/// The selected mailbox as this session sees it.
#[derive(Debug, Clone)]
pub struct MailboxView {
    /// UIDs in sequence order (ascending): seq n is `uids[n - 1]`. Shared with the store's
    /// snapshot (and so with the other sessions of the mailbox) until this view changes.
    uids: Arc<Vec<u32>>,
    pending_expunged: BTreeSet<u32>,
    pending_new: BTreeSet<u32>,
    pending_flags: BTreeSet<u32>,
}

impl MailboxView {
    /// A view of a mailbox holding `uids` (any order; duplicates ignored).
    pub fn new(uids: impl IntoIterator<Item = u32>) -> Self {
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();
        uids.dedup();
        Self::shared(Arc::new(uids))
    }

    /// A view of a mailbox holding `uids`, which must ascend (the store's
    /// `Mailbox::uids`); the list is shared, not copied.
    pub fn shared(uids: Arc<Vec<u32>>) -> Self {
        debug_assert!(uids.is_sorted_by(|a, b| a < b));
        MailboxView {
            uids,
            pending_expunged: BTreeSet::new(),
            pending_new: BTreeSet::new(),
            pending_flags: BTreeSet::new(),
        }
    }

    /// Messages the client knows about (its `EXISTS`).
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// UIDs in sequence order.
    pub fn uids(&self) -> &[u32] {
        &self.uids
    }

    /// The UID of sequence number `seq` (1-based).
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.uids.get(seq.checked_sub(1)? as usize).copied()
    }

    /// The sequence number of `uid`, if the client knows it.
    pub fn seq(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// Whether `uid` was expunged by someone else and the client has not been told yet
    /// (a FETCH of it then answers `NO [EXPUNGEISSUED]` or with what is still readable).
    pub fn is_pending_expunge(&self, uid: u32) -> bool {
        self.pending_expunged.contains(&uid)
    }

    /// Whether expunges by others wait to be told (they are held back during FETCH, STORE and
    /// SEARCH by sequence number).
    pub fn has_pending_expunges(&self) -> bool {
        !self.pending_expunged.is_empty()
    }

    /// Queue what the store reported since the last sync.
    pub fn absorb(&mut self, changes: &SyncChanges) {
        for &uid in &changes.expunged {
            if self.pending_new.remove(&uid) {
                continue; // appeared and vanished before the client heard of it
            }
            if self.seq(uid).is_some() {
                self.pending_expunged.insert(uid);
                self.pending_flags.remove(&uid);
            }
        }
        for &uid in &changes.new_uids {
            if self.seq(uid).is_none() {
                self.pending_new.insert(uid);
            }
        }
        for &uid in &changes.flag_changes {
            if self.seq(uid).is_some() && !self.pending_expunged.contains(&uid) {
                self.pending_flags.insert(uid);
            }
        }
    }

    /// Release the queued changes the protocol allows now. `expunges_allowed` is false after
    /// FETCH, STORE and SEARCH (not UID FETCH/STORE/SEARCH). With `vanished` (QRESYNC
    /// enabled) expunges are reported as UIDs.
    pub fn flush(&mut self, expunges_allowed: bool, vanished: bool) -> Updates {
        let mut out = Updates::default();
        if expunges_allowed && !self.pending_expunged.is_empty() {
            let gone = std::mem::take(&mut self.pending_expunged);
            if vanished {
                out.vanished = gone.iter().copied().collect();
            } else {
                // Highest first: each number stays valid without adjusting the others.
                out.expunged = gone.iter().rev().filter_map(|&u| self.seq(u)).collect();
            }
            Arc::make_mut(&mut self.uids).retain(|u| !gone.contains(u));
        }
        if !self.pending_new.is_empty() {
            let new = std::mem::take(&mut self.pending_new);
            // New UIDs are always above the known ones; keep the list sorted anyway.
            let uids = Arc::make_mut(&mut self.uids);
            uids.extend(new);
            uids.sort_unstable();
            uids.dedup();
            out.exists = Some(self.exists());
        }
        out.flags_changed = std::mem::take(&mut self.pending_flags)
            .into_iter()
            .collect();
        out
    }

    /// Apply our own EXPUNGE/MOVE of `uids` (already reported through [`Updates`] by the
    /// caller as it sends the responses): returns the sequence numbers to send, highest first.
    pub fn remove_own(&mut self, uids: &[u32]) -> Vec<u32> {
        let gone: BTreeSet<u32> = uids.iter().copied().collect();
        let seqs: Vec<u32> = gone.iter().rev().filter_map(|&u| self.seq(u)).collect();
        if !seqs.is_empty() {
            Arc::make_mut(&mut self.uids).retain(|u| !gone.contains(u));
        }
        for u in &gone {
            self.pending_expunged.remove(u);
            self.pending_flags.remove(u);
        }
        seqs
    }

    /// Apply our own EXPUNGE/MOVE of `uids` and say how to tell the client: `expunged`
    /// (sequence numbers, highest first) or, with `vanished` (QRESYNC enabled), `vanished`
    /// (the UIDs the client knew, ascending). UIDs the client did not know are left out.
    pub fn expunge_own(&mut self, uids: &[u32], vanished: bool) -> Updates {
        let mut out = Updates::default();
        if vanished {
            let mut known: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|&u| self.seq(u).is_some())
                .collect();
            known.sort_unstable();
            known.dedup();
            self.remove_own(&known);
            out.vanished = known;
        } else {
            out.expunged = self.remove_own(uids);
        }
        out
    }

    /// The UIDs a sequence set names, in ascending order. `*` is the last message; an empty
    /// mailbox makes every set empty. Numbers beyond the end are ignored (RFC 9051 allows
    /// BAD; Dovecot ignores them for UID sets).
    pub fn resolve_seqs(&self, set: &SequenceSet, saved: Option<&[u32]>) -> BTreeSet<u32> {
        match set {
            SequenceSet::Saved => saved
                .unwrap_or(&[])
                .iter()
                .copied()
                .filter(|u| self.seq(*u).is_some())
                .collect(),
            SequenceSet::Ranges(ranges) => {
                let n = self.exists();
                let mut out = BTreeSet::new();
                if n == 0 {
                    return out;
                }
                for &(a, b) in ranges {
                    let v = |x: SeqBound| match x {
                        SeqBound::Value(v) => v,
                        SeqBound::Largest => n,
                    };
                    let (lo, hi) = (v(a).min(v(b)).max(1), v(a).max(v(b)).min(n));
                    for seq in lo..=hi {
                        if let Some(uid) = self.uid(seq) {
                            out.insert(uid);
                        }
                    }
                }
                out
            }
        }
    }

    /// The known UIDs a UID set names. `*` is the highest UID in the mailbox; a range that
    /// lies above it still matches that last message (RFC 9051 §6.4.8).
    pub fn resolve_uids(&self, set: &SequenceSet, saved: Option<&[u32]>) -> BTreeSet<u32> {
        match set {
            SequenceSet::Saved => self.resolve_seqs(set, saved),
            SequenceSet::Ranges(ranges) => {
                let Some(&max) = self.uids.last() else {
                    return BTreeSet::new();
                };
                let mut out = BTreeSet::new();
                for &(a, b) in ranges {
                    let v = |x: SeqBound| match x {
                        SeqBound::Value(v) => v,
                        SeqBound::Largest => max,
                    };
                    let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
                    let start = self.uids.partition_point(|&u| u < lo);
                    out.extend(self.uids[start..].iter().take_while(|&&u| u <= hi));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests;
