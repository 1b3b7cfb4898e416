//! Deterministic test messages: headers plus lines of text up to a size, and the size
//! distributions of the workloads (fixed, or log-uniform between two sizes).

use anyhow::{Context, Result, bail};

/// A message size: fixed, or log-uniform in `[lo, hi]` (many small, some large: the shape of
/// real mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// Every message this many bytes.
    Fixed(usize),
    /// Log-uniform between the two sizes.
    Mix(usize, usize),
}

/// Parse `10k`, `2M`, `1234`.
pub fn parse_size(s: &str) -> Result<usize> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    let n: usize = num.parse().with_context(|| format!("bad size {s:?}"))?;
    Ok(n * mult)
}

impl std::str::FromStr for SizeSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('-') {
            Some((a, b)) => {
                let (lo, hi) = (parse_size(a)?, parse_size(b)?);
                if lo == 0 || hi < lo {
                    bail!("bad size range {s:?}");
                }
                Ok(SizeSpec::Mix(lo, hi))
            }
            None => Ok(SizeSpec::Fixed(parse_size(s)?)),
        }
    }
}

impl SizeSpec {
    /// The size of message `i` (the same for every run with the same seed).
    pub fn size_of(&self, seed: u64, i: usize) -> usize {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::Mix(lo, hi) => {
                let mut rng = fastrand::Rng::with_seed(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
                let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
                (l + rng.f64() * (h - l)).exp().round() as usize
            }
        }
    }
}

/// Text lines (76 characters, never starting with `.`) to cut message bodies from.
pub struct Filler {
    text: Vec<u8>,
    line_len: usize,
}

const WORDS: &[&str] = &[
    "mail",
    "server",
    "queue",
    "delivery",
    "mailbox",
    "message",
    "index",
    "latency",
    "quarterly",
    "report",
    "meeting",
    "budget",
    "please",
    "review",
    "attached",
    "thanks",
    "regards",
    "project",
];

impl Filler {
    /// Filler of at least `len` bytes with `eol` line ends (`\r\n` for SMTP, `\n` on disk).
    pub fn new(len: usize, eol: &[u8], seed: u64) -> Filler {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut text = Vec::with_capacity(len + 128);
        let line_len = 76 + eol.len();
        while text.len() < len + line_len {
            let start = text.len();
            while text.len() - start < 76 {
                let w = WORDS[rng.usize(..WORDS.len())].as_bytes();
                text.extend_from_slice(w);
                text.push(b' ');
            }
            text.truncate(start + 76);
            text.extend_from_slice(eol);
        }
        Filler { text, line_len }
    }

    /// About `len` bytes of whole lines, starting at a line chosen by `i`.
    pub fn body(&self, len: usize, i: usize) -> &[u8] {
        let lines_total = self.text.len() / self.line_len;
        let want_lines = len.div_ceil(self.line_len).max(1);
        let spare = lines_total.saturating_sub(want_lines);
        let start = if spare == 0 { 0 } else { i % spare };
        let from = start * self.line_len;
        let to = (from + want_lines * self.line_len).min(self.text.len());
        &self.text[from..to]
    }
}

/// The header block of message `i` (ends with the empty line).
pub fn headers(i: usize, from: &str, to: &str, subject: &str, eol: &str) -> String {
    format!(
        "From: <{from}>{eol}To: <{to}>{eol}Subject: {subject}{eol}Date: Thu, 26 Nov 2026 12:00:00 +0000{eol}\
         Message-ID: <{i}.mailbench@bench.test>{eol}X-Mailbench-Id: {i}{eol}MIME-Version: 1.0{eol}\
         Content-Type: text/plain; charset=us-ascii{eol}{eol}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("10k".parse::<SizeSpec>().unwrap(), SizeSpec::Fixed(10240));
        let mix: SizeSpec = "2k-2M".parse().unwrap();
        assert_eq!(mix, SizeSpec::Mix(2048, 2 * 1024 * 1024));
        for i in 0..1000 {
            let n = mix.size_of(7, i);
            assert!((2048..=2 * 1024 * 1024).contains(&n));
            assert_eq!(n, mix.size_of(7, i));
        }
        assert!("2M-2k".parse::<SizeSpec>().is_err());
    }

    #[test]
    fn filler_lines() {
        let f = Filler::new(10_000, b"\r\n", 1);
        let b = f.body(5000, 3);
        assert!(b.len() >= 5000 && b.len() < 5000 + 78);
        assert!(b.ends_with(b"\r\n"));
        assert!(!b.split(|&c| c == b'\n').any(|l| l.starts_with(b".")));
    }
}
