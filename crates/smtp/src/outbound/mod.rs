//! Outbound delivery: smtp-mta's queue transport that routes each recipient to its next hop.
//!
//! ```text
//!  queue ─▶ RouterTransport ─┬─ local domain (Directory::is_local_domain) ─▶ LMTP (lmtp-mda)
//!                            └─ other domains ─▶ RemoteTransport, one group per domain, in parallel
//!                                 │ per-domain concurrency limit (outbound_max_per_domain)
//!                                 ├─ smarthost configured ─▶ NextHop (fixed host, TLS/AUTH per config)
//!                                 └─ MX (mx.rs) ─▶ for each host in order:
//!                                        MTA-STS enforce: host must match the policy (mta_sts.rs)
//!                                        A/AAAA ─▶ DANE TLSA when every answer is DNSSEC-secure (dane.rs)
//!                                        TLS policy: DANE > MTA-STS enforce > opportunistic
//!                                        idle connection (pool.rs, RSET) or a new one ─▶ SMTP transaction
//! ```
//!
//! Outcomes (RFC 5321 §4.2, §5.1):
//! - a recipient refused with `5xx` fails (the queue sends the DSN); `4xx` is deferred and
//!   retried on the queue's schedule;
//! - a domain that does not exist fails with `550 5.1.2`; a null MX (RFC 7505) with
//!   `556 5.1.10`; a DNS failure or timeout defers (`4.4.3`);
//! - when a host cannot be reached, greets with an error, or fails the TLS policy, the next
//!   address and then the next MX host are tried; when none works every recipient is deferred
//!   with the last reason (`4.4.1` connect, `4.7.5` TLS policy, ...). Remote problems never
//!   give `AgentFailed`: that would back off the whole queue, local delivery included.
//! - a TLS policy that requires TLS (DANE, MTA-STS `enforce`) never falls back to plain text.
//!
//! What this module does not do: TLS-RPT reports (RFC 8460), SMTPUTF8 downgrade, delivery
//! status "relayed" DSNs for next hops without DSN, MX hosts that loop back to ourselves
//! (a misconfigured domain pointing at this host is retried until it expires).

mod dane;
mod dns;
mod mta_sts;
mod mx;
mod pool;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mailstack_directory::Directory;
use mailstack_net::ListenAddr;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome, Transport};
use rustls::ClientConfig;
use tokio::sync::Semaphore;

use crate::client::{
    ClientTls, MessageBody, NextHop, SessionParams, SmtpSession, TlsMode, dial_tcp, log_outcomes,
    tls,
};
use dane::{Dane, DaneVerifier};
use dns::{Dns, DnsError};
use mta_sts::{Mode as StsMode, MtaSts};
use pool::{Key, Pool};

/// Why outbound delivery cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// A configured CA file cannot be read.
    #[error("outbound TLS: {0}")]
    Tls(String),
}

/// How remote mail is delivered (from `[smtp_mta]`).
#[derive(Debug, Clone)]
pub struct OutboundOptions {
    /// Our name in `EHLO`.
    pub helo: String,
    /// Port of the remote MX hosts (25; tests only change it).
    pub port: u16,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for each reply and write.
    pub timeout: Duration,
    /// Deliveries in progress at once per recipient domain.
    pub max_per_domain: usize,
    /// Messages per connection before it is closed.
    pub max_messages_per_connection: u32,
    /// How long an idle connection is kept for reuse (zero: never reused).
    pub idle_timeout: Duration,
    /// Use DANE TLSA records.
    pub dane: bool,
    /// Apply MTA-STS policies.
    pub mta_sts: bool,
    /// Port of the MTA-STS policy host (443; tests only change it).
    pub mta_sts_port: u16,
    /// File caching MTA-STS policies across restarts.
    pub mta_sts_cache_file: Option<PathBuf>,
    /// Trusted roots for MTA-STS (policy host and MX certificates); `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// DNS resolver (`ip:port`); `None`: `/etc/resolv.conf`. Must validate DNSSEC for DANE.
    pub resolver: Option<SocketAddr>,
    /// Time allowed for one DNS query.
    pub dns_timeout: Duration,
    /// Send everything here instead of to the MX hosts.
    pub smarthost: Option<Smarthost>,
}

