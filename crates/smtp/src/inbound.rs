//! smtp-mta's [`MailHandler`]: recipient policy at RCPT (local domains and known users only,
//! relaying refused on the public listener; the relay listener also queues recipients in other
//! domains for outbound delivery), then at the end of DATA the loop check, SPF/DKIM/
//! DMARC/ARC verification (a header, and a refusal only where configured), the `Received:`
//! header, and the durable enqueue that must succeed before the `250`.
//!
//! Order of checks per message (maddy's check pipeline): recipients one by one (directory, then
//! the milters), then body: hop count → forged `Authentication-Results:` removed →
//! authentication (SPF/DKIM/DMARC/ARC) → our `Received:` and `Authentication-Results:` headers
//! prepended → milters (which see those headers, as Postfix's milters see its `Received:`, and
//! rspamd wants them) → their edits applied → enqueue (held when a milter quarantined the
//! message). Each check returns a value; only this module turns values into replies.

use std::sync::Arc;

use async_trait::async_trait;
use mailstack_directory::{Directory, ExpandLimits, expand, normalize_address, split_address};
use mailstack_queue::{Envelope as QueueEnvelope, Queue, QueueId, RecipientSpec};
use mailstack_telemetry::{CounterFamily, Metrics};

use crate::headers::received_header;
use crate::milter::MilterContext;
use crate::reply::Reply;
use crate::session::{Envelope, Filtered, MailHandler, SessionFilter};
use crate::spool::Spool;
use crate::verify::{Verifier, VerifyInput};

/// What the inbound listener may do.
#[derive(Debug, Clone)]
pub struct InboundPolicy {
    /// This is the internal relay listener (trusted clients).
    pub relay: bool,
    /// More `Received:` headers than this is a loop.
    pub max_received_headers: usize,
    /// Refuse DMARC failures of `p=reject` domains.
    pub reject_dmarc_reject: bool,
    /// Refuse SPF `fail`.
    pub reject_spf_fail: bool,
}

/// The smtp-mta handler.
pub struct Inbound {
    directory: Arc<dyn Directory>,
    queue: Queue,
    verifier: Option<Verifier>,
    hostname: String,
    policy: InboundPolicy,
    limits: ExpandLimits,
    results: CounterFamily,
    milters: Option<(Arc<mailstack_milter::Milters>, Arc<MilterContext>)>,
}

impl Inbound {
    /// A handler queueing into `queue`; `verifier` is `None` when checks are off.
    pub fn new(
        directory: Arc<dyn Directory>,
        queue: Queue,
        verifier: Option<Verifier>,
        hostname: String,
        policy: InboundPolicy,
        limits: ExpandLimits,
        metrics: &Metrics,
    ) -> Self {
        Inbound {
            directory,
            queue,
            verifier,
            hostname,
            policy,
            limits,
            results: metrics.counter_family(
                "mailstack_smtp_messages",
                "Messages at the end of DATA by result: queued, refused (5xx), deferred (4xx), quarantined (queued on hold by a milter), discarded (by a milter)",
            ),
            milters: None,
        }
    }

    /// Run every connection of this listener through `milters` (none when empty).
    pub fn with_milters(mut self, milters: mailstack_milter::Milters) -> Self {
        if !milters.is_empty() {
            let ctx = MilterContext {
                hostname: self.hostname.clone(),
                listener: if self.policy.relay { "relay" } else { "mx" },
            };
            self.milters = Some((Arc::new(milters), Arc::new(ctx)));
        }
        self
    }

    fn count(&self, result: &str) {
        let labels = vec![
            ("result".to_string(), result.to_string()),
            (
                "listener".to_string(),
                if self.policy.relay { "relay" } else { "mx" }.to_string(),
            ),
        ];
        self.results.get_or_create(&labels).inc();
    }
}

