//! Inbound message authentication for smtp-mta: SPF, DKIM, ARC and DMARC, reported as one
//! `Authentication-Results` header.
//!
//! ```text
//!  VerifyInput (client IP, HELO, MAIL FROM, message bytes)
//!      │
//!      ├─ SPF   (RFC 7208) MAIL FROM identity; for <> the HELO identity (postmaster@helo) ─┐
//!      ├─ DKIM  (RFC 6376, Ed25519: RFC 8463) every DKIM-Signature                        ├─ in parallel
//!      ├─ ARC   (RFC 8617) the chain of ARC sets, if any                                  ─┘
//!      └─ DMARC (RFC 7489 / RFC 9989) the From: domain's policy, over the SPF and DKIM results
//!      ▼
//!  Verdict: typed outcomes + "Authentication-Results:" header (RFC 8601), folded, CRLF-terminated
//! ```
//!
//! The checks are done by [`mail_auth`] over a hickory DNS resolver that is built once per
//! service ([`Verifier::new`]) and shared by every session ([`Verifier`] is an `Arc` inside, so
//! clones are cheap). Tests point the resolver at a DNS server of their own through
//! [`VerifyOptions::resolver`]; production leaves it `None` and uses `/etc/resolv.conf`.
//!
//! What it checks and what it returns:
//! - every check yields one of the RFC 8601 results (`pass`, `fail`, `softfail`, `neutral`,
//!   `none`, `temperror`, `permerror`), never an error and never a panic;
//! - a DNS failure (server down, SERVFAIL, timeout) is `temperror`; the whole verification ends
//!   within [`VerifyOptions::timeout`] — whatever is unfinished at the deadline is `temperror`;
//! - a message without a parseable header section gets `dkim=none`, `arc=none`, `dmarc=none`,
//!   and still a complete header.
//!
//! What it must not do (STYLE item 10, checks return values): it never rejects, quarantines,
//! or answers the client by itself, and it never edits the message. The caller decides what
//! to do with a [`Verdict`] (for example `550 5.7.1` when [`Verdict::dmarc_says_reject`] and
//! local policy agrees) and prepends [`Verdict::header`] to the stored message. The caller
//! must remove any `Authentication-Results` header claiming our `auth_serv_id` from the
//! incoming message first (RFC 8601 section 5); this module does not rewrite messages.
//!
//! Not done here: DKIM signing (submission), iprev, `Received-SPF`, DMARC aggregate and
//! failure reports, caching beyond the resolver's own TTL-respecting cache.

mod header;
mod outcome;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mail_auth::arc::ArcError;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, DkimOutput, DkimResult, DmarcOutput, DmarcResult, DnsError,
    Error as AuthError, MessageAuthenticator, SpfOutput, SpfResult,
};
use tokio::time::{Instant, timeout_at};

pub use outcome::{
    ArcOutcome, DkimOutcome, DkimStatus, DmarcOutcome, DmarcPolicy, DmarcStatus, SpfOutcome,
};

/// How a [`Verifier`] resolves names and labels its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The DNS server to ask. `None` (production): the servers and options of the system's
    /// `/etc/resolv.conf`. `Some(addr)`: only that server, over UDP and TCP on `addr`'s port,
    /// hosts file ignored (tests start their own DNS server and put its address here).
    pub resolver: Option<SocketAddr>,
    /// Upper bound for one whole [`Verifier::verify`] call (all DNS lookups of SPF, DKIM, ARC
    /// and DMARC together). Must be greater than zero; see [`VerifyOptions::DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// The authserv-id written first in `Authentication-Results` (RFC 8601 section 2.5):
    /// our host name, e.g. `mx.example.com`. Must be a non-empty host name (letters, digits,
    /// `-`, `.`, `_`).
    pub auth_serv_id: String,
}

impl VerifyOptions {
    /// Default for [`VerifyOptions::timeout`]: 10 seconds, enough for an SPF record with its
    /// ten DNS-querying mechanisms on a slow resolver, short next to SMTP's DATA timeouts.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Options for the system resolver with the default timeout.
    pub fn new(auth_serv_id: impl Into<String>) -> Self {
        VerifyOptions {
            resolver: None,
            timeout: Self::DEFAULT_TIMEOUT,
            auth_serv_id: auth_serv_id.into(),
        }
    }
}

/// Why a [`Verifier`] could not be built. Verification itself never fails (it returns
/// `temperror` results instead), so these are all start-up errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `auth_serv_id` is empty or not a host name. Permanent (a configuration error).
    #[error("invalid authserv-id {0:?}: expected a host name such as mx.example.com")]
    InvalidAuthServId(String),
    /// `timeout` is zero. Permanent (a configuration error).
    #[error("the verification timeout must be greater than zero")]
    ZeroTimeout,
    /// The system resolver configuration could not be read or the resolver not be built.
    /// Permanent: the service should not start without DNS.
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

impl VerifyError {
    /// Whether retrying later may succeed without a configuration change. All current cases
    /// are permanent (start-up configuration problems).
    pub fn is_temporary(&self) -> bool {
        match self {
            VerifyError::InvalidAuthServId(_)
            | VerifyError::ZeroTimeout
            | VerifyError::Resolver(_) => false,
        }
    }
}

