//! Receiving the message: `DATA` (dot-terminated, see [`crate::data`]) and `BDAT` chunks
//! (RFC 3030: exact byte counts, no terminator). Both enforce the size limit by reading to the
//! end and refusing (the session stays in sync), and both apply the bare-CR/LF policy.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::{Ending, SessionConfig};
use crate::data::{BareNewlines, DataParser, DataStep};
use crate::lines::{Line, read_line};
use crate::reply::Reply;
use crate::spool::Spool;

/// A message received in full, or the reply that refuses it.
pub(super) enum Received {
    Message(Spool),
    Refused(Reply),
}

/// Read DATA through `<CRLF>.<CRLF>`.
pub(super) async fn receive_data<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    cfg: &SessionConfig,
) -> Result<Received, Ending> {
    let mut parser = DataParser::new(cfg.bare_newlines);
    let mut sink = Sink::new(cfg.max_message_size);
    loop {
        let line =
            match tokio::time::timeout(cfg.data_timeout, read_line(rd, 64 * 1024, true)).await {
                Err(_) => return Err(Ending::Timeout),
                Ok(Err(_)) => return Err(Ending::IoError),
                Ok(Ok(l)) => l,
            };
        let step = match &line {
            Line::Complete(l) => parser.push(l, true),
            Line::Partial(l) => parser.push(l, false),
            Line::Eof => return Err(Ending::ClientClosed),
            // read_line with allow_partial never reports TooLong.
            Line::TooLong => DataStep::Content(Vec::new()),
        };
        match step {
            DataStep::End => break,
            DataStep::Content(bytes) => sink.write(&bytes),
        }
    }
    let bare = cfg.bare_newlines == BareNewlines::Reject && parser.saw_bare_newline();
    Ok(sink.finish(bare))
}

/// Message data arriving in BDAT chunks.
pub(super) struct ChunkedBody {
    sink: Sink,
    scanner: BareNewlineScanner,
    policy: BareNewlines,
}

impl ChunkedBody {
    pub(super) fn new(cfg: &SessionConfig) -> Self {
        ChunkedBody {
            sink: Sink::new(cfg.max_message_size),
            scanner: BareNewlineScanner::default(),
            policy: cfg.bare_newlines,
        }
    }

    /// Read exactly `size` bytes of one chunk.
    pub(super) async fn read_chunk<R: AsyncBufRead + Unpin>(
        &mut self,
        rd: &mut R,
        size: usize,
        timeout: Duration,
    ) -> Result<(), Ending> {
        let mut left = size;
        while left > 0 {
            let buf = match tokio::time::timeout(timeout, rd.fill_buf()).await {
                Err(_) => return Err(Ending::Timeout),
                Ok(Err(_)) => return Err(Ending::IoError),
                Ok(Ok([])) => return Err(Ending::ClientClosed),
                Ok(Ok(b)) => b,
            };
            let n = buf.len().min(left);
            let piece = self.scanner.feed(&buf[..n], self.policy);
            self.sink.write(&piece);
            rd.consume(n);
            left -= n;
        }
        Ok(())
    }

    /// After `BDAT ... LAST`.
    pub(super) fn finish(mut self) -> Received {
        let tail = self.scanner.finish(self.policy);
        self.sink.write(&tail);
        let bare = self.policy == BareNewlines::Reject && self.scanner.seen;
        self.sink.finish(bare)
    }
}

/// Collects the message up to the size limit; past it, only counts.
struct Sink {
    spool: Spool,
    limit: u64,
    size: u64,
    io_error: Option<std::io::Error>,
}

impl Sink {
    fn new(limit: u64) -> Self {
        Sink {
            spool: Spool::new(),
            limit,
            size: 0,
            io_error: None,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.limit || self.io_error.is_some() {
            self.spool = Spool::new();
            return;
        }
        if let Err(e) = self.spool.write(bytes) {
            self.io_error = Some(e);
        }
    }

    fn finish(self, bare_newline: bool) -> Received {
        if self.size > self.limit {
            return Received::Refused(Reply::too_big(self.limit));
        }
        if let Some(e) = self.io_error {
            tracing::error!(error = %e, "cannot spool message");
            return Received::Refused(Reply::new(452, "4.3.1", "Insufficient system storage"));
        }
        if bare_newline {
            return Received::Refused(Reply::bare_newline());
        }
        Received::Message(self.spool)
    }
}

/// Finds (and with [`BareNewlines::Normalize`] rewrites) bare CR and LF in a byte stream that
/// arrives in arbitrary pieces.
#[derive(Debug, Default)]
pub(super) struct BareNewlineScanner {
    /// The previous piece ended with a CR whose LF may start the next piece.
    pending_cr: bool,
    /// A bare CR or LF was seen.
    pub(super) seen: bool,
}

impl BareNewlineScanner {
    /// Inspect a piece; returns what to store.
    pub(super) fn feed(&mut self, piece: &[u8], policy: BareNewlines) -> Vec<u8> {
        let mut out = Vec::with_capacity(piece.len() + 2);
        if self.pending_cr {
            self.pending_cr = false;
            if piece.first() == Some(&b'\n') {
                out.extend_from_slice(b"\r");
            } else {
                self.bare(&mut out, policy, b'\r');
            }
        }
        let mut i = 0;
        while i < piece.len() {
            match piece[i] {
                b'\r' if i + 1 == piece.len() => self.pending_cr = true,
                b'\r' if piece[i + 1] == b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    i += 1;
                }
                b'\n' if i == 0 && out.last() == Some(&b'\r') => out.push(b'\n'),
                b'\r' | b'\n' => self.bare(&mut out, policy, piece[i]),
                b => out.push(b),
            }
            i += 1;
        }
        out
    }

    /// End of data: a CR left pending is bare.
    pub(super) fn finish(&mut self, policy: BareNewlines) -> Vec<u8> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.pending_cr) {
            self.bare(&mut out, policy, b'\r');
        }
        out
    }

    fn bare(&mut self, out: &mut Vec<u8>, policy: BareNewlines, byte: u8) {
        self.seen = true;
        match policy {
            BareNewlines::Reject => out.push(byte),
            BareNewlines::Normalize => out.extend_from_slice(b"\r\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(pieces: &[&[u8]], policy: BareNewlines) -> (Vec<u8>, bool) {
        let mut s = BareNewlineScanner::default();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(s.feed(p, policy));
        }
        out.extend(s.finish(policy));
        (out, s.seen)
    }

    #[test]
    fn crlf_split_across_chunks_is_not_bare() {
        let (out, seen) = scan(&[b"a\r", b"\nb\r\n"], BareNewlines::Reject);
        assert!(!seen);
        assert_eq!(out, b"a\r\nb\r\n");
    }

    #[test]
    fn bare_lf_and_cr_are_found_and_normalized() {
        assert!(scan(&[b"a\nb"], BareNewlines::Reject).1);
        assert!(scan(&[b"a\r", b"b"], BareNewlines::Reject).1);
        assert!(scan(&[b"a\r"], BareNewlines::Reject).1);
        let (out, seen) = scan(&[b"a\nb\r", b"c\r", b"\n"], BareNewlines::Normalize);
        assert!(seen);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }
}