/// A smarthost (Postfix's `relayhost`): all remote mail goes there.
#[derive(Clone)]
pub struct Smarthost {
    /// Host name or IP address.
    pub host: String,
    /// Port (25, 587).
    pub port: u16,
    /// TLS policy; `Required` checks the certificate for `host`.
    pub tls: ClientTls,
    /// AUTH user and password.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for Smarthost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smarthost")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth_user", &self.auth.as_ref().map(|a| &a.0))
            .finish()
    }
}

impl OutboundOptions {
    /// Defaults for `helo` (port 25, DANE and MTA-STS on, system resolver and roots).
    pub fn new(helo: impl Into<String>) -> OutboundOptions {
        OutboundOptions {
            helo: helo.into(),
            port: 25,
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
            max_per_domain: 10,
            max_messages_per_connection: 100,
            idle_timeout: Duration::from_secs(5),
            dane: true,
            mta_sts: true,
            mta_sts_port: 443,
            mta_sts_cache_file: None,
            ca_file: None,
            resolver: None,
            dns_timeout: Duration::from_secs(10),
            smarthost: None,
        }
    }
}

/// Delivers recipients of other domains over SMTP (see the module doc). Give it only remote
/// recipients; [`RouterTransport`] does the split.
pub struct RemoteTransport {
    opts: OutboundOptions,
    dns: Dns,
    sts: Option<MtaSts>,
    /// Verifier for MX certificates under MTA-STS `enforce`; `Err` when no roots could be
    /// loaded (such deliveries are deferred).
    sts_tls: Result<Arc<ClientConfig>, String>,
    pool: Arc<Pool>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for RemoteTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTransport")
            .field("opts", &self.opts)
            .finish()
    }
}

impl RemoteTransport {
    /// Set up DNS, the MTA-STS cache and the connection pool. Needs no runtime.
    pub fn new(opts: OutboundOptions) -> Result<RemoteTransport, OutboundError> {
        let dns = Dns::new(opts.resolver, opts.dns_timeout);
        let sts_tls = match tls::webpki(opts.ca_file.as_deref()) {
            Ok(c) => Ok(c),
            Err(e) if opts.ca_file.is_some() => return Err(OutboundError::Tls(e)),
            Err(e) => {
                tracing::warn!(error = %e, "no trusted roots: MTA-STS policies cannot be enforced (such mail stays queued)");
                Err(e)
            }
        };
        let sts = match (&sts_tls, opts.mta_sts) {
            (Ok(config), true) => Some(MtaSts::new(
                dns.clone(),
                opts.mta_sts_port,
                config.clone(),
                opts.connect_timeout.max(opts.dns_timeout),
                opts.mta_sts_cache_file.clone(),
            )),
            _ => None,
        };
        Ok(RemoteTransport {
            pool: Pool::new(opts.idle_timeout, opts.max_messages_per_connection),
            dns,
            sts,
            sts_tls,
            limits: Mutex::new(HashMap::new()),
            opts,
        })
    }

    /// SMTP connections opened so far (each carries one or more messages).
    pub fn connections_opened(&self) -> u64 {
        self.pool.opened_count()
    }

