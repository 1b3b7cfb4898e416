//! The SMTP client (RFC 5321): one session to one server, reusable for several messages, and
//! [`NextHop`], the one-message delivery to a fixed host (smtp-mta's relay listener for
//! submission, or a smarthost for smtp-mta).
//!
//! ```text
//!  dial ─ 220 ─ EHLO (HELO if EHLO is refused) ─ [STARTTLS ─ handshake ─ EHLO] ─ [AUTH]
//!     ─┬─ MAIL FROM [SIZE] [BODY=8BITMIME] [SMTPUTF8] [RET ENVID] ─ RCPT × n [NOTIFY ORCPT] ─ DATA ─ . ─┐
//!      └──────────────────────────────── RSET, next message (connection reuse) ◀────────────────────────┘
//!     ─ QUIT
//! ```
//!
//! - `MAIL` and every `RCPT` go in one write when the server offers PIPELINING (RFC 2920).
//! - `RET`, `ENVID`, `NOTIFY` and `ORCPT` (RFC 3461) are passed on only when the server offers
//!   DSN; `SIZE` only with SIZE (and a message above the announced limit fails `552 5.3.4`
//!   without being sent); a message that needs SMTPUTF8 fails `553 5.6.7` at a server without
//!   it (RFC 6531 §3.2; we do not downgrade).
//! - Outcomes per recipient: a refused `RCPT` keeps its own `4xx`/`5xx`; the one reply after
//!   the data (SMTP, unlike LMTP) applies to every recipient accepted at `RCPT`. A connection
//!   that breaks after the data was sent leaves them deferred (the message may have arrived:
//!   at-least-once). Failures to connect, greet or set up TLS never produce `AgentFailed`:
//!   every recipient is deferred with a `4xx` reply naming the host and the reason.
//! - TLS ([`TlsMode`]): `Plain`; `Opportunistic` uses STARTTLS when offered, accepts any
//!   certificate, and when the handshake fails it reconnects once without TLS (like Postfix's
//!   `may` level); `Mandatory` refuses to go on without STARTTLS (`4.7.10`) or with a
//!   certificate the policy rejects (`4.7.5`): nothing is ever sent in clear then.
//! - AUTH (RFC 4954): PLAIN, else LOGIN, only over TLS unless the target is a loopback address
//!   or a unix socket. The password never appears in a log line or a reply kept in the queue.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use mailstack_net::ListenAddr;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, Notify, RecipientOutcome, Transport};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::{
    BoxIo, Broken, Conn, Extensions, MessageBody, Reply, all_deferred, extensions, mail_command,
    send_body, send_envelope, smtp_path, tls, xtext,
};

/// How [`NextHop`] uses TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTls {
    /// Never STARTTLS (a unix socket or loopback hop).
    None,
    /// STARTTLS when the server offers it, any certificate accepted; plain text otherwise.
    Opportunistic,
    /// STARTTLS is mandatory and the certificate must be valid for
    /// [`NextHop::server_name`] and chain to the roots of `ca_file` (PEM), or to the system's
    /// roots when `None`. Without it the recipients are deferred, nothing is sent in clear.
    Required {
        /// PEM file of the trusted roots; `None`: the system's roots.
        ca_file: Option<PathBuf>,
    },
}

/// A fixed next hop: one message per call over a fresh connection.
#[derive(Clone)]
pub struct NextHop {
    /// Where to connect (`127.0.0.1:10025`, `[2001:db8::1]:587`, `unix:/run/relay.sock`).
    pub target: ListenAddr,
    /// The server's name, for TLS (SNI and certificate check) and logs.
    pub server_name: String,
    /// Our name in `EHLO`.
    pub helo: String,
    /// Limit of connecting, of each reply and of each write.
    pub timeout: Duration,
    /// The TLS policy.
    pub tls: ClientTls,
    /// `AUTH` user and password; sent only over TLS unless the target is loopback or a unix
    /// socket.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for NextHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextHop")
            .field("target", &self.target)
            .field("server_name", &self.server_name)
            .field("helo", &self.helo)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("auth_user", &self.auth.as_ref().map(|a| &a.0))
            .finish()
    }
}

