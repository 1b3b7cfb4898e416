//! An open mailbox: a snapshot of its messages as of the last sync, and the
//! operations IMAP needs (flags, expunge, append, copy).

use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{IoContext, StoreError, blocking};
use crate::flags::{Flag, letters_to_flags};
use crate::index::{Index, MsgRow, NewMessage};
use crate::maildir::filename::encode_letters;
use crate::maildir::quota::{self, Quota};
use crate::maildir::save::{self, Body, SaveRequest};
use crate::maildir::sync::find_basename;
use crate::user::UserStore;

mod condstore;
mod message_map;
mod shared;

pub use condstore::{ConditionalStore, ModSeqChanges};
pub(crate) use shared::forget as forget_shared_snapshot;

use message_map::MessageMap;

/// Metadata of one message, as of the mailbox's last sync.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageMeta {
    /// IMAP UID.
    pub uid: u32,
    /// System flags, sorted.
    pub flags: Vec<Flag>,
    /// Keywords (including `$Forwarded` for Maildir `P`), sorted.
    pub keywords: Vec<String>,
    /// Size of the file in bytes (`S=`).
    pub size: u64,
    /// Size with CRLF line endings (`W=`, IMAP `RFC822.SIZE`).
    pub vsize: u64,
    /// IMAP internal date: the file's mtime, seconds since the epoch.
    pub internal_date: i64,
    /// When the index first saw the message, seconds since the epoch.
    pub save_date: i64,
    /// CONDSTORE MODSEQ of the last change.
    pub modseq: u64,
    /// Current path of the file.
    pub path: PathBuf,
    /// `true` while the file is in `new/` (not yet seen by any IMAP client).
    pub in_new: bool,
}

/// What changed between two syncs (including changes made by other
/// processes; changes made through this `Mailbox` are already in its
/// snapshot and are not reported again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// UIDs of messages that appeared, ascending.
    pub new_uids: Vec<u32>,
    /// UIDs whose flags or keywords changed, ascending.
    pub flag_changes: Vec<u32>,
    /// UIDs that were expunged, ascending.
    pub expunged: Vec<u32>,
}

impl SyncChanges {
    /// `true` when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.new_uids.is_empty() && self.flag_changes.is_empty() && self.expunged.is_empty()
    }
}

/// An open mailbox. Not shared between tasks: each IMAP session (or
/// delivery) opens its own; they coordinate through the index.
#[derive(Debug)]
pub struct Mailbox {
    name: String,
    user: UserStore,
    index: Index,
    uidvalidity: u32,
    uidnext: u32,
    highest_modseq: u64,
    synced_modseq: u64,
    guid: String,
    messages: MessageMap,
    quota: Quota,
    /// (device, inode) of the index file: which shared snapshots fit (see `shared`).
    index_file: Option<(u64, u64)>,
    /// The index's random id, as of the last sync (see `shared`).
    index_id: i64,
}

impl Mailbox {
    pub(crate) async fn load(
        name: String,
        user: UserStore,
        mut index: Index,
    ) -> Result<Mailbox, StoreError> {
        let current = index.sync_with_disk().await?;
        let index_file = index.file_id();
        let mut mb = Mailbox {
            name,
            user,
            index,
            uidvalidity: 0,
            uidnext: 1,
            highest_modseq: 0,
            synced_modseq: 0,
            guid: String::new(),
            messages: MessageMap::default(),
            quota: Quota::UNLIMITED,
            index_file,
            index_id: 0,
        };
        let meta = match current {
            Some(meta) => meta,
            None => mb.index.meta().await?,
        };
        if let Some(built) = mb.index.take_built() {
            // Freshly built from the Maildir: the rows are at hand.
            mb.uidvalidity = built.uidvalidity;
            mb.guid = built.guid;
            mb.uidnext = built.next_uid;
            mb.highest_modseq = built.modseq;
            mb.synced_modseq = built.modseq;
            for row in &built.rows {
                let m = mb.meta_of(row);
                mb.messages.insert(m);
            }
        } else if let Some(s) = index_file.and_then(|f| shared::get(mb.index.dir(), f))
            && meta.index_id == s.index_id
            && meta.uidvalidity == s.uidvalidity
            && meta.guid == s.guid
            && meta.highest_modseq >= s.synced_modseq
        {
            // The newest snapshot of this index in the process: only later rows are read.
            mb.uidvalidity = s.uidvalidity;
            mb.guid = s.guid;
            mb.uidnext = s.uidnext;
            mb.highest_modseq = s.highest_modseq;
            mb.synced_modseq = s.synced_modseq;
            mb.messages = s.messages;
        }
        mb.refresh_after(meta).await?;
        mb.share();
        Ok(mb)
    }

