//! [`Queue`]: open (with crash recovery), enqueue (group commit), start the scheduler, flush.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use mailstack_net::Shutdown;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::commit::{PendingCommit, spawn_committer};
use crate::spool::{Spool, StoredEnvelope, read_names, remove_if_exists, write_file};
use crate::types::{Counters, MessageSource, now_ms};
use crate::{Envelope, QueueError, QueueId, QueueOptions, QueueStats, Transport};

/// Something the scheduler must look at now.
#[derive(Debug)]
pub(crate) enum Wake {
    /// A message was committed.
    Enqueued(QueueId),
    /// Every deferred message is due now.
    Flush,
}

/// The durable queue of smtp-mta. Cheap to clone; all clones share one spool, one committer
/// and one scheduler.
#[derive(Clone)]
pub struct Queue {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) opts: QueueOptions,
    pub(crate) spool: Spool,
    pub(crate) counters: Arc<Counters>,
    committer: mpsc::UnboundedSender<PendingCommit>,
    pub(crate) wake: mpsc::UnboundedSender<Wake>,
    wake_rx: Mutex<Option<mpsc::UnboundedReceiver<Wake>>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("dir", &self.inner.opts.dir)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Open the spool at `opts.dir` (creating its directories) and recover from a crash:
    /// files in `tmp/` are removed (those enqueues were never acknowledged), message files
    /// without an envelope are removed (an enqueue interrupted between its two renames, or a
    /// removal interrupted between its two unlinks), envelopes without a message are removed.
    /// Every remaining message is delivered once [`Queue::start`] runs.
    ///
    /// Must be called inside a tokio runtime (it starts the committer task).
    pub async fn open(mut opts: QueueOptions) -> Result<Queue, QueueError> {
        opts.max_concurrent_deliveries = opts.max_concurrent_deliveries.max(1);
        let spool = Spool::new(&opts.dir);
        let s = spool.clone();
        tokio::task::spawn_blocking(move || recover(&s))
            .await
            .map_err(|e| QueueError::io("recovery task", std::io::Error::other(e.to_string())))??;
        let counters = Arc::new(Counters::default());
        let committer = spawn_committer(spool.clone(), opts.fsync, counters.clone());
        let (wake, wake_rx) = mpsc::unbounded_channel();
        Ok(Queue {
            inner: Arc::new(Inner {
                opts,
                spool,
                counters,
                committer,
                wake,
                wake_rx: Mutex::new(Some(wake_rx)),
            }),
        })
    }

    /// Queue a message. Durable on return: message file and envelope written, fsynced,
    /// renamed into place and both directories fsynced (see [`crate::manual::group_commit`]:
    /// concurrent enqueues share the directory fsyncs). Only after `Ok` may smtp-mta answer
    /// `250`. On error nothing is left in the spool.
    pub async fn enqueue<'a>(
        &self,
        env: Envelope,
        message: impl Into<MessageSource<'a>>,
    ) -> Result<QueueId, QueueError> {
        self.enqueue_as(QueueId::generate(), env, message).await
    }

    /// [`Queue::enqueue`] under an id the caller chose (from [`QueueId::generate`]: the SMTP
    /// transaction's id), so logs before and after queueing name the message alike.
    pub async fn enqueue_as<'a>(
        &self,
        id: QueueId,
        env: Envelope,
        message: impl Into<MessageSource<'a>>,
    ) -> Result<QueueId, QueueError> {
        self.enqueue_inner(id, env, message.into(), None).await
    }

    /// [`Queue::enqueue_as`], held from the start (a milter's quarantine, like Postfix's hold
    /// queue): durable, never delivered until an administrator releases it (`mailctl queue
    /// release`). `reason` is kept in the envelope and shown by `mailctl queue show`.
    pub async fn enqueue_held_as<'a>(
        &self,
        id: QueueId,
        env: Envelope,
        message: impl Into<MessageSource<'a>>,
        reason: String,
    ) -> Result<QueueId, QueueError> {
        self.enqueue_inner(id, env, message.into(), Some(reason))
            .await
    }

    async fn enqueue_inner(
        &self,
        id: QueueId,
        env: Envelope,
        message: MessageSource<'_>,
        hold: Option<String>,
    ) -> Result<QueueId, QueueError> {
        validate(&env)?;
        let held = hold.is_some();
        let source = match message {
            MessageSource::Bytes(b) => OwnedSource::Bytes(b.to_vec()),
            MessageSource::File(f) => OwnedSource::File(f),
        };
        let spool = self.inner.spool.clone();
        let id2 = id.clone();
        let sender = env.sender.clone();
        let nrcpt = env.recipients.len();
        let received_from = env.received_from.clone();
        let (message_tmp, envelope_tmp, size) =
            tokio::task::spawn_blocking(move || write_tmp_files(&spool, &id2, env, source, hold))
                .await
                .map_err(|e| {
                    QueueError::io("enqueue task", std::io::Error::other(e.to_string()))
                })??;
        let (done, wait) = oneshot::channel();
        let pending = PendingCommit {
            id: id.clone(),
            message_tmp: message_tmp.clone(),
            envelope_tmp: envelope_tmp.clone(),
            done,
        };
        if self.inner.committer.send(pending).is_err() {
            let _ = remove_if_exists(&message_tmp);
            let _ = remove_if_exists(&envelope_tmp);
            return Err(QueueError::Closed);
        }
        wait.await.map_err(|_| QueueError::Closed)??;
        Counters::bump(&self.inner.counters.enqueued, 1);
        tracing::info!(
            queue_id = %id,
            from = %format_args!("<{sender}>"),
            nrcpt,
            size,
            received_from = %received_from,
            "queued"
        );
        if !held {
            let _ = self.inner.wake.send(Wake::Enqueued(id.clone()));
        }
        Ok(id)
    }

    /// Start the scheduler: deliver due messages through `transport`, at most
    /// `max_concurrent_deliveries` at once, retry deferred ones, send DSNs. The task ends when
    /// `shutdown` is triggered and the deliveries in flight have ended. Call it once per
    /// queue; a second call returns a task that logs an error and ends.
    pub fn start(&self, transport: Arc<dyn Transport>, shutdown: Shutdown) -> JoinHandle<()> {
        let rx = self
            .inner
            .wake_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let queue = self.clone();
        match rx {
            Some(rx) => tokio::spawn(crate::scheduler::run(queue, rx, transport, shutdown)),
            None => tokio::spawn(async move {
                tracing::error!(dir = %queue.inner.opts.dir.display(), "queue scheduler already started");
            }),
        }
    }

    /// Make every deferred message due now (like `postqueue -f`); also ends a transport
    /// back-off. Held messages stay held.
    pub fn flush(&self) {
        let _ = self.inner.wake.send(Wake::Flush);
    }

    /// Counters since the queue was opened.
    pub fn stats(&self) -> QueueStats {
        self.inner.counters.snapshot()
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.inner.opts.dir
    }
}