impl NextHop {
    /// One message over a fresh connection: EHLO, STARTTLS per [`NextHop::tls`], AUTH, MAIL
    /// (SIZE, SMTPUTF8, ENVID and RET when offered), RCPT (NOTIFY/ORCPT when DSN is offered),
    /// DATA, QUIT. Always [`DeliveryOutcome::PerRecipient`], one outcome per recipient of
    /// `req` (the message is read from `message`, not from `req.message_path`).
    pub async fn send(&self, req: &DeliveryRequest, message: MessageBody<'_>) -> DeliveryOutcome {
        let n = req.recipients.len();
        let mode = match &self.tls {
            ClientTls::None => TlsMode::Plain,
            ClientTls::Opportunistic => TlsMode::Opportunistic,
            ClientTls::Required { ca_file } => match tls::webpki(ca_file.as_deref()) {
                Ok(config) => TlsMode::Mandatory(config),
                Err(e) => {
                    return all_deferred(
                        n,
                        &format!("451 4.7.5 TLS setup for {}: {e}", self.server_name),
                    );
                }
            },
        };
        let auth_in_clear = match &self.target {
            ListenAddr::Unix(_) => true,
            ListenAddr::Tcp(a) => a.ip().is_loopback(),
        };
        let mut plain = false;
        loop {
            let io = match dial(&self.target, self.timeout).await {
                Ok(io) => io,
                Err(e) => return all_deferred(n, &format!("451 4.4.1 {e}")),
            };
            let params = SessionParams {
                helo: &self.helo,
                server_name: &self.server_name,
                timeout: self.timeout,
                tls: if plain { &TlsMode::Plain } else { &mode },
                auth: self.auth.as_ref(),
                auth_in_clear,
            };
            match SmtpSession::open(io, self.target.to_string(), &params).await {
                Ok(mut session) => {
                    let (outcomes, usable) = session.send(req, message).await;
                    if usable {
                        session.quit().await;
                    }
                    return DeliveryOutcome::PerRecipient(outcomes);
                }
                Err(e) if e.retry_plain && !plain => {
                    tracing::info!(queue_id = %req.queue_id, relay = %self.target, reason = %e.reply, "TLS failed; retrying without TLS");
                    plain = true;
                }
                Err(e) => return all_deferred(n, &e.reply),
            }
        }
    }
}

/// smtp-mta's transport to a smarthost: every message goes to one [`NextHop`].
#[derive(Debug, Clone)]
pub struct SmarthostTransport {
    hop: NextHop,
}

impl SmarthostTransport {
    /// Deliver everything to `hop`.
    pub fn new(hop: NextHop) -> SmarthostTransport {
        SmarthostTransport { hop }
    }

    /// The next hop.
    pub fn hop(&self) -> &NextHop {
        &self.hop
    }
}

#[async_trait]
impl Transport for SmarthostTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let outcome = self
            .hop
            .send(req, MessageBody::File(&req.message_path))
            .await;
        log_outcomes(req, &self.hop.target.to_string(), "-", &outcome);
        outcome
    }
}

/// One log line per recipient (`status=sent|deferred|bounced`, Postfix style); `tls` names the
/// TLS policy the connection was encrypted under (`may`, `dane`, `mta-sts`; `none`: plain
/// text; `-`: not known here).
pub(crate) fn log_outcomes(
    req: &DeliveryRequest,
    relay: &str,
    tls: &str,
    outcome: &DeliveryOutcome,
) {
    if let DeliveryOutcome::PerRecipient(list) = outcome {
        for (rcpt, o) in req.recipients.iter().zip(list) {
            let (status, reply) = match o {
                RecipientOutcome::Delivered { reply } => ("sent", reply),
                RecipientOutcome::Deferred { reply } => ("deferred", reply),
                RecipientOutcome::Failed { reply, .. } => ("bounced", reply),
            };
            tracing::info!(queue_id = %req.queue_id, to = %format_args!("<{rcpt}>"), relay, tls, status, reply = %reply, "smtp");
        }
    }
}

/// Connect to `target` within `timeout`.
pub(crate) async fn dial(target: &ListenAddr, timeout: Duration) -> Result<BoxIo, String> {
    match target {
        ListenAddr::Tcp(addr) => dial_tcp(*addr, timeout).await,
        ListenAddr::Unix(path) => {
            match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
                Ok(Ok(s)) => Ok(Box::new(s)),
                Ok(Err(e)) => Err(format!("connect to unix:{}: {e}", path.display())),
                Err(_) => Err(format!("connect to unix:{}: timed out", path.display())),
            }
        }
    }
}

