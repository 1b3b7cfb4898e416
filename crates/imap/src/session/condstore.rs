//! ENABLE (RFC 5161) and the session side of CONDSTORE / QRESYNC (RFC 7162).
//!
//! - ENABLE turns on CONDSTORE, QRESYNC (which implies CONDSTORE), IMAP4rev2 and UTF8=ACCEPT
//!   for the rest of the connection; `* ENABLED` names only what this command newly enabled.
//! - CONDSTORE is also enabled by the commands RFC 7162 §3.1 lists (SELECT/EXAMINE
//!   `(CONDSTORE)`, FETCH `MODSEQ` / `(CHANGEDSINCE n)`, SEARCH `MODSEQ`, STORE
//!   `(UNCHANGEDSINCE n)`); when that happens with a mailbox selected, `* OK [HIGHESTMODSEQ n]`
//!   follows. From then on every FETCH that reports a flag change carries UID and MODSEQ.
//! - QRESYNC: `SELECT box (QRESYNC (uidvalidity modseq [known-uids [seq-match]]))` answers,
//!   after the usual SELECT data, `* VANISHED (EARLIER)` for the known UIDs expunged since
//!   `modseq` and `* n FETCH (UID FLAGS MODSEQ)` for messages changed since; `UID FETCH ...
//!   (CHANGEDSINCE n VANISHED)` adds the same `VANISHED (EARLIER)` for its UID set. When the
//!   index's tombstones do not reach back to the client's MODSEQ (see
//!   [`mailstack_store::ModSeqChanges::complete`]), every known UID that is not in the mailbox
//!   is reported as vanished (narrowed by the client's seq-match pairs), and every known
//!   message as changed, as RFC 7162 §3.2.5 allows.
//! - With QRESYNC enabled, expunges are told as `* VANISHED uids`, never `* n EXPUNGE` (see
//!   `Selected::expunge_responses`). A SELECT that replaces a selected mailbox first says
//!   `* OK [CLOSED]`.

use mailstack_store::{MessageMeta, encode_mutf7};

use super::reply::{Done, store_error};
use super::selected::Selected;
use super::{ImapStream, Session};
use crate::proto::{
    Code, Data, FetchAttr, FetchModifiers, FetchValue, ListItem, NumberSet, QresyncParams,
    Response, SelectParams, StatusKind, StatusResponse,
};
use crate::search::key::{SeqBound, SequenceSet};

/// What the client enabled for the rest of the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Enabled {
    /// CONDSTORE: MODSEQ in flag-change FETCHes (RFC 7162 §3.1).
    pub(super) condstore: bool,
    /// QRESYNC: VANISHED instead of EXPUNGE, `[CLOSED]` (RFC 7162 §3.2).
    pub(super) qresync: bool,
    /// IMAP4rev2 (RFC 9051): ESEARCH for SEARCH, no `RECENT`, `[CLOSED]`.
    pub(super) imap4rev2: bool,
}

/// The capabilities the synchronisation and search commands add once logged in.
pub(super) const SYNC_CAPABILITIES: [&str; 8] = [
    "ENABLE",
    "CONDSTORE",
    "QRESYNC",
    "ESEARCH",
    "SEARCHRES",
    "SORT",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
];

/// `* OK [code] text`.
pub(super) fn untagged_ok(code: Code, text: &str) -> Response {
    Response::Status(StatusResponse {
        tag: None,
        kind: StatusKind::Ok,
        code: Some(code),
        text: text.to_string(),
    })
}

/// The FETCH `MODSEQ` item of a message.
pub(super) fn modseq_value(meta: &MessageMeta) -> FetchValue {
    FetchValue::ModSeq(meta.modseq)
}

/// Make a FETCH response that reports a flag change carry `UID` and `MODSEQ`, as RFC 7162
/// §3.1.4 requires once CONDSTORE is enabled.
pub(super) fn add_sync_items(values: &mut Vec<FetchValue>, meta: &MessageMeta) {
    if !values.iter().any(|v| matches!(v, FetchValue::Uid(_))) {
        values.insert(0, FetchValue::Uid(meta.uid));
    }
    if !values.iter().any(|v| matches!(v, FetchValue::ModSeq(_))) {
        values.push(modseq_value(meta));
    }
}