/// Remove `Authentication-Results:` fields that claim to come from us (`auth_serv_id`): only
/// our own checks may speak in our name (RFC 8601 §5). Field names are matched as RFC 5322
/// allows them (case, space before the colon) and the authserv-id is read after unfolding and
/// removing comments, ignoring a version number. Returns `None` when there is none.
fn strip_forged_auth_results(message: &[u8], auth_serv_id: &str) -> Option<Vec<u8>> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    let (head, body) = message.split_at(end);
    // Header fields: a line plus its continuation lines.
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let lines: Vec<&[u8]> = head.split_inclusive(|&b| b == b'\n').collect();
    let mut offset = 0;
    for (i, line) in lines.iter().enumerate() {
        let next_is_continuation = lines
            .get(i + 1)
            .is_some_and(|l| matches!(l.first(), Some(b' ' | b'\t')));
        offset += line.len();
        if !next_is_continuation {
            fields.push(&head[start..offset]);
            start = offset;
        }
    }
    let forged = |field: &[u8]| -> bool {
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return false;
        };
        let name = String::from_utf8_lossy(&field[..colon]);
        if !name.trim().eq_ignore_ascii_case("authentication-results") {
            return false;
        }
        let value = String::from_utf8_lossy(&field[colon + 1..]).replace(['\r', '\n'], "");
        let id: String = without_comments(&value)
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ';')
            .collect();
        id.eq_ignore_ascii_case(auth_serv_id)
    };
    if !fields.iter().any(|f| forged(f)) {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    for f in fields.into_iter().filter(|f| !forged(f)) {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(body);
    Some(out)
}

/// `text` without RFC 5322 comments (nested parentheses, backslash escapes).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut escaped) = (0usize, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if depth > 0 => escaped = true,
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `Received:` header fields in the header section of `message`.
fn count_received(message: &[u8]) -> usize {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let mut n = 0;
    let mut at_line_start = true;
    for (i, &b) in message[..end].iter().enumerate() {
        if at_line_start
            && message[i..end].len() >= 9
            && message[i..i + 9].eq_ignore_ascii_case(b"received:")
        {
            n += 1;
        }
        at_line_start = b == b'\n';
    }
    n
}

#[async_trait]
impl MailHandler for Inbound {
    type Recipient = ();

    async fn check_recipient(&self, env: &Envelope, address: &str) -> Result<(), Reply> {
        // Unqualified, quoted (`"a@b"@c`), or otherwise odd addresses are refused outright:
        // nothing here may be interpreted as a route to somewhere else.
        let normalized = match normalize_address(address) {
            Ok(a) => a,
            Err(_) => return Err(Reply::bad_address(address)),
        };
        let Some((_, domain)) = split_address(&normalized) else {
            return Err(Reply::bad_address(address));
        };
        match self.directory.is_local_domain(domain).await {
            Err(e) => {
                tracing::warn!(id = %env.id, rcpt = %address, error = %e, "directory unavailable");
                return Err(Reply::from_directory(&e, address));
            }
            Ok(false) if self.policy.relay => {
                // The relay listener's clients are trusted (submission, relay_networks): a
                // remote recipient is queued for outbound delivery (crate::outbound).
                tracing::debug!(id = %env.id, rcpt = %address, "remote recipient accepted for relay");
                return Ok(());
            }
            Ok(false) => {
                tracing::info!(id = %env.id, rcpt = %address, client = %env.peer, "relay attempt refused");
                return Err(Reply::new(
                    554,
                    "5.7.1",
                    format!("<{address}> Relay access denied"),
                ));
            }
            Ok(true) => {}
        }
        match expand(self.directory.as_ref(), &normalized, &self.limits).await {
            Err(e) => {
                tracing::warn!(id = %env.id, rcpt = %address, error = %e, "directory unavailable");
                Err(Reply::from_directory(&e, address))
            }
            Ok(x) if x.users.is_empty() => Err(Reply::unknown_user(address)),
            Ok(_) => Ok(()),
        }
    }

    async fn deliver(&self, env: &Envelope, rcpts: &[(String, ())], message: &Spool) -> Vec<Reply> {
        self.deliver_filtered(env, rcpts, message, None).await
    }

    async fn open_filter(&self, env: &Envelope) -> Result<Option<Box<dyn SessionFilter>>, Reply> {
        let Some((milters, ctx)) = &self.milters else {
            return Ok(None);
        };
        let filter = crate::milter::open(milters, ctx.clone(), env).await?;
        Ok(Some(Box::new(filter)))
    }

    async fn deliver_filtered(
        &self,
        env: &Envelope,
        rcpts: &[(String, ())],
        message: &Spool,
        filter: Option<&mut (dyn SessionFilter + 'static)>,
    ) -> Vec<Reply> {
        let (reply, result) = self.accept(env, rcpts, message, filter).await;
        self.count(result.unwrap_or(if reply.is_positive() {
            "queued"
        } else if reply.is_temporary() {
            "deferred"
        } else {
            "refused"
        }));
        vec![reply]
    }
}

impl Inbound {
    /// The reply, and the result for the metrics when it is not read off the reply.
    async fn accept(
        &self,
        env: &Envelope,
        rcpts: &[(String, ())],
        message: &Spool,
        filter: Option<&mut (dyn SessionFilter + 'static)>,
    ) -> (Reply, Option<&'static str>) {
        let mut filter = filter;
        let reply = self.accept_inner(env, rcpts, message, &mut filter).await;
        if let Some(f) = filter {
            // Still here: the message was refused before the milters' end of message; end
            // their transaction.
            f.abort().await;
        }
        match reply {
            Accepted::Queued(r) | Accepted::Refused(r) => (r, None),
            Accepted::Filtered(r, result) => (r, Some(result)),
        }
    }

    async fn accept_inner(
        &self,
        env: &Envelope,
        rcpts: &[(String, ())],
        message: &Spool,
        filter: &mut Option<&mut (dyn SessionFilter + 'static)>,
    ) -> Accepted {
        let body = match message.read_all() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(id = %env.id, error = %e, "cannot read spooled message");
                return Accepted::Refused(Reply::temporary(
                    "Temporary failure reading the message",
                ));
            }
        };
        let hops = count_received(&body);
        if hops > self.policy.max_received_headers {
            tracing::warn!(id = %env.id, hops, "mail loop refused");
            return Accepted::Refused(Reply::new(
                554,
                "5.4.6",
                format!("Too many hops ({hops} Received: headers): mail loop?"),
            ));
        }
        let body = match strip_forged_auth_results(&body, &self.hostname) {
            Some(clean) => {
                tracing::info!(id = %env.id, "removed Authentication-Results claiming to be ours");
                clean
            }
            None => body,
        };
        let mut prefix = String::new();
        if let (Some(verifier), Some(ip), false) =
            (&self.verifier, env.client_ip, self.policy.relay)
        {
            let verdict = verifier
                .verify(&VerifyInput {
                    client_ip: ip,
                    helo: &env.helo,
                    mail_from: &env.sender,
                    message: &body,
                })
                .await;
            tracing::info!(id = %env.id, spf = ?verdict.spf, dmarc = ?verdict.dmarc.result, "authentication checked");
            if self.policy.reject_dmarc_reject && verdict.dmarc_says_reject() {
                return Accepted::Refused(Reply::new(
                    550,
                    "5.7.1",
                    "Message rejected: DMARC policy of the sender domain is reject",
                ));
            }
            if self.policy.reject_spf_fail && verdict.spf_hard_fail() {
                return Accepted::Refused(Reply::new(
                    550,
                    "5.7.23",
                    "Message rejected: SPF check failed",
                ));
            }
            prefix.push_str(&verdict.header);
        }
        let mut queue_env = QueueEnvelope {
            sender: env.sender.clone(),
            recipients: rcpts
                .iter()
                .enumerate()
                .map(|(i, (address, ()))| {
                    let params = env.rcpt_params.get(i);
                    let mut spec = RecipientSpec::new(address.clone());
                    // The queue wants the typed form for `Original-Recipient:`.
                    spec.orcpt = params
                        .and_then(|p| p.orcpt.as_ref())
                        .map(|o| format!("rfc822;{o}"));
                    spec.notify = params.map(|p| p.queue_notify()).unwrap_or_default();
                    spec
                })
                .collect(),
            env_id: env.env_id.clone(),
            ret_full: env.ret_full,
            smtputf8: env.smtputf8,
            received_from: format!("{} ({})", env.helo, env.peer),
        };
        // The Received: header names the transaction id, which is also the queue id.
        let single = match rcpts {
            [(only, ())] => Some(only.as_str()),
            _ => None,
        };
        let received = received_header(env, &self.hostname, single, false);
        let mut full = Vec::with_capacity(received.len() + prefix.len() + body.len());
        full.extend_from_slice(received.as_bytes());
        full.extend_from_slice(prefix.as_bytes());
        full.extend_from_slice(&body);
        drop(body);
        let qid = QueueId::parse(&env.id).unwrap_or_else(|_| QueueId::generate());
        let mut hold = None;
        let mut filtered = false;
        if let Some(f) = filter.take() {
            filtered = true;
            let addresses: Vec<String> = rcpts.iter().map(|(a, ())| a.clone()).collect();
            match f.message(env, &addresses, full).await {
                Filtered::Refuse(reply) => {
                    let result = if reply.is_temporary() {
                        "deferred"
                    } else {
                        "refused"
                    };
                    return Accepted::Filtered(reply, result);
                }
                Filtered::Discard => {
                    tracing::info!(id = %env.id, from = %env.sender, rcpts = rcpts.len(), "discarded by a milter");
                    // Like Postfix: the client is told the message was taken.
                    return Accepted::Filtered(
                        Reply::new(250, "2.0.0", format!("Ok: queued as {qid}")),
                        "discarded",
                    );
                }
                Filtered::Accept(m) => {
                    full = m.message;
                    apply_envelope_edits(env, &mut queue_env, m.sender, m.added, m.deleted);
                    hold = m.hold;
                }
            }
            if queue_env.recipients.is_empty() {
                tracing::info!(id = %env.id, "milters deleted every recipient: message discarded");
                return Accepted::Filtered(
                    Reply::new(250, "2.0.0", format!("Ok: queued as {qid}")),
                    "discarded",
                );
            }
        }
        let nrcpt = queue_env.recipients.len();
        let sender = queue_env.sender.clone();
        let queued = match hold.clone() {
            Some(reason) => {
                tracing::info!(id = %env.id, reason = %reason, "quarantined: queued on hold");
                self.queue
                    .enqueue_held_as(qid, queue_env, &full, reason)
                    .await
            }
            None => self.queue.enqueue_as(qid, queue_env, &full).await,
        };
        let reply = match queued {
            Ok(qid) => {
                tracing::info!(id = %env.id, queue_id = %qid, from = %sender, rcpts = nrcpt, size = full.len(), "queued");
                Reply::new(250, "2.0.0", format!("Ok: queued as {qid}"))
            }
            Err(e) => {
                tracing::error!(id = %env.id, error = %e, "cannot queue message");
                return Accepted::Filtered(
                    Reply::new(
                        451,
                        "4.3.0",
                        "Temporary failure queueing the message, try again later",
                    ),
                    "deferred",
                );
            }
        };
        match (hold.is_some(), filtered) {
            (true, _) => Accepted::Filtered(reply, "quarantined"),
            (false, true) => Accepted::Filtered(reply, "queued"),
            (false, false) => Accepted::Queued(reply),
        }
    }
}

/// How a message ended in [`Inbound::accept_inner`].
enum Accepted {
    /// Queued without milters.
    Queued(Reply),
    /// Refused before the milters saw it.
    Refused(Reply),
    /// The milters saw it (their transaction is over); the metrics result.
    Filtered(Reply, &'static str),
}

/// Apply the milters' envelope edits: a new sender, recipients deleted (compared without case)
/// and added (syntax-checked; duplicates dropped).
fn apply_envelope_edits(
    env: &Envelope,
    queue_env: &mut QueueEnvelope,
    sender: Option<String>,
    added: Vec<String>,
    deleted: Vec<String>,
) {
    if let Some(sender) = sender {
        tracing::info!(id = %env.id, from = %env.sender, to = %sender, "milter changed the sender");
        queue_env.sender = sender;
    }
    for d in &deleted {
        tracing::info!(id = %env.id, rcpt = %d, "milter deleted a recipient");
    }
    queue_env
        .recipients
        .retain(|r| !deleted.iter().any(|d| d.eq_ignore_ascii_case(&r.address)));
    for a in added {
        if normalize_address(&a).is_err() {
            tracing::warn!(id = %env.id, rcpt = %a, "milter added an invalid recipient: ignored");
            continue;
        }
        if queue_env
            .recipients
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&a))
        {
            continue;
        }
        tracing::info!(id = %env.id, rcpt = %a, "milter added a recipient");
        queue_env.recipients.push(RecipientSpec::new(a));
    }
}

#[cfg(test)]
mod tests {
    use super::{count_received, strip_forged_auth_results};

    #[test]
    fn forged_authentication_results_are_removed() {
        let m = b"Authentication-Results: MX.test; spf=pass\r\n\tsmtp.mailfrom=a@b\r\nAuthentication-Results: other.test; dkim=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mx.test; body\r\n";
        let clean = strip_forged_auth_results(m, "mx.test").unwrap();
        assert_eq!(
            clean,
            b"Authentication-Results: other.test; dkim=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mx.test; body\r\n"
        );
        assert!(strip_forged_auth_results(b"Subject: x\r\n\r\nbody", "mx.test").is_none());
        for forged in [
            &b"Authentication-Results:\r\n\tmx.test; dkim=pass\r\nSubject: x\r\n\r\nb"[..],
            b"Authentication-Results: mx.test 1; spf=pass\r\nSubject: x\r\n\r\nb",
            b"Authentication-Results: (trusted) mx.test; dmarc=pass\r\nSubject: x\r\n\r\nb",
            b"Authentication-Results : mx.test; spf=pass\r\nSubject: x\r\n\r\nb",
        ] {
            assert_eq!(
                strip_forged_auth_results(forged, "mx.test").unwrap(),
                b"Subject: x\r\n\r\nb"
            );
        }
    }

    #[test]
    fn received_headers_are_counted_in_the_header_section_only() {
        let m = b"Received: a\r\nX: y\r\nreceived: b\r\n\r\nReceived: in the body\r\n";
        assert_eq!(count_received(m), 2);
        assert_eq!(count_received(b"Subject: x\r\n\r\n"), 0);
    }
}
