//! THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::key::ThreadAlgorithm;
use super::message::{Need, View, parse, read_message};
use super::sort::sent_date;
use super::text::{base_subject, sort_fold};
use super::{MessageLoader, SearchContext, SearchError};

/// Branching deeper than this is flattened (the rest of a too-deep subtree is listed as a
/// chain), so that hostile References headers cannot make rendering or dropping a thread
/// recurse without bound.
pub const MAX_THREAD_DEPTH: usize = 128;

/// One thread, shaped like RFC 5256's `thread-list`: `messages` is a chain (each message is the
/// parent of the next), `children` are the sub-threads under the last message of the chain
/// (never exactly one: a single child continues the chain). A thread with no `messages` is a
/// dummy root holding two or more `children` (rendered `((3)(5))`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Thread {
    /// UIDs, parent first.
    pub messages: Vec<u32>,
    /// Replies to the last message of `messages` (or the members of a dummy root).
    pub children: Vec<Thread>,
}

impl Thread {
    /// A thread with only a chain of messages.
    pub fn chain(messages: Vec<u32>) -> Thread {
        Thread {
            messages,
            children: Vec::new(),
        }
    }

    /// Every UID of the thread, depth first.
    pub fn uids(&self) -> Vec<u32> {
        let mut out = self.messages.clone();
        for c in &self.children {
            out.extend(c.uids());
        }
        out
    }

    fn write(&self, out: &mut String, map: &dyn Fn(u32) -> u32) {
        for (i, &uid) in self.messages.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{}", map(uid));
        }
        if self.children.len() == 1 {
            if !self.messages.is_empty() {
                out.push(' ');
            }
            self.children[0].write(out, map);
            return;
        }
        if !self.messages.is_empty() && !self.children.is_empty() {
            out.push(' ');
        }
        for c in &self.children {
            out.push('(');
            c.write(out, map);
            out.push(')');
        }
    }
}

/// The THREAD response data (without `* THREAD `): each thread as a parenthesised list, UIDs
/// mapped through `map` (identity for UID THREAD, UID → sequence number for THREAD).
/// `[Thread{[3,6],[Thread{[4,23]}, Thread{[44,7,96]}]}]` renders as `(3 6 (4 23)(44 7 96))`.
pub fn format_threads(threads: &[Thread], map: impl Fn(u32) -> u32) -> String {
    let mut out = String::new();
    for t in threads {
        out.push('(');
        t.write(&mut out, &map);
        out.push(')');
    }
    out
}

/// What threading needs of one message.
struct Info {
    pos: usize,
    uid: u32,
    sent: i64,
    subject: String,
    reply: bool,
    id: Option<String>,
    refs: Vec<String>,
}

fn infos(
    ctx: &SearchContext<'_>,
    uids: &[u32],
    loader: &mut dyn MessageLoader,
) -> Result<Vec<Info>, SearchError> {
    let mut positions = ctx.positions(uids);
    positions.sort_unstable();
    let mut out = Vec::with_capacity(positions.len());
    for pos in positions {
        let meta = &ctx.messages[pos];
        let raw = read_message(loader, meta, Need::Headers, ctx.max_message_bytes)?;
        let view = View::new(raw.as_deref().and_then(|r| parse(r, Need::Headers)));
        let (subject, reply) = base_subject(&view.subject());
        let mut refs = view.ids("references");
        if refs.is_empty() {
            refs = view.ids("in-reply-to").into_iter().take(1).collect();
        }
        out.push(Info {
            pos,
            uid: meta.uid,
            sent: sent_date(meta, &view),
            subject: sort_fold(&subject),
            reply,
            id: view.ids("message-id").into_iter().next(),
            refs,
        });
    }
    Ok(out)
}

/// THREAD: the messages `uids` (UIDs of the snapshot; others are ignored) as threads, in UIDs.
pub fn thread(
    ctx: &SearchContext<'_>,
    algorithm: ThreadAlgorithm,
    uids: &[u32],
    loader: &mut dyn MessageLoader,
) -> Result<Vec<Thread>, SearchError> {
    let infos = infos(ctx, uids, loader)?;
    Ok(match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(&infos),
        ThreadAlgorithm::References => references(&infos),
    })
}