    fn limit(&self, domain: &str) -> Arc<Semaphore> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if limits.len() > 10_000 {
            // Forget the domains nobody is delivering to right now.
            limits.retain(|_, s| Arc::strong_count(s) > 1);
        }
        limits
            .entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.opts.max_per_domain.max(1))))
            .clone()
    }

    /// Deliver `req` (all recipients in `domain`).
    async fn deliver_domain(&self, domain: &str, req: &DeliveryRequest) -> Vec<RecipientOutcome> {
        let n = req.recipients.len();
        let Ok(_permit) = self.limit(domain).acquire_owned().await else {
            return deferred(n, "451 4.3.0 shutting down");
        };
        if let Some(smarthost) = &self.opts.smarthost {
            return self.via_smarthost(smarthost, req).await;
        }
        let route = match mx::route(&self.dns, domain).await {
            Ok(r) => r,
            Err(DnsError::NxDomain(_)) => {
                return failed(
                    n,
                    &format!("550 5.1.2 {domain}: no such domain (NXDOMAIN)"),
                    "5.1.2",
                );
            }
            Err(DnsError::Temporary(e)) => {
                return deferred(n, &format!("451 4.4.3 MX lookup for {domain} failed: {e}"));
            }
        };
        let (hosts, mx_secure, implicit) = match route {
            mx::Route::NullMx => {
                return failed(
                    n,
                    &format!("556 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"),
                    "5.1.10",
                );
            }
            mx::Route::Hosts {
                hosts,
                secure,
                implicit,
            } => (hosts, secure, implicit),
        };
        let sts = match &self.sts {
            Some(s) => s.policy(domain).await,
            None => None,
        };
        let mut last: Option<String> = None;
        for host in &hosts {
            let name = host.name.as_str();
            let mut sts_enforce = false;
            if let Some(p) = &sts {
                let ok = p.matches(name);
                match p.mode {
                    StsMode::Enforce if !ok => {
                        tracing::info!(queue_id = %req.queue_id, domain, mx = name, "MX host not allowed by the MTA-STS policy; skipped");
                        last = Some(format!(
                            "451 4.7.5 {name} is not an MX host allowed by the MTA-STS policy of {domain}"
                        ));
                        continue;
                    }
                    StsMode::Enforce => sts_enforce = true,
                    StsMode::Testing if !ok => {
                        tracing::warn!(queue_id = %req.queue_id, domain, mx = name, "MTA-STS (testing): MX host does not match the policy");
                    }
                    _ => {}
                }
            }
            let (addrs, addr_secure) = match mx::addresses(&self.dns, name).await {
                Ok((a, _)) if a.is_empty() && implicit => {
                    return failed(
                        n,
                        &format!("550 5.1.2 {domain}: no MX and no address record"),
                        "5.1.2",
                    );
                }
                Ok((a, _)) if a.is_empty() => {
                    last = Some(format!("451 4.4.4 {name}: no address record"));
                    continue;
                }
                Ok(x) => x,
                Err(DnsError::NxDomain(_)) if implicit => {
                    return failed(n, &format!("550 5.1.2 {domain}: no such domain"), "5.1.2");
                }
                Err(e) => {
                    last = Some(format!("451 4.4.4 {name}: address lookup failed: {e}"));
                    continue;
                }
            };
            let dane = if self.opts.dane && mx_secure && addr_secure {
                match dane::lookup(&self.dns, name, self.opts.port).await {
                    Ok(d) => d,
                    Err(e) => {
                        last = Some(format!("451 4.7.5 {name}: TLSA lookup failed: {e}"));
                        continue;
                    }
                }
            } else {
                Dane::None
            };
            let (mode, policy) = match dane {
                Dane::Records(records) => (
                    TlsMode::Mandatory(tls::with_verifier(Arc::new(DaneVerifier::new(
                        records,
                        vec![name.to_string(), domain.to_string()],
                    )))),
                    "dane",
                ),
                Dane::Unusable => (TlsMode::Mandatory(tls::opportunistic()), "dane-unusable"),
                Dane::None if sts_enforce => match &self.sts_tls {
                    Ok(c) => (TlsMode::Mandatory(c.clone()), "mta-sts"),
                    Err(e) => {
                        last = Some(format!("451 4.7.5 {name}: MTA-STS: {e}"));
                        continue;
                    }
                },
                Dane::None => (TlsMode::Opportunistic, "may"),
            };
            for ip in addrs {
                let addr = SocketAddr::new(ip, self.opts.port);
                let key = Key {
                    addr,
                    host: name.to_string(),
                    policy,
                };
                let mut session = match self.pool.take(&key).await {
                    Some(s) => s,
                    None => match self.connect(addr, name, &mode).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::info!(queue_id = %req.queue_id, domain, mx = name, %addr, reason = %e, "MX host not usable; trying the next");
                            last = Some(e);
                            continue;
                        }
                    },
                };
                let (outcomes, usable) = session
                    .send(req, MessageBody::File(&req.message_path))
                    .await;
                let relay = session.peer.clone();
                let tls = if session.tls { policy } else { "none" };
                if usable {
                    self.pool.put(key, session);
                }
                log_outcomes(
                    req,
                    &relay,
                    tls,
                    &DeliveryOutcome::PerRecipient(outcomes.clone()),
                );
                return outcomes;
            }
        }
        let reason = last.unwrap_or_else(|| format!("451 4.4.4 {domain}: no usable MX host"));
        tracing::info!(queue_id = %req.queue_id, domain, reason = %reason, "deferred");
        deferred(n, &reason)
    }

    /// Deliver through the smarthost: each of its addresses in turn until one can be reached.
    async fn via_smarthost(&self, sh: &Smarthost, req: &DeliveryRequest) -> Vec<RecipientOutcome> {
        let n = req.recipients.len();
        let addrs: Vec<IpAddr> = match sh.host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match mx::addresses(&self.dns, &sh.host).await {
                Ok((a, _)) if !a.is_empty() => a,
                Ok(_) | Err(DnsError::NxDomain(_)) => {
                    return deferred(n, &format!("451 4.4.4 smarthost {}: no address", sh.host));
                }
                Err(e) => {
                    return deferred(n, &format!("451 4.4.3 smarthost {}: {e}", sh.host));
                }
            },
        };
        let mut last = Vec::new();
        for ip in addrs {
            let hop = NextHop {
                target: ListenAddr::Tcp(SocketAddr::new(ip, sh.port)),
                server_name: sh.host.trim_matches(['[', ']']).to_string(),
                helo: self.opts.helo.clone(),
                timeout: self.opts.timeout,
                tls: sh.tls.clone(),
                auth: sh.auth.clone(),
            };
            let outcome = hop.send(req, MessageBody::File(&req.message_path)).await;
            log_outcomes(req, &hop.target.to_string(), "-", &outcome);
            let list = match outcome {
                DeliveryOutcome::PerRecipient(list) => list,
                DeliveryOutcome::AgentFailed { reason } => deferred(n, &reason),
            };
            let unreachable = list.iter().all(|o| {
                matches!(o, RecipientOutcome::Deferred { reply } if reply.starts_with("451 4.4.1 "))
            });
            if !unreachable {
                return list;
            }
            last = list;
        }
        last
    }

    /// Connect and open a session under `mode`; opportunistic TLS that fails in the
    /// handshake is retried once without TLS.
    async fn connect(
        &self,
        addr: SocketAddr,
        host: &str,
        mode: &TlsMode,
    ) -> Result<SmtpSession, String> {
        let peer = format!("{host}[{}]:{}", addr.ip(), addr.port());
        let mut plain = false;
        loop {
            let io = dial_tcp(addr, self.opts.connect_timeout)
                .await
                .map_err(|e| format!("451 4.4.1 {host}: {e}"))?;
            self.pool.opened();
            let params = SessionParams {
                helo: &self.opts.helo,
                server_name: host,
                timeout: self.opts.timeout,
                tls: if plain { &TlsMode::Plain } else { mode },
                auth: None,
                auth_in_clear: false,
            };
            match SmtpSession::open(io, peer.clone(), &params).await {
                Ok(s) => return Ok(s),
                Err(e) if e.retry_plain && !plain => {
                    tracing::info!(mx = %peer, reason = %e.reply, "opportunistic TLS failed; retrying without TLS");
                    plain = true;
                }
                Err(e) => return Err(e.reply),
            }
        }
    }
}

