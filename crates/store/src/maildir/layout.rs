//! The Maildir++ directory layout: INBOX is the Maildir root, folders are
//! `.Name` directories beside `cur/ new/ tmp/`, each with an empty
//! `maildirfolder` file.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StoreError};
use crate::mailbox_name::MailboxName;

/// Sub-directories of every Maildir.
pub(crate) const SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// Marker file of a Maildir++ folder.
pub(crate) const MAILDIRFOLDER: &str = "maildirfolder";

/// Directory of `name` under the user's Maildir root.
pub(crate) fn folder_dir(maildir: &Path, name: &MailboxName) -> PathBuf {
    match name.dir_name() {
        None => maildir.to_path_buf(),
        Some(d) => maildir.join(d),
    }
}

/// `true` when `dir` looks like a Maildir (has `cur/`).
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir()
}

fn mkdir(path: &Path) -> Result<bool, StoreError> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Create the directories of a Maildir (idempotent). For a folder
/// (`is_folder`), also the `maildirfolder` marker. The parent directory
/// must exist. When `fsync` is set, new directory entries are fsynced.
pub(crate) fn create_maildir(dir: &Path, is_folder: bool, fsync: bool) -> Result<(), StoreError> {
    let created = mkdir(dir)?;
    let mut changed = false;
    for sub in SUBDIRS {
        changed |= mkdir(&dir.join(sub))?;
    }
    if is_folder {
        let marker = dir.join(MAILDIRFOLDER);
        if !marker.exists() {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&marker)
                .at(&marker)?;
            changed = true;
        }
    }
    if fsync {
        if changed || created {
            fsync_dir(dir)?;
        }
        if created && let Some(parent) = dir.parent() {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

/// Create every missing directory from `root` down to `dir` (0700).
pub(crate) fn create_parents(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
        .at(dir)
}

/// fsync a directory so that entries created or renamed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    let f = fs::File::open(dir).at(dir)?;
    f.sync_all().at(dir)
}

/// All folders (not INBOX) under the Maildir root, with their directory
/// names, sorted by name. Directories whose names do not decode to a valid
/// mailbox name, or which are not Maildirs, are skipped.
pub(crate) fn list_folders(maildir: &Path) -> Result<Vec<(MailboxName, String)>, StoreError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(maildir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io(maildir, e)),
    };
    for entry in rd {
        let entry = entry.at(maildir)?;
        let Ok(fname) = entry.file_name().into_string() else {
            continue;
        };
        let Some(name) = MailboxName::from_dir_name(&fname) else {
            continue;
        };
        if !is_maildir(&entry.path()) {
            continue;
        }
        out.push((name, fname));
    }
    out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_and_list() {
        let t = tempfile::tempdir().unwrap();
        let md = t.path().join("Maildir");
        create_maildir(&md, false, true).unwrap();
        assert!(!md.join(MAILDIRFOLDER).exists());
        for n in ["Sent", "Work.Projects", "Ärger"] {
            let name = MailboxName::parse(n).unwrap();
            create_maildir(&folder_dir(&md, &name), true, false).unwrap();
        }
        create_maildir(&md.join(".Sent"), true, false).unwrap();
        fs::create_dir(md.join(".notamaildir")).unwrap();
        fs::create_dir(md.join(".a..b")).unwrap();
        let names: Vec<String> = list_folders(&md)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n.as_str().to_string())
            .collect();
        assert_eq!(names, vec!["Sent", "Work.Projects", "Ärger"]);
        assert!(md.join(".&AMQ-rger").join(MAILDIRFOLDER).is_file());
        for s in SUBDIRS {
            assert!(md.join(".Sent").join(s).is_dir());
        }
    }
}
