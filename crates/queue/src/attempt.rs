//! One delivery attempt of one message: read the envelope under the message lock, call the
//! transport (without the lock), then apply the outcome under the lock again: record replies,
//! schedule the retry, bounce expired recipients, enqueue one DSN, remove the message when no
//! recipient is pending.

use std::fs::File;

use crate::dsn::{self, Action, DsnRecipient};
use crate::scheduler::{Fingerprint, fingerprint};
use crate::spool::{RcptState, StoredEnvelope, StoredRecipient};
use crate::types::{Counters, ms, now_ms};
use crate::{
    DeliveryOutcome, DeliveryRequest, Queue, QueueError, QueueId, RecipientDsn, RecipientOutcome,
    RetryPolicy, Transport,
};

/// How an attempt ended, for the scheduler.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The message vanished (deleted by an administrator).
    Gone,
    /// The message is held; nothing was tried.
    Held,
    /// Every recipient is done; the message was removed.
    Done,
    /// Recipients remain; try again at `next_ms`.
    Rescheduled {
        next_ms: u64,
        fingerprint: Option<Fingerprint>,
    },
    /// The agent failed: back off the transport.
    AgentFailed { fingerprint: Option<Fingerprint> },
    /// A spool error; retried later.
    Error(QueueError),
}

/// Run one attempt of message `id`.
pub(crate) async fn attempt(queue: &Queue, transport: &dyn Transport, id: &QueueId) -> Attempt {
    match try_attempt(queue, transport, id).await {
        Ok(a) => a,
        Err(e) => Attempt::Error(e),
    }
}

async fn try_attempt(
    queue: &Queue,
    transport: &dyn Transport,
    id: &QueueId,
) -> Result<Attempt, QueueError> {
    let inner = &queue.inner;
    let Some((lock, env)) = lock_and_read(queue, id).await? else {
        return Ok(Attempt::Gone);
    };
    drop(lock);
    if env.held {
        return Ok(Attempt::Held);
    }
    let pending: Vec<usize> = (0..env.recipients.len())
        .filter(|&i| env.recipients[i].state == RcptState::Pending)
        .collect();
    let req = DeliveryRequest {
        queue_id: id.clone(),
        sender: env.sender.clone(),
        recipients: pending
            .iter()
            .map(|&i| env.recipients[i].address.clone())
            .collect(),
        message_path: inner.spool.message(id),
        size: env.size,
        env_id: env.env_id.clone(),
        smtputf8: env.smtputf8,
        ret_full: env.ret_full,
        recipient_dsn: pending
            .iter()
            .map(|&i| RecipientDsn {
                orcpt: env.recipients[i].orcpt.clone(),
                notify: env.recipients[i].notify,
            })
            .collect(),
    };
    let outcome = if req.recipients.is_empty() {
        DeliveryOutcome::PerRecipient(Vec::new())
    } else {
        Counters::bump(&inner.counters.delivery_attempts, 1);
        tracing::debug!(queue_id = %id, nrcpt = req.recipients.len(), attempt = env.attempts + 1, "delivering");
        transport.deliver(&req).await
    };

    // Apply under the lock, to the envelope as it is now (mailctl may have held it meanwhile).
    let Some((lock, mut env)) = lock_and_read(queue, id).await? else {
        tracing::info!(queue_id = %id, "message deleted during delivery");
        return Ok(Attempt::Gone);
    };
    let now = now_ms();
    let mut report = apply(&mut env, &req, &pending, &outcome, &inner.opts.retry, now);
    if !report.is_empty() {
        if env.sender.is_empty() {
            tracing::info!(queue_id = %id, recipients = report.len(), "no DSN for a message from the null sender <>; dropped");
        } else if let Err(e) = send_dsn(queue, &env, &report).await {
            // Keep the bounce for later: failed recipients stay pending, the warning unsent.
            tracing::error!(queue_id = %id, error = %e, "cannot enqueue DSN; will retry");
            for r in &mut report {
                match r.action {
                    Action::Failed => env.recipients[r.index].state = RcptState::Pending,
                    Action::Delayed => env.warned = false,
                    Action::Delivered => {}
                }
            }
            if env.has_pending() {
                // Try the bounce again later, backing off like any failed attempt (never at
                // once: a DSN that cannot be queued would otherwise spin).
                env.attempts = env.attempts.saturating_add(1);
                env.next_attempt_ms = now + ms(inner.opts.retry.backoff(env.attempts));
            }
        }
    }
    let fsync = inner.opts.fsync;
    let spool = inner.spool.clone();
    let agent_failed = matches!(outcome, DeliveryOutcome::AgentFailed { .. });
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || -> Result<Attempt, QueueError> {
        let _lock: File = lock;
        if env.has_pending() {
            spool.rewrite_envelope(&env, fsync)?;
            let fp = std::fs::metadata(spool.envelope(&id2))
                .ok()
                .map(|m| fingerprint(&m));
            if agent_failed {
                Ok(Attempt::AgentFailed { fingerprint: fp })
            } else {
                Ok(Attempt::Rescheduled {
                    next_ms: env.next_attempt_ms,
                    fingerprint: fp,
                })
            }
        } else {
            spool.remove(&id2)?;
            tracing::info!(queue_id = %id2, "removed");
            Ok(Attempt::Done)
        }
    })
    .await
    .map_err(|e| QueueError::io("envelope write task", std::io::Error::other(e.to_string())))?
}

