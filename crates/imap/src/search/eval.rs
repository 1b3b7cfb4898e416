//! SEARCH: compile a [`SearchKey`] against a snapshot, then evaluate it message by message,
//! first from the index alone and, only when that cannot decide, from the parsed message.

use mailstack_store::{Flag, MessageMeta};

use super::key::{Date, SearchKey, SeqBound, SequenceSet};
use super::message::{Need, View, parse, read_message};
use super::text::{fold, header_day, utc_date};
use super::{MAX_KEY_DEPTH, MessageLoader, SearchContext, SearchError};

/// Which date a date key compares.
#[derive(Debug, Clone, Copy)]
enum DateOf {
    Internal,
    Sent,
    Saved,
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Before,
    On,
    Since,
}

/// Sorted, merged, inclusive ranges.
#[derive(Debug)]
struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    fn new(mut v: Vec<(u32, u32)>) -> Ranges {
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Ranges(out)
    }

    fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|r| r.1 < n);
        self.0.get(i).is_some_and(|r| r.0 <= n)
    }
}

/// A compiled search key: needles folded, sets resolved.
#[derive(Debug)]
enum Node {
    Const(bool),
    Flag(Flag, bool),
    Recent(bool),
    New,
    Keyword(String, bool),
    /// A header field (lower-case name) containing a folded needle; "" = the field exists.
    Field(String, String),
    Body(String),
    Text(String),
    Date(DateOf, Cmp, Date),
    Older(u64),
    Younger(u64),
    Larger(u64),
    Smaller(u64),
    Uids(Ranges),
    Seqs(Ranges),
    ModSeq(u64),
    EmailId(String),
    ThreadId(String),
    Not(Box<Node>),
    Or(Box<Node>, Box<Node>),
    And(Vec<Node>),
}

impl Node {
    /// The header fields this node reads, when fields are all it reads of a message's content
    /// (then a field cache can answer it); `None` when it needs more (a sent date, the body).
    fn cached_fields(&self) -> Option<Vec<String>> {
        fn collect(node: &Node, out: &mut Vec<String>) -> bool {
            match node {
                Node::Field(name, _) => {
                    out.push(name.clone());
                    true
                }
                Node::Date(DateOf::Sent, ..) | Node::Body(_) | Node::Text(_) => false,
                Node::Not(n) => collect(n, out),
                Node::Or(a, b) => collect(a, out) && collect(b, out),
                Node::And(v) => v.iter().all(|n| collect(n, out)),
                _ => true,
            }
        }
        let mut names = Vec::new();
        collect(self, &mut names).then(|| {
            names.sort_unstable();
            names.dedup();
            names
        })
    }

    fn need(&self) -> Need {
        match self {
            Node::Field(..) | Node::Date(DateOf::Sent, ..) => Need::Headers,
            Node::Body(_) | Node::Text(_) => Need::Full,
            Node::Not(n) => n.need(),
            Node::Or(a, b) => a.need().max(b.need()),
            Node::And(v) => v.iter().map(Node::need).max().unwrap_or(Need::Nothing),
            _ => Need::Nothing,
        }
    }
}

fn resolve(set: &SequenceSet, largest: u32, ctx: &SearchContext<'_>) -> Node {
    match set {
        SequenceSet::Saved => Node::Uids(Ranges::new(
            ctx.saved
                .unwrap_or_default()
                .iter()
                .map(|&u| (u, u))
                .collect(),
        )),
        SequenceSet::Ranges(v) => {
            let n = |b: &SeqBound| match b {
                SeqBound::Value(n) => *n,
                SeqBound::Largest => largest,
            };
            let ranges = v
                .iter()
                .map(|(a, b)| {
                    let (a, b) = (n(a), n(b));
                    (a.min(b), a.max(b))
                })
                .collect();
            Node::Seqs(Ranges::new(ranges))
        }
    }
}

