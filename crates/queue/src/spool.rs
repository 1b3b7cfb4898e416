//! The files of the spool (layout in [`crate::manual::spool_layout`]): paths, the envelope
//! file format, atomic rewrites and the per-message lock. Everything here is blocking std I/O;
//! async callers go through `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::types::{Envelope, Notify, RecipientSpec};
use crate::{QueueError, QueueId};

/// Version written into every envelope file.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Paths of one spool directory.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    pub(crate) dir: PathBuf,
}

impl Spool {
    pub(crate) fn new(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
        }
    }
    pub(crate) fn messages_dir(&self) -> PathBuf {
        self.dir.join("messages")
    }
    pub(crate) fn envelopes_dir(&self) -> PathBuf {
        self.dir.join("envelopes")
    }
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }
    pub(crate) fn flush_file(&self) -> PathBuf {
        self.dir.join("flush")
    }
    pub(crate) fn message(&self, id: &QueueId) -> PathBuf {
        self.messages_dir().join(id.as_str())
    }
    pub(crate) fn envelope(&self, id: &QueueId) -> PathBuf {
        self.envelopes_dir().join(format!("{id}.json"))
    }

    /// Create the directories if missing.
    pub(crate) fn create_dirs(&self) -> Result<(), QueueError> {
        for d in [self.messages_dir(), self.envelopes_dir(), self.tmp_dir()] {
            fs::create_dir_all(&d)
                .map_err(|e| QueueError::io(format!("create {}", d.display()), e))?;
        }
        Ok(())
    }

    /// The ids that have an envelope file, sorted (arrival order).
    pub(crate) fn list_ids(&self) -> Result<Vec<QueueId>, QueueError> {
        let mut ids = Vec::new();
        for name in read_names(&self.envelopes_dir())? {
            if let Some(id) = name
                .strip_suffix(".json")
                .and_then(|s| QueueId::parse(s).ok())
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Read and parse the envelope of `id`; `Ok(None)` if it does not exist.
    pub(crate) fn read_envelope(&self, id: &QueueId) -> Result<Option<StoredEnvelope>, QueueError> {
        let path = self.envelope(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(QueueError::io(format!("read {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| QueueError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    /// Replace the envelope of `id` atomically (tmp file, optional fsync, rename). The caller
    /// holds the message lock. The directory is not fsynced: losing a rewrite in a crash only
    /// repeats an attempt (at-least-once), it never loses a message.
    pub(crate) fn rewrite_envelope(
        &self,
        env: &StoredEnvelope,
        fsync: bool,
    ) -> Result<(), QueueError> {
        let id = QueueId::parse(&env.id)?;
        let tmp = self
            .tmp_dir()
            .join(format!("{id}.json.{}", unique_suffix()));
        write_file(&tmp, &env.to_json(), fsync)?;
        let dest = self.envelope(&id);
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            QueueError::io(format!("rename {} to {}", tmp.display(), dest.display()), e)
        })
    }

    /// Remove a message: envelope first (it is the commit record), then the message file.
    pub(crate) fn remove(&self, id: &QueueId) -> Result<(), QueueError> {
        remove_if_exists(&self.envelope(id))?;
        remove_if_exists(&self.message(id))
    }

    /// Open and lock (`flock`, exclusive) the message file of `id`; `Ok(None)` if the message
    /// is gone. The scheduler and `mailctl` take this lock around every read-modify-write of
    /// an envelope; the lock ends when the returned file is dropped.
    pub(crate) fn lock(&self, id: &QueueId) -> Result<Option<File>, QueueError> {
        let path = self.message(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(QueueError::io(format!("open {}", path.display()), e)),
        };
        file.lock()
            .map_err(|e| QueueError::io(format!("lock {}", path.display()), e))?;
        Ok(Some(file))
    }
}

/// File names in `dir` (non-UTF-8 names skipped).
pub(crate) fn read_names(dir: &Path) -> Result<Vec<String>, QueueError> {
    let entries =
        fs::read_dir(dir).map_err(|e| QueueError::io(format!("read {}", dir.display()), e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| QueueError::io(format!("read {}", dir.display()), e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// Write `bytes` to a new file at `path`, optionally fsynced.
pub(crate) fn write_file(path: &Path, bytes: &[u8], fsync: bool) -> Result<(), QueueError> {
    let ctx = || format!("write {}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| QueueError::io(ctx(), e))?;
    f.write_all(bytes).map_err(|e| QueueError::io(ctx(), e))?;
    if fsync {
        f.sync_all().map_err(|e| QueueError::io(ctx(), e))?;
    }
    Ok(())
}

/// fsync a directory (makes renames and unlinks in it durable).
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| QueueError::io(format!("fsync {}", dir.display()), e))
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<(), QueueError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(QueueError::io(format!("remove {}", path.display()), e)),
    }
}

/// A suffix that makes temporary names unique within the process and across processes.
fn unique_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RcptState {
    /// Not delivered yet.
    Pending,
    /// Delivered; never sent again.
    Delivered,
    /// Failed permanently (bounced); never sent again.
    Failed,
}

/// One recipient in an envelope file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredRecipient {
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) orcpt: Option<String>,
    pub(crate) notify: Notify,
    pub(crate) state: RcptState,
    /// The last reply for this recipient (verbatim), if any attempt answered for it.
    #[serde(default)]
    pub(crate) last_reply: Option<String>,
}

/// The envelope file `envelopes/<id>.json`. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredEnvelope {
    pub(crate) version: u32,
    pub(crate) id: String,
    pub(crate) arrival_ms: u64,
    pub(crate) size: u64,
    pub(crate) sender: String,
    #[serde(default)]
    pub(crate) env_id: Option<String>,
    #[serde(default)]
    pub(crate) ret_full: bool,
    #[serde(default)]
    pub(crate) smtputf8: bool,
    #[serde(default)]
    pub(crate) received_from: String,
    pub(crate) recipients: Vec<StoredRecipient>,
    /// Attempts that ended with recipients still pending.
    #[serde(default)]
    pub(crate) attempts: u32,
    pub(crate) next_attempt_ms: u64,
    /// Held by an administrator: not delivered until released.
    #[serde(default)]
    pub(crate) held: bool,
    /// Why it is held, when not by an administrator (a milter's quarantine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hold_reason: Option<String>,
    /// The "delayed" DSN was sent.
    #[serde(default)]
    pub(crate) warned: bool,
}

impl StoredEnvelope {
    pub(crate) fn new(id: &QueueId, env: Envelope, size: u64, now_ms: u64) -> StoredEnvelope {
        StoredEnvelope {
            version: FORMAT_VERSION,
            id: id.to_string(),
            arrival_ms: now_ms,
            size,
            sender: env.sender,
            env_id: env.env_id,
            ret_full: env.ret_full,
            smtputf8: env.smtputf8,
            received_from: env.received_from,
            recipients: env
                .recipients
                .into_iter()
                .map(|r: RecipientSpec| StoredRecipient {
                    address: r.address,
                    orcpt: r.orcpt,
                    notify: r.notify,
                    state: RcptState::Pending,
                    last_reply: None,
                })
                .collect(),
            attempts: 0,
            next_attempt_ms: now_ms,
            held: false,
            hold_reason: None,
            warned: false,
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    pub(crate) fn pending(&self) -> impl Iterator<Item = &StoredRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.state == RcptState::Pending)
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending().next().is_some()
    }
}
