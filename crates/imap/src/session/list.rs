//! LIST with LIST-EXTENDED (RFC 5258): selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH,
//! SPECIAL-USE (RFC 6154); return options SUBSCRIBED, CHILDREN (RFC 3348), SPECIAL-USE and
//! STATUS (LIST-STATUS, RFC 5819); several patterns. And LSUB.
//!
//! What is listed is computed by [`list_entries`] from the store's mailboxes and the
//! subscriptions, as a pure function:
//!
//! - A parent that exists only through its children (`a` of `.a.b`) is `\Noselect` in a plain
//!   LIST and `\NonExistent` in an extended one (Dovecot does the same); a subscribed name
//!   that does not exist is `\NonExistent` (`LIST (SUBSCRIBED)`).
//! - `\HasChildren`/`\HasNoChildren` are always computed; special-use attributes are sent in a
//!   plain LIST and when SPECIAL-USE is asked for.
//! - With RECURSIVEMATCH, a name matching the pattern but not the selection is listed with
//!   `CHILDINFO` when a descendant meets the selection (RFC 5258 §3.5).
//! - REMOTE changes nothing: there are no remote mailboxes.

use std::collections::{BTreeMap, BTreeSet};

use mailstack_store::{MailboxInfo, SEPARATOR};

use super::convert::special_use;
use super::mailboxes::user;
use super::names::pattern_from_wire;
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{Data, ListAttr, ListItem, ListReturn, ListSelect, Response};

/// `%` matches within one level, `*` across levels; INBOX matches case-insensitively.
pub(super) fn matches(pattern: &[char], name: &[char], fold: bool) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..], fold)),
        Some(('%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != SEPARATOR)
            .any(|i| matches(rest, &name[i..], fold)),
        Some((&p, rest)) => match name.split_first() {
            Some((&n, nrest)) if p == n || (fold && p.eq_ignore_ascii_case(&n)) => {
                matches(rest, nrest, fold)
            }
            _ => false,
        },
    }
}

fn matches_any(patterns: &[Vec<char>], name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    patterns.iter().any(|p| matches(p, &chars, name == "INBOX"))
}

/// The proper ancestors of a name (`a.b.c` → `a`, `a.b`).
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(SEPARATOR).map(move |(i, _)| &name[..i])
}

fn is_descendant(name: &str, of: &str) -> bool {
    name.strip_prefix(of)
        .is_some_and(|rest| rest.starts_with(SEPARATOR))
}

/// INBOX first, then by name.
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    (a != "INBOX", a).cmp(&(b != "INBOX", b))
}

/// One LIST line to send, before encoding the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Store name (UTF-8).
    pub(super) name: String,
    pub(super) attributes: Vec<ListAttr>,
    pub(super) child_info: Vec<String>,
    /// A selectable mailbox: LIST-STATUS applies.
    pub(super) selectable: bool,
}

/// What a LIST command asks for, parsed.
#[derive(Debug, Clone, Default)]
pub(super) struct ListQuery {
    pub(super) select: ListSelect,
    pub(super) returns: ListReturn,
    /// Any LIST-EXTENDED syntax was used (options or several patterns).
    pub(super) extended: bool,
    /// Reference and pattern joined, as store characters.
    pub(super) patterns: Vec<Vec<char>>,
}

