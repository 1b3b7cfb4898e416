//! The LMTP client (RFC 2033): smtp-mta's [`Transport`] to lmtp-mda.
//!
//! One connection per [`DeliveryRequest`]:
//!
//! ```text
//!  connect (TCP or unix socket) ─ 220 ─ LHLO ─ MAIL FROM [SIZE=] ─ RCPT × n ─ DATA ─ message ─ . ─ n replies ─ QUIT
//!                                               └──── one write when PIPELINING is advertised ────┘
//! ```
//!
//! - A `RCPT` answered `4xx` makes that recipient `Deferred`, `5xx` makes it `Failed` (status
//!   from the enhanced code, else `5.0.0`); the others go on to DATA.
//! - After the data, LMTP answers once per accepted recipient, in order: each reply becomes
//!   that recipient's outcome. Replies are kept verbatim (multi-line replies joined with `\n`).
//! - The message file is streamed in 64 KiB chunks: a `.` at the start of a line is doubled,
//!   a bare LF becomes CRLF, a missing final CRLF is added, then `.` ends the data.
//! - Connection refused, timeout, or a broken connection before any recipient got an answer:
//!   [`DeliveryOutcome::AgentFailed`], which backs off the whole transport in the queue. A
//!   connection that breaks after DATA was sent leaves every unanswered recipient `Deferred`
//!   (the message may have been delivered; at-least-once).
//!
//! The queue id is not sent on the wire (LMTP has no field for it and we add no header):
//! every log line of this client carries `queue_id`, and lmtp-mda logs its own transaction id,
//! which its `250` reply contains; that reply is logged here next to the queue id.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use mailstack_net::ListenAddr;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome, Transport};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest reply line we accept from the server.
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;
/// Chunk size for streaming the message.
const CHUNK: usize = 64 * 1024;

/// Delivers queued messages to an LMTP server (lmtp-mda).
#[derive(Debug, Clone)]
pub struct LmtpTransport {
    target: ListenAddr,
    lhlo_name: String,
    timeout: Duration,
}

impl LmtpTransport {
    /// A transport to `target` (`127.0.0.1:24` or `unix:/run/mailstack/lmtp.sock`) that greets
    /// with `LHLO <lhlo_name>` and waits at most `timeout` for connecting, each reply and each
    /// write.
    pub fn new(target: ListenAddr, lhlo_name: impl Into<String>, timeout: Duration) -> Self {
        LmtpTransport {
            target,
            lhlo_name: lhlo_name.into(),
            timeout,
        }
    }
}

#[async_trait]
impl Transport for LmtpTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let qid = req.queue_id.as_str();
        let outcome = match &self.target {
            ListenAddr::Tcp(addr) => {
                match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await
                {
                    Ok(Ok(s)) => self.session(s, req).await,
                    Ok(Err(e)) => agent_failed(format!("connect to {addr}: {e}")),
                    Err(_) => agent_failed(format!("connect to {addr}: timed out")),
                }
            }
            ListenAddr::Unix(path) => {
                match tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(path))
                    .await
                {
                    Ok(Ok(s)) => self.session(s, req).await,
                    Ok(Err(e)) => agent_failed(format!("connect to unix:{}: {e}", path.display())),
                    Err(_) => {
                        agent_failed(format!("connect to unix:{}: timed out", path.display()))
                    }
                }
            }
        };
        match &outcome {
            DeliveryOutcome::AgentFailed { reason } => {
                tracing::warn!(queue_id = qid, target = %self.target, reason = %reason, "lmtp delivery failed");
            }
            DeliveryOutcome::PerRecipient(list) => {
                for (rcpt, o) in req.recipients.iter().zip(list) {
                    let (status, reply) = match o {
                        RecipientOutcome::Delivered { reply } => ("sent", reply),
                        RecipientOutcome::Deferred { reply } => ("deferred", reply),
                        RecipientOutcome::Failed { reply, .. } => ("bounced", reply),
                    };
                    tracing::info!(queue_id = qid, to = %format_args!("<{rcpt}>"), relay = %self.target, status, reply = %reply, "lmtp");
                }
            }
        }
        outcome
    }
}

fn agent_failed(reason: String) -> DeliveryOutcome {
    DeliveryOutcome::AgentFailed { reason }
}

