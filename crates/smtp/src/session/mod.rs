//! The SMTP/LMTP session: one state machine shared by every listener, with a [`Mode`] for the
//! differences: LMTP (LHLO, one DATA reply per recipient), public SMTP (EHLO/HELO, STARTTLS,
//! recipients limited to local domains by the handler), the internal relay listener and
//! submission (AUTH required before MAIL, RFC 6409).
//! Policy and delivery are behind [`MailHandler`]; this module only speaks the protocol:
//! framing, limits, ordering, pipelining, STARTTLS and timeouts.
//!
//! - [`stream`]: the streams a session runs over (and STARTTLS on them).
//! - [`body`]: DATA and BDAT reception with the size and bare-newline policies.
//! - [`replies`]: EHLO/LHLO capability lists and parser-error replies.
//! - [`auth`]: the SMTP AUTH exchange (RFC 4954) of submission.
//! - [`filter`]: per-connection content filters (smtp-mta's milters).

mod auth;
mod body;
mod filter;
mod replies;

pub use filter::{Filtered, FilteredMessage, SessionFilter};

pub use mailstack_net::SessionStream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mailstack_net::{ReloadingTlsAcceptor, Shutdown};
use smtp_proto::Request;
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

use crate::data::BareNewlines;
use crate::lines::{Line, read_line};
use crate::reply::Reply;
use crate::spool::Spool;
use body::{ChunkedBody, Received, receive_data};
use filter::Filters;
use replies::{declared_size_too_big, ehlo_reply, parse_error_reply};

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// LMTP (RFC 2033): LHLO, and one reply per accepted recipient after DATA.
    Lmtp,
    /// SMTP (RFC 5321) on the public MX port.
    Smtp,
    /// SMTP on the internal relay listener (trusted clients; the handler may relay).
    Relay,
    /// Message submission (RFC 6409): AUTH is required before MAIL.
    Submission,
}

impl Mode {
    fn is_lmtp(self) -> bool {
        self == Mode::Lmtp
    }
}

/// Limits and identity of a session, from the service's config section.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Protocol.
    pub mode: Mode,
    /// Host name for the greeting and LHLO/EHLO reply.
    pub hostname: String,
    /// Largest message in bytes.
    pub max_message_size: u64,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Longest command line, CRLF included.
    pub max_line_length: usize,
    /// Bare CR/LF policy for data.
    pub bare_newlines: BareNewlines,
    /// Idle timeout while waiting for a command.
    pub timeout: Duration,
    /// Idle timeout while waiting for message data.
    pub data_timeout: Duration,
    /// Errors (4xx/5xx replies to commands) before the session is closed.
    pub max_errors: usize,
    /// Commands that do not advance a transaction (NOOP, RSET, VRFY, HELP, EHLO) per session.
    pub max_junk_commands: usize,
    /// The certificate for STARTTLS (SMTP modes); `None`: STARTTLS is not offered.
    pub tls: Option<ReloadingTlsAcceptor>,
    /// Submission: offer and accept AUTH before TLS (tests and trusted networks only).
    pub allow_plaintext_auth: bool,
    /// Submission: failed AUTH attempts after which the connection is closed.
    pub max_auth_failures: usize,
}

impl SessionConfig {
    /// Defaults for `mode` with the given host name (limits as in the config reference).
    pub fn new(mode: Mode, hostname: impl Into<String>) -> Self {
        SessionConfig {
            mode,
            hostname: hostname.into(),
            max_message_size: 25 << 20,
            max_recipients: 100,
            max_line_length: 2048,
            bare_newlines: BareNewlines::Reject,
            timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            max_errors: 20,
            max_junk_commands: 100,
            tls: None,
            allow_plaintext_auth: false,
            max_auth_failures: 3,
        }
    }
}

/// DSN parameters of one recipient (RFC 3461).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientParams {
    /// The address of `ORCPT=` (its `rfc822;` type is implied).
    pub orcpt: Option<String>,
    /// `NOTIFY=` flags as smtp-proto's `RCPT_NOTIFY_*` bits; 0 = not given.
    pub notify: u64,
}