fn ordered_subject(infos: &[Info]) -> Vec<Thread> {
    let mut order: Vec<&Info> = infos.iter().collect();
    order.sort_by(|a, b| (&a.subject, a.sent, a.pos).cmp(&(&b.subject, b.sent, b.pos)));
    let mut groups: Vec<Vec<&Info>> = Vec::new();
    for info in order {
        match groups.last_mut() {
            Some(g) if g[0].subject == info.subject => g.push(info),
            _ => groups.push(vec![info]),
        }
    }
    groups.sort_by_key(|g| (g[0].sent, g[0].pos));
    groups
        .into_iter()
        .map(|g| {
            if g.len() <= 2 {
                Thread::chain(g.iter().map(|i| i.uid).collect())
            } else {
                Thread {
                    messages: vec![g[0].uid],
                    children: g[1..].iter().map(|i| Thread::chain(vec![i.uid])).collect(),
                }
            }
        })
        .collect()
}

/// A container of the REFERENCES algorithm; `msg` is an index into the infos, `None` for a
/// dummy.
struct Cont {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Arena(Vec<Cont>);

impl Arena {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.0.push(Cont {
            msg,
            parent: None,
            children: Vec::new(),
        });
        self.0.len() - 1
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.0[n].msg.is_none()
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        if self.0[a].children.is_empty() {
            return a == b;
        }
        let mut cur = Some(b);
        while let Some(n) = cur {
            if n == a {
                return true;
            }
            cur = self.0[n].parent;
        }
        false
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.0[child].parent = Some(parent);
        self.0[parent].children.push(child);
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.0[child].parent.take() {
            self.0[p].children.retain(|&c| c != child);
        }
    }

    /// Nodes under `roots`, children before their parents.
    fn post_order(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((n, done)) = stack.pop() {
            if done {
                out.push(n);
            } else {
                stack.push((n, true));
                stack.extend(self.0[n].children.iter().rev().map(|&c| (c, false)));
            }
        }
        out
    }
}