/// What one SMTP transaction tells us about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyInput<'a> {
    /// The connecting client's address (after PROXY protocol, if any).
    pub client_ip: IpAddr,
    /// The EHLO/HELO argument as given.
    pub helo: &'a str,
    /// The MAIL FROM address without angle brackets; `""` for the null path `<>`.
    pub mail_from: &'a str,
    /// The full message as received (header section and body, CRLF line ends, dot-unstuffed).
    pub message: &'a [u8],
}

/// The result of [`Verifier::verify`]: typed outcomes for policy decisions and the header to
/// prepend to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// SPF result for the MAIL FROM identity (for `<>`: the HELO identity).
    pub spf: SpfOutcome,
    /// One entry per DKIM-Signature header, in message order; empty if there is none.
    pub dkim: Vec<DkimOutcome>,
    /// Result of the ARC chain validation; `None` without ARC headers.
    pub arc: ArcOutcome,
    /// DMARC result and the From: domain's requested policy.
    pub dmarc: DmarcOutcome,
    /// One complete `Authentication-Results: <auth_serv_id>; spf=...; dkim=...; dmarc=...;
    /// arc=...` header field, folded, ending in CRLF, no bare CR or LF.
    pub header: String,
}

impl Verdict {
    /// DMARC failed and the domain asks receivers to reject (`p=reject`, or `sp=`/`np=` for a
    /// subdomain, after `t=y` downgrades). Local policy decides whether to follow it.
    pub fn dmarc_says_reject(&self) -> bool {
        self.dmarc.result == DmarcStatus::Fail && self.dmarc.policy == DmarcPolicy::Reject
    }

    /// DMARC failed and the domain asks receivers to quarantine.
    pub fn dmarc_says_quarantine(&self) -> bool {
        self.dmarc.result == DmarcStatus::Fail && self.dmarc.policy == DmarcPolicy::Quarantine
    }

    /// SPF `fail` (`-all` matched): the domain says this client may not send its mail.
    pub fn spf_hard_fail(&self) -> bool {
        self.spf == SpfOutcome::Fail
    }

    /// At least one DKIM signature verified.
    pub fn dkim_pass(&self) -> bool {
        self.dkim.iter().any(|d| d.result == DkimStatus::Pass)
    }
}

/// Verifies inbound messages. Build once per service and clone into sessions.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    auth: MessageAuthenticator,
    timeout: Duration,
    auth_serv_id: String,
    resolver: Option<SocketAddr>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("auth_serv_id", &self.inner.auth_serv_id)
            .field("timeout", &self.inner.timeout)
            .field("resolver", &self.inner.resolver)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds the resolver and checks the options. Needs no running tokio runtime.
    pub fn new(opts: VerifyOptions) -> Result<Verifier, VerifyError> {
        if !is_host_name(&opts.auth_serv_id) {
            return Err(VerifyError::InvalidAuthServId(opts.auth_serv_id));
        }
        if opts.timeout.is_zero() {
            return Err(VerifyError::ZeroTimeout);
        }
        let (config, mut resolver_opts) = match opts.resolver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let mut resolver_opts = ResolverOpts::default();
                resolver_opts.use_hosts_file = ResolveHosts::Never;
                resolver_opts.attempts = 1;
                (
                    ResolverConfig::from_name_servers(vec![server]),
                    resolver_opts,
                )
            }
            None => read_system_conf().map_err(|e| VerifyError::Resolver(e.to_string()))?,
        };
        // One query never takes longer than the whole verification may.
        resolver_opts.timeout = resolver_opts.timeout.min(opts.timeout);
        let auth = MessageAuthenticator::new(config, resolver_opts)
            .map_err(|e| VerifyError::Resolver(e.to_string()))?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                auth,
                timeout: opts.timeout,
                auth_serv_id: opts.auth_serv_id,
                resolver: opts.resolver,
            }),
        })
    }

    /// The authserv-id this verifier writes into its headers.
    pub fn auth_serv_id(&self) -> &str {
        &self.inner.auth_serv_id
    }

    /// Runs SPF, DKIM and ARC in parallel, then DMARC over their results, all within the
    /// configured timeout. Never fails: DNS trouble gives `temperror` results.
    pub async fn verify(&self, input: &VerifyInput<'_>) -> Verdict {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.timeout;
        let message = AuthenticatedMessage::parse(input.message);
        let message = message.as_ref();

        let (spf, dkim, arc) = tokio::join!(
            inner.check_spf(input, deadline),
            inner.check_dkim(message, deadline),
            inner.check_arc(message, deadline),
        );
        let dmarc = inner
            .check_dmarc(input, message, &dkim, &spf, deadline)
            .await;

        let header_from = message.map_or("", |m| m.from());
        let header = header::authentication_results(
            &inner.auth_serv_id,
            input,
            header::Results {
                spf: &spf,
                dkim: &dkim,
                dmarc: &dmarc,
                arc: &arc,
                header_from,
            },
        );
        Verdict {
            spf: SpfOutcome::from(spf.result()),
            dkim: dkim.iter().map(DkimOutcome::from).collect(),
            arc: ArcOutcome::from(arc.result()),
            dmarc: DmarcOutcome::from(&dmarc),
            header,
        }
    }
}