/// The LIST lines for these mailboxes and subscriptions.
pub(super) fn list_entries(
    boxes: &[MailboxInfo],
    subscribed: &[String],
    q: &ListQuery,
) -> Vec<Entry> {
    let existing: BTreeMap<&str, &MailboxInfo> =
        boxes.iter().map(|b| (b.name.as_str(), b)).collect();
    let subscribed: BTreeSet<&str> = subscribed.iter().map(String::as_str).collect();
    let real = |n: &str| existing.get(n).is_some_and(|b| b.selectable);
    let use_of = |n: &str| existing.get(n).and_then(|b| b.special_use);
    // The selection criteria, without RECURSIVEMATCH.
    let meets = |n: &str| {
        if q.select.subscribed && !subscribed.contains(n) {
            return false;
        }
        if q.select.special_use && !(real(n) && use_of(n).is_some()) {
            return false;
        }
        q.select.subscribed || existing.contains_key(n)
    };
    // Every name that could be listed: mailboxes, subscriptions and their parents.
    let mut universe: BTreeSet<&str> = existing.keys().copied().collect();
    for s in &subscribed {
        universe.insert(s);
        universe.extend(ancestors(s));
    }
    let criteria: Vec<String> = [
        (q.select.subscribed, "SUBSCRIBED"),
        (q.select.special_use, "SPECIAL-USE"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, c)| c.to_string())
    .collect();
    let show_use = q.returns.special_use || q.select.special_use || !q.extended;
    let show_subscribed = q.select.subscribed || q.returns.subscribed;
    let mut names: Vec<&str> = universe
        .into_iter()
        .filter(|n| matches_any(&q.patterns, n))
        .collect();
    names.sort_by(|a, b| order(a, b));
    let mut out = Vec::new();
    for name in names {
        let descendants_meeting: Vec<&str> = if q.select.recursive_match {
            existing
                .keys()
                .chain(subscribed.iter())
                .copied()
                .filter(|d| is_descendant(d, name) && meets(d))
                .collect()
        } else {
            Vec::new()
        };
        let child_meets = !descendants_meeting.is_empty();
        // A name that does not meet the selection is listed for a descendant that does only
        // when that descendant is not listed itself (RFC 5258 §3.5: no redundant CHILDINFO).
        if !meets(name)
            && !descendants_meeting
                .iter()
                .any(|d| !matches_any(&q.patterns, d))
        {
            continue;
        }
        let mut attributes = Vec::new();
        if !real(name) {
            attributes.push(if q.extended {
                ListAttr::NonExistent
            } else {
                ListAttr::NoSelect
            });
        }
        let has_children = existing.keys().any(|d| is_descendant(d, name));
        attributes.push(if has_children {
            ListAttr::HasChildren
        } else {
            ListAttr::HasNoChildren
        });
        if show_subscribed && subscribed.contains(name) {
            attributes.push(ListAttr::Subscribed);
        }
        if show_use
            && real(name)
            && let Some(u) = use_of(name)
        {
            attributes.push(ListAttr::SpecialUse(special_use(u)));
        }
        out.push(Entry {
            name: name.to_string(),
            attributes,
            child_info: if child_meets {
                criteria.clone()
            } else {
                Vec::new()
            },
            selectable: real(name),
        });
    }
    out
}

/// The LSUB lines (RFC 3501 §6.3.9): subscribed names matching the pattern, with no
/// attributes; with a pattern ending in `%`, their unsubscribed parents that match, as
/// `\Noselect`.
pub(super) fn lsub_entries(subscribed: &[String], pattern: &[char]) -> Vec<Entry> {
    let set: BTreeSet<&str> = subscribed.iter().map(String::as_str).collect();
    let mut out: BTreeMap<&str, bool> = BTreeMap::new();
    let patterns = [pattern.to_vec()];
    for s in &set {
        if matches_any(&patterns, s) {
            out.insert(s, false);
        }
        if pattern.last() == Some(&'%') {
            for a in ancestors(s) {
                if !set.contains(a) && matches_any(&patterns, a) {
                    out.insert(a, true);
                }
            }
        }
    }
    let mut names: Vec<(&str, bool)> = out.into_iter().collect();
    names.sort_by(|a, b| order(a.0, b.0));
    names
        .into_iter()
        .map(|(name, noselect)| Entry {
            name: name.to_string(),
            attributes: if noselect {
                vec![ListAttr::NoSelect]
            } else {
                Vec::new()
            },
            child_info: Vec::new(),
            selectable: false,
        })
        .collect()
}

