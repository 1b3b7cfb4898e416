//! The queue ↔ delivery agent contract (Postfix `qmgr_deliver.c`: request in, one status per
//! recipient out).

use std::path::PathBuf;

use async_trait::async_trait;

use crate::{Notify, QueueId};

/// A delivery agent: LMTP to lmtp-mda, SMTP to a remote MX, a test double.
///
/// The scheduler calls [`Transport::deliver`] with at most `max_concurrent_deliveries` calls in
/// flight, never twice at once for one message. The agent must not touch the spool: it reads
/// the message from [`DeliveryRequest::message_path`] and returns what happened; the queue
/// updates the envelope, schedules retries and sends DSNs.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Try to deliver the message to the recipients of `req`.
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome;
}

/// One delivery attempt of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    /// Log it with every line about this attempt.
    pub queue_id: QueueId,
    /// Reverse path; `""` is the null sender `<>`.
    pub sender: String,
    /// The recipients still pending (delivered and failed ones are never sent again), in
    /// envelope order.
    pub recipients: Vec<String>,
    /// The message file (immutable while queued; open it, do not keep the path for later).
    pub message_path: PathBuf,
    /// Size of the message file in bytes (for `SIZE=`).
    pub size: u64,
    /// `ENVID=` to pass on (SMTP relay).
    pub env_id: Option<String>,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// `RET=FULL` was given at MAIL (RFC 3461 §4.3): passed on to a next hop that offers DSN.
    pub ret_full: bool,
    /// The DSN parameters of each recipient (RFC 3461 §4.1, §4.2), parallel to
    /// [`DeliveryRequest::recipients`]; a missing entry means the defaults (no `ORCPT`,
    /// `NOTIFY` not given). An SMTP client passes them on when the next hop offers DSN.
    pub recipient_dsn: Vec<RecipientDsn>,
}

/// The DSN parameters of one recipient, as queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientDsn {
    /// `ORCPT=` decoded (`rfc822;a@example.com`).
    pub orcpt: Option<String>,
    /// `NOTIFY=`; the default value ([`Notify::default`]) is not sent on the wire.
    pub notify: Notify,
}

impl DeliveryRequest {
    /// The DSN parameters of recipient `i` (the defaults when none were recorded).
    pub fn dsn_of(&self, i: usize) -> RecipientDsn {
        self.recipient_dsn.get(i).cloned().unwrap_or_default()
    }
}

/// What happened to one recipient. The reply text is kept verbatim (it appears in `mailctl
/// queue list` and as `Diagnostic-Code` in DSNs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Delivered (`2xx`): the recipient is done.
    Delivered {
        /// The peer's reply, e.g. `250 2.0.0 <a@b> Saved`.
        reply: String,
    },
    /// Temporary failure (`4xx`): retried per the retry policy, bounced after `max_lifetime`.
    Deferred {
        /// The peer's reply, e.g. `452 4.2.2 Mailbox full`.
        reply: String,
    },
    /// Permanent failure (`5xx`): the recipient is done and a DSN goes to the sender.
    Failed {
        /// The peer's reply, e.g. `550 5.1.1 User unknown`.
        reply: String,
        /// Enhanced status code for the DSN (`5.1.1`).
        status: String,
    },
}

/// The result of one [`Transport::deliver`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// One outcome per recipient, in the order of [`DeliveryRequest::recipients`]. A missing
    /// outcome (a short vector) counts as deferred.
    PerRecipient(Vec<RecipientOutcome>),
    /// The agent itself failed before answering for any recipient (connection refused,
    /// timeout, protocol breakdown): every recipient is deferred and the whole transport backs
    /// off (1 s, doubling up to `min_backoff`) so a dead lmtp-mda is not hammered. The first
    /// success ends the back-off.
    AgentFailed {
        /// Why, for logs and `mailctl queue list`.
        reason: String,
    },
}