/// A reply: its code and its verbatim text (lines without CRLF, joined with `\n`).
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn class(&self) -> u16 {
        self.code / 100
    }

    /// The recipient outcome this reply means (for RCPT, DATA and the per-recipient replies).
    fn outcome(&self) -> RecipientOutcome {
        match self.class() {
            2 => RecipientOutcome::Delivered {
                reply: self.text.clone(),
            },
            5 => RecipientOutcome::Failed {
                reply: self.text.clone(),
                status: enhanced_status(&self.text).unwrap_or_else(|| "5.0.0".to_string()),
            },
            _ => RecipientOutcome::Deferred {
                reply: self.text.clone(),
            },
        }
    }
}

/// The enhanced status code (`5.1.1`) after the reply code, if there is one.
fn enhanced_status(text: &str) -> Option<String> {
    let word = text.get(4..)?.split_whitespace().next()?;
    let parts: Vec<&str> = word.split('.').collect();
    let ok = parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| word.to_string())
}

/// Why a session stopped early.
#[derive(Debug)]
struct Broken(String);

struct Conn<S> {
    rd: BufReader<tokio::io::ReadHalf<S>>,
    wr: tokio::io::WriteHalf<S>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Broken> {
        match tokio::time::timeout(self.timeout, self.wr.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Broken(format!("write: {e}"))),
            Err(_) => Err(Broken("write: timed out".into())),
        }
    }

    async fn flush(&mut self) -> Result<(), Broken> {
        match tokio::time::timeout(self.timeout, self.wr.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Broken(format!("write: {e}"))),
            Err(_) => Err(Broken("write: timed out".into())),
        }
    }

    async fn reply(&mut self) -> Result<Reply, Broken> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let mut buf = Vec::new();
            let mut limited = (&mut self.rd).take(MAX_REPLY_LINE as u64);
            let read = limited.read_until(b'\n', &mut buf);
            match tokio::time::timeout(self.timeout, read).await {
                Err(_) => return Err(Broken("timed out waiting for a reply".into())),
                Ok(Err(e)) => return Err(Broken(format!("read: {e}"))),
                Ok(Ok(0)) => return Err(Broken("connection closed by the server".into())),
                Ok(Ok(_)) => {}
            }
            if !buf.ends_with(b"\n") {
                return Err(Broken("reply line too long".into()));
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let b = line.as_bytes();
            if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
                return Err(Broken(format!("malformed reply {line:?}")));
            }
            let last = b.len() == 3 || b[3] == b' ';
            if !last && b[3] != b'-' {
                return Err(Broken(format!("malformed reply {line:?}")));
            }
            lines.push(line);
            if last {
                let code = lines[0][..3].parse().unwrap_or(0);
                return Ok(Reply {
                    code,
                    text: lines.join("\n"),
                });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(Broken("reply has too many lines".into()));
            }
        }
    }
}

/// An address as an SMTP path: the local part quoted (RFC 5321 §4.1.2) when it is not a
/// dot-atom, e.g. `"john doe"@example.org`, which the SMTP parser had unquoted.
fn smtp_path(address: &str) -> String {
    let Some(at) = address.rfind('@') else {
        return address.to_string();
    };
    let (local, domain) = (&address[..at], &address[at..]);
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c == '.' || atext(c));
    if dot_atom {
        return address.to_string();
    }
    let mut quoted = String::from("\"");
    for c in local.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted + domain
}

/// Server extensions from the LHLO reply.
#[derive(Debug, Default)]
struct Extensions {
    pipelining: bool,
    size: bool,
    eight_bit: bool,
    smtputf8: bool,
    /// Postfix's XFORWARD with the IDENT attribute: we pass our queue id.
    xforward_ident: bool,
}

fn extensions(lhlo: &Reply) -> Extensions {
    let mut ext = Extensions::default();
    for line in lhlo.text.lines().skip(1) {
        let keyword = line
            .get(4..)
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match keyword.as_str() {
            "PIPELINING" => ext.pipelining = true,
            "SIZE" => ext.size = true,
            "8BITMIME" => ext.eight_bit = true,
            "SMTPUTF8" => ext.smtputf8 = true,
            "XFORWARD" => {
                ext.xforward_ident = line
                    .split_whitespace()
                    .any(|a| a.eq_ignore_ascii_case("IDENT"))
            }
            _ => {}
        }
    }
    ext
}