/// Connect to a TCP address within `timeout`.
pub(crate) async fn dial_tcp(addr: SocketAddr, timeout: Duration) -> Result<BoxIo, String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Ok(Err(e)) => Err(format!("connect to {addr}: {e}")),
        Err(_) => Err(format!("connect to {addr}: timed out")),
    }
}

/// TLS of one session.
#[derive(Clone)]
pub(crate) enum TlsMode {
    /// No STARTTLS.
    Plain,
    /// STARTTLS when offered, any certificate.
    Opportunistic,
    /// STARTTLS required, the configuration's verifier decides on the certificate.
    Mandatory(Arc<ClientConfig>),
}

/// What [`SmtpSession::open`] needs.
pub(crate) struct SessionParams<'a> {
    pub(crate) helo: &'a str,
    /// SNI and the name the certificate is checked against.
    pub(crate) server_name: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) tls: &'a TlsMode,
    pub(crate) auth: Option<&'a (String, String)>,
    /// AUTH may go over a plain connection (loopback or unix socket).
    pub(crate) auth_in_clear: bool,
}

/// Why a session could not be set up: a `4xx` reply to keep for every recipient.
#[derive(Debug)]
pub(crate) struct SessionError {
    /// `451 4.4.1 ...` style, or the server's own reply.
    pub(crate) reply: String,
    /// Opportunistic TLS failed in the handshake: a new connection without TLS may work.
    pub(crate) retry_plain: bool,
}

impl SessionError {
    fn new(reply: String) -> SessionError {
        SessionError {
            reply,
            retry_plain: false,
        }
    }
}

/// An open SMTP session, greeted (and TLS and AUTH done), ready for transactions.
pub(crate) struct SmtpSession {
    conn: Conn<BoxIo>,
    ext: Extensions,
    /// The peer, for replies and logs.
    pub(crate) peer: String,
    /// TLS is active.
    pub(crate) tls: bool,
    /// Transactions run on this connection so far.
    pub(crate) transactions: u32,
}

impl SmtpSession {
    /// Greeting, EHLO, STARTTLS per `p.tls`, AUTH.
    pub(crate) async fn open(
        io: BoxIo,
        peer: String,
        p: &SessionParams<'_>,
    ) -> Result<SmtpSession, SessionError> {
        let broken = |peer: &str, b: Broken| {
            SessionError::new(format!("451 4.4.2 {peer}: connection broken: {}", b.0))
        };
        let mut conn = Conn::new(io, p.timeout);
        let greeting = conn.reply().await.map_err(|b| broken(&peer, b))?;
        if greeting.class() != 2 {
            return Err(SessionError::new(refused(&peer, "greeting", &greeting)));
        }
        let mut ext = hello(&mut conn, p.helo)
            .await
            .map_err(|b| broken(&peer, b))?
            .map_err(|r| SessionError::new(refused(&peer, "EHLO", &r)))?;
        let mut secure = false;
        let config = match p.tls {
            TlsMode::Plain => None,
            TlsMode::Opportunistic if ext.starttls => Some(tls::opportunistic()),
            TlsMode::Opportunistic => None,
            TlsMode::Mandatory(_) if !ext.starttls => {
                return Err(SessionError::new(format!(
                    "451 4.7.10 {peer}: TLS is required, but the server does not offer STARTTLS"
                )));
            }
            TlsMode::Mandatory(config) => Some(config.clone()),
        };
        if let Some(config) = config {
            let mandatory = matches!(p.tls, TlsMode::Mandatory(_));
            let reply = conn
                .command("STARTTLS")
                .await
                .map_err(|b| broken(&peer, b))?;
            if reply.code != 220 {
                if mandatory {
                    return Err(SessionError::new(format!(
                        "451 4.7.10 {peer}: TLS is required, but STARTTLS was answered: {}",
                        reply.text
                    )));
                }
                // Opportunistic: go on in plain text on this connection.
            } else {
                let stream = conn.into_stream().map_err(|b| broken(&peer, b))?;
                let name = ServerName::try_from(p.server_name.to_string()).map_err(|_| {
                    SessionError::new(format!(
                        "451 4.7.5 {peer}: {:?} is not a valid TLS server name",
                        p.server_name
                    ))
                })?;
                let connector = tokio_rustls::TlsConnector::from(config);
                let tls_stream =
                    match tokio::time::timeout(p.timeout, connector.connect(name, stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            return Err(SessionError {
                                reply: format!("451 4.7.5 {peer}: TLS handshake failed: {e}"),
                                retry_plain: !mandatory,
                            });
                        }
                        Err(_) => {
                            return Err(SessionError {
                                reply: format!("451 4.7.5 {peer}: TLS handshake timed out"),
                                retry_plain: !mandatory,
                            });
                        }
                    };
                conn = Conn::new(Box::new(tls_stream) as BoxIo, p.timeout);
                secure = true;
                ext = hello(&mut conn, p.helo)
                    .await
                    .map_err(|b| broken(&peer, b))?
                    .map_err(|r| SessionError::new(refused(&peer, "EHLO after STARTTLS", &r)))?;
            }
        }
        if let Some((user, password)) = p.auth {
            if !secure && !p.auth_in_clear {
                return Err(SessionError::new(format!(
                    "451 4.7.10 {peer}: AUTH is configured, but the connection is not encrypted"
                )));
            }
            authenticate(&mut conn, &ext, user, password)
                .await
                .map_err(|b| broken(&peer, b))?
                .map_err(|r| SessionError::new(refused(&peer, "AUTH", &r)))?;
        }
        Ok(SmtpSession {
            conn,
            ext,
            peer,
            tls: secure,
            transactions: 0,
        })
    }

