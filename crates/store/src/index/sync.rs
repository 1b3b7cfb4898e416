//! Index ↔ Maildir sync (Dovecot's maildir-sync): new files get UIDs in
//! file name order, files renamed by someone else update flags, vanished
//! files become expunge tombstones; every change bumps MODSEQ. Cheap when
//! nothing changed: the mtimes of `new/` and `cur/` are compared first.

use std::collections::HashMap;

use super::{Index, MsgRow, insert_rows, keywords_to_text, live_rows, now_secs, read_meta};
use crate::error::{StoreError, blocking};
use crate::flags::flags_to_letters;
use crate::maildir::filename::{decode_letters, delivery_order};
use crate::maildir::keywords::Keywords;
use crate::maildir::sync::{FolderFiles, ScannedFile, dir_mtimes, scan};
use crate::maildir::uidlist::{self, UidList};

/// A directory mtime this close to now (ns) is not trusted: a change within
/// the same timestamp tick would go unnoticed (Dovecot does the same).
const DIRTY_WINDOW_NS: i64 = 2_000_000_000;

/// Compact `dovecot-uidlist` once it holds this many expunged lines (and
/// more of them than live ones).
const COMPACT_AFTER: i64 = 100;

pub(crate) fn now_nanos() -> i64 {
    crate::maildir::sync::nanos(std::time::SystemTime::now())
}

/// Mtimes to store: 0 (= "rescan next time") for recent ones.
pub(crate) fn clean_mtimes((new, cur): (i64, i64)) -> (i64, i64) {
    let now = now_nanos();
    let clean = |m: i64| if now - m < DIRTY_WINDOW_NS { 0 } else { m };
    (clean(new), clean(cur))
}

/// Files whose size and dates were read, ready to index.
struct NewFile {
    file: ScannedFile,
    size: u64,
    vsize: u64,
    mtime: i64,
}