fn compile(ctx: &SearchContext<'_>, key: &SearchKey, depth: usize) -> Result<Node, SearchError> {
    if depth > MAX_KEY_DEPTH {
        return Err(SearchError::TooComplex);
    }
    let field = |name: &str, s: &str| Node::Field(name.to_string(), fold(s));
    Ok(match key {
        SearchKey::All | SearchKey::SaveDateSupported => Node::Const(true),
        SearchKey::Answered(b) => Node::Flag(Flag::Answered, *b),
        SearchKey::Deleted(b) => Node::Flag(Flag::Deleted, *b),
        SearchKey::Draft(b) => Node::Flag(Flag::Draft, *b),
        SearchKey::Flagged(b) => Node::Flag(Flag::Flagged, *b),
        SearchKey::Seen(b) => Node::Flag(Flag::Seen, *b),
        SearchKey::New => Node::New,
        SearchKey::Old => Node::Recent(false),
        SearchKey::Recent => Node::Recent(true),
        SearchKey::Keyword(k, b) => Node::Keyword(k.clone(), *b),
        SearchKey::Bcc(s) => field("bcc", s),
        SearchKey::Cc(s) => field("cc", s),
        SearchKey::From(s) => field("from", s),
        SearchKey::Subject(s) => field("subject", s),
        SearchKey::To(s) => field("to", s),
        SearchKey::Header(name, s) => field(&name.to_ascii_lowercase(), s),
        SearchKey::Body(s) => Node::Body(fold(s)),
        SearchKey::Text(s) => Node::Text(fold(s)),
        SearchKey::Before(d) => Node::Date(DateOf::Internal, Cmp::Before, *d),
        SearchKey::On(d) => Node::Date(DateOf::Internal, Cmp::On, *d),
        SearchKey::Since(d) => Node::Date(DateOf::Internal, Cmp::Since, *d),
        SearchKey::SentBefore(d) => Node::Date(DateOf::Sent, Cmp::Before, *d),
        SearchKey::SentOn(d) => Node::Date(DateOf::Sent, Cmp::On, *d),
        SearchKey::SentSince(d) => Node::Date(DateOf::Sent, Cmp::Since, *d),
        SearchKey::SavedBefore(d) => Node::Date(DateOf::Saved, Cmp::Before, *d),
        SearchKey::SavedOn(d) => Node::Date(DateOf::Saved, Cmp::On, *d),
        SearchKey::SavedSince(d) => Node::Date(DateOf::Saved, Cmp::Since, *d),
        SearchKey::Older(n) => Node::Older(*n),
        SearchKey::Younger(n) => Node::Younger(*n),
        SearchKey::Larger(n) => Node::Larger(*n),
        SearchKey::Smaller(n) => Node::Smaller(*n),
        SearchKey::Uid(set) => {
            let largest = ctx.messages.iter().map(|m| m.uid).max().unwrap_or(0);
            match resolve(set, largest, ctx) {
                Node::Seqs(r) => Node::Uids(r),
                other => other,
            }
        }
        SearchKey::Sequence(set) => {
            let largest = u32::try_from(ctx.messages.len()).unwrap_or(u32::MAX);
            resolve(set, largest, ctx)
        }
        SearchKey::ModSeq(n) => Node::ModSeq(*n),
        SearchKey::EmailId(id) => Node::EmailId(id.clone()),
        SearchKey::ThreadId(id) => Node::ThreadId(id.clone()),
        SearchKey::Not(k) => match compile(ctx, k, depth + 1)? {
            Node::Const(b) => Node::Const(!b),
            n => Node::Not(Box::new(n)),
        },
        SearchKey::Or(a, b) => Node::Or(
            Box::new(compile(ctx, a, depth + 1)?),
            Box::new(compile(ctx, b, depth + 1)?),
        ),
        SearchKey::And(keys) => {
            let mut v = Vec::with_capacity(keys.len());
            for k in keys {
                match compile(ctx, k, depth + 1)? {
                    Node::Const(true) => {}
                    Node::And(inner) => v.extend(inner),
                    n => v.push(n),
                }
            }
            // Index-only keys first: they decide most messages without opening them.
            v.sort_by_key(Node::need);
            match v.len() {
                0 => Node::Const(true),
                1 => v.pop().unwrap_or(Node::Const(true)),
                _ => Node::And(v),
            }
        }
    })
}

fn compare(cmp: Cmp, have: Date, want: Date) -> bool {
    match cmp {
        Cmp::Before => have < want,
        Cmp::On => have == want,
        Cmp::Since => have >= want,
    }
}

