//! submission (RFC 6409): the [`MailHandler`] behind ports 587 and 465.
//!
//! ```text
//!  AUTH ──▶ directory.authenticate (failures slowed by the shared AuthThrottle)
//!  MAIL ──▶ login required · rate limit (messages) · sender must be the user's   → 553 5.7.1
//!  RCPT ──▶ syntax · local recipients must exist · rate limit (recipients)
//!  DATA ──▶ From:/Sender: must be the user's                                      → 553 5.7.1
//!           + Received (client IP optional), Message-ID / Date / From when missing
//!           + DKIM-Signature for the From: domain
//!           ──▶ smtp-mta's relay listener; the client hears 250 only after it did
//! ```
//!
//! submission keeps no queue of its own: a message is either queued by smtp-mta, and the
//! client told so, or refused with smtp-mta's (or our) reply, and the client keeps it.
//!
//! - [`senders`]: which addresses a user may send as.
//! - [`rate`]: per-user message and recipient limits.
//! - [`message`]: reading and completing the header.

pub mod forward;
pub mod message;
pub mod rate;
pub mod senders;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use mailstack_directory::{
    AuthOutcome, AuthThrottle, Directory, ExpandLimits, expand, normalize_address, split_address,
};
use mailstack_telemetry::{CounterFamily, Metrics};

use crate::headers::{header_safe, received_header, rfc5322_date};
use crate::reply::Reply;
use crate::session::{Envelope, MailHandler};
use crate::spool::Spool;
use rate::{RateLimiter, RateVerdict};

/// The rules of a submission listener, from `[submission]`.
#[derive(Debug, Clone)]
pub struct SubmissionPolicy {
    /// Our host name (Received:, Message-ID:).
    pub hostname: String,
    /// Group members may send as the group.
    pub allow_send_as_group: bool,
    /// Leave the client's address out of `Received:`.
    pub hide_client_ip: bool,
    /// Alias and group expansion limits for checking local recipients.
    pub expand_limits: ExpandLimits,
}

/// Hands a finished message on (to smtp-mta's relay listener) and reports its reply.
#[async_trait]
pub trait Forwarder: Send + Sync + 'static {
    /// Send `message` for `env.sender` to `recipients`; the reply for the client.
    async fn forward(&self, env: &Envelope, recipients: &[String], message: &[u8]) -> Reply;
}

/// The submission [`MailHandler`].
pub struct Submission {
    directory: Arc<dyn Directory>,
    throttle: AuthThrottle,
    rates: RateLimiter,
    policy: SubmissionPolicy,
    forwarder: Arc<dyn Forwarder>,
    signer: Option<crate::dkim::DkimSigner>,
    results: CounterFamily,
}

impl Submission {
    /// A handler checking logins and senders against `directory` and forwarding through
    /// `forwarder`, signing with `signer` when given.
    pub fn new(
        directory: Arc<dyn Directory>,
        throttle: AuthThrottle,
        rates: RateLimiter,
        policy: SubmissionPolicy,
        forwarder: Arc<dyn Forwarder>,
        signer: Option<crate::dkim::DkimSigner>,
        metrics: &Metrics,
    ) -> Self {
        Submission {
            directory,
            throttle,
            rates,
            policy,
            forwarder,
            signer,
            results: metrics.counter_family(
                "mailstack_submission_messages",
                "Messages at the end of DATA on submission, by outcome",
            ),
        }
    }

    fn count(&self, outcome: &str) {
        let labels = vec![("outcome".to_string(), outcome.to_string())];
        self.results.get_or_create(&labels).inc();
    }

    /// `553 5.7.1` unless `user` may send as every one of `addresses`.
    async fn check_addresses(
        &self,
        env: &Envelope,
        user: &str,
        field: &str,
        addresses: &[String],
    ) -> Result<(), Reply> {
        for a in addresses {
            match senders::may_send_as(
                self.directory.as_ref(),
                user,
                a,
                self.policy.allow_send_as_group,
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(id = %env.id, %user, %field, address = %a, client = %env.peer, "sender address refused");
                    return Err(Reply::new(
                        553,
                        "5.7.1",
                        format!("<{a}> {field} address not owned by user {user}"),
                    ));
                }
                Err(e) => {
                    tracing::warn!(id = %env.id, error = %e, "directory unavailable");
                    return Err(Reply::new(
                        451,
                        "4.3.0",
                        "Directory temporarily unavailable, try again later",
                    ));
                }
            }
        }
        Ok(())
    }

    async fn finish(&self, env: &Envelope, rcpts: &[(String, ())], spool: &Spool) -> Reply {
        let Some(user) = env.auth_user.as_deref() else {
            return Reply::new(530, "5.7.0", "Authentication required");
        };
        let body = match spool.read_all() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(id = %env.id, error = %e, "cannot read spooled message");
                return Reply::temporary("Temporary failure reading the message");
            }
        };
        let facts = message::inspect(&body);
        if facts.has_from && facts.from.is_empty() {
            return Reply::new(
                550,
                "5.6.0",
                "The From: header field has no address that can be read",
            );
        }
        if let Err(reply) = self.check_addresses(env, user, "From:", &facts.from).await {
            return reply;
        }
        if let Err(reply) = self
            .check_addresses(env, user, "Sender:", &facts.sender)
            .await
        {
            return reply;
        }
        let mut missing = String::new();
        if !facts.has_from {
            // RFC 6409 §8.1 lets the MSA complete the header; the envelope sender is checked.
            missing.push_str(&format!("From: <{}>\r\n", header_safe(&env.sender)));
        }
        if !facts.has_date {
            missing.push_str(&format!("Date: {}\r\n", rfc5322_date(SystemTime::now())));
        }
        if !facts.has_message_id {
            missing.push_str(&format!(
                "Message-ID: <{}@{}>\r\n",
                env.id,
                header_safe(&self.policy.hostname)
            ));
        }
        let received =
            received_header(env, &self.policy.hostname, None, self.policy.hide_client_ip);
        let unsigned = message::assemble(&received, &body, &missing);
        let from_domain = facts
            .from
            .first()
            .map_or(env.sender.as_str(), |s| s.as_str())
            .rsplit_once('@')
            .map(|(_, d)| d.to_lowercase());
        let signed = match (&self.signer, from_domain) {
            (Some(signer), Some(domain)) => match signer.sign(&domain, &unsigned) {
                Ok(Some(signature)) => {
                    let mut m = Vec::with_capacity(signature.len() + unsigned.len());
                    m.extend_from_slice(signature.as_bytes());
                    m.extend_from_slice(&unsigned);
                    m
                }
                Ok(None) => unsigned,
                Err(e) => {
                    // A broken key must not send unsigned mail under a DMARC policy.
                    tracing::error!(id = %env.id, %domain, error = %e, "DKIM signing failed");
                    return Reply::new(
                        451,
                        "4.3.5",
                        "Temporary failure signing the message (DKIM key unusable)",
                    );
                }
            },
            _ => unsigned,
        };
        let recipients: Vec<String> = rcpts.iter().map(|(a, ())| a.clone()).collect();
        let reply = self.forwarder.forward(env, &recipients, &signed).await;
        tracing::info!(id = %env.id, %user, from = %env.sender, rcpts = recipients.len(), size = signed.len(), reply = %reply.to_wire().trim_end(), "submitted");
        reply
    }
}

