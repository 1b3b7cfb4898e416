//! Text helpers shared by SEARCH, SORT and THREAD: case folding, header decoding, dates and
//! RFC 5256 base-subject extraction.

use mail_parser::parsers::MessageStream;
use mail_parser::{DateTime, HeaderValue};

use super::key::Date;

/// Case folding for substring matching: Unicode lower case, char by char (a close
/// approximation of simple case folding that keeps ASCII exact).
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Case mapping for sort keys: upper case, as i;ascii-casemap does for ASCII and as
/// i;unicode-casemap (RFC 5051, titlecase) approximately does beyond it.
pub(crate) fn sort_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_uppercase());
        } else {
            out.extend(c.to_uppercase());
        }
    }
    out
}

/// Decode the raw value of a header field (what follows the colon, possibly folded):
/// unfold it and decode RFC 2047 encoded-words.
pub(crate) fn decode_raw_header(raw: &[u8]) -> String {
    let mut buf: Vec<u8> = Vec::with_capacity(raw.len() + 1);
    buf.extend_from_slice(raw);
    if buf.last() != Some(&b'\n') {
        buf.push(b'\n');
    }
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// Days since 1970-01-01 → civil date (proleptic Gregorian), after H. Hinnant.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC calendar day of a Unix time.
pub(crate) fn utc_date(secs: i64) -> Date {
    let (y, month, day) = civil_from_days(secs.div_euclid(86_400));
    Date {
        year: y.clamp(0, i64::from(u16::MAX)) as u16,
        month,
        day,
    }
}

/// A parsed Date: header that is usable (a real calendar date).
pub(crate) fn valid_datetime(dt: &DateTime) -> bool {
    dt.year >= 1
        && (1..=12).contains(&dt.month)
        && (1..=31).contains(&dt.day)
        && dt.hour < 24
        && dt.minute < 60
        && dt.second <= 60
}

/// The calendar day written in a Date: header (its own time zone, as RFC 3501's
/// "disregarding time and timezone" asks).
pub(crate) fn header_day(dt: &DateTime) -> Date {
    Date {
        year: dt.year,
        month: dt.month,
        day: dt.day,
    }
}

/// RFC 5256 §2.1 base subject of a decoded subject, and whether the extraction removed a
/// reply/forward marker (`Re:`, `Fwd:`, a `(fwd)` trailer or a `[fwd: ...]` wrapper), which
/// makes the message "a reply or forward" for the REFERENCES algorithm.
pub(crate) fn base_subject(subject: &str) -> (String, bool) {
    // (1) tabs and continuations to space, runs of spaces to one space.
    let mut s = String::with_capacity(subject.len());
    let mut last_space = false;
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if !last_space {
                s.push(' ');
            }
            last_space = true;
        } else {
            s.push(c);
            last_space = false;
        }
    }
    let mut reply = false;
    let mut s: &str = &s;
    loop {
        // (2) trailers: "(fwd)" and white space, repeatedly.
        loop {
            let t = s.trim_end_matches(' ');
            if t.len() >= 5 && t.is_char_boundary(t.len() - 5) {
                let tail = &t[t.len() - 5..];
                if tail.eq_ignore_ascii_case("(fwd)") {
                    s = &t[..t.len() - 5];
                    reply = true;
                    continue;
                }
            }
            s = t;
            break;
        }
        // (3)-(5) leaders and blobs, repeatedly.
        loop {
            let mut changed = false;
            if let Some(rest) = s.strip_prefix(' ') {
                s = rest.trim_start_matches(' ');
                changed = true;
            } else if let Some(n) = match_leader(s) {
                s = &s[n..];
                reply = true;
                changed = true;
            }
            if let Some(n) = match_blob(s) {
                let rest = &s[n..];
                if !rest.trim_start_matches(' ').is_empty() {
                    s = rest;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // (6) "[fwd: ... ]" wrapper.
        if s.len() >= 6
            && s.is_char_boundary(5)
            && s[..5].eq_ignore_ascii_case("[fwd:")
            && s.ends_with(']')
        {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_string(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: the length matched at the start of `s`.
fn match_blob(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b[1..].iter().position(|&c| c == b'[' || c == b']')? + 1;
    if b[close] != b']' {
        return None;
    }
    let mut i = close + 1;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    Some(i)
}

/// `subj-leader = (*subj-blob subj-refwd)` (the WSP alternative is handled by the caller):
/// the length matched at the start of `s`.
fn match_leader(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(n) = match_blob(&s[i..]) {
        i += n;
    }
    // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    let lower = |k: usize| b.get(k).map(|c| c.to_ascii_lowercase());
    if lower(i) == Some(b'r') && lower(i + 1) == Some(b'e') {
        i += 2;
    } else if lower(i) == Some(b'f') && lower(i + 1) == Some(b'w') {
        i += 2;
        if lower(i) == Some(b'd') {
            i += 1;
        }
    } else {
        return None;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    if let Some(n) = match_blob(&s[i..]) {
        i += n;
    }
    (b.get(i) == Some(&b':')).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        base_subject(s)
    }

    #[test]
    fn base_subject_examples() {
        assert_eq!(
            base("Re: Fwd: [list] subject (fwd)"),
            ("subject".into(), true)
        );
        assert_eq!(base("[list] Re: hello"), ("hello".into(), true));
        assert_eq!(
            base("RE:   re: Re[2]:  hello   world  "),
            ("hello world".into(), true)
        );
        assert_eq!(base("[fwd: Re: hello]"), ("hello".into(), true));
        assert_eq!(base("[list] [other]"), ("[other]".into(), false));
        assert_eq!(base("[only]"), ("[only]".into(), false));
        assert_eq!(base("Fw: a\tb"), ("a b".into(), true));
        assert_eq!(base("Reply to this"), ("Reply to this".into(), false));
        assert_eq!(base("Re :x"), ("x".into(), true));
        assert_eq!(base("plain (fwd) (FWD)"), ("plain".into(), true));
        assert_eq!(base(""), (String::new(), false));
        assert_eq!(base("Grüße [ä] (fwd)"), ("Grüße [ä]".into(), true));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(
            utc_date(0),
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        // 2026-02-28T23:59:59Z and the next second.
        assert_eq!(
            utc_date(1_772_323_199),
            Date {
                year: 2026,
                month: 2,
                day: 28
            }
        );
        assert_eq!(
            utc_date(1_772_323_200),
            Date {
                year: 2026,
                month: 3,
                day: 1
            }
        );
        assert_eq!(
            utc_date(-1),
            Date {
                year: 1969,
                month: 12,
                day: 31
            }
        );
    }

    #[test]
    fn decode_headers() {
        assert_eq!(
            decode_raw_header(b" =?UTF-8?B?R3LDvMOfZQ==?= aus\r\n\t Berlin\r\n"),
            "Grüße aus Berlin"
        );
        assert_eq!(fold("GRÜSSE Ärger"), "grüsse ärger");
    }
}
