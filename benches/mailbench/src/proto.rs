//! The little of SMTP and IMAP a load generator needs: read a (multi-line) SMTP reply, read
//! IMAP responses up to a tagged completion (skipping literals).

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// A buffered client connection.
pub type Conn = BufStream<TcpStream>;

/// Connect to `addr` with `buf` bytes of read and write buffer.
pub async fn connect(addr: &str, buf: usize) -> Result<Conn> {
    let s = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    s.set_nodelay(true)?;
    Ok(BufStream::with_capacity(buf, buf, s))
}

/// Write `data` and flush.
pub async fn send(c: &mut Conn, data: &[u8]) -> Result<()> {
    c.write_all(data).await?;
    c.flush().await?;
    Ok(())
}

/// Read one SMTP reply (all its lines); returns the code and the last line.
pub async fn smtp_reply(c: &mut Conn) -> Result<(u16, String)> {
    let mut line = String::new();
    loop {
        line.clear();
        if c.read_line(&mut line).await? == 0 {
            bail!("connection closed while waiting for a reply");
        }
        if line.len() < 4 {
            bail!("short SMTP reply line {line:?}");
        }
        let code: u16 = line[..3]
            .parse()
            .with_context(|| format!("bad SMTP reply {line:?}"))?;
        if line.as_bytes()[3] != b'-' {
            return Ok((code, line.trim_end().to_string()));
        }
    }
}

/// Send an SMTP command and expect a reply with the given first digit.
pub async fn smtp_cmd(c: &mut Conn, cmd: &str, want: u16) -> Result<String> {
    send(c, cmd.as_bytes()).await?;
    let (code, line) = smtp_reply(c).await?;
    if code / 100 != want / 100 {
        bail!("{} answered {line:?}", cmd.trim_end());
    }
    Ok(line)
}

/// What the responses to one IMAP command contained.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImapResult {
    /// Untagged (`* `) responses.
    pub untagged: usize,
    /// Bytes of literals received.
    pub literal_bytes: u64,
}

/// The size of a literal announced at the end of `line` (`{123}` or `{123+}`), if any.
fn literal_size(line: &[u8]) -> Option<u64> {
    let l = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let l = l.strip_suffix(b"}")?;
    let l = l.strip_suffix(b"+").unwrap_or(l);
    let open = l.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// Read responses until the tagged completion of `tag`; fails unless it is `OK`. Untagged
/// lines are handed to `each` (without literals).
pub async fn imap_until(
    c: &mut Conn,
    tag: &str,
    mut each: impl FnMut(&[u8]),
) -> Result<ImapResult> {
    let mut r = ImapResult::default();
    let mut line = Vec::with_capacity(256);
    let mut sink = tokio::io::sink();
    let prefix = format!("{tag} ");
    loop {
        line.clear();
        if c.read_until(b'\n', &mut line).await? == 0 {
            bail!("connection closed while waiting for {tag}");
        }
        if line.starts_with(prefix.as_bytes()) {
            let rest = &line[prefix.len()..];
            if !rest.starts_with(b"OK") {
                bail!(
                    "{tag} failed: {}",
                    String::from_utf8_lossy(&line).trim_end()
                );
            }
            return Ok(r);
        }
        if line.starts_with(b"* ") {
            r.untagged += 1;
            each(&line);
        }
        // A literal: skip its bytes; the response goes on on the line after it.
        let mut current = literal_size(&line);
        while let Some(n) = current {
            let copied = tokio::io::copy(&mut (&mut *c).take(n), &mut sink).await?;
            if copied != n {
                bail!("connection closed inside a literal");
            }
            r.literal_bytes += n;
            line.clear();
            if c.read_until(b'\n', &mut line).await? == 0 {
                bail!("connection closed after a literal");
            }
            current = literal_size(&line);
        }
    }
}

/// Send `tag cmd` and read up to its tagged OK.
pub async fn imap_cmd(
    c: &mut Conn,
    tag: &str,
    cmd: &str,
    each: impl FnMut(&[u8]),
) -> Result<ImapResult> {
    send(c, format!("{tag} {cmd}\r\n").as_bytes()).await?;
    imap_until(c, tag, each).await
}

/// Read the server greeting (`* OK ...`).
pub async fn imap_greeting(c: &mut Conn) -> Result<()> {
    let mut line = String::new();
    c.read_line(&mut line).await?;
    if !line.starts_with("* OK") && !line.starts_with("* PREAUTH") {
        bail!("unexpected IMAP greeting {line:?}");
    }
    Ok(())
}

/// Quote an IMAP string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::literal_size;

    #[test]
    fn literals() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {123}\r\n"), Some(123));
        assert_eq!(literal_size(b"A1 APPEND x {5+}\r\n"), Some(5));
        assert_eq!(literal_size(b"* 1 FETCH (FLAGS (\\Seen))\r\n"), None);
        assert_eq!(literal_size(b"* OK {x}\r\n"), None);
    }
}
