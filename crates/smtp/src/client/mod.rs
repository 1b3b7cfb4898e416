//! The client side of SMTP (RFC 5321) and LMTP (RFC 2033): how smtp-mta hands a queued message
//! to the next hop.
//!
//! ```text
//!  queue ──DeliveryRequest──▶ LmtpTransport  ──LMTP──▶ lmtp-mda          (lmtp.rs)
//!                          ├▶ SmarthostTransport ─┐                       (smtp.rs)
//!  submission ─────────────┴▶ NextHop::send ──────┴─SMTP─▶ one fixed host (relay listener, smarthost)
//!  outbound router (crate::outbound) ──▶ SmtpSession (reused) ──SMTP─▶ the recipient's MX
//! ```
//!
//! Both protocols share this module's pieces: reply parsing (multi-line, bounded), the
//! extension list of the `EHLO`/`LHLO` answer, dot-stuffing of a streamed message, the
//! quoting of local parts, and the mapping of a reply to a [`RecipientOutcome`] (`2xx`
//! delivered, `4xx` deferred, `5xx` failed with the enhanced status code of RFC 3463).
//! The difference that matters: after the data, LMTP answers once per accepted recipient,
//! SMTP once for all of them.

mod lmtp;
mod smtp;
pub(crate) mod tls;

use std::path::Path;
use std::time::Duration;

use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

pub use lmtp::LmtpTransport;
pub use smtp::{ClientTls, NextHop, SmarthostTransport};
pub(crate) use smtp::{SessionParams, SmtpSession, TlsMode, dial_tcp, log_outcomes};

/// Longest reply line we accept from the server.
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;
/// Chunk size for streaming the message.
const CHUNK: usize = 64 * 1024;

/// A byte stream the SMTP client can run over: TCP, unix socket or TLS on either.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`], so a session can switch from plain text to TLS.
pub(crate) type BoxIo = Box<dyn Io>;

/// A reply: its code and its verbatim text (lines without CRLF, joined with `\n`).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn class(&self) -> u16 {
        self.code / 100
    }

    /// The recipient outcome this reply means (for RCPT, DATA and the per-recipient replies).
    pub(crate) fn outcome(&self) -> RecipientOutcome {
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

    /// The outcome of the accepted recipients when DATA was answered with this instead of
    /// `354`: a `2xx` is a protocol violation (nothing was sent, so retry later), anything else
    /// means what it says.
    pub(crate) fn data_refused_outcome(&self) -> RecipientOutcome {
        if self.class() == 2 {
            RecipientOutcome::Deferred {
                reply: self.text.clone(),
            }
        } else {
            self.outcome()
        }
    }
}

/// `MAIL FROM:<sender>` with the SIZE, BODY=8BITMIME and SMTPUTF8 parameters the server
/// offers (no CRLF; the SMTP client adds the DSN parameters).
pub(crate) fn mail_command(req: &DeliveryRequest, ext: &Extensions) -> String {
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
    mail
}

