//! The IMAP workload on a large mailbox: per round one connection, LOGIN, then timed SELECT,
//! `FETCH 1:* (FLAGS UID RFC822.SIZE)`, `UID SEARCH HEADER <name> <value>` and
//! `UID FETCH <uid> BODY.PEEK[]` of the largest message. Round 1 on a freshly started server
//! whose Maildir has no index yet is "cold" (the server indexes the Maildir); the median of
//! the later rounds is "warm".

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::proto::{connect, imap_cmd, imap_greeting, quote};
use crate::stats::median_ms;

/// What to run.
#[derive(Debug, Clone)]
pub struct ImapOptions {
    /// Server address.
    pub addr: String,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Mailbox to select.
    pub mailbox: String,
    /// Rounds (1 cold + rounds-1 warm).
    pub rounds: usize,
    /// Header searched.
    pub header: String,
    /// Value searched for.
    pub value: String,
    /// Messages at least this large are "the large message" (the first one found is fetched).
    pub large: u64,
}

/// Milliseconds of each operation.
#[derive(Debug, Default, Serialize, Clone)]
pub struct OpTimes {
    /// SELECT.
    pub select_ms: f64,
    /// FETCH 1:* (FLAGS UID RFC822.SIZE).
    pub fetch_all_ms: f64,
    /// UID SEARCH HEADER.
    pub search_ms: f64,
    /// Full-body FETCH of the large message.
    pub fetch_large_ms: f64,
}

/// The result line.
#[derive(Debug, Serialize)]
pub struct ImapReport {
    /// Messages in the mailbox (EXISTS).
    pub exists: usize,
    /// UIDs the search found.
    pub search_hits: usize,
    /// Bytes of the large message's body.
    pub large_bytes: u64,
    /// Round 1.
    pub cold: OpTimes,
    /// Median of rounds 2.. (equal to `cold` with one round).
    pub warm: OpTimes,
}

/// Run the workload.
pub async fn run(o: &ImapOptions) -> Result<ImapReport> {
    let mut rounds = Vec::new();
    let (mut exists, mut hits, mut large_bytes) = (0, 0, 0);
    let mut large_uid: Option<u64> = None;
    for _ in 0..o.rounds.max(1) {
        let mut c = connect(&o.addr, 64 * 1024).await?;
        imap_greeting(&mut c).await?;
        imap_cmd(
            &mut c,
            "a1",
            &format!("LOGIN {} {}", quote(&o.user), quote(&o.password)),
            |_| {},
        )
        .await?;
        let mut t = OpTimes::default();

        let s = Instant::now();
        let mut ex = 0;
        imap_cmd(
            &mut c,
            "a2",
            &format!("SELECT {}", quote(&o.mailbox)),
            |l| {
                if let Some(n) = parse_exists(l) {
                    ex = n;
                }
            },
        )
        .await?;
        t.select_ms = elapsed_ms(s);
        exists = ex;

        let s = Instant::now();
        let mut big = None;
        let r = imap_cmd(&mut c, "a3", "FETCH 1:* (FLAGS UID RFC822.SIZE)", |l| {
            if big.is_none()
                && let Some((uid, size)) = parse_uid_size(l)
                && size >= o.large
            {
                big = Some(uid);
            }
        })
        .await?;
        t.fetch_all_ms = elapsed_ms(s);
        if r.untagged < exists {
            bail!("FETCH 1:* returned {} of {exists} messages", r.untagged);
        }
        large_uid = large_uid.or(big);

        let s = Instant::now();
        let mut found = 0;
        imap_cmd(
            &mut c,
            "a4",
            &format!("UID SEARCH HEADER {} {}", quote(&o.header), quote(&o.value)),
            |l| {
                if let Some(rest) = l.strip_prefix(b"* SEARCH") {
                    found = rest
                        .split(|&b| b == b' ')
                        .filter(|w| !w.iter().all(u8::is_ascii_whitespace))
                        .count();
                }
            },
        )
        .await?;
        t.search_ms = elapsed_ms(s);
        hits = found;

        let Some(uid) = large_uid else {
            bail!("no message of at least {} bytes in {}", o.large, o.mailbox);
        };
        let s = Instant::now();
        let r = imap_cmd(
            &mut c,
            "a5",
            &format!("UID FETCH {uid} BODY.PEEK[]"),
            |_| {},
        )
        .await?;
        t.fetch_large_ms = elapsed_ms(s);
        large_bytes = r.literal_bytes;

        imap_cmd(&mut c, "a6", "LOGOUT", |_| {}).await.ok();
        rounds.push(t);
    }
    let cold = rounds[0].clone();
    let warm = if rounds.len() > 1 {
        median_of(&rounds[1..])
    } else {
        cold.clone()
    };
    Ok(ImapReport {
        exists,
        search_hits: hits,
        large_bytes,
        cold,
        warm,
    })
}

fn elapsed_ms(s: Instant) -> f64 {
    s.elapsed().as_secs_f64() * 1000.0
}

fn median_of(rounds: &[OpTimes]) -> OpTimes {
    let med = |f: fn(&OpTimes) -> f64| {
        let mut v: Vec<Duration> = rounds
            .iter()
            .map(|r| Duration::from_secs_f64(f(r) / 1000.0))
            .collect();
        median_ms(&mut v)
    };
    OpTimes {
        select_ms: med(|r| r.select_ms),
        fetch_all_ms: med(|r| r.fetch_all_ms),
        search_ms: med(|r| r.search_ms),
        fetch_large_ms: med(|r| r.fetch_large_ms),
    }
}

/// `* 123 EXISTS`.
fn parse_exists(line: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(line).ok()?.trim_end();
    let n = s.strip_prefix("* ")?.strip_suffix(" EXISTS")?;
    n.parse().ok()
}

/// UID and RFC822.SIZE of a FETCH response line.
fn parse_uid_size(line: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(line).ok()?;
    let after = |key: &str| -> Option<u64> {
        let i = s.find(key)? + key.len();
        let digits: String = s[i..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some((after("UID ")?, after("RFC822.SIZE ")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_exists(b"* 100000 EXISTS\r\n"), Some(100000));
        assert_eq!(parse_exists(b"* 3 RECENT\r\n"), None);
        assert_eq!(
            parse_uid_size(b"* 7 FETCH (UID 9 RFC822.SIZE 1234 FLAGS (\\Seen))\r\n"),
            Some((9, 1234))
        );
        assert_eq!(
            parse_uid_size(b"* 7 FETCH (FLAGS () RFC822.SIZE 55 UID 10)\r\n"),
            Some((10, 55))
        );
    }
}
