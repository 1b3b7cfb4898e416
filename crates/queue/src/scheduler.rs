//! The scheduler (Postfix qmgr): which message is due, how many are in flight, transport
//! back-off, and noticing what `mailctl` did to the spool (hold, release, delete, flush).
//!
//! The envelope files are the truth; the scheduler keeps only an index (id → next attempt,
//! held, file fingerprint) rebuilt by a directory scan every [`SCAN_INTERVAL`]. A changed
//! fingerprint (inode, mtime, length) means someone rewrote the envelope: it is read again.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailstack_net::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::attempt::{Attempt, attempt};
use crate::queue::Wake;
use crate::spool::Spool;
use crate::types::{ms, now_ms};
use crate::{Queue, QueueId, Transport};

/// How often the spool directory is scanned for changes made by `mailctl` (and the flush
/// request file checked).
pub(crate) const SCAN_INTERVAL: Duration = Duration::from_millis(500);

/// First transport back-off after an agent failure (or `min_backoff` if smaller).
const AGENT_FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Identity of one version of an envelope file.
pub(crate) type Fingerprint = (u64, i64, i64, u64);

pub(crate) fn fingerprint(meta: &std::fs::Metadata) -> Fingerprint {
    (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len())
}

#[derive(Debug)]
struct Entry {
    next_ms: u64,
    held: bool,
    fingerprint: Option<Fingerprint>,
    in_flight: bool,
    /// A flush arrived while in flight: due at once after this attempt.
    flush_after: bool,
}

/// Back-off of the whole transport after [`crate::DeliveryOutcome::AgentFailed`]: 1 s
/// doubling up to `min_backoff`; while backing off, one probe delivery at a time.
#[derive(Debug, Default)]
struct AgentBackoff {
    delay: Option<Duration>,
    until: Option<Instant>,
}

impl AgentBackoff {
    fn failed(&mut self, min_backoff: Duration) {
        let floor = Duration::from_millis(10);
        let first = AGENT_FIRST_BACKOFF.min(min_backoff).max(floor);
        let cap = min_backoff.max(first);
        let d = match self.delay {
            None => first,
            Some(d) => (d * 2).min(cap),
        };
        self.delay = Some(d);
        self.until = Some(Instant::now() + d);
    }
    fn succeeded(&mut self) {
        *self = AgentBackoff::default();
    }
    fn blocked(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() < u)
    }
    fn limit(&self, max: usize) -> usize {
        if self.delay.is_some() { 1 } else { max }
    }
}