#[async_trait]
impl Transport for RemoteTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        // Group by domain (case-insensitive), keeping each recipient's index.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, r) in req.recipients.iter().enumerate() {
            let domain = r
                .rsplit_once('@')
                .map_or("", |(_, d)| d)
                .trim_end_matches('.')
                .to_ascii_lowercase();
            match groups.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, list)) => list.push(i),
                None => groups.push((domain, vec![i])),
            }
        }
        let runs = groups.iter().map(|(domain, idx)| async move {
            let sub = subset(req, idx);
            if domain.is_empty() {
                return failed(
                    idx.len(),
                    "550 5.1.3 recipient address has no domain",
                    "5.1.3",
                );
            }
            self.deliver_domain(domain, &sub).await
        });
        let results = futures::future::join_all(runs).await;
        let mut out: Vec<Option<RecipientOutcome>> = vec![None; req.recipients.len()];
        for ((_, idx), list) in groups.iter().zip(results) {
            for (&i, o) in idx.iter().zip(list) {
                out[i] = Some(o);
            }
        }
        DeliveryOutcome::PerRecipient(
            out.into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: "451 4.4.0 no outcome".into(),
                    })
                })
                .collect(),
        )
    }
}

/// smtp-mta's queue transport: local recipients to `local` (LMTP), the others to `remote`.
pub struct RouterTransport {
    directory: Arc<dyn Directory>,
    local: Arc<dyn Transport>,
    remote: Arc<dyn Transport>,
}

