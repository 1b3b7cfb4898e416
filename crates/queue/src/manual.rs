//! The queue's design decisions and the defaults they defend (documentation only, like
//! rustls' `manual`).

/// # Retry policy
///
/// Configuration (`[queue]`, declared in `config`; defaults in [`crate::RetryPolicy::default`]):
///
/// | key            | default | meaning                                                     |
/// |----------------|---------|-------------------------------------------------------------|
/// | `min_backoff`  | 5m      | wait after the first temporary failure                      |
/// | `max_backoff`  | 1h      | longest wait between two attempts                           |
/// | `max_lifetime` | 5d      | age at which still-pending recipients bounce (`4.4.7`)      |
/// | `warn_after`   | 4h      | age at which one "delayed" DSN is sent (NOTIFY=DELAY); off = never |
///
/// A new message is tried at once. After the `n`-th attempt that left recipients pending
/// (deferred, `4xx`), the next attempt waits
///
/// ```text
/// wait(n) = min(min_backoff · 2^(n-1), max_backoff)      5m, 10m, 20m, 40m, 1h, 1h, …
/// ```
///
/// so a message is tried about 125 times in 5 days: often enough that mail arrives soon after
/// a short outage, rarely enough that a broken peer is not hammered. These are Postfix's
/// defaults (`minimal_backoff_time` 300s, `maximal_backoff_time` 4000s,
/// `maximal_queue_lifetime` 5d, `delay_warning_time` 4h, which Postfix ships as 0 = off; we
/// turn it on because senders of a corporate domain want to know). Only recipients still
/// pending are tried again; delivered and bounced ones are never repeated.
///
/// ## Transport back-off
///
/// [`crate::DeliveryOutcome::AgentFailed`] (lmtp-mda down, connection refused) says nothing
/// about the message, so it does not count as an attempt of that message. Instead the whole
/// transport pauses: 1 s after the first failure, doubling per further failure up to
/// `min_backoff` (with a tiny `min_backoff` the pauses are that small). During a pause no
/// message is sent; afterwards one probe delivery at a time runs until one succeeds, which
/// ends the back-off. `mailctl queue flush` also ends it. This is what Postfix does when a
/// delivery agent "crashes" (qmgr throttles the transport): a dead lmtp-mda is not hit by a
/// thousand parallel connection attempts, and mail flows within a second or two of its
/// return.
///
/// Lifetime and the delay warning are checked after every attempt, agent failures included,
/// so a message stuck behind a dead agent still bounces after `max_lifetime`.
pub mod retry_policy {}

/// # Spool layout
///
/// ```text
/// <dir>/messages/<id>          the message bytes exactly as received; never changed while queued
/// <dir>/envelopes/<id>.json    envelope + per-recipient state; replaced atomically (tmp → rename)
/// <dir>/tmp/                   files being written; anything here at open() is discarded
/// <dir>/flush                  present = flush requested by mailctl; consumed by the scheduler
/// ```
///
/// `<id>` is a [`crate::QueueId`]: 22 characters `[0-9A-Z]` (time, counter, pid), sortable by
/// arrival, safe as a file name. The envelope file is JSON (`version: 1`):
///
/// ```json
/// { "version": 1, "id": "…", "arrival_ms": 1700000000000, "size": 1234,
///   "sender": "a@example.com", "env_id": null, "ret_full": false, "smtputf8": false,
///   "received_from": "mx.example.net [192.0.2.1]",
///   "recipients": [ { "address": "b@example.com", "orcpt": null,
///                     "notify": { "success": false, "failure": true, "delay": true, "never": false },
///                     "state": "pending", "last_reply": "451 4.3.0 try later" } ],
///   "attempts": 1, "next_attempt_ms": 1700000300000, "held": false, "warned": false }
/// ```
///
/// `state` is `pending`, `delivered` or `failed`. Times are milliseconds since the Unix epoch.
///
/// **The envelope is the commit record.** Enqueue renames the message into `messages/` first,
/// then the envelope into `envelopes/`; removal unlinks the envelope first, then the message.
/// So a message file without an envelope is always garbage (an unacknowledged enqueue or an
/// interrupted removal) and [`crate::Queue::open`] removes it, as it removes envelopes whose
/// message is missing and everything in `tmp/`.
///
/// **Locking.** Whoever changes an envelope (the scheduler after an attempt, `mailctl queue
/// hold|release|delete`) first takes an exclusive `flock` on `messages/<id>` (a file that is
/// never replaced, unlike the envelope), re-reads the envelope, and writes the new version to
/// `tmp/` and renames it over the old one. The lock is not held while the transport delivers,
/// so `mailctl` never waits for a slow peer; the scheduler re-reads the envelope before
/// applying the result, so a hold or delete during delivery wins (a deleted message's result
/// is dropped). Readers (`mailctl queue list|show`) need no lock: renames are atomic.
///
/// **How the running scheduler notices `mailctl`.** Every half second it lists `envelopes/`
/// and stats each file; an envelope whose inode, mtime or length changed is read again (held,
/// released: due now), a vanished one is forgotten, a present `flush` file is removed and
/// makes every message due. So `mailctl` needs no socket to smtp-mta and works while it is
/// down.
pub mod spool_layout {}

/// # Group commit
///
/// "Durable before acknowledged" costs an fsync of the message, of the envelope, and of each
/// directory whose entries changed. Directory fsyncs serialize in the file system journal, so
/// with one per message a busy MX is limited by disk latency (~100–1000 enqueues/s). Instead:
///
/// 1. Each [`crate::Queue::enqueue`] writes its message and envelope into `tmp/` (no fsync) on
///    the blocking pool and hands them to the **committer** task, then waits.
/// 2. The committer takes everything waiting (up to 512) as one batch, fsyncs all of its files
///    in parallel, renames the messages into `messages/`, fsyncs `messages/` once, renames the
///    envelopes into `envelopes/`, fsyncs `envelopes/` once, and only then answers every
///    enqueue of the batch.
/// 3. While a batch is being committed, new enqueues pile up and form the next batch: the
///    busier the server, the bigger the batches, the fewer fsyncs per message.
///
/// Ordering keeps crashes safe: a message is in `messages/` durably before its envelope
/// appears, and an enqueue is answered only after both directory fsyncs. A failed fsync fails
/// the enqueue (`4xx` to the client) and removes its files. [`crate::QueueStats`] counts
/// batches and fsyncs; with 50 concurrent enqueues there are far fewer than 100 directory
/// fsyncs. Envelope *rewrites* after an attempt fsync the file but not the directory: losing
/// one in a crash repeats an attempt (at-least-once), it never loses a message.
pub mod group_commit {}
