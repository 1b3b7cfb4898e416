//! Bounded line reading over any async byte stream.
//!
//! A line is returned with its line ending. Command lines longer than the limit are consumed up
//! to the next LF and reported as [`Line::TooLong`] (nothing is buffered beyond the limit).
//! Data lines may be longer than the buffer: they come out in pieces ([`Line::Partial`]),
//! never split between a CR and the LF that follows it, so the data parser sees every CRLF whole.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One unit read by [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, LF included.
    Complete(Vec<u8>),
    /// A piece of a longer line (only when `allow_partial`); more of the line follows.
    Partial(Vec<u8>),
    /// The line exceeded the limit and was discarded through its LF.
    TooLong,
    /// The peer closed the connection (any unterminated rest is dropped).
    Eof,
}

/// Read one line of at most `limit` bytes. With `allow_partial`, a longer line is returned in
/// pieces of about `limit` bytes instead of being refused.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
    allow_partial: bool,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if too_long {
            reader.consume(take);
            if done {
                return Ok(Line::TooLong);
            }
            continue;
        }
        let room = limit.saturating_sub(line.len());
        if take <= room {
            line.extend_from_slice(&buf[..take]);
            reader.consume(take);
            if done {
                return Ok(Line::Complete(line));
            }
            continue;
        }
        // The line does not fit.
        if allow_partial {
            let mut n = room.max(1).min(take);
            line.extend_from_slice(&buf[..n]);
            // Never end a piece on a CR: its LF may be next.
            if line.last() == Some(&b'\r') && line.len() > 1 {
                line.pop();
                n -= 1;
            }
            reader.consume(n);
            return Ok(Line::Partial(line));
        }
        too_long = true;
        line.clear();
        reader.consume(take);
        if done {
            return Ok(Line::TooLong);
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], limit: usize, partial: bool) -> Vec<Line> {
        let mut r = BufReader::with_capacity(8, input);
        let mut out = Vec::new();
        loop {
            let l = read_line(&mut r, limit, partial).await.unwrap();
            let eof = l == Line::Eof;
            out.push(l);
            if eof {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn complete_lines_across_small_buffers() {
        let got = lines(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 100, false).await;
        assert_eq!(got[0], Line::Complete(b"MAIL FROM:<a@b>\r\n".to_vec()));
        assert_eq!(got[1], Line::Complete(b"RCPT TO:<c@d>\r\n".to_vec()));
        assert_eq!(got[2], Line::Eof);
    }

    #[tokio::test]
    async fn overlong_command_is_discarded_through_lf() {
        let mut input = vec![b'A'; 300];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let got = lines(&input, 100, false).await;
        assert_eq!(got[0], Line::TooLong);
        assert_eq!(got[1], Line::Complete(b"NOOP\r\n".to_vec()));
    }

    #[tokio::test]
    async fn long_data_line_comes_in_pieces_never_splitting_crlf() {
        let mut input = vec![b'x'; 9];
        input.extend_from_slice(b"\r\n");
        let got = lines(&input, 10, true).await;
        // 9 x's + CR would fill the limit exactly and end on CR: the CR is held back.
        assert_eq!(got[0], Line::Partial(vec![b'x'; 9]));
        assert_eq!(got[1], Line::Complete(b"\r\n".to_vec()));
    }

    #[tokio::test]
    async fn unterminated_rest_is_eof() {
        assert_eq!(lines(b"QUIT", 100, false).await, vec![Line::Eof]);
    }
}