enum OwnedSource {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

fn validate(env: &Envelope) -> Result<(), QueueError> {
    if env.recipients.is_empty() {
        return Err(QueueError::InvalidEnvelope("no recipient".into()));
    }
    let bad = |a: &str| {
        a.bytes()
            .any(|b| matches!(b, b'\r' | b'\n' | b'<' | b'>' | 0))
    };
    if bad(&env.sender) {
        return Err(QueueError::InvalidEnvelope(format!(
            "bad sender {:?}",
            env.sender
        )));
    }
    for r in &env.recipients {
        if r.address.is_empty() || bad(&r.address) {
            return Err(QueueError::InvalidEnvelope(format!(
                "bad recipient {:?}",
                r.address
            )));
        }
    }
    Ok(())
}

/// Write the message and its envelope into `tmp/` (not yet fsynced: the committer does it).
fn write_tmp_files(
    spool: &Spool,
    id: &QueueId,
    env: Envelope,
    source: OwnedSource,
    hold: Option<String>,
) -> Result<(std::path::PathBuf, std::path::PathBuf, u64), QueueError> {
    let message_tmp = spool.tmp_dir().join(format!("{id}.msg"));
    let envelope_tmp = spool.tmp_dir().join(format!("{id}.json"));
    let size = match source {
        OwnedSource::Bytes(bytes) => {
            write_file(&message_tmp, &bytes, false)?;
            bytes.len() as u64
        }
        OwnedSource::File(mut f) => {
            let result = (|| {
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&message_tmp)?;
                f.seek(SeekFrom::Start(0))?;
                let mut buf = vec![0u8; 64 * 1024];
                let mut size = 0u64;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                    size += n as u64;
                }
                Ok::<u64, std::io::Error>(size)
            })();
            match result {
                Ok(size) => size,
                Err(e) => {
                    let _ = remove_if_exists(&message_tmp);
                    return Err(QueueError::io(
                        format!("write {}", message_tmp.display()),
                        e,
                    ));
                }
            }
        }
    };
    let mut stored = StoredEnvelope::new(id, env, size, now_ms());
    if let Some(reason) = hold {
        stored.held = true;
        stored.hold_reason = Some(reason);
    }
    if let Err(e) = write_file(&envelope_tmp, &stored.to_json(), false) {
        let _ = remove_if_exists(&message_tmp);
        return Err(e);
    }
    Ok((message_tmp, envelope_tmp, size))
}

/// Crash recovery at open (see [`Queue::open`]).
fn recover(spool: &Spool) -> Result<(), QueueError> {
    spool.create_dirs()?;
    for name in read_names(&spool.tmp_dir())? {
        let path = spool.tmp_dir().join(&name);
        tracing::info!(file = %path.display(), "removing incomplete queue file");
        remove_if_exists(&path)?;
    }
    let ids: std::collections::HashSet<QueueId> = spool.list_ids()?.into_iter().collect();
    for name in read_names(&spool.messages_dir())? {
        let orphan = match QueueId::parse(&name) {
            Ok(id) => !ids.contains(&id),
            Err(_) => false,
        };
        if orphan {
            tracing::info!(queue_id = %name, "removing message file without envelope");
            remove_if_exists(&spool.messages_dir().join(&name))?;
        }
    }
    for id in ids {
        if !spool.message(&id).exists() {
            tracing::warn!(queue_id = %id, "removing envelope without message file");
            remove_if_exists(&spool.envelope(&id))?;
        }
    }
    Ok(())
}
