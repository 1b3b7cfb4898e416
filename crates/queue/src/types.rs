//! The values that cross the queue's API: options, envelope, queue ids, statistics.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::QueueError;

/// How the queue is set up (from the `[queue]` config section).
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Spool directory (see [`crate::manual::spool_layout`]). Created if missing.
    pub dir: PathBuf,
    /// fsync files and directories before an enqueue returns. Only tests turn this off.
    pub fsync: bool,
    /// When deferred messages are retried and when they give up.
    pub retry: RetryPolicy,
    /// Deliveries in flight at once (at least 1).
    pub max_concurrent_deliveries: usize,
    /// Host name for DSNs (`Reporting-MTA`, `From: MAILER-DAEMON@<hostname>`).
    pub hostname: String,
}

/// Retry schedule of deferred messages; the formula and its defaults are defended in
/// [`crate::manual::retry_policy`]. Retry `n` (n ≥ 1) waits
/// `min(min_backoff · 2^(n-1), max_backoff)` after attempt `n` failed temporarily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first deferral. Default 5 minutes.
    pub min_backoff: Duration,
    /// Longest wait between attempts. Default 1 hour.
    pub max_backoff: Duration,
    /// Age after which still-pending recipients bounce (`4.4.7`). Default 5 days.
    pub max_lifetime: Duration,
    /// Age after which one "delayed" DSN is sent (if NOTIFY allows); `None` = never.
    /// Default 4 hours.
    pub warn_after: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_backoff: Duration::from_secs(5 * 60),
            max_backoff: Duration::from_secs(60 * 60),
            max_lifetime: Duration::from_secs(5 * 24 * 60 * 60),
            warn_after: Some(Duration::from_secs(4 * 60 * 60)),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failed attempt (1-based; 0 is treated as 1):
    /// `min(min_backoff · 2^(attempt-1), max_backoff)`, saturating.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let wait = self
            .min_backoff
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_backoff);
        wait.min(self.max_backoff)
    }
}

/// The SMTP envelope of a queued message (RFC 5321 plus the DSN parameters of RFC 3461).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Reverse path without angle brackets; `""` is the null sender `<>` (never gets a DSN).
    pub sender: String,
    /// Forward paths, at least one.
    pub recipients: Vec<RecipientSpec>,
    /// `ENVID=` of MAIL FROM (RFC 3461), echoed as `Original-Envelope-Id` in DSNs.
    pub env_id: Option<String>,
    /// `RET=FULL`: DSNs carry the whole message instead of its headers.
    pub ret_full: bool,
    /// The message needs SMTPUTF8 from the next hop.
    pub smtputf8: bool,
    /// Where the message came from (client name and address), for logs.
    pub received_from: String,
}

/// One recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientSpec {
    /// The address, without angle brackets.
    pub address: String,
    /// `ORCPT=` (already decoded, e.g. `rfc822;a@example.com`), echoed as `Original-Recipient`.
    pub orcpt: Option<String>,
    /// `NOTIFY=`.
    pub notify: Notify,
}

impl RecipientSpec {
    /// A recipient with default DSN parameters (no ORCPT, NOTIFY=FAILURE,DELAY).
    pub fn new(address: impl Into<String>) -> RecipientSpec {
        RecipientSpec {
            address: address.into(),
            orcpt: None,
            notify: Notify::default(),
        }
    }
}

/// `NOTIFY=` of RCPT TO (RFC 3461): which DSNs the sender wants for this recipient. `never`
/// overrides the others. The default (no NOTIFY given) is failure and delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// Report successful delivery.
    pub success: bool,
    /// Report permanent failure.
    pub failure: bool,
    /// Report delays.
    pub delay: bool,
    /// Never report anything.
    pub never: bool,
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            success: false,
            failure: true,
            delay: true,
            never: false,
        }
    }
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
        never: true,
    };

    /// Whether a success DSN is wanted.
    pub fn wants_success(&self) -> bool {
        !self.never && self.success
    }
    /// Whether a failure DSN is wanted.
    pub fn wants_failure(&self) -> bool {
        !self.never && self.failure
    }
    /// Whether a delay DSN is wanted.
    pub fn wants_delay(&self) -> bool {
        !self.never && self.delay
    }
}

/// A queue id: 22 characters of `[0-9A-Z]` that sort in arrival order within a process. It is
/// the file name of the message in the spool and appears in every log line about the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    /// A fresh id: microseconds since the epoch, a per-process counter and the process id,
    /// each in fixed-width base 36.
    /// A new id, unique on this host and sortable by creation time (microseconds, a
    /// per-process counter and the process id, base 36). smtp-mta gives each transaction one
    /// at MAIL and queues the message under it, so one id follows a message everywhere.
    pub fn generate() -> QueueId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = u64::from(std::process::id());
        QueueId(format!(
            "{}{}{}",
            base36(micros, 12),
            base36(n, 5),
            base36(pid, 5)
        ))
    }

    /// Parse an id given by a user or found on disk: 1 to 64 characters of `[0-9A-Za-z]`, so
    /// it is always a safe file name.
    pub fn parse(s: &str) -> Result<QueueId, QueueError> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(QueueError::InvalidId(s.to_string()));
        }
        Ok(QueueId(s.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last `width` base-36 digits of `n`, zero-padded (upper case).
fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The message content given to [`crate::Queue::enqueue`]: bytes in memory, or a file (a spool
/// that spilled to disk), read from its start.
#[derive(Debug)]
pub enum MessageSource<'a> {
    /// The whole message in memory.
    Bytes(&'a [u8]),
    /// A file holding the message; it is copied from offset 0.
    File(std::fs::File),
}

impl<'a> From<&'a [u8]> for MessageSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        MessageSource::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for MessageSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        MessageSource::Bytes(bytes)
    }
}

impl From<std::fs::File> for MessageSource<'_> {
    fn from(file: std::fs::File) -> Self {
        MessageSource::File(file)
    }
}

/// Counters of a [`crate::Queue`] since it was opened (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages enqueued (DSNs included).
    pub enqueued: u64,
    /// Group-commit batches written.
    pub commit_batches: u64,
    /// fsync calls on message and envelope files.
    pub file_fsyncs: u64,
    /// fsync calls on spool directories (two per batch: `messages/`, then `envelopes/`).
    pub dir_fsyncs: u64,
    /// Calls of [`crate::Transport::deliver`].
    pub delivery_attempts: u64,
    /// DSNs enqueued.
    pub dsns: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) commit_batches: AtomicU64,
    pub(crate) file_fsyncs: AtomicU64,
    pub(crate) dir_fsyncs: AtomicU64,
    pub(crate) delivery_attempts: AtomicU64,
    pub(crate) dsns: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> QueueStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueStats {
            enqueued: get(&self.enqueued),
            commit_batches: get(&self.commit_batches),
            file_fsyncs: get(&self.file_fsyncs),
            dir_fsyncs: get(&self.dir_fsyncs),
            delivery_attempts: get(&self.delivery_attempts),
            dsns: get(&self.dsns),
        }
    }
}

/// Milliseconds since the Unix epoch (the time unit of the spool files).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
