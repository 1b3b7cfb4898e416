//! Saving a message into a Maildir: write to `tmp/`, fsync the file, rename
//! into `new/` (or `cur/` with flags), fsync the directory. Only then is the
//! message durable and the save successful. On any error the tmp file is
//! unlinked (and so is the final file if the directory fsync failed, because
//! the caller reports a failure and will retry).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, StoreError};
use crate::maildir::filename;
use crate::maildir::layout::fsync_dir;

/// Where a saved message lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subdir {
    /// `new/` (no info part, `\Recent` for Maildir readers).
    New,
    /// `cur/` (with `:2,<flags>`).
    Cur,
}

impl Subdir {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Subdir::New => "new",
            Subdir::Cur => "cur",
        }
    }

    pub(crate) fn parse(s: &str) -> Subdir {
        if s == "new" { Subdir::New } else { Subdir::Cur }
    }
}

/// An owned message body (so the save can run on the blocking pool).
#[derive(Debug)]
pub(crate) enum Body {
    /// In-memory bytes.
    Bytes(Vec<u8>),
    /// A file read with `pread` from offset 0 to its end.
    File(fs::File),
}

/// What to save where.
#[derive(Debug)]
pub(crate) struct SaveRequest {
    /// The folder directory (holding `tmp/ new/ cur/`).
    pub(crate) dir: PathBuf,
    /// Bytes written before the body (e.g. `Return-Path:` headers).
    pub(crate) prefix: Vec<u8>,
    /// The message.
    pub(crate) body: Body,
    /// `None`: save into `new/`. `Some(letters)`: into `cur/` with them.
    pub(crate) letters: Option<String>,
    /// Modification time to set (IMAP internal date).
    pub(crate) mtime: Option<SystemTime>,
    /// fsync file and directory.
    pub(crate) fsync: bool,
}

/// A saved message.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    /// File name without the info part.
    pub(crate) basename: String,
    /// Full file name.
    pub(crate) filename: String,
    /// `new` or `cur`.
    pub(crate) subdir: Subdir,
    /// Absolute path.
    pub(crate) path: PathBuf,
    /// Physical size.
    pub(crate) size: u64,
    /// Size with CRLF line endings.
    pub(crate) vsize: u64,
    /// Modification time, seconds since the epoch.
    pub(crate) mtime: i64,
}

/// Counts bare LFs (LF not preceded by CR) across chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct BareLfCounter {
    prev_cr: bool,
    bare: u64,
}

impl BareLfCounter {
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' && !self.prev_cr {
                self.bare += 1;
            }
            self.prev_cr = b == b'\r';
        }
    }

    pub(crate) fn bare(&self) -> u64 {
        self.bare
    }
}

/// The size a message would have with CRLF line endings.
pub(crate) fn vsize_of_file(path: &Path) -> Result<(u64, u64), StoreError> {
    let f = fs::File::open(path).at(path)?;
    let mut counter = BareLfCounter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off).at(path)?;
        if n == 0 {
            break;
        }
        counter.feed(&buf[..n]);
        off += n as u64;
    }
    Ok((off, off + counter.bare()))
}

fn unlink_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove file");
    }
}

fn mtime_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn write_tmp(file: &mut fs::File, tmp: &Path, req: &SaveRequest) -> Result<(u64, u64), StoreError> {
    let mut counter = BareLfCounter::default();
    let mut size = 0u64;
    file.write_all(&req.prefix).at(tmp)?;
    counter.feed(&req.prefix);
    size += req.prefix.len() as u64;
    match &req.body {
        Body::Bytes(b) => {
            file.write_all(b).at(tmp)?;
            counter.feed(b);
            size += b.len() as u64;
        }
        Body::File(src) => {
            let mut buf = vec![0u8; 128 * 1024];
            let mut off = 0u64;
            loop {
                let n = src
                    .read_at(&mut buf, off)
                    .map_err(|e| StoreError::io("<message source>", e))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).at(tmp)?;
                counter.feed(&buf[..n]);
                off += n as u64;
            }
            size += off;
        }
    }
    Ok((size, size + counter.bare()))
}

/// Save one message (see the module docs for the steps).
pub(crate) fn save(req: SaveRequest) -> Result<Saved, StoreError> {
    let unique = filename::unique_base();
    let tmp = req.dir.join("tmp").join(&unique);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .at(&tmp)?;
    let written = (|| {
        let (size, vsize) = write_tmp(&mut file, &tmp, &req)?;
        if let Some(t) = req.mtime {
            file.set_modified(t).at(&tmp)?;
        }
        if req.fsync {
            file.sync_all().at(&tmp)?;
        }
        let mtime = file.metadata().at(&tmp)?.modified().at(&tmp)?;
        Ok((size, vsize, mtime_secs(mtime)))
    })();
    drop(file);
    let (size, vsize, mtime) = match written {
        Ok(v) => v,
        Err(e) => {
            unlink_quietly(&tmp);
            return Err(e);
        }
    };
    let basename = filename::with_sizes(&unique, size, vsize);
    let (subdir, fname) = match &req.letters {
        None => (Subdir::New, basename.clone()),
        Some(l) => (Subdir::Cur, filename::cur_name(&basename, l)),
    };
    let dest_dir = req.dir.join(subdir.as_str());
    let path = dest_dir.join(&fname);
    if let Err(e) = fs::rename(&tmp, &path) {
        unlink_quietly(&tmp);
        return Err(StoreError::io(&path, e));
    }
    if req.fsync
        && let Err(e) = fsync_dir(&dest_dir)
    {
        unlink_quietly(&path);
        return Err(e);
    }
    Ok(Saved {
        basename,
        filename: fname,
        subdir,
        path,
        size,
        vsize,
        mtime,
    })
}