/// The enhanced status code (`5.1.1`) after the reply code, if there is one.
pub(crate) fn enhanced_status(text: &str) -> Option<String> {
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
pub(crate) struct Broken(pub(crate) String);

/// One connection: buffered reader, writer, and the timeout of every read and write.
pub(crate) struct Conn<S> {
    rd: BufReader<tokio::io::ReadHalf<S>>,
    wr: tokio::io::WriteHalf<S>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(stream: S, timeout: Duration) -> Conn<S> {
        let (rd, wr) = tokio::io::split(stream);
        Conn {
            rd: BufReader::new(rd),
            wr,
            timeout,
        }
    }

    /// The stream back (for STARTTLS). Fails when the server sent more than its reply: bytes
    /// that arrived before the TLS handshake must never be read as if they came over TLS
    /// (STARTTLS response injection, CVE-2011-0411 turned around).
    pub(crate) fn into_stream(self) -> Result<S, Broken> {
        if !self.rd.buffer().is_empty() {
            return Err(Broken(
                "the server sent data after its STARTTLS reply (response injection)".into(),
            ));
        }
        Ok(self.rd.into_inner().unsplit(self.wr))
    }

    /// `RSET` to end the transaction; `false` when the connection is no longer usable.
    pub(crate) async fn reset(&mut self) -> bool {
        matches!(self.command("RSET").await, Ok(r) if r.class() == 2)
    }

    /// Best effort: `QUIT`, waiting a moment for the `221`.
    pub(crate) async fn quit(mut self) {
        if self.write(b"QUIT\r\n").await.is_ok() && self.flush().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.reply()).await;
        }
    }

    /// Whether the server sent something nobody asked for, or closed the connection: between
    /// two transactions there must be nothing to read.
    pub(crate) async fn has_input(&mut self) -> bool {
        if !self.rd.buffer().is_empty() {
            return true;
        }
        // Polled once: ready only when bytes (or the end of file) are there already.
        tokio::time::timeout(Duration::ZERO, self.rd.fill_buf())
            .await
            .is_ok()
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), Broken> {
        match tokio::time::timeout(self.timeout, self.wr.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Broken(format!("write: {e}"))),
            Err(_) => Err(Broken("write: timed out".into())),
        }
    }

    pub(crate) async fn flush(&mut self) -> Result<(), Broken> {
        match tokio::time::timeout(self.timeout, self.wr.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Broken(format!("write: {e}"))),
            Err(_) => Err(Broken("write: timed out".into())),
        }
    }

    /// Write one command line (CRLF added) and flush.
    pub(crate) async fn command(&mut self, line: &str) -> Result<Reply, Broken> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.flush().await?;
        self.reply().await
    }

    pub(crate) async fn reply(&mut self) -> Result<Reply, Broken> {
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
pub(crate) fn smtp_path(address: &str) -> String {
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

/// `xtext` (RFC 3461 §4): `+`, `=`, controls, space and non-ASCII as `+HH`.
pub(crate) fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Server extensions from the EHLO or LHLO reply.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extensions {
    pub(crate) pipelining: bool,
    pub(crate) size: bool,
    /// The `SIZE` limit the server announced (0: none).
    pub(crate) size_limit: u64,
    pub(crate) eight_bit: bool,
    pub(crate) smtputf8: bool,
    pub(crate) dsn: bool,
    pub(crate) starttls: bool,
    /// SASL mechanisms of `AUTH` (upper case).
    pub(crate) auth: Vec<String>,
    /// Postfix's XFORWARD with the IDENT attribute: we pass our queue id.
    pub(crate) xforward_ident: bool,
}

pub(crate) fn extensions(hello: &Reply) -> Extensions {
    let mut ext = Extensions::default();
    for line in hello.text.lines().skip(1) {
        let mut words = line.get(4..).unwrap_or("").split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        match keyword.as_str() {
            "PIPELINING" => ext.pipelining = true,
            "SIZE" => {
                ext.size = true;
                ext.size_limit = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            }
            "8BITMIME" => ext.eight_bit = true,
            "SMTPUTF8" => ext.smtputf8 = true,
            "DSN" => ext.dsn = true,
            "STARTTLS" => ext.starttls = true,
            "AUTH" => ext.auth = words.map(str::to_ascii_uppercase).collect(),
            "XFORWARD" => ext.xforward_ident = words.any(|a| a.eq_ignore_ascii_case("IDENT")),
            _ => {}
        }
    }
    ext
}

/// The message to send: a file (the queue's copy) or bytes in memory.
#[derive(Debug, Clone, Copy)]
pub enum MessageBody<'a> {
    /// Read from this file, streamed in 64 KiB chunks.
    File(&'a Path),
    /// These bytes.
    Bytes(&'a [u8]),
}

/// Send `MAIL` and the `RCPT` lines (`mail` and each of `rcpts` CRLF-terminated): one write
/// with PIPELINING, else one round trip per command. Refused recipients get their outcome in
/// `outcomes`. Returns the indexes of the accepted recipients, or `None` when the sender was
/// refused: that reply then answers every recipient in `outcomes`.
pub(crate) async fn send_envelope<S>(
    conn: &mut Conn<S>,
    mail: &str,
    rcpts: &[String],
    pipelining: bool,
    outcomes: &mut [Option<RecipientOutcome>],
) -> Result<Option<Vec<usize>>, Broken>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mail_reply = if pipelining {
        let mut batch = mail.to_string();
        rcpts.iter().for_each(|r| batch.push_str(r));
        conn.write(batch.as_bytes()).await?;
        conn.flush().await?;
        conn.reply().await?
    } else {
        conn.write(mail.as_bytes()).await?;
        conn.flush().await?;
        conn.reply().await?
    };
    let mail_ok = mail_reply.class() == 2;
    let mut accepted = Vec::new();
    for (i, rcpt) in rcpts.iter().enumerate() {
        if !mail_ok && !pipelining {
            break;
        }
        if !pipelining {
            conn.write(rcpt.as_bytes()).await?;
            conn.flush().await?;
        }
        // Pipelined RCPTs are answered even after a refused MAIL: read those replies.
        let r = conn.reply().await?;
        if mail_ok {
            if r.class() == 2 {
                accepted.push(i);
            } else {
                outcomes[i] = Some(r.outcome());
            }
        }
    }
    if !mail_ok {
        for o in outcomes.iter_mut() {
            *o = Some(mail_reply.outcome());
        }
        return Ok(None);
    }
    Ok(Some(accepted))
}

/// Stream the message with dot-stuffing and CRLF line ends, then the terminator `.`.
pub(crate) async fn send_body<S>(conn: &mut Conn<S>, body: MessageBody<'_>) -> Result<(), Broken>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut stuffer = DotStuffer::default();
    match body {
        MessageBody::Bytes(bytes) => {
            for chunk in bytes.chunks(CHUNK) {
                out.clear();
                stuffer.push(chunk, &mut out);
                conn.write(&out).await?;
            }
        }
        MessageBody::File(path) => {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| Broken(format!("open {}: {e}", path.display())))?;
            let mut buf = vec![0u8; CHUNK];
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
        }
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

/// Every recipient deferred with `reply` (a whole attempt that got no per-recipient answer).
pub(crate) fn all_deferred(n: usize, reply: &str) -> DeliveryOutcome {
    DeliveryOutcome::PerRecipient(vec![
        RecipientOutcome::Deferred {
            reply: reply.to_string()
        };
        n
    ])
}

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
    fn xtext_encodes_plus_equals_and_controls() {
        assert_eq!(xtext("rfc822;a+b=c@x.org"), "rfc822;a+2Bb+3Dc@x.org");
        assert_eq!(xtext("a b"), "a+20b");
        assert_eq!(xtext("é"), "+C3+A9");
    }

    #[test]
    fn extensions_are_read_from_the_ehlo_reply() {
        let r = Reply {
            code: 250,
            text: "250-mx.example\n250-PIPELINING\n250-SIZE 1000\n250-DSN\n250-STARTTLS\n250-AUTH PLAIN login\n250 SMTPUTF8".into(),
        };
        let e = extensions(&r);
        assert!(e.pipelining && e.size && e.dsn && e.starttls && e.smtputf8 && !e.eight_bit);
        assert_eq!(e.size_limit, 1000);
        assert_eq!(e.auth, vec!["PLAIN".to_string(), "LOGIN".to_string()]);
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
