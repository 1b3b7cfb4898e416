//! # mailstack-queue
//!
//! The one durable queue of smtp-mta: a spool directory, a scheduler that hands due messages
//! to a delivery agent ([`Transport`]) and retries with back-off, and delivery status
//! notifications (RFC 3464). Modelled on Postfix's qmgr.
//!
//! ```text
//!  smtp-mta DATA ──enqueue()──▶ tmp/ ──committer (group commit)──▶ messages/<id> + envelopes/<id>.json
//!                                                                          │
//!        mailctl queue ──admin::{list,show,hold,release,delete,request_flush}──┤ (flock per message)
//!                                                                          ▼
//!                             scheduler ──DeliveryRequest──▶ Transport (LMTP to lmtp-mda, SMTP relay)
//!                                 ▲  ◀──DeliveryOutcome──────┘
//!                                 └── retry / bounce / DSN (enqueued back into this queue)
//! ```
//!
//! ## The queue ↔ delivery agent contract
//!
//! For each attempt the scheduler sends one [`DeliveryRequest`]: queue id, sender, the
//! recipients **still pending** (in envelope order), the path of the immutable message file,
//! its size, `ENVID` and whether SMTPUTF8 is needed. The agent answers with a
//! [`DeliveryOutcome`]:
//!
//! - [`DeliveryOutcome::PerRecipient`]: one [`RecipientOutcome`] per recipient, same order:
//!   - `Delivered { reply }` (2xx): the recipient is done (a DSN only if NOTIFY=SUCCESS).
//!   - `Deferred { reply }` (4xx): retried after `min(min_backoff · 2^(n-1), max_backoff)`
//!     ([`manual::retry_policy`]); one "delayed" DSN after `warn_after` (if NOTIFY allows);
//!     bounced with status `4.4.7` after `max_lifetime`.
//!   - `Failed { reply, status }` (5xx): the recipient is done and bounced with a DSN.
//! - [`DeliveryOutcome::AgentFailed`]: the agent could not answer for anyone (connection
//!   refused, timeout, broken protocol). Every recipient is deferred *without* counting an
//!   attempt, and the **whole transport backs off** (1 s doubling up to `min_backoff`, then one
//!   probe at a time) so a dead lmtp-mda is not hammered; the first success ends the back-off.
//!
//! Per attempt at most one DSN is sent, listing every recipient to report (failed, delayed,
//! delivered with NOTIFY=SUCCESS). It comes from `MAILER-DAEMON@<hostname>` with envelope
//! sender `<>` and `Auto-Submitted: auto-replied`, and is enqueued into this same queue to the
//! original sender. A message from `<>` never gets a DSN (it is logged and dropped). When every
//! recipient is delivered or failed, the message is removed.
//!
//! Every log line about a message carries its `queue_id`. Retry configuration keys and their
//! defaults: [`RetryPolicy`] and [`manual::retry_policy`].
//!
//! ## What it does
//!
//! - [`Queue::enqueue`] returns only when message and envelope are durable (fsynced files,
//!   renamed, both directories fsynced); concurrent enqueues share fsyncs
//!   ([`manual::group_commit`]).
//! - [`Queue::open`] recovers after a crash: complete messages are delivered, incomplete
//!   (never acknowledged) ones are discarded.
//! - [`admin`] works on the spool directory directly, for `mailctl queue`, while the service
//!   runs ([`manual::spool_layout`]).
//!
//! ## What it must not do
//!
//! - Speak SMTP or LMTP, or know about directories and mailboxes: delivery is the
//!   [`Transport`]'s job (this crate must not depend on `mailstack-smtp`; smtp depends on it).
//! - Acknowledge a message before it is durable, or lose one it acknowledged: a crash may
//!   repeat a delivery (at-least-once), never drop one.
//! - Bounce for a temporary condition before `max_lifetime`, or send a DSN about a DSN.
//! - Block the async runtime: file I/O runs on tokio's blocking pool; the [`admin`] functions
//!   are blocking by design (for a CLI).
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod admin;
mod attempt;
mod commit;
mod dsn;
mod error;
pub mod manual;
mod queue;
mod scheduler;
mod spool;
mod transport;
mod types;

pub use admin::{PendingRecipient, QueueEntry};
pub use error::QueueError;
pub use queue::Queue;
pub use transport::{DeliveryOutcome, DeliveryRequest, RecipientDsn, RecipientOutcome, Transport};
pub use types::{
    Envelope, MessageSource, Notify, QueueId, QueueOptions, QueueStats, RecipientSpec, RetryPolicy,
};
