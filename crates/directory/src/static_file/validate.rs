//! The validation pass over a parsed users file, and how its problems are reported: with
//! `file:line:col` when the source text is at hand, with key paths (`user[2].address`)
//! otherwise.

use std::collections::HashMap;
use std::fmt;

use super::format::{DomainEntry, UsersFile, domain_of, normalize_domain};
use crate::normalize_address;
use crate::password::check_phc;

/// Where a validation problem is: `user[2].aliases[0]` (indices count from 0 in file order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyPath {
    table: &'static str,
    index: usize,
    key: &'static str,
    item: Option<usize>,
}

impl KeyPath {
    fn new(table: &'static str, index: usize, key: &'static str) -> Self {
        KeyPath {
            table,
            index,
            key,
            item: None,
        }
    }
    fn item(self, i: usize) -> Self {
        KeyPath {
            item: Some(i),
            ..self
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}].{}", self.table, self.index, self.key)?;
        if let Some(i) = self.item {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

/// One validation problem: where, what, and for duplicates where the first occurrence is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) at: KeyPath,
    pub(crate) message: String,
    pub(crate) first: Option<KeyPath>,
}

/// Every problem in `file`, in file order (domains, users, aliases, groups, catch-alls).
pub(crate) fn problems(file: &UsersFile) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
        domains: HashMap::new(),
        seen: HashMap::new(),
    };
    for (i, d) in file.domains().iter().enumerate() {
        v.domain(i, d);
    }
    for (i, u) in file.users().iter().enumerate() {
        v.local_address(KeyPath::new("user", i, "address"), &u.address);
        if let Err(why) = check_phc(&u.password) {
            v.problem(
                KeyPath::new("user", i, "password"),
                format!("malformed password hash: {why}"),
            );
        }
        for (j, a) in u.aliases.iter().enumerate() {
            v.local_address(KeyPath::new("user", i, "aliases").item(j), a);
        }
    }
    for (i, a) in file.aliases().iter().enumerate() {
        v.local_address(KeyPath::new("alias", i, "address"), &a.address);
        v.targets(KeyPath::new("alias", i, "targets"), &a.targets);
    }
    for (i, g) in file.groups().iter().enumerate() {
        v.local_address(KeyPath::new("group", i, "address"), &g.address);
        v.targets(KeyPath::new("group", i, "members"), &g.members);
    }
    // Catch-all targets may point anywhere, but must be addresses.
    for (i, d) in file.domains().iter().enumerate() {
        if let Some(c) = &d.catch_all
            && let Err(e) = normalize_address(c)
        {
            v.problem(KeyPath::new("domain", i, "catch_all"), e.to_string());
        }
    }
    v.problems
}

/// Problems as `origin:line:col: key: message`, one per line, located in the source `text`.
pub(crate) fn render_located(problems: &[Problem], text: &str, origin: &str) -> String {
    // The text parsed into a `UsersFile`, so it parses again; the spanned tree locates keys.
    let root = toml::de::DeTable::parse(text)
        .ok()
        .map(|t| toml::de::DeValue::Table(t.into_inner()));
    let locate = |k: &KeyPath| {
        root.as_ref()
            .and_then(|r| span_of(r, k))
            .map(|s| line_col(text, s))
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let (line, col) = locate(&p.at).unwrap_or((1, 1));
            let first = match p.first.map(|f| (f, locate(&f))) {
                Some((_, Some((l, _)))) => format!(" (first at line {l})"),
                Some((f, None)) => format!(" (first at {f})"),
                None => String::new(),
            };
            format!("{origin}:{line}:{col}: {}: {}{first}", p.at, p.message)
        })
        .collect();
    lines.join("\n")
}

/// Problems as `key: message`, one per line (no source text: after an edit).
pub(crate) fn render_plain(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match p.first {
            Some(f) => format!("{}: {} (first at {f})", p.at, p.message),
            None => format!("{}: {}", p.at, p.message),
        })
        .collect();
    lines.join("\n")
}

struct Validator {
    problems: Vec<Problem>,
    /// Listed domains (lower-case) and where they are defined.
    domains: HashMap<String, KeyPath>,
    /// Defined addresses (normalised) and where they are defined.
    seen: HashMap<String, KeyPath>,
}

impl Validator {
    fn problem(&mut self, at: KeyPath, message: String) {
        self.problems.push(Problem {
            at,
            message,
            first: None,
        });
    }

    fn domain(&mut self, i: usize, d: &DomainEntry) {
        let at = KeyPath::new("domain", i, "name");
        match normalize_domain(&d.name) {
            Err(e) => self.problem(at, e.to_string()),
            Ok(name) => {
                if let Some(first) = self.domains.get(&name) {
                    let first = *first;
                    self.problems.push(Problem {
                        at,
                        message: format!("duplicate domain {name:?}"),
                        first: Some(first),
                    });
                } else {
                    self.domains.insert(name, at);
                }
            }
        }
    }

    /// An address this file defines: well-formed, in a listed domain, defined once.
    fn local_address(&mut self, at: KeyPath, address: &str) {
        let n = match normalize_address(address) {
            Ok(n) => n,
            Err(e) => return self.problem(at, e.to_string()),
        };
        let domain = domain_of(&n).unwrap_or_default();
        if !self.domains.contains_key(&domain) {
            self.problem(
                at,
                format!("domain {domain:?} is not listed in a [[domain]] table"),
            );
        }
        if let Some(first) = self.seen.get(&n) {
            let first = *first;
            self.problems.push(Problem {
                at,
                message: format!("duplicate address {n:?}"),
                first: Some(first),
            });
        } else {
            self.seen.insert(n, at);
        }
    }

    /// Alias targets or group members: at least one, each well-formed (remote allowed).
    fn targets(&mut self, at: KeyPath, list: &[String]) {
        if list.is_empty() {
            self.problem(at, "needs at least one address".into());
        }
        for (j, t) in list.iter().enumerate() {
            if let Err(e) = normalize_address(t) {
                self.problem(at.item(j), e.to_string());
            }
        }
    }
}

/// The span of the value at `k` in the spanned document, or of the nearest enclosing value.
fn span_of(root: &toml::de::DeValue<'_>, k: &KeyPath) -> Option<usize> {
    let entry = root.get(k.table)?.get_ref().get(k.index)?;
    let Some(value) = entry.get_ref().get(k.key) else {
        return Some(entry.span().start);
    };
    match k.item.and_then(|i| value.get_ref().get(i)) {
        Some(item) => Some(item.span().start),
        None => Some(value.span().start),
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The key of a `key = value` line containing byte offset `pos`, if that line is one.
pub(crate) fn key_on_line(text: &str, pos: usize) -> Option<&str> {
    let pos = pos.min(text.len());
    let start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[start..end].trim_start();
    if line.starts_with('[') || line.starts_with('#') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then_some(key)
}