    /// Offer this snapshot to the other mailboxes of the process (see `shared`).
    fn share(&self) {
        if let Some(file) = self.index_file {
            shared::put(
                self.index.dir(),
                &shared::Snapshot {
                    file,
                    index_id: self.index_id,
                    uidvalidity: self.uidvalidity,
                    guid: self.guid.clone(),
                    uidnext: self.uidnext,
                    highest_modseq: self.highest_modseq,
                    synced_modseq: self.synced_modseq,
                    messages: self.messages.clone(),
                },
            );
        }
    }

    fn meta_of(&self, row: &MsgRow) -> MessageMeta {
        MessageMeta {
            uid: row.uid,
            flags: letters_to_flags(&row.flags),
            keywords: row.keywords.clone(),
            size: row.size,
            vsize: row.vsize,
            internal_date: row.internal_date,
            save_date: row.save_date,
            modseq: row.modseq,
            path: self
                .index
                .dir()
                .join(row.subdir.as_str())
                .join(&row.filename),
            in_new: row.subdir == crate::maildir::save::Subdir::New,
        }
    }

    /// Pull index changes since the last refresh into the snapshot.
    async fn refresh(&mut self) -> Result<SyncChanges, StoreError> {
        let meta = self.index.meta().await?;
        self.refresh_after(meta).await
    }

    /// [`Mailbox::refresh`] with the meta row just read.
    async fn refresh_after(&mut self, meta: crate::index::Meta) -> Result<SyncChanges, StoreError> {
        let rows = self.index.changed_since(self.synced_modseq).await?;
        let mut changes = SyncChanges::default();
        let mut max_modseq = meta.highest_modseq;
        // Meta and rows are two reads: another process may commit between them, so rows can
        // carry UIDs at or past the `uidnext` just read; UIDNEXT stays above every UID seen.
        let mut uidnext = meta.uidnext;
        for row in rows {
            max_modseq = max_modseq.max(row.modseq);
            uidnext = uidnext.max(row.uid + 1);
            if row.expunged {
                if self.messages.remove(row.uid).is_some() {
                    changes.expunged.push(row.uid);
                }
                continue;
            }
            let m = self.meta_of(&row);
            match self.messages.insert(m.clone()) {
                None => changes.new_uids.push(row.uid),
                Some(old) if old.flags != m.flags || old.keywords != m.keywords => {
                    changes.flag_changes.push(row.uid)
                }
                Some(_) => {}
            }
        }
        self.uidvalidity = meta.uidvalidity;
        self.guid = meta.guid;
        self.index_id = meta.index_id;
        self.uidnext = self.uidnext.max(uidnext);
        self.highest_modseq = self.highest_modseq.max(max_modseq);
        self.synced_modseq = max_modseq;
        Ok(changes)
    }

    /// Sync with the Maildir and with other processes' index changes.
    pub async fn sync(&mut self) -> Result<SyncChanges, StoreError> {
        let changes = match self.index.sync_with_disk().await? {
            Some(meta) => self.refresh_after(meta).await?,
            None => self.refresh().await?,
        };
        if !changes.is_empty() {
            self.share();
        }
        Ok(changes)
    }

    /// The mailbox name (`INBOX` or the UTF-8 folder name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// UIDVALIDITY.
    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    /// The mailbox GUID (32 hex digits, Dovecot's `G` in `dovecot-uidlist`): stable across
    /// renames, new when a mailbox is recreated. IMAP's MAILBOXID (RFC 8474).
    pub fn guid(&self) -> &str {
        &self.guid
    }

    /// UIDNEXT as of the last sync or own append.
    pub fn uidnext(&self) -> u32 {
        self.uidnext
    }

    /// HIGHESTMODSEQ as of the last sync or own change.
    pub fn highest_modseq(&self) -> u64 {
        self.highest_modseq
    }

    /// Limits enforced by [`Mailbox::append`] and [`Mailbox::copy_to`]
    /// (into this mailbox). Default: unlimited.
    pub fn set_quota(&mut self, quota: Quota) {
        self.quota = quota;
    }

    /// All messages of the snapshot, by ascending UID.
    pub async fn messages(&self) -> Result<Vec<MessageMeta>, StoreError> {
        Ok(self.messages.values().cloned().collect())
    }

