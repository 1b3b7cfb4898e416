//! Comparators (RFC 4790 as used by RFC 5228 §2.7.3: `i;octet`, `i;ascii-casemap`,
//! `i;ascii-numeric`), match types (`:is`, `:contains`, `:matches`, RFC 5231 `:count`/`:value`,
//! the regex draft's `:regex`) and `:matches` wildcards with match-variable captures
//! (RFC 5229 §3.2).

use std::cmp::Ordering;

use crate::ir::{Comparator, Rel};

/// The `i;ascii-numeric` value of a string: its leading digits, or "positive infinity" (None)
/// when it does not start with a digit (RFC 4790 §9.1).
fn numeric(s: &str) -> Option<&str> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return None;
    }
    let digits = s[..end].trim_start_matches('0');
    Some(if digits.is_empty() { "0" } else { digits })
}

/// Total order of two values under a comparator.
pub(crate) fn order(cmp: Comparator, a: &str, b: &str) -> Ordering {
    match cmp {
        Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
        Comparator::AsciiCasemap => a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
        Comparator::AsciiNumeric => match (numeric(a), numeric(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        },
    }
}

pub(crate) fn equal(cmp: Comparator, a: &str, b: &str) -> bool {
    match cmp {
        Comparator::Octet => a == b,
        Comparator::AsciiCasemap => a.eq_ignore_ascii_case(b),
        Comparator::AsciiNumeric => order(cmp, a, b) == Ordering::Equal,
    }
}

pub(crate) fn rel_holds(rel: Rel, o: Ordering) -> bool {
    match rel {
        Rel::Gt => o == Ordering::Greater,
        Rel::Ge => o != Ordering::Less,
        Rel::Lt => o == Ordering::Less,
        Rel::Le => o != Ordering::Greater,
        Rel::Eq => o == Ordering::Equal,
        Rel::Ne => o != Ordering::Equal,
    }
}

pub(crate) fn contains(cmp: Comparator, hay: &str, needle: &str) -> bool {
    match cmp {
        Comparator::AsciiCasemap => hay
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase()),
        _ => hay.contains(needle),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Pat {
    Char(char),
    One,
    Star,
}

fn compile_glob(p: &str) -> Vec<Pat> {
    let mut out = Vec::new();
    let mut it = p.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(n) = it.next() {
                    out.push(Pat::Char(n));
                }
            }
            '*' => out.push(Pat::Star),
            '?' => out.push(Pat::One),
            c => out.push(Pat::Char(c)),
        }
    }
    out
}

fn ch_eq(cmp: Comparator, a: char, b: char) -> bool {
    match cmp {
        Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
        _ => a == b,
    }
}

/// `:matches` (RFC 5228 §2.7.1): `*` matches any run of characters, `?` one character, `\`
/// escapes. On success returns the captures: `${0}` is the whole value, then one entry per
/// wildcard, left to right. Each `*` takes as few characters as possible, leftmost first
/// (RFC 5229 §3.2: `"[*] *"` on `"[acme-users] [fwd] version 1.0 is out"` gives
/// `acme-users`; `"coyote@**.com"` gives `""` and the domain).
///
/// The classic backtrack-to-the-last-star algorithm: O(len(value) × len(pattern)) steps at
/// worst, counted into `steps`, so hostile patterns cannot blow up.
pub(crate) fn glob(
    cmp: Comparator,
    value: &str,
    pattern: &str,
    steps: &mut u64,
) -> Option<Vec<String>> {
    let p = compile_glob(pattern);
    let v: Vec<char> = value.chars().collect();
    let mut start = vec![0usize; p.len()];
    let (mut vi, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        *steps += 1;
        match p.get(pi) {
            Some(Pat::Star) => {
                start[pi] = vi;
                star = Some((pi, vi));
                pi += 1;
                continue;
            }
            Some(Pat::One) if vi < v.len() => {
                start[pi] = vi;
                pi += 1;
                vi += 1;
                continue;
            }
            Some(Pat::Char(c)) if vi < v.len() && ch_eq(cmp, v[vi], *c) => {
                start[pi] = vi;
                pi += 1;
                vi += 1;
                continue;
            }
            None if vi == v.len() => break,
            _ => {}
        }
        match star {
            Some((sp, sv)) if sv < v.len() => {
                star = Some((sp, sv + 1));
                pi = sp + 1;
                vi = sv + 1;
            }
            _ => return None,
        }
    }
    let mut out = vec![value.to_string()];
    for (k, el) in p.iter().enumerate() {
        match el {
            Pat::Star => {
                let end = start
                    .get(k + 1)
                    .copied()
                    .filter(|_| k + 1 < p.len())
                    .unwrap_or(v.len());
                out.push(v[start[k]..end].iter().collect());
            }
            Pat::One => out.push(v[start[k]].to_string()),
            Pat::Char(_) => {}
        }
    }
    Some(out)
}