impl<S: ImapStream> Session<S> {
    pub(super) async fn list(
        &mut self,
        select: ListSelect,
        reference: &str,
        patterns: &[String],
        returns: ListReturn,
    ) -> Done {
        let extended = select != ListSelect::default()
            || returns != ListReturn::default()
            || patterns.len() > 1;
        if patterns.len() == 1 && patterns[0].is_empty() {
            // The hierarchy delimiter and the root name.
            self.send(Response::Data(Data::List(ListItem {
                attributes: vec![ListAttr::NoSelect],
                delimiter: Some(SEPARATOR),
                name: String::new(),
                child_info: Vec::new(),
            })));
            return Done::ok("LIST completed");
        }
        let query = ListQuery {
            select,
            returns,
            extended,
            patterns: patterns
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| pattern_from_wire(&format!("{reference}{p}"), self.utf8_accept))
                .collect(),
        };
        let store = user(&self.user).store.clone();
        let boxes = match store.list_mailboxes().await {
            Ok(b) => b,
            Err(e) => return store_error(&e),
        };
        let subscribed = if query.select.subscribed || query.returns.subscribed {
            match store.subscriptions().await {
                Ok(s) => s,
                Err(e) => return store_error(&e),
            }
        } else {
            Vec::new()
        };
        let status_items = query.returns.status.clone();
        for entry in list_entries(&boxes, &subscribed, &query) {
            let wire = self.wire_name(&entry.name);
            self.send(Response::Data(Data::List(ListItem {
                attributes: entry.attributes,
                delimiter: Some(SEPARATOR),
                name: wire.clone(),
                child_info: entry.child_info,
            })));
            if let Some(items) = &status_items
                && entry.selectable
            {
                match self.status_values(&entry.name, items).await {
                    Ok(values) => self.send(Response::Data(Data::Status {
                        mailbox: wire,
                        items: values,
                    })),
                    Err(e) => {
                        tracing::warn!(error = %e, mailbox = %entry.name, "LIST-STATUS failed")
                    }
                }
            }
        }
        Done::ok("LIST completed")
    }

    pub(super) async fn lsub(&mut self, reference: &str, pattern: &str) -> Done {
        if pattern.is_empty() {
            self.send(Response::Data(Data::Lsub(ListItem {
                attributes: vec![ListAttr::NoSelect],
                delimiter: Some(SEPARATOR),
                name: String::new(),
                child_info: Vec::new(),
            })));
            return Done::ok("LSUB completed");
        }
        let pattern = pattern_from_wire(&format!("{reference}{pattern}"), self.utf8_accept);
        let subscribed = match user(&self.user).store.subscriptions().await {
            Ok(s) => s,
            Err(e) => return store_error(&e),
        };
        for entry in lsub_entries(&subscribed, &pattern) {
            let name = self.wire_name(&entry.name);
            self.send(Response::Data(Data::Lsub(ListItem {
                attributes: entry.attributes,
                delimiter: Some(SEPARATOR),
                name,
                child_info: Vec::new(),
            })));
        }
        Done::ok("LSUB completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailstack_store::SpecialUse as Use;

    fn m(p: &str, n: &str) -> bool {
        let p: Vec<char> = p.chars().collect();
        let n: Vec<char> = n.chars().collect();
        matches(&p, &n, false)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "Work.Projects"));
        assert!(m("%", "Work"));
        assert!(!m("%", "Work.Projects"));
        assert!(m("Work.%", "Work.Projects"));
        assert!(m("W*s", "Work.Projects"));
        assert!(!m("Sent", "Sent.x"));
        assert!(matches(
            &['i', 'n', 'b', 'o', 'x'],
            &['I', 'N', 'B', 'O', 'X'],
            true
        ));
    }

    fn mb(name: &str, selectable: bool, children: bool, u: Option<Use>) -> MailboxInfo {
        MailboxInfo {
            name: name.into(),
            has_children: children,
            selectable,
            special_use: u,
        }
    }

    /// RFC 5258 §5 example 9's hierarchy.
    fn example9() -> (Vec<MailboxInfo>, Vec<String>) {
        let boxes = [
            "INBOX",
            "foo2",
            "foo2.bar1",
            "foo2.bar2",
            "baz2",
            "baz2.bar2",
            "baz2.bar22",
            "baz2.bar222",
            "eps2",
            "eps2.mamba",
            "qux2",
            "qux2.bar2",
        ]
        .iter()
        .map(|n| mb(n, *n != "qux2", false, None))
        .collect();
        let subs = [
            "foo2.bar1",
            "foo2.bar2",
            "baz2.bar2",
            "baz2.bar22",
            "baz2.bar222",
            "eps2",
            "eps2.mamba",
            "qux2.bar2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        (boxes, subs)
    }

    fn q(select: ListSelect, pattern: &str) -> ListQuery {
        ListQuery {
            select,
            returns: ListReturn::default(),
            extended: true,
            patterns: vec![pattern.chars().collect()],
        }
    }

    fn show(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let mut s = format!("{} {:?}", e.name, e.attributes);
                if !e.child_info.is_empty() {
                    s.push_str(" CHILDINFO");
                }
                s
            })
            .collect()
    }

    #[test]
    fn recursivematch_childinfo_as_in_rfc5258_example_9() {
        let (boxes, subs) = example9();
        let select = ListSelect {
            subscribed: true,
            recursive_match: true,
            ..ListSelect::default()
        };
        let got = show(&list_entries(&boxes, &subs, &q(select, "*2")));
        let sub = "Subscribed";
        // baz2 and qux2 would be redundant (all their subscribed children are listed).
        let expect = [
            ("baz2.bar2", sub, false),
            ("baz2.bar22", sub, false),
            ("baz2.bar222", sub, false),
            ("eps2", sub, true),
            ("foo2", "[HasChildren]", true),
            ("foo2.bar2", sub, false),
            ("qux2.bar2", sub, false),
        ];
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        for ((name, attr, childinfo), line) in expect.iter().zip(&got) {
            assert!(line.starts_with(&format!("{name} ")), "{line}");
            assert!(line.contains(attr), "{line}");
            assert_eq!(line.ends_with("CHILDINFO"), *childinfo, "{line}");
        }
    }

    #[test]
    fn subscribed_selection_lists_nonexistent_names() {
        let boxes = vec![
            mb("INBOX", true, false, None),
            mb("Fruit", true, true, None),
        ];
        let subs = vec!["Fruit".to_string(), "Fruit.Peach".to_string()];
        let select = ListSelect {
            subscribed: true,
            ..ListSelect::default()
        };
        let got = list_entries(&boxes, &subs, &q(select, "*"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].name, "Fruit.Peach");
        assert!(got[1].attributes.contains(&ListAttr::NonExistent));
        assert!(got[1].attributes.contains(&ListAttr::Subscribed));
        assert!(!got[1].selectable);
    }

    #[test]
    fn implied_parents_and_special_use() {
        let boxes = vec![
            mb("INBOX", true, false, None),
            mb("Sent", true, false, Some(Use::Sent)),
            mb("a", false, true, None),
            mb("a.b", true, false, None),
        ];
        let mut plain = q(ListSelect::default(), "%");
        plain.extended = false;
        let got = list_entries(&boxes, &[], &plain);
        assert_eq!(
            show(&got),
            vec![
                "INBOX [HasNoChildren]",
                "Sent [HasNoChildren, SpecialUse(Sent)]",
                "a [NoSelect, HasChildren]",
            ]
        );
        let got = list_entries(&boxes, &[], &q(ListSelect::default(), "%"));
        assert_eq!(show(&got)[1], "Sent [HasNoChildren]");
        assert_eq!(show(&got)[2], "a [NonExistent, HasChildren]");
        let select = ListSelect {
            special_use: true,
            ..ListSelect::default()
        };
        let got = list_entries(&boxes, &[], &q(select, "*"));
        assert_eq!(show(&got), vec!["Sent [HasNoChildren, SpecialUse(Sent)]"]);
    }

    #[test]
    fn lsub_with_percent_shows_unsubscribed_parents_as_noselect() {
        let subs = vec!["INBOX".to_string(), "a.b.c".to_string(), "x".to_string()];
        let pat = |p: &str| p.chars().collect::<Vec<_>>();
        assert_eq!(
            show(&lsub_entries(&subs, &pat("%"))),
            vec!["INBOX []", "a [NoSelect]", "x []"]
        );
        assert_eq!(
            show(&lsub_entries(&subs, &pat("*"))),
            vec!["INBOX []", "a.b.c []", "x []"]
        );
    }
}