impl RecipientParams {
    /// `NOTIFY=` as the queue records it (the defaults when not given).
    pub fn queue_notify(&self) -> mailstack_queue::Notify {
        use mailstack_queue::Notify;
        if self.notify == 0 {
            return Notify::default();
        }
        if self.notify & smtp_proto::RCPT_NOTIFY_NEVER != 0 {
            return Notify::NEVER;
        }
        Notify {
            success: self.notify & smtp_proto::RCPT_NOTIFY_SUCCESS != 0,
            failure: self.notify & smtp_proto::RCPT_NOTIFY_FAILURE != 0,
            delay: self.notify & smtp_proto::RCPT_NOTIFY_DELAY != 0,
            never: false,
        }
    }
}

/// The envelope of the transaction in progress.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Transaction id, in every log line of this message (also the id in `Received:`).
    pub id: String,
    /// The client's address as text, for `Received:` (`192.0.2.7:40000`, `unix`).
    pub peer: String,
    /// The client's IP address, when it has one.
    pub client_ip: Option<IpAddr>,
    /// The name the client gave in LHLO/EHLO/HELO.
    pub helo: String,
    /// `ESMTP`, `ESMTPS`, `SMTP`, `LMTP` (RFC 3848), for `Received:`.
    pub protocol: &'static str,
    /// TLS protocol and cipher once STARTTLS succeeded.
    pub tls: Option<String>,
    /// Reverse path; empty for the null sender `<>`.
    pub sender: String,
    /// Declared `SIZE=` (0 if none).
    pub declared_size: u64,
    /// `RET=FULL` (DSNs include the whole message) rather than headers only.
    pub ret_full: bool,
    /// `ENVID=`.
    pub env_id: Option<String>,
    /// `SMTPUTF8` given on MAIL.
    pub smtputf8: bool,
    /// DSN parameters of each accepted recipient, in the order of the recipients.
    pub rcpt_params: Vec<RecipientParams>,
    /// Submission: the canonical address of the user who authenticated (AUTH).
    pub auth_user: Option<String>,
}

/// Policy and delivery for a session. The session calls these in protocol order: recipients
/// one by one at RCPT, then [`MailHandler::deliver`] once at the end of DATA/BDAT LAST.
#[async_trait]
pub trait MailHandler: Send + Sync + 'static {
    /// What a checked recipient resolves to (kept until delivery).
    type Recipient: Send + Sync;

    /// Check `address` at RCPT time: accepted (with its resolution) or a reply to send.
    async fn check_recipient(
        &self,
        envelope: &Envelope,
        address: &str,
    ) -> Result<Self::Recipient, Reply>;

    /// Deliver the message to `recipients`. In LMTP mode return exactly one reply per
    /// recipient, in order; in SMTP modes one reply for the message.
    async fn deliver(
        &self,
        envelope: &Envelope,
        recipients: &[(String, Self::Recipient)],
        message: &Spool,
    ) -> Vec<Reply>;

    /// Check the sender at MAIL (`envelope.sender` is set): accepted, or the reply to send.
    /// Submission checks that the authenticated user may use the address.
    async fn check_sender(&self, _envelope: &Envelope) -> Result<(), Reply> {
        Ok(())
    }

    /// Open this connection's content filters (smtp-mta's milters) and tell them about the
    /// client (`envelope` has the peer). `Err`: the connection is refused with that reply
    /// (`554` permanently, `421` temporarily). The default has no filters.
    async fn open_filter(
        &self,
        _envelope: &Envelope,
    ) -> Result<Option<Box<dyn SessionFilter>>, Reply> {
        Ok(None)
    }

    /// [`MailHandler::deliver`] with the connection's filter, which the handler must hand the
    /// message to (see [`SessionFilter::message`]). The default ignores the filter.
    async fn deliver_filtered(
        &self,
        envelope: &Envelope,
        recipients: &[(String, Self::Recipient)],
        message: &Spool,
        _filter: Option<&mut (dyn SessionFilter + 'static)>,
    ) -> Vec<Reply> {
        self.deliver(envelope, recipients, message).await
    }

    /// AUTH (submission only): check a login and password. `Ok` carries the user's canonical
    /// address; a wrong password is `535 5.7.8`, an unreachable directory `454 4.7.0`. The
    /// handler slows failures down itself (it knows the client address from `envelope`).
    async fn authenticate(
        &self,
        _envelope: &Envelope,
        _login: &str,
        _password: &str,
    ) -> Result<String, Reply> {
        Err(Reply::not_implemented("AUTH"))
    }
}

