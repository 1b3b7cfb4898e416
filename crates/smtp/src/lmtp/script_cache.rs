//! Compiled Sieve scripts kept between deliveries, keyed by path and checked against the
//! file's modification time, size and inode at each use (one `stat`): a script edited on disk
//! or replaced by ManageSieve (a rename, so a new inode) is compiled again, an unchanged one
//! never. A script that does not compile is remembered as such (and logged once per change).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mailstack_sieve::{Limits, Script};

/// Most scripts kept; past it the cache starts afresh (a crude bound: users rarely change
/// scripts, and one compile per delivery is the worst case).
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    size: u64,
    ino: u64,
}

/// What a script path holds now.
#[derive(Clone)]
pub(crate) enum Cached {
    /// Ready to run.
    Ready(Arc<Script>),
    /// Unusable: missing, unreadable, too large, or not compiling (the reason).
    Broken(Arc<str>),
}

/// The cache; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct ScriptCache {
    entries: Arc<Mutex<HashMap<PathBuf, (Stamp, Cached)>>>,
}

impl ScriptCache {
    /// The compiled script at `path` (blocking: call it off the async runtime).
    pub(crate) fn get(&self, path: &Path, limits: &Limits) -> Cached {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return Cached::Broken(format!("{}: {e}", path.display()).into()),
        };
        let stamp = Stamp {
            mtime: meta.modified().ok(),
            size: meta.len(),
            ino: meta.ino(),
        };
        if let Some((s, c)) = self.lock().get(path)
            && *s == stamp
        {
            return c.clone();
        }
        let compiled = if meta.len() > limits.max_script_bytes as u64 {
            Cached::Broken(
                format!(
                    "{}: {} bytes, over the limit of {}",
                    path.display(),
                    meta.len(),
                    limits.max_script_bytes
                )
                .into(),
            )
        } else {
            match std::fs::read(path) {
                Err(e) => Cached::Broken(format!("{}: {e}", path.display()).into()),
                Ok(bytes) => match String::from_utf8(bytes) {
                    Err(_) => Cached::Broken(format!("{}: not UTF-8", path.display()).into()),
                    Ok(source) => match mailstack_sieve::compile(&source, limits) {
                        Ok(script) => Cached::Ready(Arc::new(script)),
                        Err(e) => Cached::Broken(format!("{}: {e}", path.display()).into()),
                    },
                },
            }
        };
        if let Cached::Broken(why) = &compiled {
            tracing::warn!(script = %path.display(), error = %why, "sieve script not usable; skipped");
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(path.to_path_buf(), (stamp, compiled.clone()));
        compiled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Stamp, Cached)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many scripts are cached (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The script files a configured global path stands for: the file itself, or a directory's
/// `*.sieve` files in name order (Pigeonhole's `sieve_before`/`sieve_after`).
pub(crate) fn expand_global(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sieve") && p.is_file())
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %path.display(), error = %e, "cannot list global sieve scripts");
            Vec::new()
        }
    };
    files.sort();
    files
}