    /// Run one transaction. Returns one outcome per recipient of `req`, and whether the
    /// connection may carry another message.
    pub(crate) async fn send(
        &mut self,
        req: &DeliveryRequest,
        body: MessageBody<'_>,
    ) -> (Vec<RecipientOutcome>, bool) {
        self.transactions += 1;
        let n = req.recipients.len();
        let fail_all = |reply: String, status: &str| {
            vec![
                RecipientOutcome::Failed {
                    reply,
                    status: status.to_string()
                };
                n
            ]
        };
        if req.smtputf8 && !self.ext.smtputf8 {
            let reply = format!(
                "553 5.6.7 {}: the message needs SMTPUTF8, which the server does not offer",
                self.peer
            );
            return (fail_all(reply, "5.6.7"), true);
        }
        if self.ext.size_limit > 0 && req.size > self.ext.size_limit {
            let reply = format!(
                "552 5.3.4 {}: message size {} exceeds the server's limit {}",
                self.peer, req.size, self.ext.size_limit
            );
            return (fail_all(reply, "5.3.4"), true);
        }
        let mut outcomes: Vec<Option<RecipientOutcome>> = vec![None; n];
        let mut data_sent = false;
        let result = self
            .transaction(req, body, &mut outcomes, &mut data_sent)
            .await;
        let usable = result.is_ok();
        let missing = match result {
            Ok(()) => format!("451 4.4.2 {}: no reply", self.peer),
            Err(why) => format!("451 4.4.2 {}: connection broken: {}", self.peer, why.0),
        };
        let list = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| RecipientOutcome::Deferred {
                    reply: missing.clone(),
                })
            })
            .collect();
        (list, usable)
    }

    async fn transaction(
        &mut self,
        req: &DeliveryRequest,
        body: MessageBody<'_>,
        outcomes: &mut [Option<RecipientOutcome>],
        data_sent: &mut bool,
    ) -> Result<(), Broken> {
        let ext = &self.ext;
        let mut mail = mail_command(req, ext);
        if ext.dsn {
            if req.ret_full {
                mail.push_str(" RET=FULL");
            }
            if let Some(id) = &req.env_id {
                mail.push_str(&format!(" ENVID={}", xtext(id)));
            }
        }
        mail.push_str("\r\n");
        let rcpts: Vec<String> = req
            .recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut line = format!("RCPT TO:<{}>", smtp_path(r));
                if ext.dsn {
                    let dsn = req.dsn_of(i);
                    if dsn.notify != Notify::default() {
                        line.push_str(&format!(" NOTIFY={}", notify_param(&dsn.notify)));
                    }
                    if let Some(orcpt) = dsn.orcpt.as_deref()
                        && let Some((kind, addr)) = orcpt.split_once(';')
                    {
                        line.push_str(&format!(" ORCPT={kind};{}", xtext(addr)));
                    }
                }
                line.push_str("\r\n");
                line
            })
            .collect();
        let conn = &mut self.conn;
        let envelope = send_envelope(conn, &mail, &rcpts, ext.pipelining, outcomes).await?;
        let Some(accepted) = envelope else {
            return Ok(());
        };
        if accepted.is_empty() {
            return Ok(());
        }
        let data = conn.command("DATA").await?;
        if data.code != 354 {
            let o = data.data_refused_outcome();
            for &i in &accepted {
                outcomes[i] = Some(o.clone());
            }
            return Ok(());
        }
        *data_sent = true;
        send_body(conn, body).await?;
        let r = conn.reply().await?;
        let o = r.outcome();
        for &i in &accepted {
            outcomes[i] = Some(o.clone());
        }
        Ok(())
    }

    /// `RSET` before the next message on this connection; `false` when the connection is no
    /// longer usable.
    pub(crate) async fn reset(&mut self) -> bool {
        self.conn.reset().await
    }

    /// `QUIT`, waiting briefly for `221`.
    pub(crate) async fn quit(self) {
        self.conn.quit().await
    }
}