/// A new transaction id: a [`mailstack_queue::QueueId`], unique on this host and sortable by
/// creation time. smtp-mta queues the message under it, so one id names a message in every
/// log line, from MAIL to the LMTP delivery.
pub fn new_transaction_id() -> String {
    mailstack_queue::QueueId::generate().to_string()
}

/// How a session ended (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// QUIT.
    Quit,
    /// The client closed the connection.
    ClientClosed,
    /// Idle too long.
    Timeout,
    /// Too many errors or junk commands.
    TooManyErrors,
    /// The server is shutting down.
    Shutdown,
    /// An I/O error on the connection (or a failed TLS handshake).
    IoError,
    /// A content filter (milter) refused the connection or asked to close it.
    Refused,
}

enum State<R> {
    /// Waiting for LHLO/EHLO/HELO.
    Fresh,
    /// Greeted; no transaction.
    Ready,
    /// MAIL given; collecting recipients (and BDAT chunks, once they start).
    Mail {
        rcpts: Vec<(String, R)>,
        chunks: Option<ChunkedBody>,
    },
}

/// The reading and writing halves of the connection, re-joined for STARTTLS.
struct Io<S: SessionStream> {
    rd: BufReader<ReadHalf<S>>,
    wr: WriteHalf<S>,
    tls: Option<String>,
}

impl<S: SessionStream> Io<S> {
    fn new(stream: S) -> Self {
        let tls = stream.tls_description();
        let (rd, wr) = tokio::io::split(stream);
        Io {
            rd: BufReader::with_capacity(16 * 1024, rd),
            wr,
            tls,
        }
    }

    /// Write `out` (and clear it) within `limit`: a client that stops reading its replies
    /// cannot hold the session (and its connection slot) forever.
    async fn send(&mut self, out: &mut String, limit: Duration) -> Result<(), Ending> {
        match tokio::time::timeout(limit, self.wr.write_all(out.as_bytes())).await {
            Ok(Ok(())) => {
                out.clear();
                Ok(())
            }
            Ok(Err(_)) => Err(Ending::IoError),
            Err(_) => Err(Ending::Timeout),
        }
    }

    /// Upgrade to TLS. Whatever the client pipelined after STARTTLS is still in the buffer and
    /// is dropped here: it was sent in plain text (CVE-2011-0411).
    async fn start_tls(self, acceptor: mailstack_net::TlsAcceptor) -> std::io::Result<Self> {
        let stream = self.rd.into_inner().unsplit(self.wr);
        Ok(Io::new(stream.start_tls(acceptor).await?))
    }
}