    /// The messages of the snapshot, by ascending UID, without copying them.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &MessageMeta> + '_ {
        self.messages.values()
    }

    /// The UIDs of the snapshot, ascending; the list is shared by the sessions that have the
    /// same snapshot, so do not keep it longer than needed (or share it on purpose).
    pub fn uids(&self) -> std::sync::Arc<Vec<u32>> {
        self.messages.uid_list()
    }

    /// Number of messages in the snapshot.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the snapshot holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.len() == 0
    }

    /// One message of the snapshot.
    pub fn message(&self, uid: u32) -> Option<&MessageMeta> {
        self.messages.get(uid)
    }

    /// Path of a message's file as of the snapshot (another process may
    /// have renamed it since; [`Mailbox::open_message`] follows renames).
    pub fn message_path(&self, uid: u32) -> Option<PathBuf> {
        self.messages.get(uid).map(|m| m.path.clone())
    }

    /// Open a message file for reading, following a rename by another
    /// process (flags changed) when needed.
    pub async fn open_message(&self, uid: u32) -> Result<std::fs::File, StoreError> {
        let m = self
            .messages
            .get(uid)
            .ok_or(StoreError::MessageNotFound(uid))?;
        let path = m.path.clone();
        let dir = self.index.dir().to_path_buf();
        blocking(move || match std::fs::File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let basename = crate::maildir::filename::parse(name).basename;
                match find_basename(&dir, &basename)? {
                    Some(f) => {
                        let p = dir.join(f.subdir.as_str()).join(&f.filename);
                        std::fs::File::open(&p).at(&p)
                    }
                    None => Err(StoreError::MessageNotFound(uid)),
                }
            }
            Err(e) => Err(StoreError::io(&path, e)),
        })
        .await
    }

    /// Replace the flags and keywords of `uid` (IMAP `STORE FLAGS`); the
    /// file is renamed into `cur/` with the new info letters. Returns the
    /// message's MODSEQ (unchanged when the flags were already these).
    pub async fn set_flags(
        &mut self,
        uid: u32,
        flags: &[Flag],
        keywords: &[String],
    ) -> Result<u64, StoreError> {
        let row = self.index.set_flags(uid, flags, keywords).await?;
        self.highest_modseq = self.highest_modseq.max(row.modseq);
        let m = self.meta_of(&row);
        self.messages.insert(m);
        Ok(row.modseq)
    }

    /// Expunge messages: unlink their files, record tombstones, update
    /// `maildirsize`. Unknown UIDs are ignored.
    pub async fn expunge(&mut self, uids: &[u32]) -> Result<(), StoreError> {
        let done = self.index.expunge(uids).await?;
        let (mut bytes, mut count) = (0i64, 0i64);
        for (row, removed) in &done {
            self.messages.remove(row.uid);
            self.highest_modseq = self.highest_modseq.max(row.modseq);
            if *removed {
                bytes += row.size as i64;
                count += 1;
            }
        }
        let maildir = self.user.maildir_path();
        blocking(move || quota::add_delta(&maildir, -bytes, -count)).await
    }

    /// Append a message (IMAP APPEND): saved durably into `cur/` with
    /// `flags` (or `new/` without), mtime set to `internal_date`. Returns
    /// its UID.
    pub async fn append(
        &mut self,
        msg: &[u8],
        flags: &[Flag],
        internal_date: Option<SystemTime>,
    ) -> Result<u32, StoreError> {
        let maildir = self.user.maildir_path();
        let limits = self.quota;
        let size = msg.len() as u64;
        let dir = self.index.dir().to_path_buf();
        let letters = (!flags.is_empty()).then(|| encode_letters(flags, &[], &Default::default()));
        let req = SaveRequest {
            dir,
            prefix: Vec::new(),
            body: Body::Bytes(msg.to_vec()),
            letters,
            mtime: internal_date,
            fsync: self.user.fsync(),
        };
        let saved = blocking(move || {
            quota::check(&maildir, &limits, size)?;
            let saved = save::save(req)?;
            if let Err(e) = quota::add_delta(&maildir, saved.size as i64, 1) {
                tracing::warn!(error = %e, "cannot update maildirsize");
            }
            Ok(saved)
        })
        .await?;
        let rows = self
            .index
            .insert_new(vec![NewMessage {
                saved,
                flags: flags.to_vec(),
                keywords: Vec::new(),
            }])
            .await?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Internal("appended message not indexed".into()))?;
        self.note_own_row(&row);
        Ok(row.uid)
    }

    fn note_own_row(&mut self, row: &MsgRow) {
        self.uidnext = self.uidnext.max(row.uid + 1);
        self.highest_modseq = self.highest_modseq.max(row.modseq);
        let m = self.meta_of(row);
        self.messages.insert(m);
    }

    /// Copy messages into `dest` (IMAP COPY): hard links when possible,
    /// byte copies otherwise; flags and keywords are kept. Returns
    /// `(source uid, destination uid)` pairs; UIDs not in this mailbox's
    /// snapshot are skipped. The destination's quota (see
    /// [`Mailbox::set_quota`]) applies to the total size.
    pub async fn copy_to(
        &mut self,
        uids: &[u32],
        dest: &mut Mailbox,
    ) -> Result<Vec<(u32, u32)>, StoreError> {
        let sources: Vec<MessageMeta> = uids
            .iter()
            .filter_map(|&u| self.messages.get(u).cloned())
            .collect();
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let total: u64 = sources.iter().map(|m| m.size).sum();
        let dest_maildir = dest.user.maildir_path();
        let dest_dir = dest.index.dir().to_path_buf();
        let limits = dest.quota;
        let fsync = dest.user.fsync();
        let src_dir = self.index.dir().to_path_buf();
        let names = self.copy_names(&sources, dest);
        let srcs = sources.clone();
        let maildir_for_undo = dest_maildir.clone();
        let saved = blocking(move || {
            quota::check_many(&dest_maildir, &limits, total, srcs.len() as u64)?;
            let mut out = Vec::new();
            let linked = (|| {
                for (m, name) in srcs.iter().zip(&names) {
                    let table = crate::index::ensure_keywords(&dest_dir, &m.keywords)?;
                    let letters = (!m.flags.is_empty() || !m.keywords.is_empty())
                        .then(|| encode_letters(&m.flags, &m.keywords, &table));
                    let src = if m.path.exists() {
                        m.path.clone()
                    } else {
                        let name = m.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        let base = crate::maildir::filename::parse(name).basename;
                        match find_basename(&src_dir, &base)? {
                            Some(f) => src_dir.join(f.subdir.as_str()).join(f.filename),
                            None => continue,
                        }
                    };
                    let s = save::link_or_copy_as(
                        &src,
                        &dest_dir,
                        name.as_deref(),
                        letters,
                        m.size,
                        m.vsize,
                        fsync,
                    )?;
                    if let Err(e) = quota::add_delta(&dest_maildir, s.size as i64, 1) {
                        tracing::warn!(error = %e, "cannot update maildirsize");
                    }
                    out.push((m.uid, m.flags.clone(), m.keywords.clone(), s));
                }
                Ok(())
            })();
            match linked {
                Ok(()) => Ok(out),
                Err(e) => {
                    // Nothing of a failed copy may show up later.
                    undo_copies(&dest_maildir, out.iter().map(|c| &c.3));
                    Err(e)
                }
            }
        })
        .await?;
        let src_uids: Vec<u32> = saved.iter().map(|s| s.0).collect();
        let files: Vec<save::Saved> = saved.iter().map(|s| s.3.clone()).collect();
        let inserted = dest
            .index
            .insert_new(
                saved
                    .into_iter()
                    .map(|(_, flags, keywords, saved)| NewMessage {
                        saved,
                        flags,
                        keywords,
                    })
                    .collect(),
            )
            .await;
        let rows = match inserted {
            Ok(rows) => rows,
            Err(e) => {
                let _ = blocking(move || {
                    undo_copies(&maildir_for_undo, files.iter());
                    Ok(())
                })
                .await;
                return Err(e);
            }
        };
        let mut pairs = Vec::new();
        for (src, row) in src_uids.into_iter().zip(rows) {
            dest.note_own_row(&row);
            pairs.push((src, row.uid));
        }
        Ok(pairs)
    }

    /// The names COPY gives its copies in `dest`: the unique part of each source's file
    /// name, so a copy keeps its identity (IMAP EMAILID, like Dovecot's GUID), unless the
    /// copy goes into the same folder or `dest` already has a message of that name (`None`:
    /// a new name).
    fn copy_names(&self, sources: &[MessageMeta], dest: &Mailbox) -> Vec<Option<String>> {
        let unique = |m: &MessageMeta| {
            let name = m.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            crate::maildir::filename::unique_part(name).to_string()
        };
        if self.index.dir() == dest.index.dir() {
            return vec![None; sources.len()];
        }
        let mut taken: std::collections::HashSet<String> =
            dest.messages.values().map(unique).collect();
        sources
            .iter()
            .map(|m| {
                let u = unique(m);
                (!u.is_empty() && taken.insert(u.clone())).then_some(u)
            })
            .collect()
    }

    /// Close the index connection.
    pub async fn close(self) {
        self.index.close().await;
    }
}

/// Remove the files of a copy that failed, and their `maildirsize` entries.
fn undo_copies<'a>(maildir: &std::path::Path, files: impl Iterator<Item = &'a save::Saved>) {
    let (mut bytes, mut count) = (0i64, 0i64);
    for f in files {
        match std::fs::remove_file(&f.path) {
            Ok(()) => {
                bytes += f.size as i64;
                count += 1;
            }
            Err(e) => tracing::warn!(error = %e, path = %f.path.display(), "cannot remove copy"),
        }
    }
    if count > 0
        && let Err(e) = quota::add_delta(maildir, -bytes, -count)
    {
        tracing::warn!(error = %e, "cannot update maildirsize");
    }
}
