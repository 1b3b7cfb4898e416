//! Validation: turns the generic parse tree into typed [`Cmd`]s and [`Test`]s, checking
//! `require`, argument counts and types, tagged arguments, comparators, match types,
//! regular expressions and variable names. Every error carries the position of the offending
//! token.

use std::collections::{HashMap, HashSet};

use regex::Regex;

use crate::error::CompileError;
use crate::ir::*;
use crate::lexer::Pos;
use crate::parser::{Arg, CommandNode, Lit, TestNode};
use crate::strings;
use crate::{CAPABILITIES, Limits};

mod command;
mod test;

/// Kind of the parameter a tag takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TagArg {
    Flag,
    Num,
    Str,
    List,
}

type TagSpec = (&'static str, TagArg, Option<&'static str>);

const MATCH: &[TagSpec] = &[
    ("is", TagArg::Flag, None),
    ("contains", TagArg::Flag, None),
    ("matches", TagArg::Flag, None),
    ("regex", TagArg::Flag, Some("regex")),
    ("count", TagArg::Str, Some("relational")),
    ("value", TagArg::Str, Some("relational")),
    ("comparator", TagArg::Str, None),
];
const ADDR: &[TagSpec] = &[
    ("all", TagArg::Flag, None),
    ("localpart", TagArg::Flag, None),
    ("domain", TagArg::Flag, None),
    ("user", TagArg::Flag, Some("subaddress")),
    ("detail", TagArg::Flag, Some("subaddress")),
];
const INDEX: &[TagSpec] = &[
    ("index", TagArg::Num, Some("index")),
    ("last", TagArg::Flag, Some("index")),
];

fn tag_specs(owner: &str) -> Vec<&'static [TagSpec]> {
    match owner {
        "address" => vec![MATCH, ADDR, INDEX],
        "header" => vec![MATCH, INDEX],
        "envelope" => vec![MATCH, ADDR],
        "string" | "hasflag" => vec![MATCH],
        "body" => vec![
            MATCH,
            &[
                ("raw", TagArg::Flag, None),
                ("content", TagArg::List, None),
                ("text", TagArg::Flag, None),
            ],
        ],
        "date" => vec![
            MATCH,
            INDEX,
            &[
                ("zone", TagArg::Str, None),
                ("originalzone", TagArg::Flag, None),
            ],
        ],
        "currentdate" => vec![MATCH, &[("zone", TagArg::Str, None)]],
        "size" => vec![&[("over", TagArg::Flag, None), ("under", TagArg::Flag, None)]],
        "keep" => vec![&[("flags", TagArg::List, Some("imap4flags"))]],
        "fileinto" => vec![&[
            ("flags", TagArg::List, Some("imap4flags")),
            ("copy", TagArg::Flag, Some("copy")),
            ("create", TagArg::Flag, Some("mailbox")),
        ]],
        "redirect" => vec![&[("copy", TagArg::Flag, Some("copy"))]],
        "vacation" => vec![&[
            ("days", TagArg::Num, None),
            ("seconds", TagArg::Num, Some("vacation-seconds")),
            ("subject", TagArg::Str, None),
            ("from", TagArg::Str, None),
            ("addresses", TagArg::List, None),
            ("mime", TagArg::Flag, None),
            ("handle", TagArg::Str, None),
        ]],
        "duplicate" => vec![&[
            ("handle", TagArg::Str, None),
            ("header", TagArg::Str, None),
            ("uniqueid", TagArg::Str, None),
            ("seconds", TagArg::Num, None),
            ("last", TagArg::Flag, None),
        ]],
        "set" => vec![&[
            ("lower", TagArg::Flag, None),
            ("upper", TagArg::Flag, None),
            ("lowerfirst", TagArg::Flag, None),
            ("upperfirst", TagArg::Flag, None),
            ("quotewildcard", TagArg::Flag, None),
            ("quoteregex", TagArg::Flag, Some("regex")),
            ("length", TagArg::Flag, None),
        ]],
        _ => vec![],
    }
}

