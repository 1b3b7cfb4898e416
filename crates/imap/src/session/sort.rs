//! `[UID] SORT` and `[UID] THREAD` (RFC 5256) over the session's view: the search keys select
//! the messages as for SEARCH (see [`super::search`]), then the evaluators of
//! [`crate::search`] order or thread them. The charset was checked and the search strings
//! decoded by the parser (UTF-8, US-ASCII, ISO-8859-1; others are `NO [BADCHARSET]`).

use super::reply::Done;
use super::search::{Snapshot, highest_modseq, uses_modseq};
use super::{ImapStream, Session};
use crate::proto::{Data, Response, ThreadNode};
use crate::search::Thread;
use crate::search::key::{SearchKey, SortCriterion, ThreadAlgorithm};

/// A thread as the response writer's tree: a chain of messages becomes nested single
/// children, a dummy root a node without id. `id` maps a UID to what the client asked for.
fn thread_node(thread: &Thread, id: &dyn Fn(u32) -> u32) -> ThreadNode {
    let children: Vec<ThreadNode> = thread.children.iter().map(|c| thread_node(c, id)).collect();
    let Some((&last, chain)) = thread.messages.split_last() else {
        return ThreadNode { id: None, children };
    };
    let mut node = ThreadNode {
        id: Some(id(last)),
        children,
    };
    for &uid in chain.iter().rev() {
        node = ThreadNode {
            id: Some(id(uid)),
            children: vec![node],
        };
    }
    node
}

/// Drop thread trees without recursion: a long reply chain is a deeply nested tree, and the
/// default drop would recurse once per message.
fn drop_iteratively(nodes: Vec<ThreadNode>) {
    let mut stack = nodes;
    while let Some(mut node) = stack.pop() {
        stack.append(&mut node.children);
    }
}

impl<S: ImapStream> Session<S> {
    /// `[UID] SORT (criteria) charset keys`: `* SORT ids`, with `(MODSEQ n)` when the keys use
    /// MODSEQ (RFC 7162 §3.1.5).
    pub(super) async fn sort(
        &mut self,
        uid_mode: bool,
        criteria: Vec<SortCriterion>,
        keys: SearchKey,
    ) -> Done {
        let with_modseq = uses_modseq(&keys);
        if with_modseq {
            self.enable_condstore();
        }
        let snapshot = Snapshot::of(self.sel());
        let sorted = snapshot
            .run(keys, move |ctx, found, loader| {
                crate::search::sort(ctx, &criteria, &found, loader)
            })
            .await;
        let sorted = match sorted {
            Ok(s) => s,
            Err(done) => return done,
        };
        let sel = self.sel();
        let mod_seq = with_modseq.then(|| highest_modseq(sel, &sorted)).flatten();
        let ids = sorted
            .iter()
            .filter_map(|&u| if uid_mode { Some(u) } else { sel.view.seq(u) })
            .collect();
        self.send(Response::Data(Data::Sort { ids, mod_seq }));
        Done::ok("SORT completed")
    }

    /// `[UID] THREAD algorithm charset keys`: `* THREAD (...)...`.
    pub(super) async fn thread(
        &mut self,
        uid_mode: bool,
        algorithm: ThreadAlgorithm,
        keys: SearchKey,
    ) -> Done {
        if uses_modseq(&keys) {
            self.enable_condstore();
        }
        let snapshot = Snapshot::of(self.sel());
        let threads = snapshot
            .run(keys, move |ctx, found, loader| {
                crate::search::thread(ctx, algorithm, &found, loader)
            })
            .await;
        let threads = match threads {
            Ok(t) => t,
            Err(done) => return done,
        };
        let sel = self.sel();
        // Every threaded UID is in the view (the snapshot is the view).
        let id = |u: u32| {
            if uid_mode {
                u
            } else {
                sel.view.seq(u).unwrap_or(0)
            }
        };
        let nodes: Vec<ThreadNode> = threads.iter().map(|t| thread_node(t, &id)).collect();
        let response = Response::Data(Data::Thread(nodes));
        response.write_to(&mut self.out);
        if let Response::Data(Data::Thread(nodes)) = response {
            drop_iteratively(nodes);
        }
        Done::ok("THREAD completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_become_writer_trees() {
        let t = Thread {
            messages: vec![3, 6],
            children: vec![
                Thread::chain(vec![4, 23]),
                Thread {
                    messages: vec![44],
                    children: vec![Thread::chain(vec![7]), Thread::chain(vec![96])],
                },
            ],
        };
        let dummy = Thread {
            messages: Vec::new(),
            children: vec![Thread::chain(vec![1]), Thread::chain(vec![2])],
        };
        let nodes = vec![thread_node(&t, &|u| u), thread_node(&dummy, &|u| u * 10)];
        let bytes = Response::Data(Data::Thread(nodes.clone())).to_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "* THREAD (3 6 (4 23)(44 (7)(96)))((10)(20))\r\n"
        );
        assert_eq!(
            crate::search::format_threads(&[t, dummy], |u| u),
            "(3 6 (4 23)(44 (7)(96)))((1)(2))"
        );
        drop_iteratively(nodes);
    }

    #[test]
    fn a_long_reply_chain_is_built_and_dropped_without_deep_recursion() {
        let chain = Thread::chain((1..=200_000).collect());
        let node = thread_node(&chain, &|u| u);
        let response = Response::Data(Data::Thread(vec![node]));
        let bytes = response.to_bytes();
        assert!(bytes.starts_with(b"* THREAD (1 2 3 "));
        assert!(bytes.ends_with(b" 199999 200000)\r\n"));
        if let Response::Data(Data::Thread(nodes)) = response {
            drop_iteratively(nodes);
        }
    }
}
