//! Maildir file names, Dovecot style.
//!
//! `<secs>.M<usecs>P<pid>Q<counter>.<hostname>,S=<size>,W=<vsize>:2,<flags>`
//!
//! The *basename* is everything before `:` (`:2,` info); it identifies a
//! message for its whole life while the info part changes with its flags.
//! Messages in `new/` carry no info part.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flags::{FORWARDED_KEYWORD, Flag};
use crate::maildir::keywords::Keywords;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This host's name as used in Maildir file names: read from
/// `/proc/sys/kernel/hostname` (falling back to `gethostname`), with `/`
/// and `:` replaced by `\057` and `\072` like Dovecot does.
pub(crate) fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(libc_hostname)
            .unwrap_or_else(|| "localhost".to_string());
        escape_hostname(&raw)
    })
}

fn libc_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for writes of its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

pub(crate) fn escape_hostname(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_control() || c == ',' => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// A new unique basename without size fields:
/// `<secs>.M<usecs>P<pid>Q<counter>.<hostname>`.
pub(crate) fn unique_base() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        hostname()
    )
}

/// Dovecot's order for Maildir file names (`maildir_filename_sort_cmp`): by the leading
/// seconds, then by the `M<usecs>` part when both names have one, both compared as
/// numbers (Dovecot does not zero-pad microseconds, so `M99` comes before `M100`), then
/// the rest as bytes. New files get UIDs in this order, as they would under Dovecot.
pub(crate) fn delivery_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn leading_number(s: &str) -> (u64, &str) {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = s[..end].bytes().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        (n, &s[end..])
    }
    let (secs_a, rest_a) = leading_number(a);
    let (secs_b, rest_b) = leading_number(b);
    secs_a.cmp(&secs_b).then_with(|| {
        let usecs = match (rest_a.strip_prefix(".M"), rest_b.strip_prefix(".M")) {
            (Some(ma), Some(mb)) => leading_number(ma).0.cmp(&leading_number(mb).0),
            _ => std::cmp::Ordering::Equal,
        };
        usecs.then_with(|| rest_a.cmp(rest_b))
    })
}

/// The unique part of a Maildir file name: before its `,S=`-style fields and `:2,` info.
pub(crate) fn unique_part(filename: &str) -> &str {
    filename.split([',', ':']).next().unwrap_or(filename)
}

/// Add the `S=` and `W=` fields to a unique base.
pub(crate) fn with_sizes(base: &str, size: u64, vsize: u64) -> String {
    format!("{base},S={size},W={vsize}")
}

/// The parts of a Maildir file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedName {
    /// Everything before the `:` info separator.
    pub(crate) basename: String,
    /// `S=` (physical size) when present.
    pub(crate) size: Option<u64>,
    /// `W=` (size with CRLF line endings) when present.
    pub(crate) vsize: Option<u64>,
    /// The flag letters after `:2,` (empty when there is no info part).
    pub(crate) letters: String,
}

/// Parse a Maildir file name. Never fails: unknown parts are ignored.
pub(crate) fn parse(filename: &str) -> ParsedName {
    let (basename, info) = match filename.find(':') {
        Some(p) => (&filename[..p], Some(&filename[p + 1..])),
        None => (filename, None),
    };
    let mut size = None;
    let mut vsize = None;
    for field in basename.split(',').skip(1) {
        if let Some(v) = field.strip_prefix("S=") {
            size = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("W=") {
            vsize = v.parse().ok();
        }
    }
    let letters = info
        .and_then(|i| i.strip_prefix("2,"))
        .unwrap_or("")
        .to_string();
    ParsedName {
        basename: basename.to_string(),
        size,
        vsize,
        letters,
    }
}

/// Flags and keywords decoded from the info letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DecodedFlags {
    pub(crate) flags: Vec<Flag>,
    pub(crate) keywords: Vec<String>,
}

/// Decode info letters using the folder's `dovecot-keywords` table.
/// Unknown keyword letters are dropped (as Dovecot does).
pub(crate) fn decode_letters(letters: &str, keywords: &Keywords) -> DecodedFlags {
    let mut flags = BTreeSet::new();
    let mut kws = BTreeSet::new();
    for c in letters.chars() {
        if let Some(f) = Flag::from_maildir_letter(c) {
            flags.insert(f);
        } else if c == 'P' {
            kws.insert(FORWARDED_KEYWORD.to_string());
        } else if c.is_ascii_lowercase()
            && let Some(name) = keywords.name((c as u8 - b'a') as usize)
        {
            kws.insert(name.to_string());
        }
    }
    DecodedFlags {
        flags: flags.into_iter().collect(),
        keywords: kws.into_iter().collect(),
    }
}