impl RouterTransport {
    /// Route with `directory`'s local domains.
    pub fn new(
        directory: Arc<dyn Directory>,
        local: Arc<dyn Transport>,
        remote: Arc<dyn Transport>,
    ) -> RouterTransport {
        RouterTransport {
            directory,
            local,
            remote,
        }
    }
}

#[async_trait]
impl Transport for RouterTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let n = req.recipients.len();
        let mut out: Vec<Option<RecipientOutcome>> = vec![None; n];
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        let mut known: HashMap<String, bool> = HashMap::new();
        for (i, r) in req.recipients.iter().enumerate() {
            let Some((_, domain)) = r.rsplit_once('@') else {
                local.push(i); // `postmaster` and other unqualified local names
                continue;
            };
            let domain = domain.to_ascii_lowercase();
            let is_local = match known.get(&domain) {
                Some(&l) => l,
                None => match self.directory.is_local_domain(&domain).await {
                    Ok(l) => {
                        known.insert(domain, l);
                        l
                    }
                    Err(e) => {
                        out[i] = Some(RecipientOutcome::Deferred {
                            reply: format!("451 4.3.0 directory unavailable: {e}"),
                        });
                        continue;
                    }
                },
            };
            if is_local {
                local.push(i);
            } else {
                remote.push(i);
            }
        }
        if local.len() == n {
            // Only local recipients: LMTP's outcome as it is (AgentFailed backs off the
            // transport when lmtp-mda is down).
            return self.local.deliver(req).await;
        }
        let local_run = async {
            if local.is_empty() {
                return None;
            }
            Some(self.local.deliver(&subset(req, &local)).await)
        };
        let remote_run = async {
            if remote.is_empty() {
                return None;
            }
            Some(self.remote.deliver(&subset(req, &remote)).await)
        };
        let (l, r) = tokio::join!(local_run, remote_run);
        for (idx, outcome) in [(&local, l), (&remote, r)] {
            let Some(outcome) = outcome else {
                continue;
            };
            match outcome {
                DeliveryOutcome::PerRecipient(list) => {
                    for (&i, o) in idx.iter().zip(list) {
                        out[i] = Some(o);
                    }
                }
                DeliveryOutcome::AgentFailed { reason } => {
                    for &i in idx.iter() {
                        out[i] = Some(RecipientOutcome::Deferred {
                            reply: format!("451 4.4.1 {reason}"),
                        });
                    }
                }
            }
        }
        DeliveryOutcome::PerRecipient(
            out.into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: "451 4.4.0 no outcome".into(),
                    })
                })
                .collect(),
        )
    }
}

/// The request restricted to the recipients at `idx`.
fn subset(req: &DeliveryRequest, idx: &[usize]) -> DeliveryRequest {
    DeliveryRequest {
        recipients: idx.iter().map(|&i| req.recipients[i].clone()).collect(),
        recipient_dsn: idx.iter().map(|&i| req.dsn_of(i)).collect(),
        ..req.clone()
    }
}

fn deferred(n: usize, reply: &str) -> Vec<RecipientOutcome> {
    vec![
        RecipientOutcome::Deferred {
            reply: reply.to_string()
        };
        n
    ]
}

fn failed(n: usize, reply: &str, status: &str) -> Vec<RecipientOutcome> {
    vec![
        RecipientOutcome::Failed {
            reply: reply.to_string(),
            status: status.to_string()
        };
        n
    ]
}