/// Sorted, merged inclusive ranges of a UID set; `*` is `largest`, and nothing above
/// `largest` (no message ever had such a UID). `$` is the saved result `saved`.
pub(super) fn uid_ranges(set: &SequenceSet, largest: u32, saved: &[u32]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = match set {
        SequenceSet::Saved => saved.iter().map(|&u| (u, u)).collect(),
        SequenceSet::Ranges(ranges) => ranges
            .iter()
            .map(|&(a, b)| {
                let n = |x: SeqBound| match x {
                    SeqBound::Value(v) => v,
                    SeqBound::Largest => largest,
                };
                (n(a).min(n(b)), n(a).max(n(b)).min(largest))
            })
            .filter(|&(lo, hi)| lo <= hi)
            .collect(),
    };
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn in_ranges(ranges: &[(u32, u32)], n: u32) -> bool {
    let i = ranges.partition_point(|r| r.1 < n);
    ranges.get(i).is_some_and(|r| r.0 <= n)
}

/// The parts of `known` (sorted, merged ranges) holding none of `live` (ascending UIDs).
pub(super) fn missing(known: &[(u32, u32)], live: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(lo, hi) in known {
        // u64: the gap after UID 4294967295 starts beyond u32.
        let mut next = u64::from(lo);
        let start = live.partition_point(|&u| u < lo);
        for &u in live[start..].iter().take_while(|&&u| u <= hi) {
            if u64::from(u) > next {
                out.push((next as u32, u - 1));
            }
            next = u64::from(u) + 1;
        }
        if next <= u64::from(hi) {
            out.push((next as u32, hi));
        }
    }
    out
}

/// Only the ranges above `floor`.
fn above(ranges: &[(u32, u32)], floor: u32) -> Vec<(u32, u32)> {
    ranges
        .iter()
        .filter(|r| r.1 > floor)
        .map(|&(a, b)| (a.max(floor.saturating_add(1)), b))
        .collect()
}

/// The numbers a set names, in the order written (ranges ascending), lazily.
fn numbers(set: &SequenceSet, largest: u32) -> impl Iterator<Item = u32> + '_ {
    let ranges: &[(SeqBound, SeqBound)] = match set {
        SequenceSet::Ranges(r) => r,
        SequenceSet::Saved => &[],
    };
    ranges.iter().flat_map(move |&(a, b)| {
        let n = |x: SeqBound| match x {
            SeqBound::Value(v) => v,
            SeqBound::Largest => largest,
        };
        n(a).min(n(b))..=n(a).max(n(b))
    })
}

/// RFC 7162 §3.2.5.2: the highest UID of the client's `(sequence numbers, UIDs)` pairs up to
/// which every pair still holds in `sel`'s view; no message at or below it was expunged.
fn matched_floor(sel: &Selected, seq_match: &(SequenceSet, SequenceSet)) -> u32 {
    let (seqs, uids) = seq_match;
    let largest_uid = sel.mailbox.uidnext().saturating_sub(1);
    let mut floor = 0;
    // Stops at the first pair that does not hold: at most one past the last message.
    for (seq, uid) in numbers(seqs, sel.view.exists()).zip(numbers(uids, largest_uid)) {
        if sel.view.uid(seq) != Some(uid) {
            break;
        }
        floor = uid;
    }
    floor
}

/// `* VANISHED (EARLIER) set` (nothing when the set is empty).
fn vanished_earlier(ranges: Vec<(u32, u32)>) -> Option<Response> {
    (!ranges.is_empty()).then_some(Response::Data(Data::Vanished {
        earlier: true,
        uids: NumberSet(ranges),
    }))
}

/// UIDs as ranges (ascending input).
fn runs(uids: &[u32]) -> Vec<(u32, u32)> {
    NumberSet::from_numbers(uids).0
}

/// What of `known` vanished after `modseq`, for `VANISHED (EARLIER)`, and which messages in
/// `known` changed after it. UIDs still in the view (an expunge not told yet) are not
/// vanished: they are told later as plain `VANISHED`.
async fn known_changes(
    sel: &mut Selected,
    modseq: u64,
    known: &[(u32, u32)],
    seq_match: Option<&(SequenceSet, SequenceSet)>,
) -> Result<(Vec<(u32, u32)>, Vec<u32>), Done> {
    let ch = sel
        .mailbox
        .changes_since(modseq)
        .await
        .map_err(|e| store_error(&e))?;
    let in_view = |u: &u32| sel.view.seq(*u).is_some();
    if ch.complete {
        let vanished: Vec<u32> = ch
            .vanished
            .into_iter()
            .filter(|u| in_ranges(known, *u) && !in_view(u))
            .collect();
        let changed = ch
            .changed
            .into_iter()
            .filter(|u| in_ranges(known, *u) && in_view(u))
            .collect();
        return Ok((runs(&vanished), changed));
    }
    let floor = seq_match.map_or(0, |m| matched_floor(sel, m));
    let vanished = missing(&above(known, floor), sel.view.uids());
    let changed = sel
        .view
        .uids()
        .iter()
        .copied()
        .filter(|&u| in_ranges(known, u))
        .collect();
    Ok((vanished, changed))
}

