//! CONDSTORE / QRESYNC (RFC 7162) on an open mailbox: what changed after a MODSEQ, and the
//! conditional flag change of `STORE (UNCHANGEDSINCE n)`.

use super::Mailbox;
use crate::error::StoreError;
use crate::flags::Flag;

/// What changed in a mailbox after a MODSEQ ([`Mailbox::changes_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModSeqChanges {
    /// Messages of the snapshot whose MODSEQ is above (new, or flags changed), ascending UID.
    pub changed: Vec<u32>,
    /// UIDs whose expunge tombstone has a MODSEQ above, ascending. Tombstones newer than the
    /// snapshot are included (the caller may still show those messages).
    pub vanished: Vec<u32>,
    /// Whether `vanished` holds every expunge after the MODSEQ. When `false` (the index was
    /// rebuilt since, or the MODSEQ is not one this index handed out), any UID the client
    /// knows that is not in the mailbox may have been expunged, and `changed` lists all
    /// messages whose MODSEQ is above as usual, which after a rebuild is all of them.
    pub complete: bool,
}

/// The outcome of [`Mailbox::set_flags_unchanged_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalStore {
    /// Stored (or already so); the message's MODSEQ now.
    Stored(u64),
    /// The message changed after the given MODSEQ: nothing was done. Its MODSEQ now.
    Modified(u64),
}

impl Mailbox {
    /// What changed after `modseq`: messages of the snapshot with a higher MODSEQ, and the
    /// expunges the index recorded after it (read now, so possibly newer than the snapshot).
    pub async fn changes_since(&mut self, modseq: u64) -> Result<ModSeqChanges, StoreError> {
        let changed = self
            .messages
            .values()
            .filter(|m| m.modseq > modseq)
            .map(|m| m.uid)
            .collect();
        let vanished = self.index.expunged_since(modseq).await?;
        let floor = self.index.expunges_complete_after().await?;
        let highest = self
            .index
            .meta()
            .await?
            .highest_modseq
            .max(self.highest_modseq);
        Ok(ModSeqChanges {
            changed,
            vanished,
            complete: modseq >= floor && modseq <= highest,
        })
    }

    /// Replace the flags and keywords of `uid` (as [`Mailbox::set_flags`]) only if its MODSEQ
    /// is not above `unchanged_since`; the check and the change are atomic against other
    /// processes.
    pub async fn set_flags_unchanged_since(
        &mut self,
        uid: u32,
        flags: &[Flag],
        keywords: &[String],
        unchanged_since: u64,
    ) -> Result<ConditionalStore, StoreError> {
        let (row, stored) = self
            .index
            .set_flags_unless_modified(uid, flags, keywords, Some(unchanged_since))
            .await?;
        self.highest_modseq = self.highest_modseq.max(row.modseq);
        let m = self.meta_of(&row);
        self.messages.insert(m);
        Ok(if stored {
            ConditionalStore::Stored(row.modseq)
        } else {
            ConditionalStore::Modified(row.modseq)
        })
    }
}