fn references(infos: &[Info]) -> Vec<Thread> {
    let mut arena = Arena(Vec::with_capacity(infos.len() * 2));
    let mut table: HashMap<&str, usize> = HashMap::new();
    // (1) link messages by Message-ID / References / In-Reply-To (infos are in sequence order,
    // so a duplicate Message-ID stays with its lowest-numbered message).
    for (mi, info) in infos.iter().enumerate() {
        let me = match info.id.as_deref() {
            Some(id) => match table.get(id) {
                Some(&c) if arena.is_dummy(c) => {
                    arena.0[c].msg = Some(mi);
                    c
                }
                Some(_) => arena.add(Some(mi)),
                None => {
                    let c = arena.add(Some(mi));
                    table.insert(id, c);
                    c
                }
            },
            None => arena.add(Some(mi)),
        };
        let refs: Vec<usize> = info
            .refs
            .iter()
            .map(|r| match table.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = arena.add(None);
                    table.insert(r, c);
                    c
                }
            })
            .collect();
        // (1A) chain the references; keep existing parents, never make a loop.
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if arena.0[c].parent.is_none() && !arena.is_ancestor(c, p) {
                arena.link(p, c);
            }
        }
        // (1B) the last reference is the parent of this message.
        arena.unlink(me);
        if let Some(&p) = refs.last()
            && !arena.is_ancestor(me, p)
        {
            arena.link(p, me);
        }
    }
    drop(table);
    // (2) the root set.
    let roots: Vec<usize> = (0..arena.0.len())
        .filter(|&n| arena.0[n].parent.is_none())
        .collect();
    // (4) prune dummies, children first.
    for n in arena.post_order(&roots) {
        let old = std::mem::take(&mut arena.0[n].children);
        let mut new = Vec::with_capacity(old.len());
        for c in old {
            if arena.is_dummy(c) {
                for gc in std::mem::take(&mut arena.0[c].children) {
                    arena.0[gc].parent = Some(n);
                    new.push(gc);
                }
                arena.0[c].parent = None;
            } else {
                new.push(c);
            }
        }
        arena.0[n].children = new;
    }
    let mut roots: Vec<usize> = roots
        .into_iter()
        .filter_map(|r| {
            if !arena.is_dummy(r) {
                return Some(r);
            }
            match arena.0[r].children.len() {
                0 => None,
                1 => {
                    let c = arena.0[r].children[0];
                    arena.0[c].parent = None;
                    Some(c)
                }
                _ => Some(r),
            }
        })
        .collect();
    // (5) gather roots with the same base subject.
    let subject_msg = |arena: &Arena, n: usize| -> Option<usize> {
        let m = match arena.0[n].msg {
            Some(m) => m,
            None => arena.0[*arena.0[n].children.first()?].msg?,
        };
        (!infos[m].subject.is_empty()).then_some(m)
    };
    let reply = |arena: &Arena, n: usize| arena.0[n].msg.is_some_and(|m| infos[m].reply);
    let mut subjects: HashMap<&str, usize> = HashMap::new();
    for &r in &roots {
        let Some(m) = subject_msg(&arena, r) else {
            continue;
        };
        let s = infos[m].subject.as_str();
        match subjects.get(s) {
            None => {
                subjects.insert(s, r);
            }
            Some(&t) => {
                if !arena.is_dummy(t)
                    && (arena.is_dummy(r) || (reply(&arena, t) && !reply(&arena, r)))
                {
                    subjects.insert(s, r);
                }
            }
        }
    }
    let mut removed = vec![false; arena.0.len()];
    let initial = roots.len();
    for i in 0..initial {
        let r = roots[i];
        if removed[r] {
            continue;
        }
        let Some(m) = subject_msg(&arena, r) else {
            continue;
        };
        let s = infos[m].subject.as_str();
        let Some(&t) = subjects.get(s) else {
            continue;
        };
        if t == r {
            continue;
        }
        match (arena.is_dummy(t), arena.is_dummy(r)) {
            (true, true) => {
                for c in std::mem::take(&mut arena.0[r].children) {
                    arena.link(t, c);
                }
                removed[r] = true;
            }
            (true, false) => {
                arena.link(t, r);
                removed[r] = true;
            }
            (false, true) => {
                arena.link(r, t);
                removed[t] = true;
                subjects.insert(s, r);
            }
            (false, false) if reply(&arena, r) && !reply(&arena, t) => {
                arena.link(t, r);
                removed[r] = true;
            }
            (false, false) => {
                let d = arena.add(None);
                removed.push(false);
                arena.link(d, t);
                arena.link(d, r);
                removed[t] = true;
                removed[r] = true;
                roots.push(d);
                subjects.insert(s, d);
            }
        }
    }
    roots.retain(|&r| !removed[r]);
    // (6) sort siblings by sent date (then sequence number); a dummy sorts as its first child.
    let mut keys: Vec<(i64, usize)> = vec![(0, 0); arena.0.len()];
    for n in arena.post_order(&roots) {
        let mut children = std::mem::take(&mut arena.0[n].children);
        children.sort_by_key(|&c| keys[c]);
        keys[n] = match arena.0[n].msg {
            Some(m) => (infos[m].sent, infos[m].pos),
            None => children.first().map(|&c| keys[c]).unwrap_or((i64::MAX, 0)),
        };
        arena.0[n].children = children;
    }
    roots.sort_by_key(|&r| keys[r]);
    roots.iter().map(|&r| build(&arena, infos, r, 0)).collect()
}