impl<S: ImapStream> Session<S> {
    /// ENABLE (RFC 5161): names we do not know are ignored; `* ENABLED` lists what this
    /// command turned on.
    pub(super) fn enable(&mut self, caps: &[String]) -> Done {
        let mut newly = Vec::new();
        for cap in caps {
            match cap.to_ascii_uppercase().as_str() {
                "CONDSTORE" if !self.enabled.condstore => {
                    self.enable_condstore();
                    newly.push("CONDSTORE");
                }
                "QRESYNC" if !self.enabled.qresync => {
                    self.enable_condstore();
                    self.enabled.qresync = true;
                    newly.push("QRESYNC");
                }
                "IMAP4REV2" if !self.enabled.imap4rev2 => {
                    self.enabled.imap4rev2 = true;
                    newly.push("IMAP4rev2");
                }
                "UTF8=ACCEPT" if !self.utf8_accept => {
                    self.utf8_accept = true;
                    newly.push("UTF8=ACCEPT");
                }
                _ => {}
            }
        }
        self.send(Response::Data(Data::Enabled(
            newly.into_iter().map(String::from).collect(),
        )));
        Done::ok("ENABLE completed")
    }

    /// A CONDSTORE-enabling command ran: from now on flag changes carry MODSEQ. With a
    /// mailbox selected the client learns its HIGHESTMODSEQ now (it did not ask at SELECT).
    pub(super) fn enable_condstore(&mut self) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        if let Some(sel) = &self.selected {
            let highest = sel.mailbox.highest_modseq();
            self.send(untagged_ok(
                Code::HighestModSeq(highest),
                "CONDSTORE enabled",
            ));
        }
    }

    /// Refuse SELECT/EXAMINE parameters this session may not use: QRESYNC needs
    /// `ENABLE QRESYNC` first (RFC 7162 §3.2.5).
    pub(super) fn check_select_params(&self, params: &SelectParams) -> Option<Done> {
        (params.qresync.is_some() && !self.enabled.qresync)
            .then(|| Done::bad("QRESYNC parameter needs ENABLE QRESYNC first"))
    }

    /// Close the selected mailbox because another is being selected, and say so with
    /// `* OK [CLOSED]`: RFC 7162 requires it of a server offering QRESYNC, and the code marks
    /// where the old mailbox's responses end (Dovecot sends it always, too).
    pub(super) async fn close_for_select(&mut self) {
        if let Some(sel) = self.selected.take() {
            sel.mailbox.close().await;
            self.send(untagged_ok(Code::Closed, "Previous mailbox closed"));
        }
    }

    /// What follows the SELECT/EXAMINE data: CONDSTORE from its parameter, IMAP4rev2's
    /// `LIST` of the mailbox, and the QRESYNC resynchronisation. On a store error the mailbox
    /// is closed again and the error returned.
    pub(super) async fn after_select(&mut self, params: &SelectParams) -> Option<Done> {
        if params.condstore || params.qresync.is_some() {
            // The SELECT data already held HIGHESTMODSEQ.
            self.enabled.condstore = true;
        }
        if self.enabled.imap4rev2 {
            let utf8 = self.utf8_accept;
            let name = &self.sel().name;
            let name = if utf8 {
                name.clone()
            } else {
                encode_mutf7(name)
            };
            self.send(Response::Data(Data::List(ListItem {
                attributes: Vec::new(),
                delimiter: Some(mailstack_store::SEPARATOR),
                name,
                child_info: Vec::new(),
            })));
        }
        if let Some(q) = &params.qresync
            && let Err(done) = self.qresync_select(q).await
        {
            if let Some(sel) = self.selected.take() {
                sel.mailbox.close().await;
            }
            return Some(done);
        }
        None
    }

    /// RFC 7162 §3.2.5: tell what changed since the client's MODSEQ, if its UIDVALIDITY is
    /// still ours (otherwise the parameters are ignored and the client starts over).
    async fn qresync_select(&mut self, q: &QresyncParams) -> Result<(), Done> {
        let sel = self.sel();
        if q.uid_validity != sel.mailbox.uidvalidity() {
            return Ok(());
        }
        let largest = sel.mailbox.uidnext().saturating_sub(1);
        let known = match &q.known_uids {
            Some(set) => uid_ranges(set, largest, &[]),
            None if largest > 0 => vec![(1, largest)],
            None => Vec::new(),
        };
        let (vanished, changed) =
            known_changes(sel, q.mod_seq, &known, q.seq_match.as_ref()).await?;
        let mut out: Vec<Response> = vanished_earlier(vanished).into_iter().collect();
        for uid in changed {
            if let (Some(seq), Some(meta)) = (sel.view.seq(uid), sel.mailbox.message(uid)) {
                out.push(Response::Data(Data::Fetch {
                    seq,
                    items: vec![
                        FetchValue::Uid(uid),
                        FetchValue::Flags(super::convert::wire_flags(meta)),
                        modseq_value(meta),
                    ],
                }));
            }
        }
        for r in out {
            self.send(r);
        }
        Ok(())
    }

    /// FETCH's CONDSTORE/QRESYNC part, before any message is fetched: enables CONDSTORE for
    /// `MODSEQ` and `CHANGEDSINCE` (which adds the `MODSEQ` item), sends `VANISHED (EARLIER)`
    /// for `UID FETCH ... (CHANGEDSINCE n VANISHED)`, and returns the CHANGEDSINCE filter:
    /// only messages whose MODSEQ is above it are fetched.
    pub(super) async fn fetch_modifiers(
        &mut self,
        set: &SequenceSet,
        modifiers: FetchModifiers,
        attrs: &mut Vec<FetchAttr>,
    ) -> Result<Option<u64>, Done> {
        if modifiers.vanished && !self.enabled.qresync {
            return Err(Done::bad("VANISHED needs ENABLE QRESYNC first"));
        }
        if modifiers.changed_since.is_some() || attrs.contains(&FetchAttr::ModSeq) {
            self.enable_condstore();
        }
        let Some(since) = modifiers.changed_since else {
            return Ok(None);
        };
        if !attrs.contains(&FetchAttr::ModSeq) {
            attrs.push(FetchAttr::ModSeq);
        }
        if modifiers.vanished {
            let sel = self.sel();
            let largest = sel.mailbox.uidnext().saturating_sub(1);
            let known = uid_ranges(set, largest, &sel.saved);
            let (vanished, _) = known_changes(sel, since, &known, None).await?;
            if let Some(r) = vanished_earlier(vanished) {
                self.send(r);
            }
        }
        Ok(Some(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(r: &[(u32, Option<u32>)]) -> SequenceSet {
        SequenceSet::Ranges(
            r.iter()
                .map(|&(a, b)| {
                    (
                        SeqBound::Value(a),
                        b.map_or(SeqBound::Largest, SeqBound::Value),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn uid_ranges_are_sorted_merged_and_clipped() {
        assert_eq!(
            uid_ranges(&set(&[(9, Some(7)), (1, Some(2)), (3, Some(3))]), 20, &[]),
            [(1, 3), (7, 9)]
        );
        // `*` is the largest UID; nothing above it; `300:*` with 300 beyond it is empty.
        assert_eq!(
            uid_ranges(&set(&[(5, None), (300, Some(400))]), 10, &[]),
            [(5, 10)]
        );
        assert_eq!(
            uid_ranges(&set(&[(1, Some(4_294_967_295))]), 10, &[]),
            [(1, 10)]
        );
        assert_eq!(
            uid_ranges(&SequenceSet::Saved, 10, &[2, 3, 7]),
            [(2, 3), (7, 7)]
        );
    }

    #[test]
    fn missing_is_the_known_ranges_minus_the_live_uids() {
        assert_eq!(missing(&[(1, 10)], &[2, 3, 7]), [(1, 1), (4, 6), (8, 10)]);
        assert_eq!(missing(&[(2, 3), (7, 7)], &[2, 3, 7]), []);
        assert_eq!(missing(&[(5, 9)], &[1, 20]), [(5, 9)]);
        assert_eq!(
            missing(&[(1, 4_294_967_295)], &[4_294_967_295]),
            [(1, 4_294_967_294)]
        );
        assert_eq!(missing(&[(1, 3), (6, 8)], &[]), [(1, 3), (6, 8)]);
        assert_eq!(above(&[(1, 3), (6, 8)], 6), [(7, 8)]);
        assert_eq!(above(&[(1, 3), (6, 8)], 0), [(1, 3), (6, 8)]);
    }

    #[test]
    fn numbers_are_lazy_over_huge_ranges() {
        let s = set(&[(1, Some(4_294_967_295))]);
        assert_eq!(numbers(&s, 9).take(3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            numbers(&set(&[(3, None)]), 5).collect::<Vec<_>>(),
            [3, 4, 5]
        );
    }
}