/// The scheduler task.
pub(crate) async fn run(
    queue: Queue,
    mut wake: mpsc::UnboundedReceiver<Wake>,
    transport: Arc<dyn Transport>,
    shutdown: Shutdown,
) {
    let inner = queue.inner.clone();
    let max = inner.opts.max_concurrent_deliveries;
    let mut entries: HashMap<QueueId, Entry> = HashMap::new();
    let mut flying: JoinSet<(QueueId, Attempt)> = JoinSet::new();
    let mut backoff = AgentBackoff::default();
    let mut next_scan = Instant::now();
    tracing::info!(dir = %inner.opts.dir.display(), max_concurrent_deliveries = max, "queue scheduler started");

    loop {
        if shutdown.is_triggered() {
            break;
        }
        if Instant::now() >= next_scan {
            scan(&inner.spool, &mut entries, &mut backoff).await;
            next_scan = Instant::now() + SCAN_INTERVAL;
        }

        // Dispatch what is due.
        let now = now_ms();
        if !backoff.blocked() {
            let limit = backoff.limit(max);
            let mut due: Vec<(u64, QueueId)> = entries
                .iter()
                .filter(|(_, e)| !e.in_flight && !e.held && e.next_ms <= now)
                .map(|(id, e)| (e.next_ms, id.clone()))
                .collect();
            due.sort();
            for (_, id) in due {
                if flying.len() >= limit {
                    break;
                }
                if let Some(e) = entries.get_mut(&id) {
                    e.in_flight = true;
                }
                let (q, t, id2) = (queue.clone(), transport.clone(), id.clone());
                flying.spawn(async move { (id2.clone(), attempt(&q, t.as_ref(), &id2).await) });
            }
        }

        // Sleep until the next due message, the next scan, the end of the back-off, or an event.
        let mut wait = next_scan.saturating_duration_since(Instant::now());
        if let Some(until) = backoff.until.filter(|_| backoff.blocked()) {
            wait = wait.min(until.saturating_duration_since(Instant::now()));
        } else if flying.len() < backoff.limit(max)
            && let Some(next) = entries
                .values()
                .filter(|e| !e.in_flight && !e.held)
                .map(|e| e.next_ms)
                .min()
        {
            wait = wait.min(Duration::from_millis(next.saturating_sub(now_ms())));
        }
        tokio::select! {
            () = shutdown.triggered() => break,
            w = wake.recv() => match w {
                Some(Wake::Enqueued(id)) => load_one(&inner.spool, &mut entries, id).await,
                Some(Wake::Flush) => flush(&mut entries, &mut backoff),
                None => {}
            },
            Some(joined) = flying.join_next(), if !flying.is_empty() => {
                if let Ok((id, result)) = joined {
                    finished(&mut entries, &mut backoff, inner.opts.retry.min_backoff, id, result);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }

    if !flying.is_empty() {
        tracing::info!(
            in_flight = flying.len(),
            "queue scheduler stopping: waiting for deliveries in flight"
        );
    }
    while flying.join_next().await.is_some() {}
    tracing::info!("queue scheduler stopped");
}

fn flush(entries: &mut HashMap<QueueId, Entry>, backoff: &mut AgentBackoff) {
    let now = now_ms();
    for e in entries.values_mut() {
        e.next_ms = e.next_ms.min(now);
        e.flush_after = e.in_flight;
    }
    backoff.succeeded();
    tracing::info!(
        messages = entries.len(),
        "queue flush: every deferred message is due"
    );
}

fn finished(
    entries: &mut HashMap<QueueId, Entry>,
    backoff: &mut AgentBackoff,
    min_backoff: Duration,
    id: QueueId,
    result: Attempt,
) {
    let Some(e) = entries.get_mut(&id) else {
        return;
    };
    e.in_flight = false;
    let flushed = std::mem::take(&mut e.flush_after);
    match result {
        Attempt::Gone | Attempt::Done => {
            entries.remove(&id);
        }
        Attempt::Held => e.held = true,
        Attempt::Rescheduled {
            next_ms,
            fingerprint,
        } => {
            backoff.succeeded();
            e.next_ms = if flushed { now_ms() } else { next_ms };
            e.fingerprint = fingerprint.or(e.fingerprint);
        }
        Attempt::AgentFailed { fingerprint } => {
            backoff.failed(min_backoff);
            let d = backoff.delay.unwrap_or(min_backoff);
            e.next_ms = now_ms() + ms(d);
            e.fingerprint = fingerprint.or(e.fingerprint);
        }
        Attempt::Error(err) => {
            tracing::error!(queue_id = %id, error = %err, "queue error; retrying later");
            e.next_ms = now_ms() + ms(min_backoff);
        }
    }
}

/// What a scan found for one envelope.
struct Seen {
    id: QueueId,
    fingerprint: Fingerprint,
    /// (next attempt, held) when the envelope was (re)read.
    state: Option<(u64, bool)>,
}

/// Scan the spool: new and changed envelopes are read, vanished ones forgotten; a flush
/// request file is consumed.
async fn scan(spool: &Spool, entries: &mut HashMap<QueueId, Entry>, backoff: &mut AgentBackoff) {
    let known: HashMap<QueueId, Option<Fingerprint>> = entries
        .iter()
        .filter(|(_, e)| !e.in_flight)
        .map(|(id, e)| (id.clone(), e.fingerprint))
        .collect();
    let s = spool.clone();
    let result = tokio::task::spawn_blocking(move || scan_blocking(&s, &known)).await;
    let (seen, flush_requested) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "queue scan failed");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "queue scan task failed");
            return;
        }
    };
    let present: std::collections::HashSet<QueueId> = seen.iter().map(|s| s.id.clone()).collect();
    entries.retain(|id, e| {
        let keep = e.in_flight || present.contains(id);
        if !keep {
            tracing::info!(queue_id = %id, "removed from the queue by the administrator");
        }
        keep
    });
    for s in seen {
        let Some((next_ms, held)) = s.state else {
            continue;
        };
        match entries.get_mut(&s.id) {
            Some(e) if e.in_flight => {}
            Some(e) => {
                e.next_ms = next_ms;
                e.held = held;
                e.fingerprint = Some(s.fingerprint);
            }
            None => {
                entries.insert(
                    s.id,
                    Entry {
                        next_ms,
                        held,
                        fingerprint: Some(s.fingerprint),
                        in_flight: false,
                        flush_after: false,
                    },
                );
            }
        }
    }
    if flush_requested {
        flush(entries, backoff);
    }
}

fn scan_blocking(
    spool: &Spool,
    known: &HashMap<QueueId, Option<Fingerprint>>,
) -> Result<(Vec<Seen>, bool), crate::QueueError> {
    let mut seen = Vec::new();
    for id in spool.list_ids()? {
        let Ok(meta) = std::fs::metadata(spool.envelope(&id)) else {
            continue;
        };
        let fp = fingerprint(&meta);
        let state = if known.get(&id).is_some_and(|k| *k == Some(fp)) {
            None
        } else {
            match spool.read_envelope(&id) {
                Ok(Some(env)) => Some((env.next_attempt_ms, env.held)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(queue_id = %id, error = %e, "skipping unreadable envelope");
                    continue;
                }
            }
        };
        seen.push(Seen {
            id,
            fingerprint: fp,
            state,
        });
    }
    let flush_file = spool.flush_file();
    let flush = flush_file.exists();
    if flush {
        crate::spool::remove_if_exists(&flush_file)?;
    }
    Ok((seen, flush))
}

/// Index a freshly enqueued message.
async fn load_one(spool: &Spool, entries: &mut HashMap<QueueId, Entry>, id: QueueId) {
    if entries.contains_key(&id) {
        return;
    }
    let s = spool.clone();
    let id2 = id.clone();
    let read = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(s.envelope(&id2)).ok();
        (s.read_envelope(&id2), meta.map(|m| fingerprint(&m)))
    })
    .await;
    match read {
        Ok((Ok(Some(env)), fp)) => {
            entries.insert(
                id,
                Entry {
                    next_ms: env.next_attempt_ms,
                    held: env.held,
                    fingerprint: fp,
                    in_flight: false,
                    flush_after: false,
                },
            );
        }
        Ok((Ok(None), _)) => {}
        Ok((Err(e), _)) => tracing::error!(queue_id = %id, error = %e, "cannot read new envelope"),
        Err(e) => tracing::error!(queue_id = %id, error = %e, "envelope read task failed"),
    }
}