/// Run one session over `stream` until it ends. When `shutdown` is triggered, a message whose
/// data is being received is still received and answered; then (or at once, between commands)
/// the session says `421 4.3.2` and ends; the client retries what it had not sent.
/// `peer` is the client's address as it appears in `Received:` (`ip:port` or `unix`).
pub async fn run_session<S, H>(
    stream: S,
    peer: String,
    cfg: Arc<SessionConfig>,
    handler: Arc<H>,
    shutdown: Shutdown,
) -> Ending
where
    S: SessionStream,
    H: MailHandler,
{
    let mut io = Io::new(stream);
    let client_ip = peer.parse::<SocketAddr>().ok().map(|a| a.ip());
    let fresh_envelope = |helo: String, tls: Option<String>| Envelope {
        peer: peer.clone(),
        client_ip,
        helo,
        tls,
        ..Default::default()
    };
    let mut filters = match handler
        .open_filter(&fresh_envelope(String::new(), io.tls.clone()))
        .await
    {
        Ok(f) => Filters(f),
        Err(reply) => return filter::refuse_connection(&mut io, &cfg, reply).await,
    };
    let greeting = match cfg.mode {
        Mode::Lmtp => format!("220 {} LMTP ready\r\n", cfg.hostname),
        Mode::Smtp | Mode::Relay | Mode::Submission => {
            format!("220 {} ESMTP mailstack\r\n", cfg.hostname)
        }
    };
    if let Err(ending) = io.send(&mut greeting.clone(), cfg.timeout).await {
        filters.close().await;
        return ending;
    }
    let mut state: State<H::Recipient> = State::Fresh;
    let mut env = fresh_envelope(String::new(), io.tls.clone());
    let mut out = String::new();
    let mut errors = 0usize;
    let mut junk = 0usize;
    // LMTP: the id our client (smtp-mta, Postfix) gave the next message with XFORWARD IDENT.
    let mut forwarded_id: Option<String> = None;
    // Submission: who authenticated (kept across EHLO and RSET, forgotten at STARTTLS), and
    // how many AUTH attempts failed on a wrong password.
    let mut authed: Option<String> = None;
    let mut auth_failures = 0usize;

    let ending = loop {
        // Flush replies only when the client has nothing more pipelined (RFC 2920).
        if io.rd.buffer().is_empty()
            && !out.is_empty()
            && let Err(ending) = io.send(&mut out, cfg.timeout).await
        {
            break ending;
        }
        if shutdown.is_triggered() && io.rd.buffer().is_empty() {
            out.push_str(&Reply::shutting_down(&cfg.hostname).to_wire());
            break Ending::Shutdown;
        }
        let line = tokio::select! {
            r = tokio::time::timeout(cfg.timeout, read_line(&mut io.rd, cfg.max_line_length, false)) => r,
            () = shutdown.triggered(), if !shutdown.is_triggered() => continue,
        };
        let line = match line {
            Err(_) => {
                out.push_str(&Reply::timeout(&cfg.hostname).to_wire());
                break Ending::Timeout;
            }
            Ok(Err(_)) => break Ending::IoError,
            Ok(Ok(Line::Eof)) => break Ending::ClientClosed,
            Ok(Ok(Line::TooLong)) => {
                errors += 1;
                out.push_str(&Reply::line_too_long().to_wire());
                if errors >= cfg.max_errors {
                    out.push_str(&Reply::too_many_errors(&cfg.hostname).to_wire());
                    break Ending::TooManyErrors;
                }
                continue;
            }
            Ok(Ok(Line::Complete(l) | Line::Partial(l))) => l,
        };
        // Set when RCPT named a recipient we refuse (as opposed to a protocol error).
        let mut recipient_refused = false;
        // Set for 452 "too many recipients", which is flow control, not a client error.
        let mut over_limit = false;
        let mut is_junk = false;
        let request = Request::parse(&mut line.iter());
        // Once BDAT chunks have started, only more BDAT (or RSET/QUIT/NOOP) may follow.
        if let (
            State::Mail {
                chunks: Some(_), ..
            },
            Ok(r),
        ) = (&state, &request)
            && !matches!(
                r,
                Request::Bdat { .. } | Request::Rset | Request::Quit | Request::Noop { .. }
            )
        {
            state = State::Ready;
            out.push_str(
                &Reply::bad_sequence("BDAT transaction aborted by another command").to_wire(),
            );
            errors += 1;
            continue;
        }
        let reply = match request {
            _ if cfg.mode.is_lmtp() && replies::is_xforward(&line) => {
                Some(match replies::xforward_ident(&line) {
                    Ok(ident) => {
                        forwarded_id = ident.or(forwarded_id.take());
                        Reply::ok()
                    }
                    Err(reply) => reply,
                })
            }
            Err(e) => Some(parse_error_reply(&e, &line)),
            Ok(req) => match req {
                Request::Lhlo { host } if cfg.mode.is_lmtp() => {
                    state = State::Ready;
                    env = fresh_envelope(host.to_string(), io.tls.clone());
                    env.protocol = "LMTP";
                    Some(ehlo_reply(&cfg, false, false))
                }
                Request::Ehlo { host } if !cfg.mode.is_lmtp() => {
                    is_junk = !matches!(state, State::Fresh);
                    state = State::Ready;
                    env = fresh_envelope(host.to_string(), io.tls.clone());
                    env.protocol = if io.tls.is_some() { "ESMTPS" } else { "ESMTP" };
                    let offer_tls = cfg.tls.is_some() && io.tls.is_none();
                    let offer_auth = cfg.mode == Mode::Submission
                        && (io.tls.is_some() || cfg.allow_plaintext_auth);
                    match filters.helo(&env).await {
                        Ok(()) => Some(ehlo_reply(&cfg, offer_tls, offer_auth)),
                        Err(reply) => {
                            state = State::Fresh;
                            Some(reply)
                        }
                    }
                }
                Request::Helo { host } if !cfg.mode.is_lmtp() => {
                    is_junk = !matches!(state, State::Fresh);
                    state = State::Ready;
                    env = fresh_envelope(host.to_string(), io.tls.clone());
                    env.protocol = if io.tls.is_some() { "SMTPS" } else { "SMTP" };
                    match filters.helo(&env).await {
                        Ok(()) => Some(Reply::new(250, "", cfg.hostname.clone())),
                        Err(reply) => {
                            state = State::Fresh;
                            Some(reply)
                        }
                    }
                }
                Request::Lhlo { .. } => Some(Reply::syntax("This is SMTP: use EHLO")),
                Request::Ehlo { .. } | Request::Helo { .. } => {
                    Some(Reply::syntax("This is LMTP (RFC 2033): use LHLO"))
                }
                Request::StartTls if !cfg.mode.is_lmtp() => {
                    match (&cfg.tls, &io.tls, &state) {
                        (None, _, _) => Some(Reply::not_implemented("STARTTLS")),
                        (_, Some(_), _) => Some(Reply::bad_sequence("TLS already active")),
                        (_, _, State::Mail { .. }) => {
                            Some(Reply::bad_sequence("STARTTLS not allowed in a transaction"))
                        }
                        (Some(acceptor), None, _) => {
                            out.push_str("220 2.0.0 Ready to start TLS\r\n");
                            if let Err(ending) = io.send(&mut out, cfg.timeout).await {
                                break ending;
                            }
                            let handshake = io.start_tls(acceptor.acceptor());
                            io = match tokio::time::timeout(cfg.timeout, handshake).await {
                                Ok(Ok(io)) => io,
                                Ok(Err(e)) => {
                                    tracing::info!(peer = %peer, error = %e, "TLS handshake failed");
                                    return Ending::IoError;
                                }
                                Err(_) => {
                                    tracing::info!(peer = %peer, "TLS handshake timed out");
                                    return Ending::Timeout;
                                }
                            };
                            // RFC 3207 §4.2: forget everything, the client must EHLO again.
                            state = State::Fresh;
                            authed = None;
                            env = fresh_envelope(String::new(), io.tls.clone());
                            None
                        }
                    }
                }
                Request::Auth {
                    mechanism,
                    initial_response,
                } if cfg.mode == Mode::Submission => match (&state, &authed) {
                    (State::Fresh, _) => Some(Reply::bad_sequence("Send EHLO first")),
                    (State::Mail { .. }, _) => Some(Reply::bad_sequence(
                        "AUTH not allowed during a mail transaction",
                    )),
                    (_, Some(_)) => Some(Reply::bad_sequence("Already authenticated")),
                    _ if io.tls.is_none() && !cfg.allow_plaintext_auth => Some(Reply::new(
                        538,
                        "5.7.11",
                        "Encryption required: use STARTTLS before AUTH",
                    )),
                    _ => {
                        let result = auth::exchange(
                            &mut io,
                            &cfg,
                            &*handler,
                            &env,
                            mechanism,
                            &initial_response,
                        )
                        .await;
                        match result {
                            Err(ending) => break ending,
                            Ok(auth::AuthResult::Accepted(user)) => {
                                tracing::info!(peer = %peer, user = %user, "submission login");
                                authed = Some(user);
                                Some(Reply::new(235, "2.7.0", "Authentication successful"))
                            }
                            Ok(auth::AuthResult::Failed(reply)) => Some(reply),
                            Ok(auth::AuthResult::Rejected(reply)) => {
                                auth_failures += 1;
                                if auth_failures >= cfg.max_auth_failures {
                                    out.push_str(&reply.to_wire());
                                    out.push_str(
                                        &Reply::new(
                                            421,
                                            "4.7.0",
                                            format!(
                                                "{} Too many authentication failures",
                                                cfg.hostname
                                            ),
                                        )
                                        .to_wire(),
                                    );
                                    break Ending::TooManyErrors;
                                }
                                Some(reply)
                            }
                        }
                    }
                },
                Request::Mail { .. } if cfg.mode == Mode::Submission && authed.is_none() => {
                    Some(Reply::new(530, "5.7.0", "Authentication required"))
                }
                Request::Mail { from } => match state {
                    State::Fresh => Some(Reply::bad_sequence(if cfg.mode.is_lmtp() {
                        "Send LHLO first"
                    } else {
                        "Send EHLO or HELO first"
                    })),
                    State::Mail { .. } => Some(Reply::bad_sequence("Nested MAIL command")),
                    State::Ready => {
                        const ADVERTISED: u64 = smtp_proto::MAIL_BODY_7BIT
                            | smtp_proto::MAIL_BODY_8BITMIME
                            | smtp_proto::MAIL_SMTPUTF8
                            | smtp_proto::MAIL_RET_FULL
                            | smtp_proto::MAIL_RET_HDRS;
                        let unadvertised = from.flags & !ADVERTISED != 0
                            || from.trans_id.is_some()
                            || from.by != 0
                            || from.solicit.is_some()
                            || from.mtrk.is_some()
                            || (from.auth.is_some() && cfg.mode != Mode::Submission)
                            || from.hold_for != 0
                            || from.hold_until != 0
                            || from.mt_priority != 0;
                        if unadvertised {
                            // REQUIRETLS, BY, HOLDFOR, MT-PRIORITY, BINARYMIME...: refused rather
                            // than silently ignored (RFC 5321 §4.1.1.11).
                            Some(Reply::unsupported_parameter("MAIL parameter"))
                        } else if declared_size_too_big(&line, from.size, cfg.max_message_size) {
                            Some(Reply::too_big(cfg.max_message_size))
                        } else {
                            env.id = forwarded_id.take().unwrap_or_else(new_transaction_id);
                            env.sender = from.address.to_string();
                            env.declared_size = from.size as u64;
                            env.ret_full = from.flags & smtp_proto::MAIL_RET_FULL != 0;
                            env.env_id = from.env_id.map(|e| e.to_string());
                            env.smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
                            env.rcpt_params.clear();
                            env.auth_user = authed.clone();
                            if authed.is_some() {
                                env.protocol = if io.tls.is_some() {
                                    "ESMTPSA"
                                } else {
                                    "ESMTPA"
                                };
                            }
                            let checked = match handler.check_sender(&env).await {
                                Ok(()) => filters.mail(&env).await,
                                Err(reply) => Err(reply),
                            };
                            match checked {
                                Ok(()) => {
                                    state = State::Mail {
                                        rcpts: Vec::new(),
                                        chunks: None,
                                    };
                                    tracing::debug!(id = %env.id, sender = %env.sender, "MAIL");
                                    Some(Reply::sender_ok())
                                }
                                Err(reply) => Some(reply),
                            }
                        }
                    }
                },
                Request::Rcpt { to } => match &mut state {
                    State::Mail { rcpts, .. } => {
                        if rcpts.len() >= cfg.max_recipients {
                            // Not an error: the client sends the rest in another transaction.
                            over_limit = true;
                            Some(Reply::too_many_recipients())
                        } else {
                            let address = to.address.to_string();
                            const NOTIFY: u64 = smtp_proto::RCPT_NOTIFY_SUCCESS
                                | smtp_proto::RCPT_NOTIFY_FAILURE
                                | smtp_proto::RCPT_NOTIFY_DELAY
                                | smtp_proto::RCPT_NOTIFY_NEVER;
                            if to.flags & !NOTIFY != 0 || to.rrvs != 0 {
                                // CONNEG, RRVS: not advertised, so not accepted (RFC 5321 §4.1.1.11).
                                Some(Reply::unsupported_parameter("RCPT parameter"))
                            } else {
                                let params = RecipientParams {
                                    orcpt: to.orcpt.map(|o| o.to_string()),
                                    notify: to.flags & NOTIFY,
                                };
                                let checked = match handler.check_recipient(&env, &address).await {
                                    Ok(r) => {
                                        filters.rcpt(&env, &address, &params).await.map(|()| r)
                                    }
                                    Err(reply) => Err(reply),
                                };
                                match checked {
                                    Ok(r) => {
                                        rcpts.push((address, r));
                                        env.rcpt_params.push(params);
                                        Some(Reply::recipient_ok())
                                    }
                                    Err(reply) => {
                                        recipient_refused = true;
                                        Some(reply)
                                    }
                                }
                            }
                        }
                    }
                    _ => Some(Reply::bad_sequence("Need MAIL command first")),
                },
                Request::Data => match std::mem::replace(&mut state, State::Ready) {
                    State::Mail {
                        rcpts,
                        chunks: None,
                    } if !rcpts.is_empty() => {
                        if let Err(reply) = filters.data(&env).await {
                            filters.abort().await;
                            out.push_str(&reply.to_wire());
                            if reply.code == 421 {
                                break Ending::Refused;
                            }
                            errors += 1;
                            continue;
                        }
                        out.push_str(&Reply::start_data().to_wire());
                        if let Err(ending) = io.send(&mut out, cfg.timeout).await {
                            break ending;
                        }
                        match receive_data(&mut io.rd, &cfg).await {
                            Err(ending) => {
                                if ending == Ending::Timeout {
                                    out.push_str(&Reply::timeout(&cfg.hostname).to_wire());
                                }
                                break ending;
                            }
                            Ok(received) => {
                                // Junk commands are counted per message actually transferred
                                // (a relay reusing a connection sends RSET between messages).
                                if finish_message(
                                    &cfg,
                                    &*handler,
                                    &env,
                                    &rcpts,
                                    received,
                                    &mut out,
                                    &mut filters,
                                )
                                .await
                                {
                                    junk = 0;
                                }
                            }
                        }
                        None
                    }
                    other => {
                        let msg = match &other {
                            State::Mail {
                                chunks: Some(_), ..
                            } => "DATA after BDAT",
                            State::Mail { .. } => "No valid recipients",
                            _ => "Need MAIL and RCPT commands first",
                        };
                        state = match other {
                            State::Fresh => State::Fresh,
                            _ => State::Ready,
                        };
                        Some(Reply::bad_sequence(msg))
                    }
                },
                Request::Bdat {
                    chunk_size,
                    is_last,
                } if !cfg.mode.is_lmtp() => {
                    // The chunk is read whatever the state, so the session stays in sync.
                    match &mut state {
                        State::Mail { rcpts, chunks } if !rcpts.is_empty() => {
                            let first = chunks.is_none();
                            let body = chunks.get_or_insert_with(|| ChunkedBody::new(&cfg));
                            if let Err(ending) = body
                                .read_chunk(&mut io.rd, chunk_size, cfg.data_timeout)
                                .await
                            {
                                if ending == Ending::Timeout {
                                    out.push_str(&Reply::timeout(&cfg.hostname).to_wire());
                                }
                                break ending;
                            }
                            if first && let Err(reply) = filters.data(&env).await {
                                // The chunk was read (the session stays in sync); the
                                // transaction is over.
                                filters.abort().await;
                                state = State::Ready;
                                if reply.code == 421 {
                                    out.push_str(&reply.to_wire());
                                    break Ending::Refused;
                                }
                                Some(reply)
                            } else if is_last {
                                let State::Mail { rcpts, chunks } =
                                    std::mem::replace(&mut state, State::Ready)
                                else {
                                    unreachable!("matched State::Mail above")
                                };
                                let received = chunks.map_or_else(
                                    || Received::Refused(Reply::temporary("Lost message data")),
                                    ChunkedBody::finish,
                                );
                                if finish_message(
                                    &cfg,
                                    &*handler,
                                    &env,
                                    &rcpts,
                                    received,
                                    &mut out,
                                    &mut filters,
                                )
                                .await
                                {
                                    junk = 0;
                                }
                                None
                            } else {
                                Some(Reply::new(
                                    250,
                                    "2.0.0",
                                    format!("{chunk_size} octets received"),
                                ))
                            }
                        }
                        _ => {
                            let mut discard = ChunkedBody::new(&cfg);
                            if let Err(ending) = discard
                                .read_chunk(&mut io.rd, chunk_size, cfg.data_timeout)
                                .await
                            {
                                break ending;
                            }
                            Some(Reply::bad_sequence("Need MAIL and RCPT commands first"))
                        }
                    }
                }
                Request::Rset => {
                    is_junk = true;
                    forwarded_id = None;
                    if matches!(state, State::Mail { .. }) {
                        filters.abort().await;
                    }
                    if !matches!(state, State::Fresh) {
                        state = State::Ready;
                    }
                    Some(Reply::ok())
                }
                Request::Noop { .. } => {
                    is_junk = true;
                    Some(Reply::ok())
                }
                Request::Quit => {
                    out.push_str(&Reply::bye().to_wire());
                    break Ending::Quit;
                }
                Request::Vrfy { .. } => {
                    is_junk = true;
                    Some(Reply::vrfy())
                }
                Request::Help { .. } => {
                    is_junk = true;
                    Some(Reply::help())
                }
                other => Some(Reply::not_implemented(other.name())),
            },
        };
        if let Some(reply) = reply {
            // In LMTP the client is our own MTA: a transaction with many stale recipients must
            // not end the session (Dovecot has no such limit either).
            let counts = !(over_limit || cfg.mode.is_lmtp() && recipient_refused);
            if reply.code >= 400 && counts {
                errors += 1;
            }
            out.push_str(&reply.to_wire());
            if reply.code == 421 {
                // Only a filter asks to close in the middle of a session.
                break Ending::Refused;
            }
            if errors >= cfg.max_errors {
                out.push_str(&Reply::too_many_errors(&cfg.hostname).to_wire());
                break Ending::TooManyErrors;
            }
        }
        if is_junk && !cfg.mode.is_lmtp() {
            junk += 1;
            if junk > cfg.max_junk_commands {
                out.push_str(&Reply::too_many_errors(&cfg.hostname).to_wire());
                break Ending::TooManyErrors;
            }
        }
    };
    if !out.is_empty() {
        let _ = io.send(&mut out, cfg.timeout).await;
    }
    let _ = tokio::time::timeout(cfg.timeout, io.wr.shutdown()).await;
    filters.close().await;
    ending
}

/// End of DATA / BDAT LAST: hand the message to the handler (or send the refusal), one reply
/// per recipient in LMTP, one in SMTP.
/// Returns whether any recipient accepted the message.
async fn finish_message<H: MailHandler>(
    cfg: &SessionConfig,
    handler: &H,
    env: &Envelope,
    rcpts: &[(String, H::Recipient)],
    received: Received,
    out: &mut String,
    filters: &mut Filters,
) -> bool {
    let replies = match received {
        Received::Refused(reply) => {
            tracing::info!(id = %env.id, %reply, "message refused");
            filters.abort().await;
            let n = if cfg.mode.is_lmtp() { rcpts.len() } else { 1 };
            vec![reply; n]
        }
        Received::Message(spool) => {
            handler
                .deliver_filtered(env, rcpts, &spool, filters.as_dyn())
                .await
        }
    };
    let accepted = replies.iter().any(Reply::is_positive);
    for r in replies {
        out.push_str(&r.to_wire());
    }
    accepted
}
