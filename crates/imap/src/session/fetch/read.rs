//! Reading message files for FETCH, on the blocking pool: the header block, the whole file,
//! the size of the file's rest, and chunks of it, all with CRLF line ends.

use std::io;
use std::os::unix::fs::FileExt;

use crate::mime::crlf::CrlfNormalizer;
use crate::mime::header::{is_blank_line, line_end};

/// How much of a file is read at a time.
pub(super) const CHUNK: usize = 128 * 1024;

/// Read the header block of a file: it with CRLF line ends, and its raw length.
pub(super) fn read_header(file: &std::fs::File) -> io::Result<(Vec<u8>, u64)> {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // Lines before `scan` are complete and not blank.
    let mut scan = 0;
    let end = loop {
        let n = file.read_at(&mut buf, raw.len() as u64)?;
        raw.extend_from_slice(&buf[..n]);
        let mut found = None;
        while scan < raw.len() {
            let e = line_end(&raw, scan);
            if !raw[..e].ends_with(b"\n") {
                break;
            }
            if is_blank_line(&raw[scan..e]) {
                found = Some(e);
                break;
            }
            scan = e;
        }
        if let Some(e) = found {
            break e;
        }
        if n == 0 {
            break raw.len();
        }
    };
    let mut header = Vec::with_capacity(end + end / 32);
    CrlfNormalizer::default().feed(&raw[..end], &mut header);
    Ok((header, end as u64))
}

/// Read a whole file with CRLF line ends.
pub(super) fn read_whole(file: &std::fs::File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(size_hint).unwrap_or(0));
    let mut buf = vec![0u8; CHUNK];
    let mut normalizer = CrlfNormalizer::default();
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(out);
        }
        normalizer.feed(&buf[..n], &mut out);
        off += n as u64;
    }
}

/// The length with CRLF line ends of a file from `from`, and whether it holds NUL.
pub(super) fn measure(file: &std::fs::File, from: u64) -> io::Result<(u64, bool)> {
    let mut buf = vec![0u8; CHUNK];
    let mut normalizer = CrlfNormalizer::default();
    if from > 0 {
        // The octet before decides whether a leading LF is bare.
        let mut prev = [0u8; 1];
        if file.read_at(&mut prev, from - 1)? == 1 {
            normalizer.measure(&prev);
        }
    }
    let (mut len, mut nul, mut off) = (0u64, false, from);
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok((len, nul));
        }
        len += normalizer.measure(&buf[..n]) as u64;
        nul |= buf[..n].contains(&0);
        off += n as u64;
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

/// Up to [`CHUNK`] octets of a file from `off` (empty at the end).
pub(super) fn read_chunk(file: &std::fs::File, off: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len.min(CHUNK)];
    let n = file.read_at(&mut buf, off)?;
    buf.truncate(n);
    Ok(buf)
}