impl Index {
    /// Bring the index in line with the Maildir.
    /// Returns the meta row when nothing changed (it is then current), `None` after a rescan.
    pub(crate) async fn sync_with_disk(&mut self) -> Result<Option<super::Meta>, StoreError> {
        let dir = self.dir.clone();
        // Two directory stats and one read of the uidlist's last 8 KiB, done in place: handing
        // them to a blocking thread and back costs several times what they do (this runs on
        // every SELECT and every IMAP command's sync).
        let (mtimes, last_listed) = (dir_mtimes(&dir)?, uidlist::last_uid(&dir)?);
        let meta = self.meta().await?;
        if meta.new_mtime != 0 && (meta.new_mtime, meta.cur_mtime) == mtimes {
            // The uidlist lists every UID the index handed out: nothing to heal (the common
            // case; no query).
            if last_listed.is_none_or(|l| l.saturating_add(1) < meta.uidnext) {
                self.heal_uidlist(last_listed).await?;
            }
            return Ok(Some(meta));
        }
        let path = self.path.clone();
        let fsync = self.fsync;
        let e = |e: sqlx::Error| StoreError::index(&path, e);
        let lock = self.lock_uidlist().await?;
        let mut tx = self.begin().await?;
        let meta = read_meta(&mut tx).await.map_err(e)?;
        let d = dir.clone();
        let mtimes = blocking(move || dir_mtimes(&d)).await?;
        if meta.new_mtime != 0 && (meta.new_mtime, meta.cur_mtime) == mtimes {
            tx.commit().await.map_err(e)?;
            drop(lock);
            return Ok(None);
        }
        let d = dir.clone();
        let (mut scanned, keywords) =
            blocking(move || Ok((scan(&d)?, Keywords::load(&d)?))).await?;
        let live = live_rows(&mut tx).await.map_err(e)?;
        let mut modseq = meta.highest_modseq;
        let mut stale = meta.uidlist_stale;
        let mut remaining: HashMap<u32, String> = HashMap::new();
        for row in &live {
            match scanned.files.remove(&row.basename) {
                None => {
                    modseq += 1;
                    stale += 1;
                    sqlx::query("UPDATE messages SET expunged = 1, modseq = ? WHERE uid = ?")
                        .bind(modseq as i64)
                        .bind(i64::from(row.uid))
                        .execute(&mut *tx)
                        .await
                        .map_err(e)?;
                }
                Some(f) => {
                    remaining.insert(row.uid, row.basename.clone());
                    if f.filename == row.filename && f.subdir == row.subdir {
                        continue;
                    }
                    // Any rename bumps MODSEQ, so that every snapshot learns
                    // the new file name.
                    let decoded = decode_letters(&f.parsed.letters, &keywords);
                    let flags = flags_to_letters(&decoded.flags);
                    modseq += 1;
                    sqlx::query(
                        "UPDATE messages SET filename = ?, folder = ?, flags = ?, keywords = ?, \
                         modseq = ? WHERE uid = ?",
                    )
                    .bind(&f.filename)
                    .bind(f.subdir.as_str())
                    .bind(&flags)
                    .bind(keywords_to_text(&decoded.keywords))
                    .bind(modseq as i64)
                    .bind(i64::from(row.uid))
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                }
            }
        }
        // New files, in Dovecot's delivery order.
        let d = dir.clone();
        let mut candidates: Vec<ScannedFile> = scanned.files.into_values().collect();
        candidates.sort_by(|a, b| delivery_order(&a.parsed.basename, &b.parsed.basename));
        let new_files = blocking(move || {
            let mut out = Vec::new();
            let files = FolderFiles::open(&d);
            for file in candidates {
                if let Some((size, vsize, mtime)) = files.info(&file)? {
                    out.push(NewFile {
                        file,
                        size,
                        vsize,
                        mtime,
                    });
                }
            }
            Ok(out)
        })
        .await?;
        let mut uidnext = meta.uidnext;
        // dovecot-uidlist may know UIDs the index does not: a writer died between appending
        // to it and committing the index, or Dovecot delivered here. Those files keep the UID
        // the uidlist gave them, and no UID recorded there is handed out again.
        let mut adopt: HashMap<String, u32> = HashMap::new();
        let d = dir.clone();
        if let Some(last) = blocking(move || uidlist::last_uid(&d)).await?
            && last >= uidnext
        {
            let d = dir.clone();
            if let Some(list) = blocking(move || UidList::load(&d)).await? {
                for (uid, name) in list.entries {
                    if uid >= meta.uidnext && !remaining.contains_key(&uid) {
                        adopt.entry(name).or_insert(uid);
                    }
                }
            }
            uidnext = last.saturating_add(1);
        }
        let prior_max = remaining.keys().max().copied();
        let now = now_secs();
        let mut appended = Vec::new();
        let mut new_rows = Vec::with_capacity(new_files.len());
        for nf in new_files {
            let adopted = adopt.remove(&nf.file.parsed.basename);
            let uid = adopted.unwrap_or(uidnext);
            let decoded = decode_letters(&nf.file.parsed.letters, &keywords);
            modseq += 1;
            let row = MsgRow {
                uid,
                basename: nf.file.parsed.basename.clone(),
                filename: nf.file.filename.clone(),
                subdir: nf.file.subdir,
                flags: flags_to_letters(&decoded.flags),
                keywords: decoded.keywords,
                size: nf.size,
                vsize: nf.vsize,
                internal_date: nf.mtime,
                save_date: now,
                modseq,
                expunged: false,
            };
            if adopted.is_none() {
                appended.push((uid, row.basename.clone()));
                uidnext += 1;
            }
            remaining.insert(uid, row.basename.clone());
            new_rows.push(row);
        }
        insert_rows(&mut tx, &new_rows).await.map_err(e)?;
        let (new_mtime, cur_mtime) = clean_mtimes(mtimes);
        let compact = stale >= COMPACT_AFTER && stale as usize > remaining.len();
        sqlx::query(
            "UPDATE meta SET uidnext = ?, highestmodseq = ?, new_mtime = ?, cur_mtime = ?, \
             uidlist_stale = ? WHERE id = 1",
        )
        .bind(i64::from(uidnext))
        .bind(modseq as i64)
        .bind(new_mtime)
        .bind(cur_mtime)
        .bind(if compact { 0 } else { stale })
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        let mut entries: Vec<(u32, String)> = remaining.into_iter().collect();
        entries.sort_unstable();
        let list = UidList {
            uidvalidity: meta.uidvalidity,
            next_uid: uidnext,
            guid: Some(meta.guid.clone()),
            entries,
        };
        // The index commits first; dovecot-uidlist follows. A crash in between leaves the
        // uidlist behind, which `heal_uidlist` repairs; it never holds a UID the index lacks.
        tx.commit().await.map_err(e)?;
        let d = dir.clone();
        let last = blocking(move || uidlist::last_uid(&d)).await?;
        // A uidlist that lacks a message the index had before this sync (a writer died between
        // its index commit and its uidlist update), or that does not exist, is written whole.
        let incomplete = match prior_max {
            Some(m) => last.is_none_or(|l| l < m),
            None => last.is_none() && !list.entries.is_empty(),
        };
        let written = if compact || incomplete {
            blocking(move || uidlist::rewrite(lock, &dir, &list, fsync)).await
        } else if !appended.is_empty() {
            blocking(move || uidlist::append(lock, &dir, &appended, fsync, || list)).await
        } else {
            drop(lock);
            Ok(())
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, "cannot update dovecot-uidlist; it is repaired at the next sync");
        }
        Ok(None)
    }

    /// Rewrite `dovecot-uidlist` from the index when it lacks UIDs the index has (a process
    /// died between committing the index and appending to the uidlist). Cheap when it does
    /// not: `last` is the uidlist's last UID (read from its last 8 KiB), then one indexed query.
    pub(crate) async fn heal_uidlist(&mut self, last: Option<u32>) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        let path = self.path.clone();
        let fsync = self.fsync;
        let e = |e: sqlx::Error| StoreError::index(&path, e);
        let max_live: Option<i64> =
            sqlx::query_scalar("SELECT MAX(uid) FROM messages WHERE expunged = 0")
                .fetch_one(&mut *self.conn().await?)
                .await
                .map_err(e)?;
        let Some(max_live) = max_live.and_then(|m| u32::try_from(m).ok()) else {
            return Ok(());
        };
        if last.is_some_and(|l| l >= max_live) {
            return Ok(());
        }
        let lock = self.lock_uidlist().await?;
        // A writer may have been between its commit and its uidlist append when `last` was
        // read; under the lock it is done.
        let d = dir.clone();
        if blocking(move || uidlist::last_uid(&d))
            .await?
            .is_some_and(|l| l >= max_live)
        {
            return Ok(());
        }
        let meta = read_meta(&mut *self.conn().await?).await.map_err(e)?;
        let rows = live_rows(&mut *self.conn().await?).await.map_err(e)?;
        let list = UidList {
            uidvalidity: meta.uidvalidity,
            next_uid: meta.uidnext,
            guid: Some(meta.guid.clone()),
            entries: rows.into_iter().map(|r| (r.uid, r.basename)).collect(),
        };
        tracing::warn!(dir = %dir.display(), "dovecot-uidlist lags behind the index: rewriting it");
        blocking(move || uidlist::rewrite(lock, &dir, &list, fsync)).await
    }
}