/// Convert a container tree into the chain-shaped [`Thread`].
fn build(arena: &Arena, infos: &[Info], node: usize, depth: usize) -> Thread {
    let mut t = Thread::default();
    let mut cur = node;
    loop {
        if let Some(m) = arena.0[cur].msg {
            t.messages.push(infos[m].uid);
        }
        let children = &arena.0[cur].children;
        match children.len() {
            0 => return t,
            1 => cur = children[0],
            _ if depth >= MAX_THREAD_DEPTH => {
                let mut stack: Vec<usize> = children.iter().rev().copied().collect();
                while let Some(n) = stack.pop() {
                    if let Some(m) = arena.0[n].msg {
                        t.messages.push(infos[m].uid);
                    }
                    stack.extend(arena.0[n].children.iter().rev());
                }
                return t;
            }
            _ => {
                t.children = children
                    .iter()
                    .map(|&c| build(arena, infos, c, depth + 1))
                    .collect();
                return t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_rfc_example() {
        let t = Thread {
            messages: vec![3, 6],
            children: vec![Thread::chain(vec![4, 23]), Thread::chain(vec![44, 7, 96])],
        };
        let dummy = Thread {
            messages: vec![],
            children: vec![Thread::chain(vec![5]), Thread::chain(vec![8, 9])],
        };
        assert_eq!(
            format_threads(&[Thread::chain(vec![2]), t, dummy], |u| u),
            "(2)(3 6 (4 23)(44 7 96))((5)(8 9))"
        );
    }

    fn info(pos: usize, id: &str, refs: &[&str], subject: &str, sent: i64) -> Info {
        let (subject, reply) = base_subject(subject);
        Info {
            pos,
            uid: pos as u32 + 1,
            sent,
            subject: sort_fold(&subject),
            reply,
            id: (!id.is_empty()).then(|| id.to_string()),
            refs: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn references_loops_and_duplicates() {
        // 1 and 2 reference each other; 3 duplicates 1's Message-ID; 4 references itself.
        let infos = vec![
            info(0, "a", &["b"], "x", 10),
            info(1, "b", &["a"], "y", 20),
            info(2, "a", &[], "z", 30),
            info(3, "d", &["d"], "w", 40),
        ];
        let t = references(&infos);
        assert_eq!(format_threads(&t, |u| u), "(2 1)(3)(4)");
    }

    #[test]
    fn deep_chain_is_iterative_and_branches_are_capped() {
        let n = 20_000;
        let ids: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let infos: Vec<Info> = (0..n)
            .map(|i| {
                let refs: Vec<&str> = if i == 0 {
                    vec![]
                } else {
                    vec![ids[i - 1].as_str()]
                };
                info(i, &ids[i], &refs, "s", i as i64)
            })
            .collect();
        let t = references(&infos);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].messages.len(), n);
        assert!(t[0].children.is_empty());
    }

    fn depth(t: &Thread) -> usize {
        1 + t.children.iter().map(depth).max().unwrap_or(0)
    }

    #[test]
    fn deep_branching_is_flattened_below_the_cap() {
        // m{i} has two replies: the leaf l{i} and m{i+1}.
        let n = 1000;
        let mut infos = Vec::new();
        let (m, l) = (|i: usize| format!("m{i}"), |i: usize| format!("l{i}"));
        for i in 0..n {
            let pm = if i == 0 { String::new() } else { m(i - 1) };
            let refs: Vec<&str> = if i == 0 { vec![] } else { vec![pm.as_str()] };
            infos.push(info(infos.len(), &m(i), &refs, "s", 2 * i as i64));
            infos.push(info(
                infos.len(),
                &l(i),
                &[m(i).as_str()],
                "s",
                2 * i as i64 + 1,
            ));
        }
        let t = references(&infos);
        assert_eq!(t.len(), 1);
        assert_eq!(depth(&t[0]), MAX_THREAD_DEPTH + 1);
        let mut uids = t[0].uids();
        uids.sort_unstable();
        assert_eq!(uids, (1..=2 * n as u32).collect::<Vec<_>>());
        // Shallow part: m0 is followed by its leaf l0 (earlier) and m1.
        assert_eq!(t[0].messages, [1]);
        assert_eq!(t[0].children[0], Thread::chain(vec![2]));
        assert!(format_threads(&t, |u| u).starts_with("(1 (2)(3 (4)(5 "));
    }
}