/// Escapes `*`, `?` and `\` (the `:quotewildcard` modifier of RFC 5229 §4.1).
pub(crate) fn quote_wildcard(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: &str, p: &str) -> Option<Vec<String>> {
        glob(Comparator::AsciiCasemap, v, p, &mut 0)
    }

    #[test]
    fn glob_basics_and_captures() {
        assert!(g("hello", "h*o").is_some());
        assert!(g("hello", "H?LLO").is_some());
        assert!(glob(Comparator::Octet, "hello", "H*", &mut 0).is_none());
        assert!(g("a*b", "a\\*b").is_some());
        assert!(g("axb", "a\\*b").is_none());
        assert!(g("a?b", "a\\?b").is_some());
        assert!(g("a\\b", "a\\\\b").is_some());
        assert!(g("", "*").is_some());
        assert!(g("", "?").is_none());
        // RFC 5229 §3.2 example
        let c = g("Ned Freed <ned@example.com>", "* <*@*>").unwrap();
        assert_eq!(
            c,
            [
                "Ned Freed <ned@example.com>",
                "Ned Freed",
                "ned",
                "example.com"
            ]
        );
        let c = g("abc", "a?*").unwrap();
        assert_eq!(c, ["abc", "b", "c"]);
        let c = g("aaa", "*a").unwrap();
        assert_eq!(c[1], "aa");
        let c = g("[acme-users] [fwd] version 1.0 is out", "[*] *").unwrap();
        assert_eq!(c[1..], ["acme-users", "[fwd] version 1.0 is out"]);
        let c = g("coyote@ACME.Example.COM", "coyote@**.com").unwrap();
        assert_eq!(c[1..], ["", "ACME.Example"]);
        // unicode: ? is one character
        assert!(g("é", "?").is_some());
    }

    #[test]
    fn glob_is_polynomial() {
        let v = "a".repeat(3000);
        let p = format!("{}b", "*a".repeat(200));
        let mut steps = 0;
        assert!(glob(Comparator::Octet, &v, &p, &mut steps).is_none());
        assert!(steps < 3001 * 402 + 10, "{steps}");
        let v = "ab".repeat(5000);
        let mut steps = 0;
        assert!(glob(Comparator::Octet, &v, "*a*a*a*a*a*a*a*a*c", &mut steps).is_none());
        assert!(steps < 10_001 * 20, "{steps}");
    }

    #[test]
    fn numeric_order() {
        use Ordering::*;
        let n = Comparator::AsciiNumeric;
        assert_eq!(order(n, "10", "9"), Greater);
        assert_eq!(order(n, "007", "7"), Equal);
        assert_eq!(order(n, "abc", "99999"), Greater);
        assert_eq!(order(n, "abc", "x"), Equal);
        assert_eq!(order(n, "3 apples", "3"), Equal);
        assert_eq!(order(Comparator::AsciiCasemap, "ABC", "abd"), Less);
        assert_eq!(order(Comparator::Octet, "B", "a"), Less);
    }
}