/// Per-recipient state during a session.
struct Progress {
    outcomes: Vec<Option<RecipientOutcome>>,
    data_sent: bool,
}

impl Progress {
    /// The result when the session broke: before DATA with nobody answered it is the agent's
    /// failure; otherwise every unanswered recipient is deferred.
    fn broken(self, why: Broken) -> DeliveryOutcome {
        let answered = self.outcomes.iter().any(Option::is_some);
        if !self.data_sent && !answered {
            return agent_failed(why.0);
        }
        let reply = format!("451 4.4.2 LMTP connection broken: {}", why.0);
        DeliveryOutcome::PerRecipient(
            self.outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: reply.clone(),
                    })
                })
                .collect(),
        )
    }

    fn done(self) -> DeliveryOutcome {
        DeliveryOutcome::PerRecipient(
            self.outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: "451 4.4.2 no reply from the LMTP server".to_string(),
                    })
                })
                .collect(),
        )
    }
}

impl LmtpTransport {
    async fn session<S>(&self, stream: S, req: &DeliveryRequest) -> DeliveryOutcome
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (rd, wr) = tokio::io::split(stream);
        let mut conn = Conn {
            rd: BufReader::new(rd),
            wr,
            timeout: self.timeout,
        };
        let mut progress = Progress {
            outcomes: vec![None; req.recipients.len()],
            data_sent: false,
        };
        match self.transaction(&mut conn, req, &mut progress).await {
            Ok(()) => {
                // Best effort: the outcome is decided; do not wait long for 221.
                if conn.write(b"QUIT\r\n").await.is_ok() && conn.flush().await.is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.reply()).await;
                }
                progress.done()
            }
            Err(why) => progress.broken(why),
        }
    }

    async fn transaction<S>(
        &self,
        conn: &mut Conn<S>,
        req: &DeliveryRequest,
        progress: &mut Progress,
    ) -> Result<(), Broken>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let greeting = conn.reply().await?;
        if greeting.class() != 2 {
            return Err(Broken(format!("greeting: {}", greeting.text)));
        }
        conn.write(format!("LHLO {}\r\n", self.lhlo_name).as_bytes())
            .await?;
        conn.flush().await?;
        let lhlo = conn.reply().await?;
        if lhlo.class() != 2 {
            return Err(Broken(format!("LHLO: {}", lhlo.text)));
        }
        let ext = extensions(&lhlo);
        if ext.xforward_ident {
            // The delivery agent logs and records our queue id (Postfix's XFORWARD IDENT), so
            // one id follows the message across both services.
            conn.write(format!("XFORWARD IDENT={}\r\n", req.queue_id).as_bytes())
                .await?;
            conn.flush().await?;
            let reply = conn.reply().await?;
            if reply.class() != 2 {
                return Err(Broken(format!("XFORWARD: {}", reply.text)));
            }
        }

        let mut mail = format!("MAIL FROM:<{}>", smtp_path(&req.sender));
        if ext.size {
            mail.push_str(&format!(" SIZE={}", req.size));
        }
        if ext.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if req.smtputf8 && ext.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        let rcpts: Vec<String> = req
            .recipients
            .iter()
            .map(|r| format!("RCPT TO:<{}>\r\n", smtp_path(r)))
            .collect();

        // MAIL and RCPTs: one write with PIPELINING, else one command per round trip.
        let mail_reply = if ext.pipelining {
            let mut batch = mail.clone();
            rcpts.iter().for_each(|r| batch.push_str(r));
            conn.write(batch.as_bytes()).await?;
            conn.flush().await?;
            conn.reply().await?
        } else {
            conn.write(mail.as_bytes()).await?;
            conn.flush().await?;
            conn.reply().await?
        };
        let mut accepted: Vec<usize> = Vec::new();
        let mail_ok = mail_reply.class() == 2;
        for (i, rcpt) in rcpts.iter().enumerate() {
            if !mail_ok && !ext.pipelining {
                break;
            }
            if !ext.pipelining {
                conn.write(rcpt.as_bytes()).await?;
                conn.flush().await?;
            }
            let r = conn.reply().await?;
            if mail_ok {
                if r.class() == 2 {
                    accepted.push(i);
                } else {
                    progress.outcomes[i] = Some(r.outcome());
                }
            }
        }
        if !mail_ok {
            // The sender was refused: that answers every recipient.
            for o in progress.outcomes.iter_mut() {
                *o = Some(mail_reply.outcome());
            }
            let _ = conn.write(b"RSET\r\n").await;
            let _ = conn.flush().await;
            let _ = conn.reply().await;
            return Ok(());
        }
        if accepted.is_empty() {
            return Ok(());
        }

        conn.write(b"DATA\r\n").await?;
        conn.flush().await?;
        let data = conn.reply().await?;
        if data.code != 354 {
            let o = if data.class() == 2 {
                // A 2xx to DATA is a protocol violation: nothing was sent, so retry later.
                RecipientOutcome::Deferred {
                    reply: data.text.clone(),
                }
            } else {
                data.outcome()
            };
            for &i in &accepted {
                progress.outcomes[i] = Some(o.clone());
            }
            return Ok(());
        }
        progress.data_sent = true;
        send_message(conn, &req.message_path).await?;
        for &i in &accepted {
            let r = conn.reply().await?;
            progress.outcomes[i] = Some(r.outcome());
        }
        Ok(())
    }
}

