//! Index writes done by this process: indexing a message it saved, changing
//! flags (renaming the file), expunging (unlinking the file). Each runs in
//! one `BEGIN IMMEDIATE` transaction, with the file operation inside it so
//! that concurrent processes see file and index change together.

use std::fs;
use std::io;
use std::path::Path;

use super::{Index, MsgRow, keywords_to_text, live_rows, msg_row, now_secs, read_meta};
use crate::error::{StoreError, blocking};
use crate::flags::{FORWARDED_KEYWORD, Flag, flags_to_letters};
use crate::maildir::filename::{cur_name, encode_letters};
use crate::maildir::keywords::Keywords;
use crate::maildir::save::{Saved, Subdir};
use crate::maildir::sync::find_basename;
use crate::maildir::uidlist::{self, UidList};

/// Compact `dovecot-uidlist` after this many expunges (see sync).
const COMPACT_AFTER: i64 = 100;

/// A message this process saved, to be indexed.
#[derive(Debug, Clone)]
pub(crate) struct NewMessage {
    /// Where and how it was saved.
    pub(crate) saved: Saved,
    /// System flags.
    pub(crate) flags: Vec<Flag>,
    /// Keywords.
    pub(crate) keywords: Vec<String>,
}

/// Normalize keywords: deduplicated case-insensitively, sorted.
pub(crate) fn normalize_keywords(k: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kw in k {
        let kw = kw.trim();
        if kw.is_empty() || out.iter().any(|o| o.eq_ignore_ascii_case(kw)) {
            continue;
        }
        out.push(kw.to_string());
    }
    out.sort();
    out
}

/// Register keywords in `dovecot-keywords` (except `$Forwarded`, which is
/// letter `P`) and return the table.
pub(crate) fn ensure_keywords(dir: &Path, keywords: &[String]) -> Result<Keywords, StoreError> {
    let mut table = Keywords::load(dir)?;
    let mut changed = false;
    for k in keywords {
        if k != FORWARDED_KEYWORD {
            changed |= table.add(k);
        }
    }
    if changed {
        table.store(dir)?;
    }
    Ok(table)
}

/// Rename `from` (in `subdir`) to `cur/<to>`, following the file when
/// someone else renamed it. `Ok(false)` when the file is gone.
fn rename_message(dir: &Path, row: &MsgRow, to: &str) -> Result<bool, StoreError> {
    let target = dir.join("cur").join(to);
    let from = dir.join(row.subdir.as_str()).join(&row.filename);
    match fs::rename(&from, &target) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&from, e)),
    }
    let Some(found) = find_basename(dir, &row.basename)? else {
        return Ok(false);
    };
    let from = dir.join(found.subdir.as_str()).join(&found.filename);
    match fs::rename(&from, &target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(&from, e)),
    }
}