/// Capability needed by each command or test beyond the base language.
fn needs(name: &str, is_test: bool) -> Option<Option<&'static str>> {
    let cap = if is_test {
        match name {
            "address" | "header" | "exists" | "size" | "allof" | "anyof" | "not" | "true"
            | "false" => None,
            "envelope" => Some("envelope"),
            "hasflag" => Some("imap4flags"),
            "body" => Some("body"),
            "string" => Some("variables"),
            "date" | "currentdate" => Some("date"),
            "mailboxexists" => Some("mailbox"),
            "duplicate" => Some("duplicate"),
            _ => return None,
        }
    } else {
        match name {
            "require" | "if" | "elsif" | "else" | "stop" | "keep" | "discard" | "redirect" => None,
            "fileinto" => Some("fileinto"),
            "setflag" | "addflag" | "removeflag" => Some("imap4flags"),
            "set" => Some("variables"),
            "reject" => Some("reject"),
            "ereject" => Some("ereject"),
            "vacation" => Some("vacation"),
            _ => return None,
        }
    };
    Some(cap)
}

/// Tags and positional arguments of one command or test, split.
struct Args {
    owner: String,
    pos: Pos,
    tags: HashMap<&'static str, (Pos, Option<Arg>)>,
    positional: Vec<Arg>,
}

impl Args {
    fn flag(&mut self, t: &str) -> Option<Pos> {
        self.tags.remove(t).map(|(p, _)| p)
    }
    fn num(&mut self, t: &str) -> Option<u64> {
        match self.tags.remove(t) {
            Some((_, Some(Arg::Number(n, _)))) => Some(n),
            _ => None,
        }
    }
    fn str(&mut self, t: &str) -> Option<Lit> {
        match self.tags.remove(t) {
            Some((_, Some(Arg::Str(l)))) => Some(l),
            _ => None,
        }
    }
    fn list(&mut self, t: &str) -> Option<Vec<Lit>> {
        match self.tags.remove(t) {
            Some((_, Some(Arg::Str(l)))) => Some(vec![l]),
            Some((_, Some(Arg::List(l, _)))) => Some(l),
            _ => None,
        }
    }
    fn has(&self, t: &str) -> Option<Pos> {
        self.tags.get(t).map(|(p, _)| *p)
    }
    fn exclusive(&self, set: &[&str]) -> Result<(), CompileError> {
        let mut seen: Option<&str> = None;
        for t in set {
            if let Some(p) = self.has(t) {
                if let Some(s) = seen {
                    return Err(p.err(format!(
                        "{}: \":{t}\" cannot be combined with \":{s}\"",
                        self.owner
                    )));
                }
                seen = Some(t);
            }
        }
        Ok(())
    }
    fn want_positional(&self, n: usize, what: &str) -> Result<(), CompileError> {
        if self.positional.len() != n {
            let p = self.positional.get(n).map(Arg::pos).unwrap_or(self.pos);
            return Err(p.err(format!(
                "{} expects {what}, got {} positional argument(s)",
                self.owner,
                self.positional.len()
            )));
        }
        Ok(())
    }
}

pub(crate) struct Validator<'a> {
    limits: &'a Limits,
    caps: HashSet<&'static str>,
}

/// Validates a parsed script.
pub(crate) fn validate(cmds: &[CommandNode], limits: &Limits) -> Result<Vec<Cmd>, CompileError> {
    let mut v = Validator {
        limits,
        caps: HashSet::new(),
    };
    let mut i = 0;
    // require commands come first (RFC 5228 §3.2)
    while i < cmds.len() && cmds[i].name.eq_ignore_ascii_case("require") {
        v.require(&cmds[i])?;
        i += 1;
    }
    v.block(&cmds[i..])
}

fn hint(cap: &str) -> String {
    format!(" (did you `require \"{cap}\"`?)")
}