/// Stream the message file with dot-stuffing and CRLF line ends, then the terminator.
async fn send_message<S>(conn: &mut Conn<S>, path: &Path) -> Result<(), Broken>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Broken(format!("open {}: {e}", path.display())))?;
    let mut buf = vec![0u8; CHUNK];
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut stuffer = DotStuffer::default();
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| Broken(format!("read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        out.clear();
        stuffer.push(&buf[..n], &mut out);
        conn.write(&out).await?;
    }
    out.clear();
    stuffer.finish(&mut out);
    out.extend_from_slice(b".\r\n");
    conn.write(&out).await?;
    conn.flush().await
}

/// Dot-stuffing (RFC 5321 4.5.2) and line-end normalisation across chunk boundaries.
#[derive(Debug)]
struct DotStuffer {
    at_line_start: bool,
    last: Option<u8>,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            at_line_start: true,
            last: None,
        }
    }
}

impl DotStuffer {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.at_line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && self.last != Some(b'\r') {
                out.push(b'\r');
            }
            out.push(b);
            self.at_line_start = b == b'\n';
            self.last = Some(b);
        }
    }

    /// Complete the last line with CRLF if needed.
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self.last {
            None | Some(b'\n') => {}
            Some(b'\r') => out.push(b'\n'),
            Some(_) => out.extend_from_slice(b"\r\n"),
        }
        self.at_line_start = true;
        self.last = Some(b'\n');
    }
}

// Inline (not a sibling `client_tests.rs`): this change may add only `client.rs` to src/.
#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = DotStuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn dots_at_line_start_are_doubled_across_chunks() {
        assert_eq!(
            stuff(&[b".a\r\nb.\r\n", b".", b"c\r\n"]),
            b"..a\r\nb.\r\n..c\r\n"
        );
        assert_eq!(stuff(&[b"x\r\n", b".\r\n"]), b"x\r\n..\r\n");
    }

    #[test]
    fn line_ends_are_normalised_and_completed() {
        assert_eq!(stuff(&[b"a\nb"]), b"a\r\nb\r\n");
        assert_eq!(stuff(&[b"a\r", b"\nb\r"]), b"a\r\nb\r\n");
        assert_eq!(stuff(&[b""]), b"");
    }

    #[test]
    fn local_parts_that_are_not_dot_atoms_are_quoted() {
        assert_eq!(smtp_path("a.b+c@example.org"), "a.b+c@example.org");
        assert_eq!(
            smtp_path("john doe@example.org"),
            "\"john doe\"@example.org"
        );
        assert_eq!(smtp_path("a\"b@example.org"), "\"a\\\"b\"@example.org");
        assert_eq!(smtp_path(".a@example.org"), "\".a\"@example.org");
        assert_eq!(smtp_path(""), "");
    }

    #[test]
    fn enhanced_status_is_taken_from_the_reply() {
        assert_eq!(
            enhanced_status("550 5.1.1 <x> User unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(enhanced_status("550 User unknown"), None);
        let r = Reply {
            code: 554,
            text: "554 no enhanced code".into(),
        };
        assert_eq!(
            r.outcome(),
            RecipientOutcome::Failed {
                reply: "554 no enhanced code".into(),
                status: "5.0.0".into()
            }
        );
    }
}