/// Evaluate `node` for the message at index `i`. `None`: the answer needs the message content
/// and `view` is `None`.
fn eval(
    ctx: &SearchContext<'_>,
    node: &Node,
    i: usize,
    meta: &MessageMeta,
    view: Option<&View<'_>>,
) -> Option<bool> {
    Some(match node {
        Node::Const(b) => *b,
        Node::Flag(f, want) => meta.flags.contains(f) == *want,
        Node::Recent(want) => ctx.is_recent(meta.uid) == *want,
        Node::New => ctx.is_recent(meta.uid) && !meta.flags.contains(&Flag::Seen),
        Node::Keyword(k, want) => {
            meta.keywords
                .iter()
                .any(|have| have.eq_ignore_ascii_case(k))
                == *want
        }
        Node::Field(name, needle) => view?.field_contains(name, needle),
        Node::Body(needle) => view?.folded_body().contains(needle.as_str()),
        Node::Text(needle) => {
            let v = view?;
            v.folded_headers().contains(needle.as_str())
                || v.folded_body().contains(needle.as_str())
        }
        Node::Date(of, cmp, want) => {
            let have = match of {
                DateOf::Internal => utc_date(meta.internal_date),
                DateOf::Saved => utc_date(meta.save_date),
                DateOf::Sent => match view?.sent_date() {
                    Some(dt) => header_day(&dt),
                    None => utc_date(meta.internal_date),
                },
            };
            compare(*cmp, have, *want)
        }
        Node::Older(n) => ctx.now.saturating_sub(meta.internal_date) > clamp(*n),
        Node::Younger(n) => ctx.now.saturating_sub(meta.internal_date) <= clamp(*n),
        Node::Larger(n) => meta.vsize > *n,
        Node::Smaller(n) => meta.vsize < *n,
        Node::Uids(r) => r.contains(meta.uid),
        Node::Seqs(r) => r.contains(u32::try_from(i + 1).unwrap_or(u32::MAX)),
        Node::ModSeq(n) => meta.modseq >= *n,
        Node::EmailId(id) => ctx
            .object_ids
            .and_then(|o| o.email_id(meta))
            .is_some_and(|have| have == *id),
        Node::ThreadId(id) => ctx
            .object_ids
            .and_then(|o| o.thread_id(meta))
            .is_some_and(|have| have == *id),
        Node::Not(n) => !eval(ctx, n, i, meta, view)?,
        Node::Or(a, b) => match eval(ctx, a, i, meta, view) {
            Some(true) => true,
            Some(false) => eval(ctx, b, i, meta, view)?,
            None => match eval(ctx, b, i, meta, view) {
                Some(true) => true,
                _ => return None,
            },
        },
        Node::And(v) => {
            let mut unknown = false;
            for n in v {
                match eval(ctx, n, i, meta, view) {
                    Some(false) => return Some(false),
                    Some(true) => {}
                    None => unknown = true,
                }
            }
            if unknown {
                return None;
            }
            true
        }
    })
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// SEARCH: the UIDs of the messages of `ctx` matching `key`, in sequence order.
///
/// Keys that the index answers never open a message; other keys read each undecided message
/// once (its header block, or all of it for `BODY`/`TEXT`), parse it and drop it before the
/// next one.
pub fn search(
    ctx: &SearchContext<'_>,
    key: &SearchKey,
    loader: &mut dyn MessageLoader,
) -> Result<Vec<u32>, SearchError> {
    let node = compile(ctx, key, 0)?;
    let need = node.need();
    let cached = ctx
        .fields
        .and_then(|source| Some((source, node.cached_fields()?)));
    let mut out = Vec::new();
    for (i, meta) in ctx.messages.iter().enumerate() {
        let hit = match eval(ctx, &node, i, meta, None) {
            Some(b) => b,
            None => {
                if let Some((source, names)) = &cached {
                    let view = match source.cache.get_all(source.folder, names, meta.uid) {
                        Some(fields) => View::from_cached_fields(fields),
                        None => {
                            let raw = read_message(loader, meta, need, ctx.max_message_bytes)?;
                            let parsed = View::new(raw.as_deref().and_then(|r| parse(r, need)));
                            let fields: Vec<_> = names
                                .iter()
                                .map(|n| (n.clone(), parsed.field_strings(n)))
                                .collect();
                            // A vanished file is not remembered as a message without fields.
                            if raw.is_some() {
                                source.cache.put(source.folder, meta.uid, &fields);
                            }
                            View::from_cached_fields(fields)
                        }
                    };
                    eval(ctx, &node, i, meta, Some(&view)).unwrap_or(false)
                } else {
                    let raw = read_message(loader, meta, need, ctx.max_message_bytes)?;
                    let view = View::new(raw.as_deref().and_then(|r| parse(r, need)));
                    eval(ctx, &node, i, meta, Some(&view)).unwrap_or(false)
                }
            }
        };
        if hit {
            out.push(meta.uid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_contain() {
        let r = Ranges::new(vec![(5, 7), (1, 2), (3, 3), (10, 12), (11, 20)]);
        assert_eq!(r.0, vec![(1, 3), (5, 7), (10, 20)]);
        assert!(r.contains(1) && r.contains(7) && r.contains(15) && r.contains(20));
        assert!(!r.contains(0) && !r.contains(4) && !r.contains(8) && !r.contains(21));
    }
}
