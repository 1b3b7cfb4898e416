//! Handing a submitted message to smtp-mta's relay listener over SMTP, and turning its answer
//! into the one reply the submission client gets. smtp-mta is on the same (container) network
//! and trusted: no TLS, no AUTH (the relay listener admits only `relay_networks`).

use std::path::PathBuf;

use async_trait::async_trait;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, QueueId, RecipientDsn, RecipientOutcome};

use super::Forwarder;
use crate::client::{MessageBody, NextHop};
use crate::reply::Reply;
use crate::session::Envelope;

/// Forwards to smtp-mta's relay listener through a [`NextHop`].
#[derive(Debug, Clone)]
pub struct RelayForwarder {
    hop: NextHop,
}

impl RelayForwarder {
    /// Forward through `hop` (smtp-mta's relay listener).
    pub fn new(hop: NextHop) -> Self {
        RelayForwarder { hop }
    }
}

#[async_trait]
impl Forwarder for RelayForwarder {
    async fn forward(&self, env: &Envelope, recipients: &[String], message: &[u8]) -> Reply {
        let req = DeliveryRequest {
            queue_id: QueueId::parse(&env.id).unwrap_or_else(|_| QueueId::generate()),
            sender: env.sender.clone(),
            recipients: recipients.to_vec(),
            message_path: PathBuf::new(),
            size: message.len() as u64,
            env_id: env.env_id.clone(),
            smtputf8: env.smtputf8,
            ret_full: env.ret_full,
            recipient_dsn: env
                .rcpt_params
                .iter()
                .map(|p| RecipientDsn {
                    orcpt: p.orcpt.as_ref().map(|o| format!("rfc822;{o}")),
                    notify: p.queue_notify(),
                })
                .collect(),
        };
        let outcome = self.hop.send(&req, MessageBody::Bytes(message)).await;
        reply_for(env, recipients, outcome)
    }
}

/// One reply for the client from smtp-mta's per-recipient outcomes.
///
/// - every recipient accepted → smtp-mta's `250` (it names the queue id);
/// - none accepted → smtp-mta's first refusal, `5xx` or `4xx` as it said;
/// - some accepted, some refused (only when the directory changed between our RCPT check and
///   smtp-mta's) → `250`, since the message is queued and cannot be taken back; the refused
///   recipients are logged as errors.
fn reply_for(env: &Envelope, recipients: &[String], outcome: DeliveryOutcome) -> Reply {
    let outcomes = match outcome {
        DeliveryOutcome::AgentFailed { reason } => {
            tracing::warn!(id = %env.id, %reason, "relay listener unavailable");
            return Reply::new(
                451,
                "4.4.1",
                "Mail system temporarily unavailable, try again later",
            );
        }
        DeliveryOutcome::PerRecipient(o) => o,
    };
    let mut accepted: Option<&str> = None;
    let mut refused: Option<&str> = None;
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            RecipientOutcome::Delivered { reply } => {
                accepted.get_or_insert(reply);
            }
            RecipientOutcome::Deferred { reply } | RecipientOutcome::Failed { reply, .. } => {
                if accepted.is_some() || outcomes.len() > 1 {
                    tracing::error!(id = %env.id, rcpt = %recipients.get(i).map_or("?", |s| s.as_str()), %reply, "relay refused a recipient");
                }
                refused.get_or_insert(reply);
            }
        }
    }
    if outcomes.len() < recipients.len() {
        refused.get_or_insert("451 4.4.0 No answer for every recipient");
    }
    match (accepted, refused) {
        (Some(ok), None) | (Some(ok), Some(_)) => relayed_reply(ok),
        (None, Some(no)) if no.starts_with("451 4.4.") => {
            // Our own connection failure (smtp-mta down or unreachable): the details name
            // internal addresses, so they go to the log, not to the client.
            tracing::warn!(id = %env.id, reason = %no, "relay listener unavailable");
            Reply::new(
                451,
                "4.4.1",
                "Mail system temporarily unavailable, try again later",
            )
        }
        (None, Some(no)) => relayed_reply(no),
        (None, None) => Reply::new(451, "4.4.0", "No recipients were relayed"),
    }
}

/// smtp-mta's reply (`250 2.0.0 Ok: queued as X`, last line of a multi-line one) as ours.
fn relayed_reply(text: &str) -> Reply {
    let last = text.lines().last().unwrap_or("").trim();
    let code = last
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c))
        .unwrap_or(451);
    let rest = last.get(4..).unwrap_or("").trim();
    if rest.is_empty() {
        return Reply::new(
            code,
            "",
            if code < 300 {
                "2.0.0 Ok"
            } else {
                "4.0.0 Failed"
            },
        );
    }
    Reply::new(code, "", rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            id: "test".into(),
            ..Default::default()
        }
    }

    #[test]
    fn all_accepted_passes_the_queue_id_on() {
        let r = reply_for(
            &env(),
            &["a@x".into(), "b@y".into()],
            DeliveryOutcome::PerRecipient(vec![
                RecipientOutcome::Delivered {
                    reply: "250 2.0.0 Ok: queued as Q1".into(),
                };
                2
            ]),
        );
        assert_eq!(r.to_wire(), "250 2.0.0 Ok: queued as Q1\r\n");
    }

    #[test]
    fn refusals_keep_their_code() {
        let r = reply_for(
            &env(),
            &["a@x".into()],
            DeliveryOutcome::PerRecipient(vec![RecipientOutcome::Failed {
                reply: "550 5.1.1 <a@x> User unknown".into(),
                status: "5.1.1".into(),
            }]),
        );
        assert_eq!(r.to_wire(), "550 5.1.1 <a@x> User unknown\r\n");
        let r = reply_for(
            &env(),
            &["a@x".into()],
            DeliveryOutcome::PerRecipient(vec![RecipientOutcome::Deferred {
                reply: "451-4.3.0 first\n451 4.3.0 Try later".into(),
            }]),
        );
        assert_eq!(r.to_wire(), "451 4.3.0 Try later\r\n");
        let r = reply_for(
            &env(),
            &["a@x".into()],
            DeliveryOutcome::PerRecipient(vec![RecipientOutcome::Deferred {
                reply: "451 4.4.1 connect to 10.0.0.5:10025: Connection refused".into(),
            }]),
        );
        assert_eq!(
            r.to_wire(),
            "451 4.4.1 Mail system temporarily unavailable, try again later\r\n"
        );
        let r = reply_for(
            &env(),
            &["a@x".into()],
            DeliveryOutcome::AgentFailed {
                reason: "connection refused".into(),
            },
        );
        assert_eq!(r.code, 451);
    }

    #[test]
    fn a_partly_queued_message_is_accepted() {
        let r = reply_for(
            &env(),
            &["a@x".into(), "b@y".into()],
            DeliveryOutcome::PerRecipient(vec![
                RecipientOutcome::Failed {
                    reply: "550 5.1.1 gone".into(),
                    status: "5.1.1".into(),
                },
                RecipientOutcome::Delivered {
                    reply: "250 2.0.0 Ok: queued as Q2".into(),
                },
            ]),
        );
        assert_eq!(r.code, 250);
    }
}