/// Unlink a message file (following renames). Returns `true` when this
/// call removed it.
fn unlink_message(dir: &Path, row: &MsgRow) -> Result<bool, StoreError> {
    let path = dir.join(row.subdir.as_str()).join(&row.filename);
    match fs::remove_file(&path) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    let Some(found) = find_basename(dir, &row.basename)? else {
        return Ok(false);
    };
    let path = dir.join(found.subdir.as_str()).join(&found.filename);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

impl Index {
    /// Index messages this process just saved; returns their rows (with
    /// UIDs). A file that a concurrent sync already indexed keeps its UID.
    pub(crate) async fn insert_new(
        &mut self,
        msgs: Vec<NewMessage>,
    ) -> Result<Vec<MsgRow>, StoreError> {
        let dir = self.dir.clone();
        let path = self.path.clone();
        let fsync = self.fsync;
        let e = |e: sqlx::Error| StoreError::index(&path, e);
        let lock = self.lock_uidlist().await?;
        let mut tx = self.begin().await?;
        let meta = read_meta(&mut tx).await.map_err(e)?;
        let (mut uidnext, mut modseq) = (meta.uidnext, meta.highest_modseq);
        // No UID recorded in dovecot-uidlist (by Dovecot, say) is handed out again.
        let d = dir.clone();
        let last = blocking(move || uidlist::last_uid(&d)).await?;
        if let Some(last) = last {
            uidnext = uidnext.max(last.saturating_add(1));
        }
        // A uidlist without the index's newest message (a writer died between its commit and
        // its uidlist update) is rewritten whole below rather than appended to.
        let max_live: Option<i64> =
            sqlx::query_scalar("SELECT MAX(uid) FROM messages WHERE expunged = 0")
                .fetch_one(&mut *tx)
                .await
                .map_err(e)?;
        let incomplete = match (last, max_live) {
            (None, _) => true,
            (Some(l), Some(m)) => i64::from(l) < m,
            (Some(_), None) => false,
        };
        let now = now_secs();
        let mut out = Vec::new();
        let mut appended = Vec::new();
        for m in msgs {
            let existing =
                sqlx::query("SELECT * FROM messages WHERE basename = ? AND expunged = 0")
                    .bind(&m.saved.basename)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(e)?;
            if let Some(r) = existing {
                out.push(msg_row(&r));
                continue;
            }
            modseq += 1;
            let row = MsgRow {
                uid: uidnext,
                basename: m.saved.basename.clone(),
                filename: m.saved.filename.clone(),
                subdir: m.saved.subdir,
                flags: flags_to_letters(&m.flags),
                keywords: normalize_keywords(&m.keywords),
                size: m.saved.size,
                vsize: m.saved.vsize,
                internal_date: m.saved.mtime,
                save_date: now,
                modseq,
                expunged: false,
            };
            super::insert_row(&mut tx, &row).await.map_err(e)?;
            appended.push((row.uid, row.basename.clone()));
            out.push(row);
            uidnext += 1;
        }
        sqlx::query("UPDATE meta SET uidnext = ?, highestmodseq = ? WHERE id = 1")
            .bind(i64::from(uidnext))
            .bind(modseq as i64)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        if appended.is_empty() {
            return Ok(out);
        }
        let header = UidList {
            uidvalidity: meta.uidvalidity,
            next_uid: uidnext,
            guid: Some(meta.guid.clone()),
            entries: Vec::new(),
        };
        let written = if incomplete {
            let rows = live_rows(&mut *self.conn().await?).await.map_err(e)?;
            let list = UidList {
                entries: rows.into_iter().map(|r| (r.uid, r.basename)).collect(),
                ..header
            };
            blocking(move || uidlist::rewrite(lock, &dir, &list, fsync)).await
        } else {
            let records = appended.clone();
            blocking(move || {
                uidlist::append(lock, &dir, &records, fsync, move || UidList {
                    entries: appended,
                    ..header
                })
            })
            .await
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, "cannot update dovecot-uidlist; it is repaired at the next write");
        }
        Ok(out)
    }

    /// Replace the flags and keywords of `uid`, renaming its file into
    /// `cur/`. Returns the updated row (MODSEQ unchanged when nothing
    /// changed).
    pub(crate) async fn set_flags(
        &mut self,
        uid: u32,
        flags: &[Flag],
        keywords: &[String],
    ) -> Result<MsgRow, StoreError> {
        let (row, _) = self
            .set_flags_unless_modified(uid, flags, keywords, None)
            .await?;
        Ok(row)
    }

    /// [`Index::set_flags`], except that with `unchanged_since` (CONDSTORE) a
    /// message whose MODSEQ is above it is left alone: the `bool` is `false`
    /// and the row the current one. The check and the change are one
    /// transaction.
    pub(crate) async fn set_flags_unless_modified(
        &mut self,
        uid: u32,
        flags: &[Flag],
        keywords: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<(MsgRow, bool), StoreError> {
        let dir = self.dir.clone();
        let path = self.path.clone();
        let e = |e: sqlx::Error| StoreError::index(&path, e);
        let keywords = normalize_keywords(keywords);
        let letters = flags_to_letters(flags);
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT * FROM messages WHERE uid = ? AND expunged = 0")
            .bind(i64::from(uid))
            .fetch_optional(&mut *tx)
            .await
            .map_err(e)?
            .map(|r| msg_row(&r))
            .ok_or(StoreError::MessageNotFound(uid))?;
        if unchanged_since.is_some_and(|since| row.modseq > since) {
            tx.commit().await.map_err(e)?;
            return Ok((row, false));
        }
        let d = dir.clone();
        let kw = keywords.clone();
        let table = blocking(move || ensure_keywords(&d, &kw)).await?;
        // Keywords are case-insensitive: use the spelling already known.
        let keywords = normalize_keywords(
            &keywords
                .iter()
                .map(|k| {
                    table
                        .index(k)
                        .and_then(|i| table.name(i))
                        .or_else(|| {
                            row.keywords
                                .iter()
                                .find(|r| r.eq_ignore_ascii_case(k))
                                .map(String::as_str)
                        })
                        .unwrap_or(k)
                        .to_string()
                })
                .collect::<Vec<_>>(),
        );
        let new_name = cur_name(&row.basename, &encode_letters(flags, &keywords, &table));
        let unchanged = row.flags == letters && row.keywords == keywords;
        if unchanged && row.subdir == Subdir::Cur && row.filename == new_name {
            tx.commit().await.map_err(e)?;
            return Ok((row, true));
        }
        let r = row.clone();
        let n = new_name.clone();
        let renamed = blocking(move || rename_message(&dir, &r, &n)).await?;
        if !renamed {
            // Gone from disk: the next sync records the expunge.
            tx.commit().await.map_err(e)?;
            return Err(StoreError::MessageNotFound(uid));
        }
        let meta = read_meta(&mut tx).await.map_err(e)?;
        // A rename (even new/ -> cur/ without flag change) bumps MODSEQ so
        // that other snapshots learn the new file name.
        let modseq = meta.highest_modseq + 1;
        sqlx::query(
            "UPDATE messages SET filename = ?, folder = 'cur', flags = ?, keywords = ?, modseq = ? \
             WHERE uid = ?",
        )
        .bind(&new_name)
        .bind(&letters)
        .bind(keywords_to_text(&keywords))
        .bind(modseq as i64)
        .bind(i64::from(uid))
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        sqlx::query("UPDATE meta SET highestmodseq = ? WHERE id = 1")
            .bind(modseq as i64)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok((
            MsgRow {
                filename: new_name,
                subdir: Subdir::Cur,
                flags: letters,
                keywords,
                modseq,
                ..row
            },
            true,
        ))
    }

    /// Expunge `uids`: unlink the files and leave tombstones. Returns the
    /// expunged rows and, per row, whether this call unlinked the file
    /// (for the quota delta).
    pub(crate) async fn expunge(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(MsgRow, bool)>, StoreError> {
        let dir = self.dir.clone();
        let path = self.path.clone();
        let fsync = self.fsync;
        let e = |e: sqlx::Error| StoreError::index(&path, e);
        let lock = self.lock_uidlist().await?;
        let mut tx = self.begin().await?;
        let meta = read_meta(&mut tx).await.map_err(e)?;
        let mut rows = Vec::new();
        for &uid in uids {
            let r = sqlx::query("SELECT * FROM messages WHERE uid = ? AND expunged = 0")
                .bind(i64::from(uid))
                .fetch_optional(&mut *tx)
                .await
                .map_err(e)?;
            if let Some(r) = r {
                rows.push(msg_row(&r));
            }
        }
        let d = dir.clone();
        let rs = rows.clone();
        let removed = blocking(move || {
            rs.iter()
                .map(|r| unlink_message(&d, r))
                .collect::<Result<Vec<bool>, StoreError>>()
        })
        .await?;
        let mut modseq = meta.highest_modseq;
        let mut out = Vec::new();
        for (row, removed) in rows.into_iter().zip(removed) {
            modseq += 1;
            sqlx::query("UPDATE messages SET expunged = 1, modseq = ? WHERE uid = ?")
                .bind(modseq as i64)
                .bind(i64::from(row.uid))
                .execute(&mut *tx)
                .await
                .map_err(e)?;
            out.push((
                MsgRow {
                    modseq,
                    expunged: true,
                    ..row
                },
                removed,
            ));
        }
        let stale = meta.uidlist_stale + out.len() as i64;
        let live_count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE expunged = 0")
                .fetch_one(&mut *tx)
                .await
                .map_err(e)?;
        let compact = stale >= COMPACT_AFTER && stale > live_count;
        sqlx::query("UPDATE meta SET highestmodseq = ?, uidlist_stale = ? WHERE id = 1")
            .bind(modseq as i64)
            .bind(if compact { 0 } else { stale })
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        if compact {
            let live = live_rows(&mut tx).await.map_err(e)?;
            let list = UidList {
                uidvalidity: meta.uidvalidity,
                next_uid: meta.uidnext,
                guid: Some(meta.guid.clone()),
                entries: live.into_iter().map(|r| (r.uid, r.basename)).collect(),
            };
            tx.commit().await.map_err(e)?;
            blocking(move || uidlist::rewrite(lock, &dir, &list, fsync)).await?;
            return Ok(out);
        }
        tx.commit().await.map_err(e)?;
        drop(lock);
        Ok(out)
    }
}
