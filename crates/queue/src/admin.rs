//! Administration of a spool directory for `mailctl queue` (like Postfix `postqueue` and
//! `postsuper`), safe while smtp-mta runs: every envelope change takes the message's lock
//! (`flock` on `messages/<id>`), the same lock the scheduler takes, and replaces the envelope
//! file atomically; the running scheduler notices the change within
//! [`SCAN_INTERVAL`](crate::manual::spool_layout) (about half a second).
//!
//! These functions are blocking (std file I/O); call them from a plain thread or
//! `spawn_blocking`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::spool::{RcptState, Spool, StoredEnvelope};
use crate::types::now_ms;
use crate::{QueueError, QueueId};

/// One queued message as `mailctl queue list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The queue id.
    pub id: QueueId,
    /// Message size in bytes.
    pub size: u64,
    /// When it was queued.
    pub arrival: SystemTime,
    /// Reverse path (`""` = `<>`).
    pub sender: String,
    /// Recipients not yet delivered or bounced, with the last reply for each.
    pub pending: Vec<PendingRecipient>,
    /// Held by an administrator.
    pub held: bool,
    /// Why it is held when a milter quarantined it (`None` for an administrator's hold).
    pub hold_reason: Option<String>,
    /// Next delivery attempt (already past for a message due now).
    pub next_attempt: SystemTime,
    /// Attempts that ended with recipients still pending.
    pub attempts: u32,
}

/// A recipient still to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecipient {
    /// The address.
    pub address: String,
    /// The last reply of a delivery attempt for it (verbatim), if any.
    pub last_reply: Option<String>,
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl QueueEntry {
    fn from_stored(env: &StoredEnvelope) -> Result<QueueEntry, QueueError> {
        Ok(QueueEntry {
            id: QueueId::parse(&env.id)?,
            size: env.size,
            arrival: time(env.arrival_ms),
            sender: env.sender.clone(),
            pending: env
                .recipients
                .iter()
                .filter(|r| r.state == RcptState::Pending)
                .map(|r| PendingRecipient {
                    address: r.address.clone(),
                    last_reply: r.last_reply.clone(),
                })
                .collect(),
            held: env.held,
            hold_reason: env.hold_reason.clone(),
            next_attempt: time(env.next_attempt_ms),
            attempts: env.attempts,
        })
    }
}

/// Every message in the spool at `dir`, in arrival order. Unreadable envelopes are skipped
/// (and logged); messages removed while listing are left out.
pub fn list(dir: &Path) -> Result<Vec<QueueEntry>, QueueError> {
    let spool = Spool::new(dir);
    let mut out = Vec::new();
    for id in spool.list_ids()? {
        match spool.read_envelope(&id) {
            Ok(Some(env)) => out.push(QueueEntry::from_stored(&env)?),
            Ok(None) => {}
            Err(e @ QueueError::Corrupt { .. }) => {
                tracing::warn!(queue_id = %id, error = %e, "skipping unreadable envelope");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One message: its entry and its bytes.
pub fn show(dir: &Path, id: &str) -> Result<(QueueEntry, Vec<u8>), QueueError> {
    let spool = Spool::new(dir);
    let id = QueueId::parse(id)?;
    let env = spool
        .read_envelope(&id)?
        .ok_or_else(|| QueueError::NotFound(id.to_string()))?;
    let path = spool.message(&id);
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => QueueError::NotFound(id.to_string()),
        _ => QueueError::io(format!("read {}", path.display()), e),
    })?;
    Ok((QueueEntry::from_stored(&env)?, bytes))
}

/// Hold a message: the scheduler does not deliver it until [`release`]. A delivery already in
/// flight finishes.
pub fn hold(dir: &Path, id: &str) -> Result<(), QueueError> {
    modify(dir, id, |env| env.held = true)?;
    tracing::info!(queue_id = %id, "held by the administrator");
    Ok(())
}

/// Release a held message; it is due at once.
pub fn release(dir: &Path, id: &str) -> Result<(), QueueError> {
    modify(dir, id, |env| {
        env.held = false;
        env.hold_reason = None;
        env.next_attempt_ms = now_ms();
    })?;
    tracing::info!(queue_id = %id, "released by the administrator");
    Ok(())
}

/// Delete a message without delivering it and without a DSN (like `postsuper -d`).
pub fn delete(dir: &Path, id: &str) -> Result<(), QueueError> {
    let spool = Spool::new(dir);
    let qid = QueueId::parse(id)?;
    let Some(_lock) = spool.lock(&qid)? else {
        return Err(QueueError::NotFound(id.to_string()));
    };
    if !spool.envelope(&qid).exists() {
        return Err(QueueError::NotFound(id.to_string()));
    }
    spool.remove(&qid)?;
    crate::spool::fsync_dir(&spool.envelopes_dir())?;
    tracing::info!(queue_id = %id, "deleted by the administrator");
    Ok(())
}

/// Ask the running scheduler to make every deferred message due (like `postqueue -f`): writes
/// the request file `<dir>/flush`, which the scheduler consumes at its next scan.
pub fn request_flush(dir: &Path) -> Result<(), QueueError> {
    let spool = Spool::new(dir);
    if !spool.envelopes_dir().is_dir() {
        return Err(QueueError::io(
            format!("{} is not a queue directory", dir.display()),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let path = spool.flush_file();
    std::fs::write(&path, b"flush\n")
        .map_err(|e| QueueError::io(format!("write {}", path.display()), e))
}

/// Read-modify-write an envelope under the message lock.
fn modify(
    dir: &Path,
    id: &str,
    change: impl FnOnce(&mut StoredEnvelope),
) -> Result<(), QueueError> {
    let spool = Spool::new(dir);
    let qid = QueueId::parse(id)?;
    let Some(_lock) = spool.lock(&qid)? else {
        return Err(QueueError::NotFound(id.to_string()));
    };
    let mut env = spool
        .read_envelope(&qid)?
        .ok_or_else(|| QueueError::NotFound(id.to_string()))?;
    change(&mut env);
    spool.rewrite_envelope(&env, true)
}