impl Validator<'_> {
    fn has(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    fn require(&mut self, c: &CommandNode) -> Result<(), CompileError> {
        if c.block.is_some() || !c.tests.is_empty() {
            return Err(c.pos.err("require takes only a string list"));
        }
        let list = match c.args.as_slice() {
            [Arg::Str(l)] => vec![l.clone()],
            [Arg::List(l, _)] => l.clone(),
            _ => return Err(c.pos.err("require expects a string list of capabilities")),
        };
        for l in list {
            let name = l.value.to_ascii_lowercase();
            match CAPABILITIES.iter().find(|c| **c == name) {
                Some(c) => {
                    self.caps.insert(c);
                    // RFC 6131 §2: "vacation-seconds" implies "vacation"
                    if *c == "vacation-seconds" {
                        self.caps.insert("vacation");
                    }
                }
                None if name == "comparator-i;octet" || name == "comparator-i;ascii-casemap" => {}
                None => {
                    return Err(l.pos.err(format!("unsupported capability \"{}\"", l.value)));
                }
            }
        }
        Ok(())
    }

    fn block(&self, cmds: &[CommandNode]) -> Result<Vec<Cmd>, CompileError> {
        let mut out: Vec<Cmd> = Vec::new();
        for c in cmds {
            let name = c.name.to_ascii_lowercase();
            match name.as_str() {
                "elsif" | "else" => {
                    let Some(Cmd::If {
                        branches,
                        otherwise,
                    }) = out.last_mut()
                    else {
                        return Err(c.pos.err(format!("\"{name}\" without a preceding \"if\"")));
                    };
                    if otherwise.is_some() {
                        return Err(c.pos.err(format!("\"{name}\" after \"else\"")));
                    }
                    let body = self.need_block(c)?;
                    if name == "else" {
                        self.no_args(c)?;
                        if !c.tests.is_empty() {
                            return Err(c.pos.err("else takes no test"));
                        }
                        *otherwise = Some(body);
                    } else {
                        let t = self.one_test(c)?;
                        branches.push((t, body));
                    }
                    continue;
                }
                _ => {}
            }
            out.push(self.command(c, &name)?);
        }
        Ok(out)
    }

    fn need_block(&self, c: &CommandNode) -> Result<Vec<Cmd>, CompileError> {
        match &c.block {
            Some(b) => self.block(b),
            None => Err(c.pos.err(format!("{} needs a block {{ … }}", c.name))),
        }
    }

    fn no_args(&self, c: &CommandNode) -> Result<(), CompileError> {
        if let Some(a) = c.args.first() {
            return Err(a.pos().err(format!("{} takes no arguments", c.name)));
        }
        Ok(())
    }

    fn one_test(&self, c: &CommandNode) -> Result<Test, CompileError> {
        self.no_args(c)?;
        if c.tests.len() != 1 || c.test_list {
            return Err(c.pos.err(format!("{} expects exactly one test", c.name)));
        }
        self.test(&c.tests[0])
    }

    fn check_known(&self, name: &str, pos: Pos, is_test: bool) -> Result<(), CompileError> {
        let kind = if is_test { "test" } else { "command" };
        match needs(name, is_test) {
            None => {
                let other = needs(name, !is_test).is_some();
                let extra = if other {
                    format!(
                        " (\"{name}\" is a {})",
                        if is_test { "command" } else { "test" }
                    )
                } else {
                    String::new()
                };
                Err(pos.err(format!("unknown {kind} \"{name}\"{extra}")))
            }
            Some(Some(cap)) if !self.has(cap) => {
                Err(pos.err(format!("unknown {kind} \"{name}\"{}", hint(cap))))
            }
            Some(_) => Ok(()),
        }
    }

    fn split(&self, owner: &str, pos: Pos, args: &[Arg]) -> Result<Args, CompileError> {
        let specs = tag_specs(owner);
        let mut out = Args {
            owner: owner.to_string(),
            pos,
            tags: HashMap::new(),
            positional: Vec::new(),
        };
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            let Arg::Tag(t, tpos) = a else {
                out.positional.push(a.clone());
                continue;
            };
            let spec = specs.iter().flat_map(|s| s.iter()).find(|s| s.0 == t);
            let Some(&(name, kind, cap)) = spec else {
                return Err(tpos.err(format!("unknown tagged argument \":{t}\" for {owner}")));
            };
            if let Some(cap) = cap
                && !self.has(cap)
            {
                return Err(tpos.err(format!(
                    "unknown tagged argument \":{t}\" for {owner}{}",
                    hint(cap)
                )));
            }
            if !out.positional.is_empty() {
                return Err(tpos.err(format!(
                    "tagged argument \":{t}\" must come before positional arguments"
                )));
            }
            let param = match kind {
                TagArg::Flag => None,
                _ => {
                    let p = it.next().cloned();
                    let ok = matches!(
                        (&p, kind),
                        (Some(Arg::Number(..)), TagArg::Num)
                            | (Some(Arg::Str(_)), TagArg::Str | TagArg::List)
                            | (Some(Arg::List(..)), TagArg::List)
                    );
                    if !ok {
                        let what = match kind {
                            TagArg::Num => "a number",
                            TagArg::Str => "a string",
                            _ => "a string list",
                        };
                        return Err(tpos.err(format!("\":{t}\" must be followed by {what}")));
                    }
                    p
                }
            };
            if out.tags.insert(name, (*tpos, param)).is_some() {
                return Err(tpos.err(format!("\":{t}\" given twice")));
            }
        }
        Ok(out)
    }

    /// A string argument as a Value (encoded-character decoded, template when variables).
    fn value(&self, l: &Lit) -> Result<Value, CompileError> {
        let s = if self.has("encoded-character") {
            strings::decode_encoded(&l.value, l.pos)?
        } else {
            l.value.clone()
        };
        if self.has("variables") {
            strings::template(&s, l.pos, self.limits.max_variable_name_len)
        } else {
            Ok(Value::Lit(s))
        }
    }

    fn values(&self, l: &[Lit]) -> Result<Vec<Value>, CompileError> {
        l.iter().map(|l| self.value(l)).collect()
    }

    fn pos_str(&self, a: &Args, i: usize, what: &str) -> Result<Lit, CompileError> {
        match a.positional.get(i) {
            Some(Arg::Str(l)) => Ok(l.clone()),
            Some(other) => Err(other
                .pos()
                .err(format!("{}: {what} must be a string", a.owner))),
            None => Err(a.pos.err(format!("{}: missing {what}", a.owner))),
        }
    }

    fn pos_list(&self, a: &Args, i: usize, what: &str) -> Result<Vec<Lit>, CompileError> {
        match a.positional.get(i) {
            Some(Arg::Str(l)) => Ok(vec![l.clone()]),
            Some(Arg::List(l, _)) => Ok(l.clone()),
            Some(other) => Err(other
                .pos()
                .err(format!("{}: {what} must be a string list", a.owner))),
            None => Err(a.pos.err(format!("{}: missing {what}", a.owner))),
        }
    }

    /// MATCH-TYPE, COMPARATOR and the key list (the last positional argument).
    fn matcher(&self, a: &mut Args, keys: Vec<Lit>) -> Result<Matcher, CompileError> {
        a.exclusive(&["is", "contains", "matches", "regex", "count", "value"])?;
        let cmp_lit = a.str("comparator");
        let kind = if a.flag("contains").is_some() {
            MatchKind::Contains
        } else if a.flag("matches").is_some() {
            MatchKind::Matches
        } else if a.flag("regex").is_some() {
            MatchKind::Regex
        } else if let Some(l) = a.str("count") {
            MatchKind::Count(rel(&l)?)
        } else if let Some(l) = a.str("value") {
            MatchKind::Value(rel(&l)?)
        } else {
            a.flag("is");
            MatchKind::Is
        };
        let cmp = match cmp_lit {
            None => Comparator::AsciiCasemap,
            Some(l) => match l.value.to_ascii_lowercase().as_str() {
                "i;octet" => Comparator::Octet,
                "i;ascii-casemap" => Comparator::AsciiCasemap,
                "i;ascii-numeric" if self.has("comparator-i;ascii-numeric") => {
                    Comparator::AsciiNumeric
                }
                "i;ascii-numeric" => {
                    return Err(l.pos.err(format!(
                        "comparator \"i;ascii-numeric\" not enabled{}",
                        hint("comparator-i;ascii-numeric")
                    )));
                }
                other => {
                    return Err(l.pos.err(format!("unknown comparator \"{other}\"")));
                }
            },
        };
        if cmp == Comparator::AsciiNumeric
            && matches!(
                kind,
                MatchKind::Contains | MatchKind::Matches | MatchKind::Regex
            )
        {
            return Err(a
                .pos
                .err("comparator \"i;ascii-numeric\" supports only :is, :count and :value"));
        }
        let vals = self.values(&keys)?;
        let mut regex = Vec::new();
        if kind == MatchKind::Regex {
            for (v, l) in vals.iter().zip(&keys) {
                regex.push(match v.as_lit() {
                    Some(s) => Some(
                        compile_regex(s, cmp)
                            .map_err(|e| l.pos.err(format!("bad regular expression: {e}")))?,
                    ),
                    None => None,
                });
            }
        }
        Ok(Matcher {
            cmp,
            kind,
            keys: vals,
            regex,
        })
    }

    fn addr_part(&self, a: &mut Args) -> Result<AddrPart, CompileError> {
        a.exclusive(&["all", "localpart", "domain", "user", "detail"])?;
        Ok(if a.flag("localpart").is_some() {
            AddrPart::Local
        } else if a.flag("domain").is_some() {
            AddrPart::Domain
        } else if a.flag("user").is_some() {
            AddrPart::User
        } else if a.flag("detail").is_some() {
            AddrPart::Detail
        } else {
            a.flag("all");
            AddrPart::All
        })
    }

    fn index(&self, a: &mut Args) -> Result<Option<Index>, CompileError> {
        let last = a.has("last");
        match a.num("index") {
            Some(0) => Err(a.pos.err(":index must be 1 or more")),
            Some(n) => Ok(Some(Index {
                n,
                last: a.flag("last").is_some(),
            })),
            None => match last {
                Some(p) => Err(p.err(":last needs :index")),
                None => Ok(None),
            },
        }
    }

    fn header_names(&self, l: &[Lit]) -> Result<Vec<Value>, CompileError> {
        for h in l {
            let literal = !self.has("variables") || !h.value.contains("${");
            let valid = !h.value.is_empty()
                && h.value
                    .bytes()
                    .all(|b| (33..=126).contains(&b) && b != b':');
            if literal && !valid {
                return Err(h.pos.err(format!("invalid header name \"{}\"", h.value)));
            }
        }
        self.values(l)
    }
}