/// Put a copy of `src` into the folder `dest_dir`: a hard link when possible, else a byte
/// copy through [`save`] under a new unique name. The hard link is named after `unique` (the
/// unique part of the source's name, which the caller knows to be free in `dest_dir`) when
/// given, so the copy keeps its identity (IMAP EMAILID) as Dovecot keeps a copy's GUID;
/// otherwise it gets a new unique name.
pub(crate) fn link_or_copy_as(
    src: &Path,
    dest_dir: &Path,
    unique: Option<&str>,
    letters: Option<String>,
    size: u64,
    vsize: u64,
    fsync: bool,
) -> Result<Saved, StoreError> {
    let unique = unique.map_or_else(filename::unique_base, str::to_string);
    let basename = filename::with_sizes(&unique, size, vsize);
    let (subdir, fname) = match &letters {
        None => (Subdir::New, basename.clone()),
        Some(l) => (Subdir::Cur, filename::cur_name(&basename, l)),
    };
    let dir = dest_dir.join(subdir.as_str());
    let path = dir.join(&fname);
    match fs::hard_link(src, &path) {
        Ok(()) => {
            if fsync && let Err(e) = fsync_dir(&dir) {
                unlink_quietly(&path);
                return Err(e);
            }
            let mtime = fs::metadata(&path)
                .and_then(|m| m.modified())
                .map(mtime_secs)
                .at(&path)?;
            Ok(Saved {
                basename,
                filename: fname,
                subdir,
                path,
                size,
                vsize,
                mtime,
            })
        }
        Err(e) => {
            tracing::debug!(error = %e, "hard link failed, copying");
            let file = fs::File::open(src).at(src)?;
            let mtime = file.metadata().and_then(|m| m.modified()).ok();
            save(SaveRequest {
                dir: dest_dir.to_path_buf(),
                prefix: Vec::new(),
                body: Body::File(file),
                letters,
                mtime,
                fsync,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maildir::layout::create_maildir;

    #[test]
    fn bare_lf_counting_across_chunks() {
        let mut c = BareLfCounter::default();
        c.feed(b"a\r");
        c.feed(b"\nb\n");
        c.feed(b"\n\r\n");
        assert_eq!(c.bare(), 2);
    }

    #[test]
    fn save_new_and_cur() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        create_maildir(&dir, false, false).unwrap();
        let s = save(SaveRequest {
            dir: dir.clone(),
            prefix: b"X: y\n".to_vec(),
            body: Body::Bytes(b"Subject: x\n\nbody\n".to_vec()),
            letters: None,
            mtime: None,
            fsync: true,
        })
        .unwrap();
        assert_eq!(s.size, 22);
        assert_eq!(s.vsize, 26);
        assert!(s.filename.ends_with(",S=22,W=26"));
        assert_eq!(fs::read(&s.path).unwrap(), b"X: y\nSubject: x\n\nbody\n");
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);

        let src = fs::File::open(&s.path).unwrap();
        let when = UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        let c = save(SaveRequest {
            dir: dir.clone(),
            prefix: Vec::new(),
            body: Body::File(src),
            letters: Some("S".into()),
            mtime: Some(when),
            fsync: false,
        })
        .unwrap();
        assert_eq!(c.subdir, Subdir::Cur);
        assert!(c.filename.ends_with(":2,S"));
        assert_eq!(c.mtime, 1_600_000_000);
        assert_eq!(vsize_of_file(&c.path).unwrap(), (22, 26));

        let l =
            link_or_copy_as(&c.path, &dir, None, Some("F".into()), c.size, c.vsize, true).unwrap();
        assert_ne!(l.basename, c.basename);
        assert_eq!(fs::read(&l.path).unwrap(), fs::read(&c.path).unwrap());
    }

    #[test]
    fn failed_save_leaves_no_tmp_file() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        fs::create_dir(dir.join("tmp")).unwrap();
        // No new/ directory: the rename fails.
        let r = save(SaveRequest {
            dir: dir.clone(),
            prefix: Vec::new(),
            body: Body::Bytes(b"x".to_vec()),
            letters: None,
            mtime: None,
            fsync: true,
        });
        assert!(r.is_err());
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    }
}
