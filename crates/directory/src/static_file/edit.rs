//! Safe read-modify-write of the users file.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::format::UsersFile;
use crate::DirectoryError;

/// Change the users file at `path` safely and return what `edit` returned.
///
/// 1. Takes an exclusive lock on the sidecar `<path>.lock` (created if missing, never removed:
///    removing a lock file races with the next locker). Concurrent `edit_users_file` calls, from
///    threads or processes, run one after another, so no edit is lost.
/// 2. Reads and parses the file (a missing file counts as empty). The parse checks syntax and
///    types only, so an edit can repair a file that fails validation.
/// 3. Runs `edit`. If it fails, nothing is written and its error is returned.
/// 4. Validates the result ([`UsersFile::validate`]); an invalid result is not written.
/// 5. Writes `<path>.tmp.<pid>` with mode 0600, fsyncs it, renames it over `path` and fsyncs the
///    directory. Readers ([`StaticDirectory`](super::StaticDirectory), another `mailctl`) see
///    either the old or the new file, never half of one.
///
/// The file is rewritten from the parsed data: comments other than the header
/// ([`USERS_FILE_HEADER`](super::USERS_FILE_HEADER)) and the original key order and formatting
/// are not kept.
pub fn edit_users_file<T>(
    path: impl AsRef<Path>,
    edit: impl FnOnce(&mut UsersFile) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    let path = path.as_ref();
    let io_err = |what: &str, p: &Path, e: std::io::Error| {
        DirectoryError::Unavailable(format!("{what} {}: {e}", p.display()))
    };

    let lock_path = with_suffix(path, ".lock");
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| io_err("cannot open lock file", &lock_path, e))?;
    lock.lock()
        .map_err(|e| io_err("cannot lock", &lock_path, e))?;

    let mut file = match std::fs::read_to_string(path) {
        Ok(text) => UsersFile::parse_unvalidated(&text, &path.display().to_string())?,
        Err(e) if e.kind() == ErrorKind::NotFound => UsersFile::default(),
        Err(e) => return Err(io_err("cannot read", path, e)),
    };
    let result = edit(&mut file)?;
    file.validate()?;
    write_atomically(path, file.to_toml()?.as_bytes())?;

    // Dropping `lock` closes the file, which releases the lock; unlock explicitly anyway so
    // the release does not depend on drop order.
    let _ = lock.unlock();
    Ok(result)
}

/// Write `contents` to `path` through a temporary file and a rename, with fsyncs.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), DirectoryError> {
    let tmp = with_suffix(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        // A leftover from a crashed run with our pid could have other permissions: start fresh.
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DirectoryError::Unavailable(format!("cannot write {}: {e}", path.display()))
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}
