//! Listing a folder's `new/` and `cur/` for the index sync (Dovecot's
//! maildir-sync): what files exist, under which basename and flags.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, StoreError};
use crate::maildir::filename::{self, ParsedName};
use crate::maildir::save::{Subdir, vsize_of_file};

/// A message file found on disk.
#[derive(Debug, Clone)]
pub(crate) struct ScannedFile {
    /// Full file name.
    pub(crate) filename: String,
    /// `new` or `cur`.
    pub(crate) subdir: Subdir,
    /// The parsed name.
    pub(crate) parsed: ParsedName,
}

/// The result of listing a folder.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Files by basename (a basename present twice keeps the `cur/` one).
    pub(crate) files: BTreeMap<String, ScannedFile>,
}

/// Modification times (ns since the epoch) of `new/` and `cur/`.
pub(crate) fn dir_mtimes(dir: &Path) -> Result<(i64, i64), StoreError> {
    let one = |sub: &str| -> Result<i64, StoreError> {
        let p = dir.join(sub);
        let m = fs::metadata(&p).and_then(|m| m.modified()).at(&p)?;
        Ok(nanos(m))
    };
    Ok((one("new")?, one("cur")?))
}

/// Nanoseconds since the epoch (0 for times before it).
pub(crate) fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// List `new/` and `cur/` of the folder at `dir`.
pub(crate) fn scan(dir: &Path) -> Result<Scan, StoreError> {
    let mut scan = Scan::default();
    for subdir in [Subdir::New, Subdir::Cur] {
        let d = dir.join(subdir.as_str());
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&d, e)),
        };
        for entry in rd {
            let entry = entry.at(&d)?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(dir = %d.display(), "skipping non-UTF-8 file name");
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let parsed = filename::parse(&name);
            if let Some(prev) = scan.files.get(&parsed.basename) {
                tracing::warn!(
                    first = %prev.filename, second = %name,
                    "duplicate Maildir basename; keeping one"
                );
                if prev.subdir == Subdir::Cur {
                    continue;
                }
            }
            scan.files.insert(
                parsed.basename.clone(),
                ScannedFile {
                    filename: name,
                    subdir,
                    parsed,
                },
            );
        }
    }
    Ok(scan)
}

/// The `new/` and `cur/` directories of a folder, open, for [`FolderFiles::info`] on many
/// files: each file is then looked up by its name in an open directory (`fstatat`) instead of
/// by its whole path, which is most of what a stat costs (a 100 000-message folder is indexed
/// from scratch with 100 000 of them).
pub(crate) struct FolderFiles<'a> {
    dir: &'a Path,
    new: Option<fs::File>,
    cur: Option<fs::File>,
}

impl<'a> FolderFiles<'a> {
    /// Open the subdirectories of `dir` (one that cannot be opened is stat'ed by path).
    pub(crate) fn open(dir: &'a Path) -> FolderFiles<'a> {
        let sub = |s: Subdir| fs::File::open(dir.join(s.as_str())).ok();
        FolderFiles {
            dir,
            new: sub(Subdir::New),
            cur: sub(Subdir::Cur),
        }
    }

    /// mtime (seconds) and length of `f`.
    fn stat(&self, f: &ScannedFile) -> io::Result<(i64, u64)> {
        use std::os::fd::AsRawFd;
        let handle = match f.subdir {
            Subdir::New => &self.new,
            Subdir::Cur => &self.cur,
        };
        let (Some(handle), Ok(name)) = (handle, std::ffi::CString::new(f.filename.as_bytes()))
        else {
            let m = fs::metadata(self.dir.join(f.subdir.as_str()).join(&f.filename))?;
            let mtime = m.modified().map(|t| nanos(t) / 1_000_000_000).unwrap_or(0);
            return Ok((mtime, m.len()));
        };
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid directory descriptor, a NUL-terminated name and room for the result;
        // `st` is read only when the call succeeded (it then filled it).
        let rc = unsafe { libc::fstatat(handle.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat returned 0, so it wrote the whole struct.
        let st = unsafe { st.assume_init() };
        Ok((st.st_mtime, u64::try_from(st.st_size).unwrap_or(0)))
    }

    /// Size, CRLF size and mtime (seconds) of `f`. Sizes come from `S=`/`W=` when the name
    /// has them, else from the file itself. `None` when the file vanished meanwhile.
    pub(crate) fn info(&self, f: &ScannedFile) -> Result<Option<(u64, u64, i64)>, StoreError> {
        let path = || self.dir.join(f.subdir.as_str()).join(&f.filename);
        let (mtime, len) = match self.stat(f) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path(), e)),
        };
        let size = f.parsed.size.unwrap_or(len);
        let vsize = match f.parsed.vsize {
            Some(v) => v,
            None => match vsize_of_file(&path()) {
                Ok((_, v)) => v,
                Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            },
        };
        Ok(Some((size, vsize, mtime)))
    }
}

/// Find the current file of `basename` (after someone else renamed it).
pub(crate) fn find_basename(dir: &Path, basename: &str) -> Result<Option<ScannedFile>, StoreError> {
    Ok(scan(dir)?.files.remove(basename))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maildir::layout::create_maildir;

    #[test]
    fn scan_prefers_cur_and_reads_sizes() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        create_maildir(d, false, false).unwrap();
        fs::write(d.join("new/1.a.h"), b"a\nb\n").unwrap();
        fs::write(d.join("cur/1.a.h:2,S"), b"a\nb\n").unwrap();
        fs::write(d.join("new/2.b.h,S=3,W=4"), b"abc").unwrap();
        fs::write(d.join("cur/.hidden"), b"").unwrap();
        let s = scan(d).unwrap();
        assert_eq!(s.files.len(), 2);
        let a = &s.files["1.a.h"];
        assert_eq!(a.subdir, Subdir::Cur);
        assert_eq!(a.parsed.letters, "S");
        assert_eq!(FolderFiles::open(d).info(a).unwrap().unwrap().0, 4);
        assert_eq!(FolderFiles::open(d).info(a).unwrap().unwrap().1, 6);
        let b = &s.files["2.b.h,S=3,W=4"];
        assert_eq!(FolderFiles::open(d).info(b).unwrap().unwrap().1, 4);
        assert!(find_basename(d, "2.b.h,S=3,W=4").unwrap().is_some());
        assert!(find_basename(d, "nope").unwrap().is_none());
        let (n, c) = dir_mtimes(d).unwrap();
        assert!(n > 0 && c > 0);
    }
}