fn reported(index: usize, r: &StoredRecipient, action: Action, status: String) -> DsnRecipient {
    DsnRecipient {
        index,
        address: r.address.clone(),
        orcpt: r.orcpt.clone(),
        action,
        status,
        reply: r.last_reply.clone(),
    }
}

/// Build the DSN about `report` and enqueue it to the sender of `env`.
async fn send_dsn(
    queue: &Queue,
    env: &StoredEnvelope,
    report: &[DsnRecipient],
) -> Result<(), QueueError> {
    let inner = &queue.inner;
    let id = QueueId::parse(&env.id)?;
    let path = inner.spool.message(&id);
    let original = tokio::task::spawn_blocking(move || {
        std::fs::read(&path).map_err(|e| QueueError::io(format!("read {}", path.display()), e))
    })
    .await
    .map_err(|e| QueueError::io("message read task", std::io::Error::other(e.to_string())))??;
    let until = env
        .arrival_ms
        .saturating_add(ms(inner.opts.retry.max_lifetime));
    let (dsn_env, bytes) = dsn::build(&inner.opts.hostname, env, report, &original, Some(until));
    let dsn_id = queue.enqueue(dsn_env, bytes.as_slice()).await?;
    Counters::bump(&inner.counters.dsns, 1);
    tracing::info!(queue_id = %id, dsn_queue_id = %dsn_id, to = %format_args!("<{}>", env.sender), recipients = report.len(), "DSN queued");
    Ok(())
}

/// Record the outcome in `env` and return what the DSN must report.
fn apply(
    env: &mut StoredEnvelope,
    req: &DeliveryRequest,
    pending: &[usize],
    outcome: &DeliveryOutcome,
    policy: &RetryPolicy,
    now: u64,
) -> Vec<DsnRecipient> {
    let mut report = Vec::new();
    let id = env.id.clone();
    for (k, &i) in pending.iter().enumerate() {
        let r = &mut env.recipients[i];
        if r.state != RcptState::Pending || r.address != req.recipients[k] {
            continue;
        }
        match outcome {
            DeliveryOutcome::AgentFailed { reason } => {
                r.last_reply = Some(reason.clone());
            }
            DeliveryOutcome::PerRecipient(outcomes) => match outcomes.get(k) {
                Some(RecipientOutcome::Delivered { reply }) => {
                    tracing::info!(queue_id = %id, to = %format_args!("<{}>", r.address), status = "sent", reply = %reply, "delivered");
                    r.state = RcptState::Delivered;
                    r.last_reply = Some(reply.clone());
                    if r.notify.wants_success() {
                        report.push(reported(
                            i,
                            r,
                            Action::Delivered,
                            dsn::status_of(reply, '2'),
                        ));
                    }
                }
                Some(RecipientOutcome::Deferred { reply }) => {
                    tracing::info!(queue_id = %id, to = %format_args!("<{}>", r.address), status = "deferred", reply = %reply, "deferred");
                    r.last_reply = Some(reply.clone());
                }
                Some(RecipientOutcome::Failed { reply, status }) => {
                    tracing::info!(queue_id = %id, to = %format_args!("<{}>", r.address), status = "bounced", reply = %reply, "failed");
                    r.state = RcptState::Failed;
                    r.last_reply = Some(reply.clone());
                    if r.notify.wants_failure() {
                        report.push(reported(i, r, Action::Failed, status.clone()));
                    }
                }
                None => {
                    r.last_reply = Some("no reply from the delivery agent".to_string());
                }
            },
        }
    }
    if let DeliveryOutcome::AgentFailed { reason } = outcome {
        tracing::warn!(queue_id = %id, reason = %reason, "delivery agent failed; all recipients deferred");
    }
    if !env.has_pending() {
        return report;
    }
    let age = now.saturating_sub(env.arrival_ms);
    if age >= ms(policy.max_lifetime) {
        for (i, r) in env.recipients.iter_mut().enumerate() {
            if r.state != RcptState::Pending {
                continue;
            }
            tracing::info!(queue_id = %id, to = %format_args!("<{}>", r.address), status = "expired", "message expired; bouncing");
            r.state = RcptState::Failed;
            if r.notify.wants_failure() {
                report.push(reported(i, r, Action::Failed, "4.4.7".to_string()));
            }
        }
        return report;
    }
    if !matches!(outcome, DeliveryOutcome::AgentFailed { .. }) {
        env.attempts = env.attempts.saturating_add(1);
    }
    env.next_attempt_ms = now + ms(policy.backoff(env.attempts.max(1)));
    if let Some(warn) = policy.warn_after
        && !env.warned
        && age >= ms(warn)
    {
        env.warned = true;
        for (i, r) in env.recipients.iter().enumerate() {
            if r.state == RcptState::Pending && r.notify.wants_delay() {
                let status = r
                    .last_reply
                    .as_deref()
                    .map_or_else(|| "4.0.0".to_string(), |x| dsn::status_of(x, '4'));
                report.push(reported(i, r, Action::Delayed, status));
            }
        }
    }
    report
}

/// Take the message lock and read the envelope; `None` if the message is gone.
async fn lock_and_read(
    queue: &Queue,
    id: &QueueId,
) -> Result<Option<(File, StoredEnvelope)>, QueueError> {
    let spool = queue.inner.spool.clone();
    let id = id.clone();
    tokio::task::spawn_blocking(move || {
        let Some(lock) = spool.lock(&id)? else {
            return Ok(None);
        };
        Ok(spool.read_envelope(&id)?.map(|env| (lock, env)))
    })
    .await
    .map_err(|e| QueueError::io("envelope read task", std::io::Error::other(e.to_string())))?
}