/// Encode flags and keywords as sorted info letters (`$Forwarded` is `P`
/// plus its keyword letter when `dovecot-keywords` has one). Keywords without a
/// letter in `keywords` (more than 26) are left out of the file name; the
/// index still has them.
pub(crate) fn encode_letters(flags: &[Flag], kws: &[String], keywords: &Keywords) -> String {
    let mut letters: BTreeSet<char> = flags.iter().map(|f| f.maildir_letter()).collect();
    for k in kws {
        if k == FORWARDED_KEYWORD {
            // 'P' for mutt & co; Dovecot's keyword letter too when it has one.
            letters.insert('P');
        }
        if let Some(i) = keywords.index(k) {
            letters.insert((b'a' + i as u8) as char);
        }
    }
    letters.into_iter().collect()
}

/// The file name for `basename` in `cur/` with the given info letters.
pub(crate) fn cur_name(basename: &str, letters: &str) -> String {
    format!("{basename}:2,{letters}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_order_compares_seconds_and_microseconds_as_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(delivery_order("1.M99P1Q1.h", "1.M100P1Q1.h"), Less);
        assert_eq!(delivery_order("9.M5P1Q1.h", "10.M1P1Q1.h"), Less);
        assert_eq!(delivery_order("1.M5P1Q2.h", "1.M5P1Q10.h"), Greater); // bytes after M
        assert_eq!(delivery_order("1.M5P1Q1.h", "1.M5P1Q1.h"), Equal);
        assert_eq!(delivery_order("1.abc", "1.M5"), Greater);
        assert_eq!(delivery_order("abc", "1.x"), Less);
    }

    #[test]
    fn parse_full_name() {
        let p = parse("1700000000.M123P45Q6.host,S=1234,W=1260:2,FRSa");
        assert_eq!(p.basename, "1700000000.M123P45Q6.host,S=1234,W=1260");
        assert_eq!(p.size, Some(1234));
        assert_eq!(p.vsize, Some(1260));
        assert_eq!(p.letters, "FRSa");
    }

    #[test]
    fn parse_new_and_plain_names() {
        let p = parse("1700000000.M1P2Q3.host,S=10,W=11");
        assert_eq!(p.basename, "1700000000.M1P2Q3.host,S=10,W=11");
        assert_eq!(p.letters, "");
        let p = parse("1035478339.27041_118.foo.org:2,S");
        assert_eq!(p.basename, "1035478339.27041_118.foo.org");
        assert_eq!(p.size, None);
        assert_eq!(p.vsize, None);
        assert_eq!(p.letters, "S");
        let p = parse("1035478339.27041_118.foo.org:2,");
        assert_eq!(p.letters, "");
        let p = parse("weird,S=abc:1,xyz");
        assert_eq!(p.size, None);
        assert_eq!(p.letters, "");
    }

    #[test]
    fn hostname_escaping() {
        assert_eq!(escape_hostname("a/b:c"), "a\\057b\\072c");
        let h = hostname();
        assert!(!h.contains('/') && !h.contains(':') && !h.is_empty());
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_base();
        let b = unique_base();
        assert_ne!(a, b);
        assert!(a.contains(&format!("P{}Q", std::process::id())));
        assert_eq!(parse(&with_sizes(&a, 5, 7)).size, Some(5));
    }

    #[test]
    fn letters_round_trip() {
        let kw = Keywords::from_names(&["$Forwarded", "Work"]);
        let d = decode_letters("FSab", &kw);
        assert_eq!(d.flags, vec![Flag::Seen, Flag::Flagged]);
        assert_eq!(
            d.keywords,
            vec!["$Forwarded".to_string(), "Work".to_string()]
        );
        let d = decode_letters("PRz", &kw);
        assert_eq!(d.flags, vec![Flag::Answered]);
        assert_eq!(d.keywords, vec!["$Forwarded".to_string()]);
        let enc = encode_letters(
            &[Flag::Seen, Flag::Draft, Flag::Flagged],
            &["Work".to_string(), FORWARDED_KEYWORD.to_string()],
            &kw,
        );
        assert_eq!(enc, "DFPSab");
        assert_eq!(cur_name("x", &enc), "x:2,DFPSab");
    }
}