fn rate_reply(what: &str, retry_in: Duration) -> Reply {
    Reply::new(
        450,
        "4.7.1",
        format!(
            "Sending rate limit reached ({what}); try again in {} minutes",
            retry_in.as_secs().div_ceil(60).max(1)
        ),
    )
}

#[async_trait]
impl MailHandler for Submission {
    type Recipient = ();

    async fn authenticate(
        &self,
        env: &Envelope,
        login: &str,
        password: &str,
    ) -> Result<String, Reply> {
        let ip: Option<IpAddr> = env.client_ip;
        match self.directory.authenticate(login, password).await {
            Ok(AuthOutcome::Accepted(user)) => {
                self.throttle.succeeded(ip, login);
                Ok(user.address)
            }
            Ok(AuthOutcome::Rejected) => {
                let delay = self.throttle.failed(ip, login);
                tracing::info!(peer = %env.peer, delay_ms = delay.as_millis() as u64, "submission login failed");
                tokio::time::sleep(delay).await;
                Err(Reply::new(
                    535,
                    "5.7.8",
                    "Authentication credentials invalid",
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for submission login");
                Err(Reply::new(
                    454,
                    "4.7.0",
                    "Temporary authentication failure, try again later",
                ))
            }
        }
    }

    async fn check_sender(&self, env: &Envelope) -> Result<(), Reply> {
        let Some(user) = env.auth_user.as_deref() else {
            return Err(Reply::new(530, "5.7.0", "Authentication required"));
        };
        if env.sender.is_empty() {
            return Err(Reply::new(
                553,
                "5.7.1",
                "<> The null sender is not allowed on submission",
            ));
        }
        self.check_addresses(env, user, "Sender", std::slice::from_ref(&env.sender))
            .await?;
        if let RateVerdict::Exceeded(retry) = self.rates.message(user) {
            tracing::warn!(id = %env.id, %user, "message rate limit reached");
            return Err(rate_reply("messages", retry));
        }
        Ok(())
    }

    async fn check_recipient(&self, env: &Envelope, address: &str) -> Result<(), Reply> {
        let normalized = normalize_address(address).map_err(|_| Reply::bad_address(address))?;
        let Some((_, domain)) = split_address(&normalized) else {
            return Err(Reply::bad_address(address));
        };
        let local = self
            .directory
            .is_local_domain(domain)
            .await
            .map_err(|e| Reply::from_directory(&e, address))?;
        if local {
            // Like Postfix's reject_unlisted_recipient: a typo in a colleague's address is
            // answered now, not by a bounce later.
            match expand(
                self.directory.as_ref(),
                &normalized,
                &self.policy.expand_limits,
            )
            .await
            {
                Err(e) => return Err(Reply::from_directory(&e, address)),
                Ok(x) if x.users.is_empty() && x.remote.is_empty() => {
                    return Err(Reply::unknown_user(address));
                }
                Ok(_) => {}
            }
        }
        if let Some(user) = env.auth_user.as_deref()
            && let RateVerdict::Exceeded(retry) = self.rates.recipient(user)
        {
            tracing::warn!(id = %env.id, %user, "recipient rate limit reached");
            return Err(rate_reply("recipients", retry));
        }
        Ok(())
    }

    async fn deliver(&self, env: &Envelope, rcpts: &[(String, ())], message: &Spool) -> Vec<Reply> {
        let reply = self.finish(env, rcpts, message).await;
        self.count(if reply.is_positive() {
            "sent"
        } else if reply.is_temporary() {
            "deferred"
        } else {
            "refused"
        });
        vec![reply]
    }
}
