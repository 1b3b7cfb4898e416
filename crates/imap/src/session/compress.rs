//! COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951, no zlib header) in both directions
//! once the client asked for it. Output is sync-flushed after every write, so each response
//! reaches the client whole.
//!
//! Input is inflated in bounded steps ([`Deflate::inflate_some`]): a few kilobytes of
//! compressed data may stand for megabytes of commands, and the session works through them
//! one step at a time instead of holding them all.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The two deflate streams of a connection.
pub(super) struct Deflate {
    inflate: Decompress,
    deflate: Compress,
    /// Compressed input not yet inflated.
    input: Vec<u8>,
    /// The last step filled its output: the inflater may hold more without new input.
    more_output: bool,
    /// The client ended its deflate stream; what follows is ignored.
    ended: bool,
    /// The last step made no progress: nothing to do until more input arrives.
    starved: bool,
}

fn zerr(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

impl Deflate {
    pub(super) fn new() -> Self {
        Deflate {
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            input: Vec::new(),
            more_output: false,
            ended: false,
            starved: false,
        }
    }

    /// Compressed bytes from the client.
    pub(super) fn feed(&mut self, data: &[u8]) {
        if !self.ended {
            self.input.extend_from_slice(data);
            self.starved = false;
        }
    }

    /// Whether [`Deflate::inflate_some`] can make progress without new input.
    pub(super) fn has_pending(&self) -> bool {
        !self.ended && !self.starved && (!self.input.is_empty() || self.more_output)
    }

    /// Inflate up to `max_out` bytes of what was fed. An error means the client sent
    /// something that is not a deflate stream: the connection is closed.
    pub(super) fn inflate_some(&mut self, max_out: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max_out);
        let in_before = self.inflate.total_in();
        let status = self
            .inflate
            .decompress_vec(&self.input, &mut out, FlushDecompress::None)
            .map_err(zerr)?;
        let consumed = (self.inflate.total_in() - in_before) as usize;
        self.input.drain(..consumed);
        if status == Status::StreamEnd {
            self.ended = true;
            self.input.clear();
        }
        self.more_output = out.len() == max_out;
        if out.is_empty() && consumed == 0 {
            // No progress: what is left is an incomplete block; wait for more input.
            self.starved = true;
            if self.input.len() > 1 << 20 {
                return Err(zerr("an incomplete block larger than 1 MiB"));
            }
        }
        Ok(out)
    }

    /// Compress `data` and sync-flush: the result is complete deflate output for it.
    pub(super) fn deflate(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .map_err(zerr)?;
            consumed += (self.deflate.total_in() - before) as usize;
            // Done when all input is taken and the flush left room in the buffer.
            if consumed == data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client's side of the stream, as a real client (zlib) would write it.
    fn client_deflate(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    fn inflate_all(d: &mut Deflate) -> Vec<u8> {
        let mut all = Vec::new();
        while d.has_pending() {
            all.extend(d.inflate_some(1000).unwrap());
        }
        all
    }

    #[test]
    fn round_trip_in_bounded_steps() {
        let commands: Vec<u8> = (0..5000)
            .flat_map(|i| format!("a{i} NOOP\r\n").into_bytes())
            .collect();
        let wire = client_deflate(&commands);
        assert!(wire.len() < commands.len() / 2);
        let mut d = Deflate::new();
        // Fed in odd-sized pieces, as reads deliver it.
        let mut got = Vec::new();
        for piece in wire.chunks(7) {
            d.feed(piece);
            got.extend(inflate_all(&mut d));
        }
        assert_eq!(got, commands);
    }

    #[test]
    fn server_output_is_flushed_per_write() {
        let mut d = Deflate::new();
        let mut client = Decompress::new(false);
        for text in ["* OK first\r\n", "a1 OK second\r\n"] {
            let wire = d.deflate(text.as_bytes()).unwrap();
            let mut out = Vec::with_capacity(1024);
            client
                .decompress_vec(&wire, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert_eq!(out, text.as_bytes());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Deflate::new();
        d.feed(&[0xff; 64]);
        assert!(d.inflate_some(1000).is_err());
    }
}