fn rel(l: &Lit) -> Result<Rel, CompileError> {
    Ok(match l.value.to_ascii_lowercase().as_str() {
        "gt" => Rel::Gt,
        "ge" => Rel::Ge,
        "lt" => Rel::Lt,
        "le" => Rel::Le,
        "eq" => Rel::Eq,
        "ne" => Rel::Ne,
        _ => {
            return Err(l.pos.err(format!(
                "invalid relational operator \"{}\" (gt, ge, lt, le, eq, ne)",
                l.value
            )));
        }
    })
}

/// Compiles a `:regex` key (the `regex` crate's syntax, close to POSIX ERE; see crate docs).
/// `i;ascii-casemap` makes it case-insensitive.
pub(crate) fn compile_regex(s: &str, cmp: Comparator) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(s)
        .case_insensitive(cmp == Comparator::AsciiCasemap)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
}

/// The addr-spec inside `"Name" <addr>` or the whole string.
pub(crate) fn mailbox_of(s: &str) -> String {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim().to_string(),
        _ => s.trim().to_string(),
    }
}

/// A plausible `local@domain` address (RFC 5228 §4.2 requires redirect addresses to be
/// checked).
pub(crate) fn valid_address(s: &str) -> bool {
    let Some((l, d)) = s.rsplit_once('@') else {
        return false;
    };
    !l.is_empty()
        && !d.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && d.split('.').all(|p| !p.is_empty())
}