impl Inner {
    async fn check_spf(&self, input: &VerifyInput<'_>, deadline: Instant) -> SpfOutput {
        let params = if input.mail_from.is_empty() {
            SpfParameters::verify_ehlo(input.client_ip, input.helo, &self.auth_serv_id)
        } else {
            SpfParameters::verify_mail_from(
                input.client_ip,
                input.helo,
                &self.auth_serv_id,
                input.mail_from,
            )
        };
        match timeout_at(deadline, self.auth.verify_spf(params)).await {
            Ok(output) => output,
            Err(_) => {
                SpfOutput::new(spf_domain(input).to_string()).with_result(SpfResult::TempError)
            }
        }
    }

    async fn check_dkim<'x>(
        &self,
        message: Option<&'x AuthenticatedMessage<'x>>,
        deadline: Instant,
    ) -> Vec<DkimOutput<'x>> {
        let Some(message) = message else {
            return Vec::new();
        };
        match timeout_at(deadline, self.auth.verify_dkim(message)).await {
            Ok(outputs) => outputs
                .into_iter()
                .map(|output| body_hash_mismatch_is_fail(message, output))
                .collect(),
            Err(_) => message
                .dkim_headers
                .iter()
                .map(|h| DkimOutput::temp_err(timed_out()).with_signature(&h.header))
                .collect(),
        }
    }

    async fn check_arc<'x>(
        &self,
        message: Option<&'x AuthenticatedMessage<'x>>,
        deadline: Instant,
    ) -> ArcOutput<'x> {
        let Some(message) = message else {
            return ArcOutput::default();
        };
        match timeout_at(deadline, self.auth.verify_arc(message)).await {
            Ok(output) => match output.result() {
                DkimResult::Neutral(err @ AuthError::Arc(ArcError::FailedBodyHashMatch)) => {
                    let err = err.clone();
                    output.with_result(DkimResult::Fail(err))
                }
                _ => output,
            },
            Err(_) => ArcOutput::default().with_result(DkimResult::TempError(timed_out())),
        }
    }

    async fn check_dmarc<'x>(
        &self,
        input: &'x VerifyInput<'x>,
        message: Option<&'x AuthenticatedMessage<'x>>,
        dkim: &'x [DkimOutput<'x>],
        spf: &'x SpfOutput,
        deadline: Instant,
    ) -> DmarcOutput {
        let Some(message) = message else {
            return DmarcOutput::default();
        };
        let params = DmarcParameters::new(message, dkim, spf_domain(input), spf);
        match timeout_at(deadline, self.auth.verify_dmarc(params)).await {
            Ok(output) => output,
            Err(_) => {
                let from_domain = message.from().rsplit_once('@').map_or("", |(_, d)| d);
                DmarcOutput::new(from_domain.to_string())
                    .with_spf_result(DmarcResult::TempError(timed_out()))
                    .with_dkim_result(DmarcResult::TempError(timed_out()))
            }
        }
    }
}

/// mail-auth 0.13.3 reports a DKIM body hash mismatch as `neutral`; RFC 6376 section 6.1.3
/// makes it a verification failure (PERMFAIL), which RFC 8601 section 2.7.1 calls `fail`. So
/// do we, in the header and in [`DkimOutcome`]. (The same for the last ARC-Message-Signature,
/// RFC 8617 section 5.2: the chain then fails.)
fn body_hash_mismatch_is_fail<'x>(
    message: &'x AuthenticatedMessage<'x>,
    output: DkimOutput<'x>,
) -> DkimOutput<'x> {
    let DkimResult::Neutral(err @ AuthError::Dkim(DkimError::FailedBodyHashMatch)) =
        output.result()
    else {
        return output;
    };
    let Some(signature) = output.signature().and_then(|signed| {
        message
            .dkim_headers
            .iter()
            .map(|h| &h.header)
            .find(|&header| std::ptr::eq(header, signed))
    }) else {
        return output;
    };
    DkimOutput::fail(err.clone()).with_signature(signature)
}

/// The domain SPF checks and DMARC aligns against: the MAIL FROM domain, or for `<>` (and a
/// MAIL FROM without `@`) the HELO name (RFC 7208 section 2.4).
fn spf_domain<'a>(input: &VerifyInput<'a>) -> &'a str {
    input
        .mail_from
        .rsplit_once('@')
        .map_or(input.helo, |(_, domain)| domain)
}

/// The error recorded for a check cut off by the deadline; shown as `temperror (dns error)`.
fn timed_out() -> AuthError {
    AuthError::Dns(DnsError::Resolver("verification timed out".to_string()))
}

/// A plausible host name for the authserv-id: non-empty, at most 253 octets, only letters,
/// digits, `-`, `_` and `.` (so it cannot break the header's syntax).
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
