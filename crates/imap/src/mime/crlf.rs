//! Line ends as IMAP sends them: every bare LF becomes CRLF (Maildirs written by Dovecot
//! store LF line ends; RFC822.SIZE and every FETCH size count CRLF), fed in chunks.

/// Turns bare LFs into CRLF across chunk boundaries.
#[derive(Debug, Default, Clone)]
pub(crate) struct CrlfNormalizer {
    prev_cr: bool,
}

impl CrlfNormalizer {
    /// Append `chunk` to `out` with bare LFs as CRLF.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                let bare = if i == 0 {
                    !self.prev_cr
                } else {
                    chunk[i - 1] != b'\r'
                };
                if bare {
                    out.extend_from_slice(&chunk[start..i]);
                    out.extend_from_slice(b"\r\n");
                    start = i + 1;
                }
            }
        }
        out.extend_from_slice(&chunk[start..]);
        if let Some(&last) = chunk.last() {
            self.prev_cr = last == b'\r';
        }
    }

    /// How many octets `chunk` becomes (without producing them).
    pub(crate) fn measure(&mut self, chunk: &[u8]) -> usize {
        let mut n = chunk.len();
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                let bare = if i == 0 {
                    !self.prev_cr
                } else {
                    chunk[i - 1] != b'\r'
                };
                n += usize::from(bare);
            }
        }
        if let Some(&last) = chunk.last() {
            self.prev_cr = last == b'\r';
        }
        n
    }
}

/// `data` with bare LFs as CRLF.
#[cfg(test)]
pub(crate) fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    CrlfNormalizer::default().feed(data, &mut out);
    out
}