/// `NOTIFY=` value: `NEVER` or the list of wanted reports.
fn notify_param(n: &Notify) -> String {
    if n.never {
        return "NEVER".into();
    }
    let mut parts = Vec::new();
    if n.success {
        parts.push("SUCCESS");
    }
    if n.failure {
        parts.push("FAILURE");
    }
    if n.delay {
        parts.push("DELAY");
    }
    if parts.is_empty() {
        return "NEVER".into();
    }
    parts.join(",")
}

/// A `4xx` reply for a refused setup step, keeping the server's own words.
fn refused(peer: &str, step: &str, r: &Reply) -> String {
    let text = r.text.replace('\n', " / ");
    format!("451 4.4.0 {peer} refused {step}: {text}")
}

/// EHLO, falling back to HELO when EHLO is refused with `5xx`. `Ok(Err(reply))` when the
/// server refused both.
async fn hello(conn: &mut Conn<BoxIo>, name: &str) -> Result<Result<Extensions, Reply>, Broken> {
    let ehlo = conn.command(&format!("EHLO {name}")).await?;
    if ehlo.class() == 2 {
        return Ok(Ok(extensions(&ehlo)));
    }
    if ehlo.class() != 5 {
        return Ok(Err(ehlo));
    }
    let helo = conn.command(&format!("HELO {name}")).await?;
    if helo.class() == 2 {
        Ok(Ok(Extensions::default()))
    } else {
        Ok(Err(helo))
    }
}

/// AUTH PLAIN (or LOGIN when PLAIN is not offered).
async fn authenticate(
    conn: &mut Conn<BoxIo>,
    ext: &Extensions,
    user: &str,
    password: &str,
) -> Result<Result<(), Reply>, Broken> {
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let offered = |m: &str| ext.auth.iter().any(|a| a == m);
    let reply = if offered("PLAIN") || !offered("LOGIN") {
        let mut token = Vec::with_capacity(user.len() + password.len() + 2);
        token.push(0);
        token.extend_from_slice(user.as_bytes());
        token.push(0);
        token.extend_from_slice(password.as_bytes());
        conn.command(&format!("AUTH PLAIN {}", b64(&token))).await?
    } else {
        let r = conn.command("AUTH LOGIN").await?;
        if r.code != 334 {
            return Ok(Err(r));
        }
        let r = conn.command(&b64(user.as_bytes())).await?;
        if r.code != 334 {
            return Ok(Err(r));
        }
        conn.command(&b64(password.as_bytes())).await?
    };
    if reply.class() == 2 {
        Ok(Ok(()))
    } else {
        Ok(Err(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_values() {
        assert_eq!(notify_param(&Notify::NEVER), "NEVER");
        assert_eq!(notify_param(&Notify::default()), "FAILURE,DELAY");
        let n = Notify {
            success: true,
            failure: false,
            delay: false,
            never: false,
        };
        assert_eq!(notify_param(&n), "SUCCESS");
    }
}
