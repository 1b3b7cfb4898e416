//! The SMTP/LMTP session: one state machine shared by every listener, with a [`Mode`] for the
//! differences (LMTP's LHLO and one DATA reply per recipient today; SMTP and submission modes
//! arrive with their services). Policy and delivery are behind [`MailHandler`]; this module only
//! speaks the protocol: framing, limits, ordering, pipelining and timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use mailstack_net::Shutdown;
use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::data::{BareNewlines, DataParser, DataStep};
use crate::lines::{Line, read_line};
use crate::reply::Reply;
use crate::spool::Spool;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// LMTP (RFC 2033): LHLO, and one reply per accepted recipient after DATA.
    Lmtp,
}

/// Limits and identity of a session, from the service's config section.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Protocol.
    pub mode: Mode,
    /// Host name for the greeting and LHLO reply.
    pub hostname: String,
    /// Largest message in bytes.
    pub max_message_size: u64,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Longest command line, CRLF included.
    pub max_line_length: usize,
    /// Bare CR/LF policy for data.
    pub bare_newlines: BareNewlines,
    /// Idle timeout for a command or a data line.
    pub timeout: Duration,
    /// Errors (4xx/5xx replies to commands) before the session is closed.
    pub max_errors: usize,
}

/// The envelope of the transaction in progress.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Transaction id, in every log line of this message (also the id in `Received:`).
    pub id: String,
    /// The client's address, for `Received:`.
    pub peer: String,
    /// The name the client gave in LHLO/EHLO.
    pub helo: String,
    /// Reverse path; empty for the null sender `<>`.
    pub sender: String,
    /// Declared `SIZE=` (0 if none).
    pub declared_size: u64,
}

/// Policy and delivery for a session. The session calls these in protocol order: recipients
/// one by one at RCPT, then [`MailHandler::deliver`] once at the end of DATA.
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
    /// recipient, in order.
    async fn deliver(
        &self,
        envelope: &Envelope,
        recipients: &[(String, Self::Recipient)],
        message: &Spool,
    ) -> Vec<Reply>;
}

/// Unique transaction ids that sort in creation order within a process: fixed-width base 36
/// of the second, a per-process counter and the process id (`TP3909K0000A1B`).
pub fn new_transaction_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = u64::from(std::process::id());
    format!("{}{}{}", base36(secs, 7), base36(n, 6), base36(pid, 3))
}

/// The last `width` base-36 digits of `n`, zero-padded (upper case).
fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

enum State<R> {
    /// Waiting for LHLO.
    Fresh,
    /// Greeted; no transaction.
    Ready,
    /// MAIL given; collecting recipients.
    Mail { rcpts: Vec<(String, R)> },
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
    /// Too many errors.
    TooManyErrors,
    /// The server is shutting down.
    Shutdown,
    /// An I/O error on the connection.
    IoError,
}

/// Run one session over `stream` until it ends. When `shutdown` is triggered, a message whose
/// DATA is being received is still received and answered; then (or at once, between commands)
/// the session says `421 4.3.2` and ends; the client retries what it had not sent.
/// `peer` is the client's address as it appears in `Received:`.
pub async fn run_session<S, H>(
    stream: S,
    peer: String,
    cfg: Arc<SessionConfig>,
    handler: Arc<H>,
    shutdown: Shutdown,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: MailHandler,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut rd = BufReader::with_capacity(16 * 1024, rd);
    let mut out = String::new();
    let greeting = match cfg.mode {
        Mode::Lmtp => format!("220 {} LMTP ready\r\n", cfg.hostname),
    };
    if wr.write_all(greeting.as_bytes()).await.is_err() {
        return Ending::IoError;
    }
    let mut state: State<H::Recipient> = State::Fresh;
    let mut env = Envelope {
        peer: peer.clone(),
        ..Default::default()
    };
    let mut errors = 0usize;

    let ending = loop {
        // Flush replies only when the client has nothing more pipelined (RFC 2920).
        if rd.buffer().is_empty() && !out.is_empty() {
            if wr.write_all(out.as_bytes()).await.is_err() {
                break Ending::IoError;
            }
            out.clear();
        }
        if shutdown.is_triggered() && rd.buffer().is_empty() {
            out.push_str(&Reply::shutting_down(&cfg.hostname).to_wire());
            break Ending::Shutdown;
        }
        let line = tokio::select! {
            r = tokio::time::timeout(cfg.timeout, read_line(&mut rd, cfg.max_line_length, false)) => r,
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
        let reply = match Request::parse(&mut line.iter()) {
            Err(e) => Some(parse_error_reply(&e, &line)),
            Ok(req) => match req {
                Request::Lhlo { host } => {
                    state = State::Ready;
                    env = Envelope {
                        peer: peer.clone(),
                        helo: host.to_string(),
                        ..Default::default()
                    };
                    Some(lhlo_reply(&cfg))
                }
                Request::Ehlo { .. } | Request::Helo { .. } => {
                    Some(Reply::syntax("This is LMTP (RFC 2033): use LHLO"))
                }
                Request::Mail { from } => match state {
                    State::Fresh => Some(Reply::bad_sequence("Send LHLO first")),
                    State::Mail { .. } => Some(Reply::bad_sequence("Nested MAIL command")),
                    State::Ready => {
                        if declared_size_too_big(&line, from.size, cfg.max_message_size) {
                            Some(Reply::too_big(cfg.max_message_size))
                        } else {
                            env.id = new_transaction_id();
                            env.sender = from.address.to_string();
                            env.declared_size = from.size as u64;
                            state = State::Mail { rcpts: Vec::new() };
                            tracing::debug!(id = %env.id, sender = %env.sender, "MAIL");
                            Some(Reply::sender_ok())
                        }
                    }
                },
                Request::Rcpt { to } => match &mut state {
                    State::Mail { rcpts } => {
                        if rcpts.len() >= cfg.max_recipients {
                            recipient_refused = true;
                            Some(Reply::too_many_recipients())
                        } else {
                            let address = to.address.to_string();
                            match handler.check_recipient(&env, &address).await {
                                Ok(r) => {
                                    rcpts.push((address, r));
                                    Some(Reply::recipient_ok())
                                }
                                Err(reply) => {
                                    recipient_refused = true;
                                    Some(reply)
                                }
                            }
                        }
                    }
                    _ => Some(Reply::bad_sequence("Need MAIL command first")),
                },
                Request::Data => match std::mem::replace(&mut state, State::Ready) {
                    State::Mail { rcpts } if !rcpts.is_empty() => {
                        out.push_str(&Reply::start_data().to_wire());
                        if wr.write_all(out.as_bytes()).await.is_err() {
                            break Ending::IoError;
                        }
                        out.clear();
                        match receive_data(&mut rd, &cfg).await {
                            Err(ending) => {
                                if ending == Ending::Timeout {
                                    out.push_str(&Reply::timeout(&cfg.hostname).to_wire());
                                }
                                break ending;
                            }
                            Ok(Received::Refused(reply)) => {
                                tracing::info!(id = %env.id, %reply, "message refused");
                                for _ in &rcpts {
                                    out.push_str(&reply.to_wire());
                                }
                            }
                            Ok(Received::Message(spool)) => {
                                let replies = handler.deliver(&env, &rcpts, &spool).await;
                                for r in replies {
                                    out.push_str(&r.to_wire());
                                }
                            }
                        }
                        None
                    }
                    other => {
                        let msg = match other {
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
                Request::Rset => {
                    if !matches!(state, State::Fresh) {
                        state = State::Ready;
                    }
                    Some(Reply::ok())
                }
                Request::Noop { .. } => Some(Reply::ok()),
                Request::Quit => {
                    out.push_str(&Reply::bye().to_wire());
                    break Ending::Quit;
                }
                Request::Vrfy { .. } => Some(Reply::vrfy()),
                Request::Help { .. } => Some(Reply::help()),
                other => Some(Reply::not_implemented(other.name())),
            },
        };
        if let Some(reply) = reply {
            // In LMTP the client is our own MTA: a transaction with many stale recipients must
            // not end the session (Dovecot has no such limit either).
            let counts = !(cfg.mode == Mode::Lmtp && recipient_refused);
            if reply.code >= 400 && counts {
                errors += 1;
            }
            out.push_str(&reply.to_wire());
            if errors >= cfg.max_errors {
                out.push_str(&Reply::too_many_errors(&cfg.hostname).to_wire());
                break Ending::TooManyErrors;
            }
        }
    };
    if !out.is_empty() {
        let _ = wr.write_all(out.as_bytes()).await;
    }
    let _ = wr.shutdown().await;
    ending
}

/// Whether MAIL's `SIZE=` exceeds the limit. The parser saturates on absurd values, so the
/// digits are also checked here: more than 19 digits is always too big.
fn declared_size_too_big(line: &[u8], parsed: usize, limit: u64) -> bool {
    let text = String::from_utf8_lossy(line).to_ascii_uppercase();
    let huge = text.split_ascii_whitespace().any(|param| {
        param
            .strip_prefix("SIZE=")
            .is_some_and(|digits| digits.len() > 19 || digits.parse::<u64>().is_err())
    });
    huge || parsed as u64 > limit
}

fn lhlo_reply(cfg: &SessionConfig) -> Reply {
    Reply::new(
        250,
        "",
        format!(
            "{}\nPIPELINING\n8BITMIME\nENHANCEDSTATUSCODES\nSIZE {}",
            cfg.hostname, cfg.max_message_size
        ),
    )
}

fn parse_error_reply(e: &smtp_proto::Error, line: &[u8]) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => {
            let verb: String = String::from_utf8_lossy(line)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(16)
                .collect();
            if verb.is_empty() {
                Reply::syntax("Empty command")
            } else {
                Reply::syntax(format!("Command unrecognized: {verb}"))
            }
        }
        E::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        E::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        E::SyntaxError { syntax } => Reply::bad_argument(format!("Syntax: {syntax}")),
        E::InvalidParameter { param } => Reply::bad_argument(format!("Invalid parameter {param}")),
        E::UnsupportedParameter { param } => Reply::unsupported_parameter(param),
        _ => Reply::syntax("Syntax error"),
    }
}

enum Received {
    Message(Spool),
    Refused(Reply),
}

/// Read the data through `<CRLF>.<CRLF>`. Oversize and bare-newline messages are read to the end
/// (so the session stays in sync) and refused.
async fn receive_data<R: tokio::io::AsyncBufRead + Unpin>(
    rd: &mut R,
    cfg: &SessionConfig,
) -> Result<Received, Ending> {
    let mut parser = DataParser::new(cfg.bare_newlines);
    let mut spool = Spool::new();
    let mut too_big = false;
    let mut io_failed = None;
    loop {
        let line = match tokio::time::timeout(cfg.timeout, read_line(rd, 64 * 1024, true)).await {
            Err(_) => return Err(Ending::Timeout),
            Ok(Err(_)) => return Err(Ending::IoError),
            Ok(Ok(l)) => l,
        };
        let step = match &line {
            Line::Complete(l) => parser.push(l, true),
            Line::Partial(l) => parser.push(l, false),
            Line::Eof => return Err(Ending::ClientClosed),
            Line::TooLong => unreachable_too_long(),
        };
        match step {
            DataStep::End => break,
            DataStep::Content(bytes) => {
                if too_big || io_failed.is_some() {
                    continue;
                }
                if parser.size() > cfg.max_message_size {
                    too_big = true;
                    spool = Spool::new();
                    continue;
                }
                if let Err(e) = spool.write(&bytes) {
                    io_failed = Some(e);
                }
            }
        }
    }
    if too_big {
        return Ok(Received::Refused(Reply::too_big(cfg.max_message_size)));
    }
    if let Some(e) = io_failed {
        tracing::error!(error = %e, "cannot spool message");
        return Ok(Received::Refused(Reply::new(
            452,
            "4.3.1",
            "Insufficient system storage",
        )));
    }
    if cfg.bare_newlines == BareNewlines::Reject && parser.saw_bare_newline() {
        return Ok(Received::Refused(Reply::bare_newline()));
    }
    Ok(Received::Message(spool))
}

/// `read_line` with `allow_partial` never reports `TooLong`.
fn unreachable_too_long() -> DataStep {
    DataStep::Content(Vec::new())
}
